//! Frames to WebSocket clients through API Gateway's Management API (`@connections`).

use crate::domain::ports::{Push, PushError};
use crate::domain::realtime::ConnectionId;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::primitives::Blob;

#[derive(Debug, Clone)]
pub struct ManagementApi {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ManagementApi {
    pub fn new(client: aws_sdk_apigatewaymanagement::Client) -> Self {
        Self { client }
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
        self.client
            .post_to_connection()
            .connection_id(to.as_str())
            .data(Blob::new(frame.as_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(e, |e| e.is_gone_exception()))
    }

    async fn close(&self, connection: &ConnectionId) -> Result<(), PushError> {
        self.client
            .delete_connection()
            .connection_id(connection.as_str())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(e, |e| e.is_gone_exception()))
    }
}
