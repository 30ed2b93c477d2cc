use api_tests::{encode, request, unique_email, Stack};
use std::time::Duration;

fn send_test_email(stack: &Stack, to: &str, token: Option<&str>) -> api_tests::Answer {
    let url = stack.api(&format!("/utils/test-email/?email_to={}", encode(to)));
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    request("POST", &url, &headers, None)
}

#[test]
fn test_email_reaches_ses_through_the_queue() {
    let stack = Stack::shared();
    let to = unique_email("test-email");
    let answer = send_test_email(stack, &to, Some(&stack.superuser_token()));
    assert_eq!(answer.status, 201, "{}", answer.text);
    assert_eq!(answer.json(), serde_json::json!({"message": "Test email sent"}));

    let email = stack
        .wait_for_email(&to, Duration::from_secs(20))
        .expect("the test email reached SES");
    assert!(
        email["subject"].as_str().is_some_and(|s| s.ends_with("Test email")),
        "{email}"
    );
    assert_eq!(email["from"], "noreply@example.com");
}

#[test]
fn test_email_needs_a_token() {
    let stack = Stack::shared();
    let answer = send_test_email(stack, &unique_email("nobody"), None);
    assert_eq!(answer.status, 401);
    assert_eq!(answer.header("www-authenticate"), Some("Bearer"));
    assert_eq!(answer.json(), serde_json::json!({"detail": "Not authenticated"}));
}

#[test]
fn test_email_rejects_a_forged_token() {
    let stack = Stack::shared();
    let forged = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let answer = send_test_email(stack, &unique_email("nobody"), Some(forged));
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.json(),
        serde_json::json!({"detail": "Could not validate credentials"})
    );
}

#[test]
fn test_email_rejects_an_invalid_address() {
    let stack = Stack::shared();
    let answer = send_test_email(stack, "not-an-email", Some(&stack.superuser_token()));
    assert_eq!(answer.status, 422, "{}", answer.text);
    let detail = &answer.json()["detail"][0];
    assert_eq!(detail["loc"], serde_json::json!(["query", "email_to"]));
    assert_eq!(detail["type"], "value_error");
}
