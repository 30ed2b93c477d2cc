use shared::config::{HttpConfig, ProcessEnv};
use shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init();
    let http = HttpConfig::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err));
    shared::http::run(docs::Docs::new(&http), http).await
}
