//! The engine against the real pieces: built-in resource types, the memory providers and the
//! memory state store.

use provisio::{Compute, ErrorKind, Quota};
use provisio_engine::events::{ChannelSink, EventKind, VecSink};
use provisio_engine::state::JournalPhase;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Action, ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Providers, ResourceSpec,
    StateStore, Tenant, types,
};
use provisio_memory::MemoryCloud;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const LAUNCH: &str = r#"
name: launch-tenant
variables:
  domain: { default: example.com }
resources:
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: img-1, size: small }
    retry: { max_attempts: 5, initial_backoff_ms: 10, max_backoff_ms: 100 }
  www:
    type: dns.record
    params: { zone: "${tenant.domain}", name: "${tenant.name}.${tenant.domain}", type: A, content: "${web.public_ip}" }
  staging:
    type: dns.record
    params: { zone: "${tenant.domain}", name: "staging.${tenant.name}.${tenant.domain}", type: CNAME, content: "${www.fqdn}" }
"#;

fn providers(cloud: &MemoryCloud) -> Providers {
    Providers::new()
        .with_dns("default", cloud.dns.clone())
        .with_compute("default", cloud.compute.clone())
}

fn engine(cloud: &MemoryCloud, store: Arc<dyn StateStore>, sink: Arc<VecSink>) -> Engine {
    Engine::builder()
        .providers(providers(cloud))
        .registry(types::builtin())
        .state(store)
        .events(sink)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn launch_a_tenant_then_destroy_it() {
    let cloud = MemoryCloud::new(1);
    cloud.dns.add_zone("example.com");
    let store = Arc::new(MemoryStateStore::new());
    let sink = Arc::new(VecSink::new());
    let e = engine(&cloud, store.clone(), sink.clone());
    let bp = Blueprint::from_yaml(LAUNCH).unwrap();
    let acme = Tenant::new("acme");

    let plan = e.plan(&bp, &acme, &PlanOptions::default()).await.unwrap();
    assert_eq!(plan.counts().create, 3);
    assert!(
        plan.to_string().contains("content: (known after apply)"),
        "{plan}"
    );

    let r = e.apply(&bp, &acme, ApplyOptions::default()).await.unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.created, 3);
    let inv = cloud.inventory();
    assert_eq!(inv.count("compute.instance"), 1);
    assert_eq!(inv.count("dns.record"), 2);
    let outs = e.outputs("acme").await.unwrap();
    assert!(outs["web"]["public_ip"].is_string(), "{outs:?}");
    assert_eq!(outs["www"]["content"], outs["web"]["public_ip"]);
    assert_eq!(outs["staging"]["content"], "acme.example.com");

    // nothing to do the second time
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
    let r = e.apply(&bp, &acme, ApplyOptions::default()).await.unwrap();
    assert_eq!(r.summary.unchanged, 3);

    let r = e
        .destroy(&bp, &acme, DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.deleted, 3);
    let inv = cloud.inventory();
    assert_eq!(inv.count("compute.instance"), 0);
    assert_eq!(inv.count("dns.record"), 0);
    assert!(store.list_resources("acme").await.unwrap().is_empty());
    assert!(store.pending_intents("acme").await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_launch_that_failed_after_its_effect_is_retried_without_a_duplicate() {
    let cloud = MemoryCloud::new(2);
    cloud.dns.add_zone("example.com");
    cloud
        .faults
        .error_after_effect("compute.launch_instance", 1, ErrorKind::Transient);
    let e = engine(
        &cloud,
        Arc::new(MemoryStateStore::new()),
        Arc::new(VecSink::new()),
    );
    let r = e
        .apply(
            &Blueprint::from_yaml(LAUNCH).unwrap(),
            &Tenant::new("acme"),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(cloud.inventory().count("compute.instance"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_resumed_run_adopts_what_the_crashed_run_created() {
    let cloud = MemoryCloud::new(3);
    cloud.dns.add_zone("example.com");
    let bp = Blueprint::from_yaml(LAUNCH).unwrap();
    let acme = Tenant::new("acme");
    // run 1 completes against store A; its web intent is all that a crashed run would have
    // left in store B (it died after launching, before recording)
    let a = Arc::new(MemoryStateStore::new());
    engine(&cloud, a.clone(), Arc::new(VecSink::new()))
        .apply(
            &Blueprint::new("launch-tenant").resource("web", bp.resources["web"].clone()),
            &acme,
            ApplyOptions::default(),
        )
        .await
        .unwrap()
        .into_result()
        .unwrap();
    let intent = a
        .journal("acme", 0)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.phase == JournalPhase::Intent && e.resource == "web")
        .unwrap();
    let b = Arc::new(MemoryStateStore::new());
    b.append_journal(&intent).await.unwrap();
    assert_eq!(b.pending_intents("acme").await.unwrap().len(), 1);

    let sink = Arc::new(VecSink::new());
    let r = engine(&cloud, b.clone(), sink.clone())
        .apply(&bp, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(
        cloud.inventory().count("compute.instance"),
        1,
        "no duplicate instance"
    );
    assert_eq!(r.step("web").unwrap().action, Action::NoOp);
    assert!(b.pending_intents("acme").await.unwrap().is_empty());
    assert!(sink.events().iter().any(|e| matches!(
        &e.kind,
        EventKind::StepSucceeded { resource, action: Action::Adopt, .. } if resource == "web"
    )));
}

#[tokio::test(start_paused = true)]
async fn provider_quotas_are_respected_and_rate_limits_retried() {
    let cloud = MemoryCloud::new(4);
    cloud.dns.add_zone("example.com");
    cloud
        .faults
        .rate_limit("memory-dns", Quota::new(20, Duration::from_secs(1)));
    let mut bp = Blueprint::new("many");
    for i in 0..12 {
        bp = bp.resource(
            format!("r{i}"),
            ResourceSpec::new("dns.record")
                .params(json!({"zone": "example.com", "name": format!("h{i}.example.com"), "type": "A", "content": "192.0.2.1"}))
                .retry(provisio_engine::RetryPolicy { max_attempts: 20, initial_backoff_ms: 10, max_backoff_ms: 200 }),
        );
    }
    let (sink, mut rx) = ChannelSink::new();
    let e = Engine::builder()
        .providers(providers(&cloud))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .events(Arc::new(sink))
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    let r = e
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(cloud.inventory().count("dns.record"), 12);
    // 12 steps paced at 20/s take at least 11 * 50 ms
    assert!(
        t0.elapsed() >= Duration::from_millis(550),
        "{:?}",
        t0.elapsed()
    );
    let mut started = 0;
    while let Ok(ev) = rx.try_recv() {
        if matches!(ev.kind, EventKind::StepStarted { .. }) {
            started += 1;
        }
    }
    assert_eq!(started, 12);
}

/// `power` through the whole engine: a change of it is planned as an update in place (the same
/// instance is stopped, then started), an unchanged apply sends no stop or start, and a start
/// made outside provisio is drift that the next apply with refresh repairs.
#[tokio::test(start_paused = true)]
async fn power_is_an_update_in_place_and_its_drift_is_reported() {
    let web = |power: &str| {
        format!(
            r#"
name: launch-tenant
resources:
  web:
    type: compute.instance
    params: {{ name: "${{tenant.name}}-web", image: img-1, size: small, power: {power} }}
"#
        )
    };
    let cloud = MemoryCloud::new(3);
    let store = Arc::new(MemoryStateStore::new());
    let e = engine(&cloud, store, Arc::new(VecSink::new()));
    let acme = Tenant::new("acme");
    let running = Blueprint::from_yaml(&web("running")).unwrap();
    let stopped = Blueprint::from_yaml(&web("stopped")).unwrap();
    let r = e
        .apply(&running, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    let id = e.outputs("acme").await.unwrap()["web"]["id"].clone();
    let state = |cloud: &MemoryCloud| {
        cloud
            .compute
            .inventory()
            .get("compute.instance", id.as_str().unwrap())
            .unwrap()["state"]
            .clone()
    };

    let plan = e
        .plan(&stopped, &acme, &PlanOptions::default())
        .await
        .unwrap();
    let p = plan.get("web").unwrap();
    assert_eq!(p.action, Action::Update, "{plan}");
    assert!(p.replace_because.is_empty(), "{plan}");
    let r = e
        .apply(&stopped, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.updated, 1);
    let outs = e.outputs("acme").await.unwrap();
    assert_eq!(outs["web"]["id"], id, "the same instance");
    assert_eq!(outs["web"]["state"], "stopped");
    assert_eq!(outs["web"]["public_ip"], serde_json::Value::Null);
    assert_eq!(state(&cloud), "stopped");

    // again: nothing to do, no stop or start sent
    cloud.faults.reset_counters();
    let r = e
        .apply(&stopped, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.summary.unchanged, 1);
    assert_eq!(cloud.faults.calls("compute.stop_instance"), 0);
    assert_eq!(cloud.faults.calls("compute.start_instance"), 0);

    // someone starts it by hand: a refresh reports power drift, an apply with refresh stops
    // it again
    cloud
        .compute
        .start_instance(id.as_str().unwrap())
        .await
        .unwrap();
    let report = e
        .refresh(&stopped, &acme, Default::default())
        .await
        .unwrap();
    assert!(report.has_drift(), "{report:?}");
    let drift = serde_json::to_value(&report.resources[0].drift).unwrap();
    assert_eq!(drift["diff"][0]["field"], "power", "{drift}");
    let plan = e
        .plan(
            &stopped,
            &acme,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(plan.get("web").unwrap().action, Action::Update, "{plan}");
    let r = e
        .apply(&stopped, &acme, ApplyOptions::default().refresh())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.updated, 1);
    assert_eq!(state(&cloud), "stopped");

    // resume: back to running, the same instance with a new public address
    let r = e
        .apply(&running, &acme, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    let outs = e.outputs("acme").await.unwrap();
    assert_eq!(outs["web"]["id"], id);
    assert_eq!(outs["web"]["state"], "running");
    assert!(outs["web"]["public_ip"].is_string());
    assert_eq!(cloud.inventory().count("compute.instance"), 1);
}
