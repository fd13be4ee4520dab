//! How a refused document becomes a [`provisio::Error`]: `file:line:column: field.path: rule`,
//! with no input line echoed and no value of a secret-looking field quoted.

use provisio::Error;
use std::fmt;

/// A 1-based line and column in a document (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `text` (clamped to the text; an offset inside a
    /// character counts as that character).
    ///
    /// ```
    /// use provisio_loader::Position;
    /// assert_eq!(Position::at_offset("ab\ncdé\nf", 7), Position { line: 2, column: 4 });
    /// ```
    pub fn at_offset(text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Position {
            line: before.bytes().filter(|b| *b == b'\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a document was refused, before it is tied to its origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    position: Option<Position>,
    path: Option<String>,
    rule: String,
}

/// Words that make a field's value a secret as far as messages go. Matching is by substring
/// of the lower-cased path, so `admin_password`, `secrets.smtp` and `api_token` all count.
const SECRET_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "credential",
    "private",
    "apikey",
    "api_key",
    "access_key",
    "auth",
];

/// The longest quoted value a message repeats before cutting it.
const MAX_QUOTED_CHARS: usize = 40;
/// The longest field path a message shows whole (deep documents have long paths).
const MAX_PATH_CHARS: usize = 120;
/// The longest rule text a message keeps.
const MAX_RULE_CHARS: usize = 400;

/// Whether a field path names a secret (its values are never quoted in messages).
pub(crate) fn looks_secret(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

impl Failure {
    /// A failure breaking `rule`, at no known place.
    pub(crate) fn new(rule: impl Into<String>) -> Self {
        Failure {
            position: None,
            path: None,
            rule: rule.into(),
        }
    }

    /// The same at `position`.
    pub(crate) fn at(mut self, position: Option<Position>) -> Self {
        self.position = position;
        self
    }

    /// The same in field `path` (serde's `a.b[0].c`). Segments serde could not name (`?`, a
    /// map key that failed to parse) are dropped from the end, and `.` (the document) means
    /// no path.
    pub(crate) fn in_field(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        let mut path = path.as_str();
        while let Some(shorter) = path.strip_suffix(".?") {
            path = shorter;
        }
        self.path = (!path.is_empty() && path != "." && path != "?").then(|| path.to_string());
        self
    }

    /// The error: `InvalidInput` with `origin:line:column: path: rule`.
    pub(crate) fn into_error(self, origin: &str) -> Error {
        let secret = self.path.as_deref().is_some_and(looks_secret);
        let rule = clean_rule(&self.rule, secret);
        let mut message = origin.to_string();
        if let Some(p) = self.position {
            message.push_str(&format!(":{p}"));
        }
        message.push_str(": ");
        if let Some(path) = &self.path {
            message.push_str(&shorten(path, MAX_PATH_CHARS));
            message.push_str(": ");
        }
        message.push_str(&rule);
        Error::invalid_input(message)
    }
}

/// The rule text as a message may show it: control characters escaped, quoted values cut to
/// [`MAX_QUOTED_CHARS`] (or hidden when `secret`), the whole cut to [`MAX_RULE_CHARS`].
///
/// Quoted values are serde's `string "..."` (Rust-escaped) and `` integer `1` `` forms, the
/// only ones in which parsers repeat a document's values.
pub(crate) fn clean_rule(rule: &str, secret: bool) -> String {
    let mut out = String::with_capacity(rule.len().min(MAX_RULE_CHARS + 8));
    let mut rest = rule;
    while let Some(i) = rest.find(['"', '`']) {
        out.push_str(&rest[..i]);
        let quote = rest.as_bytes()[i] as char;
        let body_start = i + 1;
        let Some(len) = quoted_len(&rest[body_start..], quote) else {
            // Unterminated: keep the rest as text.
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let body = &rest[body_start..body_start + len];
        // A backquoted word after `field`/`variant`/`key` names the document's structure,
        // not a value; only literals of values are hidden.
        let names_value = quote == '"' || is_value_literal(&out);
        out.push(quote);
        if secret && names_value {
            out.push_str("<redacted>");
        } else if body.chars().count() > MAX_QUOTED_CHARS {
            out.extend(body.chars().take(MAX_QUOTED_CHARS));
            out.push_str("...");
        } else {
            out.push_str(body);
        }
        out.push(quote);
        rest = &rest[body_start + len + 1..];
    }
    out.push_str(rest);
    let mut cleaned: String = out
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_debug().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    if cleaned.chars().count() > MAX_RULE_CHARS {
        cleaned = cleaned.chars().take(MAX_RULE_CHARS).collect();
        cleaned.push_str("...");
    }
    cleaned
}

/// `text` cut in its middle to about `max` characters.
fn shorten(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max / 2).collect();
    let tail: String = text.chars().skip(n - max / 2).collect();
    format!("{head}...{tail}")
}

/// The length of a quoted body up to (not including) its closing `quote`; `"` bodies may
/// hold backslash escapes.
fn quoted_len(body: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return Some(i),
            _ => escaped = false,
        }
    }
    None
}

/// Whether a backquoted literal following `before` is a value (serde's `integer `1``,
/// `floating point `1.5``, `character `c``; serde-saphyr's `value `.nan``).
fn is_value_literal(before: &str) -> bool {
    ["integer ", "floating point ", "character ", "value "]
        .iter()
        .any(|p| before.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shape() {
        let e = Failure::new("invalid type: string \"abc\", expected u32")
            .at(Some(Position {
                line: 12,
                column: 7,
            }))
            .in_field("resources.dns_prod.params.ttl")
            .into_error("blueprint.yaml");
        assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput);
        assert_eq!(
            e.message(),
            "blueprint.yaml:12:7: resources.dns_prod.params.ttl: invalid type: string \"abc\", expected u32"
        );
        let e = Failure::new("unexpected end of file")
            .in_field(".")
            .into_error("<blueprint>");
        assert_eq!(e.message(), "<blueprint>: unexpected end of file");
        let e = Failure::new("unknown variant `dnss`")
            .in_field("providers.?")
            .into_error("p.toml");
        assert_eq!(e.message(), "p.toml: providers: unknown variant `dnss`");
        let deep = "[0]".repeat(64);
        let e = Failure::new("too deep").in_field(&deep).into_error("f");
        assert_eq!(
            e.message().len(),
            "f: ".len() + 123 + ": too deep".len(),
            "{e}"
        );
    }

    #[test]
    fn secret_values_are_never_quoted() {
        let e = Failure::new("invalid type: string \"hunter2 \\\" x\", expected a map")
            .in_field("database.roles.app.password")
            .into_error("f.yaml");
        assert!(!e.message().contains("hunter2"), "{e}");
        assert!(e.message().contains("string \"<redacted>\""), "{e}");
        let e = Failure::new("invalid type: integer `12345`, expected a string")
            .in_field("secrets.smtp")
            .into_error("f.yaml");
        assert!(!e.message().contains("12345"), "{e}");
        let e = Failure::new("unknown field `pasword`, expected `password`")
            .in_field("database.roles.app.pasword")
            .into_error("f.yaml");
        assert!(e.message().contains("`pasword`"), "{e}");
    }

    #[test]
    fn long_values_and_control_characters_are_cut() {
        let long = "x".repeat(10_000);
        let rule = clean_rule(&format!("invalid value: string \"{long}\"\u{1b}[2J"), false);
        assert!(rule.len() < 200, "{rule}");
        assert!(!rule.contains('\u{1b}'), "{rule}");
        assert_eq!(
            clean_rule("unterminated \"quote", true),
            "unterminated \"quote"
        );
        assert!(clean_rule(&"y".repeat(5_000), false).len() <= MAX_RULE_CHARS + 3);
    }
}
