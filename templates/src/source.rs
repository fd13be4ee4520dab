//! Finding things in template sources and variables, for error messages.
//!
//! tera 1 keeps no positions in its syntax tree and its errors name a variable but not the
//! line, so the line is found by scanning the template's tags for the variable's expression.

use serde_json::{Map, Value};

/// The variables without `null` entries (recursively, in objects): a null variable is treated
/// as undefined, so it fails loudly instead of rendering as an empty string.
pub(crate) fn without_nulls(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k, strip(v)))
        .collect()
}

fn strip(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(without_nulls(m)),
        Value::Array(a) => Value::Array(a.into_iter().map(strip).collect()),
        other => other,
    }
}

/// The dotted paths (`tenant.hosts.0`) of `vars` whose value equals `value`, shallowest first.
pub(crate) fn paths_holding(
    vars: &Map<String, Value>,
    value: &Value,
    prefix: &str,
    out: &mut Vec<String>,
) {
    let mut nested = Vec::new();
    for (k, v) in vars {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if v == value {
            out.push(path.clone());
        }
        nested.push((path, v));
    }
    for (path, v) in nested {
        match v {
            Value::Object(m) => paths_holding(m, value, &path, out),
            Value::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let p = format!("{path}.{i}");
                    if item == value {
                        out.push(p.clone());
                    }
                    if let Value::Object(m) = item {
                        paths_holding(m, value, &p, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// `(variable, template)` from tera's "Variable `x` not found in context while rendering 't'".
pub(crate) fn undefined_variable(message: &str) -> Option<(String, String)> {
    const VAR: &str = "Variable `";
    const MID: &str = "` not found in context while rendering '";
    let start = message.find(VAR)? + VAR.len();
    let rest = &message[start..];
    let mid = rest.find(MID)?;
    let var = &rest[..mid];
    let after = &rest[mid + MID.len()..];
    let template = &after[..after.find('\'')?];
    Some((var.to_string(), template.to_string()))
}

/// The 1-based line of the first `{{ ... }}` or `{% ... %}` tag of `source` that mentions
/// `var` as a whole name (not inside a longer name), skipping comments and raw blocks.
pub(crate) fn find_line(source: &str, var: &str) -> Option<usize> {
    if var.is_empty() {
        return None;
    }
    let mut i = 0;
    while let Some(rel) = source[i..].find('{') {
        let open = i + rel;
        let rest = &source[open..];
        let close = if rest.starts_with("{{") {
            "}}"
        } else if rest.starts_with("{%") {
            "%}"
        } else if rest.starts_with("{#") {
            "#}"
        } else {
            i = open + 1;
            continue;
        };
        let body_start = open + 2;
        let len = source[body_start..].find(close)?;
        let body = &source[body_start..body_start + len];
        let mut next = body_start + len + 2;
        match close {
            "#}" => {}
            "%}" if body.trim_matches(|c: char| c == '-' || c.is_whitespace()) == "raw" => {
                // Skip to the end of the raw block.
                let end = source[next..].find("endraw").map(|p| next + p)?;
                next = end;
            }
            _ => {
                if let Some(pos) = find_name(body, var) {
                    let line = source[..body_start + pos].matches('\n').count() + 1;
                    return Some(line);
                }
            }
        }
        i = next;
    }
    None
}

/// The byte offset of `name` in `text` as a whole name.
fn find_name(text: &str, name: &str) -> Option<usize> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut from = 0;
    while let Some(rel) = text[from..].find(name) {
        let at = from + rel;
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        let ok_before = before.is_none_or(|c| !ident(c) && c != '.' && c != '"' && c != '\'');
        let ok_after = after.is_none_or(|c| !ident(c));
        if ok_before && ok_after {
            return Some(at);
        }
        from = at + name.len().max(1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_of_names() {
        let src = "a: {{ hostname }}\n{# host #}\n{% raw %}{{ host }}{% endraw %}\nb: {{ x.host }}\nc: {{host|upper}}\n";
        assert_eq!(find_line(src, "host"), Some(5));
        assert_eq!(find_line(src, "hostname"), Some(1));
        assert_eq!(find_line(src, "x.host"), Some(4));
        assert_eq!(find_line(src, "nope"), None);
        assert_eq!(
            find_line("{% for h in hosts %}\n{{ h }}{% endfor %}", "hosts"),
            Some(1)
        );
    }

    #[test]
    fn tera_messages() {
        assert_eq!(
            undefined_variable(
                "Failed to render 'a.yml': Variable `tenant.domain` not found in context while rendering 'b.yml'"
            ),
            Some(("tenant.domain".into(), "b.yml".into()))
        );
        assert_eq!(undefined_variable("something else"), None);
    }

    #[test]
    fn value_paths() {
        let vars = json!({"a": "x", "b": {"c": "x", "d": ["y", {"e": "x"}]}});
        let mut out = Vec::new();
        paths_holding(vars.as_object().unwrap(), &json!("x"), "", &mut out);
        assert_eq!(out, vec!["a", "b.c", "b.d.1.e"]);
        let stripped = without_nulls(
            json!({"a": null, "b": {"c": null, "d": 1}})
                .as_object()
                .unwrap()
                .clone(),
        );
        assert_eq!(Value::Object(stripped), json!({"b": {"d": 1}}));
    }
}
