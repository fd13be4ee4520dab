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

mod error;
mod json;
#[cfg(test)]
mod tests;

use error::{Found, failure_error, quoted, render_path};
pub(crate) use error::{entry, split_field};
use json::Json;

use provisio::{Error, Result};
use serde::de::{self, DeserializeOwned, Unexpected, Visitor};
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
