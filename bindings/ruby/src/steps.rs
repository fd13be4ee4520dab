//! Custom steps written in Ruby: an object responding to `name`, `apply`, and optionally
//! `outputs`, `replace_fields`, `read`, `delete`, `identity` (see `Provisio::Step`), registered
//! as a resource type ([`ResourceType`]). Its methods run on the Ruby thread that started the
//! run, with the GVL held (the tokio side sends the call there and awaits the answer); what they
//! raise becomes a provisio error of the same kind.

use crate::events::Dispatch;
use crate::{convert, errors};
use magnus::prelude::*;
use magnus::value::{Opaque, ReprValue};
use magnus::{Error as RbError, RModule, Ruby, Value};
use provisio::{Deleted, Error, Result};
use provisio_engine::Capability;
use provisio_engine::resource::{Applied, ResourceType, StepContext, foreign};
use serde_json::{Value as Json, json};
use std::sync::Arc;

/// A Ruby step as a resource type.
pub(crate) struct RubyStep {
    name: String,
    outputs: Vec<&'static str>,
    replace: Vec<&'static str>,
    has_identity: bool,
    step: Opaque<Value>,
    dispatch: Arc<Dispatch>,
}

/// The names a step's `outputs`/`replace_fields` method returns (none without the method).
fn names(
    ruby: &Ruby,
    step: Value,
    method: &str,
) -> std::result::Result<Vec<&'static str>, RbError> {
    if !step.respond_to(method, false)? {
        return Ok(Vec::new());
    }
    let v: Value = step.funcall(method, ())?;
    let json = convert::from_ruby(ruby, method, v)?;
    let list: Vec<String> = if json.is_null() {
        Vec::new()
    } else {
        serde_json::from_value(json).map_err(|_| {
            RbError::new(
                ruby.exception_type_error(),
                format!("step #{method}: expected an Array of Strings or Symbols"),
            )
        })?
    };
    // Registered once per engine: the trait hands out `&[&str]` borrowed from the type.
    Ok(list
        .into_iter()
        .map(|n| &*Box::leak(n.into_boxed_str()))
        .collect())
}

impl RubyStep {
    /// Wraps `step`; `TypeError` when it lacks `name` or `apply`.
    pub(crate) fn new(
        ruby: &Ruby,
        step: Value,
        dispatch: Arc<Dispatch>,
    ) -> std::result::Result<Self, RbError> {
        for m in ["name", "apply"] {
            if !step.respond_to(m, false)? {
                return Err(RbError::new(
                    ruby.exception_type_error(),
                    format!("steps: a step must respond to #{m}"),
                ));
            }
        }
        let name: Value = step.funcall("name", ())?;
        let name = match convert::from_ruby(ruby, "step name", name)? {
            Json::String(s) => s,
            _ => {
                return Err(RbError::new(
                    ruby.exception_type_error(),
                    "steps: a step's #name must be a String",
                ));
            }
        };
        // The engine keeps the step for its whole life: keep it from the GC.
        ruby.gc_register_mark_object(step);
        Ok(RubyStep {
            name,
            outputs: names(ruby, step, "outputs")?,
            replace: names(ruby, step, "replace_fields")?,
            has_identity: step.respond_to("identity", false)?,
            step: Opaque::from(step),
            dispatch,
        })
    }

    /// The step context handed to Ruby (secrets go separately, as `Provisio::Secret`s).
    fn context(ctx: &StepContext<'_>) -> Json {
        json!({
            "tenant": ctx.tenant.name,
            "vars": ctx.tenant.vars,
            "blueprint": ctx.blueprint,
            "resource": ctx.resource,
            "provider": ctx.provider,
            "ownership": ctx.ownership,
            "idempotency_token": ctx.idempotency_token,
        })
    }

    /// The Ruby work for one call of `method`: `Provisio::Step.__invoke(step, method, ctx,
    /// secrets, *args)`, its (normalized) result as JSON.
    fn work(
        &self,
        ctx: &StepContext<'_>,
        method: &'static str,
        args: Vec<Json>,
    ) -> impl FnOnce(&Ruby) -> Result<Json> + Send + 'static {
        let step = self.step;
        let context = Self::context(ctx);
        let secrets: Vec<(String, provisio::SecretString)> = ctx
            .tenant
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        move |ruby: &Ruby| {
            let run = || -> std::result::Result<Json, RbError> {
                let secret_hash = ruby.hash_new();
                for (k, v) in &secrets {
                    secret_hash.aset(ruby.to_symbol(k), convert::secret_to_ruby(ruby, v)?)?;
                }
                secret_hash.freeze();
                let mut call_args: Vec<Value> = vec![
                    ruby.get_inner(step),
                    ruby.to_symbol(method).as_value(),
                    convert::to_ruby(ruby, &context)?,
                    secret_hash.as_value(),
                ];
                for a in &args {
                    call_args.push(convert::to_ruby(ruby, a)?);
                }
                let m: RModule = ruby.class_object().const_get("Provisio")?;
                let class: Value = m.const_get("Step")?;
                let out: Value = class.funcall("__invoke", call_args.as_slice())?;
                convert::from_ruby(ruby, "the step's result", out)
            };
            run().map_err(|e| errors::from_ruby(ruby, &e))
        }
    }

    /// The Ruby thread running the tenant of `ctx`.
    fn caller(&self, ctx: &StepContext<'_>) -> Result<crate::runtime::Caller> {
        self.dispatch
            .caller(&ctx.tenant.name)
            .ok_or_else(|| Error::unexpected("no Ruby thread is running this tenant's steps"))
    }

    /// Adds the step and resource to an error.
    fn in_context(&self, ctx: &StepContext<'_>, method: &str, e: Error) -> Error {
        e.in_context("ruby", &format!("{}.{method}", self.name))
            .with_resource(ctx.resource.to_string())
    }

    /// Runs `method` on the Ruby thread running the tenant, blocking this thread until it
    /// answers (for the engine's synchronous hooks). On a worker of the shared multi-thread
    /// runtime the wait is announced with `block_in_place`, so the worker's other tasks (other
    /// tenants' steps) move to another thread instead of waiting behind a Ruby method.
    fn call_sync(
        &self,
        ctx: &StepContext<'_>,
        method: &'static str,
        args: Vec<Json>,
    ) -> Result<Json> {
        let caller = self.caller(ctx)?;
        let work = self.work(ctx, method, args);
        let wait = move || caller.call(work);
        let on_worker = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let answer = if on_worker {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        answer.map_err(|e| self.in_context(ctx, method, e))
    }

    /// Runs `method` on the Ruby thread running the tenant; the tokio thread is free meanwhile.
    async fn call(
        &self,
        ctx: &StepContext<'_>,
        method: &'static str,
        args: Vec<Json>,
    ) -> Result<Json> {
        let caller = self.caller(ctx)?;
        caller
            .call_async(self.work(ctx, method, args))
            .await
            .map_err(|e| self.in_context(ctx, method, e))
    }
}

#[provisio::async_trait]
impl ResourceType for RubyStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn capability(&self) -> Capability {
        Capability::None
    }

    /// Ruby steps check their parameters in `apply`: the engine validates blueprints where no
    /// Ruby thread of the run is known yet (validation runs without a tenant), so a Ruby
    /// `validate` method is not called.
    fn validate(&self, _params: &Json) -> Result<()> {
        Ok(())
    }

    fn replace_fields(&self) -> &[&str] {
        &self.replace
    }

    fn outputs(&self) -> &[&str] {
        &self.outputs
    }

    fn identity(&self, ctx: &StepContext<'_>, params: &Json) -> Result<String> {
        if !self.has_identity {
            return Ok(format!(
                "{} {}/{}",
                self.name, ctx.tenant.name, ctx.resource
            ));
        }
        let out = self.call_sync(ctx, "identity", vec![params.clone()])?;
        Ok(foreign::identity(out))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Json,
        prior: Option<&Json>,
    ) -> Result<Option<Json>> {
        let out = self.call(ctx, "read", foreign::args(params, prior)).await?;
        Ok(foreign::read_answer(out))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Json,
        prior: Option<&Json>,
    ) -> Result<Applied> {
        let out = self
            .call(ctx, "apply", foreign::args(params, prior))
            .await?;
        foreign::applied(out)
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Json,
        outputs: &Json,
    ) -> Result<Deleted> {
        let out = self
            .call(ctx, "delete", vec![params.clone(), outputs.clone()])
            .await?;
        foreign::deleted(out)
    }
}
