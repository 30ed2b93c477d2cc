#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, _| {
        let ctx = adapters::Context::from_env(env)?;
        Ok(items::Items::new(ctx.keys, ctx.cursors, ctx.store))
    })
    .await
}
