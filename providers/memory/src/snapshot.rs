//! Snapshots of a whole [`MemoryCloud`], so a memory world outlives the process that made it.
//!
//! A snapshot written to a file and read back carries a world from one process to the next
//! (it is also the file format of [`MemoryCloud::open`]'s persisted worlds, which the
//! `provisio` CLI uses so that `apply`, `plan` and `destroy` in separate processes, even at
//! once, see one world: see [`crate::persist`]):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use provisio::SecretStore;
//! use provisio_memory::MemoryCloud;
//! let dir = std::env::temp_dir().join(format!("provisio-doc-{}", std::process::id()));
//! let path = dir.join("memory.json");
//! let cloud = MemoryCloud::load(7, &path).unwrap().unwrap_or_else(|| MemoryCloud::new(7));
//! let pw = provisio::SecretString::new("s3cr3t");
//! cloud.secrets.put_secret("acme-db", &pw, &Default::default()).await.unwrap();
//! cloud.save(&path).unwrap();
//!
//! // the next process
//! let again = MemoryCloud::load(7, &path).unwrap().expect("saved above");
//! assert_eq!(again.secrets.get_secret("acme-db").await.unwrap().value.expose(), "s3cr3t");
//! assert_eq!(again.inventory(), cloud.inventory());
//! # std::fs::remove_dir_all(&dir).unwrap();
//! # });
//! ```
//!
//! What a snapshot holds, and what it does not:
//!
//! - **Everything the ten providers hold**: zones, records and the record counter; buckets,
//!   their settings and expiry rules, objects (bodies as text, or base64 when not UTF-8, and
//!   storage classes), storage's day clock and foreign bucket names; instances with their ids, addresses and life-cycle state, the launch counter and
//!   the position of the id generator; the CI tree with configs, builds and results; every
//!   version of every secret *with its value* (see below), soft-deleted secrets and their
//!   recovery windows; database servers, final snapshots, roles, databases and seeds; every
//!   commit and branch of the repository; mail identities; the probe's table of answers (what
//!   is left of each sequence) and its default answer; the host's directories, files and scripted command answers (not its
//!   command log). The timing settings
//!   (`set_boot_time`, `set_build_duration`, `set_create_time`, `set_verification_delay`, ...)
//!   and the per-job build results are kept too; set them again after loading to change them.
//! - **Time**: the providers measure time with `tokio::time::Instant`, which cannot be written
//!   down. A snapshot stores *what is left* of every running clock (an instance's boot or
//!   shutdown time, a build's run time, a server's creation time, an identity's verification
//!   delay, a soft-deleted secret's recovery window, an object's restore from an archive
//!   class) and a restore restarts each from the
//!   moment of the restore. Time therefore stands still while no process holds the world: a
//!   pending instance saved 5 ms before it would have been running is running 5 ms after the
//!   next load, however long the file sat on disk. This keeps the mocks deterministic (and
//!   works with paused test time); the default delays are milliseconds, so a world saved after
//!   an apply is settled by the time the next command looks at it.
//! - **Randomness**: instance ids come from a generator seeded with the cloud's seed. A
//!   snapshot stores how many ids were drawn; a restore with the same seed rebuilds the
//!   generator at that point, so ids continue exactly as they would have in one process. With
//!   another seed, ids continue from that seed's sequence and still never collide (a launch
//!   skips ids in use). Every other id (records, secret versions, commits) derives from the
//!   seed and a stored counter or the content, so none is ever reused.
//! - **Not kept**: [`crate::Faults`] (rules, counters, the call log) and provider account
//!   names. They describe a test run, not the world: every process starts with fresh faults
//!   from the seed it passes to [`MemoryCloud::from_snapshot`] or [`MemoryCloud::load`].
//! - **Secrets**: a snapshot is the mock secret store's storage, so it keeps every secret value
//!   in clear text in the JSON, the way a real secret store keeps them. [`MemoryCloud::save`]
//!   writes the file with mode 0600 on unix. The snapshot's `Debug` never shows them.
//!   Database passwords are kept as fingerprints only, as the provider itself keeps them.

use crate::MemoryCloud;
use crate::ci::CiSnapshot;
use crate::compute::ComputeSnapshot;
use crate::database::DatabaseSnapshot;
use crate::dns::DnsSnapshot;
use crate::host::HostSnapshot;
use crate::mail::MailSnapshot;
use crate::probe::ProbeSnapshot;
use crate::repo::RepoSnapshot;
use crate::secrets::SecretsSnapshot;
use crate::storage::StorageSnapshot;
use provisio::{Error, ErrorKind, Result, SecretString};
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// The snapshot format this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The longest remaining time or timing setting a snapshot may hold (ten years), so that a
/// corrupt file cannot make a clock overflow.
const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The complete state of a [`MemoryCloud`]'s providers, as [`MemoryCloud::snapshot`] takes it
/// and [`MemoryCloud::from_snapshot`] restores it (see [`crate::snapshot`] for what it
/// holds). It serializes to JSON (or any serde format) with `version` first; the per-provider
/// sections are private so that their layout can change with the version.
///
/// ```
/// use provisio_memory::{MemoryCloud, MemorySnapshot, SNAPSHOT_VERSION};
/// let cloud = MemoryCloud::new(1);
/// cloud.dns.add_zone("example.com");
/// let snap = cloud.snapshot();
/// assert_eq!(snap.version, SNAPSHOT_VERSION);
/// let json = snap.to_json().unwrap();
/// let back = MemorySnapshot::from_json(&json).unwrap();
/// assert_eq!(back, snap);
/// let restored = MemoryCloud::from_snapshot(1, back).unwrap();
/// assert_eq!(restored.inventory(), cloud.inventory());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySnapshot {
    /// The format version ([`SNAPSHOT_VERSION`] when written by this build).
    pub version: u32,
    /// The seed of the cloud the snapshot was taken from (for information: a restore uses the
    /// seed it is given).
    pub seed: u64,
    /// When a persisted world wrote this file (milliseconds since the Unix epoch): the next
    /// process to open it moves every clock forward by the time since (see
    /// [`crate::persist`]). `None` in [`MemoryCloud::snapshot`]s, whose clocks stand still
    /// between processes; [`MemoryCloud::from_snapshot`] and [`MemoryCloud::load`] ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_at_ms: Option<u64>,
    dns: DnsSnapshot,
    storage: StorageSnapshot,
    compute: ComputeSnapshot,
    ci: CiSnapshot,
    secrets: SecretsSnapshot,
    database: DatabaseSnapshot,
    repo: RepoSnapshot,
    mail: MailSnapshot,
    /// Absent in snapshots written before the probe existed: every URL answers `200 ok`.
    #[serde(default)]
    probe: ProbeSnapshot,
    /// Absent from snapshots written before the host existed: an empty host.
    #[serde(default)]
    host: HostSnapshot,
}

/// Only the version, read before the rest so that a file of another version gets a clear
/// error instead of a complaint about its layout.
#[derive(serde::Deserialize)]
pub(crate) struct VersionOnly {
    pub(crate) version: Option<u64>,
}

pub(crate) fn check_version(version: u64) -> Result<()> {
    if version == u64::from(SNAPSHOT_VERSION) {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "memory snapshot version {version} is not supported: this build reads version {SNAPSHOT_VERSION}"
        )))
    }
}

impl MemorySnapshot {
    /// The snapshot as pretty-printed JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::unexpected("cannot serialize the memory snapshot").with_source(e))
    }

    /// Reads a snapshot from JSON: `InvalidInput` when the text is not a snapshot, and a clear
    /// `InvalidInput` naming both versions when it is one of another version.
    pub fn from_json(text: &str) -> Result<MemorySnapshot> {
        let bad = |e: serde_json::Error| {
            Error::invalid_input(format!("not a valid memory snapshot: {e}"))
        };
        let head: VersionOnly = serde_json::from_str(text).map_err(bad)?;
        let version = head.version.ok_or_else(|| {
            Error::invalid_input("not a valid memory snapshot: it has no `version` number")
        })?;
        check_version(version)?;
        serde_json::from_str(text).map_err(bad)
    }
}

/// A secret value as the mock secret store keeps it in a snapshot: serialized in clear (it is
/// the store's own storage), never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct StoredSecret(pub(crate) SecretString);

impl std::fmt::Debug for StoredSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl serde::Serialize for StoredSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.0.expose())
    }
}

impl<'de> serde::Deserialize<'de> for StoredSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        SecretString::deserialize(d).map(StoredSecret)
    }
}

/// The error for a snapshot whose content is inconsistent.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("inconsistent memory snapshot: {what}"))
}

/// Checks that a stored duration is at most [`MAX_DURATION`].
pub(crate) fn bounded(what: &str, d: Duration) -> Result<Duration> {
    if d <= MAX_DURATION {
        Ok(d)
    } else {
        Err(corrupt(format!(
            "{what} of {d:?} is longer than {MAX_DURATION:?}"
        )))
    }
}

pub(crate) fn io_error(action: &str, path: &Path, e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        _ => ErrorKind::Unexpected,
    };
    Error::new(
        kind,
        format!("cannot {action} memory world file {}", path.display()),
    )
    .with_resource(path.display().to_string())
    .with_source(e)
}

pub(crate) fn in_file(path: &Path, e: Error) -> Error {
    Error::new(
        e.kind().clone(),
        format!("memory world file {}: {}", path.display(), e.message()),
    )
    .with_resource(path.display().to_string())
}

/// Writes `data` to `path` atomically: a temporary file in the same directory (mode 0600 on
/// unix), flushed to disk, then renamed over `path`, then the directory flushed. Readers see
/// the old file or the new one, never a part.
pub(crate) fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path names no file")
    })?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable (best effort: not every platform can open a directory).
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// One provider's part of a [`MemorySnapshot`]: taking it, and restoring it in two steps
/// (check and build, then install) so that a whole world restores all or nothing.
pub(crate) trait SnapshotSection {
    /// The section's serialized form.
    type Snapshot: serde::Serialize + serde::de::DeserializeOwned;
    /// A checked state, ready to install.
    type Prepared;
    /// What the provider holds now.
    fn snapshot_section(&self) -> Self::Snapshot;
    /// Checks `snap` and builds the state it describes (remaining times count from now).
    fn prepare_section(&self, snap: Self::Snapshot) -> Result<Self::Prepared>;
    /// Replaces what the provider holds.
    fn install_section(&self, prepared: Self::Prepared);
    /// Moves every clock of `snap` `elapsed` forward (remaining times shrink, none below
    /// zero): the time that passed since the snapshot was written.
    fn age(_snap: &mut Self::Snapshot, _elapsed: Duration) {}
    /// The longest remaining time of a clock still running in `snap` (remaining times are
    /// only right at the moment the snapshot was taken); `None` when none runs.
    fn longest_clock(_snap: &Self::Snapshot) -> Option<Duration> {
        None
    }
    /// What [`SnapshotSection::section_json`] keeps between calls.
    type JsonCache: Default + Send + std::fmt::Debug;
    /// `snap` as JSON, exactly as `serde_json::to_string` writes it; a large section reuses
    /// the JSON of the parts that did not change since the last call (a persisted world
    /// writes the whole file at every commit).
    fn section_json(
        snap: Self::Snapshot,
        _cache: &mut Self::JsonCache,
    ) -> serde_json::Result<String> {
        serde_json::to_string(&snap)
    }
}

impl MemoryCloud {
    /// The complete state of every provider (see [`crate::snapshot`]). Take it while no
    /// operation is running: each provider is read under its own lock, one after another.
    pub fn snapshot(&self) -> MemorySnapshot {
        MemorySnapshot {
            version: SNAPSHOT_VERSION,
            seed: self.faults.seed(),
            written_at_ms: None,
            dns: self.dns.snapshot(),
            storage: self.storage.snapshot(),
            compute: self.compute.snapshot(),
            ci: self.ci.snapshot(),
            secrets: self.secrets.snapshot(),
            database: self.database.snapshot(),
            repo: self.repo.snapshot(),
            mail: self.mail.snapshot(),
            probe: self.probe.snapshot_section(),
            host: self.host.snapshot(),
        }
    }

    /// A cloud whose providers hold what `snapshot` holds, with fresh [`crate::Faults`] seeded
    /// with `seed` (see [`crate::snapshot`] for time and ids). `InvalidInput` when the snapshot
    /// is of another version or inconsistent (a record twice, a branch pointing at a missing
    /// commit, a commit whose id does not match its content, ...).
    pub fn from_snapshot(seed: u64, snapshot: MemorySnapshot) -> Result<MemoryCloud> {
        let cloud = MemoryCloud::new(seed);
        cloud.restore(snapshot)?;
        Ok(cloud)
    }

    /// Replaces what every provider holds with what `snapshot` holds, *in place*: the
    /// providers stay the same objects, so the `Arc`s handed out (to an engine, say) see the
    /// restored world. Every section is checked before any is installed: on an error
    /// (`InvalidInput`, as for [`MemoryCloud::from_snapshot`]) nothing has changed. Faults are
    /// kept. Restore while no operation is running.
    ///
    /// ```
    /// use provisio_memory::MemoryCloud;
    /// let cloud = MemoryCloud::new(1);
    /// let before = cloud.snapshot();
    /// let dns = cloud.dns.clone(); // as an engine would hold it
    /// cloud.dns.add_zone("example.com");
    /// cloud.restore(before).unwrap();
    /// assert_eq!(dns.inventory().count("dns.zone"), 0);
    /// ```
    pub fn restore(&self, snapshot: MemorySnapshot) -> Result<()> {
        check_version(u64::from(snapshot.version))?;
        let dns = self.dns.prepare_section(snapshot.dns)?;
        let storage = self.storage.prepare_section(snapshot.storage)?;
        let compute = self.compute.prepare_section(snapshot.compute)?;
        let ci = self.ci.prepare_section(snapshot.ci)?;
        let secrets = self.secrets.prepare_section(snapshot.secrets)?;
        let database = self.database.prepare_section(snapshot.database)?;
        let repo = self.repo.prepare_section(snapshot.repo)?;
        let mail = self.mail.prepare_section(snapshot.mail)?;
        let probe = self.probe.prepare_section(snapshot.probe)?;
        let host = self.host.prepare_section(snapshot.host)?;
        self.dns.install_section(dns);
        self.storage.install_section(storage);
        self.compute.install_section(compute);
        self.ci.install_section(ci);
        self.secrets.install_section(secrets);
        self.database.install_section(database);
        self.repo.install_section(repo);
        self.mail.install_section(mail);
        self.probe.install_section(probe);
        self.host.install_section(host);
        Ok(())
    }

    /// Writes [`MemoryCloud::snapshot`] to `path` as JSON, atomically (a temporary file in the
    /// same directory, flushed, then renamed over `path`), creating missing directories. On
    /// unix the file has mode 0600: it holds the mock secret store's values.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut json = self.snapshot().to_json()?;
        json.push('\n');
        write_atomically(path, json.as_bytes()).map_err(|e| io_error("write", path, e))
    }

    /// Reads a cloud saved by [`MemoryCloud::save`], with fresh faults seeded with `seed`.
    /// `Ok(None)` when `path` does not exist; `InvalidInput` naming the path when the file is
    /// not a snapshot, is of another version or is inconsistent.
    pub fn load(seed: u64, path: impl AsRef<Path>) -> Result<Option<MemoryCloud>> {
        let path = path.as_ref();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error("read", path, e)),
        };
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            in_file(
                path,
                Error::invalid_input(format!("not a valid memory snapshot: {e}")),
            )
        })?;
        let snapshot = MemorySnapshot::from_json(text).map_err(|e| in_file(path, e))?;
        MemoryCloud::from_snapshot(seed, snapshot)
            .map(Some)
            .map_err(|e| in_file(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ci::BuildResult;
    use provisio::compute::{InstanceSpec, InstanceState};
    use provisio::database::{DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, ServerSpec};
    use provisio::dns::{Record, RecordSpec, RecordType};
    use provisio::mail::VerificationStatus;
    use provisio::repo::{Author, CommitSpec};
    use provisio::storage::BucketSpec;
    use provisio::{
        Bytes, CiServer, Compute, Confirm, Database, Deleted, DnsProvider, Mail, ObjectStorage,
        Outcome, Repository, SecretStore, Tags,
    };
    use std::collections::BTreeMap;

    const SEED: u64 = 11;
    const BINARY: &[u8] = &[0, 159, 146, 150, 255];

    fn instance(name: &str) -> InstanceSpec {
        InstanceSpec {
            name: name.into(),
            image: "ami-1".into(),
            size: "t3.small".into(),
            tags: provisio::types::ownership::tags("acme", "launch", name),
            user_data: Some("#cloud-config\n".into()),
            idempotency_key: format!("{name}-key"),
        }
    }

    fn server(name: &str, protect: bool) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            engine: "postgres".into(),
            version: "16".into(),
            size: "db.t3.micro".into(),
            storage_gb: 20,
            admin_user: "admin".into(),
            admin_password: SecretString::new("correct-horse"),
            deletion_protection: protect,
            tags: Tags::new(),
            restore_from_snapshot: None,
        }
    }

    fn commit(branch: &str, files: &[(&str, &[u8])]) -> CommitSpec {
        CommitSpec {
            branch: branch.into(),
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), Bytes::copy_from_slice(c)))
                .collect(),
            message: format!("update {branch}"),
            author: Author {
                name: "bot".into(),
                email: "bot@example.com".into(),
            },
        }
    }

    /// A cloud with something in every provider, including things in the middle of a
    /// transition: a pending instance, a shutting-down one, a running build, a creating
    /// server, a pending identity, a soft-deleted secret.
    async fn populated() -> MemoryCloud {
        let c = MemoryCloud::new(SEED);
        // A deleted server's final snapshot (first: it needs time to pass).
        c.database
            .set_create_time(std::time::Duration::from_secs(5));
        c.database
            .ensure_server(&server("gone-db", false))
            .await
            .unwrap();
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        c.database
            .delete_server("gone-db", &DeleteServer::default())
            .await
            .unwrap();
        // dns
        let zone = c.dns.add_zone("example.com");
        let spec = RecordSpec::new("www.example.com", RecordType::A, "192.0.2.1", 300);
        c.dns.ensure_record(&zone, &spec).await.unwrap();
        let mx = RecordSpec {
            priority: Some(10),
            ..RecordSpec::new("example.com", RecordType::Mx, "mx.example.com", 3600)
        };
        c.dns.ensure_record(&zone, &mx).await.unwrap();
        c.dns.insert_raw_record(
            &zone,
            Record {
                id: None,
                name: "example.com".into(),
                record_type: RecordType::Other("NS".into()),
                content: "ns1.example.net".into(),
                ttl: 86400,
                proxied: None,
                priority: None,
            },
        );
        c.dns.add_zone("other.org");
        // storage
        let mut bucket = BucketSpec::new("acme-assets");
        bucket.versioning = true;
        bucket.archive_after_days = Some(30);
        bucket.tags.insert("provisio:tenant".into(), "acme".into());
        c.storage.ensure_bucket(&bucket).await.unwrap();
        c.storage
            .put_object(
                "acme-assets",
                "a/robots.txt",
                "User-agent: *\n".into(),
                None,
            )
            .await
            .unwrap();
        c.storage
            .put_object(
                "acme-assets",
                "a/logo.bin",
                Bytes::from_static(BINARY),
                Some("application/octet-stream"),
            )
            .await
            .unwrap();
        c.storage
            .ensure_bucket(&BucketSpec::new("empty-bucket"))
            .await
            .unwrap();
        c.storage.add_foreign_bucket("taken-name");
        // compute
        c.compute
            .set_boot_time(std::time::Duration::from_millis(100));
        c.compute
            .set_shutdown_time(std::time::Duration::from_millis(50));
        let web = c.compute.launch_instance(&instance("web")).await.unwrap();
        let old = c.compute.launch_instance(&instance("old")).await.unwrap();
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
        c.compute.terminate_instance(&old.value.id).await.unwrap();
        c.compute
            .launch_instance(&instance("worker"))
            .await
            .unwrap();
        assert_eq!(
            c.compute
                .get_instance(&web.value.id)
                .await
                .unwrap()
                .unwrap()
                .state,
            InstanceState::Running
        );
        // ci
        c.ci.ensure_folder("tenants/acme").await.unwrap();
        c.ci.ensure_job("tenants/acme/deploy", "<project/>")
            .await
            .unwrap();
        c.ci.ensure_job("umbrella", "<project><a/></project>")
            .await
            .unwrap();
        c.ci.add_downstream("umbrella", "tenants/acme/deploy")
            .await
            .unwrap();
        c.ci.set_build_result("tenants/acme/deploy", BuildResult::Unstable);
        c.ci.set_build_duration(std::time::Duration::from_secs(2));
        let params: BTreeMap<String, String> = [("TENANT".into(), "acme".into())].into();
        c.ci.trigger_build("tenants/acme/deploy", &params)
            .await
            .unwrap();
        // secrets
        let tags: Tags = [("owner".to_string(), "acme".to_string())].into();
        c.secrets
            .put_secret("acme-db", &SecretString::new("first-value"), &tags)
            .await
            .unwrap();
        c.secrets
            .put_secret("acme-db", &SecretString::new("second-value"), &tags)
            .await
            .unwrap();
        c.secrets
            .put_secret(
                "acme-old",
                &SecretString::new("deleted-value"),
                &Tags::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            c.secrets.delete_secret("acme-old", 7).await.unwrap(),
            Deleted::Deleted
        );
        // database
        c.database
            .ensure_server(&server("acme-db", true))
            .await
            .unwrap();
        c.database
            .ensure_role(&RoleSpec {
                name: "acme".into(),
                password: SecretString::new("role-pw"),
            })
            .await
            .unwrap();
        c.database
            .ensure_database(&DatabaseSpec {
                name: "acme_db".into(),
                owner: "acme".into(),
            })
            .await
            .unwrap();
        c.database
            .apply_seed(&SeedSpec {
                database: "acme_db".into(),
                id: "initial".into(),
                sql: "insert 1".into(),
            })
            .await
            .unwrap();
        // repo
        c.repo
            .write_files(&commit("main", &[("README.md", b"hi\n")]))
            .await
            .unwrap();
        c.repo.ensure_branch("acme", "main").await.unwrap();
        c.repo
            .write_files(&commit(
                "acme",
                &[("config.yml", b"tenant: acme\n"), ("bin/blob", BINARY)],
            ))
            .await
            .unwrap();
        c.repo.ensure_branch("dev-acme", "acme").await.unwrap();
        // mail
        c.mail
            .set_verification_delay(Some(std::time::Duration::from_secs(60)));
        c.mail
            .ensure_identity("acme.example.com", &Tags::new())
            .await
            .unwrap();
        c.mail
            .ensure_identity("ops@acme.example.com", &Tags::new())
            .await
            .unwrap();
        c.mail.verify("ops@acme.example.com");
        c
    }

    fn restored(c: &MemoryCloud) -> (MemoryCloud, String) {
        let snap = c.snapshot();
        let json = snap.to_json().unwrap();
        let back = MemorySnapshot::from_json(&json).unwrap();
        assert_eq!(back, snap);
        (MemoryCloud::from_snapshot(SEED, back).unwrap(), json)
    }

    #[tokio::test(start_paused = true)]
    async fn round_trip_keeps_everything() {
        let c = populated().await;
        let (r, json) = restored(&c);
        assert_eq!(r.inventory(), c.inventory());
        assert_eq!(r.retired(), c.retired());
        assert_eq!(r.snapshot(), c.snapshot());
        // The file holds the secret store's values; Debug never shows them.
        assert!(json.contains("second-value") && json.contains("deleted-value"));
        let dbg = format!("{:?}", c.snapshot());
        for v in [
            "first-value",
            "second-value",
            "deleted-value",
            "correct-horse",
            "role-pw",
        ] {
            assert!(!dbg.contains(v), "{v} in Debug");
        }
        // Database passwords are kept as fingerprints only.
        assert!(!json.contains("correct-horse") && !json.contains("role-pw"));
        // Binary contents are base64, text stays text.
        assert!(json.contains("\"base64\""));
        assert!(json.contains("tenant: acme\\n"));
    }

    /// Runs the same operations on the original and the restored cloud: every answer must be
    /// the same, and so must the worlds afterwards.
    #[tokio::test(start_paused = true)]
    async fn restored_cloud_behaves_identically() {
        let c = populated().await;
        let (r, _) = restored(&c);
        let old_ids: Vec<String> = c
            .compute
            .find_instances(&Tags::new())
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect();
        // Faults are not part of the world: the restored cloud starts counting from zero.
        assert!(c.faults.calls("*") > 0);
        assert_eq!(r.faults.calls("*"), 0);
        let mut answers: Vec<Vec<String>> = Vec::new();
        for cloud in [&c, &r] {
            let mut out = Vec::new();
            // dns: a new record gets the next id, unlike every existing one
            let zone = cloud.dns.find_zone("example.com").await.unwrap().unwrap();
            let rec = cloud
                .dns
                .ensure_record(
                    &zone,
                    &RecordSpec::new("api.example.com", RecordType::A, "192.0.2.9", 300),
                )
                .await
                .unwrap()
                .value;
            let all = cloud
                .dns
                .list_records(&zone, &Default::default())
                .await
                .unwrap()
                .items;
            assert_eq!(all.iter().filter(|x| x.id == rec.id).count(), 1);
            out.push(format!("{rec:?}"));
            // storage: contents and metadata intact
            let (body, meta) = cloud
                .storage
                .get_object("acme-assets", "a/logo.bin")
                .await
                .unwrap();
            assert_eq!(&body[..], BINARY);
            out.push(format!("{meta:?}"));
            assert_eq!(
                cloud
                    .storage
                    .ensure_bucket(&BucketSpec::new("taken-name"))
                    .await
                    .unwrap_err()
                    .kind(),
                &ErrorKind::AlreadyExists
            );
            // compute: the pending instance becomes running; new ids do not collide
            let fresh = cloud
                .compute
                .launch_instance(&instance("fresh"))
                .await
                .unwrap()
                .value;
            assert!(!old_ids.contains(&fresh.id));
            out.push(format!("{fresh:?}"));
            let again = cloud
                .compute
                .launch_instance(&instance("worker"))
                .await
                .unwrap();
            assert_eq!(again.outcome, Outcome::Unchanged);
            assert_eq!(again.value.state, InstanceState::Pending);
            out.push(format!("{:?}", again.value));
            // ci: next build number, the running build ends with the job's result
            let b = cloud
                .ci
                .trigger_build("tenants/acme/deploy", &BTreeMap::new())
                .await
                .unwrap();
            assert_eq!(b.number, 2);
            out.push(format!("{:?}", cloud.ci.builds("tenants/acme/deploy")));
            // ci: the umbrella job's downstream list came back
            let linked = cloud
                .ci
                .add_downstream("umbrella", "tenants/acme/deploy")
                .await
                .unwrap()
                .unwrap();
            assert!(linked.was_listed && !linked.changed);
            out.push(format!(
                "{:?}",
                cloud.ci.downstream_jobs("umbrella").await.unwrap()
            ));
            // secrets: the soft-deleted one is recoverable, values intact
            assert_eq!(
                cloud
                    .secrets
                    .put_secret("acme-old", &SecretString::new("x"), &Tags::new())
                    .await
                    .unwrap_err()
                    .kind(),
                &ErrorKind::Conflict
            );
            let meta = cloud.secrets.recover_secret("acme-old").await.unwrap();
            out.push(format!("{meta:?}"));
            let v = cloud.secrets.get_secret("acme-old").await.unwrap();
            assert_eq!(v.value.expose(), "deleted-value");
            let v = cloud.secrets.get_secret("acme-db").await.unwrap();
            assert_eq!(v.value.expose(), "second-value");
            assert_eq!(cloud.secrets.versions("acme-db").len(), 2);
            let put = cloud
                .secrets
                .put_secret("acme-db", &SecretString::new("third"), &Tags::new())
                .await
                .unwrap()
                .value;
            assert!(!cloud.secrets.versions("acme-db")[..2].contains(&put.version));
            out.push(format!("{put:?}"));
            // database: seeds remembered, passwords compared by fingerprint, server creating
            let seed = |sql: &str| SeedSpec {
                database: "acme_db".into(),
                id: "initial".into(),
                sql: sql.into(),
            };
            assert_eq!(
                cloud
                    .database
                    .apply_seed(&seed("insert 1"))
                    .await
                    .unwrap()
                    .outcome,
                Outcome::Unchanged
            );
            assert_eq!(
                cloud
                    .database
                    .apply_seed(&seed("insert 2"))
                    .await
                    .unwrap_err()
                    .kind(),
                &ErrorKind::Conflict
            );
            let role = RoleSpec {
                name: "acme".into(),
                password: SecretString::new("role-pw"),
            };
            assert_eq!(
                cloud.database.ensure_role(&role).await.unwrap().outcome,
                Outcome::Unchanged
            );
            let s = cloud
                .database
                .ensure_server(&server("acme-db", true))
                .await
                .unwrap();
            assert_eq!(s.outcome, Outcome::Unchanged);
            assert_eq!(s.value.status, "creating");
            assert_eq!(
                cloud.database.snapshots(),
                vec!["gone-db-final".to_string()]
            );
            assert_eq!(
                cloud
                    .database
                    .drop_role("acme", &Confirm::named("acme"))
                    .await
                    .unwrap_err()
                    .kind(),
                &ErrorKind::Conflict
            );
            // repo: heads, history and contents intact; a new commit gets the same id
            let acme = cloud.repo.get_branch("acme").await.unwrap().unwrap();
            let dev = cloud.repo.get_branch("dev-acme").await.unwrap().unwrap();
            assert_eq!(acme.head, dev.head);
            assert_eq!(cloud.repo.history("acme").len(), 3);
            assert_eq!(
                cloud
                    .repo
                    .read_file("dev-acme", "bin/blob")
                    .await
                    .unwrap()
                    .as_deref(),
                Some(BINARY)
            );
            assert_eq!(
                cloud
                    .repo
                    .read_file("acme", "README.md")
                    .await
                    .unwrap()
                    .as_deref(),
                Some(&b"hi\n"[..])
            );
            let w = cloud
                .repo
                .write_files(&commit("dev-acme", &[("config.yml", b"tenant: dev\n")]))
                .await
                .unwrap();
            out.push(format!("{acme:?} {w:?}"));
            // mail: verified stays verified, the domain is still pending
            let ops = cloud
                .mail
                .get_identity("ops@acme.example.com")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(ops.status, VerificationStatus::Success);
            let dom = cloud
                .mail
                .get_identity("acme.example.com")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(dom.status, VerificationStatus::Pending);
            out.push(format!("{dom:?}"));
            answers.push(out);
        }
        assert_eq!(answers[0], answers[1]);

        // Let every clock run out: pending -> running, shutting down -> terminated, builds
        // finish, servers become available, identities verify.
        tokio::time::advance(std::time::Duration::from_secs(120)).await;
        for cloud in [&c, &r] {
            let worker = cloud
                .compute
                .find_instances(&provisio::types::ownership::tags(
                    "acme", "launch", "worker",
                ))
                .await
                .unwrap();
            assert_eq!(worker[0].state, InstanceState::Running);
            assert!(worker[0].public_ip.is_some());
            assert_eq!(cloud.retired().count("compute.terminated_instance"), 1);
            let b = provisio::ci::BuildRef {
                job: "tenants/acme/deploy".into(),
                number: 1,
            };
            assert_eq!(
                cloud
                    .ci
                    .wait_for_build(&b, std::time::Duration::ZERO)
                    .await
                    .unwrap(),
                BuildResult::Unstable
            );
            let s = cloud.database.get_server("acme-db").await.unwrap().unwrap();
            assert_eq!(s.status, "available");
            let dom = cloud
                .mail
                .get_identity("acme.example.com")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(dom.status, VerificationStatus::Success);
        }
        assert_eq!(r.snapshot(), c.snapshot());
        assert_eq!(r.inventory(), c.inventory());
    }

    #[tokio::test(start_paused = true)]
    async fn ids_continue_as_in_one_process() {
        let one = MemoryCloud::new(5);
        let mut want = Vec::new();
        for n in ["a", "b", "c"] {
            want.push(
                one.compute
                    .launch_instance(&instance(n))
                    .await
                    .unwrap()
                    .value,
            );
        }
        let first = MemoryCloud::new(5);
        let mut got = vec![
            first
                .compute
                .launch_instance(&instance("a"))
                .await
                .unwrap()
                .value,
        ];
        let second = MemoryCloud::from_snapshot(5, first.snapshot()).unwrap();
        for n in ["b", "c"] {
            got.push(
                second
                    .compute
                    .launch_instance(&instance(n))
                    .await
                    .unwrap()
                    .value,
            );
        }
        assert_eq!(got, want);
        // Another seed continues another sequence, still without collisions.
        let other = MemoryCloud::from_snapshot(6, second.snapshot()).unwrap();
        let d = other
            .compute
            .launch_instance(&instance("d"))
            .await
            .unwrap()
            .value;
        assert!(want.iter().all(|i| i.id != d.id));
        assert_eq!(d.private_ip.as_deref(), Some("10.0.0.13"));
    }

    #[tokio::test(start_paused = true)]
    async fn soft_deleted_secret_window_continues() {
        let c = MemoryCloud::new(1);
        c.secrets
            .put_secret("s1", &SecretString::new("v"), &Tags::new())
            .await
            .unwrap();
        c.secrets.delete_secret("s1", 7).await.unwrap();
        tokio::time::advance(std::time::Duration::from_secs(6 * 86_400)).await;
        let r = MemoryCloud::from_snapshot(1, c.snapshot()).unwrap();
        assert_eq!(r.retired().count("secrets.deleted_secret"), 1);
        // one day of the window is left
        tokio::time::advance(std::time::Duration::from_secs(86_400)).await;
        assert!(r.retired().is_empty());
        assert_eq!(r.secrets.describe_secret("s1").await.unwrap(), None);
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test(start_paused = true)]
    async fn save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".provisio").join("memory.json");
        assert!(MemoryCloud::load(SEED, &path).unwrap().is_none());
        let c = populated().await;
        c.save(&path).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec!["memory.json".to_string()],
            "no temporary file left"
        );
        let r = MemoryCloud::load(SEED, &path).unwrap().unwrap();
        assert_eq!(r.snapshot(), c.snapshot());

        // Saving again replaces the file atomically, with mode 0600 whatever the old mode was.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        r.dns.add_zone("new.example");
        r.save(&path).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600);
        let again = MemoryCloud::load(SEED, &path).unwrap().unwrap();
        assert!(again.inventory().contains("dns.zone", "new.example"));
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );

        // A path that is a directory cannot be written: an error naming it, the old file kept.
        let e = r.save(dir.path()).unwrap_err();
        assert!(
            e.to_string().contains(&dir.path().display().to_string()),
            "{e}"
        );
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.json");
        let shown = path.display().to_string();
        for bad in [
            &b"{ not json"[..],
            &b""[..],
            &b"[1, 2]"[..],
            &b"{\"version\": 1}"[..],
            &[0xff, 0xfe, 0x00][..],
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = MemoryCloud::load(1, &path).err().unwrap();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
            assert!(e.message().contains(&shown), "{e}");
            assert!(e.message().contains("not a valid memory snapshot"), "{e}");
        }
        // Well-formed JSON whose content is inconsistent.
        let c = MemoryCloud::new(1);
        let mut v: serde_json::Value =
            serde_json::from_str(&c.snapshot().to_json().unwrap()).unwrap();
        v["repo"]["branches"]["main"] = serde_json::json!("0000");
        std::fs::write(&path, v.to_string()).unwrap();
        let e = MemoryCloud::load(1, &path).err().unwrap();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(
            e.message().contains(&shown) && e.message().contains("missing commit"),
            "{e}"
        );
        let mut v: serde_json::Value =
            serde_json::from_str(&c.snapshot().to_json().unwrap()).unwrap();
        v["compute"]["boot_time"] = serde_json::json!({ "secs": u64::MAX / 2, "nanos": 0 });
        let e = MemorySnapshot::from_json(&v.to_string())
            .and_then(|s| MemoryCloud::from_snapshot(1, s))
            .err()
            .unwrap();
        assert!(e.message().contains("boot_time"), "{e}");
    }

    #[test]
    fn other_versions_are_refused() {
        let c = MemoryCloud::new(1);
        let mut v: serde_json::Value =
            serde_json::from_str(&c.snapshot().to_json().unwrap()).unwrap();
        v["version"] = serde_json::json!(99);
        let e = MemorySnapshot::from_json(&v.to_string()).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(
            e.message().contains("version 99") && e.message().contains("version 1"),
            "{e}"
        );
        // A future layout still gets the version error, not a complaint about its fields.
        let e = MemorySnapshot::from_json(r#"{"version": 2, "worlds": []}"#).unwrap_err();
        assert!(e.message().contains("version 2 is not supported"), "{e}");
        let mut snap = c.snapshot();
        snap.version = 0;
        let e = MemoryCloud::from_snapshot(1, snap).err().unwrap();
        assert!(e.message().contains("version 0"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memory.json");
        std::fs::write(&path, r#"{"version": 3}"#).unwrap();
        let e = MemoryCloud::load(1, &path).err().unwrap();
        assert!(
            e.message().contains(&path.display().to_string()) && e.message().contains("version 3"),
            "{e}"
        );
    }
}
