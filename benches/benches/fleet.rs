//! (b) 10,000 tenants × 30 `dns.record` resources as one fleet run on zero-latency memory
//! providers and the memory state store: resources per second and peak RSS. See
//! `docs/performance.md`.

use criterion::{Criterion, SamplingMode, Throughput};
use provisio_benches::{
    fleet_blueprint, fleet_setup, load_average, noop_blueprint, noop_setup, peak_rss_kib, quick,
    runtime, tenants,
};
use provisio_engine::CancellationToken;
use provisio_engine::fleet::{FailureThreshold, Fleet};
use provisio_memory::MemoryCloud;
use std::time::{Duration, Instant};

const TENANTS: usize = 10_000;
const QUICK_TENANTS: usize = 300;
const RESOURCES: usize = 30;
const CONCURRENCY: usize = 32;

fn run_once(rt: &tokio::runtime::Runtime, n: usize) -> Duration {
    // PROVISIO_BENCH_TYPE=dns: dns.record on MemoryDns (one zone per tenant) instead of
    // bench.noop
    let dns = std::env::var("PROVISIO_BENCH_TYPE").is_ok_and(|v| v == "dns");
    let (cloud, engine, bp) = if dns {
        let (cloud, engine) = fleet_setup(n);
        (cloud, engine, fleet_blueprint(RESOURCES))
    } else {
        (MemoryCloud::new(1), noop_setup(), noop_blueprint(RESOURCES))
    };
    let ts = tenants(n);
    let fleet_state = engine.state().clone();
    // PROVISIO_BENCH_CURSOR_MS=<ms>: Fleet::cursor_interval (default: the fleet's, 1 s)
    let mut fleet = Fleet::new(engine)
        .concurrency(CONCURRENCY)
        .max_failures(FailureThreshold::Never);
    if let Some(ms) = std::env::var("PROVISIO_BENCH_CURSOR_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        fleet = fleet.cursor_interval(Duration::from_millis(ms));
    }
    let t0 = Instant::now();
    let r = rt
        .block_on(fleet.run("bench", &bp, ts, CancellationToken::new()))
        .expect("fleet run");
    let took = t0.elapsed();
    assert!(r.is_success(), "{:?}", r.counts);
    assert_eq!(r.counts.resources.created, n * RESOURCES);
    eprintln!(
        "fleet[{}]: {n} tenants x {RESOURCES} resources in {took:?} = {:.0} resources/s, \
         {:.0} tenants/s; peak RSS so far {} MiB; load {}",
        if dns { "dns.record" } else { "bench.noop" },
        (n * RESOURCES) as f64 / took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        peak_rss_kib().unwrap_or(0) / 1024,
        load_average()
    );
    if std::env::var("PROVISIO_BENCH_SIZES").is_ok() {
        // what one tenant leaves behind, as JSON bytes (a proxy for heap use)
        let st = fleet_state.clone();
        let (j, res) = rt.block_on(async {
            (
                st.journal("t00000", 0).await.unwrap(),
                st.list_resources("t00000").await.unwrap(),
            )
        });
        let jb = serde_json::to_vec(&j).unwrap().len();
        let rb = serde_json::to_vec(&res).unwrap().len();
        let log = cloud.faults.call_log();
        let lb = serde_json::to_vec(&log).unwrap().len();
        eprintln!(
            "sizes: tenant journal {} entries {jb} B, records {} {rb} B; call log {} records {lb} B total",
            j.len(),
            res.len(),
            log.len()
        );
        let mut ops = std::collections::BTreeMap::new();
        for c in &log {
            *ops.entry(c.operation.clone()).or_insert(0) += 1;
        }
        eprintln!("calls by operation: {ops:?}");
    }
    drop((r, fleet, cloud));
    took
}

fn main() {
    let rt = runtime();
    // PROVISIO_BENCH_TENANTS=<n>: one run of n tenants, no criterion (for profiling)
    if let Some(n) = std::env::var("PROVISIO_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        run_once(&rt, n);
        return;
    }
    if quick() {
        run_once(&rt, QUICK_TENANTS);
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    let mut g = c.benchmark_group("fleet");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements((TENANTS * RESOURCES) as u64));
    g.bench_function("10k_tenants_x_30_resources", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run_once(&rt, TENANTS)).sum())
    });
    g.finish();
    c.final_summary();
    eprintln!(
        "fleet: peak RSS of the bench process (VmHWM) {} MiB",
        peak_rss_kib().unwrap_or(0) / 1024
    );
}
