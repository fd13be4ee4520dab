//! Human views: the plan table, outputs, status.

use crate::report::Palette;
use provisio_engine::plan::PlannedResource;
use provisio_engine::{Action, Plan};
use serde_json::Value;
use std::fmt::Write;

/// A value shortened for a table cell.
pub(crate) fn short(v: &Value, width: usize) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    };
    let one_line = s.replace('\n', "\\n");
    if one_line.chars().count() > width {
        let cut: String = one_line.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

fn action_cell(p: &Palette, r: &PlannedResource) -> String {
    let (sym, word, style) = match r.action {
        Action::Create => ("+", "create", &p.green),
        Action::Update => ("~", "update", &p.yellow),
        Action::Replace => ("±", "replace", &p.red),
        Action::Delete => ("-", "delete", &p.red),
        Action::Adopt => ("*", "adopt", &p.cyan),
        Action::Read => ("?", "read", &p.dim),
        Action::NoOp => (" ", "no change", &p.dim),
    };
    style.apply_to(format!("{sym} {word:<9}")).to_string()
}

/// The plan as a table with the changed fields below each changed resource.
pub(crate) fn plan_table(p: &Palette, plan: &Plan) -> String {
    let mut out = String::new();
    let c = plan.counts();
    let _ = writeln!(
        out,
        "{} for tenant {} (blueprint {})",
        p.bold.apply_to("Plan"),
        p.bold.apply_to(&plan.tenant),
        plan.blueprint
    );
    let name_w = plan
        .resources
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let type_w = plan
        .resources
        .iter()
        .map(|r| r.resource_type.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "  {}",
        p.dim.apply_to(format!(
            "{:<11} {:<name_w$}  {:<type_w$}  {:<10}  notes",
            "ACTION", "RESOURCE", "TYPE", "PROVIDER"
        ))
    );
    for r in &plan.resources {
        let mut notes = Vec::new();
        if !r.replace_because.is_empty() {
            notes.push(format!(
                "replace because {} changed",
                r.replace_because.join(", ")
            ));
        }
        if r.protect {
            notes.push("protected".to_string());
        }
        if let Some(b) = &r.blocked {
            notes.push(p.red.apply_to(format!("blocked: {b}")).to_string());
        }
        if let Some(d) = &r.drift
            && !matches!(d, provisio_engine::plan::Drift::InSync)
        {
            notes.push(p.yellow.apply_to("drifted").to_string());
        }
        let _ = writeln!(
            out,
            "  {} {:<name_w$}  {:<type_w$}  {:<10}  {}",
            action_cell(p, r),
            r.name,
            r.resource_type,
            r.provider,
            notes.join("; ")
        );
        if matches!(r.action, Action::Update | Action::Replace) {
            for d in &r.diff {
                let before = d
                    .before
                    .as_ref()
                    .map(|v| short(v, 40))
                    .unwrap_or_else(|| "(none)".into());
                let after = d
                    .after
                    .as_ref()
                    .map(|v| short(v, 40))
                    .unwrap_or_else(|| "(none)".into());
                let _ = writeln!(
                    out,
                    "  {:<11} {}",
                    "",
                    p.dim.apply_to(format!("{}: {before} -> {after}", d.field))
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{} to create, {} to update, {} to replace, {} to delete, {} unchanged",
        p.green.apply_to(c.create),
        p.yellow.apply_to(c.update),
        p.red.apply_to(c.replace),
        p.red.apply_to(c.delete),
        c.no_op
    );
    out
}

/// The outputs worth a first look after a launch, one per line.
pub(crate) fn outputs_table(outputs: &std::collections::BTreeMap<String, Value>) -> String {
    let mut out = String::new();
    let w = outputs.keys().map(|k| k.len()).max().unwrap_or(8);
    for (name, value) in outputs {
        let text = match value {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| format!("{k}={}", short(v, 48)))
                .collect::<Vec<_>>()
                .join("  "),
            other => short(other, 80),
        };
        let _ = writeln!(out, "  {name:<w$}  {text}");
    }
    out
}
