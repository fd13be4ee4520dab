//! The embedded default world (`.provisio/memory.json` beside `.provisio/state.db`) under
//! fire, through the real `provisio` binary: kill -9 at random moments of `apply` and
//! `destroy`, two processes on one tenant, eight processes on eight tenants. Every check
//! counts objects on the world file itself and compares them with the SQLite state beside it
//! and with an undisturbed control run.

use provisio_engine::StateStore;
use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_memory::MemoryCloud;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_provisio");

/// A seeded SplitMix64: reproducible kill delays without another dependency.
struct Delays(u64);

impl Delays {
    /// A fraction of `typical` between 30 % and 110 %.
    fn next(&mut self, typical: Duration) -> Duration {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let unit = (z >> 11) as f64 / (1u64 << 53) as f64;
        typical.mul_f64(0.3 + 0.8 * unit)
    }
}

fn launch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant")
}

/// `provisio <verb> <example> --tenant <tenant>` in `dir`, with the example's secret set.
fn command(dir: &Path, verb: &str, tenant: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .arg(verb)
        .arg(launch_dir())
        .args(["--tenant", tenant])
        .env("PROVISIO_SECRET_SMTP_PASSWORD", "smtp-credential-for-tests")
        .env_remove("PROVISIO_PROVIDERS")
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn shown(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(mut cmd: Command) -> Output {
    let out = cmd.output().expect("run provisio");
    assert!(out.status.success(), "{}", shown(&out));
    out
}

/// Breaks the lease a killed run left behind (what an operator does after a crash).
fn unlock(dir: &Path, tenant: &str) {
    let out = Command::new(BIN)
        .current_dir(dir)
        .args(["state", "unlock", "--tenant", tenant])
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", shown(&out));
}

/// The world file as another process sees it.
fn world(dir: &Path) -> MemoryCloud {
    MemoryCloud::load(7, dir.join(".provisio/memory.json"))
        .expect("a valid world file")
        .expect("a world file")
}

/// Every object of the world that belongs to `tenant`, by kind, as the example blueprint
/// names them (instance ids are replaced by the instance's name; the live ids are returned
/// separately, to compare with the state).
fn tenant_objects(w: &MemoryCloud, tenant: &str) -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let inv = w.inventory();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |kind: &str, id: String| out.entry(kind.to_string()).or_default().push(id);
    let mut instance_ids = Vec::new();
    for id in inv.ids("compute.instance") {
        let detail = inv.get("compute.instance", id).unwrap();
        if detail["name"] == format!("{tenant}-web") {
            add("compute.instance", format!("{tenant}-web"));
            instance_ids.push(id.to_string());
        }
    }
    let mine = |kind: &str, id: &str| -> bool {
        match kind {
            "dns.record" => {
                id == format!("A {tenant}.example.com")
                    || id == format!("CNAME {tenant}.stg.example.com")
            }
            "storage.object" => {
                id.starts_with(&format!("provisio-shared-assets/tenants/{tenant}/"))
            }
            "ci.job" => id.ends_with(&format!("-{tenant}")),
            // `<umbrella job> -> <the tenant's job>`
            "ci.downstream" => id.ends_with(&format!("-{tenant}")),
            "repo.branch" => id == tenant || id == format!("dev-{tenant}"),
            "secrets.secret" => id.starts_with(&format!("{tenant}-")),
            "database.role" | "database.database" => id == tenant,
            "database.seed" => id.starts_with(&format!("{tenant}/")),
            "mail.identity" => id == format!("{tenant}.example.com"),
            _ => false,
        }
    };
    for kind in [
        "dns.record",
        "storage.object",
        "ci.job",
        "ci.downstream",
        "repo.branch",
        "secrets.secret",
        "database.role",
        "database.database",
        "database.seed",
        "mail.identity",
    ] {
        for id in inv.ids(kind) {
            if mine(kind, id) {
                add(kind, id.to_string());
            }
        }
    }
    (out, instance_ids)
}

/// The tenant's objects with the tenant's name replaced by `T`, to compare tenants.
fn shape(objects: &BTreeMap<String, Vec<String>>, tenant: &str) -> BTreeMap<String, Vec<String>> {
    objects
        .iter()
        .map(|(k, ids)| {
            let mut ids: Vec<String> = ids.iter().map(|i| i.replace(tenant, "T")).collect();
            ids.sort();
            (k.clone(), ids)
        })
        .collect()
}

/// What an undisturbed apply and destroy leave (measured once, in a directory of its own),
/// and how long each took.
struct Control {
    applied: BTreeMap<String, Vec<String>>,
    destroyed: BTreeMap<String, Vec<String>>,
    apply_time: Duration,
    destroy_time: Duration,
}

fn control() -> &'static Control {
    static CONTROL: OnceLock<Control> = OnceLock::new();
    CONTROL.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // the first command creates the world; time the second one only
        run_ok(command(dir, "plan", "ctl"));
        let t0 = Instant::now();
        run_ok(command(dir, "apply", "ctl"));
        let apply_time = t0.elapsed();
        let (applied, ids) = tenant_objects(&world(dir), "ctl");
        assert_eq!(ids.len(), 1);
        let t0 = Instant::now();
        run_ok(command(dir, "destroy", "ctl"));
        let destroy_time = t0.elapsed();
        let (destroyed, _) = tenant_objects(&world(dir), "ctl");
        Control {
            applied: shape(&applied, "ctl"),
            destroyed: shape(&destroyed, "ctl"),
            apply_time,
            destroy_time,
        }
    })
}

/// How `tenant` in `dir` compares with the control's `want` (after apply or after destroy).
#[derive(Debug, Default)]
struct Findings {
    /// Duplicates and orphans: objects an undisturbed run does not leave, instances the state
    /// does not record; state records of nothing; pending journal intents.
    problems: Vec<String>,
    /// Objects an undisturbed run leaves that are not there.
    missing: Vec<String>,
}

fn findings(dir: &Path, tenant: &str, want: &BTreeMap<String, Vec<String>>) -> Findings {
    let mut out = Findings::default();
    let (objects, instance_ids) = tenant_objects(&world(dir), tenant);
    let got = shape(&objects, tenant);
    for (kind, ids) in &got {
        for id in ids {
            let expected = want.get(kind).is_some_and(|w| w.contains(id));
            if !expected || ids.iter().filter(|i| *i == id).count() > 1 {
                out.problems.push(format!(
                    "{tenant}: {kind} {id} is on the world; an undisturbed run leaves {want:?}"
                ));
            }
        }
    }
    for (kind, ids) in want {
        for id in ids {
            if !got.get(kind).is_some_and(|g| g.contains(id)) {
                out.missing
                    .push(format!("{tenant}: {kind} {id} is missing"));
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let state = SqliteStateStore::open(dir.join(".provisio/state.db"))
            .await
            .unwrap();
        let records = state.list_resources(tenant).await.unwrap();
        // every live instance is the one the state records: no orphan, no duplicate
        let recorded: Vec<String> = records
            .iter()
            .filter(|r| r.resource_type == "compute.instance")
            .filter_map(|r| r.outputs["id"].as_str().map(str::to_string))
            .collect();
        if recorded != instance_ids {
            out.problems.push(format!(
                "{tenant}: live instances {instance_ids:?}, recorded {recorded:?}"
            ));
        }
        // the objects the state says a step put there are all there (a lost write would
        // show here: the state records what the calls returned)
        let on_world = objects.get("storage.object").map_or(0, Vec::len) as u64;
        for r in records
            .iter()
            .filter(|r| r.resource_type == "storage.objects")
        {
            if r.outputs["count"].as_u64() != Some(on_world) {
                out.problems.push(format!(
                    "{tenant}: the state records {} objects for {:?}, the world holds {on_world}",
                    r.outputs["count"], r.name
                ));
            }
        }
        // objects on the world are recorded, and records have objects
        let world_count: usize = objects.values().map(Vec::len).sum();
        if records.is_empty() != (world_count == 0) {
            out.problems.push(format!(
                "{tenant}: {} state records for {world_count} objects on the world",
                records.len()
            ));
        }
        let pending = state.pending_intents(tenant).await.unwrap();
        if !pending.is_empty() {
            out.problems
                .push(format!("{tenant}: {} pending intents", pending.len()));
        }
    });
    out
}

/// Everything that differs from the control, missing objects included.
fn problems(dir: &Path, tenant: &str, want: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let f = findings(dir, tenant, want);
    f.problems.into_iter().chain(f.missing).collect()
}

/// How many journal entries the state in `dir` holds for `tenant`.
fn journal_len(dir: &Path, tenant: &str) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let state = SqliteStateStore::open(dir.join(".provisio/state.db"))
            .await
            .unwrap();
        state.journal(tenant, 0).await.unwrap().len()
    })
}

/// Runs `verb` on `tenant` and kills it with SIGKILL after a random delay (breaking the dead
/// run's lease, as an operator does). Returns how many journal entries (intents and results
/// of side effects) the killed run wrote, or `None` when it finished before the kill.
fn run_and_kill(
    dir: &Path,
    verb: &str,
    tenant: &str,
    typical: Duration,
    delays: &mut Delays,
) -> Option<usize> {
    let before = journal_len(dir, tenant);
    let mut child = command(dir, verb, tenant).spawn().unwrap();
    std::thread::sleep(delays.next(typical));
    let _ = child.kill(); // SIGKILL (an error: it had exited already)
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        return None;
    }
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(out.status.signal(), Some(9), "{}", shown(&out));
    unlock(dir, tenant);
    Some(journal_len(dir, tenant) - before)
}

/// Where the kills of one command landed: how many journal entries each killed run wrote.
#[derive(Debug, Default)]
struct Kills(Vec<usize>);

impl Kills {
    /// Kills that landed in the middle of a run's side effects (after its first intent).
    fn mid_run(&self) -> usize {
        self.0.iter().filter(|n| **n > 0).count()
    }
}

#[test]
fn kill_9_during_apply_and_destroy_leaves_no_duplicate_and_no_orphan() {
    let control = control();
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut delays = Delays(0x5eed);
    let (mut apply_kills, mut destroy_kills) = (Kills::default(), Kills::default());
    let mut missing = Vec::new();
    // the world and its fixtures exist before the first kill, as after any first command
    run_ok(command(dir, "plan", "first"));
    // Sixteen tenants on one growing world. Each: apply killed at random moments, resumed with
    // the same command and checked; then destroy killed the same way, resumed and checked.
    for round in 0..16 {
        let tenant = format!("kill-{round}");
        for verb in ["apply", "destroy"] {
            let (typical, kills) = if verb == "apply" {
                (control.apply_time, &mut apply_kills)
            } else {
                (control.destroy_time, &mut destroy_kills)
            };
            // until a kill lands in the middle of the run's side effects (most land before the
            // first one, while the process starts and plans), up to eight tries; every other
            // tenant, once more on the resumed run
            let mut landed = 0;
            for _ in 0..8 {
                if landed > round % 2 {
                    break;
                }
                if let Some(n) = run_and_kill(dir, verb, &tenant, typical, &mut delays) {
                    kills.0.push(n);
                    landed += usize::from(n > 0);
                }
            }
            run_ok(command(dir, verb, &tenant));
            let want = if verb == "apply" {
                &control.applied
            } else {
                &control.destroyed
            };
            let f = findings(dir, &tenant, want);
            assert!(f.problems.is_empty(), "{}", f.problems.join("\n"));
            // every object is there: a kill between the object copies of `storage.objects`
            // leaves part of the prefix, and the resumed run finishes the copy
            missing.extend(f.missing.iter().map(|m| format!("after {verb}: {m}")));
            if verb == "apply" {
                let again = run_ok(command(dir, "apply", &tenant));
                assert!(String::from_utf8_lossy(&again.stdout).contains("No changes"));
            }
        }
    }
    eprintln!(
        "kill -9: {} kills during apply (journal entries each killed run wrote: {:?}), {} \
         during destroy ({:?}); control apply {:?}, destroy {:?}; {:.1} s",
        apply_kills.0.len(),
        apply_kills.0,
        destroy_kills.0.len(),
        destroy_kills.0,
        control.apply_time,
        control.destroy_time,
        started.elapsed().as_secs_f64()
    );
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(
        apply_kills.mid_run() >= 8,
        "kills in the middle of apply: {:?}",
        apply_kills.0
    );
    assert!(
        destroy_kills.mid_run() >= 8,
        "kills in the middle of destroy: {:?}",
        destroy_kills.0
    );
}

#[test]
fn two_processes_on_one_tenant_make_one_set_of_resources() {
    let control = control();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_ok(command(dir, "plan", "first"));
    for round in 0..3 {
        let tenant = format!("pair-{round}");
        let a = command(dir, "apply", &tenant).spawn().unwrap();
        // at once, then with the second one starting while the first one works
        std::thread::sleep(Duration::from_millis(60 * round));
        let b = command(dir, "apply", &tenant).spawn().unwrap();
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert!(ok >= 1, "{}\n{}", shown(&outs[0]), shown(&outs[1]));
        for o in outs.iter().filter(|o| !o.status.success()) {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("lease") || err.contains("locked"),
                "the loser fails on the tenant's lease only: {}",
                shown(o)
            );
        }
        let found = problems(dir, &tenant, &control.applied);
        assert!(found.is_empty(), "{}", found.join("\n"));
        let again = run_ok(command(dir, "apply", &tenant));
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("No changes"),
            "{}",
            shown(&again)
        );
    }
}

#[test]
fn eight_processes_on_eight_tenants_lose_nothing() {
    let control = control();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    run_ok(command(dir, "plan", "first"));
    let tenants: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for verb in ["apply", "destroy"] {
        let t0 = Instant::now();
        let children: Vec<_> = tenants
            .iter()
            .map(|t| command(dir, verb, t).spawn().unwrap())
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", shown(&out));
        }
        let want = if verb == "apply" {
            &control.applied
        } else {
            &control.destroyed
        };
        let found: Vec<String> = tenants
            .iter()
            .flat_map(|t| problems(dir, t, want))
            .collect();
        assert!(found.is_empty(), "{}", found.join("\n"));
        eprintln!("8 processes {verb}: {:.1} s", t0.elapsed().as_secs_f64());
    }
}
