//! `http.check` in a run: on memory providers (the memory probe), with paused time, so the
//! waits of a check cost nothing.

use provisio::ErrorKind;
use provisio_engine::events::{EventKind, VecSink};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    Action, ApplyOptions, Blueprint, Engine, PlanOptions, Providers, Tenant, types,
};
use provisio_memory::MemoryCloud;
use provisio_memory::probe::MemoryAnswer;
use std::sync::Arc;
use std::time::Duration;

const LAUNCH: &str = r#"
name: launch-tenant
resources:
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: img-1, size: small }
  www:
    type: dns.record
    params: { zone: example.com, name: "${tenant.name}.example.com", type: A, content: "${web.public_ip}" }
  up:
    type: http.check
    params:
      url: "https://${www.fqdn}/health"
      body_contains: ok
      timeout_secs: 120
      interval_secs: 2
"#;

const URL: &str = "https://acme.example.com/health";

fn engine(cloud: &MemoryCloud, sink: Arc<VecSink>, step_timeout: Option<Duration>) -> Engine {
    Engine::builder()
        .providers(
            Providers::new()
                .with_dns("default", cloud.dns.clone())
                .with_compute("default", cloud.compute.clone())
                .with_probe("default", cloud.probe.clone()),
        )
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .events(sink)
        .step_timeout(step_timeout)
        .build()
        .unwrap()
}

fn cloud() -> MemoryCloud {
    let cloud = MemoryCloud::new(1);
    cloud.dns.add_zone("example.com");
    cloud
}

/// The probe fails twice (injected connection failures), then the service answers: the check
/// runs after what it references, its retries are `step_retrying` events, and the run ends
/// only once it has passed.
#[tokio::test(start_paused = true)]
async fn a_check_after_its_dependency_retries_until_it_passes() {
    let cloud = cloud();
    cloud
        .faults
        .error_on_call("probe.fetch", 1, ErrorKind::Transient);
    cloud
        .faults
        .error_on_call("probe.fetch", 2, ErrorKind::Transient);
    let sink = Arc::new(VecSink::new());
    let e = engine(&cloud, sink.clone(), None);
    let bp = Blueprint::from_yaml(LAUNCH).unwrap();
    let t0 = tokio::time::Instant::now();
    let r = e
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.created, 3);
    assert_eq!(r.step("up").unwrap().outputs["url"], URL);
    assert_eq!(r.step("up").unwrap().outputs["status"], 200);
    // three probes: two failed, one passed
    assert_eq!(cloud.faults.calls("probe.fetch"), 3);
    let log: Vec<_> = cloud
        .faults
        .call_log()
        .into_iter()
        .filter(|c| c.operation == "probe.fetch")
        .collect();
    assert!(log.iter().all(|c| c.resource == URL), "{log:?}");

    let events: Vec<EventKind> = sink.events().into_iter().map(|e| e.kind).collect();
    let pos = |f: &dyn Fn(&EventKind) -> bool| events.iter().position(f).unwrap();
    let www_done =
        pos(&|k| matches!(k, EventKind::StepSucceeded { resource, .. } if resource == "www"));
    let up_started =
        pos(&|k| matches!(k, EventKind::StepStarted { resource, .. } if resource == "up"));
    let up_done =
        pos(&|k| matches!(k, EventKind::StepSucceeded { resource, .. } if resource == "up"));
    let finished = pos(&|k| matches!(k, EventKind::RunFinished { .. }));
    assert!(
        www_done < up_started,
        "the check waits for the record it names"
    );
    assert!(up_done < finished && finished == events.len() - 1);
    let retries: Vec<(u32, u64, &str)> = events
        .iter()
        .filter_map(|k| match k {
            EventKind::StepRetrying {
                resource,
                attempt,
                delay_ms,
                reason,
            } if resource == "up" => Some((*attempt, *delay_ms, reason.as_str())),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2, "{events:#?}");
    for (i, (attempt, delay_ms, reason)) in retries.iter().enumerate() {
        assert_eq!(*attempt, i as u32 + 1);
        // full jitter below 2 s, then below 4 s (interval_secs: 2, doubling)
        assert!(*delay_ms <= 2000 << i, "{delay_ms}");
        assert!(reason.contains(URL), "{reason}");
        assert!(reason.contains("expected status 200"), "{reason}");
    }
    let up_requests = events
        .iter()
        .find_map(|k| match k {
            EventKind::StepSucceeded {
                resource, requests, ..
            } if resource == "up" => Some(*requests),
            _ => None,
        })
        .unwrap();
    assert_eq!(up_requests, 3, "each attempt is one request");
    assert!(t0.elapsed() <= Duration::from_secs(6));
}

/// A service that keeps answering 503: the step fails with `Timeout` at the check's deadline,
/// not earlier (the engine's shorter default step timeout does not apply) and not later,
/// naming the URL, what was expected and the last answer; what the run created is rolled back.
#[tokio::test(start_paused = true)]
async fn a_check_that_never_passes_fails_at_its_deadline() {
    let cloud = cloud();
    cloud
        .probe
        .set_answer(URL, MemoryAnswer::status(503, "maintenance"))
        .unwrap();
    let sink = Arc::new(VecSink::new());
    // a default step timeout shorter than the check's deadline
    let e = engine(&cloud, sink.clone(), Some(Duration::from_secs(30)));
    let bp = Blueprint::from_yaml(LAUNCH).unwrap();
    let t0 = tokio::time::Instant::now();
    let r = e
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    let took = t0.elapsed();
    assert!(!r.is_success());
    assert!(
        took >= Duration::from_secs(120) && took < Duration::from_secs(121),
        "{took:?}"
    );
    let (resource, err) = &r.errors[0];
    assert_eq!(resource, "up");
    assert_eq!(err.kind(), &ErrorKind::Timeout);
    let msg = err.to_string();
    assert!(msg.contains("did not finish within 120 s"), "{msg}");
    assert!(
        msg.contains(&format!(
            "GET {URL} answered status 503; expected status 200 and a body containing \"ok\""
        )),
        "{msg}"
    );
    assert_eq!(r.summary.rolled_back, 2, "the instance and the record");
    assert_eq!(cloud.inventory().count("compute.instance"), 0);
    let attempts = cloud.faults.calls("probe.fetch");
    assert!((5..=200).contains(&attempts), "{attempts}");

    // the resource's own timeout_secs, when shorter, ends the check sooner
    let bp = Blueprint::from_yaml(&LAUNCH.replace(
        "      interval_secs: 2\n",
        "      interval_secs: 2\n    timeout_secs: 10\n",
    ))
    .unwrap();
    let t0 = tokio::time::Instant::now();
    let r = engine(&cloud, Arc::new(VecSink::new()), None)
        .apply(&bp, &Tenant::new("acme"), ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(r.errors[0].1.kind(), &ErrorKind::Timeout);
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_secs(11),
        "{took:?}"
    );
}

/// A check that no longer passes shows in a refreshed plan (to be run again) and a refreshed
/// apply waits for it again; `tls_verify: false` shows in the plan.
#[tokio::test(start_paused = true)]
async fn refresh_runs_a_check_that_no_longer_passes_again() {
    let cloud = cloud();
    let sink = Arc::new(VecSink::new());
    let e = engine(&cloud, sink.clone(), None);
    let bp = Blueprint::from_yaml(&LAUNCH.replace(
        "      body_contains: ok\n",
        "      body_contains: ok\n      tls_verify: false\n",
    ))
    .unwrap();
    let acme = Tenant::new("acme");
    let plan = e.plan(&bp, &acme, &PlanOptions::default()).await.unwrap();
    assert!(plan.to_string().contains("tls_verify: false"), "{plan}");
    assert!(
        e.apply(&bp, &acme, ApplyOptions::default())
            .await
            .unwrap()
            .is_success()
    );

    // the service goes down, then comes back after two more probes
    let down_then_up = || {
        cloud
            .probe
            .set_answers(
                URL,
                [
                    MemoryAnswer::status(502, ""),
                    MemoryAnswer::status(502, ""),
                    MemoryAnswer::status(200, "ok"),
                ],
            )
            .unwrap()
    };
    down_then_up();
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
    let up = plan.resources.iter().find(|r| r.name == "up").unwrap();
    assert_eq!(up.action, Action::Create, "{plan}");
    // without refresh an apply trusts state: nothing to do
    cloud.faults.reset_counters();
    let r = e.apply(&bp, &acme, ApplyOptions::default()).await.unwrap();
    assert_eq!(r.summary.unchanged, 3);
    assert_eq!(cloud.faults.calls("probe.fetch"), 0);
    // a refreshed apply probes (502), runs the check again, which waits for the 200
    down_then_up();
    sink.take();
    let r = e
        .apply(&bp, &acme, ApplyOptions::default().refresh())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(cloud.faults.calls("probe.fetch"), 3);
    let retried = sink
        .events()
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::StepRetrying { resource, .. } if resource == "up"))
        .count();
    assert_eq!(retried, 1);
}

/// A URL that only breaks a rule once resolved is refused when the run plans, naming the
/// field, before any side effect.
#[tokio::test]
async fn a_resolved_url_is_checked_at_plan_time() {
    let cloud = cloud();
    let e = engine(&cloud, Arc::new(VecSink::new()), None);
    let bp = Blueprint::from_yaml(
        r#"
name: checks
variables:
  health: {}
resources:
  up:
    type: http.check
    params: { url: "${tenant.health}" }
"#,
    )
    .unwrap();
    let tenant = Tenant::new("acme").var("health", "ftp://acme.example.com/");
    let err = e
        .apply(&bp, &tenant, ApplyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(
        err.message()
            .contains("url: must start with http:// or https://"),
        "{err}"
    );
    assert_eq!(cloud.faults.calls("probe.fetch"), 0);
}
