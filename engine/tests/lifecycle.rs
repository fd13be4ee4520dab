//! Lifecycle transitions on the memory providers: launch → suspend → resume → archive →
//! restore → retire, checked on the providers' inventories (not provisio's state) after
//! each step, plus the refusals (illegal transitions, an unknown tenant, `apply` on an
//! archived tenant) and a failed transition finished by running it again.

use provisio::ErrorKind;
use provisio::ObjectStorage;
use provisio::storage::BucketSpec;
use provisio_engine::events::{EventKind, VecSink};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Action, ApplyOptions, Blueprint, Engine, Operation, Phase, PlanOptions, Providers, StateStore,
    Tenant, Transition, types,
};
use provisio_memory::MemoryCloud;
use std::sync::Arc;

const SHOP: &str = r#"
name: shop
variables:
  domain: { default: example.com }
  maintenance_ip: { default: 192.0.2.250 }
resources:
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: img-1, size: small }
    phases: { archived: absent }
  www:
    type: dns.record
    params: { zone: "${tenant.domain}", name: "${tenant.name}.${tenant.domain}", type: A, content: "${web.public_ip}" }
    phases:
      suspended: { params: { content: "${tenant.maintenance_ip}" } }
      archived: { params: { content: "${tenant.maintenance_ip}" } }
  db_password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-password", generate: { length: 24 } }
  db_role:
    type: database.role
    params: { name: "${tenant.name}", password_secret: "${db_password.name}" }
    phases: { archived: absent }
  database:
    type: database.database
    protect: true
    params: { name: "${tenant.name}", owner: "${db_role.name}" }
    phases: { archived: absent }
  archive:
    type: storage.objects
    only_in: [archived, retired]
    params:
      bucket: archives
      prefix: "${tenant.name}/"
      files: { manifest.txt: "database ${database.name} owned by ${db_role.name}" }
"#;

struct World {
    cloud: MemoryCloud,
    store: Arc<MemoryStateStore>,
    sink: Arc<VecSink>,
    engine: Engine,
    bp: Blueprint,
}

async fn world() -> World {
    let cloud = MemoryCloud::new(3);
    cloud.dns.add_zone("example.com");
    cloud
        .storage
        .ensure_bucket(&BucketSpec::new("archives"))
        .await
        .unwrap();
    let store = Arc::new(MemoryStateStore::new());
    let sink = Arc::new(VecSink::new());
    let providers = Providers::new()
        .with_dns("default", cloud.dns.clone())
        .with_compute("default", cloud.compute.clone())
        .with_storage("default", cloud.storage.clone())
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
        bp: Blueprint::from_yaml(SHOP).unwrap(),
    }
}

impl World {
    fn www(&self) -> String {
        let inv = self.cloud.dns.inventory();
        let id = inv
            .ids("dns.record")
            .into_iter()
            .find(|id| id.contains("acme.example.com"))
            .expect("the www record")
            .to_string();
        inv.get("dns.record", &id).unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    }
    fn instances(&self) -> Vec<String> {
        self.cloud
            .compute
            .inventory()
            .ids("compute.instance")
            .into_iter()
            .map(String::from)
            .collect()
    }
    fn has_database(&self) -> bool {
        self.cloud
            .database
            .inventory()
            .contains("database.database", "acme")
    }
    fn archive_objects(&self) -> Vec<String> {
        self.cloud
            .storage
            .inventory()
            .ids("storage.object")
            .into_iter()
            .filter(|k| k.starts_with("archives/"))
            .map(String::from)
            .collect()
    }
    async fn phase(&self) -> Option<(Phase, Option<Transition>)> {
        self.engine
            .phase("acme")
            .await
            .unwrap()
            .map(|p| (p.phase, p.transition))
    }
    async fn run(&self, t: Transition) -> provisio_engine::RunReport {
        self.run_with(t, ApplyOptions::default()).await
    }
    async fn run_with(&self, t: Transition, o: ApplyOptions) -> provisio_engine::RunReport {
        let r = self
            .engine
            .transition(&self.bp, &Tenant::new("acme"), t, o)
            .await
            .unwrap();
        assert!(r.is_success(), "{t}: {:?}", r.errors);
        assert_eq!(r.operation, Operation::from(t));
        r
    }
}

#[tokio::test(start_paused = true)]
async fn a_tenant_through_its_whole_lifecycle() {
    let w = world().await;
    let acme = Tenant::new("acme");
    assert_eq!(w.phase().await, None, "unknown before its launch");

    w.engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(w.phase().await, Some((Phase::Launched, None)));
    let web_ip = w.engine.outputs("acme").await.unwrap()["web"]["public_ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(w.www(), web_ip);
    assert!(w.has_database());
    assert!(w.archive_objects().is_empty(), "only_in: not launched");

    // suspend: the site points at the maintenance host, the data stays
    let r = w.run(Transition::Suspend).await;
    assert_eq!(r.summary.updated, 1, "{:?}", r.steps);
    assert_eq!(w.www(), "192.0.2.250");
    assert_eq!(w.instances().len(), 1);
    assert!(w.has_database());
    assert_eq!(w.phase().await, Some((Phase::Suspended, None)));

    // what a suspended tenant refuses
    let e = w
        .engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(
        e.message().contains("is suspended") && e.message().contains("`resume`"),
        "{e}"
    );
    let e = w
        .engine
        .transition(&w.bp, &acme, Transition::Restore, ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert_eq!(
        e.message(),
        "cannot restore tenant acme: it is suspended, and restore starts from archived; from suspended: resume, archive, retire"
    );

    // resume: back as launched
    w.run(Transition::Resume).await;
    assert_eq!(w.www(), web_ip);
    assert_eq!(w.phase().await, Some((Phase::Launched, None)));

    // archive: previewed first
    let plan = w
        .engine
        .plan_transition(&w.bp, &acme, Transition::Archive, &PlanOptions::default())
        .await
        .unwrap();
    let action = |n: &str| plan.get(n).map(|r| r.action);
    assert_eq!(action("web"), Some(Action::Delete));
    assert_eq!(action("database"), Some(Action::Delete));
    assert_eq!(action("archive"), Some(Action::Create));
    assert_eq!(action("www"), Some(Action::Update));
    assert!(
        plan.blocked().next().is_none(),
        "the declared absence releases the database"
    );
    assert_eq!(
        w.phase().await,
        Some((Phase::Launched, None)),
        "a plan changes nothing"
    );

    // the archive's write fails: nothing is deleted, the tenant stays "archiving"
    for op in ["storage.put_object", "storage.put_object_if_absent"] {
        w.cloud
            .faults
            .error_rate(op, 1.0, ErrorKind::PermissionDenied);
    }
    let r = w
        .engine
        .transition(&w.bp, &acme, Transition::Archive, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    assert_eq!(
        w.instances().len(),
        1,
        "no delete before everything else is in place"
    );
    assert!(w.has_database(), "the database outlives a failed archive");
    assert_eq!(
        w.phase().await,
        Some((Phase::Launched, Some(Transition::Archive)))
    );
    for (other, err) in [
        (
            Some(Transition::Suspend),
            "archive is in progress (archiving (from launched)); run `archive` again to finish it",
        ),
        (None, "archive is in progress"),
    ] {
        let e = match other {
            Some(t) => w
                .engine
                .transition(&w.bp, &acme, t, ApplyOptions::default())
                .await
                .unwrap_err(),
            None => w
                .engine
                .apply(&w.bp, &acme, ApplyOptions::default())
                .await
                .unwrap_err(),
        };
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.message().contains(err), "{e}");
    }

    // the same command finishes it
    w.cloud.faults.clear();
    w.run(Transition::Archive).await;
    assert!(w.instances().is_empty());
    assert!(!w.has_database());
    assert_eq!(w.www(), "192.0.2.250");
    assert_eq!(w.archive_objects(), ["archives/acme/manifest.txt"]);
    let (body, _) = w
        .cloud
        .storage
        .get_object("archives", "acme/manifest.txt")
        .await
        .unwrap();
    assert_eq!(
        &body[..],
        b"database acme owned by acme",
        "references to absent resources resolve to their recorded outputs"
    );
    assert_eq!(w.phase().await, Some((Phase::Archived, None)));
    // the same command again (its caller lost the answer) finds everything in place
    let again = w.run(Transition::Archive).await;
    let s = &again.summary;
    assert_eq!((s.created, s.updated, s.deleted), (0, 0, 0), "{s:?}");
    let e = w
        .engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        e.message().contains("is archived") && e.message().contains("`restore`"),
        "{e}"
    );

    // restore: everything back; the archive goes once the rest is in place
    w.run(Transition::Restore).await;
    assert_eq!(w.instances().len(), 1);
    assert!(w.has_database());
    let new_ip = w.engine.outputs("acme").await.unwrap()["web"]["public_ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(w.www(), new_ip);
    assert!(w.archive_objects().is_empty());
    assert_eq!(w.phase().await, Some((Phase::Launched, None)));

    // retire: the protected database needs an override naming it (only the archive phase
    // declares it absent), and the refusal comes before any side effect
    let e = w
        .engine
        .transition(&w.bp, &acme, Transition::Retire, ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Protected);
    assert!(e.message().contains("\"database\""), "{e}");
    assert_eq!(w.phase().await, Some((Phase::Launched, None)));
    assert!(w.has_database());

    w.sink.take();
    w.run_with(
        Transition::Retire,
        ApplyOptions::default().allow("database"),
    )
    .await;
    assert!(w.instances().is_empty());
    assert!(!w.has_database());
    assert_eq!(
        w.archive_objects(),
        ["archives/acme/manifest.txt"],
        "the archive is kept"
    );
    assert_eq!(w.phase().await, Some((Phase::Retired, None)));
    let records: Vec<String> = w
        .store
        .list_resources("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(records, ["archive"]);
    // the archive was written before the first delete
    let events = w.sink.events();
    let pos = |f: &dyn Fn(&EventKind) -> bool| events.iter().position(|e| f(&e.kind)).unwrap();
    let archive_done =
        pos(&|k| matches!(k, EventKind::StepSucceeded { resource, .. } if resource == "archive"));
    let first_delete = pos(&|k| {
        matches!(
            k,
            EventKind::StepStarted {
                action: Action::Delete,
                ..
            }
        )
    });
    assert!(archive_done < first_delete, "{events:?}");

    // a retired tenant can be launched again: a new life
    w.engine
        .apply(&w.bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(w.phase().await, Some((Phase::Launched, None)));
}

#[tokio::test(start_paused = true)]
async fn an_unknown_tenant_is_refused_before_any_side_effect() {
    let w = world().await;
    for t in Transition::ALL {
        let e = w
            .engine
            .transition(&w.bp, &Tenant::new("nobody"), t, ApplyOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound, "{t}");
        assert!(
            e.message().contains("tenant nobody: it has no resources"),
            "{e}"
        );
    }
    assert!(w.store.list_tenants().await.unwrap().is_empty());
    assert_eq!(w.store.get_phase("nobody").await.unwrap(), None);
}
