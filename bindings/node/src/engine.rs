//! `Engine`: plan, apply, destroy, refresh, outputs and fleet runs over a set of `Providers`,
//! with run events to a JS callback, custom steps written in JS, and cancellation through a
//! `CancelToken` (which `index.js` wires to an `AbortSignal`).
//!
//! Reports come back as the engine's own JSON (the CLI's `--json` shapes), plus `success` and
//! `errors` (each failure's full error fields, which `index.js` turns into `ProvisioError`s).
//! A failed apply or destroy rejects with its first error, the report attached, unless the
//! options say `check: false`: the rule of the Python and Ruby bindings.

use crate::blueprint::Blueprint;
use crate::errors::{self, OrThrow};
use crate::events::{EventCallback, JsEventSink, JsFleetSink};
use crate::providers::Providers;
use crate::steps::{JsStep, StepDefinition};
use crate::{from_js, millis, to_js};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
use napi_derive::napi;
use provisio_engine::fleet::{FailureThreshold, Fleet};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, CancellationToken, DestroyOptions, PlanOptions, RefreshOptions, RunReport,
    StateStore, Tenant, Transition, types,
};
use serde_json::{Value, json};
use std::sync::Arc;

/// Cancels the runs it is given to (`index.js` cancels it when an `AbortSignal` aborts).
#[napi]
pub struct CancelToken {
    token: CancellationToken,
}

#[napi]
impl CancelToken {
    /// A token not cancelled yet.
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        CancelToken {
            token: CancellationToken::new(),
        }
    }
    /// Cancels: running steps fail with `cancelled`, the rest are skipped, what the run created
    /// is rolled back.
    #[napi]
    pub fn cancel(&self) {
        self.token.cancel();
    }
    /// Whether it was cancelled.
    #[napi(getter)]
    pub fn cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}

fn token(cancel: Option<&CancelToken>) -> CancellationToken {
    cancel.map(|c| c.token.clone()).unwrap_or_default()
}

/// How an engine is built.
#[napi(object, object_to_js = false)]
pub struct EngineOptions {
    /// The state store: `"memory"` (default), a SQLite file path, or a `postgres://` URL.
    pub state: Option<String>,
    /// How many steps of one run may be in flight at once (default 16).
    pub concurrency: Option<u32>,
    /// The timeout of a step whose resource sets none (default 600 000 ms; 0: none).
    pub step_timeout_ms: Option<f64>,
    /// The lease owner prefix (default `pid-<pid>`).
    pub lock_owner: Option<String>,
    /// The lease TTL (default 60 000 ms).
    pub lock_ttl_ms: Option<f64>,
    /// Receives every run event.
    pub on_event: Option<EventCallback>,
    /// Custom step types.
    pub steps: Option<Vec<StepDefinition>>,
}

/// Options of `plan`, `apply`, `destroy` and `refresh` (each takes the ones that apply).
#[napi(object)]
pub struct RunOptions {
    /// apply: keep what a failed run created instead of rolling it back.
    pub keep_partial: Option<bool>,
    /// apply/destroy: protected resources the caller allows to be deleted or replaced.
    pub allow: Option<Vec<String>>,
    /// plan/apply: read every resource first (drift shows in the plan).
    pub refresh: Option<bool>,
    /// refresh: record what was read in state.
    pub write: Option<bool>,
    /// Wait up to this long for another runner's lease instead of failing with `conflict`.
    pub lock_wait_ms: Option<f64>,
    /// apply/destroy: reject a failed run with its first error, the run report attached as
    /// `report` (default true); false resolves with the report (`success: false`) instead.
    pub check: Option<bool>,
}

/// Options of a fleet run.
#[napi(object)]
pub struct FleetOptions {
    /// `"apply"` (default) or `"destroy"`.
    pub operation: Option<String>,
    /// Tenants in flight at once (default 8).
    pub concurrency: Option<u32>,
    /// Tenants of the canary wave (default 0).
    pub canary: Option<u32>,
    /// When to halt: a count (default 1), `{ fraction }`, or `"never"`.
    pub max_failures: Option<serde_json::Value>,
    /// apply: keep what failed tenant runs created.
    pub keep_partial: Option<bool>,
    /// Protected resources the runs may delete or replace.
    pub allow: Option<Vec<String>>,
    /// How often the cursor is saved after successes (default 1000 ms).
    pub cursor_interval_ms: Option<f64>,
}

/// The provisioning engine.
#[napi]
pub struct Engine {
    engine: provisio_engine::Engine,
}

async fn open_state(spec: &str) -> provisio::Result<Arc<dyn StateStore>> {
    if spec == "memory" {
        return Ok(Arc::new(MemoryStateStore::new()));
    }
    if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        let store = provisio_engine::state::postgres::PostgresStateStore::connect(spec).await?;
        return Ok(Arc::new(store));
    }
    let store = provisio_engine::state::sqlite::SqliteStateStore::open(spec).await?;
    Ok(Arc::new(store))
}

fn tenant(value: Value) -> napi::Result<Tenant> {
    let tenant = match value {
        Value::String(name) => Tenant::new(name),
        other => from_js("tenant", other)?,
    };
    provisio::validate::tenant_name("tenant", &tenant.name).or_throw()?;
    Ok(tenant)
}

fn allowed(allow: Option<Vec<String>>) -> std::collections::BTreeSet<String> {
    allow.unwrap_or_default().into_iter().collect()
}

/// A run report as JavaScript gets it: [`RunReport::to_json`] (the shape Python and Ruby hand
/// out), with each failure's full error fields as `errors` (`index.js` turns them into
/// `ProvisioError`s). With `check`, a failed run rejects with its first error carrying that
/// report instead, as Python's and Ruby's `check` raise it.
fn run_output(report: &RunReport, check: bool) -> napi::Result<Value> {
    let mut value = report
        .to_json()
        .map_err(|e| errors::to_napi(provisio::Error::unexpected(format!("serializing: {e}"))))?;
    value["errors"] = report
        .errors
        .iter()
        .map(|(step, e)| errors::step_payload(step, e))
        .collect();
    match report.errors.first() {
        Some((step, e)) if check => Err(errors::failed_run(step, e, value)),
        _ => Ok(value),
    }
}

fn threshold(value: Option<Value>) -> napi::Result<FailureThreshold> {
    match value {
        None | Some(Value::Null) => Ok(FailureThreshold::default()),
        Some(Value::String(s)) if s == "never" => Ok(FailureThreshold::Never),
        Some(Value::Number(n)) => Ok(FailureThreshold::Count(n.as_u64().unwrap_or(1) as usize)),
        Some(Value::Object(o)) if o.get("fraction").is_some_and(Value::is_number) => Ok(
            FailureThreshold::Fraction(o["fraction"].as_f64().unwrap_or(1.0)),
        ),
        Some(other) => Err(errors::bad_argument(
            "maxFailures",
            format!("{other} is not a count, {{ fraction }} or \"never\""),
        )),
    }
}

#[napi]
impl Engine {
    /// An engine over `providers` with the built-in resource types plus `options.steps`.
    #[napi(constructor)]
    pub fn new(providers: &Providers, options: Option<EngineOptions>) -> napi::Result<Self> {
        let options = options.unwrap_or(EngineOptions {
            state: None,
            concurrency: None,
            step_timeout_ms: None,
            lock_owner: None,
            lock_ttl_ms: None,
            on_event: None,
            steps: None,
        });
        let spec = options.state.unwrap_or_else(|| "memory".to_string());
        let state = napi::bindgen_prelude::block_on(open_state(&spec)).or_throw()?;
        let mut registry = types::builtin();
        for def in options.steps.unwrap_or_default() {
            registry.register(Arc::new(JsStep::new(def)?));
        }
        let mut builder = provisio_engine::Engine::builder()
            .providers(providers.connection.providers.clone())
            .registry(registry)
            .state(state);
        if let Some(n) = options.concurrency {
            builder = builder.concurrency(n as usize);
        }
        if let Some(ms) = options.step_timeout_ms {
            builder = builder.step_timeout((ms > 0.0).then(|| millis(ms)));
        }
        if let Some(owner) = options.lock_owner {
            builder = builder.lock_owner(owner);
        }
        if let Some(ms) = options.lock_ttl_ms {
            builder = builder.lock_ttl(millis(ms));
        }
        if let Some(callback) = options.on_event {
            builder = builder.events(Arc::new(JsEventSink(callback)));
        }
        Ok(Engine {
            engine: builder.build().or_throw()?,
        })
    }

    /// What an apply would do: `{ tenant, blueprint, resources, counts, has_changes, text }`.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn plan<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        options: Option<RunOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let refresh = options.and_then(|o| o.refresh).unwrap_or(false);
        env.spawn_future(async move {
            let plan = engine
                .plan(
                    &bp,
                    &tenant,
                    &PlanOptions {
                        refresh,
                        ..Default::default()
                    },
                )
                .await
                .or_throw()?;
            plan_value(&plan)
        })
    }

    /// Creates, updates, replaces and deletes the tenant's resources to match the blueprint.
    /// Resolves to the run report; a failed run rejects with its first error, the report
    /// attached, unless `check` is false (then the report says `success: false`, `errors`).
    #[napi(ts_return_type = "Promise<any>")]
    pub fn apply<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        options: Option<RunOptions>,
        cancel: Option<&CancelToken>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let mut opts = ApplyOptions::default().cancel(token(cancel));
        let mut check = true;
        if let Some(o) = options {
            check = o.check.unwrap_or(true);
            opts.keep_partial = o.keep_partial.unwrap_or(false);
            opts.overrides = allowed(o.allow);
            opts.refresh = o.refresh.unwrap_or(false);
            opts.lock_wait = o.lock_wait_ms.map(millis);
        }
        env.spawn_future(async move {
            let report = engine.apply(&bp, &tenant, opts).await.or_throw()?;
            run_output(&report, check)
        })
    }

    /// Deletes every resource of the tenant recorded in state (protected ones only when
    /// allowed). Resolves or rejects like `apply`.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn destroy<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        options: Option<RunOptions>,
        cancel: Option<&CancelToken>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let mut opts = DestroyOptions::default().cancel(token(cancel));
        let mut check = true;
        if let Some(o) = options {
            check = o.check.unwrap_or(true);
            opts.overrides = allowed(o.allow);
            opts.lock_wait = o.lock_wait_ms.map(millis);
        }
        env.spawn_future(async move {
            let report = engine.destroy(&bp, &tenant, opts).await.or_throw()?;
            run_output(&report, check)
        })
    }

    /// Reads every resource of the tenant and reports drift (`write`: record it).
    #[napi(ts_return_type = "Promise<any>")]
    pub fn refresh<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        options: Option<RunOptions>,
        cancel: Option<&CancelToken>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let mut opts = RefreshOptions {
            cancel: token(cancel),
            ..Default::default()
        };
        if let Some(o) = options {
            opts.write = o.write.unwrap_or(false);
            opts.lock_wait = o.lock_wait_ms.map(millis);
        }
        env.spawn_future(async move {
            // `Engine::refresh`'s future is not provably `Send` (a higher-ranked lifetime in
            // the engine's refresh loop trips rustc), so it runs on a blocking thread of the
            // same runtime instead of as a spawned task.
            let handle = tokio::runtime::Handle::current();
            let report = tokio::task::spawn_blocking(move || {
                handle.block_on(engine.refresh(&bp, &tenant, opts))
            })
            .await
            .map_err(|e| errors::to_napi(provisio::Error::unexpected(format!("refresh: {e}"))))?
            .or_throw()?;
            let mut v = to_js(&report)?;
            v["has_drift"] = json!(report.has_drift());
            Ok(v)
        })
    }

    /// Moves the tenant through a lifecycle transition (`"suspend"`, `"resume"`, `"archive"`,
    /// `"restore"`, `"retire"`): its resources become what the blueprint declares for the
    /// target phase. Planned, journaled and resumable like `apply`; a failed transition is not
    /// rolled back and is finished by running it again. Resolves or rejects like `apply`; an
    /// illegal transition rejects with a `ConflictError`, an unknown tenant with a
    /// `NotFoundError`, before any side effect.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn transition<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        #[napi(ts_arg_type = "'suspend' | 'resume' | 'archive' | 'restore' | 'retire'")]
        transition: String,
        options: Option<RunOptions>,
        cancel: Option<&CancelToken>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let transition = Transition::parse(&transition).or_throw()?;
        let mut opts = ApplyOptions::default().cancel(token(cancel));
        let mut check = true;
        if let Some(o) = options {
            check = o.check.unwrap_or(true);
            opts.overrides = allowed(o.allow);
            opts.lock_wait = o.lock_wait_ms.map(millis);
        }
        env.spawn_future(async move {
            let report = engine
                .transition(&bp, &tenant, transition, opts)
                .await
                .or_throw()?;
            run_output(&report, check)
        })
    }

    /// What a lifecycle transition would do, in the form `plan` resolves to.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn plan_transition<'env>(
        &self,
        env: &'env Env,
        blueprint: &Blueprint,
        tenant: Value,
        #[napi(ts_arg_type = "'suspend' | 'resume' | 'archive' | 'restore' | 'retire'")]
        transition: String,
        options: Option<RunOptions>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let engine = self.engine.clone();
        let bp = blueprint.inner.clone();
        let tenant = self::tenant(tenant)?;
        let transition = Transition::parse(&transition).or_throw()?;
        let overrides = allowed(options.and_then(|o| o.allow));
        env.spawn_future(async move {
            let plan = engine
                .plan_transition(
                    &bp,
                    &tenant,
                    transition,
                    &PlanOptions {
                        overrides,
                        ..Default::default()
                    },
                )
                .await
                .or_throw()?;
            plan_value(&plan)
        })
    }

    /// The tenant's lifecycle phase: `{ tenant, phase, transition?, run_id, updated_at_ms }`
    /// (`transition`: the one under way), or `null` for a tenant the state store does not know.
    #[napi(ts_return_type = "Promise<any>")]
    pub async fn phase(&self, tenant: String) -> napi::Result<Value> {
        to_js(&self.engine.phase(&tenant).await.or_throw()?)
    }

    /// The outputs of every resource of the tenant as recorded in state.
    #[napi]
    pub async fn outputs(&self, tenant: String) -> napi::Result<Value> {
        to_js(&self.engine.outputs(&tenant).await.or_throw()?)
    }

    /// Runs the blueprint over many tenants (apply, or destroy with `operation: "destroy"`):
    /// bounded concurrency, canary wave, failure threshold, resumable under `fleet_id`.
    #[napi(ts_return_type = "Promise<any>")]
    #[allow(clippy::too_many_arguments)]
    pub fn fleet<'env>(
        &self,
        env: &'env Env,
        fleet_id: String,
        blueprint: &Blueprint,
        tenants: Vec<Value>,
        options: Option<FleetOptions>,
        cancel: Option<&CancelToken>,
        on_event: Option<EventCallback>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let bp = blueprint.inner.clone();
        let tenants = tenants
            .into_iter()
            .map(tenant)
            .collect::<napi::Result<Vec<_>>>()?;
        let mut fleet = Fleet::new(self.engine.clone());
        let mut destroy = false;
        if let Some(o) = options {
            destroy = match o.operation.as_deref().unwrap_or("apply") {
                "apply" => false,
                "destroy" => true,
                other => {
                    return Err(errors::bad_argument(
                        "operation",
                        format!("{other:?} is not apply or destroy"),
                    ));
                }
            };
            if let Some(n) = o.concurrency {
                fleet = fleet.concurrency(n as usize);
            }
            if let Some(k) = o.canary {
                fleet = fleet.canary(k as usize);
            }
            fleet = fleet.max_failures(threshold(o.max_failures)?);
            let overrides = allowed(o.allow);
            let apply = ApplyOptions {
                keep_partial: o.keep_partial.unwrap_or(false),
                overrides: overrides.clone(),
                ..Default::default()
            };
            let destroy_opts = DestroyOptions {
                overrides,
                ..Default::default()
            };
            fleet = fleet.apply_options(apply).destroy_options(destroy_opts);
            if let Some(ms) = o.cursor_interval_ms {
                fleet = fleet.cursor_interval(millis(ms));
            }
        }
        if let Some(callback) = on_event {
            fleet = fleet.events(Arc::new(JsFleetSink(callback)));
        }
        let cancel = token(cancel);
        env.spawn_future(async move {
            let report = if destroy {
                fleet.destroy(&fleet_id, &bp, tenants, cancel).await
            } else {
                fleet.run(&fleet_id, &bp, tenants, cancel).await
            }
            .or_throw()?;
            let mut v = to_js(&report)?;
            v["success"] = json!(report.is_success());
            Ok(v)
        })
    }
}

/// A plan as `plan` and `planTransition` resolve to it: the plan with its `counts`,
/// `has_changes` and the `text` the CLI prints.
fn plan_value(plan: &provisio_engine::Plan) -> napi::Result<Value> {
    let mut v = to_js(plan)?;
    v["counts"] = to_js(&plan.counts())?;
    v["has_changes"] = json!(plan.has_changes());
    v["text"] = json!(plan.to_string());
    Ok(v)
}
