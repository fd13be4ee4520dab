//! Variables files: one object of `KEY: VALUE` pairs (YAML, TOML or JSON) giving a tenant's
//! plain variables (`provisio apply --vars-file tenant.yaml`).

use crate::{Format, Limits, parse_str, read_text};
use provisio::Result;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The variables of a file; an empty YAML document (or JSON `null`) gives none. The format is
/// the extension's (`.yaml`/`.yml`, `.toml`, `.json`), or the content's for any other name.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tenant.yaml");
/// std::fs::write(&path, "size: large\nreplicas: 2\n").unwrap();
/// let vars = provisio_loader::vars::load_vars(&path, &provisio_loader::Limits::default())?;
/// assert_eq!(vars["replicas"], 2);
/// std::fs::write(&path, "- size\n").unwrap();
/// let e = provisio_loader::vars::load_vars(&path, &Default::default()).unwrap_err();
/// assert!(e.message().contains("tenant.yaml:1:1: "), "{e}");
/// # Ok::<(), provisio::Error>(())
/// ```
pub fn load_vars(path: impl AsRef<Path>, limits: &Limits) -> Result<BTreeMap<String, Value>> {
    let path = path.as_ref();
    let text = read_text(path, limits)?;
    // Any name will do for a variables file (`tenant.vars`): an extension that names no format
    // leaves it to the content.
    let format = Format::from_path(path).unwrap_or_else(|| Format::detect(&text));
    parse_vars(&text, format, &path.display().to_string(), limits)
}

/// The variables of a document in hand (`origin` names it in errors).
pub fn parse_vars(
    text: &str,
    format: Format,
    origin: &str,
    limits: &Limits,
) -> Result<BTreeMap<String, Value>> {
    let vars: Option<BTreeMap<String, Value>> = parse_str(text, format, origin, limits)?;
    Ok(vars.unwrap_or_default())
}
