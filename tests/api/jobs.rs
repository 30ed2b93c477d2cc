use api_tests::{eventually, post_json, unique_email, Stack};
use serde_json::json;
use std::time::Duration;

fn email_job(to: &str) -> String {
    json!({
        "version": 1,
        "id": uuid::Uuid::new_v4(),
        "created_at": "2026-11-23T17:00:00Z",
        "kind": "send_email",
        "payload": {"to": to, "subject": "Batch-mate", "html": "<p>hello</p>", "text": "hello"},
    })
    .to_string()
}

#[test]
fn a_poison_job_ends_in_the_dead_letter_queue_while_its_batch_mates_succeed() {
    let stack = Stack::shared();
    let (dead_before, _) = stack.queue_depth("JobsDeadLetterQueue");
    let first = unique_email("batch-mate");
    let second = unique_email("batch-mate");
    let unknown_kind = json!({"version": 1, "id": uuid::Uuid::new_v4(), "created_at": "2026-11-23T17:00:00Z", "kind": "launch_rockets", "payload": {}});
    let batch = json!([
        email_job(&first),
        "{not json",
        email_job(&second),
        unknown_kind.to_string()
    ]);
    let sent = post_json(&stack.admin("/queues/JobsQueue/batch"), &batch, None);
    assert_eq!(sent.json()["sent"], 4, "{}", sent.text);

    assert!(
        stack.wait_for_email(&first, Duration::from_secs(20)).is_some(),
        "first batch-mate was sent"
    );
    assert!(
        stack.wait_for_email(&second, Duration::from_secs(20)).is_some(),
        "second batch-mate was sent"
    );
    // Each poison job is received maxReceiveCount (3) times, one second apart, then redriven.
    let dead = eventually(Duration::from_secs(30), || {
        let (dead, _) = stack.queue_depth("JobsDeadLetterQueue");
        (dead >= dead_before + 2).then_some(dead)
    });
    assert!(dead.is_some(), "both poison jobs reached the dead-letter queue");
    // The good jobs were deleted, not redriven: each email went out exactly once.
    let sent_to_first = stack.emails().iter().filter(|m| m["to"][0] == first.as_str()).count();
    assert_eq!(sent_to_first, 1);
}

#[test]
fn a_backlog_of_cascades_does_not_delay_an_email() {
    // A stack of its own: the backlog would hold up the shared stack's other tests.
    let stack = Stack::start();
    let cascades: Vec<String> = (0..300)
        .map(|_| {
            json!({
                "version": 1,
                "id": uuid::Uuid::new_v4(),
                "created_at": "2026-11-23T17:00:00Z",
                "kind": "delete_user_data",
                "payload": {"user_id": uuid::Uuid::new_v4()},
            })
            .to_string()
        })
        .collect();
    for chunk in cascades.chunks(10) {
        let sent = post_json(&stack.admin("/queues/JobsQueue/batch"), &json!(chunk), None);
        assert_eq!(sent.json()["sent"], chunk.len(), "{}", sent.text);
    }
    let user = stack.signup();
    let recovery = api_tests::request(
        "POST",
        &stack.api(&format!("/password-recovery/{}", api_tests::encode(&user.email))),
        &[],
        None,
    );
    assert_eq!(recovery.status, 200, "{}", recovery.text);
    assert!(
        stack
            .wait_for_email_about(&user.email, "Password recovery", Duration::from_secs(20))
            .is_some(),
        "the reset email was sent"
    );
    let (visible, in_flight) = stack.queue_depth("JobsQueue");
    assert!(
        visible + in_flight > 0,
        "the email went out while cascades were still waiting in their own queue"
    );
}

#[test]
fn an_email_job_delivered_twice_is_sent_once() {
    let stack = Stack::shared();
    let to = unique_email("twice");
    let job = email_job(&to);
    // The same job twice, as SQS may deliver it (or a batch that timed out after sending).
    let sent = post_json(&stack.admin("/queues/EmailsQueue/batch"), &json!([job, job]), None);
    assert_eq!(sent.json()["sent"], 2, "{}", sent.text);
    assert!(stack.wait_for_email(&to, Duration::from_secs(20)).is_some());
    let drained = eventually(Duration::from_secs(30), || {
        (stack.queue_depth("EmailsQueue") == (0, 0)).then_some(())
    });
    assert!(drained.is_some(), "the emails queue did not drain");
    let sent_to = stack.emails().iter().filter(|m| m["to"][0] == to.as_str()).count();
    assert_eq!(sent_to, 1);
}
