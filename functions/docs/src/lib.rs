//! `docs`: the OpenAPI document of every API route (`GET /api/v1/openapi.json`), generated from
//! the request and response types of `shared` and the operations declared in `paths/`, and the
//! pages that show it: Swagger UI at `/docs` (its "Authorize" logs in with the password flow) and
//! Redoc at `/redoc`. Their assets are built into the binary, so the pages need no network beyond
//! the API. The API functions themselves compile none of this.

pub mod pages;
pub mod paths;

use lambda_http::http::Method;
use shared::config::{HttpConfig, Stage};
use shared::http::{Api, ApiRequest, Response};
use shared::{ApiError, ApiResult};
use utoipa::openapi::security::{Flow, OAuth2, Password, Scopes, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi};
use utoipa::OpenApi as _;

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
/// prod only).
pub fn document(stage: Stage, project_name: &str) -> OpenApi {
    let mut doc = paths::login::Api::openapi();
    doc.merge(paths::users::Api::openapi());
    doc.merge(paths::utils::Api::openapi());
    doc.merge(paths::items::Api::openapi());
    doc.merge(paths::posts::Api::openapi());
    doc.merge(paths::files::Api::openapi());
    if stage != Stage::Prod {
        doc.merge(paths::private::Api::openapi());
    }
    doc.info = InfoBuilder::new()
        .title(project_name)
        .version(env!("CARGO_PKG_VERSION"))
        .build();
    doc.tags = Some(
        TAGS.iter()
            .filter(|(name, _)| stage != Stage::Prod || *name != "private")
            .map(|(name, description)| TagBuilder::new().name(*name).description(Some(*description)).build())
            .collect(),
    );
    let password = Flow::Password(Password::new(TOKEN_URL, Scopes::new()));
    if let Some(components) = doc.components.as_mut() {
        components.add_security_scheme("OAuth2PasswordBearer", SecurityScheme::OAuth2(OAuth2::new([password])));
    }
    doc
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
        let doc = document(http.stage, &http.project_name);
        Self {
            // A document that does not serialise is a bug the tests of this crate catch.
            openapi: doc.to_json().unwrap_or_else(|e| panic!("the OpenAPI document: {e}")),
            title: http.project_name.clone(),
        }
    }
}

impl Api for Docs {
    type Route = Route;

    fn routes() -> Vec<(Method, &'static str, Route)> {
        vec![
            (Method::GET, OPENAPI_PATH, Route::OpenApi),
            (Method::GET, "/docs", Route::SwaggerUi),
            (Method::GET, "/docs/{asset}", Route::Asset),
            (Method::GET, "/redoc", Route::Redoc),
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
        serde_json::to_value(document(stage, "Serverless Backend")).unwrap()
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
                let takes_input = operation.get("parameters").is_some() || operation.get("requestBody").is_some();
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
        use shared::store::memory::Memory;
        use shared::testing::{context, event, service};
        let memory = Memory::default();
        let docs = service(&memory, Docs::new(&context(&memory).http));
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

    #[test]
    fn prod_has_no_private_routes() {
        let doc = json(Stage::Prod);
        assert!(doc["paths"].get("/api/v1/private/users/").is_none());
        assert!(json(Stage::Local)["paths"].get("/api/v1/private/users/").is_some());
    }
}
