use api_tests::{get_auth, post_json, unique_email, with_token, Stack};
use serde_json::json;
use std::sync::Arc;

#[test]
fn signup_creates_a_plain_user_whatever_role_it_asks_for() {
    let stack = Stack::shared();
    let email = unique_email("Climber");
    let answer = post_json(
        &stack.api("/users/signup"),
        &json!({"email": email.to_uppercase(), "password": "changethis1", "full_name": "Climber", "role": "superuser", "is_superuser": true}),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let user = answer.json();
    assert_eq!(user["email"], email.to_lowercase());
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_superuser"], false);
    assert_eq!(user["is_active"], true);
    assert_eq!(user["full_name"], "Climber");
    for field in ["id", "created_at"] {
        assert!(user[field].is_string(), "{field}");
    }
    assert!(user.get("hashed_password").is_none() && user.get("password").is_none());
}

#[test]
fn signup_with_a_taken_email_is_400() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = post_json(
        &stack.api("/users/signup"),
        &json!({"email": user.email, "password": "changethis1"}),
        None,
    );
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.json(),
        json!({"detail": "The user with this email already exists in the system"})
    );
}

#[test]
fn signup_validates_every_field() {
    let answer = post_json(
        &Stack::shared().api("/users/signup"),
        &json!({"email": "nope", "password": "short", "full_name": "x".repeat(256)}),
        None,
    );
    assert_eq!(answer.status, 422);
    let detail = answer.json()["detail"].clone();
    assert_eq!(
        answer.locs(),
        vec![
            json!(["body", "email"]),
            json!(["body", "password"]),
            json!(["body", "full_name"])
        ]
    );
    assert_eq!(detail[1]["type"], "string_too_short");
    assert!(detail[1]["input"].is_null(), "passwords are never echoed");
}

#[test]
fn malformed_json_is_422_json_invalid() {
    let answer = api_tests::request(
        "POST",
        &Stack::shared().api("/users/signup"),
        &[("content-type", "application/json")],
        Some("{\"email\": "),
    );
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json()["detail"][0]["type"], "json_invalid");
}

#[test]
fn twenty_concurrent_signups_with_one_email_give_exactly_one_account() {
    let stack = Stack::shared();
    let email = Arc::new(unique_email("race"));
    let url = Arc::new(stack.api("/users/signup"));
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let (email, url) = (email.clone(), url.clone());
            std::thread::spawn(move || {
                post_json(
                    &url,
                    &json!({"email": *email, "password": format!("password-{i}")}),
                    None,
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = handles.into_iter().map(|h| h.join().expect("thread")).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 19, "{statuses:?}");
}

#[test]
fn me_reads_and_updates_the_callers_own_account() {
    let stack = Stack::shared();
    let user = stack.signup();
    let me = get_auth(&stack.api("/users/me"), &user.token);
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["email"], user.email.as_str());

    let new_email = unique_email("renamed");
    let changed = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &user.token,
        Some(&json!({"full_name": "Renamed", "email": new_email, "role": "superuser"})),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["full_name"], "Renamed");
    assert_eq!(changed.json()["email"], new_email.as_str());
    assert_eq!(changed.json()["role"], "user", "role is ignored on /users/me");
    // The old address is free again; the new one logs in.
    stack.token(&new_email, &user.password);
    let reuse = post_json(
        &stack.api("/users/signup"),
        &json!({"email": user.email, "password": "changethis1"}),
        None,
    );
    assert_eq!(reuse.status, 200, "{}", reuse.text);

    let cleared = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &user.token,
        Some(&json!({"full_name": null})),
    );
    assert!(cleared.json()["full_name"].is_null());
}

#[test]
fn taking_another_users_email_is_409() {
    let stack = Stack::shared();
    let (me, other) = (stack.signup(), stack.signup());
    let answer = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &me.token,
        Some(&json!({"email": other.email})),
    );
    assert_eq!(answer.status, 409);
    assert_eq!(answer.json(), json!({"detail": "User with this email already exists"}));
}

#[test]
fn changing_the_password_checks_the_current_one() {
    let stack = Stack::shared();
    let user = stack.signup();
    let url = stack.api("/users/me/password");
    let wrong = with_token(
        "PATCH",
        &url,
        &user.token,
        Some(&json!({"current_password": "not-my-password", "new_password": "brand-new-pass"})),
    );
    assert_eq!(
        (wrong.status, wrong.json()),
        (400, json!({"detail": "Incorrect password"}))
    );
    let same = with_token(
        "PATCH",
        &url,
        &user.token,
        Some(&json!({"current_password": user.password, "new_password": user.password})),
    );
    assert_eq!(
        (same.status, same.json()),
        (
            400,
            json!({"detail": "New password cannot be the same as the current one"})
        )
    );
    let ok = with_token(
        "PATCH",
        &url,
        &user.token,
        Some(&json!({"current_password": user.password, "new_password": "brand-new-pass"})),
    );
    assert_eq!(
        (ok.status, ok.json()),
        (200, json!({"message": "Password updated successfully"}))
    );
    stack.token(&user.email, "brand-new-pass");
    let old = api_tests::post_form(
        &stack.api("/login/access-token"),
        &[("username", &user.email), ("password", &user.password)],
    );
    assert_eq!(old.status, 400);
}

#[test]
fn deleting_yourself_removes_the_account_and_its_tokens() {
    let stack = Stack::shared();
    let user = stack.signup();
    let answer = with_token("DELETE", &stack.api("/users/me"), &user.token, None);
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"message": "User deleted successfully"}))
    );
    assert_eq!(
        get_auth(&stack.api("/users/me"), &user.token).status,
        401,
        "a deleted user's token is refused"
    );
    let login = api_tests::post_form(
        &stack.api("/login/access-token"),
        &[("username", &user.email), ("password", &user.password)],
    );
    assert_eq!(login.status, 400);
}

#[test]
fn a_superuser_cannot_delete_themselves() {
    let stack = Stack::shared();
    let token = stack.superuser_token();
    let me = with_token("DELETE", &stack.api("/users/me"), &token, None);
    assert_eq!(
        (me.status, me.json()),
        (
            403,
            json!({"detail": "Super users are not allowed to delete themselves"})
        )
    );
    let id = get_auth(&stack.api("/users/me"), &token).json()["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let by_id = with_token("DELETE", &stack.api(&format!("/users/{id}")), &token, None);
    assert_eq!(
        (by_id.status, by_id.json()),
        (
            403,
            json!({"detail": "Super users are not allowed to delete themselves"})
        )
    );
}

#[test]
fn users_without_admin_permission_cannot_manage_others() {
    let stack = Stack::shared();
    let victim = stack.signup();
    let forbidden = json!({"detail": "The user doesn't have enough privileges"});
    for role in ["user", "moderator", "admin"] {
        let caller = stack.user_with_role(role);
        let url = stack.api(&format!("/users/{}", victim.id));
        for (method, body) in [
            ("GET", None),
            ("PATCH", Some(json!({"full_name": "Owned"}))),
            ("DELETE", None),
        ] {
            let answer = with_token(method, &url, &caller.token, body.as_ref());
            assert_eq!(
                (answer.status, answer.json()),
                (403, forbidden.clone()),
                "{role} {method}"
            );
        }
        assert_eq!(
            get_auth(&stack.api("/users/"), &caller.token).status,
            403,
            "{role} list"
        );
        let create = post_json(
            &stack.api("/users/"),
            &json!({"email": unique_email("x"), "password": "changethis1"}),
            Some(&caller.token),
        );
        assert_eq!(create.status, 403, "{role} create");
        // Reading yourself by id is always allowed.
        assert_eq!(
            get_auth(&stack.api(&format!("/users/{}", caller.id)), &caller.token).status,
            200
        );
    }
    assert_eq!(
        get_auth(&stack.api("/users/me"), &victim.token).json()["full_name"],
        "Test User"
    );
}

#[test]
fn a_superuser_manages_users() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    let email = unique_email("managed");
    let created = post_json(
        &stack.api("/users/"),
        &json!({"email": email, "password": "changethis1", "full_name": "Managed", "role": "moderator"}),
        Some(&admin),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    let id = created.json()["id"].as_str().unwrap_or_default().to_owned();
    assert!(
        stack
            .wait_for_email(&email, std::time::Duration::from_secs(20))
            .is_some(),
        "welcome email"
    );

    let taken = post_json(
        &stack.api("/users/"),
        &json!({"email": email, "password": "changethis1"}),
        Some(&admin),
    );
    assert_eq!(
        (taken.status, taken.json()),
        (
            400,
            json!({"detail": "The user with this email already exists in the system."})
        )
    );

    let read = get_auth(&stack.api(&format!("/users/{id}")), &admin);
    assert_eq!(read.json()["role"], "moderator");

    let promoted = with_token(
        "PATCH",
        &stack.api(&format!("/users/{id}")),
        &admin,
        Some(&json!({"is_superuser": true})),
    );
    assert_eq!(
        (promoted.json()["role"].clone(), promoted.json()["is_superuser"].clone()),
        (json!("superuser"), json!(true))
    );
    let demoted = with_token(
        "PATCH",
        &stack.api(&format!("/users/{id}")),
        &admin,
        Some(&json!({"role": "admin", "password": "another-pass1"})),
    );
    assert_eq!(
        (demoted.json()["role"].clone(), demoted.json()["is_superuser"].clone()),
        (json!("admin"), json!(false))
    );
    stack.token(&email, "another-pass1");

    let deactivated = with_token(
        "PATCH",
        &stack.api(&format!("/users/{id}")),
        &admin,
        Some(&json!({"is_active": false})),
    );
    assert_eq!(deactivated.json()["is_active"], false);
    let login = api_tests::post_form(
        &stack.api("/login/access-token"),
        &[("username", &email), ("password", "another-pass1")],
    );
    assert_eq!((login.status, login.json()), (400, json!({"detail": "Inactive user"})));

    let other = stack.signup();
    let conflict = with_token(
        "PATCH",
        &stack.api(&format!("/users/{id}")),
        &admin,
        Some(&json!({"email": other.email})),
    );
    assert_eq!(conflict.status, 409);

    let deleted = with_token("DELETE", &stack.api(&format!("/users/{id}")), &admin, None);
    assert_eq!(
        (deleted.status, deleted.json()),
        (200, json!({"message": "User deleted successfully"}))
    );
    let gone = get_auth(&stack.api(&format!("/users/{id}")), &admin);
    assert_eq!((gone.status, gone.json()), (404, json!({"detail": "User not found"})));
}

#[test]
fn unknown_or_malformed_user_ids() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    let nobody = uuid::Uuid::new_v4();
    let patch = with_token(
        "PATCH",
        &stack.api(&format!("/users/{nobody}")),
        &admin,
        Some(&json!({"full_name": "x"})),
    );
    assert_eq!(
        (patch.status, patch.json()),
        (
            404,
            json!({"detail": "The user with this id does not exist in the system"})
        )
    );
    let delete = with_token("DELETE", &stack.api(&format!("/users/{nobody}")), &admin, None);
    assert_eq!(
        (delete.status, delete.json()),
        (404, json!({"detail": "User not found"}))
    );
    let malformed = get_auth(&stack.api("/users/not-a-uuid"), &admin);
    assert_eq!(malformed.status, 422);
    assert_eq!(malformed.json()["detail"][0]["loc"], json!(["path", "user_id"]));
}

#[test]
fn listing_users_pages_newest_first_with_an_exact_count() {
    let stack = Stack::shared();
    let admin = stack.superuser_token();
    let (first, second) = (stack.signup(), stack.signup());
    let page = get_auth(&stack.api("/users/?skip=0&limit=2"), &admin).json();
    let ids: Vec<_> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids.len(), 2);
    let count = page["count"].as_u64().unwrap_or(0);
    assert!(count >= 3, "{page}");
    let all = get_auth(&stack.api(&format!("/users/?limit={count}")), &admin).json();
    let all_ids: Vec<_> = all["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| u["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(all["count"].as_u64() >= Some(count));
    let (pos_first, pos_second) = (
        all_ids.iter().position(|id| *id == first.id).expect("first listed"),
        all_ids.iter().position(|id| *id == second.id).expect("second listed"),
    );
    assert!(pos_second < pos_first, "newest first");
    let too_many = get_auth(&stack.api("/users/?limit=100000"), &admin);
    assert_eq!(too_many.status, 422);
}

#[test]
fn the_private_route_creates_users_without_auth_outside_prod() {
    let stack = Stack::shared();
    let email = unique_email("private");
    let answer = post_json(
        &stack.api("/private/users/"),
        &json!({"email": email, "password": "changethis1", "full_name": "Private", "is_verified": true}),
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.json()["role"], "user");
    stack.token(&email, "changethis1");
}

/// The contract's conditional GET, on a record with no version of its own: the tag follows the
/// answer, so a change makes the old one stale.
#[test]
fn a_current_copy_of_a_user_is_not_sent_again() {
    let stack = Stack::shared();
    let user = stack.signup();
    let me = get_auth(&stack.api("/users/me"), &user.token);
    let tag = me.header("etag").expect("an ETag").to_owned();
    let auth = format!("Bearer {}", user.token);
    let url = stack.api("/users/me");
    let current = api_tests::request("GET", &url, &[("authorization", &auth), ("if-none-match", &tag)], None);
    assert_eq!((current.status, current.text.as_str()), (304, ""));
    assert_eq!(current.header("etag"), Some(tag.as_str()));
    let by_id = api_tests::request(
        "GET",
        &stack.api(&format!("/users/{}", user.id)),
        &[("authorization", &auth), ("if-none-match", &tag)],
        None,
    );
    assert_eq!(by_id.status, 304, "the same user, the same answer");

    let renamed = with_token("PATCH", &url, &user.token, Some(&json!({"full_name": "Renamed"})));
    assert_eq!(renamed.status, 200);
    let stale = api_tests::request("GET", &url, &[("authorization", &auth), ("if-none-match", &tag)], None);
    assert_eq!(stale.status, 200);
    assert_eq!(stale.json()["full_name"], "Renamed");
    assert_ne!(stale.header("etag"), Some(tag.as_str()));
}
