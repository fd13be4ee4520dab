//! Probes: one HTTP(S) request to a URL, to see whether a service answers (a health check).
//!
//! A [`Probe`] sends one `GET` (or `HEAD`) and reports what came back: the status, a bounded
//! prefix of the body ([`MAX_BODY_BYTES`]) and whether the server's certificate was verified.
//! It never decides whether the answer is *good*: an HTTP 503 is an answer, not an error. The
//! `http.check` resource type of the engine compares answers with what it expects and polls
//! until they match.
//!
//! What a probe fails with:
//!
//! | failure | kind | retryable |
//! |---|---|---|
//! | the URL or another option breaks a rule (checked before anything is sent) | `InvalidInput` naming the field | no |
//! | the CA file cannot be read or holds no certificate | `InvalidInput` naming `ca_file` | no |
//! | connection refused, reset, DNS lookup failed, the answer broke off | `Transient` | yes |
//! | no answer within the request's timeout | `Timeout` | yes |
//! | the server's certificate did not verify (unknown issuer, expired, wrong name) | `PermissionDenied`, message "the server's certificate did not verify: ..." | no |
//!
//! A certificate that does not verify is `PermissionDenied`, not `InvalidInput`: the request
//! was well-formed, and the answer is "provisio may not trust this server", which waiting does
//! not change. It is not retryable, so a check fails at once instead of polling until its
//! deadline. Verification is turned off only by [`ProbeRequest::tls_verify`]` = false` on the
//! request itself (one check, visible in its parameters), never by a provider setting.
//!
//! ```
//! use provisio::probe::{ProbeMethod, ProbeRequest};
//! let req = ProbeRequest::get("https://acme.example.com/health");
//! assert_eq!(req.method, ProbeMethod::Get);
//! assert!(req.tls_verify);
//! req.validated().unwrap();
//! let e = ProbeRequest::get("ftp://acme.example.com/").validated().unwrap_err();
//! assert_eq!(e.message(), "invalid url: must start with http:// or https://, got \"ftp://acme.example.com/\"");
//! ```

use crate::{Bytes, Error, Provider, Result};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

/// The most body a probe keeps: the first 64 KiB. The rest is not read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The per-request timeout when the caller sets none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest per-request timeout a probe accepts (5 minutes): a probe is one request, and a
/// longer wait belongs to the caller's deadline.
pub const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The HTTP method of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProbeMethod {
    /// `GET`: status and body.
    #[default]
    Get,
    /// `HEAD`: status only (the body is empty).
    Head,
}

impl ProbeMethod {
    /// `GET` or `HEAD`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeMethod::Get => "GET",
            ProbeMethod::Head => "HEAD",
        }
    }
}

/// The scheme of a probe URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `http://`.
    Http,
    /// `https://`.
    Https,
}

/// A probe URL that passed [`probe_url`]: its scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeUrl {
    /// `http` or `https`.
    pub scheme: Scheme,
    /// The host: a lower-case DNS name, an IPv4 address, or an IPv6 address without brackets.
    pub host: String,
    /// The port: the URL's, or 80 / 443.
    pub port: u16,
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// The URL: `http://` or `https://`, a host, no credentials (see [`probe_url`]).
    pub url: String,
    /// `GET` (default) or `HEAD`.
    pub method: ProbeMethod,
    /// Verify the server's certificate against the system's roots (and [`Self::ca_file`]).
    /// `true` unless the caller turns it off for this one request.
    pub tls_verify: bool,
    /// A PEM file of extra CA certificates to trust (e.g. the tenant's internal CA), besides
    /// the built-in roots.
    pub ca_file: Option<PathBuf>,
    /// How long the one request may take, connection included
    /// ([`DEFAULT_REQUEST_TIMEOUT`]; at most [`MAX_REQUEST_TIMEOUT`]).
    pub timeout: Duration,
    /// A `Host` header to send instead of the URL's host (a virtual host behind an address).
    /// TLS still verifies the certificate for the URL's host.
    pub host_header: Option<String>,
}

impl ProbeRequest {
    /// A `GET` of `url` with verification on and the default timeout.
    pub fn get(url: impl Into<String>) -> Self {
        ProbeRequest {
            url: url.into(),
            method: ProbeMethod::Get,
            tls_verify: true,
            ca_file: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            host_header: None,
        }
    }

    /// Checks every field (`url`, `timeout`, `host_header`, `ca_file`) and returns the parsed
    /// URL. Errors are `InvalidInput` naming the field and the rule; nothing is sent.
    pub fn validated(&self) -> Result<ProbeUrl> {
        let url = probe_url("url", &self.url)?;
        if self.timeout.is_zero() || self.timeout > MAX_REQUEST_TIMEOUT {
            return Err(Error::invalid_field(
                "timeout",
                format!(
                    "must be more than 0 and at most {} s, got {} ms",
                    MAX_REQUEST_TIMEOUT.as_secs(),
                    self.timeout.as_millis()
                ),
            ));
        }
        if let Some(h) = &self.host_header {
            host_header("host_header", h)?;
        }
        if let Some(ca) = &self.ca_file
            && ca.as_os_str().is_empty()
        {
            return Err(Error::invalid_field("ca_file", "must not be empty"));
        }
        Ok(url)
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeAnswer {
    /// The HTTP status (redirects are not followed: a 301 is the answer).
    pub status: u16,
    /// The first [`MAX_BODY_BYTES`] of the body (empty for `HEAD`).
    pub body: Bytes,
    /// Whether the body was longer than what [`Self::body`] holds.
    pub body_truncated: bool,
    /// Whether the connection was TLS with a verified certificate: `false` for `http://` and
    /// for `https://` with verification turned off.
    pub tls_verified: bool,
}

impl ProbeAnswer {
    /// An answer with `status` and `body`, not over TLS.
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        let mut body: Bytes = body.into();
        let body_truncated = body.len() > MAX_BODY_BYTES;
        if body_truncated {
            body.truncate(MAX_BODY_BYTES);
        }
        ProbeAnswer {
            status,
            body,
            body_truncated,
            tls_verified: false,
        }
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What a probe provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProbeCapabilities {
    /// `https://` URLs work (with verification).
    pub https: bool,
    /// [`ProbeRequest::ca_file`] is honoured.
    pub custom_ca: bool,
    /// [`ProbeRequest::host_header`] is honoured.
    pub host_header: bool,
}

/// A provider that sends probes.
///
/// Every call is one request: it is counted and paced as one
/// ([`crate::requests::before_request`]), redirects are not followed, and no body beyond
/// [`MAX_BODY_BYTES`] is read. Call [`ProbeRequest::validated`] first thing.
#[async_trait]
pub trait Probe: Provider {
    /// What this provider supports; an unsupported option fails with `Unsupported`.
    fn capabilities(&self) -> ProbeCapabilities;

    /// Sends one request and returns the answer, whatever its status (see the module docs for
    /// the errors).
    async fn fetch(&self, request: &ProbeRequest) -> Result<ProbeAnswer>;
}

/// The message of a certificate that did not verify, shared by every provider so that callers
/// and tests see one wording: `the server's certificate did not verify (<detail>): set ca_file
/// to the CA that signed it, or tls_verify: false for this check`.
pub fn certificate_error(url: &str, detail: impl std::fmt::Display) -> Error {
    Error::new(
        crate::ErrorKind::PermissionDenied,
        format!(
            "the server's certificate did not verify ({detail}) for {url}: set ca_file to the CA \
             that signed it, or tls_verify: false for this check"
        ),
    )
    .with_resource(url)
}

/// Checks a probe URL: `http://` or `https://` (any case), a host (a DNS name, an IPv4
/// address, or an IPv6 address in brackets), an optional port from 1 to 65535, then an
/// optional path and query; no credentials (`user:password@` would end up in state and
/// events), no spaces or control characters, at most 2048 characters. Errors are
/// `InvalidInput` naming `field` and the rule.
///
/// ```
/// use provisio::probe::{probe_url, Scheme};
/// let u = probe_url("url", "HTTPS://Acme.Example.com:8443/health?full=1").unwrap();
/// assert_eq!((u.scheme, u.host.as_str(), u.port), (Scheme::Https, "acme.example.com", 8443));
/// assert_eq!(probe_url("url", "http://[::1]/").unwrap().host, "::1");
/// assert_eq!(probe_url("url", "http://127.0.0.1/").unwrap().port, 80);
/// for bad in ["", "acme.example.com", "http://", "http:///x", "http://u:p@h/", "http://h:0/",
///             "http://h:99999/", "http://a b/", "http://h/\n", "http://-h-/"] {
///     let e = probe_url("url", bad).unwrap_err();
///     assert!(e.message().starts_with("invalid url: "), "{bad:?}: {e}");
/// }
/// ```
pub fn probe_url(field: &str, value: &str) -> Result<ProbeUrl> {
    if value.len() > 2048 {
        return Err(Error::invalid_field(
            field,
            format!("is {} characters long; at most 2048", value.len()),
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_field(
            field,
            format!("{value:?} contains {c:?}; spaces and control characters must be escaped"),
        ));
    }
    let lower = value.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("https://") {
        (Scheme::Https, &value["https://".len()..])
    } else if lower.starts_with("http://") {
        (Scheme::Http, &value["http://".len()..])
    } else {
        return Err(Error::invalid_field(
            field,
            format!("must start with http:// or https://, got {value:?}"),
        ));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.contains('@') {
        return Err(Error::invalid_field(
            field,
            "must not contain credentials (user:password@): they would be kept in state and \
             shown in events",
        ));
    }
    if authority.is_empty() {
        return Err(Error::invalid_field(
            field,
            format!("has no host: {value:?}"),
        ));
    }
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let (host, port) = split_host_port(field, authority)?;
    let port = port.unwrap_or(default_port);
    Ok(ProbeUrl { scheme, host, port })
}

/// Splits `host[:port]` (IPv6 in brackets) and checks both parts.
fn split_host_port(field: &str, authority: &str) -> Result<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(Error::invalid_field(
                field,
                format!("{authority:?} opens an IPv6 address with '[' but never closes it"),
            ));
        };
        let ip: std::net::Ipv6Addr = v6
            .parse()
            .map_err(|_| Error::invalid_field(field, format!("{v6:?} is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or_else(|| {
                Error::invalid_field(field, format!("unexpected {p:?} after the IPv6 address"))
            })?),
        };
        (ip.to_string(), port)
    } else {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err(Error::invalid_field(field, "has no host"));
        }
        let host = match host.parse::<std::net::Ipv4Addr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => crate::validate::hostname(field, host)?,
        };
        (host, port)
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return Err(Error::invalid_field(
                    field,
                    format!("port {p:?} must be a number from 1 to 65535"),
                ));
            }
        },
    };
    Ok((host, port))
}

/// Checks a `Host` header value: a host (as in a URL) with an optional port.
///
/// ```
/// provisio::probe::host_header("host_header", "acme.example.com:8080").unwrap();
/// assert!(provisio::probe::host_header("host_header", "a b").is_err());
/// ```
pub fn host_header(field: &str, value: &str) -> Result<String> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid_field(
            field,
            format!("{value:?} is not a host (a name or address, optionally with :port)"),
        ));
    }
    if value.contains(['/', '?', '#', '@']) {
        return Err(Error::invalid_field(
            field,
            format!("{value:?} is not a host: no scheme, path or credentials"),
        ));
    }
    split_host_port(field, value)?;
    Ok(value.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = probe_url("url", "http://localhost:8080").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Http, "localhost", 8080)
        );
        let u = probe_url("url", "https://acme.example.com?x=1").unwrap();
        assert_eq!(u.port, 443);
        for (bad, rule) in [
            ("https//x", "must start with http"),
            ("http://user@h/", "credentials"),
            ("http://[::1/", "never closes"),
            ("http://[zz]/", "not an IPv6"),
            ("http://[::1]x/", "after the IPv6"),
            ("http://h:/", "port"),
            ("http://h:abc/", "port"),
            ("http://:80/", "no host"),
            ("http://?x", "no host"),
        ] {
            let e = probe_url("url", bad).unwrap_err();
            assert_eq!(e.kind(), &crate::ErrorKind::InvalidInput);
            assert!(e.message().contains(rule), "{bad}: {e}");
            assert!(e.message().starts_with("invalid url: "), "{bad}: {e}");
        }
        let long = format!("http://h/{}", "a".repeat(2100));
        assert!(probe_url("url", &long).is_err());
    }

    #[test]
    fn requests_check_every_field() {
        let mut r = ProbeRequest::get("http://h/");
        r.validated().unwrap();
        r.timeout = Duration::ZERO;
        assert!(r.validated().unwrap_err().message().contains("timeout"));
        r.timeout = Duration::from_secs(301);
        assert!(r.validated().unwrap_err().message().contains("timeout"));
        r.timeout = Duration::from_secs(1);
        r.host_header = Some("x/y".into());
        assert!(r.validated().unwrap_err().message().contains("host_header"));
        r.host_header = Some("[::1]:8080".into());
        r.validated().unwrap();
        r.ca_file = Some(PathBuf::new());
        assert!(r.validated().unwrap_err().message().contains("ca_file"));
    }

    #[test]
    fn answers_are_bounded_and_certificate_errors_are_not_retryable() {
        let a = ProbeAnswer::new(200, vec![b'x'; MAX_BODY_BYTES + 10]);
        assert_eq!(a.body.len(), MAX_BODY_BYTES);
        assert!(a.body_truncated);
        assert_eq!(ProbeAnswer::new(503, "down").text(), "down");
        let e = certificate_error("https://h/", "UnknownIssuer");
        assert_eq!(e.kind(), &crate::ErrorKind::PermissionDenied);
        assert!(!e.retryable());
        assert!(e.message().contains("certificate did not verify"), "{e}");
        assert_eq!(
            serde_json::to_value(ProbeMethod::Head).unwrap(),
            serde_json::json!("HEAD")
        );
    }
}
