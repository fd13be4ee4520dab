//! The fleet workflow: one blueprint over many tenants, with the in-process
//! [`provisio_engine::Fleet`]'s semantics, on Temporal.
//!
//! - **A window of `concurrency` tenants**: each tenant is one [`TenantActivities::run_tenant`]
//!   activity (activity id `tenant-<name>`); at most `concurrency` are scheduled at once.
//! - **A canary wave**: the first `canary` tenants run first (at most `concurrency` at a
//!   time) and must all succeed; if one fails the rollout halts with nothing else started
//!   ([`HaltReason::CanaryFailed`]).
//! - **A failure threshold** ([`provisio_engine::FailureThreshold`], counted over the tenants
//!   of the rollout): once reached no new tenant starts; tenants running finish normally
//!   ([`HaltReason::ThresholdReached`]). A threshold reached by canaries alone is a canary halt.
//! - **Signals** `pause` (no new tenant starts; running ones finish), `resume`, `cancel` (no new
//!   tenant starts; running ones are cancelled, and the engine rolls back what their runs
//!   created). Cancelling the workflow itself does the same and ends it as *Cancelled*; the
//!   `cancel` signal ends it *Completed* with a [`RolloutState::Cancelled`] status as result.
//! - **Query** `status`: a [`FleetStatus`] (done / running / failed / pending, per-tenant
//!   results). The workflow's result is the final status.
//!
//! Workflow code must be deterministic: it only orders tenants and keeps counts. It never
//! calls the engine (I/O lives in the activity), uses no tokio primitive, and waits on several
//! activities by polling them in a fixed order ([`first_finished`]), so a replay takes the
//! same path.
//!
//! Not yet: continue-as-new. A tenant costs about 3 history events plus one workflow task
//! per completion, so a rollout of a few thousand tenants fits one history; larger ones must
//! drain the window and continue-as-new with a cursor (see `docs/design/temporal.md` §6).

// The SDK's macros turn each workflow/activity method into an associated constant that
// carries no docs (the methods themselves are documented).
#![allow(missing_docs)]

use crate::activity::TenantActivities;
use crate::types::{
    BlueprintContent, FleetInput, FleetStatus, RolloutState, TenantOutcome, TenantState,
};
use futures::FutureExt;
use provisio_engine::events::EventError;
use provisio_engine::fleet::HaltReason;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use temporalio_client::RetryPolicy;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::workflows::select;
use temporalio_sdk::{
    ActivityCancellationType, ActivityExecutionError, ActivityOptions, CancellableFuture,
    SyncWorkflowContext, WorkflowContext, WorkflowContextView, WorkflowResult, WorkflowTermination,
};

/// The fleet workflow (type name `FleetWorkflow`); see the [module docs](self).
#[workflow]
#[derive(Default)]
pub struct FleetWorkflow {
    status: FleetStatus,
    /// The rollout's pinned blueprint, for the `blueprint` query of its tenants' activities.
    blueprint: Option<BlueprintContent>,
}

type TenantFuture<'a> =
    Pin<Box<dyn CancellableFuture<Output = Result<TenantOutcome, ActivityExecutionError>> + 'a>>;

/// A tenant whose activity is scheduled.
struct InFlight<'a> {
    tenant: String,
    canary: bool,
    future: TenantFuture<'a>,
}

/// What woke the window up.
enum Wake {
    /// The in-flight tenant at this index finished.
    Finished(usize, Box<Result<TenantOutcome, ActivityExecutionError>>),
    /// A cancel signal arrived.
    CancelSignal,
    /// The workflow itself was cancelled.
    WorkflowCancelled,
}

/// How a wave ended.
struct WaveEnd {
    /// Canary tenants that failed (empty outside the canary wave).
    failed_canaries: Vec<String>,
    /// The workflow was cancelled (not by signal): end as Cancelled.
    workflow_cancelled: bool,
}

#[workflow_methods]
impl FleetWorkflow {
    /// Runs the rollout; returns its final status.
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: FleetInput,
    ) -> WorkflowResult<FleetStatus> {
        // keep what signals delivered with the start (signal-with-start) set
        ctx.state_mut(|s| {
            let (paused, cancel) = (s.status.paused, s.status.cancel_requested);
            s.status = FleetStatus::new(&input.fleet_id, input.tenants.len());
            s.status.paused = paused;
            s.status.cancel_requested = cancel;
            if paused {
                s.status.state = RolloutState::Paused;
            }
            s.blueprint = Some(input.blueprint.clone());
        });
        if let Err(e) = input.validate() {
            ctx.state_mut(|s| {
                s.status.state = RolloutState::Refused {
                    message: e.to_string(),
                }
            });
            return Ok(ctx.state(|s| s.status.clone()));
        }
        let n = input.tenants.len();
        let canary = input.canary.min(n);
        let limit = input.max_failures.limit(n);
        let options = activity_options(&input);

        if canary > 0 {
            let end = wave(ctx, &input, &options, 0, canary, true, usize::MAX).await;
            if end.workflow_cancelled {
                return cancelled(ctx);
            }
            if !end.failed_canaries.is_empty() {
                halt(
                    ctx,
                    HaltReason::CanaryFailed {
                        tenants: end.failed_canaries,
                    },
                );
            }
        }
        let failed = ctx.state(|s| s.status.failed);
        if !stopped(ctx) && failed >= limit {
            halt(ctx, HaltReason::ThresholdReached { failed, limit });
        }
        if !stopped(ctx) {
            let end = wave(ctx, &input, &options, canary, n, false, limit).await;
            if end.workflow_cancelled {
                return cancelled(ctx);
            }
        }
        ctx.state_mut(|s| {
            if s.status.cancel_requested {
                s.status.state = RolloutState::Cancelled;
            } else if !matches!(s.status.state, RolloutState::Halted { .. }) {
                s.status.state = RolloutState::Completed;
            }
        });
        Ok(ctx.state(|s| s.status.clone()))
    }

    /// No new tenant starts until `resume`; tenants running finish.
    #[signal]
    pub fn pause(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _x: ()) {
        self.status.paused = true;
        if self.status.state == RolloutState::Running {
            self.status.state = RolloutState::Paused;
        }
    }

    /// Lifts a pause.
    #[signal]
    pub fn resume(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _x: ()) {
        self.status.paused = false;
        if self.status.state == RolloutState::Paused {
            self.status.state = RolloutState::Running;
        }
    }

    /// Stops the rollout: no new tenant starts; tenants running are cancelled.
    #[signal]
    pub fn cancel(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _x: ()) {
        self.status.cancel_requested = true;
    }

    /// The rollout's progress.
    #[query]
    pub fn status(&self, _ctx: &WorkflowContextView) -> FleetStatus {
        self.status.clone()
    }

    /// The rollout's pinned blueprint (what a tenant's activity runs; see
    /// [`crate::types::TenantInput::blueprint`]).
    #[query]
    pub fn blueprint(&self, _ctx: &WorkflowContextView) -> Option<BlueprintContent> {
        self.blueprint.clone()
    }
}

/// The options of every tenant's activity. A tenant failure is a *result*, not an activity
/// error, so Temporal's retry only re-runs a tenant whose worker was lost (heartbeat timeout)
/// or whose run could not start for a retryable reason (the state store unreachable, the
/// lease of a lost worker not expired yet); the engine retries inside each step.
fn activity_options(input: &FleetInput) -> ActivityOptions {
    let heartbeat = Duration::from_secs(input.heartbeat_timeout_secs.max(1));
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(24 * 3600))
        .heartbeat_timeout(heartbeat)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .backoff_coefficient(2.0)
                .maximum_interval(heartbeat.max(Duration::from_secs(2)))
                .maximum_attempts(20)
                .build(),
        )
        // a cancelled tenant's result arrives once its run has stopped and rolled back
        .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
        .build()
}

/// Whether no new tenant may start (halted or cancel signal).
fn stopped(ctx: &WorkflowContext<FleetWorkflow>) -> bool {
    ctx.state(|s| {
        s.status.cancel_requested || matches!(s.status.state, RolloutState::Halted { .. })
    })
}

/// Ends a cancelled workflow as *Cancelled* (its status, still queryable, says so too).
fn cancelled(ctx: &WorkflowContext<FleetWorkflow>) -> WorkflowResult<FleetStatus> {
    ctx.state_mut(|s| s.status.state = RolloutState::Cancelled);
    Err(WorkflowTermination::cancelled())
}

fn halt(ctx: &WorkflowContext<FleetWorkflow>, reason: HaltReason) {
    ctx.state_mut(|s| {
        if !matches!(s.status.state, RolloutState::Halted { .. }) {
            s.status.state = RolloutState::Halted { reason };
        }
    });
}

/// Runs `input.tenants[from..to]`, at most `concurrency` at a time, until they are done or
/// the rollout stops. `limit`: the failure threshold (checked outside the canary wave).
async fn wave<'a>(
    ctx: &'a WorkflowContext<FleetWorkflow>,
    input: &'a FleetInput,
    options: &ActivityOptions,
    from: usize,
    to: usize,
    canary: bool,
    limit: usize,
) -> WaveEnd {
    let window = input.concurrency.max(1);
    let mut next = from;
    let mut inflight: Vec<InFlight<'a>> = Vec::new();
    let mut end = WaveEnd {
        failed_canaries: Vec::new(),
        workflow_cancelled: false,
    };
    let mut cancel_sent = false;
    loop {
        let paused = ctx.state(|s| s.status.paused);
        let stop = stopped(ctx);
        while !paused && !stop && !end.workflow_cancelled && inflight.len() < window && next < to {
            let tenant = &input.tenants[next];
            next += 1;
            let mut opts = options.clone();
            opts.activity_id = Some(format!("tenant-{}", tenant.name));
            let future = ctx.execute_activity(
                TenantActivities::run_tenant,
                input.tenant_input(tenant, canary),
                opts,
            );
            ctx.state_mut(|s| {
                s.status.pending -= 1;
                s.status.running.push(tenant.name.clone());
            });
            inflight.push(InFlight {
                tenant: tenant.name.clone(),
                canary,
                future: Box::pin(future),
            });
        }
        if inflight.is_empty() {
            if stop || next >= to || end.workflow_cancelled {
                return end;
            }
            // paused with nothing running: wait for resume or cancel
            let r = ctx
                .wait_condition(|s| !s.status.paused || s.status.cancel_requested)
                .await;
            if r.is_err() {
                end.workflow_cancelled = true;
            }
            continue;
        }
        let wake = {
            let first = first_finished(&mut inflight).fuse();
            let cancel_signal = ctx.wait_condition(|s| s.status.cancel_requested).fuse();
            // while paused, a resume wakes the window so that it fills up at once
            let paused_wait = async {
                if paused {
                    ctx.wait_condition(|s| !s.status.paused).await
                } else {
                    futures::future::pending().await
                }
            }
            .fuse();
            futures::pin_mut!(first, cancel_signal, paused_wait);
            if cancel_sent || end.workflow_cancelled {
                // only completions matter now
                let (i, r) = first.await;
                Wake::Finished(i, Box::new(r))
            } else {
                select! {
                    f = first => Wake::Finished(f.0, Box::new(f.1)),
                    c = cancel_signal => match c {
                        Ok(()) => Wake::CancelSignal,
                        Err(_) => Wake::WorkflowCancelled,
                    },
                    // a resume while the window is not full starts tenants at once
                    p = paused_wait => match p {
                        Ok(()) => continue,
                        Err(_) => Wake::WorkflowCancelled,
                    },
                }
            }
        };
        match wake {
            Wake::Finished(i, r) => {
                let done = inflight.remove(i);
                let outcome = outcome_of(&done, *r);
                let failed = outcome.state != TenantState::Succeeded;
                let cancelled = outcome.state == TenantState::Cancelled;
                if failed && !cancelled && canary {
                    end.failed_canaries.push(done.tenant.clone());
                }
                let failed_now = ctx.state_mut(|s| {
                    s.status.running.retain(|t| *t != done.tenant);
                    if failed {
                        s.status.failed += 1;
                    } else {
                        s.status.done += 1;
                    }
                    s.status.results.push(outcome);
                    s.status.failed
                });
                // a tenant cancelled with the rollout is not a failure of the blueprint
                if failed && !cancelled && !canary && failed_now >= limit {
                    halt(
                        ctx,
                        HaltReason::ThresholdReached {
                            failed: failed_now,
                            limit,
                        },
                    );
                }
            }
            Wake::CancelSignal | Wake::WorkflowCancelled => {
                if matches!(wake, Wake::WorkflowCancelled) {
                    // the activities inherit the workflow's cancellation; just drain them
                    end.workflow_cancelled = true;
                    ctx.state_mut(|s| s.status.cancel_requested = true);
                } else {
                    for f in &inflight {
                        f.future.cancel();
                    }
                }
                cancel_sent = true;
            }
        }
    }
}

/// Resolves to the first in-flight tenant that finished, polling them in start order (a
/// replay polls in the same order, so it takes the same path).
fn first_finished<'a, 'b>(
    inflight: &'b mut [InFlight<'a>],
) -> impl Future<Output = (usize, Result<TenantOutcome, ActivityExecutionError>)> + 'b {
    std::future::poll_fn(move |cx| {
        for (i, f) in inflight.iter_mut().enumerate() {
            if let Poll::Ready(r) = f.future.as_mut().poll(cx) {
                return Poll::Ready((i, r));
            }
        }
        Poll::Pending
    })
}

/// A tenant's outcome from its activity's result: a cancelled activity is a cancelled tenant,
/// an activity that failed for good (retries exhausted) a failed one.
fn outcome_of(f: &InFlight<'_>, r: Result<TenantOutcome, ActivityExecutionError>) -> TenantOutcome {
    match r {
        Ok(mut o) => {
            o.canary = f.canary;
            o
        }
        Err(ActivityExecutionError::Cancelled(e)) => {
            let mut o = TenantOutcome::failed(
                &f.tenant,
                f.canary,
                EventError {
                    kind: "cancelled".into(),
                    message: format!("the rollout was cancelled: {e}"),
                    retryable: false,
                },
            );
            o.state = TenantState::Cancelled;
            o
        }
        Err(e) => TenantOutcome::failed(
            &f.tenant,
            f.canary,
            EventError {
                kind: "unexpected".into(),
                message: format!("tenant activity failed: {e}"),
                retryable: false,
            },
        ),
    }
}
