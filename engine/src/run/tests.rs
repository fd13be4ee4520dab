use super::*;
use crate::blueprint::{ResourceSpec, Variable};
use crate::events::VecSink;
use crate::plan::Drift;
use crate::state::{JournalEntry, JournalPhase};
use crate::test_support::{TestCloud, TestStore, registry_with};
use provisio::ErrorKind;
use serde_json::json;
use std::sync::atomic::Ordering as O;
use std::time::Instant;

fn engine(cloud: &Arc<TestCloud>, store: &Arc<TestStore>, sink: &VecSink) -> Engine {
    Engine::builder()
        .registry(registry_with(cloud.clone()))
        .state(store.clone())
        .events(Arc::new(sink.clone()))
        .build()
        .unwrap()
}

fn server(name: &str) -> ResourceSpec {
    ResourceSpec::new("test.server").params(json!({"name": name, "size": "small"}))
}

fn record_of(name: &str, content: &str) -> ResourceSpec {
    ResourceSpec::new("test.record").params(json!({"name": name, "zone": "z", "content": content}))
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff_ms: 1,
        max_backoff_ms: 2,
    }
}

fn acme() -> Tenant {
    Tenant::new("acme")
}

fn kinds(sink: &VecSink) -> Vec<String> {
    sink.events()
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            match v.get("resource") {
                Some(r) => format!("{} {}", v["type"].as_str().unwrap(), r.as_str().unwrap()),
                None => v["type"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

fn launch() -> Blueprint {
    Blueprint::new("launch")
        .variable("domain", Variable::with_default("example.com"))
        .resource("web", server("${tenant.name}-web"))
        .resource(
            "www",
            ResourceSpec::new("test.record").params(json!({
                "name": "${tenant.name}.${tenant.domain}", "zone": "${tenant.domain}", "content": "${web.public_ip}", "port": "${web.port}"
            })),
        )
}

#[tokio::test]
async fn apply_resolves_outputs_in_dependency_order_and_is_idempotent() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let report = e
        .apply(&launch(), &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.is_success(), "{:?}", report.errors);
    assert_eq!(report.summary.created, 2);
    // a create reads first: a resource absent before the step and found after a failed
    // attempt is this run's to roll back
    assert_eq!(
        cloud.calls(),
        ["read web", "apply web", "read www", "apply www"]
    );
    let outs = e.outputs("acme").await.unwrap();
    assert_eq!(outs["web"]["public_ip"], "10.0.0.1");
    let www = store.get_resource("acme", "www").await.unwrap().unwrap();
    assert_eq!(www.params["content"], "10.0.0.1");
    assert_eq!(
        www.params["port"], 8080,
        "a whole reference keeps its JSON type"
    );
    assert_eq!(www.params["name"], "acme.example.com");
    assert_eq!(www.depends_on, vec!["web".to_string()]);
    // events: run started first, finished last, with the summary
    let k = kinds(&sink);
    assert_eq!(k.first().unwrap(), "run_started");
    assert_eq!(k.last().unwrap(), "run_finished");
    assert!(k.contains(&"step_succeeded web".to_string()));
    // the journal has intent + succeeded per side effect, with ownership tags and params
    let j = store.all_journal();
    assert_eq!(j.len(), 4);
    assert_eq!(j[0].phase, JournalPhase::Intent);
    assert_eq!(j[0].tags["provisio:resource"], "web");
    assert_eq!(j[0].detail["params"]["name"], "acme-web");
    assert_eq!(
        j[0].detail["idempotency_token"],
        idempotency_token("acme", "launch", "web", 0)
    );
    assert_eq!(j[1].phase, JournalPhase::Succeeded);
    assert_eq!(j[1].token, j[0].token);
    assert!(
        store.get_lease("acme").await.unwrap().is_none(),
        "the lease is released"
    );

    // second run: nothing to do, no provider calls
    sink.take();
    let r2 = e
        .apply(&launch(), &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r2.summary.unchanged, 2);
    assert_eq!(r2.summary.created, 0);
    assert_eq!(cloud.count("apply"), 2);
    assert!(!r2.plan.as_ref().unwrap().has_changes());

    // a variable change updates in place
    let r3 = e
        .apply(
            &launch(),
            &acme().var("domain", "corp.test"),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    // zone is a replace field of test.record
    assert_eq!(r3.step("www").unwrap().action, Action::Replace);
    assert_eq!(r3.summary.created, 1);
    assert_eq!(
        store
            .get_resource("acme", "www")
            .await
            .unwrap()
            .unwrap()
            .params["zone"],
        "corp.test"
    );
}

#[tokio::test(start_paused = true)]
async fn independent_steps_overlap_and_concurrency_is_bounded() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    *cloud.delay.lock().unwrap() = Duration::from_millis(100);
    let mut bp = Blueprint::new("b");
    for i in 0..6 {
        bp = bp.resource(format!("s{i}"), server(&format!("s{i}")));
    }
    let t0 = tokio::time::Instant::now();
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success());
    assert_eq!(cloud.max_in_flight.load(O::SeqCst), 6);
    assert_eq!(t0.elapsed(), Duration::from_millis(100));

    let (cloud, store) = (TestCloud::new(), TestStore::new());
    *cloud.delay.lock().unwrap() = Duration::from_millis(100);
    let e = Engine::builder()
        .registry(registry_with(cloud.clone()))
        .state(store.clone())
        .concurrency(2)
        .build()
        .unwrap();
    let t0 = tokio::time::Instant::now();
    e.apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(cloud.max_in_flight.load(O::SeqCst), 2);
    assert_eq!(t0.elapsed(), Duration::from_millis(300));
}

#[tokio::test(start_paused = true)]
async fn ready_queue_starts_dependents_without_waiting_for_the_wave() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.set_delay("a", Duration::from_millis(10));
    cloud.set_delay("c", Duration::from_millis(10));
    cloud.set_delay("slow", Duration::from_millis(500));
    let bp = Blueprint::new("b")
        .resource("a", server("a"))
        .resource("slow", server("slow"))
        .resource("c", record_of("c", "${a.public_ip}"));
    engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    let k = kinds(&sink);
    let pos = |s: &str| k.iter().position(|x| x == s).unwrap();
    assert!(
        pos("step_succeeded c") < pos("step_succeeded slow"),
        "{k:?}"
    );
    assert!(pos("step_succeeded a") < pos("step_started c"));
}

#[tokio::test]
async fn retryable_errors_are_retried_others_are_not() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.fail_next("a", Error::transient("503"));
    cloud.fail_next("a", Error::rate_limited(None));
    cloud.fail_next("b", Error::invalid_input("bad size"));
    let bp = Blueprint::new("b")
        .resource("a", server("a").retry(fast()))
        .resource("b", server("b").retry(fast()));
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default().keep_partial())
        .await
        .unwrap();
    assert!(matches!(
        r.step("a").unwrap().status,
        StepStatus::Succeeded { .. }
    ));
    assert_eq!(cloud.count("apply a"), 3);
    assert_eq!(cloud.count("apply b"), 1, "InvalidInput is never retried");
    match &r.step("b").unwrap().status {
        StepStatus::Failed { error } => {
            assert_eq!(error.kind, "invalid_input");
            assert!(!error.retryable);
        }
        s => panic!("{s:?}"),
    }
    let retrying: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StepRetrying {
                resource,
                attempt,
                reason,
                delay_ms,
            } => Some((resource, attempt, reason, delay_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retrying.len(), 2);
    assert_eq!(retrying[0].1, 1);
    assert!(retrying[0].2.contains("503"));
    assert!(retrying[1].3 <= 2);
    // attempts are bounded
    let (cloud, store) = (TestCloud::new(), TestStore::new());
    cloud.fail_always("a", Error::transient("down"));
    let r = engine(&cloud, &store, &VecSink::new())
        .apply(
            &Blueprint::new("b").resource("a", server("a").retry(fast())),
            &acme(),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(cloud.count("apply a"), 3);
    let err = r.into_result().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.fail_next("a", Error::rate_limited(Some(Duration::from_secs(3))));
    let bp = Blueprint::new("b").resource("a", server("a").retry(fast()));
    let t0 = tokio::time::Instant::now();
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success());
    assert!(t0.elapsed() >= Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn step_timeout_fails_with_timeout() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.set_delay("a", Duration::from_secs(3600));
    let bp = Blueprint::new("b").resource("a", server("a").timeout(Duration::from_secs(2)));
    let t0 = tokio::time::Instant::now();
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    let e = r.into_result().unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout);
    assert_eq!(e.resource(), Some("a"));
    // the intent got its Failed entry: nothing is in doubt
    assert!(store.pending_intents("acme").await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancellation_stops_running_steps_skips_the_rest_and_rolls_back() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.set_delay("slow", Duration::from_secs(60));
    let bp = Blueprint::new("b")
        .resource("fast", server("fast"))
        .resource("slow", server("slow"))
        .resource("after", record_of("after", "${slow.public_ip}"));
    let token = CancellationToken::new();
    let t2 = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        t2.cancel();
    });
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default().cancel(token))
        .await
        .unwrap();
    match &r.step("slow").unwrap().status {
        StepStatus::Failed { error } => assert_eq!(error.kind, "cancelled"),
        s => panic!("{s:?}"),
    }
    assert!(matches!(
        r.step("after").unwrap().status,
        StepStatus::Skipped { .. }
    ));
    assert_eq!(r.step("fast").unwrap().status, StepStatus::RolledBack);
    assert!(store.list_resources("acme").await.unwrap().is_empty());
    assert_eq!(r.into_result().unwrap_err().kind(), &ErrorKind::Cancelled);
}

#[tokio::test]
async fn failure_skips_dependents_finishes_independents_and_rolls_back_in_reverse_order() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.fail_always(
        "bad",
        Error::new(ErrorKind::PermissionDenied, "not allowed"),
    );
    let bp = Blueprint::new("b")
        .resource("base", server("base"))
        .resource("mid", record_of("mid", "${base.public_ip}"))
        .resource("bad", server("bad").depends_on("base"))
        .resource("child", record_of("child", "${bad.public_ip}"))
        .resource("grandchild", record_of("gc", "${child.fqdn}"))
        .resource("kept", server("kept").protect());
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.summary.failed, 1);
    assert_eq!(r.summary.skipped, 2);
    assert_eq!(r.summary.rolled_back, 2);
    for s in ["child", "grandchild"] {
        match &r.step(s).unwrap().status {
            StepStatus::Skipped { reason } => {
                assert!(reason.contains("did not succeed"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(r.step("base").unwrap().status, StepStatus::RolledBack);
    assert_eq!(r.step("mid").unwrap().status, StepStatus::RolledBack);
    // protected resources are never rolled back
    assert!(matches!(
        r.step("kept").unwrap().status,
        StepStatus::Succeeded { .. }
    ));
    let left: Vec<String> = store
        .list_resources("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(left, ["kept"]);
    // reverse dependency order: mid (depends on base) goes first
    let calls = cloud.calls();
    let pos = |s: &str| calls.iter().position(|x| x == s).unwrap();
    assert!(pos("delete mid") < pos("delete base"), "{calls:?}");
    let k = kinds(&sink);
    assert!(k.contains(&"step_rolled_back base".to_string()));
    assert!(k.contains(&"step_skipped grandchild".to_string()));
    assert!(store.pending_intents("acme").await.unwrap().is_empty());
}

#[tokio::test]
async fn keep_partial_keeps_what_was_created() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.fail_always("bad", Error::invalid_input("no"));
    let bp = Blueprint::new("b")
        .resource("good", server("good"))
        .resource("bad", server("bad"));
    let r = engine(&cloud, &store, &sink)
        .apply(&bp, &acme(), ApplyOptions::default().keep_partial())
        .await
        .unwrap();
    assert_eq!(r.summary.rolled_back, 0);
    assert!(store.get_resource("acme", "good").await.unwrap().is_some());
    assert_eq!(cloud.count("delete"), 0);
}

#[tokio::test]
async fn rollback_leaves_pre_existing_resources_alone() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    e.apply(
        &Blueprint::new("b").resource("old", server("old")),
        &acme(),
        ApplyOptions::default(),
    )
    .await
    .unwrap();
    cloud.fail_always("bad", Error::invalid_input("no"));
    let bp = Blueprint::new("b")
        .resource("old", server("old"))
        .resource("new", server("new"))
        .resource("bad", server("bad"));
    let r = e
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.step("new").unwrap().status, StepStatus::RolledBack);
    assert!(store.get_resource("acme", "old").await.unwrap().is_some());
    assert_eq!(
        cloud
            .calls()
            .iter()
            .filter(|c| c.as_str() == "delete old")
            .count(),
        0
    );
}

#[tokio::test]
async fn protection_on_replace_delete_and_destroy() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let bp = Blueprint::new("b")
        .resource("db", server("db").protect())
        .resource("app", record_of("app", "${db.public_ip}"))
        .resource("dep", server("dep"))
        .resource(
            "guarded",
            record_of("guarded", "x").protect().depends_on("dep"),
        );
    e.apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap();

    // replacing the protected db is refused before anything happens
    let bigger = bp.clone().resource(
        "db",
        ResourceSpec::new("test.server")
            .params(json!({"name": "db", "size": "large"}))
            .protect(),
    );
    let calls = cloud.calls().len();
    let err = e
        .apply(&bigger, &acme(), ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Protected);
    assert!(
        err.message()
            .contains("\"db\" is protected; replacing it needs an override"),
        "{err}"
    );
    assert_eq!(cloud.calls().len(), calls);
    // ... and allowed with an override naming it
    let r = e
        .apply(&bigger, &acme(), ApplyOptions::default().allow("db"))
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.step("db").unwrap().action, Action::Replace);
    assert!(cloud.calls().contains(&"delete db".to_string()));

    // deleting a protected resource dropped from the blueprint is refused too
    let without = Blueprint::new("b")
        .resource(
            "db",
            ResourceSpec::new("test.server")
                .params(json!({"name": "db", "size": "large"}))
                .protect(),
        )
        .resource("app", record_of("app", "${db.public_ip}"))
        .resource("dep", server("dep"));
    let err = e
        .apply(&without, &acme(), ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Protected);
    assert!(err.message().contains("guarded"));

    // destroy keeps protected resources and what they depend on
    let r = e
        .destroy(&Blueprint::new("b"), &acme(), DestroyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.kept_protected, ["db", "guarded"]);
    assert!(r.is_success());
    assert_eq!(
        r.summary.deleted, 1,
        "only app: dep is kept because guarded depends on it"
    );
    match &r.step("dep").unwrap().status {
        StepStatus::Skipped { reason } => assert!(reason.contains("guarded"), "{reason}"),
        s => panic!("{s:?}"),
    }
    let left: Vec<String> = store
        .list_resources("acme")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(left, ["db", "dep", "guarded"]);
    // with overrides everything goes, dependents first
    let r = e
        .destroy(
            &Blueprint::new("b"),
            &acme(),
            DestroyOptions::default().allow("db").allow("guarded"),
        )
        .await
        .unwrap();
    assert!(r.kept_protected.is_empty());
    assert!(store.list_resources("acme").await.unwrap().is_empty());
    let calls = cloud.calls();
    let pos = |s: &str| calls.iter().rposition(|x| x == s).unwrap();
    assert!(pos("delete guarded") < pos("delete dep"));
    assert!(cloud.objects.lock().unwrap().is_empty());
}

#[tokio::test]
async fn removed_resources_are_deleted_dependents_first() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let bp = Blueprint::new("b")
        .resource("keep", server("keep"))
        .resource("a", server("a"))
        .resource("b", record_of("b", "${a.id}"));
    e.apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    let r = e
        .apply(
            &Blueprint::new("b").resource("keep", server("keep")),
            &acme(),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.summary.deleted, 2);
    let calls = cloud.calls();
    assert_eq!(&calls[calls.len() - 2..], ["delete b", "delete a"]);
}

#[tokio::test]
async fn lock_conflict_and_waiting() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let held = store
        .acquire_lease("acme", "someone-else", Duration::from_secs(60))
        .await
        .unwrap();
    let err = e
        .apply(&launch(), &acme(), ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert!(err.message().contains("acme"), "{err}");
    assert!(err.message().contains("someone-else"), "{err}");
    assert!(err.message().contains("break the lease"), "{err}");
    assert_eq!(
        err.to_string().matches("someone-else").count(),
        1,
        "the holder is named once: {err}"
    );
    assert!(cloud.calls().is_empty());
    // waiting: the holder releases after a while
    let s2 = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s2.release_lease(&held).await.unwrap();
    });
    let r = e
        .apply(
            &launch(),
            &acme(),
            ApplyOptions::default().lock_wait(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    assert!(r.is_success());
    // waiting with a deadline that passes
    store
        .acquire_lease("acme", "someone-else", Duration::from_secs(60))
        .await
        .unwrap();
    let err = e
        .apply(
            &launch(),
            &acme(),
            ApplyOptions::default().lock_wait(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(err.message().contains("gave up waiting"), "{err}");
}

#[tokio::test]
async fn a_lost_lease_cancels_the_run() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    cloud.set_delay("slow", Duration::from_secs(5));
    let e = Engine::builder()
        .registry(registry_with(cloud.clone()))
        .state(store.clone())
        .events(Arc::new(sink.clone()))
        .lock_ttl(Duration::from_millis(90))
        .build()
        .unwrap();
    let s2 = store.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        s2.break_lease("acme").await.unwrap();
        s2.acquire_lease("acme", "thief", Duration::from_secs(60))
            .await
            .unwrap();
    });
    let t0 = Instant::now();
    let r = e
        .apply(
            &Blueprint::new("b").resource("slow", server("slow")),
            &acme(),
            ApplyOptions::default().keep_partial(),
        )
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(4));
    let err = r.into_result().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Cancelled);
    assert!(err.message().contains("lease"), "{err}");
    // the thief's lease is untouched by our release
    assert_eq!(
        store.get_lease("acme").await.unwrap().unwrap().owner,
        "thief"
    );
}

fn intent(resource: &str, ty: &str, action: &str, params: Value, token: &str) -> JournalEntry {
    JournalEntry {
        seq: 0,
        run_id: "run-crashed".into(),
        tenant: "acme".into(),
        resource: resource.into(),
        resource_type: ty.into(),
        action: action.into(),
        phase: JournalPhase::Intent,
        identity: format!("server:{resource}"),
        tags: provisio::types::ownership::tags("acme", "b", resource),
        token: format!("{token}:{action}:run-crashed"),
        detail: json!({"params": params, "provider": "default", "protect": false, "depends_on": [], "idempotency_token": token}),
        at_ms: 0,
    }
}

#[tokio::test]
async fn crash_resume_adopts_or_recreates_with_the_same_token() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let tok_a = idempotency_token("acme", "b", "a", 0);
    let tok_b = idempotency_token("acme", "b", "b", 0);
    // the crashed run created "a" in the cloud but died before recording it
    cloud.objects.lock().unwrap().insert(
        "server:a".into(),
        json!({"params": {"name": "a", "size": "small"}, "outputs": {"id": "srv-9", "public_ip": "10.0.0.9", "size": "small", "port": 8080}}),
    );
    store
        .append_journal(&intent(
            "a",
            "test.server",
            "create",
            json!({"name": "a", "size": "small"}),
            &tok_a,
        ))
        .await
        .unwrap();
    // ... and died before "b" reached the cloud
    store
        .append_journal(&intent(
            "b",
            "test.server",
            "create",
            json!({"name": "b", "size": "small"}),
            &tok_b,
        ))
        .await
        .unwrap();
    assert_eq!(store.pending_intents("acme").await.unwrap().len(), 2);

    let bp = Blueprint::new("b")
        .resource("a", server("a"))
        .resource("b", server("b"));
    let r = e
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert!(store.pending_intents("acme").await.unwrap().is_empty());
    // a was found and its interrupted ensure run again to finish it (the same resource, no
    // second create); b was created with the crashed run's token
    assert_eq!(cloud.count("apply a"), 1);
    assert_eq!(r.step("a").unwrap().action, Action::NoOp);
    assert_eq!(
        store
            .get_resource("acme", "a")
            .await
            .unwrap()
            .unwrap()
            .outputs["id"],
        "srv-9"
    );
    let mut tokens = cloud.tokens.lock().unwrap().clone();
    tokens.sort();
    assert_eq!(
        tokens,
        vec![
            ("a".to_string(), tok_a.clone()),
            ("b".to_string(), tok_b.clone())
        ]
    );
    assert_eq!(cloud.objects.lock().unwrap().len(), 2, "no duplicates");
    let adopted: Vec<_> = sink
        .events()
        .into_iter()
        .filter_map(|e| match e.kind {
            EventKind::StepSucceeded {
                resource,
                action: Action::Adopt,
                outcome,
                ..
            } => Some((resource, outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        adopted,
        vec![
            ("a".to_string(), StepOutcome::Adopted),
            ("b".to_string(), StepOutcome::Absent)
        ]
    );

    // an in-doubt delete is re-run on the next run (destroy here)
    store
        .append_journal(&intent(
            "a",
            "test.server",
            "delete",
            json!({"name": "a", "size": "small"}),
            &tok_a,
        ))
        .await
        .unwrap();
    let r = e
        .destroy(&Blueprint::new("b"), &acme(), DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success());
    assert!(cloud.objects.lock().unwrap().is_empty());
    assert!(store.pending_intents("acme").await.unwrap().is_empty());
    // created again after the destroy: a new generation, a new token
    e.apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    let tokens = cloud.tokens.lock().unwrap().clone();
    let a_token = tokens.iter().rfind(|(r, _)| r == "a").unwrap().1.clone();
    assert_ne!(a_token, tok_a);
    assert_eq!(a_token, idempotency_token("acme", "b", "a", 1));
}

#[tokio::test]
async fn outputs_state_journal_and_events_never_hold_secrets() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let bp = Blueprint::new("b")
        .variable("smtp_password", Variable::secret())
        .resource("web", server("web"))
        .resource(
            "mail",
            ResourceSpec::new("test.record")
                .params(json!({"name": "mail", "uses_secret": true, "host": "${web.public_ip}"})),
        );
    let t = acme().secret("smtp_password", "hunter2-very-secret");
    let r = e.apply(&bp, &t, ApplyOptions::default()).await.unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(cloud.secret_reads.load(O::SeqCst), 1);
    let all = format!(
        "{}{}{}{}{}",
        serde_json::to_string(&e.outputs("acme").await.unwrap()).unwrap(),
        serde_json::to_string(&store.list_resources("acme").await.unwrap()).unwrap(),
        serde_json::to_string(&store.all_journal()).unwrap(),
        serde_json::to_string(&sink.events()).unwrap(),
        serde_json::to_string(&r).unwrap(),
    );
    assert!(!all.contains("hunter2"), "a secret leaked");

    // a type that leaks the secret into its outputs is refused; nothing is recorded
    struct Leaky;
    #[provisio::async_trait]
    impl ResourceType for Leaky {
        fn name(&self) -> &str {
            "test.leaky"
        }
        fn capability(&self) -> crate::Capability {
            crate::Capability::None
        }
        fn validate(&self, _: &Value) -> Result<()> {
            Ok(())
        }
        fn outputs(&self) -> &[&str] {
            &["pw"]
        }
        fn identity(&self, _: &StepContext<'_>, _: &Value) -> Result<String> {
            Ok("leaky".into())
        }
        async fn read(
            &self,
            _: &StepContext<'_>,
            _: &Value,
            _: Option<&Value>,
        ) -> Result<Option<Value>> {
            Ok(None)
        }
        async fn apply(
            &self,
            ctx: &StepContext<'_>,
            _: &Value,
            _: Option<&Value>,
        ) -> Result<crate::Applied> {
            Ok(crate::Applied {
                outputs: json!({"pw": ctx.secret_var("smtp_password")?.expose()}),
                outcome: provisio::Outcome::Created,
            })
        }
        async fn delete(
            &self,
            _: &StepContext<'_>,
            _: &Value,
            _: &Value,
        ) -> Result<provisio::Deleted> {
            Ok(provisio::Deleted::AlreadyGone)
        }
    }
    let mut reg = registry_with(cloud.clone());
    reg.register(Arc::new(Leaky));
    let store2 = TestStore::new();
    let e2 = Engine::builder()
        .registry(reg)
        .state(store2.clone())
        .events(Arc::new(sink.clone()))
        .build()
        .unwrap();
    let bp2 = Blueprint::new("b")
        .variable("smtp_password", Variable::secret())
        .resource("leak", ResourceSpec::new("test.leaky"));
    let err = e2
        .apply(&bp2, &t, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unexpected);
    assert!(err.message().contains("smtp_password"));
    assert!(!err.to_string().contains("hunter2"));
    assert!(e2.outputs("acme").await.unwrap().is_empty());
    assert!(
        !serde_json::to_string(&store2.all_journal())
            .unwrap()
            .contains("hunter2")
    );
}

#[tokio::test]
async fn refresh_reports_and_optionally_writes_drift() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    e.apply(&launch(), &acme(), ApplyOptions::default())
        .await
        .unwrap();
    let r = e
        .refresh(&launch(), &acme(), RefreshOptions::default())
        .await
        .unwrap();
    assert!(!r.has_drift());
    cloud
        .objects
        .lock()
        .unwrap()
        .get_mut("server:acme-web")
        .unwrap()["outputs"]["public_ip"] = json!("10.1.1.1");
    cloud
        .objects
        .lock()
        .unwrap()
        .remove("record:acme.example.com");
    let r = e
        .refresh(&launch(), &acme(), RefreshOptions::default())
        .await
        .unwrap();
    assert!(r.has_drift());
    assert_eq!(r.resources[1].drift, Drift::Missing);
    match &r.resources[0].drift {
        Drift::Changed { diff } => assert_eq!(diff[0].field, "public_ip"),
        d => panic!("{d:?}"),
    }
    // report only: state unchanged
    assert_eq!(
        e.outputs("acme").await.unwrap()["web"]["public_ip"],
        "10.0.0.1"
    );
    e.refresh(
        &launch(),
        &acme(),
        RefreshOptions {
            write: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let outs = e.outputs("acme").await.unwrap();
    assert_eq!(outs["web"]["public_ip"], "10.1.1.1");
    assert!(!outs.contains_key("www"));
    // the next apply recreates www with the new address
    let r = e
        .apply(&launch(), &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.step("www").unwrap().action, Action::Create);
    assert_eq!(
        store
            .get_resource("acme", "www")
            .await
            .unwrap()
            .unwrap()
            .params["content"],
        "10.1.1.1"
    );
}

#[tokio::test]
async fn invalid_inputs_fail_before_the_lease() {
    let (cloud, store, sink) = (TestCloud::new(), TestStore::new(), VecSink::new());
    let e = engine(&cloud, &store, &sink);
    let bp = Blueprint::new("b")
        .variable("region", Variable::required())
        .resource("a", server("${tenant.region}"));
    let err = e
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.message().contains("required variable \"region\""),
        "{err}"
    );
    assert!(Engine::builder().build().is_err());
    assert!(sink.events().is_empty());
}

/// A create whose response is lost (the provider applied it, then the call failed) and whose
/// step then fails for good must still be rolled back: the resource was absent before the
/// step, so this run made it.
#[tokio::test]
async fn failed_create_that_took_effect_is_rolled_back() {
    use provisio_memory::MemoryCloud;
    let cloud = MemoryCloud::new(3);
    cloud.dns.add_zone("example.com");
    let store = Arc::new(crate::state::memory::MemoryStateStore::new());
    let engine = Engine::builder()
        .providers(
            crate::Providers::new()
                .with_dns("default", cloud.dns.clone())
                .with_storage("default", cloud.storage.clone()),
        )
        .registry(crate::types::builtin())
        .state(store.clone())
        .retry(RetryPolicy {
            max_attempts: 3,
            initial_backoff_ms: 1,
            max_backoff_ms: 2,
        })
        .build()
        .unwrap();
    let bp = Blueprint::from_yaml(
        r#"
name: lost
resources:
  bucket:
    type: storage.bucket
    params: { name: "${tenant.name}-lost-bucket" }
  record:
    type: dns.record
    params: { zone: example.com, name: "${tenant.name}.example.com", type: TXT, content: x }
"#,
    )
    .unwrap();
    let before = cloud.inventory();
    // first ensure_bucket takes effect but its response is lost, the retry fails for good
    cloud
        .faults
        .error_after_effect("storage.ensure_bucket", 1, provisio::ErrorKind::Transient);
    cloud.faults.error_on_call(
        "storage.ensure_bucket",
        2,
        provisio::ErrorKind::PermissionDenied,
    );
    let report = engine
        .apply(&bp, &acme(), ApplyOptions::default())
        .await
        .unwrap();
    assert!(!report.is_success());
    assert_eq!(
        cloud.inventory(),
        before,
        "rollback left: {}",
        before.diff(&cloud.inventory())
    );
    assert!(store.list_resources("acme").await.unwrap().is_empty());
}
