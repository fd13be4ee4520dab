//! [`Content`]: bytes that read and write as text where they can.
//!
//! Object bodies and repository files appear in snapshots and fixtures. Most are text, so they
//! are written as a plain string; bytes that are not UTF-8 are written as `{ base64: "..." }`.
//! Reading accepts both forms and also `{ text: "..." }`.
//!
//! ```
//! use provisio_memory::Content;
//! let text: Content = serde_json::from_str(r#""User-agent: *\n""#).unwrap();
//! assert_eq!(&text.0[..], b"User-agent: *\n");
//! let binary: Content = serde_json::from_str(r#"{ "base64": "AP8=" }"#).unwrap();
//! assert_eq!(&binary.0[..], &[0u8, 255][..]);
//! assert_eq!(serde_json::to_string(&binary).unwrap(), r#"{"base64":"AP8="}"#);
//! assert_eq!(serde_json::to_string(&text).unwrap(), r#""User-agent: *\n""#);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use provisio::Bytes;
use serde::de::{self, MapAccess, Visitor};
use std::fmt;

/// Bytes that serialize as a UTF-8 string when they are valid UTF-8 and as
/// `{ "base64": "..." }` otherwise; they deserialize from a string, `{ text: ... }` or
/// `{ base64: ... }`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Content(pub Bytes);

impl Content {
    /// The bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }
}

impl From<Bytes> for Content {
    fn from(b: Bytes) -> Self {
        Content(b)
    }
}

impl From<&str> for Content {
    fn from(s: &str) -> Self {
        Content(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Content {
    fn from(v: Vec<u8>) -> Self {
        Content(Bytes::from(v))
    }
}

impl fmt::Debug for Content {
    /// The length only: contents can be large, and fixtures may hold anything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Content({} bytes)", self.0.len())
    }
}

impl serde::Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("base64", &BASE64.encode(&self.0))?;
                m.end()
            }
        }
    }
}

/// The map form shared by [`Content`] and storage object fixtures: exactly one of `text` and
/// `base64`, plus `content_type` when `with_content_type`.
pub(crate) fn content_map<'de, A: MapAccess<'de>>(
    mut map: A,
    with_content_type: bool,
) -> Result<(Bytes, Option<String>), A::Error> {
    const PLAIN: &[&str] = &["text", "base64"];
    const TYPED: &[&str] = &["text", "base64", "content_type"];
    let expected = if with_content_type { TYPED } else { PLAIN };
    let mut body: Option<Bytes> = None;
    let mut content_type: Option<String> = None;
    while let Some(key) = map.next_key::<String>()? {
        match key.as_str() {
            "text" | "base64" => {
                if body.is_some() {
                    return Err(de::Error::custom("give exactly one of `text` and `base64`"));
                }
                let value: String = map.next_value()?;
                body = Some(if key == "text" {
                    Bytes::from(value)
                } else {
                    Bytes::from(BASE64.decode(value.trim()).map_err(|e| {
                        de::Error::custom(format!("invalid base64 in `base64`: {e}"))
                    })?)
                });
            }
            "content_type" if with_content_type => {
                if content_type.is_some() {
                    return Err(de::Error::duplicate_field("content_type"));
                }
                content_type = Some(map.next_value()?);
            }
            other => return Err(de::Error::unknown_field(other, expected)),
        }
    }
    let body = body.ok_or_else(|| de::Error::custom("missing `text` or `base64`"))?;
    Ok((body, content_type))
}

struct ContentVisitor;

impl<'de> Visitor<'de> for ContentVisitor {
    type Value = Content;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, { text: \"...\" } or { base64: \"...\" }")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
        Ok(Content::from(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
        Ok(Content(Bytes::from(v)))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Content, E> {
        Ok(Content(Bytes::copy_from_slice(v)))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Content, A::Error> {
        content_map(map, false).map(|(b, _)| Content(b))
    }
}

impl<'de> serde::Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ContentVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let c: Content = serde_json::from_str(r#"{"text":"hi"}"#).unwrap();
        assert_eq!(&c.0[..], b"hi");
        for bad in [
            r#"{"text":"a","base64":"AA=="}"#,
            r#"{"base64":"!!"}"#,
            r#"{"txt":"a"}"#,
            r#"{}"#,
            "3",
        ] {
            assert!(serde_json::from_str::<Content>(bad).is_err(), "{bad}");
        }
        let e = serde_json::from_str::<Content>(r#"{"txt":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `txt`"), "{e}");
        let y: Content = provisio_loader::parse_str(
            "base64: AP8=",
            provisio_loader::Format::Yaml,
            "<content>",
            &Default::default(),
        )
        .unwrap();
        assert_eq!(&y.0[..], &[0, 255]);
        assert_eq!(format!("{y:?}"), "Content(2 bytes)");
    }
}
