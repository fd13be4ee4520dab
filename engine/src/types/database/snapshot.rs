//! `database.snapshot`: a snapshot of a managed database server (RDS: a manual DB snapshot).

use super::server::server_identifier;
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::params::{Flag, Int, Phase, TypedParams};
use crate::types::{check_owner, in_resource};
use provisio::database::Snapshot;
use provisio::{Deleted, Error, ErrorKind, Outcome, Result};
use serde_json::{Value, json};
use std::time::Duration;

/// The tag holding the idempotency token of the step that took a snapshot: the same for every
/// attempt and resumed run of one create, another for the next create of the resource (the
/// next archive), so a snapshot left by an earlier archive is never taken for a new one.
pub const SNAPSHOT_TOKEN_TAG: &str = "provisio:token";

/// `database.snapshot`: a snapshot of a managed database server (RDS: a manual DB snapshot,
/// on a provider with [`provisio::database::DatabaseCapabilities::snapshots`]). What a
/// lifecycle `archive` keeps of a tenant's server before it deletes the server, and what
/// `database.server`'s `restore_from_snapshot` brings back.
///
/// Parameters:
/// - `server` (required): the server to snapshot, on this resource's (database) provider
///   (usually the same string as the `database.server`'s `name`, not a reference to it: the
///   server resource refers to this one for its restore, and references go one way).
/// - `name` (required): the snapshot identifier (the rule of server identifiers: 1 to 63
///   letters, digits and single hyphens, starting with a letter).
/// - `keep_on_delete` (optional, default `false`): when `true`, deleting the resource (a
///   destroy, a lifecycle `restore` or `retire`) keeps the snapshot and only forgets it
///   (`Deleted` when it is there, `AlreadyGone` when not: one `get_snapshot`). When `false`,
///   delete removes the snapshot (after checking it is this tenant's).
/// - `wait_timeout_secs` (optional, default 3600): how long apply waits for the snapshot to
///   become `available`.
///
/// Outputs: `name`, `server`, `status`, and `snapshot`, the identifier to hand to
/// `database.server`'s `restore_from_snapshot` (`restore_from_snapshot:
/// ${db_snapshot.snapshot}`: `null` before the first archive, then the snapshot).
///
/// Apply: when outputs are recorded, the snapshot is read first (one `get_snapshot`): still
/// there, of the same server, it is `Unchanged` (a repeated archive never snapshots again,
/// even after the server was deleted). Otherwise the snapshot is taken
/// ([`provisio::Database::ensure_snapshot`], tagged with the ownership tags and the step's
/// idempotency token, [`SNAPSHOT_TOKEN_TAG`]), then apply waits until it is `available` (backing off
/// from 50 ms to 15 s between reads). A snapshot of that identifier that is already there is
/// adopted only when this very step took it (its token is this step's: a run resumed after a
/// crash); one of another server, of another tenant, or **left by an earlier archive** (kept
/// by `keep_on_delete`, or taken by hand) is a `Conflict` before anything else happens:
/// adopting it would record a snapshot of the server as it was, and the archive would then
/// delete the server with what changed since. Delete that snapshot (a server restored from it
/// holds everything it holds) or name the new one differently. Changing `server` or `name`
/// replaces the resource.
///
/// Requests (RDS): a new snapshot: one `CreateDBSnapshot`, then one `DescribeDBSnapshots`
/// per poll until it is available (none when the answer already says `available`, as on
/// moto). A no-op apply: one `DescribeDBSnapshots`. Delete: one `DescribeDBSnapshots`, plus
/// one `DeleteDBSnapshot` unless `keep_on_delete`.
///
/// ```yaml
/// db_snapshot:
///   type: database.snapshot
///   provider: aws
///   only_in: [archived, retired]
///   params:
///     server: ${tenant.name}-db
///     name: ${tenant.name}-db-archive
///     keep_on_delete: true
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseSnapshot;

struct SnapshotParams {
    server: String,
    name: String,
    keep_on_delete: bool,
    wait_timeout: Duration,
}

/// The parameters of `database.snapshot` (see [`DatabaseSnapshot`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotFields {
    server: String,
    name: String,
    keep_on_delete: Option<Flag>,
    wait_timeout_secs: Option<Int>,
}

impl TypedParams for SnapshotFields {
    const TYPE: &'static str = "database.snapshot";
    const REPLACE: &'static [&'static str] = &["server", "name"];
    type Spec = SnapshotParams;

    fn check(self, phase: Phase) -> Result<SnapshotParams> {
        Ok(SnapshotParams {
            server: phase.name("server", &self.server, server_identifier)?,
            name: phase.name("name", &self.name, server_identifier)?,
            keep_on_delete: phase
                .flag("keep_on_delete", self.keep_on_delete.as_ref())?
                .unwrap_or(false),
            wait_timeout: Duration::from_secs(
                phase
                    .int(
                        "wait_timeout_secs",
                        self.wait_timeout_secs.as_ref(),
                        1,
                        86_400,
                    )?
                    .unwrap_or(3600),
            ),
        })
    }
}

fn outputs(s: &Snapshot) -> Value {
    json!({
        "name": s.id,
        "server": s.server,
        "status": s.status,
        "snapshot": s.id,
    })
}

/// Statuses from which a snapshot does not become available on its own.
fn is_failed(status: &str) -> bool {
    matches!(status, "failed" | "deleting" | "deleted" | "error")
        || status.starts_with("incompatible-")
}

/// The conflict of a snapshot identifier taken of another server.
fn other_server(p: &SnapshotParams, snap: &Snapshot) -> Error {
    Error::conflict(format!(
        "snapshot {:?} exists but was taken of server {:?}, not {:?}",
        p.name, snap.server, p.server
    ))
}

#[provisio::async_trait]
impl ResourceType for DatabaseSnapshot {
    fn name(&self) -> &str {
        "database.snapshot"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the snapshot was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        SnapshotFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        SnapshotFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "server", "status", "snapshot"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        &["status"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let p = SnapshotFields::parse(params, Phase::Resolved)?;
        Ok(format!("snapshot {} of server {}", p.name, p.server))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let p = SnapshotFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let snap = db.get_snapshot(&p.name).await.map_err(in_resource(ctx))?;
        // a snapshot of that name of another server is not this resource
        Ok(snap
            .filter(|s| s.server.eq_ignore_ascii_case(&p.server))
            .as_ref()
            .map(outputs))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let p = SnapshotFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let what = format!("snapshot {:?}", p.name);
        if prior.is_some()
            && let Some(snap) = db.get_snapshot(&p.name).await.map_err(in_resource(ctx))?
        {
            provisio::existence::found(true);
            check_owner(ctx, &snap.tags, &what)?;
            if !snap.server.eq_ignore_ascii_case(&p.server) {
                return Err(other_server(&p, &snap).with_resource(ctx.resource));
            }
            let snap = super::wait_available(
                &what,
                snap,
                || db.get_snapshot(&p.name),
                |s: &Snapshot| s.status.as_str(),
                is_failed,
                p.wait_timeout,
            )
            .await
            .map_err(in_resource(ctx))?;
            return Ok(Applied {
                outputs: outputs(&snap),
                outcome: Outcome::Unchanged,
            });
        }
        let mut tags = ctx.ownership.clone();
        tags.insert(
            SNAPSHOT_TOKEN_TAG.to_string(),
            ctx.idempotency_token.to_string(),
        );
        // Whether the snapshot was there before this step, told to the engine before any
        // refusal below: a failed step must not have a snapshot it did not take (an earlier
        // archive's, another server's) recorded as made by this run.
        let ensured = match db.ensure_snapshot(&p.server, &p.name, &tags).await {
            Ok(ensured) => {
                provisio::existence::found(ensured.outcome != Outcome::Created);
                ensured
            }
            Err(e) => {
                if e.kind() == &ErrorKind::Conflict {
                    provisio::existence::found(true);
                }
                return Err(in_resource(ctx)(e));
            }
        };
        if ensured.outcome != Outcome::Created {
            check_owner(ctx, &ensured.value.tags, &what)?;
            let taken_by = ensured
                .value
                .tags
                .get(SNAPSHOT_TOKEN_TAG)
                .map(String::as_str);
            if taken_by != Some(ctx.idempotency_token) {
                return Err(Error::conflict(format!(
                    "snapshot {:?} of server {:?} is already there, left by an earlier archive \
                     or taken by hand: it holds the server as it was then, and taking it for this \
                     one would lose what changed since; delete the snapshot (a server restored \
                     from it holds everything in it) or name this one differently, then run again",
                    p.name, p.server
                ))
                .with_resource(ctx.resource));
            }
        }
        let snap = super::wait_available(
            &what,
            ensured.value,
            || db.get_snapshot(&p.name),
            |s: &Snapshot| s.status.as_str(),
            is_failed,
            p.wait_timeout,
        )
        .await
        .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: outputs(&snap),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let p = SnapshotFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let Some(snap) = db.get_snapshot(&p.name).await.map_err(in_resource(ctx))? else {
            return Ok(Deleted::AlreadyGone);
        };
        if p.keep_on_delete {
            // forgotten, not removed: the snapshot outlives the resource
            return Ok(Deleted::Deleted);
        }
        check_owner(ctx, &snap.tags, &format!("snapshot {:?}", p.name))?;
        db.delete_snapshot(&p.name).await.map_err(in_resource(ctx))
    }
}
