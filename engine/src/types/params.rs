//! Typed resource parameters: each built-in type declares its parameters as a
//! `#[derive(Deserialize)] #[serde(deny_unknown_fields)]` struct and reads them with [`parse`].
//!
//! Reading happens in two passes:
//! 1. [`parse`] deserializes the JSON parameters into the struct (through
//!    `serde_path_to_error`), so that presence, JSON types and unknown fields are checked by the
//!    struct's declaration, and a refusal names the exact field path and the rule:
//!    `invalid ttl: expected an integer, found "abc"`, `invalid copy_from.bucket: is required`,
//!    `invalid files["a.txt"]: expected a string, found 3`, `invalid extra: unknown field
//!    "extra" (expected one of: zone, name, ...)`. A field holding `null` counts as absent (an
//!    entry of a map such as `files` may not be `null`).
//! 2. the type's own `parse` applies what serde cannot express (name rules, ranges, "one of
//!    these two") through the [`Phase`] helpers, which skip strings still holding `${...}` at
//!    load time ([`Phase::Load`]) and check everything once resolved.
//!
//! Integer and boolean fields are [`Int`] and [`Flag`]: they also take strings (interpolation
//! yields strings: `"300"`, `"true"`), and at load time a string holding a reference
//! (`${tenant.ttl}`), which is checked once resolved. [`string_like`] reads a string field that
//! YAML may type as a number (`version: 16`).
//!
//! The blueprint validator shows a refusal as `resources.<name>.params.<path>: <rule>`
//! ([`split_field`] reads the path back from the error).

use provisio::{Error, Result};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Unexpected, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::fmt;

/// When parameters are read: at load time references may still be unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `validate`: strings may hold `${...}`; name rules are skipped on those.
    Load,
    /// `identity`/`read`/`apply`/`delete`: every reference is resolved.
    Resolved,
}

/// Whether a string still holds a `${...}` reference.
pub(crate) fn is_unresolved(s: &str) -> bool {
    s.contains("${")
}

impl Phase {
    /// Whether `value` is a reference still to be resolved (only ever at load time).
    pub(crate) fn unresolved(self, value: &str) -> bool {
        self == Phase::Load && is_unresolved(value)
    }

    /// Checks `value` of field `field` with `rule` unless it is an unresolved reference;
    /// returns the canonical form (or the raw reference at load time).
    pub(crate) fn name(
        self,
        field: &str,
        value: &str,
        rule: impl Fn(&str, &str) -> Result<String>,
    ) -> Result<String> {
        if self.unresolved(value) {
            return Ok(value.to_string());
        }
        rule(field, value)
    }

    /// [`Phase::name`] of an optional field.
    pub(crate) fn opt_name(
        self,
        field: &str,
        value: Option<&str>,
        rule: impl Fn(&str, &str) -> Result<String>,
    ) -> Result<Option<String>> {
        value.map(|v| self.name(field, v, rule)).transpose()
    }

    /// An optional whole number in `min..=max`: `None` when absent, or when it is a reference
    /// at load time.
    pub(crate) fn int(
        self,
        field: &str,
        value: Option<&Int>,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>> {
        match value {
            None => Ok(None),
            Some(Int::Reference(_)) if self == Phase::Load => Ok(None),
            Some(Int::Reference(s)) => Err(Error::invalid_field(
                field,
                format!("expected an integer, found {}", quoted(field, s)),
            )),
            Some(Int::Value(n)) if *n < min || *n > max => Err(Error::invalid_field(
                field,
                format!("must be from {min} to {max}, got {n}"),
            )),
            Some(Int::Value(n)) => Ok(Some(*n)),
        }
    }

    /// An optional boolean: `None` when absent, or when it is a reference at load time.
    pub(crate) fn flag(self, field: &str, value: Option<&Flag>) -> Result<Option<bool>> {
        match value {
            None => Ok(None),
            Some(Flag::Reference(_)) if self == Phase::Load => Ok(None),
            Some(Flag::Reference(s)) => Err(Error::invalid_field(
                field,
                format!("expected true or false, found {}", quoted(field, s)),
            )),
            Some(Flag::Value(b)) => Ok(Some(*b)),
        }
    }
}

/// An integer parameter: a JSON number, or a string holding one (`"300"`), or a string
/// holding a reference to be resolved (`"${tenant.ttl}"`). Ranges are checked by
/// [`Phase::int`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Int {
    /// A whole number.
    Value(u64),
    /// A string holding `${...}`.
    Reference(String),
}

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<Int, E> {
                Ok(Int::Value(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<Int, E> {
                u64::try_from(n)
                    .map(Int::Value)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(n), &"a non-negative integer"))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Int, E> {
                if let Ok(n) = s.trim().parse::<u64>() {
                    Ok(Int::Value(n))
                } else if is_unresolved(s) {
                    Ok(Int::Reference(s.to_string()))
                } else if s.trim().parse::<i64>().is_ok() {
                    Err(E::invalid_value(
                        Unexpected::Str(s),
                        &"a non-negative integer",
                    ))
                } else {
                    Err(E::invalid_type(Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A boolean parameter: `true`/`false`, the strings `"true"`/`"false"`, or a string holding a
/// reference to be resolved. Read with [`Phase::flag`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flag {
    /// A boolean.
    Value(bool),
    /// A string holding `${...}`.
    Reference(String),
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> std::result::Result<Flag, E> {
                Ok(Flag::Value(b))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Flag, E> {
                match s.trim() {
                    "true" => Ok(Flag::Value(true)),
                    "false" => Ok(Flag::Value(false)),
                    _ if is_unresolved(s) => Ok(Flag::Reference(s.to_string())),
                    _ => Err(E::invalid_value(Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `deserialize_with` for a string that YAML may have typed as a number (`version: 16`).
pub(crate) fn string_like<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<String, E> {
            Ok(s.to_string())
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<String, E> {
            Ok(n.to_string())
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> std::result::Result<String, E> {
            Ok(serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()))
        }
    }
    d.deserialize_any(V)
}

/// A resource type's parameters, declared as a `#[derive(Deserialize)]
/// #[serde(deny_unknown_fields)]` struct: the first pass is the struct's deserialization, the
/// second is [`TypedParams::check`].
pub(crate) trait TypedParams: DeserializeOwned {
    /// The resource type's name (`dns.record`), for messages.
    const TYPE: &'static str;
    /// The parameters whose change replaces the resource
    /// ([`ResourceType::replace_fields`](crate::resource::ResourceType::replace_fields)).
    const REPLACE: &'static [&'static str];
    /// What the type works with once the parameters are checked.
    type Spec;
    /// The rules serde cannot express (names, ranges, fields that go together), skipping
    /// unresolved references at [`Phase::Load`].
    fn check(self, phase: Phase) -> Result<Self::Spec>;
    /// Reads and checks `params`: both passes.
    fn parse(params: &Value, phase: Phase) -> Result<Self::Spec> {
        parse::<Self>(Self::TYPE, params)?.check(phase)
    }
}

/// Reads `params` (a resource's parameters) into `T`, the type's parameter struct. Errors
/// are `InvalidInput` naming the field path and the rule (see the module docs).
pub(crate) fn parse<T: DeserializeOwned>(type_name: &str, params: &Value) -> Result<T> {
    if !params.is_object() {
        return Err(Error::invalid_field(
            "params",
            format!(
                "{type_name} takes an object of parameters, found {}",
                Found::of(params).show(false)
            ),
        ));
    }
    serde_path_to_error::deserialize(Json(params)).map_err(|e| {
        let path = render_path(e.path());
        failure_error(path, e.into_inner())
    })
}

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

// ---------------------------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------------------------

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
fn quoted(field: &str, value: &str) -> String {
    Found::Text(value.to_string()).show(looks_secret(field))
}

/// What a parameter held, as a message shows it.
#[derive(Debug)]
enum Found {
    /// A string: quoted (cut when long), unless the field looks secret.
    Text(String),
    /// A number or boolean (`3`, `true`), unless the field looks secret.
    Scalar(String, &'static str),
    /// Only the kind of value (`a list`, `an object`, `null`).
    Plain(String),
}

impl Found {
    fn of(v: &Value) -> Found {
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

    fn show(&self, secret: bool) -> String {
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
enum Failure {
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
fn render_path(path: &serde_path_to_error::Path) -> String {
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

fn failure_error(mut path: String, failure: Failure) -> Error {
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

// ---------------------------------------------------------------------------------------------
// a deserializer over a JSON value with the errors above
// ---------------------------------------------------------------------------------------------

/// Deserializes a borrowed JSON value; struct fields holding `null` count as absent.
#[derive(Clone, Copy)]
struct Json<'a>(&'a Value);

impl<'de> IntoDeserializer<'de, Failure> for Json<'de> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for Json<'de> {
    type Error = Failure;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, Failure> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = de::value::SeqDeserializer::new(items.iter().map(Json));
                let v = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(v)
            }
            Value::Object(map) => {
                let mut entries =
                    de::value::MapDeserializer::new(map.iter().map(|(k, v)| (k.as_str(), Json(v))));
                let v = visitor.visit_map(&mut entries)?;
                entries.end()?;
                Ok(v)
            }
        }
    }

    /// A struct's fields holding `null` count as absent (a map's `null` values do not).
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, Failure> {
        match self.0 {
            Value::Object(map) => {
                let mut entries = de::value::MapDeserializer::new(
                    map.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.as_str(), Json(v))),
                );
                let v = visitor.visit_map(&mut entries)?;
                entries.end()?;
                Ok(v)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> std::result::Result<V::Value, Failure> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> std::result::Result<V::Value, Failure> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> std::result::Result<V::Value, Failure> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(de::value::BorrowedStrDeserializer::new(s)),
            other => Err(de::Error::invalid_type(
                unexpected(other),
                &"one of the listed values",
            )),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
        ignored_any
    }
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (_, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Origin {
        bucket: String,
        #[allow(dead_code)]
        prefix: Option<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        path: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        ttl: Option<Int>,
        proxied: Option<Flag>,
        #[serde(default, deserialize_with = "string_like")]
        version: String,
        copy_from: Option<Origin>,
        #[serde(default)]
        files: Vec<File>,
        #[serde(default)]
        tags: BTreeMap<String, String>,
        admin_password: Option<String>,
    }

    fn message(params: Value) -> String {
        parse::<Sample>("test.sample", &params)
            .expect_err("should be refused")
            .message()
            .to_string()
    }

    #[test]
    fn reads_typed_values_with_string_leniency() {
        let s: Sample = parse(
            "test.sample",
            &json!({"name": "a", "ttl": "300", "proxied": "true", "version": 16,
                "copy_from": {"bucket": "b"}, "files": [{"path": "x"}], "tags": {"k": "v"},
                "admin_password": null}),
        )
        .unwrap();
        assert_eq!(s.name, "a");
        assert_eq!(s.ttl, Some(Int::Value(300)));
        assert_eq!(s.proxied, Some(Flag::Value(true)));
        assert_eq!(s.version, "16");
        assert_eq!(s.copy_from.unwrap().bucket, "b");
        assert_eq!(s.files[0].path, "x");
        assert_eq!(s.tags["k"], "v");
        assert_eq!(s.admin_password, None, "null is absent");
        let r: Sample = parse(
            "test.sample",
            &json!({"name": "a", "ttl": "${tenant.ttl}", "proxied": "${tenant.p}"}),
        )
        .unwrap();
        assert_eq!(r.ttl, Some(Int::Reference("${tenant.ttl}".into())));
        // at load time a reference is accepted; once resolved it is an error
        assert_eq!(Phase::Load.int("ttl", r.ttl.as_ref(), 1, 10).unwrap(), None);
        assert_eq!(
            Phase::Resolved
                .int("ttl", r.ttl.as_ref(), 1, 10)
                .unwrap_err()
                .message(),
            "invalid ttl: expected an integer, found \"${tenant.ttl}\""
        );
        assert_eq!(
            Phase::Load.flag("proxied", r.proxied.as_ref()).unwrap(),
            None
        );
        assert!(Phase::Resolved.flag("proxied", r.proxied.as_ref()).is_err());
        assert_eq!(
            Phase::Resolved
                .int("ttl", Some(&Int::Value(0)), 1, 10)
                .unwrap_err()
                .message(),
            "invalid ttl: must be from 1 to 10, got 0"
        );
        assert_eq!(
            Phase::Load
                .name("name", "${tenant.name}", |_, _| Err(Error::invalid_input(
                    "x"
                )))
                .unwrap(),
            "${tenant.name}"
        );
    }

    #[test]
    fn errors_name_the_field_path_and_the_rule() {
        assert_eq!(
            message(json!({"name": "a", "ttl": "abc"})),
            "invalid ttl: expected an integer, found \"abc\""
        );
        assert_eq!(
            message(json!({"name": "a", "ttl": -1})),
            "invalid ttl: expected a non-negative integer, found -1"
        );
        assert_eq!(
            message(json!({"name": "a", "ttl": 1.5})),
            "invalid ttl: expected an integer, found 1.5"
        );
        assert_eq!(
            message(json!({"name": "a", "proxied": "yes"})),
            "invalid proxied: expected true or false, found \"yes\""
        );
        assert_eq!(
            message(json!({"name": 5})),
            "invalid name: expected a string, found 5"
        );
        assert_eq!(
            message(json!({"name": "a", "version": [1]})),
            "invalid version: expected a string, found a list"
        );
        // nested
        assert_eq!(
            message(json!({"name": "a", "copy_from": {"prefix": "p"}})),
            "invalid copy_from.bucket: is required"
        );
        assert_eq!(
            message(json!({"name": "a", "copy_from": {"bucket": true}})),
            "invalid copy_from.bucket: expected a string, found true"
        );
        assert_eq!(
            message(json!({"name": "a", "copy_from": "b"})),
            "invalid copy_from: expected an object, found \"b\""
        );
        // list elements
        assert_eq!(
            message(json!({"name": "a", "files": [{"path": "x"}, {"path": "y"}, {"path": 3}]})),
            "invalid files[2].path: expected a string, found 3"
        );
        assert_eq!(
            message(json!({"name": "a", "files": [{"path": "x"}, {}]})),
            "invalid files[1].path: is required"
        );
        // map entries
        assert_eq!(
            message(json!({"name": "a", "tags": {"team x": 1}})),
            "invalid tags[\"team x\"]: expected a string, found 1"
        );
        assert_eq!(
            message(json!({"name": "a", "tags": {"team": null}})),
            "invalid tags.team: expected a string, found null",
            "a map entry is not a field: null is not absent there"
        );
        // unknown and missing fields
        assert_eq!(
            message(json!({"name": "a", "extra": 1})),
            "invalid extra: unknown field \"extra\" (expected one of: name, ttl, proxied, \
             version, copy_from, files, tags, admin_password)"
        );
        assert_eq!(
            message(json!({"name": "a", "copy_from": {"bucket": "b", "x": 1}})),
            "invalid copy_from.x: unknown field \"x\" (expected one of: bucket, prefix)"
        );
        assert_eq!(message(json!({"ttl": 3})), "invalid name: is required");
        assert_eq!(
            message(json!({"name": null})),
            "invalid name: is required",
            "null is absent"
        );
        assert_eq!(
            message(json!([1])),
            "invalid params: test.sample takes an object of parameters, found a list"
        );
    }

    #[test]
    fn values_are_cut_and_secret_values_never_shown() {
        let m = message(json!({"name": "a", "admin_password": 7_355_608}));
        assert!(!m.contains("7355608"), "{m}");
        let m = message(json!({"name": "a", "admin_password": ["hunter2-secret"]}));
        assert!(!m.contains("hunter2"), "{m}");
        let m = message(json!({"name": "a", "ttl": "x".repeat(500)}));
        assert!(m.len() < 120, "{m}");
        assert!(m.contains("(500 characters)"), "{m}");
    }

    #[test]
    fn split_field_reads_parameter_paths_back() {
        let cases = [
            (
                "invalid ttl: expected an integer",
                Some(("ttl", "expected an integer")),
            ),
            (
                "invalid copy_from.bucket: is required",
                Some(("copy_from.bucket", "is required")),
            ),
            (
                "invalid files[2].path: x: y",
                Some(("files[2].path", "x: y")),
            ),
            (
                "invalid files[\"a: \\\"b\\\"]\"]: bad",
                Some(("files[\"a: \\\"b\\\"]\"]", "bad")),
            ),
            (
                "invalid params: not an object",
                Some(("params", "not an object")),
            ),
            ("invalid record content: bad address", None),
            ("invalid .x: no", None),
            ("invalid x.: no", None),
            ("invalid [1]: no", None),
            ("something else", None),
        ];
        for (message, want) in cases {
            assert_eq!(split_field(message), want, "{message}");
        }
    }
}
