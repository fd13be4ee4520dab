//! The engine: apply, destroy, refresh and outputs, with bounded concurrency, retries, rate
//! limits, timeouts, cancellation, rollback, protection, per-tenant leases and the crash-safe
//! journal.
//!
//! # How a run goes
//!
//! 1. The blueprint is validated and the tenant checked; the plan is computed and an apply that
//!    would delete or replace a protected resource not named in an override is refused
//!    (`Protected`) before anything happens.
//! 2. The tenant's lease is taken (`Conflict` when another runner holds it, unless the caller
//!    asked to wait) and renewed by a heartbeat task for the whole run; losing it cancels the
//!    run.
//! 3. In-doubt intents of a crashed run are resolved: creates and updates are looked up with
//!    [`ResourceType::read`] and adopted or treated as absent; deletes are re-run.
//! 4. Steps run from a ready queue: a resource starts as soon as everything it depends on has
//!    succeeded, at most `concurrency` at a time. Every side effect is journaled (intent, then
//!    succeeded/failed) before the resource record is written.
//! 5. When a step fails, what depends on it is skipped, independent steps finish, and —
//!    unless `keep_partial` — the resources this run created are deleted again in reverse
//!    dependency order (protected ones never).

use crate::blueprint::{Blueprint, Graph, ResourceSpec};
use crate::events::{Event, EventError, EventKind, EventSink, Operation, StepOutcome, Summary};
use crate::plan::{
    self, Action, Drift, Plan, PlanOptions, PlannedResource, decide, delete_order, diff_values,
    protected_message,
};
use crate::providers::Providers;
use crate::resource::{Registry, ResourceType, StepContext, Tenant};
use crate::retry::RetryPolicy;
use crate::state::{JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, now_ms};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use provisio::requests::RequestTally;
use provisio::{Error, ErrorKind, Result};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The deterministic idempotency token of one resource of one tenant: the first 32 hex digits
/// of SHA-256 over tenant, blueprint, resource and generation. The generation is the number
/// of successful `create` journal entries of the resource, so a resumed run passes the same
/// token as the run that crashed, and a resource created again after a destroy gets a new one.
///
/// ```
/// let a = provisio_engine::idempotency_token("acme", "launch", "web", 0);
/// assert_eq!(a, provisio_engine::idempotency_token("acme", "launch", "web", 0));
/// assert_ne!(a, provisio_engine::idempotency_token("acme", "launch", "web", 1));
/// assert_eq!(a.len(), 32);
/// ```
pub fn idempotency_token(tenant: &str, blueprint: &str, resource: &str, generation: u64) -> String {
    let mut h = Sha256::new();
    for part in [tenant, blueprint, resource, &generation.to_string()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex::encode(h.finalize())[..32].to_string()
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    providers: Providers,
    registry: Registry,
    state: Option<Arc<dyn StateStore>>,
    events: Option<Arc<dyn EventSink>>,
    concurrency: usize,
    lock_owner: String,
    lock_ttl: Duration,
    step_timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            providers: Providers::new(),
            registry: Registry::new(),
            state: None,
            events: None,
            concurrency: 16,
            lock_owner: format!("pid-{}", std::process::id()),
            lock_ttl: Duration::from_secs(60),
            step_timeout: Some(Duration::from_secs(600)),
            retry: RetryPolicy::default(),
        }
    }
}

impl EngineBuilder {
    /// The providers resources may use.
    pub fn providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }
    /// The resource types (e.g. [`crate::types::builtin`] plus custom ones).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }
    /// The state store (required).
    pub fn state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.state = Some(state);
        self
    }
    /// Where run events go (default: dropped; without a sink no event is even built).
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }
    /// How many steps of one run may be in flight at once (default 16, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// The lease owner prefix (default `pid-<pid>`); each run appends its run id, so two runs
    /// of one engine exclude each other too.
    pub fn lock_owner(mut self, owner: impl Into<String>) -> Self {
        self.lock_owner = owner.into();
        self
    }
    /// The lease TTL (default 60 s); the heartbeat renews it every third of it.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(30));
        self
    }
    /// The timeout of a step whose resource sets none (default 600 s; `None`: no timeout).
    pub fn step_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.step_timeout = timeout;
        self
    }
    /// The retry policy of resources that set none.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Builds the engine; `InvalidInput` when no state store was given.
    pub fn build(self) -> Result<Engine> {
        let state = self.state.ok_or_else(|| {
            Error::invalid_input("the engine needs a state store (EngineBuilder::state)")
        })?;
        Ok(Engine {
            inner: Arc::new(Inner {
                providers: self.providers,
                registry: self.registry,
                state,
                events: self.events,
                concurrency: self.concurrency,
                lock_owner: self.lock_owner,
                lock_ttl: self.lock_ttl,
                step_timeout: self.step_timeout,
                retry: self.retry,
            }),
        })
    }
}

struct Inner {
    providers: Providers,
    registry: Registry,
    state: Arc<dyn StateStore>,
    /// `None`: events are dropped (and not built).
    events: Option<Arc<dyn EventSink>>,
    concurrency: usize,
    lock_owner: String,
    lock_ttl: Duration,
    step_timeout: Option<Duration>,
    retry: RetryPolicy,
}

/// The provisioning engine. Cheap to clone.
///
/// Rate limits are not the engine's: providers pace every request they send in the
/// process-wide limiter of [`provisio::requests`], keyed by account, so every engine, fleet and
/// direct caller in the process shares an account's quota.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// A look at the plan an apply is about to carry out; see [`ApplyOptions::on_plan`].
#[derive(Clone)]
pub struct PlanHook(Arc<dyn Fn(&Plan) -> bool + Send + Sync>);

impl PlanHook {
    /// Wraps `f`; it returns whether the run goes on.
    pub fn new(f: impl Fn(&Plan) -> bool + Send + Sync + 'static) -> Self {
        PlanHook(Arc::new(f))
    }
}

impl std::fmt::Debug for PlanHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanHook")
    }
}

/// Options of [`Engine::apply`].
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Called with the plan once the run holds the tenant's lease and has finished what a
    /// crashed run left, before any step (and before a blocked plan is refused); returning
    /// `false` ends the run there, changing nothing. The CLI prints the plan from here, so
    /// what it shows is what the run does, planned under the lease and read once.
    pub on_plan: Option<PlanHook>,
    /// Keep what a failed run created instead of rolling it back.
    pub keep_partial: bool,
    /// Protected resources the caller allows to be deleted or replaced.
    pub overrides: BTreeSet<String>,
    /// Read every resource before planning (drift shows in the plan).
    pub refresh: bool,
    /// Cancels the run: running steps fail with `Cancelled`, the rest are skipped.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease instead of failing with `Conflict`.
    pub lock_wait: Option<Duration>,
}

impl ApplyOptions {
    /// Keeps what a failed run created.
    pub fn keep_partial(mut self) -> Self {
        self.keep_partial = true;
        self
    }
    /// Allows deleting or replacing the protected resource `name`.
    pub fn allow(mut self, name: impl Into<String>) -> Self {
        self.overrides.insert(name.into());
        self
    }
    /// Refreshes before planning.
    pub fn refresh(mut self) -> Self {
        self.refresh = true;
        self
    }
    /// Uses `token` for cancellation.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Waits up to `d` for the tenant's lease.
    pub fn lock_wait(mut self, d: Duration) -> Self {
        self.lock_wait = Some(d);
        self
    }
    /// Shows the plan to `f` before the first step; `f` returns whether to go on.
    pub fn on_plan(mut self, f: impl Fn(&Plan) -> bool + Send + Sync + 'static) -> Self {
        self.on_plan = Some(PlanHook::new(f));
        self
    }
}

/// Options of [`Engine::destroy`].
#[derive(Debug, Clone, Default)]
pub struct DestroyOptions {
    /// Protected resources the caller allows to be deleted.
    pub overrides: BTreeSet<String>,
    /// Cancels the run.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease.
    pub lock_wait: Option<Duration>,
}

impl DestroyOptions {
    /// Allows deleting the protected resource `name`.
    pub fn allow(mut self, name: impl Into<String>) -> Self {
        self.overrides.insert(name.into());
        self
    }
    /// Uses `token` for cancellation.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Waits up to `d` for the tenant's lease.
    pub fn lock_wait(mut self, d: Duration) -> Self {
        self.lock_wait = Some(d);
        self
    }
}

/// Options of [`Engine::refresh`].
#[derive(Debug, Clone, Default)]
pub struct RefreshOptions {
    /// Write what was read into state: changed outputs are recorded, records of missing
    /// resources removed. Default: report only.
    pub write: bool,
    /// Cancels the run.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease.
    pub lock_wait: Option<Duration>,
}

/// How one step ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// It succeeded.
    Succeeded {
        /// What it did.
        outcome: StepOutcome,
    },
    /// It failed.
    Failed {
        /// Why.
        error: EventError,
    },
    /// It did not run.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It succeeded, then was undone by the rollback of the failed run.
    RolledBack,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// The resource.
    pub resource: String,
    /// What the step did or would have done.
    pub action: Action,
    /// How it ended.
    pub status: StepStatus,
    /// The outputs after the step (`null` when it did not succeed or deleted).
    pub outputs: Value,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// apply or destroy.
    pub operation: Operation,
    /// Counts.
    pub summary: Summary,
    /// Every step, in the order they finished.
    pub steps: Vec<StepReport>,
    /// Protected resources a destroy kept, and what they need (a rollback keeps the same: a
    /// protected database created by a failed first launch keeps its owner role).
    pub kept_protected: Vec<String>,
    /// Resources this run may have created without being able to prove it (a provider
    /// reported what it found only after an attempt whose answer was lost): kept when the run
    /// rolled back, recorded in state, so a later apply adopts them and destroy removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_doubt: Vec<String>,
    /// The plan the apply started from (`None` for destroy).
    pub plan: Option<Plan>,
    /// The failures, with their full errors.
    #[serde(skip)]
    pub errors: Vec<(String, Error)>,
}

impl RunReport {
    /// Whether every step succeeded (skips of protected resources in a destroy count as
    /// success).
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
    }
    /// The step of `resource`.
    pub fn step(&self, resource: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.resource == resource)
    }
    /// `Ok(self)` when the run succeeded, else the first failure.
    pub fn into_result(self) -> Result<RunReport> {
        match self.errors.first() {
            None => Ok(self),
            Some((_, e)) => Err(e.clone()),
        }
    }
}

/// One resource in a refresh.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RefreshedResource {
    /// The resource.
    pub resource: String,
    /// What the read found.
    pub drift: Drift,
}

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RefreshReport {
    /// The run's id.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// Every resource in state.
    pub resources: Vec<RefreshedResource>,
}

impl RefreshReport {
    /// Whether any resource drifted or went missing.
    pub fn has_drift(&self) -> bool {
        self.resources.iter().any(|r| r.drift != Drift::InSync)
    }
}

/// The state of one run, shared by its steps.
struct Run<'a> {
    id: String,
    tenant: &'a Tenant,
    blueprint: &'a str,
    cancel: CancellationToken,
    lease_lost: Arc<AtomicBool>,
    /// `None`: no sink, events are not built.
    events: Option<&'a dyn EventSink>,
    /// Resources whose create step failed after an attempt had taken effect (found by a read
    /// after the failure, absent before the step): made by this run, so rolled back with it.
    created_on_failure: std::sync::Mutex<BTreeSet<String>>,
    /// Resources whose create step could not tell whether they existed before (see
    /// [`Provenance::InDoubt`]).
    in_doubt: std::sync::Mutex<BTreeSet<String>>,
    /// Every provider request of the run, per provider.
    requests: Arc<RequestTally>,
    /// Secret values the run wrote (see [`crate::resource::WrittenSecrets`]).
    written: crate::resource::WrittenSecrets,
}

impl Run<'_> {
    /// Emits the event `kind` builds, building it only when there is a sink.
    fn emit(&self, kind: impl FnOnce() -> EventKind) {
        if let Some(events) = self.events {
            events.emit(&Event {
                run_id: self.id.clone(),
                tenant: self.tenant.name.clone(),
                at_ms: now_ms(),
                kind: kind(),
            });
        }
    }
    fn cancelled_error(&self) -> Error {
        if self.lease_lost.load(Ordering::SeqCst) {
            Error::cancelled(format!(
                "the lease on tenant {:?} was lost (broken or taken over); the run stopped",
                self.tenant.name
            ))
        } else {
            Error::cancelled("the run was cancelled")
        }
    }
}

/// One apply step: a blueprint resource with its record and resolved parameters.
struct ApplyStep<'a> {
    name: &'a str,
    spec: &'a ResourceSpec,
    deps: &'a BTreeSet<String>,
    record: Option<&'a ResourceRecord>,
    params: Result<Value>,
    overrides: &'a BTreeSet<String>,
    token: &'a str,
    /// What the plan said about it (its drift and refreshed outputs).
    planned: Option<&'a PlannedResource>,
}

/// What the rollback of a failed apply did.
#[derive(Debug, Default)]
struct Rollback {
    /// Deleted again.
    rolled_back: BTreeSet<String>,
    /// Created by the run but kept, because something that stays needs them.
    kept: Vec<String>,
}

/// Whether this run created a resource it had no record of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provenance {
    /// It was absent before the step: this run made it (and rolls it back with the run).
    Created,
    /// It existed before the step (adopted, or recorded in state).
    Existed,
    /// The provider's first report came after a failed attempt that may have created it:
    /// kept on rollback (recorded in state, listed in [`RunReport::in_doubt`]).
    InDoubt,
}

impl Provenance {
    fn from_absent(absent: bool) -> Self {
        if absent {
            Provenance::Created
        } else {
            Provenance::Existed
        }
    }
}

/// A resource whose create step failed, to look up once more (see
/// `Engine::record_after_failed_create`).
struct FoundAfterFailure<'a> {
    name: &'a str,
    spec: &'a ResourceSpec,
    ctx: &'a StepContext<'a>,
    rt: &'a dyn ResourceType,
    params: &'a Value,
    identity: String,
    depends_on: Vec<String>,
}

/// How a node of the schedule ended.
#[derive(Debug, Clone)]
enum NodeOutcome {
    Done {
        action: Action,
        outcome: StepOutcome,
        outputs: Value,
    },
    Failed {
        action: Action,
        error: Error,
    },
    Skipped {
        action: Action,
        reason: String,
        /// Kept by protection (destroy) rather than for a failure.
        protected: bool,
    },
}

impl NodeOutcome {
    fn ok(&self) -> bool {
        matches!(self, NodeOutcome::Done { .. })
    }
}

struct LeaseGuard {
    lease: Arc<tokio::sync::Mutex<Lease>>,
    heartbeat: tokio::task::JoinHandle<()>,
    state: Arc<dyn StateStore>,
}

impl Drop for LeaseGuard {
    /// A run future dropped by its caller stops renewing; the lease then expires by its TTL.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl LeaseGuard {
    async fn release(self) {
        self.heartbeat.abort();
        let lease = self.lease.lock().await.clone();
        if let Err(e) = self.state.release_lease(&lease).await {
            tracing::warn!(tenant = %lease.tenant, error = %e, "releasing the lease failed");
        }
    }
}

/// Refuses an override that names no resource of the blueprint or the tenant's state: a typo
/// in `--allow` must not pass silently while the user believes something is allowed.
fn check_overrides<'a>(
    overrides: &BTreeSet<String>,
    known: impl Iterator<Item = &'a String>,
) -> Result<()> {
    let known: BTreeSet<&str> = known.map(String::as_str).collect();
    for o in overrides {
        if known.contains(o.as_str()) {
            continue;
        }
        let hint = match known.iter().find(|k| k.eq_ignore_ascii_case(o)) {
            Some(k) => format!("; did you mean {k:?}? (names are case-sensitive)"),
            None => format!(
                " (resources: {})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            ),
        };
        return Err(Error::invalid_field(
            "override",
            format!("{o:?} names no resource of the blueprint or the tenant's state{hint}"),
        )
        .with_resource(o.clone()));
    }
    Ok(())
}

fn new_run_id() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().r#gen();
    format!("run-{n:016x}")
}

fn secret_free(tenant: &Tenant, resource: &str, value: &Value) -> Result<()> {
    // only secrets of 4+ characters are looked for: without one there is nothing to walk
    if !tenant.secrets.values().any(|v| v.expose().len() >= 4) {
        return Ok(());
    }
    let mut leak = None;
    crate::template::walk_strings(value, "", &mut |path, s| {
        for (k, v) in &tenant.secrets {
            let v = v.expose();
            if v.len() >= 4 && s.contains(v) && leak.is_none() {
                leak = Some((path.to_string(), k.clone()));
            }
        }
    });
    match leak {
        None => Ok(()),
        Some((path, key)) => Err(Error::unexpected(format!(
            "the resource type returned the value of secret variable {key:?} in {path:?}; it is not recorded (outputs must never hold secrets)"
        ))
        .with_resource(resource)),
    }
}

impl Engine {
    /// A builder with the defaults: no providers, no types, no state store (required),
    /// events dropped, concurrency 16, lease TTL 60 s, step timeout 600 s.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The providers.
    pub fn providers(&self) -> &Providers {
        &self.inner.providers
    }
    /// The resource types.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }
    /// The state store.
    pub fn state(&self) -> &Arc<dyn StateStore> {
        &self.inner.state
    }

    /// Plans an apply; makes no changes and takes no lease.
    pub async fn plan(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: &PlanOptions,
    ) -> Result<Plan> {
        plan::plan(
            &self.inner.registry,
            &self.inner.providers,
            self.inner.state.as_ref(),
            blueprint,
            tenant,
            options,
        )
        .await
    }

    /// The outputs of every resource of `tenant` as recorded in state, by resource name.
    /// Outputs never hold a secret value: secrets are never interpolated into parameters, and
    /// the engine refuses to record outputs that contain one of the tenant's secret values.
    pub async fn outputs(&self, tenant: &str) -> Result<BTreeMap<String, Value>> {
        Ok(self
            .inner
            .state
            .list_resources(tenant)
            .await?
            .into_iter()
            .map(|r| (r.name, r.outputs))
            .collect())
    }

    async fn lock(
        &self,
        tenant: &str,
        run_id: &str,
        wait: Option<Duration>,
        run_cancel: &CancellationToken,
        lost: &Arc<AtomicBool>,
    ) -> Result<LeaseGuard> {
        let state = self.inner.state.clone();
        let owner = format!("{}/{run_id}", self.inner.lock_owner);
        let ttl = self.inner.lock_ttl;
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let lease = loop {
            match state.acquire_lease(tenant, &owner, ttl).await {
                Ok(l) => break l,
                Err(e) if e.kind() == &ErrorKind::Conflict => {
                    let now = tokio::time::Instant::now();
                    match deadline {
                        Some(d) if now < d && !run_cancel.is_cancelled() => {
                            let nap = (d - now).min(Duration::from_millis(250));
                            tokio::select! {
                                _ = tokio::time::sleep(nap) => {}
                                _ = run_cancel.cancelled() => {}
                            }
                        }
                        _ => {
                            // the store's message already names the holder and expiry
                            return Err(Error::conflict(format!(
                                "{}{}; wait for it (lock_wait) or, if its holder is dead, \
                                 break the lease",
                                e.message(),
                                if wait.is_some() {
                                    " (gave up waiting)"
                                } else {
                                    ""
                                },
                            ))
                            .with_operation("state.lease")
                            .with_resource(tenant.to_string()));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let shared = Arc::new(tokio::sync::Mutex::new(lease));
        let hb_lease = shared.clone();
        let hb_state = state.clone();
        let hb_cancel = run_cancel.clone();
        let hb_lost = lost.clone();
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let current = hb_lease.lock().await.clone();
                match hb_state.renew_lease(&current, ttl).await {
                    Ok(l) => *hb_lease.lock().await = l,
                    Err(e) if e.kind() == &ErrorKind::Conflict => {
                        tracing::error!(tenant = %current.tenant, error = %e, "lease lost; cancelling the run");
                        hb_lost.store(true, Ordering::SeqCst);
                        hb_cancel.cancel();
                        return;
                    }
                    Err(e) => {
                        // a store hiccup: try again at the next beat, the TTL leaves room
                        tracing::warn!(tenant = %current.tenant, error = %e, "lease renewal failed");
                    }
                }
            }
        });
        Ok(LeaseGuard {
            lease: shared,
            heartbeat,
            state,
        })
    }

    fn ctx<'a>(
        &'a self,
        run: &'a Run<'a>,
        resource: &'a str,
        provider: &'a str,
        token: &'a str,
    ) -> StepContext<'a> {
        StepContext {
            tenant: run.tenant,
            blueprint: run.blueprint,
            resource,
            provider,
            providers: &self.inner.providers,
            ownership: provisio::types::ownership::tags(&run.tenant.name, run.blueprint, resource),
            idempotency_token: token,
            written: &run.written,
        }
    }

    /// Runs `call` with retries (retryable errors only, full-jitter backoff), the step timeout
    /// and cancellation. (Providers pace their own requests; see [`provisio::requests`].)
    async fn call<'f, T, F, Fut>(
        &self,
        run: &Run<'_>,
        resource: &str,
        (policy, timeout): (RetryPolicy, Option<Duration>),
        cancel: &CancellationToken,
        mut call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>> + 'f,
    {
        let attempts = async {
            let mut attempt = 1u32;
            loop {
                match call().await {
                    Ok(v) => return Ok(v),
                    Err(e) => {
                        if !policy.should_retry(attempt, &e) {
                            return Err(e);
                        }
                        let delay = policy.delay(attempt, e.retry_after());
                        tracing::info!(resource, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying");
                        run.emit(|| EventKind::StepRetrying {
                            resource: resource.to_string(),
                            attempt,
                            delay_ms: delay.as_millis() as u64,
                            reason: e.to_string(),
                        });
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                }
            }
        };
        let timed = async {
            match timeout {
                Some(t) => match tokio::time::timeout(t, attempts).await {
                    Ok(r) => r,
                    Err(_) => Err(Error::timeout(format!(
                        "the step did not finish within {} s",
                        t.as_secs_f64()
                    ))
                    .with_resource(resource)),
                },
                None => attempts.await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(run.cancelled_error().with_resource(resource)),
            r = timed => r,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn journal(
        &self,
        run: &Run<'_>,
        resource: &str,
        resource_type: &str,
        action: &str,
        phase: JournalPhase,
        identity: &str,
        token: &str,
        detail: Value,
    ) -> Result<()> {
        self.inner
            .state
            .append_journal(&JournalEntry {
                seq: 0,
                run_id: run.id.clone(),
                tenant: run.tenant.name.clone(),
                resource: resource.to_string(),
                resource_type: resource_type.to_string(),
                action: action.to_string(),
                phase,
                identity: identity.to_string(),
                tags: provisio::types::ownership::tags(&run.tenant.name, run.blueprint, resource),
                token: token.to_string(),
                detail,
                at_ms: now_ms(),
            })
            .await
            .map(|_| ())
    }

    /// Generation per resource: successful `create` journal entries.
    async fn generations(&self, tenant: &str) -> Result<BTreeMap<String, u64>> {
        let mut g = BTreeMap::new();
        for e in self.inner.state.journal(tenant, 0).await? {
            if e.phase == JournalPhase::Succeeded && e.action == "create" {
                *g.entry(e.resource).or_insert(0) += 1;
            }
        }
        Ok(g)
    }

    fn policy(&self, spec: Option<&ResourceSpec>) -> (RetryPolicy, Option<Duration>) {
        let retry = spec.and_then(|s| s.retry).unwrap_or(self.inner.retry);
        let timeout = spec
            .and_then(|s| s.timeout_secs)
            .map(Duration::from_secs)
            .or(self.inner.step_timeout);
        (retry, timeout)
    }

    /// One journaled delete of a recorded resource (destroy, orphan delete, replace, rollback).
    async fn delete_recorded(
        &self,
        run: &Run<'_>,
        rec: &ResourceRecord,
        journal_action: &str,
        token: &str,
        spec: Option<&ResourceSpec>,
        cancel: &CancellationToken,
    ) -> Result<StepOutcome> {
        let rt = self.type_of(&rec.resource_type)?;
        let ctx = self.ctx(run, &rec.name, &rec.provider, token);
        let jtoken = format!("{token}:{journal_action}:{}", run.id);
        self.journal(
            run,
            &rec.name,
            &rec.resource_type,
            journal_action,
            JournalPhase::Intent,
            &rec.identity,
            &jtoken,
            json!({"params": rec.params, "outputs": rec.outputs, "provider": rec.provider, "protect": rec.protect, "depends_on": rec.depends_on, "idempotency_token": token}),
        )
        .await?;
        let r = self
            .call(run, &rec.name, self.policy(spec), cancel, || {
                rt.delete(&ctx, &rec.params, &rec.outputs)
            })
            .await;
        match r {
            Ok(d) => {
                self.journal(
                    run,
                    &rec.name,
                    &rec.resource_type,
                    journal_action,
                    JournalPhase::Succeeded,
                    &rec.identity,
                    &jtoken,
                    json!({"deleted": d}),
                )
                .await?;
                self.inner
                    .state
                    .delete_resource(&run.tenant.name, &rec.name)
                    .await?;
                Ok(d.into())
            }
            Err(e) => {
                self.journal(
                    run,
                    &rec.name,
                    &rec.resource_type,
                    journal_action,
                    JournalPhase::Failed,
                    &rec.identity,
                    &jtoken,
                    json!({"error": EventError::from(&e)}),
                )
                .await?;
                Err(e)
            }
        }
    }

    fn type_of(&self, name: &str) -> Result<Arc<dyn ResourceType>> {
        self.inner.registry.get(name).ok_or_else(|| {
            Error::invalid_input(format!("unknown resource type {name:?} (not registered)"))
        })
    }

    /// Create or update one blueprint resource (journaled).
    #[allow(clippy::too_many_arguments)]
    async fn ensure(
        &self,
        run: &Run<'_>,
        name: &str,
        spec: &ResourceSpec,
        deps: &BTreeSet<String>,
        params: &Value,
        prior: Option<&ResourceRecord>,
        action: Action,
        token: &str,
    ) -> Result<(StepOutcome, Value)> {
        let rt = self.type_of(&spec.resource_type)?;
        let ctx = self.ctx(run, name, &spec.provider, token);
        let identity = rt.identity(&ctx, params)?;
        let jaction = action.as_str();
        let jtoken = format!("{token}:{jaction}:{}", run.id);
        let depends_on: Vec<String> = deps.iter().cloned().collect();
        self.journal(
            run,
            name,
            &spec.resource_type,
            jaction,
            JournalPhase::Intent,
            &identity,
            &jtoken,
            json!({"params": params, "provider": spec.provider, "protect": spec.protect, "depends_on": depends_on, "idempotency_token": token}),
        )
        .await?;
        let policy = self.policy(Some(spec));
        let prior_outputs = prior.map(|r| &r.outputs);
        // Without a record, the run must learn whether the resource existed before this step:
        // it rolls back what it created and never what existed. Built-in types' providers say
        // what they found while they ensure (`provisio::existence`), which costs no request;
        // for other types the engine reads first. An attempt whose answer is lost can have
        // created the resource; the retry then finds it, so a report made only after a failed
        // attempt leaves the step in doubt.
        let pre_read_absent = if prior.is_none() && !rt.reports_existence() {
            Some(matches!(
                self.call(run, name, policy, &run.cancel, || rt
                    .read(&ctx, params, None))
                    .await,
                Ok(None)
            ))
        } else {
            None
        };
        let existence = Arc::new(provisio::existence::Existence::default());
        let failed_before_report = AtomicBool::new(false);
        let r = self
            .call(run, name, policy, &run.cancel, || {
                let existence = existence.clone();
                let failed_before_report = &failed_before_report;
                let attempt = rt.apply(&ctx, params, prior_outputs);
                async move {
                    let r = provisio::existence::watched(existence.clone(), attempt).await;
                    match &r {
                        // a provider that said nothing: what the ensure did tells (`Created`:
                        // it was not there)
                        Ok(a) => existence.report(a.outcome != provisio::Outcome::Created),
                        Err(_) if existence.get().is_none() => {
                            failed_before_report.store(true, Ordering::SeqCst)
                        }
                        Err(_) => {}
                    }
                    r
                }
            })
            .await;
        let provenance = match (prior, pre_read_absent, existence.get()) {
            (Some(_), _, _) => Provenance::Existed,
            (None, Some(absent), _) => Provenance::from_absent(absent),
            // nothing there when the provider looked: a failed earlier attempt made nothing
            (None, None, Some(false)) => Provenance::Created,
            (None, None, Some(true)) if !failed_before_report.load(Ordering::SeqCst) => {
                Provenance::Existed
            }
            (None, None, _) => Provenance::InDoubt,
        };
        let r = r
            .and_then(|a| secret_free(run.tenant, name, &a.outputs).map(|_| a))
            .map(|mut a| {
                // absent before the step: whatever the ensure reports (`Unchanged` after a lost
                // response, `Updated` for files written to a branch that was just made), this
                // run created it
                if provenance == Provenance::Created {
                    a.outcome = provisio::Outcome::Created;
                }
                a
            });
        if prior.is_none() && provenance == Provenance::InDoubt {
            tracing::warn!(
                resource = name,
                "cannot tell whether this run created the resource; it is kept on rollback"
            );
            run.in_doubt
                .lock()
                .expect("in_doubt lock")
                .insert(name.to_string());
        }
        match r {
            Ok(applied) => {
                self.journal(
                    run,
                    name,
                    &spec.resource_type,
                    jaction,
                    JournalPhase::Succeeded,
                    &identity,
                    &jtoken,
                    json!({"outputs": applied.outputs, "outcome": applied.outcome}),
                )
                .await?;
                self.inner
                    .state
                    .put_resource(&ResourceRecord {
                        tenant: run.tenant.name.clone(),
                        name: name.to_string(),
                        resource_type: spec.resource_type.clone(),
                        provider: spec.provider.clone(),
                        identity,
                        params: params.clone(),
                        outputs: applied.outputs.clone(),
                        protect: spec.protect,
                        depends_on,
                        updated_at_ms: now_ms(),
                    })
                    .await?;
                Ok((applied.outcome.into(), applied.outputs))
            }
            Err(e) => {
                self.journal(
                    run,
                    name,
                    &spec.resource_type,
                    jaction,
                    JournalPhase::Failed,
                    &identity,
                    &jtoken,
                    json!({"error": EventError::from(&e)}),
                )
                .await?;
                if prior.is_none() {
                    let found = FoundAfterFailure {
                        name,
                        spec,
                        ctx: &ctx,
                        rt: rt.as_ref(),
                        params,
                        identity,
                        depends_on,
                    };
                    self.record_after_failed_create(run, found, provenance)
                        .await;
                }
                Err(e)
            }
        }
    }

    /// After a create step failed: an attempt may have taken effect before the failure (a
    /// lost response, then a permanent error). Reads the resource once; when it exists it is
    /// recorded in state (so destroy knows it), and when it was absent before the step it is
    /// marked for rollback. Best effort: a failing read leaves things as they are, and the next
    /// apply adopts the resource by name or tags.
    async fn record_after_failed_create(
        &self,
        run: &Run<'_>,
        found: FoundAfterFailure<'_>,
        provenance: Provenance,
    ) {
        let FoundAfterFailure {
            name,
            spec,
            ctx,
            rt,
            params,
            identity,
            depends_on,
        } = found;
        // retried like any call, and not cut short by a cancelled run: the rollback that
        // follows runs after cancellation too
        let Ok(Some(outputs)) = self
            .call(
                run,
                name,
                self.policy(Some(spec)),
                &CancellationToken::new(),
                || rt.read(ctx, params, None),
            )
            .await
        else {
            return;
        };
        if secret_free(run.tenant, name, &outputs).is_err() {
            return;
        }
        let record = ResourceRecord {
            tenant: run.tenant.name.clone(),
            name: name.to_string(),
            resource_type: spec.resource_type.clone(),
            provider: spec.provider.clone(),
            identity,
            params: params.clone(),
            outputs,
            protect: spec.protect,
            depends_on,
            updated_at_ms: now_ms(),
        };
        if self.inner.state.put_resource(&record).await.is_ok() && provenance == Provenance::Created
        {
            run.created_on_failure
                .lock()
                .expect("created_on_failure lock")
                .insert(name.to_string());
        }
    }

    /// The apply step of one blueprint resource.
    async fn apply_step(&self, run: &Run<'_>, step: ApplyStep<'_>) -> NodeOutcome {
        let ApplyStep {
            name,
            spec,
            deps,
            record,
            params,
            overrides,
            token,
            planned,
        } = step;
        let params = match params {
            Ok(p) => p,
            Err(error) => {
                return NodeOutcome::Failed {
                    action: Action::Create,
                    error,
                };
            }
        };
        let rt = match self.type_of(&spec.resource_type) {
            Ok(rt) => rt,
            Err(error) => {
                return NodeOutcome::Failed {
                    action: Action::Create,
                    error,
                };
            }
        };
        // Parameters are resolved now, with the outputs their dependencies really produced,
        // so the action is decided again; a refresh that found drift makes an unchanged
        // resource an update (the ensure puts it back).
        let repair = planned.is_some_and(|p| matches!(p.drift, Some(Drift::Changed { .. })));
        let action = match (record, decide(rt.as_ref(), spec, record, &params).0) {
            (None, _) => Action::Create,
            (Some(_), Action::NoOp) if repair => Action::Update,
            (Some(_), a) => a,
        };
        run.emit(|| EventKind::StepStarted {
            resource: name.to_string(),
            action,
        });
        let r: Result<(StepOutcome, Value)> = async {
            if let Some(rec) = record
                && rec.protect
                && !spec.protect
                && !overrides.contains(name)
            {
                return Err(Error::protected(protected_message(
                    name,
                    "removing the protection of",
                ))
                .with_resource(name));
            }
            match action {
                Action::NoOp => {
                    let rec = record.expect("no-op has a record");
                    let depends_on: Vec<String> = deps.iter().cloned().collect();
                    // what a refresh read (a branch head moved by a commit) is the current truth
                    let outputs = planned
                        .and_then(|p| p.outputs.clone())
                        .unwrap_or_else(|| rec.outputs.clone());
                    if rec.protect != spec.protect
                        || rec.depends_on != depends_on
                        || rec.outputs != outputs
                    {
                        let mut r = rec.clone();
                        r.protect = spec.protect;
                        r.depends_on = depends_on;
                        r.outputs = outputs.clone();
                        r.updated_at_ms = now_ms();
                        self.inner.state.put_resource(&r).await?;
                    }
                    Ok((StepOutcome::Unchanged, outputs))
                }
                Action::Replace => {
                    let rec = record.expect("replace has a record");
                    if (rec.protect || spec.protect) && !overrides.contains(name) {
                        return Err(Error::protected(protected_message(name, "replacing"))
                            .with_resource(name));
                    }
                    self.delete_recorded(run, rec, "delete", token, Some(spec), &run.cancel)
                        .await?;
                    let (o, outs) = self
                        .ensure(run, name, spec, deps, &params, None, Action::Create, token)
                        .await?;
                    Ok((
                        if o == StepOutcome::Unchanged {
                            StepOutcome::Unchanged
                        } else {
                            StepOutcome::Created
                        },
                        outs,
                    ))
                }
                _ => {
                    self.ensure(run, name, spec, deps, &params, record, action, token)
                        .await
                }
            }
        }
        .await;
        match r {
            Ok((outcome, outputs)) => NodeOutcome::Done {
                action,
                outcome,
                outputs,
            },
            Err(error) => NodeOutcome::Failed { action, error },
        }
    }

    /// Runs nodes from a ready queue: a node starts when every node it waits for succeeded;
    /// when one fails or is skipped, everything waiting on it (transitively) is skipped.
    async fn schedule<'a>(
        &self,
        run: &Run<'_>,
        waits: &BTreeMap<String, BTreeSet<String>>,
        cancel: &CancellationToken,
        phase_label: &str,
        mut start: impl FnMut(
            &str,
            &BTreeMap<String, NodeOutcome>,
        ) -> (Action, BoxFuture<'a, NodeOutcome>),
    ) -> (Vec<String>, BTreeMap<String, NodeOutcome>) {
        let mut remaining: BTreeMap<&str, usize> =
            waits.iter().map(|(n, w)| (n.as_str(), w.len())).collect();
        let mut waiters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (n, w) in waits {
            for d in w {
                waiters.entry(d.as_str()).or_default().push(n.as_str());
            }
        }
        let mut ready: VecDeque<String> = remaining
            .iter()
            .filter(|(_, c)| **c == 0)
            .map(|(n, _)| n.to_string())
            .collect();
        let mut results: BTreeMap<String, NodeOutcome> = BTreeMap::new();
        let mut finished: Vec<String> = Vec::new();
        let mut running = FuturesUnordered::new();

        #[allow(clippy::too_many_arguments)]
        fn finish<'w>(
            run: &Run<'_>,
            phase_label: &str,
            name: String,
            outcome: NodeOutcome,
            waiters: &BTreeMap<&'w str, Vec<&'w str>>,
            remaining: &mut BTreeMap<&'w str, usize>,
            ready: &mut VecDeque<String>,
            results: &mut BTreeMap<String, NodeOutcome>,
            finished: &mut Vec<String>,
        ) {
            let ok = outcome.ok();
            results.insert(name.clone(), outcome);
            finished.push(name.clone());
            let next = waiters.get(name.as_str()).cloned().unwrap_or_default();
            if ok {
                for w in next {
                    if let Some(c) = remaining.get_mut(w) {
                        *c -= 1;
                        if *c == 0 && !results.contains_key(w) {
                            ready.push_back(w.to_string());
                        }
                    }
                }
            } else {
                // skip everything that (transitively) waits on it
                let mut stack: Vec<(&str, String)> =
                    next.into_iter().map(|w| (w, name.clone())).collect();
                while let Some((w, because)) = stack.pop() {
                    if results.contains_key(w) {
                        continue;
                    }
                    let reason = format!("{phase_label}{because:?} did not succeed");
                    run.emit(|| EventKind::StepSkipped {
                        resource: w.to_string(),
                        reason: reason.clone(),
                    });
                    results.insert(
                        w.to_string(),
                        NodeOutcome::Skipped {
                            action: Action::NoOp,
                            reason,
                            protected: false,
                        },
                    );
                    finished.push(w.to_string());
                    for x in waiters.get(w).cloned().unwrap_or_default() {
                        stack.push((x, w.to_string()));
                    }
                }
            }
        }

        loop {
            while running.len() < self.inner.concurrency
                && let Some(n) = ready.pop_front()
            {
                if results.contains_key(&n) {
                    continue;
                }
                if cancel.is_cancelled() {
                    let reason = if run.lease_lost.load(Ordering::SeqCst) {
                        "the lease was lost".to_string()
                    } else {
                        "cancelled".to_string()
                    };
                    run.emit(|| EventKind::StepSkipped {
                        resource: n.clone(),
                        reason: reason.clone(),
                    });
                    finish(
                        run,
                        phase_label,
                        n,
                        NodeOutcome::Skipped {
                            action: Action::NoOp,
                            reason,
                            protected: false,
                        },
                        &waiters,
                        &mut remaining,
                        &mut ready,
                        &mut results,
                        &mut finished,
                    );
                    continue;
                }
                let (action, fut) = start(&n, &results);
                let span = tracing::info_span!("provisio.step", resource = %n, action = %action);
                let tally = Arc::new(RequestTally::default());
                running.push(
                    async move {
                        let outcome = provisio::requests::counted(tally.clone(), fut).await;
                        run.requests.merge(&tally);
                        (n, outcome)
                    }
                    .instrument(span),
                );
            }
            match running.next().await {
                None => break,
                Some((n, outcome)) => {
                    finish(
                        run,
                        phase_label,
                        n,
                        outcome,
                        &waiters,
                        &mut remaining,
                        &mut ready,
                        &mut results,
                        &mut finished,
                    );
                }
            }
        }
        (finished, results)
    }

    /// Resolves the in-doubt intents of a crashed run of this tenant. Deletes are run again.
    /// A create or update is looked up; when the resource exists and `finish` is set (an
    /// apply resumes), the interrupted ensure is run again with the intent's parameters, so
    /// that a half-done step (a prefix copy killed after one object of three) finishes
    /// instead of being taken for done; without `finish` (a destroy resumes) it is adopted as
    /// found.
    async fn recover(&self, run: &Run<'_>, finish: bool) -> Result<()> {
        let pending = self.inner.state.pending_intents(&run.tenant.name).await?;
        for intent in pending {
            let rt = self.type_of(&intent.resource_type)?;
            let d = &intent.detail;
            let params = d.get("params").cloned().unwrap_or(Value::Null);
            let provider = d
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or(crate::providers::DEFAULT_PROVIDER)
                .to_string();
            let token = d
                .get("idempotency_token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let record = self
                .inner
                .state
                .get_resource(&run.tenant.name, &intent.resource)
                .await?;
            let ctx = StepContext {
                tenant: run.tenant,
                blueprint: run.blueprint,
                resource: &intent.resource,
                provider: &provider,
                providers: &self.inner.providers,
                ownership: intent.tags.clone(),
                idempotency_token: &token,
                written: &run.written,
            };
            let span = tracing::info_span!("provisio.recover", resource = %intent.resource, action = %intent.action);
            run.emit(|| EventKind::StepStarted {
                resource: intent.resource.clone(),
                action: Action::Adopt,
            });
            let started = Instant::now();
            let policy = self.policy(None);
            let result = async {
                match intent.action.as_str() {
                    "delete" | "rollback" => {
                        let outputs = record.as_ref().map(|r| r.outputs.clone()).or_else(|| d.get("outputs").cloned()).unwrap_or(Value::Null);
                        let del = self
                            .call(run, &intent.resource, policy, &run.cancel, || rt.delete(&ctx, &params, &outputs))
                            .await?;
                        self.inner.state.append_journal(&JournalEntry {
                            seq: 0,
                            run_id: run.id.clone(),
                            phase: JournalPhase::Succeeded,
                            detail: json!({"deleted": del, "resumed": true}),
                            at_ms: now_ms(),
                            ..intent.clone()
                        }).await?;
                        self.inner.state.delete_resource(&run.tenant.name, &intent.resource).await?;
                        Ok((del.into(), Value::Null))
                    }
                    _ => {
                        let prior = record.as_ref().map(|r| &r.outputs);
                        let found = self
                            .call(run, &intent.resource, policy, &run.cancel, || rt.read(&ctx, &params, prior))
                            .await?;
                        let found = match found {
                            Some(_) if finish => Some(
                                self.call(run, &intent.resource, policy, &run.cancel, || {
                                    rt.apply(&ctx, &params, prior)
                                })
                                .await?
                                .outputs,
                            ),
                            other => other,
                        };
                        match found {
                            Some(outputs) => {
                                secret_free(run.tenant, &intent.resource, &outputs)?;
                                self.inner.state.append_journal(&JournalEntry {
                                    seq: 0,
                                    run_id: run.id.clone(),
                                    phase: JournalPhase::Succeeded,
                                    detail: json!({"outputs": outputs, "adopted": true}),
                                    at_ms: now_ms(),
                                    ..intent.clone()
                                }).await?;
                                let depends_on = d
                                    .get("depends_on")
                                    .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
                                    .unwrap_or_default();
                                self.inner.state.put_resource(&ResourceRecord {
                                    tenant: run.tenant.name.clone(),
                                    name: intent.resource.clone(),
                                    resource_type: intent.resource_type.clone(),
                                    provider: provider.clone(),
                                    identity: intent.identity.clone(),
                                    params: params.clone(),
                                    outputs: outputs.clone(),
                                    protect: d.get("protect").and_then(Value::as_bool).unwrap_or(false),
                                    depends_on,
                                    updated_at_ms: now_ms(),
                                }).await?;
                                Ok((StepOutcome::Adopted, outputs))
                            }
                            None => {
                                self.inner.state.append_journal(&JournalEntry {
                                    seq: 0,
                                    run_id: run.id.clone(),
                                    phase: JournalPhase::Failed,
                                    detail: json!({"error": "in doubt: not found when the next run resumed; treated as absent", "resumed": true}),
                                    at_ms: now_ms(),
                                    ..intent.clone()
                                }).await?;
                                if record.is_some() {
                                    self.inner.state.delete_resource(&run.tenant.name, &intent.resource).await?;
                                }
                                Ok((StepOutcome::Absent, Value::Null))
                            }
                        }
                    }
                }
            }
            .instrument(span);
            let tally = Arc::new(RequestTally::default());
            let result: Result<(StepOutcome, Value)> =
                provisio::requests::counted(tally.clone(), result).await;
            run.requests.merge(&tally);
            match result {
                Ok((outcome, outputs)) => run.emit(|| EventKind::StepSucceeded {
                    resource: intent.resource.clone(),
                    action: Action::Adopt,
                    outcome,
                    outputs,
                    duration_ms: started.elapsed().as_millis() as u64,
                    requests: tally.total(),
                }),
                Err(e) => {
                    run.emit(|| EventKind::StepFailed {
                        resource: intent.resource.clone(),
                        error: (&e).into(),
                    });
                    return Err(Error::new(
                        e.kind().clone(),
                        format!(
                            "cannot resolve the in-doubt {} of resource {:?} left by run {}: {}",
                            intent.action,
                            intent.resource,
                            intent.run_id,
                            e.message()
                        ),
                    )
                    .with_resource(intent.resource.clone()));
                }
            }
        }
        Ok(())
    }

    fn step_events(run: &Run<'_>, name: &str, outcome: &NodeOutcome, started: Instant) {
        match outcome {
            NodeOutcome::Done {
                action,
                outcome,
                outputs,
            } => run.emit(|| EventKind::StepSucceeded {
                resource: name.to_string(),
                action: *action,
                outcome: *outcome,
                outputs: outputs.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                requests: provisio::requests::current_total(),
            }),
            NodeOutcome::Failed { error, .. } => {
                tracing::warn!(resource = name, error = %error, "step failed");
                run.emit(|| EventKind::StepFailed {
                    resource: name.to_string(),
                    error: error.into(),
                })
            }
            NodeOutcome::Skipped { reason, .. } => run.emit(|| EventKind::StepSkipped {
                resource: name.to_string(),
                reason: reason.clone(),
            }),
        }
    }

    fn report(
        run: &Run<'_>,
        operation: Operation,
        started: Instant,
        order: &[String],
        results: &BTreeMap<String, NodeOutcome>,
        rollback: &Rollback,
        plan: Option<Plan>,
    ) -> RunReport {
        let rolled_back = &rollback.rolled_back;
        let mut summary = Summary::default();
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        let mut kept = Vec::new();
        for name in order {
            let Some(o) = results.get(name) else { continue };
            let (action, status, outputs) = match o {
                NodeOutcome::Done {
                    action,
                    outcome,
                    outputs,
                } => {
                    match (action, outcome) {
                        (_, StepOutcome::Deleted | StepOutcome::AlreadyGone) => {
                            summary.deleted += 1
                        }
                        (_, StepOutcome::Created) => summary.created += 1,
                        (_, StepOutcome::Updated) => summary.updated += 1,
                        _ => summary.unchanged += 1,
                    }
                    if *action == Action::Replace {
                        summary.deleted += 1;
                    }
                    if rolled_back.contains(name) {
                        summary.rolled_back += 1;
                        (*action, StepStatus::RolledBack, Value::Null)
                    } else {
                        (
                            *action,
                            StepStatus::Succeeded { outcome: *outcome },
                            outputs.clone(),
                        )
                    }
                }
                NodeOutcome::Failed { action, error } => {
                    summary.failed += 1;
                    errors.push((name.clone(), error.clone()));
                    (
                        *action,
                        StepStatus::Failed {
                            error: error.into(),
                        },
                        Value::Null,
                    )
                }
                NodeOutcome::Skipped {
                    action,
                    reason,
                    protected,
                } => {
                    summary.skipped += 1;
                    if *protected {
                        kept.push(name.clone());
                    }
                    (
                        *action,
                        StepStatus::Skipped {
                            reason: reason.clone(),
                        },
                        Value::Null,
                    )
                }
            };
            steps.push(StepReport {
                resource: name.clone(),
                action,
                status,
                outputs,
            });
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.requests = run.requests.total();
        summary.requests_by_service = run.requests.by_service();
        kept.extend(rollback.kept.iter().cloned());
        kept.sort();
        kept.dedup();
        run.emit(|| EventKind::RunFinished {
            summary: summary.clone(),
        });
        RunReport {
            run_id: run.id.clone(),
            tenant: run.tenant.name.clone(),
            operation,
            summary,
            steps,
            kept_protected: kept,
            in_doubt: run
                .in_doubt
                .lock()
                .expect("in_doubt lock")
                .iter()
                .cloned()
                .collect(),
            plan,
            errors,
        }
    }

    /// Creates, updates, replaces and deletes `tenant`'s resources to match `blueprint`.
    ///
    /// `Err` is returned for what stops the run before any step (an invalid blueprint or
    /// tenant, a protected resource the plan would delete or replace, a lease held by another
    /// runner, an in-doubt intent that cannot be resolved); step failures are in the
    /// [`RunReport`] (see [`RunReport::into_result`]).
    pub async fn apply(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        let graph = blueprint.validate(&self.inner.registry)?;
        self.apply_validated(blueprint, &graph, tenant, options)
            .await
    }

    /// [`Engine::apply`] of a blueprint already validated against this engine's registry:
    /// `graph` is what [`Blueprint::validate`] returned for it. A fleet validates once and
    /// runs every tenant with the same graph.
    pub(crate) async fn apply_validated(
        &self,
        blueprint: &Blueprint,
        graph: &Graph,
        tenant: &Tenant,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        blueprint.check_tenant(tenant)?;
        plan::check_providers(blueprint, &self.inner.registry, &self.inner.providers)?;
        self.locked(
            "apply",
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| self.apply_locked(run, blueprint, graph, &options).await,
        )
        .await
    }

    /// Runs `body` as one run of `operation` on `tenant`: in a `provisio.run` span, holding the
    /// tenant's lease (taken, or waited for up to `lock_wait`, and renewed by a heartbeat), and
    /// releasing it whatever `body` returned.
    async fn locked<T>(
        &self,
        operation: &'static str,
        blueprint: &Blueprint,
        tenant: &Tenant,
        cancel: &CancellationToken,
        lock_wait: Option<Duration>,
        body: impl AsyncFnOnce(&Run<'_>) -> Result<T>,
    ) -> Result<T> {
        let run_id = new_run_id();
        let span = tracing::info_span!("provisio.run", run_id = %run_id, tenant = %tenant.name, operation = operation);
        async {
            let cancel = cancel.child_token();
            let lost = Arc::new(AtomicBool::new(false));
            let guard = self
                .lock(&tenant.name, &run_id, lock_wait, &cancel, &lost)
                .await?;
            let run = Run {
                id: run_id.clone(),
                tenant,
                blueprint: &blueprint.name,
                cancel,
                lease_lost: lost,
                events: self.inner.events.as_deref(),
                created_on_failure: Default::default(),
                in_doubt: Default::default(),
                requests: Default::default(),
                written: Default::default(),
            };
            let r = body(&run).await;
            guard.release().await;
            r
        }
        .instrument(span)
        .await
    }

    async fn apply_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        graph: &Graph,
        options: &ApplyOptions,
    ) -> Result<RunReport> {
        let started = Instant::now();
        self.recover(run, true).await?;
        let records: BTreeMap<String, ResourceRecord> = self
            .inner
            .state
            .list_resources(&run.tenant.name)
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        check_overrides(
            &options.overrides,
            blueprint.resources.keys().chain(records.keys()),
        )?;
        let plan = plan::plan_with(
            &self.inner.registry,
            &self.inner.providers,
            blueprint,
            graph,
            run.tenant,
            &records,
            &PlanOptions {
                refresh: options.refresh,
                overrides: options.overrides.clone(),
            },
        )
        .await?;
        if let Some(hook) = &options.on_plan
            && !(hook.0)(&plan)
        {
            return Ok(Self::report(
                run,
                Operation::Apply,
                started,
                &[],
                &BTreeMap::new(),
                &Rollback::default(),
                Some(plan),
            ));
        }
        if let Some(b) = plan.blocked().next() {
            let names: Vec<&str> = plan.blocked().map(|r| r.name.as_str()).collect();
            return Err(Error::protected(format!(
                "{} (refusing to start; protected resources in the way: {})",
                b.blocked.clone().unwrap_or_default(),
                names.join(", ")
            ))
            .with_resource(b.name.clone()));
        }
        // a refresh may have found resources gone: forget them so they are created again
        let mut records = records;
        for r in &plan.resources {
            if r.drift == Some(Drift::Missing) {
                records.remove(&r.name);
            }
        }
        let generations = self.generations(&run.tenant.name).await?;
        let order: Vec<String> = plan.resources.iter().map(|r| r.name.clone()).collect();
        run.emit(|| EventKind::RunStarted {
            operation: Operation::Apply,
            resources: order.clone(),
        });

        // nodes: every blueprint resource waits for its dependencies; an orphan delete waits
        // for the orphans that depend on it
        let mut waits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in graph.order() {
            waits.insert(name.clone(), graph.dependencies(name).clone());
        }
        let orphans: Vec<&ResourceRecord> = records
            .values()
            .filter(|r| !blueprint.resources.contains_key(&r.name))
            .collect();
        for o in &orphans {
            waits.entry(o.name.clone()).or_default();
            for d in &o.depends_on {
                if d != &o.name && orphans.iter().any(|x| &x.name == d) {
                    waits.entry(d.clone()).or_default().insert(o.name.clone());
                }
            }
        }
        let tokens: BTreeMap<String, String> = waits
            .keys()
            .map(|n| {
                let g = generations.get(n).copied().unwrap_or(0);
                (
                    n.clone(),
                    idempotency_token(&run.tenant.name, run.blueprint, n, g),
                )
            })
            .collect();

        let plan_ref = &plan;
        let (finished, results) = self
            .schedule(run, &waits, &run.cancel, "dependency ", |name, results| {
                let started = Instant::now();
                let token = tokens[name].clone();
                let name_owned = name.to_string();
                if let Some(spec) = blueprint.resources.get(name) {
                    let deps = graph.dependencies(name);
                    let known: BTreeMap<String, Value> = deps
                        .iter()
                        .filter_map(|d| match results.get(d) {
                            Some(NodeOutcome::Done { outputs, .. }) => {
                                Some((d.clone(), outputs.clone()))
                            }
                            _ => None,
                        })
                        .collect();
                    let params = blueprint.resolve(name, run.tenant, &known);
                    let record = records.get(name);
                    let planned = plan_ref
                        .get(name)
                        .map(|p| p.action)
                        .unwrap_or(Action::Create);
                    let fut = async move {
                        let o = self
                            .apply_step(
                                run,
                                ApplyStep {
                                    name: &name_owned,
                                    spec,
                                    deps,
                                    record,
                                    params,
                                    overrides: &options.overrides,
                                    token: &token,
                                    planned: plan_ref.get(&name_owned),
                                },
                            )
                            .await;
                        Self::step_events(run, &name_owned, &o, started);
                        o
                    };
                    (planned, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                } else {
                    let rec = &records[name];
                    let fut = async move {
                        run.emit(|| EventKind::StepStarted {
                            resource: name_owned.clone(),
                            action: Action::Delete,
                        });
                        let o = if rec.protect && !options.overrides.contains(&name_owned) {
                            NodeOutcome::Failed {
                                action: Action::Delete,
                                error: Error::protected(protected_message(&name_owned, "deleting"))
                                    .with_resource(name_owned.clone()),
                            }
                        } else {
                            match self
                                .delete_recorded(run, rec, "delete", &token, None, &run.cancel)
                                .await
                            {
                                Ok(outcome) => NodeOutcome::Done {
                                    action: Action::Delete,
                                    outcome,
                                    outputs: Value::Null,
                                },
                                Err(error) => NodeOutcome::Failed {
                                    action: Action::Delete,
                                    error,
                                },
                            }
                        };
                        Self::step_events(run, &name_owned, &o, started);
                        o
                    };
                    (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                }
            })
            .await;

        // rollback of what this run created
        let mut rolled_back = BTreeSet::new();
        let mut kept_for_rollback: Vec<String> = Vec::new();
        let failed = results
            .values()
            .any(|o| matches!(o, NodeOutcome::Failed { .. }));
        // after losing the lease another runner owns the tenant: touch nothing more
        let lease_lost = run.lease_lost.load(Ordering::SeqCst);
        if failed && !options.keep_partial && !lease_lost {
            let created_on_failure = run
                .created_on_failure
                .lock()
                .expect("created_on_failure lock")
                .clone();
            let current: BTreeMap<String, ResourceRecord> = self
                .inner
                .state
                .list_resources(&run.tenant.name)
                .await?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect();
            let (mut created, protected): (BTreeSet<String>, BTreeSet<String>) = results
                .iter()
                .filter(|(n, o)| {
                    matches!(
                        o,
                        NodeOutcome::Done {
                            action: Action::Create,
                            outcome: StepOutcome::Created,
                            ..
                        }
                    ) || created_on_failure.contains(*n)
                })
                .map(|(n, _)| n.clone())
                .partition(|n| blueprint.resources.get(n).is_none_or(|s| !s.protect));
            kept_for_rollback.extend(protected);
            // What stays (a protected resource, or one that existed before) keeps what it
            // depends on: a kept database still needs its owner role. Destroy does the same.
            let depends_on = |r: &ResourceRecord| -> Vec<String> {
                if blueprint.resources.contains_key(&r.name) {
                    graph.dependencies(&r.name).iter().cloned().collect()
                } else {
                    r.depends_on.clone()
                }
            };
            loop {
                let needed: BTreeSet<String> = current
                    .values()
                    .filter(|r| !created.contains(&r.name))
                    .flat_map(&depends_on)
                    .filter(|d| created.contains(d))
                    .collect();
                if needed.is_empty() {
                    break;
                }
                for n in needed {
                    created.remove(&n);
                    kept_for_rollback.push(n);
                }
            }
            if !created.is_empty() {
                // X is deleted after every created Y that depends on X
                let mut rwaits: BTreeMap<String, BTreeSet<String>> = created
                    .iter()
                    .map(|n| (n.clone(), BTreeSet::new()))
                    .collect();
                for y in &created {
                    for x in graph.dependencies(y) {
                        if created.contains(x) {
                            rwaits.get_mut(x).expect("created").insert(y.clone());
                        }
                    }
                }
                // rollback runs even when the run was cancelled: recoverable by default
                let rollback_cancel = CancellationToken::new();
                let current = &current;
                let rc = &rollback_cancel;
                let (_, rb) = self
                    .schedule(run, &rwaits, &rollback_cancel, "rollback of ", |name, _| {
                        let name = name.to_string();
                        let token = tokens[&name].clone();
                        let fut = async move {
                            let Some(rec) = current.get(&name) else {
                                return NodeOutcome::Done {
                                    action: Action::Delete,
                                    outcome: StepOutcome::AlreadyGone,
                                    outputs: Value::Null,
                                };
                            };
                            let spec = blueprint.resources.get(&name);
                            match self.delete_recorded(run, rec, "rollback", &token, spec, rc).await {
                                Ok(outcome) => {
                                    run.emit(|| EventKind::StepRolledBack { resource: name.clone() });
                                    NodeOutcome::Done {
                                        action: Action::Delete,
                                        outcome,
                                        outputs: Value::Null,
                                    }
                                }
                                Err(error) => {
                                    tracing::error!(resource = %name, error = %error, "rollback failed");
                                    run.emit(|| EventKind::StepFailed {
                                        resource: name.clone(),
                                        error: (&error).into(),
                                    });
                                    NodeOutcome::Failed {
                                        action: Action::Delete,
                                        error,
                                    }
                                }
                            }
                        };
                        (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                    })
                    .await;
                for (n, o) in rb {
                    if o.ok() {
                        rolled_back.insert(n);
                    }
                }
            }
        }
        Ok(Self::report(
            run,
            Operation::Apply,
            started,
            &finished,
            &results,
            &Rollback {
                rolled_back,
                kept: kept_for_rollback,
            },
            Some(plan),
        ))
    }

    /// Deletes every resource of `tenant` recorded in state, dependents first. Protected
    /// resources not named in an override are kept (and so is what they depend on); the
    /// report lists them in `kept_protected`. `blueprint` provides the name used in ownership
    /// tags and the per-resource retry and timeout settings; resources not in it are deleted
    /// too, so `Blueprint::new(name)` is enough.
    pub async fn destroy(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: DestroyOptions,
    ) -> Result<RunReport> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        self.locked(
            "destroy",
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| self.destroy_locked(run, blueprint, &options).await,
        )
        .await
    }

    async fn destroy_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        options: &DestroyOptions,
    ) -> Result<RunReport> {
        let started = Instant::now();
        self.recover(run, false).await?;
        let records: BTreeMap<String, ResourceRecord> = self
            .inner
            .state
            .list_resources(&run.tenant.name)
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        check_overrides(
            &options.overrides,
            blueprint.resources.keys().chain(records.keys()),
        )?;
        let all: Vec<&ResourceRecord> = records.values().collect();
        let order = delete_order(&all);
        run.emit(|| EventKind::RunStarted {
            operation: Operation::Destroy,
            resources: order.clone(),
        });
        let mut waits: BTreeMap<String, BTreeSet<String>> = records
            .keys()
            .map(|n| (n.clone(), BTreeSet::new()))
            .collect();
        for r in records.values() {
            for d in &r.depends_on {
                if d != &r.name && records.contains_key(d) {
                    waits.get_mut(d).expect("recorded").insert(r.name.clone());
                }
            }
        }
        let generations = self.generations(&run.tenant.name).await?;
        let records = &records;
        let generations = &generations;
        let (finished, results) = self
            .schedule(run, &waits, &run.cancel, "kept because ", |name, _| {
                let name = name.to_string();
                let started = Instant::now();
                let fut = async move {
                    let rec = &records[&name];
                    let o = if rec.protect && !options.overrides.contains(&name) {
                        NodeOutcome::Skipped {
                            action: Action::Delete,
                            reason: protected_message(&name, "deleting"),
                            protected: true,
                        }
                    } else {
                        run.emit(|| EventKind::StepStarted {
                            resource: name.clone(),
                            action: Action::Delete,
                        });
                        let token = idempotency_token(
                            &run.tenant.name,
                            run.blueprint,
                            &name,
                            generations.get(&name).copied().unwrap_or(0),
                        );
                        match self
                            .delete_recorded(
                                run,
                                rec,
                                "delete",
                                &token,
                                blueprint.resources.get(&name),
                                &run.cancel,
                            )
                            .await
                        {
                            Ok(outcome) => NodeOutcome::Done {
                                action: Action::Delete,
                                outcome,
                                outputs: Value::Null,
                            },
                            Err(error) => NodeOutcome::Failed {
                                action: Action::Delete,
                                error,
                            },
                        }
                    };
                    Self::step_events(run, &name, &o, started);
                    o
                };
                (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
            })
            .await;
        Ok(Self::report(
            run,
            Operation::Destroy,
            started,
            &finished,
            &results,
            &Rollback::default(),
            None,
        ))
    }

    /// Reads every resource of `tenant` recorded in state and reports drift; with
    /// `options.write`, records what it read (changed outputs; missing resources removed).
    pub async fn refresh(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: RefreshOptions,
    ) -> Result<RefreshReport> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        self.locked(
            "refresh",
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| self.refresh_locked(run, blueprint, &options).await,
        )
        .await
    }

    async fn refresh_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        options: &RefreshOptions,
    ) -> Result<RefreshReport> {
        let started = Instant::now();
        let records = self.inner.state.list_resources(&run.tenant.name).await?;
        run.emit(|| EventKind::RunStarted {
            operation: Operation::Refresh,
            resources: records.iter().map(|r| r.name.clone()).collect(),
        });
        let mut summary = Summary::default();
        let reads = futures::stream::iter(records.iter().map(|rec| async move {
            let t0 = Instant::now();
            run.emit(|| EventKind::StepStarted {
                resource: rec.name.clone(),
                action: Action::Read,
            });
            let tally = Arc::new(RequestTally::default());
            let read = async {
                let rt = self.type_of(&rec.resource_type)?;
                let ctx = self.ctx(run, &rec.name, &rec.provider, "");
                let policy = self.policy(blueprint.resources.get(&rec.name));
                self.call(run, &rec.name, policy, &run.cancel, || {
                    rt.read(&ctx, &rec.params, Some(&rec.outputs))
                })
                .await
            }
            .instrument(
                tracing::info_span!("provisio.step", resource = %rec.name, action = "read"),
            );
            let r = provisio::requests::counted(tally.clone(), read).await;
            run.requests.merge(&tally);
            (rec, r, t0, tally.total())
        }))
        .buffer_unordered(self.inner.concurrency)
        .collect::<Vec<_>>()
        .await;
        let mut out = Vec::new();
        let mut first_error = None;
        for (rec, r, t0, step_requests) in reads {
            match r {
                Err(e) => {
                    summary.failed += 1;
                    run.emit(|| EventKind::StepFailed {
                        resource: rec.name.clone(),
                        error: (&e).into(),
                    });
                    first_error.get_or_insert(e);
                }
                Ok(found) => {
                    // the read went through the type, so it is registered
                    let drift = match (&found, self.type_of(&rec.resource_type)) {
                        (None, _) => Drift::Missing,
                        (Some(o), Ok(rt)) => plan::drift_of(rt.as_ref(), &rec.outputs, o),
                        (Some(o), Err(_)) => Drift::Changed {
                            diff: diff_values(&rec.outputs, o),
                        },
                    };
                    if options.write {
                        match (&drift, found) {
                            (Drift::Missing, _) => {
                                self.inner
                                    .state
                                    .delete_resource(&run.tenant.name, &rec.name)
                                    .await?
                            }
                            (_, Some(o)) if o != rec.outputs => {
                                secret_free(run.tenant, &rec.name, &o)?;
                                let mut r = rec.clone();
                                r.outputs = o;
                                r.updated_at_ms = now_ms();
                                self.inner.state.put_resource(&r).await?;
                            }
                            _ => {}
                        }
                    }
                    match drift {
                        Drift::InSync => summary.unchanged += 1,
                        Drift::Changed { .. } => summary.updated += 1,
                        Drift::Missing => summary.deleted += 1,
                    }
                    run.emit(|| EventKind::StepSucceeded {
                        resource: rec.name.clone(),
                        action: Action::Read,
                        outcome: match drift {
                            Drift::InSync => StepOutcome::Unchanged,
                            Drift::Changed { .. } => StepOutcome::Updated,
                            Drift::Missing => StepOutcome::AlreadyGone,
                        },
                        outputs: Value::Null,
                        duration_ms: t0.elapsed().as_millis() as u64,
                        requests: step_requests,
                    });
                    out.push(RefreshedResource {
                        resource: rec.name.clone(),
                        drift,
                    });
                }
            }
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.requests = run.requests.total();
        summary.requests_by_service = run.requests.by_service();
        run.emit(|| EventKind::RunFinished { summary });
        if let Some(e) = first_error {
            return Err(e);
        }
        out.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(RefreshReport {
            run_id: run.id.clone(),
            tenant: run.tenant.name.clone(),
            resources: out,
        })
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
