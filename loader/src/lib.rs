//! One loader for every file provisio reads: blueprints, provider files, memory fixtures,
//! variables files and tenants files.
//!
//! Every document goes through [`parse_str`] (text in hand) or [`load_file`] (a path), which
//! hold it to [`Limits`] — size before the file is read whole, nesting depth and YAML alias
//! expansion while it is parsed, each in time linear in the document's size — and report a
//! refusal as an `InvalidInput` [`provisio::Error`] whose message names the file, the line and
//! column, the field path when there is one, and the rule:
//!
//! ```text
//! blueprint.yaml:12:7: resources.dns_prod.timeout_secs: invalid value, expected u64
//! ```
//!
//! Messages never echo input lines, cut long quoted values, and never quote a value of a field
//! whose path looks secret (`password`, `secret`, `token`, ...).
//!
//! ```
//! use provisio_loader::{Format, Limits, parse_str};
//! #[derive(Debug, serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Record { name: String, ttl: u32 }
//!
//! let r: Record = parse_str("name: www\nttl: 300\n", Format::Yaml, "record.yaml", &Limits::default())?;
//! assert_eq!(r.ttl, 300);
//!
//! let e = parse_str::<Record>("name: www\nttl: [1]\n", Format::Yaml, "record.yaml", &Limits::default())
//!     .unwrap_err();
//! assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput);
//! assert!(e.message().starts_with("record.yaml:2:6: ttl: "), "{e}");
//! # Ok::<(), provisio::Error>(())
//! ```
//!
//! The format of a file comes from its extension (`.yaml`/`.yml`, `.toml`, `.json`); a file
//! without extension is recognised by its content ([`Format::detect`]). The formats, limits and
//! error format are described in `docs/files.md`.
#![deny(missing_docs)]

mod failure;
mod format;
mod formats;
mod limits;
mod read;
pub mod tenants;
pub mod vars;

pub use failure::Position;
pub use format::Format;
pub use limits::Limits;
pub use read::read_text;

use provisio::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::Path;

/// Parses a document of `format` into `T`, within `limits`. `origin` names the document in
/// errors: a file's path, or a placeholder such as `<blueprint>` for text from elsewhere.
///
/// A leading byte order mark is ignored. Errors are `InvalidInput`:
/// `origin:line:column: field.path: rule`.
pub fn parse_str<T: DeserializeOwned>(
    text: &str,
    format: Format,
    origin: &str,
    limits: &Limits,
) -> Result<T> {
    read::check_size(text, origin, limits)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    formats::parse(text, format, limits).map_err(|f| f.into_error(origin))
}

/// Reads and parses a file into `T`, within `limits`; the format comes from
/// [`format_of`]. Errors name the path (see [`read_text`] and [`parse_str`]).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("vars.toml");
/// std::fs::write(&path, "size = \"large\"\n").unwrap();
/// let vars: std::collections::BTreeMap<String, String> =
///     provisio_loader::load_file(&path, &provisio_loader::Limits::default())?;
/// assert_eq!(vars["size"], "large");
/// # Ok::<(), provisio::Error>(())
/// ```
pub fn load_file<T: DeserializeOwned>(path: impl AsRef<Path>, limits: &Limits) -> Result<T> {
    let path = path.as_ref();
    let text = read_text(path, limits)?;
    let format = format_of(path, &text)?;
    parse_str(&text, format, &path.display().to_string(), limits)
}

/// The format of a file: by extension when it has one of `.yaml`, `.yml`, `.toml`, `.json`;
/// by content ([`Format::detect`]) when it has no extension; an `InvalidInput` error naming
/// the accepted extensions for any other extension.
pub fn format_of(path: &Path, text: &str) -> Result<Format> {
    if let Some(format) = Format::from_path(path) {
        return Ok(format);
    }
    if path.extension().is_none() {
        return Ok(Format::detect(text));
    }
    Err(Error::invalid_input(format!(
        "{}: cannot tell the format from the extension: use .yaml, .yml, .toml or .json",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn files_by_extension_or_content() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let read = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            load_file::<BTreeMap<String, u32>>(&p, &limits)
        };
        for (name, text) in [
            ("a.yaml", "a: 1\n"),
            ("a.YML", "a: 1\n"),
            ("a.toml", "a = 1\n"),
            ("a.json", "{\"a\": 1}"),
            ("noext-json", "\u{feff}{\"a\": 1}"),
            ("noext-toml", "a = 1\n"),
            ("noext-yaml", "a: 1\n"),
        ] {
            assert_eq!(read(name, text).unwrap()["a"], 1, "{name}");
        }
        let e = read("a.txt", "a: 1\n").unwrap_err();
        assert!(e.message().contains("a.txt: cannot tell the format"), "{e}");
        let e = read("b.json", "{\"a\": 1} x").unwrap_err();
        assert!(
            e.message().ends_with("b.json:1:10: trailing characters"),
            "{e}"
        );
    }
}
