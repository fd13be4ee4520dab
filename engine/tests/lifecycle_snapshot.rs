//! A tenant's managed database server through its lifecycle on the memory providers: archive
//! takes an RDS-style snapshot, then deletes the server; restore brings the server back from
//! that snapshot. Checked on the provider's inventory (not provisio's state) after each step.

use provisio::ErrorKind;
use provisio_engine::events::{EventKind, VecSink};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Action, ApplyOptions, Blueprint, Engine, Phase, PlanOptions, Providers, StateStore, Tenant,
    Transition, types,
};
use provisio_memory::MemoryCloud;
use serde_json::Value;
use std::sync::Arc;

/// The example of docs/lifecycle.md ("Managed database servers: RDS snapshots"), with the
/// snapshot kept after a restore (`keep_on_delete: true`, the case its guard is for); the
/// document's own example deletes it ([`world_deleting_snapshots`]).
const SHOP: &str = r#"
name: shop
resources:
  db_admin_password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-admin", generate: { length: 24 } }
  db_server:
    type: database.server
    params:
      name: "${tenant.name}-db"
      version: "16"
      size: db.t3.micro
      storage_gb: 20
      admin_user: provisio_admin
      admin_password_secret: "${db_admin_password.name}"
      deletion_protection: false
      skip_final_snapshot: true
      restore_from_snapshot: "${db_snapshot.snapshot}"
    phases: { archived: absent }
  db_snapshot:
    type: database.snapshot
    only_in: [archived, retired]
    params: { server: "${tenant.name}-db", name: "${tenant.name}-db-archive", keep_on_delete: true }
"#;

struct World {
    cloud: MemoryCloud,
    store: Arc<MemoryStateStore>,
    sink: Arc<VecSink>,
    engine: Engine,
    bp: Blueprint,
}

fn world() -> World {
    world_of(SHOP)
}

/// The document's example as written: the restore deletes the snapshot.
fn world_deleting_snapshots() -> World {
    world_of(&SHOP.replace("keep_on_delete: true", "keep_on_delete: false"))
}

fn world_of(blueprint: &str) -> World {
    let cloud = MemoryCloud::new(5);
    let store = Arc::new(MemoryStateStore::new());
    let sink = Arc::new(VecSink::new());
    let providers = Providers::new()
        .with_secrets("default", cloud.secrets.clone())
        .with_database("default", cloud.database.clone());
    let engine = Engine::builder()
        .providers(providers)
        .registry(types::builtin())
        .state(store.clone())
        .events(sink.clone())
        .build()
        .unwrap();
    World {
        cloud,
        store,
        sink,
        engine,
        bp: Blueprint::from_yaml(blueprint).unwrap(),
    }
}

impl World {
    /// The server as the provider holds it.
    fn server(&self) -> Option<Value> {
        self.cloud
            .database
            .inventory()
            .get("database.server", "acme-db")
            .cloned()
    }
    /// The snapshots as the provider holds them.
    fn snapshots(&self) -> Vec<String> {
        self.cloud.database.snapshots()
    }
    async fn run(&self, t: Transition) -> provisio_engine::RunReport {
        let r = self
            .engine
            .transition(&self.bp, &Tenant::new("acme"), t, ApplyOptions::default())
            .await
            .unwrap();
        assert!(r.is_success(), "{t}: {:?}", r.errors);
        r
    }
    async fn phase(&self) -> Option<Phase> {
        self.engine.phase("acme").await.unwrap().map(|p| p.phase)
    }
    async fn records(&self) -> Vec<String> {
        self.store
            .list_resources("acme")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect()
    }
}

#[tokio::test(start_paused = true)]
async fn archive_snapshots_the_server_and_restore_brings_it_back() {
    let w = world();
    let acme = Tenant::new("acme");

    // launch: the snapshot was never taken, so the reference is null and the server is new
    let plan = w
        .engine
        .plan(&w.bp, &acme, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.get("db_server").unwrap().action, Action::Create);
    assert!(plan.get("db_snapshot").is_none(), "only_in: not launched");
    w.engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let server = w.server().expect("the server after launch");
    assert_eq!(server["restored_from"], Value::Null, "created empty");
    assert!(w.snapshots().is_empty());
    let recorded = w
        .store
        .list_resources("acme")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "db_server")
        .unwrap();
    assert_eq!(recorded.params["restore_from_snapshot"], Value::Null);

    // archive: previewed, then the snapshot is taken before the server goes
    let plan = w
        .engine
        .plan_transition(&w.bp, &acme, Transition::Archive, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.get("db_snapshot").unwrap().action, Action::Create);
    assert_eq!(plan.get("db_server").unwrap().action, Action::Delete);

    // a snapshot that cannot be taken deletes nothing
    w.cloud
        .faults
        .error_rate("database.ensure_snapshot", 1.0, ErrorKind::PermissionDenied);
    let r = w
        .engine
        .transition(&w.bp, &acme, Transition::Archive, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    assert!(w.server().is_some(), "the server outlives a failed archive");
    assert!(w.snapshots().is_empty());
    w.cloud.faults.clear();

    w.sink.take();
    w.run(Transition::Archive).await;
    assert_eq!(w.phase().await, Some(Phase::Archived));
    assert!(w.server().is_none(), "deleted on archive");
    assert_eq!(
        w.snapshots(),
        ["acme-db-archive"],
        "no final snapshot: skipped"
    );
    let snap = w.cloud.database.retired();
    let snap = snap.get("database.snapshot", "acme-db-archive").unwrap();
    assert_eq!(snap["server"], "acme-db");
    assert_eq!(snap["status"], "available");
    assert_eq!(snap["tags"]["provisio:tenant"], "acme");
    let outputs = w.engine.outputs("acme").await.unwrap();
    assert_eq!(outputs["db_snapshot"]["snapshot"], "acme-db-archive");
    // the snapshot was available before the server's delete started
    let events = w.sink.events();
    let pos = |f: &dyn Fn(&EventKind) -> bool| events.iter().position(|e| f(&e.kind)).unwrap();
    let taken = pos(
        &|k| matches!(k, EventKind::StepSucceeded { resource, .. } if resource == "db_snapshot"),
    );
    let deleting = pos(&|k| {
        matches!(
            k,
            EventKind::StepStarted { resource, action: Action::Delete, .. } if resource == "db_server"
        )
    });
    assert!(taken < deleting, "{events:?}");
    // the same command again changes nothing (and takes no second snapshot)
    let again = w.run(Transition::Archive).await;
    let s = &again.summary;
    assert_eq!((s.created, s.updated, s.deleted), (0, 0, 0), "{s:?}");

    // restore: the server comes back from the snapshot; the snapshot is forgotten, not deleted
    let plan = w
        .engine
        .plan_transition(&w.bp, &acme, Transition::Restore, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(plan.get("db_server").unwrap().action, Action::Create);
    assert_eq!(plan.get("db_snapshot").unwrap().action, Action::Delete);
    w.run(Transition::Restore).await;
    assert_eq!(w.phase().await, Some(Phase::Launched));
    let server = w.server().expect("the server after restore");
    assert_eq!(server["restored_from"], "acme-db-archive");
    assert_eq!(w.snapshots(), ["acme-db-archive"], "keep_on_delete");
    assert_eq!(w.records().await, ["db_admin_password", "db_server"]);
    let outputs = w.engine.outputs("acme").await.unwrap();
    assert_eq!(outputs["db_server"]["status"], "available");

    // check: an apply of the restored tenant finds everything in place
    let plan = w
        .engine
        .plan(&w.bp, &acme, &PlanOptions::default())
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan}");
    let r = w
        .engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let s = &r.summary;
    assert_eq!((s.created, s.updated, s.deleted), (0, 0, 0), "{s:?}");

    // retire takes a snapshot too (db_snapshot exists in `retired`), but the one kept from
    // the archive holds the server as it was then: it is refused, and nothing is deleted
    let r = w
        .engine
        .transition(&w.bp, &acme, Transition::Retire, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    let (resource, e) = r.errors.first().expect("the refusal");
    assert_eq!(resource, "db_snapshot");
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("earlier archive"), "{e}");
    assert!(
        w.server().is_some(),
        "the server outlives the refused retire"
    );
    // running it again is refused again: the old snapshot was not recorded as taken
    let r = w
        .engine
        .transition(&w.bp, &acme, Transition::Retire, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    assert!(
        w.server().is_some(),
        "the server outlives the second refused retire"
    );
    // the operator deletes the old snapshot (the server holds everything in it); the same
    // command then finishes: a fresh snapshot, then the server goes
    use provisio::Database as _;
    w.cloud
        .database
        .delete_snapshot("acme-db-archive")
        .await
        .unwrap();
    w.run(Transition::Retire).await;
    assert_eq!(w.phase().await, Some(Phase::Retired));
    assert!(w.server().is_none());
    assert_eq!(w.snapshots(), ["acme-db-archive"]);
    assert_eq!(w.records().await, ["db_snapshot"]);
    assert_eq!(w.cloud.faults.mutations("database.ensure_snapshot"), 2);
}

#[tokio::test(start_paused = true)]
async fn a_restore_whose_snapshot_is_gone_fails_naming_it() {
    let w = world();
    let acme = Tenant::new("acme");
    w.engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    w.run(Transition::Archive).await;
    use provisio::Database as _;
    w.cloud
        .database
        .delete_snapshot("acme-db-archive")
        .await
        .unwrap();
    let r = w
        .engine
        .transition(&w.bp, &acme, Transition::Restore, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    let (resource, e) = r.errors.first().expect("the failed step's error");
    assert_eq!(resource, "db_server");
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("acme-db-archive"), "{e}");
    assert!(w.server().is_none(), "no empty server in its place");
    assert_eq!(
        w.engine.phase("acme").await.unwrap().unwrap().transition,
        Some(Transition::Restore)
    );
}

#[tokio::test(start_paused = true)]
async fn with_the_snapshot_deleted_at_restore_archive_restore_and_archive_again_need_no_hand_work()
{
    let w = world_deleting_snapshots();
    let acme = Tenant::new("acme");
    w.engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    w.run(Transition::Archive).await;
    assert!(w.server().is_none(), "archived: the server is gone");
    assert_eq!(w.snapshots(), ["acme-db-archive"]);
    w.run(Transition::Restore).await;
    let server = w.server().expect("restored");
    assert_eq!(server["restored_from"], "acme-db-archive");
    assert!(
        w.snapshots().is_empty(),
        "the restore deleted the snapshot once the server was back"
    );
    // the second archive takes a fresh snapshot of the restored server, then deletes it
    w.run(Transition::Archive).await;
    assert!(w.server().is_none());
    assert_eq!(w.snapshots(), ["acme-db-archive"]);
    assert_eq!(w.phase().await, Some(Phase::Archived));
    w.run(Transition::Restore).await;
    assert_eq!(
        w.server().expect("restored again")["restored_from"],
        "acme-db-archive"
    );
    assert!(w.snapshots().is_empty());
    assert_eq!(w.phase().await, Some(Phase::Launched));
    // retire from launched takes the snapshot first and keeps it (it exists in `retired`)
    w.run(Transition::Retire).await;
    assert!(w.server().is_none());
    assert_eq!(w.snapshots(), ["acme-db-archive"]);
}
