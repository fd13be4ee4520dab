//! [`PostgresDatabase`]: roles, databases and seeds inside one PostgreSQL server.

use crate::client::{Conn, Connector};
use crate::config::PostgresConfig;
use crate::error::{PROVIDER, from_pg};
use crate::statements::Statements;
use crate::{quote, scram};
use provisio::database::{
    AppliedSeed, Database, DatabaseCapabilities, DatabaseSpec, DeleteServer, RoleSpec, SeedSpec,
    Server, ServerSpec,
};
use provisio::{
    Confirm, Deleted, Ensured, Error, ErrorKind, Provider, ProviderInfo, Result, async_trait,
    validate,
};
use std::future::Future;
use std::time::Duration;

/// The schema, inside every seeded database, that holds provisio's bookkeeping.
pub const SEED_SCHEMA: &str = "provisio";
/// The table in [`SEED_SCHEMA`] recording applied seeds: `id` (primary key), `checksum`
/// (SHA-256 hex of the SQL), `applied_at`, `applied_by` (the administrator) and `run_as` (the
/// role the SQL ran as).
pub const SEED_TABLE: &str = "seeds";
/// The key of the transaction-scoped advisory lock that serialises seed applications within
/// one database (`pg_advisory_xact_lock`): "provisio" in ASCII.
pub const SEED_LOCK_KEY: i64 = 0x0070_726f_7669_7369;

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
    connector: Connector,
}

impl std::fmt::Debug for PostgresDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresDatabase")
            .field("target", &self.connector.config().display_target())
            .field("sslmode", &self.connector.config().sslmode)
            .finish()
    }
}

/// What the provider needs to know about its own session.
struct Session {
    superuser: bool,
    version: i32,
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

fn db_err(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let what = what.into();
    move |e| from_pg(e, &what)
}

fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.code().map(|c| c.code())
}

fn seed_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "seed id",
            "must be 1 to 255 characters without control characters",
        ));
    }
    Ok(())
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

    async fn admin(&self) -> Result<Conn> {
        let dbname = self.connector.config().dbname.clone();
        self.connector.connect(&dbname).await
    }

    async fn session(conn: &Conn) -> Result<Session> {
        let row = conn
            .query_one(
                "SELECT r.rolsuper, current_setting('server_version_num')::int4 \
                 FROM pg_roles r WHERE r.rolname = session_user",
                &[],
            )
            .await
            .map_err(db_err("reading the administrator's attributes"))?;
        Ok(Session {
            superuser: row.get(0),
            version: row.get(1),
        })
    }

    async fn role_row(conn: &Conn, name: &str) -> Result<Option<RoleRow>> {
        let row = conn
            .query_opt(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolreplication, \
                        rolbypassrls, rolname = session_user \
                 FROM pg_roles WHERE rolname = $1",
                &[&name],
            )
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
        }))
    }

    /// The owner and template flag of a database, `None` when it does not exist.
    async fn database_row(conn: &Conn, name: &str) -> Result<Option<(String, bool)>> {
        let row = conn
            .query_opt(
                "SELECT pg_get_userbyid(datdba)::text, datistemplate FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .map_err(db_err(format!("reading database {name:?}")))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Makes sure a non-superuser administrator may act as `role` (`SET ROLE`, create or alter
    /// a database it owns): grants the role to the administrator when it is not a member.
    /// PostgreSQL 16 separates membership from the right to `SET ROLE`; both are granted.
    async fn ensure_member(conn: &dyn Statements, session: &Session, role: &str) -> Result<()> {
        if session.superuser {
            return Ok(());
        }
        let privilege = if session.version >= 160_000 {
            "SET"
        } else {
            "MEMBER"
        };
        let row = conn
            .query_one_counted(
                "SELECT pg_has_role(current_user, $1::text::name, $2)",
                &[&role, &privilege],
            )
            .await
            .map_err(db_err(format!("checking membership in role {role:?}")))?;
        if row.get::<_, bool>(0) {
            return Ok(());
        }
        let options = if session.version >= 160_000 {
            " WITH INHERIT TRUE, SET TRUE"
        } else {
            ""
        };
        conn.batch_execute_counted(&format!(
            "GRANT {} TO CURRENT_USER{options}",
            quote::ident(role)
        ))
        .await
        .map_err(db_err(format!(
            "granting role {role:?} to the administrator (needed to act as its owner)"
        )))
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
        let session = Self::session(&conn).await?;
        let role = quote::ident(&name);

        let existing = match Self::role_row(&conn, &name).await? {
            Some(row) => row,
            None => {
                let verifier = scram::verifier(spec.password.expose());
                let sql = format!(
                    "CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
                     NOREPLICATION NOBYPASSRLS INHERIT PASSWORD {}",
                    quote::literal(&verifier)
                );
                match conn.batch_execute(&sql).await {
                    Ok(()) => return Ok(Ensured::created(name)),
                    // Another creator won the race: continue as for an existing role.
                    Err(e) if matches!(sqlstate(&e), Some("42710" | "23505")) => {
                        Self::role_row(&conn, &name).await?.ok_or_else(|| {
                            Error::transient(format!(
                                "role {name:?} was created and dropped concurrently"
                            ))
                        })?
                    }
                    Err(e) => return Err(from_pg(e, &format!("creating role {name:?}"))),
                }
            }
        };
        if let Some(why) = existing.privileged() {
            return Err(Error::conflict(format!(
                "role {name:?} exists and {why}; provisio manages only plain login roles and will not change it"
            )));
        }
        let attributes_ok = existing.login && !existing.createdb;
        let password_ok = if session.superuser {
            let stored: Option<String> = conn
                .query_opt(
                    "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                    &[&name],
                )
                .await
                .map_err(db_err(format!("reading role {name:?}'s verifier")))?
                .and_then(|r| r.get(0));
            stored.is_some_and(|v| scram::matches(&v, spec.password.expose()))
        } else {
            // Only superusers can read pg_authid: the password cannot be compared, so it is
            // set again (and the call reports Updated).
            false
        };
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

    async fn ensure_database_inner(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        let name = validate::pg_database_name("database name", &spec.name)?;
        let owner = validate::pg_identifier("database owner", &spec.owner)?;
        let conn = self.admin().await?;
        let session = Self::session(&conn).await?;
        if Self::role_row(&conn, &owner).await?.is_none() {
            return Err(Error::not_found(format!(
                "role {owner:?} does not exist (create it before the database)"
            ))
            .with_resource(owner));
        }
        let (db, owner_q) = (quote::ident(&name), quote::ident(&owner));
        let (have, is_template) = match Self::database_row(&conn, &name).await? {
            Some(row) => row,
            None => {
                Self::ensure_member(&conn, &session, &owner).await?;
                // CREATE DATABASE cannot run in a transaction: a statement of its own.
                match conn
                    .batch_execute(&format!("CREATE DATABASE {db} OWNER {owner_q}"))
                    .await
                {
                    Ok(()) => {
                        if self.connector.config().revoke_public_connect {
                            conn.batch_execute(&format!(
                                "REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC"
                            ))
                            .await
                            .map_err(db_err(format!(
                                "revoking PUBLIC's access to database {name:?}"
                            )))?;
                        }
                        return Ok(Ensured::created(name));
                    }
                    // A concurrent creator won (42P04, or 23505 when both passed the
                    // server's own existence check): continue as for an existing database.
                    Err(e) if matches!(sqlstate(&e), Some("42P04" | "23505")) => {
                        Self::database_row(&conn, &name).await?.ok_or_else(|| {
                            Error::transient(format!(
                                "database {name:?} was created and dropped concurrently"
                            ))
                        })?
                    }
                    Err(e) => return Err(from_pg(e, &format!("creating database {name:?}"))),
                }
            }
        };
        if have == owner {
            return Ok(Ensured::unchanged(name));
        }
        self.refuse_special_database(&name, is_template, "change the owner of")?;
        Self::ensure_member(&conn, &session, &have).await?;
        Self::ensure_member(&conn, &session, &owner).await?;
        conn.batch_execute(&format!("ALTER DATABASE {db} OWNER TO {owner_q}"))
            .await
            .map_err(db_err(format!(
                "changing the owner of database {name:?} from {have:?} to {owner:?}"
            )))?;
        Ok(Ensured::updated(name))
    }

    async fn apply_seed_inner(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
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
        // Check on the administrator database first: connecting to a missing database is an
        // authentication-phase error on some managed services, not a clean 3D000.
        {
            let admin = self.admin().await?;
            if Self::database_row(&admin, &db).await?.is_none() {
                return Err(Error::not_found(format!("database {db:?} does not exist")));
            }
        }
        let mut conn = match self.connector.connect(&db).await {
            Ok(c) => c,
            Err(e) if e.kind() == &ErrorKind::NotFound => {
                return Err(Error::not_found(format!("database {db:?} does not exist")));
            }
            Err(e) => return Err(e),
        };
        let session = Self::session(&conn).await?;
        let tx = conn
            .transaction()
            .await
            .map_err(db_err("starting the seed transaction"))?;
        // One seed at a time per database; a concurrent apply of the same seed waits here and
        // then finds it recorded.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SEED_LOCK_KEY])
            .await
            .map_err(db_err("locking the seed table"))?;
        let table = format!("{}.{}", quote::ident(SEED_SCHEMA), quote::ident(SEED_TABLE));
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; \
             CREATE TABLE IF NOT EXISTS {table} ( \
                id text PRIMARY KEY, \
                checksum text NOT NULL, \
                applied_at timestamptz NOT NULL DEFAULT now(), \
                applied_by text NOT NULL DEFAULT session_user, \
                run_as text NOT NULL)",
            schema = quote::ident(SEED_SCHEMA),
        ))
        .await
        .map_err(db_err(format!(
            "creating the seed table {SEED_SCHEMA}.{SEED_TABLE}"
        )))?;
        let recorded: Option<String> = tx
            .query_opt(
                &format!("SELECT checksum FROM {table} WHERE id = $1"),
                &[&spec.id],
            )
            .await
            .map_err(db_err("reading the seed table"))?
            .map(|r| r.get(0));
        match recorded {
            Some(have) if have == checksum => return Ok(Ensured::unchanged(applied)),
            Some(have) => {
                return Err(Error::conflict(format!(
                    "seed {:?} was already applied to database {db:?} with checksum {have}; its SQL has changed (now {checksum}). \
                     Seeds run once and are never re-run: add a new seed with a new id for the change",
                    spec.id
                )));
            }
            None => {}
        }
        let owner: String = tx
            .query_one(
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = current_database()",
                &[],
            )
            .await
            .map_err(db_err("reading the database's owner"))?
            .get(0);
        Self::ensure_member(&tx, &session, &owner).await?;
        let xid_before: i64 = tx
            .query_one("SELECT txid_current()", &[])
            .await
            .map_err(db_err("reading the transaction id"))?
            .get(0);
        tx.batch_execute(&format!("SET LOCAL ROLE {}", quote::ident(&owner)))
            .await
            .map_err(db_err(format!("switching to the database owner {owner:?}")))?;
        tx.batch_execute(&spec.sql).await.map_err(db_err(format!(
            "seed {:?} failed in database {db:?} (nothing of it was applied)",
            spec.id
        )))?;
        let still_ours = match tx.query_one("SELECT txid_current()", &[]).await {
            Ok(row) => row.get::<_, i64>(0) == xid_before,
            Err(_) => false,
        };
        if !still_ours {
            return Err(Error::invalid_input(format!(
                "seed {:?} ended provisio's transaction in database {db:?} (COMMIT, ROLLBACK or BEGIN in the SQL?): \
                 it may be partly applied and was NOT recorded. Seed SQL must not contain transaction control",
                spec.id
            )));
        }
        tx.batch_execute("RESET ROLE")
            .await
            .map_err(db_err("switching back from the database owner"))?;
        tx.execute(
            &format!("INSERT INTO {table} (id, checksum, run_as) VALUES ($1, $2, $3)"),
            &[&spec.id, &checksum, &owner],
        )
        .await
        .map_err(db_err("recording the seed"))?;
        tx.commit()
            .await
            .map_err(db_err(format!("committing seed {:?}", spec.id)))?;
        Ok(Ensured::created(applied))
    }

    async fn drop_database_inner(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        let name = validate::pg_database_name("database name", name)?;
        confirm.check("database", &name)?;
        let conn = self.admin().await?;
        let session = Self::session(&conn).await?;
        let Some((owner, is_template)) = Self::database_row(&conn, &name).await? else {
            return Ok(Deleted::AlreadyGone);
        };
        self.refuse_special_database(&name, is_template, "drop")?;
        Self::ensure_member(&conn, &session, &owner).await?;
        let db = quote::ident(&name);
        if session.version >= 130_000 {
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
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
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
                &[&name],
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

    async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.run(
            "database.drop_role",
            name,
            self.drop_role_inner(name, confirm),
        )
        .await
    }
}
