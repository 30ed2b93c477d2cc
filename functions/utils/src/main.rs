#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, http| Ok(utils::Utils::new(adapters::Context::from_env(env)?, http.clone()))).await
}
