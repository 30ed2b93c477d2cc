use shared::config::{HttpConfig, ProcessEnv};
use shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init();
    let api = items::Items::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err));
    let http: HttpConfig = api.http_config().clone();
    shared::api::run(api, http).await
}
