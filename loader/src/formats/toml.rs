//! TOML through the `toml` crate: the document is parsed into its syntax tree (linear, and
//! itself recursion-guarded), the tree's depth is checked, then values are built from it.

use super::too_deep;
use crate::failure::{Failure, Position};
use crate::limits::Limits;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

pub(super) fn parse<T: DeserializeOwned>(text: &str, limits: &Limits) -> Result<T, Failure> {
    let table = DeTable::parse(text).map_err(|e| failure(text, &e, limits))?;
    if let Some(offset) = too_deep_at(&table, limits.max_depth) {
        return Err(Failure::new(too_deep(limits)).at(Some(Position::at_offset(text, offset))));
    }
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(toml::Deserializer::from(table), &mut track);
    T::deserialize(de).map_err(|e| failure(text, &e, limits).in_field(track.path().to_string()))
}

/// The byte offset of the first table or array nested deeper than `max_depth` (the document
/// is level 1), walked without recursion.
fn too_deep_at(root: &Spanned<DeTable<'_>>, max_depth: usize) -> Option<usize> {
    if max_depth == 0 {
        return Some(root.span().start);
    }
    let mut stack: Vec<(&Spanned<DeValue<'_>>, usize)> =
        root.get_ref().values().map(|v| (v, 2)).collect();
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Spanned<DeValue<'_>>>> = match value.get_ref() {
            DeValue::Table(t) => Box::new(t.values()),
            DeValue::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        if depth > max_depth {
            return Some(value.span().start);
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    None
}

/// The toml error's message (never its rendering, which quotes the input line) at its span.
fn failure(text: &str, e: &toml::de::Error, limits: &Limits) -> Failure {
    let position = e.span().map(|s| Position::at_offset(text, s.start));
    // The parser's own recursion guard (80 levels) speaks of recursion; say it like the
    // other formats do. For a key of too many parts it gives no span: point at the first
    // line with that many dots and brackets.
    if e.message().contains("recurs") {
        let position = position.or_else(|| {
            let line = text.lines().position(|l| {
                l.chars().filter(|c| matches!(c, '.' | '[' | '{')).count() > limits.max_depth
            })?;
            Some(Position {
                line: line + 1,
                column: 1,
            })
        });
        return Failure::new(too_deep(limits)).at(position);
    }
    Failure::new(e.message().trim().replace('\n', "; ")).at(position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_headers_dotted_keys_and_brackets() {
        let depth_of = |text: &str| {
            let t = DeTable::parse(text).unwrap();
            (1..100)
                .find(|max| too_deep_at(&t, *max).is_none())
                .unwrap()
        };
        assert_eq!(depth_of("a = 1\n"), 1);
        assert_eq!(depth_of("a = [1]\n"), 2);
        assert_eq!(depth_of("[a.b]\nc = 1\n"), 3);
        assert_eq!(depth_of("[a.b]\nc.d = [{e = [1]}]\n"), 7);
        assert_eq!(depth_of("[[a.b]]\nc = 1\n"), 4);
    }
}
