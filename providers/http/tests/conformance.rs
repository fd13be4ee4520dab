//! The probe conformance suite against `HttpProbe` and the local servers of `common` (plain
//! and TLS, on 127.0.0.1): runs without any environment.

mod common;

fn context() -> provisio_testkit::probe::ProbeContext {
    let plain = common::shared_plain();
    let (tls, ca) = common::shared_tls();
    let mut ctx = provisio_testkit::probe::ProbeContext::new(
        plain.url("/health"),
        "all systems go",
        plain.url("/down"),
        503,
        format!("http://127.0.0.1:{}/health", common::closed_port()),
    );
    ctx.hanging_url = Some(plain.url("/hang"));
    ctx.large_url = Some(plain.url("/large"));
    ctx.untrusted_tls = Some((tls.url("/health"), ca.clone()));
    ctx
}

mod probe {
    provisio_testkit::probe_conformance! {
        provider: std::sync::Arc::new(provisio_http::HttpProbe::new(provisio_http::HttpConfig::new())?),
        context: super::context(),
    }
}
