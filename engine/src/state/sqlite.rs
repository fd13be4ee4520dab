//! The SQLite state store: the embedded default, one file per installation.
//!
//! - **Durability**: the file runs in WAL mode with `synchronous=FULL`, so a committed
//!   transaction (every write method commits before it returns) is fsync'ed: an intent
//!   appended with [`StateStore::append_journal`] survives a `kill -9` of the process (and a
//!   power loss) right after the call returns.
//! - **Never blocks the runtime**: every call runs on tokio's blocking pool
//!   ([`tokio::task::spawn_blocking`]); the async task only awaits it.
//! - **Many processes**: several processes may open the same file at once. Writes in this
//!   process queue on one writer connection; between processes SQLite's file lock decides,
//!   waiting up to [`BUSY_TIMEOUT`]. Every read-decide-write (leases) runs inside
//!   `BEGIN IMMEDIATE`, which takes the write lock up front, so two processes can never both
//!   see a free lease. Reads use separate connections and do not wait for writers (WAL).
//! - **Schema**: versioned migrations recorded in `schema_migrations`, applied at open inside
//!   one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at once apply
//!   them exactly once.

use super::lease::LeaseSlot;
use super::{FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, now_ms};
use provisio::{Error, ErrorKind, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a call waits for another process's write lock before failing with
/// `ErrorKind::Transient`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Idle read connections kept open.
const MAX_IDLE_READERS: usize = 4;

/// A schema migration: applied once, in `version` order, recorded in `schema_migrations`.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// The schema, as ordered migrations. Never edit an applied migration: add a new one.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "initial",
    sql: "
        CREATE TABLE resources (
            tenant        TEXT    NOT NULL,
            name          TEXT    NOT NULL,
            resource_type TEXT    NOT NULL,
            provider      TEXT    NOT NULL,
            identity      TEXT    NOT NULL,
            params        TEXT    NOT NULL,
            outputs       TEXT    NOT NULL,
            protect       INTEGER NOT NULL,
            depends_on    TEXT    NOT NULL,
            updated_at_ms INTEGER NOT NULL,
            PRIMARY KEY (tenant, name)
        ) WITHOUT ROWID;
        -- AUTOINCREMENT: a sequence number is never reused, even after rows are deleted.
        CREATE TABLE journal (
            seq           INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id        TEXT    NOT NULL,
            tenant        TEXT    NOT NULL,
            resource      TEXT    NOT NULL,
            resource_type TEXT    NOT NULL,
            action        TEXT    NOT NULL,
            phase         TEXT    NOT NULL CHECK (phase IN ('intent', 'succeeded', 'failed')),
            identity      TEXT    NOT NULL,
            tags          TEXT    NOT NULL,
            token         TEXT    NOT NULL,
            detail        TEXT    NOT NULL,
            at_ms         INTEGER NOT NULL
        );
        CREATE INDEX journal_by_tenant ON journal (tenant, seq);
        CREATE INDEX journal_by_token ON journal (tenant, token, seq);
        -- owner NULL: nobody holds the tenant; the row keeps the last generation.
        CREATE TABLE leases (
            tenant        TEXT    NOT NULL PRIMARY KEY,
            owner         TEXT,
            expires_at_ms INTEGER NOT NULL,
            generation    INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE TABLE fleet_cursors (
            fleet_id      TEXT    NOT NULL PRIMARY KEY,
            cursor        TEXT    NOT NULL,
            updated_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
    ",
}];

/// A failure inside a blocking call: SQLite's, or one of the store's own (a lease conflict).
enum OpError {
    Sql(rusqlite::Error),
    Store(Error),
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        OpError::Sql(e)
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Store(e)
    }
}

type OpResult<T> = std::result::Result<T, OpError>;

fn sql_error(operation: &str, e: rusqlite::Error) -> Error {
    // Only SQLite's own message (never bound parameters) goes into the error.
    let kind = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => ErrorKind::Transient,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("SQLite state store: {e}"))
        .with_provider("sqlite")
        .with_operation(operation)
        .with_source(e)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| {
        Error::unexpected("cannot serialise a state record to JSON")
            .with_provider("sqlite")
            .with_source(e)
    })
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> OpResult<T> {
    serde_json::from_str(text).map_err(|e| {
        OpError::Store(
            Error::unexpected(format!("malformed JSON in state column {column}"))
                .with_provider("sqlite")
                .with_source(e),
        )
    })
}

fn seq_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

struct Inner {
    /// Every write goes through this connection, so writers of this process queue on a
    /// mutex rather than on SQLite's busy-wait polling.
    writer: Mutex<Connection>,
    /// Idle read connections (file stores only; an in-memory store reads on the writer).
    readers: Mutex<Vec<Connection>>,
    /// `None` for an in-memory store.
    path: Option<PathBuf>,
}

/// The SQLite [`StateStore`]. Cheap to clone (clones share the connections).
///
/// It follows every rule of the [module documentation](super); see this module's
/// documentation for durability and multi-process behaviour.
///
/// ```no_run
/// use provisio_engine::state::{StateStore, sqlite::SqliteStateStore};
/// # async fn demo() -> provisio::Result<()> {
/// let store = SqliteStateStore::open("/var/lib/provisio/state.db").await?;
/// let tenants = store.list_tenants().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStateStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStateStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

/// Opens one connection with the store's settings.
fn connect(path: Option<&Path>) -> rusqlite::Result<Connection> {
    let conn = match path {
        Some(path) => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?,
        None => Connection::open_in_memory()?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if path.is_some() {
        // Switching to WAL needs a moment of exclusive access; when another process is
        // opening the same new file, retry for as long as a busy wait would.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.sqlite_error_code(),
                        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                    ) && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
    }
    // FULL: in WAL mode every commit is fsync'ed, which the journal's durability needs.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies the migrations this file lacks; returns the schema version.
fn migrate(conn: &mut Connection) -> OpResult<i64> {
    // IMMEDIATE: the write lock is taken before reading the version, so of two processes
    // opening a new file at once, the second waits and then finds everything applied.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version       INTEGER NOT NULL PRIMARY KEY,
            name          TEXT    NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > latest {
        return Err(OpError::Store(
            Error::unexpected(format!(
                "the state file has schema version {current}, newer than this provisio \
                 understands ({latest}); upgrade provisio"
            ))
            .with_provider("sqlite"),
        ));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.execute_batch(m.sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms()],
        )?;
    }
    tx.commit()?;
    Ok(latest)
}

fn open_blocking(path: Option<PathBuf>) -> Result<SqliteStateStore> {
    let op = "state.sqlite.open";
    if let Some(parent) = path.as_deref().and_then(Path::parent)
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|e| {
            Error::unexpected(format!(
                "cannot create the state directory {}",
                parent.display()
            ))
            .with_provider("sqlite")
            .with_operation(op)
            .with_source(e)
        })?;
    }
    let mut conn = connect(path.as_deref()).map_err(|e| sql_error(op, e))?;
    migrate(&mut conn).map_err(|e| match e {
        OpError::Sql(e) => sql_error(op, e),
        OpError::Store(e) => e.with_operation(op),
    })?;
    Ok(SqliteStateStore {
        inner: Arc::new(Inner {
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            path,
        }),
    })
}

impl SqliteStateStore {
    /// Opens (creating it and its parent directories when missing) the state file at `path`
    /// and brings its schema up to date.
    ///
    /// Safe to call from several processes at once on the same file.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        tokio::task::spawn_blocking(move || open_blocking(Some(path)))
            .await
            .map_err(join_error)?
    }

    /// A private in-memory database (for tests): same SQL, nothing on disk, gone on drop.
    pub fn open_in_memory() -> Result<Self> {
        open_blocking(None)
    }

    /// The file this store uses, `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The schema version of the file (the highest applied migration).
    pub async fn schema_version(&self) -> Result<i64> {
        self.read("state.sqlite.schema_version", |c| {
            Ok(c.query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    /// Runs `f` with the writer connection on the blocking pool.
    async fn write<R, F>(&self, operation: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> OpResult<R> + Send + 'static,
    {
        let inner = self.inner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut conn = lock(&inner.writer);
            f(&mut conn)
        })
        .await
        .map_err(join_error)?;
        result.map_err(|e| match e {
            OpError::Sql(e) => sql_error(operation, e),
            OpError::Store(e) => e,
        })
    }

    /// Runs `f` with a read connection on the blocking pool.
    async fn read<R, F>(&self, operation: &'static str, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> OpResult<R> + Send + 'static,
    {
        let inner = self.inner.clone();
        let result = tokio::task::spawn_blocking(move || {
            let Some(path) = inner.path.as_deref() else {
                return f(&lock(&inner.writer));
            };
            let idle = lock(&inner.readers).pop();
            let conn = match idle {
                Some(conn) => conn,
                None => connect(Some(path))?,
            };
            let result = f(&conn);
            let mut readers = lock(&inner.readers);
            if readers.len() < MAX_IDLE_READERS {
                readers.push(conn);
            }
            result
        })
        .await
        .map_err(join_error)?;
        result.map_err(|e| match e {
            OpError::Sql(e) => sql_error(operation, e),
            OpError::Store(e) => e,
        })
    }

    /// Runs a lease operation inside `BEGIN IMMEDIATE`: load the slot, decide, store it.
    async fn with_lease_slot<R, F>(
        &self,
        operation: &'static str,
        tenant: String,
        f: F,
    ) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut LeaseSlot, i64) -> Result<R> + Send + 'static,
    {
        self.write(operation, move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut slot = load_slot(&tx, &tenant)?;
            let before = slot.clone();
            // `now` is read after the lock is held, so expiry is judged at decision time.
            let result = f(&mut slot, now_ms())?;
            if slot != before {
                tx.execute(
                    "INSERT INTO leases (tenant, owner, expires_at_ms, generation)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant) DO UPDATE SET owner = excluded.owner,
                        expires_at_ms = excluded.expires_at_ms, generation = excluded.generation",
                    params![
                        tenant,
                        slot.holder.as_ref().map(|(o, _)| o.as_str()),
                        slot.holder.as_ref().map_or(0, |(_, e)| *e),
                        i64::try_from(slot.generation).unwrap_or(i64::MAX),
                    ],
                )?;
                tx.commit()?;
            }
            Ok(result)
        })
        .await
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::unexpected("a SQLite state store call panicked or was cancelled")
        .with_provider("sqlite")
        .with_source(e)
}

fn load_slot(conn: &Connection, tenant: &str) -> rusqlite::Result<LeaseSlot> {
    Ok(conn
        .query_row(
            "SELECT owner, expires_at_ms, generation FROM leases WHERE tenant = ?1",
            [tenant],
            |r| {
                let owner: Option<String> = r.get(0)?;
                let expires: i64 = r.get(1)?;
                let generation: i64 = r.get(2)?;
                Ok(LeaseSlot {
                    holder: owner.map(|o| (o, expires)),
                    generation: seq_of(generation),
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

const RESOURCE_COLUMNS: &str = "tenant, name, resource_type, provider, identity, params, \
                                outputs, protect, depends_on, updated_at_ms";

fn resource_from_row(r: &rusqlite::Row<'_>) -> OpResult<ResourceRecord> {
    Ok(ResourceRecord {
        tenant: r.get(0)?,
        name: r.get(1)?,
        resource_type: r.get(2)?,
        provider: r.get(3)?,
        identity: r.get(4)?,
        params: from_json("params", &r.get::<_, String>(5)?)?,
        outputs: from_json("outputs", &r.get::<_, String>(6)?)?,
        protect: r.get(7)?,
        depends_on: from_json("depends_on", &r.get::<_, String>(8)?)?,
        updated_at_ms: r.get(9)?,
    })
}

const JOURNAL_COLUMNS: &str = "seq, run_id, tenant, resource, resource_type, action, phase, \
                               identity, tags, token, detail, at_ms";

fn entry_from_row(r: &rusqlite::Row<'_>) -> OpResult<JournalEntry> {
    Ok(JournalEntry {
        seq: seq_of(r.get(0)?),
        run_id: r.get(1)?,
        tenant: r.get(2)?,
        resource: r.get(3)?,
        resource_type: r.get(4)?,
        action: r.get(5)?,
        phase: JournalPhase::parse(&r.get::<_, String>(6)?)?,
        identity: r.get(7)?,
        tags: from_json("tags", &r.get::<_, String>(8)?)?,
        token: r.get(9)?,
        detail: from_json("detail", &r.get::<_, String>(10)?)?,
        at_ms: r.get(11)?,
    })
}

/// Runs a query and maps every row with `f`.
fn collect<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl Fn(&rusqlite::Row<'_>) -> OpResult<T>,
) -> OpResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

#[provisio::async_trait]
impl StateStore for SqliteStateStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.read("state.get_resource", move |c| {
            let sql =
                format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE tenant = ?1 AND name = ?2");
            Ok(collect(c, &sql, params![tenant, name], resource_from_row)?.pop())
        })
        .await
    }

    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        let tenant = tenant.to_string();
        self.read("state.list_resources", move |c| {
            let sql =
                format!("SELECT {RESOURCE_COLUMNS} FROM resources WHERE tenant = ?1 ORDER BY name");
            collect(c, &sql, [tenant], resource_from_row)
        })
        .await
    }

    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        let params_json = to_json(&record.params)?;
        let outputs_json = to_json(&record.outputs)?;
        let depends_json = to_json(&record.depends_on)?;
        let r = record.clone();
        self.write("state.put_resource", move |c| {
            c.prepare_cached(&format!(
                "INSERT OR REPLACE INTO resources ({RESOURCE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                r.tenant,
                r.name,
                r.resource_type,
                r.provider,
                r.identity,
                params_json,
                outputs_json,
                r.protect,
                depends_json,
                r.updated_at_ms,
            ])?;
            Ok(())
        })
        .await
    }

    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        let (tenant, name) = (tenant.to_string(), name.to_string());
        self.write("state.delete_resource", move |c| {
            c.prepare_cached("DELETE FROM resources WHERE tenant = ?1 AND name = ?2")?
                .execute(params![tenant, name])?;
            Ok(())
        })
        .await
    }

    async fn list_tenants(&self) -> Result<Vec<String>> {
        self.read("state.list_tenants", |c| {
            collect(
                c,
                "SELECT tenant FROM resources UNION SELECT tenant FROM journal ORDER BY tenant",
                [],
                |r| Ok(r.get(0)?),
            )
        })
        .await
    }

    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64> {
        let tags = to_json(&entry.tags)?;
        let detail = to_json(&entry.detail)?;
        let e = entry.clone();
        self.write("state.append_journal", move |c| {
            // Autocommit: the INSERT is its own transaction, fsync'ed (synchronous=FULL)
            // before execute returns.
            let seq: i64 = c
                .prepare_cached(
                    "INSERT INTO journal (run_id, tenant, resource, resource_type, action, phase,
                        identity, tags, token, detail, at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     RETURNING seq",
                )?
                .query_row(
                    params![
                        e.run_id,
                        e.tenant,
                        e.resource,
                        e.resource_type,
                        e.action,
                        e.phase.as_str(),
                        e.identity,
                        tags,
                        e.token,
                        detail,
                        e.at_ms,
                    ],
                    |r| r.get(0),
                )?;
            Ok(seq_of(seq))
        })
        .await
    }

    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        let tenant = tenant.to_string();
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read("state.journal", move |c| {
            let sql = format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal WHERE tenant = ?1 AND seq > ?2 ORDER BY seq"
            );
            collect(c, &sql, params![tenant, after], entry_from_row)
        })
        .await
    }

    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        let tenant = tenant.to_string();
        self.read("state.pending_intents", move |c| {
            let sql = format!(
                "SELECT {JOURNAL_COLUMNS} FROM journal AS i
                 WHERE i.tenant = ?1 AND i.phase = 'intent'
                   AND NOT EXISTS (
                       SELECT 1 FROM journal AS r
                       WHERE r.tenant = i.tenant AND r.token = i.token AND r.seq > i.seq
                         AND r.phase IN ('succeeded', 'failed'))
                 ORDER BY i.seq"
            );
            collect(c, &sql, [tenant], entry_from_row)
        })
        .await
    }

    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        let (t, owner) = (tenant.to_string(), owner.to_string());
        self.with_lease_slot(
            "state.acquire_lease",
            tenant.to_string(),
            move |slot, now| slot.acquire(&t, &owner, ttl, now),
        )
        .await
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let l = lease.clone();
        self.with_lease_slot(
            "state.renew_lease",
            lease.tenant.clone(),
            move |slot, now| slot.renew(&l, ttl, now),
        )
        .await
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let l = lease.clone();
        self.with_lease_slot(
            "state.release_lease",
            lease.tenant.clone(),
            move |slot, _| {
                slot.release(&l);
                Ok(())
            },
        )
        .await
    }

    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        let tenant = tenant.to_string();
        self.read("state.get_lease", move |c| {
            Ok(load_slot(c, &tenant)?.current(&tenant))
        })
        .await
    }

    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        let t = tenant.to_string();
        self.with_lease_slot("state.break_lease", tenant.to_string(), move |slot, _| {
            Ok(slot.break_lease(&t))
        })
        .await
    }

    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        let json = to_json(cursor)?;
        let id = cursor.fleet_id.clone();
        self.write("state.put_fleet_cursor", move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO fleet_cursors (fleet_id, cursor, updated_at_ms)
                 VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, json, now_ms()])?;
            Ok(())
        })
        .await
    }

    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        let id = fleet_id.to_string();
        self.read("state.get_fleet_cursor", move |c| {
            let text: Option<String> = c
                .prepare_cached("SELECT cursor FROM fleet_cursors WHERE fleet_id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            text.map(|t| from_json("cursor", &t)).transpose()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::conformance::{self, unique};
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(unique("provisio-sqlite-test"));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_sqlite_file() {
        let dir = TempDir::new();
        let store = SqliteStateStore::open(dir.0.join("state.db"))
            .await
            .unwrap();
        conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conformance_sqlite_in_memory() {
        let store = SqliteStateStore::open_in_memory().unwrap();
        assert_eq!(store.path(), None);
        conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test]
    async fn open_creates_parent_dirs_and_migrations_are_idempotent() {
        let dir = TempDir::new();
        let path = dir.0.join("a/b/c/state.db");
        let store = SqliteStateStore::open(&path).await.unwrap();
        assert!(path.exists());
        assert_eq!(store.schema_version().await.unwrap(), 1);
        store
            .put_resource(&conformance::sample_record("acme", "web"))
            .await
            .unwrap();
        drop(store);

        let again = SqliteStateStore::open(&path).await.unwrap();
        let third = SqliteStateStore::open(&path).await.unwrap();
        assert_eq!(third.schema_version().await.unwrap(), 1);
        let rows: i64 = again
            .read("test", |c| {
                Ok(c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(
            rows,
            MIGRATIONS.len() as i64,
            "each migration recorded once"
        );
        let mode: String = again
            .read("test", |c| {
                Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = again
            .write("test", |c| {
                Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL on the writer");
        assert!(
            third.get_resource("acme", "web").await.unwrap().is_some(),
            "data survives reopening"
        );
    }

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = TempDir::new();
        let path = dir.0.join("state.db");
        let store = SqliteStateStore::open(&path).await.unwrap();
        store
            .write("test", |c| {
                c.execute(
                    "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        let err = SqliteStateStore::open(&path).await.unwrap_err();
        assert!(err.to_string().contains("newer"), "{err}");
    }

    // ---- multi-process tests: the test binary re-runs itself as the child process ----

    const CHILD_MODE: &str = "PROVISIO_SQLITE_TEST_CHILD";
    const CHILD_TEST: &str = "state::sqlite::tests::child_process_entry";
    const ROUNDS: u64 = 15;

    fn child(mode: &str, db: &Path, extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads", "1"])
            .env(CHILD_MODE, mode)
            .env("PROVISIO_SQLITE_TEST_DB", db)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Does nothing in a normal test run; in a child process it plays the part `CHILD_MODE`
    /// names.
    #[test]
    fn child_process_entry() {
        let Ok(mode) = std::env::var(CHILD_MODE) else {
            return;
        };
        let db = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_DB").unwrap());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            match mode.as_str() {
                "lease" => child_contend_for_lease(&db).await,
                "append" => child_append_then_hang(&db).await,
                other => panic!("unknown child mode {other}"),
            }
        });
    }

    async fn child_contend_for_lease(db: &Path) {
        let owner = std::env::var("PROVISIO_SQLITE_TEST_OWNER").unwrap();
        let go = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_GO").unwrap());
        let log = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_LOG").unwrap());
        // Start together: both processes also race on creating the file and migrating it.
        while !go.exists() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let store = SqliteStateStore::open(db).await.unwrap();
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
            .unwrap();
        let mut conflicts = 0u64;
        for _ in 0..ROUNDS {
            let lease = loop {
                match store
                    .acquire_lease("shared", &owner, Duration::from_secs(30))
                    .await
                {
                    Ok(lease) => break lease,
                    Err(e) => {
                        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
                        conflicts += 1;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            };
            // One write(2) per line: O_APPEND keeps lines whole between the processes.
            log.write_all(format!("enter {owner}\n").as_bytes())
                .unwrap();
            // A read-modify-write that loses updates unless the lease excludes the other.
            let mut counter = store
                .get_resource("shared", "counter")
                .await
                .unwrap()
                .unwrap_or_else(|| conformance::sample_record("shared", "counter"));
            let n = counter.outputs["n"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(3)).await;
            counter.outputs = serde_json::json!({ "n": n + 1 });
            store.put_resource(&counter).await.unwrap();
            log.write_all(format!("exit {owner}\n").as_bytes()).unwrap();
            store.release_lease(&lease).await.unwrap();
            // Give the other process a chance to win the next round.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        println!("CHILD-DONE conflicts={conflicts}");
    }

    async fn child_append_then_hang(db: &Path) {
        let store = SqliteStateStore::open(db).await.unwrap();
        let entry = conformance::sample_entry("crash", "web", "tok-crash", JournalPhase::Intent);
        let seq = store.append_journal(&entry).await.unwrap();
        println!("APPENDED {seq}");
        std::io::stdout().flush().unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
    }

    #[test]
    fn two_processes_contend_for_one_lease() {
        let dir = TempDir::new();
        let db = dir.0.join("shared.db");
        let go = dir.0.join("go");
        let log = dir.0.join("log");
        let children: Vec<_> = ["proc-a", "proc-b"]
            .into_iter()
            .map(|owner| {
                child(
                    "lease",
                    &db,
                    &[
                        ("PROVISIO_SQLITE_TEST_OWNER", owner.to_string()),
                        ("PROVISIO_SQLITE_TEST_GO", go.display().to_string()),
                        ("PROVISIO_SQLITE_TEST_LOG", log.display().to_string()),
                    ],
                )
                .spawn()
                .unwrap()
            })
            .collect();
        std::fs::write(&go, b"go").unwrap();
        let mut conflicts = 0;
        for c in children {
            let out = c.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "child failed: {stdout}");
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("CHILD-DONE conflicts=").map(|(_, n)| n))
                .unwrap_or_else(|| panic!("child did not report: {stdout}"));
            conflicts += line.trim().parse::<u64>().unwrap();
        }

        // Critical sections never overlap: enter/exit pairs of one owner, strictly alternating.
        let log = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len() as u64, 4 * ROUNDS, "{log}");
        for pair in lines.chunks(2) {
            let enter = pair[0].strip_prefix("enter ").expect(&log);
            let exit = pair[1].strip_prefix("exit ").expect(&log);
            assert_eq!(enter, exit, "overlapping critical sections:\n{log}");
        }
        // No lost update.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = SqliteStateStore::open(&db).await.unwrap();
            let counter = store
                .get_resource("shared", "counter")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(counter.outputs["n"], serde_json::json!(2 * ROUNDS));
            assert_eq!(store.get_lease("shared").await.unwrap(), None);
        });
        assert!(conflicts > 0, "the two processes never contended");
        println!("two processes: {} lease conflicts seen", conflicts);
    }

    #[test]
    fn appended_intent_survives_kill_9() {
        let dir = TempDir::new();
        let db = dir.0.join("crash.db");
        let mut c = child("append", &db, &[]).spawn().unwrap();
        let mut stdout = BufReader::new(c.stdout.take().unwrap());
        let mut seq = None;
        let mut line = String::new();
        while stdout.read_line(&mut line).unwrap() > 0 {
            // libtest prints the test name on the same line.
            if let Some((_, s)) = line.trim().split_once("APPENDED ") {
                seq = Some(s.parse::<u64>().unwrap());
                break;
            }
            line.clear();
        }
        // SIGKILL right after append_journal returned.
        c.kill().unwrap();
        let _ = c.wait();
        let seq = seq.expect("the child never appended");
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let store = SqliteStateStore::open(&db).await.unwrap();
            let pending = store.pending_intents("crash").await.unwrap();
            assert_eq!(pending.len(), 1);
            assert_eq!(pending[0].seq, seq);
            assert_eq!(pending[0].token, "tok-crash");
        });
    }
}
