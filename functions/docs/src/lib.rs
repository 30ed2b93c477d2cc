//! `docs`: the OpenAPI document of every API route (`GET /api/v1/openapi.json`), generated from
//! the route declarations of `contract::api` (bodies, answers, statuses: each declared once), and the
//! pages that show it: Swagger UI at `/docs` (its "Authorize" logs in with the password flow) and
//! Redoc at `/redoc`. Their assets are built into the binary, so the pages need no network beyond
//! the API. The API functions themselves compile none of this.

pub mod pages;

use contract::api::FUNCTIONS;
use contract::operation::Endpoint;
use contract::schema::Components;
use domain::config::Stage;
use edge::{Api, ApiError, ApiRequest, ApiResult, HttpConfig, Response};
use lambda_http::http::Method;
use serde_json::{json, Map, Value};

/// Where the OAuth2 password flow gets its token.
pub const TOKEN_URL: &str = "/api/v1/login/access-token";
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The tags in the order the reference backend shows them, ours added, with what each covers.
const TAGS: [(&str, &str); 7] = [
    ("login", "Logins, tokens and password recovery"),
    ("users", "Accounts: your own, and everyone's with the admin permission"),
    ("utils", "Health checks and the test email"),
    ("items", "Items you own"),
    ("posts", "Published posts and your drafts"),
    ("files", "Uploads, their thumbnails and downloads"),
    ("private", "Local and dev stages only"),
];

/// The document of every route of the API functions in `stage` (the private routes exist outside
/// prod only), from the routes' declarations in `contract::api`.
pub fn document(stage: Stage, project_name: &str) -> Value {
    let mut paths = Map::new();
    let mut components = Components::new();
    for (function, operations) in FUNCTIONS {
        if stage == Stage::Prod && *function == "private" {
            continue;
        }
        for operation in *operations {
            let item = paths.entry(operation.endpoint.path).or_insert_with(|| json!({}));
            item[operation.endpoint.method.as_str().to_lowercase()] = operation.to_json(&mut components);
        }
    }
    let tags: Vec<Value> = TAGS
        .iter()
        .filter(|(name, _)| stage != Stage::Prod || *name != "private")
        .map(|(name, description)| json!({ "name": name, "description": description }))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": { "title": project_name, "version": env!("CARGO_PKG_VERSION") },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "OAuth2PasswordBearer": {
                    "type": "oauth2",
                    "flows": { "password": { "tokenUrl": TOKEN_URL, "scopes": {} } }
                },
                contract::operation::API_KEY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "sbk_...",
                    "description": "An API key (`POST /api/v1/users/me/api-keys`), sent as `Authorization: Bearer sbk_...`. \
                                    It acts as its owner within its scopes: an operation lists the scope it needs."
                }
            }
        },
        "tags": tags,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    OpenApi,
    SwaggerUi,
    Redoc,
    Asset,
}

/// The docs function: the document, rendered once at start, and the pages.
pub struct Docs {
    openapi: String,
    title: String,
}

impl Docs {
    pub fn new(http: &HttpConfig) -> Self {
        Self {
            openapi: document(http.stage, &http.project_name).to_string(),
            title: http.project_name.clone(),
        }
    }
}

impl Api for Docs {
    type Route = Route;

    /// The document and the pages that show it: not operations of the document themselves.
    fn routes() -> Vec<(Endpoint, Route)> {
        let get = |path, id| Endpoint {
            method: Method::GET,
            path,
            id,
            key_scope: None,
        };
        vec![
            (get(OPENAPI_PATH, "docs-openapi"), Route::OpenApi),
            (get("/docs", "docs-swagger_ui"), Route::SwaggerUi),
            (get("/docs/{asset}", "docs-asset"), Route::Asset),
            (get("/redoc", "docs-redoc"), Route::Redoc),
        ]
    }

    async fn handle(&self, route: Route, request: ApiRequest) -> ApiResult<Response> {
        match route {
            Route::OpenApi => pages::respond("application/json", self.openapi.clone(), false),
            Route::SwaggerUi => pages::respond("text/html; charset=utf-8", pages::swagger_ui(&self.title), false),
            Route::Redoc => pages::respond("text/html; charset=utf-8", pages::redoc(&self.title), false),
            Route::Asset => {
                let name = request.param("asset").unwrap_or_default();
                let (content_type, body) = pages::asset(name).ok_or_else(|| ApiError::NotFound("Not Found".into()))?;
                pages::respond(content_type, body.to_owned(), true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(stage: Stage) -> Value {
        document(stage, "Serverless Backend")
    }

    #[test]
    fn operation_ids_and_names_are_fastapis() {
        let doc = json(Stage::Local);
        assert_eq!(doc["openapi"], "3.1.0");
        let read_items = &doc["paths"]["/api/v1/items/"]["get"];
        assert_eq!(read_items["operationId"], "items-read_items");
        assert_eq!(read_items["summary"], "Read Items");
        assert_eq!(
            read_items["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ItemsPublic"
        );
        let login = &doc["paths"]["/api/v1/login/access-token"]["post"]["requestBody"]["content"];
        assert_eq!(
            login["application/x-www-form-urlencoded"]["schema"]["$ref"],
            "#/components/schemas/Body_login-login_access_token"
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for name in [
            "Body_login-login_access_token",
            "HTTPValidationError",
            "ValidationError",
            "ItemCreate",
            "ItemUpdate",
            "ItemPublic",
            "ItemsPublic",
            "Message",
            "NewPassword",
            "PrivateUserCreate",
            "Token",
            "UpdatePassword",
            "UserCreate",
            "UserPublic",
            "UserRegister",
            "UserUpdate",
            "UserUpdateMe",
            "UsersPublic",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        let scheme = &doc["components"]["securitySchemes"]["OAuth2PasswordBearer"];
        assert_eq!(scheme["flows"]["password"]["tokenUrl"], TOKEN_URL);
    }

    #[test]
    fn every_operation_has_a_unique_id_a_tag_and_its_validation_error() {
        let doc = json(Stage::Local);
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap();
                let tag = operation["tags"][0].as_str().unwrap();
                assert!(id.starts_with(&format!("{tag}-")), "{method} {path}: {id}");
                assert!(ids.insert(id.to_owned()), "duplicate {id}");
                // `If-None-Match` cannot be malformed: any tag that is not current is a 200.
                let params = operation["parameters"].as_array().into_iter().flatten();
                let takes_input = params.filter(|p| p["name"] != "If-None-Match").count() > 0
                    || operation.get("requestBody").is_some();
                let has_422 = operation["responses"].get("422").is_some();
                // The recovery routes take any string as the email: a malformed one is not a 422.
                if takes_input && !path.ends_with("{email}") {
                    assert!(has_422, "{method} {path} has no 422");
                }
            }
        }
        assert!(ids.len() >= 30, "{}", ids.len());
    }

    #[tokio::test]
    async fn every_page_and_asset_from_the_event_fixtures() {
        use testkit::{event, http_config, service};
        let docs = service(Docs::new(&http_config()));
        for (name, status, content_type) in [
            ("docs/openapi.json", 200, "application/json"),
            ("docs/swagger-ui.json", 200, "text/html"),
            ("docs/asset.json", 200, "text/css"),
            ("docs/redoc.json", 200, "text/html"),
            ("docs/asset-unknown.json", 404, "application/json"),
        ] {
            let response = docs.call(event(name, "", |_| {})).await;
            assert_eq!(response.status().as_u16(), status, "{name}");
            let kind = response.headers()["content-type"].to_str().unwrap_or_default();
            assert!(kind.starts_with(content_type), "{name}: {kind}");
        }
        let served = docs.call(event("docs/openapi.json", "", |_| {})).await;
        let lambda_http::Body::Text(text) = served.body() else {
            panic!("a text body")
        };
        let served: Value = serde_json::from_str(text).unwrap();
        assert_eq!(served["paths"], json(Stage::Local)["paths"]);
    }

    /// Whether `new` says everything `old` says: the same keys with the same values, in objects at
    /// any depth (more keys are additions); arrays alike element by element (`required` and
    /// `enum` as sets); numbers by value; descriptions up to white space.
    fn covers(new: &Value, old: &Value, at: &str, differences: &mut Vec<String>) {
        match (new, old) {
            (Value::Object(new), Value::Object(old)) => {
                for (key, old_value) in old {
                    let here = format!("{at}/{key}");
                    match new.get(key) {
                        None => differences.push(format!("{here}: missing")),
                        Some(new_value) if key == "description" => {
                            let words = |v: &Value| {
                                v.as_str()
                                    .unwrap_or_default()
                                    .split_whitespace()
                                    .collect::<Vec<_>>()
                                    .join(" ")
                            };
                            // Said again, and more: an addition.
                            if !words(new_value).starts_with(&words(old_value)) {
                                differences.push(format!("{here}: {new_value} != {old_value}"));
                            }
                        }
                        // Another optional parameter, another way to authenticate (or none): the
                        // old ones are all still there, so a client generated before still works.
                        Some(Value::Array(added)) if key == "parameters" || key == "security" => {
                            let old_items = old_value.as_array().cloned().unwrap_or_default();
                            for (i, item) in old_items.iter().enumerate() {
                                if !added.contains(item) {
                                    differences.push(format!("{here}/{i}: {item} missing"));
                                }
                            }
                            for item in added.iter().filter(|item| !old_items.contains(item)) {
                                if item["required"] == Value::Bool(true) {
                                    differences.push(format!("{here}: {item} is new and required"));
                                }
                            }
                        }
                        Some(new_value) if key == "required" || key == "enum" => {
                            let set = |v: &Value| {
                                let mut items: Vec<String> =
                                    v.as_array().into_iter().flatten().map(Value::to_string).collect();
                                items.sort();
                                items
                            };
                            if set(new_value) != set(old_value) {
                                differences.push(format!("{here}: {new_value} != {old_value}"));
                            }
                        }
                        Some(new_value) => covers(new_value, old_value, &here, differences),
                    }
                }
            }
            (Value::Array(new), Value::Array(old)) if new.len() == old.len() => {
                for (i, (n, o)) in new.iter().zip(old).enumerate() {
                    covers(n, o, &format!("{at}/{i}"), differences);
                }
            }
            (Value::Number(new), Value::Number(old)) if new.as_f64() == old.as_f64() => {}
            (new, old) if new == old => {}
            (new, old) => differences.push(format!("{at}: {new} != {old}")),
        }
    }

    #[test]
    fn a_missing_or_changed_key_is_a_difference_and_an_added_one_is_not() {
        let old = serde_json::json!({"a": {"b": 1, "required": ["x", "y"]}, "c": [1, 2]});
        let mut differences = Vec::new();
        covers(
            &serde_json::json!({"a": {"b": 1.0, "required": ["y", "x"], "new": true}, "c": [1, 2], "d": 0}),
            &old,
            "",
            &mut differences,
        );
        assert!(differences.is_empty(), "{differences:?}");
        covers(
            &serde_json::json!({"a": {"b": 2, "required": ["x"]}, "c": [1]}),
            &old,
            "",
            &mut differences,
        );
        assert_eq!(differences.len(), 3, "{differences:?}");

        let old =
            serde_json::json!({"parameters": [{"name": "a"}], "security": [{"bearer": []}], "description": "Old."});
        let mut differences = Vec::new();
        let added = serde_json::json!({
            "parameters": [{"name": "a"}, {"name": "b", "required": false}],
            "security": [{"bearer": []}, {}],
            "description": "Old. And more."
        });
        covers(&added, &old, "", &mut differences);
        assert!(differences.is_empty(), "{differences:?}");
        let changed = serde_json::json!({
            "parameters": [{"name": "b", "required": true}],
            "security": [{}],
            "description": "New."
        });
        covers(&changed, &old, "", &mut differences);
        assert_eq!(differences.len(), 4, "{differences:?}");
    }

    /// The document clients were generated from before the routes were declared in `contract`
    /// (2026-12-04): the document now says all of it, and may only add.
    #[test]
    fn the_document_only_adds_to_the_one_clients_know() {
        let before: Value = serde_json::from_str(include_str!("../tests/openapi-before.json")).unwrap();
        let mut differences = Vec::new();
        covers(&json(Stage::Local), &before, "", &mut differences);
        assert!(
            differences.is_empty(),
            "{} differences:\n{}",
            differences.len(),
            differences.join("\n")
        );
    }

    #[test]
    fn prod_has_no_private_routes() {
        let doc = json(Stage::Prod);
        assert!(doc["paths"].get("/api/v1/private/users/").is_none());
        assert!(json(Stage::Local)["paths"].get("/api/v1/private/users/").is_some());
    }
}
