//! `posts`: published posts everyone can read, and each author's drafts.

use lambda_http::http::{Method, StatusCode};
use shared::api::{self, Api, ApiRequest, Response};
use shared::auth::Authenticator;
use shared::aws::AwsConfig;
use shared::config::{AuthConfig, ConfigError, Env, HttpConfig, Resources};
use shared::cursor::CursorKey;
use shared::domain::Permission;
use shared::posts::{self, PostFields, PostRecord};
use shared::records::{sort_key, Listing};
use shared::resources::{self, owner_or, Owned, Paging};
use shared::store::{keys, Table};
use shared::tokens::TokenKeys;
use shared::users::User;
use shared::validation::{scalar, Echo, Fields, Source};
use shared::{ApiError, ApiResult};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List,
    Create,
    Read,
    Update,
    Delete,
}

pub struct Posts {
    http: HttpConfig,
    auth: Authenticator<Table>,
    cursors: CursorKey,
}

impl Posts {
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

    /// Published posts of everyone plus the caller's drafts, narrowed by `author_id` and `published`.
    async fn list(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let mut query = Fields::new(Source::Query, request.query());
        let paging = Paging::read(&mut query);
        let author = query.optional("author_id", Echo::Yes, scalar::uuid);
        let published = query.optional("published", Echo::Yes, scalar::boolean);
        query.finish().map_err(ApiError::Validation)?;
        let (Some(paging), Some(author), Some(published)) = (paging, author, published) else {
            return Err(ApiError::Internal("query parsed without values".into()));
        };
        let sources = sources(caller.id, author, published);
        let scope = format!(
            "posts|{}|author={}|published={}",
            caller.id,
            author.map(|a| a.to_string()).unwrap_or_default(),
            published.map(|p| p.to_string()).unwrap_or_default()
        );
        let before = paging.position(&self.cursors, &scope)?;
        let listings: Vec<Listing> = sources
            .iter()
            .map(|(index, partition, _)| Listing {
                index,
                partition: partition.clone(),
                before: before.clone(),
                contains: None,
            })
            .collect();
        let rows = self.table().merge_newest(&listings, paging.wanted()).await?;
        let mut count = 0;
        for (_, _, counter) in &sources {
            count += self.table().counter(counter).await?;
        }
        let (page, next_cursor) = paging.page(&rows, sort_key, &self.cursors, &scope);
        resources::page_response::<PostRecord>(page, count, next_cursor)
    }

    async fn create(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let (body, values) = request.parse_body(|fields| PostFields::read(fields, true))?;
        let record = PostRecord::new(caller.id, values);
        resources::create_from_request(self.table(), &request, "posts", &body, record).await
    }

    async fn read(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        let post: PostRecord = resources::load(self.table(), id).await?;
        visible(&caller, &post)?;
        resources::respond(StatusCode::OK, &post)
    }

    async fn update(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        let (_, values) = request.parse_body(|fields| PostFields::read(fields, false))?;
        let allowed = |post: &PostRecord| {
            visible(&caller, post).and_then(|()| owner_or(&caller, post.owner(), Permission::Write))
        };
        let post = resources::update(self.table(), &request, id, allowed, |post| values.clone().apply(post)).await?;
        resources::respond(StatusCode::OK, &post)
    }

    async fn delete(&self, request: ApiRequest) -> ApiResult<Response> {
        let caller = self.auth.current_user(&request).await?;
        let id = resources::path_id(&request, "id")?;
        let allowed = |post: &PostRecord| {
            visible(&caller, post).and_then(|()| owner_or(&caller, post.owner(), Permission::Delete))
        };
        resources::delete(self.table(), &request, id, allowed).await?;
        api::message(StatusCode::OK, "Post deleted successfully")
    }
}

/// Another user's draft does not exist as far as the caller can tell (a superuser sees all).
fn visible(caller: &User, post: &PostRecord) -> ApiResult<()> {
    if post.published || post.author_id == caller.id || caller.role.is_superuser() {
        Ok(())
    } else {
        Err(ApiError::NotFound("Post not found".into()))
    }
}

/// The listings (index, partition, counter) whose union a request asks for.
fn sources(caller: Uuid, author: Option<Uuid>, published: Option<bool>) -> Vec<(&'static str, String, String)> {
    let everyone_published = (
        keys::GSI2,
        posts::PUBLISHED_PARTITION.to_owned(),
        posts::PUBLISHED_COUNTER.to_owned(),
    );
    let published_by = |a: Uuid| {
        (
            keys::GSI1,
            posts::author_partition(a, true),
            posts::author_counter(a, true),
        )
    };
    let my_drafts = (
        keys::GSI1,
        posts::author_partition(caller, false),
        posts::author_counter(caller, false),
    );
    let mine_or_unfiltered = author.is_none_or(|a| a == caller);
    let mut sources = Vec::new();
    if published != Some(false) {
        sources.push(match author {
            Some(a) => published_by(a),
            None => everyone_published,
        });
    }
    if published != Some(true) && mine_or_unfiltered {
        sources.push(my_drafts);
    }
    sources
}

impl Api for Posts {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::GET, "/api/v1/posts/", Route::List),
            (Method::POST, "/api/v1/posts/", Route::Create),
            (Method::GET, "/api/v1/posts/{id}", Route::Read),
            (Method::PUT, "/api/v1/posts/{id}", Route::Update),
            (Method::PATCH, "/api/v1/posts/{id}", Route::Update),
            (Method::DELETE, "/api/v1/posts/{id}", Route::Delete),
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
    fn listings_follow_the_filters() {
        let (me, other) = (Uuid::new_v4(), Uuid::new_v4());
        let partitions = |a, p| {
            sources(me, a, p)
                .into_iter()
                .map(|(_, partition, _)| partition)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            partitions(None, None),
            [
                posts::PUBLISHED_PARTITION.to_owned(),
                posts::author_partition(me, false)
            ]
        );
        assert_eq!(partitions(Some(other), None), [posts::author_partition(other, true)]);
        assert_eq!(
            partitions(Some(me), None),
            [posts::author_partition(me, true), posts::author_partition(me, false)]
        );
        assert_eq!(partitions(None, Some(false)), [posts::author_partition(me, false)]);
        assert!(partitions(Some(other), Some(false)).is_empty());
        assert_eq!(partitions(None, Some(true)), [posts::PUBLISHED_PARTITION.to_owned()]);
    }
}
