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
const OAUTH2_REDIRECT: &str = npm!("swagger-ui-dist/oauth2-redirect.html");
const OAUTH2_REDIRECT_JS: &str = npm!("swagger-ui-dist/oauth2-redirect.js");
/// Redoc's bundle without its one image from the web (see build.rs).
const REDOC_JS: &str = include_str!(concat!(env!("OUT_DIR"), "/redoc.standalone.js"));

/// An asset under `/docs/`: its content type and bytes.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "swagger-ui-bundle.js" => Some(("text/javascript; charset=utf-8", SWAGGER_UI_JS)),
        "swagger-ui.css" => Some(("text/css; charset=utf-8", SWAGGER_UI_CSS)),
        "redoc.standalone.js" => Some(("text/javascript; charset=utf-8", REDOC_JS)),
        // The page of the OAuth2 redirect flows; it loads its script from beside it.
        "oauth2-redirect" | "oauth2-redirect.html" => Some(("text/html; charset=utf-8", OAUTH2_REDIRECT)),
        "oauth2-redirect.js" => Some(("text/javascript; charset=utf-8", OAUTH2_REDIRECT_JS)),
        _ => None,
    }
}

/// A page or asset; assets may be cached for an hour (they change only with a deployment).
pub fn respond(content_type: &str, body: String, cacheable: bool) -> ApiResult<Response> {
    lambda_http::http::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
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
<script>
window.ui = SwaggerUIBundle({{
  url: "{openapi}",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  oauth2RedirectUrl: window.location.origin + "/docs/oauth2-redirect",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]
}});
</script>
</body>
</html>
"##,
        title = escape(title),
        openapi = crate::OPENAPI_PATH,
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
