use shared::config::ProcessEnv;
use shared::{logging, Context};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init();
    let ctx = Context::from_env(&ProcessEnv).unwrap_or_else(|err| logging::fail_start(err));
    let http = ctx.http.clone();
    let private = private::Private::new(ctx).unwrap_or_else(|err| logging::fail_start(err));
    shared::http::run(private, http).await
}
