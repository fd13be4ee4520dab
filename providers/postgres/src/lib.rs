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
//! * **`ensure_role`** creates `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION
//!   NOBYPASSRLS` roles. The password is turned into a SCRAM-SHA-256 verifier on the client
//!   (postgres-protocol), so only the verifier reaches the server: the plaintext never appears
//!   in SQL text, server logs or `pg_stat_activity`. For an existing role: when the
//!   administrator is a superuser, the stored verifier is read from `pg_authid` and checked
//!   against the password client-side; with the same password and attributes the call is
//!   `Unchanged`. Otherwise (a new password, a missing `LOGIN`, `CREATEDB`, or an
//!   administrator that cannot read `pg_authid`, as on RDS and Azure) the role is altered and
//!   the call is `Updated`. A role that is a superuser, has `CREATEROLE`, `REPLICATION` or
//!   `BYPASSRLS`, or is the administrator itself is never changed (`Conflict`).
//! * **`ensure_database`** runs `CREATE DATABASE "name" OWNER "role"` (outside any
//!   transaction), then by default revokes `CONNECT` and `TEMPORARY` from `PUBLIC`. A concurrent
//!   creator's `42P04` counts as "exists". A different owner is changed with `ALTER DATABASE
//!   ... OWNER TO` (`Updated`). The owner must exist (`NotFound`). A non-superuser
//!   administrator is granted the owner role first where PostgreSQL requires membership.
//! * **`apply_seed`** connects to the seed's database and, in one transaction: takes an
//!   advisory lock (one seed at a time per database), creates the bookkeeping table
//!   [`provisio.seeds`](SEED_TABLE) if needed, looks the seed id up — the same checksum is
//!   `Unchanged`, another checksum is a `Conflict` (never re-run) — then `SET LOCAL ROLE`s to
//!   the database owner (so what the seed creates belongs to the tenant's role), runs the SQL,
//!   and records `(id, sha256, applied_at, applied_by, run_as)` in the same transaction. SQL
//!   that ends the transaction itself (`COMMIT`) is detected and reported, not recorded.
//! * **`drop_database`** / **`drop_role`** need a [`Confirm`](provisio::Confirm) naming the
//!   resource (`Protected` otherwise). A database is dropped `WITH (FORCE)` on PostgreSQL 13+
//!   (other sessions are ended first on older servers); a role that still owns a database is
//!   a `Conflict`. Missing resources are `AlreadyGone`. Template databases and the
//!   administrator's own database are never dropped or re-owned.
//! * **Errors** are classified by SQLSTATE (see `docs/providers/postgres.md`), and carry the
//!   provider, operation and resource; never a password.
//! * **Connections**: one short-lived connection per operation (no pool), at most
//!   [`PostgresConfig::max_connections`] at once, with a connect timeout; TLS through rustls
//!   ([`SslMode`]).
#![deny(missing_docs)]

mod client;
mod config;
mod database;
mod error;
mod quote;
mod scram;
mod statements;

pub use config::{PostgresConfig, SslMode};
pub use database::{PostgresDatabase, SEED_LOCK_KEY, SEED_SCHEMA, SEED_TABLE};
