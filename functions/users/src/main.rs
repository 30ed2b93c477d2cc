use shared::config::{HttpConfig, ProcessEnv};
use shared::logging;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init();
    let users = users::Users::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err));
    let http: HttpConfig = users.http_config().clone();
    shared::api::run(users, http).await
}
