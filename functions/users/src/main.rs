#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, http| Ok(users::Users::new(adapters::Context::from_env(env)?, http.clone()))).await
}
