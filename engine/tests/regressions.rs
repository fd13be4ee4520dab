//! Regression tests for what a user found running provisio against real servers (issue
//! "correct and lean"): names checked at plan time, drift put back, protection removal made
//! explicit, overrides checked, and an interrupted prefix copy finished on resume. Built-in
//! types on the memory providers; what the providers hold is counted on the providers.

use provisio::storage::BucketSpec;
use provisio::{Bytes, Compute, ErrorKind, ObjectStorage, Repository};
use provisio_engine::plan::Drift;
use provisio_engine::state::JournalPhase;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Action, ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Providers,
    RefreshOptions, StateStore, Tenant, types,
};
use provisio_memory::MemoryCloud;
use std::sync::Arc;

const BLUEPRINT: &str = r#"
name: regress
variables:
  bucket: { default: shared-assets }
  branch_prefix: { default: "" }
resources:
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: img-1, size: small }
  branch:
    type: repo.branch
    params: { name: "${tenant.branch_prefix}${tenant.name}" }
  files:
    type: repo.files
    params:
      branch: "${branch.name}"
      files: { "config.yml": "tenant: ${tenant.name}\n" }
  assets:
    type: storage.objects
    params:
      bucket: "${tenant.bucket}"
      prefix: "tenants/${tenant.name}/"
      copy_from: { bucket: template-assets, prefix: "v1/" }
  database:
    type: database.database
    protect: true
    params: { name: "${tenant.name}", owner: "${role.name}" }
  role:
    type: database.role
    params: { name: "${tenant.name}_app", password_secret: "${password.name}" }
  password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-password", generate: {} }
"#;

async fn cloud() -> MemoryCloud {
    let cloud = MemoryCloud::new(11);
    for b in ["shared-assets", "template-assets"] {
        cloud
            .storage
            .ensure_bucket(&BucketSpec::new(b))
            .await
            .unwrap();
    }
    for k in ["v1/a.css", "v1/b.js", "v1/c.png"] {
        cloud
            .storage
            .put_object("template-assets", k, Bytes::from(k.to_string()), None)
            .await
            .unwrap();
    }
    cloud.faults.reset_counters();
    cloud
}

fn engine(cloud: &MemoryCloud, store: Arc<dyn StateStore>) -> Engine {
    Engine::builder()
        .providers(
            Providers::new()
                .with_compute("default", cloud.compute.clone())
                .with_storage("default", cloud.storage.clone())
                .with_repo("default", cloud.repo.clone())
                .with_database("default", cloud.database.clone())
                .with_secrets("default", cloud.secrets.clone()),
        )
        .registry(types::builtin())
        .state(store)
        .build()
        .unwrap()
}

fn mutations(cloud: &MemoryCloud) -> u64 {
    cloud
        .faults
        .call_log()
        .iter()
        .filter(|c| {
            let reads = [".get", ".list", ".find", ".head", ".read", ".describe"];
            !reads.iter().any(|r| c.operation.contains(r))
        })
        .count() as u64
}

#[tokio::test]
async fn an_invalid_name_from_a_variable_stops_the_plan_before_any_side_effect() {
    let cloud = cloud().await;
    let store = Arc::new(MemoryStateStore::new());
    let e = engine(&cloud, store.clone());
    let bp = Blueprint::from_yaml(BLUEPRINT).unwrap();
    // valid at load time (a reference), invalid once resolved: not a bucket name
    let bad = Tenant::new("acme").var("bucket", "Shared/Assets");
    let err = e
        .plan(&bp, &bad, &PlanOptions::default())
        .await
        .expect_err("the plan must refuse the bucket name");
    let text = err.to_string();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{text}");
    assert!(text.contains("\"assets\""), "names the resource: {text}");
    assert!(text.contains("invalid bucket"), "names the field: {text}");
    assert_eq!(
        text.matches("invalid_input").count(),
        1,
        "not doubled: {text}"
    );
    let err = e
        .apply(&bp, &bad, ApplyOptions::default())
        .await
        .expect_err("apply refuses before its first step");
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert_eq!(mutations(&cloud), 0, "{:?}", cloud.faults.call_log());
    assert!(store.list_resources("acme").await.unwrap().is_empty());

    // what the provider refuses, not only what the portable rule refuses: a branch `HEAD`
    let head = Tenant::new("head").var("branch_prefix", "HEAD");
    let bp_head = Blueprint::from_yaml(&BLUEPRINT.replace(
        "${tenant.branch_prefix}${tenant.name}",
        "${tenant.branch_prefix}",
    ))
    .unwrap();
    let err = e
        .apply(&bp_head, &head, ApplyOptions::default())
        .await
        .expect_err("HEAD is no branch name");
    assert!(err.to_string().contains("\"branch\""), "{err}");
    assert_eq!(mutations(&cloud), 0);
}

#[tokio::test]
async fn refresh_finds_drift_and_apply_puts_it_back() {
    let cloud = cloud().await;
    let store = Arc::new(MemoryStateStore::new());
    let e = engine(&cloud, store.clone());
    let bp = Blueprint::from_yaml(BLUEPRINT).unwrap();
    let acme = Tenant::new("acme");
    e.apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();

    // right after a clean apply nothing drifted (the branch head moved with the files'
    // commit, which is the branch's normal life)
    let r = e
        .refresh(&bp, &acme, RefreshOptions::default())
        .await
        .unwrap();
    assert!(!r.has_drift(), "{r:?}");
    let plan = e
        .plan(
            &bp,
            &acme,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan}");

    // someone deletes an object, the branch, and terminates the instance
    cloud
        .storage
        .delete_object("shared-assets", "tenants/acme/b.js")
        .await
        .unwrap();
    cloud.repo.delete_branch("acme").await.unwrap();
    let id = store
        .get_resource("acme", "web")
        .await
        .unwrap()
        .unwrap()
        .outputs["id"]
        .as_str()
        .unwrap()
        .to_string();
    cloud.compute.terminate_instance(&id).await.unwrap();

    let r = e
        .refresh(&bp, &acme, RefreshOptions::default())
        .await
        .unwrap();
    let drift = |name: &str| {
        r.resources
            .iter()
            .find(|x| x.resource == name)
            .unwrap()
            .drift
            .clone()
    };
    assert!(matches!(drift("assets"), Drift::Changed { .. }), "{r:?}");
    assert_eq!(drift("branch"), Drift::Missing);
    assert_eq!(drift("web"), Drift::Missing);

    // a plain apply trusts the state; an apply with refresh puts everything back
    let report = e
        .apply(&bp, &acme, ApplyOptions::default().refresh())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.errors);
    assert_eq!(report.step("assets").unwrap().action, Action::Update);
    assert_eq!(report.step("branch").unwrap().action, Action::Create);
    assert_eq!(report.step("web").unwrap().action, Action::Create);
    assert!(
        cloud
            .storage
            .head_object("shared-assets", "tenants/acme/b.js")
            .await
            .unwrap()
            .is_some()
    );
    assert!(cloud.repo.get_branch("acme").await.unwrap().is_some());
    assert_eq!(
        cloud.repo.read_file("acme", "config.yml").await.unwrap(),
        Some(Bytes::from("tenant: acme\n"))
    );
    assert_eq!(cloud.inventory().count("compute.instance"), 1);
    let r = e
        .refresh(&bp, &acme, RefreshOptions::default())
        .await
        .unwrap();
    assert!(!r.has_drift(), "{r:?}");
}

#[tokio::test]
async fn removing_protection_is_planned_and_needs_an_override() {
    let cloud = cloud().await;
    let store = Arc::new(MemoryStateStore::new());
    let e = engine(&cloud, store.clone());
    let bp = Blueprint::from_yaml(BLUEPRINT).unwrap();
    let acme = Tenant::new("acme");
    e.apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();

    let unprotected = Blueprint::from_yaml(&BLUEPRINT.replace("    protect: true\n", "")).unwrap();
    let plan = e
        .plan(&unprotected, &acme, &PlanOptions::default())
        .await
        .unwrap();
    let db = plan.get("database").unwrap();
    assert_eq!(db.action, Action::Update, "{plan}");
    assert!(db.diff.iter().any(|d| d.field == "protect"), "{plan}");
    assert!(db.blocked.is_some(), "{plan}");
    assert!(
        plan.to_string().contains("protect: true -> false"),
        "{plan}"
    );
    let err = e
        .apply(&unprotected, &acme, ApplyOptions::default())
        .await
        .expect_err("removing protection needs an override");
    assert_eq!(err.kind(), &ErrorKind::Protected, "{err}");
    // the state still says protected: a destroy keeps the database
    let r = e
        .destroy(&bp, &acme, DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.kept_protected.contains(&"database".to_string()), "{r:?}");
    assert_eq!(cloud.inventory().count("database.database"), 1);

    // overrides must name a resource, exactly
    for bad in ["nosuch", "Database"] {
        let err = e
            .destroy(&bp, &acme, DestroyOptions::default().allow(bad))
            .await
            .expect_err("an override naming nothing is refused");
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains(bad), "{err}");
    }
    let err = e
        .apply(&bp, &acme, ApplyOptions::default().allow("nosuch"))
        .await
        .expect_err("an override naming nothing is refused");
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    // the override removes the protection, and the next destroy deletes the database
    e.apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    e.apply(
        &unprotected,
        &acme,
        ApplyOptions::default().allow("database"),
    )
    .await
    .unwrap()
    .into_result()
    .unwrap();
    assert!(
        !store
            .get_resource("acme", "database")
            .await
            .unwrap()
            .unwrap()
            .protect
    );
    e.destroy(&unprotected, &acme, DestroyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    assert_eq!(cloud.inventory().count("database.database"), 0);
}

#[tokio::test]
async fn an_interrupted_prefix_copy_finishes_on_resume() {
    let cloud = cloud().await;
    let bp = Blueprint::from_yaml(BLUEPRINT).unwrap();
    let acme = Tenant::new("acme");
    // a run that completes against store A gives the intent a crashed run would have left
    let a = Arc::new(MemoryStateStore::new());
    let mut only_assets = bp.clone();
    only_assets.resources.retain(|name, _| name == "assets");
    engine(&cloud, a.clone())
        .apply(&only_assets, &acme, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let intent = a
        .journal("acme", 0)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.phase == JournalPhase::Intent && e.resource == "assets")
        .unwrap();
    // ... killed after one object of three
    for k in ["tenants/acme/b.js", "tenants/acme/c.png"] {
        cloud
            .storage
            .delete_object("shared-assets", k)
            .await
            .unwrap();
    }
    let b = Arc::new(MemoryStateStore::new());
    b.append_journal(&intent).await.unwrap();

    let e = engine(&cloud, b.clone());
    let r = e
        .apply(&only_assets, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    let copied = cloud
        .storage
        .list_objects("shared-assets", "tenants/acme/", &Default::default())
        .await
        .unwrap()
        .items
        .len();
    assert_eq!(copied, 3, "the resume finished the copy");
    assert_eq!(
        b.get_resource("acme", "assets")
            .await
            .unwrap()
            .unwrap()
            .outputs["count"],
        3
    );
    // and nothing is left to do, because nothing is
    let plan = e
        .plan(
            &only_assets,
            &acme,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan}");
}
