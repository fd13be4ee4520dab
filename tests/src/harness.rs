//! The parent side of the multi-process tests: running the child binary and checking what
//! the tenants ended with (state, journal, file cloud).

use crate::filecloud::{FileCloud, FileThing};
use crate::{CRASH_ARCHIVED, CRASH_RESOURCES, crash_blueprint};
use provisio::types::ownership;
use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_engine::{ApplyOptions, Engine, Registry, StateStore, Tenant};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// How to run one child.
#[derive(Debug, Clone, Default)]
pub struct ChildConfig {
    /// `PROVISIO_CRASH_AT`.
    pub crash_at: Option<u64>,
    /// `CHILD_LATENCY_MS`.
    pub latency_ms: Option<u64>,
    /// `CHILD_LOCK_WAIT_MS`.
    pub lock_wait_ms: Option<u64>,
    /// `CHILD_LOCK_TTL_MS`.
    pub lock_ttl_ms: Option<u64>,
    /// `CHILD_OWNER`.
    pub owner: Option<String>,
    /// `CHILD_OP=destroy`: the child destroys the tenant instead of applying.
    pub destroy: bool,
    /// `CHILD_OP=archive` or `restore`: the child runs that transition instead of applying.
    pub transition: Option<&'static str>,
    /// `CHILD_CONCURRENCY`: steps in flight at once (default: the engine's).
    pub concurrency: Option<u64>,
}

/// How a child ended.
#[derive(Debug, Clone)]
pub struct ChildResult {
    /// The exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that killed it, when it was killed.
    pub signal: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl ChildResult {
    /// Whether it was killed with SIGKILL.
    pub fn killed(&self) -> bool {
        self.signal == Some(libc::SIGKILL)
    }
    /// Whether it printed `OK` and exited 0.
    pub fn ok(&self) -> bool {
        self.code == Some(0) && self.stdout.lines().any(|l| l.starts_with("OK "))
    }
    /// The label of the crash point it killed itself at, if it did.
    pub fn crash_label(&self) -> Option<String> {
        self.stderr.lines().find_map(|l| {
            l.strip_prefix(crate::crashpoints::CRASH_MARKER)
                .and_then(|rest| rest.split_whitespace().nth(1))
                .map(str::to_string)
        })
    }
    /// A `key=value` field of the `OK` line.
    pub fn field(&self, key: &str) -> Option<u64> {
        let line = self.stdout.lines().find(|l| l.starts_with("OK "))?;
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
    }
}

/// The child binary and the paths it works on.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The child binary.
    pub bin: PathBuf,
    /// The SQLite state file.
    pub state: PathBuf,
    /// The file cloud directory.
    pub store: PathBuf,
}

impl Setup {
    /// Paths under `dir`.
    pub fn new(bin: impl Into<PathBuf>, dir: &Path) -> Self {
        Setup {
            bin: bin.into(),
            state: dir.join("state.db"),
            store: dir.join("cloud"),
        }
    }

    /// Starts a child for `tenant` with piped output.
    pub fn spawn(&self, tenant: &str, cfg: &ChildConfig) -> Child {
        let mut cmd = Command::new(&self.bin);
        cmd.arg(&self.state)
            .arg(&self.store)
            .arg(tenant)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env_remove("PROVISIO_CRASH_AT");
        let vars = [
            ("PROVISIO_CRASH_AT", cfg.crash_at.map(|v| v.to_string())),
            ("CHILD_LATENCY_MS", cfg.latency_ms.map(|v| v.to_string())),
            (
                "CHILD_LOCK_WAIT_MS",
                cfg.lock_wait_ms.map(|v| v.to_string()),
            ),
            ("CHILD_LOCK_TTL_MS", cfg.lock_ttl_ms.map(|v| v.to_string())),
            ("CHILD_OWNER", cfg.owner.clone()),
            (
                "CHILD_OP",
                cfg.destroy
                    .then(|| "destroy".to_string())
                    .or(cfg.transition.map(str::to_string)),
            ),
            ("CHILD_CONCURRENCY", cfg.concurrency.map(|v| v.to_string())),
        ];
        for (k, v) in vars {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.spawn().expect("spawn the crash child")
    }

    /// Runs a child to its end.
    pub fn run(&self, tenant: &str, cfg: &ChildConfig) -> ChildResult {
        collect(self.spawn(tenant, cfg))
    }

    /// Runs a child and kills it with SIGKILL after `after` (if it is still running).
    pub fn run_killed_after(
        &self,
        tenant: &str,
        cfg: &ChildConfig,
        after: Duration,
    ) -> ChildResult {
        let mut child = self.spawn(tenant, cfg);
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL; an error means it already exited
        collect(child)
    }
}

/// A running child whose stdout is read line by line.
pub struct Running {
    child: Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    seen: String,
}

impl Running {
    /// Starts a child and waits until it prints `STARTED` (it holds the tenant's lease then)
    /// or exits; returns whether it started.
    pub fn start(setup: &Setup, tenant: &str, cfg: &ChildConfig) -> (Running, bool) {
        use std::io::BufRead as _;
        let mut child = setup.spawn(tenant, cfg);
        let stdout = std::io::BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut r = Running {
            child,
            stdout,
            seen: String::new(),
        };
        loop {
            let mut line = String::new();
            if r.stdout
                .read_line(&mut line)
                .expect("read the child's stdout")
                == 0
            {
                return (r, false);
            }
            r.seen.push_str(&line);
            if line.trim() == "STARTED" {
                return (r, true);
            }
        }
    }

    /// Kills the child with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// Waits for the child and gathers its output.
    pub fn finish(mut self) -> ChildResult {
        use std::io::Read as _;
        let mut rest = String::new();
        let _ = self.stdout.read_to_string(&mut rest);
        let mut r = collect(self.child);
        r.stdout = self.seen + &rest;
        r
    }
}

/// Waits for a child and gathers its output.
pub fn collect(child: Child) -> ChildResult {
    let out = child.wait_with_output().expect("wait for the crash child");
    ChildResult {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// An engine on the setup's state and cloud, in this process (no crash points).
pub async fn engine(setup: &Setup) -> Engine {
    let store: Arc<dyn StateStore> = Arc::new(
        SqliteStateStore::open(&setup.state)
            .await
            .expect("open the state"),
    );
    let mut registry = Registry::new();
    registry.register(Arc::new(FileThing(Arc::new(
        FileCloud::open(&setup.store).expect("open the cloud"),
    ))));
    Engine::builder()
        .registry(registry)
        .state(store)
        .lock_owner("parent")
        .build()
        .expect("build the engine")
}

/// Checks that every tenant in `tenants` was destroyed completely: nothing of theirs is in the
/// cloud (counted by ownership tags on the cloud itself), nothing is recorded in state, and no
/// journal intent is pending. Returns a description of every problem found.
pub async fn check_destroyed(setup: &Setup, tenants: &[String]) -> Vec<String> {
    let engine = engine(setup).await;
    let state = engine.state().clone();
    let cloud = FileCloud::open(&setup.store).expect("open the cloud");
    let things = cloud.list().expect("list the cloud");
    let mut problems = Vec::new();
    for tenant in tenants {
        let left: Vec<&str> = things
            .iter()
            .filter(|t| t.tags.get(ownership::TENANT) == Some(tenant))
            .map(|t| t.id.as_str())
            .collect();
        if !left.is_empty() {
            problems.push(format!(
                "{tenant}: left in the cloud after destroy: {left:?}"
            ));
        }
        let records = state.list_resources(tenant).await.expect("list resources");
        if !records.is_empty() {
            problems.push(format!(
                "{tenant}: still recorded after destroy: {:?}",
                records.iter().map(|r| &r.name).collect::<Vec<_>>()
            ));
        }
        let pending = state
            .pending_intents(tenant)
            .await
            .expect("pending intents");
        if !pending.is_empty() {
            problems.push(format!("{tenant}: {} pending intents", pending.len()));
        }
    }
    problems
}

/// Checks that every tenant in `tenants` ended complete and consistent, and that the cloud
/// holds exactly their resources:
///
/// - every resource of [`crash_blueprint`] is recorded in state with outputs (an `id`);
/// - no journal intent is pending;
/// - each recorded resource exists exactly once in the cloud (by ownership tags), with the id
///   recorded in state and its parameters resolved from its dependencies' current ids;
/// - nothing in the cloud is unreferenced by state (no orphans);
/// - re-applying changes nothing.
///
/// Returns a description of every problem found (empty when all is well).
pub async fn check_tenants(setup: &Setup, tenants: &[String]) -> Vec<String> {
    let engine = engine(setup).await;
    let state = engine.state().clone();
    let cloud = FileCloud::open(&setup.store).expect("open the cloud");
    let mut problems = Vec::new();
    let want: BTreeSet<&str> = CRASH_RESOURCES.iter().copied().collect();
    let mut referenced: BTreeMap<String, (String, String)> = BTreeMap::new();
    let things = cloud.list().expect("list the cloud");
    for tenant in tenants {
        let records = state.list_resources(tenant).await.expect("list resources");
        let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
        if names != want {
            problems.push(format!(
                "{tenant}: recorded resources {names:?}, want {want:?}"
            ));
        }
        let pending = state
            .pending_intents(tenant)
            .await
            .expect("pending intents");
        if !pending.is_empty() {
            problems.push(format!(
                "{tenant}: {} pending intents: {:?}",
                pending.len(),
                pending
                    .iter()
                    .map(|e| format!("{} {} {}", e.resource, e.action, e.run_id))
                    .collect::<Vec<_>>()
            ));
        }
        let ids: BTreeMap<String, String> = records
            .iter()
            .filter_map(|r| {
                r.outputs
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(|id| (r.name.clone(), id.to_string()))
            })
            .collect();
        for r in &records {
            let Some(id) = ids.get(&r.name) else {
                problems.push(format!(
                    "{tenant}/{}: no id in outputs {}",
                    r.name, r.outputs
                ));
                continue;
            };
            referenced.insert(id.clone(), (tenant.clone(), r.name.clone()));
            let tags = ownership::tags(tenant, crate::CRASH_BLUEPRINT, &r.name);
            let owned: Vec<_> = things
                .iter()
                .filter(|t| tags.iter().all(|(k, v)| t.tags.get(k) == Some(v)))
                .collect();
            if owned.len() != 1 {
                problems.push(format!(
                    "{tenant}/{}: {} things carry its tags (want exactly 1): {:?}",
                    r.name,
                    owned.len(),
                    owned.iter().map(|t| &t.id).collect::<Vec<_>>()
                ));
            } else if &owned[0].id != id {
                problems.push(format!(
                    "{tenant}/{}: state records id {id}, the cloud holds {}",
                    r.name, owned[0].id
                ));
            }
            // the parameters were resolved from the dependencies' actual ids
            if let Some(t) = owned.first() {
                let mut note = crash_blueprint().resources[&r.name].params["note"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                for (dep, dep_id) in &ids {
                    note = note.replace(&format!("${{{dep}.id}}"), dep_id);
                    note = note.replace(&format!("${{{dep}.name}}"), &format!("{tenant}-{dep}"));
                }
                if t.note != note {
                    problems.push(format!(
                        "{tenant}/{}: note {:?}, want {:?} (stale reference?)",
                        r.name, t.note, note
                    ));
                }
            }
        }
    }
    for t in &things {
        let tenant = t.tags.get(ownership::TENANT).cloned().unwrap_or_default();
        if !tenants.contains(&tenant) {
            continue;
        }
        if !referenced.contains_key(&t.id) {
            problems.push(format!(
                "orphan: thing {} ({:?}) is not referenced by state",
                t.id, t.tags
            ));
        }
    }
    for tenant in tenants {
        match engine
            .apply(
                &crash_blueprint(),
                &Tenant::new(tenant.clone()),
                ApplyOptions::default(),
            )
            .await
        {
            Ok(r) if r.is_success() => {
                let s = &r.summary;
                if s.created + s.updated + s.deleted != 0 || s.unchanged != CRASH_RESOURCES.len() {
                    problems.push(format!("{tenant}: re-apply was not a no-op: {s:?}"));
                }
            }
            Ok(r) => problems.push(format!("{tenant}: re-apply failed: {:?}", r.errors)),
            Err(e) => problems.push(format!("{tenant}: re-apply failed: {e}")),
        }
    }
    problems
}

/// Checks that every tenant in `tenants` ended archived, completely and consistently:
///
/// - its lifecycle record says `archived`, with no transition under way;
/// - exactly the resources of the archived phase are recorded, and no intent is pending;
/// - each recorded resource exists exactly once in the cloud (by ownership tags) with the
///   recorded id, and nothing of the tenant in the cloud is unreferenced (the absent
///   resources were deleted, once);
/// - the dump names the database as it was last recorded (taken before the database went);
/// - a plan of the archived phase has no changes.
pub async fn check_archived(setup: &Setup, tenants: &[String]) -> Vec<String> {
    use provisio_engine::{Phase, PlanOptions};
    let engine = engine(setup).await;
    let state = engine.state().clone();
    let cloud = FileCloud::open(&setup.store).expect("open the cloud");
    let things = cloud.list().expect("list the cloud");
    let want: BTreeSet<&str> = CRASH_ARCHIVED.iter().copied().collect();
    let bp = crash_blueprint();
    let view = bp.in_phase(Phase::Archived);
    let mut problems = Vec::new();
    for tenant in tenants {
        match state.get_phase(tenant).await.expect("phase") {
            Some(p) if p.phase == Phase::Archived && p.transition.is_none() => {}
            other => problems.push(format!("{tenant}: phase {other:?}, want archived")),
        }
        let records = state.list_resources(tenant).await.expect("list resources");
        let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
        if names != want {
            problems.push(format!("{tenant}: recorded {names:?}, want {want:?}"));
        }
        let pending = state.pending_intents(tenant).await.expect("pending");
        if !pending.is_empty() {
            problems.push(format!("{tenant}: {} pending intents", pending.len()));
        }
        let ids: BTreeSet<String> = records
            .iter()
            .filter_map(|r| {
                r.outputs
                    .get("id")
                    .and_then(|v| v.as_str())
                    .map(String::from)
            })
            .collect();
        for r in &records {
            let tags = ownership::tags(tenant, crate::CRASH_BLUEPRINT, &r.name);
            let owned: Vec<_> = things
                .iter()
                .filter(|t| tags.iter().all(|(k, v)| t.tags.get(k) == Some(v)))
                .collect();
            let recorded = r.outputs.get("id").and_then(|v| v.as_str());
            if owned.len() != 1 || Some(owned[0].id.as_str()) != recorded {
                problems.push(format!(
                    "{tenant}/{}: the cloud holds {:?}, state records {recorded:?}",
                    r.name,
                    owned.iter().map(|t| &t.id).collect::<Vec<_>>()
                ));
            }
        }
        for t in things
            .iter()
            .filter(|t| t.tags.get(ownership::TENANT) == Some(tenant))
        {
            if !ids.contains(&t.id) {
                problems.push(format!("{tenant}: orphan {} ({:?})", t.id, t.tags));
            }
        }
        // the dump was taken of the database's last recorded id
        let last_db = state
            .journal(tenant, 0)
            .await
            .expect("journal")
            .into_iter()
            .filter(|e| e.resource == "db")
            .filter_map(|e| e.detail.get("outputs").and_then(|o| o.get("id")).cloned())
            .next_back();
        let dump = things.iter().find(|t| {
            t.tags.get(ownership::TENANT) == Some(tenant)
                && t.tags.get(ownership::RESOURCE).map(String::as_str) == Some("dump")
        });
        match (dump, last_db.as_ref().and_then(|v| v.as_str())) {
            (Some(d), Some(db)) if d.note.starts_with(&format!("dump of {db} for ")) => {}
            (d, db) => problems.push(format!(
                "{tenant}: the dump {:?} does not name the database's last id {db:?}",
                d.map(|d| &d.note)
            )),
        }
        match engine
            .plan(&view, &Tenant::new(tenant.clone()), &PlanOptions::default())
            .await
        {
            Ok(p) if !p.has_changes() => {}
            Ok(p) => problems.push(format!(
                "{tenant}: the archived phase still has changes:\n{p}"
            )),
            Err(e) => problems.push(format!("{tenant}: plan of the archived phase failed: {e}")),
        }
    }
    problems
}
