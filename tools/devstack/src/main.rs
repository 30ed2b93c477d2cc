//! `devstack`: the whole API on localhost, for real.
//!
//! `devstack up` starts moto, creates in it what template.yaml declares, bootstraps the first
//! superuser, serves every HttpApi route through the real function binaries under a Lambda
//! Runtime API emulator, and feeds SQS queues to their functions like Lambda's event source
//! mappings. `devstack invoke <Function> -e <event.json>` sends one event to a running stack;
//! `devstack bootstrap` creates the first superuser of a deployed stage.

use adapters::aws::AwsConfig;
use adapters::store::Table;
use devstack::gateway::{self, Route};
use devstack::runtime::{Function, FunctionSpec};
use devstack::template::{self, scalar_string, Template};
use devstack::{moto, provision, schedule, sqs, Stack};
use domain::{Email, Password};
use serde_json::{json, Value};
use serde_yaml::Value as Yaml;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "devstack: the whole API on localhost (moto, the resources of template.yaml, the real
function binaries), and the first superuser of a deployed stage.

usage:
  devstack up [--port PORT] [--stage local] [--param Name=Value]... [--template template.yaml]
              [--bin-dir DIR] [--max-instances 4] [--exit-with-parent PID]
      serves the stack until Ctrl-C; prints `READY <url>` once it answers
  devstack invoke <FunctionLogicalId> -e <event.json> [--token <access token>] [--url URL]
      sends one event to a function of the running stack, like `sam local invoke -e`; --token
      takes the place of REPLACE_WITH_ACCESS_TOKEN in the event (the file stays as it is)
  devstack emails [--url URL]
      the emails the running stack has sent (SES in the emulator keeps them)
  devstack bootstrap --table <AppTableName> --stage dev|prod [--region REGION]
      creates the first superuser of a deployed stage in its table, from FIRST_SUPERUSER and
      FIRST_SUPERUSER_PASSWORD; AWS credentials and region come from the SDK's usual chain
      (AWS_PROFILE and ~/.aws/config, SSO after `aws sso login`, AWS_ACCESS_KEY_ID, ...)
  devstack --help

PORT (default 9000) is where `up` listens and where `invoke` and `emails` find the stack,
unless --port or --url says otherwise.";

/// `--help` or `-h` anywhere, or `help` as the command.
fn wants_help(args: &[String]) -> bool {
    args.first().is_some_and(|a| a == "help") || args.iter().any(|a| a == "--help" || a == "-h")
}

/// `PORT`, or 9000: where `make run` serves the stack, and where the other commands find it.
fn default_port() -> Result<u16, String> {
    match std::env::var("PORT") {
        Ok(port) if !port.trim().is_empty() => port
            .trim()
            .parse()
            .map_err(|_| format!("PORT={port} is not a port number")),
        _ => Ok(9000),
    }
}

#[derive(Debug)]
struct UpOptions {
    port: u16,
    stage: String,
    params: Vec<(String, String)>,
    template: PathBuf,
    bin_dir: PathBuf,
    max_instances: usize,
    parent: Option<u32>,
    /// Functions reach the emulator through the capacity meter (`make capacity`).
    meter: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if wants_help(&args) {
        println!("{USAGE}");
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => fail(format!("cannot start the async runtime: {err}")),
    };
    let outcome = match args.first().map(String::as_str) {
        Some("up") => parse_up(&args[1..]).and_then(|options| runtime.block_on(up(options))),
        Some("invoke") => invoke(&args[1..]),
        Some("emails") => emails(&args[1..]),
        Some("bootstrap") => runtime.block_on(bootstrap(&args[1..])),
        _ => Err(USAGE.to_owned()),
    };
    if let Err(err) = outcome {
        fail(err);
    }
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("devstack: {message}");
    std::process::exit(1)
}

fn flag_value<'a>(args: &'a [String], i: &mut usize, name: &str) -> Result<&'a str, String> {
    *i += 1;
    args.get(*i)
        .map(String::as_str)
        .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
}

fn project_root() -> Result<PathBuf, String> {
    let mut dir = std::env::current_dir().map_err(|e| e.to_string())?;
    loop {
        if dir.join("template.yaml").exists() {
            return Ok(dir);
        }
        if !dir.pop() {
            return Err("no template.yaml here or in a parent folder; run from the project".into());
        }
    }
}

fn parse_up(args: &[String]) -> Result<UpOptions, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let port = default_port()?;
    let mut options = UpOptions {
        port,
        stage: "local".into(),
        params: Vec::new(),
        template: PathBuf::new(),
        bin_dir: exe_dir,
        max_instances: 4,
        meter: false,
        parent: None,
    };
    let mut template = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" => {
                options.port = flag_value(args, &mut i, "--port")?
                    .parse()
                    .map_err(|_| "--port takes a number".to_owned())?
            }
            "--stage" => options.stage = flag_value(args, &mut i, "--stage")?.to_owned(),
            "--param" => {
                let pair = flag_value(args, &mut i, "--param")?;
                let (k, v) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("--param takes Name=Value, got {pair}"))?;
                options.params.push((k.to_owned(), v.to_owned()));
            }
            "--template" => template = Some(PathBuf::from(flag_value(args, &mut i, "--template")?)),
            "--bin-dir" => options.bin_dir = PathBuf::from(flag_value(args, &mut i, "--bin-dir")?),
            "--meter" => options.meter = true,
            "--max-instances" => {
                options.max_instances = flag_value(args, &mut i, "--max-instances")?
                    .parse()
                    .map_err(|_| "--max-instances takes a number".to_owned())?
            }
            "--exit-with-parent" => {
                options.parent = Some(
                    flag_value(args, &mut i, "--exit-with-parent")?
                        .parse()
                        .map_err(|_| "--exit-with-parent takes a pid".to_owned())?,
                )
            }
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
        i += 1;
    }
    options.template = match template {
        Some(path) => path,
        None => project_root()?.join("template.yaml"),
    };
    options.params.push(("Stage".into(), options.stage.clone()));
    Ok(options)
}

fn say(message: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "devstack: {message}");
    let _ = out.flush();
}

async fn up(options: UpOptions) -> Result<(), String> {
    let root = options.template.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut template = Template::load(&options.template, "local", &options.params).map_err(|e| e.to_string())?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port))
        .await
        .map_err(|e| {
            format!(
                "cannot listen on 127.0.0.1:{}: {e} (is another stack running? `make run PORT=9001`, or `devstack up --port 9001`)",
                options.port
            )
        })?;
    let api_url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().map_err(|e| e.to_string())?.port()
    );

    let moto_port = moto::free_port().map_err(|e| e.to_string())?;
    // One log per stack: tests run several stacks at once.
    let moto_log_path = root.join(format!("target/devstack-moto-{moto_port}.log"));
    let moto_log = std::fs::File::create(&moto_log_path)
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null());
    let moto = moto::Moto::start(&moto::python(&root), &moto::launcher(&root), moto_port, moto_log)
        .await
        .map_err(|e| e.to_string())?;
    say(format!(
        "emulator (moto) on {}, log {}",
        moto.endpoint,
        moto_log_path.display()
    ));

    let aws_env = aws_env(&moto.endpoint);
    let aws_pairs: Vec<(&str, &str)> = aws_env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let aws = AwsConfig::from_env(&EnvList(&aws_pairs)).map_err(|e| e.to_string())?;

    let queues = provision::provision(&mut template, &aws)
        .await
        .map_err(|e| e.to_string())?;
    let resources: HashMap<String, String> = template
        .physical
        .iter()
        .map(|(id, p)| (id.clone(), p.reference.clone()))
        .collect();
    say(format!(
        "created {} resources from {}",
        resources.len(),
        options.template.display()
    ));
    verify_sender(&template, &aws).await?;
    bootstrap_superuser(&template, &aws).await?;

    // Local stand-ins for what CloudFormation would name: the APIs and the functions themselves.
    for kind in [
        "AWS::Serverless::HttpApi",
        "AWS::Serverless::Function",
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Integration",
    ] {
        for (id, _) in template.resources(kind).map_err(|e| e.to_string())? {
            let arn = format!(
                "arn:aws:lambda:{}:{}:function:{id}",
                template::REGION,
                template::ACCOUNT
            );
            template.physical.insert(
                id.clone(),
                template::Physical {
                    reference: id,
                    attributes: HashMap::from([("Arn".to_owned(), arn)]),
                },
            );
        }
    }
    let websocket = websocket_api(&template)?;
    let mut aws_env = aws_env.clone();
    let meter = if options.meter {
        let (meter, url) = devstack::meter::Meter::start(&moto.endpoint).await?;
        say(format!(
            "capacity meter on {url}: every AWS call of the functions is recorded"
        ));
        for (key, value) in aws_env.iter_mut() {
            if key == "AWS_ENDPOINT_URL" {
                *value = url.clone();
            }
        }
        Some(meter)
    } else {
        None
    };
    if let Some(ws) = &websocket {
        // The functions' Management API clients reach this stack's WebSocket API.
        aws_env.push((
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI".to_owned(),
            format!("{api_url}/{}", ws.stage),
        ));
    }
    let secrets_dir = root.join(".local/secrets");
    let mut functions = HashMap::new();
    let mut routes = Vec::new();
    let mut mappings = Vec::new();
    let mut schedules = Vec::new();
    for (id, props) in template
        .resources("AWS::Serverless::Function")
        .map_err(|e| e.to_string())?
    {
        let spec = function_spec(&template, &id, &props, &options, &aws_env, &secrets_dir)?;
        if !spec.binary.exists() {
            return Err(format!(
                "{id}: binary {} not found; build first (`make run` does)",
                spec.binary.display()
            ));
        }
        let function = Function::new(spec);
        if let Some(meter) = &meter {
            function.metered(meter.clone());
        }
        for (event_id, event) in props.get("Events").and_then(Yaml::as_mapping).into_iter().flatten() {
            let event_props = template
                .resolve(event.get("Properties").unwrap_or(&Yaml::Null))
                .map_err(|e| e.to_string())?;
            match event.get("Type").and_then(Yaml::as_str) {
                Some("HttpApi") => {
                    let path = event_props
                        .get("Path")
                        .and_then(scalar_string)
                        .unwrap_or_else(|| "/{proxy+}".into());
                    let method = event_props
                        .get("Method")
                        .and_then(scalar_string)
                        .unwrap_or_else(|| "ANY".into());
                    routes.push(Route::new(&method, &path, function.clone()));
                }
                Some("SQS") => {
                    let arn = event_props.get("Queue").and_then(scalar_string).unwrap_or_default();
                    let queue = queues
                        .iter()
                        .find(|q| q.arn == arn)
                        .cloned()
                        .ok_or_else(|| format!("{id}.{event_id:?}: unknown queue {arn}"))?;
                    let batch_size = event_props
                        .get("BatchSize")
                        .and_then(scalar_string)
                        .and_then(|b| b.parse().ok())
                        .unwrap_or(10);
                    let report = event_props
                        .get("FunctionResponseTypes")
                        .and_then(Yaml::as_sequence)
                        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures")));
                    mappings.push(sqs::Mapping {
                        queue,
                        function: function.clone(),
                        batch_size,
                        report_batch_item_failures: report,
                    });
                }
                Some("Schedule") => {
                    let expression = event_props.get("Schedule").and_then(scalar_string).unwrap_or_default();
                    let rule = format!("{id}-{}", event_id.as_str().unwrap_or("Schedule"));
                    match schedule::rate(&expression) {
                        Some(every) => schedules.push((rule, every, function.clone())),
                        None => say(format!("{rule}: {expression} is not run locally (only rate(...) is)")),
                    }
                }
                _ => {}
            }
        }
        functions.insert(id, function);
    }
    gateway::sort_routes(&mut routes);
    let websocket = match websocket {
        Some(spec) => Some(Arc::new(spec.build(&functions)?)),
        None => None,
    };

    let stack = Arc::new(Stack {
        routes,
        functions,
        queues,
        resources,
        moto_endpoint: moto.endpoint.clone(),
        moto: tokio::sync::Mutex::new(moto),
        aws: aws.clone(),
        websocket: websocket.clone(),
        meter,
    });
    for (rule, every, function) in schedules {
        say(format!(
            "invoking {} every {} s ({rule})",
            function.spec.logical_id,
            every.as_secs()
        ));
        tokio::spawn(schedule::run(rule, every, function));
    }
    for mapping in mappings {
        say(format!(
            "feeding {} to {}",
            mapping.queue.logical_id, mapping.function.spec.logical_id
        ));
        tokio::spawn(sqs::run(mapping, aws.sqs()));
    }
    for route in &stack.routes {
        say(format!(
            "route {} -> {}",
            route.route_key, route.function.spec.logical_id
        ));
    }
    tokio::spawn(gateway::serve(listener, stack.clone()));
    if let Some(ws) = &websocket {
        let mut routes: Vec<_> = ws.routes.keys().map(String::as_str).collect();
        routes.sort_unstable();
        let ws_url = format!("{}/{}", api_url.replacen("http://", "ws://", 1), ws.stage);
        say(format!(
            "WebSocket API on {ws_url}?token=<access token> (routes {}), its Management API on {api_url}/{}/@connections",
            routes.join(", "),
            ws.stage
        ));
        println!("WEBSOCKET {ws_url}");
    }
    say(format!(
        "API on {api_url} (try {api_url}/api/v1/utils/health-check/); emails sent: {api_url}/_devstack/emails"
    ));
    println!("READY {api_url}");
    let _ = std::io::stdout().flush();

    wait_for_shutdown(options.parent).await;
    say("stopping");
    stack.moto.lock().await.stop().await;
    Ok(())
}

async fn wait_for_shutdown(parent: Option<u32>) {
    let parent_gone = async {
        match parent {
            Some(pid) => loop {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            },
            None => std::future::pending::<()>().await,
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
        _ = parent_gone => {}
    }
}

/// The template's WebSocket API (one at most): its stage, route selection and routes, each
/// route's function found through its integration's URI.
struct WebSocketSpec {
    api_id: String,
    stage: String,
    selection_field: String,
    /// (route key, the function ARN its integration invokes)
    routes: Vec<(String, String)>,
}

impl WebSocketSpec {
    fn build(self, functions: &HashMap<String, Arc<Function>>) -> Result<devstack::websocket::WebSocketApi, String> {
        let mut routes = HashMap::new();
        for (key, uri) in self.routes {
            let function = functions
                .iter()
                .find(|(id, _)| uri.contains(&format!(":function:{id}/")))
                .map(|(_, f)| f.clone())
                .ok_or_else(|| format!("WebSocket route {key}: no function of the template in {uri}"))?;
            routes.insert(key, function);
        }
        Ok(devstack::websocket::WebSocketApi::new(
            self.api_id,
            self.stage,
            self.selection_field,
            routes,
        ))
    }
}

fn websocket_api(template: &Template) -> Result<Option<WebSocketSpec>, String> {
    let text = |value: Option<&Yaml>| -> Result<String, String> {
        value
            .map(|v| template.resolve_string(v).map_err(|e| e.to_string()))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let apis = template
        .resources("AWS::ApiGatewayV2::Api")
        .map_err(|e| e.to_string())?;
    let Some((api_id, props)) = apis
        .into_iter()
        .find(|(_, p)| p.get("ProtocolType").and_then(Yaml::as_str) == Some("WEBSOCKET"))
    else {
        return Ok(None);
    };
    let selection = text(props.get("RouteSelectionExpression"))?;
    let selection_field = selection
        .strip_prefix("$request.body.")
        .ok_or_else(|| format!("{api_id}: route selection {selection:?} is not $request.body.<field>"))?
        .to_owned();
    let of_api = |props: &Yaml| text(props.get("ApiId")).is_ok_and(|id| id == api_id);
    let stage = template
        .resources("AWS::ApiGatewayV2::Stage")
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|(_, p)| of_api(p))
        .map(|(_, p)| text(p.get("StageName")))
        .transpose()?
        .ok_or_else(|| format!("{api_id}: no stage"))?;
    let integrations = template
        .resources("AWS::ApiGatewayV2::Integration")
        .map_err(|e| e.to_string())?;
    let mut routes = Vec::new();
    for (id, props) in template
        .resources("AWS::ApiGatewayV2::Route")
        .map_err(|e| e.to_string())?
    {
        if !of_api(&props) {
            continue;
        }
        let key = text(props.get("RouteKey"))?;
        let target = text(props.get("Target"))?;
        let integration = target
            .strip_prefix("integrations/")
            .ok_or_else(|| format!("{id}: target {target:?} is not integrations/<id>"))?;
        let uri = integrations
            .iter()
            .find(|(integration_id, _)| integration_id == integration)
            .map(|(_, p)| text(p.get("IntegrationUri")))
            .transpose()?
            .ok_or_else(|| format!("{id}: unknown integration {integration}"))?;
        routes.push((key, uri));
    }
    Ok(Some(WebSocketSpec {
        api_id,
        stage,
        selection_field,
        routes,
    }))
}

struct EnvList<'a>(&'a [(&'a str, &'a str)]);

impl domain::config::Env for EnvList<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }
}

/// What Lambda would give the function, pointed at the emulator.
fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_REGION", template::REGION),
        ("AWS_DEFAULT_REGION", template::REGION),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_SESSION_TOKEN", "testing"),
        ("AWS_ENDPOINT_URL", endpoint),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

fn function_spec(
    template: &Template,
    id: &str,
    props: &Yaml,
    options: &UpOptions,
    aws_env: &[(String, String)],
    secrets_dir: &Path,
) -> Result<FunctionSpec, String> {
    let binary = template
        .resource(id)
        .and_then(|r| r.get("Metadata"))
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Yaml::as_str)
        .ok_or_else(|| format!("{id}: Metadata.BuildProperties.Binary names no binary"))?;
    let setting = |key: &str| {
        props
            .get(key)
            .or_else(|| template.function_global(key))
            .and_then(scalar_string)
    };
    let timeout = setting("Timeout").and_then(|t| t.parse().ok()).unwrap_or(3);
    let memory_mb = setting("MemorySize").and_then(|m| m.parse().ok()).unwrap_or(128);
    let mut env: Vec<(String, String)> = aws_env.to_vec();
    let globals = template.function_global("Environment").and_then(|e| e.get("Variables"));
    let own = props.get("Environment").and_then(|e| e.get("Variables"));
    for variables in [globals, own].into_iter().flatten() {
        for (name, value) in variables.as_mapping().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default().to_owned();
            let mut value = template
                .resolve_string(value)
                .map_err(|e| format!("{id}: {name}: {e}"))?;
            if value.contains("{{resolve:") {
                value = local_secret(&name, secrets_dir)?;
            }
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
        }
    }
    Ok(FunctionSpec {
        env,
        timeout: Duration::from_secs(timeout),
        memory_mb,
        max_instances: options.max_instances,
        ..FunctionSpec::new(id, options.bin_dir.join(binary))
    })
}

/// A dynamic reference (`{{resolve:secretsmanager:…}}`) has no Secrets Manager behind it here:
/// the value comes from the variable of the same name in devstack's environment, or from a
/// random secret generated once and kept in `.local/secrets/`, so tokens survive restarts.
fn local_secret(name: &str, dir: &Path) -> Result<String, String> {
    if let Ok(value) = std::env::var(name) {
        return Ok(value);
    }
    let path = dir.join(name);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        if !existing.trim().is_empty() {
            return Ok(existing.trim().to_owned());
        }
    }
    let secret = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // Stacks may start together: the first to create the file wins, the others read it.
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => {
            use std::io::Write as _;
            file.write_all(secret.as_bytes())
                .map_err(|e| format!("cannot keep {}: {e}", path.display()))?;
            Ok(secret)
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            for _ in 0..50 {
                let existing = std::fs::read_to_string(&path).unwrap_or_default();
                if !existing.trim().is_empty() {
                    return Ok(existing.trim().to_owned());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(format!("{} stays empty", path.display()))
        }
        Err(err) => Err(format!("cannot keep {}: {err}", path.display())),
    }
}

async fn verify_sender(template: &Template, aws: &AwsConfig) -> Result<(), String> {
    let Some(sender) = template.parameter("EmailsFromEmail") else {
        return Ok(());
    };
    match aws.ses().create_email_identity().email_identity(sender).send().await {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(|e| e.is_already_exists_exception()) => Ok(()),
        Err(err) => Err(format!(
            "verifying {sender} in SES: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(&err)
        )),
    }
}

/// The first superuser of a deployed stage, written straight to its table. Unlike a function,
/// this runs on a laptop or in CI: credentials and region come from the SDK's own chain.
async fn bootstrap(args: &[String]) -> Result<(), String> {
    let (mut table, mut stage, mut region) = (None, None, None);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--table" => table = Some(flag_value(args, &mut i, "--table")?.to_owned()),
            "--stage" => stage = Some(flag_value(args, &mut i, "--stage")?.to_owned()),
            "--region" => region = Some(flag_value(args, &mut i, "--region")?.to_owned()),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
        i += 1;
    }
    let (Some(table), Some(stage)) = (table, stage) else {
        return Err(format!("bootstrap needs --table and --stage\n{USAGE}"));
    };
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(https);
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err("no AWS region: pass --region, or set AWS_REGION, or give your AWS profile a region".into());
    }
    let credentials = config.credentials_provider().ok_or("no AWS credentials provider")?;
    if let Err(err) = aws_credential_types::provider::ProvideCredentials::provide_credentials(&credentials).await {
        return Err(format!(
            "no AWS credentials ({}): sign in first (`aws sso login --profile NAME`, then AWS_PROFILE=NAME), \
             or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            causes(&err)
        ));
    }
    let client = aws_sdk_dynamodb::Client::new(&config);
    ensure_superuser(&Table::new(client, table.clone()), &stage)
        .await
        .map_err(|err| {
            format!(
                "{err} (table {table}: the AppTableName output of the stage's stack, \
                 `sam list stack-outputs --stack-name serverless-backend-{stage}`)"
            )
        })
}

/// An error and its first causes, without the SDK's debug dump of each.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    for _ in 0..3 {
        let Some(cause) = source else { break };
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The local stack's first superuser, in the table `template.yaml` declares.
async fn bootstrap_superuser(template: &Template, aws: &AwsConfig) -> Result<(), String> {
    let table_id = template
        .resources("AWS::DynamoDB::Table")
        .map_err(|e| e.to_string())?
        .first()
        .map(|(id, _)| id.clone())
        .ok_or("template.yaml declares no table")?;
    let table_name = template
        .physical
        .get(&table_id)
        .map(|p| p.reference.clone())
        .unwrap_or_default();
    ensure_superuser(&Table::new(aws.dynamodb(), table_name), "local").await
}

/// `FIRST_SUPERUSER` / `FIRST_SUPERUSER_PASSWORD`; the reference's defaults only in the local stage.
async fn ensure_superuser(table: &Table, stage: &str) -> Result<(), String> {
    const DEFAULT_EMAIL: &str = "admin@example.com";
    const DEFAULT_PASSWORD: &str = "changethis";
    let local = stage == "local";
    let email = match std::env::var("FIRST_SUPERUSER") {
        Ok(email) => email,
        Err(_) if local => DEFAULT_EMAIL.to_owned(),
        Err(_) => return Err(format!("FIRST_SUPERUSER must be set in the {stage} stage")),
    };
    let password = match std::env::var("FIRST_SUPERUSER_PASSWORD") {
        Ok(password) => password,
        Err(_) if local => DEFAULT_PASSWORD.to_owned(),
        Err(_) => return Err(format!("FIRST_SUPERUSER_PASSWORD must be set in the {stage} stage")),
    };
    if !local && password == DEFAULT_PASSWORD {
        return Err(format!(
            "the default superuser password {DEFAULT_PASSWORD:?} is refused in the {stage} stage"
        ));
    }
    let email = Email::parse(&email).map_err(|e| format!("FIRST_SUPERUSER: {}", e.msg))?;
    let password = Password::parse(&password).map_err(|e| format!("FIRST_SUPERUSER_PASSWORD: {}", e.msg))?;
    match domain::accounts::ensure_first_superuser(table, &email, &password)
        .await
        .map_err(|e| e.to_string())?
    {
        domain::accounts::Bootstrap::Created(_) => say(format!("first superuser {email} created")),
        domain::accounts::Bootstrap::AlreadyPresent(_) => say(format!("first superuser {email} already present")),
    }
    Ok(())
}

fn url_option(args: &[String]) -> Result<(String, Vec<String>), String> {
    let mut url = format!("http://127.0.0.1:{}", default_port()?);
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--url" {
            url = flag_value(args, &mut i, "--url")?.trim_end_matches('/').to_owned();
        } else {
            rest.push(args[i].clone());
        }
        i += 1;
    }
    Ok((url, rest))
}

/// What the event files carry where an access token goes (`tests/events` and the handler tests
/// put a fresh one there; so does `--token`).
const TOKEN_PLACEHOLDER: &str = "REPLACE_WITH_ACCESS_TOKEN";

/// The event with `token` in the placeholder's place; without one, an event that needs it is
/// refused here rather than answered 401 by the function.
fn with_token(event: &str, path: &str, token: Option<&str>) -> Result<String, String> {
    match token {
        Some(token) => Ok(event.replace(TOKEN_PLACEHOLDER, token)),
        None if event.contains(TOKEN_PLACEHOLDER) => Err(format!(
            "{path} needs an access token: add --token <access_token> (from POST /api/v1/login/access-token)"
        )),
        None => Ok(event.to_owned()),
    }
}

fn invoke(args: &[String]) -> Result<(), String> {
    let (url, rest) = url_option(args)?;
    let (mut function, mut event, mut token) = (None, None, None);
    let mut i = 0;
    while i < rest.len() {
        match rest[i].as_str() {
            "-e" | "--event" => event = Some(flag_value(&rest, &mut i, "-e")?),
            "--token" => token = Some(flag_value(&rest, &mut i, "--token")?),
            other if function.is_none() && !other.starts_with('-') => function = Some(other),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
        i += 1;
    }
    let (Some(function), Some(event)) = (function, event) else {
        return Err(format!("invoke needs a function and -e <event.json>\n{USAGE}"));
    };
    let body = std::fs::read_to_string(event).map_err(|e| format!("cannot read {event}: {e}"))?;
    let body = with_token(&body, event, token)?;
    let mut response = ureq::post(&format!("{url}/_devstack/invoke/{function}"))
        .config()
        .http_status_as_error(false)
        .build()
        .content_type("application/json")
        .send(body.as_str())
        .map_err(|e| {
            format!("no stack at {url}: {e} (start it with `make run`; PORT=… or --url if it is not on 9000)")
        })?;
    let status = response.status();
    let text = response.body_mut().read_to_string().map_err(|e| e.to_string())?;
    let pretty = serde_json::from_str::<Value>(&text)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(text);
    println!("{pretty}");
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("invocation failed ({status})"))
    }
}

fn emails(args: &[String]) -> Result<(), String> {
    let (url, rest) = url_option(args)?;
    if let Some(other) = rest.first() {
        return Err(format!("unknown option {other}\n{USAGE}"));
    }
    let mut response = ureq::get(&format!("{url}/_devstack/emails")).call().map_err(|e| {
        format!("no stack at {url}: {e} (start it with `make run`; PORT=… or --url if it is not on 9000)")
    })?;
    let emails: Value = response.body_mut().read_json().map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&emails).unwrap_or_else(|_| json!(emails).to_string())
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn help_is_asked_for_anywhere() {
        assert!(wants_help(&args(&["--help"])));
        assert!(wants_help(&args(&["help"])));
        assert!(wants_help(&args(&["emails", "-h"])));
        assert!(wants_help(&args(&["invoke", "UtilsFunction", "--help"])));
        assert!(!wants_help(&args(&["emails"])));
    }

    #[test]
    fn the_token_takes_the_placeholders_place_everywhere() {
        let event = r#"{"headers": {"authorization": "Bearer REPLACE_WITH_ACCESS_TOKEN"},
            "queryStringParameters": {"token": "REPLACE_WITH_ACCESS_TOKEN"}}"#;
        let filled = with_token(event, "e.json", Some("abc.def")).unwrap();
        assert!(!filled.contains(TOKEN_PLACEHOLDER));
        assert_eq!(filled.matches("abc.def").count(), 2);
    }

    #[test]
    fn an_event_that_needs_a_token_is_refused_without_one() {
        let refused = with_token("Bearer REPLACE_WITH_ACCESS_TOKEN", "events/x.json", None).unwrap_err();
        assert!(refused.contains("--token"), "{refused}");
        assert_eq!(with_token("{}", "e.json", None).unwrap(), "{}");
    }
}
