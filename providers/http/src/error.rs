//! Classifying transport failures into provisio error kinds.
//!
//! | failure | kind |
//! |---|---|
//! | the server's certificate did not verify (rustls `InvalidCertificate`) | `PermissionDenied` ([`provisio::probe::certificate_error`]) |
//! | any other TLS failure (no common protocol, a bad record) | `Transient` |
//! | no answer within the request's timeout | `Timeout` |
//! | connection refused or reset, DNS lookup failed, the body broke off | `Transient` |
//! | a request reqwest cannot build | `InvalidInput` |
//!
//! An HTTP status is never an error here: it is the probe's answer.

use provisio::{Error, ErrorKind};
use std::error::Error as StdError;

/// The next error of a chain: `source()`, except for an `io::Error` wrapping another error,
/// whose `source()` skips the wrapped error itself (tokio-rustls hands the handshake's
/// `rustls::Error` over inside an io::Error, which hyper-rustls wraps in another).
fn next<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && let Some(inner) = io.get_ref()
    {
        return Some(inner);
    }
    e.source()
}

/// What a certificate that did not verify says, when one is in `err`'s chain.
pub(crate) fn certificate_problem(err: &(dyn StdError + 'static)) -> Option<String> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(rustls::Error::InvalidCertificate(c)) = e.downcast_ref::<rustls::Error>() {
            return Some(format!("{c:?}"));
        }
        current = next(e);
    }
    None
}

/// The whole chain of `err` as one line (reqwest's own message is only its outermost part:
/// "error sending request").
pub(crate) fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = next(e);
    }
    parts.join(": ")
}

/// The provisio error for a failed probe of `url` (method `method`).
pub(crate) fn transport_error(method: &str, url: &str, err: reqwest::Error) -> Error {
    if let Some(problem) = certificate_problem(&err) {
        return provisio::probe::certificate_error(url, problem).with_source(err);
    }
    let detail = chain(&err);
    let kind = if err.is_timeout() {
        ErrorKind::Timeout
    } else if err.is_builder() {
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Transient
    };
    let what = if err.is_timeout() {
        "no answer in time"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    Error::new(kind, format!("{method} {url}: {what}: {detail}")).with_resource(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("error sending request")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn finds_a_certificate_error_inside_an_io_error() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let outer = Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, tls));
        assert_eq!(
            certificate_problem(&outer).as_deref(),
            Some("UnknownIssuer")
        );
        // as hyper-rustls hands it over: an io::Error inside an io::Error
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::Expired);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = Outer(std::io::Error::other(inner));
        assert_eq!(certificate_problem(&outer).as_deref(), Some("Expired"));
        let plain = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(certificate_problem(&plain), None);
        assert_eq!(chain(&plain), "error sending request: connection refused");
    }
}
