//! Sessions: every login is one, listed with where it came from; one ends, or all but the
//! caller's, and with it its tokens and its WebSockets (real clients) — and nothing else.

use api_tests::{encode, get, post_json, request, with_token, Answer, Received, Socket, Stack, TestUser};
use serde_json::{json, Value};
use std::time::Duration;

/// A password login sent as `user_agent`; its tokens.
fn log_in(stack: &Stack, user: &TestUser, user_agent: &str) -> Value {
    let body = format!("username={}&password={}", encode(&user.email), encode(&user.password));
    let answer = request(
        "POST",
        &stack.api("/login/access-token"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("user-agent", user_agent),
        ],
        Some(&body),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

fn access(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

fn sessions(stack: &Stack, token: &str) -> Answer {
    with_token("GET", &stack.api("/users/me/sessions"), token, None)
}

fn me(stack: &Stack, token: &str) -> u16 {
    with_token("GET", &stack.api("/users/me"), token, None).status
}

fn refresh(stack: &Stack, tokens: &Value) -> u16 {
    post_json(
        &stack.api("/login/refresh-token"),
        &json!({"refresh_token": tokens["refresh_token"]}),
        None,
    )
    .status
}

/// The id of the session a token belongs to, as the list marks it `current`.
fn session_id(stack: &Stack, token: &str) -> String {
    let listed = sessions(stack, token).json();
    let current = listed["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["current"] == true);
    current
        .and_then(|s| s["id"].as_str())
        .expect("a current session")
        .to_owned()
}

fn connect(stack: &Stack, token: &str) -> Socket {
    stack.connect(Some(token)).expect("the handshake is accepted")
}

/// The socket gets `session.revoked` for `reason` and is then closed by the server.
fn revoked_and_closed(socket: &mut Socket, reason: &str) {
    let notification = socket.expect("notification");
    assert_eq!(
        (notification["event"].as_str(), notification["data"]["reason"].as_str()),
        (Some("session.revoked"), Some(reason))
    );
    assert!(
        matches!(socket.receive(Duration::from_secs(10)), Received::Closed),
        "the connection is closed after session.revoked"
    );
}

/// The socket is open: a ping gets its pong.
fn still_open(socket: &mut Socket) {
    socket.send(&json!({"action": "ping"}));
    socket.expect("pong");
}

#[test]
fn every_login_is_a_session_listed_newest_first_with_its_origin() {
    let stack = Stack::shared();
    let user = stack.signup();
    let laptop = log_in(stack, &user, "Laptop/1.0");
    let phone = log_in(stack, &user, "Phone/2.0");
    let answer = sessions(stack, access(&phone));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let listed = answer.json();
    // The signup helper's login, the laptop's and the phone's.
    assert_eq!(listed["count"], 3, "{listed}");
    let data = listed["data"].as_array().expect("data");
    assert_eq!(data.len(), 3);
    assert_eq!(
        (data[0]["user_agent"].as_str(), data[0]["current"].as_bool()),
        (Some("Phone/2.0"), Some(true))
    );
    assert_eq!(
        (data[1]["user_agent"].as_str(), data[1]["current"].as_bool()),
        (Some("Laptop/1.0"), Some(false))
    );
    assert_eq!(data[0]["ip"], "127.0.0.1");
    for session in data {
        let keys: Vec<&str> = session
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["created_at", "current", "id", "ip", "last_used_at", "user_agent"],
            "{session}"
        );
    }
    // A refresh is the session's last use, and keeps it the same session.
    let before = data[1]["last_used_at"].clone();
    assert_eq!(refresh(stack, &laptop), 200);
    let after = sessions(stack, access(&phone)).json();
    let laptop_now = after["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == data[1]["id"])
        .cloned()
        .expect("the laptop's session is still listed");
    assert!(laptop_now["last_used_at"].as_str() > before.as_str(), "{laptop_now}");
    assert_eq!(laptop_now["created_at"], data[1]["created_at"]);
}

#[test]
fn revoking_one_of_two_sessions_leaves_the_other_working_and_closes_only_its_sockets() {
    let stack = Stack::shared();
    let user = stack.signup();
    let (kept, ended) = (log_in(stack, &user, "Kept/1"), log_in(stack, &user, "Ended/1"));
    let (mut kept_socket, mut ended_socket) = (connect(stack, access(&kept)), connect(stack, access(&ended)));
    let ended_id = session_id(stack, access(&ended));

    let answer = with_token(
        "DELETE",
        &stack.api(&format!("/users/me/sessions/{ended_id}")),
        access(&kept),
        None,
    );
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"message": "Session revoked"}))
    );
    assert_eq!(me(stack, access(&ended)), 401, "its access token stops at once");
    assert_eq!(refresh(stack, &ended), 401, "so does its refresh token");
    revoked_and_closed(&mut ended_socket, "session_revoked");

    assert_eq!(me(stack, access(&kept)), 200);
    still_open(&mut kept_socket);
    assert_eq!(refresh(stack, &kept), 200);
    let listed = sessions(stack, access(&kept)).json();
    assert!(
        !listed["data"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["id"] == ended_id.as_str()),
        "{listed}"
    );
}

#[test]
fn another_users_or_an_unknown_session_is_not_found() {
    let stack = Stack::shared();
    let (owner, stranger) = (stack.signup(), stack.signup());
    let theirs = session_id(stack, &owner.token);
    for id in [theirs.as_str(), "00000000-0000-4000-8000-000000000000"] {
        let answer = with_token(
            "DELETE",
            &stack.api(&format!("/users/me/sessions/{id}")),
            &stranger.token,
            None,
        );
        assert_eq!(
            (answer.status, answer.json()),
            (404, json!({"detail": "Session not found"}))
        );
    }
    assert_eq!(me(stack, &owner.token), 200, "the owner's session stands");
    let bad = with_token("DELETE", &stack.api("/users/me/sessions/42"), &stranger.token, None);
    assert_eq!(bad.status, 422);
    assert_eq!(bad.locs(), [json!(["path", "session_id"])]);
}

#[test]
fn revoking_the_other_sessions_keeps_the_callers() {
    let stack = Stack::shared();
    let user = stack.signup();
    let (mine, other) = (log_in(stack, &user, "Mine/1"), log_in(stack, &user, "Other/1"));
    let (mut my_socket, mut other_socket) = (connect(stack, access(&mine)), connect(stack, access(&other)));
    let answer = with_token("DELETE", &stack.api("/users/me/sessions"), access(&mine), None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json()["message"].is_string());
    for ended in [access(&other), user.token.as_str()] {
        assert_eq!(me(stack, ended), 401);
    }
    assert_eq!(refresh(stack, &other), 401);
    revoked_and_closed(&mut other_socket, "session_revoked");
    still_open(&mut my_socket);
    assert_eq!(me(stack, access(&mine)), 200);
    let listed = sessions(stack, access(&mine)).json();
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["data"][0]["current"], true);
}

#[test]
fn logout_ends_the_callers_session_and_its_sockets_only() {
    let stack = Stack::shared();
    let user = stack.signup();
    let (leaving, staying) = (log_in(stack, &user, "Leaving/1"), log_in(stack, &user, "Staying/1"));
    let (mut leaving_socket, mut staying_socket) = (connect(stack, access(&leaving)), connect(stack, access(&staying)));
    let answer = with_token("POST", &stack.api("/logout"), access(&leaving), None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    revoked_and_closed(&mut leaving_socket, "logout");
    assert_eq!(me(stack, access(&leaving)), 401);
    assert_eq!(refresh(stack, &leaving), 401);
    still_open(&mut staying_socket);
    assert_eq!(me(stack, access(&staying)), 200);
}

#[test]
fn the_session_routes_need_a_token() {
    let stack = Stack::shared();
    for (method, path) in [
        ("GET", "/users/me/sessions"),
        ("DELETE", "/users/me/sessions"),
        ("DELETE", "/users/me/sessions/00000000-0000-4000-8000-000000000000"),
    ] {
        let answer = request(method, &stack.api(path), &[], None);
        assert_eq!(
            (answer.status, answer.json()),
            (401, json!({"detail": "Not authenticated"})),
            "{method} {path}"
        );
    }
    assert_eq!(
        get(&stack.api("/users/me/sessions")).header("www-authenticate"),
        Some("Bearer")
    );
}
