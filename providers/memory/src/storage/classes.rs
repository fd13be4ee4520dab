//! Storage classes, restores and expiry rules of [`MemoryStorage`], with S3's semantics.

use super::{BucketState, MemoryStorage, Object, State, bucket_name, no_bucket};
use crate::faults::Change;
use provisio::storage::{ExpiryRule, ObjectMeta, StorageClass, expiry_rule_id};
use provisio::{Deleted, Ensured, Error, Result, validate};
use std::time::Duration;
use tokio::time::Instant;

/// How long a restore from an archive class takes unless
/// [`MemoryStorage::set_rehydrate_time`] says otherwise (S3 takes hours; tests want
/// milliseconds).
pub const DEFAULT_REHYDRATE_TIME: Duration = Duration::from_millis(20);

/// The most lifecycle rules one bucket holds (S3's limit).
pub const MAX_EXPIRY_RULES: usize = 1000;

const DAY: Duration = Duration::from_secs(86_400);

impl Object {
    /// Whether it can be read now: a readable class, or an archived object whose restore is
    /// done (S3 serves the restored copy).
    pub(super) fn readable(&self, now: Instant) -> bool {
        self.meta.storage_class.is_readable() || self.restore_ready.is_some_and(|t| now >= t)
    }
}

impl State {
    /// Removes every object whose expiry rule has run out.
    pub(super) fn expire(&mut self) {
        let now = self.clock;
        for b in self.buckets.values_mut() {
            if b.expiry.is_empty() {
                continue;
            }
            let rules = &b.expiry;
            b.objects.retain(|key, o| {
                !rules.iter().any(|(prefix, days)| {
                    key.starts_with(prefix.as_str()) && now >= o.written_at + DAY * *days
                })
            });
        }
    }
}

/// The answer of a class change: the object's metadata, and whether anything changed.
pub(super) struct ClassSet {
    meta: ObjectMeta,
    changed: bool,
}

impl Change for ClassSet {
    type Out = ObjectMeta;
    fn changed(&self) -> bool {
        self.changed
    }
    fn into_out(self) -> ObjectMeta {
        self.meta
    }
}

fn bucket_mut<'a>(s: &'a mut State, bucket: &str) -> Result<&'a mut BucketState> {
    s.buckets.get_mut(bucket).ok_or_else(|| no_bucket(bucket))
}

impl MemoryStorage {
    /// Sets how long restores asked for from now on take.
    pub fn set_rehydrate_time(&self, d: Duration) {
        self.lock().rehydrate = d;
    }

    /// Moves the day clock `d` forward at once and applies the expiry rules, and shortens
    /// every running restore by `d`, deterministically, without waiting: how a test passes
    /// the 30 days of a retired tenant's archive.
    pub fn advance_clock(&self, d: Duration) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.clock += d;
        let now = Instant::now();
        for b in s.buckets.values_mut() {
            for o in b.objects.values_mut() {
                if let Some(t) = &mut o.restore_ready {
                    *t = t.checked_sub(d).unwrap_or(now).min(*t);
                }
            }
        }
        s.expire();
    }

    /// The day clock: how much time [`MemoryStorage::advance_clock`] has passed.
    pub fn clock(&self) -> Duration {
        self.lock().clock
    }

    /// [`provisio::ObjectStorage::set_storage_class`] as S3 does it: the same class is a
    /// read; an object in an archive class gets a restore started (pending until it is
    /// done); a readable (or restored) object is rewritten in place with the new class, so it
    /// counts as written now for expiry rules.
    pub(super) fn change_class(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
    ) -> Result<ClassSet> {
        let bucket = bucket_name(bucket)?;
        let key = validate::object_key("object key", key)?;
        let mut s = self.lock();
        let (now, today) = (Instant::now(), s.clock);
        let rehydrate = s.rehydrate;
        let b = bucket_mut(&mut s, &bucket)?;
        let o = b.objects.get_mut(&key).ok_or_else(|| {
            Error::not_found(format!(
                "object {key} does not exist in {bucket} (NoSuchKey)"
            ))
        })?;
        if o.meta.storage_class == class {
            return Ok(ClassSet {
                meta: o.meta.clone(),
                changed: false,
            });
        }
        if !o.meta.storage_class.is_readable() {
            match o.restore_ready {
                // RestoreObject: the restore starts; the copy waits for it
                None => {
                    o.restore_ready = Some(now + rehydrate);
                    return Err(provisio::storage::rehydration_pending(&bucket, &key, class));
                }
                Some(t) if now < t => {
                    return Err(provisio::storage::rehydration_pending(&bucket, &key, class));
                }
                Some(_) => {}
            }
        }
        // the copy in place: a new object of the same content, in the new class
        o.meta.storage_class = class;
        o.written_at = today;
        o.restore_ready = None;
        Ok(ClassSet {
            meta: o.meta.clone(),
            changed: true,
        })
    }

    pub(super) fn put_expiry(
        &self,
        bucket: &str,
        prefix: &str,
        days: u32,
    ) -> Result<Ensured<ExpiryRule>> {
        let bucket = bucket_name(bucket)?;
        provisio::storage::check_expiry(prefix, days)?;
        let mut s = self.lock();
        let b = bucket_mut(&mut s, &bucket)?;
        let rule = ExpiryRule {
            id: expiry_rule_id(prefix),
            prefix: prefix.to_string(),
            days,
        };
        let out = match b.expiry.get(prefix) {
            Some(d) if *d == days => return Ok(Ensured::unchanged(rule)),
            Some(_) => Ensured::updated(rule),
            None if b.expiry.len() + usize::from(b.bucket.archive_after_days.is_some())
                >= MAX_EXPIRY_RULES =>
            {
                return Err(Error::invalid_field(
                    "prefix",
                    format!("bucket {bucket} already has {MAX_EXPIRY_RULES} lifecycle rules"),
                ));
            }
            None => Ensured::created(rule),
        };
        b.expiry.insert(prefix.to_string(), days);
        // a rule that has already run out takes effect at once
        s.expire();
        Ok(out)
    }

    pub(super) fn read_expiry(&self, bucket: &str, prefix: &str) -> Result<Option<ExpiryRule>> {
        let bucket = bucket_name(bucket)?;
        let mut s = self.lock();
        let b = bucket_mut(&mut s, &bucket)?;
        Ok(b.expiry.get(prefix).map(|days| ExpiryRule {
            id: expiry_rule_id(prefix),
            prefix: prefix.to_string(),
            days: *days,
        }))
    }

    /// Removes the rule; a missing bucket has no rules left: `AlreadyGone`.
    pub(super) fn remove_expiry(&self, bucket: &str, prefix: &str) -> Result<Deleted> {
        let bucket = bucket_name(bucket)?;
        let mut s = self.lock();
        Ok(
            match s
                .buckets
                .get_mut(&bucket)
                .and_then(|b| b.expiry.remove(prefix))
            {
                Some(_) => Deleted::Deleted,
                None => Deleted::AlreadyGone,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::MemoryStorage;
    use provisio::storage::{BucketSpec, StorageClass, is_rehydration_pending};
    use provisio::{Deleted, ErrorKind, ObjectStorage, Outcome};
    use std::time::Duration;

    async fn with_object() -> MemoryStorage {
        let s3 = MemoryStorage::new();
        s3.set_rehydrate_time(Duration::from_secs(3600));
        s3.ensure_bucket(&BucketSpec::new("arch-bucket"))
            .await
            .unwrap();
        for k in ["t/acme/a", "t/acme/b", "t/other/c"] {
            s3.put_object("arch-bucket", k, "x".into(), None)
                .await
                .unwrap();
        }
        s3
    }

    #[tokio::test]
    async fn archive_refuses_reads_and_restore_waits() {
        let s3 = with_object().await;
        let m = s3
            .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Archive)
            .await
            .unwrap();
        assert_eq!(m.storage_class, StorageClass::Archive);
        let e = s3.get_object("arch-bucket", "t/acme/a").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        assert!(e.message().contains("InvalidObjectState"), "{e}");
        // the same class again: nothing changes
        let calls = s3.faults().mutations("storage.set_storage_class");
        s3.set_storage_class("arch-bucket", "t/acme/a", StorageClass::Archive)
            .await
            .unwrap();
        assert_eq!(s3.faults().mutations("storage.set_storage_class"), calls);
        // back: a restore starts, and stays pending until the clock passes it
        for _ in 0..2 {
            let e = s3
                .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Standard)
                .await
                .unwrap_err();
            assert!(is_rehydration_pending(&e), "{e}");
            assert!(e.retryable());
        }
        assert_eq!(
            s3.inventory()
                .get("storage.object", "arch-bucket/t/acme/a")
                .unwrap()["restore"],
            "ongoing"
        );
        s3.advance_clock(Duration::from_secs(3600));
        // the restored copy can be read while the object is still archived
        assert!(s3.get_object("arch-bucket", "t/acme/a").await.is_ok());
        let m = s3
            .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Standard)
            .await
            .unwrap();
        assert_eq!(m.storage_class, StorageClass::Standard);
        let inv = s3.inventory();
        let o = inv.get("storage.object", "arch-bucket/t/acme/a").unwrap();
        assert_eq!(o["storage_class"], "standard");
        assert!(o["restore"].is_null());
        assert_eq!(
            s3.set_storage_class("arch-bucket", "t/acme/none", StorageClass::Archive)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
    }

    #[tokio::test]
    async fn prefix_changes_count_what_they_did() {
        let s3 = with_object().await;
        let c = s3
            .set_prefix_storage_class("arch-bucket", "t/acme/", StorageClass::DeepArchive)
            .await
            .unwrap();
        assert_eq!((c.changed, c.unchanged, c.pending), (2, 0, 0));
        let c = s3
            .set_prefix_storage_class("arch-bucket", "t/acme/", StorageClass::DeepArchive)
            .await
            .unwrap();
        assert_eq!((c.changed, c.unchanged, c.pending), (0, 2, 0));
        let c = s3
            .set_prefix_storage_class("arch-bucket", "t/acme/", StorageClass::Standard)
            .await
            .unwrap();
        assert_eq!((c.changed, c.unchanged, c.pending), (0, 0, 2));
        s3.advance_clock(Duration::from_secs(3600));
        let c = s3
            .set_prefix_storage_class("arch-bucket", "t/acme/", StorageClass::Standard)
            .await
            .unwrap();
        assert_eq!((c.changed, c.unchanged, c.pending), (2, 0, 0));
        assert_eq!(c.objects(), 2);
    }

    #[tokio::test]
    async fn expiry_rules_delete_objects_once_their_days_pass() {
        let s3 = with_object().await;
        let r = s3
            .ensure_expiry_rule("arch-bucket", "t/acme/", 30)
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Created);
        assert_eq!(r.value.id, provisio::storage::expiry_rule_id("t/acme/"));
        assert_eq!(
            s3.ensure_expiry_rule("arch-bucket", "t/acme/", 30)
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            s3.inventory().get("storage.bucket", "arch-bucket").unwrap()["expiry_rules"]["t/acme/"],
            30
        );
        s3.advance_clock(Duration::from_secs(29 * 86_400));
        assert_eq!(s3.inventory().count("storage.object"), 3);
        s3.advance_clock(Duration::from_secs(86_400));
        let inv = s3.inventory();
        assert_eq!(inv.count("storage.object"), 1, "{inv:?}");
        assert!(inv.get("storage.object", "arch-bucket/t/other/c").is_some());
        assert_eq!(
            s3.get_expiry_rule("arch-bucket", "t/acme/")
                .await
                .unwrap()
                .unwrap()
                .days,
            30
        );
        assert_eq!(
            s3.delete_expiry_rule("arch-bucket", "t/acme/")
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            s3.delete_expiry_rule("arch-bucket", "t/acme/")
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            s3.delete_expiry_rule("gone-bucket", "t/acme/")
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
        let e = s3
            .ensure_expiry_rule("arch-bucket", "t/", 0)
            .await
            .unwrap_err();
        assert!(e.message().contains("invalid days"), "{e}");
    }

    /// A class change whose answer is lost is done: sent again, it finds the object in the
    /// class; the retry layer does not resend a pending restore (the caller polls).
    #[tokio::test]
    async fn faults_and_layers_around_class_changes() {
        use provisio::layer::{Retry, RetryPolicy, Stack};
        let s3 = with_object().await;
        let faults = s3.faults().clone();
        faults.error_after_effect("storage.set_storage_class", 1, ErrorKind::Transient);
        faults.error_on_call("storage.ensure_expiry_rule", 1, ErrorKind::Transient);
        let e = s3
            .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Archive)
            .await
            .unwrap_err();
        assert!(e.retryable());
        let m = s3
            .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Archive)
            .await
            .unwrap();
        assert_eq!(m.storage_class, StorageClass::Archive);
        assert_eq!(faults.mutations("storage.set_storage_class"), 1);
        assert!(
            s3.ensure_expiry_rule("arch-bucket", "t/", 1)
                .await
                .unwrap_err()
                .retryable()
        );
        assert_eq!(
            s3.get_expiry_rule("arch-bucket", "t/").await.unwrap(),
            None,
            "an injected failure before the effect changes nothing"
        );

        let s3 = std::sync::Arc::new(s3);
        let layered = Stack::new()
            .with(Retry::new(RetryPolicy {
                initial_backoff_ms: 1,
                ..RetryPolicy::default()
            }))
            .storage(s3.clone());
        let before = faults.calls("storage.set_storage_class");
        let e = layered
            .set_storage_class("arch-bucket", "t/acme/a", StorageClass::Standard)
            .await
            .unwrap_err();
        assert!(is_rehydration_pending(&e), "{e}");
        assert_eq!(
            faults.calls("storage.set_storage_class"),
            before + 1,
            "a pending restore is not resent by the retry layer"
        );
    }

    #[tokio::test]
    async fn classes_rules_and_clock_survive_a_snapshot() {
        let cloud = crate::MemoryCloud::new(3);
        cloud
            .storage
            .ensure_bucket(&BucketSpec::new("snap-bucket"))
            .await
            .unwrap();
        cloud
            .storage
            .put_object("snap-bucket", "p/a", "x".into(), None)
            .await
            .unwrap();
        cloud
            .storage
            .set_storage_class("snap-bucket", "p/a", StorageClass::Archive)
            .await
            .unwrap();
        cloud
            .storage
            .ensure_expiry_rule("snap-bucket", "p/", 7)
            .await
            .unwrap();
        cloud.storage.advance_clock(Duration::from_secs(86_400));
        let json = cloud.snapshot().to_json().unwrap();
        let back =
            crate::MemoryCloud::from_snapshot(3, crate::MemorySnapshot::from_json(&json).unwrap())
                .unwrap();
        assert_eq!(back.inventory(), cloud.inventory());
        assert!(back.storage.clock() >= Duration::from_secs(86_400));
        back.storage.advance_clock(Duration::from_secs(6 * 86_400));
        assert_eq!(back.inventory().count("storage.object"), 0);
    }
}
