//! (a) Makespan of a 200-resource random DAG of `bench.sleep` resources (40-200 ms each, like
//! real provider calls) over its exact critical path. See `docs/performance.md`.
//!
//! `PROVISIO_BENCH_DAG_MS=<min>-<max>` changes the latency range (the first version of this
//! bench used 5-20 ms, where tokio's 1 ms timer granularity alone costs ~9%).

use criterion::{Criterion, SamplingMode};
use provisio_benches::{Dag, SleepType, dag_engine, load_average, quick, runtime};
use provisio_engine::{ApplyOptions, Tenant};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: usize = 200;
const SEED: u64 = 20240601;
/// Injected latency range per resource, in milliseconds.
const MIN_MS: u64 = 40;
const MAX_MS: u64 = 200;

/// The latency range: `PROVISIO_BENCH_DAG_MS=<min>-<max>`, else `MIN_MS-MAX_MS`.
fn latency_range() -> (u64, u64) {
    std::env::var("PROVISIO_BENCH_DAG_MS")
        .ok()
        .and_then(|v| {
            let (a, b) = v.split_once('-')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .filter(|(a, b)| a <= b)
        .unwrap_or((MIN_MS, MAX_MS))
}

struct Run {
    makespan: Duration,
    /// The critical path recomputed from the durations the sleeps actually took.
    actual_cp: Duration,
}

fn run_once(rt: &tokio::runtime::Runtime, dag: &Dag, concurrency: usize) -> Run {
    let bp = dag.blueprint();
    rt.block_on(async {
        let sleep = Arc::new(SleepType::default());
        let engine = dag_engine(sleep.clone(), concurrency);
        let t0 = Instant::now();
        let r = engine
            .apply(&bp, &Tenant::new("dag"), ApplyOptions::default())
            .await
            .expect("apply");
        let makespan = t0.elapsed();
        assert!(r.is_success(), "{:?}", r.errors);
        let actual = sleep.actual.lock().unwrap();
        let d: Vec<u64> = (0..dag.ms.len()).map(|i| actual[&Dag::name(i)]).collect();
        let cp_us = dag.finish_times(&d).into_iter().max().unwrap_or(0);
        Run {
            makespan,
            actual_cp: Duration::from_micros(cp_us),
        }
    })
}

fn report(label: &str, dag: &Dag, runs: &[Run]) {
    let cp = Duration::from_millis(dag.critical_path_ms());
    let n = runs.len() as u32;
    let mean: Duration = runs.iter().map(|r| r.makespan).sum::<Duration>() / n;
    let min = runs.iter().map(|r| r.makespan).min().unwrap();
    let max = runs.iter().map(|r| r.makespan).max().unwrap();
    let actual: Duration = runs.iter().map(|r| r.actual_cp).sum::<Duration>() / n;
    eprintln!(
        "dag[{label}]: runs={n} critical_path={cp:?} makespan mean={mean:?} min={min:?} max={max:?} \
         ratio mean={:.4} min={:.4} | critical path of the actual sleeps={actual:?} \
         (timer overshoot {:.4}), makespan/actual={:.4} | load {}",
        mean.as_secs_f64() / cp.as_secs_f64(),
        min.as_secs_f64() / cp.as_secs_f64(),
        actual.as_secs_f64() / cp.as_secs_f64(),
        mean.as_secs_f64() / actual.as_secs_f64(),
        load_average()
    );
}

fn main() {
    let (min_ms, max_ms) = latency_range();
    let dag = Dag::random(NODES, min_ms, max_ms, SEED);
    let path = dag.critical_path();
    eprintln!(
        "dag: {NODES} nodes, latencies {min_ms}-{max_ms} ms, {} edges, critical path {} ms over \
         {} nodes {:?}, ideal width {}",
        dag.deps.iter().map(Vec::len).sum::<usize>(),
        dag.critical_path_ms(),
        path.len(),
        path,
        dag.ideal_width()
    );
    let rt = runtime();
    let configs = [
        ("concurrency 200", 200usize),
        ("concurrency 16 (default)", 16),
    ];
    // the engine's own overhead: the same graph with every latency 0 (no sleep at all)
    let zero = Dag {
        ms: vec![0; dag.ms.len()],
        deps: dag.deps.clone(),
    };
    for _ in 0..3 {
        let r = run_once(&rt, &zero, 200);
        eprintln!(
            "dag[zero latency, concurrency 200]: makespan {:?} (engine overhead for 200 steps, \
             critical path of {} steps); load {}",
            r.makespan,
            path.len(),
            load_average()
        );
    }
    if quick() {
        for (label, c) in configs {
            let r = run_once(&rt, &dag, c);
            report(label, &dag, &[r]);
        }
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let mut g = c.benchmark_group("dag200");
    // one run is seconds long: a fixed number of runs per sample
    g.sampling_mode(SamplingMode::Flat);
    for (label, conc) in configs {
        let mut runs = Vec::new();
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let r = run_once(&rt, &dag, conc);
                    total += r.makespan;
                    runs.push(r);
                }
                total
            })
        });
        report(label, &dag, &runs);
    }
    g.finish();
    c.final_summary();
}
