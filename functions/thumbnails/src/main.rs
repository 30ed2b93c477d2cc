use aws_lambda_events::event::sqs::SqsEvent;
use domain::config::ProcessEnv;
use lambda_runtime::{service_fn, LambdaEvent};
use telemetry::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init();
    let processor: &'static _ = Box::leak(Box::new(
        thumbnails::Processor::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err)),
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(processor.handle_batch(event.payload).await)
    }))
    .await
}
