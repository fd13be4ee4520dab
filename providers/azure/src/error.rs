//! Classification of Azure failures into provisio's [`ErrorKind`]s.
//!
//! Azure speaks three error dialects: Resource Manager and Key Vault answer JSON, either
//! wrapped (`{"error":{"code","message","innererror"?}}`, the documented shape) or unwrapped
//! (`{"code","message"}`, seen on some DNS 404s); Blob storage answers XML
//! (`<Error><Code>..</Code><Message>..</Message></Error>`) plus an `x-ms-error-code` header; the
//! Entra token endpoint answers OAuth2 errors (`{"error":"invalid_client","error_description"}`).

use provisio::{Error, ErrorKind};
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The provider name every error and `ProviderInfo` carries.
pub const PROVIDER: &str = "azure";

/// An error body, whatever its dialect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceError {
    /// The service's error code (`NotFound`, `Conflict`, `ContainerNotFound`, `invalid_client`).
    pub code: Option<String>,
    /// The inner code, where the service nests one (Key Vault's `innererror.code`).
    pub inner_code: Option<String>,
    /// The service's message.
    pub message: String,
}

/// Parses a JSON error body of Resource Manager, Key Vault or Entra ID.
///
/// ```
/// use provisio_azure::error::parse_json_error;
/// let wrapped = parse_json_error(br#"{"error":{"code":"Conflict","message":"m","innererror":{"code":"ObjectIsDeletedButRecoverable"}}}"#);
/// assert_eq!(wrapped.code.as_deref(), Some("Conflict"));
/// assert_eq!(wrapped.inner_code.as_deref(), Some("ObjectIsDeletedButRecoverable"));
/// let bare = parse_json_error(br#"{"code":"NotFound","message":"The resource was not found"}"#);
/// assert_eq!(bare.code.as_deref(), Some("NotFound"));
/// ```
pub fn parse_json_error(body: &[u8]) -> ServiceError {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return ServiceError {
            message: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
            ..Default::default()
        };
    };
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    match v.get("error") {
        Some(e) if e.is_object() => ServiceError {
            code: e.get("code").and_then(s),
            inner_code: e.get("innererror").and_then(|i| i.get("code")).and_then(s),
            message: e.get("message").and_then(s).unwrap_or_default(),
        },
        // OAuth2: {"error":"invalid_client","error_description":"AADSTS7000215: ..."}
        Some(e) if e.is_string() => ServiceError {
            code: s(e),
            inner_code: None,
            message: v.get("error_description").and_then(s).unwrap_or_default(),
        },
        _ => ServiceError {
            code: v.get("code").and_then(s),
            inner_code: None,
            message: v.get("message").and_then(s).unwrap_or_default(),
        },
    }
}

/// Parses a Blob storage XML error body; the `x-ms-error-code` header wins when present.
pub fn parse_xml_error(headers: &HeaderMap, body: &[u8]) -> ServiceError {
    let text = String::from_utf8_lossy(body);
    let between = |tag: &str| {
        let open = format!("<{tag}>");
        let close = format!("</{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&close)? + start;
        Some(text[start..end].trim().to_string())
    };
    let code = headers
        .get("x-ms-error-code")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| between("Code"));
    ServiceError {
        code,
        inner_code: None,
        message: between("Message")
            .map(|m| m.lines().next().unwrap_or_default().to_string())
            .unwrap_or_default(),
    }
}

/// The wait a throttled response asks for: `Retry-After` (seconds or an HTTP date),
/// `retry-after-ms` or `x-ms-retry-after-ms`.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    for name in ["retry-after-ms", "x-ms-retry-after-ms"] {
        if let Some(ms) = get(name).and_then(|v| v.trim().parse::<u64>().ok()) {
            return Some(Duration::from_millis(ms));
        }
    }
    let v = get("retry-after")?.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// The lowest `x-ms-ratelimit-remaining-*` header value, when any is present.
pub fn remaining_quota(headers: &HeaderMap) -> Option<u64> {
    headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-ms-ratelimit-remaining-"))
        .filter_map(|(_, v)| v.to_str().ok()?.trim().parse::<u64>().ok())
        .min()
}

/// Maps an HTTP status plus the service's error code onto an [`ErrorKind`].
///
/// ```
/// use provisio::ErrorKind;
/// use provisio_azure::error::kind_for;
/// assert_eq!(kind_for(409, Some("ContainerAlreadyExists"), None, None), ErrorKind::AlreadyExists);
/// assert_eq!(kind_for(409, Some("Conflict"), Some("ObjectIsBeingRecovered"), None), ErrorKind::Transient);
/// assert_eq!(kind_for(503, None, None, None), ErrorKind::Transient);
/// assert!(matches!(kind_for(429, None, None, None), ErrorKind::RateLimited { .. }));
/// ```
pub fn kind_for(
    status: u16,
    code: Option<&str>,
    inner: Option<&str>,
    retry_after: Option<Duration>,
) -> ErrorKind {
    match (status, code.unwrap_or(""), inner.unwrap_or("")) {
        (429, ..) => ErrorKind::RateLimited { retry_after },
        (_, _, "ObjectIsBeingRecovered" | "ObjectIsBeingDeleted") => ErrorKind::Transient,
        (409, "RetryableErrorDueToAnotherOperation" | "ContainerBeingDeleted", _) => {
            ErrorKind::Transient
        }
        (409, "ContainerAlreadyExists" | "BlobAlreadyExists" | "ResourceAlreadyExists", _) => {
            ErrorKind::AlreadyExists
        }
        (400, "invalid_client" | "unauthorized_client" | "invalid_grant", _) => {
            ErrorKind::Unauthenticated
        }
        (400 | 411 | 413 | 414 | 416 | 422, ..) => ErrorKind::InvalidInput,
        (401, ..) => ErrorKind::Unauthenticated,
        (403, ..) => ErrorKind::PermissionDenied,
        (404 | 410, ..) => ErrorKind::NotFound,
        (409 | 412, ..) => ErrorKind::Conflict,
        (408, ..) => ErrorKind::Timeout,
        (500..=599, ..) => ErrorKind::Transient,
        _ => ErrorKind::Unexpected,
    }
}

/// Builds the provisio error of a failed response.
pub(crate) fn http_error(status: u16, headers: &HeaderMap, e: &ServiceError) -> Error {
    let ra = retry_after(headers);
    let kind = kind_for(status, e.code.as_deref(), e.inner_code.as_deref(), ra);
    let mut msg = format!("HTTP {status}");
    if let Some(c) = &e.code {
        msg.push(' ');
        msg.push_str(c);
    }
    if let Some(c) = &e.inner_code {
        msg.push_str(&format!(" ({c})"));
    }
    if !e.message.is_empty() {
        msg.push_str(": ");
        msg.push_str(&e.message);
    }
    Error::new(kind, msg).with_provider(PROVIDER)
}

/// Maps a transport failure: timeouts are `Timeout`, connection problems `Transient`.
pub(crate) fn transport_error(e: reqwest::Error) -> Error {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() || e.is_request() || e.is_body() {
        ErrorKind::Transient
    } else {
        ErrorKind::Unexpected
    };
    // reqwest's Display includes the URL; strip the query, which may hold a SAS or a token.
    let e = e.without_url();
    Error::new(kind, "request failed")
        .with_provider(PROVIDER)
        .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_arm_error_shapes() {
        let w = parse_json_error(
            br#"{"error":{"code":"NotFound","message":"zone missing","target":null,"details":[]}}"#,
        );
        assert_eq!(w.code.as_deref(), Some("NotFound"));
        assert_eq!(w.message, "zone missing");
        let b = parse_json_error(br#"{"code":"NotFound","message":"record missing"}"#);
        assert_eq!(b.code.as_deref(), Some("NotFound"));
        assert_eq!(b.message, "record missing");
        let garbage = parse_json_error(b"<html>oops</html>");
        assert_eq!(garbage.code, None);
        assert!(garbage.message.contains("oops"));
    }

    #[test]
    fn oauth_error_shape() {
        let e = parse_json_error(
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
        );
        assert_eq!(e.code.as_deref(), Some("invalid_client"));
        assert!(e.message.starts_with("AADSTS7000215"));
        assert_eq!(
            kind_for(401, e.code.as_deref(), None, None),
            ErrorKind::Unauthenticated
        );
    }

    #[test]
    fn xml_error_and_header() {
        let mut h = HeaderMap::new();
        let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerNotFound</Code><Message>The specified container does not exist.\nRequestId:x</Message></Error>";
        let e = parse_xml_error(&h, body);
        assert_eq!(e.code.as_deref(), Some("ContainerNotFound"));
        assert_eq!(e.message, "The specified container does not exist.");
        h.insert("x-ms-error-code", "BlobNotFound".parse().unwrap());
        assert_eq!(
            parse_xml_error(&h, b"").code.as_deref(),
            Some("BlobNotFound")
        );
    }

    #[test]
    fn throttling_headers() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "17".parse().unwrap());
        h.insert(
            "x-ms-ratelimit-remaining-subscription-writes",
            "3".parse().unwrap(),
        );
        h.insert(
            "x-ms-ratelimit-remaining-subscription-reads",
            "240".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(17)));
        assert_eq!(remaining_quota(&h), Some(3));
        let err = http_error(429, &h, &ServiceError::default());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(17)));
        assert!(err.retryable());
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        assert_eq!(
            kind_for(500, Some("InternalServerError"), None, None),
            ErrorKind::Transient
        );
        assert_eq!(kind_for(412, None, None, None), ErrorKind::Conflict);
    }
}
