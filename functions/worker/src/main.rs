use domain::config::ProcessEnv;
use lambda_runtime::{service_fn, LambdaEvent};
use telemetry::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let worker: &'static _ = Box::leak(Box::new(
        worker::Worker::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err)),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // What is left of the invocation, so that a batch hands back what it cannot finish.
        let left = event.context.deadline().duration_since(std::time::SystemTime::now());
        let deadline = left.ok().map(|left| std::time::Instant::now() + left);
        worker
            .handle_until(event.payload, deadline)
            .await
            .map_err(lambda_runtime::Error::from)
    }))
    .await
}
