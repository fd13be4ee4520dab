//! S3 as [`ObjectStorage`], on provisio's own signed REST-XML client ([`crate::wire`]).
//!
//! A bucket's settings are read and written in [`crate::storage_settings`]. Both a bucket per
//! tenant and a prefix per tenant in one shared bucket work: prefixes are only keys. A key
//! travels percent-encoded in the path (`/` kept) and is read back from a listing exactly as
//! S3 wrote it, spaces at either end included.
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
//! * `bucket_exists`: one `HeadBucket`; `delete_bucket`: one `DeleteBucket`.
//! * `put_object_if_absent`: one `PutObject` with `If-None-Match: *` (412: `None`).
//! * `get_object`, `head_object`: one `GetObject` or `HeadObject`; `list_objects`: one
//!   `ListObjectsV2` per page.
//! * `delete_object`: one `HeadObject` (S3 answers 204 whether or not the key existed), then
//!   one `DeleteObject` when it did.
//! * `put_object_stream`: one `PutObject` for a body under 8 MiB; else one
//!   `CreateMultipartUpload`, one `UploadPart` per 8 MiB part and one
//!   `CompleteMultipartUpload` (plus one `AbortMultipartUpload` on failure); see
//!   `storage_stream.rs`. `get_object_stream`: one `GetObject`, read as it arrives.
//! * storage classes and expiry rules: see `storage_classes.rs` (`set_storage_class` one
//!   `HeadObject` plus one `CopyObject` or `RestoreObject`; expiry rules one lifecycle read
//!   plus one write when something changes).

use crate::config::AwsConfig;
use crate::error::{PROVIDER, kind_for, located, service_message};
use crate::storage_settings::{Created, S3_XMLNS};
use crate::wire::xml::escape;
use crate::wire::{Answer, Client, Element, Request, encode};
use provisio::layer::Safety;
use provisio::storage::{
    Bucket, BucketSpec, ClassChange, ExpiryRule, ObjectMeta, StorageCapabilities, StorageClass,
};
use provisio::validate::NameKind;
use provisio::{
    Bytes, Deleted, Ensured, Error, ErrorKind, ObjectStorage, Page, PageRequest, Provider,
    ProviderInfo, Result, validate,
};
use reqwest::Method;
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
    pub(crate) new_buckets_block_public_access: bool,
    /// Held across every read-modify-write of a bucket's lifecycle configuration (the
    /// archive rule, the expiry rules): S3 replaces the whole document at each write.
    pub(crate) lifecycle_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
}

pub(crate) fn bucket_name(name: &str) -> Result<String> {
    validate::s3_bucket_name("bucket", name)
}

pub(crate) fn object_key(key: &str) -> Result<String> {
    validate::object_key("object key", key)
}

/// Percent-encodes a `CopySource` (`bucket/key`): everything but unreserved characters and `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    format!("{bucket}/{}", encode(key, true))
}

/// The path of an object: its key, percent-encoded, `/` kept.
pub(crate) fn key_path(key: &str) -> String {
    format!("/{}", encode(key, true))
}

/// The XML tree of a successful answer to `action`; a broken one is a transient failure of
/// `op` on `resource`.
pub(crate) fn read_xml(answer: &Answer, action: &str, op: &str, resource: &str) -> Result<Element> {
    answer.xml().map_err(|e| {
        e.context(action)
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(resource)
    })
}

/// The object a `HeadObject` or `GetObject` answer describes, from its headers (S3 sends
/// `x-amz-storage-class` for every class but `STANDARD`).
pub(crate) fn meta_of(answer: &Answer, key: &str) -> ObjectMeta {
    ObjectMeta {
        key: key.to_string(),
        size: answer
            .header("content-length")
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0),
        etag: answer.header("etag").unwrap_or_default().to_string(),
        content_type: answer.header("content-type").map(str::to_string),
        storage_class: StorageClass::from_s3(answer.header("x-amz-storage-class")),
    }
}

impl S3Storage {
    /// Wraps an S3 client (built by [`crate::Aws::storage`]).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        S3Storage {
            client,
            info: config.provider_info(crate::config::Service::S3, account),
            new_buckets_block_public_access: config.new_buckets_block_public_access(),
            lifecycle_lock: Default::default(),
        }
    }

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
        let mut request = Request::new(Method::PUT, key_path(&key))
            .on_bucket(&bucket)
            .body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        if if_absent {
            // A second attempt after a write whose answer was lost would find the key taken
            // (by this very write): only a refused attempt is sent again.
            request = request
                .header("if-none-match", "*")
                .expect_code("PreconditionFailed")
                .safety(Safety::OnlyIfRefused);
        }
        let answer = self.client.send(&request, op, &resource).await?;
        if answer.code.is_some() {
            return Ok(None);
        }
        Ok(Some(ObjectMeta {
            key,
            size,
            etag: answer.header("etag").unwrap_or_default().to_string(),
            content_type: content_type.map(str::to_string),
            storage_class: StorageClass::Standard,
        }))
    }

    async fn head(&self, bucket: &str, key: &str, op: &str) -> Result<Option<ObjectMeta>> {
        // A HEAD answer has no body, so no error code: 404 is the missing key.
        let request = Request::new(Method::HEAD, key_path(key))
            .on_bucket(bucket)
            .expect_status(404);
        let answer = self
            .client
            .send(&request, op, &format!("{bucket}/{key}"))
            .await?;
        Ok(answer.ok().then(|| meta_of(&answer, key)))
    }

    /// A server-side `CopyObject`. S3 may answer 200 and still fail the copy (the error comes
    /// in the body, after the status, when a long copy fails): that answer is a failure too.
    async fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        op: &str,
    ) -> Result<()> {
        let resource = format!("{dst_bucket}/{dst_key}");
        let request = Request::new(Method::PUT, key_path(dst_key))
            .on_bucket(dst_bucket)
            .header("x-amz-copy-source", copy_source(src_bucket, src_key));
        let answer = self.client.send(&request, op, &resource).await?;
        let root = read_xml(&answer, "CopyObject", op, &resource)?;
        if root.name != "Error" {
            return Ok(());
        }
        let code = root.text_at(&["Code"]);
        // As the SDK does, a failure reported this way counts as a server error (500): an
        // unknown code is transient.
        Err(Error::new(
            kind_for(code, Some(500)),
            service_message(code, root.text_at(&["Message"]), answer.status),
        )
        .with_provider(PROVIDER)
        .with_operation(op)
        .with_resource(resource))
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
            storage_classes: StorageClass::ALL.to_vec(),
            expiry_rules: true,
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
        let in_us_east_1 = self.client.region() == "us-east-1";
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
        let request = Request::new(Method::HEAD, "/")
            .on_bucket(&name)
            .expect_status(404)
            .expect_status(403);
        Ok(self.client.send(&request, op, &name).await?.ok())
    }

    async fn delete_bucket(&self, name: &str) -> Result<Deleted> {
        let op = "storage.delete_bucket";
        let name = bucket_name(name).map_err(|e| located(e, op, name))?;
        let request = Request::new(Method::DELETE, "/").on_bucket(&name);
        match self.client.send(&request, op, &name).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(err) => Err(err),
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
        // The whole object is read, whatever its size (as the SDK's `collect` did).
        let request = Request::get(key_path(&key))
            .on_bucket(&bucket)
            .answer_limit(usize::MAX)
            .expect_code("InvalidObjectState");
        let answer = self.client.send(&request, op, &resource).await?;
        if answer.code.is_some() {
            // an archived object that is not restored (S3 answers 403)
            let class = StorageClass::from_s3(answer.header("x-amz-storage-class"));
            let class = if class.is_readable() {
                StorageClass::Archive
            } else {
                class
            };
            return Err(located(
                provisio::storage::archived_object(&bucket, &key, class, "InvalidObjectState"),
                op,
                &resource,
            ));
        }
        let meta = ObjectMeta {
            size: answer.body.len() as u64,
            ..meta_of(&answer, &key)
        };
        Ok((answer.body, meta))
    }

    /// A multipart upload (see `storage_stream.rs`).
    async fn put_object_stream(
        &self,
        bucket: &str,
        key: &str,
        body: provisio::ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        self.put_stream(bucket, key, body, content_type).await
    }

    /// One `GetObject`, its body handed out as it arrives.
    async fn get_object_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(provisio::ByteStream, ObjectMeta)> {
        self.get_stream(bucket, key).await
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
        let mut request = Request::get("/")
            .on_bucket(&bucket)
            .param("list-type", "2")
            .param("max-keys", limit.to_string());
        if !prefix.is_empty() {
            request = request.param("prefix", prefix);
        }
        if let Some(t) = &page.token {
            request = request.param("continuation-token", t);
        }
        let answer = self.client.send(&request, op, &bucket).await?;
        let root = read_xml(&answer, "ListObjectsV2", op, &bucket)?;
        let items = root
            .children_named("Contents")
            .take(limit as usize)
            .map(|o| ObjectMeta {
                // A key is exactly what S3 sent: it may begin or end with a space.
                key: o.raw_at(&["Key"]).unwrap_or_default().to_string(),
                size: o
                    .text_at(&["Size"])
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0)
                    .max(0) as u64,
                etag: o.text_at(&["ETag"]).unwrap_or_default().to_string(),
                content_type: None,
                storage_class: StorageClass::from_s3(o.text_at(&["StorageClass"])),
            })
            .collect();
        let next = if root.text_at(&["IsTruncated"]) == Some("true") {
            root.text_at(&["NextContinuationToken"]).map(str::to_string)
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
        let request = Request::new(Method::DELETE, key_path(&key)).on_bucket(&bucket);
        self.client.send(&request, op, &resource).await?;
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
            let rest = obj.key.strip_prefix(src_prefix).ok_or_else(|| {
                located(
                    Error::unexpected(format!(
                        "the listing of {src_prefix:?} answered key {:?} outside it",
                        obj.key
                    )),
                    op,
                    &resource,
                )
            })?;
            let dst_key = format!("{dst_prefix}{rest}");
            let dst_key = object_key(&dst_key).map_err(|e| located(e, op, &resource))?;
            if present.get(&dst_key) == Some(&obj.etag) {
                continue;
            }
            self.copy(&src_bucket, &obj.key, &dst_bucket, &dst_key, op)
                .await?;
            written += 1;
        }
        Ok(written)
    }

    async fn set_storage_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ObjectMeta> {
        let op = "storage.set_storage_class";
        let resource = format!("{bucket}/{key}");
        let bucket = bucket_name(bucket).map_err(|e| located(e, op, &resource))?;
        let key = object_key(key).map_err(|e| located(e, op, &resource))?;
        self.change_class(&bucket, &key, class, None, op).await
    }

    async fn set_prefix_storage_class(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        self.change_prefix_class(bucket, prefix, class).await
    }

    async fn ensure_expiry_rule(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<Ensured<ExpiryRule>> {
        self.put_expiry(bucket, prefix, days).await
    }

    async fn get_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Option<ExpiryRule>> {
        self.read_expiry(bucket, prefix).await
    }

    async fn delete_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        self.remove_expiry(bucket, prefix).await
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
            let n = page.items.len() as u64;
            let mut body = String::from("<Quiet>true</Quiet>");
            for o in &page.items {
                body.push_str(&format!("<Object><Key>{}</Key></Object>", escape(&o.key)));
            }
            let request = Request::new(Method::POST, "/")
                .on_bucket(&bucket)
                .param("delete", "")
                .xml_body(format!("<Delete xmlns=\"{S3_XMLNS}\">{body}</Delete>"));
            let resource = format!("{bucket}/{prefix}");
            let answer = self.client.send(&request, op, &resource).await?;
            let root = read_xml(&answer, "DeleteObjects", op, &resource)?;
            let errors: Vec<&Element> = root.children_named("Error").collect();
            if let Some(first) = errors.first() {
                let code = first.text_at(&["Code"]);
                let kind = kind_for(code, None);
                let kind = if kind == ErrorKind::Transient && code.is_some() {
                    ErrorKind::Unexpected
                } else {
                    kind
                };
                return Err(Error::new(
                    kind,
                    format!(
                        "{} of {n} objects were not deleted; first: {} {}",
                        errors.len(),
                        first.raw_at(&["Key"]).unwrap_or_default(),
                        code.unwrap_or_default()
                    ),
                )
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(resource));
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
    fn copy_sources_are_encoded() {
        assert_eq!(copy_source("b", "a/b c+d.txt"), "b/a/b%20c%2Bd.txt");
        assert_eq!(copy_source("b", "é"), "b/%C3%A9");
    }
}
