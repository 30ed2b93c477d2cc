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

fn log_in(stack: &Stack, email: &str, password: &str) -> api_tests::Answer {
    post_form(
        &stack.api("/login/access-token"),
        &[("username", email), ("password", password)],
    )
}

/// The rate-limit rows (`RATE#…`) the calls since meter position `since` wrote, and the
/// meter's last position.
fn rate_limit_writes(stack: &Stack, since: u64) -> (Vec<serde_json::Value>, u64) {
    let calls = api_tests::get(&stack.admin(&format!("/meter/{since}"))).json()["calls"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let last = calls.iter().filter_map(|c| c["seq"].as_u64()).max().unwrap_or(since);
    let writes = calls
        .into_iter()
        .filter(|c| {
            c["units"].as_array().into_iter().flatten().any(|u| {
                u["key"].as_str().is_some_and(|k| k.starts_with("RATE#"))
                    && u["write"].as_f64().is_some_and(|w| w > 0.0)
            })
        })
        .collect();
    (writes, last)
}

#[test]
fn a_successful_login_writes_no_rate_limit_rows_and_a_failure_counts_once_per_limit() {
    let stack = Stack::start_metered(&[]);
    let user = stack.signup();
    let (_, start) = rate_limit_writes(&stack, 0);

    assert_eq!(log_in(&stack, &user.email, &user.password).status, 200);
    let (writes, after_success) = rate_limit_writes(&stack, start);
    assert!(writes.is_empty(), "a successful login wrote {writes:?}");

    assert_eq!(log_in(&stack, &user.email, "not-the-password").status, 400);
    let (writes, _) = rate_limit_writes(&stack, after_success);
    let operations: Vec<_> = writes
        .iter()
        .map(|c| c["operation"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        operations, ["UpdateItem"; 3],
        "a failure counts once per limit: account+address, account, address"
    );
}

#[test]
fn failures_lock_one_account_at_one_address_and_the_address_only_at_its_much_higher_limit() {
    // The address-wide limit lowered from its default (1,000) so that the test reaches it.
    let stack = Stack::start_with(&["LoginFailuresPerAddress=15"]);
    let (locked, colleague, other) = (stack.signup(), stack.signup(), stack.signup());
    for _ in 0..10 {
        assert_eq!(log_in(&stack, &locked.email, "a-wrong-guess").status, 400);
    }
    let limited = log_in(&stack, &locked.email, &locked.password);
    assert_eq!(
        limited.status, 429,
        "the account is locked at this address: {}",
        limited.text
    );
    assert!(limited
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| s > 0));
    // Another user behind the same address (a NAT) still logs in.
    assert_eq!(log_in(&stack, &colleague.email, &colleague.password).status, 200);

    // Five failures more on another account: 15 from the address in all, its own limit.
    for _ in 0..5 {
        assert_eq!(log_in(&stack, &other.email, "a-wrong-guess").status, 400);
    }
    let limited = log_in(&stack, &colleague.email, &colleague.password);
    assert_eq!(limited.status, 429, "the address is limited now: {}", limited.text);
    assert!(limited.header("retry-after").is_some());
}
