//! `storage.bucket`: a bucket or container tagged with the ownership tags.

use super::bucket_name;
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::params::{Flag, Int, Phase, TypedParams};
use crate::types::{check_owner, in_resource};
use provisio::storage::BucketSpec;
use provisio::validate::NameKind;
use provisio::{Deleted, Result};
use serde_json::{Value, json};

/// `storage.bucket`: a bucket (S3) or container (Azure Blob), tagged with provisio's ownership
/// tags.
///
/// Parameters:
/// - `name` (required): the bucket name (S3 or Azure naming rules).
/// - `versioning` (default false): keep every version of every object.
/// - `archive_after_days` (optional): move objects to the archive class after this many days.
/// - `block_public_access` (default true): block all public access.
///
/// Outputs: `name`. Changing `name` replaces the bucket. Delete fails with `Conflict` while
/// the bucket still holds objects (delete its `storage.objects` first); an existing bucket
/// carrying another tenant's ownership tag is never adopted.
///
/// ```yaml
/// assets:
///   type: storage.bucket
///   provider: aws
///   params:
///     name: ${tenant.name}-assets
///     versioning: true
///     archive_after_days: 90
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageBucket;

/// The parameters of `storage.bucket` (see [`StorageBucket`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketParams {
    name: String,
    versioning: Option<Flag>,
    archive_after_days: Option<Int>,
    block_public_access: Option<Flag>,
}

impl TypedParams for BucketParams {
    const TYPE: &'static str = "storage.bucket";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = BucketSpec;

    fn check(self, phase: Phase) -> Result<BucketSpec> {
        let mut spec = BucketSpec::new(phase.name("name", &self.name, bucket_name)?);
        spec.versioning = phase
            .flag("versioning", self.versioning.as_ref())?
            .unwrap_or(false);
        spec.archive_after_days = phase
            .int(
                "archive_after_days",
                self.archive_after_days.as_ref(),
                1,
                36_500,
            )?
            .map(|n| n as u32);
        spec.block_public_access = phase
            .flag("block_public_access", self.block_public_access.as_ref())?
            .unwrap_or(true);
        Ok(spec)
    }
}

#[provisio::async_trait]
impl ResourceType for StorageBucket {
    fn name(&self) -> &str {
        "storage.bucket"
    }

    fn capability(&self) -> Capability {
        Capability::Storage
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        BucketParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        BucketParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = BucketParams::parse(params, Phase::Resolved)?;
        ctx.providers
            .storage(ctx.provider)?
            .check_name(NameKind::Bucket, "name", &spec.name)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "bucket {}",
            BucketParams::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = BucketParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        // the outputs are the name alone: whether it exists is all a refresh compares
        let exists = storage
            .bucket_exists(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        Ok(exists.then(|| json!({ "name": spec.name })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let mut spec = BucketParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        // Bucket names are global and deterministic: an existing bucket of this name is ours
        // to adopt, unless its tags say it belongs to another tenant. The provider checks that
        // while it ensures (`ownership::check_adoptable`), so nothing is read first; a
        // provider without tags cannot tell, and adopts.
        if storage.capabilities().tags {
            spec.tags = ctx.ownership.clone();
        }
        let ensured = storage
            .ensure_bucket(&spec)
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "name": ensured.value.name }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = BucketParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        match storage
            .get_bucket(&spec.name)
            .await
            .map_err(in_resource(ctx))?
        {
            None => return Ok(Deleted::AlreadyGone),
            Some(b) => check_owner(ctx, &b.tags, &format!("bucket {:?}", spec.name))?,
        }
        storage
            .delete_bucket(&spec.name)
            .await
            .map_err(in_resource(ctx))
    }
}
