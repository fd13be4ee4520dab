//! Fleet runs on the memory providers and the memory state store.

use provisio::dns::{RecordSpec, RecordType, Zone};
use provisio::{Deleted, ErrorKind, Provider, Quota, Result};
use provisio_engine::fleet::{
    FailureThreshold, Fleet, FleetEvent, FleetEventKind, FleetStatus, HaltReason, TenantStatus,
};
use provisio_engine::providers::Capability;
use provisio_engine::resource::{Applied, ResourceType, StepContext};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Blueprint, CancellationToken, Engine, Providers, Registry, StateStore, Tenant, types,
};
use provisio_memory::{MemoryCloud, MemoryDns};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Two records in the tenant's own zone `<tenant>.example.com`; a tenant whose zone does not
/// exist fails at once (`NotFound` from `find_zone`, not retryable) and creates nothing.
const BP: &str = r#"
name: fleet-test
resources:
  www:
    type: dns.record
    params: { zone: "${tenant.name}.example.com", name: "www", type: A, content: 192.0.2.1 }
  api:
    type: dns.record
    params: { zone: "${tenant.name}.example.com", name: "api", type: CNAME, content: "${www.fqdn}" }
"#;

struct Setup {
    cloud: MemoryCloud,
    store: Arc<MemoryStateStore>,
    engine: Engine,
    events: Arc<Mutex<Vec<FleetEvent>>>,
}

impl Setup {
    fn new(seed: u64) -> Setup {
        let cloud = MemoryCloud::new(seed);
        let store = Arc::new(MemoryStateStore::new());
        let engine = Engine::builder()
            .providers(Providers::new().with_dns("default", cloud.dns.clone()))
            .registry(types::builtin())
            .state(store.clone())
            .build()
            .unwrap();
        Setup {
            cloud,
            store,
            engine,
            events: Arc::default(),
        }
    }

    /// Zones for every tenant except those in `missing`.
    fn zones(&self, n: usize, missing: &[usize]) {
        for i in (0..n).filter(|i| !missing.contains(i)) {
            self.cloud.dns.add_zone(&format!("{}.example.com", name(i)));
        }
    }

    fn fleet(&self) -> Fleet {
        let events = self.events.clone();
        Fleet::new(self.engine.clone()).events(Arc::new(move |e: &FleetEvent| {
            events.lock().unwrap().push(e.clone())
        }))
    }

    fn events(&self) -> Vec<FleetEventKind> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.kind.clone())
            .collect()
    }

    fn records(&self) -> usize {
        self.cloud.inventory().count("dns.record")
    }
}

fn name(i: usize) -> String {
    format!("t{i:03}")
}

fn tenants(n: usize) -> Vec<Tenant> {
    (0..n).map(|i| Tenant::new(name(i))).collect()
}

fn bp() -> Blueprint {
    Blueprint::from_yaml(BP).unwrap()
}

/// The tenants started, in event order, and the largest number in flight at once.
fn started_and_peak(events: &[FleetEventKind]) -> (Vec<String>, usize) {
    let (mut started, mut inflight, mut peak) = (Vec::new(), 0usize, 0usize);
    for e in events {
        match e {
            FleetEventKind::TenantStarted { tenant, .. } => {
                started.push(tenant.clone());
                inflight += 1;
                peak = peak.max(inflight);
            }
            FleetEventKind::TenantFinished { .. } => inflight -= 1,
            _ => {}
        }
    }
    (started, peak)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tenants_with_concurrency_16_all_succeed() {
    let s = Setup::new(1);
    s.zones(200, &[]);
    let r = s
        .fleet()
        .concurrency(16)
        .run("f200", &bp(), tenants(200), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.status, FleetStatus::Completed);
    assert!(r.is_success());
    assert_eq!(r.counts.succeeded, 200);
    assert_eq!(r.counts.resources.created, 400);
    assert_eq!(r.tenants.len(), 200);
    for (i, t) in r.tenants.iter().enumerate() {
        assert_eq!(t.tenant, name(i), "results keep the given order");
        assert_eq!(t.status, TenantStatus::Succeeded, "{t:?}");
        assert_eq!(t.summary.as_ref().unwrap().created, 2);
        assert!(t.run_id.is_some() && t.error.is_none());
    }
    assert_eq!(s.records(), 400);
    let events = s.events();
    let (started, peak) = started_and_peak(&events);
    assert_eq!(started.len(), 200);
    assert!(peak <= 16, "{peak} tenants in flight");
    assert!(
        matches!(events.last(), Some(FleetEventKind::FleetFinished { status: FleetStatus::Completed, counts }) if counts.succeeded == 200)
    );
    let c = s.store.get_fleet_cursor("f200").await.unwrap().unwrap();
    assert_eq!(c.succeeded.len(), 200);
    assert!(c.failed.is_empty() && !c.halted);
    assert_eq!(c.detail["state"], "completed");
}

#[tokio::test(start_paused = true)]
async fn a_failed_canary_halts_the_rollout() {
    let s = Setup::new(2);
    s.zones(20, &[1]);
    let r = s
        .fleet()
        .concurrency(4)
        .canary(3)
        .max_failures(FailureThreshold::Never)
        .run("canary", &bp(), tenants(20), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        r.status,
        FleetStatus::Halted {
            reason: HaltReason::CanaryFailed {
                tenants: vec!["t001".into()]
            }
        }
    );
    assert_eq!(r.tenants[0].status, TenantStatus::Succeeded);
    assert_eq!(r.tenants[1].status, TenantStatus::Failed);
    assert_eq!(r.tenants[1].error.as_ref().unwrap().kind, "not_found");
    assert_eq!(r.tenants[2].status, TenantStatus::Succeeded);
    assert!(r.tenants[..3].iter().all(|t| t.canary));
    assert!(
        r.tenants[3..]
            .iter()
            .all(|t| t.status == TenantStatus::NotStarted)
    );
    assert_eq!(r.counts.not_started, 17);
    assert_eq!(s.records(), 4);
    let events = s.events();
    let (started, _) = started_and_peak(&events);
    assert_eq!(started.len(), 3, "only the canaries started: {started:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, FleetEventKind::CanaryPassed { .. }))
    );
    let c = s.store.get_fleet_cursor("canary").await.unwrap().unwrap();
    assert!(c.halted);
    assert_eq!(c.succeeded, vec!["t000".to_string(), "t002".into()]);
    assert_eq!(c.failed.len(), 1);
    assert_eq!(c.detail["state"], "halted");
}

#[tokio::test(start_paused = true)]
async fn passing_canaries_let_the_rest_start() {
    let s = Setup::new(3);
    s.zones(10, &[7]);
    let r = s
        .fleet()
        .concurrency(3)
        .canary(2)
        .max_failures(FailureThreshold::Count(2))
        .run("canary-ok", &bp(), tenants(10), CancellationToken::new())
        .await
        .unwrap();
    // one failure is below the threshold of two
    assert_eq!(r.status, FleetStatus::Completed);
    assert!(!r.is_success());
    assert_eq!((r.counts.succeeded, r.counts.failed), (9, 1));
    let events = s.events();
    let passed = events
        .iter()
        .position(|e| matches!(e, FleetEventKind::CanaryPassed { .. }))
        .unwrap();
    // nothing but the canaries started before they passed
    let before = events[..passed]
        .iter()
        .filter(|e| matches!(e, FleetEventKind::TenantStarted { .. }))
        .count();
    assert_eq!(before, 2);
}

/// t001 and t002 fail at once; every other tenant's `ensure_record` takes 50 ms.
async fn halted_rollout(s: &Setup) -> provisio_engine::FleetReport {
    s.zones(20, &[1, 2]);
    s.cloud
        .faults
        .latency("dns.ensure_record", Duration::from_millis(50));
    s.fleet()
        .concurrency(4)
        .max_failures(FailureThreshold::Count(2))
        .run("halt", &bp(), tenants(20), CancellationToken::new())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_threshold_halts_in_flight_tenants_finish_and_no_new_ones_start() {
    let s = Setup::new(4);
    let r = halted_rollout(&s).await;
    assert_eq!(
        r.status,
        FleetStatus::Halted {
            reason: HaltReason::ThresholdReached {
                failed: 2,
                limit: 2
            }
        }
    );
    let events = s.events();
    let halted_at = events
        .iter()
        .position(|e| matches!(e, FleetEventKind::Halted { .. }))
        .unwrap();
    assert!(
        !events[halted_at..]
            .iter()
            .any(|e| matches!(e, FleetEventKind::TenantStarted { .. })),
        "no tenant starts after the halt"
    );
    // the tenants in flight at the halt finished, successfully
    let after: Vec<_> = events[halted_at..]
        .iter()
        .filter_map(|e| match e {
            FleetEventKind::TenantFinished { result } => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert!(!after.is_empty(), "in-flight tenants finish after the halt");
    assert!(after.iter().all(|t| t.status == TenantStatus::Succeeded));
    let (started, _) = started_and_peak(&events);
    for t in &r.tenants {
        let was_started = started.contains(&t.tenant);
        match t.status {
            TenantStatus::Succeeded | TenantStatus::Failed => assert!(was_started),
            TenantStatus::NotStarted => assert!(!was_started),
            TenantStatus::AlreadySucceeded => panic!("fresh fleet"),
        }
    }
    assert_eq!(r.counts.failed, 2);
    assert!(r.counts.not_started >= 20 - 2 - 4, "{:?}", r.counts);
    assert_eq!(
        r.counts.succeeded + r.counts.failed + r.counts.not_started,
        20
    );
    assert_eq!(s.records(), 2 * r.counts.succeeded);
    // nothing of the failed or unstarted tenants is left in state
    for t in r
        .tenants
        .iter()
        .filter(|t| t.status != TenantStatus::Succeeded)
    {
        assert!(s.store.list_resources(&t.tenant).await.unwrap().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_resumed_rollout_skips_succeeded_tenants_and_retries_failed_ones() {
    let s = Setup::new(5);
    let first = halted_rollout(&s).await;
    let done: Vec<String> = first
        .with_status(TenantStatus::Succeeded)
        .map(|t| t.tenant.clone())
        .collect();
    assert!(!done.is_empty());
    let mut journals = Vec::new();
    for t in &done {
        journals.push(s.store.journal(t, 0).await.unwrap().len());
    }
    let calls = s.cloud.faults.calls("dns.ensure_record");

    // fix the cause, run again under the same fleet id
    s.zones(20, &[]);
    s.events.lock().unwrap().clear();
    let r = s
        .fleet()
        .concurrency(4)
        .max_failures(FailureThreshold::Count(2))
        .run("halt", &bp(), tenants(20), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.status, FleetStatus::Completed);
    assert_eq!(r.counts.already_succeeded, done.len());
    assert_eq!(r.counts.succeeded, 20 - done.len());
    assert_eq!(r.counts.failed, 0);
    for t in &r.tenants {
        let expected = if done.contains(&t.tenant) {
            TenantStatus::AlreadySucceeded
        } else {
            TenantStatus::Succeeded
        };
        assert_eq!(t.status, expected, "{}", t.tenant);
    }
    // the skipped tenants were not touched: no new journal entries, no provider calls
    for (t, n) in done.iter().zip(journals) {
        assert_eq!(s.store.journal(t, 0).await.unwrap().len(), n, "{t}");
    }
    assert_eq!(
        s.cloud.faults.calls("dns.ensure_record") - calls,
        2 * (20 - done.len()) as u64
    );
    let (started, _) = started_and_peak(&s.events());
    assert!(started.iter().all(|t| !done.contains(t)));
    // exactly two records per tenant, no duplicates
    let inv = s.cloud.inventory();
    assert_eq!(inv.count("dns.record"), 40);
    for i in 0..20 {
        for rec in ["www", "api"] {
            let fqdn = format!("{rec}.{}.example.com", name(i));
            let n = inv
                .ids("dns.record")
                .iter()
                .filter(|id| id.ends_with(&format!(" {fqdn}")))
                .count();
            assert_eq!(n, 1, "{fqdn}");
        }
    }
    let c = s.store.get_fleet_cursor("halt").await.unwrap().unwrap();
    assert_eq!(c.succeeded.len(), 20);
    let mut unique = c.succeeded.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    assert!(c.failed.is_empty() && !c.halted);
    assert_eq!(c.detail["attempt"], 2);

    // a third run has nothing to do
    let r = s
        .fleet()
        .run("halt", &bp(), tenants(20), CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(r.counts.already_succeeded, 20);
    assert!(r.is_success());
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_the_rollout_and_it_resumes() {
    let s = Setup::new(6);
    s.zones(10, &[]);
    s.cloud
        .faults
        .latency("dns.ensure_record", Duration::from_millis(100));
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(350)).await;
        c2.cancel();
    });
    let r = s
        .fleet()
        .concurrency(2)
        .max_failures(FailureThreshold::Never)
        .run("cancel", &bp(), tenants(10), cancel)
        .await
        .unwrap();
    assert_eq!(r.status, FleetStatus::Cancelled);
    // t000 and t001 finished at 200 ms; t002 and t003 had created `www` (300 ms) and were
    // creating `api` when the fleet was cancelled at 350 ms
    assert_eq!(r.counts.succeeded, 2, "{:?}", r.counts);
    assert_eq!(r.counts.failed, 2, "{:?}", r.counts);
    assert_eq!(r.counts.not_started, 6);
    for t in r.with_status(TenantStatus::Failed) {
        assert_eq!(t.error.as_ref().unwrap().kind, "cancelled", "{t:?}");
        assert_eq!(t.summary.as_ref().unwrap().rolled_back, 1, "{t:?}");
    }
    // the cancelled tenants were rolled back
    assert_eq!(s.records(), 4);
    let events = s.events();
    let at = events
        .iter()
        .position(|e| matches!(e, FleetEventKind::Cancelled))
        .unwrap();
    assert!(
        !events[at..]
            .iter()
            .any(|e| matches!(e, FleetEventKind::TenantStarted { .. }))
    );
    let c = s.store.get_fleet_cursor("cancel").await.unwrap().unwrap();
    assert!(c.halted);
    assert_eq!(c.detail["state"], "cancelled");

    let r = s
        .fleet()
        .concurrency(2)
        .run("cancel", &bp(), tenants(10), CancellationToken::new())
        .await
        .unwrap();
    assert!(r.is_success());
    assert_eq!((r.counts.already_succeeded, r.counts.succeeded), (2, 8));
    assert_eq!(s.records(), 20);
}

#[tokio::test(start_paused = true)]
async fn a_fleet_destroy_removes_every_tenant() {
    let s = Setup::new(7);
    s.zones(12, &[]);
    let r = s
        .fleet()
        .concurrency(5)
        .run("up", &bp(), tenants(12), CancellationToken::new())
        .await
        .unwrap();
    assert!(r.is_success());
    assert_eq!(s.records(), 24);
    let r = s
        .fleet()
        .concurrency(5)
        .destroy("down", &bp(), tenants(12), CancellationToken::new())
        .await
        .unwrap();
    assert!(r.is_success(), "{r:?}");
    assert_eq!(r.counts.resources.deleted, 24);
    assert_eq!(s.records(), 0);
}

#[tokio::test(start_paused = true)]
async fn duplicate_tenants_and_invalid_blueprints_are_refused() {
    let s = Setup::new(8);
    let mut ts = tenants(3);
    ts.push(Tenant::new("t001"));
    let e = s
        .fleet()
        .run("dup", &bp(), ts, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput);
    let bad =
        Blueprint::from_yaml("name: x\nresources:\n  a:\n    type: nope.nope\n    params: {}\n");
    if let Ok(bad) = bad {
        assert!(
            s.fleet()
                .run("bad", &bad, tenants(1), CancellationToken::new())
                .await
                .is_err()
        );
    }
    assert!(s.store.get_fleet_cursor("dup").await.unwrap().is_none());
}

/// `test.record`: exactly one provider call per apply (`ensure_record` in a zone known in
/// advance), so that the engine's one-token-per-attempt pacing matches the provider's count.
/// Records the (tokio) time of every call the provider accepted.
struct OneCallRecord {
    zone: Zone,
    accepted: Arc<Mutex<Vec<tokio::time::Instant>>>,
}

#[provisio::async_trait]
impl ResourceType for OneCallRecord {
    fn name(&self) -> &str {
        "test.record"
    }
    fn capability(&self) -> Capability {
        Capability::Dns
    }
    fn validate(&self, _params: &Value) -> Result<()> {
        Ok(())
    }
    fn outputs(&self) -> &[&str] {
        &["fqdn"]
    }
    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(params["name"].as_str().unwrap_or_default().to_string())
    }
    async fn read(
        &self,
        _ctx: &StepContext<'_>,
        _params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        Ok(prior.cloned())
    }
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let fqdn = format!("{}.{}", params["name"].as_str().unwrap(), self.zone.name);
        let dns = ctx.providers.dns(ctx.provider)?;
        let spec = RecordSpec::new(&fqdn, RecordType::Txt, "v=1", 300);
        let e = dns.ensure_record(&self.zone, &spec).await?;
        self.accepted
            .lock()
            .unwrap()
            .push(tokio::time::Instant::now());
        Ok(Applied {
            outputs: json!({"fqdn": fqdn}),
            outcome: e.outcome,
        })
    }
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let fqdn = format!("{}.{}", params["name"].as_str().unwrap(), self.zone.name);
        ctx.providers
            .dns(ctx.provider)?
            .delete_record(&self.zone, &fqdn, &RecordType::Txt)
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn a_rate_limited_provider_is_never_pushed_over_its_quota() {
    let cloud = MemoryCloud::new(9);
    let quota = Quota::new(20, Duration::from_secs(1));
    cloud.faults.rate_limit("limited", quota);
    let dns = Arc::new(MemoryDns::with_faults(cloud.faults.clone()).with_account("limited"));
    assert_eq!(dns.info().quota, Some(quota), "the quota is declared");
    let zone = dns.add_zone("example.com");
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let mut registry = Registry::new();
    registry.register(Arc::new(OneCallRecord {
        zone,
        accepted: accepted.clone(),
    }));
    let store = Arc::new(MemoryStateStore::new());
    let engine = Engine::builder()
        .providers(Providers::new().with_dns("default", dns.clone()))
        .registry(registry)
        .state(store)
        .build()
        .unwrap();
    let bp = Blueprint::from_yaml(
        r#"
name: limited
resources:
  a: { type: test.record, params: { name: "a-${tenant.name}" } }
  b: { type: test.record, params: { name: "b-${tenant.name}" } }
"#,
    )
    .unwrap();
    let start = tokio::time::Instant::now();
    let r = Fleet::new(engine)
        .concurrency(16)
        .max_failures(FailureThreshold::Count(1))
        .run("limited", &bp, tenants(50), CancellationToken::new())
        .await
        .unwrap();
    let took = start.elapsed();
    assert!(r.is_success(), "{:?}", r.counts);
    assert_eq!(r.counts.failed, 0);
    assert_eq!(r.counts.resources.created, 100);
    // every accepted call, counted per fixed window the way the provider counts
    let times = accepted.lock().unwrap().clone();
    assert_eq!(times.len(), 100);
    let mut sorted = times.clone();
    sorted.sort();
    let mut window_start = sorted[0];
    let mut in_window = 0u32;
    let mut busiest = 0u32;
    for t in sorted {
        if t >= window_start + quota.per {
            window_start = t;
            in_window = 0;
        }
        in_window += 1;
        busiest = busiest.max(in_window);
    }
    assert!(busiest <= quota.requests, "{busiest} calls in one window");
    // the provider had no reason to refuse a call, and the fleet went as fast as allowed
    let refused = cloud
        .faults
        .injected()
        .into_iter()
        .filter(|c| matches!(c.outcome.error_kind(), Some(ErrorKind::RateLimited { .. })))
        .count();
    assert_eq!(refused, 0);
    // 100 calls paced at 20/s: 99 gaps of 50 ms
    assert!(took >= Duration::from_millis(4950), "{took:?}");
    assert!(took < Duration::from_millis(5500), "{took:?}");
}
