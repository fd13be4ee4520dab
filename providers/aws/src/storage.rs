//! S3 as [`ObjectStorage`].
//!
//! A bucket's settings are read and written in [`crate::storage_settings`]. Both a bucket per
//! tenant and a prefix per tenant in one shared bucket work: prefixes are only keys.
//!
//! Requests per operation (measured against moto in `docs/providers/aws.md`):
//!
//! * `ensure_bucket` of a new bucket: outside us-east-1 one optimistic `CreateBucket`
//!   (`BucketAlreadyOwnedByYou` says it exists); in us-east-1, where S3 answers 200 to a
//!   re-create of a bucket one owns, one `GetBucketVersioning` first (`NoSuchBucket`), then
//!   `CreateBucket`. Then one write per setting that differs from a new bucket's defaults.
//!   An existing bucket: its four settings read once, then one write per difference.
//! * `get_bucket`: the four settings, one request each (`NoSuchBucket` on the first: `None`).
//! * `put_object`: one `PutObject`; [`ObjectStorage::etag_of`] gives the etag S3 will report
//!   (the quoted MD5), so callers can skip identical objects from a listing.
//! * `copy_prefix`: one listing of the source and one of the destination (per 1000 keys),
//!   then one server-side `CopyObject` per missing or different object, no per-object read.
//! * `delete_prefix`: one listing and one `DeleteObjects` per 1000 keys.

use crate::config::AwsConfig;
use crate::error::{PROVIDER, classify, located};
use crate::storage_settings::{Created, build_err};
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use provisio::storage::{Bucket, BucketSpec, ObjectMeta, StorageCapabilities};
use provisio::validate::NameKind;
use provisio::{
    Bytes, Deleted, Ensured, Error, ErrorKind, ObjectStorage, Page, PageRequest, Provider,
    ProviderInfo, Result, validate,
};
use std::collections::HashMap;

/// The id of the lifecycle rule provisio manages.
pub const ARCHIVE_RULE_ID: &str = "provisio-archive";

/// The largest single `PutObject`: 5 GiB.
const MAX_PUT: u64 = 5 * 1024 * 1024 * 1024;

/// S3 buckets and objects.
#[derive(Debug, Clone)]
pub struct S3Storage {
    pub(crate) client: Client,
    info: ProviderInfo,
    pub(crate) region: Option<String>,
    pub(crate) new_buckets_block_public_access: bool,
}

fn bucket_name(name: &str) -> Result<String> {
    validate::s3_bucket_name("bucket", name)
}

fn object_key(key: &str) -> Result<String> {
    validate::object_key("object key", key)
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

impl S3Storage {
    /// `PutObject`, conditional on the key being free when `if_absent`; `None`: it was taken.
    async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        if_absent: bool,
    ) -> Result<Option<ObjectMeta>> {
        let op = if if_absent {
            "storage.put_object_if_absent"
        } else {
            "storage.put_object"
        };
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
        if if_absent {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(out) => Ok(Some(ObjectMeta {
                key,
                size,
                etag: out.e_tag().unwrap_or_default().to_string(),
                content_type: content_type.map(str::to_string),
            })),
            Err(e) if if_absent && crate::error::code(&e) == Some("PreconditionFailed") => Ok(None),
            Err(e) => Err(classify(e, op, &resource)),
        }
    }

    /// Wraps an S3 client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        S3Storage {
            client,
            info: config.provider_info(crate::config::Service::S3, &account.into()),
            region: config.region.clone(),
            new_buckets_block_public_access: config.new_buckets_block_public_access(),
        }
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
        self.info.clone()
    }

    fn check_name(&self, kind: NameKind, field: &str, value: &str) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

/// Every object under `prefix`, walked page by page (1000 keys per request).
async fn list_all(s3: &S3Storage, bucket: &str, prefix: &str) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut req = PageRequest::with_limit(1000);
    loop {
        let page = s3.list_objects(bucket, prefix, &req).await?;
        let next = req.next(&page);
        out.extend(page.items);
        match next {
            Some(n) => req = n,
            None => return Ok(out),
        }
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

    /// S3's etag of a simple upload: the quoted MD5 hex digest of the body (moto's too).
    fn etag_of(&self, body: &[u8]) -> Option<String> {
        use md5::Digest;
        Some(format!("\"{}\"", hex::encode(md5::Md5::digest(body))))
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
        // us-east-1 answers 200 to CreateBucket of a bucket we own: look first there.
        // Elsewhere CreateBucket itself says BucketAlreadyOwnedByYou.
        let in_us_east_1 = self.region.as_deref().is_none_or(|r| r == "us-east-1");
        let existing = if in_us_east_1 {
            self.read_bucket(&name, op).await?
        } else {
            None
        };
        let existing = match existing {
            Some(b) => Some(b),
            None => match self.create_bucket(&name, op).await? {
                Created::New => None,
                Created::AlreadyOurs => {
                    Some(self.read_bucket(&name, op).await?.ok_or_else(|| {
                        Error::transient(format!("bucket {name:?} exists but cannot be read yet"))
                            .with_provider(PROVIDER)
                            .with_operation(op)
                            .with_resource(&name)
                    })?)
                }
            },
        };
        provisio::existence::found(existing.is_some());
        if let Some(current) = &existing {
            provisio::types::ownership::check_adoptable(
                &current.tags,
                &spec.tags,
                &format!("bucket {name:?}"),
            )
            .map_err(|e| located(e, op, &name))?;
        }
        match existing {
            Some(current) if current.matches(spec) => Ok(Ensured::unchanged(current)),
            Some(current) => Ok(Ensured::updated(
                self.converge(&current, false, spec, op).await?,
            )),
            None => {
                let defaults = self.new_bucket_defaults(&name);
                Ok(Ensured::created(
                    self.converge(&defaults, true, spec, op).await?,
                ))
            }
        }
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        let op = "storage.get_bucket";
        let name = bucket_name(name).map_err(|e| located(e, op, name))?;
        self.read_bucket(&name, op).await
    }

    /// One `HeadBucket`; another account's bucket (403) is not ours, so `false`.
    async fn bucket_exists(&self, name: &str) -> Result<bool> {
        let op = "storage.bucket_exists";
        let name = bucket_name(name).map_err(|e| located(e, op, name))?;
        match self.client.head_bucket().bucket(&name).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let err = classify(e, op, &name);
                match err.kind() {
                    provisio::ErrorKind::NotFound | provisio::ErrorKind::PermissionDenied => {
                        Ok(false)
                    }
                    _ => Err(err),
                }
            }
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
        let written = self.put(bucket, key, body, content_type, false).await?;
        // an unconditional put always writes
        written.ok_or_else(|| Error::unexpected("S3 refused an unconditional put"))
    }

    /// One `PutObject` with `If-None-Match: *`: S3 answers 412 when the key is taken.
    async fn put_object_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Option<ObjectMeta>> {
        self.put(bucket, key, body, content_type, true).await
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
        // One listing of each side, then a server-side copy of what is missing or differs.
        let sources = list_all(self, &src_bucket, src_prefix).await?;
        let present: HashMap<String, String> = list_all(self, &dst_bucket, dst_prefix)
            .await?
            .into_iter()
            .map(|o| (o.key, o.etag))
            .collect();
        let mut written = 0;
        for obj in &sources {
            let dst_key = format!("{dst_prefix}{}", &obj.key[src_prefix.len()..]);
            let dst_key = object_key(&dst_key).map_err(|e| located(e, op, &resource))?;
            if present.get(&dst_key) == Some(&obj.etag) {
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
        Ok(written)
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
            // A listing that was not cut off held every key: no need to list again after it.
            let complete = page.next.is_none();
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
            if complete {
                return Ok(deleted);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_quoted_md5() {
        let s3 = S3Storage::from_client(
            aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::Config::builder()
                    .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
                    .build(),
            ),
            &crate::AwsConfig::new("eu-west-1"),
            "acct",
        );
        // boto3 against moto: put_object(Body=b"hello") answers this ETag
        assert_eq!(
            s3.etag_of(b"hello").as_deref(),
            Some("\"5d41402abc4b2a76b9719d911017c592\"")
        );
    }

    #[test]
    fn copy_sources_are_encoded() {
        assert_eq!(copy_source("b", "a/b c+d.txt"), "b/a/b%20c%2Bd.txt");
        assert_eq!(copy_source("b", "é"), "b/%C3%A9");
    }
}
