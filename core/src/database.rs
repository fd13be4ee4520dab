//! Databases: managed server instances (RDS), and roles, databases and seed data inside a
//! server (PostgreSQL).
//!
//! A provider usually implements one half and reports the other as unsupported through
//! [`DatabaseCapabilities`]; its methods then fail with `Unsupported`.
//!
//! Managed servers can also be snapshotted ([`Database::ensure_snapshot`]) and restored from
//! a snapshot ([`ServerSpec::restore_from_snapshot`]): what a lifecycle `archive` keeps of a
//! tenant's server (RDS: a manual DB snapshot) when the provider has it
//! ([`DatabaseCapabilities::snapshots`]).

use crate::{Confirm, Deleted, Ensured, Provider, Result, SecretString, Tags};
use async_trait::async_trait;

/// A managed database server the caller wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerSpec {
    /// The instance identifier.
    pub name: String,
    /// The engine (`postgres`).
    pub engine: String,
    /// The engine's major version, e.g. `16`.
    pub version: String,
    /// The instance class/size, e.g. `db.t3.micro`.
    pub size: String,
    /// Allocated storage in GiB.
    pub storage_gb: u32,
    /// The administrator's user name.
    pub admin_user: String,
    /// The administrator's password (read from the secret store, never stored in state).
    pub admin_password: SecretString,
    /// Refuse deletes at the provider level too.
    #[serde(default = "default_true")]
    pub deletion_protection: bool,
    /// Tags, including provisio's ownership tags.
    #[serde(default)]
    pub tags: Tags,
    /// When the server does not exist, restore it from this snapshot (see
    /// [`Database::ensure_snapshot`]) instead of creating an empty one: the engine, version,
    /// storage, administrator and password come from the snapshot, the class, deletion
    /// protection and tags from this spec. A missing snapshot is `NotFound` naming it (no empty
    /// server is made in its place). Ignored when the server exists. `None` (the default):
    /// create an empty server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_from_snapshot: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A network endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

/// A managed database server as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Server {
    /// The identifier.
    pub name: String,
    /// The engine.
    pub engine: String,
    /// The provider's status, e.g. `creating`, `available`, `deleting`.
    pub status: String,
    /// Where clients connect, once available.
    pub endpoint: Option<Endpoint>,
    /// Whether deletion protection is on.
    pub deletion_protection: bool,
    /// Tags.
    pub tags: Tags,
}

/// A snapshot of a managed server (RDS: a manual DB snapshot), which outlives the server and
/// can be restored into a new one ([`ServerSpec::restore_from_snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The snapshot identifier.
    pub id: String,
    /// The server it was taken of (the server may be gone since).
    pub server: String,
    /// The provider's status: `creating` while it is taken, then `available` (only an
    /// available snapshot can be restored or deleted).
    pub status: String,
    /// When it was taken, as the provider reports it (RDS: `SnapshotCreateTime`, RFC 3339),
    /// once known.
    #[serde(default)]
    pub created: Option<String>,
    /// The server's allocated storage in GiB when it was taken, if the provider says.
    #[serde(default)]
    pub storage_gb: Option<u32>,
    /// Tags, including provisio's ownership tags.
    #[serde(default)]
    pub tags: Tags,
}

/// How to delete a managed server.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct DeleteServer {
    /// Take a final snapshot with this identifier (the default keeps one named after the
    /// server); `None` together with `skip_final_snapshot` skips it.
    pub final_snapshot: Option<String>,
    /// Skip the final snapshot. Irreversible, so it must be asked for.
    pub skip_final_snapshot: bool,
    /// Turn off deletion protection first. Must name the server.
    pub override_protection: Option<Confirm>,
}

/// A role (user) inside a server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoleSpec {
    /// The role name (validated with [`crate::validate::pg_identifier`], always quoted).
    pub name: String,
    /// The password (stored by the server as a SCRAM verifier).
    pub password: SecretString,
}

/// A database inside a server.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatabaseSpec {
    /// The database name.
    pub name: String,
    /// The owning role.
    pub owner: String,
}

/// Seed SQL to apply exactly once to a database.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeedSpec {
    /// The database.
    pub database: String,
    /// A stable id for this seed (e.g. `initial-data`).
    pub id: String,
    /// The SQL script.
    pub sql: String,
}

impl SeedSpec {
    /// The SHA-256 (hex) of the SQL, recorded when the seed is applied.
    pub fn checksum(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.sql.as_bytes()))
    }
}

/// A seed that has been applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedSeed {
    /// The database.
    pub database: String,
    /// The seed id.
    pub id: String,
    /// The checksum of the SQL that was applied.
    pub checksum: String,
}

/// What a database provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DatabaseCapabilities {
    /// Manages server instances (RDS, Azure Database).
    pub servers: bool,
    /// Manages roles, databases and seeds inside a server (PostgreSQL).
    pub roles_and_databases: bool,
    /// Dumps a database to a stream and restores one from it
    /// ([`Database::dump_database`], [`Database::restore_database`]).
    #[serde(default)]
    pub dump_restore: bool,
    /// Snapshots managed servers and restores servers from them ([`Database::ensure_snapshot`],
    /// [`Database::get_snapshot`], [`Database::delete_snapshot`],
    /// [`ServerSpec::restore_from_snapshot`]).
    #[serde(default)]
    pub snapshots: bool,
}

/// What [`Database::restore_database`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoredDatabase {
    /// The database restored into.
    pub database: String,
    /// Whether the restore created the database (`false`: it existed, empty).
    pub created: bool,
    /// How many bytes of dump were read.
    pub bytes: u64,
}

/// A database provider.
#[async_trait]
pub trait Database: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> DatabaseCapabilities;

    /// Creates a managed server or brings its settings to `spec`.
    async fn ensure_server(&self, spec: &ServerSpec) -> Result<Ensured<Server>>;

    /// Reads a managed server; `Ok(None)` when unknown.
    async fn get_server(&self, name: &str) -> Result<Option<Server>>;

    /// Waits until the managed server's status is `available`; `Timeout` after `timeout`,
    /// `NotFound` when the server does not exist (or disappears while waiting). Providers
    /// with a native waiter override this polling default.
    async fn wait_for_server(&self, name: &str, timeout: std::time::Duration) -> Result<Server> {
        let deadline = tokio::time::Instant::now() + timeout;
        let interval = (timeout / 20).clamp(
            std::time::Duration::from_millis(5),
            std::time::Duration::from_secs(5),
        );
        loop {
            match self.get_server(name).await? {
                Some(server) if server.status == "available" => return Ok(server),
                Some(_) => {}
                None => {
                    return Err(crate::Error::not_found(format!(
                        "database server {name:?} does not exist"
                    ))
                    .with_resource(name));
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(crate::Error::timeout(format!(
                    "database server {name:?} not available after {} s",
                    timeout.as_secs_f64()
                ))
                .with_resource(name));
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Deletes a managed server. A server with deletion protection is `Protected` unless
    /// `options.override_protection` names it.
    async fn delete_server(&self, name: &str, options: &DeleteServer) -> Result<Deleted>;

    /// Takes a snapshot `snapshot` of the managed server `server`, tagged with `tags`, or finds
    /// it taken: a snapshot of that identifier taken of the same server is `Unchanged` (also
    /// once the server is gone, so a resumed archive never snapshots twice); one taken of
    /// another server is a `Conflict` naming both. A missing server is `NotFound`. The answer
    /// may still be `creating`: poll [`Database::get_snapshot`] until it is `available`. The
    /// default is `Unsupported` ([`DatabaseCapabilities::snapshots`]).
    async fn ensure_snapshot(
        &self,
        server: &str,
        snapshot: &str,
        tags: &Tags,
    ) -> Result<Ensured<Snapshot>> {
        let _ = (server, tags);
        Err(crate::Error::unsupported("database.ensure_snapshot").with_resource(snapshot))
    }

    /// Reads a snapshot; `Ok(None)` when it does not exist. The default is `Unsupported`.
    async fn get_snapshot(&self, snapshot: &str) -> Result<Option<Snapshot>> {
        Err(crate::Error::unsupported("database.get_snapshot").with_resource(snapshot))
    }

    /// Deletes a snapshot; `AlreadyGone` when it does not exist. A snapshot still being taken
    /// is a `Conflict` (RDS: `InvalidDBSnapshotState`). The default is `Unsupported`.
    async fn delete_snapshot(&self, snapshot: &str) -> Result<Deleted> {
        Err(crate::Error::unsupported("database.delete_snapshot").with_resource(snapshot))
    }

    /// Creates the role with a login password, or sets the password when the role exists.
    /// `Unchanged` only when the provider can tell the password is the same.
    async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>>;

    /// Creates the database owned by the role, or changes its owner.
    async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>>;

    /// Applies the seed SQL in one transaction unless a seed with the same id was applied
    /// before. The same id with a different checksum is a `Conflict`.
    async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>>;

    /// Whether a database exists.
    async fn database_exists(&self, name: &str) -> Result<bool>;

    /// Whether a role exists.
    async fn role_exists(&self, name: &str) -> Result<bool>;

    /// Drops a database. Irreversible, so `confirm` must name it.
    async fn drop_database(&self, name: &str, confirm: &Confirm) -> Result<Deleted>;

    /// Drops a role. `confirm` must name it.
    async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted>;

    /// Dumps a database as a stream, in the provider's own format (PostgreSQL: `pg_dump -Fc
    /// --no-owner`), read once; what [`Database::restore_database`] of the same provider
    /// reads back. `NotFound` when the database does not exist. The call fails for what can
    /// be checked before the dump starts; a failure during the dump (the dump process exiting
    /// with an error) is the stream's last item. The default is `Unsupported`
    /// ([`DatabaseCapabilities::dump_restore`]).
    async fn dump_database(&self, name: &str) -> Result<crate::stream::ByteStream> {
        let _ = name;
        Err(crate::Error::unsupported("database.dump_database"))
    }

    /// Restores a dump made by [`Database::dump_database`] into the database `spec.name`,
    /// its objects owned by `spec.owner` (which must exist). **A restore never overwrites a
    /// live database**: a database that exists and holds any user table (or, in the memory
    /// provider, any applied seed) is a `Conflict` naming it, and nothing is read or changed.
    /// A missing database is created as [`Database::ensure_database`] would; an existing empty
    /// one is restored into. A failed restore leaves the database empty (PostgreSQL: one
    /// transaction), so the same call can be made again with a new stream. The stream is read
    /// once: a layer never retries this call. The default is `Unsupported`.
    async fn restore_database(
        &self,
        spec: &DatabaseSpec,
        body: crate::stream::ByteStream,
    ) -> Result<RestoredDatabase> {
        let _ = (spec, body);
        Err(crate::Error::unsupported("database.restore_database"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_from_snapshot_is_optional_and_left_out_when_none() {
        let spec: ServerSpec = serde_json::from_value(serde_json::json!({
            "name": "acme-db", "engine": "postgres", "version": "16", "size": "db.t3.micro",
            "storage_gb": 20, "admin_user": "admin", "admin_password": "pw-123456",
        }))
        .unwrap();
        assert_eq!(spec.restore_from_snapshot, None);
        let shown = serde_json::to_value(&spec).unwrap();
        assert!(shown.get("restore_from_snapshot").is_none(), "{shown}");
        let with = ServerSpec {
            restore_from_snapshot: Some("acme-db-archive".into()),
            ..spec
        };
        let shown = serde_json::to_value(&with).unwrap();
        assert_eq!(shown["restore_from_snapshot"], "acme-db-archive");
    }

    #[test]
    fn capabilities_without_snapshots_read_as_none() {
        let caps: DatabaseCapabilities = serde_json::from_value(serde_json::json!({
            "servers": true, "roles_and_databases": false,
        }))
        .unwrap();
        assert!(!caps.snapshots && !caps.dump_restore);
    }
}
