//! `users`: accounts — signup, the caller's own account, and user management by superusers.

use lambda_http::http::{Method, StatusCode};
use serde_json::json;
use shared::accounts::{AccountChanges, NewAccount, RoleFields};
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::{require, Authenticator};
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::domain::{Password, Permission};
use shared::email;
use shared::jobs::{Job, JobQueue, SqsQueue};
use shared::passwords;
use shared::store::{StoreError, Table};
use shared::tokens::TokenKeys;
use shared::users::{User, UserStore};
use shared::validation::{scalar, Echo, Fields, Source};
use shared::{ApiError, ApiResult};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    ReadMe,
    UpdateMe,
    DeleteMe,
    UpdatePasswordMe,
    Signup,
    Read,
    Update,
    Delete,
}

/// The largest page `GET /users/` serves.
pub const MAX_LIMIT: i64 = 1000;

const EMAIL_TAKEN_BY_ADMIN: &str = "The user with this email already exists in the system.";
const EMAIL_TAKEN_AT_SIGNUP: &str = "The user with this email already exists in the system";
const EMAIL_CONFLICT: &str = "User with this email already exists";
const NO_SUCH_USER: &str = "The user with this id does not exist in the system";
const SUPERUSER_SELF_DELETE: &str = "Super users are not allowed to delete themselves";

pub struct Users {
    http: HttpConfig,
    auth: Authenticator<Table>,
    queue: SqsQueue,
}

impl Users {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let keys = TokenKeys::new(&AuthConfig::from_env(env)?);
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            http,
            auth: Authenticator::new(keys, Table::new(aws.dynamodb(), resources.table)),
            queue: SqsQueue::new(&aws, resources.jobs_queue_url),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    fn store(&self) -> &Table {
        self.auth.users()
    }

    async fn admin(&self, request: &ApiRequest) -> ApiResult<User> {
        let user = self.auth.current_user(request).await?;
        require(&user, Permission::Admin)?;
        Ok(user)
    }

    fn user_id(request: &ApiRequest) -> ApiResult<Uuid> {
        let params = serde_json::Map::from_iter([(
            "user_id".to_owned(),
            json!(request.param("user_id").unwrap_or_default()),
        )]);
        let mut fields = Fields::new(Source::Path, &params);
        let id = fields.required("user_id", Echo::Yes, scalar::uuid);
        fields.finish().map_err(ApiError::Validation)?;
        id.ok_or_else(|| ApiError::Internal("path parsed without a value".into()))
    }

    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let mut query = Fields::new(Source::Query, request.query());
        let skip = query.optional("skip", Echo::Yes, |v| scalar::integer(v, 0, i64::from(i32::MAX)));
        let limit = query.optional("limit", Echo::Yes, |v| scalar::integer(v, 0, MAX_LIMIT));
        query.finish().map_err(ApiError::Validation)?;
        let skip = skip.flatten().unwrap_or(0) as usize;
        let limit = limit.flatten().unwrap_or(100) as usize;
        let (users, count) = tokio::try_join!(self.store().list(skip, limit), self.store().count())?;
        let data: Vec<_> = users.iter().map(User::public).collect();
        api::json(StatusCode::OK, &json!({ "data": data, "count": count }))
    }

    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let account = NewAccount::from_request(&request, RoleFields::Honoured, false)?;
        let user = match account.create(self.store()).await? {
            Ok(user) => user,
            Err(_) => return Err(ApiError::BadRequest(EMAIL_TAKEN_BY_ADMIN.into())),
        };
        let welcome = email::new_account(&self.http.project_name, &self.http.frontend_host, user.email.clone());
        self.queue.enqueue(Job::SendEmail(welcome)).await?;
        api::json(StatusCode::OK, &user.public())
    }

    async fn signup(&self, request: ApiRequest) -> ApiResult<Response> {
        let account = NewAccount::from_request(&request, RoleFields::Ignored, false)?;
        match account.create(self.store()).await? {
            Ok(user) => {
                request.set_user(user.id);
                api::json(StatusCode::OK, &user.public())
            }
            Err(_) => Err(ApiError::BadRequest(EMAIL_TAKEN_AT_SIGNUP.into())),
        }
    }

    async fn read_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        api::json(StatusCode::OK, &me.public())
    }

    async fn update_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let mut me = self.auth.current_user(&request).await?;
        let changes = AccountChanges::from_request(&request, false)?;
        let previous = me.email.clone();
        changes.apply(&mut me)?;
        self.save(&me, &previous).await?;
        api::json(StatusCode::OK, &me.public())
    }

    async fn save(&self, user: &User, previous_email: &shared::domain::Email) -> ApiResult<()> {
        match self.store().update(user, previous_email).await {
            Ok(()) => Ok(()),
            Err(StoreError::EmailTaken) => Err(ApiError::Conflict(EMAIL_CONFLICT.into())),
            Err(StoreError::NotFound) => Err(ApiError::NotFound(NO_SUCH_USER.into())),
            Err(other) => Err(other.into()),
        }
    }

    async fn update_password_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let mut me = self.auth.current_user(&request).await?;
        let (_, (current, new)) = request.parse_body(|fields| {
            let password = |v: &serde_json::Value| scalar::string(v).and_then(Password::parse);
            (
                fields.required("current_password", Echo::Redact, password),
                fields.required("new_password", Echo::Redact, password),
            )
        })?;
        let (Some(current), Some(new)) = (current, new) else {
            return Err(ApiError::Internal("body parsed without values".into()));
        };
        if !passwords::verify(current.expose(), &me.password_hash) {
            return Err(ApiError::BadRequest("Incorrect password".into()));
        }
        if current == new {
            return Err(ApiError::BadRequest(
                "New password cannot be the same as the current one".into(),
            ));
        }
        me.password_hash = passwords::hash(&new).map_err(|e| ApiError::Internal(e.to_string()))?;
        let email = me.email.clone();
        self.save(&me, &email).await?;
        api::message(StatusCode::OK, "Password updated successfully")
    }

    async fn delete_me(&self, request: ApiRequest) -> ApiResult<Response> {
        let me = self.auth.current_user(&request).await?;
        if me.role.is_superuser() {
            return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE.into()));
        }
        self.remove(&me).await
    }

    /// Deletes the account now (its email is free at once, its tokens stop working) and leaves
    /// what it owned to an idempotent background job.
    async fn remove(&self, user: &User) -> ApiResult<Response> {
        match self.store().delete(user).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
        self.queue.enqueue(Job::DeleteUserData { user_id: user.id }).await?;
        api::message(StatusCode::OK, "User deleted successfully")
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = Self::user_id(&request)?;
        if id == caller.id {
            return api::json(StatusCode::OK, &caller.public());
        }
        require(&caller, Permission::Admin)?;
        let user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
        api::json(StatusCode::OK, &user.public())
    }

    async fn update(&self, request: ApiRequest) -> ApiResult<Response> {
        self.admin(&request).await?;
        let id = Self::user_id(&request)?;
        let changes = AccountChanges::from_request(&request, true)?;
        let mut user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(NO_SUCH_USER.into()))?;
        let previous = user.email.clone();
        changes.apply(&mut user)?;
        self.save(&user, &previous).await?;
        api::json(StatusCode::OK, &user.public())
    }

    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.admin(&request).await?;
        let id = Self::user_id(&request)?;
        if id == caller.id {
            return Err(ApiError::Forbidden(SUPERUSER_SELF_DELETE.into()));
        }
        let user = self
            .store()
            .get(id)
            .await?
            .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
        self.remove(&user).await
    }
}

impl Api for Users {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::GET, "/api/v1/users/", Route::List),
            (Method::POST, "/api/v1/users/", Route::Create),
            (Method::GET, "/api/v1/users/me", Route::ReadMe),
            (Method::PATCH, "/api/v1/users/me", Route::UpdateMe),
            (Method::DELETE, "/api/v1/users/me", Route::DeleteMe),
            (Method::PATCH, "/api/v1/users/me/password", Route::UpdatePasswordMe),
            (Method::POST, "/api/v1/users/signup", Route::Signup),
            (Method::GET, "/api/v1/users/{user_id}", Route::Read),
            (Method::PATCH, "/api/v1/users/{user_id}", Route::Update),
            (Method::DELETE, "/api/v1/users/{user_id}", Route::Delete),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::List => self.list(request).await,
            Route::Create => self.create(request).await,
            Route::ReadMe => self.read_me(request).await,
            Route::UpdateMe => self.update_me(request).await,
            Route::DeleteMe => self.delete_me(request).await,
            Route::UpdatePasswordMe => self.update_password_me(request).await,
            Route::Signup => self.signup(request).await,
            Route::Read => self.read(request).await,
            Route::Update => self.update(request).await,
            Route::Delete => self.delete(request).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_routes_win_over_the_user_id() {
        let router = api::Router::new(Users::routes());
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users/me"),
            api::Matched::Route {
                route: Route::ReadMe,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::POST, "/api/v1/users/signup/"),
            api::Matched::Route {
                route: Route::Signup,
                ..
            }
        ));
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users/7"),
            api::Matched::Route { route: Route::Read, .. }
        ));
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/users"),
            api::Matched::Route { route: Route::List, .. }
        ));
    }
}
