//! One parser per format, each enforcing [`crate::Limits`] before or while it builds values,
//! and reporting a [`Failure`] with the position and field path.

mod json;
mod toml;
mod yaml;

use crate::failure::Failure;
use crate::format::Format;
use crate::limits::Limits;
use serde::de::DeserializeOwned;

/// The message of every depth refusal, whatever the format.
pub(crate) fn too_deep(limits: &Limits) -> String {
    format!(
        "nesting deeper than the limit of {} levels (max_depth)",
        limits.max_depth
    )
}

/// Parses `text` (without byte order mark) as `format` into `T`.
pub(crate) fn parse<T: DeserializeOwned>(
    text: &str,
    format: Format,
    limits: &Limits,
) -> Result<T, Failure> {
    match format {
        Format::Yaml => yaml::parse(text, limits),
        Format::Toml => toml::parse(text, limits),
        Format::Json => json::parse(text, limits),
    }
}
