//! A serde deserializer over a borrowed JSON value whose errors are the [`Failure`]s that
//! word parameter errors; struct fields holding `null` count as absent.

use super::error::Failure;
use serde::Deserializer;
use serde::de::{self, IntoDeserializer, Unexpected, Visitor};
use serde_json::Value;

/// Deserializes a borrowed JSON value; struct fields holding `null` count as absent.
#[derive(Clone, Copy)]
pub(super) struct Json<'a>(pub(super) &'a Value);

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
