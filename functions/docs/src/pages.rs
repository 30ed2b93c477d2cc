//! Swagger UI and Redoc, their assets (from npm, pinned by `tools/docs/package-lock.json`) built
//! into the binary.

use edge::Response;
use edge::{ApiError, ApiResult};
use lambda_http::http::{header, StatusCode};
use lambda_http::Body;

macro_rules! npm {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tools/docs/node_modules/",
            $path
        ))
    };
}

const SWAGGER_UI_JS: &str = npm!("swagger-ui-dist/swagger-ui-bundle.js");
const SWAGGER_UI_CSS: &str = npm!("swagger-ui-dist/swagger-ui.css");
/// Redoc's bundle without its one image from the web (see build.rs).
const REDOC_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/redoc.standalone.js"));

/// An asset under `/docs/`: its content type and bytes.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "swagger-ui-bundle.js" => Some(("text/javascript; charset=utf-8", SWAGGER_UI_JS)),
        "swagger-ui.css" => Some(("text/css; charset=utf-8", SWAGGER_UI_CSS)),
        "redoc.standalone.js" => Some(("text/javascript; charset=utf-8", REDOC_JS)),
        "swagger-ui-init.js" => Some(("text/javascript; charset=utf-8", SWAGGER_UI_INIT)),
        _ => None,
    }
}

/// What the pages may load: their scripts and styles from this API only, no inline script and
/// no eval, no frame around them. Styles may be inline (Redoc writes its styles into the page,
/// Swagger UI sets style attributes); Redoc's search index runs in a worker made from a blob.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
    worker-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The Swagger UI page's settings, FastAPI's, as a script of its own (the policy allows no inline
/// script). No OAuth2 redirect page: the password flow of "Authorize" needs none.
const SWAGGER_UI_INIT: &str = concat!(
    r##"window.ui = SwaggerUIBundle({
  url: ""##,
    "/api/v1/openapi.json",
    r##"",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
});
"##
);

/// A page or asset; assets may be cached for an hour (they change only with a deployment).
/// HTML pages carry [`CONTENT_SECURITY_POLICY`].
pub fn respond(content_type: &str, body: String, cacheable: bool) -> ApiResult<Response> {
    let mut response = lambda_http::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type);
    if content_type.starts_with("text/html") {
        response = response.header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    }
    response
        .header(
            header::CACHE_CONTROL,
            if cacheable { "public, max-age=3600" } else { "no-cache" },
        )
        .body(Body::Text(body))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// FastAPI's Swagger UI page: the password flow's "Authorize", "Try it out" against this API.
pub fn swagger_ui(title: &str) -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link type="text/css" rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/swagger-ui-init.js"></script>
</body>
</html>
"##,
        title = escape(title),
    )
}

/// FastAPI's Redoc page, without its web fonts (nothing is fetched but from the API).
pub fn redoc(title: &str) -> String {
    format!(
        r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires Javascript to function. Please enable it to browse the documentation.</noscript>
<redoc spec-url="{openapi}"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"##,
        title = escape(title),
        openapi = crate::OPENAPI_PATH,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swagger_ui_settings_load_this_document_and_the_pages_have_no_inline_script() {
        assert!(SWAGGER_UI_INIT.contains(&format!("url: \"{}\"", crate::OPENAPI_PATH)));
        for page in [swagger_ui("API"), redoc("API")] {
            assert!(!page.contains("<script>"), "{page}");
        }
        let page = respond("text/html; charset=utf-8", swagger_ui("API"), false).unwrap();
        assert_eq!(page.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert!(asset("oauth2-redirect.html").is_none());
    }
}
