//! In-memory databases: RDS-like managed servers and PostgreSQL-like roles, databases and seeds.

use crate::faults::{Base, Faults, Read};

#[path = "database_dump.rs"]
pub mod dump;
use crate::inventory::Inventory;
use crate::names::{
    POSTGRES_BOOTSTRAP_ROLE, POSTGRES_BUILTIN_DATABASES, postgres_database, postgres_identifier,
    postgres_role,
};
use provisio::database::{
    AppliedSeed, Database, DatabaseCapabilities, DatabaseSpec, DeleteServer, Endpoint,
    RestoredDatabase, RoleSpec, SeedSpec, Server, ServerSpec, Snapshot,
};
use provisio::{
    Confirm, Deleted, Ensured, Error, Provider, ProviderInfo, Result, async_trait, validate,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a new server stays `creating` unless configured otherwise.
pub const DEFAULT_CREATE_TIME: Duration = Duration::from_millis(30);
/// The port servers listen on.
pub const PORT: u16 = 5432;

#[derive(Debug, Clone)]
struct ServerRec {
    spec: ServerSpec,
    password_fingerprint: String,
    available_at: Instant,
    /// The snapshot it was restored from, if it was (shown in the inventory).
    restored_from: Option<String>,
}

impl ServerRec {
    fn view(&self, now: Instant) -> Server {
        let available = now >= self.available_at;
        Server {
            name: self.spec.name.clone(),
            engine: self.spec.engine.clone(),
            status: if available { "available" } else { "creating" }.to_string(),
            endpoint: available.then(|| Endpoint {
                host: format!("{}.db.memory.invalid", self.spec.name),
                port: PORT,
            }),
            deletion_protection: self.spec.deletion_protection,
            tags: self.spec.tags.clone(),
        }
    }
}

/// A snapshot: the server's settings when it was taken, what a restore recreates.
#[derive(Debug, Clone)]
struct SnapshotRec {
    server: String,
    engine: String,
    version: String,
    size: String,
    storage_gb: u32,
    admin_user: String,
    admin_password_fingerprint: String,
    tags: provisio::Tags,
    available_at: Instant,
}

impl SnapshotRec {
    /// A snapshot of `r` that becomes available at `available_at`, tagged `tags`.
    fn of(r: &ServerRec, tags: provisio::Tags, available_at: Instant) -> SnapshotRec {
        SnapshotRec {
            server: r.spec.name.clone(),
            engine: r.spec.engine.clone(),
            version: r.spec.version.clone(),
            size: r.spec.size.clone(),
            storage_gb: r.spec.storage_gb,
            admin_user: r.spec.admin_user.clone(),
            admin_password_fingerprint: r.password_fingerprint.clone(),
            tags,
            available_at,
        }
    }

    fn view(&self, id: &str, now: Instant) -> Snapshot {
        Snapshot {
            id: id.to_string(),
            server: self.server.clone(),
            status: if now >= self.available_at {
                "available"
            } else {
                "creating"
            }
            .to_string(),
            // no wall clock here: the time a snapshot was taken is not modelled
            created: None,
            storage_gb: Some(self.storage_gb),
            tags: self.tags.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    servers: BTreeMap<String, ServerRec>,
    snapshots: BTreeMap<String, SnapshotRec>,
    /// Role -> password fingerprint (like the SCRAM verifier a server keeps).
    roles: BTreeMap<String, String>,
    /// Database -> owner.
    databases: BTreeMap<String, String>,
    /// (database, seed id) -> checksum.
    seeds: BTreeMap<(String, String), String>,
    create_time: Duration,
}

/// In-memory databases supporting both halves of [`Database`].
///
/// Servers (RDS semantics): `creating` until the create time passes, then `available` with an
/// endpoint; deletion protection makes deletes `Protected` unless overridden by name; a delete
/// keeps a final snapshot (`<name>-final` unless named) unless skipped. Snapshots (RDS manual
/// DB snapshots) keep the server's settings, are `creating` for the create time, then
/// `available`, outlive their server, and restore it ([`ServerSpec::restore_from_snapshot`]).
/// Inside a server (PostgreSQL semantics): roles with passwords (compared by fingerprint),
/// databases whose owner must exist, seeds applied once per (database, id), drops that need a
/// [`Confirm`].
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use provisio::{Database, SecretString, Outcome};
/// use provisio::database::{RoleSpec, DatabaseSpec};
/// let pg = provisio_memory::MemoryDatabase::new();
/// pg.ensure_role(&RoleSpec { name: "acme".into(), password: SecretString::new("pw") }).await.unwrap();
/// let db = pg.ensure_database(&DatabaseSpec { name: "acme_db".into(), owner: "acme".into() }).await.unwrap();
/// assert_eq!(db.outcome, Outcome::Created);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryDatabase {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryDatabase {
    fn default() -> Self {
        Self::new()
    }
}

/// An RDS instance or snapshot identifier: 1 to 63 letters, digits and hyphens, starting with a
/// letter, no trailing hyphen and no two consecutive hyphens.
pub(crate) fn rds_identifier(field: &str, name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(Error::invalid_field(
            field,
            format!(
                "{name:?} must be 1 to 63 letters, digits and hyphens, start with a letter, and have no trailing or double hyphen"
            ),
        ))
    }
}

pub(crate) fn check_password(field: &str, pw: &provisio::SecretString) -> Result<()> {
    let v = pw.expose();
    if v.len() < 8 || v.len() > 128 || v.chars().any(|c| "/\"@ ".contains(c) || c.is_control()) {
        return Err(Error::invalid_field(
            field,
            "must be 8 to 128 printable characters other than '/', '\"', '@' and space",
        ));
    }
    Ok(())
}

impl MemoryDatabase {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-database";

    /// An empty provider with no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A provider using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryDatabase {
            base: Base::new(
                faults,
                Self::DEFAULT_ACCOUNT,
                crate::persist::Section::Database,
            ),
            state: Mutex::new(State {
                servers: BTreeMap::new(),
                snapshots: BTreeMap::new(),
                roles: BTreeMap::new(),
                databases: BTreeMap::new(),
                seeds: BTreeMap::new(),
                create_time: DEFAULT_CREATE_TIME,
            }),
        }
    }

    /// The same provider acting on account `account`.
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

    /// Sets how long servers created from now on stay `creating`.
    pub fn set_create_time(&self, d: Duration) {
        self.lock().create_time = d;
    }

    /// The identifiers of the snapshots there are (final snapshots of deleted servers and
    /// snapshots taken with `ensure_snapshot`).
    pub fn snapshots(&self) -> Vec<String> {
        self.lock().snapshots.keys().cloned().collect()
    }

    /// The seeds applied to a database.
    pub fn seeds(&self, database: &str) -> Vec<AppliedSeed> {
        self.lock()
            .seeds
            .iter()
            .filter(|((db, _), _)| db == database)
            .map(|((db, id), checksum)| AppliedSeed {
                database: db.clone(),
                id: id.clone(),
                checksum: checksum.clone(),
            })
            .collect()
    }

    /// Every live server (`database.server`), role (`database.role`, password fingerprint),
    /// database (`database.database`) and applied seed (`database.seed`, id `db/seed`).
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, r) in &s.servers {
            inv.insert(
                "database.server",
                name.clone(),
                json!({
                    "engine": r.spec.engine,
                    "version": r.spec.version,
                    "size": r.spec.size,
                    "storage_gb": r.spec.storage_gb,
                    "admin_user": r.spec.admin_user,
                    "admin_password_fingerprint": r.password_fingerprint,
                    "deletion_protection": r.spec.deletion_protection,
                    "tags": r.spec.tags,
                    "restored_from": r.restored_from,
                }),
            );
        }
        for (name, fp) in &s.roles {
            inv.insert(
                "database.role",
                name.clone(),
                json!({ "password_fingerprint": fp }),
            );
        }
        for (name, owner) in &s.databases {
            inv.insert("database.database", name.clone(), json!({ "owner": owner }));
        }
        for ((db, id), checksum) in &s.seeds {
            inv.insert(
                "database.seed",
                format!("{db}/{id}"),
                json!({ "checksum": checksum }),
            );
        }
        inv
    }

    /// Snapshots (`database.snapshot`): final snapshots of deleted servers and those taken
    /// with `ensure_snapshot`, which outlive their servers.
    pub fn retired(&self) -> Inventory {
        let now = Instant::now();
        let s = self.lock();
        let mut inv = Inventory::new();
        for (id, snap) in &s.snapshots {
            inv.insert(
                "database.snapshot",
                id.clone(),
                json!({
                    "server": snap.server,
                    "engine": snap.engine,
                    "version": snap.version,
                    "size": snap.size,
                    "storage_gb": snap.storage_gb,
                    "admin_user": snap.admin_user,
                    "status": snap.view(id, now).status,
                    "tags": snap.tags,
                }),
            );
        }
        inv
    }
}

/// The databases' part of a [`crate::MemorySnapshot`]. Like the provider itself, it keeps
/// password fingerprints only (the administrator's password is never read back from a server,
/// and a role's password is compared by fingerprint), so restored servers hold an empty
/// `admin_password` in their spec and compare by the stored fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DatabaseSnapshot {
    servers: Vec<ServerSnapshot>,
    final_snapshots: Vec<FinalSnapshot>,
    roles: BTreeMap<String, RoleSnapshot>,
    /// Database -> owner.
    databases: BTreeMap<String, String>,
    seeds: Vec<AppliedSeed>,
    create_time: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSnapshot {
    name: String,
    engine: String,
    version: String,
    size: String,
    storage_gb: u32,
    admin_user: String,
    admin_password_fingerprint: String,
    deletion_protection: bool,
    tags: provisio::Tags,
    /// How much longer it stays `creating` (zero once available).
    creating_remaining: Duration,
    /// The snapshot it was restored from (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restored_from: Option<String>,
}

/// A snapshot, final or taken with `ensure_snapshot` (the name stays for older files).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FinalSnapshot {
    id: String,
    server: String,
    engine: String,
    version: String,
    storage_gb: u32,
    // The server's other settings, which a restore needs (absent in older files).
    #[serde(default)]
    size: String,
    #[serde(default)]
    admin_user: String,
    #[serde(default)]
    admin_password_fingerprint: String,
    #[serde(default)]
    tags: provisio::Tags,
    /// How much longer it stays `creating` (zero once available; absent in older files).
    #[serde(default)]
    creating_remaining: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSnapshot {
    password_fingerprint: String,
}

impl MemoryDatabase {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> DatabaseSnapshot {
        let now = Instant::now();
        let s = self.lock();
        DatabaseSnapshot {
            servers: s
                .servers
                .values()
                .map(|r| ServerSnapshot {
                    name: r.spec.name.clone(),
                    engine: r.spec.engine.clone(),
                    version: r.spec.version.clone(),
                    size: r.spec.size.clone(),
                    storage_gb: r.spec.storage_gb,
                    admin_user: r.spec.admin_user.clone(),
                    admin_password_fingerprint: r.password_fingerprint.clone(),
                    deletion_protection: r.spec.deletion_protection,
                    tags: r.spec.tags.clone(),
                    creating_remaining: r.available_at.saturating_duration_since(now),
                    restored_from: r.restored_from.clone(),
                })
                .collect(),
            final_snapshots: s
                .snapshots
                .iter()
                .map(|(id, snap)| FinalSnapshot {
                    id: id.clone(),
                    server: snap.server.clone(),
                    engine: snap.engine.clone(),
                    version: snap.version.clone(),
                    storage_gb: snap.storage_gb,
                    size: snap.size.clone(),
                    admin_user: snap.admin_user.clone(),
                    admin_password_fingerprint: snap.admin_password_fingerprint.clone(),
                    tags: snap.tags.clone(),
                    creating_remaining: snap.available_at.saturating_duration_since(now),
                })
                .collect(),
            roles: s
                .roles
                .iter()
                .map(|(name, fp)| {
                    (
                        name.clone(),
                        RoleSnapshot {
                            password_fingerprint: fp.clone(),
                        },
                    )
                })
                .collect(),
            databases: s.databases.clone(),
            seeds: s
                .seeds
                .iter()
                .map(|((db, id), checksum)| AppliedSeed {
                    database: db.clone(),
                    id: id.clone(),
                    checksum: checksum.clone(),
                })
                .collect(),
            create_time: s.create_time,
        }
    }

    /// Replaces everything this provider holds with `snap`; remaining creation times count
    /// from now.
    pub(crate) fn prepare_restore(&self, snap: DatabaseSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        let now = Instant::now();
        bounded("database create_time", snap.create_time)?;
        let mut servers = BTreeMap::new();
        for r in snap.servers {
            let rec = ServerRec {
                spec: ServerSpec {
                    name: r.name.clone(),
                    engine: r.engine,
                    version: r.version,
                    size: r.size,
                    storage_gb: r.storage_gb,
                    admin_user: r.admin_user,
                    admin_password: provisio::SecretString::default(),
                    deletion_protection: r.deletion_protection,
                    tags: r.tags,
                    restore_from_snapshot: None,
                },
                password_fingerprint: r.admin_password_fingerprint,
                available_at: now + bounded("server creating_remaining", r.creating_remaining)?,
                restored_from: r.restored_from,
            };
            if servers.insert(r.name.clone(), rec).is_some() {
                return Err(corrupt(format!("database server {} appears twice", r.name)));
            }
        }
        let mut snapshots = BTreeMap::new();
        for f in snap.final_snapshots {
            let snapshot = SnapshotRec {
                server: f.server,
                engine: f.engine,
                version: f.version,
                size: f.size,
                storage_gb: f.storage_gb,
                admin_user: f.admin_user,
                admin_password_fingerprint: f.admin_password_fingerprint,
                tags: f.tags,
                available_at: now + bounded("snapshot creating_remaining", f.creating_remaining)?,
            };
            if snapshots.insert(f.id.clone(), snapshot).is_some() {
                return Err(corrupt(format!("database snapshot {} appears twice", f.id)));
            }
        }
        let roles: BTreeMap<String, String> = snap
            .roles
            .into_iter()
            .map(|(name, r)| (name, r.password_fingerprint))
            .collect();
        for (db, owner) in &snap.databases {
            if !roles.contains_key(owner) {
                return Err(corrupt(format!(
                    "database {db} is owned by {owner}, which is not a role"
                )));
            }
        }
        let mut seeds = BTreeMap::new();
        for a in snap.seeds {
            if !snap.databases.contains_key(&a.database) {
                return Err(corrupt(format!(
                    "seed {} belongs to database {}, which does not exist",
                    a.id, a.database
                )));
            }
            if seeds
                .insert((a.database, a.id.clone()), a.checksum)
                .is_some()
            {
                return Err(corrupt(format!("seed {} appears twice", a.id)));
            }
        }
        Ok(State {
            servers,
            snapshots,
            roles,
            databases: snap.databases,
            seeds,
            create_time: snap.create_time,
        })
    }

    /// Installs a state made by [`MemoryDatabase::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryDatabase {
    type JsonCache = ();
    type Snapshot = DatabaseSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> DatabaseSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: DatabaseSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut DatabaseSnapshot, elapsed: Duration) {
        for s in &mut snap.servers {
            s.creating_remaining = s.creating_remaining.saturating_sub(elapsed);
        }
        for s in &mut snap.final_snapshots {
            s.creating_remaining = s.creating_remaining.saturating_sub(elapsed);
        }
    }
    fn longest_clock(snap: &DatabaseSnapshot) -> Option<Duration> {
        snap.servers
            .iter()
            .map(|s| s.creating_remaining)
            .chain(snap.final_snapshots.iter().map(|s| s.creating_remaining))
            .filter(|d| !d.is_zero())
            .max()
    }
}

/// The server `spec` restored from snapshot `id`, as RDS restores one: the engine, version,
/// storage, administrator and password are the snapshot's; the class, deletion protection and
/// tags the spec's. A missing snapshot is `NotFound` naming it, one still being taken a
/// `Conflict`, one of another engine a `Conflict`.
fn restored(s: &State, spec: ServerSpec, id: &str, now: Instant) -> Result<ServerRec> {
    let name = spec.name.clone();
    let Some(snap) = s.snapshots.get(id) else {
        return Err(Error::not_found(format!(
            "server {name:?} cannot be restored: snapshot {id:?} (restore_from_snapshot) does not exist (DBSnapshotNotFound)"
        ))
        .with_resource(id));
    };
    if now < snap.available_at {
        return Err(Error::conflict(format!(
            "snapshot {id:?} is creating; server {name:?} can be restored from it once it is available (InvalidDBSnapshotState)"
        )));
    }
    if snap.engine != spec.engine {
        return Err(Error::conflict(format!(
            "snapshot {id:?} is of a {} server; server {name:?} asks for {}",
            snap.engine, spec.engine
        )));
    }
    // a snapshot from an older world file lacks the administrator: the spec's then
    let (admin_user, password_fingerprint) = if snap.admin_user.is_empty() {
        (spec.admin_user.clone(), spec.admin_password.fingerprint())
    } else {
        (
            snap.admin_user.clone(),
            snap.admin_password_fingerprint.clone(),
        )
    };
    let spec = ServerSpec {
        version: snap.version.clone(),
        storage_gb: snap.storage_gb,
        admin_user,
        ..spec
    };
    Ok(ServerRec {
        spec,
        password_fingerprint,
        available_at: now + s.create_time,
        restored_from: Some(id.to_string()),
    })
}

impl Provider for MemoryDatabase {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(
            &[
                provisio::validate::NameKind::Database,
                provisio::validate::NameKind::Role,
            ],
            kind,
            field,
            value,
        )
    }
}

#[async_trait]
impl Database for MemoryDatabase {
    fn capabilities(&self) -> DatabaseCapabilities {
        DatabaseCapabilities {
            servers: true,
            roles_and_databases: true,
            dump_restore: true,
            snapshots: true,
        }
    }

    async fn ensure_server(&self, spec: &ServerSpec) -> Result<Ensured<Server>> {
        self.base
            .run_ensure("database.ensure_server", &spec.name, async {
                let name = rds_identifier("server name", &spec.name)?;
                if spec.engine.is_empty() || spec.version.is_empty() || spec.size.is_empty() {
                    return Err(Error::invalid_field(
                        "server spec",
                        "engine, version and size must not be empty",
                    ));
                }
                if !(20..=65536).contains(&spec.storage_gb) {
                    return Err(Error::invalid_field(
                        "storage_gb",
                        format!("must be 20 to 65536 GiB, got {}", spec.storage_gb),
                    ));
                }
                validate::pg_identifier("admin user", &spec.admin_user)?;
                check_password("admin password", &spec.admin_password)?;
                validate::tags("server tags", &spec.tags)?;
                let restore_from = spec
                    .restore_from_snapshot
                    .as_deref()
                    .map(|id| rds_identifier("server restore_from_snapshot", id))
                    .transpose()?;
                let mut spec = spec.clone();
                spec.name = name.clone();
                spec.restore_from_snapshot = None;
                let fingerprint = spec.admin_password.fingerprint();
                let now = Instant::now();
                let mut s = self.lock();
                let create_time = s.create_time;
                if !s.servers.contains_key(&name)
                    && let Some(id) = restore_from
                {
                    let rec = restored(&s, spec, &id, now)?;
                    let view = rec.view(now);
                    s.servers.insert(name, rec);
                    return Ok(Ensured::created(view));
                }
                match s.servers.get_mut(&name) {
                    None => {
                        let rec = ServerRec {
                            spec,
                            password_fingerprint: fingerprint,
                            available_at: now + create_time,
                            restored_from: None,
                        };
                        let view = rec.view(now);
                        s.servers.insert(name, rec);
                        Ok(Ensured::created(view))
                    }
                    Some(r) => {
                        let have = &r.spec;
                        if have.engine != spec.engine {
                            return Err(Error::conflict(format!(
                                "server {name} runs {}; the engine cannot change to {}",
                                have.engine, spec.engine
                            )));
                        }
                        if have.admin_user != spec.admin_user {
                            return Err(Error::conflict(format!(
                                "server {name}'s administrator is {}; it cannot be renamed",
                                have.admin_user
                            )));
                        }
                        if spec.storage_gb < have.storage_gb {
                            return Err(Error::conflict(format!(
                                "server {name} has {} GiB; storage cannot shrink",
                                have.storage_gb
                            )));
                        }
                        let same = have.version == spec.version
                            && have.size == spec.size
                            && have.storage_gb == spec.storage_gb
                            && have.deletion_protection == spec.deletion_protection
                            && provisio::types::tags_match(&have.tags, &spec.tags)
                            && r.password_fingerprint == fingerprint;
                        if same {
                            return Ok(Ensured::unchanged(r.view(now)));
                        }
                        if now < r.available_at {
                            return Err(Error::conflict(format!(
                                "server {name} is creating and cannot be modified yet (InvalidDBInstanceState)"
                            )));
                        }
                        let mut tags = r.spec.tags.clone();
                        tags.extend(spec.tags.clone());
                        r.spec = ServerSpec { tags, ..spec };
                        r.password_fingerprint = fingerprint;
                        Ok(Ensured::updated(r.view(now)))
                    }
                }
            })
            .await
    }

    async fn get_server(&self, name: &str) -> Result<Option<Server>> {
        self.base
            .run("database.get_server", name, async {
                let name = rds_identifier("server name", name)?;
                let now = Instant::now();
                Ok(Read(self.lock().servers.get(&name).map(|r| r.view(now))))
            })
            .await
    }

    async fn delete_server(&self, name: &str, options: &DeleteServer) -> Result<Deleted> {
        self.base
            .run("database.delete_server", name, async {
                let name = rds_identifier("server name", name)?;
                let snapshot = match (&options.final_snapshot, options.skip_final_snapshot) {
                    (Some(_), true) => {
                        return Err(Error::invalid_field(
                            "final_snapshot",
                            "cannot be named when skip_final_snapshot is set",
                        ));
                    }
                    (Some(id), false) => Some(rds_identifier("final snapshot", id)?),
                    (None, false) => Some(format!("{name}-final")),
                    (None, true) => None,
                };
                let mut s = self.lock();
                let Some(r) = s.servers.get(&name) else {
                    return Ok(Deleted::AlreadyGone);
                };
                if r.spec.deletion_protection {
                    match &options.override_protection {
                        Some(c) => c.check("server", &name)?,
                        None => {
                            return Err(Error::protected(format!(
                                "server {name} has deletion protection; name it in override_protection to delete it"
                            )));
                        }
                    }
                }
                if let Some(id) = &snapshot
                    && s.snapshots.contains_key(id)
                {
                    return Err(Error::already_exists(format!(
                        "snapshot {id} already exists (DBSnapshotAlreadyExists)"
                    )));
                }
                let r = s.servers.remove(&name).expect("checked above");
                if let Some(id) = snapshot {
                    // taken while the server is deleted: available once it is gone; tags
                    // copied from the server (CopyTagsToSnapshot)
                    let snap = SnapshotRec::of(&r, r.spec.tags.clone(), Instant::now());
                    s.snapshots.insert(id, snap);
                }
                Ok(Deleted::Deleted)
            })
            .await
    }

    async fn ensure_snapshot(
        &self,
        server: &str,
        snapshot: &str,
        tags: &provisio::Tags,
    ) -> Result<Ensured<Snapshot>> {
        self.base
            .run_ensure("database.ensure_snapshot", snapshot, async {
                let id = rds_identifier("snapshot name", snapshot)?;
                let server = rds_identifier("server name", server)?;
                validate::tags("snapshot tags", tags)?;
                let now = Instant::now();
                let mut s = self.lock();
                if let Some(have) = s.snapshots.get(&id) {
                    if have.server == server {
                        return Ok(Ensured::unchanged(have.view(&id, now)));
                    }
                    return Err(Error::conflict(format!(
                        "snapshot {id:?} exists but was taken of server {:?}, not {server:?}",
                        have.server
                    )));
                }
                let Some(r) = s.servers.get(&server) else {
                    return Err(Error::not_found(format!(
                        "server {server:?} does not exist, so snapshot {id:?} cannot be taken of it (DBInstanceNotFound)"
                    ))
                    .with_resource(server));
                };
                if now < r.available_at {
                    return Err(Error::conflict(format!(
                        "server {server:?} is creating and cannot be snapshotted yet (InvalidDBInstanceState)"
                    )));
                }
                let snap = SnapshotRec::of(r, tags.clone(), now + s.create_time);
                let view = snap.view(&id, now);
                s.snapshots.insert(id, snap);
                Ok(Ensured::created(view))
            })
            .await
    }

    async fn get_snapshot(&self, snapshot: &str) -> Result<Option<Snapshot>> {
        self.base
            .run("database.get_snapshot", snapshot, async {
                let id = rds_identifier("snapshot name", snapshot)?;
                let now = Instant::now();
                Ok(Read(
                    self.lock().snapshots.get(&id).map(|r| r.view(&id, now)),
                ))
            })
            .await
    }

    async fn delete_snapshot(&self, snapshot: &str) -> Result<Deleted> {
        self.base
            .run("database.delete_snapshot", snapshot, async {
                let id = rds_identifier("snapshot name", snapshot)?;
                let mut s = self.lock();
                let Some(have) = s.snapshots.get(&id) else {
                    return Ok(Deleted::AlreadyGone);
                };
                if Instant::now() < have.available_at {
                    return Err(Error::conflict(format!(
                        "snapshot {id:?} is creating and cannot be deleted yet (InvalidDBSnapshotState)"
                    )));
                }
                s.snapshots.remove(&id);
                Ok(Deleted::Deleted)
            })
            .await
    }

    async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
        self.base
            .run_ensure("database.ensure_role", &spec.name, async {
                let name = postgres_role("role name", &spec.name)?;
                if spec.password.is_empty() {
                    return Err(Error::invalid_field("role password", "must not be empty"));
                }
                let fp = spec.password.fingerprint();
                let mut s = self.lock();
                Ok(match s.roles.get_mut(&name) {
                    Some(have) if *have == fp => Ensured::unchanged(name),
                    Some(have) => {
                        *have = fp;
                        Ensured::updated(name)
                    }
                    None => {
                        s.roles.insert(name.clone(), fp);
                        Ensured::created(name)
                    }
                })
            })
            .await
    }

    async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        self.base
            .run_ensure("database.ensure_database", &spec.name, async {
                let name = postgres_database("database name", &spec.name)?;
                let owner = postgres_identifier("database owner", &spec.owner)?;
                let mut s = self.lock();
                if !s.roles.contains_key(&owner) && owner != POSTGRES_BOOTSTRAP_ROLE {
                    return Err(Error::not_found(format!(
                        "role {owner:?} does not exist (create it before the database)"
                    ))
                    .with_resource(owner));
                }
                Ok(match s.databases.get_mut(&name) {
                    Some(have) if *have == owner => Ensured::unchanged(name),
                    Some(have) => {
                        *have = owner;
                        Ensured::updated(name)
                    }
                    None => {
                        s.databases.insert(name.clone(), owner);
                        Ensured::created(name)
                    }
                })
            })
            .await
    }

    async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
        let resource = format!("{}/{}", spec.database, spec.id);
        self.base
            .run_ensure("database.apply_seed", &resource, async {
                let db = postgres_identifier("seed database", &spec.database)?;
                if spec.id.is_empty() || spec.id.len() > 255 || spec.id.chars().any(char::is_control)
                {
                    return Err(Error::invalid_field(
                        "seed id",
                        "must be 1 to 255 characters without control characters",
                    ));
                }
                if spec.sql.trim().is_empty() {
                    return Err(Error::invalid_field("seed sql", "must not be empty"));
                }
                let checksum = spec.checksum();
                let mut s = self.lock();
                if !s.databases.contains_key(&db) {
                    return Err(Error::not_found(format!("database {db:?} does not exist")));
                }
                let applied = AppliedSeed {
                    database: db.clone(),
                    id: spec.id.clone(),
                    checksum: checksum.clone(),
                };
                match s.seeds.get(&(db.clone(), spec.id.clone())) {
                    Some(have) if *have == checksum => Ok(Ensured::unchanged(applied)),
                    Some(have) => Err(Error::conflict(format!(
                        "seed {} was applied to {db} with checksum {have}; its SQL has changed (now {checksum})",
                        spec.id
                    ))),
                    None => {
                        s.seeds.insert((db, spec.id.clone()), checksum);
                        Ok(Ensured::created(applied))
                    }
                }
            })
            .await
    }

    async fn database_exists(&self, name: &str) -> Result<bool> {
        self.base
            .run("database.database_exists", name, async {
                let name = postgres_identifier("database name", name)?;
                let builtin = POSTGRES_BUILTIN_DATABASES.contains(&name.as_str());
                Ok(Read(builtin || self.lock().databases.contains_key(&name)))
            })
            .await
    }

    async fn role_exists(&self, name: &str) -> Result<bool> {
        self.base
            .run("database.role_exists", name, async {
                let name = postgres_identifier("role name", name)?;
                let builtin = name == POSTGRES_BOOTSTRAP_ROLE;
                Ok(Read(builtin || self.lock().roles.contains_key(&name)))
            })
            .await
    }

    async fn drop_database(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.base
            .run("database.drop_database", name, async {
                let name = postgres_identifier("database name", name)?;
                if POSTGRES_BUILTIN_DATABASES.contains(&name.as_str()) {
                    // as the PostgreSQL provider answers (the server refuses templates)
                    return Err(Error::conflict(format!(
                        "refusing to drop database {name:?}: every PostgreSQL server has it"
                    )));
                }
                confirm.check("database", &name)?;
                let mut s = self.lock();
                if s.databases.remove(&name).is_none() {
                    return Ok(Deleted::AlreadyGone);
                }
                s.seeds.retain(|(db, _), _| *db != name);
                Ok(Deleted::Deleted)
            })
            .await
    }

    /// A JSON document of what the database holds (owner, applied seeds), in chunks; see
    /// [`dump`].
    async fn dump_database(&self, name: &str) -> Result<provisio::ByteStream> {
        self.dump(name).await
    }

    /// Refuses a database that exists and has a seed applied (`Conflict`) before reading the
    /// stream; reads the whole dump, then creates the database (or takes the existing empty
    /// one) with the seeds of the dump. A broken stream or dump changes nothing.
    async fn restore_database(
        &self,
        spec: &DatabaseSpec,
        body: provisio::ByteStream,
    ) -> Result<RestoredDatabase> {
        self.restore(spec, body).await
    }

    async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.base
            .run("database.drop_role", name, async {
                let name = postgres_identifier("role name", name)?;
                if name == POSTGRES_BOOTSTRAP_ROLE {
                    return Err(Error::conflict(format!(
                        "role {name:?} cannot be dropped because it is required by the database system"
                    )));
                }
                confirm.check("role", &name)?;
                let mut s = self.lock();
                if !s.roles.contains_key(&name) {
                    return Ok(Deleted::AlreadyGone);
                }
                let owned: Vec<&String> = s
                    .databases
                    .iter()
                    .filter(|(_, o)| **o == name)
                    .map(|(d, _)| d)
                    .collect();
                if !owned.is_empty() {
                    return Err(Error::conflict(format!(
                        "role {name:?} cannot be dropped because it owns databases {owned:?}"
                    )));
                }
                s.roles.remove(&name);
                Ok(Deleted::Deleted)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome, SecretString, Tags};

    fn server(name: &str) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            engine: "postgres".into(),
            version: "16".into(),
            size: "db.t3.micro".into(),
            storage_gb: 20,
            admin_user: "admin".into(),
            admin_password: SecretString::new("correct-horse"),
            deletion_protection: true,
            tags: Tags::new(),
            restore_from_snapshot: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn servers() {
        let db = MemoryDatabase::new();
        let s = db.ensure_server(&server("acme-db")).await.unwrap();
        assert_eq!(s.outcome, Outcome::Created);
        assert_eq!(s.value.status, "creating");
        assert_eq!(s.value.endpoint, None);
        assert_eq!(
            db.ensure_server(&server("acme-db")).await.unwrap().outcome,
            Outcome::Unchanged
        );
        let mut bigger = server("acme-db");
        bigger.storage_gb = 40;
        assert_eq!(
            db.ensure_server(&bigger).await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        let got = db.get_server("acme-db").await.unwrap().unwrap();
        assert_eq!(got.status, "available");
        assert_eq!(got.endpoint.unwrap().port, 5432);
        assert_eq!(
            db.ensure_server(&bigger).await.unwrap().outcome,
            Outcome::Updated
        );
        let mut pw = bigger.clone();
        pw.admin_password = SecretString::new("another-horse");
        assert_eq!(
            db.ensure_server(&pw).await.unwrap().outcome,
            Outcome::Updated
        );
        let mut small = pw.clone();
        small.storage_gb = 20;
        assert_eq!(
            db.ensure_server(&small).await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        let mut badpw = server("x-db");
        badpw.admin_password = SecretString::new("short");
        let e = db.ensure_server(&badpw).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(!e.to_string().contains("short"));

        // protection
        let e = db
            .delete_server("acme-db", &DeleteServer::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Protected);
        let wrong = DeleteServer {
            override_protection: Some(Confirm::named("other")),
            ..Default::default()
        };
        assert_eq!(
            db.delete_server("acme-db", &wrong)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Protected
        );
        assert!(db.get_server("acme-db").await.unwrap().is_some());
        let ok = DeleteServer {
            override_protection: Some(Confirm::named("acme-db")),
            ..Default::default()
        };
        assert_eq!(
            db.delete_server("acme-db", &ok).await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            db.delete_server("acme-db", &ok).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(db.snapshots(), vec!["acme-db-final".to_string()]);
        assert_eq!(db.retired().count("database.snapshot"), 1);
        assert!(db.inventory().is_empty());

        let mut unprotected = server("b-db");
        unprotected.deletion_protection = false;
        db.ensure_server(&unprotected).await.unwrap();
        let skip = DeleteServer {
            skip_final_snapshot: true,
            ..Default::default()
        };
        assert_eq!(
            db.delete_server("b-db", &skip).await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(db.snapshots().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_keep_the_server_and_restore_it() {
        let db = MemoryDatabase::new();
        let tags: Tags = [("provisio:tenant".to_string(), "acme".to_string())].into();
        let mut spec = server("acme-db");
        spec.deletion_protection = false;
        spec.storage_gb = 40;
        db.ensure_server(&spec).await.unwrap();
        // a server still being created cannot be snapshotted (RDS: InvalidDBInstanceState)
        let e = db
            .ensure_snapshot("acme-db", "acme-db-archive", &tags)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        tokio::time::advance(DEFAULT_CREATE_TIME).await;

        let taken = db
            .ensure_snapshot("acme-db", "Acme-DB-Archive", &tags)
            .await
            .unwrap();
        assert_eq!(taken.outcome, Outcome::Created);
        assert_eq!(taken.value.id, "acme-db-archive");
        assert_eq!(taken.value.server, "acme-db");
        assert_eq!(taken.value.status, "creating");
        assert_eq!(taken.value.storage_gb, Some(40));
        assert_eq!(taken.value.tags, tags);
        // being taken: neither deleted nor restored from
        let e = db.delete_snapshot("acme-db-archive").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        let again = db
            .ensure_snapshot("acme-db", "acme-db-archive", &tags)
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        let got = db.get_snapshot("acme-db-archive").await.unwrap().unwrap();
        assert_eq!(got.status, "available");

        // one identifier, two servers: a conflict naming both
        let mut other = server("other-db");
        other.deletion_protection = false;
        db.ensure_server(&other).await.unwrap();
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        let e = db
            .ensure_snapshot("other-db", "acme-db-archive", &tags)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(
            e.message().contains("\"acme-db\"") && e.message().contains("\"other-db\""),
            "{e}"
        );
        let e = db
            .ensure_snapshot("ghost-db", "ghost-db-archive", &tags)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(e.message().contains("\"ghost-db\""), "{e}");

        // the snapshot outlives its server and still answers `Unchanged`
        let skip = DeleteServer {
            skip_final_snapshot: true,
            ..Default::default()
        };
        db.delete_server("acme-db", &skip).await.unwrap();
        assert_eq!(
            db.ensure_snapshot("acme-db", "acme-db-archive", &tags)
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );

        // restore: the snapshot's storage and password, the spec's class and tags
        let mut restore = server("acme-db");
        restore.deletion_protection = false;
        restore.size = "db.t3.small".into();
        restore.admin_password = SecretString::new("another-horse");
        restore.tags = tags.clone();
        restore.restore_from_snapshot = Some("acme-db-archive".into());
        let r = db.ensure_server(&restore).await.unwrap();
        assert_eq!(r.outcome, Outcome::Created);
        assert_eq!(r.value.status, "creating");
        let inv = db.inventory();
        let s = inv.get("database.server", "acme-db").unwrap();
        assert_eq!(s["restored_from"], "acme-db-archive");
        assert_eq!(s["storage_gb"], 40);
        assert_eq!(s["size"], "db.t3.small");
        assert_eq!(
            s["admin_password_fingerprint"],
            SecretString::new("correct-horse").fingerprint()
        );
        // once it exists the snapshot is ignored: a plain ensure
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        restore.restore_from_snapshot = Some("no-such-snapshot".into());
        restore.admin_password = SecretString::new("correct-horse");
        restore.storage_gb = 40;
        assert_eq!(
            db.ensure_server(&restore).await.unwrap().outcome,
            Outcome::Unchanged
        );

        // a missing snapshot is NotFound naming it, and makes no empty server
        let mut missing = server("new-db");
        missing.restore_from_snapshot = Some("no-such-snapshot".into());
        let e = db.ensure_server(&missing).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(e.message().contains("\"no-such-snapshot\""), "{e}");
        assert!(db.get_server("new-db").await.unwrap().is_none());
        missing.restore_from_snapshot = Some("bad--id".into());
        let e = db.ensure_server(&missing).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(e.message().contains("restore_from_snapshot"), "{e}");
        let e = db.get_snapshot("Bad_Name!").await.unwrap_err();
        assert!(e.message().contains("snapshot name"), "{e}");

        assert_eq!(db.retired().count("database.snapshot"), 1);
        assert_eq!(
            db.delete_snapshot("acme-db-archive").await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            db.delete_snapshot("acme-db-archive").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(db.get_snapshot("acme-db-archive").await.unwrap(), None);
        assert_eq!(db.faults().calls("database.ensure_snapshot"), 6);
        assert_eq!(db.faults().mutations("database.delete_snapshot"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn snapshot_faults_and_persistence() {
        let db = MemoryDatabase::new();
        let mut spec = server("acme-db");
        spec.deletion_protection = false;
        db.ensure_server(&spec).await.unwrap();
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        let tags = Tags::new();
        db.faults()
            .error_on_call("database.ensure_snapshot", 1, ErrorKind::Transient);
        let e = db
            .ensure_snapshot("acme-db", "acme-db-archive", &tags)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert!(db.snapshots().is_empty(), "a fault before the effect");
        db.faults()
            .error_after_effect("database.ensure_snapshot", 2, ErrorKind::Transient);
        db.ensure_snapshot("acme-db", "acme-db-archive", &tags)
            .await
            .unwrap_err();
        assert_eq!(db.snapshots(), ["acme-db-archive"], "the answer was lost");
        assert_eq!(
            db.ensure_snapshot("acme-db", "acme-db-archive", &tags)
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );
        db.faults()
            .error_rate("database.get_snapshot", 1.0, ErrorKind::PermissionDenied);
        assert_eq!(
            db.get_snapshot("acme-db-archive").await.unwrap_err().kind(),
            &ErrorKind::PermissionDenied
        );
        db.faults().clear();

        // a snapshot survives a snapshot of the world, still creating for what was left
        let world = db.snapshot();
        let copy = MemoryDatabase::new();
        copy.install(copy.prepare_restore(world).unwrap());
        let snap = copy.get_snapshot("acme-db-archive").await.unwrap().unwrap();
        assert_eq!(snap.status, "creating");
        tokio::time::advance(DEFAULT_CREATE_TIME).await;
        db.delete_server(
            "acme-db",
            &DeleteServer {
                skip_final_snapshot: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let world = db.snapshot();
        let copy = MemoryDatabase::new();
        copy.install(copy.prepare_restore(world).unwrap());
        spec.restore_from_snapshot = Some("acme-db-archive".into());
        let r = copy.ensure_server(&spec).await.unwrap();
        assert_eq!(r.outcome, Outcome::Created);
        // an older file's final snapshot (without the server's settings) still loads
        let old: FinalSnapshot = serde_json::from_value(json!({
            "id": "x-final", "server": "x", "engine": "postgres", "version": "16", "storage_gb": 20
        }))
        .unwrap();
        assert_eq!(old.creating_remaining, Duration::ZERO);
        assert!(old.admin_user.is_empty());
    }

    #[tokio::test]
    async fn roles_databases_seeds() {
        let db = MemoryDatabase::new();
        let role = |pw: &str| RoleSpec {
            name: "acme".into(),
            password: SecretString::new(pw),
        };
        assert_eq!(
            db.ensure_role(&role("a")).await.unwrap().outcome,
            Outcome::Created
        );
        assert_eq!(
            db.ensure_role(&role("a")).await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            db.ensure_role(&role("b")).await.unwrap().outcome,
            Outcome::Updated
        );
        assert!(db.role_exists("acme").await.unwrap());
        let dbs = |owner: &str| DatabaseSpec {
            name: "acme_db".into(),
            owner: owner.into(),
        };
        assert_eq!(
            db.ensure_database(&dbs("ghost")).await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(
            db.ensure_database(&dbs("acme")).await.unwrap().outcome,
            Outcome::Created
        );
        assert_eq!(
            db.ensure_database(&dbs("acme")).await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            db.ensure_role(&RoleSpec {
                name: "pg_evil".into(),
                password: SecretString::new("x")
            })
            .await
            .unwrap_err()
            .kind(),
            &ErrorKind::InvalidInput
        );
        let seed = |sql: &str| SeedSpec {
            database: "acme_db".into(),
            id: "initial".into(),
            sql: sql.into(),
        };
        assert_eq!(
            db.apply_seed(&seed("insert 1")).await.unwrap().outcome,
            Outcome::Created
        );
        assert_eq!(
            db.apply_seed(&seed("insert 1")).await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            db.apply_seed(&seed("insert 2")).await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        let mut orphan = seed("x");
        orphan.database = "nope".into();
        assert_eq!(
            db.apply_seed(&orphan).await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(db.inventory().count("database.seed"), 1);
        assert_eq!(
            db.drop_role("acme", &Confirm::named("acme"))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Conflict
        );
        assert_eq!(
            db.drop_database("acme_db", &Confirm::named("acme"))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Protected
        );
        assert!(db.database_exists("acme_db").await.unwrap());
        assert_eq!(
            db.drop_database("acme_db", &Confirm::named("acme_db"))
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            db.drop_database("acme_db", &Confirm::named("acme_db"))
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
        assert!(db.seeds("acme_db").is_empty());
        assert_eq!(
            db.drop_role("acme", &Confirm::named("acme")).await.unwrap(),
            Deleted::Deleted
        );
        assert!(db.inventory().is_empty());
    }
}
