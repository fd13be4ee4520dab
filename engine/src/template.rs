//! `${...}` references inside blueprint parameters.
//!
//! Rules:
//! - `${tenant.name}` is the tenant's name, `${tenant.<var>}` a declared plain variable,
//!   `${<resource>.<output>}` (optionally followed by `.<key>` into a nested JSON object) an
//!   output of another resource;
//! - a string that is exactly one reference keeps the referenced JSON type (a number stays a
//!   number); otherwise the references are rendered into the string (strings as is, other
//!   values as compact JSON, `null` as the empty string);
//! - `$${` is a literal `${`;
//! - only string values are interpolated; object keys are taken literally.
//!
//! ```
//! use provisio_engine::template::{Template, Reference};
//! let t = Template::parse("${tenant.name}-web").unwrap();
//! assert_eq!(t.references().collect::<Vec<_>>(), vec![&Reference::TenantName]);
//! assert!(Template::parse("$${not.a.ref}").unwrap().is_literal());
//! ```

use serde_json::Value;
use std::fmt;

/// What a plan shows for a value that depends on an output not known before apply.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";

/// One `${...}` reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    /// `${tenant.name}`.
    TenantName,
    /// `${tenant.<var>}`.
    TenantVar(String),
    /// `${<resource>.<output>[.<key>...]}`.
    Output {
        /// The referenced resource.
        resource: String,
        /// The output key (checked against [`crate::ResourceType::outputs`]).
        key: String,
        /// Keys into a nested JSON object below the output.
        path: Vec<String>,
    },
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::TenantName => write!(f, "${{tenant.name}}"),
            Reference::TenantVar(v) => write!(f, "${{tenant.{v}}}"),
            Reference::Output {
                resource,
                key,
                path,
            } => {
                write!(f, "${{{resource}.{key}")?;
                for p in path {
                    write!(f, ".{p}")?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// A piece of a parsed string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Literal text (escapes already removed).
    Literal(String),
    /// A reference.
    Ref(Reference),
}

/// A parsed parameter string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

fn valid_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Template {
    /// Parses a string; the error says what is wrong with the reference syntax.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut lit = String::new();
        let mut rest = s;
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("$${") {
                lit.push_str("${");
                rest = r;
            } else if let Some(r) = rest.strip_prefix("${") {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("unterminated reference in {s:?} (missing `}}`)"))?;
                let inner = r[..end].trim();
                let parts: Vec<&str> = inner.split('.').collect();
                if parts.len() < 2 || !parts.iter().all(|p| valid_ident(p)) {
                    return Err(format!(
                        "malformed reference ${{{inner}}}: expected ${{tenant.<var>}} or ${{<resource>.<output>}}"
                    ));
                }
                let reference = if parts[0] == "tenant" {
                    if parts.len() != 2 {
                        return Err(format!(
                            "malformed reference ${{{inner}}}: tenant variables have no nested keys"
                        ));
                    }
                    if parts[1] == "name" {
                        Reference::TenantName
                    } else {
                        Reference::TenantVar(parts[1].to_string())
                    }
                } else {
                    Reference::Output {
                        resource: parts[0].to_string(),
                        key: parts[1].to_string(),
                        path: parts[2..].iter().map(|p| p.to_string()).collect(),
                    }
                };
                if !lit.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut lit)));
                }
                segments.push(Segment::Ref(reference));
                rest = &r[end + 1..];
            } else {
                let c = rest.chars().next().expect("non-empty");
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !lit.is_empty() {
            segments.push(Segment::Literal(lit));
        }
        Ok(Template { segments })
    }

    /// The pieces.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The references, in order.
    pub fn references(&self) -> impl Iterator<Item = &Reference> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Ref(r) => Some(r),
            Segment::Literal(_) => None,
        })
    }

    /// Whether the string has no reference.
    pub fn is_literal(&self) -> bool {
        self.references().next().is_none()
    }

    /// Renders the template; `lookup` gives a reference's value, or `None` when it is not known
    /// yet (then the result is the string [`KNOWN_AFTER_APPLY`]).
    pub fn render<E>(
        &self,
        mut lookup: impl FnMut(&Reference) -> Result<Option<Value>, E>,
    ) -> Result<Value, E> {
        if let [Segment::Ref(r)] = self.segments.as_slice() {
            return Ok(lookup(r)?.unwrap_or_else(|| Value::String(KNOWN_AFTER_APPLY.into())));
        }
        let mut out = String::new();
        for seg in &self.segments {
            match seg {
                Segment::Literal(l) => out.push_str(l),
                Segment::Ref(r) => match lookup(r)? {
                    None => return Ok(Value::String(KNOWN_AFTER_APPLY.into())),
                    Some(Value::String(s)) => out.push_str(&s),
                    Some(Value::Null) => {}
                    Some(other) => out.push_str(&other.to_string()),
                },
            }
        }
        Ok(Value::String(out))
    }
}

/// Calls `f` with the field path (`params.zone`, `params.files[0].path`) and the text of every
/// string inside `value`.
pub fn walk_strings(value: &Value, path: &str, f: &mut dyn FnMut(&str, &str)) {
    match value {
        Value::String(s) => f(path, s),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                walk_strings(v, &format!("{path}[{i}]"), f);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                walk_strings(v, &format!("{path}.{k}"), f);
            }
        }
        _ => {}
    }
}

/// Rewrites every string inside `value` with `f` (given the field path and the text).
pub fn map_strings<E>(
    value: &Value,
    path: &str,
    f: &mut dyn FnMut(&str, &str) -> Result<Value, E>,
) -> Result<Value, E> {
    Ok(match value {
        Value::String(s) => f(path, s)?,
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| map_strings(v, &format!("{path}[{i}]"), f))
                .collect::<Result<_, E>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), map_strings(v, &format!("{path}.{k}"), f)?)))
                .collect::<Result<_, E>>()?,
        ),
        other => other.clone(),
    })
}

/// Whether a (resolved) value still contains [`KNOWN_AFTER_APPLY`] somewhere.
pub fn contains_unknown(value: &Value) -> bool {
    let mut found = false;
    walk_strings(value, "", &mut |_, s| found |= s == KNOWN_AFTER_APPLY);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(s: &str, lookup: &dyn Fn(&Reference) -> Option<Value>) -> Value {
        Template::parse(s)
            .unwrap()
            .render::<()>(|r| Ok(lookup(r)))
            .unwrap()
    }

    fn env(r: &Reference) -> Option<Value> {
        match r {
            Reference::TenantName => Some(json!("acme")),
            Reference::TenantVar(v) if v == "domain" => Some(json!("example.com")),
            Reference::TenantVar(v) if v == "port" => Some(json!(8080)),
            Reference::TenantVar(v) if v == "nothing" => Some(Value::Null),
            Reference::Output {
                resource,
                key,
                path,
            } if resource == "web" && key == "public_ip" => {
                assert!(path.is_empty());
                Some(json!("10.0.0.1"))
            }
            Reference::Output {
                resource,
                key,
                path,
            } if resource == "db" && key == "endpoint" => {
                let v = json!({"host": "db.local", "port": 5432});
                match path.first() {
                    Some(p) => v.get(p).cloned(),
                    None => Some(v),
                }
            }
            _ => None,
        }
    }

    #[test]
    fn whole_reference_keeps_type() {
        assert_eq!(render("${tenant.port}", &env), json!(8080));
        assert_eq!(
            render("${db.endpoint}", &env),
            json!({"host": "db.local", "port": 5432})
        );
        assert_eq!(render("${db.endpoint.port}", &env), json!(5432));
        assert_eq!(render(" ${tenant.port}", &env), json!(" 8080"));
    }

    #[test]
    fn concatenation() {
        assert_eq!(
            render("${tenant.name}.${tenant.domain}", &env),
            json!("acme.example.com")
        );
        assert_eq!(render("ip=${web.public_ip}", &env), json!("ip=10.0.0.1"));
        assert_eq!(render("port ${tenant.port}!", &env), json!("port 8080!"));
        assert_eq!(render("[${tenant.nothing}]", &env), json!("[]"));
        assert_eq!(render("${ tenant.name }", &env), json!("acme"));
    }

    #[test]
    fn escapes() {
        assert_eq!(render("$${tenant.name}", &env), json!("${tenant.name}"));
        assert_eq!(render("a$${b}${tenant.name}", &env), json!("a${b}acme"));
        assert_eq!(render("$5 and $ {x}", &env), json!("$5 and $ {x}"));
        assert!(Template::parse("$${x}").unwrap().is_literal());
    }

    #[test]
    fn unknown_outputs() {
        assert_eq!(render("${other.id}", &env), json!(KNOWN_AFTER_APPLY));
        assert_eq!(render("x-${other.id}", &env), json!(KNOWN_AFTER_APPLY));
        assert!(contains_unknown(&json!({"a": [1, KNOWN_AFTER_APPLY]})));
        assert!(!contains_unknown(&json!({"a": [1, "b"]})));
    }

    #[test]
    fn syntax_errors() {
        assert!(
            Template::parse("${tenant.name")
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(Template::parse("${web}").unwrap_err().contains("malformed"));
        assert!(
            Template::parse("${web.}")
                .unwrap_err()
                .contains("malformed")
        );
        assert!(
            Template::parse("${tenant.a.b}")
                .unwrap_err()
                .contains("nested")
        );
        assert!(
            Template::parse("${a b.c}")
                .unwrap_err()
                .contains("malformed")
        );
    }

    #[test]
    fn walks_paths() {
        let mut seen = Vec::new();
        walk_strings(
            &json!({"a": "x", "b": [1, "y"], "c": {"d": "z"}}),
            "params",
            &mut |p, s| seen.push(format!("{p}={s}")),
        );
        assert_eq!(seen, vec!["params.a=x", "params.b[1]=y", "params.c.d=z"]);
    }
}
