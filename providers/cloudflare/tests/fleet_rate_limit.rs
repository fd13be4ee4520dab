//! A fleet run through the engine against the fake with a small quota: every tenant succeeds,
//! and the fake never sees more requests in a window than the quota allows (so it never
//! answers 429).

use provisio_cloudflare::{CloudflareConfig, CloudflareDns};
use provisio_engine::fleet::{FailureThreshold, Fleet, FleetStatus};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{Blueprint, CancellationToken, Engine, Providers, Tenant, types};
use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions, max_in_window};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUOTA: u32 = 20;
const WINDOW: Duration = Duration::from_secs(2);
const TENANTS: usize = 10;

const BP: &str = r#"
name: cf-fleet
resources:
  www:
    type: dns.record
    params: { zone: fleet.example, name: "${tenant.name}", type: A, content: 192.0.2.1 }
  api:
    type: dns.record
    params: { zone: fleet.example, name: "api-${tenant.name}", type: CNAME, content: "${www.fqdn}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_stays_inside_the_account_quota() {
    let fake = FakeCloudflare::start(
        FakeOptions::default()
            .token("fleet-token")
            .zone("fleet.example")
            .quota(QUOTA, WINDOW),
    )
    .unwrap();
    let dns = CloudflareDns::new(
        CloudflareConfig::for_endpoint(fake.url(), "fleet-token")
            .with_quota(QUOTA, WINDOW.as_secs()),
    )
    .unwrap();
    let engine = Engine::builder()
        .providers(Providers::new().with_dns("default", Arc::new(dns)))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap();
    let tenants: Vec<Tenant> = (0..TENANTS)
        .map(|i| Tenant::new(format!("t{i:02}")))
        .collect();
    let bp = Blueprint::from_yaml(BP).unwrap();

    let start = Instant::now();
    let report = Fleet::new(engine)
        .concurrency(TENANTS)
        .max_failures(FailureThreshold::Never)
        .run("cf-fleet", &bp, tenants, CancellationToken::new())
        .await
        .unwrap();
    let took = start.elapsed();

    assert_eq!(report.status, FleetStatus::Completed, "{report:?}");
    assert_eq!(report.counts.failed, 0, "{report:?}");
    assert_eq!(report.counts.succeeded, TENANTS);
    assert_eq!(report.counts.resources.created, 2 * TENANTS);
    assert_eq!(fake.records("fleet.example").len(), 2 * TENANTS);

    let log = fake.requests();
    let limited: Vec<_> = log.iter().filter(|r| r.status == 429).collect();
    assert!(limited.is_empty(), "the fake answered 429: {limited:?}");
    let peak = max_in_window(&log, WINDOW);
    assert!(
        peak <= QUOTA as usize,
        "{peak} requests within {WINDOW:?} (quota {QUOTA})"
    );
    // The fake's own fixed windows (counted from its start) saw at most the quota too.
    let mut per_window = std::collections::BTreeMap::<u128, usize>::new();
    for r in &log {
        *per_window
            .entry(r.at.as_nanos() / WINDOW.as_nanos())
            .or_default() += 1;
    }
    assert!(
        per_window.values().all(|n| *n <= QUOTA as usize),
        "{per_window:?}"
    );
    eprintln!(
        "fleet of {TENANTS}: {} requests in {took:?}, at most {peak} per {WINDOW:?}",
        log.len()
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
