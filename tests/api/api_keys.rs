//! Scoped API keys: shown once and kept as a hash, acting as their owner within their scopes and
//! never beyond the owner's role, never on account routes; at most 20 a user under parallel
//! creates; dead once deleted, or when their owner is deactivated or deleted.

use api_tests::{post_json, with_token, Answer, Stack, TestUser};
use serde_json::{json, Value};

fn create_key(stack: &Stack, user: &TestUser, body: &Value) -> Answer {
    post_json(&stack.api("/users/me/api-keys"), body, Some(&user.token))
}

/// A new key of `user` with `scopes`: the key, and its id.
fn key_with(stack: &Stack, user: &TestUser, scopes: &[&str]) -> (String, String) {
    let answer = create_key(stack, user, &json!({"name": "script", "scopes": scopes}));
    assert_eq!(answer.status, 201, "{}", answer.text);
    let body = answer.json();
    (
        body["key"].as_str().expect("key").to_owned(),
        body["api_key"]["id"].as_str().expect("id").to_owned(),
    )
}

/// `GET /items/` with `credential`: what a key's use is tried with.
fn list_items(stack: &Stack, credential: &str) -> Answer {
    with_token("GET", &stack.api("/items/"), credential, None)
}

fn insufficient_scope(answer: &Answer) -> bool {
    answer.status == 403 && answer.json() == json!({"detail": "Insufficient scope"})
}

fn invalid_credentials(answer: &Answer) -> bool {
    answer.status == 401 && answer.json() == json!({"detail": "Could not validate credentials"})
}

#[test]
fn a_key_is_shown_once_and_acts_as_its_owner_within_its_scopes() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = create_key(
        stack,
        &user,
        &json!({"name": "nightly export", "scopes": ["items:read", "items:write"], "expires_in_days": 7}),
    );
    assert_eq!(answer.status, 201, "{}", answer.text);
    let created = answer.json();
    let key = created["key"].as_str().expect("key").to_owned();
    assert!(key.starts_with("sbk_") && key.len() >= 4 + 43, "{key}");
    let shown = &created["api_key"];
    assert_eq!(shown["name"], "nightly export");
    assert_eq!(shown["prefix"], json!(&key[..12]));
    assert_eq!(shown["scopes"], json!(["items:read", "items:write"]));
    assert_eq!(shown["last_used_at"], Value::Null);

    // Listed without the key; nothing else ever shows it.
    let listed = with_token("GET", &stack.api("/users/me/api-keys"), &user.token, None);
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["count"], 1);
    assert_eq!(listed.json()["data"][0]["id"], shown["id"]);
    assert!(!listed.text.contains(&key));

    // Within its scopes: the owner's items.
    let made = with_token("POST", &stack.api("/items/"), &key, Some(&json!({"title": "by key"})));
    assert_eq!(made.status, 200, "{}", made.text);
    assert_eq!(made.json()["owner_id"], json!(user.id));
    let item = made.json()["id"].as_str().expect("id").to_owned();
    let read = with_token("GET", &stack.api(&format!("/items/{item}")), &key, None);
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(list_items(stack, &key).json()["count"], 1);

    // Outside them: other resources, and every account route, whatever the method.
    for (method, path, body) in [
        ("GET", "/posts/", None),
        ("GET", "/files/", None),
        ("GET", "/users/me", None),
        ("PATCH", "/users/me", Some(json!({"full_name": "Renamed"}))),
        (
            "PATCH",
            "/users/me/password",
            Some(json!({"current_password": user.password, "new_password": "another-pw-123"})),
        ),
        ("DELETE", "/users/me", None),
        ("GET", "/users/", None),
        ("GET", "/users/me/sessions", None),
        ("DELETE", "/users/me/sessions", None),
        ("GET", "/users/me/api-keys", None),
        (
            "POST",
            "/users/me/api-keys",
            Some(json!({"name": "child", "scopes": ["items:read"]})),
        ),
        ("POST", "/users/me/2fa/totp", Some(json!({"password": user.password}))),
        ("POST", "/users/me/verification-email", None),
        ("POST", "/logout", None),
    ] {
        let answer = with_token(method, &stack.api(path), &key, body.as_ref());
        assert!(
            insufficient_scope(&answer),
            "{method} {path}: {} {}",
            answer.status,
            answer.text
        );
    }
    // The owner is untouched by all of that.
    let me = with_token("GET", &stack.api("/users/me"), &user.token, None);
    assert_eq!(me.json()["full_name"], "Test User");

    // A key is no WebSocket credential: sockets belong to sessions.
    assert_eq!(stack.connect(Some(&key)).err(), Some(401));

    // The use was written down (at most once a minute).
    let listed = with_token("GET", &stack.api("/users/me/api-keys"), &user.token, None);
    assert!(listed.json()["data"][0]["last_used_at"].is_string(), "{}", listed.text);
}

#[test]
fn a_key_with_profile_read_reads_the_owner_and_nothing_more() {
    let stack = Stack::shared();
    let user = stack.signup();
    let (key, _) = key_with(stack, &user, &["profile:read"]);
    let me = with_token("GET", &stack.api("/users/me"), &key, None);
    assert_eq!((me.status, me.json()["id"].clone()), (200, json!(user.id)));
    let test_token = with_token("POST", &stack.api("/login/test-token"), &key, None);
    assert_eq!(test_token.json()["id"], json!(user.id));
    let other = stack.signup();
    let answer = with_token("GET", &stack.api(&format!("/users/{}", other.id)), &key, None);
    assert!(insufficient_scope(&answer), "{}", answer.text);
    let answer = with_token("PATCH", &stack.api("/users/me"), &key, Some(&json!({"full_name": "x"})));
    assert!(insufficient_scope(&answer), "{}", answer.text);
}

#[test]
fn a_key_never_exceeds_its_owners_role() {
    let stack = Stack::shared();
    let owner = stack.signup();
    let item = with_token(
        "POST",
        &stack.api("/items/"),
        &owner.token,
        Some(&json!({"title": "mine"})),
    );
    let item = item.json()["id"].as_str().expect("id").to_owned();
    let path = stack.api(&format!("/items/{item}"));

    // A plain user's key, whatever its scopes, may not write or delete another's item.
    let user = stack.signup();
    let (key, _) = key_with(stack, &user, &["items:read", "items:write"]);
    for (method, body) in [("PUT", Some(json!({"title": "taken"}))), ("DELETE", None)] {
        let answer = with_token(method, &path, &key, body.as_ref());
        assert!(
            answer.status == 403 || answer.status == 404,
            "{method}: {} {}",
            answer.status,
            answer.text
        );
        assert!(
            !insufficient_scope(&answer),
            "{method}: the role refuses, not the scope"
        );
    }
    // A moderator's key with the scope may write it, as the moderator may.
    let moderator = stack.user_with_role("moderator");
    let (key, _) = key_with(stack, &moderator, &["items:write"]);
    let answer = with_token("PUT", &path, &key, Some(&json!({"title": "moderated"})));
    assert_eq!(answer.status, 200, "{}", answer.text);
    // A superuser's key reaches no user management.
    let admin_token = stack.superuser_token();
    let admin_key = post_json(
        &stack.api("/users/me/api-keys"),
        &json!({"name": "admin script", "scopes": ["profile:read", "items:read"]}),
        Some(&admin_token),
    );
    assert_eq!(admin_key.status, 201, "{}", admin_key.text);
    let admin_key = admin_key.json()["key"].as_str().expect("key").to_owned();
    let answer = with_token("GET", &stack.api("/users/"), &admin_key, None);
    assert!(insufficient_scope(&answer), "{}", answer.text);
    let answer = with_token("DELETE", &stack.api(&format!("/users/{}", owner.id)), &admin_key, None);
    assert!(insufficient_scope(&answer), "{}", answer.text);
}

#[test]
fn bad_requests_for_a_key_are_422s_and_unknown_keys_401s() {
    let stack = Stack::shared();
    let user = stack.signup();
    for (body, field) in [
        (json!({"name": "", "scopes": ["items:read"]}), "name"),
        (json!({"name": "x".repeat(65), "scopes": ["items:read"]}), "name"),
        (json!({"name": "k", "scopes": []}), "scopes"),
        (json!({"name": "k", "scopes": ["users:write"]}), "scopes"),
        (json!({"name": "k", "scopes": "items:read"}), "scopes"),
        (
            json!({"name": "k", "scopes": ["items:read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"name": "k", "scopes": ["items:read"], "expires_in_days": 366}),
            "expires_in_days",
        ),
        (
            json!({"name": "k", "scopes": ["items:read"], "expires_in_days": 1e300}),
            "expires_in_days",
        ),
    ] {
        let answer = create_key(stack, &user, &body);
        assert_eq!(answer.status, 422, "{body}: {}", answer.text);
        assert_eq!(answer.locs(), [json!(["body", field])], "{body}");
    }
    let (key, _) = key_with(stack, &user, &["items:read"]);
    // Made-up keys, a key with its secret changed, and garbage of any length: 401, never a 5xx.
    let mut forged = key.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    for credential in [
        forged,
        format!("sbk_{}", "A".repeat(86)),
        "sbk_".to_owned(),
        format!("sbk_{}", "x".repeat(5000)),
        format!("{key}{key}"),
    ] {
        let answer = list_items(stack, &credential);
        assert!(
            invalid_credentials(&answer),
            "{}: {} {}",
            &credential[..credential.len().min(20)],
            answer.status,
            answer.text
        );
    }
}

#[test]
fn at_most_twenty_keys_under_parallel_creates_and_deleted_keys_stop_at_once() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answers: Vec<Answer> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..26)
            .map(|n| {
                let user = &user;
                scope.spawn(move || {
                    create_key(
                        stack,
                        user,
                        &json!({"name": format!("key {n}"), "scopes": ["items:read"]}),
                    )
                })
            })
            .collect();
        asks.into_iter().map(|ask| ask.join().expect("thread")).collect()
    });
    let created = answers.iter().filter(|a| a.status == 201).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status != 201).collect();
    assert_eq!(created, 20, "{:?}", refused.iter().map(|a| &a.text).collect::<Vec<_>>());
    assert!(refused
        .iter()
        .all(|a| a.status == 400 && a.json() == json!({"detail": "Too many API keys"})));
    let listed = with_token("GET", &stack.api("/users/me/api-keys"), &user.token, None);
    assert_eq!(listed.json()["count"], 20);

    // Deleting one makes room, and the deleted key is refused at once.
    let first = answers.iter().find(|a| a.status == 201).expect("a key").json();
    let (key, id) = (first["key"].as_str().unwrap(), first["api_key"]["id"].as_str().unwrap());
    assert_eq!(list_items(stack, key).status, 200);
    let other = stack.signup();
    let by_other = with_token(
        "DELETE",
        &stack.api(&format!("/users/me/api-keys/{id}")),
        &other.token,
        None,
    );
    assert_eq!(
        (by_other.status, by_other.json()),
        (404, json!({"detail": "API key not found"}))
    );
    let deleted = with_token(
        "DELETE",
        &stack.api(&format!("/users/me/api-keys/{id}")),
        &user.token,
        None,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    assert!(invalid_credentials(&list_items(stack, key)));
    let again = with_token(
        "DELETE",
        &stack.api(&format!("/users/me/api-keys/{id}")),
        &user.token,
        None,
    );
    assert_eq!(again.status, 404);
    let bad_id = with_token("DELETE", &stack.api("/users/me/api-keys/not-a-uuid"), &user.token, None);
    assert_eq!(bad_id.locs(), [json!(["path", "key_id"])]);
    key_with(stack, &user, &["items:read"]);
}

#[test]
fn keys_die_with_their_owners_deactivation_or_deletion() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    let deactivated = stack.signup();
    let (key, _) = key_with(stack, &deactivated, &["items:read"]);
    assert_eq!(list_items(stack, &key).status, 200);
    let answer = with_token(
        "PATCH",
        &stack.api(&format!("/users/{}", deactivated.id)),
        &admin,
        Some(&json!({"is_active": false})),
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(invalid_credentials(&list_items(stack, &key)));

    let deleted = stack.signup();
    let (key, _) = key_with(stack, &deleted, &["items:read"]);
    let answer = with_token("DELETE", &stack.api("/users/me"), &deleted.token, None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(invalid_credentials(&list_items(stack, &key)));
}
