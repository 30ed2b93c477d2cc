//! WebSocket connections, room memberships and room history in the single table, with TTL
//! (see docs/data-model.md): a connection lists its rooms, a room partition holds its members,
//! their count, its invitations and its messages; a user's connection slots hold the cap on
//! their connections.

use super::attrs::{get_number, get_opt_text, get_parsed, get_text, get_uuid, number, text, Row};
use super::keys::EXPIRES;
use super::{cancelled_conditions, condition_held, corrupt, keys, primary_key, send_transaction, unavailable, Table};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use domain::clock::now_secs;
use domain::ports::{Connections, Invitations};
use domain::realtime::{
    past_handshake, Audience, ChatMessage, Connection, ConnectionId, Invitation, Joined, Member, MembersPage,
    MessageText, Opened, RoomName, CONNECTION_TTL, HISTORY_LEN, HISTORY_TTL, MAX_ROOMS_PER_CONNECTION,
};
use domain::StoreError;
use std::collections::HashMap;
use uuid::Uuid;

const ROOMS: &str = "rooms";
/// The login whose access token opened the connection.
const SESSION: &str = "session_id";
/// The connection's slot among its user's (absent on records older than the cap).
const SLOT: &str = "slot";
/// A room's count of members.
const MEMBERS: &str = "members";
/// How often a handshake looks for a free slot again after parallel ones took the slot it chose.
/// Each miss means another handshake took a slot, so a burst under the cap settles well within
/// this; a miss past it refuses the handshake.
const OPEN_ATTEMPTS: usize = 16;

fn live(row: &Row) -> bool {
    get_number(row, EXPIRES) > now_secs()
}

fn connection_from(row: &Row) -> Result<Connection, StoreError> {
    Ok(Connection {
        id: ConnectionId::parse(get_text(row, "id")?).map_err(StoreError::Corrupt)?,
        user_id: get_uuid(row, "user_id")?,
        session: get_parsed(row, SESSION, Uuid::parse_str)?,
        connected_at: get_text(row, "connected_at")?.to_owned(),
        expires_at: get_number(row, EXPIRES),
    })
}

fn rooms_from(row: &Row) -> Vec<RoomName> {
    row.get(ROOMS)
        .and_then(|v| v.as_ss().ok())
        .into_iter()
        .flatten()
        .filter_map(|r| RoomName::parse(r).ok())
        .collect()
}

fn member_from(row: &Row) -> Result<Member, StoreError> {
    Ok(Member {
        connection: ConnectionId::parse(get_text(row, "connection")?).map_err(StoreError::Corrupt)?,
        user_id: get_uuid(row, "user_id")?,
    })
}

fn message_from(row: &Row) -> Result<ChatMessage, StoreError> {
    Ok(ChatMessage {
        id: get_uuid(row, "id")?,
        room: get_text(row, "room")?.to_owned(),
        user_id: get_uuid(row, "user_id")?,
        message: MessageText::parse(get_text(row, "message")?).map_err(StoreError::Corrupt)?,
        timestamp: get_text(row, "timestamp")?.to_owned(),
    })
}

fn connection_row(connection: &Connection, slot: u64) -> Row {
    let mut row = HashMap::from([
        (keys::PK.to_owned(), text(keys::connection(connection.id.as_str()))),
        (keys::SK.to_owned(), text(keys::CONNECTION_SK)),
        (
            keys::GSI1_PK.to_owned(),
            text(keys::user_connections(connection.user_id)),
        ),
        (
            keys::GSI1_SK.to_owned(),
            text(format!("{}#{}", connection.connected_at, connection.id)),
        ),
        ("id".to_owned(), text(connection.id.as_str())),
        ("user_id".to_owned(), text(connection.user_id.to_string())),
        ("connected_at".to_owned(), text(connection.connected_at.clone())),
        (SLOT.to_owned(), number(slot)),
        (EXPIRES.to_owned(), number(connection.expires_at)),
    ]);
    if let Some(session) = connection.session {
        row.insert(SESSION.to_owned(), text(session.to_string()));
    }
    row
}

impl Table {
    /// Deletes a membership and takes it off the room's count; `false` when there was none.
    async fn forget_member(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        let old = self
            .client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(
                keys::room(room.as_str()),
                &keys::member(connection.as_str()),
            )))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?
            .attributes;
        if old.is_none_or(|row| row.is_empty()) {
            return Ok(false);
        }
        self.uncount(room, 1).await?;
        Ok(true)
    }

    /// Takes `gone` members off the room's count. A count already below it is stale anyway
    /// (the next refused join recounts), and is left as it is.
    async fn uncount(&self, room: &RoomName, gone: u64) -> Result<(), StoreError> {
        let uncounted = self
            .client()
            .update_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::room(room.as_str()), keys::ROOM_COUNT_SK)))
            .update_expression("ADD #members :minus")
            .condition_expression("#members >= :gone")
            .expression_attribute_names("#members", MEMBERS)
            .expression_attribute_values(":minus", number(-(gone as i64)))
            .expression_attribute_values(":gone", number(gone))
            .send()
            .await;
        condition_held(uncounted).map(|_| ())
    }

    /// Frees the user's connection slot, only while `connection` holds it: a handshake may have
    /// taken it over after the connection expired.
    async fn free_slot(&self, user_id: Uuid, slot: u64, connection: &ConnectionId) -> Result<(), StoreError> {
        let freed = self
            .client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::connection_slots(user_id), &keys::slot(slot))))
            .condition_expression("#connection = :id")
            .expression_attribute_names("#connection", "connection")
            .expression_attribute_values(":id", text(connection.as_str()))
            .send()
            .await;
        condition_held(freed).map(|_| ())
    }

    /// A full count may be stale — members whose connections expired or vanished without a
    /// `$disconnect` are never taken off it — so a refused join counts the live members and sets
    /// the count to that, unless a join or leave changed it meanwhile. Whether there is room now.
    async fn recount(&self, room: &RoomName, max_members: u64) -> Result<bool, StoreError> {
        let seen = self
            .get_item(keys::room(room.as_str()), keys::ROOM_COUNT_SK)
            .await?
            .map(|row| get_number(&row, MEMBERS))
            .unwrap_or(0);
        let live_members = self
            .rows_with_prefix(keys::room(room.as_str()), keys::MEMBER_PREFIX)
            .await?
            .iter()
            .filter(|r| live(r))
            .count() as u64;
        if live_members >= max_members || live_members >= seen {
            return Ok(false);
        }
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::room(room.as_str()), keys::ROOM_COUNT_SK)))
            .update_expression("SET #members = :live")
            .condition_expression("#members = :seen")
            .expression_attribute_names("#members", MEMBERS)
            .expression_attribute_values(":live", number(live_members))
            .expression_attribute_values(":seen", number(seen))
            .send()
            .await;
        condition_held(result)
    }
}

impl Invitations for Table {
    async fn invite(&self, invitation: &Invitation) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(HashMap::from([
                (keys::PK.to_owned(), text(keys::room(invitation.room.as_str()))),
                (keys::SK.to_owned(), text(keys::invitation(invitation.user_id))),
                ("user_id".to_owned(), text(invitation.user_id.to_string())),
                ("invited_by".to_owned(), text(invitation.invited_by.to_string())),
                (EXPIRES.to_owned(), number(invitation.expires_at)),
            ])))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn is_invited(&self, room: &RoomName, user_id: Uuid) -> Result<bool, StoreError> {
        let row = self
            .get_item(keys::room(room.as_str()), &keys::invitation(user_id))
            .await?;
        Ok(row.is_some_and(|r| live(&r)))
    }
}

impl Connections for Table {
    /// A free slot of the user's (`SLOT#<n>`, n below the cap, absent or expired), taken by a
    /// conditional put in the same transaction as the connection's record: two handshakes that
    /// chose the same slot cannot both write it, and the loser looks again.
    async fn open(&self, connection: &Connection, max_per_user: u64) -> Result<Opened, StoreError> {
        let id = connection.id.as_str();
        let mut holders = Vec::new();
        for _ in 0..OPEN_ATTEMPTS {
            let rows = self
                .rows_with_prefix(keys::connection_slots(connection.user_id), keys::SLOT_PREFIX)
                .await?;
            let held: HashMap<u64, (ConnectionId, u64)> = rows
                .iter()
                .filter(|r| live(r))
                .map(|row| {
                    let holder = ConnectionId::parse(get_text(row, "connection")?).map_err(StoreError::Corrupt)?;
                    Ok((get_number(row, SLOT), (holder, get_number(row, EXPIRES))))
                })
                .collect::<Result<_, StoreError>>()?;
            let own = held
                .iter()
                .find(|(_, (holder, _))| holder.as_str() == id)
                .map(|(n, _)| *n);
            // A random free slot among the lowest ones, so that a burst of handshakes spreads
            // over the free slots instead of all taking the first.
            let lowest = max_per_user.min(held.len() as u64 + 16);
            let free: Vec<u64> = (0..lowest).filter(|n| !held.contains_key(n)).collect();
            let free = (!free.is_empty()).then(|| free[(Uuid::new_v4().as_u128() % free.len() as u128) as usize]);
            let taken = held.len() as u64;
            holders = held
                .into_values()
                .filter(|(_, expires_at)| past_handshake(*expires_at))
                .map(|(holder, _)| holder)
                .collect();
            let slot = match own {
                Some(n) => n,
                None if taken < max_per_user => match free {
                    Some(n) => n,
                    None => break,
                },
                None => break,
            };
            let slot_row = Put::builder()
                .table_name(self.name())
                .set_item(Some(HashMap::from([
                    (keys::PK.to_owned(), text(keys::connection_slots(connection.user_id))),
                    (keys::SK.to_owned(), text(keys::slot(slot))),
                    (SLOT.to_owned(), number(slot)),
                    ("connection".to_owned(), text(id)),
                    (EXPIRES.to_owned(), number(connection.expires_at)),
                ])))
                .condition_expression("attribute_not_exists(#pk) OR #exp <= :now OR #connection = :id")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#exp", EXPIRES)
                .expression_attribute_names("#connection", "connection")
                .expression_attribute_values(":now", number(now_secs()))
                .expression_attribute_values(":id", text(id))
                .build()
                .map_err(corrupt)?;
            let record = Put::builder()
                .table_name(self.name())
                .set_item(Some(connection_row(connection, slot)))
                .build()
                .map_err(corrupt)?;
            let transaction = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(slot_row).build())
                .transact_items(TransactWriteItem::builder().put(record).build());
            match send_transaction(transaction).await {
                Ok(_) => return Ok(Opened::Opened),
                Err(err) if cancelled_conditions(&err).is_some_and(|failed| failed.contains(&true)) => continue,
                Err(err) => return Err(unavailable(err)),
            }
        }
        Ok(Opened::Full(holders))
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        let row = self
            .get_item(keys::connection(id.as_str()), keys::CONNECTION_SK)
            .await?;
        row.filter(live).as_ref().map(connection_from).transpose()
    }

    async fn close(&self, id: &ConnectionId) -> Result<Option<(Connection, Vec<RoomName>)>, StoreError> {
        let old = self
            .client()
            .delete_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::connection(id.as_str()), keys::CONNECTION_SK)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?
            .attributes;
        let Some(row) = old.filter(|row| !row.is_empty()) else {
            return Ok(None);
        };
        let connection = connection_from(&row)?;
        let rooms = rooms_from(&row);
        for room in &rooms {
            self.forget_member(room, id).await?;
        }
        if row.contains_key(SLOT) {
            self.free_slot(connection.user_id, get_number(&row, SLOT), id).await?;
        }
        Ok(Some((connection, rooms)))
    }

    async fn of_user(&self, user_id: Uuid) -> Result<Vec<ConnectionId>, StoreError> {
        self.of_audience(user_id, &Audience::User).await
    }

    /// The user's connections, as `of_user` reads them, kept when the session that opened each
    /// is in the audience (the index projects every attribute: no read per connection).
    async fn of_audience(&self, user_id: Uuid, audience: &Audience) -> Result<Vec<ConnectionId>, StoreError> {
        let mut ids = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .newest_first(keys::GSI1, &keys::user_connections(user_id), None)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for row in page.items.unwrap_or_default().iter().filter(|r| live(r)) {
                if audience.reaches(get_parsed(row, SESSION, Uuid::parse_str)?) {
                    ids.push(ConnectionId::parse(get_text(row, "id")?).map_err(StoreError::Corrupt)?);
                }
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(ids),
            }
        }
    }

    /// One transaction: the membership, the room in the connection's list — only while the
    /// connection exists (a closed connection never gains a membership), has room for it and is
    /// not in the room yet — and the room's count, only while it is below `max_members`.
    async fn join(&self, room: &RoomName, connection: &Connection, max_members: u64) -> Result<Joined, StoreError> {
        let mut recounted = false;
        loop {
            let member = Put::builder()
                .table_name(self.name())
                .set_item(Some(HashMap::from([
                    (keys::PK.to_owned(), text(keys::room(room.as_str()))),
                    (keys::SK.to_owned(), text(keys::member(connection.id.as_str()))),
                    ("connection".to_owned(), text(connection.id.as_str())),
                    ("user_id".to_owned(), text(connection.user_id.to_string())),
                    (EXPIRES.to_owned(), number(connection.expires_at)),
                ])))
                .build()
                .map_err(corrupt)?;
            let listed = Update::builder()
                .table_name(self.name())
                .set_key(Some(primary_key(keys::connection(connection.id.as_str()), keys::CONNECTION_SK)))
                .update_expression("ADD #rooms :room")
                .condition_expression(
                    "attribute_exists(#pk) AND (attribute_not_exists(#rooms) OR size(#rooms) < :max) AND NOT contains(#rooms, :name)",
                )
                .expression_attribute_names("#rooms", ROOMS)
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_values(":room", AttributeValue::Ss(vec![room.as_str().to_owned()]))
                .expression_attribute_values(":name", text(room.as_str()))
                .expression_attribute_values(":max", number(MAX_ROOMS_PER_CONNECTION))
                .build()
                .map_err(corrupt)?;
            // The count outlives every member it counts: none expires later than a connection
            // opened now.
            let counted = Update::builder()
                .table_name(self.name())
                .set_key(Some(primary_key(keys::room(room.as_str()), keys::ROOM_COUNT_SK)))
                .update_expression("ADD #members :one SET #exp = :exp")
                .condition_expression("attribute_not_exists(#members) OR #members < :cap")
                .expression_attribute_names("#members", MEMBERS)
                .expression_attribute_names("#exp", EXPIRES)
                .expression_attribute_values(":one", number(1))
                .expression_attribute_values(":cap", number(max_members))
                .expression_attribute_values(":exp", number(now_secs() + CONNECTION_TTL.as_secs()))
                .build()
                .map_err(corrupt)?;
            let transaction = self
                .client()
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(member).build())
                .transact_items(TransactWriteItem::builder().update(listed).build())
                .transact_items(TransactWriteItem::builder().update(counted).build());
            match send_transaction(transaction).await {
                Ok(_) => return Ok(Joined::Joined),
                Err(err) if cancelled_conditions(&err).is_some_and(|failed| failed.contains(&true)) => {}
                Err(err) => return Err(unavailable(err)),
            }
            let record = self
                .get_item(keys::connection(connection.id.as_str()), keys::CONNECTION_SK)
                .await?
                .filter(live);
            let Some(record) = record else {
                return Ok(Joined::ConnectionGone);
            };
            let rooms = rooms_from(&record);
            if rooms.contains(room) {
                return Ok(Joined::Joined);
            }
            if rooms.len() >= MAX_ROOMS_PER_CONNECTION {
                return Ok(Joined::TooManyRooms);
            }
            if recounted || !self.recount(room, max_members).await? {
                return Ok(Joined::RoomFull);
            }
            recounted = true;
        }
    }

    async fn is_member(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        let row = self
            .get_item(keys::room(room.as_str()), &keys::member(connection.as_str()))
            .await?;
        Ok(row.is_some_and(|r| live(&r)))
    }

    async fn leave(&self, room: &RoomName, connection: &ConnectionId) -> Result<bool, StoreError> {
        if !self.forget_member(room, connection).await? {
            return Ok(false);
        }
        let result = self
            .client()
            .update_item()
            .table_name(self.name())
            .set_key(Some(primary_key(
                keys::connection(connection.as_str()),
                keys::CONNECTION_SK,
            )))
            .update_expression("DELETE #rooms :room")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#rooms", ROOMS)
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":room", AttributeValue::Ss(vec![room.as_str().to_owned()]))
            .send()
            .await;
        // `false`: the connection closed meanwhile, and there is nothing left to unlist.
        condition_held(result).map(|_| true)
    }

    async fn members(&self, room: &RoomName) -> Result<Vec<Member>, StoreError> {
        let rows = self
            .rows_with_prefix(keys::room(room.as_str()), keys::MEMBER_PREFIX)
            .await?;
        rows.iter().filter(|r| live(r)).map(member_from).collect()
    }

    /// One eventually consistent `Query` of the room's partition: a page of 1,000 members of
    /// ~150 bytes reads ~150 KB, 19 read units. The cursor is the last member's connection id.
    async fn members_page(
        &self,
        room: &RoomName,
        after: Option<&str>,
        limit: usize,
    ) -> Result<MembersPage, StoreError> {
        let pk = keys::room(room.as_str());
        let start = after.map(|connection| primary_key(pk.clone(), &keys::member(connection)));
        let page = self
            .client()
            .query()
            .table_name(self.name())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", text(pk))
            .expression_attribute_values(":prefix", text(keys::MEMBER_PREFIX))
            .limit(limit.clamp(1, 1000) as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let next = page
            .last_evaluated_key
            .as_ref()
            .and_then(|key| get_opt_text(key, keys::SK))
            .and_then(|sk| sk.strip_prefix(keys::MEMBER_PREFIX))
            .map(str::to_owned);
        let members = page
            .items
            .unwrap_or_default()
            .iter()
            .filter(|r| live(r))
            .map(member_from)
            .collect::<Result<_, _>>()?;
        Ok(MembersPage { members, next })
    }

    /// The count row, eventually consistent (0.5 read units).
    async fn room_size(&self, room: &RoomName) -> Result<u64, StoreError> {
        let out = self
            .client()
            .get_item()
            .table_name(self.name())
            .set_key(Some(primary_key(keys::room(room.as_str()), keys::ROOM_COUNT_SK)))
            .projection_expression("#members")
            .expression_attribute_names("#members", MEMBERS)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item.map(|row| get_number(&row, MEMBERS)).unwrap_or(0))
    }

    /// One `BatchGetItem` per 100 connections for their rooms, one `BatchWriteItem` per 25 rows
    /// (records and memberships), one count update per room (less the members it lost) and a
    /// conditional delete per slot.
    async fn forget_gone(&self, ids: &[ConnectionId]) -> Result<Vec<(RoomName, Uuid)>, StoreError> {
        let wanted = ids
            .iter()
            .map(|id| primary_key(keys::connection(id.as_str()), keys::CONNECTION_SK))
            .collect();
        let rows = self.batch_get(wanted, true).await?;
        let mut doomed = Vec::new();
        let mut lost: HashMap<RoomName, u64> = HashMap::new();
        let mut memberships = Vec::new();
        let mut slots = Vec::new();
        for row in &rows {
            let connection = connection_from(row)?;
            doomed.push(primary_key(
                keys::connection(connection.id.as_str()),
                keys::CONNECTION_SK,
            ));
            for room in rooms_from(row) {
                doomed.push(primary_key(
                    keys::room(room.as_str()),
                    &keys::member(connection.id.as_str()),
                ));
                *lost.entry(room.clone()).or_default() += 1;
                memberships.push((room, connection.user_id));
            }
            if row.contains_key(SLOT) {
                slots.push((connection.user_id, get_number(row, SLOT), connection.id));
            }
        }
        self.batch_delete(doomed).await?;
        for (room, count) in lost {
            self.uncount(&room, count).await?;
        }
        for (user_id, slot, id) in slots {
            self.free_slot(user_id, slot, &id).await?;
        }
        Ok(memberships)
    }

    async fn remember(&self, message: &ChatMessage) -> Result<(), StoreError> {
        self.client()
            .put_item()
            .table_name(self.name())
            .set_item(Some(HashMap::from([
                (keys::PK.to_owned(), text(keys::room(&message.room))),
                (keys::SK.to_owned(), text(keys::message(&message.timestamp, message.id))),
                ("id".to_owned(), text(message.id.to_string())),
                ("room".to_owned(), text(message.room.clone())),
                ("user_id".to_owned(), text(message.user_id.to_string())),
                ("message".to_owned(), text(message.message.as_str())),
                ("timestamp".to_owned(), text(message.timestamp.clone())),
                (EXPIRES.to_owned(), number(now_secs() + HISTORY_TTL.as_secs())),
            ])))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The newest `HISTORY_LEN` messages by one descending query, returned oldest first.
    async fn history(&self, room: &RoomName) -> Result<Vec<ChatMessage>, StoreError> {
        let page = self
            .client()
            .query()
            .table_name(self.name())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_names("#sk", keys::SK)
            .expression_attribute_values(":pk", text(keys::room(room.as_str())))
            .expression_attribute_values(":prefix", text(keys::MESSAGE_PREFIX))
            .scan_index_forward(false)
            .limit(HISTORY_LEN as i32)
            .send()
            .await
            .map_err(unavailable)?;
        let mut messages = page
            .items
            .unwrap_or_default()
            .iter()
            .filter(|r| live(r) && get_opt_text(r, "message").is_some())
            .map(message_from)
            .collect::<Result<Vec<_>, _>>()?;
        messages.reverse();
        Ok(messages)
    }
}
