//! `provisio.Engine` / `provisio.aio.Engine` and `provisio.Blueprint`: plan, apply, destroy,
//! refresh, outputs and fleet runs, with events, cancellation and custom Python steps.

use crate::events::Dispatch;
use crate::providers::Providers;
use crate::runtime::{Output, Task};
use crate::state::StateStore;
use crate::steps::PyStep;
use crate::{convert, errors};
use provisio::Error;
use provisio_engine::fleet::{FailureThreshold, Fleet, FleetEvent};
use provisio_engine::{
    ApplyOptions, CancellationToken, DestroyOptions, PlanOptions, RefreshOptions, RetryPolicy,
    RunReport, Tenant, Transition, types,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

/// A blueprint, loaded and parsed (validated against an engine's resource types when used).
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Blueprint {
    pub(crate) inner: Arc<provisio_engine::Blueprint>,
}

fn py_err(py: Python<'_>) -> impl Fn(Error) -> PyErr + '_ {
    move |e| errors::to_py(py, &e)
}

#[pymethods]
impl Blueprint {
    /// Loads a blueprint file, or a directory holding `blueprint.yaml` and `templates/`.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let bp = provisio_engine::Blueprint::load(path).map_err(py_err(py))?;
        Ok(Blueprint {
            inner: Arc::new(bp),
        })
    }

    /// Parses YAML text.
    #[staticmethod]
    fn from_yaml(py: Python<'_>, text: &str) -> PyResult<Self> {
        let bp = provisio_engine::Blueprint::from_yaml(text).map_err(py_err(py))?;
        Ok(Blueprint {
            inner: Arc::new(bp),
        })
    }

    /// Parses JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let bp = provisio_engine::Blueprint::from_json(text).map_err(py_err(py))?;
        Ok(Blueprint {
            inner: Arc::new(bp),
        })
    }

    /// Builds a blueprint from a dict (the same structure as the YAML).
    #[staticmethod]
    fn from_dict(py: Python<'_>, data: Bound<'_, PyAny>) -> PyResult<Self> {
        let bp = provisio_engine::Blueprint::from_json(&convert::from_py(&data)?.to_string())
            .map_err(py_err(py))?;
        Ok(Blueprint {
            inner: Arc::new(bp),
        })
    }

    /// The blueprint's name.
    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The resource names.
    #[getter]
    fn resources(&self) -> Vec<String> {
        self.inner.resources.keys().cloned().collect()
    }

    /// The declared variables: `{name: {"default", "required", "secret", "description"}}`.
    #[getter]
    fn variables(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&self.inner.variables).map_err(py_err(py))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }

    /// The blueprint as a dict (templates are not included).
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&*self.inner).map_err(py_err(py))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }

    fn __repr__(&self) -> String {
        format!(
            "Blueprint({:?}, {} resources)",
            self.inner.name,
            self.inner.resources.len()
        )
    }
}

/// A blueprint argument: a `Blueprint`, a path (`str` or `os.PathLike`; a `str` holding a
/// newline is YAML text), or a dict.
fn blueprint_arg(
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
) -> PyResult<Arc<provisio_engine::Blueprint>> {
    if let Ok(bp) = obj.cast::<Blueprint>() {
        return Ok(bp.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow()?;
        let s: &str = &s;
        let bp = if s.contains('\n') {
            provisio_engine::Blueprint::from_yaml(s)
        } else {
            provisio_engine::Blueprint::load(s)
        };
        return Ok(Arc::new(bp.map_err(py_err(py))?));
    }
    if obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return Ok(Arc::new(
            provisio_engine::Blueprint::load(path).map_err(py_err(py))?,
        ));
    }
    Ok(Blueprint::from_dict(py, obj.clone())?.inner)
}

/// A tenant argument: a name or `{"name", "vars", "secrets"}`, plus `vars` and `secrets`
/// keyword arguments (secret values as `str` or `provisio.Secret`).
fn tenant_arg(
    py: Python<'_>,
    tenant: &Bound<'_, PyAny>,
    vars: Option<&Bound<'_, PyDict>>,
    secrets: Option<&Bound<'_, PyDict>>,
) -> PyResult<Tenant> {
    let mut t = if let Ok(name) = tenant.extract::<String>() {
        Tenant::new(name)
    } else {
        let d = tenant.cast::<PyDict>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(
                "tenant must be a name or a dict with a \"name\"",
            )
        })?;
        let name: String = d
            .get_item("name")?
            .ok_or_else(|| {
                errors::to_py(
                    py,
                    &Error::invalid_field("tenant", "the dict has no \"name\""),
                )
            })?
            .extract()?;
        let mut t = Tenant::new(name);
        if let Some(v) = d.get_item("vars")? {
            t = add_vars(t, v.cast::<PyDict>()?)?;
        }
        if let Some(s) = d.get_item("secrets")? {
            t = add_secrets(t, s.cast::<PyDict>()?)?;
        }
        t
    };
    if let Some(v) = vars {
        t = add_vars(t, v)?;
    }
    if let Some(s) = secrets {
        t = add_secrets(t, s)?;
    }
    Ok(t)
}

fn add_vars(mut t: Tenant, vars: &Bound<'_, PyDict>) -> PyResult<Tenant> {
    for (k, v) in vars.iter() {
        t = t.var(k.extract::<String>()?, convert::from_py(&v)?);
    }
    Ok(t)
}

fn add_secrets(mut t: Tenant, secrets: &Bound<'_, PyDict>) -> PyResult<Tenant> {
    for (k, v) in secrets.iter() {
        t = t.secret(k.extract::<String>()?, convert::secret_from_py(&v)?);
    }
    Ok(t)
}

fn overrides(allow: Option<Vec<String>>) -> std::collections::BTreeSet<String> {
    allow.unwrap_or_default().into_iter().collect()
}

/// A plan as `plan` and `plan_transition` return it: the plan with its `counts` and
/// `has_changes`.
fn plan_output(plan: &provisio_engine::Plan) -> provisio::Result<Output> {
    let mut value = convert::json(plan)?;
    value["counts"] = convert::json(&plan.counts())?;
    value["has_changes"] = Value::Bool(plan.has_changes());
    Ok(json_output(value))
}

/// A run report as Python data (`success` and `errors` added); with `check`, a failed run
/// raises its first error with the report as `.report`.
fn report_output(report: RunReport, check: bool) -> provisio::Result<Output> {
    let value = report
        .to_json()
        .map_err(|e| provisio::Error::unexpected(format!("cannot serialize a result: {e}")))?;
    let first = report.errors.first().map(|(_, e)| e.clone());
    Ok(Box::new(move |py: Python<'_>| {
        let out = convert::to_py(py, &value)?;
        match first {
            Some(e) if check => {
                let err = errors::to_py(py, &e);
                err.value(py).setattr("report", &out)?;
                Err(err)
            }
            _ => Ok(out.unbind()),
        }
    }))
}

fn json_output(value: Value) -> Output {
    Box::new(move |py: Python<'_>| Ok(convert::to_py(py, &value)?.unbind()))
}

struct Inner {
    engine: provisio_engine::Engine,
    dispatch: Arc<Dispatch>,
    providers: Py<Providers>,
}

#[allow(clippy::too_many_arguments)]
fn build(
    py: Python<'_>,
    providers: Py<Providers>,
    state: Option<&Bound<'_, PyAny>>,
    steps: Option<&Bound<'_, PyAny>>,
    concurrency: usize,
    step_timeout: Option<f64>,
    lock_owner: Option<String>,
    lock_ttl: f64,
    retry: Option<&Bound<'_, PyAny>>,
) -> PyResult<Inner> {
    let dispatch = Arc::new(Dispatch::default());
    let mut registry = types::builtin();
    if let Some(steps) = steps {
        for step in steps.try_iter()? {
            registry.register(Arc::new(PyStep::new(py, &step?, dispatch.clone())?));
        }
    }
    let state = StateStore::from_arg(py, state)?;
    let mut builder = provisio_engine::Engine::builder()
        .providers(providers.bind(py).get().connection.providers.clone())
        .registry(registry)
        .state(state)
        .events(dispatch.clone())
        .concurrency(concurrency)
        .lock_ttl(convert::seconds(py, "lock_ttl", lock_ttl)?)
        .step_timeout(
            step_timeout
                .map(|s| convert::seconds(py, "step_timeout", s))
                .transpose()?,
        );
    if let Some(owner) = lock_owner {
        builder = builder.lock_owner(owner);
    }
    if let Some(retry) = retry {
        let policy: RetryPolicy = convert::from_json(py, "retry", convert::from_py(retry)?)?;
        builder = builder.retry(policy);
    }
    let engine = builder.build().map_err(py_err(py))?;
    Ok(Inner {
        engine,
        dispatch,
        providers,
    })
}

/// The provisioning engine (synchronous API; `engine.aio` is its asyncio twin).
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Engine {
    inner: Arc<Inner>,
}

/// The asyncio twin of [`Engine`]: the same engine, `async` methods.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncEngine {
    inner: Arc<Inner>,
}

/// Defines the engine operations once for [`Engine`] and [`AsyncEngine`]; every operation
/// takes `on_event` last.
macro_rules! engine_operations {
    ($(
        $(#[doc = $doc:literal])*
        #[pyo3(signature = $sig:tt)]
        fn $name:ident($this:ident, $py:ident, $ev:ident $(, $arg:ident : $ty:ty)* $(,)?) $body:block
    )*) => {
        #[pymethods]
        impl Engine {
            /// Builds an engine over `providers` with a state store (`StateStore`, `"memory"`,
            /// a SQLite path or a PostgreSQL URL; default: in memory) and custom `steps`.
            #[new]
            #[pyo3(signature = (providers, state = None, *, steps = None, concurrency = 16, step_timeout = Some(600.0), lock_owner = None, lock_ttl = 60.0, retry = None))]
            #[allow(clippy::too_many_arguments)]
            fn new(py: Python<'_>, providers: Py<Providers>, state: Option<Bound<'_, PyAny>>, steps: Option<Bound<'_, PyAny>>, concurrency: usize, step_timeout: Option<f64>, lock_owner: Option<String>, lock_ttl: f64, retry: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
                let inner = build(py, providers, state.as_ref(), steps.as_ref(), concurrency, step_timeout, lock_owner, lock_ttl, retry.as_ref())?;
                Ok(Engine { inner: Arc::new(inner) })
            }

            /// The asyncio twin of this engine (same providers, state and rate limits).
            #[getter]
            fn aio(&self) -> AsyncEngine {
                AsyncEngine { inner: self.inner.clone() }
            }

            /// The providers this engine runs on.
            #[getter]
            fn providers(&self, py: Python<'_>) -> Py<Providers> {
                self.inner.providers.clone_ref(py)
            }

            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                #[allow(clippy::too_many_arguments)]
                fn $name(&self, $py: Python<'_>, $($arg: $ty,)* $ev: Option<Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
                    let $this = &self.inner;
                    let task: Task = crate::runtime::build(|| -> PyResult<Task> { $body })?;
                    task.wait_with($py, $ev.as_ref())
                }
            )*
        }

        #[pymethods]
        impl AsyncEngine {
            /// Builds an engine (see `provisio.Engine`); its methods are coroutines.
            #[new]
            #[pyo3(signature = (providers, state = None, *, steps = None, concurrency = 16, step_timeout = Some(600.0), lock_owner = None, lock_ttl = 60.0, retry = None))]
            #[allow(clippy::too_many_arguments)]
            fn new(py: Python<'_>, providers: Py<Providers>, state: Option<Bound<'_, PyAny>>, steps: Option<Bound<'_, PyAny>>, concurrency: usize, step_timeout: Option<f64>, lock_owner: Option<String>, lock_ttl: f64, retry: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
                let inner = build(py, providers, state.as_ref(), steps.as_ref(), concurrency, step_timeout, lock_owner, lock_ttl, retry.as_ref())?;
                Ok(AsyncEngine { inner: Arc::new(inner) })
            }

            /// The synchronous twin of this engine.
            #[getter]
            fn sync(&self) -> Engine {
                Engine { inner: self.inner.clone() }
            }

            /// The providers this engine runs on.
            #[getter]
            fn providers(&self, py: Python<'_>) -> Py<Providers> {
                self.inner.providers.clone_ref(py)
            }

            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                #[allow(clippy::too_many_arguments)]
                fn $name<'py>(&self, $py: Python<'py>, $($arg: $ty,)* $ev: Option<Bound<'py, PyAny>>) -> PyResult<Bound<'py, PyAny>> {
                    let $this = &self.inner;
                    let task: Task = crate::runtime::build(|| -> PyResult<Task> { $body })?;
                    task.into_coroutine($py, $ev)
                }
            )*
        }
    };
}

engine_operations! {
    /// Plans an apply (no changes, no lease): `{"tenant", "blueprint", "resources": [...],
    /// "counts": {...}, "has_changes"}`.
    #[pyo3(signature = (blueprint, tenant, *, vars = None, secrets = None, refresh = false, allow = None, on_event = None))]
    fn plan(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, vars: Option<Bound<'_, PyDict>>, secrets: Option<Bound<'_, PyDict>>, refresh: bool, allow: Option<Vec<String>>) {
        let _ = &on_event;
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, vars.as_ref(), secrets.as_ref())?;
        let options = PlanOptions { refresh, overrides: overrides(allow) };
        let inner = this.clone();
        Ok(Task::run(CancellationToken::new(), move |ctx| async move {
            let _sub = inner.dispatch.subscribe([tenant.name.as_str()], &ctx);
            let plan = inner.engine.plan(&bp, &tenant, &options).await?;
            plan_output(&plan)
        }))
    }

    /// Creates, updates and deletes the tenant's resources to match the blueprint. Returns the
    /// run report; a failed run raises its first error (with `.report`) unless `check=False`.
    #[pyo3(signature = (blueprint, tenant, *, vars = None, secrets = None, keep_partial = false, allow = None, refresh = false, lock_wait = None, check = true, on_event = None))]
    fn apply(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, vars: Option<Bound<'_, PyDict>>, secrets: Option<Bound<'_, PyDict>>, keep_partial: bool, allow: Option<Vec<String>>, refresh: bool, lock_wait: Option<f64>, check: bool) {
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, vars.as_ref(), secrets.as_ref())?;
        let cancel = CancellationToken::new();
        let options = ApplyOptions {
            keep_partial,
            overrides: overrides(allow),
            refresh,
            cancel: cancel.clone(),
            lock_wait: lock_wait.map(|s| convert::seconds(py, "lock_wait", s)).transpose()?,
            ..Default::default()
        };
        let inner = this.clone();
        Ok(Task::run(cancel, move |ctx| async move {
            let _sub = inner.dispatch.subscribe([tenant.name.as_str()], &ctx);
            let report = inner.engine.apply(&bp, &tenant, options).await?;
            report_output(report, check)
        }))
    }

    /// Deletes every resource of the tenant (protected ones only when named in `allow`).
    #[pyo3(signature = (blueprint, tenant, *, allow = None, lock_wait = None, check = true, on_event = None))]
    fn destroy(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, allow: Option<Vec<String>>, lock_wait: Option<f64>, check: bool) {
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, None, None)?;
        let cancel = CancellationToken::new();
        let options = DestroyOptions {
            overrides: overrides(allow),
            cancel: cancel.clone(),
            lock_wait: lock_wait.map(|s| convert::seconds(py, "lock_wait", s)).transpose()?,
        };
        let inner = this.clone();
        Ok(Task::run(cancel, move |ctx| async move {
            let _sub = inner.dispatch.subscribe([tenant.name.as_str()], &ctx);
            let report = inner.engine.destroy(&bp, &tenant, options).await?;
            report_output(report, check)
        }))
    }

    /// Moves the tenant through a lifecycle transition (`"suspend"`, `"resume"`, `"archive"`,
    /// `"restore"`, `"retire"`): the resources become what the blueprint declares for the
    /// target phase. Planned, journaled and resumable like `apply`; a failed transition is not
    /// rolled back and is finished by running it again. Returns the run report; a failed run
    /// raises its first error (with `.report`) unless `check=False`. An illegal transition
    /// raises `ConflictError`, an unknown tenant `NotFoundError`, before any side effect.
    #[pyo3(signature = (blueprint, tenant, transition, *, vars = None, secrets = None, allow = None, lock_wait = None, check = true, on_event = None))]
    fn transition(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, transition: String, vars: Option<Bound<'_, PyDict>>, secrets: Option<Bound<'_, PyDict>>, allow: Option<Vec<String>>, lock_wait: Option<f64>, check: bool) {
        let transition = Transition::parse(&transition).map_err(py_err(py))?;
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, vars.as_ref(), secrets.as_ref())?;
        let cancel = CancellationToken::new();
        let options = ApplyOptions {
            overrides: overrides(allow),
            cancel: cancel.clone(),
            lock_wait: lock_wait.map(|s| convert::seconds(py, "lock_wait", s)).transpose()?,
            ..Default::default()
        };
        let inner = this.clone();
        Ok(Task::run(cancel, move |ctx| async move {
            let _sub = inner.dispatch.subscribe([tenant.name.as_str()], &ctx);
            let report = inner.engine.transition(&bp, &tenant, transition, options).await?;
            report_output(report, check)
        }))
    }

    /// Plans a lifecycle transition (no changes, no lease), in the form `plan` returns.
    #[pyo3(signature = (blueprint, tenant, transition, *, vars = None, secrets = None, allow = None, on_event = None))]
    fn plan_transition(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, transition: String, vars: Option<Bound<'_, PyDict>>, secrets: Option<Bound<'_, PyDict>>, allow: Option<Vec<String>>) {
        let _ = &on_event;
        let transition = Transition::parse(&transition).map_err(py_err(py))?;
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, vars.as_ref(), secrets.as_ref())?;
        let options = PlanOptions { refresh: false, overrides: overrides(allow) };
        let inner = this.clone();
        Ok(Task::run(CancellationToken::new(), move |_| async move {
            let plan = inner.engine.plan_transition(&bp, &tenant, transition, &options).await?;
            plan_output(&plan)
        }))
    }

    /// The tenant's lifecycle phase: `{"tenant", "phase", "transition", "run_id",
    /// "updated_at_ms"}` (`transition` is the one under way, if any), or `None` for a tenant
    /// the state store does not know.
    #[pyo3(signature = (tenant, *, on_event = None))]
    fn phase(this, py, on_event, tenant: String) {
        let _ = (&on_event, py);
        let inner = this.clone();
        Ok(Task::run(CancellationToken::new(), move |_| async move {
            let phase = inner.engine.phase(&tenant).await?;
            Ok(json_output(convert::json(&phase)?))
        }))
    }

    /// Reads every resource in state and reports drift (`write=True` records what it read):
    /// `{"run_id", "tenant", "resources": [{"resource", "drift": {"status", ...}}], "has_drift"}`.
    #[pyo3(signature = (blueprint, tenant, *, vars = None, secrets = None, write = false, lock_wait = None, on_event = None))]
    fn refresh(this, py, on_event, blueprint: Bound<'_, PyAny>, tenant: Bound<'_, PyAny>, vars: Option<Bound<'_, PyDict>>, secrets: Option<Bound<'_, PyDict>>, write: bool, lock_wait: Option<f64>) {
        let bp = blueprint_arg(py, &blueprint)?;
        let tenant = tenant_arg(py, &tenant, vars.as_ref(), secrets.as_ref())?;
        let cancel = CancellationToken::new();
        let options = RefreshOptions {
            write,
            cancel: cancel.clone(),
            lock_wait: lock_wait.map(|s| convert::seconds(py, "lock_wait", s)).transpose()?,
        };
        let inner = this.clone();
        Ok(Task::run(cancel, move |ctx| async move {
            let _sub = inner.dispatch.subscribe([tenant.name.as_str()], &ctx);
            // The refresh future is not `Send` (a higher-ranked closure inside the engine), so
            // it runs on a blocking thread of the runtime instead of as a task of its own.
            let engine = inner.engine.clone();
            let report = tokio::task::spawn_blocking(move || {
                tokio::runtime::Handle::current().block_on(engine.refresh(&bp, &tenant, options))
            })
            .await
            .map_err(|e| Error::unexpected(format!("the refresh stopped: {e}")))??;
            let mut value = convert::json(&report)?;
            value["has_drift"] = Value::Bool(report.has_drift());
            Ok(json_output(value))
        }))
    }

    /// The outputs of every resource of the tenant, by resource name (never a secret value).
    #[pyo3(signature = (tenant, *, on_event = None))]
    fn outputs(this, py, on_event, tenant: String) {
        let _ = (&on_event, py);
        let inner = this.clone();
        Ok(Task::run(CancellationToken::new(), move |_| async move {
            let outputs = inner.engine.outputs(&tenant).await?;
            Ok(json_output(convert::json(&outputs)?))
        }))
    }

    /// Applies (or with `destroy=True`, destroys) the blueprint for many tenants: bounded
    /// concurrency, a canary wave, a failure threshold (`max_failures` tenants, or the fraction
    /// `max_failure_ratio` of them; `max_failures=None`: never halt), and a resumable cursor under `fleet_id`. `on_event` gets the
    /// fleet's events and every tenant's run events. Returns the fleet report.
    #[pyo3(signature = (blueprint, tenants, *, fleet_id, destroy = false, concurrency = 8, canary = 0, max_failures = Some(1), max_failure_ratio = None, on_event = None))]
    fn fleet(this, py, on_event, blueprint: Bound<'_, PyAny>, tenants: Bound<'_, PyAny>, fleet_id: String, destroy: bool, concurrency: usize, canary: usize, max_failures: Option<usize>, max_failure_ratio: Option<f64>) {
        let bp = blueprint_arg(py, &blueprint)?;
        let mut list = Vec::new();
        for t in tenants.try_iter()? {
            list.push(tenant_arg(py, &t?, None, None)?);
        }
        let threshold = match (max_failure_ratio, max_failures) {
            (Some(ratio), _) => FailureThreshold::Fraction(ratio),
            (None, Some(n)) => FailureThreshold::Count(n),
            (None, None) => FailureThreshold::Never,
        };
        let cancel = CancellationToken::new();
        let inner = this.clone();
        Ok(Task::run(cancel.clone(), move |ctx| async move {
            let names: Vec<String> = list.iter().map(|t| t.name.clone()).collect();
            let _sub = inner.dispatch.subscribe(names.iter().map(String::as_str), &ctx);
            let mut fleet = Fleet::new(inner.engine.clone())
                .concurrency(concurrency)
                .canary(canary)
                .max_failures(threshold);
            if let Some(events) = ctx.events.clone() {
                fleet = fleet.events(Arc::new(move |e: &FleetEvent| {
                    if let Ok(v) = serde_json::to_value(e) {
                        events(v);
                    }
                }));
            }
            let report = if destroy {
                fleet.destroy(&fleet_id, &bp, list, cancel).await?
            } else {
                fleet.run(&fleet_id, &bp, list, cancel).await?
            };
            let mut value = convert::json(&report)?;
            value["success"] = Value::Bool(report.is_success());
            Ok(json_output(value))
        }))
    }
}
