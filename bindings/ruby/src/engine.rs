//! `Provisio::Engine` and `Provisio::Blueprint`: plan, apply, destroy, refresh, outputs and fleet runs, with events
//! (a block), cancellation (Ruby interrupts) and custom Ruby steps. `lib/provisio/engine.rb`
//! gives the methods their keyword arguments and calls `__run(operation, args)` here.

use crate::convert::{self, Args, from_ruby, json_output};
use crate::errors::{guard, to_ruby};
use crate::events::Dispatch;
use crate::providers::{Providers, path_arg};
use crate::runtime::{Output, Task};
use crate::state::StateStore;
use crate::steps::RubyStep;
use magnus::prelude::*;
use magnus::value::ReprValue;
use magnus::{Error as RbError, RArray, RHash, RModule, RString, Ruby, Value};
use provisio::Error;
use provisio_engine::fleet::{FailureThreshold, Fleet, FleetEvent};
use provisio_engine::{
    ApplyOptions, CancellationToken, DestroyOptions, PlanOptions, RefreshOptions, RetryPolicy,
    RunReport, Tenant, Transition, types,
};
use serde_json::Value as Json;
use std::sync::Arc;

/// The provisioning engine.
#[magnus::wrap(class = "Provisio::Engine", free_immediately, size)]
pub(crate) struct Engine {
    engine: provisio_engine::Engine,
    dispatch: Arc<Dispatch>,
}

/// A blueprint, loaded and parsed (validated against an engine's resource types when used).
#[magnus::wrap(class = "Provisio::Blueprint", free_immediately, size)]
pub(crate) struct Blueprint {
    inner: Arc<provisio_engine::Blueprint>,
}

impl Blueprint {
    /// Wraps a parsed blueprint, raising its error.
    fn wrap(
        ruby: &Ruby,
        bp: provisio::Result<provisio_engine::Blueprint>,
    ) -> Result<Self, RbError> {
        Ok(Blueprint {
            inner: Arc::new(bp.map_err(|e| to_ruby(ruby, &e))?),
        })
    }

    /// `Blueprint.load(path)`: a blueprint file, or a directory holding `blueprint.yaml` and
    /// `templates/`.
    fn load(ruby: &Ruby, path: Value) -> Result<Self, RbError> {
        let path = path_arg(ruby, "path", path)?.ok_or_else(|| {
            RbError::new(
                ruby.exception_type_error(),
                "path: expected a String or Pathname",
            )
        })?;
        guard(ruby, || {
            Self::wrap(ruby, provisio_engine::Blueprint::load(path))
        })
    }

    /// `Blueprint.from_yaml(text)`.
    fn from_yaml(ruby: &Ruby, text: RString) -> Result<Self, RbError> {
        let text = convert::string(ruby, "text", text)?;
        guard(ruby, || {
            Self::wrap(ruby, provisio_engine::Blueprint::from_yaml(&text))
        })
    }

    /// `Blueprint.from_json(text)`.
    fn from_json(ruby: &Ruby, text: RString) -> Result<Self, RbError> {
        let text = convert::string(ruby, "text", text)?;
        guard(ruby, || {
            Self::wrap(ruby, provisio_engine::Blueprint::from_json(&text))
        })
    }

    /// `Blueprint.from_hash(hash)`: the same structure as the YAML.
    fn from_hash(ruby: &Ruby, hash: RHash) -> Result<Self, RbError> {
        let json = from_ruby(ruby, "hash", hash.as_value())?;
        Self::wrap(
            ruby,
            provisio_engine::Blueprint::from_json(&json.to_string()),
        )
    }

    /// The blueprint's name.
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    /// The resource names.
    fn resources(&self) -> Vec<String> {
        self.inner.resources.keys().cloned().collect()
    }

    /// The declared variables: `{name => {default:, required:, secret:, description:}}`.
    fn variables(ruby: &Ruby, rb_self: &Self) -> Result<Value, RbError> {
        let v = convert::json(&rb_self.inner.variables).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }

    /// The blueprint as a frozen Hash (templates are not included).
    fn to_h(ruby: &Ruby, rb_self: &Self) -> Result<Value, RbError> {
        let v = convert::json(&*rb_self.inner).map_err(|e| to_ruby(ruby, &e))?;
        convert::to_ruby(ruby, &v)
    }

    /// `#<Provisio::Blueprint "name" (n resources)>`.
    fn inspect(&self) -> String {
        format!(
            "#<Provisio::Blueprint {:?} ({} resources)>",
            self.inner.name,
            self.inner.resources.len()
        )
    }
}

/// A blueprint argument: a `Provisio::Blueprint`, a path (String or Pathname; a String holding
/// a newline is YAML text) or a Hash.
fn blueprint_arg(ruby: &Ruby, value: Value) -> Result<Arc<provisio_engine::Blueprint>, RbError> {
    if let Ok(bp) = <&Blueprint>::try_convert(value) {
        return Ok(bp.inner.clone());
    }
    if let Some(s) = RString::from_value(value) {
        let s = convert::string(ruby, "blueprint", s)?;
        let bp = if s.contains('\n') {
            provisio_engine::Blueprint::from_yaml(&s)
        } else {
            provisio_engine::Blueprint::load(&s)
        };
        return Ok(Arc::new(bp.map_err(|e| to_ruby(ruby, &e))?));
    }
    if let Some(p) = path_arg(ruby, "blueprint", value)? {
        return Ok(Arc::new(
            provisio_engine::Blueprint::load(p).map_err(|e| to_ruby(ruby, &e))?,
        ));
    }
    if RHash::from_value(value).is_some() {
        let json = from_ruby(ruby, "blueprint", value)?;
        let bp = provisio_engine::Blueprint::from_json(&json.to_string())
            .map_err(|e| to_ruby(ruby, &e))?;
        return Ok(Arc::new(bp));
    }
    Err(RbError::new(
        ruby.exception_type_error(),
        "blueprint: expected a Provisio::Blueprint, a path, YAML text or a Hash",
    ))
}

/// Adds the plain variables of a Hash to the tenant.
fn add_vars(ruby: &Ruby, mut t: Tenant, what: &str, vars: Value) -> Result<Tenant, RbError> {
    if vars.is_nil() {
        return Ok(t);
    }
    match from_ruby(ruby, what, vars)? {
        Json::Object(map) => {
            for (k, v) in map {
                t = t.var(k, v);
            }
            Ok(t)
        }
        _ => Err(RbError::new(
            ruby.exception_type_error(),
            format!("{what}: expected a Hash"),
        )),
    }
}

/// Adds the secret variables of a Hash (String or `Provisio::Secret` values) to the tenant.
fn add_secrets(ruby: &Ruby, mut t: Tenant, what: &str, secrets: Value) -> Result<Tenant, RbError> {
    if secrets.is_nil() {
        return Ok(t);
    }
    let hash = RHash::from_value(secrets).ok_or_else(|| {
        RbError::new(
            ruby.exception_type_error(),
            format!("{what}: expected a Hash"),
        )
    })?;
    let mut pairs = Vec::new();
    hash.foreach(|k: Value, v: Value| {
        let key = match from_ruby(ruby, what, k)? {
            Json::String(s) => s,
            _ => {
                return Err(RbError::new(
                    ruby.exception_type_error(),
                    format!("{what}: keys must be Symbols or Strings"),
                ));
            }
        };
        let value = convert::secret_from_ruby(ruby, &format!("{what}[:{key}]"), v)?;
        pairs.push((key, value));
        Ok(magnus::r_hash::ForEach::Continue)
    })?;
    for (k, v) in pairs {
        t = t.secret(k, v);
    }
    Ok(t)
}

/// A tenant argument: a name or `{name:, vars:, secrets:}`, plus `vars`/`secrets` keywords.
fn tenant_arg(ruby: &Ruby, tenant: Value, vars: Value, secrets: Value) -> Result<Tenant, RbError> {
    let mut t = if let Some(s) = RString::from_value(tenant) {
        Tenant::new(convert::string(ruby, "tenant", s)?)
    } else if let Some(s) = magnus::Symbol::from_value(tenant) {
        Tenant::new(s.name()?.into_owned())
    } else if let Some(h) = RHash::from_value(tenant) {
        let name = h
            .get(ruby.to_symbol("name"))
            .or_else(|| h.get("name"))
            .ok_or_else(|| {
                RbError::new(ruby.exception_arg_error(), "tenant: the Hash has no :name")
            })?;
        let name = match from_ruby(ruby, "tenant[:name]", name)? {
            Json::String(s) => s,
            _ => {
                return Err(RbError::new(
                    ruby.exception_type_error(),
                    "tenant[:name]: expected a String",
                ));
            }
        };
        let mut t = Tenant::new(name);
        let nil = ruby.qnil().as_value();
        t = add_vars(
            ruby,
            t,
            "tenant[:vars]",
            h.get(ruby.to_symbol("vars")).unwrap_or(nil),
        )?;
        t = add_secrets(
            ruby,
            t,
            "tenant[:secrets]",
            h.get(ruby.to_symbol("secrets")).unwrap_or(nil),
        )?;
        t
    } else {
        return Err(RbError::new(
            ruby.exception_type_error(),
            "tenant: expected a name (String) or a Hash with :name",
        ));
    };
    t = add_vars(ruby, t, "vars", vars)?;
    t = add_secrets(ruby, t, "secrets", secrets)?;
    Ok(t)
}

/// The `allow:` argument: resource names whose protection is overridden.
fn overrides(a: &Args<'_>) -> Result<std::collections::BTreeSet<String>, RbError> {
    let allow: Option<Vec<String>> = a.get("allow")?;
    Ok(allow.unwrap_or_default().into_iter().collect())
}

/// A plan as `plan` and `plan_transition` return it: the plan with its `counts` and
/// `has_changes`.
fn plan_output(plan: &provisio_engine::Plan) -> provisio::Result<Output> {
    let mut value = convert::json(plan)?;
    value["counts"] = convert::json(&plan.counts())?;
    value["has_changes"] = Json::Bool(plan.has_changes());
    Ok(json_output(value))
}

/// A run report as frozen Ruby data (`success` and `errors` added); with `check`, a failed
/// run raises its first error with the report as `#report`.
fn report_output(report: RunReport, check: bool) -> provisio::Result<Output> {
    let value = report
        .to_json()
        .map_err(|e| provisio::Error::unexpected(format!("cannot serialize a result: {e}")))?;
    let first = report.errors.first().map(|(_, e)| e.clone());
    Ok(Box::new(move |ruby: &Ruby| {
        let out = convert::to_ruby(ruby, &value)?;
        match first {
            Some(e) if check => {
                let err = to_ruby(ruby, &e);
                if let Some(exc) = err.value() {
                    exc.funcall::<_, _, Value>("instance_variable_set", ("@report", out))?;
                }
                Err(err)
            }
            _ => Ok(out),
        }
    }))
}

impl Engine {
    /// `Engine.__new(providers, state, steps, options)`.
    fn new(
        ruby: &Ruby,
        providers: &Providers,
        state: Value,
        steps: RArray,
        options: RHash,
    ) -> Result<Self, RbError> {
        guard(ruby, || {
            let a = Args::new(ruby, options);
            let dispatch = Arc::new(Dispatch::default());
            let mut registry = types::builtin();
            for step in steps.into_iter() {
                registry.register(Arc::new(RubyStep::new(ruby, step, dispatch.clone())?));
            }
            let state = StateStore::from_arg(ruby, state)?;
            let mut builder = provisio_engine::Engine::builder()
                .providers(providers.connection.providers.clone())
                .registry(registry)
                .state(state)
                .events(dispatch.clone())
                .concurrency(a.get("concurrency")?)
                .lock_ttl(a.seconds("lock_ttl")?)
                .step_timeout(a.opt_seconds("step_timeout")?);
            if let Some(owner) = a.get::<Option<String>>("lock_owner")? {
                builder = builder.lock_owner(owner);
            }
            let retry = a.json("retry")?;
            if !retry.is_null() {
                let policy: RetryPolicy = convert::from_json(ruby, "retry", retry)?;
                builder = builder.retry(policy);
            }
            let engine = builder.build().map_err(|e| to_ruby(ruby, &e))?;
            Ok(Engine { engine, dispatch })
        })
    }

    /// `__run(operation, args)`: runs an operation, yielding events to the block if given.
    fn run(ruby: &Ruby, rb_self: &Self, op: String, args: RHash) -> Result<Value, RbError> {
        guard(ruby, || {
            let a = Args::new(ruby, args);
            let task = rb_self.task(ruby, &op, &a)?;
            let block = if ruby.block_given() {
                Some(ruby.block_proc()?)
            } else {
                None
            };
            task.wait_with(ruby, block)
        })
    }

    /// The task of one engine operation, its arguments read and checked here.
    fn task(&self, ruby: &Ruby, op: &str, a: &Args<'_>) -> Result<Task, RbError> {
        let engine = self.engine.clone();
        let dispatch = self.dispatch.clone();
        let tenant = || tenant_arg(ruby, a.raw("tenant"), a.raw("vars"), a.raw("secrets"));
        Ok(match op {
            "plan" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let tenant = tenant()?;
                let options = PlanOptions {
                    refresh: a.get("refresh")?,
                    overrides: overrides(a)?,
                };
                Task::run(CancellationToken::new(), move |caller| async move {
                    let _sub = dispatch.subscribe([tenant.name.as_str()], &caller);
                    let plan = engine.plan(&bp, &tenant, &options).await?;
                    plan_output(&plan)
                })
            }
            "apply" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let tenant = tenant()?;
                let cancel = CancellationToken::new();
                let check: bool = a.get("check")?;
                let options = ApplyOptions {
                    keep_partial: a.get("keep_partial")?,
                    overrides: overrides(a)?,
                    refresh: a.get("refresh")?,
                    cancel: cancel.clone(),
                    lock_wait: a.opt_seconds("lock_wait")?,
                    ..Default::default()
                };
                Task::run(cancel, move |caller| async move {
                    let _sub = dispatch.subscribe([tenant.name.as_str()], &caller);
                    let report = engine.apply(&bp, &tenant, options).await?;
                    report_output(report, check)
                })
            }
            "destroy" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let nil = ruby.qnil().as_value();
                let tenant = tenant_arg(ruby, a.raw("tenant"), nil, nil)?;
                let cancel = CancellationToken::new();
                let check: bool = a.get("check")?;
                let options = DestroyOptions {
                    overrides: overrides(a)?,
                    cancel: cancel.clone(),
                    lock_wait: a.opt_seconds("lock_wait")?,
                };
                Task::run(cancel, move |caller| async move {
                    let _sub = dispatch.subscribe([tenant.name.as_str()], &caller);
                    let report = engine.destroy(&bp, &tenant, options).await?;
                    report_output(report, check)
                })
            }
            "refresh" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let tenant = tenant()?;
                let cancel = CancellationToken::new();
                let options = RefreshOptions {
                    write: a.get("write")?,
                    cancel: cancel.clone(),
                    lock_wait: a.opt_seconds("lock_wait")?,
                };
                Task::run(cancel, move |caller| async move {
                    let _sub = dispatch.subscribe([tenant.name.as_str()], &caller);
                    // The refresh future is not `Send` (a higher-ranked closure inside the
                    // engine), so it runs on a blocking thread of the runtime.
                    let report = tokio::task::spawn_blocking(move || {
                        tokio::runtime::Handle::current()
                            .block_on(engine.refresh(&bp, &tenant, options))
                    })
                    .await
                    .map_err(|e| Error::unexpected(format!("the refresh stopped: {e}")))??;
                    let mut value = convert::json(&report)?;
                    value["has_drift"] = Json::Bool(report.has_drift());
                    Ok(json_output(value))
                })
            }
            "transition" | "plan_transition" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let tenant = tenant()?;
                let name: String = a.get("transition")?;
                let transition = Transition::parse(&name).map_err(|e| {
                    RbError::new(ruby.exception_arg_error(), e.message().to_string())
                })?;
                if op == "plan_transition" {
                    let options = PlanOptions {
                        refresh: false,
                        overrides: overrides(a)?,
                    };
                    Task::run(CancellationToken::new(), move |_| async move {
                        let plan = engine
                            .plan_transition(&bp, &tenant, transition, &options)
                            .await?;
                        plan_output(&plan)
                    })
                } else {
                    let cancel = CancellationToken::new();
                    let check: bool = a.get("check")?;
                    let options = ApplyOptions {
                        overrides: overrides(a)?,
                        cancel: cancel.clone(),
                        lock_wait: a.opt_seconds("lock_wait")?,
                        ..Default::default()
                    };
                    Task::run(cancel, move |caller| async move {
                        let _sub = dispatch.subscribe([tenant.name.as_str()], &caller);
                        let report = engine.transition(&bp, &tenant, transition, options).await?;
                        report_output(report, check)
                    })
                }
            }
            "phase" => {
                let tenant: String = a.get("tenant")?;
                Task::run(CancellationToken::new(), move |_| async move {
                    let phase = engine.phase(&tenant).await?;
                    Ok(json_output(convert::json(&phase)?))
                })
            }
            "outputs" => {
                let tenant: String = a.get("tenant")?;
                Task::run(CancellationToken::new(), move |_| async move {
                    let outputs = engine.outputs(&tenant).await?;
                    Ok(json_output(convert::json(&outputs)?))
                })
            }
            "fleet" => {
                let bp = blueprint_arg(ruby, a.raw("blueprint"))?;
                let tenants = RArray::from_value(a.raw("tenants")).ok_or_else(|| {
                    RbError::new(ruby.exception_type_error(), "tenants: expected an Array")
                })?;
                let nil = ruby.qnil().as_value();
                let mut list = Vec::new();
                for t in tenants.into_iter() {
                    list.push(tenant_arg(ruby, t, nil, nil)?);
                }
                let fleet_id: String = a.get("fleet_id")?;
                let destroy: bool = a.get("destroy")?;
                let concurrency: usize = a.get("concurrency")?;
                let canary: usize = a.get("canary")?;
                let threshold = match (
                    a.get::<Option<f64>>("max_failure_ratio")?,
                    a.get::<Option<usize>>("max_failures")?,
                ) {
                    (Some(ratio), _) => FailureThreshold::Fraction(ratio),
                    (None, Some(n)) => FailureThreshold::Count(n),
                    (None, None) => FailureThreshold::Never,
                };
                let cancel = CancellationToken::new();
                Task::run(cancel.clone(), move |caller| async move {
                    let names: Vec<String> = list.iter().map(|t| t.name.clone()).collect();
                    let _sub = dispatch.subscribe(names.iter().map(String::as_str), &caller);
                    let mut fleet = Fleet::new(engine.clone())
                        .concurrency(concurrency)
                        .canary(canary)
                        .max_failures(threshold);
                    if caller.wants_events {
                        let c = caller.clone();
                        fleet = fleet.events(Arc::new(move |e: &FleetEvent| {
                            if let Ok(v) = serde_json::to_value(e) {
                                c.event(v);
                            }
                        }));
                    }
                    let report = if destroy {
                        fleet.destroy(&fleet_id, &bp, list, cancel).await?
                    } else {
                        fleet.run(&fleet_id, &bp, list, cancel).await?
                    };
                    let mut value = convert::json(&report)?;
                    value["success"] = Json::Bool(report.is_success());
                    Ok(json_output(value))
                })
            }
            other => {
                return Err(RbError::new(
                    ruby.exception_arg_error(),
                    format!("unknown engine operation {other}"),
                ));
            }
        })
    }
}

/// Defines `Provisio::Engine`.
pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), RbError> {
    use magnus::{function, method};
    let b = module.define_class("Blueprint", ruby.class_object())?;
    b.define_singleton_method("load", function!(Blueprint::load, 1))?;
    b.define_singleton_method("from_yaml", function!(Blueprint::from_yaml, 1))?;
    b.define_singleton_method("from_json", function!(Blueprint::from_json, 1))?;
    b.define_singleton_method("from_hash", function!(Blueprint::from_hash, 1))?;
    b.define_method("name", method!(Blueprint::name, 0))?;
    b.define_method("resources", method!(Blueprint::resources, 0))?;
    b.define_method("variables", method!(Blueprint::variables, 0))?;
    b.define_method("to_h", method!(Blueprint::to_h, 0))?;
    b.define_method("inspect", method!(Blueprint::inspect, 0))?;
    let c = module.define_class("Engine", ruby.class_object())?;
    c.define_singleton_method("__new", magnus::function!(Engine::new, 4))?;
    c.define_private_method("__run", magnus::method!(Engine::run, 2))?;
    Ok(())
}
