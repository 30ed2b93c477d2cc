//! The uploads bucket.

#[derive(Debug, thiserror::Error)]
#[error("bucket unavailable: {0}")]
pub struct StorageError(pub String);

#[derive(Clone, Debug)]
pub struct Bucket {
    client: aws_sdk_s3::Client,
    name: String,
}

impl Bucket {
    pub fn new(client: aws_sdk_s3::Client, name: impl Into<String>) -> Self {
        Self {
            client,
            name: name.into(),
        }
    }

    /// Reachability check for the deep health check.
    pub async fn probe(&self) -> Result<(), StorageError> {
        self.client
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StorageError(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))
    }
}
