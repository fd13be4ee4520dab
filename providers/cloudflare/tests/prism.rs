//! The contract check: the DNS conformance suite through Prism (`prism proxy --errors` with the
//! official OpenAPI subset) in front of the fake, so every request the client sends and every
//! answer the fake gives is validated against Cloudflare's schema. A violation becomes an
//! error answer (422 for a request, 500 for a response) and fails the case.
//!
//! `scripts/services.sh` (`start_cloudflare_fake_and_prism`) sets:
//! * `PROVISIO_TEST_CLOUDFLARE_URL`: Prism (the spec's paths start at `/zones`);
//! * `PROVISIO_TEST_CLOUDFLARE_TOKEN`, `PROVISIO_TEST_CLOUDFLARE_ZONE`;
//! * `PROVISIO_TEST_CLOUDFLARE_FAKE_URL`: the fake itself, for its `/__fake/` helpers.
//!
//! Without them every test here prints `skipped` and passes.
//!
//! All cases share the one zone the fake was started with, and the client's page tokens are
//! offsets, so the cases of this file run one at a time (a process-wide lock held for the whole
//! case).

use provisio::{DnsProvider, ErrorKind};
use provisio_cloudflare::{CloudflareConfig, CloudflareDns};
use std::sync::{Mutex, MutexGuard};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} must be set with PROVISIO_TEST_CLOUDFLARE_URL"))
}

fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A provider that holds the lock for as long as the case uses it.
struct Serialized {
    _guard: MutexGuard<'static, ()>,
    dns: CloudflareDns,
}

impl std::ops::Deref for Serialized {
    type Target = CloudflareDns;
    fn deref(&self) -> &CloudflareDns {
        &self.dns
    }
}

fn config(endpoint: &str, token: &str) -> CloudflareConfig {
    CloudflareConfig::for_endpoint(endpoint, token.to_string()).with_quota(100_000, 1)
}

fn provider(endpoint: &str) -> Serialized {
    let guard = one_at_a_time();
    let dns = CloudflareDns::new(config(endpoint, &env("PROVISIO_TEST_CLOUDFLARE_TOKEN")))
        .expect("provider");
    Serialized { _guard: guard, dns }
}

mod dns {
    provisio_testkit::dns_conformance! {
        env: endpoint = "CLOUDFLARE_URL",
        provider: super::provider(&endpoint),
        context: provisio_testkit::dns::DnsContext::new(super::env("PROVISIO_TEST_CLOUDFLARE_ZONE")),
    }
}

fn endpoint() -> Option<String> {
    let e = provisio_testkit::endpoint_from_env("CLOUDFLARE_URL");
    if e.is_none() {
        provisio_testkit::skip("prism contract check", "CLOUDFLARE_URL");
    }
    e
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A request the schema forbids (an A record whose content is no IPv4 address, sent raw,
/// bypassing the client's own checks) is refused by Prism with 422 and never reaches the fake.
#[test]
fn prism_rejects_a_request_that_breaks_the_schema() {
    let Some(url) = endpoint() else { return };
    let _one = one_at_a_time();
    runtime().block_on(async {
        let token = env("PROVISIO_TEST_CLOUDFLARE_TOKEN");
        let zone_name = env("PROVISIO_TEST_CLOUDFLARE_ZONE");
        let dns = CloudflareDns::new(config(&url, &token)).unwrap();
        let zone = dns.find_zone(&zone_name).await.unwrap().expect("the zone");
        let name = format!("{}.{zone_name}", provisio_testkit::unique("viol"));
        let http = reqwest::Client::new();
        let resp = http
            .post(format!("{url}/zones/{}/dns_records", zone.id))
            .bearer_auth(&token)
            .json(
                &serde_json::json!({"type": "A", "name": name, "content": "not-an-ip", "ttl": 300}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "Prism must refuse the request");
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = resp.text().await.unwrap();
        assert!(ctype.contains("problem+json"), "{ctype}: {body}");
        assert!(body.contains("UNPROCESSABLE_ENTITY"), "{body}");
        assert!(
            body.contains("ipv4"),
            "the violation names the format: {body}"
        );
        // Nothing was created: the fake never saw the request.
        let found = dns
            .get_record(&zone, &name, &provisio::dns::RecordType::A)
            .await
            .unwrap();
        assert!(found.is_none(), "{found:?}");
    });
}

/// An answer that breaks the schema (the fake drops `errors` and `messages` on request) is
/// replaced by Prism with a 500 carrying `sl-violations`, and the client reports an error.
#[test]
fn prism_rejects_a_response_that_breaks_the_schema() {
    let Some(url) = endpoint() else { return };
    let _one = one_at_a_time();
    runtime().block_on(async {
        let token = env("PROVISIO_TEST_CLOUDFLARE_TOKEN");
        let fake_url = env("PROVISIO_TEST_CLOUDFLARE_FAKE_URL");
        let marker = format!("{}.example", provisio_testkit::unique("malformed"));
        let http = reqwest::Client::new();
        let inject = |times: u32| {
            http.post(format!("{fake_url}/__fake/faults"))
                .json(&serde_json::json!({
                    "method": "GET", "path_contains": format!("name={marker}"),
                    "malformed": true, "times": times,
                }))
                .send()
        };
        assert!(inject(2).await.unwrap().status().is_success());
        let resp = http
            .get(format!("{url}/zones"))
            .query(&[("name", marker.as_str())])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 500, "Prism must refuse the answer");
        let violations = resp
            .headers()
            .get("sl-violations")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(violations.contains("errors"), "{violations}");
        let dns = CloudflareDns::new(config(&url, &token)).unwrap();
        let e = dns.find_zone(&marker).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
        assert!(e.message().contains("VIOLATIONS"), "{e}");
        // Without the fault the same lookup passes the check.
        assert_eq!(dns.find_zone(&marker).await.unwrap(), None);
    });
}

/// Failure envelopes pass the check too: a wrong token gets the fake's 403 (9109) through
/// Prism, validated against the zones failure schema, not a Prism 500.
///
/// (The dns_records failure schemas of the contract are an `allOf` of a success envelope with
/// `success: true` and a failure envelope with `success: false`; Prism 5.16 skips them, so the
/// zones endpoints are where failure envelopes get checked. The fake writes every failure the
/// same way.)
#[test]
fn prism_accepts_the_fakes_failure_envelopes() {
    let Some(url) = endpoint() else { return };
    let _one = one_at_a_time();
    runtime().block_on(async {
        let zone_name = env("PROVISIO_TEST_CLOUDFLARE_ZONE");
        let http = reqwest::Client::new();
        let resp = http
            .get(format!("{url}/zones"))
            .query(&[("name", zone_name.as_str())])
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 403);
        assert!(resp.headers().get("sl-violations").is_none());
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["errors"][0]["code"], 9109);
        let dns = CloudflareDns::new(config(&url, "not-the-token")).unwrap();
        let e = dns.find_zone(&zone_name).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
        // And a zone lookup by id, through `GET /zones/{id}`'s failure schema.
        let resp = http
            .get(format!("{url}/zones/{}", "0".repeat(32)))
            .bearer_auth(env("PROVISIO_TEST_CLOUDFLARE_TOKEN"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404);
        assert!(resp.headers().get("sl-violations").is_none());
    });
}
