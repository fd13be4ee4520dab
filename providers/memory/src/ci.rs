//! In-memory CI server with Jenkins' semantics: folders, jobs from config XML, queued builds.

use crate::faults::{Base, Changed, Faults, Read, Relinked};
use crate::inventory::Inventory;
use provisio::ci::{BuildRef, BuildResult, CiCapabilities, CiServer, Job, Linked};
use provisio::{Deleted, Ensured, Error, Provider, ProviderInfo, Result, async_trait, validate};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a triggered build waits in the queue unless configured otherwise.
pub const DEFAULT_QUEUE_TIME: Duration = Duration::from_millis(5);
/// How long a build runs unless configured otherwise.
pub const DEFAULT_BUILD_DURATION: Duration = Duration::from_millis(20);
/// The base URL of job URLs.
pub const BASE_URL: &str = "http://jenkins.memory.invalid";
/// The config a folder reports (what the cloudbees-folder plugin stores).
pub const FOLDER_CONFIG: &str =
    "<?xml version='1.1' encoding='UTF-8'?>\n<com.cloudbees.hudson.plugins.folder.Folder/>";
const POLL_INTERVAL: Duration = Duration::from_millis(5);

#[derive(Debug, Clone)]
struct Build {
    number: u64,
    started: Instant,
    duration: Duration,
    result: BuildResult,
    parameters: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
enum Item {
    Folder,
    Job {
        config: String,
        next_build: u64,
        builds: Vec<Build>,
        /// The jobs this one triggers when it finishes, in the order they were added.
        downstream: Vec<String>,
    },
}

#[derive(Debug)]
pub(crate) struct State {
    items: BTreeMap<String, Item>,
    queue_time: Duration,
    build_duration: Duration,
    default_result: BuildResult,
    results: BTreeMap<String, BuildResult>,
}

/// An in-memory Jenkins: a tree of folders and jobs.
///
/// `ensure_folder` creates missing parents; `ensure_job` needs its folder to exist (`NotFound`
/// otherwise) and well-formed XML (`InvalidInput`); deleting a folder deletes everything in it;
/// builds are numbered per job from 1, wait in the queue for the queue time, then run for the
/// build duration and end with the result configured for the job (default `SUCCESS`).
///
/// Each job has a list of downstream jobs (the jobs it triggers when it finishes), kept beside
/// its config XML rather than in it: `add_downstream` and `remove_downstream` edit it in one
/// atomic step, `get_job_config` returns the XML as it was given, and `ensure_job` sets the
/// job to exactly the XML it is given, which lists no downstream jobs: a job whose list is not
/// empty is `Updated` and its list emptied (Jenkins keeps the list in the XML, so the given XML
/// replaces it, and a config rendered from a template usually lists none). The downstream
/// jobs need not exist; deleting a job does not remove it from other jobs' lists.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use provisio::CiServer;
/// use provisio::ci::BuildResult;
/// let ci = provisio_memory::MemoryCi::new();
/// ci.ensure_folder("tenants/acme").await.unwrap();
/// ci.ensure_job("tenants/acme/deploy", "<project/>").await.unwrap();
/// let b = ci.trigger_build("tenants/acme/deploy", &Default::default()).await.unwrap();
/// assert_eq!(b.number, 1);
/// let r = ci.wait_for_build(&b, std::time::Duration::from_secs(1)).await.unwrap();
/// assert_eq!(r, BuildResult::Success);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryCi {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryCi {
    fn default() -> Self {
        Self::new()
    }
}

fn job_url(path: &str) -> String {
    let mut url = BASE_URL.to_string();
    for seg in path.split('/') {
        url.push_str("/job/");
        url.push_str(seg);
    }
    url.push('/');
    url
}

pub(crate) fn parent(path: &str) -> Option<&str> {
    path.rsplit_once('/').map(|(p, _)| p)
}

fn config_digest(config: &str) -> String {
    crate::faults::hex_id(&[config.as_bytes()], 64)
}

impl MemoryCi {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-ci";

    /// An empty server with no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A server using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryCi {
            base: Base::new(faults, Self::DEFAULT_ACCOUNT, crate::persist::Section::Ci),
            state: Mutex::new(State {
                items: BTreeMap::new(),
                queue_time: DEFAULT_QUEUE_TIME,
                build_duration: DEFAULT_BUILD_DURATION,
                default_result: BuildResult::Success,
                results: BTreeMap::new(),
            }),
        }
    }

    /// The same server acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets how long triggered builds wait in the queue.
    pub fn set_queue_time(&self, d: Duration) {
        self.lock().queue_time = d;
    }

    /// Sets how long builds started from now on run.
    pub fn set_build_duration(&self, d: Duration) {
        self.lock().build_duration = d;
    }

    /// Sets the result of builds of jobs without a result of their own.
    pub fn set_default_build_result(&self, result: BuildResult) {
        self.lock().default_result = result;
    }

    /// Sets the result of builds of the job at `path` started from now on.
    pub fn set_build_result(&self, path: &str, result: BuildResult) {
        self.lock().results.insert(path.to_string(), result);
    }

    /// The numbers and parameters of the builds of a job, oldest first.
    pub fn builds(&self, path: &str) -> Vec<(u64, BTreeMap<String, String>)> {
        match self.lock().items.get(path) {
            Some(Item::Job { builds, .. }) => builds
                .iter()
                .map(|b| (b.number, b.parameters.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every folder (`ci.folder`), job (`ci.job`, with the SHA-256 of its config) and
    /// downstream reference (`ci.downstream`, `<job> -> <downstream>`).
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (path, item) in &s.items {
            match item {
                Item::Folder => inv.insert("ci.folder", path.clone(), json!({})),
                Item::Job {
                    config, downstream, ..
                } => {
                    inv.insert(
                        "ci.job",
                        path.clone(),
                        json!({ "config_sha256": config_digest(config) }),
                    );
                    for d in downstream {
                        inv.insert(
                            "ci.downstream",
                            format!("{path} -> {d}"),
                            json!({ "job": path, "downstream": d }),
                        );
                    }
                }
            }
        }
        inv
    }

    /// Nothing is retired in CI: deleted jobs are gone.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }
}

/// Checks that every ancestor folder of `path` exists.
fn check_parent(items: &BTreeMap<String, Item>, path: &str) -> Result<()> {
    if let Some(p) = parent(path) {
        match items.get(p) {
            Some(Item::Folder) => {}
            Some(Item::Job { .. }) => {
                return Err(Error::conflict(format!(
                    "{p} is a job, not a folder: it cannot hold {path}"
                )));
            }
            None => {
                return Err(Error::not_found(format!(
                    "folder {p} does not exist (create it first)"
                ))
                .with_resource(p));
            }
        }
    }
    Ok(())
}

fn not_a_job(path: &str) -> Error {
    Error::conflict(format!(
        "{path} is a folder, not a job: it has no downstream jobs"
    ))
    .with_resource(path)
}

impl MemoryCi {
    /// Adds (`add`) or removes `downstream` in `job`'s list, under the state lock.
    fn edit_downstream(&self, job: &str, downstream: &str, add: bool) -> Result<Relinked> {
        let path = validate::jenkins_job_path("job path", job)?;
        let downstream = validate::jenkins_job_path("downstream", downstream)?;
        if downstream.contains(',') {
            // Jenkins keeps the list as comma-separated text
            return Err(Error::invalid_field(
                "downstream",
                format!("{downstream:?} must not contain ',' (the list separator)"),
            ));
        }
        let mut s = self.lock();
        let list = match s.items.get_mut(&path) {
            None => return Ok(Relinked(None)),
            Some(Item::Folder) => return Err(not_a_job(&path)),
            Some(Item::Job { downstream, .. }) => downstream,
        };
        let was_listed = list.contains(&downstream);
        if add {
            // the reference is the resource of a `ci.downstream` step
            provisio::existence::found(was_listed);
        }
        let changed = if add { !was_listed } else { was_listed };
        if changed {
            if add {
                list.push(downstream);
            } else {
                list.retain(|d| *d != downstream);
            }
        }
        Ok(Relinked(Some(Linked {
            was_listed,
            changed,
        })))
    }
}

/// CI's part of a [`crate::MemorySnapshot`]: the folder and job tree with every build, the
/// build settings and the per-job results. A running build keeps what is left of its run time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CiSnapshot {
    items: Vec<ItemSnapshot>,
    queue_time: Duration,
    build_duration: Duration,
    default_result: BuildResult,
    results: BTreeMap<String, BuildResult>,
}

/// A folder (no `job`) or a job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemSnapshot {
    path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    job: Option<JobSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JobSnapshot {
    config: String,
    next_build: u64,
    builds: Vec<BuildSnapshot>,
    /// Absent in worlds written before downstream lists were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    downstream: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildSnapshot {
    number: u64,
    result: BuildResult,
    parameters: BTreeMap<String, String>,
    /// How much longer it runs (zero once finished).
    remaining: Duration,
}

impl MemoryCi {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> CiSnapshot {
        let now = Instant::now();
        let s = self.lock();
        CiSnapshot {
            items: s
                .items
                .iter()
                .map(|(path, item)| ItemSnapshot {
                    path: path.clone(),
                    job: match item {
                        Item::Folder => None,
                        Item::Job {
                            config,
                            next_build,
                            builds,
                            downstream,
                        } => Some(JobSnapshot {
                            config: config.clone(),
                            downstream: downstream.clone(),
                            next_build: *next_build,
                            builds: builds
                                .iter()
                                .map(|b| BuildSnapshot {
                                    number: b.number,
                                    result: b.result,
                                    parameters: b.parameters.clone(),
                                    remaining: (b.started + b.duration)
                                        .saturating_duration_since(now),
                                })
                                .collect(),
                        }),
                    },
                })
                .collect(),
            queue_time: s.queue_time,
            build_duration: s.build_duration,
            default_result: s.default_result,
            results: s.results.clone(),
        }
    }

    /// Replaces everything this provider holds with `snap`; remaining run times count from now.
    pub(crate) fn prepare_restore(&self, snap: CiSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        let now = Instant::now();
        bounded("ci queue_time", snap.queue_time)?;
        bounded("ci build_duration", snap.build_duration)?;
        let mut items = BTreeMap::new();
        for i in snap.items {
            let item = match i.job {
                None => Item::Folder,
                Some(j) => {
                    if j.builds
                        .iter()
                        .any(|b| b.number == 0 || b.number >= j.next_build)
                    {
                        return Err(corrupt(format!(
                            "ci job {} has a build numbered outside 1..{}",
                            i.path, j.next_build
                        )));
                    }
                    for b in &j.builds {
                        bounded("build remaining", b.remaining)?;
                    }
                    for (k, d) in j.downstream.iter().enumerate() {
                        if validate::jenkins_job_path("downstream", d).is_err()
                            || d.contains(',')
                            || j.downstream[..k].contains(d)
                        {
                            return Err(corrupt(format!(
                                "ci job {} lists the downstream job {d:?} twice or by an invalid path",
                                i.path
                            )));
                        }
                    }
                    Item::Job {
                        config: j.config,
                        downstream: j.downstream,
                        next_build: j.next_build,
                        builds: j
                            .builds
                            .into_iter()
                            .map(|b| Build {
                                number: b.number,
                                started: now,
                                duration: b.remaining,
                                result: b.result,
                                parameters: b.parameters,
                            })
                            .collect(),
                    }
                }
            };
            if items.insert(i.path.clone(), item).is_some() {
                return Err(corrupt(format!("ci item {} appears twice", i.path)));
            }
        }
        for path in items.keys() {
            if let Some(p) = parent(path)
                && !matches!(items.get(p), Some(Item::Folder))
            {
                return Err(corrupt(format!(
                    "ci item {path} is not inside a folder {p}"
                )));
            }
        }
        Ok(State {
            items,
            queue_time: snap.queue_time,
            build_duration: snap.build_duration,
            default_result: snap.default_result,
            results: snap.results,
        })
    }

    /// Installs a state made by [`MemoryCi::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

/// Each CI item's JSON as last written, with the item it was made from: job configs make the
/// CI section the largest part of a world, and most writes change one job or none, so an
/// item equal to the one last written reuses its JSON.
#[derive(Debug, Default)]
pub(crate) struct CiJson(std::collections::HashMap<String, (ItemSnapshot, String)>);

impl crate::snapshot::SnapshotSection for MemoryCi {
    type JsonCache = CiJson;
    fn section_json(snap: CiSnapshot, cache: &mut CiJson) -> serde_json::Result<String> {
        // Field by field in declaration order, as the derived `Serialize` writes them
        // (the tests compare with `serde_json::to_string`).
        let CiSnapshot {
            items,
            queue_time,
            build_duration,
            default_result,
            results,
        } = snap;
        let mut next = std::collections::HashMap::with_capacity(items.len());
        let mut out = String::from("{\"items\":[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let json = match cache.0.remove(&item.path) {
                Some((old, json)) if old == item => json,
                _ => serde_json::to_string(&item)?,
            };
            out.push_str(&json);
            next.insert(item.path.clone(), (item, json));
        }
        cache.0 = next;
        for (key, value) in [
            ("queue_time", serde_json::to_string(&queue_time)?),
            ("build_duration", serde_json::to_string(&build_duration)?),
            ("default_result", serde_json::to_string(&default_result)?),
            ("results", serde_json::to_string(&results)?),
        ] {
            out.push_str(if key == "queue_time" { "]," } else { "," });
            out.push('"');
            out.push_str(key);
            out.push_str("\":");
            out.push_str(&value);
        }
        out.push('}');
        Ok(out)
    }
    type Snapshot = CiSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> CiSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: CiSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut CiSnapshot, elapsed: Duration) {
        for job in snap.items.iter_mut().filter_map(|i| i.job.as_mut()) {
            for b in &mut job.builds {
                b.remaining = b.remaining.saturating_sub(elapsed);
            }
        }
    }
    fn longest_clock(snap: &CiSnapshot) -> Option<Duration> {
        snap.items
            .iter()
            .filter_map(|i| i.job.as_ref())
            .flat_map(|j| j.builds.iter().map(|b| b.remaining))
            .filter(|d| !d.is_zero())
            .max()
    }
}

impl Provider for MemoryCi {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl CiServer for MemoryCi {
    fn capabilities(&self) -> CiCapabilities {
        CiCapabilities {
            folders: true,
            parameters: true,
            downstream: true,
        }
    }

    async fn ensure_folder(&self, path: &str) -> Result<Ensured<String>> {
        self.base
            .run_ensure("ci.ensure_folder", path, async {
                let path = validate::jenkins_job_path("folder path", path)?;
                let mut s = self.lock();
                let mut prefix = String::new();
                let mut outcome = Ensured::unchanged(path.clone());
                // Check the whole chain first, so a conflict changes nothing.
                for seg in path.split('/') {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(seg);
                    if let Some(Item::Job { .. }) = s.items.get(&prefix) {
                        return Err(Error::conflict(format!("{prefix} is a job, not a folder"))
                            .with_resource(prefix));
                    }
                }
                prefix.clear();
                for seg in path.split('/') {
                    if !prefix.is_empty() {
                        prefix.push('/');
                    }
                    prefix.push_str(seg);
                    if !s.items.contains_key(&prefix) {
                        s.items.insert(prefix.clone(), Item::Folder);
                        outcome = Ensured::created(path.clone());
                    }
                }
                Ok(outcome)
            })
            .await
    }

    async fn ensure_job(&self, path: &str, config_xml: &str) -> Result<Ensured<Job>> {
        self.base
            .run_ensure("ci.ensure_job", path, async {
                let path = validate::jenkins_job_path("job path", path)?;
                check_xml(config_xml)?;
                let mut s = self.lock();
                check_parent(&s.items, &path)?;
                let job = Job {
                    path: path.clone(),
                    url: Some(job_url(&path)),
                };
                match s.items.get_mut(&path) {
                    Some(Item::Folder) => {
                        Err(Error::conflict(format!("{path} is a folder, not a job")))
                    }
                    Some(Item::Job {
                        config, downstream, ..
                    }) if config.as_str() == config_xml && downstream.is_empty() => {
                        Ok(Ensured::unchanged(job))
                    }
                    Some(Item::Job {
                        config, downstream, ..
                    }) => {
                        // The given XML replaces the whole job, its downstream list too.
                        *config = config_xml.to_string();
                        downstream.clear();
                        Ok(Ensured::updated(job))
                    }
                    None => {
                        s.items.insert(
                            path,
                            Item::Job {
                                config: config_xml.to_string(),
                                next_build: 1,
                                builds: Vec::new(),
                                downstream: Vec::new(),
                            },
                        );
                        Ok(Ensured::created(job))
                    }
                }
            })
            .await
    }

    async fn downstream_jobs(&self, job: &str) -> Result<Option<Vec<String>>> {
        self.base
            .run("ci.downstream_jobs", job, async {
                let path = validate::jenkins_job_path("job path", job)?;
                match self.lock().items.get(&path) {
                    None => Ok(Read(None)),
                    Some(Item::Folder) => Err(not_a_job(&path)),
                    Some(Item::Job { downstream, .. }) => Ok(Read(Some(downstream.clone()))),
                }
            })
            .await
    }

    /// One atomic step (under the provider's lock, and a persisted world's file lock): no
    /// writer in this or another process can slip in between the read and the write.
    async fn add_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        self.base
            .run("ci.add_downstream", job, async {
                self.edit_downstream(job, downstream, true)
            })
            .await
    }

    /// One atomic step, like `add_downstream`.
    async fn remove_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        self.base
            .run("ci.remove_downstream", job, async {
                self.edit_downstream(job, downstream, false)
            })
            .await
    }

    async fn get_job_config(&self, path: &str) -> Result<Option<String>> {
        self.base
            .run("ci.get_job_config", path, async {
                let path = validate::jenkins_job_path("job path", path)?;
                Ok(Read(self.lock().items.get(&path).map(|i| match i {
                    Item::Folder => FOLDER_CONFIG.to_string(),
                    Item::Job { config, .. } => config.clone(),
                })))
            })
            .await
    }

    async fn delete_job(&self, path: &str) -> Result<Deleted> {
        self.base
            .run("ci.delete_job", path, async {
                let path = validate::jenkins_job_path("job path", path)?;
                let mut s = self.lock();
                if s.items.remove(&path).is_none() {
                    return Ok(Deleted::AlreadyGone);
                }
                let children = format!("{path}/");
                s.items.retain(|k, _| !k.starts_with(&children));
                Ok(Deleted::Deleted)
            })
            .await
    }

    async fn trigger_build(
        &self,
        path: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<BuildRef> {
        // The quiet period: the build gets its number when it leaves the queue. Waited out
        // before the call's body, so that a persisted world's lock is not held meanwhile.
        let queue_time = self.lock().queue_time;
        if !queue_time.is_zero() {
            tokio::time::sleep(queue_time).await;
        }
        self.base
            .run("ci.trigger_build", path, async {
                let path = validate::jenkins_job_path("job path", path)?;
                if parameters.keys().any(|k| k.is_empty()) {
                    return Err(Error::invalid_field(
                        "build parameters",
                        "parameter names must not be empty",
                    ));
                }
                let mut s = self.lock();
                let duration = s.build_duration;
                let result = s.results.get(&path).copied().unwrap_or(s.default_result);
                match s.items.get_mut(&path) {
                    Some(Item::Job {
                        next_build, builds, ..
                    }) => {
                        let number = *next_build;
                        *next_build += 1;
                        builds.push(Build {
                            number,
                            started: Instant::now(),
                            duration,
                            result,
                            parameters: parameters.clone(),
                        });
                        Ok(Changed(BuildRef {
                            job: path.clone(),
                            number,
                        }))
                    }
                    Some(Item::Folder) => Err(Error::conflict(format!(
                        "{path} is a folder and cannot be built"
                    ))),
                    None => Err(Error::not_found(format!("job {path} does not exist"))),
                }
            })
            .await
    }

    async fn wait_for_build(&self, build: &BuildRef, timeout: Duration) -> Result<BuildResult> {
        let resource = format!("{}#{}", build.job, build.number);
        self.base
            .run_polling("ci.wait_for_build", &resource, async {
                let path = validate::jenkins_job_path("job path", &build.job)?;
                let deadline = Instant::now() + timeout;
                loop {
                    let now = Instant::now();
                    let (end, result) = {
                        let s = self.lock();
                        let b = match s.items.get(&path) {
                            Some(Item::Job { builds, .. }) => {
                                builds.iter().find(|b| b.number == build.number)
                            }
                            _ => {
                                return Err(Error::not_found(format!("job {path} does not exist")));
                            }
                        };
                        let b = b.ok_or_else(|| {
                            Error::not_found(format!(
                                "build {path} #{} does not exist",
                                build.number
                            ))
                        })?;
                        (b.started + b.duration, b.result)
                    };
                    if now >= end {
                        return Ok(Read(result));
                    }
                    if now >= deadline {
                        return Err(Error::timeout(format!(
                            "build {path} #{} still running after {timeout:?}",
                            build.number
                        )));
                    }
                    tokio::time::sleep(POLL_INTERVAL.min(end - now).min(deadline - now)).await;
                }
            })
            .await
    }
}

/// Checks that `xml` is a well-formed XML document (what Jenkins' XStream needs before it can
/// even look at the config); see [`validate::xml_document`].
pub fn check_xml(xml: &str) -> Result<()> {
    validate::xml_document("job config_xml", xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome};

    const JOB: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>a &amp; b</description>\n  <!-- c -->\n  <builders><hudson.tasks.Shell><command><![CDATA[echo <hi>]]></command></hudson.tasks.Shell></builders>\n  <disabled a=\"1\" b='2'/>\n</project>\n";

    #[test]
    fn xml_checks() {
        // The rules are tested with `validate::xml_document`; this is the field it names.
        assert!(check_xml(JOB).is_ok());
        let e = check_xml("<project>").unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(e.to_string().contains("invalid job config_xml"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn folders_and_jobs() {
        let ci = MemoryCi::new();
        let e = ci.ensure_job("tenants/acme/deploy", JOB).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert_eq!(
            ci.ensure_folder("tenants/acme").await.unwrap().outcome,
            Outcome::Created
        );
        assert_eq!(
            ci.ensure_folder("tenants/acme").await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            ci.ensure_folder("tenants").await.unwrap().outcome,
            Outcome::Unchanged
        );
        let j = ci.ensure_job("tenants/acme/deploy", JOB).await.unwrap();
        assert_eq!(j.outcome, Outcome::Created);
        assert_eq!(
            j.value.url.as_deref(),
            Some("http://jenkins.memory.invalid/job/tenants/job/acme/job/deploy/")
        );
        assert_eq!(
            ci.ensure_job("tenants/acme/deploy", JOB)
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            ci.ensure_job("tenants/acme/deploy", "<project/>")
                .await
                .unwrap()
                .outcome,
            Outcome::Updated
        );
        assert_eq!(
            ci.get_job_config("tenants/acme/deploy")
                .await
                .unwrap()
                .as_deref(),
            Some("<project/>")
        );
        assert_eq!(ci.get_job_config("tenants/acme/nope").await.unwrap(), None);
        assert_eq!(
            ci.ensure_job("tenants/acme/bad", "<project>")
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(
            ci.ensure_job("tenants/ac?me", JOB)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(
            ci.ensure_folder("tenants/acme/deploy/sub")
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Conflict
        );
        assert_eq!(ci.inventory().count("ci.job"), 1);
        assert_eq!(ci.delete_job("tenants").await.unwrap(), Deleted::Deleted);
        assert_eq!(
            ci.delete_job("tenants/acme/deploy").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert!(ci.inventory().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn downstream_lists() {
        let ci = MemoryCi::new();
        ci.ensure_folder("umbrella").await.unwrap();
        ci.ensure_job("umbrella/all", JOB).await.unwrap();
        let linked = |was_listed, changed| {
            Some(Linked {
                was_listed,
                changed,
            })
        };
        assert_eq!(
            ci.add_downstream("umbrella/all", "t/a").await.unwrap(),
            linked(false, true)
        );
        assert_eq!(
            ci.add_downstream("umbrella/all", "t/b").await.unwrap(),
            linked(false, true)
        );
        assert_eq!(
            ci.add_downstream("umbrella/all", "t/a").await.unwrap(),
            linked(true, false)
        );
        assert_eq!(
            ci.downstream_jobs("umbrella/all").await.unwrap(),
            Some(vec!["t/a".to_string(), "t/b".to_string()])
        );
        assert!(
            ci.inventory()
                .contains("ci.downstream", "umbrella/all -> t/b")
        );
        // The XML is kept as it was given.
        assert_eq!(
            ci.get_job_config("umbrella/all").await.unwrap().as_deref(),
            Some(JOB)
        );
        assert_eq!(
            ci.remove_downstream("umbrella/all", "t/a").await.unwrap(),
            linked(true, true)
        );
        assert_eq!(
            ci.remove_downstream("umbrella/all", "t/a").await.unwrap(),
            linked(false, false)
        );
        // Missing jobs, folders and bad names.
        assert_eq!(ci.downstream_jobs("umbrella/none").await.unwrap(), None);
        assert_eq!(
            ci.add_downstream("umbrella/none", "t/a").await.unwrap(),
            None
        );
        assert_eq!(ci.remove_downstream("nope", "t/a").await.unwrap(), None);
        for e in [
            ci.downstream_jobs("umbrella").await.unwrap_err(),
            ci.add_downstream("umbrella", "t/a").await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        }
        let e = ci.add_downstream("umbrella/all", "a,b?").await.unwrap_err();
        assert!(e.to_string().contains("invalid downstream"), "{e}");

        // Setting the job's XML again replaces its list, as Jenkins replaces the XML holding it.
        assert_eq!(
            ci.ensure_job("umbrella/all", JOB).await.unwrap().outcome,
            Outcome::Updated
        );
        assert_eq!(
            ci.downstream_jobs("umbrella/all").await.unwrap(),
            Some(vec![])
        );
        assert_eq!(
            ci.ensure_job("umbrella/all", JOB).await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(ci.inventory().count("ci.downstream"), 0);

        // Faults by operation name; a failed edit changed nothing.
        ci.faults().reset_counters();
        ci.faults()
            .error_on_call("ci.add_downstream", 1, ErrorKind::Transient);
        let e = ci.add_downstream("umbrella/all", "t/c").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert_eq!(
            ci.downstream_jobs("umbrella/all").await.unwrap(),
            Some(vec![])
        );
        assert_eq!(ci.faults().calls("ci.add_downstream"), 1);
    }

    #[test]
    fn snapshots_without_downstream_lists_still_load() {
        let old = r#"{"items":[{"path":"j","job":{"config":"<project/>","next_build":1,"builds":[]}}],"queue_time":{"secs":0,"nanos":5000000},"build_duration":{"secs":0,"nanos":20000000},"default_result":"SUCCESS","results":{}}"#;
        let snap: CiSnapshot = serde_json::from_str(old).unwrap();
        let ci = MemoryCi::new();
        ci.install(ci.prepare_restore(snap.clone()).unwrap());
        assert_eq!(ci.snapshot(), snap);
        assert_eq!(serde_json::to_string(&snap).unwrap(), old);
        let twice = old.replace(r#""builds":[]"#, r#""builds":[],"downstream":["a","a"]"#);
        let snap: CiSnapshot = serde_json::from_str(&twice).unwrap();
        let e = ci.prepare_restore(snap).unwrap_err();
        assert!(e.to_string().contains("twice"), "{e}");
    }

    #[tokio::test(start_paused = true)]
    async fn builds() {
        let ci = MemoryCi::new();
        ci.ensure_job("deploy", JOB).await.unwrap();
        ci.ensure_job("flaky", JOB).await.unwrap();
        ci.set_build_result("flaky", BuildResult::Failure);
        let params: BTreeMap<String, String> = [("TENANT".to_string(), "acme".to_string())].into();
        let b1 = ci.trigger_build("deploy", &params).await.unwrap();
        let b2 = ci.trigger_build("deploy", &BTreeMap::new()).await.unwrap();
        assert_eq!((b1.number, b2.number), (1, 2));
        assert_eq!(ci.builds("deploy")[0].1, params);
        assert_eq!(
            ci.wait_for_build(&b1, Duration::from_secs(1))
                .await
                .unwrap(),
            BuildResult::Success
        );
        let f = ci.trigger_build("flaky", &BTreeMap::new()).await.unwrap();
        assert_eq!(f.number, 1);
        assert_eq!(
            ci.wait_for_build(&f, Duration::from_secs(1)).await.unwrap(),
            BuildResult::Failure
        );
        ci.set_build_duration(Duration::from_secs(600));
        let slow = ci.trigger_build("deploy", &BTreeMap::new()).await.unwrap();
        let e = ci
            .wait_for_build(&slow, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert_eq!(
            ci.trigger_build("nope", &BTreeMap::new())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        let missing = BuildRef {
            job: "deploy".into(),
            number: 99,
        };
        assert_eq!(
            ci.wait_for_build(&missing, Duration::ZERO)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
    }
}
