//! Object storage: buckets (or containers) and objects.

use crate::{Deleted, Ensured, Error, Page, PageRequest, Provider, Result, Tags};
use async_trait::async_trait;
use bytes::Bytes;

mod class;

pub use class::{
    ClassChange, ExpiryRule, StorageClass, archived_object, check_expiry, expiry_rule_id,
    is_rehydration_pending, rehydration_pending,
};

/// The bucket a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BucketSpec {
    /// The bucket (S3) or container (Azure) name.
    pub name: String,
    /// Keep every version of every object.
    #[serde(default)]
    pub versioning: bool,
    /// Move objects to the provider's archive class (S3 Glacier, Azure archive tier) after
    /// this many days; `None` keeps them in the default class.
    #[serde(default)]
    pub archive_after_days: Option<u32>,
    /// Block all public access (the default).
    #[serde(default = "default_true")]
    pub block_public_access: bool,
    /// Tags, including provisio's ownership tags.
    #[serde(default)]
    pub tags: Tags,
}

fn default_true() -> bool {
    true
}

impl BucketSpec {
    /// A private, unversioned bucket without lifecycle rules.
    pub fn new(name: impl Into<String>) -> Self {
        BucketSpec {
            name: name.into(),
            versioning: false,
            archive_after_days: None,
            block_public_access: true,
            tags: Tags::new(),
        }
    }
}

/// A bucket as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// The name.
    pub name: String,
    /// Whether versioning is on.
    pub versioning: bool,
    /// The archive lifecycle rule, in days.
    pub archive_after_days: Option<u32>,
    /// Whether public access is blocked.
    pub block_public_access: bool,
    /// The bucket's tags.
    pub tags: Tags,
}

impl Bucket {
    /// Whether this bucket already is what `spec` asks for.
    pub fn matches(&self, spec: &BucketSpec) -> bool {
        self.name == spec.name
            && self.versioning == spec.versioning
            && self.archive_after_days == spec.archive_after_days
            && self.block_public_access == spec.block_public_access
            && crate::types::tags_match(&self.tags, &spec.tags)
    }
}

/// Metadata of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectMeta {
    /// The key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// The provider's entity tag (content hash for simple uploads).
    pub etag: String,
    /// The content type, when one was set.
    pub content_type: Option<String>,
    /// The object's storage class (absent in documents written before classes existed:
    /// [`StorageClass::Standard`]).
    #[serde(default)]
    pub storage_class: StorageClass,
}

/// What an object storage provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StorageCapabilities {
    /// Versioning can be switched on.
    pub versioning: bool,
    /// Lifecycle rules to an archive class are supported.
    pub archive_lifecycle: bool,
    /// Public access can be blocked per bucket.
    pub public_access_block: bool,
    /// Buckets carry tags.
    pub tags: bool,
    /// Largest object a single put accepts, in bytes.
    pub max_put_size: u64,
    /// The classes [`ObjectStorage::set_storage_class`] can move objects to (empty: the
    /// provider has no classes; every object is [`StorageClass::Standard`]).
    #[serde(default)]
    pub storage_classes: Vec<StorageClass>,
    /// [`ObjectStorage::ensure_expiry_rule`] and [`ObjectStorage::delete_expiry_rule`] work.
    #[serde(default)]
    pub expiry_rules: bool,
}

/// An object storage provider.
#[async_trait]
pub trait ObjectStorage: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> StorageCapabilities;

    /// Creates the bucket, or brings an existing bucket's settings to `spec`. An existing
    /// bucket whose `provisio:tenant` tag names another tenant than `spec.tags` does is not
    /// adopted: `Conflict` (see [`crate::types::ownership::check_adoptable`]), nothing changed.
    /// Providers report whether it existed ([`crate::existence::found`]) before they write.
    async fn ensure_bucket(&self, spec: &BucketSpec) -> Result<Ensured<Bucket>>;

    /// Reads a bucket's settings; `Ok(None)` when it does not exist.
    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>>;

    /// Whether the bucket exists (and is this account's): what a refresh needs when it does
    /// not compare settings, in one request where the service has one (S3 `HeadBucket`). The
    /// default reads the whole bucket.
    async fn bucket_exists(&self, name: &str) -> Result<bool> {
        Ok(self.get_bucket(name).await?.is_some())
    }

    /// Deletes an empty bucket; a bucket that still holds objects is a `Conflict`.
    async fn delete_bucket(&self, name: &str) -> Result<Deleted>;

    /// Stores an object (replacing the current one of the same key).
    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta>;

    /// Stores an object only if no object of that key exists: `Ok(Some(meta))` when it was
    /// written, `Ok(None)` when the key was taken (nothing written). Services with conditional
    /// writes make it one atomic request (S3 `If-None-Match: *`); the default looks first and
    /// is not atomic.
    async fn put_object_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Option<ObjectMeta>> {
        if self.head_object(bucket, key).await?.is_some() {
            return Ok(None);
        }
        self.put_object(bucket, key, body, content_type)
            .await
            .map(Some)
    }

    /// Reads an object; `NotFound` when it does not exist.
    async fn get_object(&self, bucket: &str, key: &str) -> Result<(Bytes, ObjectMeta)>;

    /// Reads an object's metadata; `Ok(None)` when it does not exist.
    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>>;

    /// Lists one page of the objects whose key starts with `prefix`, in key order.
    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<ObjectMeta>>;

    /// Deletes an object; [`Deleted::AlreadyGone`] when it does not exist.
    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted>;

    /// The etag this provider reports for an object stored by one simple put of `body`, when
    /// that etag is a function of the content alone (S3: the quoted MD5 hex digest; the memory
    /// provider: [`content_etag`]). `None` (the default) when it is not, as with Azure Blob's
    /// opaque etags. Callers use it to skip writing objects that are already identical, from a
    /// listing alone instead of reading every object back.
    fn etag_of(&self, body: &[u8]) -> Option<String> {
        let _ = body;
        None
    }

    /// Copies one object, server-side where the provider can (the default reads it and writes
    /// it back). Returns the new object's metadata.
    async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
    ) -> Result<ObjectMeta> {
        let (body, meta) = self.get_object(src_bucket, src_key).await?;
        self.put_object(dst_bucket, dst_key, body, meta.content_type.as_deref())
            .await
    }

    /// Copies every object under `src_prefix` of `src_bucket` to `dst_prefix` of `dst_bucket`,
    /// skipping objects whose destination already has the same etag: one listing of each side,
    /// then one [`ObjectStorage::copy_object`] per missing or different object. Returns how
    /// many objects were written.
    async fn copy_prefix(
        &self,
        src_bucket: &str,
        src_prefix: &str,
        dst_bucket: &str,
        dst_prefix: &str,
    ) -> Result<u64> {
        let source = list_all(self, src_bucket, src_prefix).await?;
        let have: std::collections::BTreeMap<String, String> =
            list_all(self, dst_bucket, dst_prefix)
                .await?
                .into_iter()
                .map(|o| (o.key, o.etag))
                .collect();
        let mut written = 0;
        for obj in &source {
            let dst_key = format!("{dst_prefix}{}", &obj.key[src_prefix.len()..]);
            if have.get(&dst_key) == Some(&obj.etag) {
                continue;
            }
            self.copy_object(src_bucket, &obj.key, dst_bucket, &dst_key)
                .await?;
            written += 1;
        }
        Ok(written)
    }

    /// Stores an object from a stream, replacing the current one of the same key, without
    /// holding the whole body in memory where the service allows (S3: a multipart upload of
    /// parts of at least 5 MiB, a small body as one `PutObject`; Azure Blob: blocks and a
    /// block list). Nothing is stored when the stream fails: a partial upload is aborted.
    ///
    /// The default collects the stream (at most [`StorageCapabilities::max_put_size`] bytes:
    /// a larger body is `InvalidInput` and nothing is written) and calls
    /// [`ObjectStorage::put_object`]. The stream is read once, so a layer never retries this
    /// call ([`crate::layer::Safety::Never`]): the caller retries with a new stream.
    async fn put_object_stream(
        &self,
        bucket: &str,
        key: &str,
        body: crate::stream::ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let limit = self.capabilities().max_put_size;
        let body = crate::stream::collect(body, limit, "object body").await?;
        self.put_object(bucket, key, body, content_type).await
    }

    /// Reads an object as a stream, with its metadata; `NotFound` when it does not exist (the
    /// call fails, not the stream). A failure while reading is an `Err` item of the stream.
    /// The default reads the whole object with [`ObjectStorage::get_object`] and hands it out
    /// as one chunk.
    async fn get_object_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(crate::stream::ByteStream, ObjectMeta)> {
        let (body, meta) = self.get_object(bucket, key).await?;
        Ok((crate::stream::once(body), meta))
    }

    /// Moves one object to storage class `class` and returns its metadata in that class.
    ///
    /// Idempotent: an object already in `class` costs one metadata read and nothing else. An
    /// object in an archive class ([`StorageClass::is_readable`] is false) must be restored
    /// before it can move anywhere, which the service does on its own clock (hours on S3 and
    /// Azure): the first call starts the restore (S3 `RestoreObject`; Azure Set Blob Tier,
    /// which rehydrates by itself) and every call until it is done fails with
    /// [`rehydration_pending`] (`Transient`, retryable; see [`is_rehydration_pending`]); the
    /// first call after it moves the object (S3: a copy in place with the new class). Callers
    /// poll: the engine's `storage.prefix` is a polling resource type. A class the provider
    /// does not have ([`StorageCapabilities::storage_classes`]) is `Unsupported`; a missing
    /// object is `NotFound`. The default: `Unsupported`.
    async fn set_storage_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ObjectMeta> {
        let _ = (bucket, key, class);
        Err(Error::unsupported("storage.set_storage_class"))
    }

    /// Moves every object under `prefix` to `class`: one listing (which carries each object's
    /// class), then [`ObjectStorage::set_storage_class`] for each object not in the class yet;
    /// objects still being restored are counted as `pending`, not failed, so a caller calls
    /// again until `pending` is 0. Nothing is sent for objects already in the class.
    async fn set_prefix_storage_class(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        let mut change = ClassChange::default();
        for obj in list_all(self, bucket, prefix).await? {
            if obj.storage_class == class {
                change.unchanged += 1;
                continue;
            }
            match self.set_storage_class(bucket, &obj.key, class).await {
                Ok(_) => change.changed += 1,
                Err(e) if is_rehydration_pending(&e) => change.pending += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(change)
    }

    /// Ensures a lifecycle rule that deletes objects under `prefix` `days` days after they were
    /// written, with the rule id [`expiry_rule_id`] of the prefix; the bucket's other rules are
    /// kept. `Unchanged` when the rule is there with the same days. The default:
    /// `Unsupported` (see [`StorageCapabilities::expiry_rules`]).
    async fn ensure_expiry_rule(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<Ensured<ExpiryRule>> {
        let _ = (bucket, prefix, days);
        Err(Error::unsupported("storage.ensure_expiry_rule"))
    }

    /// The expiry rule of `prefix` ([`expiry_rule_id`]), when the bucket has it. The default:
    /// `Unsupported`.
    async fn get_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Option<ExpiryRule>> {
        let _ = (bucket, prefix);
        Err(Error::unsupported("storage.get_expiry_rule"))
    }

    /// Removes the expiry rule of `prefix`, keeping the bucket's other rules;
    /// [`Deleted::AlreadyGone`] when it is not there. Objects are never deleted by this call.
    /// The default: `Unsupported`.
    async fn delete_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        let _ = (bucket, prefix);
        Err(Error::unsupported("storage.delete_expiry_rule"))
    }

    /// Deletes every object under `prefix`; returns how many were deleted.
    async fn delete_prefix(&self, bucket: &str, prefix: &str) -> Result<u64> {
        let mut deleted = 0;
        loop {
            // Always list from the start: deleting shifts the pages.
            let page = self
                .list_objects(bucket, prefix, &PageRequest::first())
                .await?;
            if page.items.is_empty() {
                return Ok(deleted);
            }
            for obj in &page.items {
                if self.delete_object(bucket, &obj.key).await? == Deleted::Deleted {
                    deleted += 1;
                }
            }
        }
    }
}

/// Every object under `prefix`, following the pages of [`ObjectStorage::list_objects`].
pub async fn list_all<S: ObjectStorage + ?Sized>(
    storage: &S,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ObjectMeta>> {
    let mut all = Vec::new();
    let mut req = PageRequest::first();
    loop {
        let page = storage.list_objects(bucket, prefix, &req).await?;
        let next = req.next(&page);
        all.extend(page.items);
        match next {
            Some(n) => req = n,
            None => return Ok(all),
        }
    }
}

/// The MD5-free etag provisio's own providers use for content: the first 32 hex characters of
/// the SHA-256 of the body, quoted as S3 quotes etags.
pub fn content_etag(body: &[u8]) -> String {
    use sha2::Digest;
    format!("\"{}\"", &hex::encode(sha2::Sha256::digest(body))[..32])
}
