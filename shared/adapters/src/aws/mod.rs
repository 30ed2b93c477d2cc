//! AWS SDK clients built straight from the Lambda environment, and the adapters that are not
//! the table: the SQS job queue, the SES sender and the S3 bucket.
//!
//! Inside Lambda the region and credentials are plain environment variables, so the full
//! `aws-config` provider chain (profile files, SSO, IMDS probing) is start-up time spent on
//! nothing. `AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`) point the same binary at an
//! emulator such as moto.

pub mod batch;
pub mod push;
pub mod queue;
pub mod s3;
pub mod ses;

pub use push::ManagementApi;
pub use queue::SqsQueue;
pub use s3::Bucket;
pub use ses::SesSender;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::sdk_config::SdkConfig;
use domain::config::{ConfigError, Env};
use std::time::Duration;

/// Shared settings for every client of one process.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    sdk: SdkConfig,
    endpoints: ServiceEndpoints,
}

#[derive(Debug, Clone, Default)]
struct ServiceEndpoints {
    global: Option<String>,
    dynamodb: Option<String>,
    s3: Option<String>,
    sqs: Option<String>,
    sesv2: Option<String>,
    /// Only the specific variable: the global one points at an emulator without WebSockets.
    management: Option<String>,
}

impl AwsConfig {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let region = env
            .get("AWS_REGION")
            .or_else(|| env.get("AWS_DEFAULT_REGION"))
            .filter(|r| !r.is_empty())
            .ok_or(ConfigError::Missing("AWS_REGION"))?;
        let credentials = Credentials::new(
            env.required("AWS_ACCESS_KEY_ID")?,
            env.required("AWS_SECRET_ACCESS_KEY")?,
            env.get("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()),
            None,
            "lambda-environment",
        );
        let endpoint = |name: &str| env.get(name).filter(|v| !v.is_empty());
        let endpoints = ServiceEndpoints {
            global: endpoint("AWS_ENDPOINT_URL"),
            dynamodb: endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
            s3: endpoint("AWS_ENDPOINT_URL_S3"),
            sqs: endpoint("AWS_ENDPOINT_URL_SQS"),
            sesv2: endpoint("AWS_ENDPOINT_URL_SESV2"),
            management: endpoint("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"),
        };
        let sdk = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region))
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .http_client(http_client(&endpoints))
            .sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep().ok_or(ConfigError::Missing("tokio sleep"))?)
            // A call gives up within 8 s, retries included, so a hung service is answered with
            // 503 + Retry-After before the function's 10 s timeout turns it into a gateway 500.
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(3))
                    .operation_timeout(Duration::from_secs(8))
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(3))
            .build();
        Ok(Self { sdk, endpoints })
    }

    /// The region every client talks to.
    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    /// The credentials every client signs with (what presigned POST forms are signed with).
    pub fn credentials(&self) -> Option<SharedCredentialsProvider> {
        self.sdk.credentials_provider()
    }

    /// The S3 endpoint override (an emulator), if any.
    pub fn s3_endpoint(&self) -> Option<String> {
        self.endpoint(&self.endpoints.s3)
    }

    fn endpoint(&self, specific: &Option<String>) -> Option<String> {
        specific.clone().or_else(|| self.endpoints.global.clone())
    }

    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(&self.sdk);
        builder.set_endpoint_url(self.endpoint(&self.endpoints.dynamodb));
        aws_sdk_dynamodb::Client::from_conf(builder.build())
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let endpoint = self.endpoint(&self.endpoints.s3);
        let mut builder = aws_sdk_s3::config::Builder::from(&self.sdk);
        // Emulators live at one host name; virtual-host addressing would need DNS for every bucket.
        builder.set_force_path_style(Some(endpoint.is_some()));
        builder.set_endpoint_url(endpoint);
        aws_sdk_s3::Client::from_conf(builder.build())
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let mut builder = aws_sdk_sqs::config::Builder::from(&self.sdk);
        builder.set_endpoint_url(self.endpoint(&self.endpoints.sqs));
        aws_sdk_sqs::Client::from_conf(builder.build())
    }

    pub fn ses(&self) -> aws_sdk_sesv2::Client {
        let mut builder = aws_sdk_sesv2::config::Builder::from(&self.sdk);
        builder.set_endpoint_url(self.endpoint(&self.endpoints.sesv2));
        aws_sdk_sesv2::Client::from_conf(builder.build())
    }
}

impl AwsConfig {
    /// The Management API of one WebSocket API stage (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`),
    /// or of the emulator that `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` names.
    pub fn management_api(&self, deployed: &str) -> aws_sdk_apigatewaymanagement::Client {
        let endpoint = self.endpoints.management.clone().unwrap_or_else(|| deployed.to_owned());
        let mut builder = aws_sdk_apigatewaymanagement::config::Builder::from(&self.sdk);
        builder.set_endpoint_url(Some(endpoint));
        aws_sdk_apigatewaymanagement::Client::from_conf(builder.build())
    }
}

/// An SDK client that is either built already or built on first use. Building a client costs
/// a fraction of a millisecond at start-up; a function builds eagerly only the clients every
/// request needs, and lazily the ones a few routes need (emails, probes, cleanup jobs).
pub struct Lazy<C> {
    client: std::sync::OnceLock<C>,
    aws: Option<AwsConfig>,
}

impl<C> Lazy<C> {
    pub fn ready(client: C) -> Self {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(client);
        Self {
            client: cell,
            aws: None,
        }
    }

    /// A client built by the first `get_with`. The constructor is named at the call that uses
    /// the client, not here: a function that never calls, say, S3 never links S3's client.
    pub fn on_first_use(aws: &AwsConfig) -> Self {
        Self {
            client: std::sync::OnceLock::new(),
            aws: Some(aws.clone()),
        }
    }

    pub fn get_with(&self, build: fn(&AwsConfig) -> C) -> &C {
        self.client.get_or_init(|| match &self.aws {
            Some(aws) => build(aws),
            None => unreachable!("a ready client is set at construction"),
        })
    }
}

impl<C: std::fmt::Debug> std::fmt::Debug for Lazy<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lazy")
            .field("built", &self.client.get().is_some())
            .finish()
    }
}

/// Plain HTTP when every endpoint is an `http://` emulator: no TLS roots to load at all.
fn http_client(endpoints: &ServiceEndpoints) -> SharedHttpClient {
    let all = [
        &endpoints.global,
        &endpoints.dynamodb,
        &endpoints.s3,
        &endpoints.sqs,
        &endpoints.sesv2,
        &endpoints.management,
    ];
    let plain_http_only = endpoints.global.as_deref().is_some_and(is_plain_http)
        && all.iter().all(|e| e.as_deref().is_none_or(is_plain_http));
    let builder = aws_smithy_http_client::Builder::new();
    if plain_http_only {
        builder.build_http()
    } else {
        builder
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https()
    }
}

fn is_plain_http(url: &str) -> bool {
    url.starts_with("http://")
}

/// One failed SDK call, classified: `retryable` for throttling, time-outs, connection failures,
/// 5xx answers and the service's own `retryable_codes` (a retry may work: 503); anything else is
/// a request the service refused, which no retry mends. `cause` is for the log.
pub(crate) struct SdkFailure {
    pub retryable: bool,
    pub cause: String,
}

impl SdkFailure {
    pub(crate) fn of<E>(
        err: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
        retryable_codes: &[&str],
    ) -> Self
    where
        E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    {
        use aws_smithy_runtime_api::client::result::SdkError;
        use aws_smithy_types::error::metadata::ProvideErrorMetadata as _;
        let code = err.code().unwrap_or("no error code");
        let retryable = match err {
            SdkError::ServiceError(service) => {
                retryable_codes.contains(&code) || service.raw().status().is_server_error()
            }
            SdkError::ConstructionFailure(_) => false,
            _ => true,
        };
        let cause = format!("{code}: {}", aws_smithy_types::error::display::DisplayErrorContext(err));
        Self { retryable, cause }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: [(&str, &str); 4] = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ];

    #[tokio::test]
    async fn endpoint_override_reaches_every_client() {
        let config = AwsConfig::from_env(&BASE).unwrap();
        assert_eq!(config.endpoint(&None).as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(config.s3().config().region().map(|r| r.as_ref()), Some("eu-west-1"));
    }

    #[tokio::test]
    async fn lazy_clients_are_built_once_on_first_use() {
        let config = AwsConfig::from_env(&BASE).unwrap();
        let lazy = Lazy::on_first_use(&config);
        assert!(format!("{lazy:?}").contains("built: false"));
        let first = lazy.get_with(AwsConfig::sqs) as *const _;
        assert_eq!(first, lazy.get_with(AwsConfig::sqs) as *const _);
        assert!(format!("{lazy:?}").contains("built: true"));
    }

    #[test]
    fn missing_credentials_are_named() {
        let env = [("AWS_REGION", "eu-west-1")];
        assert_eq!(
            AwsConfig::from_env(&env).unwrap_err(),
            ConfigError::Missing("AWS_ACCESS_KEY_ID")
        );
    }

    #[test]
    fn region_is_required() {
        let env = [("AWS_ACCESS_KEY_ID", "a")];
        assert_eq!(
            AwsConfig::from_env(&env).unwrap_err(),
            ConfigError::Missing("AWS_REGION")
        );
    }
}
