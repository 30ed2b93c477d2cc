//! `utils`: health checks and the test email.

use adapters::aws::{Bucket, SqsQueue};
use adapters::store::Table;
use contract::api::utils;
use contract::operation::Endpoint;
use contract::public::Health;
use contract::validation::{scalar, Echo, Fields, FromFields, Read};
use domain::auth::Authenticator;
use domain::email;
use domain::job::Job;
use domain::ports::{Accounts, JobQueue, Probe};
use domain::Email;
use edge::error::UNAVAILABLE_RETRY_AFTER_SECS;
use edge::request::Caller;
use edge::HttpConfig;
use edge::{self, Api, ApiRequest, Response};
use lambda_http::http::StatusCode;
use std::collections::BTreeMap;
use {adapters::Context, edge::ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    HealthCheck,
    TestEmail,
}

/// `?deep=true` asks for a check of every backing service.
struct HealthQuery {
    deep: bool,
}

impl FromFields for HealthQuery {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let deep = fields.optional("deep", Echo::Yes, |v| scalar::string(v).and_then(scalar::parse_bool))?;
        Ok(Self {
            deep: deep.unwrap_or(false),
        })
    }
}

/// `?email_to=` of the test email.
struct TestEmailQuery {
    email_to: Email,
}

impl FromFields for TestEmailQuery {
    fn from_fields(fields: &mut Fields<'_>) -> Read<Self> {
        let to = fields.required("email_to", Echo::Yes, |v| scalar::string(v).and_then(Email::parse))?;
        Ok(Self { email_to: to })
    }
}

pub struct Utils<S = Table, Q = SqsQueue, B = Bucket> {
    auth: Authenticator<S>,
    ctx: Context<S, Q, B>,
    http: HttpConfig,
}

impl<S, Q, B> Utils<S, Q, B>
where
    S: Accounts + Probe + Clone + 'static,
    Q: JobQueue + Probe + 'static,
    B: Probe + 'static,
{
    pub fn new(ctx: Context<S, Q, B>, http: HttpConfig) -> Self {
        Self {
            http,
            auth: ctx.authenticator(),
            ctx,
        }
    }

    async fn health_check(&self, request: ApiRequest) -> ApiResult<Response> {
        let HealthQuery { deep } = request.query()?;
        if !deep {
            return edge::json(StatusCode::OK, &true);
        }
        let (table, bucket, queue) =
            tokio::join!(self.ctx.store.probe(), self.ctx.bucket.probe(), self.ctx.queue.probe());
        let outcomes = [
            (self.ctx.store.service(), table),
            (self.ctx.bucket.service(), bucket),
            (self.ctx.queue.service(), queue),
        ];
        let mut checks = BTreeMap::new();
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
            checks.insert(name, status);
        }
        if failed.is_empty() {
            let health = Health {
                detail: None,
                status: "ok",
                checks,
            };
            return edge::json(StatusCode::OK, &health);
        }
        let health = Health {
            detail: Some(format!("Service unavailable: {}", failed.join(", "))),
            status: "error",
            checks,
        };
        let mut response = edge::json(StatusCode::SERVICE_UNAVAILABLE, &health)?;
        response.headers_mut().insert(
            "retry-after",
            lambda_http::http::HeaderValue::from(UNAVAILABLE_RETRY_AFTER_SECS),
        );
        Ok(response)
    }

    async fn test_email(&self, request: ApiRequest) -> ApiResult<Response> {
        self.auth.current_superuser(&request).await?;
        let TestEmailQuery { email_to } = request.query()?;
        let message = email::test_email(&self.http.project_name, email_to);
        self.ctx.queue.enqueue(Job::SendEmail(message)).await?;
        edge::message(StatusCode::CREATED, "Test email sent")
    }
}

impl<S, Q, B> Api for Utils<S, Q, B>
where
    S: Accounts + Probe + Clone + 'static,
    Q: JobQueue + Probe + 'static,
    B: Probe + 'static,
{
    type Route = Route;

    fn routes() -> Vec<(Endpoint, Route)> {
        vec![
            (const { utils::HEALTH_CHECK.endpoint }, Route::HealthCheck),
            (const { utils::TEST_EMAIL.endpoint }, Route::TestEmail),
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
    use edge::service::{Matched, Router};
    use lambda_http::http::Method;

    #[test]
    fn route_table_builds() {
        let router = Router::new(Utils::<Table>::routes());
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/utils/health-check"),
            Matched::Route {
                route: Route::HealthCheck,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/utils/test-email/"),
            Matched::Route {
                route: Route::TestEmail,
                ..
            }
        ));
    }
}

#[cfg(test)]
mod handler_tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::Role;
    use edge::StatusCode;
    use serde_json::json;
    use testkit::{call, caller, context, event, service};

    fn utils(memory: &Memory) -> edge::Service<Utils<Memory, Memory, Memory>> {
        service(Utils::new(context(memory), testkit::http_config()))
    }

    #[tokio::test]
    async fn health_checks_answer_and_a_down_service_is_503() {
        let memory = Memory::default();
        assert_eq!(
            call(&utils(&memory), event("utils/health-check.json", "", |_| {})).await,
            (StatusCode::OK, json!(true))
        );
        let (status, deep) = call(&utils(&memory), event("utils/health-check-deep.json", "", |_| {})).await;
        assert_eq!((status, deep["status"].clone()), (StatusCode::OK, json!("ok")));
        memory.set_down(true);
        let response = utils(&memory)
            .call(event("utils/health-check-deep.json", "", |_| {}))
            .await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
        assert_eq!(
            call(&utils(&memory), event("utils/health-check.json", "", |_| {}))
                .await
                .0,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn the_test_email_is_queued_for_superusers_only() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let (_, user) = caller(&memory, "user@example.com", Role::User).await;
        let (status, body) = call(&utils(&memory), event("utils/test-email.json", &admin, |_| {})).await;
        assert_eq!(
            (status, body["message"].clone()),
            (StatusCode::CREATED, json!("Test email sent"))
        );
        assert!(matches!(memory.jobs().as_slice(), [Job::SendEmail(m)] if m.to.as_str() == "someone@example.com"));
        assert_eq!(
            call(&utils(&memory), event("utils/test-email.json", &user, |_| {}))
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        let anonymous = event("utils/test-email-no-token.json", "", |_| {});
        assert_eq!(call(&utils(&memory), anonymous).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_bad_email_to_is_422() {
        let memory = Memory::default();
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let bad = event("utils/test-email.json", &admin, |e| {
            e["rawQueryString"] = json!("email_to=nobody");
            e["queryStringParameters"] = json!({"email_to": "nobody"});
        });
        let (status, body) = call(&utils(&memory), bad).await;
        assert_eq!(
            (status, body["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "email_to"]))
        );
    }
}
