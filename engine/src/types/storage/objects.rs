//! `storage.objects`: the objects under a prefix, written from given files or copied from another prefix.

use super::bucket_name;
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{self, Phase, TypedParams};
use provisio::storage::{ObjectMeta, list_all};
use provisio::{Bytes, Deleted, Error, ErrorKind, ObjectStorage, Outcome, Result, validate};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `storage.objects`: the objects under one prefix of a bucket: a tenant's prefix in a shared
/// bucket, or a tenant bucket's initial assets.
///
/// Parameters:
/// - `bucket` (required): the bucket.
/// - `prefix` (required): the key prefix, e.g. `tenants/acme/`. A `/` is appended when it does
///   not end with one, so that `acme` never matches `acme2/...` (delete removes everything
///   under the prefix).
/// - exactly one of
///   - `files`: `{key: text}`, written as `<prefix><key>`; or
///   - `copy_from`: `{bucket, prefix}`: copies every object under that prefix (server-side
///     where the provider can), skipping objects that are already identical.
///
/// Outputs: `bucket`, `prefix`, `count` (how many objects this resource manages). Delete
/// removes every object under the prefix.
///
/// ```yaml
/// initial_assets:
///   type: storage.objects
///   params:
///     bucket: ${assets.name}
///     prefix: ""                      # the whole (tenant-owned) bucket: give "" explicitly
///     copy_from: { bucket: template-assets, prefix: "v3/" }
/// tenant_prefix:
///   type: storage.objects
///   params:
///     bucket: shared-assets
///     prefix: tenants/${tenant.name}/
///     files:
///       README.txt: "assets of ${tenant.name}"
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StorageObjects;

enum Source {
    Files(BTreeMap<String, String>),
    Copy { bucket: String, prefix: String },
}

pub(super) struct ObjectsSpec {
    bucket: String,
    pub(super) prefix: String,
    source: Source,
}

/// `""` stays the whole bucket; anything else ends with `/`.
fn dir_prefix(prefix: &str) -> String {
    if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_string()
    } else {
        format!("{prefix}/")
    }
}

/// The parameters of `storage.objects` (see [`StorageObjects`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ObjectsParams {
    bucket: String,
    prefix: String,
    files: Option<BTreeMap<String, String>>,
    copy_from: Option<CopyFrom>,
}

/// `storage.objects`' `copy_from`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CopyFrom {
    bucket: String,
    prefix: String,
}

impl TypedParams for ObjectsParams {
    const TYPE: &'static str = "storage.objects";
    const REPLACE: &'static [&'static str] = &["bucket", "prefix"];
    type Spec = ObjectsSpec;

    fn check(self, phase: Phase) -> Result<ObjectsSpec> {
        let bucket = phase.name("bucket", &self.bucket, bucket_name)?;
        let prefix = dir_prefix(&self.prefix);
        if !prefix.is_empty() && !phase.unresolved(&self.prefix) {
            validate::object_key("prefix", &prefix)?;
        }
        let source = match (self.files, self.copy_from) {
            (Some(files), None) => {
                if files.is_empty() {
                    return Err(Error::invalid_field("files", "must name at least one file"));
                }
                for key in files.keys() {
                    if !phase.unresolved(key) {
                        validate::object_key(
                            &params::entry("files", key),
                            &format!("{prefix}{key}"),
                        )?;
                    }
                }
                Source::Files(files)
            }
            (None, Some(c)) => Source::Copy {
                bucket: phase.name("copy_from.bucket", &c.bucket, bucket_name)?,
                prefix: c.prefix,
            },
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field(
                    "files",
                    "give either files or copy_from, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid_field(
                    "files",
                    "one of files or copy_from is required",
                ));
            }
        };
        if let Source::Copy {
            bucket: src,
            prefix: src_prefix,
        } = &source
            && phase == Phase::Resolved
            && *src == bucket
            && (src_prefix.starts_with(&prefix) || prefix.starts_with(src_prefix.as_str()))
        {
            return Err(Error::invalid_field(
                "copy_from.prefix",
                format!(
                    "{src_prefix:?} overlaps the destination prefix {prefix:?} in the same bucket"
                ),
            ));
        }
        Ok(ObjectsSpec {
            bucket,
            prefix,
            source,
        })
    }
}

/// What exists under the destination prefix, by key; `None` when the bucket itself is gone.
/// One listing (a request per thousand objects on S3), whatever the number of objects.
async fn existing(
    storage: &dyn ObjectStorage,
    spec: &ObjectsSpec,
) -> Result<Option<BTreeMap<String, ObjectMeta>>> {
    match list_all(storage, &spec.bucket, &spec.prefix).await {
        Ok(objects) => Ok(Some(
            objects.into_iter().map(|o| (o.key.clone(), o)).collect(),
        )),
        Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether the stored object `meta` holds `body`: from the listing's etag when the provider's
/// etags are content hashes, else by reading it back.
async fn holds(
    storage: &dyn ObjectStorage,
    bucket: &str,
    meta: &ObjectMeta,
    body: &[u8],
) -> Result<bool> {
    if meta.size != body.len() as u64 {
        return Ok(false);
    }
    match storage.etag_of(body) {
        Some(etag) => Ok(etag == meta.etag),
        None => Ok(storage.get_object(bucket, &meta.key).await?.0.as_ref() == body),
    }
}

/// One object the resource manages: its key under the destination prefix, and where its
/// content comes from.
enum Wanted<'a> {
    Text {
        key: String,
        text: &'a str,
    },
    Copy {
        key: String,
        bucket: &'a str,
        source: ObjectMeta,
    },
}

/// The objects the resource manages, in key order (for `copy_from`, one listing of the
/// source).
async fn wanted<'a>(storage: &dyn ObjectStorage, spec: &'a ObjectsSpec) -> Result<Vec<Wanted<'a>>> {
    Ok(match &spec.source {
        Source::Files(files) => files
            .iter()
            .map(|(k, text)| Wanted::Text {
                key: format!("{}{k}", spec.prefix),
                text,
            })
            .collect(),
        Source::Copy { bucket, prefix } => list_all(storage, bucket, prefix)
            .await?
            .into_iter()
            .map(|o| Wanted::Copy {
                key: format!("{}{}", spec.prefix, &o.key[prefix.len()..]),
                bucket,
                source: o,
            })
            .collect(),
    })
}

/// Whether the destination already holds `want` (copies keep their etag).
async fn in_place(
    storage: &dyn ObjectStorage,
    spec: &ObjectsSpec,
    have: &BTreeMap<String, ObjectMeta>,
    want: &Wanted<'_>,
) -> Result<bool> {
    match want {
        Wanted::Text { key, text } => match have.get(key) {
            Some(meta) => holds(storage, &spec.bucket, meta, text.as_bytes()).await,
            None => Ok(false),
        },
        Wanted::Copy { key, source, .. } => Ok(have
            .get(key)
            .is_some_and(|m| m.etag == source.etag && m.size == source.size)),
    }
}

/// The first apply of a `files` resource (nothing in state): the prefix is most likely empty,
/// so each file is written with a conditional put (one request, none spent on a listing);
/// a key that is taken is compared and written only when it differs.
async fn create_files(
    storage: &dyn ObjectStorage,
    ctx: &StepContext<'_>,
    spec: &ObjectsSpec,
    files: &BTreeMap<String, String>,
) -> Result<Applied> {
    let (mut written, mut taken) = (0u64, 0u64);
    for (k, text) in files {
        let key = format!("{}{k}", spec.prefix);
        let body = Bytes::from(text.clone());
        let put = storage
            .put_object_if_absent(&spec.bucket, &key, body.clone(), None)
            .await
            .map_err(in_resource(ctx))?;
        if put.is_some() {
            written += 1;
            continue;
        }
        taken += 1;
        let same = match storage
            .head_object(&spec.bucket, &key)
            .await
            .map_err(in_resource(ctx))?
        {
            Some(meta) => holds(storage, &spec.bucket, &meta, text.as_bytes())
                .await
                .map_err(in_resource(ctx))?,
            None => false,
        };
        if !same {
            storage
                .put_object(&spec.bucket, &key, body, None)
                .await
                .map_err(in_resource(ctx))?;
            written += 1;
        }
    }
    // some objects were there already: the resource existed (partly) before this call
    provisio::existence::found(taken > 0);
    let outcome = match (written, taken) {
        (0, _) => Outcome::Unchanged,
        (_, 0) => Outcome::Created,
        _ => Outcome::Updated,
    };
    Ok(Applied {
        outputs: objects_outputs(spec, files.len() as u64),
        outcome,
    })
}

fn objects_outputs(spec: &ObjectsSpec, count: u64) -> Value {
    json!({ "bucket": spec.bucket, "prefix": spec.prefix, "count": count })
}

#[provisio::async_trait]
impl ResourceType for StorageObjects {
    fn name(&self) -> &str {
        "storage.objects"
    }

    fn capability(&self) -> Capability {
        Capability::Storage
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        ObjectsParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        ObjectsParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["bucket", "prefix", "count"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let s = ObjectsParams::parse(params, Phase::Resolved)?;
        Ok(format!("objects {}/{}", s.bucket, s.prefix))
    }

    /// One listing of the destination (and of the source, for a copy): the count of managed
    /// objects that are in place, so a partial copy or a deleted object reads as drift.
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = ObjectsParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        let Some(have) = existing(storage.as_ref(), &spec)
            .await
            .map_err(in_resource(ctx))?
        else {
            return Ok(None);
        };
        let mut n = 0;
        for want in wanted(storage.as_ref(), &spec)
            .await
            .map_err(in_resource(ctx))?
        {
            if in_place(storage.as_ref(), &spec, &have, &want)
                .await
                .map_err(in_resource(ctx))?
            {
                n += 1;
            }
        }
        Ok((n > 0).then(|| objects_outputs(&spec, n)))
    }

    /// One listing of the destination (and of the source, for a copy), then one write per
    /// object that is missing or different: nothing is sent for what is in place, so a
    /// repeated or resumed apply finishes an interrupted copy and sends no other request.
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = ObjectsParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        if prior.is_none()
            && let Source::Files(files) = &spec.source
        {
            return create_files(storage.as_ref(), ctx, &spec, files).await;
        }
        let have = existing(storage.as_ref(), &spec)
            .await
            .map_err(in_resource(ctx))?
            .ok_or_else(|| {
                Error::not_found(format!("bucket {:?} does not exist", spec.bucket))
                    .with_resource(ctx.resource)
            })?;
        let wanted = wanted(storage.as_ref(), &spec)
            .await
            .map_err(in_resource(ctx))?;
        let managed = |key: &str| {
            wanted.iter().any(|w| match w {
                Wanted::Text { key: k, .. } | Wanted::Copy { key: k, .. } => k == key,
            })
        };
        let was_empty = !have.keys().any(|k| managed(k));
        provisio::existence::found(!was_empty);
        // Writes are puts of whole objects by key: repeating them after a crash or a retry
        // overwrites with the same bytes, never duplicates.
        let mut written = 0u64;
        for want in &wanted {
            if in_place(storage.as_ref(), &spec, &have, want)
                .await
                .map_err(in_resource(ctx))?
            {
                continue;
            }
            match want {
                Wanted::Text { key, text } => {
                    storage
                        .put_object(&spec.bucket, key, Bytes::from(text.to_string()), None)
                        .await
                        .map_err(in_resource(ctx))?;
                }
                Wanted::Copy {
                    key,
                    bucket,
                    source,
                } => {
                    storage
                        .copy_object(bucket, &source.key, &spec.bucket, key)
                        .await
                        .map_err(in_resource(ctx))?;
                }
            }
            written += 1;
        }
        let outcome = match (written, was_empty) {
            (0, _) => Outcome::Unchanged,
            (_, true) => Outcome::Created,
            (_, false) => Outcome::Updated,
        };
        Ok(Applied {
            outputs: objects_outputs(&spec, wanted.len() as u64),
            outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = ObjectsParams::parse(params, Phase::Resolved)?;
        let storage = ctx.providers.storage(ctx.provider)?;
        match storage.delete_prefix(&spec.bucket, &spec.prefix).await {
            Ok(0) => Ok(Deleted::AlreadyGone),
            Ok(_) => Ok(Deleted::Deleted),
            // The bucket itself is gone, and its objects with it.
            Err(e) if e.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(e) => Err(in_resource(ctx)(e)),
        }
    }
}
