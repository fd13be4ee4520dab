//! Tenants files of a fleet run: CSV (a header with a `name` column; every other column is a
//! variable, empty cells are left out) or JSON (an array of objects with `name`; the other
//! keys, or a `vars` object, are variables).
//!
//! Every tenant name must pass [`provisio::validate::tenant_name`] and appear once. Errors name
//! the file, the row and column (CSV), or the line, column and item (JSON), and the rule:
//! `tenants.csv:3:1: name: invalid tenant name: "Acme" contains 'A'; ...`.

use crate::failure::{Failure, Position};
use crate::read::read_text;
use crate::{Format, Limits, parse_str};
use provisio::{Error, Result, validate};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// One tenant of a tenants file: its name and plain variables.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// The tenant's name (valid by [`validate::tenant_name`]).
    pub name: String,
    /// Its plain variables (CSV cells are strings).
    pub vars: Map<String, Value>,
}

/// Reads a tenants file, `.csv` or `.json` by extension, within `limits`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tenants.csv");
/// std::fs::write(&path, "name,size\nacme,large\nglobex,\n").unwrap();
/// let rows = provisio_loader::tenants::load_tenants(&path, &Default::default())?;
/// assert_eq!(rows[0].vars["size"], "large");
/// assert!(rows[1].vars.is_empty());
/// std::fs::write(&path, "name,size\nacme,large\nAcme,\n").unwrap();
/// let e = provisio_loader::tenants::load_tenants(&path, &Default::default()).unwrap_err();
/// assert!(e.message().contains("tenants.csv:3:1: name: invalid tenant name"), "{e}");
/// # Ok::<(), provisio::Error>(())
/// ```
pub fn load_tenants(path: impl AsRef<Path>, limits: &Limits) -> Result<Vec<TenantRow>> {
    let path = path.as_ref();
    let origin = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("csv") => parse_tenants_csv(&read_text(path, limits)?, &origin),
        Some("json") => parse_tenants_json(&read_text(path, limits)?, &origin, limits),
        _ => Err(Error::invalid_input(format!(
            "{origin}: tenants files are .csv or .json"
        ))),
    }
}

/// Parses a CSV tenants document (`origin` names it in errors). Cells are trimmed.
pub fn parse_tenants_csv(text: &str, origin: &str) -> Result<Vec<TenantRow>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| csv_failure(&e).into_error(origin))?
        .clone();
    let at = |line: u64, column: usize, field: &str, rule: String| {
        let line = usize::try_from(line).unwrap_or(usize::MAX);
        Failure::new(rule)
            .at(Some(Position { line, column }))
            .in_field(field)
            .into_error(origin)
    };
    let mut name_col = None;
    for (j, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(at(1, j + 1, "header", "empty column name".into()));
        }
        if headers.iter().take(j).any(|earlier| earlier == h) {
            return Err(at(
                1,
                j + 1,
                "header",
                format!("column {h:?} appears twice"),
            ));
        }
        if h == "name" {
            name_col = Some(j);
        }
    }
    let name_col = name_col.ok_or_else(|| {
        Failure::new("the header has no `name` column")
            .at(Some(Position { line: 1, column: 1 }))
            .into_error(origin)
    })?;
    let mut rows = Vec::new();
    let mut seen = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_failure(&e).into_error(origin))?;
        let line = record.position().map_or(0, |p| p.line());
        let name = record.get(name_col).unwrap_or_default();
        check_name(name, line, &mut seen).map_err(|rule| at(line, name_col + 1, "name", rule))?;
        let vars = record
            .iter()
            .enumerate()
            .filter(|(j, cell)| *j != name_col && !cell.is_empty())
            .map(|(j, cell)| (headers[j].to_string(), Value::String(cell.to_string())))
            .collect();
        rows.push(TenantRow {
            name: name.to_string(),
            vars,
        });
    }
    Ok(rows)
}

/// Parses a JSON tenants document (`origin` names it in errors).
pub fn parse_tenants_json(text: &str, origin: &str, limits: &Limits) -> Result<Vec<TenantRow>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        #[serde(default)]
        vars: Option<Map<String, Value>>,
        #[serde(flatten)]
        rest: Map<String, Value>,
    }
    let entries: Vec<Entry> = parse_str(text, Format::Json, origin, limits)?;
    let mut seen = BTreeMap::new();
    entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            check_name(&e.name, i as u64, &mut seen).map_err(|rule| {
                Failure::new(rule)
                    .in_field(format!("[{i}].name"))
                    .into_error(origin)
            })?;
            let mut vars = e.rest;
            vars.extend(e.vars.unwrap_or_default());
            Ok(TenantRow { name: e.name, vars })
        })
        .collect()
}

/// Checks a tenant name and that it was not seen before (`seen`: name -> where it was).
fn check_name(
    name: &str,
    place: u64,
    seen: &mut BTreeMap<String, u64>,
) -> std::result::Result<(), String> {
    validate::tenant_name("tenant name", name).map_err(|e| e.message().to_string())?;
    if let Some(first) = seen.insert(name.to_string(), place) {
        return Err(format!(
            "tenant {name:?} is listed twice (first at {first})"
        ));
    }
    Ok(())
}

fn csv_failure(e: &csv::Error) -> Failure {
    let line = e
        .position()
        .and_then(|p| usize::try_from(p.line()).ok())
        .filter(|l| *l > 0);
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => Failure::new(format!(
            "the row has {len} fields; the header has {expected_len}"
        ))
        .at(line.map(|line| Position {
            line,
            column: (*len).min(*expected_len) as usize + 1,
        })),
        _ => Failure::new(e.to_string()).at(line.map(|line| Position { line, column: 1 })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_variables() {
        let rows = parse_tenants_csv(
            "name,domain,size\nacme,acme.test,\nglobex, example.org ,large\n",
            "t.csv",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "acme");
        assert_eq!(rows[0].vars.len(), 1);
        assert_eq!(rows[1].vars["domain"], "example.org");
        assert_eq!(rows[1].vars["size"], "large");
        for (text, want) in [
            (
                "tenant\nacme\n",
                "t.csv:1:1: the header has no `name` column",
            ),
            (
                "name,a,a\n",
                "t.csv:1:3: header: column \"a\" appears twice",
            ),
            ("name,\n", "t.csv:1:2: header: empty column name"),
            (
                "name,a\nacme,1,2\n",
                "t.csv:2:3: the row has 3 fields; the header has 2",
            ),
            (
                "a,name\n1,acme\n2,acme\n",
                "t.csv:3:2: name: tenant \"acme\" is listed twice (first at 2)",
            ),
            (
                "a,name\n1,x\n",
                "t.csv:2:2: name: invalid tenant name: must be 2 to 32 characters long, got 1 (\"x\")",
            ),
        ] {
            let e = parse_tenants_csv(text, "t.csv").unwrap_err();
            assert_eq!(e.message(), want);
        }
    }

    #[test]
    fn json_rows_with_flat_or_nested_variables() {
        let limits = Limits::default();
        let rows = parse_tenants_json(
            r#"[{"name":"ab","size":"s"},{"name":"bc","vars":{"size":"l"}}]"#,
            "t.json",
            &limits,
        )
        .unwrap();
        assert_eq!(rows[0].vars["size"], "s");
        assert_eq!(rows[1].vars["size"], "l");
        for (text, want) in [
            (
                r#"[{"size":"s"}]"#,
                "t.json:1:13: [0]: missing field `name`",
            ),
            (
                r#"{"name":"a"}"#,
                "t.json:1:1: invalid type: map, expected a sequence",
            ),
            (
                r#"[{"name":3}]"#,
                "t.json:1:10: [0].name: invalid type: integer `3`, expected a string",
            ),
            (
                r#"[{"name":"ab","vars":1}]"#,
                "t.json:1:22: [0].vars: invalid type: integer `1`, expected a map",
            ),
            (
                r#"[{"name":"ab"},{"name":"ab"}]"#,
                "t.json: [1].name: tenant \"ab\" is listed twice (first at 0)",
            ),
        ] {
            let e = parse_tenants_json(text, "t.json", &limits).unwrap_err();
            assert_eq!(e.message(), want);
        }
    }
}
