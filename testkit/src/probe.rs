//! Conformance cases for [`Probe`].
//!
//! A probe creates nothing, so the cases need URLs that already answer in known ways
//! ([`ProbeContext`]): the memory probe gets them from its table, a real provider from a
//! server the test starts on 127.0.0.1. Cases whose URL the context leaves out pass without
//! checking anything.

use crate::{expect_invalid, expect_kind, expect_one_of, expect_unsupported};
use provisio::probe::{MAX_BODY_BYTES, ProbeMethod, ProbeRequest};
use provisio::{ErrorKind, Probe, Result};
use std::path::PathBuf;
use std::time::Duration;

/// The URLs the probe cases fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeContext {
    /// Answers `200` to `GET` and `HEAD`, with a body containing [`Self::ok_body`].
    pub ok_url: String,
    /// Text the body of [`Self::ok_url`] contains.
    pub ok_body: String,
    /// Answers [`Self::error_status`].
    pub error_url: String,
    /// The status of [`Self::error_url`] (e.g. 503).
    pub error_status: u16,
    /// Nothing listens there.
    pub refused_url: String,
    /// Accepts the connection and never answers.
    pub hanging_url: Option<String>,
    /// Answers `200` with a body longer than [`MAX_BODY_BYTES`].
    pub large_url: Option<String>,
    /// An `https://` URL whose certificate the built-in roots do not trust, and a PEM file of
    /// the CA that signed it.
    pub untrusted_tls: Option<(String, PathBuf)>,
}

impl ProbeContext {
    /// The three URLs every provider needs; the optional ones are left out.
    pub fn new(
        ok_url: impl Into<String>,
        ok_body: impl Into<String>,
        error_url: impl Into<String>,
        error_status: u16,
        refused_url: impl Into<String>,
    ) -> Self {
        ProbeContext {
            ok_url: ok_url.into(),
            ok_body: ok_body.into(),
            error_url: error_url.into(),
            error_status,
            refused_url: refused_url.into(),
            hanging_url: None,
            large_url: None,
            untrusted_tls: None,
        }
    }
}

/// Every probe case by name.
pub const CASES: &[crate::Case<dyn Probe, ProbeContext>] = crate::probe_conformance!(@table);

/// Generates one `#[test]` per probe case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::probe_conformance! {
///     provider: my_probe(),
///     context: provisio_testkit::probe::ProbeContext::new(ok, "ok", down, 503, refused),
/// }
/// ```
#[macro_export]
macro_rules! probe_conformance {
    (@table) => { $crate::probe_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* probe [
            ok_answer,
            head_has_no_body,
            status_is_an_answer,
            refused_is_retryable,
            hanging_is_a_timeout,
            body_is_bounded,
            invalid_requests,
            untrusted_certificate,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::probe_conformance!(@cases @tests { $($setup)* }); };
}

fn is_https(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("https://")
}

/// `GET` of the good URL: its status, its body, and `tls_verified` exactly for `https://`.
pub async fn ok_answer(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let a = p.fetch(&ProbeRequest::get(&ctx.ok_url)).await?;
    assert_eq!(a.status, 200, "GET {}", ctx.ok_url);
    assert!(
        a.text().contains(&ctx.ok_body),
        "the body of {} should contain {:?}, got {:?}",
        ctx.ok_url,
        ctx.ok_body,
        a.text()
    );
    assert!(!a.body_truncated, "a short body is not truncated");
    assert_eq!(
        a.tls_verified,
        is_https(&ctx.ok_url),
        "tls_verified of {}",
        ctx.ok_url
    );
    Ok(())
}

/// `HEAD` of the good URL: its status and no body.
pub async fn head_has_no_body(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let mut req = ProbeRequest::get(&ctx.ok_url);
    req.method = ProbeMethod::Head;
    let a = p.fetch(&req).await?;
    assert_eq!(a.status, 200, "HEAD {}", ctx.ok_url);
    assert!(a.body.is_empty(), "HEAD returned a body: {:?}", a.text());
    Ok(())
}

/// A server error is an answer, not an error: the caller decides what it expects.
pub async fn status_is_an_answer(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let a = p.fetch(&ProbeRequest::get(&ctx.error_url)).await?;
    assert_eq!(a.status, ctx.error_status, "GET {}", ctx.error_url);
    Ok(())
}

/// A refused connection is `Transient` (or `Timeout`), retryable, and names the URL.
pub async fn refused_is_retryable(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let mut req = ProbeRequest::get(&ctx.refused_url);
    req.timeout = Duration::from_secs(5);
    let e = expect_one_of(
        p.fetch(&req).await,
        &[ErrorKind::Transient, ErrorKind::Timeout],
        &format!("GET {} (nothing listens)", ctx.refused_url),
    );
    assert!(e.retryable(), "{e}");
    assert!(
        e.to_string().contains(&ctx.refused_url),
        "the error should name the URL: {e}"
    );
    Ok(())
}

/// A server that never answers: `Timeout` after the request's timeout, not much later.
pub async fn hanging_is_a_timeout(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let Some(url) = &ctx.hanging_url else {
        return Ok(());
    };
    let mut req = ProbeRequest::get(url);
    req.timeout = Duration::from_millis(300);
    let t0 = std::time::Instant::now();
    let e = expect_kind(
        p.fetch(&req).await,
        ErrorKind::Timeout,
        &format!("GET {url} (never answers)"),
    );
    assert!(e.retryable(), "{e}");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(5),
        "a 300 ms timeout took {took:?}"
    );
    Ok(())
}

/// A long body is cut at [`MAX_BODY_BYTES`] and marked truncated.
pub async fn body_is_bounded(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let Some(url) = &ctx.large_url else {
        return Ok(());
    };
    let a = p.fetch(&ProbeRequest::get(url)).await?;
    assert_eq!(a.status, 200, "GET {url}");
    assert_eq!(a.body.len(), MAX_BODY_BYTES, "the body kept of {url}");
    assert!(a.body_truncated, "the body of {url} is longer than kept");
    Ok(())
}

/// Bad requests are `InvalidInput` naming the field, before anything is sent.
pub async fn invalid_requests(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    for bad in [
        "",
        "acme.example.com/health",
        "ftp://acme.example.com/",
        "http://",
        "http://user:secret@acme.example.com/",
        "http://acme example.com/",
        "http://acme.example.com:70000/",
    ] {
        expect_invalid(
            p.fetch(&ProbeRequest::get(bad)).await,
            "url",
            &format!("fetch({bad:?})"),
        );
    }
    let mut req = ProbeRequest::get(&ctx.ok_url);
    req.timeout = Duration::ZERO;
    expect_invalid(p.fetch(&req).await, "timeout", "a zero timeout");
    let mut req = ProbeRequest::get(&ctx.ok_url);
    req.host_header = Some("a/b".into());
    expect_invalid(
        p.fetch(&req).await,
        "host_header",
        "a host header with a path",
    );
    Ok(())
}

/// An untrusted certificate: refused by default with `PermissionDenied` (not retryable, "the
/// server's certificate did not verify"); accepted with the CA file that signed it (verified)
/// and with verification turned off (not verified).
pub async fn untrusted_certificate(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let Some((url, ca)) = &ctx.untrusted_tls else {
        return Ok(());
    };
    let caps = p.capabilities();
    if !caps.https {
        expect_unsupported(p.fetch(&ProbeRequest::get(url)).await, "an https:// URL");
        return Ok(());
    }
    let e = expect_kind(
        p.fetch(&ProbeRequest::get(url)).await,
        ErrorKind::PermissionDenied,
        &format!("GET {url} (untrusted certificate)"),
    );
    assert!(!e.retryable(), "{e}");
    assert!(
        e.message().contains("certificate did not verify"),
        "the error should say the certificate did not verify: {e}"
    );
    let mut with_ca = ProbeRequest::get(url);
    with_ca.ca_file = Some(ca.clone());
    if caps.custom_ca {
        let a = p.fetch(&with_ca).await?;
        assert_eq!(a.status, 200, "GET {url} trusting {}", ca.display());
        assert!(a.tls_verified, "verified with the CA file");
    } else {
        expect_unsupported(p.fetch(&with_ca).await, "a ca_file");
    }
    let mut unverified = ProbeRequest::get(url);
    unverified.tls_verify = false;
    let a = p.fetch(&unverified).await?;
    assert_eq!(a.status, 200, "GET {url} without verification");
    assert!(!a.tls_verified, "tls_verified without verification");
    Ok(())
}

/// What the capabilities deny is `Unsupported`; what they promise works.
pub async fn capability_honesty(p: &dyn Probe, ctx: &ProbeContext) -> Result<()> {
    let caps = p.capabilities();
    let mut req = ProbeRequest::get(&ctx.ok_url);
    req.host_header = Some("virtual.example.test".into());
    if caps.host_header {
        let a = p.fetch(&req).await?;
        assert_eq!(a.status, 200, "GET {} with a Host header", ctx.ok_url);
    } else {
        expect_unsupported(p.fetch(&req).await, "a Host header");
    }
    if !caps.https {
        expect_unsupported(
            p.fetch(&ProbeRequest::get("https://acme.example.test/"))
                .await,
            "an https:// URL",
        );
    }
    Ok(())
}
