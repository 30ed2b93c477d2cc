//! Times each part of the utils function's start-up (`cargo run --release --example init_phases`).
use shared::aws::AwsConfig;
use shared::config::ProcessEnv;
use std::time::Instant;

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let t = Instant::now();
        shared::logging::init();
        let logging = t.elapsed();
        let t = Instant::now();
        let aws = AwsConfig::from_env(&ProcessEnv).expect("aws");
        let config = t.elapsed();
        let t = Instant::now();
        let _ddb = aws.dynamodb();
        let ddb = t.elapsed();
        let t = Instant::now();
        let _ddb2 = aws.dynamodb();
        let ddb2 = t.elapsed();
        let t = Instant::now();
        let _s3 = aws.s3();
        let s3 = t.elapsed();
        let t = Instant::now();
        let _sqs = aws.sqs();
        let sqs = t.elapsed();
        let t = Instant::now();
        let ctx = shared::Context::from_env(&ProcessEnv).expect("context");
        let http = ctx.http.clone();
        let utils = utils::Utils::new(ctx);
        let whole = t.elapsed();
        let t = Instant::now();
        let _service = shared::http::Service::new(utils, http);
        let service = t.elapsed();
        println!("logging {logging:?} | aws config {config:?} | dynamodb {ddb:?} (again {ddb2:?}) | s3 {s3:?} | sqs {sqs:?} | Context::from_env + Utils::new {whole:?} | Service::new {service:?}");
    });
}
