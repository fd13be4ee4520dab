//! Shared setup of provisio's benchmarks (see `docs/performance.md`).
//!
//! - `dag`: a synthetic random DAG of `bench.sleep` resources with a known critical path.
//! - [`fleet_setup`]: a fleet of tenants × `dns.record` resources on zero-latency memory
//!   providers.
//! - [`limited_setup`]: a fleet on a rate-limited memory DNS account with `bench.record`, a type
//!   that makes exactly one provider call per apply.
//!
//! Every bench binary honours `PROVISIO_BENCH_QUICK=1` ([`quick`]): it then runs each scenario
//! once, at a reduced size, prints its metrics and skips criterion.
#![deny(missing_docs)]

use provisio::dns::{RecordSpec, RecordType, Zone};
use provisio::{Deleted, Quota, Result};
use provisio_engine::providers::Capability;
use provisio_engine::resource::{Applied, ResourceType, StepContext};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{Blueprint, Engine, Providers, Registry, ResourceSpec, Tenant, types};
use provisio_memory::{MemoryCloud, MemoryDns};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether `PROVISIO_BENCH_QUICK` is set to something other than `0` or empty.
pub fn quick() -> bool {
    std::env::var("PROVISIO_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The process's peak resident set size in KiB (`VmHWM` of `/proc/self/status`), if readable.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The 1-minute load average (`/proc/loadavg`), printed with every measurement.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// A multi-threaded tokio runtime with one worker per core (2 on the benchmark machine).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// (a) the synthetic DAG

/// `bench.sleep`: a resource whose apply sleeps `params.ms` milliseconds (`tokio::time::sleep`)
/// and does nothing else; no provider (`Capability::None`), so no rate limiter. It adds the
/// time it actually slept to a counter so the timer's own overshoot can be told apart from the
/// engine's overhead.
#[derive(Debug, Default)]
pub struct SleepType {
    /// Microseconds actually slept, summed over every apply.
    pub slept_us: AtomicU64,
    /// Per resource name: the microseconds its last apply actually slept.
    pub actual: Mutex<std::collections::HashMap<String, u64>>,
}

#[provisio::async_trait]
impl ResourceType for SleepType {
    fn name(&self) -> &str {
        "bench.sleep"
    }
    fn capability(&self) -> Capability {
        Capability::None
    }
    fn validate(&self, _params: &Value) -> Result<()> {
        Ok(())
    }
    fn outputs(&self) -> &[&str] {
        &["ms"]
    }
    fn identity(&self, ctx: &StepContext<'_>, _params: &Value) -> Result<String> {
        Ok(ctx.resource.to_string())
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
        let ms = params["ms"].as_u64().unwrap_or(0);
        let t0 = std::time::Instant::now();
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        let us = t0.elapsed().as_micros() as u64;
        self.slept_us.fetch_add(us, Ordering::Relaxed);
        self.actual
            .lock()
            .unwrap()
            .insert(ctx.resource.to_string(), us);
        Ok(Applied {
            outputs: json!({ "ms": ms }),
            outcome: provisio::Outcome::Created,
        })
    }
    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        _params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        Ok(Deleted::Deleted)
    }
}

/// A random DAG with its exact critical path.
#[derive(Debug, Clone)]
pub struct Dag {
    /// Node latencies in milliseconds, in topological order (`n000`, `n001`, ...).
    pub ms: Vec<u64>,
    /// Each node's dependencies (indices of earlier nodes).
    pub deps: Vec<Vec<usize>>,
}

impl Dag {
    /// `n` nodes; node `i` depends on 0-3 distinct nodes drawn uniformly from the 40 before
    /// it; latencies uniform in `min_ms..=max_ms`; deterministic under `seed`.
    pub fn random(n: usize, min_ms: u64, max_ms: u64, seed: u64) -> Dag {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut ms = Vec::with_capacity(n);
        let mut deps = Vec::with_capacity(n);
        for i in 0..n {
            ms.push(rng.gen_range(min_ms..=max_ms));
            let mut d = Vec::new();
            if i > 0 {
                let lo = i.saturating_sub(40);
                for _ in 0..rng.gen_range(0..=3usize) {
                    let x = rng.gen_range(lo..i);
                    if !d.contains(&x) {
                        d.push(x);
                    }
                }
            }
            d.sort_unstable();
            deps.push(d);
        }
        Dag { ms, deps }
    }

    /// The resource name of node `i`.
    pub fn name(i: usize) -> String {
        format!("n{i:03}")
    }

    /// The earliest finish time of every node with unlimited concurrency and zero overhead,
    /// given per-node durations `d` (any unit).
    pub fn finish_times(&self, d: &[u64]) -> Vec<u64> {
        let mut f = vec![0u64; self.ms.len()];
        for i in 0..self.ms.len() {
            let start = self.deps[i].iter().map(|&j| f[j]).max().unwrap_or(0);
            f[i] = start + d[i];
        }
        f
    }

    /// The critical path length in milliseconds: the longest dependency chain by latency.
    pub fn critical_path_ms(&self) -> u64 {
        self.finish_times(&self.ms).into_iter().max().unwrap_or(0)
    }

    /// The nodes of the critical path, first to last.
    pub fn critical_path(&self) -> Vec<usize> {
        let f = self.finish_times(&self.ms);
        let mut i = (0..f.len()).max_by_key(|&i| f[i]).unwrap_or(0);
        let mut path = vec![i];
        loop {
            let start = f[i] - self.ms[i];
            match self.deps[i].iter().find(|&&j| f[j] == start && start > 0) {
                Some(&j) => {
                    path.push(j);
                    i = j;
                }
                None => break,
            }
        }
        path.reverse();
        path
    }

    /// The largest number of nodes running at once in the ideal schedule (every node starts
    /// the moment its dependencies finish): the engine concurrency needed to reach it.
    pub fn ideal_width(&self) -> usize {
        let f = self.finish_times(&self.ms);
        let mut ev: Vec<(u64, i32)> = Vec::new();
        for (i, &fi) in f.iter().enumerate() {
            ev.push((fi - self.ms[i], 1));
            ev.push((fi, -1));
        }
        ev.sort_by_key(|&(t, d)| (t, d)); // ends before starts at the same instant
        let (mut cur, mut peak) = (0i32, 0i32);
        for (_, d) in ev {
            cur += d;
            peak = peak.max(cur);
        }
        peak as usize
    }

    /// The blueprint: one `bench.sleep` resource per node with `depends_on` its dependencies.
    pub fn blueprint(&self) -> Blueprint {
        let mut bp = Blueprint::new("dag");
        for i in 0..self.ms.len() {
            let mut spec = ResourceSpec::new("bench.sleep").param("ms", self.ms[i]);
            for &j in &self.deps[i] {
                spec = spec.depends_on(Dag::name(j));
            }
            bp = bp.resource(Dag::name(i), spec);
        }
        bp
    }
}

/// An engine with only `bench.sleep`, a fresh memory state store and step concurrency
/// `concurrency`.
pub fn dag_engine(sleep: Arc<SleepType>, concurrency: usize) -> Engine {
    let mut registry = Registry::new();
    registry.register(sleep);
    Engine::builder()
        .registry(registry)
        .state(Arc::new(MemoryStateStore::new()))
        .concurrency(concurrency)
        .build()
        .expect("engine")
}

// ---------------------------------------------------------------------------------------------
// (b) the big fleet

/// The blueprint of the fleet benchmark: `resources` `dns.record`s in the tenant's own zone
/// `<tenant>.example.com`: `r00` an `A` record, every other one a `CNAME` to `${r00.fqdn}`
/// (so the graph has two levels). Each apply of a record is two memory-provider calls
/// (`find_zone`, `ensure_record`), each a hash-map lookup or insert under a mutex.
pub fn fleet_blueprint(resources: usize) -> Blueprint {
    let mut bp = Blueprint::new("fleet");
    for r in 0..resources {
        let spec = if r == 0 {
            ResourceSpec::new("dns.record").params(
                json!({"zone": "${tenant.name}.example.com", "name": "r00", "type": "A", "content": "192.0.2.1"}),
            )
        } else {
            ResourceSpec::new("dns.record").params(json!({"zone": "${tenant.name}.example.com",
                "name": format!("r{r:02}"), "type": "CNAME", "content": "${r00.fqdn}"}))
        };
        bp = bp.resource(format!("r{r:02}"), spec);
    }
    bp
}

/// `bench.noop`: a resource that exists only in the engine's state. `apply` returns
/// `{"id": "<tenant>/<resource>"}` (outcome `Created`), `read` returns the recorded outputs
/// (`None` before the first apply), `delete` succeeds. No provider, no I/O, no rate limit:
/// what is measured is the engine and its state store.
#[derive(Debug, Default)]
pub struct NoopType;

#[provisio::async_trait]
impl ResourceType for NoopType {
    fn name(&self) -> &str {
        "bench.noop"
    }
    fn capability(&self) -> Capability {
        Capability::None
    }
    fn validate(&self, _params: &Value) -> Result<()> {
        Ok(())
    }
    fn outputs(&self) -> &[&str] {
        &["id"]
    }
    fn identity(&self, ctx: &StepContext<'_>, _params: &Value) -> Result<String> {
        Ok(ctx.resource.to_string())
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
        _params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        Ok(Applied {
            outputs: json!({ "id": format!("{}/{}", ctx.tenant.name, ctx.resource) }),
            outcome: provisio::Outcome::Created,
        })
    }
    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        _params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        Ok(Deleted::Deleted)
    }
}

/// The blueprint of the fleet benchmark with `bench.noop`: `r00`, and `r01`..`r29` each with
/// a parameter `parent: ${r00.id}` (two levels, as [`fleet_blueprint`]).
pub fn noop_blueprint(resources: usize) -> Blueprint {
    let mut bp = Blueprint::new("fleet");
    for r in 0..resources {
        let mut spec = ResourceSpec::new("bench.noop").param("name", format!("r{r:02}"));
        if r > 0 {
            spec = spec.param("parent", "${r00.id}");
        }
        bp = bp.resource(format!("r{r:02}"), spec);
    }
    bp
}

/// An engine with only `bench.noop` and a fresh memory state store.
pub fn noop_setup() -> Engine {
    let mut registry = Registry::new();
    registry.register(Arc::new(NoopType));
    Engine::builder()
        .registry(registry)
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .expect("engine")
}

/// Tenants `t00000`, `t00001`, ...
pub fn tenants(n: usize) -> Vec<Tenant> {
    (0..n).map(|i| Tenant::new(format!("t{i:05}"))).collect()
}

/// A zero-latency memory cloud with one zone per tenant, and an engine on it with the
/// built-in types and a fresh memory state store.
pub fn fleet_setup(tenants: usize) -> (MemoryCloud, Engine) {
    let cloud = MemoryCloud::new(1);
    for i in 0..tenants {
        cloud.dns.add_zone(&format!("t{i:05}.example.com"));
    }
    let engine = Engine::builder()
        .providers(Providers::new().with_dns("default", cloud.dns.clone()))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .expect("engine");
    (cloud, engine)
}

// ---------------------------------------------------------------------------------------------
// (c) the rate-limited fleet

/// `bench.record`: exactly one provider call per apply (`ensure_record` of a TXT record in a
/// zone known in advance), so the engine's one-token-per-attempt pacing matches what the
/// provider counts. It records the time of every call the provider accepted.
pub struct OneCallRecord {
    /// The zone every record goes into.
    pub zone: Zone,
    /// When each accepted call was sent.
    pub accepted: Mutex<Vec<std::time::Instant>>,
}

#[provisio::async_trait]
impl ResourceType for OneCallRecord {
    fn name(&self) -> &str {
        "bench.record"
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
        let fqdn = format!(
            "{}.{}",
            params["name"].as_str().unwrap_or("x"),
            self.zone.name
        );
        let spec = RecordSpec::new(&fqdn, RecordType::Txt, "v=1", 300);
        let sent = std::time::Instant::now();
        let e = ctx
            .providers
            .dns(ctx.provider)?
            .ensure_record(&self.zone, &spec)
            .await?;
        self.accepted.lock().unwrap().push(sent);
        Ok(Applied {
            outputs: json!({ "fqdn": fqdn }),
            outcome: e.outcome,
        })
    }
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let fqdn = format!(
            "{}.{}",
            params["name"].as_str().unwrap_or("x"),
            self.zone.name
        );
        ctx.providers
            .dns(ctx.provider)?
            .delete_record(&self.zone, &fqdn, &RecordType::Txt)
            .await
    }
}

/// `resources` `bench.record`s per tenant (`<resource>-<tenant>.limited.example.com`).
pub fn limited_blueprint(resources: usize) -> Blueprint {
    let mut bp = Blueprint::new("limited");
    for r in 0..resources {
        bp = bp.resource(
            format!("r{r:02}"),
            ResourceSpec::new("bench.record").param("name", format!("r{r:02}-${{tenant.name}}")),
        );
    }
    bp
}

/// A memory cloud whose DNS account `limited` has `quota` (declared in its `ProviderInfo`),
/// the `bench.record` type and an engine on them.
pub fn limited_setup(quota: Quota) -> (MemoryCloud, Arc<OneCallRecord>, Engine) {
    let cloud = MemoryCloud::new(3);
    cloud.faults.rate_limit("limited", quota);
    let dns = Arc::new(MemoryDns::with_faults(cloud.faults.clone()).with_account("limited"));
    let zone = dns.add_zone("limited.example.com");
    let t = Arc::new(OneCallRecord {
        zone,
        accepted: Mutex::new(Vec::new()),
    });
    let mut registry = Registry::new();
    registry.register(t.clone());
    let engine = Engine::builder()
        .providers(Providers::new().with_dns("default", dns))
        .registry(registry)
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .expect("engine");
    (cloud, t, engine)
}

/// The largest number of `times` inside one fixed window of `per`, windows counted the way
/// the memory provider counts them (a window starts at the first call after the previous one
/// ended).
pub fn busiest_window(times: &[std::time::Instant], per: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let Some(&first) = sorted.first() else {
        return 0;
    };
    let (mut start, mut n, mut busiest) = (first, 0usize, 0usize);
    for t in sorted {
        if t >= start + per {
            start = t;
            n = 0;
        }
        n += 1;
        busiest = busiest.max(n);
    }
    busiest
}
