//! Property tests of `Engine::apply` over random DAGs of built-in resource types on the memory
//! providers, with random transient faults (before and after the effect) and random permanent
//! faults:
//!
//! 1. at most one side effect per resource: no duplicates, no more creating calls than
//!    resources of the kind;
//! 2. a step starts only after all its dependencies succeeded; a rollback deletes dependents
//!    before their dependencies;
//! 3. a failed, rolled-back run leaves the inventory exactly as it was, except the protected
//!    resources it created (which are never rolled back), what they need, and what the report
//!    names in `rollback_failed` (a rollback delete that failed past its retries), each with
//!    an error;
//! 4. after a successful run a re-apply is all `Unchanged` and makes no mutating call.

use proptest::prelude::*;
use proptest::sample::Index;
use provisio::ErrorKind;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, Engine, EventKind, Providers, ResourceSpec, RetryPolicy, StateStore,
    StepOutcome, StepStatus, Tenant, VecSink,
};
use provisio_memory::MemoryCloud;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs that failed and were rolled back, and runs that succeeded.
static FAILED_RUNS: AtomicUsize = AtomicUsize::new(0);
static OK_RUNS: AtomicUsize = AtomicUsize::new(0);

const KINDS: [&str; 4] = [
    "dns.record",
    "storage.bucket",
    "compute.instance",
    "secrets.secret",
];
/// The creating (ensure / launch / put) operation of each kind.
const CREATE_OPS: [&str; 4] = [
    "dns.ensure_record",
    "storage.ensure_bucket",
    "compute.launch_instance",
    "secrets.put_secret",
];
const MUTATING_OPS: [&str; 8] = [
    "dns.ensure_record",
    "dns.delete_record",
    "storage.ensure_bucket",
    "storage.delete_bucket",
    "compute.launch_instance",
    "compute.terminate_instance",
    "secrets.put_secret",
    "secrets.delete_secret",
];

#[derive(Debug, Clone)]
struct Node {
    kind: usize,
    deps: Vec<usize>,
    protect: bool,
}

#[derive(Debug, Clone)]
struct Permanent {
    op: usize,
    call: u64,
    kind: ErrorKind,
}

#[derive(Debug, Clone)]
struct Case {
    nodes: Vec<Node>,
    seed: u64,
    concurrency: usize,
    /// Transient errors before the effect, on every operation.
    transient_rate: f64,
    /// Transient errors after the effect (lost responses), on the creating operations.
    after_effect_rate: f64,
    /// Permanent errors on one creating operation's n-th call.
    permanent: Vec<Permanent>,
}

fn node(i: usize) -> impl Strategy<Value = Node> {
    (
        0..KINDS.len(),
        prop::collection::vec(any::<Index>(), 0..=3),
        prop::bool::weighted(0.15),
    )
        .prop_map(move |(kind, picks, protect)| {
            let deps: BTreeSet<usize> = if i == 0 {
                BTreeSet::new()
            } else {
                picks.iter().map(|p| p.index(i)).collect()
            };
            Node {
                kind,
                deps: deps.into_iter().collect(),
                protect,
            }
        })
}

fn nodes() -> impl Strategy<Value = Vec<Node>> {
    (1usize..=30).prop_flat_map(|n| (0..n).map(node).collect::<Vec<_>>())
}

fn permanent() -> impl Strategy<Value = Permanent> {
    (
        0..CREATE_OPS.len(),
        1u64..=8,
        prop_oneof![
            Just(ErrorKind::PermissionDenied),
            Just(ErrorKind::InvalidInput),
            Just(ErrorKind::Conflict),
            Just(ErrorKind::Unexpected),
        ],
    )
        .prop_map(|(op, call, kind)| Permanent { op, call, kind })
}

fn case() -> impl Strategy<Value = Case> {
    (
        nodes(),
        any::<u64>(),
        1usize..=8,
        prop_oneof![Just(0.0), 0.0..0.25f64],
        prop_oneof![Just(0.0), 0.0..0.4f64],
        prop::collection::vec(permanent(), 0..=2),
    )
        .prop_map(
            |(nodes, seed, concurrency, transient_rate, after_effect_rate, permanent)| Case {
                nodes,
                seed,
                concurrency,
                transient_rate,
                after_effect_rate,
                permanent,
            },
        )
}

const TENANT: &str = "acme";

fn res(i: usize) -> String {
    format!("r{i}")
}

/// The provider-side name of resource `i`: `-r<i>-z` makes every inventory entry of a
/// resource recognisable.
fn object_name(i: usize) -> String {
    format!("{TENANT}-r{i}-z")
}

fn marker(i: usize) -> String {
    format!("-r{i}-z")
}

fn blueprint(nodes: &[Node]) -> Blueprint {
    let mut bp = Blueprint::new("props");
    for (i, n) in nodes.iter().enumerate() {
        let params = match KINDS[n.kind] {
            "dns.record" => {
                // reference a dependency's output when there is one with a `name`
                let content = n
                    .deps
                    .iter()
                    .find(|d| nodes[**d].kind != 0)
                    .map(|d| format!("dep=${{r{d}.name}}"))
                    .unwrap_or_else(|| "static".to_string());
                json!({"zone": "example.com", "name": object_name(i), "type": "TXT", "content": content})
            }
            "storage.bucket" => json!({"name": object_name(i)}),
            "compute.instance" => {
                json!({"name": object_name(i), "image": "ami-1", "size": "small", "wait_for": "none"})
            }
            _ => json!({"name": object_name(i), "generate": {"length": 20}}),
        };
        let mut spec = ResourceSpec::new(KINDS[n.kind]).params(params);
        for d in &n.deps {
            spec = spec.depends_on(res(*d));
        }
        if n.protect {
            spec = spec.protect();
        }
        bp = bp.resource(res(i), spec);
    }
    bp
}

fn providers(cloud: &MemoryCloud) -> Providers {
    Providers::new()
        .with_dns("default", cloud.dns.clone())
        .with_storage("default", cloud.storage.clone())
        .with_compute("default", cloud.compute.clone())
        .with_secrets("default", cloud.secrets.clone())
}

/// Which resource an inventory entry belongs to.
fn owner(nodes: &[Node], id: &str, detail: &serde_json::Value) -> Option<usize> {
    // the id names the resource, except for instances (ids are generated; the detail has the
    // name). Never look at other fields: a DNS record's content may name a dependency.
    let name = detail
        .get("name")
        .and_then(|v| v.as_str())
        .unwrap_or_default();
    (0..nodes.len())
        .find(|i| id.contains(&marker(*i)))
        .or_else(|| (0..nodes.len()).find(|i| name.contains(&marker(*i))))
}

async fn check(case: Case) -> Result<(), TestCaseError> {
    let cloud = MemoryCloud::new(case.seed);
    cloud.dns.add_zone("example.com");
    let before = cloud.inventory();
    let f = &cloud.faults;
    if case.transient_rate > 0.0 {
        f.error_rate("*", case.transient_rate, ErrorKind::Transient);
    }
    if case.after_effect_rate > 0.0 {
        for op in CREATE_OPS {
            f.error_rate_after_effect(op, case.after_effect_rate, ErrorKind::Transient);
        }
    }
    for p in &case.permanent {
        f.error_on_call(CREATE_OPS[p.op], p.call, p.kind.clone());
    }
    let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
    let events = Arc::new(VecSink::new());
    let engine = Engine::builder()
        .registry(provisio_engine::types::builtin())
        .providers(providers(&cloud))
        .state(store.clone())
        .events(events.clone())
        .concurrency(case.concurrency)
        .retry(RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 10,
            max_backoff_ms: 200,
        })
        .build()
        .unwrap();
    let bp = blueprint(&case.nodes);
    let tenant = Tenant::new(TENANT);
    let report = engine
        .apply(&bp, &tenant, ApplyOptions::default())
        .await
        .map_err(|e| TestCaseError::fail(format!("apply refused to start: {e}")))?;
    let after = cloud.inventory();
    let evs = events.take();

    // (1) at most one side effect per resource
    let mut per_resource: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for (kind, items) in &after.kinds {
        for (id, detail) in items {
            if let Some(i) = owner(&case.nodes, id, detail) {
                *per_resource.entry((kind.clone(), i)).or_default() += 1;
            }
        }
    }
    for ((kind, i), n) in &per_resource {
        prop_assert!(*n == 1, "{n} {kind} entries of r{i}: duplicates\n{after}");
    }
    for (k, op) in CREATE_OPS.iter().enumerate() {
        let of_kind = case.nodes.iter().filter(|n| n.kind == k).count() as u64;
        let creates = f.mutations(op);
        prop_assert!(
            creates <= of_kind,
            "{creates} mutating {op} calls for {of_kind} resources"
        );
    }

    // (2) dependencies respected
    let mut succeeded: BTreeSet<String> = BTreeSet::new();
    let mut rolled_back: Vec<String> = Vec::new();
    for e in &evs {
        match &e.kind {
            EventKind::StepStarted { resource, .. } => {
                let i: usize = resource[1..].parse().unwrap();
                for d in &case.nodes[i].deps {
                    prop_assert!(
                        succeeded.contains(&res(*d)),
                        "{resource} started before its dependency r{d} succeeded"
                    );
                }
            }
            EventKind::StepSucceeded { resource, .. } => {
                succeeded.insert(resource.clone());
            }
            EventKind::StepRolledBack { resource } => {
                let i: usize = resource[1..].parse().unwrap();
                // every rolled-back dependent was rolled back before
                for (j, n) in case.nodes.iter().enumerate() {
                    if n.deps.contains(&i)
                        && report
                            .step(&res(j))
                            .is_some_and(|s| s.status == StepStatus::RolledBack)
                    {
                        prop_assert!(
                            rolled_back.contains(&res(j)),
                            "{resource} rolled back before its dependent r{j}"
                        );
                    }
                }
                rolled_back.push(resource.clone());
            }
            _ => {}
        }
    }

    // protected resources are never rolled back
    for (i, n) in case.nodes.iter().enumerate() {
        if n.protect {
            prop_assert!(
                !rolled_back.contains(&res(i)),
                "protected r{i} was rolled back"
            );
        }
    }

    if !report.is_success() {
        FAILED_RUNS.fetch_add(1, Ordering::SeqCst);
        // (3) a rolled-back run leaves the inventory as it was, but for protected resources
        // and what they depend on (transitively): those are never rolled back, whether their
        // step succeeded or failed after an attempt took effect (a lost response), since a
        // kept resource keeps what it needs.
        let present: BTreeSet<usize> = after
            .kinds
            .values()
            .flat_map(|items| items.iter())
            .filter_map(|(id, detail)| owner(&case.nodes, id, detail))
            .collect();
        // A rollback delete can fail too (injected faults outlast its retries): what it could
        // not delete stays, and the report must say so, with an error for each.
        for name in &report.rollback_failed {
            prop_assert!(
                report.errors.iter().any(|(r, _)| r == name),
                "{name} not rolled back, but no error says why"
            );
        }
        let not_rolled_back: BTreeSet<usize> = report
            .rollback_failed
            .iter()
            .map(|name| name[1..].parse().unwrap())
            .collect();
        let mut protected: BTreeSet<usize> = case
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| (n.protect || not_rolled_back.contains(i)) && present.contains(i))
            .map(|(i, _)| i)
            .collect();
        loop {
            let needed: BTreeSet<usize> = protected
                .iter()
                .flat_map(|&i| case.nodes[i].deps.iter().copied())
                .filter(|d| !protected.contains(d))
                .collect();
            if needed.is_empty() {
                break;
            }
            protected.extend(needed);
        }
        // and the report names every one of them that this run created and kept
        for name in &report.kept_protected {
            let i: usize = name[1..].parse().unwrap();
            prop_assert!(
                protected.contains(&i),
                "{name} kept but not needed by a protected resource"
            );
        }
        let mut expected = before.clone();
        for (kind, items) in &after.kinds {
            for (id, detail) in items {
                if owner(&case.nodes, id, detail).is_some_and(|i| protected.contains(&i)) {
                    expected.insert(kind, id.clone(), detail.clone());
                }
            }
        }
        prop_assert!(
            after == expected,
            "after the rollback the inventory differs from the one before (but protected):\n{}\nerrors: {:?}\nsteps: {:?}",
            expected.diff(&after),
            report
                .errors
                .iter()
                .map(|(r, e)| format!("{r}: {e}"))
                .collect::<Vec<_>>(),
            report
                .steps
                .iter()
                .map(|s| format!("{} {:?}", s.resource, s.status))
                .collect::<Vec<_>>()
        );
        // every protected resource that succeeded still exists
        let succeeded_protected = protected.iter().filter(|i| {
            matches!(
                report.step(&res(**i)).map(|s| &s.status),
                Some(StepStatus::Succeeded { .. })
            )
        });
        for i in succeeded_protected {
            prop_assert!(
                per_resource.keys().any(|(_, j)| j == i),
                "protected r{i} is gone"
            );
        }
    } else {
        OK_RUNS.fetch_add(1, Ordering::SeqCst);
        // (4) success: everything exists once, and a re-apply is a no-op
        prop_assert_eq!(per_resource.len(), case.nodes.len());
        prop_assert_eq!(
            store.list_resources(TENANT).await.unwrap().len(),
            case.nodes.len()
        );
        f.clear();
        f.reset_counters();
        let again = engine
            .apply(&bp, &tenant, ApplyOptions::default())
            .await
            .map_err(|e| TestCaseError::fail(format!("re-apply refused: {e}")))?;
        prop_assert!(again.is_success(), "re-apply failed: {:?}", again.errors);
        for s in &again.steps {
            prop_assert!(
                s.status
                    == StepStatus::Succeeded {
                        outcome: StepOutcome::Unchanged
                    },
                "re-apply of {}: {:?}",
                s.resource,
                s.status
            );
        }
        for op in MUTATING_OPS {
            prop_assert_eq!(f.mutations(op), 0, "re-apply called {}", op);
        }
        prop_assert!(cloud.inventory() == after, "re-apply changed the inventory");
    }
    prop_assert!(
        store.pending_intents(TENANT).await.unwrap().is_empty(),
        "pending intents after the run"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        max_shrink_iters: 200,
        .. ProptestConfig::default()
    })]

    #[test]
    fn apply_is_once_ordered_rolled_back_and_idempotent(case in case()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(check(case))?;
        eprintln!(
            "so far: {} succeeded, {} failed and rolled back",
            OK_RUNS.load(Ordering::SeqCst),
            FAILED_RUNS.load(Ordering::SeqCst)
        );
    }
}
