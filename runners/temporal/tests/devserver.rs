//! Rollouts on a real Temporal dev server with the state in a real PostgreSQL and memory
//! providers (these tests check orchestration, not providers): two workers in this process,
//! each with its own engine and its own state store connections, sharing one memory cloud.
//!
//! Needs `PROVISIO_TEST_TEMPORAL_ADDRESS` (`127.0.0.1:7301`) and `PROVISIO_TEST_POSTGRES_URL`;
//! prints "skipped" and passes when either is unset.

use provisio_engine::state::postgres::PostgresStateStore;
use provisio_engine::{Blueprint, Engine, HaltReason, Providers, StateStore, types};
use provisio_memory::MemoryCloud;
use provisio_temporal::worker::{ProvisioWorker, WorkerConfig, connect};
use provisio_temporal::{
    BlueprintContent, FleetClient, FleetInput, FleetOperation, FleetStatus, FleetWorkflow,
    RolloutState, TenantActivities, TenantSpec, TenantState,
};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Two records in the tenant's own zone; a tenant whose zone is missing fails at once.
const BP: &str = r#"
name: fleet-test
resources:
  www:
    type: dns.record
    params: { zone: "${tenant.name}.example.com", name: "www", type: A, content: 192.0.2.1 }
  api:
    type: dns.record
    params: { zone: "${tenant.name}.example.com", name: "api", type: CNAME, content: "${www.fqdn}" }
"#;

const WAIT: Duration = Duration::from_secs(120);

struct Env {
    temporal: String,
    postgres: String,
}

fn env() -> Option<Env> {
    let temporal = std::env::var("PROVISIO_TEST_TEMPORAL_ADDRESS").ok();
    let postgres = std::env::var("PROVISIO_TEST_POSTGRES_URL").ok();
    match (temporal, postgres) {
        (Some(temporal), Some(postgres)) => Some(Env { temporal, postgres }),
        _ => {
            println!("skipped: set PROVISIO_TEST_TEMPORAL_ADDRESS and PROVISIO_TEST_POSTGRES_URL");
            None
        }
    }
}

fn name(i: usize) -> String {
    format!("t{i:03}")
}

/// One test's world: a task queue and a schema of its own, a memory cloud with a zone per
/// tenant (but those in `missing`), and a state store to check the result on.
struct Harness {
    env: Env,
    queue: String,
    schema: String,
    cloud: MemoryCloud,
    store: Arc<PostgresStateStore>,
    tenants: usize,
    test: String,
    /// The fleet ids of this test's rollouts, for [`Harness::finish`].
    fleets: std::sync::Mutex<Vec<String>>,
}

impl Harness {
    async fn new(env: Env, test: &str, tenants: usize, missing: &[usize]) -> Harness {
        let suffix = format!("{}_{}", std::process::id(), test);
        let schema = format!("tmp_temporal_{suffix}");
        let store = Arc::new(
            PostgresStateStore::connect_with_schema(&env.postgres, &schema)
                .await
                .unwrap(),
        );
        let cloud = MemoryCloud::new(7);
        for i in (0..tenants).filter(|i| !missing.contains(i)) {
            cloud.dns.add_zone(&format!("{}.example.com", name(i)));
        }
        Harness {
            queue: format!("provisio-test-{suffix}"),
            env,
            schema,
            cloud,
            store,
            tenants,
            test: test.to_string(),
            fleets: Default::default(),
        }
    }

    /// A worker with its own engine and state store connections (as another process has).
    async fn worker(&self, id: &str) -> ProvisioWorker {
        self.worker_with(id, Some("sha256:test-providers")).await
    }

    async fn worker_with(&self, id: &str, providers_digest: Option<&str>) -> ProvisioWorker {
        let store = PostgresStateStore::connect_with_schema(&self.env.postgres, &self.schema)
            .await
            .unwrap();
        let builder = Engine::builder()
            .providers(Providers::new().with_dns("default", self.cloud.dns.clone()))
            .registry(types::builtin())
            .state(Arc::new(store));
        let mut config = WorkerConfig::new(self.env.temporal.clone(), self.queue.clone());
        config.identity = format!("{id}-{}", std::process::id());
        config.lease_ttl = Duration::from_secs(4);
        config.graceful_shutdown = Duration::from_secs(1);
        let mut activities =
            TenantActivities::new(builder, None, config.lease_ttl, config.identity.clone())
                .unwrap();
        if let Some(d) = providers_digest {
            activities = activities.with_providers_digest(d);
        }
        ProvisioWorker::connect(&config, activities).await.unwrap()
    }

    async fn client(&self) -> FleetClient {
        let client = connect(&self.env.temporal, "default", "provisio-test-client")
            .await
            .unwrap();
        FleetClient::new(client, self.queue.clone())
    }

    fn input(&self, fleet_id: &str) -> FleetInput {
        let bp = Blueprint::from_yaml(BP).unwrap();
        let tenants = (0..self.tenants)
            .map(|i| TenantSpec::new(name(i)))
            .collect();
        let mut input = FleetInput::new(
            format!("{fleet_id}-{}", std::process::id()),
            FleetOperation::Apply,
            BlueprintContent::from_blueprint(&bp).unwrap(),
            tenants,
        );
        input.heartbeat_timeout_secs = 2;
        input.providers_digest = Some("sha256:test-providers".into());
        self.fleets.lock().unwrap().push(input.fleet_id.clone());
        input
    }

    /// Runs `body` while two workers poll the task queue; stops them after.
    async fn with_workers<T>(&self, body: impl Future<Output = T>) -> T {
        let (w1, w2) = (self.worker("w1").await, self.worker("w2").await);
        let (h1, h2) = (w1.shutdown_handle(), w2.shutdown_handle());
        let (r1, r2, out) = tokio::join!(w1.run(), w2.run(), async {
            let out = tokio::time::timeout(WAIT, body).await;
            h1.shutdown();
            h2.shutdown();
            out
        });
        r1.unwrap();
        r2.unwrap();
        out.expect("the test body finished in time")
    }

    /// Records of `tenant` on the memory cloud (the provider's inventory, not provisio's state).
    fn cloud_records(&self, tenant: &str) -> usize {
        let inv = self.cloud.inventory();
        ["A www", "CNAME api"]
            .iter()
            .filter(|r| inv.contains("dns.record", &format!("{r}.{tenant}.example.com")))
            .count()
    }

    /// Resources of `tenant` in the state store.
    async fn state_resources(&self, tenant: &str) -> BTreeSet<String> {
        let list = self.store.list_resources(tenant).await.unwrap();
        list.into_iter().map(|r| r.name).collect()
    }

    /// Ends the test: with `PROVISIO_TEST_TEMPORAL_SAVE_HISTORIES=<dir>` saves the history of
    /// each rollout the test started as `<dir>/<test>[-<n>].json` (the fixtures of
    /// `tests/replay.rs`), then drops the test's schema.
    async fn finish(&self) {
        if let Ok(dir) = std::env::var("PROVISIO_TEST_TEMPORAL_SAVE_HISTORIES") {
            let client = connect(&self.env.temporal, "default", "history")
                .await
                .unwrap();
            let mut fleets = self.fleets.lock().unwrap().clone();
            fleets.dedup();
            for (n, fleet_id) in fleets.iter().enumerate() {
                let id = provisio_temporal::client::workflow_id(fleet_id);
                let json = client
                    .get_workflow_handle::<FleetWorkflow>(id)
                    .fetch_history(Default::default())
                    .to_json()
                    .await
                    .unwrap();
                let file = match n {
                    0 => format!("{dir}/{}.json", self.test),
                    n => format!("{dir}/{}-{n}.json", self.test),
                };
                std::fs::write(file, json).unwrap();
            }
        }
        self.drop_schema().await;
    }

    async fn drop_schema(&self) {
        let (client, conn) = tokio_postgres::connect(&self.env.postgres, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                self.schema
            ))
            .await
            .unwrap();
    }
}

/// Polls the rollout's status until `pred` holds.
async fn until(
    rollout: &provisio_temporal::Rollout,
    what: &str,
    pred: impl Fn(&FleetStatus) -> bool,
) -> FleetStatus {
    let start = Instant::now();
    loop {
        if let Ok(s) = rollout.status().await
            && pred(&s)
        {
            return s;
        }
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tenants_over_two_workers_all_succeed_and_replay() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "rollout", 8, &[]).await;
    h.cloud
        .dns
        .faults()
        .latency("dns.ensure_record", Duration::from_millis(100));
    let mut input = h.input("rollout");
    input.concurrency = 3;
    input.canary = 2;
    let fleet_id = input.fleet_id.clone();
    let client = h.client().await;
    let status = h
        .with_workers(async {
            let rollout = client.start(input).await.unwrap();
            // a second start of a running fleet id is refused
            let again = client.start(h.input("rollout")).await;
            assert_eq!(
                again.err().map(|e| e.kind().clone()),
                Some(provisio::ErrorKind::Conflict)
            );
            rollout.result().await.unwrap()
        })
        .await;
    assert_eq!(status.state, RolloutState::Completed, "{status:#?}");
    assert_eq!((status.done, status.failed, status.pending), (8, 0, 0));
    assert!(status.running.is_empty());
    assert_eq!(status.results.len(), 8);
    let mut workers = BTreeSet::new();
    for i in 0..8 {
        let t = name(i);
        let r = status.result(&t).unwrap();
        assert_eq!(r.state, TenantState::Succeeded, "{r:?}");
        assert_eq!(r.canary, i < 2);
        assert_eq!(r.summary.as_ref().unwrap().created, 2);
        workers.insert(r.worker.clone());
        assert_eq!(h.cloud_records(&t), 2, "{t} on the cloud");
        let state = h.state_resources(&t).await;
        assert_eq!(
            state,
            ["api", "www"].map(String::from).into(),
            "{t} in the state store"
        );
        assert!(h.store.pending_intents(&t).await.unwrap().is_empty());
        assert!(
            h.store.get_lease(&t).await.unwrap().is_none(),
            "{t}: lease released"
        );
    }
    // the canaries finished before any other tenant started
    let first_two: BTreeSet<&str> = status.results[..2]
        .iter()
        .map(|r| r.tenant.as_str())
        .collect();
    assert_eq!(first_two, ["t000", "t001"].into());
    println!("tenants ran on workers {workers:?}");
    assert_eq!(h.cloud.inventory().count("dns.record"), 16);

    // the history replays with the current workflow code (catches nondeterminism)
    let client = connect(&h.env.temporal, "default", "replay").await.unwrap();
    let history = client
        .get_workflow_handle::<FleetWorkflow>(provisio_temporal::client::workflow_id(&fleet_id))
        .fetch_history(Default::default());
    let replayer = temporalio_sdk::workflow_replayer::WorkflowReplayer::new(
        temporalio_sdk::workflow_replayer::WorkflowReplayerOptions::new()
            .register_workflow::<FleetWorkflow>()
            .unwrap()
            .build(),
    )
    .unwrap();
    replayer.replay_workflow(history).await.unwrap();
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_stops_new_tenants_until_resume() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "pause", 6, &[]).await;
    h.cloud
        .dns
        .faults()
        .latency("dns.ensure_record", Duration::from_millis(700));
    let mut input = h.input("pause");
    input.concurrency = 2;
    let client = h.client().await;
    let status = h
        .with_workers(async {
            let rollout = client.start(input).await.unwrap();
            until(&rollout, "two tenants running", |s| s.running.len() == 2).await;
            rollout.pause().await.unwrap();
            // the two running finish; nothing new starts
            let paused = until(&rollout, "the running tenants to finish", |s| {
                s.paused && s.running.is_empty()
            })
            .await;
            assert_eq!(paused.state, RolloutState::Paused);
            let done = paused.done;
            assert!((2..=3).contains(&done), "{paused:#?}");
            tokio::time::sleep(Duration::from_secs(3)).await;
            let still = rollout.status().await.unwrap();
            assert_eq!((still.done, still.pending), (done, 6 - done), "{still:#?}");
            assert!(still.running.is_empty());
            rollout.resume().await.unwrap();
            rollout.result().await.unwrap()
        })
        .await;
    assert_eq!(status.state, RolloutState::Completed, "{status:#?}");
    assert_eq!(status.done, 6);
    for i in 0..6 {
        assert_eq!(h.cloud_records(&name(i)), 2);
        assert_eq!(h.state_resources(&name(i)).await.len(), 2);
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_stops_running_tenants_and_starts_no_more() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "cancel", 6, &[]).await;
    // long enough that the cancellation (one heartbeat away) reaches the runs mid-step
    h.cloud
        .dns
        .faults()
        .latency("dns.ensure_record", Duration::from_secs(4));
    let mut input = h.input("cancel");
    input.concurrency = 2;
    let client = h.client().await;
    let status = h
        .with_workers(async {
            let rollout = client.start(input).await.unwrap();
            until(&rollout, "two tenants running", |s| s.running.len() == 2).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            rollout.cancel().await.unwrap();
            rollout.result().await.unwrap()
        })
        .await;
    assert_eq!(status.state, RolloutState::Cancelled, "{status:#?}");
    assert!(status.cancel_requested);
    assert_eq!(
        (status.done, status.failed, status.pending),
        (0, 2, 4),
        "{status:#?}"
    );
    for r in &status.results {
        assert_eq!(r.state, TenantState::Cancelled, "{r:?}");
    }
    // the cancelled runs rolled back what they created; the others never started
    for i in 0..6 {
        let t = name(i);
        assert_eq!(h.cloud_records(&t), 0, "{t} on the cloud");
        assert!(
            h.state_resources(&t).await.is_empty(),
            "{t} in the state store"
        );
        assert!(h.store.pending_intents(&t).await.unwrap().is_empty(), "{t}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_canary_halts_the_rollout_with_nothing_else_started() {
    let Some(env) = env() else { return };
    // t001 has no zone: its apply fails at once
    let h = Harness::new(env, "canary", 6, &[1]).await;
    let mut input = h.input("canary");
    input.concurrency = 4;
    input.canary = 2;
    let client = h.client().await;
    let status = h
        .with_workers(async { client.start(input).await.unwrap().result().await.unwrap() })
        .await;
    assert_eq!(
        status.state,
        RolloutState::Halted {
            reason: HaltReason::CanaryFailed {
                tenants: vec!["t001".into()]
            }
        },
        "{status:#?}"
    );
    assert_eq!((status.done, status.failed, status.pending), (1, 1, 4));
    assert_eq!(status.results.len(), 2);
    let failed = status.result("t001").unwrap();
    assert_eq!(failed.state, TenantState::Failed);
    assert_eq!(
        failed.error.as_ref().unwrap().kind,
        "not_found",
        "{failed:?}"
    );
    assert_eq!(h.cloud_records("t000"), 2);
    assert_eq!(h.cloud.inventory().count("dns.record"), 2);
    // the failed canary journaled its attempt but holds no resource; the rest never ran
    let in_state: BTreeSet<String> = h.store.list_tenants().await.unwrap().into_iter().collect();
    assert!(
        in_state.is_subset(&["t000", "t001"].map(String::from).into()),
        "{in_state:?}"
    );
    assert_eq!(h.state_resources("t000").await.len(), 2);
    assert!(h.state_resources("t001").await.is_empty());
    for i in 2..6 {
        assert!(
            h.store.journal(&name(i), 0).await.unwrap().is_empty(),
            "{} ran",
            name(i)
        );
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_destroy_removes_every_tenant() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "destroy", 4, &[]).await;
    let client = h.client().await;
    let mut apply = h.input("destroy-apply");
    apply.concurrency = 4;
    let mut destroy = h.input("destroy");
    destroy.operation = FleetOperation::Destroy;
    destroy.concurrency = 2;
    let (applied, destroyed) = h
        .with_workers(async {
            let a = client.start(apply).await.unwrap().result().await.unwrap();
            assert_eq!(h.cloud.inventory().count("dns.record"), 8);
            let d = client.start(destroy).await.unwrap().result().await.unwrap();
            (a, d)
        })
        .await;
    assert_eq!(applied.done, 4, "{applied:#?}");
    assert_eq!(destroyed.state, RolloutState::Completed, "{destroyed:#?}");
    assert_eq!(destroyed.done, 4);
    for r in &destroyed.results {
        assert_eq!(r.summary.as_ref().unwrap().deleted, 2, "{r:?}");
    }
    assert_eq!(h.cloud.inventory().count("dns.record"), 0);
    for i in 0..4 {
        assert!(h.state_resources(&name(i)).await.is_empty());
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_the_workflow_cancels_running_tenants_and_ends_it_cancelled() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "wfcancel", 4, &[]).await;
    h.cloud
        .dns
        .faults()
        .latency("dns.ensure_record", Duration::from_secs(4));
    let mut input = h.input("wfcancel");
    input.concurrency = 2;
    let client = h.client().await;
    let (result, last) = h
        .with_workers(async {
            let rollout = client.start(input).await.unwrap();
            until(&rollout, "two tenants running", |s| s.running.len() == 2).await;
            rollout.cancel_workflow("test").await.unwrap();
            let result = rollout.result().await;
            (result, rollout.status().await)
        })
        .await;
    let e = result.expect_err("a cancelled workflow has no result");
    assert!(e.message().to_lowercase().contains("cancel"), "{e}");
    // a closed workflow still answers the query (the server replays its history)
    let last = last.expect("the status of a cancelled rollout");
    assert_eq!(last.state, RolloutState::Cancelled, "{last:#?}");
    assert!(last.cancel_requested, "{last:#?}");
    assert_eq!(
        (last.done, last.failed, last.pending),
        (0, 2, 2),
        "{last:#?}"
    );
    assert!(
        last.results
            .iter()
            .all(|r| r.state == TenantState::Cancelled)
    );
    for i in 0..4 {
        let t = name(i);
        assert_eq!(h.cloud_records(&t), 0, "{t} on the cloud");
        assert!(
            h.state_resources(&t).await.is_empty(),
            "{t} in the state store"
        );
        assert!(
            h.store.get_lease(&t).await.unwrap().is_none(),
            "{t}: lease released"
        );
    }
    h.finish().await;
}

/// A worker that shuts down (SIGTERM in production) while it runs tenants hands them over:
/// their runs are cancelled and rolled back, the activity fails as retryable, and the other
/// worker runs them again (attempt 2); every tenant ends with exactly its records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_shutting_down_hands_its_tenants_to_the_other_worker() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "handover", 6, &[]).await;
    h.cloud
        .dns
        .faults()
        .latency("dns.ensure_record", Duration::from_millis(1500));
    let mut input = h.input("handover");
    input.concurrency = 6;
    let client = h.client().await;
    let (w1, w2) = (h.worker("w1").await, h.worker("w2").await);
    let (h1, h2) = (w1.shutdown_handle(), w2.shutdown_handle());
    let w1_id = format!("w1-{}", std::process::id());
    let (r1, r2, status) = tokio::join!(w1.run(), w2.run(), async {
        let out = tokio::time::timeout(WAIT, async {
            let rollout = client.start(input).await.unwrap();
            until(&rollout, "six tenants running", |s| s.running.len() == 6).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            h1.shutdown();
            rollout.result().await.unwrap()
        })
        .await;
        h2.shutdown();
        out.expect("the rollout finished in time")
    });
    r1.unwrap();
    r2.unwrap();
    assert_eq!(status.state, RolloutState::Completed, "{status:#?}");
    assert_eq!(status.done, 6, "{status:#?}");
    let moved: Vec<_> = status.results.iter().filter(|r| r.attempt > 1).collect();
    println!(
        "attempts: {:?}",
        status
            .results
            .iter()
            .map(|r| (&r.tenant, r.attempt, &r.worker))
            .collect::<Vec<_>>()
    );
    for r in &moved {
        assert_ne!(
            r.worker, w1_id,
            "a retried tenant ran on the worker still up"
        );
    }
    for i in 0..6 {
        let t = name(i);
        assert_eq!(h.cloud_records(&t), 2, "{t} on the cloud");
        assert_eq!(
            h.state_resources(&t).await.len(),
            2,
            "{t} in the state store"
        );
        assert!(h.store.pending_intents(&t).await.unwrap().is_empty(), "{t}");
    }
    assert_eq!(h.cloud.inventory().count("dns.record"), 12, "no duplicates");
    h.finish().await;
}

/// A worker whose provider configuration differs from the one the rollout expects refuses
/// its tenants before any side effect; the canary's refusal halts the rollout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_with_other_providers_refuses_the_tenants() {
    let Some(env) = env() else { return };
    let h = Harness::new(env, "providers", 3, &[]).await;
    let mut input = h.input("providers");
    input.canary = 1;
    input.providers_digest = Some("sha256:other-providers".into());
    let client = h.client().await;
    let worker = h.worker_with("w1", Some("sha256:test-providers")).await;
    let stop = worker.shutdown_handle();
    let (r, status) = tokio::join!(worker.run(), async {
        let s = tokio::time::timeout(WAIT, async {
            client.start(input).await.unwrap().result().await.unwrap()
        })
        .await;
        stop.shutdown();
        s.unwrap()
    });
    r.unwrap();
    assert!(
        matches!(status.state, RolloutState::Halted { .. }),
        "{status:#?}"
    );
    assert_eq!((status.done, status.failed, status.pending), (0, 1, 2));
    let refused = status.result("t000").unwrap();
    let error = refused.error.as_ref().unwrap();
    assert_eq!(error.kind, "invalid_input");
    assert!(
        error.message.contains("sha256:other-providers"),
        "{error:?}"
    );
    assert!(refused.run_id.is_none(), "no run started");
    assert_eq!(h.cloud.inventory().count("dns.record"), 0);
    assert!(h.store.list_tenants().await.unwrap().is_empty());
    h.finish().await;
}

/// Past the canary wave, the failure threshold halts the rollout: tenants running finish,
/// none starts after the threshold is reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_failure_threshold_halts_the_rollout() {
    let Some(env) = env() else { return };
    // t001 and t002 have no zone
    let h = Harness::new(env, "threshold", 6, &[1, 2]).await;
    let mut input = h.input("threshold");
    input.concurrency = 1;
    input.max_failures = provisio_engine::FailureThreshold::Count(2);
    let client = h.client().await;
    let status = h
        .with_workers(async { client.start(input).await.unwrap().result().await.unwrap() })
        .await;
    assert_eq!(
        status.state,
        RolloutState::Halted {
            reason: HaltReason::ThresholdReached {
                failed: 2,
                limit: 2
            }
        },
        "{status:#?}"
    );
    assert_eq!((status.done, status.failed, status.pending), (1, 2, 3));
    let order: Vec<&str> = status.results.iter().map(|r| r.tenant.as_str()).collect();
    assert_eq!(order, ["t000", "t001", "t002"]);
    assert_eq!(h.cloud.inventory().count("dns.record"), 2);
    for i in 3..6 {
        assert!(h.store.journal(&name(i), 0).await.unwrap().is_empty());
    }
    h.finish().await;
}
