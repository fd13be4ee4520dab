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
use super::{
    FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, TenantPhase, now_ms,
};
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
const MIGRATIONS: &[Migration] = &[
    Migration {
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
    },
    Migration {
        version: 2,
        name: "tenant phases",
        sql: "
        CREATE TABLE tenant_phases (
            tenant        TEXT    NOT NULL PRIMARY KEY,
            record        TEXT    NOT NULL,
            updated_at_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
    ",
    },
];

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

mod store;
#[cfg(test)]
mod tests;
