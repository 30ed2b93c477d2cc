//! Every way a bearer token can be unacceptable, and refresh-token rotation.

use api_tests::{get_auth, local_jwt_secret, post_form, post_json, with_token, Stack};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn sign(algorithm: Algorithm, secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

fn claims(sub: &str, exp: u64, kind: &str) -> Value {
    json!({"sub": sub, "exp": exp, "iat": now().saturating_sub(10), "jti": uuid::Uuid::new_v4().to_string(), "type": kind})
}

fn refused(stack: &Stack, token: &str) -> bool {
    let answer = get_auth(&stack.api("/users/me"), token);
    answer.status == 401
        && answer.header("www-authenticate") == Some("Bearer")
        && answer.json() == json!({"detail": "Could not validate credentials"})
}

#[test]
fn a_missing_token_is_not_authenticated() {
    let answer = api_tests::get(&Stack::shared().api("/users/me"));
    assert_eq!(
        (answer.status, answer.json()),
        (401, json!({"detail": "Not authenticated"}))
    );
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
}

#[test]
fn every_rejected_token_is_401() {
    let stack = Stack::shared();
    let user = stack.signup();
    let secret = local_jwt_secret();
    // Every access token belongs to a login: craft them for the user's own, so each case below
    // is refused for the reason it names.
    let own = decode::<Value>(
        &user.token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &Validation::new(Algorithm::HS256),
    )
    .expect("the user's own token");
    let sid = own.claims["sid"].clone();
    assert!(sid.is_string(), "access tokens carry their login: {}", own.claims);
    let claims = |sub: &str, exp: u64, kind: &str| {
        let mut claims = claims(sub, exp, kind);
        claims["sid"] = sid.clone();
        claims
    };
    // Sanity: a token we craft with the right secret and claims is accepted…
    assert_eq!(
        get_auth(
            &stack.api("/users/me"),
            &sign(Algorithm::HS256, &secret, &claims(&user.id, now() + 600, "access"))
        )
        .status,
        200
    );

    let unsigned = {
        use base64_url as b64;
        format!(
            "{}.{}.",
            b64::encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64::encode(&claims(&user.id, now() + 600, "access").to_string())
        )
    };
    let cases = [
        ("alg none", unsigned),
        (
            "another algorithm",
            sign(Algorithm::HS512, &secret, &claims(&user.id, now() + 600, "access")),
        ),
        (
            "bad signature",
            sign(
                Algorithm::HS256,
                "a-different-secret-of-at-least-32-bytes",
                &claims(&user.id, now() + 600, "access"),
            ),
        ),
        (
            "expired",
            sign(Algorithm::HS256, &secret, &claims(&user.id, now() - 5, "access")),
        ),
        (
            "refresh type",
            sign(Algorithm::HS256, &secret, &claims(&user.id, now() + 600, "refresh")),
        ),
        (
            "unknown user",
            sign(
                Algorithm::HS256,
                &secret,
                &claims(&uuid::Uuid::new_v4().to_string(), now() + 600, "access"),
            ),
        ),
        ("garbage", "not.a.token".to_owned()),
        ("no login", {
            let mut claims = claims(&user.id, now() + 600, "access");
            claims.as_object_mut().map(|c| c.remove("sid"));
            sign(Algorithm::HS256, &secret, &claims)
        }),
        ("a login that is not the user's", {
            let mut claims = claims(&user.id, now() + 600, "access");
            claims["sid"] = json!(uuid::Uuid::new_v4().to_string());
            sign(Algorithm::HS256, &secret, &claims)
        }),
    ];
    for (case, token) in cases {
        assert!(refused(stack, &token), "{case} was accepted");
    }
}

/// base64url without padding, as JWTs use.
mod base64_url {
    pub fn encode(text: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let bytes = text.as_bytes();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[test]
fn a_refresh_token_is_no_access_token() {
    let stack = Stack::shared();
    let user = stack.signup();
    let tokens = post_form(
        &stack.api("/login/access-token"),
        &[("username", &user.email), ("password", &user.password)],
    )
    .json();
    assert!(refused(stack, tokens["refresh_token"].as_str().unwrap_or_default()));
}

#[test]
fn tokens_of_deactivated_and_deleted_users_are_refused() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    let (inactive, deleted) = (stack.signup(), stack.signup());
    with_token(
        "PATCH",
        &stack.api(&format!("/users/{}", inactive.id)),
        &admin,
        Some(&json!({"is_active": false})),
    );
    with_token("DELETE", &stack.api(&format!("/users/{}", deleted.id)), &admin, None);
    assert!(refused(stack, &inactive.token), "inactive");
    assert!(refused(stack, &deleted.token), "deleted");
}

fn login(stack: &Stack, email: &str, password: &str) -> Value {
    let answer = post_form(
        &stack.api("/login/access-token"),
        &[("username", email), ("password", password)],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn refresh(stack: &Stack, token: &Value) -> api_tests::Answer {
    post_json(
        &stack.api("/login/refresh-token"),
        &json!({"refresh_token": token}),
        None,
    )
}

#[test]
fn refreshing_rotates_both_tokens() {
    let stack = Stack::shared();
    let user = stack.signup();
    let first = login(stack, &user.email, &user.password);
    assert_eq!(first["token_type"], "bearer");
    let second = refresh(stack, &first["refresh_token"]);
    assert_eq!(second.status, 200, "{}", second.text);
    let second = second.json();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        get_auth(
            &stack.api("/users/me"),
            second["access_token"].as_str().unwrap_or_default()
        )
        .status,
        200
    );
    let third = refresh(stack, &second["refresh_token"]);
    assert_eq!(third.status, 200);
}

#[test]
fn reusing_a_refresh_token_revokes_its_whole_login() {
    let stack = Stack::shared();
    let user = stack.signup();
    let first = login(stack, &user.email, &user.password);
    let second = refresh(stack, &first["refresh_token"]).json();
    // The first token again: a replay. It fails, and so does the token it was exchanged for.
    let replay = refresh(stack, &first["refresh_token"]);
    assert_eq!(
        (replay.status, replay.json()),
        (401, json!({"detail": "Could not validate credentials"}))
    );
    assert_eq!(refresh(stack, &second["refresh_token"]).status, 401);
    // Another login of the same user is a different family and keeps working.
    let other = login(stack, &user.email, &user.password);
    assert_eq!(refresh(stack, &other["refresh_token"]).status, 200);
}

#[test]
fn unknown_refresh_tokens_and_bad_bodies() {
    let stack = Stack::shared();
    assert_eq!(refresh(stack, &json!("made-up")).status, 401);
    let missing = post_json(&stack.api("/login/refresh-token"), &json!({}), None);
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json()["detail"][0]["loc"], json!(["body", "refresh_token"]));
}

#[test]
fn logout_revokes_the_refresh_tokens_of_the_callers_session_only() {
    let stack = Stack::shared();
    let user = stack.signup();
    let (a, b) = (
        login(stack, &user.email, &user.password),
        login(stack, &user.email, &user.password),
    );
    let answer = with_token(
        "POST",
        &stack.api("/logout"),
        a["access_token"].as_str().unwrap_or_default(),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["message"].is_string());
    assert_eq!(refresh(stack, &a["refresh_token"]).status, 401);
    assert_eq!(refresh(stack, &b["refresh_token"]).status, 200);
    assert_eq!(api_tests::request("POST", &stack.api("/logout"), &[], None).status, 401);
}

/// A refresh token names its login and its number: one that names a real login with a secret
/// that was never issued (or a number far back) is refused and leaves the login alone, while
/// one that was issued and used already is a replay that ends the login.
#[test]
fn a_forged_refresh_token_for_a_real_login_is_refused_without_ending_it() {
    let stack = Stack::shared();
    let user = stack.signup();
    let first = login(stack, &user.email, &user.password);
    let token = first["refresh_token"].as_str().unwrap_or_default().to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    for forged in [
        format!("{}.{}.{}", parts[0], parts[1], "0".repeat(64)),
        format!("{}.{}.{}", parts[0], 7, parts[2]),
        format!("{}.{}.{}", parts[0], u64::MAX, parts[2]),
        format!("{}.{}.{}", uuid::Uuid::new_v4().simple(), parts[1], parts[2]),
        format!("{}.-1.{}", parts[0], parts[2]),
    ] {
        let answer = refresh(stack, &json!(forged));
        assert_eq!(answer.status, 401, "{forged}: {}", answer.text);
    }
    // The login goes on: its real token still rotates, and the chain keeps working past the
    // digests a family row keeps (8).
    let mut current = first["refresh_token"].clone();
    for _ in 0..10 {
        let next = refresh(stack, &current);
        assert_eq!(next.status, 200, "{}", next.text);
        current = next.json()["refresh_token"].clone();
    }
    // A token of long ago (no digest kept) is refused without ending the login either.
    assert_eq!(refresh(stack, &first["refresh_token"]).status, 401);
    assert_eq!(refresh(stack, &current).status, 200);
}
