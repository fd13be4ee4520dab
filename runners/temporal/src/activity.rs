//! The unit of work per tenant: one heartbeating activity that runs the engine's apply or
//! destroy for that tenant.
//!
//! Why one activity per tenant, not a child workflow per tenant holding one activity
//! (`docs/design/temporal.md` offers both): the child adds about 11 history events and two
//! more workflow tasks per tenant to the 3 events an activity costs, and its one extra
//! guarantee, a workflow id per fleet + tenant, does not stop what matters: a second *run* of
//! a tenant. That is excluded by the engine's lease in PostgreSQL, which holds across
//! activities, fleets and anything else that applies the tenant. Within a fleet, the
//! workflow schedules each tenant once (activity id `tenant-<name>`) and Temporal runs one
//! attempt at a time. Cancellation is also direct: the fleet workflow cancels the activity
//! future, with no child in between.
//!
//! What the activity does:
//!
//! 1. gets the pinned blueprint (its content is asked of the fleet workflow once per worker
//!    and blueprint, with the `blueprint` query, so a rollout's history holds it once) and
//!    rebuilds it (a digest mismatch, an unknown wire
//!    version, a provider configuration other than the rollout expects, or a blueprint this
//!    worker's resource types or providers reject fails the tenant before any side effect);
//! 2. runs the engine with the tenant's lease, waiting for it up to 2 × the heartbeat timeout
//!    (after a worker was lost, its lease expires within the engine's lease TTL, which the
//!    worker sets to the heartbeat timeout), so attempt 2 resumes the crashed run from the
//!    journal instead of failing;
//! 3. heartbeats with its progress ([`Progress`]) at every engine event of its run and every
//!    third of the heartbeat timeout, so a long step does not look like a lost worker;
//! 4. when cancelled, cancels the engine run (running steps stop, the engine rolls back what
//!    the run created) and reports `Cancelled` once the run has stopped; when the *worker*
//!    shuts down, it does the same but returns a retryable failure, so the tenant resumes on
//!    another worker.
//!
//! A tenant whose run fails is a *result* ([`TenantState::Failed`]), not an activity error:
//! retrying is the engine's job, inside each step. The activity fails (and Temporal retries
//! it) only when the run could not start for a reason that passes: a retryable error (the
//! state store unreachable) or a lease still held.

// The SDK's macros turn each workflow/activity method into an associated constant that
// carries no docs (the methods themselves are documented).
#![allow(missing_docs)]

use crate::fleet::FleetWorkflow;
use crate::types::{
    BlueprintContent, FleetOperation, TenantInput, TenantOutcome, TenantState, check_version,
};
use provisio::ErrorKind;
use provisio_engine::Blueprint;
use provisio_engine::events::{Event, EventError, EventKind, EventSink, TenantRouter};
use provisio_engine::{
    ApplyOptions, CancellationToken, DestroyOptions, Engine, EngineBuilder, RunReport,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use temporalio_client::WorkflowQueryOptions;
use temporalio_macros::activities;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tokio::sync::mpsc::UnboundedSender;

/// What a tenant's activity heartbeats: how far its run got. Shown by Temporal's UI and CLI
/// (`temporal workflow describe`); a retried attempt does not need it (the journal resumes).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The engine run's id.
    pub run_id: Option<String>,
    /// Steps the run considers.
    pub steps: usize,
    /// Steps finished (succeeded, failed, skipped).
    pub finished: usize,
    /// The last step that started.
    pub current: Option<String>,
}

impl Progress {
    fn record(&mut self, e: &Event) {
        self.run_id = Some(e.run_id.clone());
        match &e.kind {
            EventKind::RunStarted { resources, .. } => self.steps = resources.len(),
            EventKind::StepStarted { resource, .. } => self.current = Some(resource.clone()),
            EventKind::StepSucceeded { .. }
            | EventKind::StepFailed { .. }
            | EventKind::StepSkipped { .. } => self.finished += 1,
            _ => {}
        }
    }
}

type Subscribers = TenantRouter<UnboundedSender<Event>>;

/// The engine's event sink in a worker: each event goes to the activity running its tenant
/// (for heartbeats) and to the worker's own sink, if any.
struct RoutedEvents {
    router: Arc<Subscribers>,
    also: Option<Arc<dyn EventSink>>,
}

impl EventSink for RoutedEvents {
    fn emit(&self, event: &Event) {
        for s in self.router.subscribers(&event.tenant) {
            let _ = s.send(event.clone());
        }
        if let Some(also) = &self.also {
            also.emit(event);
        }
    }
}

/// The activities a provisio worker registers (see [`crate::worker`]).
pub struct TenantActivities {
    engine: Engine,
    router: Arc<Subscribers>,
    identity: String,
    shutting_down: Arc<AtomicBool>,
    providers_digest: Option<String>,
    secrets_from_env: Option<BTreeMap<String, String>>,
    blueprints: Mutex<HashMap<String, Arc<Blueprint>>>,
}

impl TenantActivities {
    /// Activities running tenants on the engine `builder` builds (providers, resource types
    /// and a state store shared by every worker: PostgreSQL). The builder's event sink is
    /// replaced: events go to the activity's heartbeats and then to `events`, if given.
    /// `lease_ttl` becomes the engine's lease TTL: a lost worker's tenant can be resumed that
    /// long after its last renewal, so keep it at most the heartbeat timeout.
    pub fn new(
        builder: EngineBuilder,
        events: Option<Arc<dyn EventSink>>,
        lease_ttl: Duration,
        identity: impl Into<String>,
    ) -> provisio::Result<TenantActivities> {
        let router = Arc::new(Subscribers::new());
        let identity = identity.into();
        let engine = builder
            .events(Arc::new(RoutedEvents {
                router: router.clone(),
                also: events,
            }))
            .lock_ttl(lease_ttl)
            .lock_owner(format!("temporal-{identity}"))
            .build()?;
        Ok(TenantActivities {
            engine,
            router,
            identity,
            shutting_down: Arc::new(AtomicBool::new(false)),
            providers_digest: None,
            secrets_from_env: None,
            blueprints: Mutex::default(),
        })
    }

    /// Declares this worker's provider configuration (a digest of it, without secrets): a
    /// rollout that expects another one ([`crate::FleetInput::providers_digest`]) has its
    /// tenants refused here, before any side effect.
    pub fn with_providers_digest(mut self, digest: impl Into<String>) -> Self {
        self.providers_digest = Some(digest.into());
        self
    }

    /// Gives each tenant the secret variables its blueprint declares from this worker's
    /// environment ([`Blueprint::secrets_from_env`]: `smtp_password` from
    /// `PROVISIO_SECRET_SMTP_PASSWORD`, or the variable `env` maps it to). Secrets never
    /// travel in a rollout's input or its Temporal history ([`crate::TenantSpec`] has none);
    /// every worker holds them, as it holds its provider credentials. A required secret that
    /// is not set fails the tenant before any side effect, naming the variable.
    pub fn with_secrets_from_env(mut self, env: BTreeMap<String, String>) -> Self {
        self.secrets_from_env = Some(env);
        self
    }

    /// The engine the activities run tenants on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The flag the worker sets before it shuts down (see the module docs, point 4).
    pub(crate) fn shutdown_flag(&self) -> Arc<AtomicBool> {
        self.shutting_down.clone()
    }
}

#[activities]
impl TenantActivities {
    /// Runs one tenant's apply or destroy; see the [module docs](self).
    #[activity]
    pub async fn run_tenant(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: TenantInput,
    ) -> Result<TenantOutcome, ActivityError> {
        self.run(ctx, input).await
    }
}

/// Blueprints a worker keeps by digest (a few rollouts at once; more are fetched again).
const BLUEPRINT_CACHE: usize = 16;

impl TenantActivities {
    /// The rollout's blueprint: from the input, from this worker's cache, or asked of the
    /// fleet workflow (the `blueprint` query); its content must match the input's digest.
    async fn blueprint(
        &self,
        ctx: &ActivityContext,
        input: &TenantInput,
    ) -> provisio::Result<Arc<Blueprint>> {
        let digest = &input.blueprint_digest;
        if let Some(content) = &input.blueprint {
            return checked(content, digest).map(Arc::new);
        }
        if let Some(bp) = self.blueprints.lock().unwrap().get(digest) {
            return Ok(bp.clone());
        }
        let handle = ctx.workflow_handle::<FleetWorkflow>().ok_or_else(|| {
            provisio::Error::invalid_input("a tenant activity must run inside a fleet workflow")
        })?;
        let content = handle
            .query(
                FleetWorkflow::blueprint,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .map_err(|e| {
                provisio::Error::transient(format!(
                    "cannot ask the fleet workflow for its blueprint: {e}"
                ))
            })?
            .ok_or_else(|| provisio::Error::transient("the fleet workflow has no blueprint yet"))?;
        let bp = Arc::new(checked(&content, digest)?);
        let mut cache = self.blueprints.lock().unwrap();
        if cache.len() >= BLUEPRINT_CACHE {
            cache.clear();
        }
        cache.insert(digest.clone(), bp.clone());
        Ok(bp)
    }

    async fn run(
        &self,
        ctx: ActivityContext,
        input: TenantInput,
    ) -> Result<TenantOutcome, ActivityError> {
        let attempt = ctx.info().attempt;
        let refuse = |e: provisio::Error| {
            let mut o = TenantOutcome::failed(&input.tenant.name, input.canary, (&e).into());
            o.attempt = attempt;
            o.worker = self.identity.clone();
            Ok(o)
        };
        if let Err(e) = check_version("the tenant input", input.v) {
            return refuse(e);
        }
        if let Some(expected) = &input.providers_digest
            && self.providers_digest.as_ref() != Some(expected)
        {
            return refuse(provisio::Error::invalid_input(format!(
                "worker {} has provider configuration {}, but rollout {:?} expects {expected}; \
                 the tenant was not run (start workers with the rollout's providers file)",
                self.identity,
                self.providers_digest.as_deref().unwrap_or("(undeclared)"),
                input.fleet_id,
            )));
        }
        let blueprint = match self.blueprint(&ctx, &input).await {
            Ok(bp) => bp,
            Err(e) if e.retryable() => {
                return Err(ActivityError::application(ApplicationFailure::new(e)));
            }
            Err(e) => return refuse(e),
        };
        let mut tenant = input.tenant.to_tenant();
        if let Some(env) = &self.secrets_from_env {
            tenant.secrets.extend(blueprint.secrets_from_env(env));
        }
        if input.operation == FleetOperation::Apply
            && let Err(e) = blueprint.check_tenant(&tenant)
        {
            return refuse(e);
        }
        let heartbeat_timeout = ctx
            .info()
            .heartbeat_timeout
            .unwrap_or(Duration::from_secs(30));
        let cancel = CancellationToken::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _subscription = self.router.subscribe([tenant.name.as_str()], tx);

        let lock_wait = heartbeat_timeout * 2;
        let engine = &self.engine;
        let run = async {
            match input.operation {
                FleetOperation::Apply => {
                    let opts = ApplyOptions {
                        refresh: input.refresh,
                        overrides: input.allow.iter().cloned().collect(),
                        ..Default::default()
                    }
                    .cancel(cancel.clone())
                    .lock_wait(lock_wait);
                    engine.apply(&blueprint, &tenant, opts).await
                }
                FleetOperation::Destroy => {
                    let opts = DestroyOptions {
                        overrides: input.allow.iter().cloned().collect(),
                        ..Default::default()
                    }
                    .cancel(cancel.clone())
                    .lock_wait(lock_wait);
                    engine.destroy(&blueprint, &tenant, opts).await
                }
            }
        };
        tokio::pin!(run);
        let mut progress = Progress::default();
        let mut ticker =
            tokio::time::interval((heartbeat_timeout / 3).max(Duration::from_millis(200)));
        let mut cancelled = false;
        let result = loop {
            tokio::select! {
                r = &mut run => break r,
                Some(e) = rx.recv() => {
                    progress.record(&e);
                    let _ = ctx.record_heartbeat(progress.clone()).await;
                }
                _ = ticker.tick() => {
                    let _ = ctx.record_heartbeat(progress.clone()).await;
                }
                _ = ctx.cancelled(), if !cancelled => {
                    cancelled = true;
                    tracing::info!(tenant = %tenant.name, "tenant activity cancelled; stopping its run");
                    cancel.cancel();
                }
            }
        };
        let outcome = |report: &RunReport| TenantOutcome {
            v: crate::types::WIRE_VERSION,
            tenant: tenant.name.clone(),
            state: if report.errors.is_empty() {
                TenantState::Succeeded
            } else {
                TenantState::Failed
            },
            canary: input.canary,
            run_id: Some(report.run_id.clone()),
            summary: Some(report.summary.clone()),
            error: report.errors.first().map(|(_, e)| EventError::from(e)),
            attempt,
            worker: self.identity.clone(),
        };
        match result {
            // a run that did everything stands, even if a cancellation came too late (a run
            // cancelled before its steps ran reports them skipped, without an error)
            Ok(report)
                if report.errors.is_empty() && (!cancelled || report.summary.skipped == 0) =>
            {
                Ok(outcome(&report))
            }
            _ if cancelled && self.shutting_down.load(Ordering::SeqCst) => Err(
                ActivityError::application(ApplicationFailure::new(format!(
                    "worker {} shut down while tenant {:?} ran; the tenant resumes on another worker",
                    self.identity, tenant.name
                ))),
            ),
            _ if cancelled => Err(ActivityError::cancelled()),
            Ok(report) => Ok(outcome(&report)),
            Err(e) if e.retryable() || *e.kind() == ErrorKind::Conflict => {
                // the run could not start for a reason that passes (the store unreachable, a
                // lost worker's lease not expired yet): Temporal retries the activity
                Err(ActivityError::application(ApplicationFailure::new(e)))
            }
            Err(e) => refuse(e),
        }
    }
}

/// Rebuilds `content` and checks it is the blueprint the rollout pinned.
fn checked(content: &BlueprintContent, digest: &str) -> provisio::Result<Blueprint> {
    if content.digest != digest {
        return Err(provisio::Error::invalid_input(format!(
            "the rollout pinned blueprint {digest}, but {} was found",
            content.digest
        )));
    }
    content.to_blueprint()
}
