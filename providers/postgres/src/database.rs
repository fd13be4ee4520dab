//! [`PostgresDatabase`]: roles, databases and seeds inside one PostgreSQL server.

use crate::client::{Conn, Connector};
use crate::config::PostgresConfig;
use crate::error::{PROVIDER, from_pg};
use crate::pool::PooledConn;
use crate::{quote, scram};
use provisio::database::{
    AppliedSeed, Database, DatabaseCapabilities, DatabaseSpec, DeleteServer, RestoredDatabase,
    RoleSpec, SeedSpec, Server, ServerSpec,
};
use provisio::{
    Confirm, Deleted, Ensured, Error, Provider, ProviderInfo, Result, async_trait, validate,
};
use std::future::Future;
use std::time::Duration;
use tokio_postgres::types::Type;

/// The schema, inside every seeded database, that holds provisio's bookkeeping.
pub const SEED_SCHEMA: &str = "provisio";
/// The table in [`SEED_SCHEMA`] recording applied seeds: `id` (primary key), `checksum`
/// (SHA-256 hex of the SQL), `applied_at`, `applied_by` (the administrator) and `run_as` (the
/// role the SQL ran as).
pub const SEED_TABLE: &str = "seeds";
/// The key of the transaction-scoped advisory lock that serialises seed applications within
/// one database (`pg_advisory_xact_lock`): "provisio" in ASCII.
pub const SEED_LOCK_KEY: i64 = 0x0070_726f_7669_7369;
/// The key of the transaction-scoped advisory lock (in the administrator's database) that
/// serialises `REVOKE ... FROM PUBLIC`: two sessions changing one `pg_database` row at once
/// fail with "tuple concurrently updated" (SQLSTATE XX000), which a creator and a concurrent
/// ensure that found the database before the creator's `REVOKE` would otherwise both send.
const REVOKE_LOCK_KEY: i64 = SEED_LOCK_KEY + 1;

/// How often `DROP DATABASE` is retried on servers before PostgreSQL 13 (no `WITH (FORCE)`)
/// when a session connects again between terminating the sessions and dropping.
const DROP_ATTEMPTS: u32 = 5;

/// Roles, databases and seeds inside one PostgreSQL server, through an administrator
/// connection: the `roles_and_databases` half of [`Database`]. Managed servers are another
/// provider's business (AWS, Azure): `ensure_server`, `get_server`, `wait_for_server` and
/// `delete_server` fail with `Unsupported`.
///
/// See the [crate documentation](crate) for what each operation does in SQL.
pub struct PostgresDatabase {
    pub(crate) connector: Connector,
}

impl std::fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("target", &self.connector.config().display_target())
            .field("sslmode", &self.connector.config().sslmode)
            .finish()
    }
}

/// What `ensure_database` and `drop_database` need to know of an existing database.
pub(crate) struct DatabaseRow {
    /// The owner's name.
    pub(crate) owner: String,
    /// `datistemplate`.
    pub(crate) is_template: bool,
    /// Whether `PUBLIC` may connect (the default of a new database).
    pub(crate) public_connect: bool,
}

/// A role's attributes as `pg_roles` shows them.
struct RoleRow {
    superuser: bool,
    createdb: bool,
    createrole: bool,
    login: bool,
    replication: bool,
    bypassrls: bool,
    is_admin: bool,
    /// The stored SCRAM verifier, when the administrator may read `pg_authid`.
    verifier: Option<String>,
}

impl RoleRow {
    /// Roles provisio refuses to change or drop: superusers, role administrators, replication
    /// and RLS-bypassing roles, and the administrator it connects as. A tenant name that
    /// happens to match such a role must never reset its password.
    fn privileged(&self) -> Option<&'static str> {
        if self.is_admin {
            Some("is the administrator provisio connects as")
        } else if self.superuser {
            Some("is a superuser")
        } else if self.createrole {
            Some("has CREATEROLE")
        } else if self.replication {
            Some("has REPLICATION")
        } else if self.bypassrls {
            Some("has BYPASSRLS")
        } else {
            None
        }
    }
}

pub(crate) fn db_err(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let what = what.into();
    move |e| from_pg(e, &what)
}

pub(crate) fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

impl PostgresDatabase {
    /// A provider for the server `config` names. Checks the configuration and loads the TLS
    /// roots; connects only when an operation runs.
    pub fn new(config: PostgresConfig) -> Result<Self> {
        let connector = Connector::new(&config).map_err(|e| e.in_context(PROVIDER, "new"))?;
        Ok(PostgresDatabase { connector })
    }

    /// A provider configured from the environment ([`PostgresConfig::from_env`]).
    pub fn from_env() -> Result<Self> {
        Self::new(PostgresConfig::from_env()?)
    }

    /// The resolved configuration (the `url` folded into the fields).
    pub fn config(&self) -> &PostgresConfig {
        self.connector.config()
    }

    /// Runs `fut` as operation `op` on `resource`: adds provider, operation and resource to its
    /// error, and a tracing span.
    async fn run<T>(
        &self,
        op: &str,
        resource: &str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        use tracing::Instrument;
        let span = tracing::debug_span!("postgres", op, resource);
        fut.instrument(span).await.map_err(|e| {
            let e = e.in_context(PROVIDER, op);
            if e.resource().is_none() {
                e.with_resource(resource)
            } else {
                e
            }
        })
    }

    pub(crate) async fn admin(&self) -> Result<PooledConn> {
        let dbname = self.connector.config().dbname.clone();
        self.connector.connect(&dbname).await
    }

    /// A role's attributes, and its stored verifier when the administrator may read it
    /// (superusers only: `pg_authid`), in one query.
    async fn role_row(conn: &Conn, name: &str) -> Result<Option<RoleRow>> {
        let sql = if conn.session.superuser {
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, \
                    rolbypassrls, rolname = session_user, rolpassword \
             FROM pg_authid WHERE rolname = $1"
        } else {
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, \
                    rolbypassrls, rolname = session_user, NULL::text \
             FROM pg_roles WHERE rolname = $1"
        };
        let row = conn
            .query_opt(sql, &[(&name, Type::TEXT)])
            .await
            .map_err(db_err(format!("reading role {name:?}")))?;
        Ok(row.map(|r| RoleRow {
            superuser: r.get(0),
            createdb: r.get(1),
            createrole: r.get(2),
            login: r.get(3),
            replication: r.get(4),
            bypassrls: r.get(5),
            is_admin: r.get(6),
            verifier: r.get(7),
        }))
    }

    /// The owner, template flag and `PUBLIC`'s `CONNECT` privilege of a database, `None` when
    /// it does not exist.
    pub(crate) async fn database_row(conn: &Conn, name: &str) -> Result<Option<DatabaseRow>> {
        let row = conn
            .query_opt(
                "SELECT pg_get_userbyid(datdba)::text, datistemplate, \
                        has_database_privilege('public', oid, 'CONNECT') \
                 FROM pg_database WHERE datname = $1",
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(db_err(format!("reading database {name:?}")))?;
        Ok(row.map(|r| DatabaseRow {
            owner: r.get(0),
            is_template: r.get(1),
            public_connect: r.get(2),
        }))
    }

    /// `REVOKE CONNECT, TEMPORARY ... FROM PUBLIC` (`revoke_public_connect`), after the
    /// advisory lock [`REVOKE_LOCK_KEY`] in the same message: a simple-query message with two
    /// statements is one implicit transaction, so the lock is held until the `REVOKE` commits
    /// and a concurrent one waits, then reads the committed row. Still one round trip.
    async fn revoke_public(conn: &Conn, name: &str) -> Result<()> {
        conn.batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({REVOKE_LOCK_KEY}); \
             REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC",
            quote::ident(name)
        ))
        .await
        .map_err(db_err(format!(
            "revoking PUBLIC's access to database {name:?}"
        )))
    }

    /// Makes sure a non-superuser administrator may act as `role` (`SET ROLE`, create or alter
    /// a database it owns): grants the role to the administrator when it is not a member.
    /// PostgreSQL 16 separates membership from the right to `SET ROLE`; both are granted.
    /// Returns whether it granted anything (false: it was a member already, or a superuser).
    pub(crate) async fn ensure_member(conn: &Conn, role: &str) -> Result<bool> {
        let session = conn.session;
        if session.superuser {
            return Ok(false);
        }
        let privilege = if session.version >= 160_000 {
            "SET"
        } else {
            "MEMBER"
        };
        let row = conn
            .query_one(
                "SELECT pg_has_role(current_user, $1::text::name, $2)",
                &[(&role, Type::TEXT), (&privilege, Type::TEXT)],
            )
            .await
            .map_err(db_err(format!("checking membership in role {role:?}")))?;
        if row.get::<_, bool>(0) {
            return Ok(false);
        }
        let options = if session.version >= 160_000 {
            " WITH INHERIT TRUE, SET TRUE"
        } else {
            ""
        };
        conn.batch_execute(&format!(
            "GRANT {} TO CURRENT_USER{options}",
            quote::ident(role)
        ))
        .await
        .map_err(db_err(format!(
            "granting role {role:?} to the administrator (needed to act as its owner)"
        )))?;
        Ok(true)
    }

    fn refuse_special_database(&self, name: &str, is_template: bool, doing: &str) -> Result<()> {
        if is_template || name == self.connector.config().dbname {
            return Err(Error::conflict(format!(
                "refusing to {doing} database {name:?}: it is {}",
                if is_template {
                    "a template database"
                } else {
                    "the administrator's own database (config dbname)"
                }
            )));
        }
        Ok(())
    }

    /// Creates the role first (one statement on a first launch); only when PostgreSQL answers
    /// that it exists does it read the role and converge it.
    async fn ensure_role_inner(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
        let name = validate::pg_role_name("role name", &spec.name)?;
        if spec.password.is_empty() {
            return Err(Error::invalid_field("role password", "must not be empty"));
        }
        if spec.password.expose().contains('\0') {
            return Err(Error::invalid_field(
                "role password",
                "must not contain a NUL character",
            ));
        }
        let conn = self.admin().await?;
        let role = quote::ident(&name);
        // CREATE never changes an existing role, so trying it first is safe for every role,
        // privileged ones included: they are refused below, after "already exists".
        let verifier = scram::verifier(spec.password.expose());
        let sql = format!(
            "CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
             NOREPLICATION NOBYPASSRLS INHERIT PASSWORD {}",
            quote::literal(&verifier)
        );
        match conn.batch_execute(&sql).await {
            Ok(()) => {
                provisio::existence::found(false);
                return Ok(Ensured::created(name));
            }
            // 23505: a concurrent creator passed the same existence check.
            Err(e) if matches!(sqlstate(&e), Some("42710" | "23505")) => {
                provisio::existence::found(true);
            }
            Err(e) => return Err(from_pg(e, &format!("creating role {name:?}"))),
        }
        let existing = Self::role_row(&conn, &name).await?.ok_or_else(|| {
            Error::transient(format!(
                "role {name:?} was created and dropped concurrently"
            ))
        })?;
        if let Some(why) = existing.privileged() {
            return Err(Error::conflict(format!(
                "role {name:?} exists and {why}; provisio manages only plain login roles and will not change it"
            )));
        }
        let attributes_ok = existing.login && !existing.createdb;
        // Without pg_authid (not a superuser: RDS, Azure) the password cannot be compared,
        // so it is set again (and the call reports Updated).
        let password_ok = existing
            .verifier
            .as_deref()
            .is_some_and(|v| scram::matches(v, spec.password.expose()));
        if attributes_ok && password_ok {
            return Ok(Ensured::unchanged(name));
        }
        let mut sql = format!("ALTER ROLE {role} WITH LOGIN NOCREATEDB");
        if !password_ok {
            let verifier = scram::verifier(spec.password.expose());
            sql.push_str(" PASSWORD ");
            sql.push_str(&quote::literal(&verifier));
        }
        conn.batch_execute(&sql)
            .await
            .map_err(db_err(format!("updating role {name:?}")))?;
        Ok(Ensured::updated(name))
    }

    /// `CREATE DATABASE` first (then the `REVOKE`): two statements on a first launch, like a
    /// script; the database is read only when PostgreSQL answers that it exists.
    async fn ensure_database_inner(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        let name = validate::pg_database_name("database name", &spec.name)?;
        let owner = validate::pg_identifier("database owner", &spec.owner)?;
        let conn = self.admin().await?;
        let (db, owner_q) = (quote::ident(&name), quote::ident(&owner));
        let create = format!("CREATE DATABASE {db} OWNER {owner_q}");
        let mut granted = false;
        let found = loop {
            // CREATE DATABASE cannot run in a transaction: a message of its own.
            match conn.batch_execute(&create).await {
                Ok(()) => {
                    provisio::existence::found(false);
                    if self.connector.config().revoke_public_connect {
                        Self::revoke_public(&conn, &name).await?;
                    }
                    return Ok(Ensured::created(name));
                }
                // A concurrent creator may pass the server's own existence check too (23505).
                Err(e) if matches!(sqlstate(&e), Some("42P04" | "23505")) => {
                    provisio::existence::found(true);
                    break Self::database_row(&conn, &name).await?.ok_or_else(|| {
                        Error::transient(format!(
                            "database {name:?} was created and dropped concurrently"
                        ))
                    })?;
                }
                Err(e) if sqlstate(&e) == Some("42704") => {
                    return Err(Error::not_found(format!(
                        "role {owner:?} does not exist (create it before the database)"
                    ))
                    .with_resource(owner));
                }
                // A non-superuser administrator must be able to act as the owner: grant
                // that once, and try again.
                Err(e) if sqlstate(&e) == Some("42501") && !granted => {
                    granted = Self::ensure_member(&conn, &owner).await?;
                    if !granted {
                        return Err(from_pg(e, &format!("creating database {name:?}")));
                    }
                }
                Err(e) => return Err(from_pg(e, &format!("creating database {name:?}"))),
            }
        };
        // A run that died between CREATE DATABASE and the REVOKE left PUBLIC's access in
        // place; the next ensure finishes it.
        // (Never on a template or the administrator's own database, which others connect to.)
        let special = found.is_template || name == self.connector.config().dbname;
        let revoke =
            self.connector.config().revoke_public_connect && found.public_connect && !special;
        if revoke {
            Self::revoke_public(&conn, &name).await?;
        }
        let have = found.owner;
        if have == owner {
            return Ok(if revoke {
                Ensured::updated(name)
            } else {
                Ensured::unchanged(name)
            });
        }
        self.refuse_special_database(&name, found.is_template, "change the owner of")?;
        Self::ensure_member(&conn, &have).await?;
        Self::ensure_member(&conn, &owner).await?;
        conn.batch_execute(&format!("ALTER DATABASE {db} OWNER TO {owner_q}"))
            .await
            .map_err(db_err(format!(
                "changing the owner of database {name:?} from {have:?} to {owner:?}"
            )))?;
        Ok(Ensured::updated(name))
    }

    async fn drop_database_inner(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        let name = validate::pg_database_name("database name", name)?;
        confirm.check("database", &name)?;
        let conn = self.admin().await?;
        let Some(DatabaseRow {
            owner, is_template, ..
        }) = Self::database_row(&conn, &name).await?
        else {
            return Ok(Deleted::AlreadyGone);
        };
        self.refuse_special_database(&name, is_template, "drop")?;
        Self::ensure_member(&conn, &owner).await?;
        // The pool's own idle sessions in that database go first (WITH (FORCE) would end them
        // anyway, leaving broken connections in the pool).
        self.connector.forget(&name);
        let db = quote::ident(&name);
        if conn.session.version >= 130_000 {
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
                .map_err(db_err(format!("dropping database {name:?}")))?;
            return Ok(Deleted::Deleted);
        }
        // Before PostgreSQL 13: end the other sessions, then drop; a session that connects in
        // between makes the drop fail with 55006, so try a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            conn.query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(db_err(format!("ending the sessions of database {name:?}")))?;
            match conn
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .await
            {
                Ok(()) => return Ok(Deleted::Deleted),
                Err(e) if sqlstate(&e) == Some("55006") && attempt < DROP_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
                Err(e) => return Err(from_pg(e, &format!("dropping database {name:?}"))),
            }
        }
    }

    /// Checks that the database exists (one query), then starts `pg_dump` (one request).
    async fn dump_database_inner(&self, name: &str) -> Result<provisio::ByteStream> {
        let name = validate::pg_database_name("database name", name)?;
        {
            let conn = self.admin().await?;
            if Self::database_row(&conn, &name).await?.is_none() {
                return Err(
                    Error::not_found(format!("database {name:?} does not exist"))
                        .with_resource(name),
                );
            }
        }
        provisio::requests::before_request(self.connector.info()).await;
        crate::dump::dump(self.connector.config(), &name)
    }

    /// `Conflict` when the database holds any user relation (table, view, sequence, ...) in
    /// any schema but the system ones: a restore never overwrites a live database.
    async fn refuse_live(&self, name: &str) -> Result<()> {
        let conn = self.connector.connect(name).await?;
        let row = conn
            .query_one(
                "SELECT count(*), min(n.nspname || '.' || c.relname) \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') \
                   AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
                   AND n.nspname !~ '^pg_(toast|temp_)'",
                &[],
            )
            .await
            .map_err(db_err(format!("looking for tables in database {name:?}")))?;
        let count: i64 = row.get(0);
        if count > 0 {
            let example: Option<String> = row.get(1);
            return Err(Error::conflict(format!(
                "refusing to restore into database {name:?}: it exists and holds {count} \
                 user tables, views or sequences (e.g. {}); a restore never overwrites a live \
                 database",
                example.unwrap_or_default()
            ))
            .with_resource(name));
        }
        Ok(())
    }

    /// Refuses a live database before anything changes, creates a missing one (or converges
    /// an empty one's owner) as `ensure_database` does, then runs `pg_restore` as the owner.
    async fn restore_database_inner(
        &self,
        spec: &DatabaseSpec,
        body: provisio::ByteStream,
    ) -> Result<RestoredDatabase> {
        let name = validate::pg_database_name("database name", &spec.name)?;
        let owner = validate::pg_identifier("database owner", &spec.owner)?;
        let existed = {
            let conn = self.admin().await?;
            match Self::database_row(&conn, &name).await? {
                Some(row) => {
                    self.refuse_special_database(&name, row.is_template, "restore into")?;
                    true
                }
                None => false,
            }
        };
        if existed {
            self.refuse_live(&name).await?;
        }
        let ensured = self.ensure_database_inner(spec).await?;
        let created = ensured.outcome == provisio::Outcome::Created;
        if !created && !existed {
            // created concurrently between the look and the create: look again
            self.refuse_live(&name).await?;
        }
        {
            let conn = self.admin().await?;
            Self::ensure_member(&conn, &owner).await?;
        }
        provisio::requests::before_request(self.connector.info()).await;
        let bytes = crate::dump::restore(self.connector.config(), &name, &owner, body).await?;
        Ok(RestoredDatabase {
            database: name,
            created,
            bytes,
        })
    }

    async fn drop_role_inner(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        let name = validate::pg_role_name("role name", name)?;
        confirm.check("role", &name)?;
        let conn = self.admin().await?;
        let Some(row) = Self::role_row(&conn, &name).await? else {
            return Ok(Deleted::AlreadyGone);
        };
        if let Some(why) = row.privileged() {
            return Err(Error::conflict(format!(
                "role {name:?} {why}; provisio will not drop it"
            )));
        }
        let owned: Vec<String> = conn
            .query(
                "SELECT datname::text FROM pg_database \
                 WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1",
                &[(&name, Type::TEXT)],
            )
            .await
            .map_err(db_err(format!("listing the databases role {name:?} owns")))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !owned.is_empty() {
            return Err(Error::conflict(format!(
                "role {name:?} cannot be dropped because it owns databases {owned:?}"
            )));
        }
        match conn
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote::ident(&name)))
            .await
        {
            Ok(()) => Ok(Deleted::Deleted),
            Err(e) => Err(from_pg(e, &format!("dropping role {name:?}"))),
        }
    }
}

impl Provider for PostgresDatabase {
    fn info(&self) -> ProviderInfo {
        self.connector.info().clone()
    }

    /// PostgreSQL's rules: identifiers of at most 63 bytes, and no reserved role (`postgres`,
    /// `pg_*`, `public`, ...) or system database (`postgres`, `template0`, `template1`).
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        use provisio::validate::{self, NameKind};
        match kind {
            NameKind::Role => validate::pg_role_name(field, value),
            NameKind::Database => validate::pg_database_name(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

fn unsupported(op: &str) -> Error {
    Error::unsupported(op).with_provider(PROVIDER)
}

#[async_trait]
impl Database for PostgresDatabase {
    fn capabilities(&self) -> DatabaseCapabilities {
        DatabaseCapabilities {
            servers: false,
            roles_and_databases: true,
            dump_restore: true,
            snapshots: false,
        }
    }

    async fn ensure_server(&self, _spec: &ServerSpec) -> Result<Ensured<Server>> {
        Err(unsupported("database.ensure_server"))
    }

    async fn get_server(&self, _name: &str) -> Result<Option<Server>> {
        Err(unsupported("database.get_server"))
    }

    async fn wait_for_server(&self, _name: &str, _timeout: Duration) -> Result<Server> {
        Err(unsupported("database.wait_for_server"))
    }

    async fn delete_server(&self, _name: &str, _options: &DeleteServer) -> Result<Deleted> {
        Err(unsupported("database.delete_server"))
    }

    async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
        self.run(
            "database.ensure_role",
            &spec.name,
            self.ensure_role_inner(spec),
        )
        .await
    }

    async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        self.run(
            "database.ensure_database",
            &spec.name,
            self.ensure_database_inner(spec),
        )
        .await
    }

    async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
        let resource = format!("{}/{}", spec.database, spec.id);
        self.run(
            "database.apply_seed",
            &resource,
            self.apply_seed_inner(spec),
        )
        .await
    }

    async fn database_exists(&self, name: &str) -> Result<bool> {
        self.run("database.database_exists", name, async {
            let name = validate::pg_database_name("database name", name)?;
            let conn = self.admin().await?;
            Ok(Self::database_row(&conn, &name).await?.is_some())
        })
        .await
    }

    async fn role_exists(&self, name: &str) -> Result<bool> {
        self.run("database.role_exists", name, async {
            let name = validate::pg_role_name("role name", name)?;
            let conn = self.admin().await?;
            Ok(Self::role_row(&conn, &name).await?.is_some())
        })
        .await
    }

    async fn drop_database(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run(
            "database.drop_database",
            name,
            self.drop_database_inner(name, confirm),
        )
        .await
    }

    /// `pg_dump -Fc --no-owner`, streamed (see `dump.rs`); `NotFound` for a missing database.
    async fn dump_database(&self, name: &str) -> Result<provisio::ByteStream> {
        self.run(
            "database.dump_database",
            name,
            self.dump_database_inner(name),
        )
        .await
    }

    /// `pg_restore --no-owner --role=<owner> --single-transaction` fed from the stream;
    /// `Conflict` for a database that holds any user table (see `dump.rs`).
    async fn restore_database(
        &self,
        spec: &DatabaseSpec,
        body: provisio::ByteStream,
    ) -> Result<RestoredDatabase> {
        self.run(
            "database.restore_database",
            &spec.name,
            self.restore_database_inner(spec, body),
        )
        .await
    }

    async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run(
            "database.drop_role",
            name,
            self.drop_role_inner(name, confirm),
        )
        .await
    }
}
