//! S3 as [`ObjectStorage`].
//!
//! A bucket's settings are four S3 sub-resources: versioning, the lifecycle rule
//! `provisio-archive` (objects move to `GLACIER` after N days; other rules are kept as they
//! are), the public access block, and the tag set (tags not in the spec are kept). Both a
//! bucket per tenant and a prefix per tenant in one shared bucket work: prefixes are only keys.
//! `copy_prefix` copies server-side with `CopyObject` (no download), skipping objects whose
//! destination already has the same ETag; `delete_prefix` deletes in batches of up to 1000.

use crate::config::AwsConfig;
use crate::error::{PROVIDER, classify, code, located};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
    CreateBucketConfiguration, Delete, ExpirationStatus, LifecycleRule, LifecycleRuleFilter,
    ObjectIdentifier, PublicAccessBlockConfiguration, Tag, Tagging, Transition,
    TransitionStorageClass, VersioningConfiguration,
};
use provisio::storage::{Bucket, BucketSpec, ObjectMeta, StorageCapabilities};
use provisio::{
    Bytes, Deleted, Ensured, Error, ErrorKind, ObjectStorage, Page, PageRequest, Provider,
    ProviderInfo, Quota, Result, Tags, validate,
};
use std::time::Duration;

/// The id of the lifecycle rule provisio manages.
pub const ARCHIVE_RULE_ID: &str = "provisio-archive";

/// S3 supports 3,500 writes per second per key prefix.
const S3_QUOTA: Quota = Quota {
    requests: 3_500,
    per: Duration::from_secs(1),
};

/// The largest single `PutObject`: 5 GiB.
const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// S3 buckets and objects.
#[derive(Debug, Clone)]
pub struct S3Storage {
    client: Client,
    account: String,
    region: Option<String>,
}

fn bucket_name(name: &str) -> Result<String> {
    validate::s3_bucket_name("bucket", name)
}

fn object_key(key: &str) -> Result<String> {
    validate::object_key("object key", key)
}

fn build_err(e: aws_sdk_s3::error::BuildError) -> Error {
    Error::unexpected("cannot build the S3 request").with_source(e)
}

/// Percent-encodes a `CopySource` (`bucket/key`): everything but unreserved characters and `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = format!("{bucket}/");
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// moto 5 answers `GetBucketVersioning` with the root element `<GetBucketVersioningResponse>`
/// instead of S3's `<VersioningConfiguration>`, which the SDK refuses to parse. For exactly that
/// answer (HTTP 200, that root) the status is read from the body; anything else unreadable
/// stays an error.
fn emulator_versioning_answer<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Option<bool> {
    let raw = e.raw_response()?;
    if raw.status().as_u16() != 200 {
        return None;
    }
    let text = String::from_utf8_lossy(raw.body().bytes()?);
    text.contains("<GetBucketVersioningResponse")
        .then(|| text.contains("<Status>Enabled</Status>"))
}

impl S3Storage {
    /// Wraps an S3 client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        S3Storage {
            client,
            account: account.into(),
            region: config.region.clone(),
        }
    }

    /// Whether the bucket exists (and is ours): `HeadBucket`.
    async fn bucket_exists(&self, name: &str, op: &str) -> Result<bool> {
        match self.client.head_bucket().bucket(name).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = classify(e, op, name);
                match err.kind() {
                    ErrorKind::NotFound => Ok(false),
                    // HeadBucket answers 403 without a code for a bucket of another account.
                    ErrorKind::PermissionDenied => Err(Error::already_exists(format!(
                        "bucket {name:?} exists but is not accessible to this account (owned by another account?)"
                    ))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(name)),
                    _ => Err(err),
                }
            }
        }
    }

    async fn read_bucket(&self, name: &str, op: &str) -> Result<Bucket> {
        let versioning = match self
            .client
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => out.status() == Some(&BucketVersioningStatus::Enabled),
            Err(e) => match emulator_versioning_answer(&e) {
                Some(on) => on,
                None => return Err(classify(e, op, name)),
            },
        };
        let archive_after_days = match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => out
                .rules()
                .iter()
                .find(|r| {
                    r.id() == Some(ARCHIVE_RULE_ID) && r.status() == &ExpirationStatus::Enabled
                })
                .and_then(|r| r.transitions().iter().find_map(|t| t.days()))
                .and_then(|d| u32::try_from(d).ok()),
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => None,
            Err(e) => return Err(classify(e, op, name)),
        };
        let block_public_access = match self
            .client
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) if code(&e) == Some("NoSuchPublicAccessBlockConfiguration") => false,
            Err(e) => return Err(classify(e, op, name)),
        };
        let tags = match self.client.get_bucket_tagging().bucket(name).send().await {
            Ok(out) => out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            Err(e) if code(&e) == Some("NoSuchTagSet") => Tags::new(),
            Err(e) => return Err(classify(e, op, name)),
        };
        Ok(Bucket {
            name: name.to_string(),
            versioning,
            archive_after_days,
            block_public_access,
            tags,
        })
    }

    async fn create_bucket(&self, name: &str, op: &str) -> Result<()> {
        let mut req = self.client.create_bucket().bucket(name);
        if let Some(region) = self.region.as_deref().filter(|r| *r != "us-east-1") {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            // Created by a concurrent ensure of ours: fine, the settings follow.
            Err(e) if code(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) => {
                let err = classify(e, op, name);
                if err.kind() == &ErrorKind::AlreadyExists {
                    Err(Error::already_exists(format!(
                        "bucket name {name:?} is taken by another account (bucket names are global)"
                    ))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(name))
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn set_public_access_block(&self, name: &str, block: bool, op: &str) -> Result<()> {
        if block {
            self.client
                .put_public_access_block()
                .bucket(name)
                .public_access_block_configuration(
                    PublicAccessBlockConfiguration::builder()
                        .block_public_acls(true)
                        .ignore_public_acls(true)
                        .block_public_policy(true)
                        .restrict_public_buckets(true)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        } else {
            self.client
                .delete_public_access_block()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        }
        Ok(())
    }

    async fn set_versioning(&self, name: &str, on: bool, op: &str) -> Result<()> {
        let status = if on {
            BucketVersioningStatus::Enabled
        } else {
            BucketVersioningStatus::Suspended
        };
        self.client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .map_err(|e| classify(e, op, name))?;
        Ok(())
    }

    /// Puts provisio's archive rule (or removes it), keeping every other rule.
    async fn set_archive_rule(&self, name: &str, days: Option<u32>, op: &str) -> Result<()> {
        let mut rules: Vec<LifecycleRule> = match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(name)
            .send()
            .await
        {
            Ok(out) => out
                .rules()
                .iter()
                .filter(|r| r.id() != Some(ARCHIVE_RULE_ID))
                .cloned()
                .collect(),
            Err(e) if code(&e) == Some("NoSuchLifecycleConfiguration") => Vec::new(),
            Err(e) => return Err(classify(e, op, name)),
        };
        if let Some(days) = days {
            rules.push(
                LifecycleRule::builder()
                    .id(ARCHIVE_RULE_ID)
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix("").build())
                    .transitions(
                        Transition::builder()
                            .days(i32::try_from(days).unwrap_or(i32::MAX))
                            .storage_class(TransitionStorageClass::Glacier)
                            .build(),
                    )
                    .build()
                    .map_err(build_err)?,
            );
        }
        if rules.is_empty() {
            self.client
                .delete_bucket_lifecycle()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        } else {
            self.client
                .put_bucket_lifecycle_configuration()
                .bucket(name)
                .lifecycle_configuration(
                    BucketLifecycleConfiguration::builder()
                        .set_rules(Some(rules))
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| classify(e, op, name))?;
        }
        Ok(())
    }

    async fn set_tags(&self, name: &str, tags: &Tags, op: &str) -> Result<()> {
        let mut set = Vec::new();
        for (k, v) in tags {
            set.push(Tag::builder().key(k).value(v).build().map_err(build_err)?);
        }
        self.client
            .put_bucket_tagging()
            .bucket(name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(set))
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| classify(e, op, name))?;
        Ok(())
    }

    /// Brings the bucket's settings to `spec`; says whether anything was sent.
    async fn converge(
        &self,
        current: Option<&Bucket>,
        spec: &BucketSpec,
        op: &str,
    ) -> Result<bool> {
        let name = spec.name.as_str();
        let mut changed = false;
        if current.is_none_or(|c| c.block_public_access != spec.block_public_access) {
            self.set_public_access_block(name, spec.block_public_access, op)
                .await?;
            changed = true;
        }
        // A new bucket is unversioned: only turning versioning on needs a call.
        let versioning_differs = match current {
            Some(c) => c.versioning != spec.versioning,
            None => spec.versioning,
        };
        if versioning_differs {
            self.set_versioning(name, spec.versioning, op).await?;
            changed = true;
        }
        let archive_differs = match current {
            Some(c) => c.archive_after_days != spec.archive_after_days,
            None => spec.archive_after_days.is_some(),
        };
        if archive_differs {
            self.set_archive_rule(name, spec.archive_after_days, op)
                .await?;
            changed = true;
        }
        let have = current.map(|c| c.tags.clone()).unwrap_or_default();
        if !provisio::types::tags_match(&have, &spec.tags) {
            let mut merged = have;
            merged.extend(spec.tags.clone());
            self.set_tags(name, &merged, op).await?;
            changed = true;
        }
        Ok(changed)
    }

    async fn head(&self, bucket: &str, key: &str, op: &str) -> Result<Option<ObjectMeta>> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: out.e_tag().unwrap_or_default().to_string(),
                content_type: out.content_type().map(str::to_string),
            })),
            Err(e) => {
                let err = classify(e, op, &format!("{bucket}/{key}"));
                if err.kind() == &ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }
}

impl Provider for S3Storage {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new("aws-s3", &self.account).with_quota(S3_QUOTA)
    }
}

#[provisio::async_trait]
impl ObjectStorage for S3Storage {
    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            versioning: true,
            archive_lifecycle: true,
            public_access_block: true,
            tags: true,
            max_put_size: MAX_PUT,
        }
    }

    async fn ensure_bucket(&self, spec: &BucketSpec) -> Result<Ensured<Bucket>> {
        let op = "storage.ensure_bucket";
        let name = bucket_name(&spec.name).map_err(|e| located(e, op, &spec.name))?;
        validate::tags("bucket tags", &spec.tags).map_err(|e| located(e, op, &name))?;
        if spec.archive_after_days == Some(0) {
            return Err(located(
                Error::invalid_field("archive_after_days", "must be at least 1"),
                op,
                &name,
            ));
        }
        if self.bucket_exists(&name, op).await? {
            let current = self.read_bucket(&name, op).await?;
            if current.matches(spec) {
                return Ok(Ensured::unchanged(current));
            }
            self.converge(Some(&current), spec, op).await?;
            let after = self.read_bucket(&name, op).await?;
            return Ok(Ensured::updated(after));
        }
        self.create_bucket(&name, op).await?;
        self.converge(None, spec, op).await?;
        let after = self.read_bucket(&name, op).await?;
        Ok(Ensured::created(after))
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let op = "storage.get_bucket";
        let name = bucket_name(name).map_err(|e| located(e, op, name))?;
        match self.bucket_exists(&name, op).await {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) if e.kind() == &ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(e),
        }
        match self.read_bucket(&name, op).await {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == &ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete_bucket(&self, name: &str) -> Result<Deleted> {
        let op = "storage.delete_bucket";
        let name = bucket_name(name).map_err(|e| located(e, op, name))?;
        match self.client.delete_bucket().bucket(&name).send().await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) => {
                let err = classify(e, op, &name);
                match err.kind() {
                    ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
                    _ => Err(err),
                }
            }
        }
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let op = "storage.put_object";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        let size = body.len() as u64;
        if size > MAX_PUT {
            return Err(located(
                Error::invalid_field("object body", "larger than 5 GiB (use multipart upload)"),
                op,
                &resource,
            ));
        }
        let mut req = self
            .client
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(ByteStream::from(body));
        if let Some(ct) = content_type {
            req = req.content_type(ct);
        }
        let out = req.send().await.map_err(|e| classify(e, op, &resource))?;
        Ok(ObjectMeta {
            key,
            size,
            etag: out.e_tag().unwrap_or_default().to_string(),
            content_type: content_type.map(str::to_string),
        })
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<(Bytes, ObjectMeta)> {
        let op = "storage.get_object";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        let out = self
            .client
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| classify(e, op, &resource))?;
        let meta = ObjectMeta {
            key: key.clone(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: out.e_tag().unwrap_or_default().to_string(),
            content_type: out.content_type().map(str::to_string),
        };
        let body = out.body.collect().await.map_err(|e| {
            Error::transient("the object's body was cut off")
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(&resource)
                .with_source(e)
        })?;
        let body = body.into_bytes();
        Ok((
            body.clone(),
            ObjectMeta {
                size: body.len() as u64,
                ..meta
            },
        ))
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let op = "storage.head_object";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        self.head(&bucket, &key, op).await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<ObjectMeta>> {
        let op = "storage.list_objects";
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, bucket))?;
        if prefix.chars().any(char::is_control) {
            return Err(located(
                Error::invalid_field("prefix", "must not contain control characters"),
                op,
                &bucket,
            ));
        }
        let limit = page.limit.unwrap_or(1000).clamp(1, 1000);
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(&bucket)
            .max_keys(limit as i32);
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        if let Some(t) = &page.token {
            req = req.continuation_token(t);
        }
        let out = req.send().await.map_err(|e| classify(e, op, &bucket))?;
        let items = out
            .contents()
            .iter()
            .take(limit as usize)
            .map(|o| ObjectMeta {
                key: o.key().unwrap_or_default().to_string(),
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: o.e_tag().unwrap_or_default().to_string(),
                content_type: None,
            })
            .collect();
        let next = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_string)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        let op = "storage.delete_object";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        // S3 answers 204 whether or not the key existed: look first to tell the two apart.
        let existed = match self.head(&bucket, &key, op).await {
            Ok(found) => found.is_some(),
            Err(e) => return Err(e),
        };
        if !existed {
            return Ok(Deleted::AlreadyGone);
        }
        self.client
            .delete_object()
            .bucket(&bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| classify(e, op, &resource))?;
        Ok(Deleted::Deleted)
    }

    async fn copy_prefix(
        &self,
        src_bucket: &str,
        src_prefix: &str,
        dst_bucket: &str,
        dst_prefix: &str,
    ) -> Result<u64> {
        let op = "storage.copy_prefix";
        let resource = format!("{src_bucket}/{src_prefix} -> {dst_bucket}/{dst_prefix}");
        let src_bucket = bucket_name(src_bucket).map_err(|e| located(e, op, &resource))?;
        let dst_bucket = bucket_name(dst_bucket).map_err(|e| located(e, op, &resource))?;
        let mut written = 0;
        let mut req = PageRequest::first();
        loop {
            let page = self.list_objects(&src_bucket, src_prefix, &req).await?;
            for obj in &page.items {
                let dst_key = format!("{dst_prefix}{}", &obj.key[src_prefix.len()..]);
                let dst_key = object_key(&dst_key).map_err(|e| located(e, op, &resource))?;
                if let Some(existing) = self.head(&dst_bucket, &dst_key, op).await?
                    && existing.etag == obj.etag
                {
                    continue;
                }
                self.client
                    .copy_object()
                    .bucket(&dst_bucket)
                    .key(&dst_key)
                    .copy_source(copy_source(&src_bucket, &obj.key))
                    .send()
                    .await
                    .map_err(|e| classify(e, op, &format!("{dst_bucket}/{dst_key}")))?;
                written += 1;
            }
            match req.next(&page) {
                Some(next) => req = next,
                None => return Ok(written),
            }
        }
    }

    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64> {
        let op = "storage.delete_prefix";
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, bucket))?;
        let mut deleted = 0u64;
        loop {
            // Always list from the start: deleting shifts the pages.
            let page = match self
                .list_objects(&bucket, prefix, &PageRequest::with_limit(1000))
                .await
            {
                Ok(p) => p,
                Err(e) if e.kind() == &ErrorKind::NotFound => return Ok(deleted),
                Err(e) => return Err(e),
            };
            if page.items.is_empty() {
                return Ok(deleted);
            }
            let mut ids = Vec::with_capacity(page.items.len());
            for o in &page.items {
                ids.push(
                    ObjectIdentifier::builder()
                        .key(&o.key)
                        .build()
                        .map_err(build_err)?,
                );
            }
            let n = ids.len() as u64;
            let out = self
                .client
                .delete_objects()
                .bucket(&bucket)
                .delete(
                    Delete::builder()
                        .set_objects(Some(ids))
                        .quiet(true)
                        .build()
                        .map_err(build_err)?,
                )
                .send()
                .await
                .map_err(|e| classify(e, op, &format!("{bucket}/{prefix}")))?;
            if let Some(first) = out.errors().first() {
                let kind = crate::error::kind_for(first.code(), None);
                let kind = if kind == ErrorKind::Transient && first.code().is_some() {
                    ErrorKind::Unexpected
                } else {
                    kind
                };
                return Err(Error::new(
                    kind,
                    format!(
                        "{} of {n} objects were not deleted; first: {} {}",
                        out.errors().len(),
                        first.key().unwrap_or_default(),
                        first.code().unwrap_or_default()
                    ),
                )
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(format!("{bucket}/{prefix}")));
            }
            deleted += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(copy_source("b", "a/b c+d.txt"), "b/a/b%20c%2Bd.txt");
        assert_eq!(copy_source("b", "é"), "b/%C3%A9");
    }
}
