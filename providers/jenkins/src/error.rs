//! Classifying Jenkins answers into provisio error kinds.
//!
//! | answer | kind |
//! |---|---|
//! | 401 | `Unauthenticated` (wrong user or token) |
//! | 403 with `X-You-Are-Authenticated-As: anonymous` | `Unauthenticated` (no credentials reached Jenkins) |
//! | 403 `No valid crumb was included in the request` | `PermissionDenied` (after one crumb refresh) |
//! | other 403 | `PermissionDenied` (a permission is missing; `X-Required-Permission` names it) |
//! | 3xx to a login page (`/login`, `securityRealm`, `commenceLogin`) | `Unauthenticated` (redirects are never followed) |
//! | other unexpected 3xx | `Unexpected` |
//! | 400 with `X-Error: A job already exists ...` | `AlreadyExists` |
//! | other 400, 422 | `InvalidInput` |
//! | 404 | `NotFound` |
//! | 408 | `Timeout` |
//! | 409 | `Conflict` (e.g. a disabled job is not buildable) |
//! | 429 | `RateLimited` with `Retry-After` (seconds or an HTTP date) |
//! | 5xx | `Transient` |
//! | a request timeout | `Timeout`; a connection failure: `Transient` |

use provisio::{Error, ErrorKind};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use std::time::{Duration, SystemTime};

/// The 403 body of Jenkins' CrumbFilter.
pub(crate) const NO_VALID_CRUMB: &str = "No valid crumb";

/// The value of a header as text; Jenkins sends `X-Error` messages with non-ASCII quotes as
/// UTF-8 bytes, which `HeaderValue::to_str` refuses.
pub(crate) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Whether a 400 says that the item exists already (createItem's `Failure`).
pub(crate) fn is_already_exists(status: StatusCode, headers: &HeaderMap) -> bool {
    status == StatusCode::BAD_REQUEST
        && header_text(headers, "X-Error").is_some_and(|e| e.contains("already exists"))
}

/// Whether a 403 is the CSRF filter refusing a missing or stale crumb.
pub(crate) fn is_crumb_failure(status: StatusCode, body: &str) -> bool {
    status == StatusCode::FORBIDDEN && body.contains(NO_VALID_CRUMB)
}

/// Whether a redirect points at a login page.
pub(crate) fn is_login_redirect(headers: &HeaderMap) -> bool {
    header_text(headers, LOCATION.as_str()).is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("/login") || l.contains("securityrealm") || l.contains("commencelogin")
    })
}

/// `Retry-After` as a duration: delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = header_text(headers, RETRY_AFTER.as_str())?;
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The kind of a failed answer.
pub(crate) fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Unauthenticated,
        403 if is_crumb_failure(status, body) => ErrorKind::PermissionDenied,
        403 if header_text(headers, "X-You-Are-Authenticated-As")
            .is_some_and(|u| u.trim() == "anonymous") =>
        {
            ErrorKind::Unauthenticated
        }
        403 => ErrorKind::PermissionDenied,
        300..=399 if is_login_redirect(headers) => ErrorKind::Unauthenticated,
        400 if is_already_exists(status, headers) => ErrorKind::AlreadyExists,
        400 | 422 => ErrorKind::InvalidInput,
        404 | 410 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited {
            retry_after: retry_after(headers),
        },
        500..=599 => ErrorKind::Transient,
        _ => ErrorKind::Unexpected,
    }
}

/// A short, secret-free description of an answer: the status, and `X-Error`, the missing
/// permission, the redirect target or the first line of a plain-text body.
pub(crate) fn describe(status: StatusCode, headers: &HeaderMap, body: &str) -> String {
    let mut msg = format!("HTTP {status}");
    let detail = header_text(headers, "X-Error")
        .or_else(|| header_text(headers, "X-Required-Permission").map(|p| format!("requires {p}")))
        .or_else(|| {
            status
                .is_redirection()
                .then(|| header_text(headers, LOCATION.as_str()))
                .flatten()
                .map(|l| format!("redirected to {l}"))
        })
        .or_else(|| {
            let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
            (!line.starts_with('<')).then(|| line.chars().take(200).collect())
        });
    if let Some(d) = detail {
        msg.push_str(": ");
        msg.push_str(&d);
    }
    msg
}

/// The error for a failed answer.
pub(crate) fn from_response(status: StatusCode, headers: &HeaderMap, body: &str) -> Error {
    let kind = classify(status, headers, body);
    let mut msg = describe(status, headers, body);
    if status.is_redirection() && kind == ErrorKind::Unauthenticated {
        msg.push_str(" (the request was not authenticated; check the user and API token)");
    }
    Error::new(kind, msg)
}

/// The error for a request that got no answer.
pub(crate) fn from_transport(err: reqwest::Error) -> Error {
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_builder() {
        ErrorKind::InvalidInput
    } else if err.is_decode() {
        ErrorKind::Unexpected
    } else {
        ErrorKind::Transient
    };
    let what = if err.is_timeout() {
        "the request timed out"
    } else if err.is_connect() {
        "cannot connect to Jenkins"
    } else {
        "the request failed"
    };
    Error::new(kind, what).with_source(err.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    fn kind(status: u16, h: &HeaderMap, body: &str) -> ErrorKind {
        classify(StatusCode::from_u16(status).unwrap(), h, body)
    }

    #[test]
    fn statuses_map_to_kinds() {
        let none = HeaderMap::new();
        assert_eq!(
            kind(401, &none, "Invalid password/token"),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(403, &none, "bot is missing the Job/Create permission"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(
            kind(403, &none, "No valid crumb was included in the request"),
            ErrorKind::PermissionDenied
        );
        let anon = headers(&[("X-You-Are-Authenticated-As", b"anonymous")]);
        assert_eq!(kind(403, &anon, ""), ErrorKind::Unauthenticated);
        assert_eq!(kind(404, &none, ""), ErrorKind::NotFound);
        assert_eq!(kind(409, &none, "x is not buildable"), ErrorKind::Conflict);
        assert_eq!(
            kind(400, &none, "x is not parameterized"),
            ErrorKind::InvalidInput
        );
        assert_eq!(kind(422, &none, ""), ErrorKind::InvalidInput);
        for s in [500, 502, 503, 504] {
            assert_eq!(kind(s, &none, ""), ErrorKind::Transient, "{s}");
        }
        assert_eq!(kind(408, &none, ""), ErrorKind::Timeout);
        assert_eq!(kind(418, &none, ""), ErrorKind::Unexpected);
    }

    #[test]
    fn already_exists_reads_x_error_with_utf8_quotes() {
        let h = headers(&[(
            "X-Error",
            "A job already exists with the name ‘web_build-acme’".as_bytes(),
        )]);
        assert_eq!(kind(400, &h, "<html/>"), ErrorKind::AlreadyExists);
        assert!(is_already_exists(StatusCode::BAD_REQUEST, &h));
        let msg = describe(StatusCode::BAD_REQUEST, &h, "<html/>");
        assert!(msg.contains("‘web_build-acme’"), "{msg}");
        let other = headers(&[("X-Error", b"Query parameter 'name' is required")]);
        assert_eq!(kind(400, &other, ""), ErrorKind::InvalidInput);
    }

    #[test]
    fn redirects_to_login_are_unauthenticated() {
        for to in [
            "http://ci/login?from=%2Fjob%2Fx%2Fapi%2Fjson",
            "https://ci/securityRealm/commenceLogin?from=/",
        ] {
            let h = headers(&[("Location", to.as_bytes())]);
            assert_eq!(kind(302, &h, ""), ErrorKind::Unauthenticated, "{to}");
            let e = from_response(StatusCode::FOUND, &h, "");
            assert!(e.message().contains("redirected to"), "{e}");
        }
        let h = headers(&[("Location", b"http://ci/job/x/")]);
        assert_eq!(kind(302, &h, ""), ErrorKind::Unexpected);
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let h = headers(&[("Retry-After", b"7")]);
        assert_eq!(
            kind(429, &h, ""),
            ErrorKind::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let h = headers(&[("Retry-After", later.as_bytes())]);
        let Some(d) = retry_after(&h) else {
            panic!("no retry-after from an HTTP date")
        };
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        assert_eq!(
            kind(429, &HeaderMap::new(), ""),
            ErrorKind::RateLimited { retry_after: None }
        );
    }

    #[test]
    fn descriptions_never_quote_html() {
        let msg = describe(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            "<html><body>secret-looking</body></html>",
        );
        assert_eq!(msg, "HTTP 404 Not Found");
        let msg = describe(
            StatusCode::FORBIDDEN,
            &headers(&[("X-Required-Permission", b"hudson.model.Item.Create")]),
            "",
        );
        assert!(msg.ends_with("requires hudson.model.Item.Create"), "{msg}");
    }
}
