//! The uploads bucket.

use crate::domain::ports::Probe;

#[derive(Debug)]
pub struct Bucket {
    client: crate::aws::Lazy<aws_sdk_s3::Client>,
    name: String,
}

impl Bucket {
    /// The client is built on first use.
    pub fn new(aws: &crate::aws::AwsConfig, name: impl Into<String>) -> Self {
        Self {
            client: crate::aws::Lazy::on_first_use(aws),
            name: name.into(),
        }
    }
}

impl Probe for Bucket {
    fn service(&self) -> &'static str {
        "bucket"
    }

    async fn probe(&self) -> Result<(), String> {
        self.client
            .get_with(crate::aws::AwsConfig::s3)
            .head_bucket()
            .bucket(&self.name)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
    }
}
