#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, http| private::Private::new(adapters::Context::from_env(env)?.store, http)).await
}
