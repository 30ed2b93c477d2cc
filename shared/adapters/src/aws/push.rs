//! Frames to WebSocket clients through API Gateway's Management API (`@connections`).

use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;
use domain::ports::{Push, PushError};
use domain::realtime::ConnectionId;

/// The client is built on the first push: `$connect` never pushes, and a cold start that does
/// not push skips building it.
#[derive(Debug)]
pub struct ManagementApi {
    client: std::sync::OnceLock<aws_sdk_apigatewaymanagement::Client>,
    aws: crate::aws::AwsConfig,
    endpoint: String,
}

impl ManagementApi {
    /// The Management API of the stage at `endpoint` (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub fn new(aws: &crate::aws::AwsConfig, endpoint: impl Into<String>) -> Self {
        Self {
            client: std::sync::OnceLock::new(),
            aws: aws.clone(),
            endpoint: endpoint.into(),
        }
    }

    fn client(&self) -> &aws_sdk_apigatewaymanagement::Client {
        self.client.get_or_init(|| self.aws.management_api(&self.endpoint))
    }
}

/// A 410 (`GoneException`) means the client is gone; anything else may pass.
fn failure<E>(err: SdkError<E, aws_smithy_runtime_api::http::Response>, gone: impl Fn(&E) -> bool) -> PushError
where
    E: std::error::Error + 'static,
{
    let is_gone =
        err.as_service_error().is_some_and(&gone) || err.raw_response().is_some_and(|r| r.status().as_u16() == 410);
    if is_gone {
        PushError::Gone
    } else {
        PushError::Unavailable(DisplayErrorContext(&err).to_string())
    }
}

impl Push for ManagementApi {
    async fn send(&self, to: &ConnectionId, frame: &str) -> Result<(), PushError> {
        self.client()
            .post_to_connection()
            .connection_id(to.as_str())
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(e, |e| e.is_gone_exception()))
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        self.client()
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(e, |e| e.is_gone_exception()))
    }

    async fn is_open(&self, connection: &ConnectionId) -> Result<bool, PushError> {
        let answer = self
            .client()
            .get_connection()
            .connection_id(connection.as_str())
            .send()
            .await;
        match answer.map_err(|e| failure(e, |e| e.is_gone_exception())) {
            Ok(_) => Ok(true),
            Err(PushError::Gone) => Ok(false),
            Err(err) => Err(err),
        }
    }
}
