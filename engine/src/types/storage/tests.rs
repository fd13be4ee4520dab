//! Tests of the `storage.bucket` and `storage.objects` resource types.

use super::objects::ObjectsParams;
use super::*;
use crate::resource::{ResourceType, StepContext};
use crate::types::params::{Phase, TypedParams};
use crate::types::testing::{Harness, lifecycle, rejects};
use provisio::storage::BucketSpec;
use provisio::{Bytes, Deleted, ErrorKind, ObjectStorage, Outcome};
use serde_json::{Value, json};

#[test]
fn validates_bucket_params() {
    let t = StorageBucket;
    t.validate(&json!({"name": "acme-assets"})).unwrap();
    t.validate(&json!({"name": "${tenant.name}-assets", "versioning": "${tenant.v}"}))
        .unwrap();
    rejects(t.validate(&json!({})), "name");
    rejects(t.validate(&json!({"name": "Acme_Assets"})), "name");
    rejects(
        t.validate(&json!({"name": "acme", "versioning": 3})),
        "versioning",
    );
    rejects(
        t.validate(&json!({"name": "acme", "archive_after_days": 0})),
        "archive_after_days",
    );
    rejects(
        t.validate(&json!({"name": "acme", "colour": "red"})),
        "colour",
    );
}

#[test]
fn validates_objects_params() {
    let t = StorageObjects;
    t.validate(&json!({"bucket": "shared", "prefix": "tenants/acme/", "files": {"a.txt": "x"}}))
        .unwrap();
    t.validate(&json!({"bucket": "${assets.name}", "prefix": "", "copy_from": {"bucket": "tpl", "prefix": "v1/"}}))
            .unwrap();
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "p/"})),
        "files",
    );
    rejects(
        t.validate(
            &json!({"bucket": "shared", "prefix": "p/", "files": {"a": "x"},
                "copy_from": {"bucket": "tpl", "prefix": "v1/"}}),
        ),
        "files",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "p/", "copy_from": {"bucket": "tpl"}})),
        "copy_from.prefix",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "p/", "files": {"a": 1}})),
        "files.a",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "files": {"a": "x"}})),
        "prefix",
    );
    assert_eq!(
        ObjectsParams::parse(
            &json!({"bucket": "shared", "prefix": "acme", "files": {"a": "x"}}),
            Phase::Resolved
        )
        .unwrap()
        .prefix,
        "acme/"
    );
}

#[tokio::test]
async fn bucket_lifecycle() {
    let h = Harness::new();
    let ctx = h.ctx("assets", "tok-bucket");
    let params = json!({"name": "acme-assets", "versioning": true});
    let out = lifecycle(&StorageBucket, &ctx, &params).await;
    assert_eq!(out, json!({"name": "acme-assets"}));
}

#[tokio::test]
async fn bucket_carries_ownership_tags_and_refuses_foreign_buckets() {
    let h = Harness::new();
    let ctx = h.ctx("assets", "tok-bucket");
    let params = json!({"name": "acme-assets"});
    StorageBucket.apply(&ctx, &params, None).await.unwrap();
    let b = h
        .cloud
        .storage
        .get_bucket("acme-assets")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.tags["provisio:tenant"], "acme");
    assert_eq!(b.tags["provisio:resource"], "assets");

    let other = Harness::for_tenant("globex");
    let other_ctx = StepContext {
        providers: &h.providers,
        ..other.ctx("assets", "tok-bucket")
    };
    let e = StorageBucket
        .apply(&other_ctx, &params, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    let e = StorageBucket
        .delete(&other_ctx, &params, &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
}

#[tokio::test]
async fn objects_from_files_lifecycle() {
    let h = Harness::new();
    let ctx = h.ctx("prefix", "tok-objects");
    h.cloud
        .storage
        .ensure_bucket(&BucketSpec::new("shared-assets"))
        .await
        .unwrap();
    // A neighbour whose name starts like ours must survive our delete.
    h.cloud
        .storage
        .put_object(
            "shared-assets",
            "tenants/acme2/keep.txt",
            Bytes::from("x"),
            None,
        )
        .await
        .unwrap();
    let params = json!({"bucket": "shared-assets", "prefix": "tenants/acme",
            "files": {"README.txt": "hello acme", "conf/app.yml": "a: 1"}});
    let out = lifecycle(&StorageObjects, &ctx, &params).await;
    assert_eq!(
        out,
        json!({"bucket": "shared-assets", "prefix": "tenants/acme/", "count": 2})
    );
    assert!(
        h.cloud
            .storage
            .head_object("shared-assets", "tenants/acme2/keep.txt")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn objects_changed_file_is_updated() {
    let h = Harness::new();
    let ctx = h.ctx("prefix", "tok-objects");
    h.cloud
        .storage
        .ensure_bucket(&BucketSpec::new("shared-assets"))
        .await
        .unwrap();
    let p1 = json!({"bucket": "shared-assets", "prefix": "t/acme/", "files": {"a": "1", "b": "2"}});
    let p2 = json!({"bucket": "shared-assets", "prefix": "t/acme/", "files": {"a": "1", "b": "3"}});
    StorageObjects.apply(&ctx, &p1, None).await.unwrap();
    let r = StorageObjects.apply(&ctx, &p2, None).await.unwrap();
    assert_eq!(r.outcome, Outcome::Updated);
    let (body, _) = h
        .cloud
        .storage
        .get_object("shared-assets", "t/acme/b")
        .await
        .unwrap();
    assert_eq!(body.as_ref(), b"3");
}

#[tokio::test]
async fn objects_copied_from_template_lifecycle() {
    let h = Harness::new();
    let ctx = h.ctx("initial_assets", "tok-copy");
    for b in ["template-assets", "acme-assets"] {
        h.cloud
            .storage
            .ensure_bucket(&BucketSpec::new(b))
            .await
            .unwrap();
    }
    for (k, v) in [
        ("v3/logo.png", "png"),
        ("v3/css/site.css", "css"),
        ("v2/old", "old"),
    ] {
        h.cloud
            .storage
            .put_object("template-assets", k, Bytes::from(v), None)
            .await
            .unwrap();
    }
    let params = json!({"bucket": "acme-assets", "prefix": "static/",
            "copy_from": {"bucket": "template-assets", "prefix": "v3/"}});
    let out = lifecycle(&StorageObjects, &ctx, &params).await;
    assert_eq!(out["count"], 2);
    // Delete removed the copies, not the template.
    assert!(
        h.cloud
            .storage
            .head_object("template-assets", "v3/logo.png")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn objects_delete_when_bucket_is_gone() {
    let h = Harness::new();
    let ctx = h.ctx("prefix", "tok-objects");
    let params = json!({"bucket": "no-such-bucket", "prefix": "x/", "files": {"a": "1"}});
    assert_eq!(
        StorageObjects
            .delete(&ctx, &params, &Value::Null)
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
    assert_eq!(
        StorageObjects.read(&ctx, &params, None).await.unwrap(),
        None
    );
}

#[test]
fn validates_prefix_params() {
    let t = StoragePrefix;
    for ok in [
        json!({"bucket": "shared", "prefix": "tenants/acme/"}),
        json!({"bucket": "shared", "prefix": "tenants/${tenant.name}/", "storage_class": "GLACIER"}),
        json!({"bucket": "shared", "prefix": "t/", "storage_class": "deep_archive",
               "expire_after_days": "30", "wait_timeout_secs": 60, "poll_interval_secs": 1}),
        json!({"bucket": "${assets.name}", "prefix": "t/", "storage_class": "${tenant.class}"}),
    ] {
        t.validate(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    rejects(t.validate(&json!({"bucket": "shared"})), "prefix");
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": ""})),
        "prefix",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "tenants/acme"})),
        "prefix",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "t/", "storage_class": "frozen"})),
        "storage_class",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "t/", "expire_after_days": 0})),
        "expire_after_days",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "t/", "wait_timeout_secs": 0})),
        "wait_timeout_secs",
    );
    rejects(
        t.validate(&json!({"bucket": "shared", "prefix": "t/", "colour": "red"})),
        "colour",
    );
    let polling = t
        .polling(&json!({"bucket": "shared", "prefix": "t/", "wait_timeout_secs": 90}))
        .expect("a polling type");
    assert_eq!(polling.deadline, std::time::Duration::from_secs(90));
    assert_eq!(polling.retry.initial_backoff_ms, 60_000);
}

/// The requests one call sends to the storage provider.
async fn requests<T>(f: impl std::future::Future<Output = T>) -> (T, u64) {
    use provisio::requests::{RequestTally, counted};
    let tally = std::sync::Arc::new(RequestTally::default());
    let out = counted(tally.clone(), f).await;
    let n = tally.by_service().values().sum();
    (out, n)
}

fn class_of(h: &Harness, key: &str) -> String {
    h.cloud
        .storage
        .inventory()
        .get("storage.object", &format!("shared-assets/{key}"))
        .unwrap_or_else(|| panic!("{key} is gone"))["storage_class"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn tenant_files(h: &Harness) {
    h.cloud
        .storage
        .ensure_bucket(&BucketSpec::new("shared-assets"))
        .await
        .unwrap();
    for k in [
        "tenants/acme/a.txt",
        "tenants/acme/b.txt",
        "tenants/acme/c/d.txt",
        "tenants/acme2/keep.txt",
    ] {
        h.cloud
            .storage
            .put_object("shared-assets", k, Bytes::from(k.to_string()), None)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn prefix_archive_restore_and_retire() {
    let h = Harness::new();
    let ctx = h.ctx("assets_class", "tok-prefix");
    tenant_files(&h).await;
    let t = StoragePrefix;
    let archive = json!({"bucket": "shared-assets", "prefix": "tenants/acme/",
        "storage_class": "GLACIER", "poll_interval_secs": 1});

    // archive: one listing, one class change per object
    let (applied, n) = requests(t.apply(&ctx, &archive, None)).await;
    let applied = applied.unwrap();
    assert_eq!(applied.outcome, Outcome::Created);
    assert_eq!(
        applied.outputs,
        json!({"bucket": "shared-assets", "prefix": "tenants/acme/", "storage_class": "archive",
            "expire_after_days": null, "objects": 3, "changed": 3})
    );
    crate::types::testing::check_outputs(&t, &applied.outputs);
    assert_eq!(n, 1 + 3);
    assert_eq!(class_of(&h, "tenants/acme/c/d.txt"), "archive");
    assert_eq!(class_of(&h, "tenants/acme2/keep.txt"), "standard");
    let e = h
        .cloud
        .storage
        .get_object("shared-assets", "tenants/acme/a.txt")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);

    // again: only the listing
    let (again, n) = requests(t.apply(&ctx, &archive, Some(&applied.outputs))).await;
    let again = again.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(again.outputs["changed"], 0);
    assert_eq!(n, 1, "a second apply sends only the listing");

    // read: in the class; an object written since is drift
    let read = t
        .read(&ctx, &archive, Some(&applied.outputs))
        .await
        .unwrap();
    assert_eq!(read.unwrap()["storage_class"], "archive");
    h.cloud
        .storage
        .put_object(
            "shared-assets",
            "tenants/acme/new.txt",
            Bytes::from("n"),
            None,
        )
        .await
        .unwrap();
    let read = t
        .read(&ctx, &archive, Some(&applied.outputs))
        .await
        .unwrap();
    assert_eq!(read.unwrap()["storage_class"], "mixed");

    // restore: the first attempt starts the restores and waits (retryable)
    let restore = json!({"bucket": "shared-assets", "prefix": "tenants/acme/"});
    let e = t
        .apply(&ctx, &restore, Some(&applied.outputs))
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(e.message().contains("3 of 4 objects"), "{e}");
    assert_eq!(e.resource(), Some("assets_class"));
    h.cloud
        .storage
        .advance_clock(provisio_memory::storage::DEFAULT_REHYDRATE_TIME);
    let restored = t
        .apply(&ctx, &restore, Some(&applied.outputs))
        .await
        .unwrap();
    assert_eq!(restored.outcome, Outcome::Updated);
    assert_eq!(restored.outputs["changed"], 3);
    assert_eq!(restored.outputs["objects"], 4);
    assert_eq!(class_of(&h, "tenants/acme/a.txt"), "standard");

    // retire: archived and expiring in 30 days
    let retire = json!({"bucket": "shared-assets", "prefix": "tenants/acme/",
        "storage_class": "archive", "expire_after_days": 30});
    let retired = t
        .apply(&ctx, &retire, Some(&restored.outputs))
        .await
        .unwrap();
    assert_eq!(retired.outputs["expire_after_days"], 30);
    let (again, n) = requests(t.apply(&ctx, &retire, Some(&retired.outputs))).await;
    assert_eq!(again.unwrap().outcome, Outcome::Unchanged);
    assert_eq!(n, 2, "the listing and the expiry rule's read");
    let read = t.read(&ctx, &retire, Some(&retired.outputs)).await.unwrap();
    assert_eq!(read.unwrap()["expire_after_days"], 30);
    let inv = h.cloud.storage.inventory();
    assert_eq!(
        inv.get("storage.bucket", "shared-assets").unwrap()["expiry_rules"]["tenants/acme/"],
        30
    );

    // delete: the rule goes, the objects stay
    assert_eq!(
        t.delete(&ctx, &retire, &retired.outputs).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        t.delete(&ctx, &retire, &retired.outputs).await.unwrap(),
        Deleted::AlreadyGone
    );
    let inv = h.cloud.storage.inventory();
    assert_eq!(inv.count("storage.object"), 5);
    assert!(
        inv.get("storage.bucket", "shared-assets").unwrap()["expiry_rules"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // without a rule, delete sends nothing
    let (gone, n) = requests(t.delete(&ctx, &archive, &applied.outputs)).await;
    assert_eq!(gone.unwrap(), Deleted::AlreadyGone);
    assert_eq!(n, 0);
}

#[tokio::test]
async fn prefix_expiry_runs_out_and_a_missing_bucket_reads_as_gone() {
    let h = Harness::new();
    let ctx = h.ctx("assets_class", "tok-prefix");
    tenant_files(&h).await;
    let t = StoragePrefix;
    let retire = json!({"bucket": "shared-assets", "prefix": "tenants/acme/",
        "storage_class": "deep_archive", "expire_after_days": 7});
    t.apply(&ctx, &retire, None).await.unwrap();
    h.cloud
        .storage
        .advance_clock(std::time::Duration::from_secs(7 * 86_400));
    let inv = h.cloud.storage.inventory();
    assert_eq!(inv.count("storage.object"), 1, "only the neighbour is left");
    let missing = json!({"bucket": "no-such-bucket", "prefix": "t/"});
    assert_eq!(t.read(&ctx, &missing, None).await.unwrap(), None);
    let e = t.apply(&ctx, &missing, None).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
}

/// What the provider cannot do is refused when the run plans, naming the field.
#[tokio::test]
async fn prefix_check_refuses_what_the_provider_lacks() {
    use provisio::storage::{StorageCapabilities, StorageClass};
    /// Memory storage that reports Azure Blob's abilities.
    struct LikeAzure(provisio_memory::MemoryStorage);
    impl provisio::Provider for LikeAzure {
        fn info(&self) -> provisio::ProviderInfo {
            self.0.info()
        }
    }
    #[provisio::async_trait]
    impl ObjectStorage for LikeAzure {
        fn capabilities(&self) -> StorageCapabilities {
            StorageCapabilities {
                storage_classes: vec![StorageClass::Standard, StorageClass::Archive],
                expiry_rules: false,
                ..self.0.capabilities()
            }
        }
        async fn ensure_bucket(
            &self,
            spec: &BucketSpec,
        ) -> provisio::Result<provisio::Ensured<provisio::storage::Bucket>> {
            self.0.ensure_bucket(spec).await
        }
        async fn get_bucket(
            &self,
            name: &str,
        ) -> provisio::Result<Option<provisio::storage::Bucket>> {
            self.0.get_bucket(name).await
        }
        async fn delete_bucket(&self, name: &str) -> provisio::Result<Deleted> {
            self.0.delete_bucket(name).await
        }
        async fn put_object(
            &self,
            bucket: &str,
            key: &str,
            body: Bytes,
            content_type: Option<&str>,
        ) -> provisio::Result<provisio::storage::ObjectMeta> {
            self.0.put_object(bucket, key, body, content_type).await
        }
        async fn get_object(
            &self,
            bucket: &str,
            key: &str,
        ) -> provisio::Result<(Bytes, provisio::storage::ObjectMeta)> {
            self.0.get_object(bucket, key).await
        }
        async fn head_object(
            &self,
            bucket: &str,
            key: &str,
        ) -> provisio::Result<Option<provisio::storage::ObjectMeta>> {
            self.0.head_object(bucket, key).await
        }
        async fn list_objects(
            &self,
            bucket: &str,
            prefix: &str,
            page: &provisio::PageRequest,
        ) -> provisio::Result<provisio::Page<provisio::storage::ObjectMeta>> {
            self.0.list_objects(bucket, prefix, page).await
        }
        async fn delete_object(&self, bucket: &str, key: &str) -> provisio::Result<Deleted> {
            self.0.delete_object(bucket, key).await
        }
    }
    let h = Harness::new();
    let providers = crate::providers::Providers::new()
        .with_storage("azure", std::sync::Arc::new(LikeAzure(Default::default())));
    let ctx = StepContext {
        provider: "azure",
        providers: &providers,
        ..h.ctx("assets_class", "tok-prefix")
    };
    let t = StoragePrefix;
    t.check(
        &ctx,
        &json!({"bucket": "shared", "prefix": "t/", "storage_class": "Archive"}),
    )
    .unwrap();
    rejects(
        t.check(
            &ctx,
            &json!({"bucket": "shared", "prefix": "t/", "storage_class": "DEEP_ARCHIVE"}),
        ),
        "storage_class",
    );
    rejects(
        t.check(
            &ctx,
            &json!({"bucket": "shared", "prefix": "t/", "expire_after_days": 30}),
        ),
        "expire_after_days",
    );
    rejects(
        t.check(&ctx, &json!({"bucket": "Bad_Bucket", "prefix": "t/"})),
        "bucket",
    );
    // the memory provider has every class and expiry rules
    let ctx = h.ctx("assets_class", "tok-prefix");
    t.check(
        &ctx,
        &json!({"bucket": "shared", "prefix": "t/", "storage_class": "deep_archive", "expire_after_days": 30}),
    )
    .unwrap();
}
