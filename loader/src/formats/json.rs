//! JSON through serde_json, after a linear scan that refuses deep nesting.

use super::too_deep;
use crate::failure::{Failure, Position};
use crate::limits::Limits;
use serde::de::DeserializeOwned;

pub(super) fn parse<T: DeserializeOwned>(text: &str, limits: &Limits) -> Result<T, Failure> {
    if let Some(offset) = too_deep_at(text, limits.max_depth) {
        return Err(Failure::new(too_deep(limits)).at(Some(Position::at_offset(text, offset))));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        failure(e.into_inner()).in_field(path)
    })?;
    de.end().map_err(failure)?;
    Ok(value)
}

/// The byte offset of the first `[` or `{` nested deeper than `max_depth`, strings skipped.
/// Unbalanced input is left to the parser to report.
fn too_deep_at(text: &str, max_depth: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max_depth {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// serde_json's error without its ` at line L column C` suffix, which becomes the position.
fn failure(e: serde_json::Error) -> Failure {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let rule = text.strip_suffix(&suffix).unwrap_or(&text);
    let position = (e.line() > 0).then(|| Position {
        line: e.line(),
        column: e.column().max(1),
    });
    Failure::new(rule).at(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_skips_strings() {
        assert_eq!(too_deep_at(r#"{"a": "[[[[[[", "b": [[1]]}"#, 3), None);
        assert_eq!(too_deep_at(r#"{"a": "\"[[[", "b": [[[1]]]}"#, 3), Some(22));
        assert_eq!(too_deep_at("]]]][[", 2), None);
    }
}
