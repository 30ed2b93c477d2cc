//! Logins (refresh-token families), password-reset links and rate-limit windows in the single
//! table, with TTL.

use super::attrs::{get_bool, get_number, get_opt_text, get_text, get_uuid, number, text, time, Row};
use super::keys::EXPIRES;
use super::users::{TOKENS_VALID_AFTER, VERSION};
use super::{cancelled_conditions, condition_held, corrupt, keys, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::types::KeysAndAttributes;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use domain::clock::{now_micros, now_secs, parse_timestamp, timestamp};
use domain::passwords::PasswordHash;
use domain::ports::{Accounts, RateLimiter, SessionStore, UserStore};
use domain::secrets;
use domain::session::{Count, Limit, LoginOrigin, Refresh, Session};
use domain::{StoreError, User};
use std::time::Duration;
use uuid::Uuid;

const USED: &str = "used";
/// The login's refresh tokens, on its family row: the number of the current one, and the
/// digests of the last [`KEPT_DIGESTS`] issued (by number), so a presented one that was issued
/// and used is told apart from one that never was.
const REFRESH_SEQ: &str = "refresh_seq";
const REFRESH_DIGESTS: &str = "refresh_digests";
const KEPT_DIGESTS: u64 = 8;
/// When the refresh token's login began (epoch seconds); carried from token to token.
const LOGIN_AT: &str = "login_at";
const REVOKED: &str = "revoked";
const CREATED_AT: &str = "created_at";
/// The login's last refresh (RFC 3339).
const LAST_USED_AT: &str = "last_used_at";
const USER_AGENT: &str = "user_agent";
const IP: &str = "ip";
const USER_VERSION: &str = "user_version";

fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(corrupt)
}

/// What the family row keeps of a refresh token's secret: a SHA-256 prefix (128 bits).
fn refresh_digest(secret: &str) -> String {
    secrets::digest(secret)[..32].to_owned()
}

/// A refresh token: its login, its number in the login, and its secret.
fn refresh_token(family: Uuid, number: u64, secret: &str) -> String {
    format!("{}.{number}.{secret}", family.simple())
}

/// The parts of a refresh token of [`refresh_token`]'s form; `None` for any other string.
fn parse_refresh_token(token: &str) -> Option<(Uuid, u64, &str)> {
    let mut parts = token.splitn(3, '.');
    let family = parts
        .next()
        .filter(|f| f.len() == 32)
        .and_then(|f| Uuid::try_parse(f).ok())?;
    let number = parts.next().filter(|n| n.len() <= 19).and_then(|n| n.parse().ok())?;
    let secret = parts
        .next()
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))?;
    Some((family, number, secret))
}

fn secret() -> Result<String, StoreError> {
    secrets::generate().map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))
}

impl Accounts for Table {
    /// One consistent `BatchGetItem` of the profile and the login: one round trip, one
    /// connection, on the path of every authenticated request.
    async fn caller(&self, user_id: Uuid, login: Uuid) -> Result<(Option<User>, bool), StoreError> {
        let wanted = KeysAndAttributes::builder()
            .keys(super::primary_key(keys::user(user_id), keys::USER_SK))
            .keys(super::primary_key(keys::family(login), keys::FAMILY_SK))
            .consistent_read(true)
            .build()
            .map_err(corrupt)?;
        let out = self
            .client()
            .batch_get_item()
            .request_items(self.name(), wanted)
            .send()
            .await
            .map_err(unavailable)?;
        let unprocessed = out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty());
        if unprocessed {
            // Throttled in part: ask for each on its own rather than answer from half a batch.
            return Ok((UserStore::get(self, user_id).await?, self.login_active(login).await?));
        }
        let rows = out
            .responses
            .and_then(|mut r| r.remove(self.name()))
            .unwrap_or_default();
        let is = |row: &Row, pk: &str| row.get(keys::PK).and_then(|v| v.as_s().ok()).is_some_and(|v| v == pk);
        let user_pk = keys::user(user_id);
        let user = rows
            .iter()
            .find(|row| is(row, &user_pk))
            .map(super::users::user_from_item)
            .transpose()?;
        let family_pk = keys::family(login);
        let active = rows.iter().find(|row| is(row, &family_pk)).is_some_and(family_active);
        Ok((user, active))
    }
}

/// A login stands while it is neither revoked nor expired.
fn family_active(row: &Row) -> bool {
    !get_bool(row, REVOKED, true) && get_number(row, EXPIRES) > now_secs()
}

/// A login as its session. Logins started before sessions were shown have no times of their
/// own: their index key holds when they began (epoch seconds then).
fn session_from(row: &Row) -> Result<Session, StoreError> {
    let id = get_uuid(row, "family_id").or_else(|_| family_from_pk(row))?;
    let created_at = get_opt_text(row, CREATED_AT)
        .and_then(parse_timestamp)
        .or_else(|| {
            let secs = get_opt_text(row, keys::GSI1_SK)?
                .split('#')
                .next()?
                .parse::<i64>()
                .ok()?;
            time::OffsetDateTime::from_unix_timestamp(secs).ok()
        })
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Ok(Session {
        id,
        user_id: get_uuid(row, "user_id")?,
        created_at,
        last_used_at: get_opt_text(row, LAST_USED_AT)
            .and_then(parse_timestamp)
            .unwrap_or(created_at),
        origin: LoginOrigin {
            user_agent: get_opt_text(row, USER_AGENT).map(str::to_owned),
            ip: get_opt_text(row, IP).map(str::to_owned),
        },
    })
}

impl SessionStore for Table {
    /// Starts a login: a new family and its first refresh token, valid for `ttl`.
    async fn start_login(
        &self,
        user_id: Uuid,
        ttl: Duration,
        origin: &LoginOrigin,
    ) -> Result<(Uuid, String), StoreError> {
        let family = Uuid::new_v4();
        let token = secret()?;
        let now = now_secs();
        let expires = now + ttl.as_secs();
        let created = timestamp(now_micros());
        let mut family_item = Row::from([
            (keys::PK.to_owned(), text(keys::family(family))),
            (keys::SK.to_owned(), text(keys::FAMILY_SK)),
            (keys::GSI1_PK.to_owned(), text(keys::user_families(user_id))),
            (keys::GSI1_SK.to_owned(), text(format!("{created}#{family}"))),
            ("user_id".to_owned(), text(user_id.to_string())),
            ("family_id".to_owned(), text(family.to_string())),
            (CREATED_AT.to_owned(), text(created.clone())),
            (LAST_USED_AT.to_owned(), text(created)),
            (REVOKED.to_owned(), AttributeValue::Bool(false)),
            (EXPIRES.to_owned(), number(expires)),
            (LOGIN_AT.to_owned(), number(now)),
            (REFRESH_SEQ.to_owned(), number(0)),
            (
                REFRESH_DIGESTS.to_owned(),
                AttributeValue::M([("0".to_owned(), text(refresh_digest(&token)))].into()),
            ),
        ]);
        if let Some(agent) = &origin.user_agent {
            family_item.insert(USER_AGENT.to_owned(), text(agent.clone()));
        }
        if let Some(ip) = &origin.ip {
            family_item.insert(IP.to_owned(), text(ip.clone()));
        }
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(family_item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok((family, refresh_token(family, 0, &token)))
    }

    /// Exchanges a refresh token for a new one. The old one stops working; presenting it again
    /// revokes every token of its login.
    ///
    /// A token names its login and its number in it (`<family>.<n>.<secret>`): the rotation is
    /// one conditional `UpdateItem` of the family row (the next number and its digest), where it
    /// was a three-item transaction of token rows (7 write units; now 2).
    async fn rotate_refresh(&self, presented: &str, ttl: Duration) -> Result<Refresh, StoreError> {
        let Some((family, number_presented, secret_presented)) = parse_refresh_token(presented) else {
            return self.rotate_token_row(presented, ttl).await;
        };
        let Some(item) = self.get_item(keys::family(family), keys::FAMILY_SK).await? else {
            return Ok(Refresh::Rejected);
        };
        let now = now_secs();
        if get_bool(&item, REVOKED, false) || get_number(&item, EXPIRES) <= now {
            return Ok(Refresh::Rejected);
        }
        let issued = item
            .get(REFRESH_DIGESTS)
            .and_then(|v| v.as_m().ok())
            .and_then(|digests| digests.get(&number_presented.to_string()))
            .and_then(|v| v.as_s().ok());
        if issued != Some(&refresh_digest(secret_presented)) {
            // Never issued, or too many rotations ago to tell: refused, the login untouched.
            return Ok(Refresh::Rejected);
        }
        let user_id = get_uuid(&item, "user_id")?;
        let login_at = get_number(&item, LOGIN_AT);
        if number_presented != get_number(&item, REFRESH_SEQ) {
            self.revoke_family(family).await?;
            return Ok(Refresh::ReuseDetected);
        }
        let token = secret()?;
        let next = number_presented + 1;
        let mut update = "SET #seq = :next, #digests.#next = :digest, #exp = :exp, #used_at = :used_at".to_owned();
        let mut request = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::family(family)))
            .key(keys::SK, text(keys::FAMILY_SK))
            .condition_expression("#seq = :presented AND #revoked = :false")
            .expression_attribute_names("#seq", REFRESH_SEQ)
            .expression_attribute_names("#digests", REFRESH_DIGESTS)
            .expression_attribute_names("#next", next.to_string())
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_names("#used_at", LAST_USED_AT)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":next", number(next))
            .expression_attribute_values(":presented", number(number_presented))
            .expression_attribute_values(":digest", text(refresh_digest(&token)))
            .expression_attribute_values(":exp", number(now + ttl.as_secs()))
            .expression_attribute_values(":used_at", time(now_micros()))
            .expression_attribute_values(":false", AttributeValue::Bool(false));
        if next >= KEPT_DIGESTS {
            update.push_str(" REMOVE #digests.#old");
            request = request.expression_attribute_names("#old", (next - KEPT_DIGESTS).to_string());
        }
        if condition_held(request.update_expression(update).send().await)? {
            return Ok(Refresh::Rotated {
                user_id,
                family,
                token: refresh_token(family, next, &token),
                login_at,
            });
        }
        // Revoked meanwhile, or another request rotated this very token first: a replay,
        // whichever came second.
        match self.get_item(keys::family(family), keys::FAMILY_SK).await? {
            Some(now) if !get_bool(&now, REVOKED, false) => {
                self.revoke_family(family).await?;
                Ok(Refresh::ReuseDetected)
            }
            _ => Ok(Refresh::Rejected),
        }
    }

    async fn sessions(&self, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
        let mut sessions = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .newest_first(keys::GSI1, &keys::user_families(user_id), None)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for row in page.items().iter().filter(|row| family_active(row)) {
                sessions.push(session_from(row)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        // Logins of before sessions were shown sort by another key: order by time here.
        sessions.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.id)));
        Ok(sessions)
    }

    async fn session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let row = self.get_item(keys::family(id), keys::FAMILY_SK).await?;
        row.filter(family_active).as_ref().map(session_from).transpose()
    }

    async fn login_active(&self, family: Uuid) -> Result<bool, StoreError> {
        let row = self.get_item(keys::family(family), keys::FAMILY_SK).await?;
        Ok(row.as_ref().is_some_and(family_active))
    }

    async fn reset_target(&self, presented: &str) -> Result<Option<Uuid>, StoreError> {
        let row = self
            .get_item(keys::reset(&secrets::digest(presented)), keys::RESET_SK)
            .await?;
        match row {
            Some(row) if get_number(&row, EXPIRES) > now_secs() => Ok(Some(get_uuid(&row, "user_id")?)),
            _ => Ok(None),
        }
    }

    /// Marks the login revoked and takes it out of its user's index: the sessions list and the
    /// next revocation of all read only logins that may still stand.
    async fn revoke_family(&self, family: Uuid) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::family(family)))
            .key(keys::SK, text(keys::FAMILY_SK))
            .update_expression("SET #revoked = :true REMOVE #gsi1pk, #gsi1sk")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_names("#gsi1pk", keys::GSI1_PK)
            .expression_attribute_names("#gsi1sk", keys::GSI1_SK)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .send()
            .await;
        // A login already gone is as revoked as it gets.
        super::condition_held(result).map(|_| ())
    }

    /// Revokes every login of a user (password change, deletion). Returns how many.
    async fn revoke_user_sessions(&self, user_id: Uuid) -> Result<usize, StoreError> {
        self.revoke_sessions_but(user_id, None).await
    }

    async fn revoke_other_sessions(&self, user_id: Uuid, keep: Uuid) -> Result<usize, StoreError> {
        self.revoke_sessions_but(user_id, Some(keep)).await
    }

    /// A single-use password-reset token for `user_id`, valid for `ttl`.
    async fn create_reset_token(&self, user: &User, ttl: Duration) -> Result<String, StoreError> {
        let token = secret()?;
        let now = now_secs();
        let item = Row::from([
            (keys::PK.to_owned(), text(keys::reset(&secrets::digest(&token)))),
            (keys::SK.to_owned(), text(keys::RESET_SK)),
            ("user_id".to_owned(), text(user.id.to_string())),
            // The link is for the account as it is now: any later write of the profile (another
            // reset, a password or email change) voids it.
            ("email".to_owned(), text(user.email.as_str())),
            (USER_VERSION.to_owned(), number(user.version)),
            (EXPIRES.to_owned(), number(now + ttl.as_secs())),
        ]);
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(token)
    }

    /// Spends a reset token and sets the user's new password hash in one transaction. `None` when
    /// the token is unknown, expired or already spent, or its user is gone.
    async fn reset_password(&self, presented: &str, new_hash: &PasswordHash) -> Result<Option<Uuid>, StoreError> {
        let pk = keys::reset(&secrets::digest(presented));
        let Some(item) = self.get_item(pk.clone(), keys::RESET_SK).await? else {
            return Ok(None);
        };
        let user_id = get_uuid(&item, "user_id")?;
        let now = now_secs();
        let spend = Delete::builder()
            .table_name(self.name())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(keys::RESET_SK))
            .condition_expression("attribute_exists(pk) AND #exp > :now")
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":now", number(now))
            .build();
        let issued_for = get_number(&item, USER_VERSION);
        // Profiles written before versions existed have none: they count as version 0.
        let same_version = if issued_for == 0 {
            "attribute_not_exists(#v)"
        } else {
            "#v = :version"
        };
        let mut set_password = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::user(user_id)))
            .key(keys::SK, text(keys::USER_SK))
            .update_expression("SET hashed_password = :hash, #after = :now, #v = if_not_exists(#v, :zero) + :one")
            .condition_expression(format!("attribute_exists(pk) AND email = :email AND {same_version}"))
            .expression_attribute_names("#after", TOKENS_VALID_AFTER)
            .expression_attribute_names("#v", VERSION)
            .expression_attribute_values(":hash", text(new_hash.as_str()))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":email", text(get_text(&item, "email").unwrap_or_default()));
        if issued_for != 0 {
            set_password = set_password.expression_attribute_values(":version", number(issued_for));
        }
        let set_password = set_password.build();
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().delete(build(spend)?).build())
                .transact_items(TransactWriteItem::builder().update(build(set_password)?).build()),
        )
        .await;
        match result {
            Ok(_) => Ok(Some(user_id)),
            Err(err) if cancelled_conditions(&err).is_some_and(|f| f.contains(&true)) => Ok(None),
            Err(err) => Err(unavailable(err)),
        }
    }
}

impl Table {
    /// Revokes every login of a user that stands, but `keep`.
    async fn revoke_sessions_but(&self, user_id: Uuid, keep: Option<Uuid>) -> Result<usize, StoreError> {
        let mut revoked = 0;
        let mut start = None;
        loop {
            let page = self
                .client()
                .query()
                .table_name(self.name())
                .index_name(keys::GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", text(keys::user_families(user_id)))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                let family = get_uuid(item, "family_id").or_else(|_| family_from_pk(item))?;
                if !get_bool(item, REVOKED, false) && Some(family) != keep {
                    self.revoke_family(family).await?;
                    revoked += 1;
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(revoked),
            }
        }
    }

    /// A token of before the family row kept its login's tokens (a bare secret, its own
    /// `REFRESH#` row): still exchanged the old way until those logins end (their rows expire
    /// with the refresh lifetime), issuing tokens of the old kind.
    async fn rotate_token_row(&self, presented: &str, ttl: Duration) -> Result<Refresh, StoreError> {
        let pk = keys::refresh(&secrets::digest(presented));
        let Some(item) = self.get_item(pk.clone(), keys::REFRESH_SK).await? else {
            return Ok(Refresh::Rejected);
        };
        let now = now_secs();
        let user_id = get_uuid(&item, "user_id")?;
        let family = get_uuid(&item, "family_id")?;
        let login_at = get_number(&item, LOGIN_AT);
        if get_number(&item, EXPIRES) <= now {
            return Ok(Refresh::Rejected);
        }
        if get_bool(&item, USED, false) {
            self.revoke_family(family).await?;
            return Ok(Refresh::ReuseDetected);
        }
        let token = secret()?;
        let expires = now + ttl.as_secs();
        let mark_used = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(pk))
            .key(keys::SK, text(keys::REFRESH_SK))
            .update_expression("SET #used = :true")
            .condition_expression("#used = :false")
            .expression_attribute_names("#used", USED)
            .expression_attribute_values(":true", AttributeValue::Bool(true))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build();
        let put_new = Put::builder()
            .table_name(self.name())
            .set_item(Some(self.refresh_item(&token, user_id, family, login_at, expires)))
            .condition_expression("attribute_not_exists(pk)")
            .build();
        let extend_family = Update::builder()
            .table_name(self.name())
            .key(keys::PK, text(keys::family(family)))
            .key(keys::SK, text(keys::FAMILY_SK))
            .update_expression("SET #exp = :exp, #used_at = :used_at")
            .condition_expression("#revoked = :false")
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_names("#used_at", LAST_USED_AT)
            .expression_attribute_names("#revoked", REVOKED)
            .expression_attribute_values(":exp", number(expires))
            .expression_attribute_values(":used_at", time(now_micros()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .build();
        let result = send_transaction(
            self.client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(build(mark_used)?).build())
                .transact_items(TransactWriteItem::builder().put(build(put_new)?).build())
                .transact_items(TransactWriteItem::builder().update(build(extend_family)?).build()),
        )
        .await;
        match result {
            Ok(_) => Ok(Refresh::Rotated {
                user_id,
                family,
                token,
                login_at,
            }),
            Err(err) => match cancelled_conditions(&err) {
                // Another request used this token first: a replay, whichever came second.
                Some(failed) if failed.first() == Some(&true) => {
                    self.revoke_family(family).await?;
                    Ok(Refresh::ReuseDetected)
                }
                Some(failed) if failed.get(2) == Some(&true) => Ok(Refresh::Rejected),
                _ => Err(unavailable(err)),
            },
        }
    }

    fn refresh_item(&self, token: &str, user_id: Uuid, family: Uuid, login_at: u64, expires: u64) -> Row {
        Row::from([
            (LOGIN_AT.to_owned(), number(login_at)),
            (keys::PK.to_owned(), text(keys::refresh(&secrets::digest(token)))),
            (keys::SK.to_owned(), text(keys::REFRESH_SK)),
            ("user_id".to_owned(), text(user_id.to_string())),
            ("family_id".to_owned(), text(family.to_string())),
            (USED.to_owned(), AttributeValue::Bool(false)),
            (EXPIRES.to_owned(), number(expires)),
        ])
    }
}

impl Table {
    /// Adds `delta` to the count of `key` in the current window of `limit`, atomically.
    async fn add_to_window(&self, limit: &Limit, key: &str, delta: i64) -> Result<Count, StoreError> {
        let now = now_secs();
        let start = limit.window_start(now);
        let out = self
            .client()
            .update_item()
            .table_name(self.name())
            .key(keys::PK, text(keys::rate(limit.scope, key, start)))
            .key(keys::SK, text(keys::RATE_SK))
            .update_expression("ADD #count :delta SET #exp = :exp")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#exp", EXPIRES)
            .expression_attribute_values(":delta", number(delta))
            .expression_attribute_values(":exp", number(start + limit.window.as_secs()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(Count {
            count: out.attributes.map(|a| get_number(&a, "count")).unwrap_or(0),
            retry_after_secs: limit.retry_after(now),
        })
    }
}

impl RateLimiter for Table {
    async fn hit(&self, limit: &Limit, key: &str) -> Result<Count, StoreError> {
        self.add_to_window(limit, key, 1).await
    }

    async fn refund(&self, limit: &Limit, key: &str) -> Result<(), StoreError> {
        self.add_to_window(limit, key, -1).await.map(|_| ())
    }

    /// One consistent `BatchGetItem` of the windows' rows (a row not there counts 0).
    async fn counts(&self, limits: &[(&Limit, &str)]) -> Result<Vec<Count>, StoreError> {
        let now = now_secs();
        let pks: Vec<String> = limits
            .iter()
            .map(|(limit, key)| keys::rate(limit.scope, key, limit.window_start(now)))
            .collect();
        let mut wanted = KeysAndAttributes::builder().consistent_read(true);
        // BatchGetItem refuses a key named twice.
        for (i, pk) in pks.iter().enumerate() {
            if !pks[..i].contains(pk) {
                wanted = wanted.keys(super::primary_key(pk.clone(), keys::RATE_SK));
            }
        }
        let mut rows = Vec::new();
        let mut request = Some(wanted.build().map_err(corrupt)?);
        // Keys a throttled batch left unread are asked for again, a few times.
        for _ in 0..3 {
            let Some(wanted) = request.take() else { break };
            let mut out = self
                .client()
                .batch_get_item()
                .request_items(self.name(), wanted)
                .send()
                .await
                .map_err(unavailable)?;
            rows.extend(
                out.responses
                    .as_mut()
                    .and_then(|r| r.remove(self.name()))
                    .unwrap_or_default(),
            );
            request = out.unprocessed_keys.and_then(|mut u| u.remove(self.name()));
        }
        if request.is_some() {
            return Err(StoreError::Unavailable(
                "rate-limit counts: batch read throttled".into(),
            ));
        }
        Ok(limits
            .iter()
            .zip(&pks)
            .map(|((limit, _), pk)| Count {
                count: rows
                    .iter()
                    .find(|row| row.get(keys::PK).and_then(|v| v.as_s().ok()) == Some(pk))
                    .map(|row| get_number(row, "count"))
                    .unwrap_or(0),
                retry_after_secs: limit.retry_after(now),
            })
            .collect())
    }
}

fn family_from_pk(item: &Row) -> Result<Uuid, StoreError> {
    item.get(keys::PK)
        .and_then(|v| v.as_s().ok())
        .and_then(|pk| pk.strip_prefix("FAMILY#"))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| StoreError::Corrupt("family key".into()))
}
