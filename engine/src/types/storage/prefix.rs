//! `storage.prefix`: the storage class and expiry of every object under a prefix (a tenant's
//! files moved to the archive class, brought back, kept N days after retirement).

use super::bucket_name;
use crate::providers::Capability;
use crate::resource::{Applied, Polling, ResourceType, StepContext};
use crate::retry::RetryPolicy;
use crate::types::in_resource;
use crate::types::params::{Int, Phase, TypedParams};
use provisio::storage::{StorageClass, list_all};
use provisio::validate::NameKind;
use provisio::{Deleted, Error, ErrorKind, ObjectStorage, Outcome, Result, validate};
use serde_json::{Value, json};
use std::time::Duration;

/// How long `apply` waits for restores when `wait_timeout_secs` is not set (S3 restores from
/// `GLACIER` in 3 to 5 hours, Azure rehydrates in up to 15).
pub const DEFAULT_WAIT_TIMEOUT_SECS: u64 = 12 * 3600;
/// The first wait between attempts while objects are being restored, when
/// `poll_interval_secs` is not set.
pub const DEFAULT_POLL_INTERVAL_SECS: u64 = 60;

/// `storage.prefix`: every object under a prefix of a bucket in one storage class, and an
/// optional expiry rule for the prefix. What the lifecycle transitions use: `archive` moves a
/// tenant's files to `archive`, `restore` brings them back to `standard`, `retire` keeps the
/// archive for N days.
///
/// Parameters:
/// - `bucket` (required): the bucket or container.
/// - `prefix` (required): the key prefix, non-empty and ending with `/` (`tenants/acme/`), so
///   that `acme` never matches `acme2/...`.
/// - `storage_class` (default `standard`): `standard`, `infrequent_access`, `archive` or
///   `deep_archive`, or a provider's spelling (`GLACIER`, `DEEP_ARCHIVE`, `STANDARD_IA`,
///   `Hot`, `Cool`, `Archive`); see [`provisio::storage::StorageClass`] for the mapping.
/// - `expire_after_days` (1 to 36500, optional): a lifecycle rule deletes the objects under
///   the prefix this many days after they were written (a class change rewrites an S3 object,
///   so the days count from the change). Left out: the rule is removed when this resource had
///   set one. Azure Blob has no expiry rules on its data plane: `Unsupported` there.
/// - `wait_timeout_secs` (default 43200, 1 to 172800): how long `apply` waits for objects
///   being restored from an archive class.
/// - `poll_interval_secs` (default 60, 1 to 600): the first wait between attempts while
///   objects are being restored; it doubles up to ten minutes (full jitter).
///
/// How it runs: `apply` ensures (or removes) the expiry rule, then lists the prefix once and
/// changes the class of every object not in it yet (S3: a copy in place; Azure: Set Blob
/// Tier). An object in an archive class must be restored first, which the service does on
/// its own clock: `apply` starts the restores and fails the attempt with a retryable error
/// counting the objects still being restored; the engine retries the step by
/// [`ResourceType::polling`] (a `step_retrying` event per attempt) until every object is in
/// the class or `wait_timeout_secs` passes (then the step fails with `Timeout`; running it
/// again continues where it stopped: each attempt only changes what is not in the class
/// yet). An attempt that fails has changed some objects already; that is safe because every
/// change is to the class this resource asks for.
///
/// When the run plans, a class the provider does not have (`deep_archive` on Azure Blob) or an
/// `expire_after_days` where it has no expiry rules (Azure Blob) is refused, naming the field,
/// before any side effect.
///
/// Requests: a repeated `apply` with every object in the class sends only the listing (one
/// request per 1000 objects on S3), plus one lifecycle read when `expire_after_days` is set.
///
/// `read` lists the prefix: `storage_class` is the class when every object is in it, else
/// `mixed` (drift: the plan shows an update), plus the expiry rule when one is expected.
/// `delete` removes the expiry rule only and **never deletes objects**: the objects are the
/// tenant's data, written by other resources (`storage.objects`, the application), not this
/// resource's to delete. Changing `bucket` or `prefix` replaces the resource.
///
/// Outputs: `bucket`, `prefix`, `storage_class`, `expire_after_days` (or `null`), `objects`
/// (how many objects are under the prefix) and `changed` (how many this apply moved); the
/// last two are volatile.
///
/// ```yaml
/// assets_class:
///   type: storage.prefix
///   params:
///     bucket: shared-assets
///     prefix: tenants/${tenant.name}/
///   phases:
///     archived: { params: { storage_class: archive } }
///     retired: { params: { storage_class: archive, expire_after_days: 30 } }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StoragePrefix;

/// The parameters of `storage.prefix` (see [`StoragePrefix`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PrefixParams {
    bucket: String,
    prefix: String,
    #[serde(default)]
    storage_class: Option<String>,
    #[serde(default)]
    expire_after_days: Option<Int>,
    #[serde(default)]
    wait_timeout_secs: Option<Int>,
    #[serde(default)]
    poll_interval_secs: Option<Int>,
}

/// A checked `storage.prefix`.
struct PrefixSpec {
    bucket: String,
    prefix: String,
    class: StorageClass,
    expire_after_days: Option<u32>,
    wait_timeout: Duration,
    poll_interval: Duration,
}

fn prefix_rule(field: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return Err(Error::invalid_field(
            field,
            "must not be empty (a prefix names a tenant's part of the bucket, e.g. tenants/acme/)",
        ));
    }
    if !value.ends_with('/') {
        return Err(Error::invalid_field(
            field,
            format!("must end with '/', got {value:?} (so that it matches no other prefix)"),
        ));
    }
    validate::object_key(field, value)
}

impl TypedParams for PrefixParams {
    const TYPE: &'static str = "storage.prefix";
    const REPLACE: &'static [&'static str] = &["bucket", "prefix"];
    type Spec = PrefixSpec;

    fn check(self, phase: Phase) -> Result<PrefixSpec> {
        let bucket = phase.name("bucket", &self.bucket, bucket_name)?;
        let prefix = phase.name("prefix", &self.prefix, prefix_rule)?;
        let class = match self.storage_class.as_deref() {
            None => StorageClass::Standard,
            Some(c) if phase.unresolved(c) => StorageClass::Standard,
            Some(c) => StorageClass::parse("storage_class", c)?,
        };
        let expire_after_days = phase
            .int(
                "expire_after_days",
                self.expire_after_days.as_ref(),
                1,
                36_500,
            )?
            .map(|d| d as u32);
        let wait = phase
            .int(
                "wait_timeout_secs",
                self.wait_timeout_secs.as_ref(),
                1,
                172_800,
            )?
            .unwrap_or(DEFAULT_WAIT_TIMEOUT_SECS);
        let interval = phase
            .int(
                "poll_interval_secs",
                self.poll_interval_secs.as_ref(),
                1,
                600,
            )?
            .unwrap_or(DEFAULT_POLL_INTERVAL_SECS);
        Ok(PrefixSpec {
            bucket,
            prefix,
            class,
            expire_after_days,
            wait_timeout: Duration::from_secs(wait),
            poll_interval: Duration::from_secs(interval),
        })
    }
}

fn outputs(spec: &PrefixSpec, class: &str, days: Option<u32>, objects: u64, changed: u64) -> Value {
    json!({
        "bucket": spec.bucket,
        "prefix": spec.prefix,
        "storage_class": class,
        "expire_after_days": days,
        "objects": objects,
        "changed": changed,
    })
}

/// Whether the recorded outputs say this resource set an expiry rule.
fn had_rule(prior: Option<&Value>) -> bool {
    prior.is_some_and(|p| p["expire_after_days"].is_u64())
}

impl StoragePrefix {
    /// Ensures or removes the expiry rule; whether anything changed.
    async fn converge_rule(
        &self,
        storage: &dyn ObjectStorage,
        spec: &PrefixSpec,
        prior: Option<&Value>,
    ) -> Result<bool> {
        match spec.expire_after_days {
            Some(days) => Ok(storage
                .ensure_expiry_rule(&spec.bucket, &spec.prefix, days)
                .await?
                .outcome
                .changed()),
            None if had_rule(prior) => Ok(storage
                .delete_expiry_rule(&spec.bucket, &spec.prefix)
                .await?
                == Deleted::Deleted),
            None => Ok(false),
        }
    }
}

#[provisio::async_trait]
impl ResourceType for StoragePrefix {
    fn name(&self) -> &str {
        "storage.prefix"
    }

    fn capability(&self) -> Capability {
        Capability::Storage
    }

    fn validate(&self, params: &Value) -> Result<()> {
        PrefixParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        PrefixParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &[
            "bucket",
            "prefix",
            "storage_class",
            "expire_after_days",
            "objects",
            "changed",
        ]
    }

    fn volatile_outputs(&self) -> &[&str] {
        &["objects", "changed"]
    }

    fn polling(&self, params: &Value) -> Option<Polling> {
        let spec = PrefixParams::parse(params, Phase::Resolved).ok()?;
        let interval = spec.poll_interval.as_millis() as u64;
        Some(Polling {
            retry: RetryPolicy {
                // bounded by the deadline, not by a count
                max_attempts: u32::MAX,
                initial_backoff_ms: interval,
                max_backoff_ms: 600_000,
            },
            deadline: spec.wait_timeout,
        })
    }

    /// The bucket name by the provider's rule, and what the provider can do: a class it does
    /// not have (Azure's `deep_archive`) or an expiry rule where it has none (Azure Blob) is
    /// refused when the run plans, before any side effect.
    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = PrefixParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        storage.check_name(NameKind::Bucket, "bucket", &spec.bucket)?;
        let caps = storage.capabilities();
        // a provider without classes keeps every object standard
        let supported = caps.storage_classes.contains(&spec.class)
            || (caps.storage_classes.is_empty() && spec.class == StorageClass::Standard);
        if !supported {
            let have: Vec<&str> = caps.storage_classes.iter().map(|c| c.as_str()).collect();
            return Err(Error::invalid_field(
                "storage_class",
                format!(
                    "provider {:?} has no {} class (it has: {})",
                    ctx.provider,
                    spec.class,
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ),
            ));
        }
        if spec.expire_after_days.is_some() && !caps.expiry_rules {
            return Err(Error::invalid_field(
                "expire_after_days",
                format!("provider {:?} has no expiry rules", ctx.provider),
            ));
        }
        Ok(())
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let spec = PrefixParams::parse(params, Phase::Resolved)?;
        Ok(format!("prefix {}/{}", spec.bucket, spec.prefix))
    }

    /// One listing (and one lifecycle read when an expiry rule is expected).
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = PrefixParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        let objects = match list_all(storage.as_ref(), &spec.bucket, &spec.prefix).await {
            Ok(o) => o,
            // no bucket, no prefix
            Err(e) if e.kind() == &ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(in_resource(ctx)(e)),
        };
        let off = objects
            .iter()
            .filter(|o| o.storage_class != spec.class)
            .count();
        let class = if off == 0 {
            spec.class.as_str()
        } else {
            tracing::info!(
                resource = ctx.resource,
                "{off} of {} objects under {} are not {}",
                objects.len(),
                spec.prefix,
                spec.class
            );
            "mixed"
        };
        let days = if spec.expire_after_days.is_some() || had_rule(prior) {
            storage
                .get_expiry_rule(&spec.bucket, &spec.prefix)
                .await
                .map_err(in_resource(ctx))?
                .map(|r| r.days)
        } else {
            None
        };
        Ok(Some(outputs(&spec, class, days, objects.len() as u64, 0)))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = PrefixParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        let rule_changed = self
            .converge_rule(storage.as_ref(), &spec, prior)
            .await
            .map_err(in_resource(ctx))?;
        let change = storage
            .set_prefix_storage_class(&spec.bucket, &spec.prefix, spec.class)
            .await
            .map_err(in_resource(ctx))?;
        if change.pending > 0 {
            // the engine polls: the next attempt changes what is restored by then
            return Err(Error::transient(format!(
                "{} of {} objects under {}/{} are being restored from an archive class before \
                 they move to {}",
                change.pending,
                change.objects(),
                spec.bucket,
                spec.prefix,
                spec.class
            ))
            .with_resource(ctx.resource));
        }
        let outcome = match prior {
            None => Outcome::Created,
            Some(_) if change.changed > 0 || rule_changed => Outcome::Updated,
            Some(_) => Outcome::Unchanged,
        };
        Ok(Applied {
            outputs: outputs(
                &spec,
                spec.class.as_str(),
                spec.expire_after_days,
                change.objects(),
                change.changed,
            ),
            outcome,
        })
    }

    /// Removes the expiry rule (when one is set or recorded); the objects stay.
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        outputs: &Value,
    ) -> Result<Deleted> {
        let spec = PrefixParams::parse(params, Phase::Resolved)?;
        if spec.expire_after_days.is_none() && !had_rule(Some(outputs)) {
            return Ok(Deleted::AlreadyGone);
        }
        let storage = ctx.providers.storage(ctx.provider)?;
        match storage.delete_expiry_rule(&spec.bucket, &spec.prefix).await {
            Ok(d) => Ok(d),
            Err(e) if e.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(e) => Err(in_resource(ctx)(e)),
        }
    }
}
