//! A route, declared once: what the function's router matches (`Endpoint`) and what the OpenAPI
//! document says of it (the rest of `Operation`). The declarations are constants; a function
//! reads only their endpoints, so the schema code they point to is linked into the docs function
//! alone.

use crate::errors::{HttpError, HttpValidationError};
use crate::schema::{Components, Schema};
use domain::api_key::Scope;
use http::Method;
use serde_json::{json, Value};

/// What a router matches: the method and path (`{name}` for parameters), and the operation's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    /// FastAPI's `operationId`: `<tag>-<handler>`.
    pub id: &'static str,
    /// The scope an API key needs to use the route; `None`: no key may (accounts, sessions, keys,
    /// two-factor, passwords, other users). An access token is not limited by it.
    pub key_scope: Option<Scope>,
}

/// One route of the contract.
///
/// A function's router takes only the endpoint, as `const { OPERATION.endpoint }`: read from
/// the constant at run time, the whole operation would be linked into the function, its schema
/// builders included (the docs function's code: about 40 KB of zip in `utils`, measured).
#[derive(Debug)]
pub struct Operation {
    pub endpoint: Endpoint,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    /// Whether the route takes the bearer token (OAuth2's password flow).
    pub bearer: Bearer,
    pub params: &'static [Param],
    pub body: Option<Content>,
    pub replies: &'static [Reply],
}

/// Whether a route takes the bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    No,
    Required,
    /// Without one, the route answers what anyone may see (the public feed).
    Optional,
}

/// Where a parameter is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Path,
    Query,
    Header,
}

impl Place {
    fn as_str(self) -> &'static str {
        match self {
            Self::Path => "path",
            Self::Query => "query",
            Self::Header => "header",
        }
    }
}

#[derive(Debug)]
pub struct Param {
    pub name: &'static str,
    pub place: Place,
    pub required: bool,
    pub description: &'static str,
    pub schema: fn() -> Value,
}

impl Param {
    /// `{id}`: a UUID.
    pub const fn path_id(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            place: Place::Path,
            required: true,
            description,
            schema: || json!({ "type": "string", "format": "uuid" }),
        }
    }

    /// A path parameter of any text.
    pub const fn path_text(name: &'static str, description: &'static str) -> Self {
        Self {
            name,
            place: Place::Path,
            required: true,
            description,
            schema: || json!({ "type": "string" }),
        }
    }

    pub const fn query(name: &'static str, description: &'static str, schema: fn() -> Value) -> Self {
        Self {
            name,
            place: Place::Query,
            required: false,
            description,
            schema,
        }
    }

    pub const fn required(self) -> Self {
        Self { required: true, ..self }
    }

    /// An optional request header.
    pub const fn header(name: &'static str, description: &'static str, schema: fn() -> Value) -> Self {
        Self {
            name,
            place: Place::Header,
            required: false,
            description,
            schema,
        }
    }
}

/// A schema where it is used, and the components it needs.
#[derive(Debug, Clone, Copy)]
pub struct SchemaOf {
    pub schema: fn() -> Value,
    pub collect: fn(&mut Components),
}

impl SchemaOf {
    pub const fn of<T: Schema>() -> Self {
        Self {
            schema: T::schema,
            collect: T::collect,
        }
    }
}

/// A body: its media type and schema.
#[derive(Debug, Clone, Copy)]
pub struct Content {
    pub media: &'static str,
    pub schema: SchemaOf,
}

impl Content {
    pub const fn json<T: Schema>() -> Self {
        Self {
            media: "application/json",
            schema: SchemaOf::of::<T>(),
        }
    }

    pub const fn form<T: Schema>() -> Self {
        Self {
            media: "application/x-www-form-urlencoded",
            schema: SchemaOf::of::<T>(),
        }
    }

    pub const fn multipart<T: Schema>() -> Self {
        Self {
            media: "multipart/form-data",
            schema: SchemaOf::of::<T>(),
        }
    }

    /// An HTML page.
    pub const fn html() -> Self {
        Self {
            media: "text/html",
            schema: SchemaOf::of::<String>(),
        }
    }
}

/// A response header.
#[derive(Debug)]
pub struct Header {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> Value,
}

/// One answer of an operation.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub description: &'static str,
    pub content: Option<Content>,
    pub headers: &'static [Header],
}

impl Reply {
    /// 200 `Successful Response` with a JSON body of `T`.
    pub const fn ok<T: Schema>() -> Self {
        Self::json::<T>(200, "Successful Response")
    }

    pub const fn json<T: Schema>(status: u16, description: &'static str) -> Self {
        Self {
            status,
            description,
            content: Some(Content::json::<T>()),
            headers: &[],
        }
    }

    /// `{"detail": "<message>"}`.
    pub const fn error(status: u16, description: &'static str) -> Self {
        Self::json::<HttpError>(status, description)
    }

    pub const fn with_headers(self, headers: &'static [Header]) -> Self {
        Self { headers, ..self }
    }
}

/// The OpenAPI security scheme of API keys (`Authorization: Bearer sbk_...`).
pub const API_KEY_SCHEME: &str = "APIKey";

/// 401 without a valid bearer token.
pub const UNAUTHENTICATED: Reply = Reply::error(401, "Not authenticated");
/// 422 with one entry per failing field.
pub const INVALID: Reply = Reply::json::<HttpValidationError>(422, "Validation Error");
/// 503: a backing service failed or throttled; retrying will work.
pub const UNAVAILABLE: Reply = Reply::error(503, "A backing service is unavailable: retry");

impl Operation {
    /// The operation as the OpenAPI document writes it, adding the components it refers to.
    pub fn to_json(&self, components: &mut Components) -> Value {
        let mut operation = json!({
            "tags": [self.tag],
            "summary": self.summary,
            "description": self.description,
            "operationId": self.endpoint.id,
        });
        if !self.params.is_empty() {
            operation["parameters"] = self
                .params
                .iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "in": p.place.as_str(),
                        "description": p.description,
                        "required": p.required,
                        "schema": (p.schema)(),
                    })
                })
                .collect();
        }
        if let Some(body) = &self.body {
            operation["requestBody"] = json!({ "content": content(body, components), "required": true });
        }
        let mut replies = serde_json::Map::new();
        // Any route that takes a bearer credential answers an API key outside its scopes so.
        if self.bearer != Bearer::No && !self.replies.iter().any(|r| r.status == 403) {
            let description = match self.endpoint.key_scope {
                Some(_) => "Insufficient scope: an API key without the scope this route needs",
                None => "Insufficient scope: no API key may use this route",
            };
            let body = content(&Content::json::<HttpError>(), components);
            replies.insert("403".into(), json!({ "description": description, "content": body }));
        }
        for reply in self.replies {
            let mut answer = json!({ "description": reply.description });
            if let Some(body) = &reply.content {
                answer["content"] = content(body, components);
            }
            if !reply.headers.is_empty() {
                answer["headers"] = reply
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            json!({ "description": h.description, "schema": (h.schema)() }),
                        )
                    })
                    .collect::<serde_json::Map<_, _>>()
                    .into();
            }
            replies.insert(reply.status.to_string(), answer);
        }
        operation["responses"] = replies.into();
        // A route a key may use takes either credential: the API key scheme with the scope it needs.
        let mut security = match self.bearer {
            Bearer::No => vec![],
            Bearer::Required | Bearer::Optional => vec![json!({ "OAuth2PasswordBearer": [] })],
        };
        if let (false, Some(scope)) = (security.is_empty(), self.endpoint.key_scope) {
            security.push(json!({ API_KEY_SCHEME: [scope.as_str()] }));
        }
        if self.bearer == Bearer::Optional {
            security.push(json!({}));
        }
        if !security.is_empty() {
            operation["security"] = security.into();
        }
        operation
    }
}

fn content(body: &Content, components: &mut Components) -> Value {
    (body.schema.collect)(components);
    json!({ body.media: { "schema": (body.schema.schema)() } })
}
