use domain::config::ProcessEnv;
use lambda_runtime::{service_fn, LambdaEvent};
use telemetry::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let realtime: &'static _ = Box::leak(Box::new(
        realtime::Realtime::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err)),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        realtime.handle(event.payload).await
    }))
    .await
}
