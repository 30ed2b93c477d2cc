#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, http| {
        Ok(login::Login::new(adapters::Context::from_env(env)?, http.clone())
            .failures_per_address(login::failures_per_address(env)?)
            .require_verified_email(login::require_verified_email(env)?))
    })
    .await
}
