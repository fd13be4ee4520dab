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
//!    [`ResourceType::read`]; what is found is finished (a resuming apply runs the interrupted
//!    ensure again) or adopted (a resuming destroy), what is not is treated as absent; deletes
//!    are re-run.
//! 4. Steps run from a ready queue: a resource starts as soon as everything it depends on has
//!    succeeded, at most `concurrency` at a time. Every side effect is journaled (intent, then
//!    succeeded/failed) before the resource record is written.
//! 5. When a step fails, what depends on it is skipped, independent steps finish, and —
//!    unless `keep_partial` — the resources this run created are deleted again in reverse
//!    dependency order (protected ones never).
//!
//! # Where things are
//!
//! This file holds the [`Engine`] and the context of one run; `builder` builds the engine,
//! `options` and `report` are what a run takes and returns. `lease` holds the tenant's lease
//! around a run, `recover` resolves what a crashed run left, `schedule` runs the ready queue,
//! `step` carries out one resource's ensure or delete, journaled by `journal`, each provider
//! call going through `call` (retries, timeout, cancellation). `apply`, `rollback`, `destroy`
//! and `refresh` are the operations.

mod apply;
mod builder;
mod call;
mod destroy;
mod journal;
mod lease;
mod options;
mod recover;
mod refresh;
mod report;
mod rollback;
mod schedule;
mod step;
mod transition;

pub use builder::EngineBuilder;
pub use options::{ApplyOptions, DestroyOptions, PlanHook, RefreshOptions};
pub use report::{RefreshReport, RefreshedResource, RunReport, StepReport, StepStatus};

use crate::blueprint::{Blueprint, ResourceSpec};
use crate::events::{Event, EventKind, EventSink, StepOutcome};
use crate::plan::{self, Action, Plan, PlanOptions};
use crate::providers::Providers;
use crate::resource::{Registry, ResourceType, StepContext, Tenant};
use crate::retry::RetryPolicy;
use crate::state::{StateStore, now_ms};
use provisio::requests::RequestTally;
use provisio::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

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
    /// `step::Provenance::InDoubt`).
    in_doubt: std::sync::Mutex<BTreeSet<String>>,
    /// Every provider request of the run, per provider.
    requests: Arc<RequestTally>,
    /// Secret values the run wrote (see [`crate::resource::WrittenSecrets`]).
    written: crate::resource::WrittenSecrets,
    /// The lifecycle transition the run carries out, if it is one.
    transition: Option<crate::lifecycle::Transition>,
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

    /// Plans an apply (of the blueprint's launched phase, see [`crate::lifecycle`]); makes no
    /// changes and takes no lease.
    pub async fn plan(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: &PlanOptions,
    ) -> Result<Plan> {
        if blueprint.has_lifecycle() {
            blueprint.validate(&self.inner.registry)?;
        }
        plan::plan(
            &self.inner.registry,
            &self.inner.providers,
            self.inner.state.as_ref(),
            &blueprint.in_phase(crate::lifecycle::Phase::Launched),
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
            transition: run.transition,
        }
    }

    fn policy(&self, spec: Option<&ResourceSpec>) -> (RetryPolicy, Option<Duration>) {
        let retry = spec.and_then(|s| s.retry).unwrap_or(self.inner.retry);
        let timeout = spec
            .and_then(|s| s.timeout_secs)
            .map(Duration::from_secs)
            .or(self.inner.step_timeout);
        (retry, timeout)
    }

    /// The policy of a resource's `apply`: [`Engine::policy`], unless its type waits
    /// ([`ResourceType::polling`]): then the type's retries (unless the resource sets its own)
    /// and the type's deadline, cut short by the resource's own `timeout_secs` when that is
    /// shorter (the engine's default step timeout does not apply).
    fn apply_policy(
        &self,
        spec: &ResourceSpec,
        rt: &dyn ResourceType,
        params: &Value,
    ) -> (RetryPolicy, Option<Duration>) {
        let Some(polling) = rt.polling(params) else {
            return self.policy(Some(spec));
        };
        let retry = spec.retry.unwrap_or(polling.retry);
        let timeout = match spec.timeout_secs.map(Duration::from_secs) {
            Some(t) if t < polling.deadline => t,
            _ => polling.deadline,
        };
        (retry, Some(timeout))
    }

    fn type_of(&self, name: &str) -> Result<Arc<dyn ResourceType>> {
        self.inner.registry.get(name).ok_or_else(|| {
            Error::invalid_input(format!("unknown resource type {name:?} (not registered)"))
        })
    }
}

#[cfg(test)]
mod tests;
