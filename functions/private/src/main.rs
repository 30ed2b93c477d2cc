use shared::config::{HttpConfig, ProcessEnv};
use shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init();
    let private = private::Private::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err));
    let http: HttpConfig = private.http_config().clone();
    shared::api::run(private, http).await
}
