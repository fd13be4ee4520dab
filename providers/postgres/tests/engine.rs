//! The database parts of `examples/launch-tenant/blueprint.yaml` through the engine against a
//! real PostgreSQL (`PROVISIO_TEST_POSTGRES_URL`; skipped when unset): the PostgreSQL provider
//! is the `default` database provider, memory providers (prepared as in `provisio-examples`)
//! stand in for everything else, including the secret store that holds the generated
//! `db_password`. Apply, re-apply (no changes), destroy (the protected database is kept, and
//! with it the role it depends on).

mod common;

use provisio::{Confirm, Database};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Tenant, types,
};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_tenant_database_parts_apply_reapply_and_destroy() {
    let Some(url) = common::url("launch_tenant_database_parts") else {
        return;
    };
    // The blueprint file itself (with the templates beside it), unmodified.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/launch-tenant");
    let blueprint = Blueprint::load(dir).unwrap();
    for r in ["db_password", "db_role", "database", "seed"] {
        assert!(
            blueprint.resources.contains_key(r),
            "the blueprint has no {r}"
        );
    }

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
    // Role and database are named after the tenant.
    let name = common::name("t");
    let tenant = Tenant::new(&name).secret("smtp_password", "example-smtp-credential");
    let su = common::superuser(&url, &common::admin_db(&url)).await;

    let report = engine
        .apply(&blueprint, &tenant, ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.errors);
    assert!(report.summary.created >= 4, "{:?}", report.summary);

    // What PostgreSQL itself holds.
    let row = su
        .query_one(
            "SELECT r.rolcanlogin, r.rolsuper, a.rolpassword LIKE 'SCRAM-SHA-256$%' \
             FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && !row.get::<_, bool>(1) && row.get::<_, bool>(2));
    let owner: String = su
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, name);
    let tenant_db = common::superuser(&url, &name).await;
    let plan_row = tenant_db
        .query_one("SELECT value FROM settings WHERE key = 'plan'", &[])
        .await
        .unwrap();
    assert_eq!(plan_row.get::<_, String>(0), "standard");
    let seeds: i64 = tenant_db
        .query_one(
            "SELECT count(*) FROM provisio.seeds WHERE id = 'initial-data'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(seeds, 1);
    // The role's password is the generated secret: the superuser provider sees it unchanged.
    let secret_name = format!("{name}-db-password");
    let password = provisio::SecretStore::get_secret(&*cloud.secrets, &secret_name)
        .await
        .unwrap()
        .value;
    let again = pg
        .ensure_role(&provisio::database::RoleSpec {
            name: name.clone(),
            password,
        })
        .await
        .unwrap();
    assert_eq!(again.outcome, provisio::Outcome::Unchanged);
    drop(tenant_db);

    // Re-apply: nothing to do.
    let plan = engine
        .plan(
            &blueprint,
            &tenant,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!plan.has_changes(), "{plan}");
    let report = engine
        .apply(&blueprint, &tenant, ApplyOptions::default().refresh())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.errors);
    assert_eq!(
        (report.summary.created, report.summary.updated),
        (0, 0),
        "{:?}",
        report.summary
    );

    // Destroy: the protected database stays, so does the role it depends on (and the secret
    // the role depends on); the seed's delete is a no-op.
    let report = engine
        .destroy(&blueprint, &tenant, DestroyOptions::default())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.errors);
    assert!(
        report.kept_protected.iter().any(|r| r == "database"),
        "{:?}",
        report.kept_protected
    );
    assert!(pg.database_exists(&name).await.unwrap());
    assert!(pg.role_exists(&name).await.unwrap());
    let tenant_db = common::superuser(&url, &name).await;
    let seeds: i64 = tenant_db
        .query_one("SELECT count(*) FROM provisio.seeds", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seeds, 1, "the kept database keeps its data");
    drop(tenant_db);

    // Clean up by hand, the way an operator retires a protected database.
    pg.drop_database(&name, &Confirm::named(&name))
        .await
        .unwrap();
    pg.drop_role(&name, &Confirm::named(&name)).await.unwrap();
}
