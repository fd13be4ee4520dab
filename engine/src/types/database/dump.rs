//! `database.dump`: a dump of a database, streamed into object storage.

use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{Flag, Phase, TypedParams};
use provisio::validate::NameKind;
use provisio::{Deleted, Error, ObjectStorage, Outcome, Result, validate};
use serde_json::{Value, json};
use std::sync::Arc;

/// The content type dumps are stored with.
pub use provisio::archive::DUMP_CONTENT_TYPE;

/// `database.dump`: a dump of a database (the database provider's own format: `pg_dump
/// -Fc --no-owner` for PostgreSQL) streamed into an object of a bucket, without a temporary
/// file and without holding the dump in memory (S3: a multipart upload; Azure Blob: blocks).
/// What a lifecycle `archive` records before it drops the database, and what
/// `database.database`'s `restore_from` reads back.
///
/// Parameters:
/// - `database` (required): the database to dump, on this resource's (database) provider.
/// - `bucket`, `key` (required): where the dump goes.
/// - `storage_provider` (optional, default `default`): the blueprint's provider for the
///   storage capability holding the bucket.
/// - `keep_on_delete` (optional, default `false`): when `true`, deleting the resource (a
///   destroy, a lifecycle `retire`) keeps the dump object and only forgets it (`Deleted` when
///   the object is there, `AlreadyGone` when not: one `head_object`); the bucket's own
///   lifecycle rule expires it. When `false`, delete removes the object.
///
/// Outputs: `database`, `bucket`, `key`, `size` (bytes), `sha256` (hex, computed while the
/// dump streamed through), `etag` (the storage provider's), `storage_provider`, and
/// `location`, an object `{bucket, key, storage_provider, size, sha256}` to hand to
/// `database.database`'s `restore_from` whole (`restore_from: ${db_archive.location}`).
///
/// Apply: when the recorded dump's object is still there with the recorded size and etag
/// (one `head_object`), nothing is done (`Unchanged`): a resumed archive never dumps again,
/// even after the database was dropped. Otherwise the database is dumped and uploaded (the
/// object replaced). Changing `database`, `bucket`, `key` or `storage_provider` replaces the
/// resource. Read reports the object (size, etag; `sha256` only while the etag is the
/// recorded one).
///
/// Requests: apply of a new dump: one `head_object` when outputs are recorded, then the
/// database provider's `dump_database` (PostgreSQL: one lookup and one `pg_dump`) and one
/// `put_object_stream` (S3: `PutObject` for a body under 5 MiB, else one
/// `CreateMultipartUpload`, one `UploadPart` per 8 MiB and one `CompleteMultipartUpload`).
/// A no-op apply: one `head_object`.
///
/// ```yaml
/// db_archive:
///   type: database.dump
///   provider: tenant_pg
///   params:
///     database: ${database.name}
///     bucket: ${tenant.archive_bucket}
///     key: ${tenant.name}/db.dump
///     storage_provider: archive_s3
///     keep_on_delete: true
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseDump;

struct DumpParams {
    database: String,
    bucket: String,
    key: String,
    storage_provider: String,
    keep_on_delete: bool,
}

/// The parameters of `database.dump` (see [`DatabaseDump`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DumpFields {
    database: String,
    bucket: String,
    key: String,
    storage_provider: Option<String>,
    keep_on_delete: Option<Flag>,
}

impl TypedParams for DumpFields {
    const TYPE: &'static str = "database.dump";
    const REPLACE: &'static [&'static str] = &["database", "bucket", "key", "storage_provider"];
    type Spec = DumpParams;

    fn check(self, phase: Phase) -> Result<DumpParams> {
        Ok(DumpParams {
            database: phase.name("database", &self.database, validate::pg_identifier)?,
            bucket: phase.name("bucket", &self.bucket, crate::types::storage::bucket_name)?,
            key: phase.name("key", &self.key, validate::object_key)?,
            storage_provider: self
                .storage_provider
                .unwrap_or_else(|| crate::providers::DEFAULT_PROVIDER.to_string()),
            keep_on_delete: phase
                .flag("keep_on_delete", self.keep_on_delete.as_ref())?
                .unwrap_or(false),
        })
    }
}

/// The storage provider named by a `storage_provider` parameter.
pub(super) fn storage_of(ctx: &StepContext<'_>, name: &str) -> Result<Arc<dyn ObjectStorage>> {
    ctx.providers
        .storage(name)
        .map_err(|e| Error::invalid_field("storage_provider", e.message()))
}

fn outputs(p: &DumpParams, size: u64, sha256: Value, etag: &str) -> Value {
    json!({
        "database": p.database,
        "bucket": p.bucket,
        "key": p.key,
        "size": size,
        "sha256": sha256,
        "etag": etag,
        "storage_provider": p.storage_provider,
        "location": {
            "bucket": p.bucket,
            "key": p.key,
            "storage_provider": p.storage_provider,
            "size": size,
            "sha256": sha256,
        },
    })
}

/// Whether `prior` records a dump of this very object.
fn recorded<'a>(p: &DumpParams, prior: Option<&'a Value>) -> Option<&'a Value> {
    prior.filter(|o| {
        o["bucket"] == p.bucket.as_str()
            && o["key"] == p.key.as_str()
            && o["database"] == p.database.as_str()
            && o["sha256"].is_string()
    })
}

#[provisio::async_trait]
impl ResourceType for DatabaseDump {
    fn name(&self) -> &str {
        "database.dump"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn validate(&self, params: &Value) -> Result<()> {
        DumpFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        DumpFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &[
            "database",
            "bucket",
            "key",
            "size",
            "sha256",
            "etag",
            "storage_provider",
            "location",
        ]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let p = DumpFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.check_name(NameKind::Database, "database", &p.database)?;
        storage_of(ctx, &p.storage_provider)?.check_name(NameKind::Bucket, "bucket", &p.bucket)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let p = DumpFields::parse(params, Phase::Resolved)?;
        Ok(format!(
            "dump of database {} at {}/{}",
            p.database, p.bucket, p.key
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let p = DumpFields::parse(params, Phase::Resolved)?;
        let storage = storage_of(ctx, &p.storage_provider)?;
        let Some(meta) = storage
            .head_object(&p.bucket, &p.key)
            .await
            .map_err(in_resource(ctx))?
        else {
            return Ok(None);
        };
        let sha256 = recorded(&p, prior)
            .filter(|o| o["etag"] == meta.etag.as_str() && o["size"] == meta.size)
            .map(|o| o["sha256"].clone())
            .unwrap_or(Value::Null);
        Ok(Some(outputs(&p, meta.size, sha256, &meta.etag)))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let p = DumpFields::parse(params, Phase::Resolved)?;
        let storage = storage_of(ctx, &p.storage_provider)?;
        if let Some(o) = recorded(&p, prior) {
            let have = storage
                .head_object(&p.bucket, &p.key)
                .await
                .map_err(in_resource(ctx))?;
            if let Some(meta) = have
                && o["etag"] == meta.etag.as_str()
                && o["size"] == meta.size
            {
                return Ok(Applied {
                    outputs: outputs(&p, meta.size, o["sha256"].clone(), &meta.etag),
                    outcome: Outcome::Unchanged,
                });
            }
        }
        let db = ctx.providers.database(ctx.provider)?;
        let record = provisio::archive::dump_to_storage(
            db.as_ref(),
            storage.as_ref(),
            &p.database,
            &p.bucket,
            &p.key,
        )
        .await
        .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: outputs(&p, record.size, json!(record.sha256), &record.etag),
            outcome: if prior.is_some() {
                Outcome::Updated
            } else {
                Outcome::Created
            },
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let p = DumpFields::parse(params, Phase::Resolved)?;
        let storage = storage_of(ctx, &p.storage_provider)?;
        if p.keep_on_delete {
            // forgotten, not removed: the archive outlives the resource
            let there = storage
                .head_object(&p.bucket, &p.key)
                .await
                .map_err(in_resource(ctx))?;
            return Ok(if there.is_some() {
                Deleted::Deleted
            } else {
                Deleted::AlreadyGone
            });
        }
        storage
            .delete_object(&p.bucket, &p.key)
            .await
            .map_err(in_resource(ctx))
    }
}
