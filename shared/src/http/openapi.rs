//! OpenAPI schemas (feature `openapi`, enabled by `functions/docs` alone) of the contract's shapes
//! that are not plain serde types: the request bodies read by `FromFields`, the error bodies, the
//! pages and the roles. The response types derive theirs in `public.rs`. Names follow FastAPI's.

use super::accounts::{PrivateUserCreate, UpdatePassword, UserCreate, UserRegister, UserUpdate, UserUpdateMe};
use super::files::{FileCreated, FilePublic, UploadPublic};
use super::public::{ItemPublic, Page, PostPublic, UserPublic};
use super::validation::FieldError;
use crate::domain::file::{FileType, Filename, NewUpload};
use crate::domain::item::NewItem;
use crate::domain::post::NewPost;
use crate::domain::{
    Description, Email, FullName, ItemChanges, Password, PostChanges, PostContent, Price, Role, Title,
};
use serde_json::{json, Value};
use std::borrow::Cow;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A schema written as JSON Schema (OpenAPI 3.1 is JSON Schema 2020-12). The literals below are
/// constants of this file; one that does not parse is a bug the docs function's tests catch.
pub fn schema(value: Value) -> RefOr<Schema> {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("bad schema literal: {e}"))
}

fn reference<T: ToSchema>() -> Value {
    json!({ "$ref": format!("#/components/schemas/{}", T::name()) })
}

/// Adds `T` and what it refers to, the way utoipa's derives collect a schema's dependencies.
fn collect<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
}

/// `PartialSchema` + `ToSchema` under FastAPI's component name.
macro_rules! named {
    ($ty:ty, $name:literal, |$schemas:ident| $deps:expr, $json:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                schema($json)
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn schemas($schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $deps
            }
        }
    };
    ($ty:ty, $name:literal, $json:expr) => {
        named!($ty, $name, |_schemas| {}, $json);
    };
}

fn email() -> Value {
    json!({ "type": "string", "format": "email", "maxLength": Email::MAX_LEN, "title": "Email" })
}

fn password(title: &str) -> Value {
    json!({ "type": "string", "minLength": Password::MIN_LEN, "maxLength": Password::MAX_LEN, "title": title })
}

fn nullable(mut value: Value) -> Value {
    let title = value.as_object_mut().and_then(|o| o.remove("title"));
    json!({ "anyOf": [value, { "type": "null" }], "title": title })
}

fn full_name() -> Value {
    json!({ "type": "string", "maxLength": FullName::MAX_LEN, "title": "Full Name" })
}

fn boolean(title: &str) -> Value {
    json!({ "type": "boolean", "title": title })
}

fn role() -> Value {
    nullable(json!({ "$ref": "#/components/schemas/Role", "title": "Role" }))
}

fn title() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": Title::MAX_LEN, "title": "Title" })
}

fn description() -> Value {
    json!({ "type": "string", "maxLength": Description::MAX_LEN, "title": "Description" })
}

fn price() -> Value {
    json!({ "type": "number", "minimum": Price::MIN, "maximum": Price::MAX, "title": "Price" })
}

fn content() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": PostContent::MAX_LEN, "title": "Content" })
}

fn object(title: &str, properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "title": title, "properties": properties, "required": required })
}

named!(
    Role,
    "Role",
    json!({
        "type": "string",
        "enum": ["user", "moderator", "admin", "superuser"],
        "title": "Role",
        "description": "user: read; moderator: read, write; admin: read, write, delete; superuser: everything, and user management."
    })
);

named!(
    UserCreate,
    "UserCreate",
    |s| collect::<Role>(s),
    object(
        "UserCreate",
        json!({
            "email": email(),
            "is_active": { "type": "boolean", "default": true, "title": "Is Active" },
            "is_superuser": { "type": "boolean", "default": false, "title": "Is Superuser" },
            "full_name": nullable(full_name()),
            "password": password("Password"),
            "role": role(),
        }),
        &["email", "password"],
    )
);

named!(
    UserRegister,
    "UserRegister",
    object(
        "UserRegister",
        json!({ "email": email(), "password": password("Password"), "full_name": nullable(full_name()) }),
        &["email", "password"],
    )
);

named!(
    PrivateUserCreate,
    "PrivateUserCreate",
    object(
        "PrivateUserCreate",
        json!({
            "email": email(),
            "password": password("Password"),
            "full_name": full_name(),
            "is_verified": { "type": "boolean", "default": false, "title": "Is Verified" },
        }),
        &["email", "password", "full_name"],
    )
);

named!(
    UserUpdateMe,
    "UserUpdateMe",
    object(
        "UserUpdateMe",
        json!({ "full_name": nullable(full_name()), "email": nullable(email()) }),
        &[],
    )
);

named!(
    UserUpdate,
    "UserUpdate",
    |s| collect::<Role>(s),
    object(
        "UserUpdate",
        json!({
            "email": nullable(email()),
            "is_active": nullable(boolean("Is Active")),
            "is_superuser": nullable(boolean("Is Superuser")),
            "full_name": nullable(full_name()),
            "password": nullable(password("Password")),
            "role": role(),
        }),
        &[],
    )
);

named!(
    UpdatePassword,
    "UpdatePassword",
    object(
        "UpdatePassword",
        json!({ "current_password": password("Current Password"), "new_password": password("New Password") }),
        &["current_password", "new_password"],
    )
);

named!(
    NewItem,
    "ItemCreate",
    object(
        "ItemCreate",
        json!({
            "title": title(),
            "description": nullable(description()),
            "price": nullable(price()),
            "is_available": { "type": "boolean", "default": true, "title": "Is Available" },
        }),
        &["title"],
    )
);

named!(
    ItemChanges,
    "ItemUpdate",
    object(
        "ItemUpdate",
        json!({
            "title": nullable(title()),
            "description": nullable(description()),
            "price": nullable(price()),
            "is_available": nullable(boolean("Is Available")),
        }),
        &[],
    )
);

named!(
    NewPost,
    "PostCreate",
    object(
        "PostCreate",
        json!({
            "title": title(),
            "content": content(),
            "published": { "type": "boolean", "default": false, "title": "Published" },
        }),
        &["title", "content"],
    )
);

named!(
    PostChanges,
    "PostUpdate",
    object(
        "PostUpdate",
        json!({
            "title": nullable(title()),
            "content": nullable(content()),
            "published": nullable(boolean("Published")),
        }),
        &[],
    )
);

fn page<T: ToSchema>(title: &str, cursor: bool) -> Value {
    let mut properties = json!({
        "data": { "type": "array", "items": reference::<T>(), "title": "Data" },
        "count": { "type": "integer", "minimum": 0, "title": "Count" },
    });
    let mut required = vec!["data", "count"];
    if cursor {
        properties["next_cursor"] = nullable(json!({ "type": "string", "title": "Next Cursor" }));
        required.push("next_cursor");
    }
    object(title, properties, &required)
}

named!(
    Page<UserPublic>,
    "UsersPublic",
    |s| collect::<UserPublic>(s),
    page::<UserPublic>("UsersPublic", false)
);
named!(
    Page<ItemPublic>,
    "ItemsPublic",
    |s| collect::<ItemPublic>(s),
    page::<ItemPublic>("ItemsPublic", true)
);
named!(
    Page<PostPublic>,
    "PostsPublic",
    |s| collect::<PostPublic>(s),
    page::<PostPublic>("PostsPublic", true)
);

fn content_type() -> Value {
    let allowed: Vec<&str> = FileType::ALL.iter().map(|t| t.mime()).collect();
    json!({ "type": "string", "enum": allowed, "title": "Content Type" })
}

fn file_description() -> Value {
    nullable(json!({ "type": "string", "maxLength": 255, "title": "Description" }))
}

named!(
    NewUpload,
    "FileCreate",
    object(
        "FileCreate",
        json!({
            // The last path segment must keep a character that is not a control character,
            // white space or a dot: what `Filename::parse` keeps.
            "filename": {
                "type": "string",
                "minLength": 1,
                "maxLength": Filename::MAX_LEN,
                "pattern": "[^\\s\\x00-\\x1f\\x7f-\\x9f./\\\\][^/\\\\]*$",
                "title": "Filename"
            },
            "content_type": content_type(),
            "size": { "type": "integer", "minimum": 1, "title": "Size" },
            "description": file_description(),
        }),
        &["filename", "content_type", "size"],
    )
);

named!(
    FilePublic,
    "FilePublic",
    object(
        "FilePublic",
        json!({
            "id": { "type": "string", "format": "uuid", "title": "Id" },
            "owner_id": { "type": "string", "format": "uuid", "title": "Owner Id" },
            "filename": { "type": "string", "maxLength": Filename::MAX_LEN, "title": "Filename" },
            "content_type": content_type(),
            "size": { "type": "integer", "minimum": 0, "title": "Size" },
            "description": file_description(),
            "status": { "type": "string", "enum": ["pending", "processing", "ready", "rejected"], "title": "Status" },
            "reason": nullable(json!({ "type": "string", "title": "Reason" })),
            "has_thumbnail": { "type": "boolean", "title": "Has Thumbnail" },
            "created_at": { "type": "string", "format": "date-time", "title": "Created At" },
            "updated_at": { "type": "string", "format": "date-time", "title": "Updated At" },
        }),
        &[
            "id",
            "owner_id",
            "filename",
            "content_type",
            "size",
            "description",
            "status",
            "reason",
            "has_thumbnail",
            "created_at",
            "updated_at",
        ],
    )
);

named!(
    UploadPublic,
    "UploadPublic",
    object(
        "UploadPublic",
        json!({
            "url": { "type": "string", "format": "uri", "title": "Url" },
            "fields": {
                "type": "object",
                "additionalProperties": { "type": "string" },
                "title": "Fields",
                "description": "Form fields to POST before the file (the file goes last, as `file`)"
            },
            "expires_in": { "type": "integer", "minimum": 0, "title": "Expires In" },
        }),
        &["url", "fields", "expires_in"],
    )
);

named!(
    FileCreated,
    "FileCreated",
    |s| {
        collect::<FilePublic>(s);
        collect::<UploadPublic>(s);
    },
    object(
        "FileCreated",
        json!({ "file": reference::<FilePublic>(), "upload": reference::<UploadPublic>() }),
        &["file", "upload"],
    )
);

named!(
    Page<FilePublic>,
    "FilesPublic",
    |s| collect::<FilePublic>(s),
    page::<FilePublic>("FilesPublic", true)
);

/// `POST /files/upload`: the multipart form (FastAPI names such bodies `Body_<operation id>`).
pub struct UploadFileForm;

named!(
    UploadFileForm,
    "Body_files-upload_file",
    object(
        "Body_files-upload_file",
        json!({
            "file": { "type": "string", "format": "binary", "title": "File" },
            "description": file_description(),
        }),
        &["file"],
    )
);

impl PartialSchema for FieldError {
    fn schema() -> RefOr<Schema> {
        let mut error = schema(object(
            "ValidationError",
            json!({
                "loc": {
                    "type": "array",
                    "items": { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
                    "title": "Location"
                },
                "msg": { "type": "string", "title": "Message" },
                "type": { "type": "string", "title": "Error Type" },
                "ctx": { "type": "object", "title": "Context" },
            }),
            &["loc", "msg", "type"],
        ));
        // `input` is whatever the client sent: a schema of any type, which JSON cannot spell for
        // utoipa's parser.
        if let RefOr::T(Schema::Object(object)) = &mut error {
            let any = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .title(Some("Input"));
            object.properties.insert("input".into(), any.into());
        }
        error
    }
}

impl ToSchema for FieldError {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ValidationError")
    }
}

/// The 422 body: `{"detail": [ValidationError]}`.
pub struct HttpValidationError;

named!(
    HttpValidationError,
    "HTTPValidationError",
    |s| collect::<FieldError>(s),
    json!({
        "type": "object",
        "title": "HTTPValidationError",
        "properties": {
            "detail": { "type": "array", "items": reference::<FieldError>(), "title": "Detail" }
        }
    })
);

/// Every other error body: `{"detail": "<message>"}`.
pub struct HttpError;

named!(
    HttpError,
    "HTTPError",
    object(
        "HTTPError",
        json!({ "detail": { "type": "string", "title": "Detail" } }),
        &["detail"],
    )
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_literal_parses_into_a_schema() {
        let mut all = Vec::new();
        collect::<Page<UserPublic>>(&mut all);
        collect::<Page<ItemPublic>>(&mut all);
        collect::<Page<PostPublic>>(&mut all);
        collect::<UserCreate>(&mut all);
        collect::<UserRegister>(&mut all);
        collect::<PrivateUserCreate>(&mut all);
        collect::<UserUpdateMe>(&mut all);
        collect::<UserUpdate>(&mut all);
        collect::<UpdatePassword>(&mut all);
        collect::<NewItem>(&mut all);
        collect::<ItemChanges>(&mut all);
        collect::<NewPost>(&mut all);
        collect::<PostChanges>(&mut all);
        collect::<HttpValidationError>(&mut all);
        collect::<HttpError>(&mut all);
        let names: Vec<_> = all.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"UserPublic") && names.contains(&"ValidationError") && names.contains(&"Role"));
        let item = serde_json::to_value(NewItem::schema()).unwrap();
        assert_eq!(item["properties"]["title"]["maxLength"], 255);
        assert_eq!(item["required"], json!(["title"]));
    }
}
