//! `http.check` runs against local servers on 127.0.0.1 (see `common`): a service that
//! answers 503 a few times and then recovers, one that never does, and one behind a
//! certificate from a test CA. Each test counts the requests on both sides: what the engine's
//! tally says the step sent, and what the server read. Short deadlines: the file runs in a few
//! seconds.

mod common;

use common::Reply;
use provisio::ErrorKind;
use provisio_engine::events::{EventKind, VecSink};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, Engine, PlanOptions, Providers, RunReport, Tenant, types,
};
use provisio_http::{HttpConfig, HttpProbe};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine(sink: Arc<VecSink>) -> Engine {
    let probe = HttpProbe::new(HttpConfig::new()).unwrap();
    Engine::builder()
        .providers(Providers::new().with_probe("default", Arc::new(probe)))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .events(sink)
        .build()
        .unwrap()
}

/// A blueprint with one check `up`; `params` are its parameters. Its retries are fast (the
/// resource's own `retry` replaces the check's interval schedule, which counts in whole
/// seconds); the deadline stays the check's `timeout_secs`.
fn blueprint(params: serde_json::Value) -> Blueprint {
    Blueprint::from_json(
        &json!({
            "name": "checks",
            "resources": {
                "up": {
                    "type": "http.check",
                    "params": params,
                    "retry": { "max_attempts": 100, "initial_backoff_ms": 20, "max_backoff_ms": 100 },
                }
            }
        })
        .to_string(),
    )
    .unwrap()
}

fn retries(sink: &VecSink) -> usize {
    sink.events()
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepRetrying { .. }))
        .count()
}

/// What the engine counted for the check, in the run's summary and in its step's event.
fn counted(report: &RunReport, sink: &VecSink) -> (u64, u64) {
    let summary = report
        .summary
        .requests_by_service
        .get("http")
        .copied()
        .unwrap_or(0);
    let step = sink
        .events()
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::StepSucceeded { requests, .. } => Some(*requests),
            _ => None,
        })
        .unwrap_or(summary);
    (summary, step)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_polls_a_recovering_service_until_it_passes() {
    let server = common::start(None, |_, n| {
        if n <= 3 {
            Reply::Status(503, "starting".into())
        } else {
            Reply::Status(200, "ready: version 42".into())
        }
    });
    let sink = Arc::new(VecSink::new());
    let bp = blueprint(json!({
        "url": server.url("/health"),
        "body_contains": "ready",
        "timeout_secs": 10,
    }));
    let r = engine(sink.clone())
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(
        r.step("up").unwrap().outputs,
        json!({"url": server.url("/health"), "status": 200})
    );
    assert_eq!(retries(&sink), 3);
    // 3 answers of 503 and the 200: four requests, counted alike on both sides
    assert_eq!(server.requests("/health"), 4);
    assert_eq!(server.connections(), 4, "a fresh connection per probe");
    assert_eq!(counted(&r, &sink), (4, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_never_passes_fails_at_its_deadline() {
    let server = common::start(None, |_, _| Reply::Status(503, "down".into()));
    let sink = Arc::new(VecSink::new());
    let url = server.url("/health");
    let bp = blueprint(json!({ "url": url, "timeout_secs": 2 }));
    let t0 = Instant::now();
    let r = engine(sink.clone())
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let (resource, e) = &r.errors[0];
    assert_eq!(resource, "up");
    assert_eq!(e.kind(), &ErrorKind::Timeout);
    let msg = e.to_string();
    assert!(msg.contains("did not finish within 2 s"), "{msg}");
    assert!(
        msg.contains(&format!(
            "GET {url} answered status 503; expected status 200"
        )),
        "{msg}"
    );
    let sent = server.requests("/health");
    assert!(sent >= 5, "{sent} probes in 2 s");
    assert_eq!(r.summary.requests_by_service.get("http"), Some(&sent));
    assert!(retries(&sink) as u64 >= sent - 1);

    // nothing listens at all: refused connections are retried too, and end the same way
    let url = format!("http://127.0.0.1:{}/health", common::closed_port());
    let sink = Arc::new(VecSink::new());
    let r = engine(sink.clone())
        .apply(
            &blueprint(json!({ "url": url, "timeout_secs": 1 })),
            &Tenant::new("acme"),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    let e = &r.errors[0].1;
    assert_eq!(e.kind(), &ErrorKind::Timeout);
    assert!(e.to_string().contains("cannot connect"), "{e}");
    assert!(retries(&sink) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_service_is_refused_unless_its_ca_is_named() {
    let ca = common::test_ca("check");
    let server = common::start(Some(ca.server_config.clone()), |_, _| {
        Reply::Status(200, "ok".into())
    });
    let url = server.url("/health");
    let acme = Tenant::new("acme");

    // verification on (the default): refused at once, not polled until the deadline
    let sink = Arc::new(VecSink::new());
    let t0 = Instant::now();
    let r = engine(sink.clone())
        .apply(
            &blueprint(json!({ "url": url, "timeout_secs": 30 })),
            &acme,
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5));
    let e = &r.errors[0].1;
    assert_eq!(e.kind(), &ErrorKind::PermissionDenied, "{e}");
    assert!(e.message().contains("certificate did not verify"), "{e}");
    assert!(e.message().contains("ca_file"), "{e}");
    assert_eq!(retries(&sink), 0);
    // one request sent (counted), one handshake refused, no HTTP request read
    assert_eq!(r.summary.requests_by_service.get("http"), Some(&1));
    assert_eq!(server.connections(), 1);
    assert_eq!(server.requests("/health"), 0);

    // the CA that signed it named: verified and passed
    let sink = Arc::new(VecSink::new());
    let with_ca = blueprint(json!({
        "url": url,
        "ca_file": ca.pem_file.to_str().unwrap(),
        "timeout_secs": 30,
    }));
    let r = engine(sink.clone())
        .apply(&with_ca, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(server.requests("/health"), 1);
    assert_eq!(counted(&r, &sink), (1, 1));

    // verification off, written on the check and shown in the plan
    let unverified = blueprint(json!({ "url": url, "tls_verify": false }));
    let e = engine(Arc::new(VecSink::new()));
    let plan = e
        .plan(&unverified, &acme, &PlanOptions::default())
        .await
        .unwrap();
    assert!(plan.to_string().contains("tls_verify: false"), "{plan}");
    let r = e
        .apply(&unverified, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(server.requests("/health"), 2);
    std::fs::remove_file(&ca.pem_file).unwrap();
}
