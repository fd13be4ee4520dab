//! kill -9 crash tests: a real child process applies a nine-resource blueprint with SQLite
//! state and a file-backed cloud, and is killed with SIGKILL; the next child resumes. In the
//! end every tenant must be complete, with no duplicate, no orphan and no pending intent.
//!
//! Two kinds of tenants:
//! - **sweep**: one tenant per crash point of a fresh apply (every journal append before and
//!   after, every provider call before and after its effect, every resource record before and
//!   after): the first child kills itself exactly there, the second resumes.
//! - **chaos**: repeated crashes at small random point numbers (so many land in the recovery
//!   of the previous crash) and external SIGKILLs after random delays, until a child finishes.

use provisio_integration_tests::harness::{ChildConfig, Setup, check_destroyed, check_tenants};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_provisio-crash-child");
/// Short leases: a killed child's lease must expire before the next one can start.
const TTL_MS: u64 = 200;
const LOCK_WAIT_MS: u64 = 30_000;

#[derive(Default)]
struct Tally {
    kills: usize,
    by_label: BTreeMap<String, usize>,
    runs: usize,
    tenants: Vec<String>,
}

impl Tally {
    fn record(&mut self, r: &provisio_integration_tests::harness::ChildResult) {
        self.runs += 1;
        if r.killed() {
            self.kills += 1;
            let label = r.crash_label().unwrap_or_else(|| "external".to_string());
            *self.by_label.entry(label).or_default() += 1;
        }
    }
}

fn cfg(crash_at: Option<u64>, latency_ms: Option<u64>) -> ChildConfig {
    ChildConfig {
        crash_at,
        latency_ms,
        lock_wait_ms: Some(LOCK_WAIT_MS),
        lock_ttl_ms: Some(TTL_MS),
        owner: None,
        destroy: false,
        transition: None,
        concurrency: None,
    }
}

enum Job {
    Sweep(u64),
    Chaos(u64),
}

#[test]
fn kill_9_at_every_point_and_at_random_resumes_without_duplicates_or_orphans() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());

    // how many crash points does a fresh apply pass?
    let probe = setup.run("probe", &cfg(None, None));
    assert!(probe.ok(), "probe run failed: {probe:?}");
    let points = probe.field("points").expect("points");
    assert_eq!(probe.field("created"), Some(9));
    // 9 creates x (the read that tells whether the resource existed before the step,
    // journal intent before/after, provider begin/effect, journal result before/after,
    // record before/after)
    assert_eq!(points, 9 * 9, "crash points of a fresh apply");

    let mut jobs: Vec<Job> = (1..=points).map(Job::Sweep).collect();
    jobs.extend((0..6).map(Job::Chaos));
    let jobs = Mutex::new(jobs);
    let tally = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::<String>::new());

    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(job) = {
                    let mut j = jobs.lock().unwrap();
                    j.pop()
                } {
                    match job {
                        Job::Sweep(k) => {
                            let tenant = format!("sweep-{k}");
                            let first = setup.run(&tenant, &cfg(Some(k), None));
                            let second = setup.run(&tenant, &cfg(None, None));
                            let mut t = tally.lock().unwrap();
                            t.record(&first);
                            t.record(&second);
                            t.tenants.push(tenant.clone());
                            drop(t);
                            if !first.killed() || first.crash_label().is_none() {
                                failures.lock().unwrap().push(format!(
                                    "{tenant}: the first child was not killed at point {k}: {first:?}"
                                ));
                            }
                            if !second.ok() {
                                failures.lock().unwrap().push(format!(
                                    "{tenant}: the resumed child failed: {second:?}"
                                ));
                            }
                        }
                        Job::Chaos(seed) => {
                            let tenant = format!("chaos-{seed}");
                            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
                            let mut done = false;
                            for attempt in 0..200 {
                                let r = if attempt % 4 == 3 {
                                    // an external kill at a random moment of a slower run
                                    let after = Duration::from_millis(rng.gen_range(5..120));
                                    setup.run_killed_after(&tenant, &cfg(None, Some(4)), after)
                                } else {
                                    setup.run(&tenant, &cfg(Some(rng.gen_range(1..=12)), None))
                                };
                                tally.lock().unwrap().record(&r);
                                if r.ok() {
                                    done = true;
                                    break;
                                }
                                if !r.killed() {
                                    failures
                                        .lock()
                                        .unwrap()
                                        .push(format!("{tenant}: a child failed: {r:?}"));
                                    break;
                                }
                            }
                            if !done {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{tenant}: never completed"));
                            }
                            tally.lock().unwrap().tenants.push(tenant);
                        }
                    }
                }
            });
        }
    });

    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let tally = tally.into_inner().unwrap();
    let mut tenants = tally.tenants.clone();
    tenants.push("probe".to_string());
    tenants.sort();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let problems = rt.block_on(check_tenants(&setup, &tenants));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    eprintln!(
        "crash test: {} tenants, {} child runs, {} kills in {:.1} s; by crash point: {:?}",
        tenants.len(),
        tally.runs,
        tally.kills,
        started.elapsed().as_secs_f64(),
        tally.by_label
    );
    assert!(tally.kills >= 100, "only {} kills", tally.kills);
    for label in [
        "journal.before.intent",
        "journal.after.intent",
        "provider.apply.begin",
        "provider.apply.effect",
        "journal.before.succeeded",
        "journal.after.succeeded",
        "put.before",
        "put.after",
    ] {
        assert!(
            tally.by_label.get(label).copied().unwrap_or(0) >= 9,
            "crash point {label} was hit {} times",
            tally.by_label.get(label).copied().unwrap_or(0)
        );
    }
}

/// The same sweep for a destroy: each tenant is applied completely, then its destroy kills
/// itself at one crash point (every journal append, every provider delete before and after
/// its effect, every journaled result), and the next destroy resumes. Afterwards nothing of the
/// tenant is left in the cloud (counted on the cloud by ownership tags), nothing in state, and
/// no intent is pending.
#[test]
fn kill_9_at_every_point_of_a_destroy_leaves_nothing_behind() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    // One delete at a time, so the k-th crash point is the same point in every run and the
    // sweep covers each of the 54 exactly once (concurrent deletes under kill -9 are the CLI
    // kill test's job).
    let destroy = |crash_at| ChildConfig {
        destroy: true,
        concurrency: Some(1),
        ..cfg(crash_at, None)
    };
    assert!(setup.run("dprobe", &cfg(None, None)).ok());
    let probe = setup.run("dprobe", &destroy(None));
    assert!(probe.ok(), "probe destroy failed: {probe:?}");
    assert_eq!(probe.field("deleted"), Some(9));
    let points = probe.field("points").expect("points");
    // 9 deletes x (journal intent before/after, provider begin/effect, journal result
    // before/after; the record is removed in the same transaction as the result)
    assert_eq!(points, 9 * 6, "crash points of a destroy");

    let jobs = Mutex::new((1..=points).collect::<Vec<u64>>());
    let tally = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(k) = {
                    let mut j = jobs.lock().unwrap();
                    j.pop()
                } {
                    let tenant = format!("dsweep-{k}");
                    let applied = setup.run(&tenant, &cfg(None, None));
                    let first = setup.run(&tenant, &destroy(Some(k)));
                    let second = setup.run(&tenant, &destroy(None));
                    let mut t = tally.lock().unwrap();
                    t.record(&first);
                    t.record(&second);
                    t.tenants.push(tenant.clone());
                    drop(t);
                    let mut f = failures.lock().unwrap();
                    if !applied.ok() {
                        f.push(format!("{tenant}: the apply failed: {applied:?}"));
                    }
                    if !first.killed() || first.crash_label().is_none() {
                        f.push(format!(
                            "{tenant}: the destroy was not killed at point {k}: {first:?}"
                        ));
                    }
                    if !second.ok() {
                        f.push(format!("{tenant}: the resumed destroy failed: {second:?}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let tally = tally.into_inner().unwrap();
    let mut tenants = tally.tenants.clone();
    tenants.push("dprobe".to_string());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let problems = rt.block_on(check_destroyed(&setup, &tenants));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    eprintln!(
        "destroy crash test: {} tenants, {} kills in {:.1} s; by crash point: {:?}",
        tenants.len(),
        tally.kills,
        started.elapsed().as_secs_f64(),
        tally.by_label
    );
    for label in [
        "journal.before.intent",
        "journal.after.intent",
        "provider.delete.begin",
        "provider.delete.effect",
        "journal.before.succeeded",
        "journal.after.succeeded",
    ] {
        // 54 points, 9 of each kind: the deletes run one after the other
        assert!(
            tally.by_label.get(label).copied().unwrap_or(0) >= 9,
            "crash point {label} was hit {} times",
            tally.by_label.get(label).copied().unwrap_or(0)
        );
    }
}

/// The sweep for lifecycle transitions: each tenant is launched, then its `archive` (or, after
/// a complete archive, its `restore`) kills itself at one crash point, and the same command
/// run again finishes it. Archived tenants must hold exactly the archived phase's resources
/// (the dump taken of the database before the database went, nothing deleted twice, nothing
/// left over), restored tenants exactly the launched ones with their references following
/// the new ids, and neither may have a pending intent or a transition still under way.
#[test]
fn kill_9_at_every_point_of_archive_and_restore_resumes_without_duplicates_or_loss() {
    use provisio_integration_tests::harness::check_archived;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let setup = Setup::new(BIN, dir.path());
    // one step at a time: the k-th crash point is the same point in every run
    let transition = |t: &'static str, crash_at| ChildConfig {
        transition: Some(t),
        concurrency: Some(1),
        ..cfg(crash_at, None)
    };
    let mut points = BTreeMap::new();
    for t in ["archive", "restore"] {
        let tenant = format!("{t}-probe");
        assert!(setup.run(&tenant, &cfg(None, None)).ok());
        if t == "restore" {
            assert!(setup.run(&tenant, &transition("archive", None)).ok());
        }
        let probe = setup.run(&tenant, &transition(t, None));
        assert!(probe.ok(), "{t} probe failed: {probe:?}");
        points.insert(t, probe.field("points").expect("points"));
    }
    // archive: the lifecycle record (2), dump created (9), lb updated (8: an update does not
    // read whether it existed before), app's record rewritten without its absent dependency
    // (2), db, web1, web2 deleted (6 each), the lifecycle record (2)
    assert_eq!(
        points["archive"],
        2 + 9 + 8 + 2 + 3 * 6 + 2,
        "crash points of archive"
    );
    // restore: the record (2), db, web1, web2 created (9 each), app and lb updated (8 each),
    // the dump deleted (6), the record (2)
    assert_eq!(
        points["restore"],
        2 + 3 * 9 + 2 * 8 + 6 + 2,
        "crash points of restore"
    );

    let jobs: Vec<(&'static str, u64)> = points
        .iter()
        .flat_map(|(t, n)| (1..=*n).map(move |k| (*t, k)))
        .collect();
    let jobs = Mutex::new(jobs);
    let tally = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::<String>::new());
    let done = Mutex::new(BTreeMap::<&'static str, Vec<String>>::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some((t, k)) = {
                    let mut j = jobs.lock().unwrap();
                    j.pop()
                } {
                    let tenant = format!("{t}-{k}");
                    let mut f = Vec::new();
                    if !setup.run(&tenant, &cfg(None, None)).ok() {
                        f.push(format!("{tenant}: the launch failed"));
                    }
                    if t == "restore" && !setup.run(&tenant, &transition("archive", None)).ok() {
                        f.push(format!("{tenant}: the archive failed"));
                    }
                    let first = setup.run(&tenant, &transition(t, Some(k)));
                    let second = setup.run(&tenant, &transition(t, None));
                    if !first.killed() || first.crash_label().is_none() {
                        f.push(format!(
                            "{tenant}: {t} was not killed at point {k}: {first:?}"
                        ));
                    }
                    if !second.ok() {
                        f.push(format!("{tenant}: the resumed {t} failed: {second:?}"));
                    }
                    let mut tl = tally.lock().unwrap();
                    tl.record(&first);
                    tl.record(&second);
                    drop(tl);
                    failures.lock().unwrap().extend(f);
                    done.lock().unwrap().entry(t).or_default().push(tenant);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let mut done = done.into_inner().unwrap();
    done.entry("archive")
        .or_default()
        .push("archive-probe".into());
    done.entry("restore")
        .or_default()
        .push("restore-probe".into());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut problems = rt.block_on(check_archived(&setup, &done["archive"]));
    problems.extend(rt.block_on(check_tenants(&setup, &done["restore"])));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let tally = tally.into_inner().unwrap();
    eprintln!(
        "transition crash test: {} archives and {} restores, {} kills in {:.1} s; by crash point: {:?}",
        done["archive"].len(),
        done["restore"].len(),
        tally.kills,
        started.elapsed().as_secs_f64(),
        tally.by_label
    );
    for label in [
        "phase.before",
        "phase.after",
        "journal.after.intent",
        "provider.apply.effect",
        "provider.delete.effect",
        "journal.after.succeeded",
    ] {
        assert!(
            tally.by_label.get(label).copied().unwrap_or(0) >= 4,
            "crash point {label} was hit {} times",
            tally.by_label.get(label).copied().unwrap_or(0)
        );
    }
}
