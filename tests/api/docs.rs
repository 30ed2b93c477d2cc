//! The OpenAPI document against the code and the template: every function routes exactly the
//! operations `contract::api` declares for it (the document is built from those declarations),
//! and `template.yaml` sends each path to the function that has it. Then the docs function
//! itself, through the local stack.

use api_tests::{get, project_root, Stack};
use domain::config::Stage;
use edge::Api;
use serde_json::Value;
use std::collections::BTreeSet;

type Routes = BTreeSet<(String, String)>;

fn routes<A: Api>() -> Routes {
    A::routes()
        .into_iter()
        .map(|(endpoint, _)| (endpoint.method.to_string(), endpoint.path.to_owned()))
        .collect()
}

/// Each function binary of the template and its routes (the `Binary` of its build metadata).
fn function_routes(binary: &str) -> Routes {
    match binary {
        "utils" => routes::<utils::Utils>(),
        "login" => routes::<login::Login>(),
        "users" => routes::<users::Users>(),
        "private" => routes::<private::Private>(),
        "items" => routes::<items::Items>(),
        "posts" => routes::<posts::Posts>(),
        "files" => routes::<files::Files>(),
        "docs" => routes::<docs::Docs>(),
        other => panic!("template.yaml has a function with HttpApi routes this test does not know: {other}"),
    }
}

fn document() -> Value {
    docs::document(Stage::Local, "Serverless Backend")
}

fn documented(doc: &Value) -> Routes {
    let mut found = Routes::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            found.insert((method.to_uppercase(), path.clone()));
        }
    }
    found
}

/// `(binary, route path, method)` of every HttpApi event in the template.
fn template_routes() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml parses");
    let mut found = Vec::new();
    for (_, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_default();
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let properties = &event["Properties"];
                found.push((
                    binary.to_owned(),
                    properties["Path"].as_str().expect("Path").to_owned(),
                    properties["Method"].as_str().expect("Method").to_owned(),
                ));
            }
        }
    }
    found
}

fn segments(path: &str) -> Vec<&str> {
    path.trim_end_matches('/').split('/').skip(1).collect()
}

/// Whether an HTTP API route (`/a/{id}`, `/a/{proxy+}`; `/x/` reaches `/x`) takes `path`.
fn routed(route: &str, method: &str, path: &str, path_method: &str) -> bool {
    if method != "ANY" && !method.eq_ignore_ascii_case(path_method) {
        return false;
    }
    let (route, path) = (segments(route), segments(path));
    for (i, part) in route.iter().enumerate() {
        if part.ends_with("+}") {
            return path.len() > i;
        }
        match path.get(i) {
            Some(segment) if part.starts_with('{') || part == segment => {}
            _ => return false,
        }
    }
    route.len() == path.len()
}

/// `(binary, logical id, kind)` of each line of `functions.txt`, the one list of the functions.
fn listed_functions() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(project_root().join("functions.txt")).expect("functions.txt");
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
            [binary, id, kind] => (binary.to_owned(), id.to_owned(), kind.to_owned()),
            _ => panic!("functions.txt: not `binary LogicalId kind`: {line}"),
        })
        .collect()
}

#[test]
fn functions_txt_lists_every_function_of_the_template_and_nothing_else() {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml");
    let template: serde_yaml::Value = serde_yaml::from_str(&text).expect("template.yaml parses");
    let mut in_template = BTreeSet::new();
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str();
            in_template.insert((
                binary.unwrap_or_default().to_owned(),
                id.as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    let listed = listed_functions();
    let in_list: BTreeSet<_> = listed
        .iter()
        .map(|(binary, id, _)| (binary.clone(), id.clone()))
        .collect();
    assert_eq!(
        in_list, in_template,
        "functions.txt against template.yaml (binary, logical id)"
    );
    for (binary, _, kind) in &listed {
        assert!(
            ["http", "docs", "websocket", "queue"].contains(&kind.as_str()),
            "functions.txt: {binary} has an unknown kind {kind}"
        );
        assert!(
            project_root()
                .join("functions")
                .join(binary)
                .join("Cargo.toml")
                .exists(),
            "functions.txt: no crate functions/{binary}"
        );
    }
}

#[test]
fn every_function_routes_the_operations_its_contract_declares_and_no_other() {
    fn ids<A: Api>() -> BTreeSet<String> {
        A::routes()
            .into_iter()
            .map(|(endpoint, _)| endpoint.id.to_owned())
            .collect()
    }
    for (function, operations) in contract::api::FUNCTIONS {
        let routed = match *function {
            "utils" => ids::<utils::Utils>(),
            "login" => ids::<login::Login>(),
            "users" => ids::<users::Users>(),
            "private" => ids::<private::Private>(),
            "items" => ids::<items::Items>(),
            "posts" => ids::<posts::Posts>(),
            "files" => ids::<files::Files>(),
            other => panic!("contract::api declares a function this test does not know: {other}"),
        };
        let declared: BTreeSet<String> = operations.iter().map(|op| op.endpoint.id.to_owned()).collect();
        assert_eq!(routed, declared, "{function}");
    }
}

#[test]
fn every_route_of_every_api_function_is_documented_and_nothing_else() {
    let mut code = Routes::new();
    for (binary, _, kind) in listed_functions() {
        if kind == "http" {
            code.extend(function_routes(&binary));
        }
    }
    let doc = documented(&document());
    let undocumented: Vec<_> = code.difference(&doc).collect();
    let unknown: Vec<_> = doc.difference(&code).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the document: {undocumented:?}"
    );
    assert!(unknown.is_empty(), "documented operations no function has: {unknown:?}");
}

#[test]
fn the_template_routes_every_documented_path_to_the_function_that_has_it() {
    let template = template_routes();
    let mut documented_and_docs = documented(&document());
    documented_and_docs.extend(function_routes("docs"));
    for (method, path) in &documented_and_docs {
        let owners: BTreeSet<&str> = template
            .iter()
            .filter(|(_, route, route_method)| routed(route, route_method, path, method))
            .map(|(binary, _, _)| binary.as_str())
            .collect();
        assert_eq!(owners.len(), 1, "{method} {path} is routed to {owners:?}");
        let owner = owners.into_iter().next().unwrap_or_default();
        assert!(
            function_routes(owner).contains(&(method.clone(), path.clone())),
            "{method} {path} is routed to {owner}, which has no such route"
        );
    }
}

#[test]
fn every_httpapi_route_of_the_template_is_in_the_document() {
    let doc = documented(&document());
    let docs_function = function_routes("docs");
    for (binary, route, method) in template_routes() {
        // The docs function's own pages are not operations of the API, as in FastAPI.
        let within = if binary == "docs" { &docs_function } else { &doc };
        assert!(
            within.iter().any(|(m, path)| routed(&route, &method, path, m)),
            "{method} {route} ({binary}) routes nothing that is documented"
        );
    }
}

#[test]
fn route_matching_follows_http_apis() {
    assert!(routed(
        "/api/v1/users/{proxy+}",
        "ANY",
        "/api/v1/users/{user_id}",
        "GET"
    ));
    assert!(routed(
        "/api/v1/reset-password",
        "ANY",
        "/api/v1/reset-password/",
        "POST"
    ));
    assert!(!routed("/api/v1/users/{proxy+}", "ANY", "/api/v1/users/", "GET"));
    assert!(routed("/api/v1/users", "ANY", "/api/v1/users/", "GET"));
    assert!(!routed("/api/v1/items/{id}", "GET", "/api/v1/items/{id}", "DELETE"));
    assert!(!routed("/api/v1/items/{id}", "ANY", "/api/v1/items/{id}/x", "GET"));
}

#[test]
fn the_stack_serves_the_document_and_both_pages() {
    let stack = Stack::shared();
    let served = get(&format!("{}/api/v1/openapi.json", stack.url));
    assert_eq!(served.status, 200, "{}", served.text);
    assert!(served
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    let served = served.json();
    let mut expected = document();
    // The local stage names the project the same way; compare all but the title.
    expected["info"]["title"] = served["info"]["title"].clone();
    assert_eq!(served, expected);

    let swagger = get(&format!("{}/docs", stack.url));
    assert_eq!(swagger.status, 200);
    assert!(swagger.text.contains("/docs/swagger-ui-bundle.js") && swagger.text.contains("/docs/swagger-ui-init.js"));
    let init = get(&format!("{}/docs/swagger-ui-init.js", stack.url));
    assert!(init.text.contains("url: \"/api/v1/openapi.json\""), "{}", init.text);
    let redoc = get(&format!("{}/redoc/", stack.url));
    assert_eq!(redoc.status, 200);
    assert!(redoc.text.contains("/docs/redoc.standalone.js"));
    for (asset, kind) in [
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("redoc.standalone.js", "text/javascript"),
        ("swagger-ui-init.js", "text/javascript"),
    ] {
        let answer = get(&format!("{}/docs/{asset}", stack.url));
        assert_eq!(answer.status, 200, "{asset}");
        assert!(
            answer.header("content-type").is_some_and(|t| t.starts_with(kind)),
            "{asset}"
        );
        assert!(answer.text.len() > 100, "{asset}");
    }
    // The password flow needs no OAuth2 redirect page, so none is served.
    assert_eq!(get(&format!("{}/docs/oauth2-redirect", stack.url)).status, 404);
    for page in [&swagger, &redoc] {
        let policy = page.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{policy}"
        );
    }
    assert_eq!(get(&format!("{}/docs/secrets.txt", stack.url)).status, 404);
}
