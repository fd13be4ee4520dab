//! The PostgreSQL state store: many workers on many machines sharing one database.
//!
//! - **TLS** (rustls) as libpq's `sslmode` in the URL says: `disable`, `prefer` (the
//!   default, as in libpq: TLS when the server offers it, certificate not checked), `require`,
//!   `verify-ca` and `verify-full` (the certificate checked against `sslrootcert`, a PEM file,
//!   else the system's roots; `verify-full` also checks the host name). Workers that reach the
//!   store over a network should use `verify-full`. See [`connect::Settings`].
//! - **A small pool**: up to `pool_size` connections (a URL parameter of provisio's own,
//!   default 4, at most 32), opened on first use and taken in turn; each pipelines the calls
//!   sent on it. A connection that dropped is opened again by the next call that picks it.
//! - **Tables live in one schema** (`provisio` by default, see
//!   [`PostgresStateStore::connect_with_schema`]), created with versioned migrations recorded
//!   in `<schema>.schema_migrations`. Migrations run at connect inside one transaction that
//!   first takes a transaction-scoped advisory lock, so several workers starting at once apply
//!   them exactly once.
//! - **Every write is one atomic statement** on one of the connections (auto-committed; with
//!   the server's default `synchronous_commit = on` it is durable when the call returns):
//!   - leases are taken with `INSERT ... ON CONFLICT (tenant) DO UPDATE ... WHERE <free,
//!     same owner or expired>`, which PostgreSQL runs under the row lock, so of many workers
//!     exactly one wins;
//!   - journal sequence numbers come from a `BIGSERIAL`. An append first takes a
//!     transaction-scoped advisory lock on the tenant, so within a tenant sequence numbers
//!     commit in increasing order and a reader following `journal(tenant, after)` never
//!     skips an entry that commits late. Gaps in the numbering are possible and harmless.
//! - **Clocks**: lease expiry uses the calling worker's clock ([`now_ms`]); keep the workers'
//!   clocks synchronised (NTP), and use TTLs far above the expected skew.
//! - **Text columns**: names use the `"C"` collation so lists come back in byte order, like
//!   the other stores. JSON values are stored as `TEXT` holding serde_json's text (cast with
//!   `::jsonb` to query them): `jsonb` would reject `\u0000` and renormalise numbers.
//! - **Reconnects**: when a connection drops, the calls in flight on it fail with
//!   `ErrorKind::Transient` and the next call that picks it connects again.
//! - The connection URL may hold a password: it is never logged nor put in an error.

use super::{
    FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, TenantPhase, now_ms,
};
use provisio::{Error, ErrorKind, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

/// The schema [`PostgresStateStore::connect`] uses.
pub const DEFAULT_SCHEMA: &str = "provisio";

/// The first key of the advisory locks this store takes (`'prov'` in ASCII); the second is
/// a hash of the schema (migrations) or of the tenant (journal appends).
const LOCK_CLASS_MIGRATE: i32 = 0x7072_6f76;
const LOCK_CLASS_JOURNAL: i32 = 0x7072_6f77;

/// How many times `acquire_lease` retries when the holder changed between its atomic upsert
/// and the read that names the holder.
const ACQUIRE_ATTEMPTS: usize = 5;

/// A schema migration; `{s}` stands for the quoted schema name.
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
        sql: r#"
        CREATE TABLE {s}.resources (
            tenant        TEXT COLLATE "C" NOT NULL,
            name          TEXT COLLATE "C" NOT NULL,
            resource_type TEXT    NOT NULL,
            provider      TEXT    NOT NULL,
            identity      TEXT    NOT NULL,
            params        TEXT    NOT NULL,
            outputs       TEXT    NOT NULL,
            protect       BOOLEAN NOT NULL,
            depends_on    TEXT    NOT NULL,
            updated_at_ms BIGINT  NOT NULL,
            PRIMARY KEY (tenant, name)
        );
        CREATE TABLE {s}.journal (
            seq           BIGSERIAL PRIMARY KEY,
            run_id        TEXT    NOT NULL,
            tenant        TEXT COLLATE "C" NOT NULL,
            resource      TEXT    NOT NULL,
            resource_type TEXT    NOT NULL,
            action        TEXT    NOT NULL,
            phase         TEXT    NOT NULL CHECK (phase IN ('intent', 'succeeded', 'failed')),
            identity      TEXT    NOT NULL,
            tags          TEXT    NOT NULL,
            token         TEXT    NOT NULL,
            detail        TEXT    NOT NULL,
            at_ms         BIGINT  NOT NULL
        );
        CREATE INDEX journal_by_tenant ON {s}.journal (tenant, seq);
        CREATE INDEX journal_by_token ON {s}.journal (tenant, token, seq);
        -- owner NULL: nobody holds the tenant; the row keeps the last generation.
        CREATE TABLE {s}.leases (
            tenant        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
            owner         TEXT,
            expires_at_ms BIGINT  NOT NULL,
            generation    BIGINT  NOT NULL
        );
        CREATE TABLE {s}.fleet_cursors (
            fleet_id      TEXT    NOT NULL PRIMARY KEY,
            cursor        TEXT    NOT NULL,
            updated_at_ms BIGINT  NOT NULL
        );
    "#,
    },
    Migration {
        version: 2,
        name: "tenant phases",
        sql: r#"
        CREATE TABLE {s}.tenant_phases (
            tenant        TEXT COLLATE "C" NOT NULL PRIMARY KEY,
            record        TEXT    NOT NULL,
            updated_at_ms BIGINT  NOT NULL
        );
    "#,
    },
    Migration {
        version: 3,
        name: "shared rate limits",
        sql: r#"
        CREATE TABLE {s}.rate_buckets (
            key           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
            tokens        DOUBLE PRECISION NOT NULL,
            updated_at_ms BIGINT           NOT NULL
        );
    "#,
    },
];

fn pg_error(operation: &str, e: tokio_postgres::Error) -> Error {
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let code = e.code().map(|c| c.code().to_string());
    let kind = match code.as_deref() {
        _ if e.is_closed() || io => ErrorKind::Transient,
        // connection exceptions, serialization failure, deadlock, lock not available,
        // too many connections, admin/crash shutdown, cannot connect now
        Some(c)
            if c.starts_with("08")
                || matches!(
                    c,
                    "40001" | "40P01" | "55P03" | "53300" | "57P01" | "57P02" | "57P03"
                ) =>
        {
            ErrorKind::Transient
        }
        _ => ErrorKind::Unexpected,
    };
    // The server's message names tables and constraints, never bound parameter values.
    let message = match e.as_db_error() {
        Some(db) => format!(
            "PostgreSQL state store: {} ({})",
            db.message(),
            db.code().code()
        ),
        None => format!("PostgreSQL state store: {e}"),
    };
    Error::new(kind, message)
        .with_provider("postgres")
        .with_operation(operation)
        .with_source(e)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| {
        Error::unexpected("cannot serialise a state record to JSON")
            .with_provider("postgres")
            .with_source(e)
    })
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        Error::unexpected(format!("malformed JSON in state column {column}"))
            .with_provider("postgres")
            .with_source(e)
    })
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Checks a schema name: lowercase ASCII letters, digits and `_`, not starting with a digit,
/// at most 63 bytes (PostgreSQL's identifier limit). It is then always quoted.
fn check_schema(schema: &str) -> Result<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "schema",
            "use lowercase letters, digits and _ (at most 63, not starting with a digit)",
        ))
    }
}

/// The prepared statements of one connection.
struct Statements {
    get_resource: Statement,
    list_resources: Statement,
    put_resource: Statement,
    delete_resource: Statement,
    list_tenants: Statement,
    append_journal: Statement,
    journal: Statement,
    pending_intents: Statement,
    acquire_lease: Statement,
    renew_lease: Statement,
    release_lease: Statement,
    get_lease: Statement,
    break_lease: Statement,
    put_fleet_cursor: Statement,
    get_fleet_cursor: Statement,
    get_phase: Statement,
    put_phase: Statement,
    delete_phase: Statement,
    schema_version: Statement,
    bucket_seed: Statement,
    bucket_take: Statement,
    bucket_pause: Statement,
}

/// The server's clock in milliseconds: every worker's bucket arithmetic uses the same clock.
const SERVER_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

const RESOURCE_COLUMNS: &str = "tenant, name, resource_type, provider, identity, params, \
                                outputs, protect, depends_on, updated_at_ms";
const JOURNAL_COLUMNS: &str = "seq, run_id, tenant, resource, resource_type, action, phase, \
                               identity, tags, token, detail, at_ms";

impl Statements {
    async fn prepare(client: &Client, s: &str) -> std::result::Result<Self, tokio_postgres::Error> {
        let p = |sql: String| async move { client.prepare(&sql).await };
        Ok(Statements {
            get_resource: p(format!(
                "SELECT {RESOURCE_COLUMNS} FROM {s}.resources WHERE tenant = $1 AND name = $2"
            ))
            .await?,
            list_resources: p(format!(
                "SELECT {RESOURCE_COLUMNS} FROM {s}.resources WHERE tenant = $1 ORDER BY name"
            ))
            .await?,
            put_resource: p(format!(
                "INSERT INTO {s}.resources ({RESOURCE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (tenant, name) DO UPDATE SET
                    resource_type = EXCLUDED.resource_type, provider = EXCLUDED.provider,
                    identity = EXCLUDED.identity, params = EXCLUDED.params,
                    outputs = EXCLUDED.outputs, protect = EXCLUDED.protect,
                    depends_on = EXCLUDED.depends_on, updated_at_ms = EXCLUDED.updated_at_ms"
            ))
            .await?,
            delete_resource: p(format!(
                "DELETE FROM {s}.resources WHERE tenant = $1 AND name = $2"
            ))
            .await?,
            list_tenants: p(format!(
                "SELECT tenant FROM {s}.resources UNION SELECT tenant FROM {s}.journal
                 ORDER BY tenant"
            ))
            .await?,
            // The MATERIALIZED CTE takes the tenant's advisory lock before the row (and its
            // nextval) is produced; the lock is held until the statement's commit.
            append_journal: p(format!(
                "WITH tenant_lock AS MATERIALIZED (
                    SELECT pg_advisory_xact_lock({LOCK_CLASS_JOURNAL}, hashtext($2::text)))
                 INSERT INTO {s}.journal (run_id, tenant, resource, resource_type, action,
                    phase, identity, tags, token, detail, at_ms)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM tenant_lock
                 RETURNING seq"
            ))
            .await?,
            journal: p(format!(
                "SELECT {JOURNAL_COLUMNS} FROM {s}.journal WHERE tenant = $1 AND seq > $2
                 ORDER BY seq"
            ))
            .await?,
            pending_intents: p(format!(
                "SELECT {JOURNAL_COLUMNS} FROM {s}.journal AS i
                 WHERE i.tenant = $1 AND i.phase = 'intent'
                   AND NOT EXISTS (
                       SELECT 1 FROM {s}.journal AS r
                       WHERE r.tenant = i.tenant AND r.token = i.token AND r.seq > i.seq
                         AND r.phase IN ('succeeded', 'failed'))
                 ORDER BY i.seq"
            ))
            .await?,
            // $3 = now, $4 = the new expiry. Free (owner NULL), same owner (renew: same
            // generation) or expired (takeover: generation + 1); otherwise no row.
            acquire_lease: p(format!(
                "INSERT INTO {s}.leases AS l (tenant, owner, expires_at_ms, generation)
                 VALUES ($1, $2, $4, 1)
                 ON CONFLICT (tenant) DO UPDATE SET
                    owner = EXCLUDED.owner,
                    expires_at_ms = EXCLUDED.expires_at_ms,
                    generation = CASE WHEN l.owner = EXCLUDED.owner THEN l.generation
                                      ELSE l.generation + 1 END
                 WHERE l.owner IS NULL OR l.owner = EXCLUDED.owner OR l.expires_at_ms <= $3
                 RETURNING owner, expires_at_ms, generation"
            ))
            .await?,
            renew_lease: p(format!(
                "UPDATE {s}.leases SET expires_at_ms = $4
                 WHERE tenant = $1 AND owner = $2 AND generation = $3
                 RETURNING owner, expires_at_ms, generation"
            ))
            .await?,
            release_lease: p(format!(
                "UPDATE {s}.leases SET owner = NULL, expires_at_ms = 0
                 WHERE tenant = $1 AND owner = $2 AND generation = $3"
            ))
            .await?,
            get_lease: p(format!(
                "SELECT owner, expires_at_ms, generation FROM {s}.leases
                 WHERE tenant = $1 AND owner IS NOT NULL"
            ))
            .await?,
            break_lease: p(format!(
                "WITH old AS (
                    SELECT tenant, owner, expires_at_ms, generation FROM {s}.leases
                    WHERE tenant = $1 AND owner IS NOT NULL FOR UPDATE)
                 UPDATE {s}.leases AS l SET owner = NULL, expires_at_ms = 0
                 FROM old WHERE l.tenant = old.tenant
                 RETURNING old.owner, old.expires_at_ms, old.generation"
            ))
            .await?,
            put_fleet_cursor: p(format!(
                "INSERT INTO {s}.fleet_cursors (fleet_id, cursor, updated_at_ms)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (fleet_id) DO UPDATE SET
                    cursor = EXCLUDED.cursor, updated_at_ms = EXCLUDED.updated_at_ms"
            ))
            .await?,
            get_fleet_cursor: p(format!(
                "SELECT cursor FROM {s}.fleet_cursors WHERE fleet_id = $1"
            ))
            .await?,
            get_phase: p(format!(
                "SELECT record FROM {s}.tenant_phases WHERE tenant = $1"
            ))
            .await?,
            put_phase: p(format!(
                "INSERT INTO {s}.tenant_phases (tenant, record, updated_at_ms)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (tenant) DO UPDATE SET
                    record = EXCLUDED.record, updated_at_ms = EXCLUDED.updated_at_ms"
            ))
            .await?,
            delete_phase: p(format!("DELETE FROM {s}.tenant_phases WHERE tenant = $1")).await?,
            schema_version: p(format!(
                "SELECT COALESCE(MAX(version), 0) FROM {s}.schema_migrations"
            ))
            .await?,
            // a bucket seen for the first time starts full ($2 = capacity)
            bucket_seed: p(format!(
                "INSERT INTO {s}.rate_buckets (key, tokens, updated_at_ms)
                 VALUES ($1, $2::float8, {SERVER_MS}) ON CONFLICT (key) DO NOTHING"
            ))
            .await?,
            // refill by the server's clock ($3 = tokens per second, capped at $2), grant up to
            // $4 whole tokens; the row lock serialises the workers. Returns (granted, level
            // before the grant): no row when the bucket is not there yet.
            bucket_take: p(format!(
                "WITH cur AS (
                     SELECT b.key, n.ms,
                            LEAST($2::float8, b.tokens
                                  + GREATEST(0, n.ms - b.updated_at_ms) * $3::float8 / 1000.0) AS level
                     FROM {s}.rate_buckets b, (SELECT {SERVER_MS} AS ms) n
                     WHERE b.key = $1 FOR UPDATE OF b
                 ), g AS (
                     SELECT key, ms, level, LEAST($4::float8, GREATEST(0, floor(level))) AS granted
                     FROM cur
                 )
                 UPDATE {s}.rate_buckets b
                 SET tokens = g.level - g.granted, updated_at_ms = GREATEST(b.updated_at_ms, g.ms)
                 FROM g WHERE b.key = g.key
                 RETURNING g.granted, g.level"
            ))
            .await?,
            // a debt of $2 seconds' worth of tokens ($3 per second): every worker waits
            bucket_pause: p(format!(
                "UPDATE {s}.rate_buckets
                 SET tokens = LEAST(tokens, -($2::float8 * $3::float8)),
                     updated_at_ms = GREATEST(updated_at_ms, {SERVER_MS})
                 WHERE key = $1"
            ))
            .await?,
        })
    }
}

/// One live connection and its statements.
struct Conn {
    client: Client,
    stmts: Statements,
}

/// The PostgreSQL [`StateStore`].
///
/// A small pool of connections (`pool_size` in the URL, default 4), shared by every task
/// (tokio-postgres pipelines concurrent calls on each); run one store per worker process. It
/// follows every rule of the [module documentation](super); see this module's documentation
/// for the SQL details and TLS.
///
/// ```no_run
/// use provisio_engine::state::{StateStore, postgres::PostgresStateStore};
/// # async fn demo() -> provisio::Result<()> {
/// let store = PostgresStateStore::connect(
///     "postgres://provisio@db.internal:5432/provisio?sslmode=verify-full&sslrootcert=/etc/provisio/ca.pem&pool_size=4",
/// )
/// .await?;
/// let tenants = store.list_tenants().await?;
/// # Ok(()) }
/// ```
pub struct PostgresStateStore {
    settings: connect::Settings,
    /// The quoted schema name, ready to prefix table names.
    quoted_schema: String,
    schema: String,
    /// `pool_size` slots, each a live connection or none yet.
    slots: Vec<Slot>,
    /// The slot the next call takes.
    next: AtomicUsize,
}

/// One connection of the pool; its mutex serialises reconnects of this slot.
struct Slot {
    conn: RwLock<Option<Arc<Conn>>>,
    reconnect: tokio::sync::Mutex<()>,
}

impl Slot {
    fn new(conn: Option<Conn>) -> Slot {
        Slot {
            conn: RwLock::new(conn.map(Arc::new)),
            reconnect: tokio::sync::Mutex::new(()),
        }
    }

    /// The slot's connection when it is open.
    fn live(&self) -> Option<Arc<Conn>> {
        self.conn
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .filter(|c| !c.client.is_closed())
    }
}

impl std::fmt::Debug for PostgresStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("PostgresStateStore")
            .field("schema", &self.schema)
            .field("sslmode", &self.settings.sslmode)
            .field("pool_size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// Connects, migrates (when `migrate`) and prepares the statements.
async fn open_conn(
    settings: &connect::Settings,
    schema: &str,
    quoted: &str,
    migrate: bool,
) -> Result<Conn> {
    let op = "state.postgres.connect";
    let mut client = settings.connect(op).await?;
    if migrate {
        apply_migrations(&mut client, schema, quoted)
            .await
            .map_err(|e| pg_error("state.postgres.migrate", e))??;
    }
    let stmts = Statements::prepare(&client, quoted)
        .await
        .map_err(|e| pg_error(op, e))?;
    Ok(Conn { client, stmts })
}

/// Applies the missing migrations in one transaction under an advisory lock.
/// The outer error is PostgreSQL's; the inner one a schema newer than this code.
async fn apply_migrations(
    client: &mut Client,
    schema: &str,
    quoted: &str,
) -> std::result::Result<Result<()>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    // Held until commit: a second worker waits here, then finds everything applied.
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&LOCK_CLASS_MIGRATE, &schema],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted};
         CREATE TABLE IF NOT EXISTS {quoted}.schema_migrations (
             version       BIGINT NOT NULL PRIMARY KEY,
             name          TEXT   NOT NULL,
             applied_at_ms BIGINT NOT NULL
         );"
    ))
    .await?;
    let current: i64 = tx
        .query_one(
            &format!("SELECT COALESCE(MAX(version), 0) FROM {quoted}.schema_migrations"),
            &[],
        )
        .await?
        .get(0);
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > latest {
        return Ok(Err(Error::unexpected(format!(
            "schema {schema} has version {current}, newer than this provisio understands \
             ({latest}); upgrade provisio"
        ))
        .with_provider("postgres")));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(&m.sql.replace("{s}", quoted)).await?;
        tx.execute(
            &format!(
                "INSERT INTO {quoted}.schema_migrations (version, name, applied_at_ms)
                 VALUES ($1, $2, $3)"
            ),
            &[&m.version, &m.name, &now_ms()],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(Ok(()))
}

fn lease_from_row(tenant: &str, row: &Row) -> Lease {
    Lease {
        tenant: tenant.to_string(),
        owner: row.get(0),
        expires_at_ms: row.get(1),
        generation: to_u64(row.get(2)),
    }
}

fn resource_from_row(row: &Row) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        tenant: row.get(0),
        name: row.get(1),
        resource_type: row.get(2),
        provider: row.get(3),
        identity: row.get(4),
        params: from_json("params", row.get(5))?,
        outputs: from_json("outputs", row.get(6))?,
        protect: row.get(7),
        depends_on: from_json("depends_on", row.get(8))?,
        updated_at_ms: row.get(9),
    })
}

fn entry_from_row(row: &Row) -> Result<JournalEntry> {
    Ok(JournalEntry {
        seq: to_u64(row.get(0)),
        run_id: row.get(1),
        tenant: row.get(2),
        resource: row.get(3),
        resource_type: row.get(4),
        action: row.get(5),
        phase: JournalPhase::parse(row.get(6))?,
        identity: row.get(7),
        tags: from_json("tags", row.get(8))?,
        token: row.get(9),
        detail: from_json("detail", row.get(10))?,
        at_ms: row.get(11),
    })
}

impl PostgresStateStore {
    /// Connects to `url` (a `postgres://` URL or a `key=value` string), creates the
    /// [`DEFAULT_SCHEMA`] schema and its tables when missing and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with_schema(url, DEFAULT_SCHEMA).await
    }

    /// Like [`PostgresStateStore::connect`] with the tables in `schema` (lowercase letters,
    /// digits and `_`): several installations, or test runs, can share one database.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self> {
        check_schema(schema)?;
        let settings = connect::Settings::parse(url)?;
        let quoted = format!("\"{schema}\"");
        // The first connection migrates; the others open when first used.
        let first = open_conn(&settings, schema, &quoted, true).await?;
        let mut slots = vec![Slot::new(Some(first))];
        slots.extend((1..settings.pool_size).map(|_| Slot::new(None)));
        Ok(PostgresStateStore {
            settings,
            quoted_schema: quoted,
            schema: schema.to_string(),
            slots,
            next: AtomicUsize::new(0),
        })
    }

    /// How many connections the store keeps at most.
    pub fn pool_size(&self) -> usize {
        self.slots.len()
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.slots.iter().filter(|s| s.live().is_some()).count()
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema version (the highest applied migration).
    pub async fn schema_version(&self) -> Result<i64> {
        let op = "state.postgres.schema_version";
        let conn = self.conn().await?;
        let row = conn
            .client
            .query_one(&conn.stmts.schema_version, &[])
            .await
            .map_err(|e| pg_error(op, e))?;
        Ok(row.get(0))
    }

    /// A live connection: the next slot's, opened (again) when it has none or it dropped.
    async fn conn(&self) -> Result<Arc<Conn>> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        if let Some(conn) = slot.live() {
            return Ok(conn);
        }
        let _guard = slot.reconnect.lock().await;
        if let Some(conn) = slot.live() {
            return Ok(conn); // another task opened it meanwhile
        }
        // The schema was migrated at connect; just prepare the statements.
        let fresh =
            Arc::new(open_conn(&self.settings, &self.schema, &self.quoted_schema, false).await?);
        *slot
            .conn
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(fresh.clone());
        Ok(fresh)
    }

    async fn query(
        &self,
        op: &str,
        stmt: impl Fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let conn = self.conn().await?;
        conn.client
            .query(stmt(&conn.stmts), params)
            .await
            .map_err(|e| pg_error(op, e))
    }

    async fn query_opt(
        &self,
        op: &str,
        stmt: impl Fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>> {
        let conn = self.conn().await?;
        conn.client
            .query_opt(stmt(&conn.stmts), params)
            .await
            .map_err(|e| pg_error(op, e))
    }

    async fn execute(
        &self,
        op: &str,
        stmt: impl Fn(&Statements) -> &Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        let conn = self.conn().await?;
        conn.client
            .execute(stmt(&conn.stmts), params)
            .await
            .map_err(|e| pg_error(op, e))
    }
}

pub mod connect;
mod store;
#[cfg(test)]
mod tests;
