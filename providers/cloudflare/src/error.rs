//! Classifying Cloudflare answers into provisio error kinds.
//!
//! | answer | kind |
//! |---|---|
//! | HTTP 429 (`retry-after` kept as the hint) | `RateLimited` |
//! | HTTP 5xx | `Transient` |
//! | 81057, 81058 (the record already exists, identical) | `AlreadyExists` |
//! | 81053, 81054, 81056 (CNAME / NS exclusivity), HTTP 409 | `Conflict` |
//! | 81044 (record does not exist), 7000, 7003 (no route: unknown id), HTTP 404 | `NotFound` |
//! | 6003, 6111 (bad `Authorization` header), 9106, 9109 (invalid token), 1000, HTTP 401, and 10000 unless HTTP 403 | `Unauthenticated` |
//! | HTTP 403 otherwise (the token lacks a permission) | `PermissionDenied` |
//! | 1004, 9005 (validation) and any other HTTP 400/422 | `InvalidInput` |
//! | a timeout | `Timeout` |
//! | a connection failure | `Transient` |
//! | anything else | `Unexpected` |

use provisio::{Error, ErrorKind};
use std::time::Duration;

/// One entry of the envelope's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiError {
    /// Cloudflare's error code (at least 1000).
    pub code: u32,
    /// The message.
    #[serde(default)]
    pub message: String,
    /// Nested causes (e.g. 6003 -> 6111).
    #[serde(default)]
    pub error_chain: Vec<ApiError>,
}

/// Error code: the record does not exist.
pub const RECORD_DOES_NOT_EXIST: u32 = 81044;

fn codes(errors: &[ApiError]) -> Vec<u32> {
    let mut out = Vec::new();
    for e in errors {
        out.push(e.code);
        out.extend(codes(&e.error_chain));
    }
    out
}

/// The kind of a failed answer: HTTP status, the envelope's errors, and the `retry-after` hint.
///
/// ```
/// use provisio::ErrorKind;
/// use provisio_cloudflare::{ApiError, classify};
/// let e = |code| vec![ApiError { code, message: String::new(), error_chain: vec![] }];
/// assert_eq!(classify(400, &e(81053), None), ErrorKind::Conflict);
/// assert_eq!(classify(400, &e(81057), None), ErrorKind::AlreadyExists);
/// assert_eq!(classify(503, &[], None), ErrorKind::Transient);
/// ```
pub fn classify(status: u16, errors: &[ApiError], retry_after: Option<Duration>) -> ErrorKind {
    let codes = codes(errors);
    let has = |c: &[u32]| codes.iter().any(|x| c.contains(x));
    if status == 429 {
        return ErrorKind::RateLimited { retry_after };
    }
    if (500..=599).contains(&status) {
        return ErrorKind::Transient;
    }
    if has(&[81057, 81058]) {
        return ErrorKind::AlreadyExists;
    }
    if has(&[81053, 81054, 81056]) || status == 409 {
        return ErrorKind::Conflict;
    }
    if has(&[RECORD_DOES_NOT_EXIST, 7000, 7003]) || status == 404 {
        return ErrorKind::NotFound;
    }
    if has(&[6003, 6111, 9106, 9109, 1000]) || status == 401 {
        return ErrorKind::Unauthenticated;
    }
    if status == 403 {
        return ErrorKind::PermissionDenied;
    }
    if has(&[10000]) {
        return ErrorKind::Unauthenticated;
    }
    if has(&[1004, 9005]) || status == 400 || status == 422 {
        return ErrorKind::InvalidInput;
    }
    ErrorKind::Unexpected
}

/// The provisio error for a failed answer, with a message built from codes and messages only.
pub(crate) fn api_error(
    status: u16,
    errors: &[ApiError],
    retry_after: Option<Duration>,
    body_hint: &str,
) -> Error {
    let kind = classify(status, errors, retry_after);
    let detail = if errors.is_empty() {
        if body_hint.is_empty() {
            "no error details".to_string()
        } else {
            format!("answer: {body_hint}")
        }
    } else {
        errors
            .iter()
            .map(|e| {
                let chain: Vec<String> = e
                    .error_chain
                    .iter()
                    .map(|c| format!("{} {}", c.code, c.message))
                    .collect();
                if chain.is_empty() {
                    format!("{} {}", e.code, e.message)
                } else {
                    format!("{} {} ({})", e.code, e.message, chain.join("; "))
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Error::new(kind, format!("Cloudflare API HTTP {status}: {detail}"))
}

/// A transport failure (no answer) as a provisio error.
pub(crate) fn transport_error(err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_connect() || err.is_request() || err.is_body() {
        ErrorKind::Transient
    } else {
        ErrorKind::Unexpected
    };
    // reqwest's message names the URL, which holds no secret (the token is a header).
    let what = if err.is_timeout() {
        "Cloudflare API request timed out"
    } else if err.is_connect() {
        "cannot connect to the Cloudflare API"
    } else {
        "Cloudflare API request failed"
    };
    Error::new(kind, what).with_source(err.without_url())
}

/// The `retry-after` header: seconds (an HTTP date is taken as "soon": 1 s).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s.min(3600.0))),
        _ => Some(Duration::from_secs(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(code: u32) -> Vec<ApiError> {
        vec![ApiError {
            code,
            message: format!("m{code}"),
            error_chain: vec![],
        }]
    }

    #[test]
    fn codes_and_statuses() {
        use ErrorKind::*;
        let cases: &[(u16, u32, ErrorKind)] = &[
            (400, 81057, AlreadyExists),
            (400, 81058, AlreadyExists),
            (400, 81053, Conflict),
            (400, 81054, Conflict),
            (400, 81056, Conflict),
            (409, 1, Conflict),
            (404, 81044, NotFound),
            (400, 81044, NotFound),
            (400, 7003, NotFound),
            (404, 7000, NotFound),
            (404, 1, NotFound),
            (400, 9005, InvalidInput),
            (400, 1004, InvalidInput),
            (400, 9207, InvalidInput),
            (422, 1, InvalidInput),
            (401, 1, Unauthenticated),
            (400, 6003, Unauthenticated),
            (403, 9109, Unauthenticated),
            (400, 10000, Unauthenticated),
            (403, 10000, PermissionDenied),
            (403, 1, PermissionDenied),
            (500, 1, Transient),
            (502, 1, Transient),
            (503, 10000, Transient),
            (418, 1, Unexpected),
        ];
        for (status, code, kind) in cases {
            assert_eq!(
                &classify(*status, &e(*code), None),
                kind,
                "HTTP {status} code {code}"
            );
        }
        assert_eq!(
            classify(429, &e(10000), Some(Duration::from_secs(3))),
            RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(classify(429, &[], None), RateLimited { retry_after: None });
        assert_eq!(classify(500, &[], None), Transient);
    }

    #[test]
    fn chained_codes_count() {
        let chained = vec![ApiError {
            code: 1,
            message: "Invalid request headers".into(),
            error_chain: vec![ApiError {
                code: 6111,
                message: "Invalid format for Authorization header".into(),
                error_chain: vec![],
            }],
        }];
        assert_eq!(classify(400, &chained, None), ErrorKind::Unauthenticated);
        let err = api_error(400, &chained, None, "");
        assert_eq!(
            err.message(),
            "Cloudflare API HTTP 400: 1 Invalid request headers (6111 Invalid format for Authorization header)"
        );
        assert!(!err.retryable());
    }

    #[test]
    fn messages_and_retryability() {
        let err = api_error(429, &e(10000), Some(Duration::from_secs(2)), "");
        assert!(err.retryable());
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        let err = api_error(502, &[], None, "<html>bad gateway</html>");
        assert!(err.retryable());
        assert!(err.message().contains("bad gateway"));
        assert!(
            api_error(400, &e(81053), None, "")
                .message()
                .contains("81053")
        );
    }

    #[test]
    fn retry_after_header() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
    }
}
