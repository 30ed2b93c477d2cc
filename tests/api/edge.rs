//! What every response of the API carries, whatever the route.

use api_tests::{get, request, Stack};
use serde_json::json;

#[test]
fn every_response_has_the_security_headers_and_a_request_id() {
    let stack = Stack::shared();
    for answer in [
        get(&stack.api("/utils/health-check/")),
        get(&stack.api("/utils/no-such-route")),
    ] {
        for header in [
            "x-request-id",
            "x-content-type-options",
            "x-frame-options",
            "strict-transport-security",
            "referrer-policy",
        ] {
            assert!(answer.header(header).is_some_and(|v| !v.is_empty()), "{header} missing");
        }
        assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(answer.header("x-frame-options"), Some("DENY"));
    }
}

#[test]
fn a_sane_caller_request_id_is_echoed() {
    let answer = request(
        "GET",
        &Stack::shared().api("/utils/health-check/"),
        &[("x-request-id", "client-req-42")],
        None,
    );
    assert_eq!(answer.header("x-request-id"), Some("client-req-42"));
}

#[test]
fn authenticated_responses_are_not_cached() {
    let stack = Stack::shared();
    let answer = request(
        "POST",
        &stack.api("/login/test-token"),
        &[("authorization", &format!("Bearer {}", stack.superuser_token()))],
        None,
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}

#[test]
fn unknown_routes_get_fastapis_not_found() {
    let answer = get(&Stack::shared().api("/utils/no-such-route"));
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json(), json!({"detail": "Not Found"}));
}

#[test]
fn wrong_method_is_405_with_allow() {
    let answer = request("DELETE", &Stack::shared().api("/utils/health-check/"), &[], None);
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET"));
}

#[test]
fn cors_preflight_allows_the_local_frontend_only() {
    let stack = Stack::shared();
    let url = stack.api("/utils/test-email/");
    let allowed = request(
        "OPTIONS",
        &url,
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization"),
        ],
        None,
    );
    assert_eq!(allowed.status, 200);
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert!(allowed
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));

    let denied = request(
        "OPTIONS",
        &url,
        &[
            ("origin", "https://evil.example"),
            ("access-control-request-method", "POST"),
        ],
        None,
    );
    assert_eq!(denied.status, 400);
    assert!(denied.header("access-control-allow-origin").is_none());
}

#[test]
fn a_cross_origin_request_from_the_frontend_gets_cors_headers() {
    let answer = request(
        "GET",
        &Stack::shared().api("/utils/health-check/"),
        &[("origin", "http://localhost:5173")],
        None,
    );
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some("http://localhost:5173")
    );
    assert_eq!(answer.header("access-control-allow-credentials"), Some("true"));
}
