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
