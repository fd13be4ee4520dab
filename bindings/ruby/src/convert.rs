//! Ruby data <-> JSON values, so that the core's serde types cross the boundary without a
//! hand-written class per struct. Results come back as frozen Hashes with Symbol keys (nested
//! too), frozen Arrays and frozen Strings.

use crate::errors;
use crate::runtime::Output;
use magnus::prelude::*;
use magnus::value::ReprValue;
use magnus::{Error, Float, Integer, RArray, RHash, RString, Ruby, Symbol, Value};
use provisio::{Bytes, SecretString};
use serde_json::{Map, Value as Json};

/// Serializes a core value.
pub(crate) fn json<T: serde::Serialize>(value: &T) -> provisio::Result<Json> {
    serde_json::to_value(value)
        .map_err(|e| provisio::Error::unexpected(format!("cannot serialize a result: {e}")))
}

/// A result builder handing `value` over as frozen Ruby data.
pub(crate) fn json_output(value: Json) -> Output {
    Box::new(move |ruby: &Ruby| to_ruby(ruby, &value))
}

/// Deserializes a core value from JSON built out of Ruby arguments; `Provisio::InvalidInputError`
/// naming `what` when it does not fit.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    ruby: &Ruby,
    what: &str,
    value: Json,
) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| {
        errors::to_ruby(
            ruby,
            &provisio::Error::invalid_input(format!("invalid {what}: {e}")),
        )
    })
}

/// A JSON value as frozen Ruby data (Hash keys as Symbols).
pub(crate) fn to_ruby(ruby: &Ruby, value: &Json) -> Result<Value, Error> {
    Ok(match value {
        Json::Null => ruby.qnil().as_value(),
        Json::Bool(b) => {
            if *b {
                ruby.qtrue().as_value()
            } else {
                ruby.qfalse().as_value()
            }
        }
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                ruby.integer_from_i64(i).as_value()
            } else if let Some(u) = n.as_u64() {
                ruby.integer_from_u64(u).as_value()
            } else {
                ruby.float_from_f64(n.as_f64().unwrap_or(f64::NAN))
                    .as_value()
            }
        }
        Json::String(s) => {
            let s = ruby.str_new(s);
            s.freeze();
            s.as_value()
        }
        Json::Array(items) => {
            let a = ruby.ary_new_capa(items.len());
            for item in items {
                a.push(to_ruby(ruby, item)?)?;
            }
            a.freeze();
            a.as_value()
        }
        Json::Object(map) => {
            let h = ruby.hash_new();
            for (k, v) in map {
                h.aset(ruby.to_symbol(k), to_ruby(ruby, v)?)?;
            }
            h.freeze();
            h.as_value()
        }
    })
}

/// The class name of a value, for error messages.
fn class_name(value: Value) -> String {
    // SAFETY: the class name is copied into a Rust String right away.
    unsafe { value.classname() }.into_owned()
}

/// Whether `value` is a `Provisio::Secret`.
pub(crate) fn is_secret(ruby: &Ruby, value: Value) -> bool {
    secret_class(ruby)
        .map(|c| value.is_kind_of(c))
        .unwrap_or(false)
}

/// `Provisio::Secret`.
fn secret_class(ruby: &Ruby) -> Result<magnus::RClass, Error> {
    let m: magnus::RModule = ruby.class_object().const_get("Provisio")?;
    m.const_get("Secret")
}

/// Ruby data as a JSON value: nil, true/false, Integer, Float, String (UTF-8), Symbol (its
/// name), Array and Hash (String or Symbol keys). `what` names the argument in errors.
pub(crate) fn from_ruby(ruby: &Ruby, what: &str, value: Value) -> Result<Json, Error> {
    if value.is_nil() {
        return Ok(Json::Null);
    }
    if value.is_kind_of(ruby.class_true_class()) {
        return Ok(Json::Bool(true));
    }
    if value.is_kind_of(ruby.class_false_class()) {
        return Ok(Json::Bool(false));
    }
    if let Some(i) = Integer::from_value(value) {
        if let Ok(v) = i.to_i64() {
            return Ok(Json::from(v));
        }
        return Ok(Json::from(i.to_u64()?));
    }
    if let Some(f) = Float::from_value(value) {
        let x = f.to_f64();
        return serde_json::Number::from_f64(x)
            .map(Json::Number)
            .ok_or_else(|| {
                Error::new(
                    ruby.exception_arg_error(),
                    format!("{what}: {x} cannot be represented in JSON"),
                )
            });
    }
    if let Some(s) = RString::from_value(value) {
        return Ok(Json::String(string(ruby, what, s)?));
    }
    if let Some(s) = Symbol::from_value(value) {
        return Ok(Json::String(s.name()?.into_owned()));
    }
    if let Some(h) = RHash::from_value(value) {
        let mut map = Map::new();
        let mut failure = None;
        h.foreach(|k: Value, v: Value| {
            let key = if let Some(s) = Symbol::from_value(k) {
                s.name()?.into_owned()
            } else if let Some(s) = RString::from_value(k) {
                string(ruby, what, s)?
            } else {
                failure = Some(Error::new(
                    ruby.exception_type_error(),
                    format!(
                        "{what}: Hash keys must be Symbols or Strings, not {}",
                        class_name(k)
                    ),
                ));
                return Ok(magnus::r_hash::ForEach::Stop);
            };
            let inner = format!("{what}[:{key}]");
            map.insert(key, from_ruby(ruby, &inner, v)?);
            Ok(magnus::r_hash::ForEach::Continue)
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        return Ok(Json::Object(map));
    }
    if let Some(a) = RArray::from_value(value) {
        let mut out = Vec::new();
        for (i, item) in a.into_iter().enumerate() {
            out.push(from_ruby(ruby, &format!("{what}[{i}]"), item)?);
        }
        return Ok(Json::Array(out));
    }
    if is_secret(ruby, value) {
        return Err(Error::new(
            ruby.exception_type_error(),
            format!(
                "{what}: a Provisio::Secret cannot be used here: secret values go only where a secret is expected"
            ),
        ));
    }
    if value.respond_to("to_path", false)? {
        let path: Value = value.funcall("to_path", ())?;
        return from_ruby(ruby, what, path);
    }
    Err(Error::new(
        ruby.exception_type_error(),
        format!(
            "{what}: {} cannot be converted to provisio data (use Hash, Array, String, Symbol, Integer, Float, true, false or nil)",
            class_name(value)
        ),
    ))
}

/// A UTF-8 Ruby String as a Rust String; `ArgumentError` naming `what` otherwise.
pub(crate) fn string(ruby: &Ruby, what: &str, s: RString) -> Result<String, Error> {
    // SAFETY: the bytes are copied before any other Ruby call.
    let bytes = unsafe { s.as_slice() }.to_vec();
    String::from_utf8(bytes).map_err(|_| {
        Error::new(
            ruby.exception_arg_error(),
            format!("{what}: the String is not valid UTF-8"),
        )
    })
}

/// A secret argument: a String or a `Provisio::Secret`.
pub(crate) fn secret_from_ruby(
    ruby: &Ruby,
    what: &str,
    value: Value,
) -> Result<SecretString, Error> {
    if let Some(s) = RString::from_value(value) {
        return Ok(SecretString::new(string(ruby, what, s)?));
    }
    if is_secret(ruby, value) {
        let revealed: RString = value.funcall("reveal", ())?;
        return Ok(SecretString::new(string(ruby, what, revealed)?));
    }
    Err(Error::new(
        ruby.exception_type_error(),
        format!(
            "{what}: expected a String or Provisio::Secret, not {}",
            class_name(value)
        ),
    ))
}

/// A `Provisio::Secret` holding `value`.
pub(crate) fn secret_to_ruby(ruby: &Ruby, value: &SecretString) -> Result<Value, Error> {
    let s = ruby.str_new(value.expose());
    s.freeze();
    secret_class(ruby)?.new_instance((s,))
}

/// Body bytes from a String (any encoding; its bytes as they are).
pub(crate) fn bytes_from_ruby(ruby: &Ruby, what: &str, value: Value) -> Result<Bytes, Error> {
    let s = RString::from_value(value).ok_or_else(|| {
        Error::new(
            ruby.exception_type_error(),
            format!("{what}: expected a String, not {}", class_name(value)),
        )
    })?;
    // SAFETY: the bytes are copied before any other Ruby call.
    Ok(Bytes::from(unsafe { s.as_slice() }.to_vec()))
}

/// Bytes as a frozen binary (ASCII-8BIT) String.
pub(crate) fn bytes_to_ruby(ruby: &Ruby, body: &[u8]) -> Value {
    let s = ruby.str_from_slice(body);
    s.freeze();
    s.as_value()
}

/// Seconds (Integer or Float) as a duration; `ArgumentError` naming `what` otherwise.
pub(crate) fn seconds(ruby: &Ruby, what: &str, secs: f64) -> Result<std::time::Duration, Error> {
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| {
        Error::new(
            ruby.exception_arg_error(),
            format!("{what}: {secs} is not a duration in seconds"),
        )
    })
}

/// The keyword arguments of a native call: a Hash with Symbol keys, read field by field.
pub(crate) struct Args<'a> {
    pub(crate) ruby: &'a Ruby,
    pub(crate) hash: RHash,
}

impl<'a> Args<'a> {
    /// Reads the keyword arguments in `hash`.
    pub(crate) fn new(ruby: &'a Ruby, hash: RHash) -> Self {
        Args { ruby, hash }
    }

    /// The raw value of `name` (nil when absent).
    pub(crate) fn raw(&self, name: &str) -> Value {
        self.hash
            .get(self.ruby.to_symbol(name))
            .unwrap_or_else(|| self.ruby.qnil().as_value())
    }

    /// `name` as JSON.
    pub(crate) fn json(&self, name: &str) -> Result<Json, Error> {
        from_ruby(self.ruby, name, self.raw(name))
    }

    /// `name` deserialized into `T`; `TypeError` naming the argument when it does not fit.
    pub(crate) fn get<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        let value = self.json(name)?;
        serde_json::from_value(value)
            .map_err(|e| Error::new(self.ruby.exception_type_error(), format!("{name}: {e}")))
    }

    /// `name` as seconds.
    pub(crate) fn seconds(&self, name: &str) -> Result<std::time::Duration, Error> {
        let secs: f64 = self.get(name)?;
        seconds(self.ruby, name, secs)
    }

    /// `name` as optional seconds.
    pub(crate) fn opt_seconds(&self, name: &str) -> Result<Option<std::time::Duration>, Error> {
        let secs: Option<f64> = self.get(name)?;
        secs.map(|s| seconds(self.ruby, name, s)).transpose()
    }

    /// `name` as a secret (String or `Provisio::Secret`).
    pub(crate) fn secret(&self, name: &str) -> Result<SecretString, Error> {
        secret_from_ruby(self.ruby, name, self.raw(name))
    }

    /// `name` as bytes (a String).
    pub(crate) fn bytes(&self, name: &str) -> Result<Bytes, Error> {
        bytes_from_ruby(self.ruby, name, self.raw(name))
    }

    /// `name` as tags (a Hash of Strings; nil for none).
    pub(crate) fn tags(&self, name: &str) -> Result<provisio::Tags, Error> {
        let v = self.json(name)?;
        if v.is_null() {
            return Ok(provisio::Tags::new());
        }
        serde_json::from_value(v).map_err(|e| {
            Error::new(
                self.ruby.exception_type_error(),
                format!("{name}: expected a Hash of Strings ({e})"),
            )
        })
    }
}
