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
//!   run's id and [`Summary`](crate::events::Summary), or its error.
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

mod driver;
mod events;
mod report;

use driver::Driver;
pub use events::{FleetEvent, FleetEventKind, FleetSink};
pub use report::{
    FailureThreshold, FleetCounts, FleetReport, FleetStatus, HaltReason, TenantResult, TenantStatus,
};

use crate::blueprint::{Blueprint, Graph};
use crate::events::Operation;
use crate::resource::Tenant;
use crate::run::{ApplyOptions, DestroyOptions, Engine};
pub use crate::state::FleetCursor;
use provisio::Result;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

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
        // a tenant is applied in its launched phase (see `crate::lifecycle`)
        let view = blueprint.in_phase(crate::lifecycle::Phase::Launched);
        self.drive(Op::Apply(graph), fleet_id, &view, tenants, cancel)
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
