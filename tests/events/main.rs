//! Every file in events/ goes through its function's real handler — the real binary, under the
//! runtime emulator, with lambda_http's own event parsing — and its answer is checked. A route of
//! template.yaml or of a function's router without an event file fails here, and so does an event
//! file that no longer matches a route.

use api_tests::{project_root, Stack};
use serde_json::Value;
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;

/// What each event file must get back: an HTTP status, or the records a batch must report failed.
fn expectations() -> BTreeMap<&'static str, Expect> {
    use Expect::*;
    BTreeMap::from([
        ("utils/health-check.json", Status(200)),
        ("utils/health-check-deep.json", Status(200)),
        ("utils/test-email.json", Status(201)),
        ("utils/test-email-no-token.json", Status(401)),
        ("login/access-token.json", Status(200)),
        ("login/access-token-wrong-password.json", Status(400)),
        ("login/test-token.json", Status(200)),
        ("login/mfa-invalid-token.json", Status(400)),
        ("login/refresh-token-invalid.json", Status(401)),
        ("login/logout.json", Status(200)),
        ("login/password-recovery.json", Status(200)),
        ("login/reset-password-invalid-token.json", Status(400)),
        ("login/password-recovery-html-content.json", Status(200)),
        ("users/list.json", Status(200)),
        ("users/create.json", Status(200)),
        ("users/read-me.json", Status(200)),
        ("users/update-me.json", Status(200)),
        ("users/delete-me-superuser.json", Status(403)),
        ("users/update-password-me-wrong-current.json", Status(400)),
        ("users/signup.json", Status(200)),
        ("users/read-user-unknown.json", Status(404)),
        ("users/update-user-unknown.json", Status(404)),
        ("users/delete-user-unknown.json", Status(404)),
        ("users/sessions.json", Status(200)),
        ("users/revoke-session-unknown.json", Status(404)),
        ("users/revoke-other-sessions.json", Status(200)),
        ("users/verify-email-invalid.json", Status(400)),
        ("users/send-verification-email-verified.json", Status(400)),
        ("users/setup-totp-wrong-password.json", Status(400)),
        ("users/confirm-totp-not-set-up.json", Status(400)),
        ("users/disable-two-factor-me-wrong-password.json", Status(400)),
        ("users/reset-two-factor-unknown.json", Status(404)),
        ("users/create-api-key.json", Status(201)),
        ("users/api-keys.json", Status(200)),
        ("users/delete-api-key-unknown.json", Status(404)),
        ("private/create-user.json", Status(200)),
        ("items/list.json", Status(200)),
        ("docs/openapi.json", Status(200)),
        ("docs/swagger-ui.json", Status(200)),
        ("docs/asset.json", Status(200)),
        ("docs/asset-unknown.json", Status(404)),
        ("docs/redoc.json", Status(200)),
        ("items/create.json", Status(200)),
        ("items/read-unknown.json", Status(404)),
        ("items/put-unknown.json", Status(404)),
        ("items/patch-unknown.json", Status(404)),
        ("items/delete-unknown.json", Status(404)),
        ("items/list-bad-cursor.json", Status(422)),
        ("posts/list.json", Status(200)),
        ("posts/public-feed.json", Status(200)),
        ("posts/create.json", Status(200)),
        ("posts/read-unknown.json", Status(404)),
        ("posts/put-unknown.json", Status(404)),
        ("posts/patch-unknown.json", Status(404)),
        ("posts/delete-unknown.json", Status(404)),
        ("posts/list-bad-cursor.json", Status(422)),
        ("realtime/connect.json", Status(200)),
        ("realtime/disconnect.json", Status(200)),
        ("realtime/default.json", Status(200)),
        ("realtime/ping.json", Status(200)),
        ("realtime/join.json", Status(200)),
        ("realtime/leave.json", Status(200)),
        ("realtime/send.json", Status(200)),
        ("realtime/private.json", Status(200)),
        ("realtime/invite.json", Status(200)),
        ("realtime/who.json", Status(200)),
        // A room, a retried shard and a user's connections; a room name no frame could carry fails alone.
        (
            "realtime/fan-out.json",
            Failed(&["6e1f6b5f-3333-4c59-9d0c-000000000004"]),
        ),
        (
            "realtime/notifications.json",
            Failed(&["5d0e5a4e-2222-4c59-9d0c-000000000002"]),
        ),
        ("files/create.json", Status(201)),
        ("files/create-type-not-allowed.json", Status(400)),
        ("files/create-too-large.json", Status(413)),
        ("files/upload.json", Status(201)),
        ("files/list.json", Status(200)),
        ("files/read-unknown.json", Status(404)),
        ("files/download-unknown.json", Status(404)),
        ("files/thumbnail-unknown.json", Status(404)),
        ("files/delete-unknown.json", Status(404)),
        ("thumbnails/s3-object-created.json", Failed(&[])),
        (
            "thumbnails/batch-with-poison.json",
            Failed(&["5a1e0c3e-2222-4c59-9d0c-000000000003"]),
        ),
        ("worker/send-email.json", Failed(&[])),
        ("worker/refresh-feed.json", Failed(&[])),
        ("worker/sweep.json", Swept),
        (
            "worker/batch-with-poison.json",
            Failed(&[
                "0b7f0c3e-1111-4c59-9d0c-000000000003",
                "0b7f0c3e-1111-4c59-9d0c-000000000004",
            ]),
        ),
    ])
}

#[derive(Debug, Clone, Copy)]
enum Expect {
    Status(u64),
    Failed(&'static [&'static str]),
    /// The deletion sweep's report.
    Swept,
}

/// A function of template.yaml: its logical id, its binary, and `(event type, route key)` of its events.
struct TemplateFunction {
    id: String,
    binary: String,
    events: Vec<(String, String)>,
}

fn template_functions() -> Vec<TemplateFunction> {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml");
    let template: Yaml = serde_yaml::from_str(&text).expect("template.yaml is YAML");
    let mut functions = Vec::new();
    for (id, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("Binary")
            .to_owned();
        let mut events = Vec::new();
        for (_, event) in resource["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let kind = event["Type"].as_str().unwrap_or_default().to_owned();
            let key = match kind.as_str() {
                "HttpApi" => format!(
                    "{} {}",
                    event["Properties"]["Method"].as_str().unwrap_or("ANY").to_uppercase(),
                    event["Properties"]["Path"].as_str().unwrap_or_default()
                ),
                _ => kind.clone(),
            };
            events.push((kind, key));
        }
        functions.push(TemplateFunction {
            id: id.as_str().expect("id").to_owned(),
            binary,
            events,
        });
    }
    functions
}

fn event_files(binary: &str) -> Vec<(String, Value)> {
    let dir = project_root().join("events").join(binary);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| panic!("events/{binary}/ is missing"))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = format!(
                "{binary}/{}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
            );
            let event = serde_json::from_str(&std::fs::read_to_string(&path).expect("read event"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, event)
        })
        .collect()
}

#[test]
fn every_template_route_has_an_event_file_and_every_file_a_route() {
    let mut problems = Vec::new();
    for TemplateFunction { id, binary, events } in template_functions() {
        let files = event_files(&binary);
        for (kind, key) in &events {
            let covered = files.iter().any(|(_, e)| match kind.as_str() {
                "HttpApi" => e["routeKey"] == key.as_str(),
                "SQS" => e["Records"].is_array(),
                "Schedule" => e["detail-type"] == "Scheduled Event",
                _ => true,
            });
            if !covered {
                problems.push(format!("{id}: no events/{binary}/ file for {key}"));
            }
        }
        for (name, event) in &files {
            if let Some(route_key) = event["routeKey"].as_str() {
                if !events.iter().any(|(_, key)| key == route_key) {
                    problems.push(format!("{name}: routeKey {route_key} is not a route of {id}"));
                }
            }
            if !expectations().contains_key(name.as_str()) {
                problems.push(format!("{name}: no expectation in tests/events/main.rs"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_websocket_route_of_the_template_has_an_event_file() {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml");
    let template: Yaml = serde_yaml::from_str(&text).expect("template.yaml is YAML");
    let keys: Vec<String> = template["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::ApiGatewayV2::Route"))
        .filter_map(|r| r["Properties"]["RouteKey"].as_str().map(str::to_owned))
        .collect();
    assert!(keys.iter().any(|k| k == "$connect"), "the template has a WebSocket API");
    let files: Vec<(String, Value)> = template_functions()
        .iter()
        .flat_map(|f| event_files(&f.binary))
        .collect();
    let missing: Vec<_> = keys
        .iter()
        .filter(|key| {
            !files
                .iter()
                .any(|(_, e)| e["requestContext"]["routeKey"] == key.as_str())
        })
        .collect();
    assert!(
        missing.is_empty(),
        "WebSocket routes without an event file: {missing:?}"
    );
}

/// The path pattern of a router route matches an event's raw path (`{name}` is one segment).
fn matches(pattern: &str, path: &str) -> bool {
    let pattern: Vec<_> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<_> = path.trim_matches('/').split('/').collect();
    pattern.len() == path.len() && pattern.iter().zip(&path).all(|(p, s)| p.starts_with('{') || p == s)
}

#[test]
fn every_route_of_every_function_router_has_an_event_file() {
    use edge::Api;
    fn table<A: Api>() -> Vec<(String, String)> {
        A::routes()
            .into_iter()
            .map(|(endpoint, _)| (endpoint.method.to_string(), endpoint.path.to_owned()))
            .collect()
    }
    let routers = [
        ("utils", table::<utils::Utils>()),
        ("login", table::<login::Login>()),
        ("users", table::<users::Users>()),
        ("private", table::<private::Private>()),
        ("items", table::<items::Items>()),
        ("posts", table::<posts::Posts>()),
        ("files", table::<files::Files>()),
    ];
    let mut missing = Vec::new();
    for (binary, routes) in routers {
        let files = event_files(binary);
        for (method, pattern) in routes {
            let covered = files.iter().any(|(_, e)| {
                e["requestContext"]["http"]["method"] == method.as_str()
                    && matches(&pattern, e["rawPath"].as_str().unwrap_or_default())
            });
            if !covered {
                missing.push(format!("events/{binary}/: nothing for {method} {pattern}"));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_event_file_is_answered_by_its_function() {
    let stack = Stack::shared();
    let expectations = expectations();
    let mut failures = Vec::new();
    for TemplateFunction { id, binary, .. } in template_functions() {
        for (name, mut event) in event_files(&binary) {
            if event["headers"]["authorization"]
                .as_str()
                .is_some_and(|a| a.contains("REPLACE_WITH_ACCESS_TOKEN"))
            {
                // A login of its own for each event: logout.json ends the login it is sent with.
                let token = stack.superuser_token();
                event["headers"]["authorization"] = Value::from(format!("Bearer {token}"));
            }
            if event["queryStringParameters"]["token"] == "REPLACE_WITH_ACCESS_TOKEN" {
                // A WebSocket $connect carries its token as a query parameter.
                let token = Value::from(stack.superuser_token());
                event["queryStringParameters"]["token"] = token.clone();
                event["multiValueQueryStringParameters"]["token"] = Value::Array(vec![token]);
            }
            let answer = api_tests::post_json(&stack.admin(&format!("/invoke/{id}")), &event, None);
            if answer.status != 200 {
                failures.push(format!(
                    "{name}: invocation failed ({}): {}",
                    answer.status, answer.text
                ));
                continue;
            }
            let result = answer.json();
            match expectations.get(name.as_str()) {
                Some(Expect::Status(status)) => {
                    if result["statusCode"].as_u64() != Some(*status) {
                        failures.push(format!("{name}: expected {status}, got {result}"));
                    }
                    let body = result["body"].as_str().unwrap_or_default();
                    let is_json = result["headers"]["content-type"]
                        .as_str()
                        .is_none_or(|t| t.starts_with("application/json"));
                    if is_json && serde_json::from_str::<Value>(body).is_err() {
                        failures.push(format!("{name}: body is not JSON: {body}"));
                    }
                    if result["headers"]["x-request-id"].as_str().is_none_or(str::is_empty) {
                        failures.push(format!("{name}: no x-request-id"));
                    }
                }
                Some(Expect::Failed(ids)) => {
                    let failed: Vec<&str> = result["batchItemFailures"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| f["itemIdentifier"].as_str())
                        .collect();
                    if failed != *ids {
                        failures.push(format!("{name}: expected failures {ids:?}, got {result}"));
                    }
                }
                Some(Expect::Swept) => {
                    if !(result["finished"].is_u64() && result["failed"] == 0) {
                        failures.push(format!("{name}: expected a sweep report, got {result}"));
                    }
                }
                None => failures.push(format!("{name}: no expectation")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(Path::new(&project_root().join("events")).is_dir());
}

/// The text of one top-level resource of template.yaml, up to the next line indented by
/// exactly two spaces (the next resource, or a comment above it).
fn resource_text<'a>(template: &'a str, id: &str) -> &'a str {
    let start = template
        .find(&format!("\n  {id}:\n"))
        .unwrap_or_else(|| panic!("{id} is in template.yaml"))
        + 1;
    let rest = &template[start..];
    let end = rest
        .match_indices("\n  ")
        .map(|(i, _)| i)
        .find(|&i| rest[i + 3..].starts_with(|c: char| !c.is_whitespace()))
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_function_is_in_the_errors_and_throttles_alarms() {
    let text = std::fs::read_to_string(project_root().join("template.yaml")).expect("template.yaml");
    for alarm in ["FunctionErrorsAlarm", "FunctionThrottlesAlarm"] {
        let block = resource_text(&text, alarm);
        for function in template_functions() {
            assert!(
                block.contains(&format!("Value: !Ref {}\n", function.id)),
                "{alarm} watches {}",
                function.id
            );
        }
        let ids: Vec<&str> = block
            .lines()
            .filter_map(|line| line.trim().strip_prefix("- Id: "))
            .filter(|id| *id != "total")
            .collect();
        let sums: Vec<&str> = block.lines().filter(|line| line.contains("FILL(")).collect();
        assert!(!sums.is_empty(), "{alarm} sums its metrics");
        for sum in sums {
            for id in &ids {
                // `private` exists outside prod only: the prod sum leaves it out.
                if *id == "private" && !sum.contains("FILL(private,0)") {
                    continue;
                }
                assert!(
                    sum.contains(&format!("FILL({id},0)")),
                    "{alarm}'s total adds {id}: {sum}"
                );
            }
        }
    }
}

/// The crates of ours a package's `Cargo.toml` names as dependencies (not dev-dependencies).
fn our_dependencies(package: &str) -> std::collections::BTreeSet<String> {
    let ours = ["domain", "contract", "edge", "adapters", "telemetry", "testkit"];
    let text = std::fs::read_to_string(project_root().join(package).join("Cargo.toml")).expect("Cargo.toml");
    let manifest: toml_lite::Table = toml_lite::parse(&text);
    manifest
        .section("dependencies")
        .into_iter()
        .filter(|name| ours.contains(&name.as_str()))
        .collect()
}

/// A reader of the one thing these tests need from a `Cargo.toml`: the keys of a section.
mod toml_lite {
    pub struct Table(Vec<(String, Vec<String>)>);

    pub fn parse(text: &str) -> Table {
        let mut sections: Vec<(String, Vec<String>)> = vec![(String::new(), Vec::new())];
        for line in text.lines().map(str::trim) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                sections.push((name.to_owned(), Vec::new()));
            } else if let Some((key, _)) = line.split_once('=') {
                if !line.starts_with('#') {
                    let key = key.trim().split('.').next().unwrap_or_default().to_owned();
                    if let Some(last) = sections.last_mut() {
                        last.1.push(key);
                    }
                }
            }
        }
        Table(sections)
    }

    impl Table {
        pub fn section(&self, name: &str) -> Vec<String> {
            self.0
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, keys)| keys.clone())
                .collect()
        }
    }
}

#[test]
fn the_architecture_map_is_what_the_manifests_say() {
    let doc = std::fs::read_to_string(project_root().join("docs/architecture.md")).expect("docs/architecture.md");
    let mut rows = 0;
    for line in doc.lines().filter(|l| l.starts_with("| ") && l.contains("`shared/")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (crate_name, folder, uses) = (cells[1], cells[2].trim_matches('`').trim_end_matches('/'), cells[3]);
        let documented: std::collections::BTreeSet<String> = uses
            .split(',')
            .map(str::trim)
            .filter(|u| *u != "—" && !u.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(our_dependencies(folder), documented, "{crate_name} ({folder})");
        rows += 1;
    }
    assert_eq!(rows, 6, "one row per crate of shared/");
    // The functions that no HTTP API invokes stay off the HTTP edge, as the map draws them.
    for function in ["worker", "realtime", "thumbnails"] {
        let text = std::fs::read_to_string(project_root().join(format!("functions/{function}/Cargo.toml")))
            .expect("Cargo.toml");
        let dependencies = toml_lite::parse(&text).section("dependencies");
        for edge in ["edge", "lambda_http"] {
            assert!(!dependencies.iter().any(|d| d == edge), "{function} depends on {edge}");
        }
    }
}
