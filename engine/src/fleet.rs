//! Fleet runs: one blueprint over many tenants.
//!
//! A [`Fleet`] applies (or destroys) one [`Blueprint`] for every tenant of a list, with
//!
//! - **bounded tenant concurrency** ([`Fleet::concurrency`], default 8): at most that many
//!   tenants are in flight at once. Each tenant's run is an ordinary [`Engine::apply`] (or
//!   [`Engine::destroy`]) and keeps the engine's own step concurrency, retries, lease, journal
//!   and rollback. All tenants share the engine's rate limiter, so a fleet stays inside every
//!   provider account's quota as a whole. Tenant runs are spawned tokio tasks, so a
//!   multi-threaded runtime spreads them over its worker threads.
//! - **a canary wave** ([`Fleet::canary`], default 0): the first `k` tenants this run has to do
//!   run first (at most `concurrency` at a time) and must *all* succeed; if any fails the
//!   rollout halts ([`HaltReason::CanaryFailed`]) before another tenant starts.
//! - **a failure threshold** ([`Fleet::max_failures`], default [`FailureThreshold::Count`]`(1)`):
//!   once that many tenants have failed in this run the rollout halts
//!   ([`HaltReason::ThresholdReached`]): tenants in flight finish normally (their runs are not
//!   cancelled), no new tenant starts, and the rest are reported as
//!   [`TenantStatus::NotStarted`].
//! - **cancellation**: the token given to [`Fleet::run`] stops the rollout: no new tenant
//!   starts and the runs in flight are cancelled (the engine rolls back what they created, as
//!   for any cancelled apply); those tenants are reported as failed with a `Cancelled` error.
//! - **per-tenant results** in a [`FleetReport`], in the order the tenants were given: the
//!   run's id and [`Summary`], or its error.
//! - **fleet events** ([`FleetEvent`]) to a [`FleetSink`] ([`Fleet::events`]); the steps of each
//!   tenant's run still go to the engine's own [`crate::EventSink`] (their events carry the
//!   tenant and run id), so a fleet event stream and the engine's step stream can be joined on
//!   `run_id`.
//! - **a resumable cursor**: a [`FleetCursor`] stored in the state store under the fleet id,
//!   saved at once when a tenant fails, the rollout halts or is cancelled, and at the end;
//!   successes are saved at most once per [`Fleet::cursor_interval`] (default 1 s), since
//!   every save writes the whole cursor (tenants finishing at the same moment share one
//!   save). A crash therefore redoes at most the tenants that succeeded since the last save:
//!   they run again and find nothing to do (apply is idempotent).
//!
//! # Resuming
//!
//! Running again with the same `fleet_id` (after a halt, a cancellation, a crash of the
//! process, or simply to roll the same blueprint out again to a longer tenant list) loads the
//! cursor and **skips every tenant the cursor lists as succeeded**
//! ([`TenantStatus::AlreadySucceeded`]; no provider call, no lease, no journal entry). Every other
//! tenant runs: the ones that failed before are retried, the ones never started start. The
//! resumed run has its own canary wave (the first `k` tenants *it* has to do, so a fix is
//! canaried again) and counts its own failures against the threshold. Tenants that were in
//! flight when the process died are not in the cursor's succeeded list and simply run again;
//! the engine's journal recovery adopts what their crashed run created, so nothing is
//! duplicated. To roll out a *new* version of a blueprint to tenants that already succeeded,
//! use a new fleet id.
//!
//! The cursor's `succeeded` list accumulates across runs; `failed` holds the tenants whose
//! latest attempt failed, with the error message; `halted` is true when the latest run halted or
//! was cancelled; `detail` holds `{"operation", "blueprint", "state" ("running", "completed",
//! "halted", "cancelled"), "halt_reason", "attempt", "tenants"}`.
//!
//! ```no_run
//! # async fn demo(engine: provisio_engine::Engine, bp: provisio_engine::Blueprint) -> provisio::Result<()> {
//! use provisio_engine::fleet::{FailureThreshold, Fleet};
//! use provisio_engine::{CancellationToken, Tenant};
//! let tenants: Vec<Tenant> = (0..200).map(|i| Tenant::new(format!("t{i:03}"))).collect();
//! let report = Fleet::new(engine)
//!     .concurrency(16)
//!     .canary(5)
//!     .max_failures(FailureThreshold::Fraction(0.05))
//!     .run("launch-2024-06", &bp, tenants, CancellationToken::new())
//!     .await?;
//! println!("{} succeeded, {} failed", report.counts.succeeded, report.counts.failed);
//! # Ok(()) }
//! ```

use crate::blueprint::{Blueprint, Graph};
use crate::events::{EventError, Operation, Summary};
use crate::resource::Tenant;
use crate::run::{ApplyOptions, DestroyOptions, Engine, RunReport};
pub use crate::state::FleetCursor;
use crate::state::now_ms;
use provisio::{Error, Result};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// When a rollout halts because of failed tenants.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureThreshold {
    /// Halt once this many tenants have failed in this run (0 is taken as 1).
    Count(usize),
    /// Halt once this fraction of the tenants this run has to do have failed:
    /// `max(1, ceil(fraction × tenants))` failures (tenants skipped as already succeeded do not
    /// count). `1.0` halts only when every tenant failed.
    Fraction(f64),
    /// Never halt because of failures (the canary wave still halts).
    Never,
}

impl Default for FailureThreshold {
    fn default() -> Self {
        FailureThreshold::Count(1)
    }
}

impl FailureThreshold {
    /// The number of failures at which a run with `tenants` tenants to do halts.
    ///
    /// ```
    /// use provisio_engine::fleet::FailureThreshold;
    /// assert_eq!(FailureThreshold::Count(3).limit(100), 3);
    /// assert_eq!(FailureThreshold::Count(0).limit(100), 1);
    /// assert_eq!(FailureThreshold::Fraction(0.05).limit(200), 10);
    /// assert_eq!(FailureThreshold::Fraction(0.05).limit(10), 1);
    /// assert_eq!(FailureThreshold::Never.limit(10), usize::MAX);
    /// ```
    pub fn limit(&self, tenants: usize) -> usize {
        match *self {
            FailureThreshold::Count(n) => n.max(1),
            FailureThreshold::Fraction(f) => {
                let f = if f.is_nan() { 0.0 } else { f.max(0.0) };
                ((f * tenants as f64).ceil() as usize).max(1)
            }
            FailureThreshold::Never => usize::MAX,
        }
    }
}

/// Why a rollout halted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum HaltReason {
    /// A tenant of the canary wave failed.
    CanaryFailed {
        /// The canary tenants that failed.
        tenants: Vec<String>,
    },
    /// The failure threshold was reached.
    ThresholdReached {
        /// Tenants failed in this run when it halted.
        failed: usize,
        /// The threshold ([`FailureThreshold::limit`]).
        limit: usize,
    },
}

impl std::fmt::Display for HaltReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaltReason::CanaryFailed { tenants } => {
                write!(f, "canary tenant(s) failed: {}", tenants.join(", "))
            }
            HaltReason::ThresholdReached { failed, limit } => {
                write!(f, "{failed} tenant(s) failed (threshold {limit})")
            }
        }
    }
}

/// How a fleet run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FleetStatus {
    /// Every tenant was run (some may have failed without reaching the threshold).
    Completed,
    /// The rollout halted; tenants not started are [`TenantStatus::NotStarted`].
    Halted {
        /// Why.
        #[serde(flatten)]
        reason: HaltReason,
    },
    /// The caller's cancellation token stopped the rollout.
    Cancelled,
}

/// How one tenant fared in a fleet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Its run succeeded.
    Succeeded,
    /// Its run failed (step failures, a run that could not start, cancellation).
    Failed,
    /// The cursor lists it as succeeded by an earlier run of this fleet id; it was not run.
    AlreadySucceeded,
    /// The rollout halted or was cancelled before it started.
    NotStarted,
}

/// One tenant's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TenantResult {
    /// The tenant.
    pub tenant: String,
    /// How it fared.
    pub status: TenantStatus,
    /// Whether it was in the canary wave.
    pub canary: bool,
    /// The engine run's id (when a run happened and got that far).
    pub run_id: Option<String>,
    /// The run's summary (when the run produced a report).
    pub summary: Option<Summary>,
    /// Why it failed: the first step failure, or what stopped the run from starting.
    pub error: Option<EventError>,
}

impl TenantResult {
    fn pending(tenant: &str, status: TenantStatus) -> Self {
        TenantResult {
            tenant: tenant.to_string(),
            status,
            canary: false,
            run_id: None,
            summary: None,
            error: None,
        }
    }
}

/// Counts over a fleet run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetCounts {
    /// Tenants in the list.
    pub tenants: usize,
    /// Tenants whose run succeeded.
    pub succeeded: usize,
    /// Tenants whose run failed.
    pub failed: usize,
    /// Tenants skipped because an earlier run of the fleet id succeeded.
    pub already_succeeded: usize,
    /// Tenants not started (halt or cancellation).
    pub not_started: usize,
    /// The tenants' run summaries added up (`duration_ms` is the sum of the runs' durations).
    pub resources: Summary,
}

/// What a fleet run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetReport {
    /// The fleet id (the cursor's key).
    pub fleet_id: String,
    /// apply or destroy.
    pub operation: Operation,
    /// How it ended.
    pub status: FleetStatus,
    /// Every tenant, in the order given.
    pub tenants: Vec<TenantResult>,
    /// Counts.
    pub counts: FleetCounts,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

impl FleetReport {
    /// Whether the rollout completed and every tenant succeeded (now or before).
    pub fn is_success(&self) -> bool {
        self.status == FleetStatus::Completed && self.counts.failed == 0
    }
    /// The result of `tenant`.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantResult> {
        self.tenants.iter().find(|t| t.tenant == tenant)
    }
    /// The tenants with `status`.
    pub fn with_status(&self, status: TenantStatus) -> impl Iterator<Item = &TenantResult> {
        self.tenants.iter().filter(move |t| t.status == status)
    }
}

/// One fleet event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetEvent {
    /// The fleet id.
    pub fleet_id: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: FleetEventKind,
}

/// What happened in a fleet run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetEventKind {
    /// The rollout began.
    FleetStarted {
        /// apply or destroy.
        operation: Operation,
        /// Tenants in the list.
        tenants: usize,
        /// Tenants skipped because the cursor lists them as succeeded.
        already_succeeded: usize,
        /// Tenants in the canary wave.
        canary: usize,
        /// The failure threshold as a count ([`FailureThreshold::limit`]).
        failure_limit: usize,
    },
    /// A tenant's run began.
    TenantStarted {
        /// The tenant.
        tenant: String,
        /// Whether it is a canary.
        canary: bool,
    },
    /// A tenant's run ended.
    TenantFinished {
        /// The tenant's result.
        result: TenantResult,
    },
    /// Every canary succeeded; the rest of the fleet starts.
    CanaryPassed {
        /// The canary tenants.
        tenants: Vec<String>,
    },
    /// The rollout halted: no tenant starts any more; the ones in flight finish.
    Halted {
        /// Why.
        #[serde(flatten)]
        reason: HaltReason,
    },
    /// The rollout was cancelled: no tenant starts any more; the ones in flight are cancelled.
    Cancelled,
    /// The rollout ended (after the last tenant in flight finished).
    FleetFinished {
        /// How it ended.
        status: FleetStatus,
        /// Counts.
        counts: FleetCounts,
    },
}

/// Where fleet events go. Any `Fn(&FleetEvent) + Send + Sync` is one.
///
/// ```
/// use provisio_engine::fleet::{FleetEvent, FleetSink};
/// let sink: std::sync::Arc<dyn FleetSink> = std::sync::Arc::new(|e: &FleetEvent| {
///     println!("{}", serde_json::to_string(e).unwrap())
/// });
/// # let _ = sink;
/// ```
pub trait FleetSink: Send + Sync {
    /// Receives one event (called from the fleet's driving task; keep it quick).
    fn emit(&self, event: &FleetEvent);
}

impl<F: Fn(&FleetEvent) + Send + Sync> FleetSink for F {
    fn emit(&self, event: &FleetEvent) {
        self(event)
    }
}

/// The default of [`Fleet::cursor_interval`].
const DEFAULT_CURSOR_INTERVAL: Duration = Duration::from_secs(1);

/// A fleet runner: one blueprint over many tenants (see the [module docs](self)).
#[derive(Clone)]
pub struct Fleet {
    engine: Engine,
    concurrency: usize,
    canary: usize,
    threshold: FailureThreshold,
    events: Option<Arc<dyn FleetSink>>,
    apply_options: ApplyOptions,
    destroy_options: DestroyOptions,
    cursor_interval: Duration,
}

#[derive(Clone)]
enum Op {
    /// With the blueprint's validated graph.
    Apply(Arc<Graph>),
    Destroy,
}

impl Fleet {
    /// A fleet runner on `engine`: 8 tenants at a time, no canary wave, halting at the first
    /// failure.
    pub fn new(engine: Engine) -> Self {
        Fleet {
            engine,
            concurrency: 8,
            canary: 0,
            threshold: FailureThreshold::default(),
            events: None,
            apply_options: ApplyOptions::default(),
            destroy_options: DestroyOptions::default(),
            cursor_interval: DEFAULT_CURSOR_INTERVAL,
        }
    }
    /// How many tenants may be in flight at once (at least 1). Each tenant's run keeps the
    /// engine's own step concurrency.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// The size of the canary wave: the first `k` tenants to do run first and must all succeed.
    pub fn canary(mut self, k: usize) -> Self {
        self.canary = k;
        self
    }
    /// When failures halt the rollout.
    pub fn max_failures(mut self, threshold: FailureThreshold) -> Self {
        self.threshold = threshold;
        self
    }
    /// Where fleet events go (default: dropped).
    pub fn events(mut self, sink: Arc<dyn FleetSink>) -> Self {
        self.events = Some(sink);
        self
    }
    /// The options of every tenant's apply (their `cancel` is replaced by a child of the
    /// fleet's token).
    pub fn apply_options(mut self, options: ApplyOptions) -> Self {
        self.apply_options = options;
        self
    }
    /// The options of every tenant's destroy (their `cancel` is replaced by a child of the
    /// fleet's token).
    pub fn destroy_options(mut self, options: DestroyOptions) -> Self {
        self.destroy_options = options;
        self
    }

    /// The least time between two cursor saves for tenants that *succeeded* (default 1 s;
    /// zero: saved whenever tenants finish). Every save writes the whole cursor, whose
    /// `succeeded` list grows with the fleet, so saving after each of 10,000 tenants costs
    /// time quadratic in the fleet size; the interval makes it linear (one save per interval).
    /// Failures, halts, cancellation and the end of the run are always saved at once. A crash
    /// loses at most the successes of the last interval; a resumed run runs those tenants
    /// again, which finds nothing to do (apply is idempotent).
    pub fn cursor_interval(mut self, interval: Duration) -> Self {
        self.cursor_interval = interval;
        self
    }

    /// Applies `blueprint` to every tenant. `Err` only for what stops the rollout before any
    /// tenant runs (an invalid blueprint, duplicate tenant names, a state store failure
    /// reading the cursor) or a state store failure saving it; tenant failures are in the
    /// report.
    pub async fn run(
        &self,
        fleet_id: &str,
        blueprint: &Blueprint,
        tenants: Vec<Tenant>,
        cancel: CancellationToken,
    ) -> Result<FleetReport> {
        // validated once: every tenant's run shares the graph
        let graph = Arc::new(blueprint.validate(self.engine.registry())?);
        self.drive(Op::Apply(graph), fleet_id, blueprint, tenants, cancel)
            .await
    }

    /// Destroys every tenant's resources ([`Engine::destroy`]) with the same waves, threshold,
    /// events and cursor as [`Fleet::run`]. Use a fleet id of its own (the cursor of a rollout
    /// lists its tenants as succeeded, which a destroy under the same id would skip).
    pub async fn destroy(
        &self,
        fleet_id: &str,
        blueprint: &Blueprint,
        tenants: Vec<Tenant>,
        cancel: CancellationToken,
    ) -> Result<FleetReport> {
        self.drive(Op::Destroy, fleet_id, blueprint, tenants, cancel)
            .await
    }

    async fn drive(
        &self,
        op: Op,
        fleet_id: &str,
        blueprint: &Blueprint,
        tenants: Vec<Tenant>,
        cancel: CancellationToken,
    ) -> Result<FleetReport> {
        let operation = match op {
            Op::Apply(_) => Operation::Apply,
            Op::Destroy => Operation::Destroy,
        };
        let span = tracing::info_span!("provisio.fleet", fleet_id = %fleet_id, operation = %operation, tenants = tenants.len());
        Driver::new(self, op, operation, fleet_id, blueprint, tenants, cancel)
            .await?
            .go()
            .instrument(span)
            .await
    }
}

/// The state of one fleet run.
struct Driver<'f> {
    fleet: &'f Fleet,
    op: Op,
    operation: Operation,
    fleet_id: String,
    blueprint: Arc<Blueprint>,
    tenants: Vec<Option<Tenant>>,
    results: Vec<TenantResult>,
    cancel: CancellationToken,
    started: Instant,
    // the cursor, kept as sets and rebuilt for every save
    succeeded: Vec<String>,
    failed: BTreeMap<String, String>,
    attempt: u64,
    // this run
    todo: Vec<usize>,
    failed_now: usize,
    limit: usize,
    halt: Option<HaltReason>,
    cancelled: bool,
    last_save: Option<Instant>,
}

impl<'f> Driver<'f> {
    async fn new(
        fleet: &'f Fleet,
        op: Op,
        operation: Operation,
        fleet_id: &str,
        blueprint: &Blueprint,
        tenants: Vec<Tenant>,
        cancel: CancellationToken,
    ) -> Result<Driver<'f>> {
        let mut seen = HashSet::with_capacity(tenants.len());
        for t in &tenants {
            provisio::validate::tenant_name("tenant", &t.name)?;
            if !seen.insert(t.name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "tenant {:?} is listed twice in fleet {fleet_id:?}",
                    t.name
                )));
            }
        }
        let cursor = fleet
            .engine
            .state()
            .get_fleet_cursor(fleet_id)
            .await?
            .unwrap_or_default();
        // an apply's cursor lists tenants as done; a destroy under the same id would skip them
        if let Some(theirs) = cursor.detail.get("operation").and_then(|v| v.as_str())
            && theirs != operation.to_string()
        {
            return Err(Error::invalid_input(format!(
                "fleet id {fleet_id:?} is the cursor of a fleet {theirs}; a fleet {operation} \
                 needs a fleet id of its own"
            )));
        }
        let done: HashSet<&str> = cursor.succeeded.iter().map(String::as_str).collect();
        let mut results = Vec::with_capacity(tenants.len());
        let mut todo = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            if done.contains(t.name.as_str()) {
                results.push(TenantResult::pending(
                    &t.name,
                    TenantStatus::AlreadySucceeded,
                ));
            } else {
                results.push(TenantResult::pending(&t.name, TenantStatus::NotStarted));
                todo.push(i);
            }
        }
        let attempt = cursor
            .detail
            .get("attempt")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            + 1;
        let limit = fleet.threshold.limit(todo.len());
        Ok(Driver {
            fleet,
            op,
            operation,
            fleet_id: fleet_id.to_string(),
            blueprint: Arc::new(blueprint.clone()),
            tenants: tenants.into_iter().map(Some).collect(),
            results,
            cancel,
            started: Instant::now(),
            succeeded: cursor.succeeded,
            failed: cursor.failed.into_iter().collect(),
            attempt,
            todo,
            failed_now: 0,
            limit,
            halt: None,
            cancelled: false,
            last_save: None,
        })
    }

    /// Emits the event `kind` builds, building it only when there is a sink.
    fn emit(&self, kind: impl FnOnce() -> FleetEventKind) {
        if let Some(s) = &self.fleet.events {
            s.emit(&FleetEvent {
                fleet_id: self.fleet_id.clone(),
                at_ms: now_ms(),
                kind: kind(),
            });
        }
    }

    fn state_name(&self, finished: bool) -> &'static str {
        match (finished, self.cancelled, &self.halt) {
            (_, true, _) => "cancelled",
            (_, _, Some(_)) => "halted",
            (true, _, None) => "completed",
            (false, _, None) => "running",
        }
    }

    async fn save(&mut self, finished: bool) -> Result<()> {
        self.last_save = Some(Instant::now());
        let cursor = FleetCursor {
            fleet_id: self.fleet_id.clone(),
            succeeded: self.succeeded.clone(),
            failed: self
                .failed
                .iter()
                .map(|(t, e)| (t.clone(), e.clone()))
                .collect(),
            halted: self.cancelled || self.halt.is_some(),
            detail: json!({
                "operation": self.operation,
                "blueprint": self.blueprint.name,
                "state": self.state_name(finished),
                "halt_reason": self.halt.as_ref().map(|h| h.to_string()),
                "attempt": self.attempt,
                "tenants": self.results.len(),
            }),
        };
        self.fleet.engine.state().put_fleet_cursor(&cursor).await
    }

    /// Whether no new tenant may start.
    fn stopped(&mut self) -> bool {
        if !self.cancelled && self.cancel.is_cancelled() {
            self.cancelled = true;
            self.emit(|| FleetEventKind::Cancelled);
        }
        self.cancelled || self.halt.is_some()
    }

    fn spawn(
        &mut self,
        set: &mut JoinSet<(usize, Result<RunReport>)>,
        ids: &mut HashMap<tokio::task::Id, usize>,
        i: usize,
        canary: bool,
    ) {
        let tenant = self.tenants[i].take().expect("each tenant runs once");
        self.results[i].canary = canary;
        self.emit(|| FleetEventKind::TenantStarted {
            tenant: tenant.name.clone(),
            canary,
        });
        let engine = self.fleet.engine.clone();
        let blueprint = self.blueprint.clone();
        let cancel = self.cancel.child_token();
        let op = self.op.clone();
        let apply = self.fleet.apply_options.clone().cancel(cancel.clone());
        let destroy = self.fleet.destroy_options.clone().cancel(cancel);
        let handle = set.spawn(
            async move {
                let r = match op {
                    Op::Apply(graph) => {
                        engine
                            .apply_validated(&blueprint, &graph, &tenant, apply)
                            .await
                    }
                    Op::Destroy => engine.destroy(&blueprint, &tenant, destroy).await,
                };
                (i, r)
            }
            .in_current_span(),
        );
        ids.insert(handle.id(), i);
    }

    /// Records a finished tenant; returns whether it failed.
    fn finished(&mut self, i: usize, r: Result<RunReport>) -> bool {
        let res = &mut self.results[i];
        match r {
            Ok(report) => {
                res.run_id = Some(report.run_id);
                res.error = report.errors.first().map(|(_, e)| e.into());
                res.summary = Some(report.summary);
            }
            Err(e) => res.error = Some((&e).into()),
        }
        let ok = res.error.is_none();
        res.status = if ok {
            TenantStatus::Succeeded
        } else {
            TenantStatus::Failed
        };
        let name = res.tenant.clone();
        if ok {
            self.failed.remove(&name);
            self.succeeded.push(name);
        } else {
            let msg = res
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            self.failed.insert(name, msg);
            self.failed_now += 1;
        }
        self.emit(|| FleetEventKind::TenantFinished {
            result: self.results[i].clone(),
        });
        !ok
    }

    /// Runs the tenants `todo[range]`, at most `concurrency` at a time, until they are done
    /// or the rollout stops; saves the cursor whenever tenants finish. Returns the canaries
    /// that failed (for the canary wave).
    async fn wave(&mut self, from: usize, to: usize, canary: bool) -> Result<Vec<String>> {
        let mut set = JoinSet::new();
        let mut ids = HashMap::new();
        let mut next = from;
        let mut failed = Vec::new();
        let limit = self.fleet.concurrency;
        loop {
            while set.len() < limit && next < to && !self.stopped() {
                let i = self.todo[next];
                next += 1;
                self.spawn(&mut set, &mut ids, i, canary);
            }
            if set.is_empty() {
                break;
            }
            let first = tokio::select! {
                // a cancellation is noticed at once (the runs in flight see it themselves)
                _ = self.cancel.cancelled(), if !self.cancelled => {
                    self.stopped();
                    continue;
                }
                j = set.join_next_with_id() => j,
            };
            // tenants that finished together share one cursor save
            let mut batch = vec![first.expect("the set is not empty")];
            while let Some(j) = set.try_join_next_with_id() {
                batch.push(j);
            }
            let failures_before = self.failed_now;
            for j in batch {
                let (i, r) = match j {
                    Ok((id, (i, r))) => {
                        ids.remove(&id);
                        (i, r)
                    }
                    Err(e) => {
                        let i = ids.remove(&e.id()).expect("spawned by this wave");
                        let what = if e.is_panic() {
                            "panicked"
                        } else {
                            "was aborted"
                        };
                        let err = Error::unexpected(format!(
                            "the run of tenant {:?} {what}",
                            self.results[i].tenant
                        ));
                        (i, Err(err))
                    }
                };
                if self.finished(i, r) {
                    if canary {
                        failed.push(self.results[i].tenant.clone());
                    }
                    if self.halt.is_none() && !canary && self.failed_now >= self.limit {
                        let reason = HaltReason::ThresholdReached {
                            failed: self.failed_now,
                            limit: self.limit,
                        };
                        tracing::warn!(reason = %reason, "fleet rollout halted");
                        self.halt = Some(reason.clone());
                        self.emit(|| FleetEventKind::Halted { reason });
                    }
                }
            }
            let due = self.failed_now > failures_before
                || self.halt.is_some()
                || self.cancelled
                || self
                    .last_save
                    .is_none_or(|t| t.elapsed() >= self.fleet.cursor_interval);
            if due {
                self.save(false).await?;
            }
        }
        Ok(failed)
    }

    async fn go(mut self) -> Result<FleetReport> {
        let already = self.results.len() - self.todo.len();
        let canary = self.fleet.canary.min(self.todo.len());
        self.emit(|| FleetEventKind::FleetStarted {
            operation: self.operation,
            tenants: self.results.len(),
            already_succeeded: already,
            canary,
            failure_limit: self.limit,
        });
        self.save(false).await?;
        if canary > 0 {
            let failed = self.wave(0, canary, true).await?;
            if self.stopped() {
                // cancelled during the canary wave
            } else if !failed.is_empty() {
                let reason = HaltReason::CanaryFailed { tenants: failed };
                tracing::warn!(reason = %reason, "fleet rollout halted");
                self.halt = Some(reason.clone());
                self.emit(|| FleetEventKind::Halted { reason });
            } else {
                let tenants = self.todo[..canary]
                    .iter()
                    .map(|&i| self.results[i].tenant.clone())
                    .collect();
                self.emit(|| FleetEventKind::CanaryPassed { tenants });
            }
        }
        // a failure threshold reached by canaries alone is already a canary halt
        if self.halt.is_none() && self.failed_now >= self.limit {
            let reason = HaltReason::ThresholdReached {
                failed: self.failed_now,
                limit: self.limit,
            };
            self.halt = Some(reason.clone());
            self.emit(|| FleetEventKind::Halted { reason });
        }
        let n = self.todo.len();
        self.wave(canary, n, false).await?;
        self.stopped();
        self.save(true).await?;

        let mut counts = FleetCounts {
            tenants: self.results.len(),
            ..Default::default()
        };
        for r in &self.results {
            match r.status {
                TenantStatus::Succeeded => counts.succeeded += 1,
                TenantStatus::Failed => counts.failed += 1,
                TenantStatus::AlreadySucceeded => counts.already_succeeded += 1,
                TenantStatus::NotStarted => counts.not_started += 1,
            }
            if let Some(s) = &r.summary {
                let t = &mut counts.resources;
                t.created += s.created;
                t.updated += s.updated;
                t.unchanged += s.unchanged;
                t.deleted += s.deleted;
                t.failed += s.failed;
                t.skipped += s.skipped;
                t.rolled_back += s.rolled_back;
                t.duration_ms += s.duration_ms;
            }
        }
        let status = if self.cancelled {
            FleetStatus::Cancelled
        } else if let Some(reason) = self.halt.clone() {
            FleetStatus::Halted { reason }
        } else {
            FleetStatus::Completed
        };
        self.emit(|| FleetEventKind::FleetFinished {
            status: status.clone(),
            counts: counts.clone(),
        });
        Ok(FleetReport {
            fleet_id: self.fleet_id,
            operation: self.operation,
            status,
            tenants: self.results,
            counts,
            duration_ms: self.started.elapsed().as_millis() as u64,
        })
    }
}
