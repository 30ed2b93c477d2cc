//! Hardening: client input never becomes a 5xx, sessions end when credentials change, limits
//! hold under concurrency, and protocol details are strict. These tests run on a stack of their
//! own, so their rate-limit counts from 127.0.0.1 never reach the other modules' stack.

use api_tests::{encode, get_auth, post_form, post_json, request, with_token, Stack, TestUser};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(Stack::start)
}

fn login(stack: &Stack, email: &str, password: &str) -> api_tests::Answer {
    post_form(
        &stack.api("/login/access-token"),
        &[("username", email), ("password", password)],
    )
}

fn tokens(stack: &Stack, user: &TestUser) -> (String, String) {
    let answer = login(stack, &user.email, &user.password);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    (
        body["access_token"].as_str().unwrap_or_default().to_owned(),
        body["refresh_token"].as_str().unwrap_or_default().to_owned(),
    )
}

fn me(stack: &Stack, token: &str) -> u16 {
    get_auth(&stack.api("/users/me"), token).status
}

fn refresh(stack: &Stack, token: &str) -> u16 {
    post_json(
        &stack.api("/login/refresh-token"),
        &json!({ "refresh_token": token }),
        None,
    )
    .status
}

/// The reset token of the newest recovery email to `to`.
fn reset_token(stack: &Stack, to: &str, after: usize) -> String {
    let email = api_tests::eventually(Duration::from_secs(20), || {
        let sent: Vec<Value> = stack.emails_about(to, "Password recovery");
        (sent.len() > after).then(|| sent[sent.len() - 1].clone())
    })
    .expect("recovery email");
    email["html"]
        .as_str()
        .and_then(|t| t.split("reset-password?token=").nth(1))
        .map(|t| t.chars().take_while(char::is_ascii_alphanumeric).collect())
        .unwrap_or_default()
}

fn recover(stack: &Stack, email: &str) -> api_tests::Answer {
    request(
        "POST",
        &stack.api(&format!("/password-recovery/{}", encode(email))),
        &[],
        None,
    )
}

#[test]
fn input_past_the_tables_limits_is_a_4xx_never_a_503() {
    let stack = stack();
    let long_username = "u".repeat(5000);
    let answer = login(stack, &long_username, "whatever-password");
    assert_eq!(answer.status, 400, "{}", answer.text);
    let long_email = format!("{}@example.com", "e".repeat(3000));
    let answer = recover(stack, &long_email);
    assert_eq!(answer.status, 200, "{}", answer.text);
    let user = stack.signup();
    for price in [json!(1e200), json!(1e-200), json!("1e300")] {
        let answer = post_json(
            &stack.api("/items/"),
            &json!({"title": "t", "price": price}),
            Some(&user.token),
        );
        assert_eq!(answer.status, 422, "{price}: {}", answer.text);
        assert_eq!(answer.locs(), [json!(["body", "price"])]);
    }
    let deep = with_token("GET", &stack.api("/items/?skip=10001"), &user.token, None);
    assert_eq!(deep.status, 422);
    assert!(deep.text.contains("cursor"), "{}", deep.text);
}

#[test]
fn logout_ends_the_access_token_too() {
    let stack = stack();
    let user = stack.signup();
    let (access, refresh_token) = tokens(stack, &user);
    assert_eq!(me(stack, &access), 200);
    assert_eq!(with_token("POST", &stack.api("/logout"), &access, None).status, 200);
    assert_eq!(me(stack, &access), 401);
    assert_eq!(refresh(stack, &refresh_token), 401);
    assert_eq!(
        me(stack, &user.token),
        200,
        "logout ends the caller's session, not their others"
    );
}

#[test]
fn a_password_change_ends_every_session() {
    let stack = stack();
    let user = stack.signup();
    let (access, refresh_token) = tokens(stack, &user);
    let answer = with_token(
        "PATCH",
        &stack.api("/users/me/password"),
        &access,
        Some(&json!({"current_password": user.password, "new_password": "a-brand-new-password"})),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    for token in [&access, &user.token] {
        assert_eq!(me(stack, token), 401);
    }
    assert_eq!(refresh(stack, &refresh_token), 401);
    assert_eq!(login(stack, &user.email, "a-brand-new-password").status, 200);
}

#[test]
fn an_admin_password_set_or_deactivation_ends_the_users_sessions_for_good() {
    let stack = stack();
    let admin = stack.superuser_token();
    let (changed, deactivated) = (stack.signup(), stack.signup());
    let (changed_refresh, deactivated_refresh) = (tokens(stack, &changed).1, tokens(stack, &deactivated).1);
    let url = |user: &TestUser| stack.api(&format!("/users/{}", user.id));
    let set = with_token(
        "PATCH",
        &url(&changed),
        &admin,
        Some(&json!({"password": "set-by-the-admin"})),
    );
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(me(stack, &changed.token), 401);
    assert_eq!(refresh(stack, &changed_refresh), 401);

    let off = with_token("PATCH", &url(&deactivated), &admin, Some(&json!({"is_active": false})));
    assert_eq!(off.status, 200);
    let on = with_token("PATCH", &url(&deactivated), &admin, Some(&json!({"is_active": true})));
    assert_eq!(on.status, 200);
    assert_eq!(
        me(stack, &deactivated.token),
        401,
        "reactivation brings no old login back"
    );
    assert_eq!(refresh(stack, &deactivated_refresh), 401);
    assert!(!tokens(stack, &deactivated).0.is_empty(), "the user logs in again");
}

#[test]
fn a_reset_ends_sessions_and_voids_every_other_link() {
    let stack = stack();
    let user = stack.signup();
    assert_eq!(recover(stack, &user.email).status, 200);
    let older = reset_token(stack, &user.email, 0);
    assert_eq!(recover(stack, &user.email).status, 200);
    let newer = reset_token(stack, &user.email, 1);
    assert_ne!(older, newer);
    let reset = |token: &str| {
        post_json(
            &stack.api("/reset-password/"),
            &json!({"token": token, "new_password": "reset-password-1"}),
            None,
        )
    };
    assert_eq!(reset(&newer).status, 200);
    assert_eq!(me(stack, &user.token), 401, "a reset ends the thief's token");
    assert_eq!(reset(&older).status, 400, "the older link died with the reset");

    let moved = stack.signup();
    assert_eq!(recover(stack, &moved.email).status, 200);
    let before_move = reset_token(stack, &moved.email, 0);
    let new_email = api_tests::unique_email("moved");
    let change = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &moved.token,
        Some(&json!({"email": new_email})),
    );
    assert_eq!(change.status, 200, "{}", change.text);
    assert_eq!(
        reset(&before_move).status,
        400,
        "a link to the old address dies with the email change"
    );
}

#[test]
fn parallel_wrong_passwords_cannot_pass_the_limit() {
    let stack = stack();
    let user = stack.signup();
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..40)
            .map(|_| scope.spawn(|| login(stack, &user.email, "not-the-password").status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let wrong = answers.iter().filter(|s| **s == 400).count();
    let limited = answers.iter().filter(|s| **s == 429).count();
    assert!(wrong <= 10, "{wrong} guesses were checked: {answers:?}");
    assert_eq!(wrong + limited, 40, "{answers:?}");
}

#[test]
fn the_current_password_check_is_limited_apart_from_login() {
    let stack = stack();
    let user = stack.signup();
    let guess = || {
        with_token(
            "PATCH",
            &stack.api("/users/me/password"),
            &user.token,
            Some(&json!({"current_password": "a-wrong-guess", "new_password": "whatever-new-1"})),
        )
        .status
    };
    let statuses: Vec<u16> = (0..11).map(|_| guess()).collect();
    assert_eq!(statuses[..10], [400; 10]);
    assert_eq!(statuses[10], 429);
    assert_eq!(
        login(stack, &user.email, &user.password).status,
        200,
        "the owner can still log in"
    );
}

#[test]
fn token_answers_are_not_cached() {
    let stack = stack();
    let user = stack.signup();
    let answer = login(stack, &user.email, &user.password);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let rotated = post_json(
        &stack.api("/login/refresh-token"),
        &json!({ "refresh_token": answer.json()["refresh_token"] }),
        None,
    );
    assert_eq!(
        (rotated.status, rotated.header("cache-control")),
        (200, Some("no-store"))
    );
}

#[test]
fn json_routes_need_a_json_body() {
    let stack = stack();
    let body = json!({"email": api_tests::unique_email("plain"), "password": "changethis123"}).to_string();
    let answer = request(
        "POST",
        &stack.api("/users/signup"),
        &[("content-type", "text/plain")],
        Some(&body),
    );
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.locs(), [json!(["body"])]);
}

#[test]
fn if_match_and_idempotency_key_are_parsed_strictly() {
    let stack = stack();
    let user = stack.signup();
    let item = post_json(&stack.api("/items/"), &json!({"title": "Lamp"}), Some(&user.token)).json();
    let url = stack.api(&format!("/items/{}", item["id"].as_str().unwrap_or_default()));
    let auth = format!("Bearer {}", user.token);
    let put = |if_match: &[u8]| {
        let mut builder = ureq::http::Request::builder()
            .method("PATCH")
            .uri(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json");
        builder = builder.header(
            "if-match",
            ureq::http::HeaderValue::from_bytes(if_match).expect("header bytes"),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let request = builder.body(r#"{"title": "Changed"}"#.to_owned()).expect("request");
        agent.run(request).map(|r| r.status().as_u16()).unwrap_or(0)
    };
    assert_eq!(put(b"W/\"1\""), 412, "a weak tag never matches");
    assert_eq!(
        put("\"1\u{e9}\"".as_bytes()),
        400,
        "a non-ASCII tag is no absent header"
    );
    assert_eq!(put(b"\"1\""), 200);

    let idempotent = {
        let builder = ureq::http::Request::builder()
            .method("POST")
            .uri(stack.api("/items/"))
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .header(
                "idempotency-key",
                ureq::http::HeaderValue::from_bytes("k\u{e9}y".as_bytes()).expect("bytes"),
            );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        agent
            .run(builder.body(r#"{"title": "Once"}"#.to_owned()).expect("request"))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    };
    assert_eq!(idempotent, 422, "a non-ASCII Idempotency-Key is refused, not ignored");
}

#[test]
fn updates_show_no_more_than_a_get_and_an_empty_one_changes_nothing() {
    let stack = stack();
    let owner = stack.signup();
    let moderator = stack.user_with_role("moderator");
    let item = post_json(
        &stack.api("/items/"),
        &json!({"title": "Private", "description": "secret"}),
        Some(&owner.token),
    );
    let url = stack.api(&format!("/items/{}", item.json()["id"].as_str().unwrap_or_default()));
    assert_eq!(get_auth(&url, &moderator.token).status, 403);
    let answer = with_token("PUT", &url, &moderator.token, Some(&json!({"title": "Moderated"})));
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(!answer.text.contains("secret"), "{}", answer.text);
    let before = get_auth(&url, &owner.token);
    let empty = with_token("PATCH", &url, &owner.token, Some(&json!({})));
    assert_eq!((empty.status, empty.header("etag")), (200, before.header("etag")));
}

#[test]
fn the_local_admin_api_answers_local_tools_only_and_shows_no_secret() {
    let stack = stack();
    let from_a_page = request(
        "GET",
        &stack.admin("/emails"),
        &[("origin", "https://evil.example")],
        None,
    );
    assert_eq!(from_a_page.status, 403);
    let rebound = request("GET", &stack.admin("/info"), &[("host", "evil.example")], None);
    assert_eq!(rebound.status, 403);
    let info = request("GET", &stack.admin("/info"), &[], None);
    assert_eq!(info.status, 200);
    assert!(
        !info.text.contains(&api_tests::local_jwt_secret()),
        "the JWT secret is shown"
    );
    assert!(info.text.contains("(hidden)"));
}

#[test]
fn the_local_management_api_answers_local_tools_only() {
    let stack = stack();
    // A page the developer visits could otherwise push to, or close, any WebSocket client.
    let path = format!("{}/local/@connections/someone", stack.url);
    let from_a_page = request("POST", &path, &[("origin", "https://evil.example")], Some("{}"));
    assert_eq!(from_a_page.status, 403, "{}", from_a_page.text);
    let rebound = request("DELETE", &path, &[("host", "evil.example")], None);
    assert_eq!(rebound.status, 403, "{}", rebound.text);
    // A local tool (the functions' SDK client) reaches it: an unknown connection is 410 Gone.
    let local = request("DELETE", &path, &[], None);
    assert_eq!(local.status, 410, "{}", local.text);
}
