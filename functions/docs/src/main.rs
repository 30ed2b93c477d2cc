#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    edge::start(|_, http| Ok(docs::Docs::new(http))).await
}
