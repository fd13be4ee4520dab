//! YAML through serde-saphyr, a streaming parser whose budgets (depth, nodes, alias replay)
//! are checked event by event, so a hostile document is refused after the events that break a
//! limit rather than after the whole document was parsed.

use super::too_deep;
use crate::failure::{Failure, Position};
use crate::limits::Limits;
use serde::de::DeserializeOwned;
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::{MessageFormatter, UserMessageFormatter};

pub(super) fn parse<T: DeserializeOwned>(text: &str, limits: &Limits) -> Result<T, Failure> {
    // A document of nothing but comments is an empty mapping, as an empty TOML file is an
    // empty table: an empty provider file or fixtures file means "nothing configured".
    let text = if is_empty_document(text) { "{}" } else { text };
    let mut path = String::new();
    serde_saphyr::with_deserializer_from_str_with_options(text, options(limits), |de| {
        let mut track = serde_path_to_error::Track::new();
        T::deserialize(serde_path_to_error::Deserializer::new(de, &mut track)).inspect_err(|_| {
            path = track.path().to_string();
        })
    })
    .map_err(|e| failure(&e, limits).in_field(path))
}

/// Whether `text` holds no YAML node: only blank lines, comments and document markers.
fn is_empty_document(text: &str) -> bool {
    text.lines().map(str::trim).all(|l| {
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..." || l.starts_with("%")
    })
}

/// The parser options: our limits as its budget, YAML 1.2 scalars (`yes`, `0755` and `1_000`
/// stay strings, as they did with serde_yaml), and no source snippets in errors (they would
/// echo input lines, which may hold secrets).
fn options(limits: &Limits) -> serde_saphyr::Options {
    let max_bytes = usize::try_from(limits.max_bytes).unwrap_or(usize::MAX);
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: limits.max_depth,
            // Flow collections (`[[[...`) count towards max_depth too; the parser's own flow
            // limit only has to stay out of its way.
            flow_nesting_limit: limits.max_depth.saturating_add(1),
            max_nodes: limits.max_nodes,
            max_documents: 1,
            max_reader_input_bytes: Some(max_bytes),
            max_total_scalar_bytes: max_bytes,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: limits.max_alias_events,
        },
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// The innermost error (aliases and snippets wrap the one that happened).
fn original(mut e: &serde_saphyr::Error) -> &serde_saphyr::Error {
    while let serde_saphyr::Error::AliasError { error, .. }
    | serde_saphyr::Error::WithSnippet { error, .. } = e
    {
        e = error;
    }
    e
}

fn failure(e: &serde_saphyr::Error, limits: &Limits) -> Failure {
    use serde_saphyr::Error as E;
    let inner = original(e);
    let rule = match inner {
        E::Budget { breach, .. } => budget_rule(breach, limits),
        E::AliasReplayLimitExceeded { .. } => format!(
            "aliases expand to more than the limit of {} events (max_alias_events)",
            limits.max_alias_events
        ),
        // The scalar's text is left out: it may be a secret in the wrong place.
        E::InvalidScalar { ty, .. } => format!("invalid value, expected {ty}"),
        E::AliasExpansionLimitExceeded { .. } | E::AliasReplayStackDepthExceeded { .. } => {
            "aliases nest or repeat beyond the alias budget (max_alias_events)".to_string()
        }
        _ => {
            let text = UserMessageFormatter.format_message(inner);
            if text.contains("recursion limit") || text.contains("nesting limit") {
                too_deep(limits)
            } else {
                text.into_owned()
            }
        }
    };
    let position = e.location().and_then(|l| {
        let line = usize::try_from(l.line()).ok()?;
        let column = usize::try_from(l.column()).ok()?;
        (line > 0).then_some(Position {
            line,
            column: column.max(1),
        })
    });
    Failure::new(rule).at(position)
}

fn budget_rule(breach: &BudgetBreach, limits: &Limits) -> String {
    match breach {
        BudgetBreach::Depth { .. } => too_deep(limits),
        BudgetBreach::Nodes { .. } => format!(
            "more than the limit of {} nodes, aliases expanded (max_nodes)",
            limits.max_nodes
        ),
        BudgetBreach::Aliases { .. }
        | BudgetBreach::Anchors { .. }
        | BudgetBreach::AliasAnchorRatio { .. }
        | BudgetBreach::RecordedAnchorEvents { .. }
        | BudgetBreach::RecordedAnchorBytes { .. } => {
            "anchors and aliases beyond the alias budget (max_alias_events)".to_string()
        }
        BudgetBreach::Documents { .. } => "more than one YAML document".to_string(),
        BudgetBreach::ScalarBytes { .. } | BudgetBreach::InputBytes { .. } => format!(
            "larger than the limit of {} bytes (max_bytes)",
            limits.max_bytes
        ),
        other => format!("too complex a document ({other:?})"),
    }
}
