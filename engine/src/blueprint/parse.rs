//! Reading blueprints: text in YAML, TOML or JSON, a file, or a directory with its templates.

use super::{Blueprint, Format};
use provisio::{Error, Result};
use provisio_loader::Limits;
use provisio_templates::TemplateSet;
use std::path::Path;

/// Parses blueprint text; errors name `<blueprint>` with the line, column and field.
fn parse_text(text: &str, format: Format) -> Result<Blueprint> {
    provisio_loader::parse_str(text, format, "<blueprint>", &Limits::default())
}

impl Blueprint {
    /// Parses a YAML document (no validation beyond the document's shape), held to the
    /// default [`Limits`] (size, nesting depth, alias expansion). Errors are `InvalidInput`
    /// naming the line, column and field:
    ///
    /// ```
    /// let e = provisio_engine::Blueprint::from_yaml(
    ///     "name: x\nresources:\n  web:\n    type: compute.instance\n    timeout_secs: soon\n",
    /// )
    /// .unwrap_err();
    /// assert_eq!(
    ///     e.message(),
    ///     "<blueprint>:5:19: resources.web.timeout_secs: invalid value, expected u64"
    /// );
    /// ```
    pub fn from_yaml(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Yaml)
    }
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Toml)
    }
    /// Parses a JSON document.
    pub fn from_json(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Json)
    }
    /// Parses a document of the given format.
    pub fn parse(text: &str, format: Format) -> Result<Blueprint> {
        parse_text(text, format)
    }
    /// Reads a file, choosing the format by extension (by content when the file has none),
    /// within the default [`Limits`]. Errors name the file, line, column and field:
    /// `blueprint.yaml:12:7: resources.dns_prod.params: invalid type: ...`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Blueprint> {
        provisio_loader::load_file(path, &Limits::default())
    }

    /// Loads a blueprint from a file, or from a directory holding `blueprint.yaml` (or `.yml`,
    /// `.toml`, `.json`), together with the `templates/` directory beside the file, if any.
    ///
    /// ```no_run
    /// let bp = provisio_engine::Blueprint::load("examples/launch-tenant")?;
    /// assert!(bp.templates.is_some());
    /// # Ok::<(), provisio::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Blueprint> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            [
                "blueprint.yaml",
                "blueprint.yml",
                "blueprint.toml",
                "blueprint.json",
            ]
            .iter()
            .map(|f| path.join(f))
            .find(|f| f.is_file())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no blueprint.yaml, .yml, .toml or .json in {}",
                    path.display()
                ))
            })?
        } else if path.exists() {
            path.to_path_buf()
        } else {
            return Err(Error::not_found(format!(
                "blueprint {} does not exist",
                path.display()
            )));
        };
        let mut bp = Self::from_file(&file)?;
        let dir = file
            .parent()
            .map(|d| d.join("templates"))
            .filter(|d| d.is_dir());
        if let Some(dir) = dir {
            bp = bp.with_templates(TemplateSet::load(&dir)?);
        }
        Ok(bp)
    }
}
