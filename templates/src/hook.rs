//! Escaping exactly what `{{ ... }}` writes out.
//!
//! tera's autoescape hook is a plain `fn(&str) -> String` that cannot fail, and tera also runs
//! it on the operands of comparisons and on filter arguments, so a YAML-quoting escape function
//! would make `{% if plan == "pro" %}` compare `"\"pro\""`. Instead, after parsing, every
//! `{{ expr }}` of every template (including block and macro bodies) gets one more filter,
//! [`FILTER`], appended: it sees the final value of the expression, escapes strings for the
//! format, passes numbers and booleans through, and refuses nulls, lists and objects (tera would
//! print a list's items unescaped). Expressions ending in `| safe` and macro calls (whose bodies
//! are escaped already) are left alone.

use crate::format::Format;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use tera::Tera;
use tera::ast::{Expr, ExprVal, FunctionCall, Node};

/// The name of the escaping filter appended to every interpolation.
pub(crate) const FILTER: &str = "__provisio_escape";

/// Why the filter refused a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A string with a character the format forbids (described).
    Character(String),
    /// A list or an object.
    Container,
    /// `null`.
    Null,
}

thread_local! {
    /// What the filter refused during the current render on this thread. tera reports a
    /// filter's error only as text; the value is needed to name the variable holding it.
    /// Rendering is synchronous, so a thread-local is exactly one render's scope.
    static REFUSED: RefCell<Option<(Value, Refusal)>> = const { RefCell::new(None) };
}

/// Registers the filter for `format` and appends it to every interpolation of every template.
pub(crate) fn install(tera: &mut Tera, format: Format) {
    tera.register_filter(FILTER, move |v: &Value, _: &HashMap<String, Value>| {
        escape(format, v)
    });
    for template in tera.templates.values_mut() {
        rewrite(&mut template.ast);
        for m in template.macros.values_mut() {
            rewrite(&mut m.body);
        }
        for b in template.blocks.values_mut() {
            rewrite(&mut b.body);
        }
        for defs in template.blocks_definitions.values_mut() {
            for (_, b) in defs {
                rewrite(&mut b.body);
            }
        }
    }
}

/// Renders `name`, returning what the filter refused, if anything.
pub(crate) fn render(
    tera: &Tera,
    name: &str,
    context: &tera::Context,
) -> (tera::Result<String>, Option<(Value, Refusal)>) {
    REFUSED.with(|r| r.borrow_mut().take());
    let rendered = tera.render(name, context);
    let refused = REFUSED.with(|r| r.borrow_mut().take());
    (rendered, refused)
}

fn escape(format: Format, value: &Value) -> tera::Result<Value> {
    let refusal = match value {
        Value::String(s) => match format.try_escape(s) {
            Ok(escaped) => return Ok(Value::String(escaped)),
            Err(bad) => Refusal::Character(bad),
        },
        Value::Number(_) | Value::Bool(_) => return Ok(value.clone()),
        Value::Null => Refusal::Null,
        Value::Array(_) | Value::Object(_) => Refusal::Container,
    };
    REFUSED.with(|r| {
        let mut r = r.borrow_mut();
        if r.is_none() {
            *r = Some((value.clone(), refusal));
        }
    });
    Err(tera::Error::msg("value refused by the output format"))
}

fn rewrite(nodes: &mut [Node]) {
    for node in nodes {
        match node {
            Node::VariableBlock(_, expr) => add_filter(expr),
            Node::MacroDefinition(_, m, _) => rewrite(&mut m.body),
            Node::FilterSection(_, f, _) => rewrite(&mut f.body),
            Node::Block(_, b, _) => rewrite(&mut b.body),
            Node::Forloop(_, f, _) => {
                rewrite(&mut f.body);
                if let Some(empty) = &mut f.empty_body {
                    rewrite(empty);
                }
            }
            Node::If(i, _) => {
                for (_, _, body) in &mut i.conditions {
                    rewrite(body);
                }
                if let Some((_, body)) = &mut i.otherwise {
                    rewrite(body);
                }
            }
            _ => {}
        }
    }
}

fn add_filter(expr: &mut Expr) {
    let already = expr.filters.last().is_some_and(|f| f.name == FILTER);
    if already || expr.is_marked_safe() || matches!(expr.val, ExprVal::MacroCall(_)) {
        return;
    }
    expr.filters.push(FunctionCall {
        name: FILTER.to_string(),
        args: HashMap::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_see_raw_values() {
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        tera.add_raw_template(
            "t",
            "{% if plan == \"a: b\" %}{{ plan }}{% endif %}|{{ n }}|{{ plan | safe }}",
        )
        .unwrap();
        install(&mut tera, Format::Yaml);
        let ctx = tera::Context::from_value(serde_json::json!({"plan": "a: b", "n": 3})).unwrap();
        let (out, refused) = render(&tera, "t", &ctx);
        assert_eq!(out.unwrap(), "\"a: b\"|3|a: b");
        assert!(refused.is_none());
    }
}
