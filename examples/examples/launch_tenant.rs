//! Launches one tenant on the embedded defaults: memory providers and a SQLite state file.
//!
//! ```sh
//! cargo run -p provisio-examples --example launch_tenant -- acme
//! ```
//!
//! Plans, applies (printing every step as it finishes), prints the outputs, re-applies to show
//! that nothing changes, then destroys the tenant and says which protected resources it kept.
//! The memory providers live in this process only, so every run starts from empty providers;
//! the state file under `.provisio/` is refreshed against them.

use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_engine::{
    ApplyOptions, DestroyOptions, Engine, EventKind, FnSink, PlanOptions, Tenant, types,
};
use provisio_examples::{launch_blueprint, prepared_memory_cloud, providers};
use std::sync::Arc;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> provisio::Result<()> {
    let tenant_name = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "acme".to_string());
    provisio::validate::tenant_name("tenant", &tenant_name)?;
    let tenant = Tenant::new(&tenant_name).secret("smtp_password", "example-smtp-credential");

    let blueprint = launch_blueprint()?;
    let (cloud, _zone) = prepared_memory_cloud("example.com").await?;
    let state = SqliteStateStore::open(".provisio/state.db").await?;
    let engine = Engine::builder()
        .providers(providers(&cloud))
        .registry(types::builtin())
        .state(Arc::new(state))
        .events(Arc::new(FnSink::new(
            |event: &provisio_engine::Event| match &event.kind {
                EventKind::StepSucceeded {
                    resource,
                    action,
                    outcome,
                    duration_ms,
                    ..
                } => {
                    println!("  ok    {resource:<22} {action:?} -> {outcome:?} ({duration_ms} ms)")
                }
                EventKind::StepRetrying {
                    resource,
                    attempt,
                    delay_ms,
                    reason,
                } => {
                    println!("  retry {resource:<22} attempt {attempt} in {delay_ms} ms: {reason}")
                }
                EventKind::StepFailed { resource, error } => {
                    println!("  FAIL  {resource:<22} {}: {}", error.kind, error.message)
                }
                _ => {}
            },
        )))
        .build()?;

    println!("== plan for tenant {tenant_name}");
    let plan = engine
        .plan(
            &blueprint,
            &tenant,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await?;
    println!("{plan}");

    println!("== apply");
    let report = engine
        .apply(&blueprint, &tenant, ApplyOptions::default().refresh())
        .await?
        .into_result()?;
    let s = &report.summary;
    println!(
        "applied in {} ms: {} created, {} updated, {} unchanged",
        s.duration_ms, s.created, s.updated, s.unchanged
    );

    println!("== outputs");
    let outputs = engine.outputs(&tenant_name).await?;
    for key in [
        "dns_prod",
        "dns_stg",
        "web",
        "database",
        "branch_prod",
        "branch_dev",
        "db_password",
    ] {
        if let Some(v) = outputs.get(key) {
            println!("  {key:<12} {v}");
        }
    }

    println!("== apply again");
    let again = engine
        .plan(
            &blueprint,
            &tenant,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await?;
    println!(
        "{}",
        if again.has_changes() {
            "changes pending (unexpected)"
        } else {
            "no changes"
        }
    );

    println!("== destroy");
    let destroyed = engine
        .destroy(&blueprint, &tenant, DestroyOptions::default())
        .await?
        .into_result()?;
    println!(
        "deleted {}; kept protected: {}",
        destroyed.summary.deleted,
        destroyed.kept_protected.join(", ")
    );
    println!(
        "live resources left in the memory providers: {}",
        cloud.inventory().len()
    );
    Ok(())
}
