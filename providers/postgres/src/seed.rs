//! `apply_seed`: seed SQL applied once per database, recorded with its checksum in
//! [`SEED_SCHEMA`].[`SEED_TABLE`], in as few messages as a script sends.
//!
//! On a first application, three simple-query messages on one connection to the tenant
//! database (the script: `BEGIN`, the seed, `COMMIT`):
//! 1. `BEGIN`, the advisory lock, `CREATE SCHEMA/TABLE IF NOT EXISTS` for the bookkeeping,
//!    the seed's recorded checksum, the database owner, the transaction id, and the switch to
//!    the owner (`set_config('role', owner, true)`, the function form of `SET LOCAL ROLE`,
//!    so it needs no round trip to learn the owner's name first);
//! 2. the seed SQL, alone in its message, so nothing of it is parsed together with
//!    provisio's statements;
//! 3. `RESET ROLE`, the record `INSERT`, `COMMIT`.
//!
//! 2 and 3 are pipelined (one round trip). Message 3 is guarded: its `run_as` value is
//! `CASE WHEN txid_current() = <the id read in 1> THEN owner END`, NULL in any other
//! transaction, and `run_as` is `NOT NULL`. A seed that ended provisio's transaction
//! (`COMMIT`, `ROLLBACK`, `BEGIN` after `COMMIT`) therefore makes the `INSERT` fail before
//! the `COMMIT`: it is reported, not recorded, and whatever transaction it left open is rolled
//! back with the connection.

use crate::client::Conn;
use crate::database::{PostgresDatabase, SEED_LOCK_KEY, SEED_SCHEMA, SEED_TABLE, db_err, sqlstate};
use crate::error::from_pg;
use crate::pool::PooledConn;
use crate::quote;
use provisio::database::{AppliedSeed, SeedSpec};
use provisio::{Ensured, Error, ErrorKind, Result, validate};
use tokio_postgres::SimpleQueryMessage;

fn seed_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "seed id",
            "must be 1 to 255 characters without control characters",
        ));
    }
    Ok(())
}

/// What message 1 found.
struct Opened {
    recorded: Option<String>,
    owner: String,
    xid: i64,
}

fn table() -> String {
    format!("{}.{}", quote::ident(SEED_SCHEMA), quote::ident(SEED_TABLE))
}

/// Message 1 (see the module docs).
fn open_sql(id: &str) -> String {
    let table = table();
    format!(
        "BEGIN; \
         SELECT pg_advisory_xact_lock({SEED_LOCK_KEY}); \
         CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {table} ( \
            id text PRIMARY KEY, \
            checksum text NOT NULL, \
            applied_at timestamptz NOT NULL DEFAULT now(), \
            applied_by text NOT NULL DEFAULT session_user, \
            run_as text NOT NULL); \
         SELECT checksum AS recorded FROM {table} WHERE id = {id}; \
         SELECT pg_get_userbyid(datdba)::text AS owner, txid_current() AS xid, \
                set_config('role', pg_get_userbyid(datdba)::text, true) AS run_as \
         FROM pg_database WHERE datname = current_database()",
        schema = quote::ident(SEED_SCHEMA),
        id = quote::literal(id),
    )
}

/// Message 3 (see the module docs).
fn record_sql(id: &str, checksum: &str, opened: &Opened) -> String {
    format!(
        "RESET ROLE; \
         INSERT INTO {table} (id, checksum, run_as) VALUES ({id}, {checksum}, \
            CASE WHEN txid_current() = {xid} THEN {owner} END); \
         COMMIT",
        table = table(),
        id = quote::literal(id),
        checksum = quote::literal(checksum),
        xid = opened.xid,
        owner = quote::literal(&opened.owner),
    )
}

fn read_opened(messages: &[SimpleQueryMessage]) -> Result<Opened> {
    let rows = messages.iter().filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let (mut recorded, mut owner, mut xid) = (None, None, None);
    for row in rows {
        match row.columns().first().map(|c| c.name()) {
            Some("recorded") => recorded = row.get(0).map(str::to_string),
            Some("owner") => {
                owner = row.get(0).map(str::to_string);
                xid = row.get(1).and_then(|x| x.parse::<i64>().ok());
            }
            _ => {}
        }
    }
    match (owner, xid) {
        (Some(owner), Some(xid)) => Ok(Opened {
            recorded,
            owner,
            xid,
        }),
        _ => Err(Error::unexpected(
            "reading the seed bookkeeping: the server did not return the database's owner and transaction id",
        )),
    }
}

/// Ends the open transaction with `ROLLBACK`; a connection that cannot is not reused.
async fn roll_back(conn: &Conn) {
    match conn.batch_execute("ROLLBACK").await {
        Ok(()) => conn.set_in_transaction(false),
        Err(_) => conn.discard(),
    }
}

impl PostgresDatabase {
    /// A connection to the seed's database. Connecting to a missing database is 3D000 on
    /// PostgreSQL but an authentication-phase error on some managed services: only when the
    /// connection fails is the administrator database asked whether the database exists.
    async fn seed_connection(&self, db: &str) -> Result<PooledConn> {
        let missing = || Error::not_found(format!("database {db:?} does not exist"));
        match self.connector.connect(db).await {
            Ok(conn) => Ok(conn),
            Err(e) if e.kind() == &ErrorKind::NotFound => Err(missing()),
            Err(e) => {
                let admin = self.admin().await?;
                if Self::database_row(&admin, db).await?.is_none() {
                    return Err(missing());
                }
                Err(e)
            }
        }
    }

    /// Message 1; on a non-superuser administrator that may not act as the owner, grants the
    /// owner role once and tries again.
    async fn open_seed_transaction(&self, conn: &Conn, id: &str) -> Result<Opened> {
        let sql = open_sql(id);
        let mut granted = false;
        loop {
            conn.set_in_transaction(true);
            match conn.simple_query(&sql).await {
                Ok(messages) => return read_opened(&messages),
                Err(e) => {
                    roll_back(conn).await;
                    if sqlstate(&e) == Some("42501") && !conn.session.superuser && !granted {
                        let owner: String = conn
                            .query_one(
                                "SELECT pg_get_userbyid(datdba)::text FROM pg_database \
                                 WHERE datname = current_database()",
                                &[],
                            )
                            .await
                            .map_err(db_err("reading the database's owner"))?
                            .get(0);
                        granted = Self::ensure_member(conn, &owner).await?;
                        if granted {
                            continue;
                        }
                    }
                    return Err(from_pg(
                        e,
                        &format!("opening the seed transaction ({SEED_SCHEMA}.{SEED_TABLE})"),
                    ));
                }
            }
        }
    }

    pub(crate) async fn apply_seed_inner(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
        let db = validate::pg_identifier("seed database", &spec.database)?;
        seed_id(&spec.id)?;
        if spec.sql.trim().is_empty() {
            return Err(Error::invalid_field("seed sql", "must not be empty"));
        }
        if spec.sql.contains('\0') {
            return Err(Error::invalid_field(
                "seed sql",
                "must not contain a NUL character",
            ));
        }
        let checksum = spec.checksum();
        let applied = AppliedSeed {
            database: db.clone(),
            id: spec.id.clone(),
            checksum: checksum.clone(),
        };
        let conn = self.seed_connection(&db).await?;
        // The advisory lock in message 1 makes one seed at a time per database: a concurrent
        // apply of the same seed waits there and then finds it recorded.
        let opened = self.open_seed_transaction(&conn, &spec.id).await?;
        match &opened.recorded {
            Some(have) if *have == checksum => {
                provisio::existence::found(true);
                roll_back(&conn).await;
                return Ok(Ensured::unchanged(applied));
            }
            Some(have) => {
                provisio::existence::found(true);
                roll_back(&conn).await;
                return Err(Error::conflict(format!(
                    "seed {:?} was already applied to database {db:?} with checksum {have}; its SQL has changed (now {checksum}). \
                     Seeds run once and are never re-run: add a new seed with a new id for the change",
                    spec.id
                )));
            }
            None => provisio::existence::found(false),
        }
        let record = record_sql(&spec.id, &checksum, &opened);
        let (ran, recorded) = conn.batch_execute_pipelined(&spec.sql, &record).await;
        if let Err(e) = ran {
            // The transaction is aborted (message 3 was skipped): the connection goes.
            conn.discard();
            return Err(from_pg(
                e,
                &format!(
                    "seed {:?} failed in database {db:?} (nothing of it was applied)",
                    spec.id
                ),
            ));
        }
        match recorded {
            Ok(()) => {
                conn.set_in_transaction(false);
                Ok(Ensured::created(applied))
            }
            Err(e) => {
                conn.discard();
                if sqlstate(&e) == Some("23502") {
                    return Err(Error::invalid_input(format!(
                        "seed {:?} ended provisio's transaction in database {db:?} (COMMIT, ROLLBACK or BEGIN in the SQL?): \
                         it may be partly applied and was NOT recorded. Seed SQL must not contain transaction control",
                        spec.id
                    )));
                }
                Err(from_pg(e, &format!("recording seed {:?}", spec.id)))
            }
        }
    }
}
