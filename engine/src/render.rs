//! File templates inside blueprint parameters: `{ $template: <name>, vars: {...} }`.
//!
//! A parameter value that is an object with the key `$template` is replaced, when the
//! resource's parameters are resolved, by the named template of the blueprint's
//! [`TemplateSet`] rendered with:
//!
//! * `tenant`: the tenant's name (`tenant.name`) and every declared *plain* variable (the
//!   tenant's value or the default). Secret variables are never given to templates: a
//!   credential belongs in the secret store, not in a rendered file;
//! * `vars`: the object under `vars:`, whose strings may hold `${...}` references like any
//!   other parameter (they add dependencies the same way).
//!
//! While a referenced output is not known yet (during `plan`), the whole value is
//! [`KNOWN_AFTER_APPLY`]. Output is escaped for the template's format (XML for `.xml`, YAML for
//! `.yml`, ...; see [`provisio_templates::Format`]) and an undefined variable is an error that
//! names the template, the line and the variable.
//!
//! ```yaml
//! resources:
//!   job_web_build:
//!     type: ci.job
//!     params:
//!       path: "web_build-${tenant.name}"
//!       config_xml: { $template: jobs/web_build.xml, vars: { hostname: "${dns_prod.fqdn}" } }
//! ```
//!
//! A blueprint loaded with [`crate::Blueprint::load`] takes its templates from the
//! `templates/` directory beside the blueprint file; in code, use
//! [`crate::Blueprint::with_templates`].

use crate::resource::Tenant;
use crate::template::{KNOWN_AFTER_APPLY, contains_unknown};
use provisio::{Error, Result};
use provisio_templates::TemplateSet;
use serde_json::{Map, Value};
use std::sync::Arc;

/// The key that marks a template value.
pub const TEMPLATE_KEY: &str = "$template";

/// A blueprint's template set, shared between clones of the blueprint.
#[derive(Clone, Debug)]
pub struct BlueprintTemplates(pub Arc<TemplateSet>);

impl PartialEq for BlueprintTemplates {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// A `{ $template, vars }` value, read from a parameter.
struct TemplateValue<'a> {
    name: &'a str,
    vars: Option<&'a Value>,
}

/// `Some` when `value` is a template value; an error when it is one but malformed.
fn template_value<'a>(value: &'a Value, path: &str) -> Option<Result<TemplateValue<'a>>> {
    let map = value.as_object()?;
    let name = map.get(TEMPLATE_KEY)?;
    Some((|| {
        if let Some(k) = map.keys().find(|k| *k != TEMPLATE_KEY && *k != "vars") {
            return Err(Error::invalid_field(
                &format!("{path}.{k}"),
                format!("a template value takes only `{TEMPLATE_KEY}` and `vars`"),
            ));
        }
        let name = name.as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
            Error::invalid_field(
                &format!("{path}.{TEMPLATE_KEY}"),
                "must be the name of a template (a non-empty string)",
            )
        })?;
        if name.contains("${") {
            return Err(Error::invalid_field(
                &format!("{path}.{TEMPLATE_KEY}"),
                "must be a literal template name; references go under `vars`",
            ));
        }
        let vars = map.get("vars");
        if let Some(v) = vars
            && !v.is_object()
        {
            return Err(Error::invalid_field(
                &format!("{path}.vars"),
                "must be an object of named values",
            ));
        }
        Ok(TemplateValue { name, vars })
    })())
}

/// Rewrites every template value inside `value` with `f(path, template)`.
fn map_templates(
    value: &Value,
    path: &str,
    f: &mut dyn FnMut(&str, TemplateValue<'_>) -> Result<Value>,
) -> Result<Value> {
    if let Some(t) = template_value(value, path) {
        return f(path, t?);
    }
    Ok(match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| map_templates(v, &format!("{path}[{i}]"), f))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), map_templates(v, &format!("{path}.{k}"), f)?)))
                .collect::<Result<Map<_, _>>>()?,
        ),
        other => other.clone(),
    })
}

/// Checks every template value of `params` against `templates` (load time) and returns the
/// parameters with each template value replaced by an unresolved placeholder string, for the
/// resource type's own load-time validation.
pub(crate) fn check(params: &Value, templates: Option<&BlueprintTemplates>) -> Result<Value> {
    map_templates(params, "params", &mut |path, t| {
        let Some(set) = templates else {
            return Err(Error::invalid_field(
                path,
                format!(
                    "uses template {:?} but the blueprint has no templates (put them in a `templates/` directory beside the blueprint file)",
                    t.name
                ),
            ));
        };
        if set.0.format_of(t.name).is_none() {
            let known: Vec<&str> = set.0.names().collect();
            return Err(Error::invalid_field(
                path,
                format!(
                    "unknown template {:?} (known: {})",
                    t.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
        Ok(Value::String(format!("${{template {}}}", t.name)))
    })
}

/// Replaces every template value of already-resolved `params` by its rendering.
pub(crate) fn render(
    params: &Value,
    templates: Option<&BlueprintTemplates>,
    tenant: &Value,
) -> Result<Value> {
    map_templates(params, "params", &mut |path, t| {
        let set = templates.ok_or_else(|| {
            Error::invalid_field(path, "uses a template but the blueprint has no templates")
        })?;
        let vars = t.vars.cloned().unwrap_or_else(|| Value::Object(Map::new()));
        if contains_unknown(&vars) {
            return Ok(Value::String(KNOWN_AFTER_APPLY.to_string()));
        }
        let mut context = Map::new();
        context.insert("tenant".into(), tenant.clone());
        context.insert("vars".into(), vars);
        set.0
            .render(t.name, &context)
            .map(Value::String)
            .map_err(|e| Error::invalid_field(path, e.message()))
    })
}

/// The `tenant` object templates see: the name and the plain variables.
pub(crate) fn tenant_context(
    tenant: &Tenant,
    plain: impl Iterator<Item = (String, Value)>,
) -> Value {
    let mut m = Map::new();
    for (k, v) in plain {
        m.insert(k, v);
    }
    m.insert("name".into(), Value::String(tenant.name.clone()));
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> BlueprintTemplates {
        BlueprintTemplates(Arc::new(
            TemplateSet::from_strings([
                (
                    "jobs/build.xml",
                    "<project><description>{{ tenant.name }} at {{ vars.host }}</description></project>",
                ),
                ("config.yml", "tenant: {{ tenant.name }}\nplan: {{ tenant.plan }}\n"),
            ])
            .unwrap(),
        ))
    }

    fn tenant() -> Value {
        json!({"name": "acme", "plan": "pro"})
    }

    #[test]
    fn renders_nested_template_values_and_leaves_the_rest() {
        let params = json!({
            "path": "web_build-acme",
            "config_xml": {"$template": "jobs/build.xml", "vars": {"host": "a<b>.example.com"}},
            "files": {"config.yml": {"$template": "config.yml"}},
        });
        let out = render(&params, Some(&set()), &tenant()).unwrap();
        assert_eq!(out["path"], "web_build-acme");
        assert_eq!(
            out["config_xml"],
            "<project><description>acme at a&lt;b&gt;.example.com</description></project>"
        );
        assert_eq!(
            out["files"]["config.yml"],
            "tenant: \"acme\"\nplan: \"pro\"\n"
        );
    }

    #[test]
    fn unknown_vars_make_the_whole_value_unknown() {
        let params =
            json!({"x": {"$template": "jobs/build.xml", "vars": {"host": KNOWN_AFTER_APPLY}}});
        let out = render(&params, Some(&set()), &tenant()).unwrap();
        assert_eq!(out["x"], KNOWN_AFTER_APPLY);
    }

    #[test]
    fn undefined_variables_name_the_field_template_and_variable() {
        let params = json!({"x": {"$template": "jobs/build.xml"}});
        let err = render(&params, Some(&set()), &tenant()).unwrap_err();
        let msg = err.message();
        assert!(msg.contains("params.x"), "{msg}");
        assert!(msg.contains("jobs/build.xml line 1"), "{msg}");
        assert!(msg.contains("vars.host"), "{msg}");
    }

    #[test]
    fn load_time_checks() {
        let ok = check(
            &json!({"x": {"$template": "config.yml", "vars": {}}}),
            Some(&set()),
        )
        .unwrap();
        assert_eq!(ok["x"], "${template config.yml}");
        for (params, needle) in [
            (
                json!({"x": {"$template": "nope.xml"}}),
                "unknown template \"nope.xml\"",
            ),
            (json!({"x": {"$template": 3}}), "params.x.$template"),
            (
                json!({"x": {"$template": "${tenant.name}.yml"}}),
                "literal template name",
            ),
            (
                json!({"x": {"$template": "config.yml", "vars": [1]}}),
                "params.x.vars",
            ),
            (
                json!({"x": {"$template": "config.yml", "extra": 1}}),
                "params.x.extra",
            ),
        ] {
            let err = check(&params, Some(&set())).unwrap_err();
            assert!(
                err.message().contains(needle),
                "{needle}: {}",
                err.message()
            );
        }
        let err = check(&json!({"x": {"$template": "config.yml"}}), None).unwrap_err();
        assert!(err.message().contains("no templates"), "{}", err.message());
    }
}
