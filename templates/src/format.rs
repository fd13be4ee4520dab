//! Output formats and the escaping rule of each.
//!
//! Every value a template interpolates with `{{ ... }}` goes through [`Format::escape`] for the
//! format of the file being rendered. A format either *encodes* a value so that it can only be
//! data (XML, YAML, docker-compose, JSON), or *rejects* values with characters that could change
//! the document's structure (nginx, plain text). Nothing is ever dropped or injected silently.

use provisio::{Error, Result};

/// The format of a rendered file, which decides how interpolated values are escaped.
///
/// Chosen from the output file's name by [`Format::for_path`], or set explicitly with
/// [`TemplateSet::set_format`](crate::TemplateSet::set_format).
///
/// | format | files | interpolated string values |
/// |---|---|---|
/// | [`Xml`](Format::Xml) | `*.xml` (Jenkins `config.xml`) | `&` `<` `>` `"` `'` and CR become entities; characters XML 1.0 cannot hold are rejected |
/// | [`Yaml`](Format::Yaml) | `*.yml`, `*.yaml` | emitted as a double-quoted YAML scalar with escapes |
/// | [`DockerCompose`](Format::DockerCompose) | `docker-compose*.yml`, `compose*.yaml`, ... | as YAML, and `$` doubled to `$$` so Compose does not interpolate `${...}` |
/// | [`Json`](Format::Json) | `*.json` | emitted as a JSON string literal |
/// | [`Nginx`](Format::Nginx) | `*.conf` (nginx.conf) | rejected when containing whitespace, control characters, `;` `{` `}` `"` `'` `$` `` ` `` `#` `\` |
/// | [`Text`](Format::Text) | anything else | rejected when containing line breaks or other control characters (tab is allowed) |
///
/// Numbers and booleans are written as they are (they cannot change any structure). Values
/// passed through tera's `safe` filter are not escaped: `safe` is the template author's explicit
/// opt-out and must never be applied to tenant input.
///
/// ```
/// use provisio_templates::Format;
/// assert_eq!(Format::for_path("jobs/acme/config.xml"), Format::Xml);
/// assert_eq!(Format::for_path("docker-compose.yml.tera"), Format::DockerCompose);
/// assert_eq!(Format::Yaml.escape("v", "a: b\n#c").unwrap(), r#""a: b\n#c""#);
/// assert!(Format::Nginx.escape("host", "a; evil").is_err());
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Format {
    /// XML (Jenkins `config.xml`): values are entity-encoded.
    Xml,
    /// YAML (`config.yml`): values become double-quoted scalars.
    Yaml,
    /// A docker-compose file: YAML quoting plus `$` → `$$`.
    DockerCompose,
    /// JSON: values become JSON string literals.
    Json,
    /// nginx configuration: values that could end a directive or a block are rejected.
    Nginx,
    /// Plain text: values that could start a new line are rejected.
    Text,
}

/// Template suffixes removed from a template's name to get its output path.
pub(crate) const TEMPLATE_SUFFIXES: &[&str] = &[".tera", ".j2"];

/// The output path of a template: its name without a [`TEMPLATE_SUFFIXES`] suffix.
pub(crate) fn output_path(name: &str) -> &str {
    TEMPLATE_SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|rest| !rest.is_empty()))
        .unwrap_or(name)
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] = [
        Format::Xml,
        Format::Yaml,
        Format::DockerCompose,
        Format::Json,
        Format::Nginx,
        Format::Text,
    ];

    /// The format of a file, from its name (a trailing `.tera` or `.j2` is ignored):
    /// `.xml` → XML; `docker-compose*.yml|yaml` or `compose*.yml|yaml` → docker-compose;
    /// `.yml`/`.yaml` → YAML; `.json` → JSON; `.conf` → nginx; anything else → plain text.
    pub fn for_path(path: &str) -> Format {
        let path = output_path(path);
        let file = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
        let ext = file.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "xml" => Format::Xml,
            "yml" | "yaml" if file.starts_with("docker-compose") || file.starts_with("compose") => {
                Format::DockerCompose
            }
            "yml" | "yaml" => Format::Yaml,
            "json" => Format::Json,
            "conf" => Format::Nginx,
            _ => Format::Text,
        }
    }

    /// A short name for messages (`xml`, `yaml`, `docker-compose`, `json`, `nginx`, `text`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Xml => "xml",
            Format::Yaml => "yaml",
            Format::DockerCompose => "docker-compose",
            Format::Json => "json",
            Format::Nginx => "nginx",
            Format::Text => "text",
        }
    }

    /// The escaping rule of this format, in words (used in error messages and docs).
    pub fn rule(self) -> &'static str {
        match self {
            Format::Xml => {
                "XML values are entity-encoded (& < > \" ' and carriage return) and must not \
                 contain control characters other than tab and newline, U+FFFE or U+FFFF"
            }
            Format::Yaml => "YAML values are emitted as double-quoted scalars with escapes",
            Format::DockerCompose => {
                "docker-compose values are emitted as double-quoted YAML scalars with `$` doubled"
            }
            Format::Json => "JSON values are emitted as string literals",
            Format::Nginx => {
                "nginx values must not contain whitespace, control characters, or any of \
                 ; { } \" ' $ ` # \\"
            }
            Format::Text => {
                "plain-text values must not contain line breaks or control characters other \
                 than tab"
            }
        }
    }

    /// Escapes one interpolated value for this format, or explains why it cannot be written.
    ///
    /// `field` names the value in the error (`invalid <field>: ...`). The error never contains
    /// the value itself, which may be sensitive.
    pub fn escape(self, field: &str, value: &str) -> Result<String> {
        self.try_escape(value).map_err(|bad| {
            Error::invalid_field(
                field,
                format!(
                    "contains {bad}, which {} forbids ({})",
                    self.name(),
                    self.rule()
                ),
            )
        })
    }

    /// Escapes `value`, or names the offending character.
    pub(crate) fn try_escape(self, value: &str) -> std::result::Result<String, String> {
        match self {
            Format::Xml => escape_xml(value),
            Format::Yaml => Ok(quote_yaml(value, false)),
            Format::DockerCompose => Ok(quote_yaml(value, true)),
            Format::Json => Ok(serde_json::Value::from(value).to_string()),
            Format::Nginx => match value.chars().find(|&c| nginx_forbidden(c)) {
                Some(c) => Err(describe(c)),
                None => Ok(value.to_string()),
            },
            Format::Text => match value.chars().find(|&c| text_forbidden(c)) {
                Some(c) => Err(describe(c)),
                None => Ok(value.to_string()),
            },
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a rejected character is named in messages: quoted when printable, `U+XXXX` otherwise.
fn describe(c: char) -> String {
    match c {
        '\n' => "a newline".to_string(),
        '\r' => "a carriage return".to_string(),
        '\t' => "a tab".to_string(),
        ' ' => "a space".to_string(),
        c if c.is_control() || c.is_whitespace() => format!("the character U+{:04X}", c as u32),
        c => format!("{c:?}"),
    }
}

fn nginx_forbidden(c: char) -> bool {
    // Whitespace separates directive arguments; `;`, `{`, `}` end directives and blocks; quotes
    // and `\` change tokenisation; `$` starts a variable; `#` a comment; backtick is refused
    // because it has meaning in embedded scripts (perl/njs) and shell snippets.
    c.is_control()
        || c.is_whitespace()
        || matches!(c, ';' | '{' | '}' | '"' | '\'' | '$' | '`' | '#' | '\\')
}

fn text_forbidden(c: char) -> bool {
    (c.is_control() && c != '\t') || matches!(c, '\u{2028}' | '\u{2029}')
}

fn escape_xml(value: &str) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A raw CR would be normalised to LF by every XML parser.
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            // Not representable in XML 1.0, not even as a character reference.
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                return Err(describe(c));
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A double-quoted YAML scalar holding exactly `value` (YAML 1.1 and 1.2 agree on these escapes).
fn quote_yaml(value: &str, double_dollar: bool) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '$' if double_dollar => out.push_str("$$"),
            c if !yaml_printable(c) => {
                let n = c as u32;
                if n <= 0xFF {
                    out.push_str(&format!("\\x{n:02X}"));
                } else if n <= 0xFFFF {
                    out.push_str(&format!("\\u{n:04X}"));
                } else {
                    out.push_str(&format!("\\U{n:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// YAML's `c-printable` set, minus the BOM (which YAML treats specially).
fn yaml_printable(c: char) -> bool {
    matches!(c as u32,
        0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFEFE | 0xFF00..=0xFFFD | 0x10000..=0x10FFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_path() {
        assert_eq!(Format::for_path("config.xml"), Format::Xml);
        assert_eq!(Format::for_path("a/config.yml"), Format::Yaml);
        assert_eq!(Format::for_path("a/config.YAML.tera"), Format::Yaml);
        assert_eq!(
            Format::for_path("docker-compose.yml"),
            Format::DockerCompose
        );
        assert_eq!(
            Format::for_path("stack/docker-compose.prod.yaml"),
            Format::DockerCompose
        );
        assert_eq!(Format::for_path("compose.yaml"), Format::DockerCompose);
        assert_eq!(Format::for_path("nginx.conf"), Format::Nginx);
        assert_eq!(Format::for_path("settings.json.j2"), Format::Json);
        assert_eq!(Format::for_path("README"), Format::Text);
        assert_eq!(Format::for_path(".tera"), Format::Text);
        assert_eq!(output_path("a/b.yml.tera"), "a/b.yml");
        assert_eq!(output_path(".tera"), ".tera");
    }

    #[test]
    fn yaml_quoting() {
        assert_eq!(quote_yaml("plain", false), "\"plain\"");
        assert_eq!(
            quote_yaml("a\"b\\c\nd\u{2028}\u{1}\u{feff}", false),
            "\"a\\\"b\\\\c\\nd\\L\\x01\\uFEFF\""
        );
        assert_eq!(quote_yaml("${X}", true), "\"$${X}\"");
    }

    #[test]
    fn xml_escaping() {
        assert_eq!(
            escape_xml("<a href=\"x\">'&'</a>\r\n").unwrap(),
            "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;&#13;\n"
        );
        assert!(escape_xml("bell\u{7}").is_err());
    }

    #[test]
    fn rejections_name_the_character_not_the_value() {
        let e = Format::Nginx.escape("server_name", "x;secret").unwrap_err();
        assert!(e.message().contains("invalid server_name"), "{e}");
        assert!(e.message().contains("';'"), "{e}");
        assert!(!e.message().contains("secret"), "{e}");
        assert!(
            Format::Nginx
                .escape("p", "ok.example.com:8080/x-y_z")
                .is_ok()
        );
        assert!(Format::Text.escape("p", "a\tb c;{}$").is_ok());
        assert!(Format::Text.escape("p", "a\nb").is_err());
    }
}
