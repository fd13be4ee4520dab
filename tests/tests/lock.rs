//! Two processes applying the same tenant against one SQLite state file: the lease lets one
//! in; the other fails with a `Conflict` naming the holder, or waits with `lock_wait`; a lease
//! left by a holder killed with SIGKILL expires after its TTL. In every case the cloud ends
//! with each resource exactly once and the state complete.

use provisio_integration_tests::harness::{
    ChildConfig, ChildResult, Running, Setup, check_tenants, engine,
};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_provisio-crash-child");

fn cfg(
    owner: &str,
    latency_ms: u64,
    lock_wait_ms: Option<u64>,
    ttl_ms: Option<u64>,
) -> ChildConfig {
    ChildConfig {
        crash_at: None,
        latency_ms: Some(latency_ms),
        lock_wait_ms,
        lock_ttl_ms: ttl_ms,
        owner: Some(owner.to_string()),
        destroy: false,
        transition: None,
        concurrency: None,
    }
}

fn conflict(r: &ChildResult) -> Option<&str> {
    r.stdout.lines().find_map(|l| l.strip_prefix("CONFLICT "))
}

fn check(setup: &Setup, tenants: &[&str]) {
    let tenants: Vec<String> = tenants.iter().map(|t| t.to_string()).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let problems = rt.block_on(async {
        let mut p = check_tenants(setup, &tenants).await;
        let e = engine(setup).await;
        for t in &tenants {
            if let Some(l) = e.state().get_lease(t).await.unwrap() {
                p.push(format!("{t}: a lease is left behind: {l:?}"));
            }
        }
        p
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_second_runner_fails_with_a_conflict_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    let (a, started) = Running::start(&setup, "acme", &cfg("holder-a", 40, None, None));
    assert!(started, "A did not start: {:?}", a.finish());
    let b = setup.run("acme", &cfg("runner-b", 0, None, None));
    let a = a.finish();
    assert!(a.ok(), "A: {a:?}");
    assert_eq!(a.field("created"), Some(9), "A: {a:?}");
    assert_eq!(b.code, Some(2), "B must fail with a lock conflict: {b:?}");
    let msg = conflict(&b).expect("a CONFLICT line");
    assert!(
        msg.contains("locked by holder-a/run-") && msg.contains("acme"),
        "the conflict names the tenant and the holder: {msg}"
    );
    check(&setup, &["acme"]);
}

#[test]
fn lock_wait_lets_the_second_runner_succeed_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    let (a, started) = Running::start(&setup, "acme", &cfg("holder-a", 40, None, None));
    assert!(started, "A did not start: {:?}", a.finish());
    let t0 = Instant::now();
    let b = setup.run("acme", &cfg("waiter-b", 0, Some(30_000), None));
    let waited = t0.elapsed();
    let a = a.finish();
    assert!(a.ok(), "A: {a:?}");
    assert_eq!(a.field("created"), Some(9), "A: {a:?}");
    assert!(b.ok(), "B waited and then failed: {b:?}");
    // B ran only after A had finished everything: it found all nine resources in place
    assert_eq!(b.field("created"), Some(0), "B: {b:?}");
    assert_eq!(b.field("unchanged"), Some(9), "B: {b:?}");
    assert!(
        waited >= Duration::from_millis(100),
        "B did not wait: {waited:?}"
    );
    check(&setup, &["acme"]);
}

#[test]
fn runners_started_at_once_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    let tenants = ["t0", "t1", "t2", "t3"];
    for t in tenants {
        let a = setup.spawn(t, &cfg("left", 10, None, None));
        let b = setup.spawn(t, &cfg("right", 10, None, None));
        let (a, b) = (
            provisio_integration_tests::harness::collect(a),
            provisio_integration_tests::harness::collect(b),
        );
        for (me, other, r) in [("left", "right", &a), ("right", "left", &b)] {
            if !r.ok() {
                assert_eq!(r.code, Some(2), "{t}/{me} failed otherwise: {r:?}");
                let msg = conflict(r).expect("a CONFLICT line");
                assert!(msg.contains(&format!("locked by {other}/")), "{msg}");
            }
        }
        assert!(
            a.ok() || b.ok(),
            "{t}: neither runner succeeded: {a:?} {b:?}"
        );
        let created: u64 = [&a, &b].iter().filter_map(|r| r.field("created")).sum();
        assert_eq!(created, 9, "{t}: created in all: {a:?} {b:?}");
    }
    check(&setup, &tenants);
}

#[test]
fn a_stale_lease_of_a_killed_holder_expires_after_its_ttl() {
    const TTL_MS: u64 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    let (mut a, started) = Running::start(&setup, "acme", &cfg("doomed-a", 40, None, Some(TTL_MS)));
    assert!(started, "A did not start: {:?}", a.finish());
    std::thread::sleep(Duration::from_millis(120));
    a.kill();
    let killed_at = Instant::now();
    let a = a.finish();
    assert!(a.killed(), "A: {a:?}");

    // the lease is still valid: without waiting, a new run is refused, naming the dead holder
    let b = setup.run("acme", &cfg("runner-b", 0, None, None));
    assert_eq!(b.code, Some(2), "B: {b:?}");
    assert!(
        conflict(&b).is_some_and(|m| m.contains("locked by doomed-a/run-")),
        "B: {b:?}"
    );

    // waiting, a new run takes over once the TTL has run out, and resumes A's work
    let c = setup.run("acme", &cfg("runner-c", 0, Some(20_000), None));
    let took_over_after = killed_at.elapsed();
    assert!(c.ok(), "C: {c:?}");
    // A renewed every TTL/3, so its lease outlived it by at least 2/3 of the TTL
    assert!(
        took_over_after >= Duration::from_millis(TTL_MS * 2 / 3 - 50),
        "C took over after {took_over_after:?}, before the TTL ran out"
    );
    assert!(
        took_over_after < Duration::from_millis(TTL_MS + 5_000),
        "C waited too long: {took_over_after:?}"
    );
    check(&setup, &["acme"]);
}
