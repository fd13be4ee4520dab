//! The Rust half of the Ruby overhead benchmark (docs/performance.md, "Ruby binding"): the same
//! workload as `bench/launch100.rb`, linked directly against the crates.
//!
//! The example tenant (`examples/launch-tenant`) is launched on memory providers prepared with
//! its `memory-fixtures.yaml` and an in-memory state store, no event sink. Every round builds
//! fresh providers, a fresh state store and a fresh engine. The runtime is built like the
//! extension's (`src/runtime.rs`: multi-threaded, max(cores, 4) workers), so that both sides
//! differ only by the binding.
//!
//! ```sh
//! launch100 [N] [sequential|tasks|latency|all]
//! ```
//!
//! - `sequential` (default): three rounds of N launches (default 100), one tenant after another.
//! - `tasks`: N tenants on 1 task, then split over 8 concurrent tokio tasks (the counterpart of
//!   the Ruby script's 8 threads); three rounds of each.
//! - `latency`: the same as `tasks` with 32 tenants and 20 ms of injected latency on every
//!   memory provider call.
//!
//! ```sh
//! cargo run --release -p provisio-ruby --example launch100 -- 100
//! ```

use provisio_config::ProviderConfig;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Tenant, types};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many concurrent tasks the `tasks` and `latency` modes compare against one.
const TASKS: usize = 8;
/// Tenants in the `latency` mode.
const LATENCY_TENANTS: usize = 32;
/// The injected latency of every memory provider call in the `latency` mode.
const LATENCY: Duration = Duration::from_millis(20);
const ROUNDS: usize = 3;

fn main() -> provisio::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100);
    let mode = args.next().unwrap_or_else(|| "sequential".into());
    if !["sequential", "tasks", "latency", "all"].contains(&mode.as_str()) {
        eprintln!("mode: sequential, tasks, latency or all");
        std::process::exit(2);
    }
    let launch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant");
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        if mode == "sequential" || mode == "all" {
            let (mut times, mut cpu) = (Vec::new(), Vec::new());
            for round in 0..ROUNDS {
                let (secs, cpu_secs) = run(&launch, n, 1, None).await?;
                println!(
                    "rust sequential round {round}: {n} launches in {secs:.3} s ({:.2} ms per \
                     launch), CPU {cpu_secs:.2} s ({:.2} ms per launch)",
                    secs * 1000.0 / n as f64,
                    cpu_secs * 1000.0 / n as f64
                );
                times.push(secs);
                cpu.push(cpu_secs);
            }
            summary("rust sequential", &mut times);
            summary("rust sequential CPU", &mut cpu);
        }
        if mode == "tasks" || mode == "all" {
            compare(&launch, n, None).await?;
        }
        if mode == "latency" || mode == "all" {
            compare(&launch, LATENCY_TENANTS, Some(LATENCY)).await?;
        }
        Ok(())
    })
}

/// 1 task against [`TASKS`] tasks, alternating, [`ROUNDS`] rounds of each.
async fn compare(launch: &Path, n: usize, latency: Option<Duration>) -> provisio::Result<()> {
    let label = match latency {
        Some(l) => format!("rust latency {} ms", l.as_millis()),
        None => "rust tasks".to_string(),
    };
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for tasks in [1, TASKS] {
            let (secs, cpu) = run(launch, n, tasks, latency).await?;
            println!(
                "{label} round {round}: {n} launches on {tasks} task(s) in {secs:.3} s, CPU {cpu:.2} s"
            );
            if tasks == 1 { &mut one } else { &mut many }.push(secs);
        }
    }
    let (b1, m1) = summary(&format!("{label}, 1 task"), &mut one);
    let (b8, m8) = summary(&format!("{label}, {TASKS} tasks"), &mut many);
    println!(
        "{label}: speedup {TASKS} tasks over 1: {:.2}x best-of-{ROUNDS}, {:.2}x median-of-{ROUNDS}",
        b1 / b8,
        m1 / m8
    );
    Ok(())
}

/// Launches `n` tenants (`t000`...) split round-robin over `tasks` concurrent tasks on fresh
/// memory providers, a fresh state store and a fresh engine; the wall time and the process's
/// CPU time (every thread, user and system) of the launches, in seconds.
async fn run(
    launch: &Path,
    n: usize,
    tasks: usize,
    latency: Option<Duration>,
) -> provisio::Result<(f64, f64)> {
    let mut config = ProviderConfig::memory();
    config.memory.fixtures = Some(launch.join("memory-fixtures.yaml"));
    let connection = config.connect().await?;
    if let Some(latency) = latency {
        let cloud = connection.memory.as_ref().expect("memory providers");
        cloud.faults.latency("*", latency);
    }
    let engine = Engine::builder()
        .providers(connection.providers.clone())
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()?;
    let blueprint = Arc::new(Blueprint::load(launch)?);
    let cpu = cpu_seconds();
    let start = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let (engine, blueprint) = (engine.clone(), blueprint.clone());
        handles.push(tokio::spawn(async move {
            for i in (task..n).step_by(tasks) {
                let tenant =
                    Tenant::new(format!("t{i:03}")).secret("smtp_password", "bench-smtp-password");
                engine
                    .apply(&blueprint, &tenant, ApplyOptions::default())
                    .await?
                    .into_result()?;
            }
            Ok::<(), provisio::Error>(())
        }));
    }
    for handle in handles {
        handle
            .await
            .map_err(|e| provisio::Error::unexpected(format!("a task stopped: {e}")))??;
    }
    Ok((start.elapsed().as_secs_f64(), cpu_seconds() - cpu))
}

/// The process's CPU time so far (user + system, every thread, including finished ones) from
/// `/proc/self/stat`, in clock ticks of 10 ms (`getconf CLK_TCK` is 100 on Linux): good to about
/// 1% over a round of 100 launches.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (in parentheses, which may contain spaces): the 3rd
    // field (state) first, so utime (14th) and stime (15th) are the 12th and 13th of these.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("(comm)") + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

/// Prints and returns the best and the median of `times`.
fn summary(label: &str, times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    let (best, median) = (times[0], times[times.len() / 2]);
    println!("{label}: best {best:.3} s, median {median:.3} s");
    (best, median)
}
