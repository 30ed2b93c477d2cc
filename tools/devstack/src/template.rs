//! Reads template.yaml and resolves the intrinsic functions the local stack needs, so the
//! resources, routes and environment of the local stack come from the same file AWS deploys.

use serde_yaml::value::TaggedValue;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, String),
    #[error("template.yaml: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(msg.into())
}

/// What `!Ref` and `!GetAtt` of a created resource give.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

pub struct Template {
    root: Value,
    pub stack_name: String,
    parameters: HashMap<String, String>,
    pub physical: HashMap<String, Physical>,
}

impl Template {
    pub fn load(path: &Path, stack_name: &str, overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TemplateError::Read(path.display().to_string(), e.to_string()))?;
        Self::parse(&text, stack_name, overrides)
    }

    pub fn parse(text: &str, stack_name: &str, overrides: &[(String, String)]) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut parameters = HashMap::new();
        if let Some(params) = root.get("Parameters").and_then(Value::as_mapping) {
            for (name, spec) in params {
                let name = name.as_str().ok_or_else(|| invalid("parameter name"))?;
                if let Some(default) = spec.get("Default") {
                    parameters.insert(name.to_owned(), scalar_string(default).unwrap_or_default());
                }
            }
        }
        for (name, value) in overrides {
            if root.get("Parameters").and_then(|p| p.get(name.as_str())).is_none() {
                return Err(invalid(format!(
                    "parameter override {name} is not a template parameter"
                )));
            }
            parameters.insert(name.clone(), value.clone());
        }
        Ok(Self {
            root,
            stack_name: stack_name.to_owned(),
            parameters,
            physical: HashMap::new(),
        })
    }

    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// `(logical id, properties)` of every resource of `kind` whose condition holds, in file order.
    pub fn resources(&self, kind: &str) -> Result<Vec<(String, Value)>, TemplateError> {
        let mut found = Vec::new();
        let Some(resources) = self.root.get("Resources").and_then(Value::as_mapping) else {
            return Err(invalid("no Resources"));
        };
        for (id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some(kind) {
                continue;
            }
            if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
                if !self.condition(condition)? {
                    continue;
                }
            }
            let id = id.as_str().ok_or_else(|| invalid("resource id"))?.to_owned();
            let properties = resource
                .get("Properties")
                .cloned()
                .unwrap_or(Value::Mapping(Mapping::new()));
            found.push((id, properties));
        }
        Ok(found)
    }

    pub fn resource(&self, id: &str) -> Option<&Value> {
        self.root.get("Resources")?.get(id)
    }

    /// A Globals.Function property, merged under a function's own.
    pub fn function_global(&self, key: &str) -> Option<&Value> {
        self.root.get("Globals")?.get("Function")?.get(key)
    }

    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let expr = self
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| invalid(format!("unknown condition {name}")))?
            .clone();
        self.eval_condition(&expr)
    }

    fn eval_condition(&self, expr: &Value) -> Result<bool, TemplateError> {
        let (function, args) = intrinsic(expr).ok_or_else(|| invalid("condition is not an intrinsic function"))?;
        let list = |args: &Value| {
            args.as_sequence()
                .cloned()
                .ok_or_else(|| invalid(format!("{function} takes a list")))
        };
        match function {
            "Equals" => {
                let items = list(args)?;
                let [a, b] = items.as_slice() else {
                    return Err(invalid("Equals takes two values"));
                };
                Ok(self.resolve_string(a)? == self.resolve_string(b)?)
            }
            "Not" => {
                let items = list(args)?;
                let [inner] = items.as_slice() else {
                    return Err(invalid("Not takes one condition"));
                };
                Ok(!self.eval_condition(inner)?)
            }
            "And" => list(args)?
                .iter()
                .try_fold(true, |acc, c| Ok(acc && self.eval_condition(c)?)),
            "Or" => list(args)?
                .iter()
                .try_fold(false, |acc, c| Ok(acc || self.eval_condition(c)?)),
            "Condition" => self.condition(args.as_str().ok_or_else(|| invalid("Condition takes a name"))?),
            other => Err(invalid(format!("unsupported condition function {other}"))),
        }
    }

    /// Resolves every intrinsic function inside `value`.
    pub fn resolve(&self, value: &Value) -> Result<Value, TemplateError> {
        if let Some((function, args)) = intrinsic(value) {
            return self.call(function, args);
        }
        Ok(match value {
            Value::Sequence(items) => Value::Sequence(items.iter().map(|v| self.resolve(v)).collect::<Result<_, _>>()?),
            Value::Mapping(map) => {
                let mut out = Mapping::new();
                for (k, v) in map {
                    out.insert(k.clone(), self.resolve(v)?);
                }
                Value::Mapping(out)
            }
            other => other.clone(),
        })
    }

    pub fn resolve_string(&self, value: &Value) -> Result<String, TemplateError> {
        let resolved = self.resolve(value)?;
        scalar_string(&resolved).ok_or_else(|| invalid(format!("expected a string, got {resolved:?}")))
    }

    fn call(&self, function: &str, args: &Value) -> Result<Value, TemplateError> {
        let text = |s: String| Ok(Value::String(s));
        match function {
            "Ref" => text(self.reference(args.as_str().ok_or_else(|| invalid("Ref takes a name"))?)?),
            "GetAtt" => {
                let (id, attr) = match args {
                    Value::String(s) => s.split_once('.').ok_or_else(|| invalid(format!("GetAtt {s}")))?,
                    Value::Sequence(items) => match items.as_slice() {
                        [Value::String(id), Value::String(attr)] => (id.as_str(), attr.as_str()),
                        _ => return Err(invalid("GetAtt takes [resource, attribute]")),
                    },
                    _ => return Err(invalid("GetAtt takes resource.attribute")),
                };
                text(self.attribute(id, attr)?)
            }
            "Sub" => {
                let (pattern, vars) = match args {
                    Value::String(s) => (s.clone(), BTreeMap::new()),
                    Value::Sequence(items) => match items.as_slice() {
                        [Value::String(s), Value::Mapping(vars)] => {
                            let mut resolved = BTreeMap::new();
                            for (k, v) in vars {
                                resolved.insert(k.as_str().unwrap_or_default().to_owned(), self.resolve_string(v)?);
                            }
                            (s.clone(), resolved)
                        }
                        _ => return Err(invalid("Sub takes a string or [string, variables]")),
                    },
                    _ => return Err(invalid("Sub takes a string")),
                };
                text(self.substitute(&pattern, &vars)?)
            }
            "If" => {
                let items = args.as_sequence().ok_or_else(|| invalid("If takes a list"))?;
                let [Value::String(condition), then, otherwise] = items.as_slice() else {
                    return Err(invalid("If takes [condition, then, else]"));
                };
                self.resolve(if self.condition(condition)? { then } else { otherwise })
            }
            "Join" => {
                let items = args.as_sequence().ok_or_else(|| invalid("Join takes a list"))?;
                let [separator, list] = items.as_slice() else {
                    return Err(invalid("Join takes [separator, list]"));
                };
                let separator = self.resolve_string(separator)?;
                let list = self.resolve(list)?;
                let parts = list
                    .as_sequence()
                    .ok_or_else(|| invalid("Join list"))?
                    .iter()
                    .filter_map(scalar_string)
                    .collect::<Vec<_>>();
                text(parts.join(&separator))
            }
            "Split" => {
                let items = args.as_sequence().ok_or_else(|| invalid("Split takes a list"))?;
                let [separator, source] = items.as_slice() else {
                    return Err(invalid("Split takes [separator, string]"));
                };
                let separator = self.resolve_string(separator)?;
                let source = self.resolve_string(source)?;
                Ok(Value::Sequence(
                    source
                        .split(separator.as_str())
                        .map(|s| Value::String(s.to_owned()))
                        .collect(),
                ))
            }
            other => Err(invalid(format!("unsupported intrinsic function {other}"))),
        }
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        match name {
            "AWS::Region" => return Ok(REGION.to_owned()),
            "AWS::AccountId" => return Ok(ACCOUNT.to_owned()),
            "AWS::StackName" => return Ok(self.stack_name.clone()),
            "AWS::Partition" => return Ok("aws".to_owned()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            "AWS::NoValue" => return Ok(String::new()),
            _ => {}
        }
        if let Some(value) = self.parameters.get(name) {
            return Ok(value.clone());
        }
        self.physical
            .get(name)
            .map(|p| p.reference.clone())
            .ok_or_else(|| invalid(format!("Ref to unknown or not yet created {name}")))
    }

    fn attribute(&self, id: &str, attr: &str) -> Result<String, TemplateError> {
        self.physical
            .get(id)
            .and_then(|p| p.attributes.get(attr))
            .cloned()
            .ok_or_else(|| invalid(format!("GetAtt {id}.{attr} is not known locally")))
    }

    /// `${Name}`, `${Resource.Attr}` and `${!Literal}`; dynamic references (`{{resolve:…}}`) are
    /// left as they are for the caller.
    fn substitute(&self, pattern: &str, vars: &BTreeMap<String, String>) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| invalid(format!("unclosed ${{ in {pattern}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.get(name) {
                out.push_str(value);
            } else if let Some((id, attr)) = name.split_once('.').filter(|(id, _)| !id.starts_with("AWS:")) {
                out.push_str(&self.attribute(id, attr)?);
            } else {
                out.push_str(&self.reference(name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `!Ref x` (a YAML tag) or `{Ref: x}` / `{"Fn::Sub": …}` (long form) as (function, arguments).
fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            let name = tag.to_string();
            let name = name.trim_start_matches('!');
            let function = [
                "Ref",
                "GetAtt",
                "Sub",
                "If",
                "Join",
                "Split",
                "Equals",
                "Not",
                "And",
                "Or",
                "Condition",
            ]
            .into_iter()
            .find(|f| *f == name)?;
            Some((function, value))
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, args) = map.iter().next()?;
            let key = key.as_str()?;
            let name = if key == "Ref" || key == "Condition" {
                key
            } else {
                key.strip_prefix("Fn::")?
            };
            Some((name, args))
        }
        _ => None,
    }
}

pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
  Origins: {Type: String, Default: ""}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  NotProd: !Not [!Condition IsProd]
  HasOrigins: !Not [!Equals [!Ref Origins, ""]]
Resources:
  Queue: {Type: AWS::SQS::Queue}
  Private: {Type: AWS::Serverless::Function, Condition: NotProd}
"#;

    fn template(overrides: &[(&str, &str)]) -> Template {
        let overrides: Vec<_> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut t = Template::parse(TEMPLATE, "local", &overrides).unwrap();
        t.physical.insert(
            "Queue".into(),
            Physical {
                reference: "http://q".into(),
                attributes: HashMap::from([("Arn".into(), "arn:q".into())]),
            },
        );
        t
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn resolves_refs_getatts_and_subs() {
        let t = template(&[]);
        assert_eq!(t.resolve_string(&yaml("!Ref Queue")).unwrap(), "http://q");
        assert_eq!(t.resolve_string(&yaml("!GetAtt Queue.Arn")).unwrap(), "arn:q");
        assert_eq!(
            t.resolve_string(&yaml("!Sub '${AWS::StackName}-${Stage}-${Queue.Arn}'"))
                .unwrap(),
            "local-dev-arn:q"
        );
        assert_eq!(t.resolve_string(&yaml("{'Fn::Sub': '${Stage}'}")).unwrap(), "dev");
        assert_eq!(
            t.resolve_string(&yaml("!Sub '{{resolve:secretsmanager:${Stage}}}'"))
                .unwrap(),
            "{{resolve:secretsmanager:dev}}"
        );
    }

    #[test]
    fn conditions_follow_parameters() {
        assert!(!template(&[]).condition("IsProd").unwrap());
        assert!(template(&[("Stage", "prod")]).condition("IsProd").unwrap());
        assert_eq!(template(&[]).resources("AWS::Serverless::Function").unwrap().len(), 1);
        assert!(template(&[("Stage", "prod")])
            .resources("AWS::Serverless::Function")
            .unwrap()
            .is_empty());
        let t = template(&[("Origins", "a,b")]);
        assert_eq!(
            t.resolve(&yaml("!If [HasOrigins, !Split [',', !Ref Origins], [x]]"))
                .unwrap(),
            yaml("[a, b]")
        );
    }

    #[test]
    fn unknown_override_is_refused() {
        assert!(Template::parse(TEMPLATE, "local", &[("Nope".into(), "1".into())]).is_err());
    }

    #[test]
    fn project_template_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let t = Template::load(&path, "local", &[]).unwrap();
        assert_eq!(t.resources("AWS::DynamoDB::Table").unwrap().len(), 1);
        assert!(!t.resources("AWS::Serverless::Function").unwrap().is_empty());
    }
}
