//! `database.server`, `database.role`, `database.database` and `database.seed`.

use super::params::{Flag, Int, Phase, TypedParams, string_like};
use super::{check_owner, in_resource};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::database::{DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, Server, ServerSpec};
use provisio::validate::NameKind;
use provisio::{Confirm, Database, Deleted, Error, Result, SecretString, validate};
use serde_json::{Value, json};
use std::time::Duration;

/// A secret's current value from the secret store registered as `provider`: the value this
/// run wrote itself when it did (no request), else read from the store.
async fn secret_value(
    ctx: &StepContext<'_>,
    provider: &str,
    name: &str,
    field: &str,
) -> Result<SecretString> {
    if let Some(value) = ctx.written.get(provider, name) {
        return Ok(value);
    }
    let store = ctx.providers.secrets(provider).map_err(|e| {
        Error::invalid_field(
            "secrets_provider",
            format!("{} (needed to read {field} {name:?})", e.message()),
        )
    })?;
    store
        .get_secret(name)
        .await
        .map(|v| v.value)
        .map_err(in_resource(ctx))
}

// ---------------------------------------------------------------------------------------------
// database.server
// ---------------------------------------------------------------------------------------------

/// `database.server`: a managed database server (RDS, Azure Database).
///
/// Parameters:
/// - `name` (required): the instance identifier (1 to 63 letters, digits and single hyphens,
///   starting with a letter).
/// - `engine` (default `postgres`).
/// - `version` (required): the engine's major version, e.g. `16`.
/// - `size` (required): the instance class, e.g. `db.t3.micro`.
/// - `storage_gb` (required): allocated storage in GiB.
/// - `admin_user` (required): the administrator's user name.
/// - `admin_password_secret` (required): the name of the secret holding the administrator's
///   password, read from the secret store `secrets_provider` (default `default`); create it with
///   a `secrets.secret` resource and reference its name.
/// - `deletion_protection` (default true): the provider refuses deletes while it is on; set it
///   to false (and apply) before destroying.
/// - `skip_final_snapshot` (default false): delete without a final snapshot (irreversible).
/// - `wait_timeout_secs` (default 3600): how long to wait for the server to become available.
///
/// Outputs: `name`, `host`, `port`, `status`. `apply` waits until the status is `available`.
/// Changing `name` or `engine` replaces the server. Delete keeps a final snapshot unless
/// `skip_final_snapshot` is set.
///
/// ```yaml
/// db_server:
///   type: database.server
///   provider: aws
///   params:
///     name: ${tenant.name}-db
///     version: "16"
///     size: db.t3.micro
///     storage_gb: 20
///     admin_user: provisio_admin
///     admin_password_secret: ${db_admin_password.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseServer;

struct ServerParams {
    spec: ServerSpec,
    password_secret: String,
    secrets_provider: String,
    skip_final_snapshot: bool,
    wait_timeout: Duration,
}

fn server_identifier(field: &str, value: &str) -> Result<String> {
    let ok = (1..=63).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !value.ends_with('-')
        && !value.contains("--");
    if !ok {
        return Err(Error::invalid_field(
            field,
            format!(
                "{value:?} must be 1 to 63 letters, digits and single hyphens, starting with a letter and not ending with '-'"
            ),
        ));
    }
    Ok(value.to_string())
}

fn non_empty(field: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            field,
            "must be non-empty, without control characters",
        ));
    }
    Ok(value.to_string())
}

/// The parameters of `database.server` (see [`DatabaseServer`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFields {
    name: String,
    engine: Option<String>,
    #[serde(deserialize_with = "string_like")]
    version: String,
    size: String,
    storage_gb: Int,
    admin_user: String,
    admin_password_secret: String,
    secrets_provider: Option<String>,
    deletion_protection: Option<Flag>,
    skip_final_snapshot: Option<Flag>,
    wait_timeout_secs: Option<Int>,
}

impl TypedParams for ServerFields {
    const TYPE: &'static str = "database.server";
    const REPLACE: &'static [&'static str] = &["name", "engine"];
    type Spec = ServerParams;

    fn check(self, phase: Phase) -> Result<ServerParams> {
        let name = phase.name("name", &self.name, server_identifier)?;
        let engine = phase
            .opt_name("engine", self.engine.as_deref(), non_empty)?
            .unwrap_or_else(|| "postgres".into());
        let version = phase.name("version", &self.version, non_empty)?;
        let size = phase.name("size", &self.size, non_empty)?;
        let storage_gb = phase
            .int("storage_gb", Some(&self.storage_gb), 1, 65_536)?
            .unwrap_or(20) as u32;
        let admin_user = phase.name("admin_user", &self.admin_user, validate::pg_identifier)?;
        let password_secret = phase.name(
            "admin_password_secret",
            &self.admin_password_secret,
            validate::lenient_secret_name,
        )?;
        let secrets_provider = self
            .secrets_provider
            .unwrap_or_else(|| crate::providers::DEFAULT_PROVIDER.to_string());
        let deletion_protection = phase
            .flag("deletion_protection", self.deletion_protection.as_ref())?
            .unwrap_or(true);
        let skip_final_snapshot = phase
            .flag("skip_final_snapshot", self.skip_final_snapshot.as_ref())?
            .unwrap_or(false);
        let wait_timeout = Duration::from_secs(
            phase
                .int(
                    "wait_timeout_secs",
                    self.wait_timeout_secs.as_ref(),
                    1,
                    86_400,
                )?
                .unwrap_or(3600),
        );
        Ok(ServerParams {
            spec: ServerSpec {
                name,
                engine,
                version,
                size,
                storage_gb,
                admin_user,
                admin_password: SecretString::default(),
                deletion_protection,
                tags: Default::default(),
            },
            password_secret,
            secrets_provider,
            skip_final_snapshot,
            wait_timeout,
        })
    }
}

fn server_outputs(s: &Server) -> Value {
    json!({
        "name": s.name,
        "host": s.endpoint.as_ref().map(|e| e.host.clone()),
        "port": s.endpoint.as_ref().map(|e| e.port),
        "status": s.status,
    })
}

/// Statuses from which a server does not become available on its own.
fn is_failed(status: &str) -> bool {
    matches!(
        status,
        "failed" | "deleting" | "deleted" | "stopped" | "storage-full"
    ) || status.starts_with("incompatible-")
        || status.starts_with("inaccessible-")
}

/// Polls until the server is `available`, backing off from 50 ms to 15 s between reads.
async fn wait_available(db: &dyn Database, name: &str, timeout: Duration) -> Result<Server> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let server = db.get_server(name).await?.ok_or_else(|| {
            Error::not_found(format!("server {name:?} disappeared while waiting for it"))
        })?;
        if server.status == "available" {
            return Ok(server);
        }
        if is_failed(&server.status) {
            return Err(Error::conflict(format!(
                "server {name:?} is {:?}; it will not become available on its own",
                server.status
            )));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::timeout(format!(
                "server {name:?} is still {:?} after {} s",
                server.status,
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

#[provisio::async_trait]
impl ResourceType for DatabaseServer {
    fn name(&self) -> &str {
        "database.server"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        ServerFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        ServerFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "host", "port", "status"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        &["status"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "server {}",
            ServerFields::parse(params, Phase::Resolved)?.spec.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let p = ServerFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let server = db
            .get_server(&p.spec.name)
            .await
            .map_err(in_resource(ctx))?;
        Ok(server.as_ref().map(server_outputs))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let mut p = ServerFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        if let Some(existing) = db
            .get_server(&p.spec.name)
            .await
            .map_err(in_resource(ctx))?
        {
            check_owner(ctx, &existing.tags, &format!("server {:?}", p.spec.name))?;
        }
        p.spec.admin_password = secret_value(
            ctx,
            &p.secrets_provider,
            &p.password_secret,
            "admin_password_secret",
        )
        .await?;
        p.spec.tags = ctx.ownership.clone();
        let ensured = db.ensure_server(&p.spec).await.map_err(in_resource(ctx))?;
        let server = if ensured.value.status == "available" {
            ensured.value
        } else {
            wait_available(db.as_ref(), &p.spec.name, p.wait_timeout)
                .await
                .map_err(in_resource(ctx))?
        };
        Ok(Applied {
            outputs: server_outputs(&server),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let p = ServerFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        match db
            .get_server(&p.spec.name)
            .await
            .map_err(in_resource(ctx))?
        {
            None => return Ok(Deleted::AlreadyGone),
            Some(s) => check_owner(ctx, &s.tags, &format!("server {:?}", p.spec.name))?,
        }
        // Never overrides deletion protection: that is turned off by applying
        // `deletion_protection: false`, a reviewable change.
        let options = DeleteServer {
            skip_final_snapshot: p.skip_final_snapshot,
            ..DeleteServer::default()
        };
        db.delete_server(&p.spec.name, &options)
            .await
            .map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// database.role
// ---------------------------------------------------------------------------------------------

/// `database.role`: a login role inside a server.
///
/// Parameters:
/// - `name` (required): the role name (any PostgreSQL identifier; always quoted).
/// - `password_secret` (required): the name of the secret holding the password, read from the
///   secret store `secrets_provider` (default `default`).
///
/// Outputs: `name`. Changing `name` replaces the role. Delete drops the role.
///
/// ```yaml
/// db_user:
///   type: database.role
///   provider: tenant_pg
///   params:
///     name: ${tenant.name}
///     password_secret: ${db_password.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseRole;

struct RoleParams {
    name: String,
    password_secret: String,
    secrets_provider: String,
}

/// The parameters of `database.role` (see [`DatabaseRole`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFields {
    name: String,
    password_secret: String,
    secrets_provider: Option<String>,
}

impl TypedParams for RoleFields {
    const TYPE: &'static str = "database.role";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = RoleParams;

    fn check(self, phase: Phase) -> Result<RoleParams> {
        Ok(RoleParams {
            name: phase.name("name", &self.name, validate::pg_identifier)?,
            password_secret: phase.name(
                "password_secret",
                &self.password_secret,
                validate::lenient_secret_name,
            )?,
            secrets_provider: self
                .secrets_provider
                .unwrap_or_else(|| crate::providers::DEFAULT_PROVIDER.to_string()),
        })
    }
}

#[provisio::async_trait]
impl ResourceType for DatabaseRole {
    fn name(&self) -> &str {
        "database.role"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        RoleFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        RoleFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let role = RoleFields::parse(params, Phase::Resolved)?;
        ctx.providers
            .database(ctx.provider)?
            .check_name(NameKind::Role, "name", &role.name)?;
        ctx.providers.secrets(&role.secrets_provider)?.check_name(
            NameKind::Secret,
            "password_secret",
            &role.password_secret,
        )
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "role {}",
            RoleFields::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let exists = db.role_exists(&p.name).await.map_err(in_resource(ctx))?;
        Ok(exists.then(|| json!({ "name": p.name })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let password = secret_value(
            ctx,
            &p.secrets_provider,
            &p.password_secret,
            "password_secret",
        )
        .await?;
        let ensured = db
            .ensure_role(&RoleSpec {
                name: p.name.clone(),
                password,
            })
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "name": ensured.value }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.drop_role(&p.name, &Confirm::named(&p.name))
            .await
            .map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// database.database
// ---------------------------------------------------------------------------------------------

/// `database.database`: a database inside a server, owned by a role.
///
/// Parameters:
/// - `name` (required): the database name.
/// - `owner` (required): the owning role (usually `${db_user.name}`).
///
/// Outputs: `name`, `owner`. Changing `name` replaces the database (a new, empty one: protect
/// databases that hold data); changing `owner` is done in place.
///
/// Delete drops the database with a confirmation naming it. The engine only deletes a resource
/// when the caller asked to destroy it and it is not protected.
///
/// ```yaml
/// db:
///   type: database.database
///   provider: tenant_pg
///   protect: true
///   params:
///     name: ${tenant.name}
///     owner: ${db_user.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseDatabase;

/// The parameters of `database.database` (see [`DatabaseDatabase`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFields {
    name: String,
    owner: String,
}

impl TypedParams for DatabaseFields {
    const TYPE: &'static str = "database.database";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = DatabaseSpec;

    fn check(self, phase: Phase) -> Result<DatabaseSpec> {
        Ok(DatabaseSpec {
            name: phase.name("name", &self.name, validate::pg_identifier)?,
            owner: phase.name("owner", &self.owner, validate::pg_identifier)?,
        })
    }
}

#[provisio::async_trait]
impl ResourceType for DatabaseDatabase {
    fn name(&self) -> &str {
        "database.database"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        DatabaseFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        DatabaseFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "owner"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.check_name(NameKind::Database, "name", &spec.name)?;
        db.check_name(NameKind::Role, "owner", &spec.owner)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "database {}",
            DatabaseFields::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let exists = db
            .database_exists(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        // The trait cannot read the owner back; report the declared one.
        Ok(exists.then(|| json!({ "name": spec.name, "owner": spec.owner })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let ensured = db.ensure_database(&spec).await.map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "name": ensured.value, "owner": spec.owner }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.drop_database(&spec.name, &Confirm::named(&spec.name))
            .await
            .map_err(in_resource(ctx))
    }
}

// ---------------------------------------------------------------------------------------------
// database.seed
// ---------------------------------------------------------------------------------------------

/// `database.seed`: SQL applied exactly once to a database (initial data).
///
/// Parameters:
/// - `database` (required): the database, usually `${db.name}`.
/// - `id` (required): a stable id for this seed, e.g. `initial-data` (letters, digits, `.`,
///   `_`, `-`; at most 128).
/// - `sql` (required): the script, applied in one transaction.
///
/// Outputs: `database`, `id`, `checksum` (SHA-256 of the SQL). Applying a seed whose id was
/// applied with other SQL is a `Conflict`: add a new seed with a new id instead. Delete does
/// nothing (the data goes with its database).
///
/// ```yaml
/// initial_data:
///   type: database.seed
///   provider: tenant_pg
///   params:
///     database: ${db.name}
///     id: initial-data
///     sql: |
///       INSERT INTO settings (key, value) VALUES ('tenant', '${tenant.name}');
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseSeed;

fn seed_id(field: &str, value: &str) -> Result<String> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::invalid_field(
            field,
            format!("{value:?} must be 1 to 128 letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(value.to_string())
}

/// The parameters of `database.seed` (see [`DatabaseSeed`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFields {
    database: String,
    id: String,
    sql: String,
}

impl TypedParams for SeedFields {
    const TYPE: &'static str = "database.seed";
    const REPLACE: &'static [&'static str] = &["database", "id"];
    type Spec = SeedSpec;

    fn check(self, phase: Phase) -> Result<SeedSpec> {
        let spec = SeedSpec {
            database: phase.name("database", &self.database, validate::pg_identifier)?,
            id: phase.name("id", &self.id, seed_id)?,
            sql: self.sql,
        };
        if spec.sql.trim().is_empty() {
            return Err(Error::invalid_field("sql", "must not be empty"));
        }
        Ok(spec)
    }
}

fn seed_outputs(spec: &SeedSpec, checksum: &str) -> Value {
    json!({ "database": spec.database, "id": spec.id, "checksum": checksum })
}

#[provisio::async_trait]
impl ResourceType for DatabaseSeed {
    fn name(&self) -> &str {
        "database.seed"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        SeedFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        SeedFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["database", "id", "checksum"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let s = SeedFields::parse(params, Phase::Resolved)?;
        Ok(format!("seed {}/{}", s.database, s.id))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = SeedFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        // The trait cannot list applied seeds. A seed lives as long as its database: with a
        // recorded application and the database still there, it is applied; otherwise report
        // it missing, which is harmless because applying an applied seed is a no-op.
        if prior.is_none()
            || !db
                .database_exists(&spec.database)
                .await
                .map_err(in_resource(ctx))?
        {
            return Ok(None);
        }
        Ok(prior.cloned())
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = SeedFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let ensured = db.apply_seed(&spec).await.map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: seed_outputs(&spec, &ensured.value.checksum),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        SeedFields::parse(params, Phase::Resolved)?;
        // Nothing to undo: seed data cannot be "unapplied" in general, and it is removed with
        // its database (`database.database`'s delete). Reporting AlreadyGone keeps destroy
        // idempotent without touching data.
        Ok(Deleted::AlreadyGone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, check_outputs, lifecycle, rejects};
    use provisio::{Outcome, SecretStore};

    fn server_params() -> Value {
        json!({"name": "acme-db", "version": 16, "size": "db.t3.micro", "storage_gb": 20,
            "admin_user": "provisio_admin", "admin_password_secret": "acme-db-admin",
            "deletion_protection": false})
    }

    async fn with_secret(h: &Harness, name: &str, value: &str) {
        h.cloud
            .secrets
            .put_secret(name, &SecretString::new(value), &Default::default())
            .await
            .unwrap();
    }

    #[test]
    fn validates_params() {
        DatabaseServer.validate(&server_params()).unwrap();
        let mut p = server_params();
        p["storage_gb"] = json!("${tenant.storage}");
        p["admin_password_secret"] = json!("${db_admin.name}");
        DatabaseServer.validate(&p).unwrap();
        for (field, bad) in [
            ("name", json!("1db")),
            ("name", json!("a--b")),
            ("storage_gb", json!(0)),
            ("admin_user", json!("pg_admin")),
            ("admin_password_secret", json!("a b")),
            ("deletion_protection", json!("maybe")),
            ("version", json!(true)),
        ] {
            let mut p = server_params();
            p[field] = bad;
            rejects(DatabaseServer.validate(&p), field);
        }
        let mut p = server_params();
        p.as_object_mut().unwrap().remove("size");
        rejects(DatabaseServer.validate(&p), "size");

        DatabaseRole
            .validate(&json!({"name": "acme", "password_secret": "acme-db-password"}))
            .unwrap();
        rejects(
            DatabaseRole.validate(&json!({"name": "acme"})),
            "password_secret",
        );
        rejects(
            DatabaseRole.validate(&json!({"name": "pg_x", "password_secret": "p"})),
            "name",
        );
        DatabaseDatabase
            .validate(&json!({"name": "acme", "owner": "${db_user.name}"}))
            .unwrap();
        rejects(DatabaseDatabase.validate(&json!({"name": "acme"})), "owner");
        DatabaseSeed
            .validate(&json!({"database": "acme", "id": "initial-data", "sql": "select 1"}))
            .unwrap();
        rejects(
            DatabaseSeed.validate(&json!({"database": "acme", "id": "a b", "sql": "select 1"})),
            "id",
        );
        rejects(
            DatabaseSeed.validate(&json!({"database": "acme", "id": "x", "sql": " "})),
            "sql",
        );
    }

    #[tokio::test]
    async fn server_lifecycle() {
        let h = Harness::new();
        with_secret(&h, "acme-db-admin", "admin-pw").await;
        let ctx = h.ctx("db_server", "tok");
        let out = lifecycle(&DatabaseServer, &ctx, &server_params()).await;
        assert_eq!(out["name"], "acme-db");
        assert_eq!(out["status"], "available");
        assert!(out["host"].is_string());
        assert!(out["port"].is_number());
        assert!(!out.to_string().contains("admin-pw"));
    }

    #[tokio::test]
    async fn protected_server_is_not_deleted() {
        let h = Harness::new();
        with_secret(&h, "acme-db-admin", "admin-pw").await;
        let ctx = h.ctx("db_server", "tok");
        let mut params = server_params();
        params["deletion_protection"] = json!(true);
        let a = DatabaseServer.apply(&ctx, &params, None).await.unwrap();
        let e = DatabaseServer
            .delete(&ctx, &params, &a.outputs)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Protected, "{e}");
        assert!(
            DatabaseServer
                .read(&ctx, &params, None)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn missing_password_secret_is_reported() {
        let h = Harness::new();
        let ctx = h.ctx("db_server", "tok");
        let e = DatabaseServer
            .apply(&ctx, &server_params(), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::NotFound, "{e}");
        let mut p = server_params();
        p["secrets_provider"] = json!("vault");
        let e = DatabaseServer.apply(&ctx, &p, None).await.unwrap_err();
        assert!(e.to_string().contains("invalid secrets_provider"), "{e}");
    }

    #[tokio::test]
    async fn role_database_seed_lifecycles() {
        let h = Harness::new();
        with_secret(&h, "acme-db-password", "role-pw").await;
        let ctx = h.ctx("db_user", "tok");
        let role = json!({"name": "acme", "password_secret": "acme-db-password"});
        let out = lifecycle(&DatabaseRole, &ctx, &role).await;
        assert_eq!(out, json!({"name": "acme"}));

        DatabaseRole.apply(&ctx, &role, None).await.unwrap();
        let ctx = h.ctx("db", "tok");
        let db = json!({"name": "acme", "owner": "acme"});
        let out = lifecycle(&DatabaseDatabase, &ctx, &db).await;
        assert_eq!(out, json!({"name": "acme", "owner": "acme"}));

        DatabaseDatabase.apply(&ctx, &db, None).await.unwrap();
        let ctx = h.ctx("initial_data", "tok");
        let seed =
            json!({"database": "acme", "id": "initial-data", "sql": "insert into t values (1)"});
        let t = DatabaseSeed;
        t.validate(&seed).unwrap();
        assert_eq!(t.read(&ctx, &seed, None).await.unwrap(), None);
        let a = t.apply(&ctx, &seed, None).await.unwrap();
        assert_eq!(a.outcome, Outcome::Created);
        check_outputs(&t, &a.outputs);
        assert_eq!(
            a.outputs["checksum"],
            SeedSpec {
                database: "acme".into(),
                id: "initial-data".into(),
                sql: "insert into t values (1)".into()
            }
            .checksum()
        );
        assert_eq!(
            t.apply(&ctx, &seed, Some(&a.outputs))
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            t.read(&ctx, &seed, Some(&a.outputs)).await.unwrap(),
            Some(a.outputs.clone())
        );
        let mut changed = seed.clone();
        changed["sql"] = json!("insert into t values (2)");
        let e = t.apply(&ctx, &changed, Some(&a.outputs)).await.unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
        assert_eq!(
            t.delete(&ctx, &seed, &a.outputs).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            t.delete(&ctx, &seed, &a.outputs).await.unwrap(),
            Deleted::AlreadyGone
        );
    }
}
