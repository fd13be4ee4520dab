//! `storage.prefix` in a run: a restore from the archive class is waited for by the engine's
//! polling (paused time, so the waits cost nothing), and one that never finishes ends at the
//! resource's deadline.

use provisio::storage::{BucketSpec, StorageClass};
use provisio::{ErrorKind, ObjectStorage};
use provisio_engine::events::{EventKind, VecSink};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Providers, Tenant, types};
use provisio_memory::MemoryCloud;
use std::sync::Arc;
use std::time::Duration;

const RESTORE: &str = r#"
name: restore-tenant
resources:
  files:
    type: storage.prefix
    params:
      bucket: shared-assets
      prefix: "tenants/${tenant.name}/"
      storage_class: standard
      poll_interval_secs: 5
      wait_timeout_secs: 600
"#;

async fn archived_tenant() -> MemoryCloud {
    let cloud = MemoryCloud::new(1);
    let s3 = &cloud.storage;
    s3.ensure_bucket(&BucketSpec::new("shared-assets"))
        .await
        .unwrap();
    for k in ["tenants/acme/a", "tenants/acme/b"] {
        s3.put_object("shared-assets", k, "x".into(), None)
            .await
            .unwrap();
    }
    s3.set_prefix_storage_class("shared-assets", "tenants/acme/", StorageClass::Archive)
        .await
        .unwrap();
    cloud
}

fn engine(cloud: &MemoryCloud, sink: Arc<VecSink>) -> Engine {
    Engine::builder()
        .providers(Providers::new().with_storage("default", cloud.storage.clone()))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .events(sink)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_restore_is_waited_for_then_the_objects_move() {
    let cloud = archived_tenant().await;
    cloud.storage.set_rehydrate_time(Duration::from_secs(12));
    let sink = Arc::new(VecSink::new());
    let bp = Blueprint::from_yaml(RESTORE).unwrap();
    let r = engine(&cloud, sink.clone())
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    let out = &r.step("files").unwrap().outputs;
    assert_eq!(out["storage_class"], "standard");
    assert_eq!(out["objects"], 2);
    let inv = cloud.storage.inventory();
    for k in ["tenants/acme/a", "tenants/acme/b"] {
        assert_eq!(
            inv.get("storage.object", &format!("shared-assets/{k}"))
                .unwrap()["storage_class"],
            "standard"
        );
    }
    let retries: Vec<String> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StepRetrying { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(!retries.is_empty(), "the step waited for the restores");
    assert!(
        retries[0].contains("2 of 2 objects") && retries[0].contains("being restored"),
        "{retries:?}"
    );
    // every attempt sent one class change per object still archived (none for moved ones)
    let moved = cloud
        .faults
        .call_log()
        .into_iter()
        .filter(|c| c.operation == "storage.set_storage_class")
        .count();
    assert!(moved >= 4 && moved % 2 == 0, "{moved} class changes");
}

#[tokio::test(start_paused = true)]
async fn a_restore_that_never_finishes_ends_at_the_deadline() {
    let cloud = archived_tenant().await;
    cloud
        .storage
        .set_rehydrate_time(Duration::from_secs(86_400));
    let sink = Arc::new(VecSink::new());
    let bp = Blueprint::from_yaml(&RESTORE.replace("600", "60")).unwrap();
    let r = engine(&cloud, sink)
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    let (resource, err) = &r.errors[0];
    assert_eq!(resource, "files");
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("being restored"), "{err}");
    // nothing was lost: the objects are still there, archived
    assert_eq!(cloud.storage.inventory().count("storage.object"), 2);
}
