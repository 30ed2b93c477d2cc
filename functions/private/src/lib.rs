//! `private`: creates users without authentication, for local and dev stages only — template.yaml
//! leaves this function out of prod, and it refuses to start there as well.

use lambda_http::http::{Method, StatusCode};
use shared::config::{ConfigError, Stage};
use shared::domain::accounts::AccountError;
use shared::domain::ports::UserStore;
use shared::http::accounts::PrivateUserCreate;
use shared::http::public::UserPublic;
use shared::http::{self, Api, ApiRequest, Response};
use shared::store::Table;
use shared::{ApiError, ApiResult, Context};

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
    pub fn new<Q, B>(ctx: Context<S, Q, B>) -> Result<Self, ConfigError> {
        if ctx.http.stage == Stage::Prod {
            return Err(ConfigError::Invalid {
                name: "STAGE",
                reason: "the private routes do not run in prod".into(),
            });
        }
        Ok(Self { store: ctx.store })
    }

    async fn create_user(&self, request: ApiRequest) -> ApiResult<Response> {
        // `is_verified` is accepted for the reference client's sake; accounts need no verification here.
        let PrivateUserCreate(account) = request.body()?;
        match account.create(&self.store).await {
            Ok(user) => http::json(StatusCode::OK, &UserPublic::from(&user)),
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
    use shared::config::{AuthConfig, HttpConfig};
    use shared::store::memory::Memory;

    #[test]
    fn refuses_to_start_in_prod() {
        let env = [("STAGE", "prod"), ("FRONTEND_HOST", "https://app.example.com")];
        let http = HttpConfig::from_env(&env).unwrap();
        let auth = AuthConfig::from_env(&[("JWT_SECRET", "an-example-secret-of-at-least-32-bytes")]).unwrap();
        let ctx = Context::with(http, &auth, Memory::default(), (), ());
        assert!(matches!(
            Private::new(ctx),
            Err(ConfigError::Invalid { name: "STAGE", .. })
        ));
    }
}

#[cfg(test)]
mod handler_tests {
    use super::*;
    use serde_json::json;
    use shared::http::StatusCode;
    use shared::store::memory::Memory;
    use shared::testing::{call, context, event, service};

    #[tokio::test]
    async fn creates_a_user_once_without_authentication() {
        let memory = Memory::default();
        let Ok(private) = Private::new(context(&memory)) else {
            panic!("the local stage runs the private routes");
        };
        let private = service(&memory, private);
        let (status, body) = call(&private, event("private/create-user.json", "", |_| {})).await;
        assert_eq!(
            (status, body["full_name"].clone()),
            (StatusCode::OK, json!("Private User"))
        );
        let (status, _) = call(&private, event("private/create-user.json", "", |_| {})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
