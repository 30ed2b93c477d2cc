#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|env, _| {
        let ctx = adapters::Context::from_env(env)?;
        Ok(posts::Posts::new(ctx.keys, ctx.cursors, ctx.store, ctx.queue))
    })
    .await
}
