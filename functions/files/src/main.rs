#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::http::start(|ctx| {
        let limits = shared::config::upload_limits(&shared::config::ProcessEnv)
            .unwrap_or_else(|err| shared::logging::fail_start(err));
        files::Files::new(ctx, limits)
    })
    .await
}
