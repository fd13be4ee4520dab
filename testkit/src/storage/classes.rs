//! Conformance cases for storage classes and expiry rules, skipped (checked as `Unsupported`)
//! where [`provisio::storage::StorageCapabilities`] says the provider lacks them.

use super::{StorageContext, bucket_name, remove_bucket};
use crate::{expect_kind, expect_unsupported, guarded};
use provisio::storage::{BucketSpec, StorageClass, is_rehydration_pending};
use provisio::{Deleted, ErrorKind, ObjectStorage, Outcome, Result};
use std::time::Duration;

/// How long a case waits for a restore from an archive class (the emulators and the memory
/// provider restore in milliseconds; a real service takes hours and is not a conformance run).
const RESTORE_DEADLINE: Duration = Duration::from_secs(30);

/// A readable class other than `Standard` the provider has, else an archive class.
fn other_class(classes: &[StorageClass]) -> Option<StorageClass> {
    [
        StorageClass::InfrequentAccess,
        StorageClass::Archive,
        StorageClass::DeepArchive,
    ]
    .into_iter()
    .find(|c| classes.contains(c))
}

/// The first archive class the provider has.
fn archive_class(classes: &[StorageClass]) -> Option<StorageClass> {
    classes.iter().copied().find(|c| !c.is_readable())
}

async fn bucket_with(s: &dyn ObjectStorage, name: &str, keys: &[&str]) -> Result<()> {
    s.ensure_bucket(&BucketSpec::new(name)).await?;
    for k in keys {
        s.put_object(name, k, bytes::Bytes::from(format!("body of {k}")), None)
            .await?;
    }
    Ok(())
}

/// Moves an object to another class and back: `head_object` and the listing show the class,
/// a new object is `standard`, and asking for the class an object already has changes nothing.
pub async fn storage_class_change(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let name = bucket_name(ctx);
    let classes = s.capabilities().storage_classes;
    guarded(
        async {
            bucket_with(s, &name, &["c/one.txt"]).await?;
            let head = s.head_object(&name, "c/one.txt").await?.expect("just put");
            assert_eq!(head.storage_class, StorageClass::Standard, "a new object");
            let Some(class) = other_class(&classes) else {
                expect_unsupported(
                    s.set_storage_class(&name, "c/one.txt", StorageClass::Archive)
                        .await,
                    "set_storage_class without storage classes",
                );
                return Ok(());
            };
            let moved = s.set_storage_class(&name, "c/one.txt", class).await?;
            assert_eq!(moved.storage_class, class, "set_storage_class's answer");
            assert_eq!(moved.key, "c/one.txt");
            let head = s
                .head_object(&name, "c/one.txt")
                .await?
                .expect("still there");
            assert_eq!(head.storage_class, class, "head_object after the change");
            assert_eq!(head.etag, moved.etag, "the content is unchanged");
            let listed = s
                .list_objects(&name, "c/", &provisio::PageRequest::first())
                .await?;
            assert_eq!(listed.items.len(), 1);
            assert_eq!(listed.items[0].storage_class, class, "the listing's class");
            // idempotent: already in the class
            let again = s.set_storage_class(&name, "c/one.txt", class).await?;
            assert_eq!(again.storage_class, class, "set_storage_class again");
            expect_kind(
                s.set_storage_class(&name, "c/missing.txt", class).await,
                ErrorKind::NotFound,
                "set_storage_class of a missing object",
            );
            for c in StorageClass::ALL {
                if !classes.contains(&c) {
                    expect_unsupported(
                        s.set_storage_class(&name, "c/one.txt", c).await,
                        &format!("set_storage_class to {c}, not in storage_classes"),
                    );
                }
            }
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Polls `set_storage_class` to `class` until the restore it waits for is done.
async fn restore(
    s: &dyn ObjectStorage,
    bucket: &str,
    key: &str,
    class: StorageClass,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + RESTORE_DEADLINE;
    loop {
        match s.set_storage_class(bucket, key, class).await {
            Ok(meta) => {
                assert_eq!(meta.storage_class, class, "the restored object's class");
                return Ok(());
            }
            Err(e) if is_rehydration_pending(&e) => {
                assert!(e.retryable(), "a pending restore must be retryable: {e}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{key} was not restored within {RESTORE_DEADLINE:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// An object in an archive class cannot be read (`Conflict`) but can be listed and read
/// with `head_object`; moving it back waits for a restore (pending errors are retryable), and
/// then it reads as before.
pub async fn archive_read_refusal(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let Some(archive) = archive_class(&s.capabilities().storage_classes) else {
        return Ok(());
    };
    let name = bucket_name(ctx);
    guarded(
        async {
            bucket_with(s, &name, &["a/cold.txt"]).await?;
            s.set_storage_class(&name, "a/cold.txt", archive).await?;
            let err = expect_kind(
                s.get_object(&name, "a/cold.txt").await,
                ErrorKind::Conflict,
                "get_object of an archived object",
            );
            assert!(!err.retryable(), "an archived read is not retryable: {err}");
            let head = s.head_object(&name, "a/cold.txt").await?.expect("archived");
            assert_eq!(head.storage_class, archive);
            restore(s, &name, "a/cold.txt", StorageClass::Standard).await?;
            let (body, meta) = s.get_object(&name, "a/cold.txt").await?;
            assert_eq!(&body[..], b"body of a/cold.txt", "restored content");
            assert_eq!(meta.storage_class, StorageClass::Standard);
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// `set_prefix_storage_class` changes only what is not in the class yet and leaves other
/// prefixes alone; a second call changes nothing.
pub async fn prefix_class_change(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let Some(class) = other_class(&s.capabilities().storage_classes) else {
        return Ok(());
    };
    let name = bucket_name(ctx);
    guarded(
        async {
            bucket_with(s, &name, &["t/acme/1", "t/acme/2", "t/acme/3", "t/acme2/x"]).await?;
            s.set_storage_class(&name, "t/acme/1", class).await?;
            let c = s.set_prefix_storage_class(&name, "t/acme/", class).await?;
            assert_eq!(
                (c.changed, c.unchanged, c.pending),
                (2, 1, 0),
                "the first prefix change"
            );
            let c = s.set_prefix_storage_class(&name, "t/acme/", class).await?;
            assert_eq!((c.changed, c.unchanged, c.pending), (0, 3, 0), "again");
            let other = s.head_object(&name, "t/acme2/x").await?.expect("there");
            assert_eq!(
                other.storage_class,
                StorageClass::Standard,
                "a neighbouring prefix is left alone"
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}

/// Expiry rules are ensured idempotently beside the bucket's other rules (its archive rule,
/// another prefix's rule), read back, and deleted (a second delete is `AlreadyGone`).
pub async fn expiry_rules(s: &dyn ObjectStorage, ctx: &StorageContext) -> Result<()> {
    let caps = s.capabilities();
    let name = bucket_name(ctx);
    guarded(
        async {
            let mut spec = BucketSpec::new(&name);
            if caps.archive_lifecycle {
                spec.archive_after_days = Some(60);
            }
            s.ensure_bucket(&spec).await?;
            if !caps.expiry_rules {
                expect_unsupported(
                    s.ensure_expiry_rule(&name, "t/acme/", 30).await,
                    "ensure_expiry_rule",
                );
                return Ok(());
            }
            let made = s.ensure_expiry_rule(&name, "t/acme/", 30).await?;
            assert_eq!(made.outcome, Outcome::Created, "a new expiry rule");
            assert_eq!(made.value.days, 30);
            assert_eq!(made.value.id, provisio::storage::expiry_rule_id("t/acme/"));
            let again = s.ensure_expiry_rule(&name, "t/acme/", 30).await?;
            assert_eq!(again.outcome, Outcome::Unchanged, "the same rule again");
            s.ensure_expiry_rule(&name, "t/globex/", 7).await?;
            let changed = s.ensure_expiry_rule(&name, "t/acme/", 45).await?;
            assert_eq!(changed.outcome, Outcome::Updated, "other days");
            let read = s
                .get_expiry_rule(&name, "t/acme/")
                .await?
                .expect("the rule");
            assert_eq!((read.prefix.as_str(), read.days), ("t/acme/", 45));
            let bucket = s.get_bucket(&name).await?.expect("the bucket");
            assert_eq!(
                bucket.archive_after_days, spec.archive_after_days,
                "the bucket's archive rule is kept beside the expiry rules"
            );
            assert_eq!(
                s.delete_expiry_rule(&name, "t/acme/").await?,
                Deleted::Deleted
            );
            assert_eq!(
                s.delete_expiry_rule(&name, "t/acme/").await?,
                Deleted::AlreadyGone
            );
            assert_eq!(s.get_expiry_rule(&name, "t/acme/").await?, None);
            let other = s.get_expiry_rule(&name, "t/globex/").await?;
            assert_eq!(
                other.map(|r| r.days),
                Some(7),
                "another prefix's rule stays"
            );
            expect_kind(
                s.ensure_expiry_rule(&name, "t/acme/", 0).await,
                ErrorKind::InvalidInput,
                "an expiry rule of 0 days",
            );
            Ok(())
        },
        remove_bucket(s, &name),
    )
    .await
}
