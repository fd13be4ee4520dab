//! `Blueprint`: a blueprint loaded from a file or directory (with its `templates/`), parsed
//! from text, or built from a plain object.

use crate::errors::OrThrow;
use crate::{from_js, to_js};
use napi_derive::napi;
use provisio_engine::blueprint::Format;
use serde_json::Value;

/// A blueprint: named resources, declared tenant variables, file templates.
#[napi]
pub struct Blueprint {
    pub(crate) inner: provisio_engine::Blueprint,
}

// The constructors are module functions that `index.js` installs as `Blueprint.load`,
// `Blueprint.parse` and `Blueprint.fromObject` (napi's static methods are read-only, so they
// could not be wrapped to throw `ProvisioError`s).

/// Loads a blueprint file, or a directory holding `blueprint.yaml` (or `.yml`, `.toml`,
/// `.json`) and its `templates/`.
#[napi(js_name = "blueprintLoad")]
pub fn blueprint_load(path: String) -> napi::Result<Blueprint> {
    let inner = provisio_engine::Blueprint::load(&path).or_throw()?;
    Ok(Blueprint { inner })
}

/// Parses a document: `format` is `"yaml"` (default), `"toml"` or `"json"`.
#[napi(js_name = "blueprintParse")]
pub fn blueprint_parse(text: String, format: Option<String>) -> napi::Result<Blueprint> {
    let format = match format.as_deref().unwrap_or("yaml") {
        "yaml" | "yml" => Format::Yaml,
        "toml" => Format::Toml,
        "json" => Format::Json,
        other => {
            return Err(crate::errors::bad_argument(
                "format",
                format!("{other:?} is not yaml, toml or json"),
            ));
        }
    };
    let inner = provisio_engine::Blueprint::parse(&text, format).or_throw()?;
    Ok(Blueprint { inner })
}

/// Builds a blueprint from an object of the document's shape (`{ name, variables,
/// resources }`). `templates` optionally names a directory of file templates.
#[napi(js_name = "blueprintFromObject")]
pub fn blueprint_from_object(
    document: Value,
    templates: Option<String>,
) -> napi::Result<Blueprint> {
    let mut inner: provisio_engine::Blueprint = from_js("blueprint", document)?;
    if let Some(dir) = templates {
        let set = provisio_templates::TemplateSet::load(&dir).or_throw()?;
        inner = inner.with_templates(set);
    }
    Ok(Blueprint { inner })
}

#[napi]
impl Blueprint {
    /// The blueprint's name.
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The resource names.
    #[napi(getter)]
    pub fn resources(&self) -> Vec<String> {
        self.inner.resources.keys().cloned().collect()
    }

    /// The document as an object (`{ name, variables, resources }`; templates are not part of
    /// it).
    #[napi]
    pub fn to_object(&self) -> napi::Result<Value> {
        to_js(&self.inner)
    }

    /// Checks the blueprint against the built-in resource types; throws `InvalidInputError`
    /// naming the resource and field. (An engine with custom steps checks its own types when it
    /// runs.)
    #[napi]
    pub fn validate(&self) -> napi::Result<()> {
        self.inner
            .validate(&provisio_engine::types::builtin())
            .or_throw()
            .map(|_| ())
    }
}
