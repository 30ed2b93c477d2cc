#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, _| {
        let limits = domain::file::UploadLimits::from_env(env)?;
        Ok(files::Files::new(adapters::Context::from_env(env)?, limits))
    })
    .await
}
