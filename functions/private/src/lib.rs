//! `private`: creates users without authentication, for local and dev stages only — template.yaml
//! leaves this function out of prod, and it refuses to start there as well.

use lambda_http::http::{Method, StatusCode};
use shared::accounts::{NewAccount, RoleFields};
use shared::api::{self, Api, ApiRequest, Response};
use shared::aws::AwsConfig;
use shared::config::{ConfigError, Env, HttpConfig, Resources, Stage};
use shared::store::Table;
use shared::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateUser,
}

pub struct Private {
    http: HttpConfig,
    table: Table,
}

impl Private {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        if http.stage == Stage::Prod {
            return Err(ConfigError::Invalid {
                name: "STAGE",
                reason: "the private routes do not run in prod".into(),
            });
        }
        let resources = Resources::from_env(env)?;
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            http,
            table: Table::new(aws.dynamodb(), resources.table),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    async fn create_user(&self, request: ApiRequest) -> ApiResult<Response> {
        // `is_verified` is accepted for the reference client's sake; accounts need no verification here.
        let account = NewAccount::from_request(&request, RoleFields::Ignored, true)?;
        match account.create(&self.table).await? {
            Ok(user) => api::json(StatusCode::OK, &user.public()),
            Err(_) => Err(ApiError::BadRequest(
                "The user with this email already exists in the system".into(),
            )),
        }
    }
}

impl Api for Private {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![(Method::POST, "/api/v1/private/users/", Route::CreateUser)]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::CreateUser => self.create_user(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_start_in_prod() {
        let env = [("STAGE", "prod"), ("FRONTEND_HOST", "https://app.example.com")];
        assert!(matches!(
            Private::from_env(&env),
            Err(ConfigError::Invalid { name: "STAGE", .. })
        ));
    }
}
