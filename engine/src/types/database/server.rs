//! `database.server`: a managed database server, its parameters and the wait until it is available.

use super::secret_value;
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::params::{Flag, Int, Phase, TypedParams, string_like};
use crate::types::{check_owner, in_resource};
use provisio::database::{DeleteServer, Server, ServerSpec};
use provisio::{Deleted, Error, Result, SecretString, validate};
use serde_json::{Value, json};
use std::time::Duration;

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
/// - `restore_from_snapshot` (optional, string or `null`): when the server does not exist,
///   restore it from this snapshot (usually a `database.snapshot`'s output:
///   `restore_from_snapshot: ${db_snapshot.snapshot}`) instead of creating it empty; the
///   engine, version, storage, administrator and password come from the snapshot. A missing
///   snapshot fails the step with `NotFound` naming it. `null` (what a reference to a snapshot
///   never taken resolves to, before the first archive) is the same as absent: create the
///   server empty. It only matters when the server is created: an existing server is never
///   touched by it (changing it is an update that changes nothing).
/// - `wait_timeout_secs` (default 3600): how long to wait for the server to become available.
///
/// Outputs: `name`, `host`, `port`, `status`. `apply` waits until the status is `available`.
/// Changing `name` or `engine` replaces the server. Delete keeps a final snapshot unless
/// `skip_final_snapshot` is set.
///
/// Requests (RDS): a new server: `DescribeDBInstances` and `CreateDBInstance` (or
/// `RestoreDBInstanceFromDBSnapshot`), then one `DescribeDBInstances` per poll until it is
/// available; an unchanged one: one `DescribeDBInstances` for the owner check and one for the
/// ensure.
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
///     # restored from the archive's snapshot; null (created empty) before the first archive
///     restore_from_snapshot: ${db_snapshot.snapshot}
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

/// An RDS-style identifier (servers and snapshots share the rule).
pub(super) fn server_identifier(field: &str, value: &str) -> Result<String> {
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
    #[serde(default)]
    restore_from_snapshot: Option<String>,
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
        let restore_from_snapshot = phase.opt_name(
            "restore_from_snapshot",
            self.restore_from_snapshot.as_deref(),
            server_identifier,
        )?;
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
                restore_from_snapshot,
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
        let server = super::wait_available(
            &format!("server {:?}", p.spec.name),
            ensured.value,
            || db.get_server(&p.spec.name),
            |s: &Server| s.status.as_str(),
            is_failed,
            p.wait_timeout,
        )
        .await
        .map_err(in_resource(ctx))?;
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
