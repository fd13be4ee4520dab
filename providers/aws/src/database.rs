//! RDS as the server half of [`Database`], on provisio's Query-protocol client
//! ([`crate::query`]).
//!
//! `ensure_server` creates a PostgreSQL DB instance (encrypted storage, not publicly
//! accessible, tags copied to snapshots, deletion protection as asked) or brings an existing
//! one's deletion protection, class, storage and tags to the spec. With
//! [`ServerSpec::restore_from_snapshot`] a missing instance is restored from that DB snapshot
//! instead (`RestoreDBInstanceFromDBSnapshot`: the spec's class and deletion protection, not
//! publicly accessible, tags copied to snapshots, the spec's tags; engine, version, storage
//! and master user come from the snapshot). `delete_server` refuses a protected instance
//! unless the caller's [`Confirm`](provisio::Confirm) names it, and keeps a final snapshot
//! (`<name>-final` unless named otherwise) unless told to skip it.
//!
//! Snapshots are manual DB snapshots: `ensure_snapshot` sends `CreateDBSnapshot` with the
//! given tags and answers as soon as RDS accepted it (`creating`; the engine's
//! `database.snapshot` then polls `get_snapshot` until `available`). Instance and snapshot
//! identifiers follow one rule ([`rds_identifier`]), checked before any request with an error
//! naming the field.
//!
//! Requests per operation:
//!
//! | operation | requests |
//! |---|---|
//! | `ensure_server`, new | 2: `DescribeDBInstances`, `CreateDBInstance` |
//! | `ensure_server`, new with `restore_from_snapshot` | 2: `DescribeDBInstances`, `RestoreDBInstanceFromDBSnapshot` (a missing snapshot: the same two, `NotFound`) |
//! | `ensure_server`, existing | 1 + what differs (`ModifyDBInstance`, `AddTagsToResource`) + 1 `DescribeDBInstances` after a change |
//! | `ensure_snapshot`, new | 1: `CreateDBSnapshot` |
//! | `ensure_snapshot`, taken before | 2: the refused `CreateDBSnapshot` (`DBSnapshotAlreadyExists`), `DescribeDBSnapshots` |
//! | `ensure_snapshot` of a missing server | 2: the refused `CreateDBSnapshot` (`DBInstanceNotFound`), `DescribeDBSnapshots` (a snapshot of that name of another server is the `Conflict`) |
//! | `get_snapshot` | 1: `DescribeDBSnapshots` |
//! | `delete_snapshot` | 1: `DeleteDBSnapshot` (`DBSnapshotNotFound`: `AlreadyGone`) |
//!
//! Roles, databases and seed data live inside the server and are the PostgreSQL provider's
//! job: those operations return `Unsupported`, as [`DatabaseCapabilities`] says.

use crate::config::AwsConfig;
use crate::error::{PROVIDER, located};
use crate::wire::{Client, Element, Params};
use provisio::database::{
    AppliedSeed, DatabaseCapabilities, DatabaseSpec, DeleteServer, Endpoint, RoleSpec, SeedSpec,
    Server, ServerSpec, Snapshot,
};
use provisio::layer::Safety;
use provisio::{
    Confirm, Database, Deleted, Ensured, Error, ErrorKind, Provider, ProviderInfo, Result, Tags,
    validate,
};
use std::time::Duration;

/// RDS database servers (DB instances).
#[derive(Debug, Clone)]
pub struct RdsDatabase {
    client: Client,
    info: ProviderInfo,
    poll: Duration,
}

/// An RDS DB instance or DB snapshot identifier (one rule for both): 1 to 63 letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen, no two hyphens in a row.
pub fn rds_identifier(field: &str, value: &str) -> Result<String> {
    let ok_chars = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if value.is_empty()
        || value.len() > 63
        || !ok_chars
        || !value.starts_with(|c: char| c.is_ascii_alphabetic())
        || value.ends_with('-')
        || value.contains("--")
    {
        return Err(Error::invalid_field(
            field,
            format!(
                "{value:?} must be 1 to 63 letters, digits and single hyphens, start with a letter and not end with a hyphen"
            ),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

fn server_name(name: &str) -> Result<String> {
    rds_identifier("server name", name)
}

fn snapshot_name(name: &str) -> Result<String> {
    rds_identifier("snapshot name", name)
}

fn check_spec(spec: &ServerSpec) -> Result<String> {
    let name = server_name(&spec.name)?;
    if spec.engine != "postgres" {
        return Err(Error::invalid_field(
            "server engine",
            format!(
                "{:?} is not supported; provisio manages `postgres`",
                spec.engine
            ),
        ));
    }
    if spec.version.is_empty() || !spec.version.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(Error::invalid_field(
            "server version",
            format!("{:?} is not a version such as 16 or 16.4", spec.version),
        ));
    }
    if !spec.size.starts_with("db.") {
        return Err(Error::invalid_field(
            "server size",
            format!(
                "{:?} is not an instance class such as db.t3.micro",
                spec.size
            ),
        ));
    }
    if !(20..=65_536).contains(&spec.storage_gb) {
        return Err(Error::invalid_field(
            "server storage_gb",
            "must be 20 to 65536 GiB for PostgreSQL",
        ));
    }
    let user = &spec.admin_user;
    if user.is_empty()
        || user.len() > 63
        || !user.starts_with(|c: char| c.is_ascii_alphabetic())
        || !user.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || user == "rdsadmin"
    {
        return Err(Error::invalid_field(
            "server admin_user",
            format!("{user:?} must be 1 to 63 letters, digits and '_', starting with a letter"),
        ));
    }
    let pw = spec.admin_password.expose();
    // The rule is described, never the value.
    if pw.len() < 8
        || pw.len() > 128
        || pw
            .chars()
            .any(|c| !c.is_ascii_graphic() || matches!(c, '/' | '"' | '@'))
    {
        return Err(Error::invalid_field(
            "server admin_password",
            "must be 8 to 128 printable ASCII characters other than '/', '\"', '@' and space",
        ));
    }
    validate::tags("server tags", &spec.tags)?;
    if let Some(id) = &spec.restore_from_snapshot {
        rds_identifier("server restore_from_snapshot", id)?;
    }
    Ok(name)
}

/// A `DBInstance` of an RDS answer as a [`Server`].
fn to_server(db: &Element) -> Server {
    let text = |path: &[&str]| db.text_at(path).unwrap_or_default().to_string();
    Server {
        name: text(&["DBInstanceIdentifier"]),
        engine: text(&["Engine"]),
        status: text(&["DBInstanceStatus"]),
        endpoint: db.text_at(&["Endpoint", "Address"]).map(|host| Endpoint {
            host: host.to_string(),
            port: db
                .text_at(&["Endpoint", "Port"])
                .and_then(|p| p.parse().ok())
                .unwrap_or(5432),
        }),
        deletion_protection: db.text_at(&["DeletionProtection"]) == Some("true"),
        tags: tags_of(db),
    }
}

/// A `DBSnapshot` of an RDS answer as a [`Snapshot`].
fn to_snapshot(snap: &Element) -> Snapshot {
    let text = |path: &[&str]| snap.text_at(path).unwrap_or_default().to_string();
    Snapshot {
        id: text(&["DBSnapshotIdentifier"]),
        server: text(&["DBInstanceIdentifier"]),
        status: text(&["Status"]),
        created: snap
            .text_at(&["SnapshotCreateTime"])
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        storage_gb: snap
            .text_at(&["AllocatedStorage"])
            .and_then(|gb| gb.parse().ok()),
        tags: tags_of(snap),
    }
}

/// The `TagList` of an RDS element.
fn tags_of(element: &Element) -> Tags {
    element
        .list(&["TagList"], "Tag")
        .filter_map(|t| {
            Some((
                t.text_at(&["Key"])?.to_string(),
                t.text_at(&["Value"]).unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// `tags` as the `Tags.Tag.N.Key` / `.Value` parameters of RDS (a list of `Tag`).
fn tag_params(params: &mut Params, tags: &Tags) {
    for (n, (k, v)) in tags.iter().enumerate() {
        params
            .set(format!("Tags.Tag.{}.Key", n + 1), k)
            .set(format!("Tags.Tag.{}.Value", n + 1), v);
    }
}

fn flag(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn unsupported(op: &str, resource: &str) -> Error {
    Error::unsupported(op)
        .with_provider(PROVIDER)
        .with_resource(resource)
}

impl RdsDatabase {
    /// RDS on provisio's own client (built by [`crate::Aws::database`]).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        RdsDatabase {
            client,
            info: config.provider_info(crate::config::Service::Rds, account),
            poll: config.poll_interval(),
        }
    }

    /// The DB instance called `name` (case-insensitively, as RDS compares), if it exists.
    async fn describe(&self, name: &str, op: &str) -> Result<Option<Element>> {
        let params = Params::new().with("DBInstanceIdentifier", name);
        match self
            .client
            .query("DescribeDBInstances", &params, Safety::Idempotent, op, name)
            .await
        {
            Ok(root) => Ok(root
                .list(&["DescribeDBInstancesResult", "DBInstances"], "DBInstance")
                .find(|d| {
                    d.text_at(&["DBInstanceIdentifier"])
                        .is_some_and(|i| i.eq_ignore_ascii_case(name))
                })
                .cloned()),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The DB snapshot called `id` (case-insensitively), if it exists: one
    /// `DescribeDBSnapshots`.
    async fn describe_snapshot(&self, id: &str, op: &str) -> Result<Option<Snapshot>> {
        let params = Params::new().with("DBSnapshotIdentifier", id);
        match self
            .client
            .query("DescribeDBSnapshots", &params, Safety::Idempotent, op, id)
            .await
        {
            Ok(root) => Ok(root
                .list(&["DescribeDBSnapshotsResult", "DBSnapshots"], "DBSnapshot")
                .find(|d| {
                    d.text_at(&["DBSnapshotIdentifier"])
                        .is_some_and(|i| i.eq_ignore_ascii_case(id))
                })
                .map(to_snapshot)),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// `RestoreDBInstanceFromDBSnapshot` of the missing instance `name` from `snapshot`.
    async fn restore_server(
        &self,
        spec: &ServerSpec,
        name: &str,
        snapshot: &str,
        op: &str,
    ) -> Result<Ensured<Server>> {
        let snapshot = snapshot.to_ascii_lowercase();
        let mut params = Params::new()
            .with("DBInstanceIdentifier", name)
            .with("DBSnapshotIdentifier", &snapshot)
            .with("DBInstanceClass", &spec.size)
            .with("DeletionProtection", flag(spec.deletion_protection))
            .with("PubliclyAccessible", "false")
            .with("CopyTagsToSnapshot", "true");
        tag_params(&mut params, &spec.tags);
        // Not retried on a server error, as CreateDBInstance: the instance may exist; the
        // engine's next attempt finds it with DescribeDBInstances first.
        let out = match self
            .client
            .query(
                "RestoreDBInstanceFromDBSnapshot",
                &params,
                Safety::OnlyIfRefused,
                op,
                name,
            )
            .await
        {
            Ok(out) => out,
            Err(err) if err.kind() == &ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "server {name:?} cannot be restored: snapshot {snapshot:?} (restore_from_snapshot) does not exist"
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(&snapshot)
                .with_source(err));
            }
            Err(err) => return Err(err),
        };
        let server = out
            .at(&["RestoreDBInstanceFromDBSnapshotResult", "DBInstance"])
            .map(to_server)
            .unwrap_or_else(|| Server {
                name: name.to_string(),
                engine: "postgres".into(),
                status: "creating".into(),
                endpoint: None,
                deletion_protection: spec.deletion_protection,
                tags: spec.tags.clone(),
            });
        Ok(Ensured::created(server))
    }
}

impl Provider for RdsDatabase {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

#[provisio::async_trait]
impl Database for RdsDatabase {
    fn capabilities(&self) -> DatabaseCapabilities {
        DatabaseCapabilities {
            servers: true,
            roles_and_databases: false,
            dump_restore: false,
            snapshots: true,
        }
    }

    async fn ensure_server(&self, spec: &ServerSpec) -> Result<Ensured<Server>> {
        let op = "database.ensure_server";
        let name = check_spec(spec).map_err(|e| located(e, op, &spec.name))?;
        let Some(current) = self.describe(&name, op).await? else {
            if let Some(snapshot) = &spec.restore_from_snapshot {
                return self.restore_server(spec, &name, snapshot, op).await;
            }
            let mut params = Params::new()
                .with("DBInstanceIdentifier", &name)
                .with("Engine", "postgres")
                .with("EngineVersion", &spec.version)
                .with("DBInstanceClass", &spec.size)
                .with("AllocatedStorage", spec.storage_gb.to_string())
                .with("MasterUsername", &spec.admin_user)
                .with("MasterUserPassword", spec.admin_password.expose())
                .with("DeletionProtection", flag(spec.deletion_protection))
                .with("StorageEncrypted", "true")
                .with("PubliclyAccessible", "false")
                .with("CopyTagsToSnapshot", "true");
            tag_params(&mut params, &spec.tags);
            // Not retried on a server error: the instance may exist; the engine's next attempt
            // finds it with DescribeDBInstances first.
            let out = self
                .client
                .query(
                    "CreateDBInstance",
                    &params,
                    Safety::OnlyIfRefused,
                    op,
                    &name,
                )
                .await?;
            let server = out
                .at(&["CreateDBInstanceResult", "DBInstance"])
                .map(to_server)
                .unwrap_or_else(|| Server {
                    name: name.clone(),
                    engine: "postgres".into(),
                    status: "creating".into(),
                    endpoint: None,
                    deletion_protection: spec.deletion_protection,
                    tags: spec.tags.clone(),
                });
            return Ok(Ensured::created(server));
        };
        let server = to_server(&current);
        if server.engine != "postgres" {
            return Err(Error::conflict(format!(
                "server {name:?} runs {:?}, not postgres; an engine cannot be changed in place",
                server.engine
            ))
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(&name));
        }
        let protection_differs = server.deletion_protection != spec.deletion_protection;
        let class_differs = current.text_at(&["DBInstanceClass"]) != Some(spec.size.as_str());
        let storage_differs = current
            .text_at(&["AllocatedStorage"])
            .and_then(|gb| gb.parse::<u32>().ok())
            != Some(spec.storage_gb);
        let tags_differ = !provisio::types::tags_match(&server.tags, &spec.tags);
        if !(protection_differs || class_differs || storage_differs || tags_differ) {
            return Ok(Ensured::unchanged(server));
        }
        if protection_differs || class_differs || storage_differs {
            let mut params = Params::new()
                .with("DBInstanceIdentifier", &name)
                .with("ApplyImmediately", "true");
            if protection_differs {
                params.set("DeletionProtection", flag(spec.deletion_protection));
            }
            if class_differs {
                params.set("DBInstanceClass", &spec.size);
            }
            if storage_differs {
                params.set("AllocatedStorage", spec.storage_gb.to_string());
            }
            self.client
                .query("ModifyDBInstance", &params, Safety::Idempotent, op, &name)
                .await?;
        }
        if tags_differ && let Some(arn) = current.text_at(&["DBInstanceArn"]) {
            let mut params = Params::new().with("ResourceName", arn);
            tag_params(&mut params, &spec.tags);
            self.client
                .query("AddTagsToResource", &params, Safety::Idempotent, op, &name)
                .await?;
        }
        let after = self.describe(&name, op).await?.map(|d| to_server(&d));
        let mut after = after.unwrap_or(server);
        // RDS may report a pending modification for a moment; the spec is what was applied.
        after.deletion_protection = spec.deletion_protection;
        Ok(Ensured::updated(after))
    }

    async fn get_server(&self, name: &str) -> Result<Option<Server>> {
        let op = "database.get_server";
        let name = server_name(name).map_err(|e| located(e, op, name))?;
        Ok(self.describe(&name, op).await?.map(|d| to_server(&d)))
    }

    async fn wait_for_server(&self, name: &str, timeout: Duration) -> Result<Server> {
        let op = "database.wait_for_server";
        let name = server_name(name).map_err(|e| located(e, op, name))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(db) = self.describe(&name, op).await? else {
                return Err(
                    Error::not_found(format!("database server {name:?} does not exist"))
                        .with_provider(PROVIDER)
                        .with_operation(op)
                        .with_resource(&name),
                );
            };
            let server = to_server(&db);
            match server.status.as_str() {
                "available" => return Ok(server),
                "deleting"
                | "failed"
                | "incompatible-parameters"
                | "incompatible-restore"
                | "incompatible-network"
                | "storage-full" => {
                    return Err(Error::conflict(format!(
                        "database server {name:?} is {:?} and will not become available by itself",
                        server.status
                    ))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(&name));
                }
                _ => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::timeout(format!(
                    "database server {name:?} is still {:?} after {} s",
                    server.status,
                    timeout.as_secs_f64()
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(&name));
            }
            tokio::time::sleep(self.poll.min(deadline - now)).await;
        }
    }

    async fn delete_server(&self, name: &str, options: &DeleteServer) -> Result<Deleted> {
        let op = "database.delete_server";
        let name = server_name(name).map_err(|e| located(e, op, name))?;
        if let Some(confirm) = &options.override_protection {
            confirm
                .check("database server", &name)
                .map_err(|e| located(e, op, &name))?;
        }
        let final_snapshot = if options.skip_final_snapshot {
            None
        } else {
            let id = options
                .final_snapshot
                .clone()
                .unwrap_or_else(|| format!("{name}-final"));
            Some(rds_identifier("final snapshot", &id).map_err(|e| located(e, op, &name))?)
        };
        let Some(db) = self.describe(&name, op).await? else {
            return Ok(Deleted::AlreadyGone);
        };
        let server = to_server(&db);
        if server.status == "deleting" {
            return Ok(Deleted::AlreadyGone);
        }
        if server.deletion_protection {
            if options.override_protection.is_none() {
                return Err(Error::protected(format!(
                    "database server {name:?} has deletion protection; name it in override_protection to delete it"
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(&name));
            }
            tracing::warn!(server = %name, "turning deletion protection off, as confirmed by name");
            let params = Params::new()
                .with("DBInstanceIdentifier", &name)
                .with("DeletionProtection", "false")
                .with("ApplyImmediately", "true");
            self.client
                .query("ModifyDBInstance", &params, Safety::Idempotent, op, &name)
                .await?;
        }
        let mut params = Params::new()
            .with("DBInstanceIdentifier", &name)
            .with("DeleteAutomatedBackups", "false");
        match &final_snapshot {
            Some(id) => params
                .set("SkipFinalSnapshot", "false")
                .set("FinalDBSnapshotIdentifier", id),
            None => params.set("SkipFinalSnapshot", "true"),
        };
        match self
            .client
            .query("DeleteDBInstance", &params, Safety::Idempotent, op, &name)
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(err) => Err(err),
        }
    }

    async fn ensure_snapshot(
        &self,
        server: &str,
        snapshot: &str,
        tags: &Tags,
    ) -> Result<Ensured<Snapshot>> {
        let op = "database.ensure_snapshot";
        let id = snapshot_name(snapshot).map_err(|e| located(e, op, snapshot))?;
        let server = server_name(server).map_err(|e| located(e, op, &id))?;
        validate::tags("snapshot tags", tags).map_err(|e| located(e, op, &id))?;
        let mut params = Params::new()
            .with("DBInstanceIdentifier", &server)
            .with("DBSnapshotIdentifier", &id);
        tag_params(&mut params, tags);
        // Created optimistically (one request for the usual case, a new snapshot); a refusal
        // says whether it exists, and of which server, with one describe.
        let refused = match self
            .client
            .query("CreateDBSnapshot", &params, Safety::OnlyIfRefused, op, &id)
            .await
        {
            Ok(out) => {
                let snap = out
                    .at(&["CreateDBSnapshotResult", "DBSnapshot"])
                    .map(to_snapshot)
                    .unwrap_or_else(|| Snapshot {
                        id: id.clone(),
                        server: server.clone(),
                        status: "creating".into(),
                        created: None,
                        storage_gb: None,
                        tags: tags.clone(),
                    });
                return Ok(Ensured::created(snap));
            }
            Err(err) if matches!(err.kind(), ErrorKind::AlreadyExists | ErrorKind::NotFound) => err,
            Err(err) => return Err(err),
        };
        match self.describe_snapshot(&id, op).await? {
            Some(snap) if snap.server.eq_ignore_ascii_case(&server) => Ok(Ensured::unchanged(snap)),
            Some(snap) => Err(Error::conflict(format!(
                "snapshot {id:?} exists but was taken of server {:?}, not {server:?}",
                snap.server
            ))
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(&id)),
            None if refused.kind() == &ErrorKind::NotFound => Err(Error::not_found(format!(
                "server {server:?} does not exist, so snapshot {id:?} cannot be taken of it"
            ))
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(&server)
            .with_source(refused)),
            // refused as existing, gone by the describe: deleted in between
            None => Err(refused),
        }
    }

    async fn get_snapshot(&self, snapshot: &str) -> Result<Option<Snapshot>> {
        let op = "database.get_snapshot";
        let id = snapshot_name(snapshot).map_err(|e| located(e, op, snapshot))?;
        self.describe_snapshot(&id, op).await
    }

    async fn delete_snapshot(&self, snapshot: &str) -> Result<Deleted> {
        let op = "database.delete_snapshot";
        let id = snapshot_name(snapshot).map_err(|e| located(e, op, snapshot))?;
        let params = Params::new().with("DBSnapshotIdentifier", &id);
        match self
            .client
            .query("DeleteDBSnapshot", &params, Safety::Idempotent, op, &id)
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(err) => Err(err),
        }
    }

    async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
        Err(unsupported("database.ensure_role", &spec.name))
    }

    async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
        Err(unsupported("database.ensure_database", &spec.name))
    }

    async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
        Err(unsupported("database.apply_seed", &spec.database))
    }

    async fn database_exists(&self, name: &str) -> Result<bool> {
        Err(unsupported("database.database_exists", name))
    }

    async fn role_exists(&self, name: &str) -> Result<bool> {
        Err(unsupported("database.role_exists", name))
    }

    async fn drop_database(&self, name: &str, _confirm: &Confirm) -> Result<Deleted> {
        Err(unsupported("database.drop_database", name))
    }

    async fn drop_role(&self, name: &str, _confirm: &Confirm) -> Result<Deleted> {
        Err(unsupported("database.drop_role", name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert_eq!(rds_identifier("s", "Acme-DB1").unwrap(), "acme-db1");
        for bad in ["", "1abc", "a--b", "a-", "Bad_Name!", &"a".repeat(64)] {
            assert!(rds_identifier("server name", bad).is_err(), "{bad}");
        }
    }
}
