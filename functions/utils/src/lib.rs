//! `utils`: health checks and the test email.

use lambda_http::http::{Method, StatusCode};
use serde_json::json;
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::Authenticator;
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::domain::Email;
use shared::email;
use shared::jobs::{Job, JobQueue, SqsQueue};
use shared::storage::Bucket;
use shared::store::Table;
use shared::tokens::TokenKeys;
use shared::validation::{scalar, Echo, Fields, Source};
use shared::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    HealthCheck,
    TestEmail,
}

pub struct Utils {
    http: HttpConfig,
    auth: Authenticator<Table>,
    table: Table,
    bucket: Bucket,
    queue: SqsQueue,
}

impl Utils {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let keys = TokenKeys::new(&AuthConfig::from_env(env)?);
        let aws = AwsConfig::from_env(env)?;
        let table = Table::new(aws.dynamodb(), resources.table);
        Ok(Self {
            http,
            auth: Authenticator::new(keys, table.clone()),
            table,
            bucket: Bucket::new(&aws, resources.bucket),
            queue: SqsQueue::new(&aws, resources.jobs_queue_url),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    async fn health_check(&self, request: ApiRequest) -> ApiResult<Response> {
        let mut query = Fields::new(Source::Query, request.query());
        let deep = query.optional("deep", Echo::Yes, |v| scalar::string(v).and_then(scalar::parse_bool));
        query.finish().map_err(ApiError::Validation)?;
        if deep.flatten() != Some(true) {
            return api::json(StatusCode::OK, &true);
        }
        let (table, bucket, queue) = tokio::join!(self.table.probe(), self.bucket.probe(), self.queue.probe());
        let outcomes = [
            ("table", table.map_err(|e| e.to_string())),
            ("bucket", bucket.map_err(|e| e.to_string())),
            ("queue", queue.map_err(|e| e.to_string())),
        ];
        let mut checks = serde_json::Map::new();
        let mut failed = Vec::new();
        for (name, outcome) in outcomes {
            let status = match outcome {
                Ok(()) => "ok",
                Err(cause) => {
                    tracing::error!(
                        request_id = request.request_id,
                        check = name,
                        cause,
                        "health check failed"
                    );
                    failed.push(name);
                    "unavailable"
                }
            };
            checks.insert(name.to_owned(), json!(status));
        }
        if failed.is_empty() {
            return api::json(StatusCode::OK, &json!({ "status": "ok", "checks": checks }));
        }
        let detail = format!("Service unavailable: {}", failed.join(", "));
        let mut response = api::json(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({ "detail": detail, "status": "error", "checks": checks }),
        )?;
        response.headers_mut().insert(
            "retry-after",
            lambda_http::http::HeaderValue::from(shared::error::UNAVAILABLE_RETRY_AFTER_SECS),
        );
        Ok(response)
    }

    async fn test_email(&self, request: ApiRequest) -> ApiResult<Response> {
        self.auth.current_superuser(&request).await?;
        let mut query = Fields::new(Source::Query, request.query());
        let to = query.required("email_to", Echo::Yes, |v| scalar::string(v).and_then(Email::parse));
        query.finish().map_err(ApiError::Validation)?;
        let to = to.ok_or_else(|| ApiError::Internal("email_to parsed without a value".into()))?;
        self.queue
            .enqueue(Job::SendEmail(email::test_email(&self.http.project_name, to)))
            .await?;
        api::message(StatusCode::CREATED, "Test email sent")
    }
}

impl Api for Utils {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::GET, "/api/v1/utils/health-check/", Route::HealthCheck),
            (Method::POST, "/api/v1/utils/test-email/", Route::TestEmail),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::HealthCheck => self.health_check(request).await,
            Route::TestEmail => self.test_email(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_table_builds() {
        let router = api::Router::new(Utils::routes());
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/utils/health-check"),
            api::Matched::Route {
                route: Route::HealthCheck,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/utils/test-email/"),
            api::Matched::Route {
                route: Route::TestEmail,
                ..
            }
        ));
    }
}
