//! The wording of parameter errors: field paths (`files["a.txt"]`), what was found (cut when
//! long, hidden when the field looks secret) and what serde expected.

use provisio::Error;
use serde::de::{self, Unexpected};
use serde_json::Value;
use std::fmt;

/// The field path and the rule of an error built with [`Error::invalid_field`] whose field is
/// a parameter path (`ttl`, `copy_from.bucket`, `files["a.txt"]`, `files[2].path`), or the
/// root `params`; `None` for any other message (`invalid record content: ...` names no
/// parameter).
pub(crate) fn split_field(message: &str) -> Option<(&str, &str)> {
    let rest = message.strip_prefix("invalid ")?;
    let end = path_len(rest)?;
    let rule = rest[end..].strip_prefix(": ")?;
    Some((&rest[..end], rule))
}

/// The length of the field path at the start of `s`, if it starts with one.
fn path_len(s: &str) -> Option<usize> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let b = s.as_bytes();
    let mut i = 0;
    let mut segment_start = true;
    while i < b.len() {
        let c = b[i] as char;
        if ident(c) {
            segment_start = false;
            i += 1;
        } else if c == '.' && !segment_start {
            segment_start = true;
            i += 1;
        } else if c == '[' && i > 0 && !segment_start {
            let close = bracket_len(&s[i..])?;
            i += close;
        } else {
            break;
        }
    }
    (i > 0 && !segment_start).then_some(i)
}

/// The length of `[3]` or `["a key"]` at the start of `s` (a Rust-debug-quoted key).
fn bracket_len(s: &str) -> Option<usize> {
    let inner = &s[1..];
    if let Some(q) = inner.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in q.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return q[i + 1..].starts_with(']').then_some(1 + 1 + i + 1 + 1),
                _ => {}
            }
        }
        None
    } else {
        let digits = inner.bytes().take_while(u8::is_ascii_digit).count();
        (digits > 0 && inner[digits..].starts_with(']')).then_some(1 + digits + 1)
    }
}

/// Words that make a field's value a secret as far as messages go (the loader's list).
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

fn looks_secret(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w))
}

/// `value` as a message may quote it for field `field`: cut when long, hidden when the field
/// looks secret.
pub(super) fn quoted(field: &str, value: &str) -> String {
    Found::Text(value.to_string()).show(looks_secret(field))
}

/// What a parameter held, as a message shows it.
#[derive(Debug)]
pub(super) enum Found {
    /// A string: quoted (cut when long), unless the field looks secret.
    Text(String),
    /// A number or boolean (`3`, `true`), unless the field looks secret.
    Scalar(String, &'static str),
    /// Only the kind of value (`a list`, `an object`, `null`).
    Plain(String),
}

impl Found {
    pub(super) fn of(v: &Value) -> Found {
        Found::Plain(
            match v {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "a list",
                Value::Object(_) => "an object",
            }
            .to_string(),
        )
    }

    fn from_unexpected(u: Unexpected<'_>) -> Found {
        Found::Plain(match u {
            Unexpected::Str(s) => return Found::Text(s.to_string()),
            Unexpected::Bool(b) => return Found::Scalar(b.to_string(), "a boolean"),
            Unexpected::Unsigned(n) => return Found::Scalar(n.to_string(), "a number"),
            Unexpected::Signed(n) => return Found::Scalar(n.to_string(), "a number"),
            Unexpected::Float(n) => return Found::Scalar(format!("{n:?}"), "a number"),
            Unexpected::Unit | Unexpected::Option => "null".to_string(),
            Unexpected::Seq => "a list".to_string(),
            Unexpected::Map => "an object".to_string(),
            other => other.to_string(),
        })
    }

    pub(super) fn show(&self, secret: bool) -> String {
        match self {
            Found::Text(_) if secret => "a string".to_string(),
            Found::Text(s) if s.chars().count() > MAX_QUOTED_CHARS => {
                let cut: String = s.chars().take(MAX_QUOTED_CHARS).collect();
                format!("{cut:?}... ({} characters)", s.chars().count())
            }
            Found::Text(s) => format!("{s:?}"),
            Found::Scalar(_, kind) if secret => kind.to_string(),
            Found::Scalar(shown, _) => shown.clone(),
            Found::Plain(p) => p.clone(),
        }
    }
}

/// What serde expects, in the words of the messages (`u32` -> `an integer`).
fn expected_words(exp: &dyn de::Expected) -> String {
    let text = exp.to_string();
    match text.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i8" | "i16" | "i32" | "i64" | "i128"
        | "isize" => "an integer".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a map" => "an object".to_string(),
        "a sequence" => "a list".to_string(),
        "a boolean" => "true or false".to_string(),
        t if t.starts_with("struct ") => "an object".to_string(),
        _ => text,
    }
}

/// Why deserializing parameters failed (the path is added by `serde_path_to_error`).
#[derive(Debug)]
pub(super) enum Failure {
    /// A value of the wrong type or form.
    Mismatch { expected: String, found: Found },
    /// A field the struct does not declare.
    Unknown {
        field: String,
        expected: &'static [&'static str],
    },
    /// A required field is absent (or null).
    Missing(&'static str),
    /// Anything else.
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Mismatch { expected, found } => {
                write!(f, "expected {expected}, found {}", found.show(true))
            }
            Failure::Unknown { field, .. } => write!(f, "unknown field {field:?}"),
            Failure::Missing(field) => write!(f, "missing field {field:?}"),
            Failure::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Failure {}

impl de::Error for Failure {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Failure::Other(msg.to_string())
    }
    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Failure::Mismatch {
            expected: expected_words(exp),
            found: Found::from_unexpected(unexp),
        }
    }
    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Self::invalid_type(unexp, exp)
    }
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Failure::Other(format!(
            "expected {}, found {len} elements",
            expected_words(exp)
        ))
    }
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Failure::Mismatch {
            expected: format!("one of {}", expected.join(", ")),
            found: Found::Text(variant.to_string()),
        }
    }
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Failure::Unknown {
            field: field.to_string(),
            expected,
        }
    }
    fn missing_field(field: &'static str) -> Self {
        Failure::Missing(field)
    }
}

/// The path of entry `key` of map field `field`, written as in every parameter error:
/// `files.README` for a plain key, `files["conf/app.yml"]` for any other.
pub(crate) fn entry(field: &str, key: &str) -> String {
    let mut path = field.to_string();
    push_key(&mut path, key);
    path
}

/// `ttl`, `copy_from.bucket`, `files["a.txt"]`, `files[2].path`; empty at the root.
pub(super) fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut out, key),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        let cut: String = key.chars().take(MAX_QUOTED_CHARS).collect();
        out.push_str(&format!("[{cut:?}]"));
    }
}

pub(super) fn failure_error(mut path: String, failure: Failure) -> Error {
    let rule = match failure {
        Failure::Missing(field) => {
            push_key(&mut path, field);
            "is required".to_string()
        }
        Failure::Unknown { field, expected } => {
            // the key is the last segment when it could be captured
            if !(path == field || path.ends_with(&format!(".{field}"))) {
                push_key(&mut path, &field);
            }
            let shown: String = field.chars().take(MAX_QUOTED_CHARS).collect();
            if expected.is_empty() {
                format!("unknown field {shown:?} (no fields are expected here)")
            } else {
                format!(
                    "unknown field {shown:?} (expected one of: {})",
                    expected.join(", ")
                )
            }
        }
        Failure::Mismatch { expected, found } => {
            format!(
                "expected {expected}, found {}",
                found.show(looks_secret(&path))
            )
        }
        Failure::Other(m) => m,
    };
    if path.is_empty() {
        path.push_str("params");
    }
    Error::invalid_field(&path, rule)
}
