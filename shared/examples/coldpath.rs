//! Times the pieces of a cold GET item: config, client, first and second DynamoDB calls.
use shared::aws::AwsConfig;
use std::time::Instant;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let t0 = Instant::now();
    let aws = AwsConfig::from_env(&shared::config::ProcessEnv).expect("env");
    let t1 = Instant::now();
    let ddb = aws.dynamodb();
    let t2 = Instant::now();
    let table = std::env::var("TABLE_NAME").expect("TABLE_NAME");
    let key = |pk: &str| aws_sdk_dynamodb::types::AttributeValue::S(pk.to_owned());
    for round in 0..3 {
        let s = Instant::now();
        let out = ddb
            .get_item()
            .table_name(&table)
            .key("pk", key("USER#x"))
            .key("sk", key("PROFILE"))
            .send()
            .await;
        println!("get_item {round}: {:?} ok={}", s.elapsed(), out.is_ok());
    }
    println!("config {:?}, client {:?}", t1 - t0, t2 - t1);
}
