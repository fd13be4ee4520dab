//! The PostgreSQL provider of provisio: roles, databases and seed data inside any PostgreSQL
//! server (a local one, Amazon RDS, Azure Database for PostgreSQL, ...) — the
//! `roles_and_databases` half of [`Database`](provisio::Database). Managed servers are created
//! by the cloud providers; this provider's server operations fail with `Unsupported`.
//!
//! # Getting an `Arc<dyn Database>`
//!
//! ```no_run
//! # async fn demo() -> provisio::Result<()> {
//! use std::sync::Arc;
//! use provisio::{Database, SecretString};
//! use provisio::database::{DatabaseSpec, RoleSpec, SeedSpec};
//! use provisio_postgres::{PostgresConfig, PostgresDatabase, SslMode};
//!
//! // The administrator's password comes from PGPASSWORD (or `password_env`), never the URL.
//! let config = PostgresConfig::from_url(
//!     "postgres://provisio_admin@tenants.abc123.eu-west-1.rds.amazonaws.com:5432/postgres",
//! )?
//! .with_sslmode(SslMode::VerifyFull)
//! .with_ca_file("/etc/provisio/rds-global-bundle.pem");
//! let db: Arc<dyn Database> = Arc::new(PostgresDatabase::new(config)?);
//!
//! db.ensure_role(&RoleSpec { name: "acme".into(), password: SecretString::new("from the secret store") }).await?;
//! db.ensure_database(&DatabaseSpec { name: "acme".into(), owner: "acme".into() }).await?;
//! db.apply_seed(&SeedSpec {
//!     database: "acme".into(),
//!     id: "initial-data".into(),
//!     sql: "CREATE TABLE settings (key text PRIMARY KEY, value text);".into(),
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! # What each operation does
//!
//! * **Names.** Every role and database name is checked with
//!   [`provisio::validate::pg_identifier`] (1 to 63 bytes, no NUL, no `pg_` prefix) and then
//!   always written as a quoted identifier with `"` doubled, so it is created exactly as named
//!   (case, spaces, quotes, semicolons, non-ASCII) and can never inject SQL. Lookups use bind
//!   parameters; the only literal in DDL is a SCRAM verifier, quoted like libpq's
//!   `PQescapeLiteral`.
//! * **`ensure_role`** sends `CREATE ROLE ... LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
//!   NOREPLICATION NOBYPASSRLS` first (one statement for a new role; `CREATE` never changes an
//!   existing role). The password is turned into a SCRAM-SHA-256 verifier on the client
//!   (postgres-protocol), so only the verifier reaches the server: the plaintext never appears
//!   in SQL text, server logs or `pg_stat_activity`. When the role exists (`42710`): it is read
//!   in one query — with its stored verifier from `pg_authid` when the administrator is a
//!   superuser, checked against the password client-side; with the same password and
//!   attributes the call is `Unchanged`. Otherwise (a new password, a missing `LOGIN`,
//!   `CREATEDB`, or an administrator that cannot read `pg_authid`, as on RDS and Azure) the
//!   role is altered and the call is `Updated`. A role that is a superuser, has `CREATEROLE`,
//!   `REPLICATION` or `BYPASSRLS`, or is the administrator itself is never changed
//!   (`Conflict`).
//! * **`ensure_database`** sends `CREATE DATABASE "name" OWNER "role"` first (outside any
//!   transaction), then by default revokes `CONNECT` and `TEMPORARY` from `PUBLIC`. `42P04`
//!   (also a concurrent creator's) means "exists": the database is read and a different owner
//!   is changed with `ALTER DATABASE ... OWNER TO` (`Updated`). A missing owner is `NotFound`.
//!   A non-superuser administrator refused with `42501` is granted the owner role (where
//!   PostgreSQL requires membership) and the `CREATE` is tried once more.
//! * **`apply_seed`** connects to the seed's database and, in one transaction of three
//!   messages (see `seed.rs`): takes an advisory lock (one seed at a time per database),
//!   creates the bookkeeping table [`provisio.seeds`](SEED_TABLE) if needed, looks the seed id
//!   up — the same checksum is `Unchanged`, another checksum is a `Conflict` (never re-run) —
//!   switches to the database owner (so what the seed creates belongs to the tenant's role),
//!   runs the SQL (alone in its message), and records `(id, sha256, applied_at, applied_by,
//!   run_as)` in the same transaction. SQL that ends the transaction itself (`COMMIT`) is
//!   detected and reported, not recorded.
//! * Every "ensure" reports whether its resource existed to the engine
//!   ([`provisio::existence::found`]) as soon as PostgreSQL said so.
//! * **`drop_database`** / **`drop_role`** need a [`Confirm`](provisio::Confirm) naming the
//!   resource (`Protected` otherwise). A database is dropped `WITH (FORCE)` on PostgreSQL 13+
//!   (other sessions are ended first on older servers); a role that still owns a database is
//!   a `Conflict`. Missing resources are `AlreadyGone`. Template databases and the
//!   administrator's own database are never dropped or re-owned.
//! * **Errors** are classified by SQLSTATE (see `docs/providers/postgres.md`), and carry the
//!   provider, operation and resource; never a password.
//! * **Connections**: one administrator connection shared by concurrent operations (they
//!   send autocommit statements only), and for seeds a small pool per tenant database (idle
//!   connections reused, closed after 30 s idle, when broken, or when their database is
//!   dropped); at most [`PostgresConfig::max_connections`] open at once, with a connect
//!   timeout; TLS through rustls ([`SslMode`]).
#![deny(missing_docs)]

mod client;
mod config;
mod database;
mod dump;
mod error;
mod pool;
mod quote;
mod scram;
mod seed;
mod statements;

pub use config::{PostgresConfig, SslMode};
pub use database::{PostgresDatabase, SEED_LOCK_KEY, SEED_SCHEMA, SEED_TABLE};
