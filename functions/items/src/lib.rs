//! `items`: the items a user owns — listing with search and cursors, optimistic concurrency,
//! idempotent creates.

use lambda_http::http::{Method, StatusCode};
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::Authenticator;
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::cursor::CursorKey;
use shared::domain::Permission;
use shared::items::{self, ItemFields, ItemRecord};
use shared::records::{sort_key, Listing};
use shared::resources::{self, owner_or, Owned, Paging};
use shared::store::{keys, Table};
use shared::tokens::TokenKeys;
use shared::users::User;
use shared::validation::{scalar, Echo, Fields, Source};
use shared::{ApiError, ApiResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    Read,
    Update,
    Delete,
}

pub struct Items {
    http: HttpConfig,
    auth: Authenticator<Table>,
    cursors: CursorKey,
}

impl Items {
    pub fn from_env(env: &impl Env) -> Result<Self, ConfigError> {
        let http = HttpConfig::from_env(env)?;
        let resources = Resources::from_env(env)?;
        let auth = AuthConfig::from_env(env)?;
        let aws = AwsConfig::from_env(env)?;
        Ok(Self {
            http,
            cursors: CursorKey::derive(&auth.secret),
            auth: Authenticator::new(TokenKeys::new(&auth), Table::new(aws.dynamodb(), resources.table)),
        })
    }

    pub fn http_config(&self) -> &HttpConfig {
        &self.http
    }

    fn table(&self) -> &Table {
        self.auth.users()
    }

    /// A superuser lists every item; anyone else their own.
    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let mut query = Fields::new(Source::Query, request.query());
        let paging = Paging::read(&mut query);
        let q = query.optional("q", Echo::Yes, |v| scalar::string(v).map(|s| s.trim().to_lowercase()));
        query.finish().map_err(ApiError::Validation)?;
        let (Some(paging), Some(q)) = (paging, q) else {
            return Err(ApiError::Internal("query parsed without values".into()));
        };
        let q = q.filter(|q| !q.is_empty());
        let (index, partition, counter) = if caller.role.is_superuser() {
            (
                keys::GSI2,
                items::ALL_PARTITION.to_owned(),
                items::ALL_COUNTER.to_owned(),
            )
        } else {
            (
                keys::GSI1,
                items::owner_partition(caller.id),
                items::owner_counter(caller.id),
            )
        };
        let scope = format!("items|{partition}|q={}", q.as_deref().unwrap_or_default());
        let listing = Listing {
            index,
            partition,
            before: paging.position(&self.cursors, &scope)?,
            contains: q.as_deref().map(|q| (items::SEARCH, q)),
        };
        let whole = Listing {
            before: None,
            ..listing.clone()
        };
        let (rows, count) = match &q {
            Some(_) => tokio::try_join!(
                self.table().list_newest(&listing, paging.wanted()),
                self.table().count_listing(&whole)
            )?,
            None => tokio::try_join!(
                self.table().list_newest(&listing, paging.wanted()),
                self.table().counter(&counter)
            )?,
        };
        let (page, next_cursor) = paging.page(&rows, sort_key, &self.cursors, &scope);
        resources::page_response::<ItemRecord>(page, count, next_cursor)
    }

    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let (body, values) = request.parse_body(|fields| ItemFields::read(fields, true))?;
        let record = ItemRecord::new(caller.id, values);
        resources::create_from_request(self.table(), &request, "items", &body, record).await
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        let item: ItemRecord = resources::load(self.table(), id).await?;
        can_read(&caller, &item)?;
        resources::respond(StatusCode::OK, &item)
    }

    async fn update(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        let (_, values) = request.parse_body(|fields| ItemFields::read(fields, false))?;
        let allowed = |item: &ItemRecord| owner_or(&caller, item.owner(), Permission::Write);
        let item = resources::update(self.table(), &request, id, allowed, |item| values.clone().apply(item)).await?;
        resources::respond(StatusCode::OK, &item)
    }

    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        resources::delete(self.table(), &request, id, |item: &ItemRecord| {
            owner_or(&caller, item.owner(), Permission::Delete)
        })
        .await?;
        api::message(StatusCode::OK, "Item deleted successfully")
    }
}

/// Owners read their items; reading anyone's is a superuser's privilege.
fn can_read(caller: &User, item: &ItemRecord) -> ApiResult<()> {
    if caller.id == item.owner() || caller.role.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("Not enough permissions".into()))
    }
}

impl Api for Items {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::GET, "/api/v1/items/", Route::List),
            (Method::POST, "/api/v1/items/", Route::Create),
            (Method::GET, "/api/v1/items/{id}", Route::Read),
            (Method::PUT, "/api/v1/items/{id}", Route::Update),
            (Method::PATCH, "/api/v1/items/{id}", Route::Update),
            (Method::DELETE, "/api/v1/items/{id}", Route::Delete),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::List => self.list(request).await,
            Route::Create => self.create(request).await,
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
    fn route_table_builds() {
        let router = api::Router::new(Items::routes());
        assert!(matches!(
            router.at(&Method::GET, "/api/v1/items"),
            api::Matched::Route { route: Route::List, .. }
        ));
        assert!(matches!(
            router.at(&Method::PATCH, "/api/v1/items/1/"),
            api::Matched::Route {
                route: Route::Update,
                ..
            }
        ));
    }
}
