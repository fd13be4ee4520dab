//! Conformance cases for [`ObjectStorage`].
//!
//! Every case creates its own buckets named `<bucket_prefix><unique>` and deletes them (with
//! their objects) at the end.

use crate::{
    expect_invalid, expect_kind, expect_one_of, expect_unsupported, first_error, guarded,
    walk_pages,
};
use bytes::Bytes;
use provisio::storage::{Bucket, BucketSpec};
use provisio::{Deleted, ErrorKind, ObjectStorage, Outcome, Result, Tags};

mod classes;

pub use classes::{archive_read_refusal, expiry_rules, prefix_class_change, storage_class_change};

/// What the storage cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageContext {
    /// Put in front of every bucket name the cases create, e.g. `provisio-test-`. Keep it short
    /// (at most 30 characters): bucket names stop at 63. Lower-case letters, digits and single
    /// hyphens keep the names valid for both S3 and Azure.
    pub bucket_prefix: String,
}

impl StorageContext {
    /// Buckets are named `<bucket_prefix><unique>`.
    pub fn new(bucket_prefix: impl Into<String>) -> Self {
        StorageContext {
            bucket_prefix: bucket_prefix.into(),
        }
    }
}

impl Default for StorageContext {
    fn default() -> Self {
        StorageContext::new("")
    }
}

/// Every storage case by name.
pub const CASES: &[crate::Case<dyn ObjectStorage, StorageContext>] =
    crate::storage_conformance!(@table);

/// Generates one `#[test]` per storage case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::storage_conformance! {
///     provider: my_storage(),
///     context: provisio_testkit::storage::StorageContext::new("provisio-test-"),
/// }
/// ```
#[macro_export]
macro_rules! storage_conformance {
    (@table) => { $crate::storage_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* storage [
            bucket_happy_path,
            bucket_ensure_is_idempotent,
            bucket_update,
            objects_round_trip,
            not_found,
            delete_non_empty_bucket_conflicts,
            pagination,
            copy_prefix,
            invalid_names,
            capability_honesty,
            streams_round_trip,
            stream_failure_keeps_the_object,
            storage_class_change,
            archive_read_refusal,
            prefix_class_change,
            expiry_rules,
        ] }
    };
    ($($setup:tt)*) => { $crate::storage_conformance!(@cases @tests { $($setup)* }); };
}

fn bucket_name(ctx: &StorageContext) -> String {
    format!("{}{}", ctx.bucket_prefix, crate::unique("bkt"))
}

fn test_tags() -> Tags {
    provisio::types::ownership::tags(&crate::unique("tn"), "conformance", "bucket")
}

/// A spec using every setting the provider supports.
fn full_spec(s: &dyn ObjectStorage, name: &str) -> BucketSpec {
    let caps = s.capabilities();
    let mut spec = BucketSpec::new(name);
    if caps.tags {
        spec.tags = test_tags();
    }
    spec
}

fn assert_bucket_is(b: &Bucket, spec: &BucketSpec, what: &str) {
    assert!(
        b.matches(spec),
        "{what}: the bucket {b:?} does not match what was asked: {spec:?}"
    );
}

/// Empties and deletes a bucket, ignoring that it may not exist.
async fn remove_bucket(s: &dyn ObjectStorage, name: &str) -> Result<()> {
    if s.get_bucket(name).await?.is_none() {
        return Ok(());
    }
    s.delete_prefix(name, "").await?;
    s.delete_bucket(name).await.map(|_| ())
}

/// Creates a bucket, reads it back, deletes it and sees it gone.
pub async fn bucket_happy_path(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let name = bucket_name(ctx);
    let spec = full_spec(s, &name);
    guarded(
        async {
            let made = s.ensure_bucket(&spec).await?;
            assert_eq!(
                made.outcome,
                Outcome::Created,
                "ensure_bucket of a new name"
            );
            assert_bucket_is(&made.value, &spec, "ensure_bucket");
            assert!(
                made.value.block_public_access || !s.capabilities().public_access_block,
                "a new bucket must block public access by default"
            );
            let read = s.get_bucket(&name).await?;
            let read = read.expect("get_bucket returned None for the bucket just created");
            assert_bucket_is(&read, &spec, "get_bucket");
            let gone = s.delete_bucket(&name).await?;
            assert_eq!(gone, Deleted::Deleted, "delete_bucket of an empty bucket");
            let read = s.get_bucket(&name).await?;
            assert!(read.is_none(), "get_bucket after delete returned {read:?}");
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// The same ensure twice is `Unchanged`; deleting twice is `Deleted` then `AlreadyGone`.
pub async fn bucket_ensure_is_idempotent(
    s: &dyn ObjectStorage,
    ctx: &StorageContext,
) -> Result<()> {
    let name = bucket_name(ctx);
    let spec = full_spec(s, &name);
    guarded(
        async {
            let first = s.ensure_bucket(&spec).await?;
            assert_eq!(first.outcome, Outcome::Created, "first ensure_bucket");
            let second = s.ensure_bucket(&spec).await?;
            assert_eq!(
                second.outcome,
                Outcome::Unchanged,
                "second ensure_bucket with the same spec"
            );
            assert_eq!(
                second.value, first.value,
                "the unchanged bucket differs from the created one"
            );
            let read = s.get_bucket(&name).await?;
            assert_eq!(
                read.as_ref(),
                Some(&first.value),
                "get_bucket after two ensures"
            );
            assert_eq!(
                s.delete_bucket(&name).await?,
                Deleted::Deleted,
                "first delete_bucket"
            );
            assert_eq!(
                s.delete_bucket(&name).await?,
                Deleted::AlreadyGone,
                "second delete_bucket"
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Changing a supported setting (tags, versioning, archive rule) is `Updated` and reads back.
pub async fn bucket_update(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let caps = s.capabilities();
    let name = bucket_name(ctx);
    let spec = full_spec(s, &name);
    let mut changed = spec.clone();
    if caps.tags {
        changed
            .tags
            .insert("provisio:conformance".into(), "updated".into());
    }
    if caps.versioning {
        changed.versioning = true;
    }
    if caps.archive_lifecycle {
        changed.archive_after_days = Some(30);
    }
    if caps.public_access_block {
        // The spec still blocks public access; switching it off is not something a test
        // should do against a real account.
    }
    guarded(
        async {
            s.ensure_bucket(&spec).await?;
            if changed == spec {
                let again = s.ensure_bucket(&changed).await?;
                assert_eq!(
                    again.outcome,
                    Outcome::Unchanged,
                    "the provider supports no changeable setting; ensure must be Unchanged"
                );
                return Ok(());
            }
            let updated = s.ensure_bucket(&changed).await?;
            assert_eq!(
                updated.outcome,
                Outcome::Updated,
                "ensure_bucket with changed settings"
            );
            assert_bucket_is(&updated.value, &changed, "the updated bucket");
            let read = s.get_bucket(&name).await?.expect("get_bucket after update");
            assert_bucket_is(&read, &changed, "get_bucket after update");
            let again = s.ensure_bucket(&changed).await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "ensure_bucket after the update"
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Put, get, head, overwrite and delete one object.
pub async fn objects_round_trip(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            let key = "assets/logo.txt";
            let body = Bytes::from_static(b"provisio conformance v1");
            let meta = s
                .put_object(&name, key, body.clone(), Some("text/plain"))
                .await?;
            assert_eq!(meta.key, key, "put_object metadata key");
            assert_eq!(meta.size, body.len() as u64, "put_object metadata size");
            assert!(!meta.etag.is_empty(), "put_object returned an empty etag");
            assert_eq!(
                meta.content_type.as_deref(),
                Some("text/plain"),
                "put_object content type"
            );

            let (read, read_meta) = s.get_object(&name, key).await?;
            assert_eq!(read, body, "get_object body");
            assert_eq!(read_meta.etag, meta.etag, "get_object etag");
            assert_eq!(read_meta.size, meta.size, "get_object size");
            assert_eq!(
                read_meta.content_type.as_deref(),
                Some("text/plain"),
                "get_object content type"
            );
            let head = s.head_object(&name, key).await?;
            let head = head.expect("head_object returned None for an existing object");
            assert_eq!(head.etag, meta.etag, "head_object etag");
            assert_eq!(head.size, meta.size, "head_object size");

            let body2 = Bytes::from_static(b"provisio conformance v2, longer");
            let meta2 = s.put_object(&name, key, body2.clone(), None).await?;
            assert_ne!(
                meta2.etag, meta.etag,
                "overwriting with other content must change the etag"
            );
            let (read2, _) = s.get_object(&name, key).await?;
            assert_eq!(read2, body2, "get_object after overwrite");

            // Same content, same etag: this is what copy_prefix relies on.
            let meta3 = s
                .put_object(&name, "assets/copy.txt", body2.clone(), None)
                .await?;
            assert_eq!(
                meta3.etag, meta2.etag,
                "two objects with the same content must have the same etag"
            );

            assert_eq!(
                s.delete_object(&name, key).await?,
                Deleted::Deleted,
                "delete_object"
            );
            assert_eq!(
                s.delete_object(&name, key).await?,
                Deleted::AlreadyGone,
                "second delete_object"
            );
            let head = s.head_object(&name, key).await?;
            assert!(head.is_none(), "head_object after delete returned {head:?}");
            let err = s.get_object(&name, key).await;
            expect_kind(err, ErrorKind::NotFound, "get_object after delete");
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Reads of missing buckets and objects: `None`, `NotFound` for `get_object`, `AlreadyGone`
/// for deletes.
pub async fn not_found(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let missing = bucket_name(ctx);
    let read = s.get_bucket(&missing).await?;
    assert!(
        read.is_none(),
        "get_bucket of a missing bucket returned {read:?}"
    );
    assert_eq!(
        s.delete_bucket(&missing).await?,
        Deleted::AlreadyGone,
        "delete_bucket of a missing bucket"
    );
    let err = s.get_object(&missing, "a.txt").await;
    expect_kind(err, ErrorKind::NotFound, "get_object in a missing bucket");

    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            let head = s.head_object(&name, "missing.txt").await?;
            assert!(
                head.is_none(),
                "head_object of a missing key returned {head:?}"
            );
            let err = s.get_object(&name, "missing.txt").await;
            expect_kind(err, ErrorKind::NotFound, "get_object of a missing key");
            assert_eq!(
                s.delete_object(&name, "missing.txt").await?,
                Deleted::AlreadyGone,
                "delete_object of a missing key"
            );
            let page = s
                .list_objects(&name, "", &provisio::PageRequest::first())
                .await?;
            assert!(
                page.items.is_empty(),
                "an empty bucket lists {:?}",
                page.items
            );
            assert!(page.next.is_none(), "an empty listing has a next token");
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Deleting a bucket that still holds an object is a `Conflict` and keeps bucket and object.
pub async fn delete_non_empty_bucket_conflicts(
    s: &dyn ObjectStorage,
    ctx: &StorageContext,
) -> Result<()> {
    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            s.put_object(&name, "keep.txt", Bytes::from_static(b"keep"), None)
                .await?;
            let err = s.delete_bucket(&name).await;
            expect_kind(
                err,
                ErrorKind::Conflict,
                "delete_bucket of a non-empty bucket",
            );
            assert!(
                s.get_bucket(&name).await?.is_some(),
                "the refused delete removed the bucket"
            );
            let (body, _) = s.get_object(&name, "keep.txt").await?;
            assert_eq!(&body[..], b"keep", "the refused delete changed the object");
            s.delete_object(&name, "keep.txt").await?;
            assert_eq!(
                s.delete_bucket(&name).await?,
                Deleted::Deleted,
                "delete_bucket once empty"
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Seven objects under a prefix listed three at a time: pages of at most three, in key order,
/// every object exactly once, nothing from outside the prefix.
pub async fn pagination(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let name = bucket_name(ctx);
    let keys: Vec<String> = (0..7).map(|i| format!("p/obj-{i:02}.txt")).collect();
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            for key in &keys {
                s.put_object(&name, key, Bytes::from(key.clone()), None).await?;
            }
            s.put_object(&name, "q/outside.txt", Bytes::from_static(b"x"), None)
                .await?;
            s.put_object(&name, "p", Bytes::from_static(b"x"), None).await?;
            let (items, pages) = walk_pages(3, |req| {
                let name = &name;
                async move { s.list_objects(name, "p/", &req).await }
            })
            .await?;
            assert!(pages >= 3, "7 objects with limit 3 came in {pages} page(s)");
            let listed: Vec<&str> = items.iter().map(|o| o.key.as_str()).collect();
            let want: Vec<&str> = keys.iter().map(String::as_str).collect();
            assert_eq!(
                listed, want,
                "list_objects(prefix \"p/\") over all pages: each object exactly once, in key order, nothing outside the prefix"
            );
            for o in &items {
                assert_eq!(o.size, o.key.len() as u64, "listed size of {}", o.key);
            }
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// `copy_prefix` copies every object under a prefix to another bucket and prefix; a second run
/// copies nothing; after one source object changes, a third run copies only that one.
pub async fn copy_prefix(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let src = bucket_name(ctx);
    let dst = bucket_name(ctx);
    let files = [
        ("assets/a.txt", "alpha"),
        ("assets/img/b.png", "bravo"),
        ("assets/c.css", "charlie"),
    ];
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&src)).await?;
            s.ensure_bucket(&BucketSpec::new(&dst)).await?;
            for (k, v) in files {
                s.put_object(&src, k, Bytes::from(v), None).await?;
            }
            s.put_object(&src, "other/d.txt", Bytes::from_static(b"delta"), None)
                .await?;
            let n = s.copy_prefix(&src, "assets/", &dst, "tenant/").await?;
            assert_eq!(
                n, 3,
                "the first copy_prefix should write the 3 objects under the prefix"
            );
            for (k, v) in files {
                let dst_key = k.replacen("assets/", "tenant/", 1);
                let (body, _) = s.get_object(&dst, &dst_key).await?;
                assert_eq!(&body[..], v.as_bytes(), "copied object {dst_key}");
            }
            let stray = s.head_object(&dst, "tenant/d.txt").await?;
            assert!(
                stray.is_none(),
                "copy_prefix copied an object outside the prefix"
            );
            let n = s.copy_prefix(&src, "assets/", &dst, "tenant/").await?;
            assert_eq!(
                n, 0,
                "a second copy_prefix of unchanged objects should write nothing"
            );
            s.put_object(&src, "assets/a.txt", Bytes::from_static(b"alpha v2"), None)
                .await?;
            let n = s.copy_prefix(&src, "assets/", &dst, "tenant/").await?;
            assert_eq!(
                n, 1,
                "after one source object changed copy_prefix should write 1"
            );
            let (body, _) = s.get_object(&dst, "tenant/a.txt").await?;
            assert_eq!(&body[..], b"alpha v2", "the re-copied object");
            Ok(())
        },
        async { first_error([remove_bucket(s, &src).await, remove_bucket(s, &dst).await]) },
    )
    .await
}

/// Bad bucket names and object keys are `InvalidInput` naming the field, and create nothing.
pub async fn invalid_names(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    for bad in ["Bad_Bucket", "ab", "-leading-hyphen"] {
        let err = s.ensure_bucket(&BucketSpec::new(bad)).await;
        expect_invalid(err, "bucket", &format!("ensure_bucket({bad:?})"));
        // Reading an invalid name may itself be refused; it must not find a bucket.
        if let Ok(Some(b)) = s.get_bucket(bad).await {
            panic!("a refused ensure_bucket({bad:?}) created {b:?}");
        }
    }
    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            let bad_key = "bad\u{7}key";
            let err = s
                .put_object(&name, bad_key, Bytes::from_static(b"x"), None)
                .await;
            expect_invalid(err, "key", "put_object with a control character in the key");
            let err = s
                .put_object(&name, "", Bytes::from_static(b"x"), None)
                .await;
            expect_invalid(err, "key", "put_object with an empty key");
            let page = s
                .list_objects(&name, "", &provisio::PageRequest::first())
                .await?;
            assert!(
                page.items.is_empty(),
                "refused put_object calls left objects: {:?}",
                page.items
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Settings the capabilities deny are `Unsupported` and create no bucket; an object larger than
/// `max_put_size` is refused.
pub async fn capability_honesty(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let caps = s.capabilities();
    let mut refused = Vec::new();
    if !caps.versioning {
        let mut spec = BucketSpec::new(bucket_name(ctx));
        spec.versioning = true;
        refused.push(("versioning", spec));
    }
    if !caps.archive_lifecycle {
        let mut spec = BucketSpec::new(bucket_name(ctx));
        spec.archive_after_days = Some(30);
        refused.push(("archive_after_days", spec));
    }
    if !caps.tags {
        let mut spec = BucketSpec::new(bucket_name(ctx));
        spec.tags = test_tags();
        refused.push(("tags", spec));
    }
    let names: Vec<String> = refused.iter().map(|(_, s)| s.name.clone()).collect();
    let name = bucket_name(ctx);
    guarded(
        async {
            for (what, spec) in &refused {
                let err = s.ensure_bucket(spec).await;
                expect_unsupported(err, &format!("ensure_bucket with {what}"));
                let read = s.get_bucket(&spec.name).await?;
                assert!(
                    read.is_none(),
                    "a refused ensure_bucket ({what}) created {read:?}"
                );
            }
            assert!(caps.max_put_size > 0, "max_put_size must be positive");
            // Only try an oversized put where that is cheap.
            if caps.max_put_size < 64 * 1024 * 1024 {
                s.ensure_bucket(&BucketSpec::new(&name)).await?;
                let body = Bytes::from(vec![b'x'; caps.max_put_size as usize + 1]);
                let err = s.put_object(&name, "too-big.bin", body, None).await;
                expect_one_of(
                    err,
                    &[ErrorKind::InvalidInput, ErrorKind::Unsupported],
                    "put_object larger than max_put_size",
                );
                let head = s.head_object(&name, "too-big.bin").await?;
                assert!(head.is_none(), "an oversized put_object was stored");
            }
            Ok(())
        },
        async {
            let mut results = vec![remove_bucket(s, &name).await];
            for n in &names {
                results.push(remove_bucket(s, n).await);
            }
            first_error(results)
        },
    )
    .await
}

/// `len` bytes that differ from part to part (a multipart upload that mixed up its parts
/// would not read back the same).
fn patterned(len: usize) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1])
            .collect::<Vec<u8>>(),
    )
}

const MIB: usize = 1024 * 1024;

/// `put_object_stream` of a body larger than two parts (17 MiB, S3 multipart and Azure block
/// uploads take 8 MiB parts) and of a small one read back whole and as streams: same bytes,
/// sizes, content type; a small streamed body has the etag a simple put of it has; a
/// streamed put replaces the object; `get_object_stream` of a missing key fails the call
/// with `NotFound`.
pub async fn streams_round_trip(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            let big = patterned(17 * MIB + 123);
            let meta = s
                .put_object_stream(
                    &name,
                    "dumps/big.dump",
                    provisio::stream::chunked(big.clone(), MIB + 7),
                    Some("application/octet-stream"),
                )
                .await?;
            assert_eq!(meta.key, "dumps/big.dump", "put_object_stream key");
            assert_eq!(meta.size, big.len() as u64, "put_object_stream size");
            let head = s
                .head_object(&name, "dumps/big.dump")
                .await?
                .expect("head_object of a streamed object returned None");
            assert_eq!(head.size, big.len() as u64, "head_object size");
            let (stream, got) = s.get_object_stream(&name, "dumps/big.dump").await?;
            assert_eq!(got.size, big.len() as u64, "get_object_stream size");
            assert_eq!(
                got.content_type.as_deref(),
                Some("application/octet-stream"),
                "get_object_stream content type"
            );
            let read = provisio::stream::collect(stream, u64::MAX, "object").await?;
            assert!(read == big, "the streamed object read back differs");
            let (whole, _) = s.get_object(&name, "dumps/big.dump").await?;
            assert!(whole == big, "get_object of a streamed object differs");

            let small = Bytes::from_static(b"provisio streamed conformance");
            let meta = s
                .put_object_stream(
                    &name,
                    "dumps/small.txt",
                    provisio::stream::chunked(small.clone(), 4),
                    Some("text/plain"),
                )
                .await?;
            assert_eq!(meta.size, small.len() as u64, "small streamed put size");
            let simple = s
                .put_object(&name, "dumps/simple.txt", small.clone(), Some("text/plain"))
                .await?;
            assert_eq!(
                meta.etag, simple.etag,
                "a small streamed body must have the etag a simple put of it has"
            );
            let (read, _) = s.get_object(&name, "dumps/small.txt").await?;
            assert_eq!(read, small, "small streamed object");

            // a streamed put replaces the object
            s.put_object_stream(
                &name,
                "dumps/big.dump",
                provisio::stream::once(small.clone()),
                None,
            )
            .await?;
            let (read, _) = s.get_object(&name, "dumps/big.dump").await?;
            assert_eq!(read, small, "a streamed put replaced the object");
            let (stream, _) = s.get_object_stream(&name, "dumps/big.dump").await?;
            let read = provisio::stream::collect(stream, u64::MAX, "object").await?;
            assert_eq!(read, small, "the replaced object as a stream");

            // an empty stream stores an empty object
            let empty = s
                .put_object_stream(
                    &name,
                    "dumps/empty",
                    provisio::stream::once(Bytes::new()),
                    None,
                )
                .await?;
            assert_eq!(empty.size, 0, "an empty streamed put");
            let (stream, got) = s.get_object_stream(&name, "dumps/empty").await?;
            assert_eq!(got.size, 0, "get_object_stream of an empty object");
            let read = provisio::stream::collect(stream, 1, "object").await?;
            assert!(
                read.is_empty(),
                "an empty object streamed {} bytes",
                read.len()
            );

            let err = s.get_object_stream(&name, "dumps/missing").await;
            expect_kind(
                err.map(|_| ()),
                ErrorKind::NotFound,
                "get_object_stream of a missing key",
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// A stream that fails stores nothing: the stream's error is returned (with its kind) and
/// the key keeps its previous object, whether the failure comes before the first part is
/// full or after a part was sent (9 MiB in).
pub async fn stream_failure_keeps_the_object(
    s: &dyn ObjectStorage,
    ctx: &StorageContext,
) -> Result<()> {
    let name = bucket_name(ctx);
    guarded(
        async {
            s.ensure_bucket(&BucketSpec::new(&name)).await?;
            let before = Bytes::from_static(b"the previous dump");
            s.put_object(&name, "db.dump", before.clone(), None).await?;
            for sent in [1024, 9 * MIB] {
                let broken = provisio::stream::from_results(vec![
                    Ok(patterned(sent)),
                    Err(provisio::Error::transient("the dump process died")),
                ]);
                let err = s.put_object_stream(&name, "db.dump", broken, None).await;
                expect_kind(
                    err.map(|_| ()),
                    ErrorKind::Transient,
                    "put_object_stream of a failing stream",
                );
                let (read, _) = s.get_object(&name, "db.dump").await?;
                assert_eq!(
                    read, before,
                    "a failed streamed put ({sent} bytes sent) changed the object"
                );
            }
            let broken = provisio::stream::from_results(vec![Err(provisio::Error::transient(
                "no dump at all",
            ))]);
            let err = s.put_object_stream(&name, "fresh.dump", broken, None).await;
            expect_kind(
                err.map(|_| ()),
                ErrorKind::Transient,
                "a stream failing at once",
            );
            let fresh = s.head_object(&name, "fresh.dump").await?;
            assert!(fresh.is_none(), "a failed streamed put created {fresh:?}");
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}
