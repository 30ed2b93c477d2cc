//! Password recovery by email, and the rate limits on login and recovery.

use api_tests::{eventually, post_form, post_json, request, unique_email, with_token, Stack};
use serde_json::json;
use std::time::Duration;

const SENT: &str = "If that email is registered, we sent a password recovery link";

fn recover(stack: &Stack, email: &str) -> api_tests::Answer {
    request(
        "POST",
        &stack.api(&format!("/password-recovery/{}", api_tests::encode(email))),
        &[],
        None,
    )
}

fn reset(stack: &Stack, token: &str, password: &str) -> api_tests::Answer {
    post_json(
        &stack.api("/reset-password/"),
        &json!({"token": token, "new_password": password}),
        None,
    )
}

#[test]
fn recovery_answers_the_same_whether_or_not_the_email_exists() {
    let stack = Stack::shared();
    let user = stack.signup();
    let ghost = unique_email("ghost");
    for email in [user.email.as_str(), ghost.as_str(), "not-even-an-email"] {
        let answer = recover(stack, email);
        assert_eq!(
            (answer.status, answer.json()),
            (200, json!({"message": SENT})),
            "{email}"
        );
    }
    assert!(stack
        .wait_for_email_about(&user.email, "Password recovery", Duration::from_secs(20))
        .is_some());
    // Every email queued before the emails queue is seen empty has been sent: an email to the
    // unknown address, had one been queued, would be among SES's by then.
    let drained = eventually(Duration::from_secs(30), || {
        (stack.queue_depth("EmailsQueue") == (0, 0) && stack.queue_depth("JobsQueue") == (0, 0)).then_some(())
    });
    assert!(drained.is_some(), "the emails and jobs queues did not drain");
    assert!(
        stack.emails().iter().all(|m| m["to"][0] != ghost.as_str()),
        "no email to an unknown address"
    );
}

#[test]
fn the_recovery_email_resets_the_password_once() {
    let stack = Stack::shared();
    let user = stack.signup();
    assert_eq!(recover(stack, &user.email).status, 200);
    let email = stack
        .wait_for_email_about(&user.email, "Password recovery", Duration::from_secs(20))
        .expect("recovery email");
    let html = email["html"].as_str().unwrap_or_default();
    let link_start = html
        .find("http://localhost:5173/reset-password?token=")
        .expect("link to the frontend");
    let token: String = html[link_start..]
        .split("token=")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert_eq!(token.len(), 64);

    let answer = reset(stack, &token, "recovered-password");
    assert_eq!(
        (answer.status, answer.json()),
        (200, json!({"message": "Password updated successfully"}))
    );
    stack.token(&user.email, "recovered-password");
    assert_eq!(
        post_form(
            &stack.api("/login/access-token"),
            &[("username", &user.email), ("password", &user.password)]
        )
        .status,
        400
    );

    let again = reset(stack, &token, "another-password");
    assert_eq!((again.status, again.json()), (400, json!({"detail": "Invalid token"})));
}

#[test]
fn reset_validates_its_body_and_refuses_made_up_tokens() {
    let stack = Stack::shared();
    assert_eq!(
        reset(stack, "made-up", "long-enough-password").json(),
        json!({"detail": "Invalid token"})
    );
    let short = reset(stack, "made-up", "short");
    assert_eq!(short.status, 422);
    assert_eq!(short.json()["detail"][0]["loc"], json!(["body", "new_password"]));
}

#[test]
fn the_recovery_html_is_for_superusers() {
    let stack = Stack::shared();
    let user = stack.signup();
    let url = stack.api(&format!("/password-recovery-html-content/{}", user.email));
    let html = with_token("POST", &url, &stack.superuser_token(), None);
    assert_eq!(html.status, 200);
    assert!(html.header("content-type").is_some_and(|t| t.starts_with("text/html")));
    assert!(html.text.contains("reset-password?token="));
    assert_eq!(with_token("POST", &url, &user.token, None).status, 403);
    let unknown = with_token(
        "POST",
        &stack.api("/password-recovery-html-content/nobody@example.com"),
        &stack.superuser_token(),
        None,
    );
    assert_eq!(unknown.status, 404);
}

#[test]
fn failed_logins_are_rate_limited_per_email() {
    let stack = Stack::shared();
    let user = stack.signup();
    let attempt = |password: &str| {
        post_form(
            &stack.api("/login/access-token"),
            &[("username", &user.email), ("password", password)],
        )
    };
    for _ in 0..10 {
        assert_eq!(attempt("wrong-password").status, 400);
    }
    let limited = attempt("wrong-password");
    assert_eq!(limited.status, 429, "{}", limited.text);
    assert!(limited
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| s > 0));
    assert!(limited.json()["detail"].is_string());
    // While limited, even the right password waits.
    assert_eq!(attempt(&user.password).status, 429);
}

#[test]
fn recovery_requests_are_rate_limited_per_email() {
    let stack = Stack::shared();
    let email = unique_email("flood");
    for _ in 0..5 {
        assert_eq!(recover(stack, &email).status, 200);
    }
    let limited = recover(stack, &email);
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
}
