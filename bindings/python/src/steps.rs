//! Custom steps written in Python: a `provisio.Step` object registered as a resource type
//! ([`ResourceType`]). Its methods run on the runtime's blocking threads with the GIL held
//! (coroutines run on the caller's asyncio loop when the run was awaited, else in a loop of
//! their own); what they raise becomes a provisio error of the same kind.

use crate::events::Dispatch;
use crate::{convert, errors};
use provisio::{Deleted, Error, Result};
use provisio_engine::Capability;
use provisio_engine::resource::{Applied, ResourceType, StepContext, foreign};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Value, json};
use std::sync::Arc;

/// A Python step as a resource type.
pub(crate) struct PyStep {
    name: String,
    outputs: Vec<&'static str>,
    replace: Vec<&'static str>,
    step: Arc<Py<PyAny>>,
    dispatch: Arc<Dispatch>,
}

fn leak_names(py: Python<'_>, step: &Bound<'_, PyAny>, attr: &str) -> PyResult<Vec<&'static str>> {
    let _ = py;
    let names: Vec<String> = match step.getattr(attr) {
        Ok(v) if !v.is_none() => v.extract()?,
        _ => Vec::new(),
    };
    // Registered once per engine: the trait hands out `&[&str]` borrowed from the type.
    Ok(names
        .into_iter()
        .map(|n| &*Box::leak(n.into_boxed_str()))
        .collect())
}

impl PyStep {
    pub(crate) fn new(
        py: Python<'_>,
        step: &Bound<'_, PyAny>,
        dispatch: Arc<Dispatch>,
    ) -> PyResult<Self> {
        let name: String = step.getattr("name")?.extract()?;
        Ok(PyStep {
            name,
            outputs: leak_names(py, step, "outputs")?,
            replace: leak_names(py, step, "replace_fields")?,
            step: Arc::new(step.clone().unbind()),
            dispatch,
        })
    }

    fn context(ctx: &StepContext<'_>) -> Value {
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

    /// Calls `provisio._support.invoke_step(step, method, loop, ctx, secrets, *args)` and
    /// returns its (normalized) result as JSON.
    fn call_now(
        py: Python<'_>,
        step: &Py<PyAny>,
        method: &str,
        event_loop: Option<&Py<PyAny>>,
        ctx: &Value,
        secrets: &[(String, provisio::SecretString)],
        args: &[Value],
    ) -> Result<Value> {
        let run = || -> PyResult<Value> {
            let secret_dict = PyDict::new(py);
            for (k, v) in secrets {
                secret_dict.set_item(k, convert::secret_to_py(py, v)?)?;
            }
            let mut call_args: Vec<Bound<'_, PyAny>> = vec![
                step.bind(py).clone(),
                method.into_pyobject(py)?.into_any(),
                match event_loop {
                    Some(l) => l.bind(py).clone(),
                    None => py.None().into_bound(py),
                },
                convert::to_py(py, ctx)?,
                secret_dict.into_any(),
            ];
            for a in args {
                call_args.push(convert::to_py(py, a)?);
            }
            let tuple = pyo3::types::PyTuple::new(py, call_args)?;
            let out = py
                .import("provisio._support")?
                .getattr("invoke_step")?
                .call1(tuple)?;
            convert::from_py(&out)
        };
        run().map_err(|e| errors::from_py(py, &e))
    }

    async fn call(
        &self,
        ctx: &StepContext<'_>,
        method: &'static str,
        args: Vec<Value>,
    ) -> Result<Value> {
        let step = self.step.clone();
        let event_loop = self.dispatch.event_loop(&ctx.tenant.name);
        let context = Self::context(ctx);
        let secrets: Vec<(String, provisio::SecretString)> = ctx
            .tenant
            .secrets
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let resource = ctx.resource.to_string();
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || {
            Python::attach(|py| {
                Self::call_now(
                    py,
                    &step,
                    method,
                    event_loop.as_deref(),
                    &context,
                    &secrets,
                    &args,
                )
            })
        })
        .await
        .map_err(|e| Error::unexpected(format!("the Python step stopped: {e}")))?
        .map_err(|e| {
            e.in_context("python", &format!("{name}.{method}"))
                .with_resource(resource)
        })
    }
}

#[provisio::async_trait]
impl ResourceType for PyStep {
    fn name(&self) -> &str {
        &self.name
    }

    fn capability(&self) -> Capability {
        Capability::None
    }

    fn validate(&self, params: &Value) -> Result<()> {
        Python::attach(|py| {
            let run = || -> PyResult<()> {
                let step = self.step.bind(py);
                if step.hasattr("validate")? {
                    step.call_method1("validate", (convert::to_py(py, params)?,))?;
                }
                Ok(())
            };
            run().map_err(|e| errors::from_py(py, &e).with_resource(self.name.clone()))
        })
    }

    fn replace_fields(&self) -> &[&str] {
        &self.replace
    }

    fn outputs(&self) -> &[&str] {
        &self.outputs
    }

    fn identity(&self, ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let context = Self::context(ctx);
        let out = Python::attach(|py| {
            Self::call_now(
                py,
                &self.step,
                "identity",
                None,
                &context,
                &[],
                std::slice::from_ref(params),
            )
        })?;
        Ok(foreign::identity(out))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let out = self.call(ctx, "read", foreign::args(params, prior)).await?;
        Ok(foreign::read_answer(out))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let out = self
            .call(ctx, "apply", foreign::args(params, prior))
            .await?;
        foreign::applied(out)
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        outputs: &Value,
    ) -> Result<Deleted> {
        let out = self
            .call(ctx, "delete", vec![params.clone(), outputs.clone()])
            .await?;
        foreign::deleted(out)
    }
}
