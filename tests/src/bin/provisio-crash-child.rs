//! The child process of the crash and lock tests: applies [`crash_blueprint`] for one tenant
//! with SQLite state and the file-backed cloud, so everything it did survives a SIGKILL.
//!
//! Usage: `provisio-crash-child <state.db> <store-dir> <tenant>`, configured by environment:
//!
//! - `PROVISIO_CRASH_AT=<n>`: SIGKILL itself at the n-th crash point (see
//!   `provisio_integration_tests::crashpoints`).
//! - `CHILD_LATENCY_MS`: latency of every provider call (default 0).
//! - `CHILD_LOCK_WAIT_MS`: wait this long for the tenant's lease (default: fail at once).
//! - `CHILD_LOCK_TTL_MS`: the lease TTL (default 60000).
//! - `CHILD_OWNER`: the lease owner prefix (default `child-<pid>`).
//! - `CHILD_CONCURRENCY`: steps in flight at once (default: the engine's, 16).
//! - `CHILD_OP=destroy`: destroy the tenant instead (prints `OK deleted=.. points=..`).
//! - `CHILD_OP=archive` / `CHILD_OP=restore`: run that lifecycle transition instead (prints
//!   the same `OK` line as an apply).
//!
//! Prints `STARTED` when the run has its lease and resolved in-doubt intents, then one of
//! `OK created=.. updated=.. unchanged=.. adopted=.. absent=.. points=..` (exit 0), `CONFLICT <message>`
//! (exit 2, a lease held by another run) or `FAILED <message>` (exit 3).

use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_engine::{
    ApplyOptions, DestroyOptions, Engine, EventKind, FnSink, Registry, StateStore, StepOutcome,
    Tenant,
};
use provisio_integration_tests::crash_blueprint;
use provisio_integration_tests::crashpoints::{CrashingStore, kill_at};
use provisio_integration_tests::filecloud::{FileCloud, FileThing};
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

fn env_u64(key: &str) -> Option<u64> {
    std::env::var(key).ok().and_then(|v| v.parse().ok())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: provisio-crash-child <state.db> <store-dir> <tenant>");
        std::process::exit(64);
    }
    let (hook, points) = kill_at(env_u64("PROVISIO_CRASH_AT").unwrap_or(0));
    let cloud = FileCloud::open(&args[2])
        .expect("open the file cloud")
        .with_hook(hook.clone())
        .with_latency(Duration::from_millis(
            env_u64("CHILD_LATENCY_MS").unwrap_or(0),
        ));
    let sqlite = SqliteStateStore::open(&args[1])
        .await
        .expect("open the SQLite state");
    let store: Arc<dyn StateStore> = Arc::new(CrashingStore::new(Arc::new(sqlite), hook));
    let mut registry = Registry::new();
    registry.register(Arc::new(FileThing(Arc::new(cloud))));
    let adopted = Arc::new(AtomicUsize::new(0));
    let absent = Arc::new(AtomicUsize::new(0));
    let (a, b) = (adopted.clone(), absent.clone());
    let events = FnSink::new(move |e: &provisio_engine::Event| match &e.kind {
        EventKind::RunStarted { .. } => say("STARTED"),
        EventKind::StepSucceeded {
            outcome: StepOutcome::Adopted,
            ..
        } => {
            a.fetch_add(1, Ordering::SeqCst);
        }
        EventKind::StepSucceeded {
            outcome: StepOutcome::Absent,
            ..
        } => {
            b.fetch_add(1, Ordering::SeqCst);
        }
        _ => {}
    });
    let mut builder = Engine::builder();
    if let Some(n) = env_u64("CHILD_CONCURRENCY") {
        builder = builder.concurrency(n as usize);
    }
    let engine = builder
        .registry(registry)
        .state(store)
        .events(Arc::new(events))
        .lock_owner(
            std::env::var("CHILD_OWNER")
                .unwrap_or_else(|_| format!("child-{}", std::process::id())),
        )
        .lock_ttl(Duration::from_millis(
            env_u64("CHILD_LOCK_TTL_MS").unwrap_or(60_000),
        ))
        .build()
        .expect("build the engine");
    let mut options = ApplyOptions::default();
    if let Some(ms) = env_u64("CHILD_LOCK_WAIT_MS") {
        options = options.lock_wait(Duration::from_millis(ms));
    }
    let tenant = Tenant::new(args[3].clone());
    if std::env::var("CHILD_OP").as_deref() == Ok("destroy") {
        let mut options = DestroyOptions::default();
        if let Some(ms) = env_u64("CHILD_LOCK_WAIT_MS") {
            options = options.lock_wait(Duration::from_millis(ms));
        }
        match engine.destroy(&crash_blueprint(), &tenant, options).await {
            Ok(report) if report.is_success() => say(&format!(
                "OK deleted={} points={}",
                report.summary.deleted,
                points.load(Ordering::SeqCst)
            )),
            Ok(report) => {
                say(&format!("FAILED {:?}", report.errors));
                std::process::exit(3);
            }
            Err(e) if e.kind() == &provisio::ErrorKind::Conflict => {
                say(&format!("CONFLICT {e}"));
                std::process::exit(2);
            }
            Err(e) => {
                say(&format!("FAILED {e}"));
                std::process::exit(3);
            }
        }
        return;
    }
    let op = std::env::var("CHILD_OP").unwrap_or_default();
    let run = match op.as_str() {
        "archive" | "restore" => {
            let t = provisio_engine::Transition::parse(&op).expect("a transition");
            engine
                .transition(&crash_blueprint(), &tenant, t, options)
                .await
        }
        _ => engine.apply(&crash_blueprint(), &tenant, options).await,
    };
    match run {
        Ok(report) if report.is_success() => {
            let s = &report.summary;
            say(&format!(
                "OK created={} updated={} unchanged={} adopted={} absent={} points={}",
                s.created,
                s.updated,
                s.unchanged,
                adopted.load(Ordering::SeqCst),
                absent.load(Ordering::SeqCst),
                points.load(Ordering::SeqCst)
            ));
        }
        Ok(report) => {
            let msg = report
                .errors
                .iter()
                .map(|(r, e)| format!("{r}: {e}"))
                .collect::<Vec<_>>()
                .join("; ");
            say(&format!("FAILED {msg}"));
            std::process::exit(3);
        }
        Err(e) if e.kind() == &provisio::ErrorKind::Conflict => {
            say(&format!("CONFLICT {e}"));
            std::process::exit(2);
        }
        Err(e) => {
            say(&format!("FAILED {e}"));
            std::process::exit(3);
        }
    }
}
