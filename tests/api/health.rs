use api_tests::{get, Stack};

#[test]
fn health_check_answers_true_with_and_without_trailing_slash() {
    let stack = Stack::shared();
    for path in ["/utils/health-check/", "/utils/health-check"] {
        let answer = get(&stack.api(path));
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json(), serde_json::json!(true));
    }
}

#[test]
fn deep_health_check_reports_every_backing_service() {
    let answer = get(&Stack::shared().api("/utils/health-check/?deep=true"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    let body = answer.json();
    assert_eq!(body["status"], "ok");
    for service in ["table", "bucket", "queue"] {
        assert_eq!(body["checks"][service], "ok", "{service}");
    }
}

#[test]
fn deep_health_check_names_the_failed_services_when_the_emulator_is_down() {
    // A private stack: stopping its emulator must not disturb the other tests.
    let stack = Stack::start();
    assert_eq!(get(&stack.api("/utils/health-check/?deep=true")).status, 200);
    assert_eq!(
        api_tests::post_json(&stack.admin("/emulator/stop"), &serde_json::json!({}), None).status,
        200
    );

    let answer = get(&stack.api("/utils/health-check/?deep=true"));
    assert_eq!(answer.status, 503, "{}", answer.text);
    assert!(answer.header("retry-after").is_some());
    let body = answer.json();
    assert_eq!(body["checks"]["table"], "unavailable");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("table")), "{body}");
    assert!(
        !answer.text.contains("127.0.0.1"),
        "the cause must not leak: {}",
        answer.text
    );
    // The shallow check does not touch the backing services.
    assert_eq!(get(&stack.api("/utils/health-check/")).status, 200);
}

#[test]
fn deep_flag_must_be_a_boolean() {
    let answer = get(&Stack::shared().api("/utils/health-check/?deep=maybe"));
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json()["detail"][0]["loc"], serde_json::json!(["query", "deep"]));
}
