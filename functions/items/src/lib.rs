//! `items`: the items a user owns — listing with search and cursors, optimistic concurrency,
//! idempotent creates. The routes are the shared owned-resource handlers (`edge::resource`) over
//! `Item`; what is the items' own is here (who lists and reads what), in `domain::item` (the
//! rules) and `contract::items` (the bodies).

use adapters::store::Table;
use contract::api::items as api;
use contract::items::{ItemCreate, ItemUpdate, ItemsQuery};
use contract::public::ItemPublic;
use domain::{Item, ItemScope, Listing, User};
use edge::resource::{Endpoints, Resource, ResourceApi};
use edge::{ApiError, ApiResult};
use uuid::Uuid;

/// Items over HTTP.
pub struct ItemResource;

pub type Items<S = Table> = ResourceApi<ItemResource, S>;

impl Resource for ItemResource {
    type Record = Item;
    type Public = ItemPublic;
    type New = ItemCreate;
    type Update = ItemUpdate;
    type Query = ItemsQuery;
    const ENDPOINTS: Endpoints = Endpoints {
        list: api::READ_ITEMS.endpoint,
        create: api::CREATE_ITEM.endpoint,
        read: api::READ_ITEM.endpoint,
        update: api::UPDATE_ITEM.endpoint,
        patch: api::PATCH_ITEM.endpoint,
        delete: api::DELETE_ITEM.endpoint,
    };

    fn create(owner: Uuid, new: ItemCreate) -> Item {
        Item::new(owner, new.into())
    }

    /// A superuser lists every item; anyone else their own.
    fn listing(caller: &User, query: &ItemsQuery) -> Listing<ItemScope> {
        Listing {
            search: query.q.clone(),
            ..Listing::of(vec![ItemScope::for_caller(caller)])
        }
    }

    /// Owners read their items; reading anyone's is a superuser's privilege.
    fn check_read(item: &Item, caller: &User) -> ApiResult<()> {
        if item.readable_by(caller) {
            Ok(())
        } else {
            Err(ApiError::Forbidden("Not enough permissions".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    //! Every route through the whole service, from the `events/` fixtures, on in-memory stores.

    use super::*;
    use adapters::store::memory::Memory;
    use domain::Role;
    use edge::StatusCode;
    use serde_json::{json, Value};
    use testkit::{call, caller, context, event, service, set_body, set_path};

    fn items(memory: &Memory) -> edge::Service<Items<Memory>> {
        {
            let ctx = context(memory);
            service(Items::new(ctx.keys, ctx.cursors, ctx.store))
        }
    }

    /// Creates the fixture's item through the API.
    async fn lamp(memory: &Memory, token: &str) -> Value {
        let (status, body) = call(&items(memory), event("items/create.json", token, |_| {})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn with_header(name: &'static str, value: &'static str) -> impl FnOnce(&mut Value) {
        move |json| json["headers"][name] = json!(value)
    }

    #[tokio::test]
    async fn create_then_list_read_update_and_delete() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let created = lamp(&memory, &token).await;
        assert_eq!(created["title"], "Desk lamp");
        assert_eq!(created["price"], json!(19.99));
        let id = created["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/items/{id}");

        let (status, page) = call(&items(&memory), event("items/list.json", &token, |_| {})).await;
        assert_eq!((status, page["count"].clone()), (StatusCode::OK, json!(1)));
        assert_eq!(page["data"][0]["id"], id.as_str());

        let read = event("items/read-unknown.json", &token, |e| set_path(e, &path));
        assert_eq!(call(&items(&memory), read).await.1["title"], "Desk lamp");

        let patch = event("items/patch-unknown.json", &token, |e| set_path(e, &path));
        let (status, patched) = call(&items(&memory), patch).await;
        assert_eq!((status, patched["title"].clone()), (StatusCode::OK, json!("Renamed")));

        let delete = event("items/delete-unknown.json", &token, |e| set_path(e, &path));
        assert_eq!(
            call(&items(&memory), delete).await.1["message"],
            "Item deleted successfully"
        );
        let read = event("items/read-unknown.json", &token, |e| set_path(e, &path));
        assert_eq!(call(&items(&memory), read).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn unknown_ids_are_404_and_bad_ids_422() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        for name in ["read", "put", "patch", "delete"] {
            let request = event(&format!("items/{name}-unknown.json"), &token, |_| {});
            let (status, body) = call(&items(&memory), request).await;
            assert_eq!(
                (status, body["detail"].clone()),
                (StatusCode::NOT_FOUND, json!("Item not found")),
                "{name}"
            );
        }
        let bad = event("items/read-unknown.json", &token, |e| set_path(e, "/api/v1/items/nope"));
        let (status, body) = call(&items(&memory), bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["detail"][0]["loc"], json!(["path", "id"]));
    }

    #[tokio::test]
    async fn another_users_item_is_forbidden_and_a_superuser_sees_all() {
        let memory = Memory::default();
        let (_, owner) = caller(&memory, "owner@example.com", Role::User).await;
        let (_, stranger) = caller(&memory, "stranger@example.com", Role::User).await;
        let (_, admin) = caller(&memory, "admin@example.com", Role::Superuser).await;
        let id = lamp(&memory, &owner).await["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/items/{id}");
        let read = event("items/read-unknown.json", &stranger, |e| set_path(e, &path));
        assert_eq!(call(&items(&memory), read).await.0, StatusCode::FORBIDDEN);
        let delete = event("items/delete-unknown.json", &stranger, |e| set_path(e, &path));
        assert_eq!(call(&items(&memory), delete).await.0, StatusCode::FORBIDDEN);
        let (_, mine) = call(&items(&memory), event("items/list.json", &stranger, |_| {})).await;
        assert_eq!(mine["count"], 0);
        let (_, all) = call(&items(&memory), event("items/list.json", &admin, |_| {})).await;
        assert_eq!(all["count"], 1);
    }

    #[tokio::test]
    async fn a_stale_if_match_is_412_and_a_current_one_writes() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let id = lamp(&memory, &token).await["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/items/{id}");
        let stale = event("items/put-unknown.json", &token, |e| {
            set_path(e, &path);
            with_header("if-match", "\"7\"")(e);
        });
        assert_eq!(call(&items(&memory), stale).await.0, StatusCode::PRECONDITION_FAILED);
        let current = event("items/put-unknown.json", &token, |e| {
            set_path(e, &path);
            with_header("if-match", "\"1\"")(e);
        });
        let response = items(&memory).call(current).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["etag"], "\"2\"");
    }

    #[tokio::test]
    async fn an_idempotency_key_replays_the_first_answer() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let create = || event("items/create.json", &token, with_header("idempotency-key", "k-1"));
        let (_, first) = call(&items(&memory), create()).await;
        let (_, second) = call(&items(&memory), create()).await;
        assert_eq!(first["id"], second["id"]);
        let other_body = event("items/create.json", &token, |e| {
            with_header("idempotency-key", "k-1")(e);
            set_body(e, json!({"title": "Another"}));
        });
        assert_eq!(
            call(&items(&memory), other_body).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let (_, page) = call(&items(&memory), event("items/list.json", &token, |_| {})).await;
        assert_eq!(page["count"], 1);
    }

    #[tokio::test]
    async fn bad_bodies_cursors_and_tokens_get_the_contracts_errors() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        let invalid = event("items/create.json", &token, |e| {
            set_body(e, json!({"title": "", "price": -1}))
        });
        let (status, body) = call(&items(&memory), invalid).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let locs: Vec<_> = body["detail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["loc"].clone())
            .collect();
        assert_eq!(locs, [json!(["body", "title"]), json!(["body", "price"])]);
        let cursor = event("items/list-bad-cursor.json", &token, |_| {});
        assert_eq!(call(&items(&memory), cursor).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let anonymous = event("items/list.json", "not-a-token", |_| {});
        assert_eq!(call(&items(&memory), anonymous).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_store_outage_is_503_with_retry_after() {
        let memory = Memory::default();
        let (_, token) = caller(&memory, "owner@example.com", Role::User).await;
        memory.set_down(true);
        let response = items(&memory).call(event("items/list.json", &token, |_| {})).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }
}
