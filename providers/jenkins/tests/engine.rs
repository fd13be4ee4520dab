//! The engine's `ci.folder`, `ci.job` and `ci.downstream` resources against the Jenkins fake
//! through this provider: apply, re-apply without changes, destroy, and the umbrella job's
//! bytes kept as they were.

mod common;

use provisio::CiServer;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Providers, Tenant, types,
};
use provisio_fake_jenkins::{UMBRELLA_JOBS, umbrella_config};
use std::sync::Arc;

const BLUEPRINT: &str = r#"
name: jenkins-tenant
resources:
  folder:
    type: ci.folder
    params: { path: "tenants/${tenant.name}" }
  build_job:
    type: ci.job
    params:
      path: "${folder.path}/build"
      config_xml: "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>build for ${tenant.name}</description>\n  <builders/>\n</project>\n"
  release_stg:
    type: ci.job
    params:
      path: "core_release-stg-${tenant.name}"
      config_xml: "<?xml version='1.1' encoding='UTF-8'?>\n<project><description>staging core release for ${tenant.name}</description><builders/></project>\n"
  umbrella_core:
    type: ci.downstream
    params: { job: core_build-stg, downstream: "${release_stg.path}" }
  umbrella_web:
    type: ci.downstream
    params: { job: web_build-stg, downstream: "${build_job.path}" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_reapply_destroy_against_the_fake() {
    let fake = common::fake().await;
    fake.seed_umbrellas().unwrap();
    let before: Vec<String> = UMBRELLA_JOBS
        .iter()
        .map(|j| fake.config(j).unwrap())
        .collect();
    let ci: Arc<dyn CiServer> = Arc::new(common::token_client(&fake));
    let engine = Engine::builder()
        .providers(Providers::new().with_ci("default", ci.clone()))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap();
    let bp = Blueprint::from_yaml(BLUEPRINT).unwrap();
    let acme = Tenant::new("acme");

    let r = engine
        .apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.created, 5, "{:?}", r.summary);
    assert!(fake.config("tenants/acme/build").is_some());
    assert!(fake.config("core_release-stg-acme").is_some());
    // The server holds the new list in the umbrella jobs' XML, the rest as it was (a list of
    // one has no separator to follow, and gets a plain comma).
    let core = fake.config("core_build-stg").unwrap();
    assert_eq!(
        core,
        umbrella_config(&["core_release-stg-example,core_release-stg-acme"])
    );
    assert_eq!(
        ci.downstream_jobs("core_build-stg").await.unwrap().unwrap(),
        ["core_release-stg-example", "core_release-stg-acme"],
    );
    let web = fake.config("web_build-stg").unwrap();
    assert!(
        web.contains("<childProjects>web_release-stg-example,tenants/acme/build</childProjects>"),
        "{web}"
    );

    // Nothing to do the second time, neither in the plan nor in an apply.
    let plan = engine
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
    let r = engine
        .apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.unchanged, 5, "{:?}", r.summary);
    assert_eq!(fake.config("core_build-stg").unwrap(), core);

    let r = engine
        .destroy(&bp, &acme, DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.deleted, 5, "{:?}", r.summary);
    assert_eq!(fake.config("tenants/acme/build"), None);
    assert_eq!(fake.config("tenants/acme"), None);
    assert_eq!(fake.config("core_release-stg-acme"), None);
    // The umbrella jobs are back to their exact bytes; the other tenant stays listed.
    let after: Vec<String> = UMBRELLA_JOBS
        .iter()
        .map(|j| fake.config(j).unwrap())
        .collect();
    assert_eq!(after, before);
    assert_eq!(after[0], umbrella_config(&["core_release-stg-example"]));
}
