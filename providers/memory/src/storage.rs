//! In-memory object storage with S3's semantics.

use crate::faults::{Base, Changed, Faults, Read, Wrote};
use crate::inventory::Inventory;
use provisio::storage::{
    Bucket, BucketSpec, ExpiryRule, ObjectMeta, ObjectStorage, StorageCapabilities, StorageClass,
    content_etag,
};
use provisio::{
    Bytes, Deleted, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Result, async_trait,
    validate,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

mod classes;

pub use classes::{DEFAULT_REHYDRATE_TIME, MAX_EXPIRY_RULES};

/// The default (and largest) page of [`ObjectStorage::list_objects`], as S3's `max-keys`.
pub const MAX_PAGE_SIZE: u32 = 1000;
/// The largest object one put accepts (S3's single PUT limit, 5 GiB).
pub const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// The largest object a streamed put stores (S3's largest multipart object, 5 TiB).
pub const MAX_STREAM_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;
/// The size of the chunks [`ObjectStorage::get_object_stream`] hands out.
pub const STREAM_CHUNK: usize = 64 * 1024;

#[derive(Debug)]
struct Object {
    body: Bytes,
    meta: ObjectMeta,
    /// When it was written, on the storage's day clock (expiry rules count from here).
    written_at: Duration,
    /// For an object in an archive class whose restore was asked for: when the restore is
    /// done (from then on it can be read, and moved to another class).
    restore_ready: Option<Instant>,
}

#[derive(Debug)]
struct BucketState {
    bucket: Bucket,
    objects: BTreeMap<String, Object>,
    /// Expiry rules: prefix -> days.
    expiry: BTreeMap<String, u32>,
}

#[derive(Debug)]
pub(crate) struct State {
    buckets: BTreeMap<String, BucketState>,
    /// Names taken by other accounts in the global namespace.
    foreign: std::collections::BTreeSet<String>,
    /// The day clock expiry rules are measured on: it moves only with
    /// [`MemoryStorage::advance_clock`].
    clock: Duration,
    /// How long a restore from an archive class takes.
    rehydrate: Duration,
}

impl Default for State {
    fn default() -> Self {
        State {
            buckets: BTreeMap::new(),
            foreign: Default::default(),
            clock: Duration::ZERO,
            rehydrate: DEFAULT_REHYDRATE_TIME,
        }
    }
}

/// In-memory object storage with S3's rules: one global bucket namespace (per instance),
/// S3 bucket naming, `Conflict` when deleting a non-empty bucket, `NotFound` for objects in a
/// missing bucket, and listings in key order.
///
/// Storage classes and expiry follow S3 too (see [`ObjectStorage::set_storage_class`]): an
/// object in `archive` or `deep_archive` cannot be read (`Conflict`, as S3's
/// `InvalidObjectState`) until a restore finishes; a restore takes
/// [`MemoryStorage::set_rehydrate_time`] (default [`DEFAULT_REHYDRATE_TIME`], measured with
/// `tokio::time::Instant`); moving an object between classes rewrites it in place, so its
/// expiry counts anew (S3's copy in place). Expiry rules delete the objects under their
/// prefix once the storage's *day clock* has passed the object's write time plus the rule's
/// days. The day clock moves only with [`MemoryStorage::advance_clock`] (which also shortens
/// running restores), never with real time: a memory world never loses objects because a
/// test ran slowly, and a test passes 30 days at once, deterministically.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use provisio::ObjectStorage;
/// use provisio::storage::BucketSpec;
/// let s3 = provisio_memory::MemoryStorage::new();
/// s3.ensure_bucket(&BucketSpec::new("acme-assets")).await.unwrap();
/// s3.put_object("acme-assets", "logo.png", "png".into(), Some("image/png")).await.unwrap();
/// let (body, meta) = s3.get_object("acme-assets", "logo.png").await.unwrap();
/// assert_eq!(&body[..], b"png");
/// assert_eq!(meta.etag, provisio::storage::content_etag(b"png"));
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryStorage {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

fn bucket_name(name: &str) -> Result<String> {
    validate::s3_bucket_name("bucket", name)
}

fn no_bucket(name: &str) -> Error {
    Error::not_found(format!("bucket {name} does not exist (NoSuchBucket)")).with_resource(name)
}

impl MemoryStorage {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-storage";

    /// A provider with no buckets and no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A provider using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryStorage {
            base: Base::new(
                faults,
                Self::DEFAULT_ACCOUNT,
                crate::persist::Section::Storage,
            ),
            state: Mutex::new(State::default()),
        }
    }

    /// The same provider acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    /// The state, with every object whose expiry rule has run out removed first (the
    /// service expires objects on its own: whoever looks next sees them gone).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.expire();
        s
    }

    /// Validates and stores one object, as a single S3 PUT does; with `only_if_absent` an
    /// existing key is left alone and `None` returned (`If-None-Match: *`).
    fn store_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
        only_if_absent: bool,
    ) -> Result<Option<ObjectMeta>> {
        let bucket = bucket_name(bucket)?;
        let key = validate::object_key("object key", key)?;
        if body.len() as u64 > MAX_PUT_SIZE {
            return Err(Error::invalid_field(
                "object body",
                "larger than the 5 GiB single-put limit",
            ));
        }
        let mut s = self.lock();
        let now = s.clock;
        let b = s
            .buckets
            .get_mut(&bucket)
            .ok_or_else(|| no_bucket(&bucket))?;
        if only_if_absent && b.objects.contains_key(&key) {
            return Ok(None);
        }
        let meta = ObjectMeta {
            key: key.clone(),
            size: body.len() as u64,
            etag: content_etag(&body),
            content_type: content_type.map(str::to_string),
            storage_class: StorageClass::Standard,
        };
        b.objects.insert(
            key,
            Object {
                body,
                meta: meta.clone(),
                written_at: now,
                restore_ready: None,
            },
        );
        Ok(Some(meta))
    }

    /// Marks a bucket name as owned by another account: creating it fails with `AlreadyExists`
    /// (S3's `BucketAlreadyExists`), as names are global.
    pub fn add_foreign_bucket(&self, name: &str) {
        self.lock().foreign.insert(name.to_string());
    }

    /// Every live bucket and object.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, b) in &s.buckets {
            inv.insert(
                "storage.bucket",
                name.clone(),
                json!({
                    "versioning": b.bucket.versioning,
                    "archive_after_days": b.bucket.archive_after_days,
                    "block_public_access": b.bucket.block_public_access,
                    "tags": b.bucket.tags,
                    "expiry_rules": b.expiry,
                }),
            );
            let now = Instant::now();
            for (key, o) in &b.objects {
                inv.insert(
                    "storage.object",
                    format!("{name}/{key}"),
                    json!({
                        "size": o.meta.size,
                        "etag": o.meta.etag,
                        "content_type": o.meta.content_type,
                        "storage_class": o.meta.storage_class,
                        "restore": o.restore_ready.map(|t| if now >= t { "done" } else { "ongoing" }),
                    }),
                );
            }
        }
        inv
    }

    /// Nothing is retired in storage: deleted objects are gone.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }
}

/// Storage's part of a [`crate::MemorySnapshot`]: buckets with their settings and objects,
/// and the names other accounts own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StorageSnapshot {
    buckets: Vec<BucketSnapshot>,
    foreign_buckets: Vec<String>,
    /// The day clock, in milliseconds (absent before classes existed: 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    clock_ms: u64,
    /// How long a restore takes (absent: [`DEFAULT_REHYDRATE_TIME`]).
    #[serde(
        default = "default_rehydrate",
        skip_serializing_if = "is_default_rehydrate"
    )]
    rehydrate_time: Duration,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
fn default_rehydrate() -> Duration {
    DEFAULT_REHYDRATE_TIME
}
fn is_default_rehydrate(d: &Duration) -> bool {
    *d == DEFAULT_REHYDRATE_TIME
}
fn is_standard(c: &StorageClass) -> bool {
    *c == StorageClass::Standard
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BucketSnapshot {
    settings: Bucket,
    objects: Vec<ObjectSnapshot>,
    /// Expiry rules: prefix -> days.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    expiry_rules: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectSnapshot {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    body: crate::Content,
    #[serde(default, skip_serializing_if = "is_standard")]
    storage_class: StorageClass,
    /// When it was written, on the day clock, in milliseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    written_at_ms: u64,
    /// What is left of its restore (zero: done), when one was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restore_remaining: Option<Duration>,
}

impl MemoryStorage {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> StorageSnapshot {
        let s = self.lock();
        let ms = |d: Duration| d.as_millis() as u64;
        let now = Instant::now();
        StorageSnapshot {
            buckets: s
                .buckets
                .values()
                .map(|b| BucketSnapshot {
                    settings: b.bucket.clone(),
                    objects: b
                        .objects
                        .iter()
                        .map(|(key, o)| ObjectSnapshot {
                            key: key.clone(),
                            content_type: o.meta.content_type.clone(),
                            body: crate::Content(o.body.clone()),
                            storage_class: o.meta.storage_class,
                            written_at_ms: ms(o.written_at),
                            restore_remaining: o
                                .restore_ready
                                .map(|t| t.saturating_duration_since(now)),
                        })
                        .collect(),
                    expiry_rules: b.expiry.clone(),
                })
                .collect(),
            foreign_buckets: s.foreign.iter().cloned().collect(),
            clock_ms: ms(s.clock),
            rehydrate_time: s.rehydrate,
        }
    }

    /// Replaces everything this provider holds with `snap`. Sizes and ETags are recomputed
    /// from the bodies, as [`ObjectStorage::put_object`] computes them.
    pub(crate) fn prepare_restore(&self, snap: StorageSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        bounded("storage rehydrate_time", snap.rehydrate_time)?;
        let clock = Duration::from_millis(snap.clock_ms);
        bounded("storage clock_ms", clock)?;
        let now = Instant::now();
        let mut buckets = BTreeMap::new();
        for b in snap.buckets {
            for (prefix, days) in &b.expiry_rules {
                provisio::storage::check_expiry(prefix, *days).map_err(|e| corrupt(e.message()))?;
            }
            let name = b.settings.name.clone();
            let mut objects = BTreeMap::new();
            for o in b.objects {
                let body = o.body.0;
                let meta = ObjectMeta {
                    key: o.key.clone(),
                    size: body.len() as u64,
                    etag: content_etag(&body),
                    content_type: o.content_type,
                    storage_class: o.storage_class,
                };
                if let Some(d) = o.restore_remaining {
                    bounded("object restore_remaining", d)?;
                }
                let object = Object {
                    body,
                    meta,
                    written_at: Duration::from_millis(o.written_at_ms),
                    restore_ready: o.restore_remaining.map(|d| now + d),
                };
                if objects.insert(o.key.clone(), object).is_some() {
                    return Err(corrupt(format!(
                        "storage bucket {name} repeats object {}",
                        o.key
                    )));
                }
            }
            let state = BucketState {
                bucket: b.settings,
                objects,
                expiry: b.expiry_rules,
            };
            if buckets.insert(name.clone(), state).is_some() {
                return Err(corrupt(format!("storage bucket {name} appears twice")));
            }
        }
        Ok(State {
            buckets,
            foreign: snap.foreign_buckets.into_iter().collect(),
            clock,
            rehydrate: snap.rehydrate_time,
        })
    }

    /// Installs a state made by [`MemoryStorage::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryStorage {
    type JsonCache = ();
    type Snapshot = StorageSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> StorageSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: StorageSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut StorageSnapshot, elapsed: Duration) {
        // restores run on real time; the day clock of expiry rules does not
        for b in &mut snap.buckets {
            for o in &mut b.objects {
                if let Some(d) = &mut o.restore_remaining {
                    *d = d.saturating_sub(elapsed);
                }
            }
        }
    }
    fn longest_clock(snap: &StorageSnapshot) -> Option<Duration> {
        snap.buckets
            .iter()
            .flat_map(|b| &b.objects)
            .filter_map(|o| o.restore_remaining)
            .filter(|d| !d.is_zero())
            .max()
    }
}

impl Provider for MemoryStorage {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(&[provisio::validate::NameKind::Bucket], kind, field, value)
    }
}

#[async_trait]
impl ObjectStorage for MemoryStorage {
    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            versioning: true,
            archive_lifecycle: true,
            public_access_block: true,
            tags: true,
            max_put_size: MAX_PUT_SIZE,
            storage_classes: StorageClass::ALL.to_vec(),
            expiry_rules: true,
        }
    }

    async fn ensure_bucket(&self, spec: &BucketSpec) -> Result<Ensured<Bucket>> {
        self.base
            .run_ensure("storage.ensure_bucket", &spec.name, async {
                let name = bucket_name(&spec.name)?;
                validate::tags("bucket tags", &spec.tags)?;
                if spec.archive_after_days == Some(0) {
                    return Err(Error::invalid_field(
                        "archive_after_days",
                        "must be at least 1",
                    ));
                }
                let mut s = self.lock();
                if s.foreign.contains(&name) {
                    return Err(Error::already_exists(format!(
                        "bucket {name} is owned by another account (BucketAlreadyExists)"
                    )));
                }
                if let Some(b) = s.buckets.get(&name) {
                    provisio::types::ownership::check_adoptable(
                        &b.bucket.tags,
                        &spec.tags,
                        &format!("bucket {name:?}"),
                    )?;
                }
                match s.buckets.get_mut(&name) {
                    Some(b) if b.bucket.matches(spec) => Ok(Ensured::unchanged(b.bucket.clone())),
                    Some(b) => {
                        b.bucket.versioning = spec.versioning;
                        b.bucket.archive_after_days = spec.archive_after_days;
                        b.bucket.block_public_access = spec.block_public_access;
                        b.bucket.tags.extend(spec.tags.clone());
                        Ok(Ensured::updated(b.bucket.clone()))
                    }
                    None => {
                        let bucket = Bucket {
                            name: name.clone(),
                            versioning: spec.versioning,
                            archive_after_days: spec.archive_after_days,
                            block_public_access: spec.block_public_access,
                            tags: spec.tags.clone(),
                        };
                        s.buckets.insert(
                            name,
                            BucketState {
                                bucket: bucket.clone(),
                                objects: BTreeMap::new(),
                                expiry: BTreeMap::new(),
                            },
                        );
                        Ok(Ensured::created(bucket))
                    }
                }
            })
            .await
    }

    async fn get_bucket(&self, name: &str) -> Result<Option<Bucket>> {
        self.base
            .run("storage.get_bucket", name, async {
                let name = bucket_name(name)?;
                Ok(Read(
                    self.lock().buckets.get(&name).map(|b| b.bucket.clone()),
                ))
            })
            .await
    }

    async fn delete_bucket(&self, name: &str) -> Result<Deleted> {
        self.base
            .run("storage.delete_bucket", name, async {
                let name = bucket_name(name)?;
                let mut s = self.lock();
                match s.buckets.get(&name) {
                    None => Ok(Deleted::AlreadyGone),
                    Some(b) if !b.objects.is_empty() => Err(Error::conflict(format!(
                        "bucket {name} is not empty: it holds {} objects (BucketNotEmpty)",
                        b.objects.len()
                    ))),
                    Some(_) => {
                        s.buckets.remove(&name);
                        Ok(Deleted::Deleted)
                    }
                }
            })
            .await
    }

    async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.put_object", &resource, async {
                let meta = self.store_object(bucket, key, body, content_type, false)?;
                Ok(Changed(meta.expect("an unconditional put always writes")))
            })
            .await
    }

    /// Atomic, like S3's `If-None-Match: *`.
    async fn put_object_if_absent(
        &self,
        bucket: &str,
        key: &str,
        body: Bytes,
        content_type: Option<&str>,
    ) -> Result<Option<ObjectMeta>> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.put_object_if_absent", &resource, async {
                Ok(Wrote(self.store_object(
                    bucket,
                    key,
                    body,
                    content_type,
                    true,
                )?))
            })
            .await
    }

    fn etag_of(&self, body: &[u8]) -> Option<String> {
        Some(content_etag(body))
    }

    async fn get_object(&self, bucket: &str, key: &str) -> Result<(Bytes, ObjectMeta)> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.get_object", &resource, async {
                let bucket = bucket_name(bucket)?;
                let key = validate::object_key("object key", key)?;
                let s = self.lock();
                let b = s.buckets.get(&bucket).ok_or_else(|| no_bucket(&bucket))?;
                let o = b.objects.get(&key).ok_or_else(|| {
                    Error::not_found(format!(
                        "object {key} does not exist in {bucket} (NoSuchKey)"
                    ))
                })?;
                if !o.readable(Instant::now()) {
                    return Err(provisio::storage::archived_object(
                        &bucket,
                        &key,
                        o.meta.storage_class,
                        "InvalidObjectState",
                    ));
                }
                Ok(Read((o.body.clone(), o.meta.clone())))
            })
            .await
    }

    async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectMeta>> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.head_object", &resource, async {
                let bucket = bucket_name(bucket)?;
                let key = validate::object_key("object key", key)?;
                let s = self.lock();
                let b = s.buckets.get(&bucket).ok_or_else(|| no_bucket(&bucket))?;
                Ok(Read(b.objects.get(&key).map(|o| o.meta.clone())))
            })
            .await
    }

    async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        page: &PageRequest,
    ) -> Result<Page<ObjectMeta>> {
        self.base
            .run("storage.list_objects", bucket, async {
                let bucket = bucket_name(bucket)?;
                let s = self.lock();
                let b = s.buckets.get(&bucket).ok_or_else(|| no_bucket(&bucket))?;
                let items = b
                    .objects
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, o)| (k.clone(), o.meta.clone()));
                Ok(Read(crate::paging::page(
                    items,
                    page,
                    MAX_PAGE_SIZE,
                    MAX_PAGE_SIZE,
                )?))
            })
            .await
    }

    /// Reads the whole stream (like S3's multipart upload, nothing is visible until it has
    /// ended) and stores it in one step; a failing stream stores nothing. The bucket and key
    /// are checked before the stream is read. The etag is [`content_etag`] of the whole body
    /// (S3 gives a multipart upload an etag of its own, `"<md5 of part md5s>-<parts>"`).
    async fn put_object_stream(
        &self,
        bucket: &str,
        key: &str,
        body: provisio::ByteStream,
        content_type: Option<&str>,
    ) -> Result<ObjectMeta> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.put_object_stream", &resource, async {
                let bucket = bucket_name(bucket)?;
                let key = validate::object_key("object key", key)?;
                if !self.lock().buckets.contains_key(&bucket) {
                    return Err(no_bucket(&bucket));
                }
                let body = provisio::stream::collect(body, MAX_STREAM_SIZE, "object body").await?;
                let mut s = self.lock();
                let now = s.clock;
                // the bucket may have gone while the stream was read, as on S3
                let b = s
                    .buckets
                    .get_mut(&bucket)
                    .ok_or_else(|| no_bucket(&bucket))?;
                let meta = ObjectMeta {
                    key: key.clone(),
                    size: body.len() as u64,
                    etag: content_etag(&body),
                    content_type: content_type.map(str::to_string),
                    storage_class: StorageClass::Standard,
                };
                b.objects.insert(
                    key,
                    Object {
                        body,
                        meta: meta.clone(),
                        written_at: now,
                        restore_ready: None,
                    },
                );
                Ok(Changed(meta))
            })
            .await
    }

    /// The object in chunks of [`STREAM_CHUNK`] bytes (slices of the stored body, no copy).
    async fn get_object_stream(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<(provisio::ByteStream, ObjectMeta)> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.get_object_stream", &resource, async {
                let bucket = bucket_name(bucket)?;
                let key = validate::object_key("object key", key)?;
                let s = self.lock();
                let b = s.buckets.get(&bucket).ok_or_else(|| no_bucket(&bucket))?;
                let o = b.objects.get(&key).ok_or_else(|| {
                    Error::not_found(format!(
                        "object {key} does not exist in {bucket} (NoSuchKey)"
                    ))
                })?;
                if !o.readable(Instant::now()) {
                    return Err(provisio::storage::archived_object(
                        &bucket,
                        &key,
                        o.meta.storage_class,
                        "InvalidObjectState",
                    ));
                }
                Ok(Read((
                    provisio::stream::chunked(o.body.clone(), STREAM_CHUNK),
                    o.meta.clone(),
                )))
            })
            .await
    }

    async fn delete_object(&self, bucket: &str, key: &str) -> Result<Deleted> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.delete_object", &resource, async {
                let bucket = bucket_name(bucket)?;
                let key = validate::object_key("object key", key)?;
                let mut s = self.lock();
                let b = s
                    .buckets
                    .get_mut(&bucket)
                    .ok_or_else(|| no_bucket(&bucket))?;
                Ok(match b.objects.remove(&key) {
                    Some(_) => Deleted::Deleted,
                    None => Deleted::AlreadyGone,
                })
            })
            .await
    }

    async fn set_storage_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ObjectMeta> {
        let resource = format!("{bucket}/{key}");
        self.base
            .run("storage.set_storage_class", &resource, async {
                self.change_class(bucket, key, class)
            })
            .await
    }

    async fn ensure_expiry_rule(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<provisio::Ensured<ExpiryRule>> {
        let resource = format!("{bucket}/{prefix}");
        self.base
            .run_ensure("storage.ensure_expiry_rule", &resource, async {
                self.put_expiry(bucket, prefix, days)
            })
            .await
    }

    async fn get_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Option<ExpiryRule>> {
        let resource = format!("{bucket}/{prefix}");
        self.base
            .run("storage.get_expiry_rule", &resource, async {
                self.read_expiry(bucket, prefix).map(Read)
            })
            .await
    }

    async fn delete_expiry_rule(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        let resource = format!("{bucket}/{prefix}");
        self.base
            .run("storage.delete_expiry_rule", &resource, async {
                self.remove_expiry(bucket, prefix)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome};

    #[tokio::test]
    async fn buckets_are_ensured() {
        let s3 = MemoryStorage::new();
        let mut spec = BucketSpec::new("acme-assets");
        spec.tags.insert("provisio:tenant".into(), "acme".into());
        assert_eq!(
            s3.ensure_bucket(&spec).await.unwrap().outcome,
            Outcome::Created
        );
        assert_eq!(
            s3.ensure_bucket(&spec).await.unwrap().outcome,
            Outcome::Unchanged
        );
        spec.versioning = true;
        let upd = s3.ensure_bucket(&spec).await.unwrap();
        assert_eq!(upd.outcome, Outcome::Updated);
        assert!(upd.value.versioning);
        assert_eq!(s3.get_bucket("acme-assets").await.unwrap(), Some(upd.value));
        assert_eq!(s3.get_bucket("nope-bucket").await.unwrap(), None);
        let e = s3
            .ensure_bucket(&BucketSpec::new("Bad_Name"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(e.message().contains("invalid bucket"));
        s3.add_foreign_bucket("taken-name");
        assert_eq!(
            s3.ensure_bucket(&BucketSpec::new("taken-name"))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::AlreadyExists
        );
    }

    #[tokio::test]
    async fn objects_and_deletes() {
        let s3 = MemoryStorage::new();
        assert_eq!(
            s3.put_object("missing-bucket", "k", "x".into(), None)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        s3.ensure_bucket(&BucketSpec::new("b-one")).await.unwrap();
        let meta = s3
            .put_object("b-one", "a/1.txt", "hello".into(), Some("text/plain"))
            .await
            .unwrap();
        assert_eq!(meta.size, 5);
        assert_eq!(meta.etag, content_etag(b"hello"));
        assert_eq!(
            s3.delete_bucket("b-one").await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        assert_eq!(
            s3.get_object("b-one", "nope").await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(s3.head_object("b-one", "nope").await.unwrap(), None);
        assert_eq!(
            s3.delete_object("b-one", "a/1.txt").await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            s3.delete_object("b-one", "a/1.txt").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(s3.delete_bucket("b-one").await.unwrap(), Deleted::Deleted);
        assert_eq!(
            s3.delete_bucket("b-one").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert!(s3.inventory().is_empty());
    }

    #[tokio::test]
    async fn list_is_ordered_paged_and_copy_works() {
        let s3 = MemoryStorage::new();
        s3.ensure_bucket(&BucketSpec::new("src-bucket"))
            .await
            .unwrap();
        s3.ensure_bucket(&BucketSpec::new("dst-bucket"))
            .await
            .unwrap();
        for i in (0..25).rev() {
            s3.put_object(
                "src-bucket",
                &format!("t/{i:02}"),
                format!("{i}").into(),
                None,
            )
            .await
            .unwrap();
        }
        s3.put_object("src-bucket", "u/zz", "x".into(), None)
            .await
            .unwrap();
        let mut req = PageRequest::with_limit(10);
        let mut keys = Vec::new();
        loop {
            let p = s3.list_objects("src-bucket", "t/", &req).await.unwrap();
            keys.extend(p.items.iter().map(|m| m.key.clone()));
            match req.next(&p) {
                Some(n) => req = n,
                None => break,
            }
        }
        let want: Vec<String> = (0..25).map(|i| format!("t/{i:02}")).collect();
        assert_eq!(keys, want);
        assert_eq!(
            s3.copy_prefix("src-bucket", "t/", "dst-bucket", "acme/")
                .await
                .unwrap(),
            25
        );
        assert_eq!(
            s3.copy_prefix("src-bucket", "t/", "dst-bucket", "acme/")
                .await
                .unwrap(),
            0
        );
        assert_eq!(s3.inventory().count("storage.object"), 51);
        assert_eq!(s3.delete_prefix("dst-bucket", "acme/").await.unwrap(), 25);
    }
}
