//! DNS records: the stored form, the checks the real API applies, and the JSON it answers.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The record types of the API (the `dns-records_type` enum of the contract).
pub(crate) const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CERT", "CNAME", "DNSKEY", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS",
    "PTR", "SMIMEA", "SRV", "SSHFP", "SVCB", "TLSA", "TXT", "URI",
];

/// Types that can be proxied.
const PROXIABLE: &[&str] = &["A", "AAAA", "CNAME"];

/// Types whose `priority` field means something.
const WITH_PRIORITY: &[&str] = &["MX", "SRV", "URI"];

/// The longest TXT content the API accepts.
pub(crate) const MAX_TXT: usize = 2048;
/// The longest comment on the free plan.
pub(crate) const MAX_COMMENT: usize = 100;

/// One DNS record as the fake stores it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FakeRecord {
    /// 32-hex id.
    pub id: String,
    /// The zone's id.
    pub zone_id: String,
    /// The zone's name.
    pub zone_name: String,
    /// Fully qualified, lower case, punycode.
    pub name: String,
    /// Upper-case type.
    #[serde(rename = "type")]
    pub record_type: String,
    /// The content (canonical for AAAA).
    pub content: String,
    /// 1 (automatic) or seconds.
    pub ttl: u32,
    /// The proxy flag.
    pub proxied: bool,
    /// MX/SRV/URI priority.
    pub priority: Option<u32>,
    /// The comment, if any.
    pub comment: Option<String>,
    /// `name:value` tags.
    pub tags: Vec<String>,
    /// Structured data (CAA, SRV, ...).
    pub data: Option<Value>,
    /// Creation time (RFC 3339).
    pub created_on: String,
    /// Last change (RFC 3339).
    pub modified_on: String,
}

impl FakeRecord {
    /// The record as the API shows it (the `dns-records_dns-record` schema).
    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "zone_id": self.zone_id,
            "zone_name": self.zone_name,
            "name": self.name,
            "type": self.record_type,
            "content": self.content,
            "proxiable": PROXIABLE.contains(&self.record_type.as_str()),
            "proxied": self.proxied,
            "ttl": self.ttl,
            "locked": false,
            "meta": { "auto_added": false, "source": "primary" },
            "tags": self.tags,
            "created_on": self.created_on,
            "modified_on": self.modified_on,
        });
        let o = v.as_object_mut().expect("object");
        if let Some(p) = self.priority {
            o.insert("priority".into(), json!(p));
        }
        // The schema's comment is a string (not nullable): leave it out when there is none.
        if let Some(c) = &self.comment {
            o.insert("comment".into(), json!(c));
        }
        if let Some(d) = &self.data {
            o.insert("data".into(), d.clone());
        }
        v
    }
}

/// An API failure: HTTP status, Cloudflare code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 1004, message)
    }
    fn content(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 9005, message)
    }
}

/// The writable fields of a record after the checks.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Draft {
    pub name: String,
    pub record_type: String,
    pub content: String,
    pub ttl: u32,
    pub proxied: bool,
    pub priority: Option<u32>,
    pub comment: Option<String>,
    pub tags: Vec<String>,
    pub data: Option<Value>,
}

impl Draft {
    /// The writable fields of an existing record, for PATCH.
    pub(crate) fn of(r: &FakeRecord) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("type".into(), json!(r.record_type));
        m.insert("name".into(), json!(r.name));
        m.insert("content".into(), json!(r.content));
        m.insert("ttl".into(), json!(r.ttl));
        m.insert("proxied".into(), json!(r.proxied));
        if let Some(p) = r.priority {
            m.insert("priority".into(), json!(p));
        }
        if let Some(c) = &r.comment {
            m.insert("comment".into(), json!(c));
        }
        m.insert("tags".into(), json!(r.tags));
        if let Some(d) = &r.data {
            m.insert("data".into(), d.clone());
        }
        m
    }
}

/// A record name in the zone: `@` is the apex, a name not ending with the zone is relative to
/// it; lower case, no trailing dot, ASCII labels of letters, digits, `-`, `_` and a leading
/// `*`.
pub(crate) fn qualify(zone: &str, name: &str) -> Result<String, ApiError> {
    let raw = name.trim();
    let bad = || ApiError::validation(format!("DNS name is invalid: {name:?}"));
    if raw.is_empty() {
        return Err(bad());
    }
    let lower = raw.strip_suffix('.').unwrap_or(raw).to_ascii_lowercase();
    let fqdn = if lower == "@" {
        zone.to_string()
    } else if lower == zone || lower.ends_with(&format!(".{zone}")) {
        lower
    } else {
        format!("{lower}.{zone}")
    };
    if fqdn.len() > 253 || !fqdn.is_ascii() {
        return Err(bad());
    }
    for (i, label) in fqdn.split('.').enumerate() {
        if label.is_empty() || label.len() > 63 {
            return Err(bad());
        }
        if i == 0 && label == "*" {
            continue;
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(bad());
        }
    }
    Ok(fqdn)
}

fn hostname(record_type: &str, value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let v = v.strip_suffix('.').unwrap_or(v).to_ascii_lowercase();
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(v)
    } else {
        Err(ApiError::content(format!(
            "Content for {record_type} record is invalid. Must be a valid hostname."
        )))
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u32::try_from(u).ok()
            } else {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
                    .map(|f| f as u32)
            }
        }
        _ => None,
    }
}

/// Checks a create/overwrite body (for PATCH: the existing fields with the patch laid over)
/// the way the real API does, and returns the record's writable fields.
pub(crate) fn check(
    zone: &str,
    body: &Map<String, Value>,
    min_ttl: u32,
) -> Result<Draft, ApiError> {
    let record_type = match body.get("type") {
        Some(Value::String(t)) => t.to_ascii_uppercase(),
        Some(_) | None => return Err(ApiError::validation("DNS record type is required.")),
    };
    if !TYPES.contains(&record_type.as_str()) {
        return Err(ApiError::validation(format!(
            "Invalid or unsupported DNS record type {record_type:?}."
        )));
    }
    let name = match body.get("name") {
        Some(Value::String(n)) => qualify(zone, n)?,
        _ => return Err(ApiError::validation("DNS record name is required.")),
    };
    let data = match body.get("data") {
        None | Some(Value::Null) => None,
        Some(d @ Value::Object(_)) => Some(d.clone()),
        Some(_) => return Err(ApiError::validation("data must be an object.")),
    };
    let raw_content = match body.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(ApiError::content("Content must be a string.")),
    };
    let need = |rc: &Option<String>| -> Result<String, ApiError> {
        rc.clone().ok_or_else(|| {
            ApiError::content(format!("Content for {record_type} record is required."))
        })
    };
    let content = match record_type.as_str() {
        "A" => {
            let c = need(&raw_content)?;
            c.trim()
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| {
                    ApiError::content("Content for A record must be a valid IPv4 address.")
                })?
                .to_string()
        }
        "AAAA" => {
            let c = need(&raw_content)?;
            c.trim()
                .parse::<std::net::Ipv6Addr>()
                .map_err(|_| {
                    ApiError::content("Content for AAAA record must be a valid IPv6 address.")
                })?
                .to_string()
        }
        "CNAME" => {
            let c = hostname("CNAME", &need(&raw_content)?)?;
            if c == name {
                return Err(ApiError::content(
                    "Content for CNAME record is invalid. It must not match the record's name.",
                ));
            }
            c
        }
        "MX" | "NS" | "PTR" => hostname(&record_type, &need(&raw_content)?)?,
        "TXT" => {
            let c = need(&raw_content)?;
            if c.is_empty() || c.chars().count() > MAX_TXT {
                return Err(ApiError::content(format!(
                    "Content for TXT record is invalid. Must be 1 to {MAX_TXT} characters."
                )));
            }
            c
        }
        _ => match (&raw_content, &data) {
            (Some(c), _) if !c.is_empty() => c.clone(),
            (_, Some(d)) => d.to_string(),
            _ => {
                return Err(ApiError::validation(format!(
                    "{record_type} records need content or data."
                )));
            }
        },
    };
    let proxied = match body.get("proxied") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::validation("proxied must be a boolean.")),
    };
    if proxied && !PROXIABLE.contains(&record_type.as_str()) {
        return Err(ApiError::validation(format!(
            "{record_type} records cannot be proxied."
        )));
    }
    let ttl = match body.get("ttl") {
        None | Some(Value::Null) => 1,
        Some(v) => as_u32(v).ok_or_else(|| ApiError::validation("TTL must be a number."))?,
    };
    if ttl != 1 && !(min_ttl..=86_400).contains(&ttl) {
        return Err(ApiError::validation(format!(
            "TTL must be between {min_ttl} and 86400 seconds, or 1 for Automatic."
        )));
    }
    // Proxied records always use the automatic TTL.
    let ttl = if proxied { 1 } else { ttl };
    let priority = match body.get("priority") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            as_u32(v)
                .filter(|p| *p <= 65_535)
                .ok_or_else(|| ApiError::validation("priority must be 0 to 65535."))?,
        ),
    };
    let priority = if WITH_PRIORITY.contains(&record_type.as_str()) {
        priority
    } else {
        None
    };
    if record_type == "MX" && priority.is_none() {
        return Err(ApiError::validation("MX records require a priority."));
    }
    let comment = match body.get("comment") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) if c.is_empty() => None,
        Some(Value::String(c)) => {
            if c.chars().count() > MAX_COMMENT {
                return Err(ApiError::validation(format!(
                    "Comment is too long (at most {MAX_COMMENT} characters)."
                )));
            }
            Some(c.clone())
        }
        Some(_) => return Err(ApiError::validation("comment must be a string.")),
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => {
            let mut tags = Vec::new();
            for t in a {
                let Some(t) = t.as_str() else {
                    return Err(ApiError::validation("tags must be strings."));
                };
                let tag_name = t.split(':').next().unwrap_or("");
                if tag_name.is_empty()
                    || !tag_name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(ApiError::validation(format!(
                        "Tag {t:?} must be of the form name:value."
                    )));
                }
                tags.push(t.to_string());
            }
            tags
        }
        Some(_) => return Err(ApiError::validation("tags must be an array.")),
    };
    Ok(Draft {
        name,
        record_type,
        content,
        ttl,
        proxied,
        priority,
        comment,
        tags,
        data,
    })
}

/// The coexistence rules against the zone's other records (`others` excludes the record being
/// changed).
pub(crate) fn conflicts<'a>(
    zone: &str,
    draft: &Draft,
    others: impl Iterator<Item = &'a FakeRecord>,
) -> Result<(), ApiError> {
    let same_name: Vec<&FakeRecord> = others.filter(|r| r.name == draft.name).collect();
    if draft.record_type == "CNAME" && !same_name.is_empty() {
        return Err(ApiError::new(
            400,
            81053,
            "An A, AAAA, or CNAME record with that host already exists.",
        ));
    }
    if draft.record_type != "CNAME" && same_name.iter().any(|r| r.record_type == "CNAME") {
        return Err(ApiError::new(
            400,
            81054,
            "A CNAME record with that host already exists.",
        ));
    }
    if draft.name != zone {
        let ns_here = same_name.iter().any(|r| r.record_type == "NS");
        let other_here = same_name.iter().any(|r| r.record_type != "NS");
        if (draft.record_type == "NS" && other_here) || (draft.record_type != "NS" && ns_here) {
            return Err(ApiError::new(
                400,
                81056,
                "NS records cannot share a name with records of other types.",
            ));
        }
    }
    let identical = same_name.iter().any(|r| {
        r.record_type == draft.record_type
            && r.content == draft.content
            && r.priority == draft.priority
            && r.data == draft.data
    });
    if identical {
        return Err(if PROXIABLE.contains(&draft.record_type.as_str()) {
            ApiError::new(400, 81058, "An identical record already exists.")
        } else {
            ApiError::new(400, 81057, "Record already exists.")
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn names_are_qualified() {
        let z = "example.com";
        assert_eq!(qualify(z, "@").unwrap(), "example.com");
        assert_eq!(qualify(z, "WWW").unwrap(), "www.example.com");
        assert_eq!(qualify(z, "www.Example.com.").unwrap(), "www.example.com");
        assert_eq!(qualify(z, "*.dev").unwrap(), "*.dev.example.com");
        assert_eq!(qualify(z, "_dmarc").unwrap(), "_dmarc.example.com");
        assert_eq!(qualify(z, "a b").unwrap_err().code, 1004);
        assert_eq!(qualify(z, "bücher").unwrap_err().code, 1004);
    }

    #[test]
    fn content_ttl_proxied_rules() {
        let z = "example.com";
        let ok = check(
            z,
            &body(json!({"type":"AAAA","name":"v6","content":"2001:DB8:0::1","ttl":300})),
            60,
        )
        .unwrap();
        assert_eq!(ok.content, "2001:db8::1");
        let e = |v: Value| check(z, &body(v), 60).unwrap_err();
        assert_eq!(e(json!({"type":"A","name":"a","content":"x"})).code, 9005);
        assert_eq!(
            e(json!({"type":"A","name":"a","content":"192.0.2.1","ttl":30})).code,
            1004
        );
        assert_eq!(
            e(json!({"type":"A","name":"a","content":"192.0.2.1","ttl":90000})).code,
            1004
        );
        assert_eq!(
            e(json!({"type":"TXT","name":"a","content":"x","proxied":true})).code,
            1004
        );
        assert_eq!(
            e(json!({"type":"MX","name":"a","content":"mx.example.com"})).code,
            1004
        );
        assert_eq!(e(json!({"type":"SPF","name":"a","content":"x"})).code, 1004);
        assert_eq!(
            e(json!({"type":"CNAME","name":"a","content":"a.example.com"})).code,
            9005
        );
        assert_eq!(
            e(json!({"type":"TXT","name":"a","content":"x".repeat(2049)})).code,
            9005
        );
        assert_eq!(
            e(json!({"type":"TXT","name":"a","content":"x","comment":"c".repeat(101)})).code,
            1004
        );
        let p = check(
            z,
            &body(json!({"type":"A","name":"a","content":"192.0.2.1","ttl":300,"proxied":true})),
            60,
        )
        .unwrap();
        assert_eq!(p.ttl, 1, "proxied records use the automatic TTL");
        let auto = check(z, &body(json!({"type":"TXT","name":"a","content":"x"})), 60).unwrap();
        assert_eq!(auto.ttl, 1);
        assert!(
            check(
                z,
                &body(json!({"type":"A","name":"a","content":"192.0.2.1","ttl":30})),
                30
            )
            .is_ok()
        );
    }
}
