//! The tenants file of a fleet run: CSV or JSON.

use provisio::{Error, Result};
use serde_json::{Map, Value};
use std::path::Path;

/// One tenant of the file: its name and plain variables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TenantRow {
    pub(crate) name: String,
    pub(crate) vars: Map<String, Value>,
}

/// Reads a tenants file: `.csv` (header with a `name` column; other columns are variables,
/// empty cells are left out) or `.json` (an array of objects with `name`; the other keys, or a
/// `vars` object, are variables).
pub(crate) fn read(path: &Path) -> Result<Vec<TenantRow>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::not_found(format!("cannot read tenants file {}", path.display())).with_source(e)
    })?;
    let bad = |m: String| Error::invalid_input(format!("tenants file {}: {m}", path.display()));
    let rows = match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "json" => from_json(&text).map_err(bad)?,
        "csv" => from_csv(&text).map_err(bad)?,
        _ => return Err(bad("use a .csv or .json file".into())),
    };
    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        provisio::validate::tenant_name("tenant name", &r.name)
            .map_err(|e| bad(e.message().to_string()))?;
        if !seen.insert(r.name.clone()) {
            return Err(bad(format!("tenant {:?} is listed twice", r.name)));
        }
    }
    Ok(rows)
}

fn from_csv(text: &str) -> std::result::Result<Vec<TenantRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let name_col = headers
        .iter()
        .position(|h| h == "name")
        .ok_or("the header has no `name` column")?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("line {}: {e}", i + 2))?;
        let mut vars = Map::new();
        for (j, field) in record.iter().enumerate() {
            if j != name_col && !field.is_empty() {
                vars.insert(headers[j].to_string(), Value::String(field.to_string()));
            }
        }
        rows.push(TenantRow {
            name: record.get(name_col).unwrap_or_default().to_string(),
            vars,
        });
    }
    Ok(rows)
}

fn from_json(text: &str) -> std::result::Result<Vec<TenantRow>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let items = value.as_array().ok_or("expected a JSON array of tenants")?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let obj = item
                .as_object()
                .ok_or(format!("item {i}: expected an object with `name`"))?;
            let name = obj
                .get("name")
                .and_then(Value::as_str)
                .ok_or(format!("item {i}: `name` must be a string"))?;
            let mut vars = Map::new();
            for (k, v) in obj {
                match k.as_str() {
                    "name" => {}
                    "vars" => {
                        let m = v
                            .as_object()
                            .ok_or(format!("item {i}: `vars` must be an object"))?;
                        vars.extend(m.clone());
                    }
                    _ => {
                        vars.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(TenantRow {
                name: name.to_string(),
                vars,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_with_variables() {
        let rows =
            from_csv("name,domain,size\nacme,acme.test,\nglobex, example.org ,large\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "acme");
        assert_eq!(rows[0].vars.len(), 1);
        assert_eq!(rows[1].vars["domain"], "example.org");
        assert_eq!(rows[1].vars["size"], "large");
        assert!(from_csv("tenant\nacme\n").unwrap_err().contains("name"));
    }

    #[test]
    fn json_rows_with_flat_or_nested_variables() {
        let rows =
            from_json(r#"[{"name":"a","size":"s"},{"name":"b","vars":{"size":"l"}}]"#).unwrap();
        assert_eq!(rows[0].vars["size"], "s");
        assert_eq!(rows[1].vars["size"], "l");
        assert!(from_json(r#"[{"size":"s"}]"#).unwrap_err().contains("name"));
        assert!(from_json(r#"{"name":"a"}"#).unwrap_err().contains("array"));
    }
}
