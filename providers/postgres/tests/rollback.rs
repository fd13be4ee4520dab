//! A failed first launch against a real PostgreSQL (`PROVISIO_TEST_POSTGRES_URL`; skipped when
//! unset): the run rolls back what it created, except the protected database and what it needs.
//! PostgreSQL refuses to drop a role that owns a database (`role ... cannot be dropped because
//! some objects depend on it`), so a rollback that forgot the kept database's owner failed on
//! the server; this checks on the server that both stay and that the rollback reports them.

mod common;

use provisio::{Confirm, Database, ErrorKind};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Tenant, types};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_of_a_failed_first_launch_keeps_the_protected_database_and_its_owner() {
    let Some(url) = common::url("rollback_keeps_the_database_owner") else {
        return;
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/launch-tenant");
    let blueprint = Blueprint::load(dir).unwrap();
    let (cloud, _zone) = provisio_examples::prepared_memory_cloud("example.com")
        .await
        .unwrap();
    let pg: Arc<dyn Database> = Arc::new(common::provider(&url).unwrap());
    let providers = provisio_examples::providers(&cloud).with_database("default", pg.clone());
    let engine = Engine::builder()
        .providers(providers)
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap();
    let name = common::name("rb");
    let tenant = Tenant::new(&name).secret("smtp_password", "example-smtp-credential");
    // the mail identity fails for good, after the database steps had their chance to run
    cloud.faults.latency(
        "mail.ensure_identity",
        std::time::Duration::from_millis(300),
    );
    cloud
        .faults
        .error_on_call("mail.ensure_identity", 1, ErrorKind::PermissionDenied);

    let report = engine
        .apply(&blueprint, &tenant, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!report.is_success());
    assert_eq!(report.errors[0].0, "mail", "{:?}", report.errors);
    // the rollback itself did not fail
    assert_eq!(report.summary.failed, 1, "{:?}", report.steps);
    assert!(report.summary.rolled_back > 0, "{:?}", report.summary);
    for kept in ["database", "db_role", "db_password"] {
        assert!(
            report.kept_protected.iter().any(|k| k == kept),
            "{kept} not reported kept: {:?}",
            report.kept_protected
        );
    }
    // on the server: the database and its owner are still there
    assert!(pg.database_exists(&name).await.unwrap());
    assert!(pg.role_exists(&name).await.unwrap());
    // and what nothing kept needs was rolled back
    assert_eq!(
        cloud.inventory().count("compute.instance"),
        0,
        "{:?}",
        cloud.inventory()
    );

    pg.drop_database(&name, &Confirm::named(&name))
        .await
        .unwrap();
    pg.drop_role(&name, &Confirm::named(&name)).await.unwrap();
}
