//! The document formats provisio reads, told apart by file extension or, for a file without
//! one, by content.

use std::fmt;
use std::path::Path;

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// YAML (1.2 scalars: `yes` and `no` are strings).
    Yaml,
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl Format {
    /// The format of a file by its extension (`.yaml`/`.yml`, `.toml`, `.json`, any case).
    ///
    /// ```
    /// use provisio_loader::Format;
    /// use std::path::Path;
    /// assert_eq!(Format::from_path(Path::new("a.YML")), Some(Format::Yaml));
    /// assert_eq!(Format::from_path(Path::new("a.txt")), None);
    /// ```
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(Format::Yaml),
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The format a document's content suggests, for files whose name says nothing.
    ///
    /// The first significant character decides: `{` is JSON; `[` is a TOML table header when
    /// the whole line is one (`[providers.dns.default]`), JSON otherwise; a first line of the
    /// form `key = value` is TOML; anything else is YAML (which also reads most JSON).
    ///
    /// ```
    /// use provisio_loader::Format;
    /// assert_eq!(Format::detect("{\"name\": \"x\"}"), Format::Json);
    /// assert_eq!(Format::detect("# providers\n[memory]\nseed = 1\n"), Format::Toml);
    /// assert_eq!(Format::detect("fallback = \"memory\"\n"), Format::Toml);
    /// assert_eq!(Format::detect("name: x\n"), Format::Yaml);
    /// ```
    pub fn detect(text: &str) -> Format {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Some(line) = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
        else {
            return Format::Yaml;
        };
        if line.starts_with('{') {
            Format::Json
        } else if line.starts_with('[') {
            if is_toml_header(line) {
                Format::Toml
            } else {
                Format::Json
            }
        } else if is_toml_assignment(line) {
            Format::Toml
        } else {
            Format::Yaml
        }
    }

    /// The format's name for messages (`YAML`, `TOML`, `JSON`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "YAML",
            Format::Toml => "TOML",
            Format::Json => "JSON",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A character of a TOML key as a header or assignment writes it (bare keys, dots, quotes).
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\'' | ' ' | '\t')
}

/// `[a.b]` or `[[a.b]]`, optionally followed by a comment.
fn is_toml_header(line: &str) -> bool {
    let line = line.split_once('#').map_or(line, |(l, _)| l).trim_end();
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')));
    inner.is_some_and(|k| !k.trim().is_empty() && k.chars().all(is_key_char))
}

/// `key = ...` (a YAML line would have `:` after its key).
fn is_toml_assignment(line: &str) -> bool {
    line.split_once('=')
        .is_some_and(|(key, _)| !key.trim().is_empty() && key.chars().all(is_key_char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_detection() {
        for (text, want) in [
            ("", Format::Yaml),
            ("\u{feff}{}", Format::Json),
            ("[1, 2]", Format::Json),
            ("[[tenants]]\nname = \"a\"\n", Format::Toml),
            ("[ \"quoted key\" ] # c\n", Format::Toml),
            ("[memory\n", Format::Json),
            ("a.b = 1\n", Format::Toml),
            ("a: b = c\n", Format::Yaml),
            ("- a\n", Format::Yaml),
            ("# only = a comment\n", Format::Yaml),
        ] {
            assert_eq!(Format::detect(text), want, "{text:?}");
        }
        assert_eq!(Format::Toml.to_string(), "TOML");
    }
}
