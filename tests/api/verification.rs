//! Email verification: the link a signup, an admin's create or an email change sends, used once
//! and only for the address it went to; resends limited; and a stack that requires a verified
//! email to log in.

use api_tests::{get_auth, link_token, post_form, post_json, unique_email, with_token, Answer, Stack};
use serde_json::{json, Value};
use std::time::Duration;

const VERIFY_SUBJECT: &str = "Verify your email";

fn redeem(stack: &Stack, token: &str) -> Answer {
    post_json(&stack.api("/users/verify-email"), &json!({ "token": token }), None)
}

fn resend(stack: &Stack, token: &str) -> Answer {
    with_token("POST", &stack.api("/users/me/verification-email"), token, None)
}

fn me(stack: &Stack, token: &str) -> Value {
    let answer = get_auth(&stack.api("/users/me"), token);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

/// The token of the newest verification link sent to `to` once there are more than `seen`.
fn link_after(stack: &Stack, to: &str, seen: usize) -> String {
    let email = api_tests::eventually(Duration::from_secs(20), || {
        let sent = stack.emails_about(to, VERIFY_SUBJECT);
        (sent.len() > seen).then(|| sent[sent.len() - 1].clone())
    })
    .unwrap_or_else(|| panic!("no verification email to {to}"));
    let token = link_token(&email, "/verify-email");
    assert_eq!(token.len(), 64, "{email}");
    token
}

fn invalid() -> Value {
    json!({"detail": "Invalid token"})
}

#[test]
fn a_signup_link_verifies_the_address_once() {
    let stack = Stack::shared();
    let user = stack.signup();
    assert_eq!(me(stack, &user.token)["is_verified"], false);
    let token = link_after(stack, &user.email, 0);

    let answer = redeem(stack, &token);
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"message": "Email verified"}))
    );
    assert_eq!(me(stack, &user.token)["is_verified"], true);
    let again = redeem(stack, &token);
    assert_eq!((again.status, again.json()), (400, invalid()));
    let verified = resend(stack, &user.token);
    assert_eq!(
        (verified.status, verified.json()),
        (400, json!({"detail": "Email already verified"}))
    );
}

#[test]
fn a_link_is_stale_once_the_email_changes_and_the_new_address_gets_its_own() {
    let stack = Stack::shared();
    let user = stack.signup();
    let old_link = link_after(stack, &user.email, 0);
    let new_email = unique_email("moved");
    let changed = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &user.token,
        Some(&json!({ "email": new_email })),
    );
    assert_eq!(changed.status, 200, "{}", changed.text);
    assert_eq!(changed.json()["is_verified"], false);

    let stale = redeem(stack, &old_link);
    assert_eq!((stale.status, stale.json()), (400, invalid()));
    let new_link = link_after(stack, &new_email, 0);
    assert_eq!(redeem(stack, &new_link).status, 200);
    let now = me(stack, &user.token);
    assert_eq!(
        (now["email"].clone(), now["is_verified"].clone()),
        (json!(new_email), json!(true))
    );

    // Verified, then changed again: unverified until the newest address's link is followed.
    let third = unique_email("moved-again");
    let changed = with_token(
        "PATCH",
        &stack.api("/users/me"),
        &user.token,
        Some(&json!({ "email": third })),
    );
    assert_eq!(changed.json()["is_verified"], false);
    assert_eq!(redeem(stack, &new_link).status, 400);
}

#[test]
fn a_link_redeemed_by_many_at_once_verifies_once() {
    let stack = Stack::shared();
    let user = stack.signup();
    let token = link_after(stack, &user.email, 0);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..8).map(|_| scope.spawn(|| redeem(stack, &token).status)).collect();
        racers.into_iter().map(|r| r.join().unwrap_or(0)).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "{statuses:?}");
    assert_eq!(me(stack, &user.token)["is_verified"], true);
}

#[test]
fn resends_are_limited_to_three_an_hour_and_each_sends_a_working_link() {
    let stack = Stack::shared();
    let user = stack.signup();
    link_after(stack, &user.email, 0);
    for _ in 0..3 {
        let answer = resend(stack, &user.token);
        assert_eq!(
            (answer.status, answer.json()),
            (200, json!({"message": "Verification email sent"}))
        );
    }
    let limited = resend(stack, &user.token);
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|secs| secs <= 3600));
    let newest = link_after(stack, &user.email, 3);
    assert_eq!(redeem(stack, &newest).status, 200);
}

#[test]
fn made_up_tokens_are_invalid_and_the_body_is_validated() {
    let stack = Stack::shared();
    let made_up = redeem(stack, "not-a-token-we-ever-sent");
    assert_eq!((made_up.status, made_up.json()), (400, invalid()));
    let missing = post_json(&stack.api("/users/verify-email"), &json!({}), None);
    assert_eq!(missing.status, 422);
    assert_eq!(missing.json()["detail"][0]["loc"], json!(["body", "token"]));
    let anonymous = api_tests::request("POST", &stack.api("/users/me/verification-email"), &[], None);
    assert_eq!(anonymous.status, 401);
}

#[test]
fn a_user_an_admin_creates_verifies_from_the_welcome_email() {
    let stack = Stack::shared();
    let email = unique_email("welcomed");
    let created = post_json(
        &stack.api("/users/"),
        &json!({"email": email, "password": "changethis1"}),
        Some(&stack.superuser_token()),
    );
    assert_eq!(created.status, 200, "{}", created.text);
    assert_eq!(created.json()["is_verified"], false);
    let welcome = stack
        .wait_for_email_about(&email, "New account", Duration::from_secs(20))
        .expect("welcome email");
    let token = link_token(&welcome, "/verify-email");
    assert_eq!(redeem(stack, &token).status, 200);
    let id = created.json()["id"].as_str().unwrap_or_default().to_owned();
    let read = get_auth(&stack.api(&format!("/users/{id}")), &stack.superuser_token());
    assert_eq!(read.json()["is_verified"], true);
}

#[test]
fn when_required_an_unverified_login_is_refused_after_the_password_and_sends_a_link() {
    // A stack of its own: the parameter changes every login of the stack.
    let stack = Stack::start_with(&["RequireVerifiedEmail=true"]);
    // The first superuser's address was the operator's choice: verified.
    stack.superuser_token();
    let email = unique_email("strict");
    let password = "a-strict-password";
    let signup = post_json(
        &stack.api("/users/signup"),
        &json!({"email": email, "password": password}),
        None,
    );
    assert_eq!(signup.status, 200, "{}", signup.text);
    let login = |password: &str| {
        post_form(
            &stack.api("/login/access-token"),
            &[("username", email.as_str()), ("password", password)],
        )
    };
    let wrong = login("not-the-password");
    assert_eq!(
        (wrong.status, wrong.json()),
        (400, json!({"detail": "Incorrect email or password"}))
    );
    let refused = login(password);
    assert_eq!(
        (refused.status, refused.json()),
        (403, json!({"detail": "Email not verified"}))
    );
    // The signup's link, and the one the refusal sent.
    let newest = link_after(&stack, &email, 1);
    assert_eq!(redeem(&stack, &newest).status, 200);
    let accepted = login(password);
    assert_eq!(accepted.status, 200, "{}", accepted.text);
}
