//! `private`: creates users without authentication, for local and dev stages only — template.yaml
//! leaves this function out of prod, and it refuses to start there as well.

use adapters::store::Table;
use contract::accounts::PrivateUserCreate;
use contract::api::private;
use contract::operation::Endpoint;
use contract::public::UserPublic;
use domain::accounts::AccountError;
use domain::config::{ConfigError, Stage};
use domain::ports::UserStore;
use edge::{self, Api, ApiRequest, Response};
use edge::{ApiError, ApiResult, HttpConfig};
use lambda_http::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    CreateUser,
}

pub struct Private<S = Table> {
    store: S,
}

impl<S: UserStore + 'static> Private<S> {
    /// Refuses the prod stage: the template leaves this function out of prod, and a prod
    /// deployment that included it anyway must not open an unauthenticated signup.
    pub fn new(store: S, http: &HttpConfig) -> Result<Self, ConfigError> {
        if http.stage == Stage::Prod {
            return Err(ConfigError::Invalid {
                name: "STAGE",
                reason: "the private routes do not run in prod".into(),
            });
        }
        Ok(Self { store })
    }

    async fn create_user(&self, request: ApiRequest) -> ApiResult<Response> {
        // `is_verified` as sent: the reference client's fixtures make users that need no link.
        let account = request.body::<PrivateUserCreate>()?.into_account();
        match account.create(&self.store).await {
            Ok(user) => edge::json(StatusCode::OK, &UserPublic::from(&user)),
            Err(AccountError::EmailTaken) => Err(ApiError::BadRequest(
                "The user with this email already exists in the system".into(),
            )),
            Err(AccountError::Store(err)) => Err(err.into()),
            Err(AccountError::Hash(err)) => Err(err.into()),
        }
    }
}

impl<S: UserStore + 'static> Api for Private<S> {
    type Route = Route;

    fn routes() -> Vec<(Endpoint, Route)> {
        vec![(const { private::CREATE_USER.endpoint }, Route::CreateUser)]
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
    use adapters::store::memory::Memory;

    #[test]
    fn refuses_to_start_in_prod() {
        let env = [("STAGE", "prod"), ("FRONTEND_HOST", "https://app.example.com")];
        let http = HttpConfig::from_env(&env).unwrap();
        assert!(matches!(
            Private::new(Memory::default(), &http),
            Err(ConfigError::Invalid { name: "STAGE", .. })
        ));
    }
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use adapters::store::memory::Memory;
    use edge::StatusCode;
    use serde_json::json;
    use testkit::{call, event, service};

    #[tokio::test]
    async fn creates_a_user_once_without_authentication() {
        let memory = Memory::default();
        let Ok(private) = Private::new(memory.clone(), &testkit::http_config()) else {
            panic!("the local stage runs the private routes");
        };
        let private = service(private);
        let (status, body) = call(&private, event("private/create-user.json", "", |_| {})).await;
        assert_eq!(
            (status, body["full_name"].clone(), body["is_verified"].clone()),
            (StatusCode::OK, json!("Private User"), json!(true))
        );
        let (status, _) = call(&private, event("private/create-user.json", "", |_| {})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
