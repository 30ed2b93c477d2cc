use api_tests::{post_form, request, Stack};
use serde_json::json;

#[test]
fn the_first_superuser_logs_in_with_a_bearer_token() {
    let stack = Stack::shared();
    let answer = post_form(
        &stack.api("/login/access-token"),
        &[("username", "admin@example.com"), ("password", "changethis")],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
    let token = answer.json();
    assert_eq!(token["token_type"], "bearer");
    assert!(token["expires_in"].as_u64().is_some_and(|s| s > 0));

    let me = request(
        "POST",
        &stack.api("/login/test-token"),
        &[(
            "authorization",
            &format!("Bearer {}", token["access_token"].as_str().unwrap_or_default()),
        )],
        None,
    );
    assert_eq!(me.status, 200);
    let me = me.json();
    assert_eq!(me["email"], "admin@example.com");
    assert_eq!(me["is_superuser"], true);
    assert_eq!(me["role"], "superuser");
    assert!(me.get("hashed_password").is_none() && !me.to_string().contains("argon2"));
}

#[test]
fn login_emails_are_case_insensitive() {
    let stack = Stack::shared();
    let answer = post_form(
        &stack.api("/login/access-token"),
        &[("username", "Admin@Example.COM"), ("password", "changethis")],
    );
    assert_eq!(answer.status, 200, "{}", answer.text);
}

#[test]
fn wrong_password_and_unknown_email_get_the_same_answer() {
    let stack = Stack::shared();
    let wrong = post_form(
        &stack.api("/login/access-token"),
        &[("username", "admin@example.com"), ("password", "not-the-password")],
    );
    let unknown = post_form(
        &stack.api("/login/access-token"),
        &[("username", "ghost@example.com"), ("password", "not-the-password")],
    );
    for answer in [wrong, unknown] {
        assert_eq!(answer.status, 400);
        assert_eq!(answer.json(), json!({"detail": "Incorrect email or password"}));
    }
}

#[test]
fn login_without_fields_lists_each_missing_one() {
    let answer = post_form(&Stack::shared().api("/login/access-token"), &[]);
    assert_eq!(answer.status, 422);
    assert_eq!(
        answer.locs(),
        vec![json!(["body", "username"]), json!(["body", "password"])]
    );
}

#[test]
fn test_token_without_a_token_is_401() {
    let answer = request("POST", &Stack::shared().api("/login/test-token"), &[], None);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
}
