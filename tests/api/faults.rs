//! Faults of the backing services, on stacks of their own: a hung emulator is answered with 503
//! and `Retry-After` (never a gateway error), the API recovers when it comes back, and what was
//! written in between is whole or absent; a deletion whose job cannot be enqueued is finished by
//! the worker's sweep; a transaction sent again after it committed unseen (the SDK's retry of a
//! lost answer) is still the caller's own write.

use api_tests::{get_auth, post_json, request, unique_email, with_token, Answer, Stack};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn unavailable(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 503, "{what}: {}", answer.text);
    assert!(answer.header("retry-after").is_some(), "{what}: no Retry-After");
    assert!(answer.json()["detail"].is_string(), "{what}: {}", answer.text);
}

fn create_item(stack: &Stack, token: &str, key: &str, title: &str) -> Answer {
    request(
        "POST",
        &stack.api("/items/"),
        &[
            ("authorization", &format!("Bearer {token}")),
            ("content-type", "application/json"),
            ("idempotency-key", key),
        ],
        Some(&json!({ "title": title }).to_string()),
    )
}

#[test]
fn a_hung_backend_is_a_503_and_what_was_written_is_whole_after_it_returns() {
    let stack = Stack::start();
    let user = stack.signup();
    let admin = stack.superuser_token();
    let newcomer = unique_email("during-outage");
    let title = format!("written during an outage {}", uuid::Uuid::new_v4().simple());

    assert_eq!(
        post_json(&stack.admin("/emulator/freeze"), &json!({}), None).status,
        200
    );
    let started = Instant::now();
    std::thread::scope(|s| {
        let item = s.spawn(|| create_item(&stack, &user.token, "outage-key", &title));
        let signup = s.spawn(|| {
            post_json(
                &stack.api("/users/signup"),
                &json!({"email": newcomer, "password": "a-long-password"}),
                None,
            )
        });
        let read = s.spawn(|| get_auth(&stack.api("/items/"), &user.token));
        unavailable(&item.join().unwrap(), "create item");
        unavailable(&signup.join().unwrap(), "signup");
        unavailable(&read.join().unwrap(), "list items");
    });
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the function's timeout, not by it: {:?}",
        started.elapsed()
    );
    assert_eq!(post_json(&stack.admin("/emulator/thaw"), &json!({}), None).status, 200);

    // Back: the retry with the same key creates the item exactly once.
    let retried = create_item(&stack, &user.token, "outage-key", &title);
    assert_eq!(retried.status, 200, "{}", retried.text);
    let again = create_item(&stack, &user.token, "outage-key", &title);
    assert_eq!(
        again.json()["id"],
        retried.json()["id"],
        "the key answers with the same item"
    );
    let mine = get_auth(&stack.api("/items/?limit=100"), &user.token).json();
    let copies = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["title"] == title.as_str())
        .count();
    assert_eq!((copies, mine["count"].clone()), (1, json!(1)), "{mine}");

    // The signup either happened whole (the account logs in) or not at all (it can be made now).
    let signup = post_json(
        &stack.api("/users/signup"),
        &json!({"email": newcomer, "password": "a-long-password"}),
        None,
    );
    assert!(
        signup.status == 200 || (signup.status == 400 && signup.text.contains("already exists")),
        "{}",
        signup.text
    );
    stack.token(&newcomer, "a-long-password");
    let users = get_auth(&stack.api("/users/?limit=100"), &admin).json();
    let listed = users["data"].as_array().unwrap();
    assert_eq!(users["count"], listed.len(), "the count matches the rows: {users}");
    assert_eq!(listed.iter().filter(|u| u["email"] == newcomer.as_str()).count(), 1);
    assert_eq!(
        get_auth(&stack.api("/utils/health-check/?deep=true"), &admin).status,
        200
    );

    // Gone for good (connections refused): every route answers 503 at once, none hangs or 500s.
    assert_eq!(post_json(&stack.admin("/emulator/stop"), &json!({}), None).status, 200);
    let started = Instant::now();
    unavailable(&get_auth(&stack.api("/items/"), &user.token), "list items");
    unavailable(&create_item(&stack, &user.token, "after-stop", "x"), "create item");
    unavailable(&get_auth(&stack.api("/users/me"), &user.token), "read me");
    unavailable(
        &api_tests::post_form(
            &stack.api("/login/access-token"),
            &[("username", &user.email), ("password", &user.password)],
        ),
        "login",
    );
    unavailable(
        &post_json(&stack.api("/password-recovery/a@example.com"), &json!({}), None),
        "recovery",
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "five answers took {:?}",
        started.elapsed()
    );
}

/// The emulator's endpoint, and the jobs queue's URL and region on this stack.
fn jobs_queue(stack: &Stack) -> (String, String, String) {
    let info = api_tests::get(&stack.admin("/info")).json();
    let queue = info["queues"]
        .as_array()
        .and_then(|queues| queues.iter().find(|q| q["id"] == "JobsQueue"))
        .expect("JobsQueue")
        .clone();
    let region = queue["arn"]
        .as_str()
        .and_then(|arn| arn.split(':').nth(3))
        .expect("queue ARN");
    (
        info["emulator"].as_str().expect("emulator").to_owned(),
        queue["url"].as_str().expect("queue URL").to_owned(),
        region.to_owned(),
    )
}

/// An SQS query-protocol call to the emulator, its credential scope naming the service and the
/// region (the emulator routes by it and does not check the signature).
fn sqs(emulator: &str, region: &str, fields: &[(&str, &str)]) -> api_tests::Answer {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{}={}", api_tests::encode(k), api_tests::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20261127/{region}/sqs/aws4_request, SignedHeaders=host, Signature=0"
    );
    request(
        "POST",
        emulator,
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &authorization),
        ],
        Some(&body),
    )
}

fn sweep(stack: &Stack) -> Value {
    let event = std::fs::read_to_string(api_tests::project_root().join("events/worker/sweep.json")).unwrap();
    let event: Value = serde_json::from_str(&event).unwrap();
    let answer = post_json(&stack.admin("/invoke/WorkerFunction"), &event, None);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()
}

#[test]
fn a_deletion_whose_job_is_lost_is_finished_by_the_sweep() {
    let stack = Stack::start_with(&["DeletionSweepAfterSeconds=0"]);
    let user = stack.signup();
    let admin = stack.superuser_token();
    let item = with_token(
        "POST",
        &stack.api("/items/"),
        &user.token,
        Some(&json!({"title": "left behind?"})),
    );
    assert_eq!(item.status, 200, "{}", item.text);
    let item_url = stack.api(&format!("/items/{}", item.json()["id"].as_str().unwrap()));

    // The queue goes away (in SQS's own terms: a DeleteQueue), so the cascade cannot be enqueued.
    let (emulator, queue, region) = jobs_queue(&stack);
    let deleted = sqs(&emulator, &region, &[("Action", "DeleteQueue"), ("QueueUrl", &queue)]);
    assert_eq!(deleted.status, 200, "{}", deleted.text);
    let name = queue.rsplit('/').next().unwrap_or_default();
    let gone = sqs(&emulator, &region, &[("Action", "GetQueueUrl"), ("QueueName", name)]);
    assert_eq!(gone.status, 400, "the jobs queue is gone: {}", gone.text);

    let answer = with_token("DELETE", &stack.api("/users/me"), &user.token, None);
    assert_eq!(
        answer.status, 200,
        "the account is gone, the cascade recorded: {}",
        answer.text
    );
    assert_eq!(
        get_auth(&item_url, &admin).status,
        200,
        "no job ran: the item is still there"
    );

    assert_eq!(sweep(&stack), json!({"finished": 1, "failed": 0}));
    assert_eq!(
        get_auth(&item_url, &admin).status,
        404,
        "the sweep removed what the user owned"
    );
    assert_eq!(
        sweep(&stack),
        json!({"finished": 0, "failed": 0}),
        "and is not repeated"
    );
}

/// A signup whose transaction committed but whose answer was lost is retried by the SDK with the
/// same request, which then meets the email guard it wrote itself. The table adapter, on the
/// emulator through the real SDK, is sent that very request twice: the second is still the
/// caller's own signup (Ok), not "email taken"; another user's signup with that email is.
#[test]
fn a_user_create_sent_again_after_it_committed_is_the_same_signup() {
    use domain::ports::UserStore;
    use domain::{Email, Role, User};

    let (aws, table) = stack_table(Stack::shared());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = adapters::store::Table::new(aws.dynamodb(), table);
        let email = Email::parse(&unique_email("twice")).unwrap();
        let hash = domain::passwords::PasswordHash::from_stored("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
        let user = User::new(email.clone(), hash.clone(), None, Role::User);
        store.create(&user).await.expect("the first send");
        store
            .create(&user)
            .await
            .expect("the same request again: still this signup");
        let other = User::new(email, hash, None, Role::User);
        assert!(
            matches!(store.create(&other).await, Err(domain::StoreError::EmailTaken)),
            "another signup with the email"
        );
    });
}

/// The AWS clients the functions of `stack` use, and their table's name.
fn stack_table(stack: &Stack) -> (adapters::aws::AwsConfig, String) {
    let info = api_tests::get(&stack.admin("/info")).json();
    let env = info["functions"]
        .as_array()
        .and_then(|functions| functions.iter().find(|f| f["id"] == "UsersFunction"))
        .map(|f| f["env"].clone())
        .expect("UsersFunction");
    let var = |name: &str| env[name].as_str().unwrap_or_default().to_owned();
    let (endpoint, region, table) = (var("AWS_ENDPOINT_URL"), var("AWS_REGION"), var("TABLE_NAME"));
    let aws = adapters::aws::AwsConfig::from_env(&[
        ("AWS_REGION", region.as_str()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
    ])
    .expect("AWS config");
    (aws, table)
}

/// The quota is read from an index that DynamoDB updates after the write; on AWS two quick
/// creates could both pass. Here the index is made to lag by hand (the first file's index key is
/// taken off its row, as if the index had not seen it yet): the second create must still count it,
/// and once the first is deleted, must not.
#[test]
fn a_file_the_index_does_not_show_yet_still_counts_against_the_quota() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use domain::file::{File, Filename, NewUpload, UploadLimits};
    use domain::ports::{FileCreateError, FileStore};

    let (aws, table) = stack_table(Stack::shared());
    let limits = UploadLimits {
        max_size: 1024,
        quota_files: 1,
        quota_bytes: 1024,
    };
    let owner = uuid::Uuid::new_v4();
    let upload = |name: &str| {
        let upload = NewUpload {
            filename: Filename::parse(name).unwrap(),
            content_type: "text/plain".into(),
            size: 10,
            description: None,
        };
        File::announce(owner, upload, &limits).unwrap()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = aws.dynamodb();
        let store = adapters::store::Table::new(client.clone(), table.clone());
        let ttl = Duration::from_secs(600);
        let first = upload("first.txt");
        store.create_file(&first, &limits, ttl).await.expect("the first file");
        client
            .update_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("FILE#{}", first.id)))
            .key("sk", AttributeValue::S("FILE".into()))
            .update_expression("REMOVE gsi1pk")
            .send()
            .await
            .expect("the index loses sight of the first file");
        let second = upload("second.txt");
        assert!(
            matches!(
                store.create_file(&second, &limits, ttl).await,
                Err(FileCreateError::QuotaExceeded)
            ),
            "a create the index does not show yet still counts"
        );
        assert!(store.delete_file(&first).await.expect("delete"));
        store
            .create_file(&second, &limits, ttl)
            .await
            .expect("with the first one gone, the second fits");
    });
}

/// A refresh token of before the family row kept its login's tokens — a bare secret with a
/// `REFRESH#` row of its own, as a table deployed earlier holds — still rotates, and its reuse
/// still ends the login.
#[test]
fn a_refresh_token_of_the_old_form_still_rotates_and_its_reuse_ends_the_login() {
    use aws_sdk_dynamodb::types::AttributeValue;

    let stack = Stack::shared();
    let user = stack.signup();
    let login = api_tests::post_form(
        &stack.api("/login/access-token"),
        &[("username", user.email.as_str()), ("password", user.password.as_str())],
    );
    assert_eq!(login.status, 200, "{}", login.text);
    let token = login.json()["refresh_token"].as_str().unwrap_or_default().to_owned();
    let family = uuid::Uuid::try_parse(token.split('.').next().unwrap_or_default()).expect("the token names its login");
    let secret = domain::secrets::generate().expect("randomness");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (aws, table) = stack_table(stack);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let text = |v: String| AttributeValue::S(v);
        let number = |v: u64| AttributeValue::N(v.to_string());
        aws.dynamodb()
            .put_item()
            .table_name(&table)
            .item("pk", text(format!("REFRESH#{}", domain::secrets::digest(&secret))))
            .item("sk", text("REFRESH".into()))
            .item("user_id", text(user.id.clone()))
            .item("family_id", text(family.to_string()))
            .item("used", AttributeValue::Bool(false))
            .item("expires_at", number(now + 3600))
            .item("login_at", number(now))
            .send()
            .await
            .expect("an old-form token row");
    });
    let refresh = |token: &str| {
        post_json(
            &stack.api("/login/refresh-token"),
            &json!({"refresh_token": token}),
            None,
        )
    };
    let rotated = refresh(&secret);
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let next = rotated.json()["refresh_token"].as_str().unwrap_or_default().to_owned();
    let access = rotated.json()["access_token"].as_str().unwrap_or_default().to_owned();
    assert_eq!(get_auth(&stack.api("/users/me"), &access).status, 200);
    // The old secret again: a replay, and the whole login ends — its new-form token too.
    assert_eq!(refresh(&secret).status, 401);
    assert_eq!(refresh(&next).status, 401);
    assert_eq!(refresh(&token).status, 401, "the login's other token ends with it");
}
