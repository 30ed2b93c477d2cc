//! The uploads bucket.

#[derive(Debug, thiserror::Error)]
#[error("bucket unavailable: {0}")]
pub struct StorageError(pub String);

#[derive(Debug)]
pub struct Bucket {
    client: crate::aws::Lazy<aws_sdk_s3::Client>,
    name: String,
}

impl Bucket {
    /// The client is built on first use.
    pub fn new(aws: &crate::aws::AwsConfig, name: impl Into<String>) -> Self {
        Self {
            client: crate::aws::Lazy::on_first_use(aws, crate::aws::AwsConfig::s3),
            name: name.into(),
        }
    }

    /// Reachability check for the deep health check.
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.client
            .get()
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
    }
}
