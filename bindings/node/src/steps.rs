//! Custom steps written in JavaScript: a [`ResourceType`] whose operations call an async JS
//! function and await the Promise it returns.
//!
//! `index.js` turns the user's `{ type, apply, read?, delete? }` into one dispatch function
//! that receives `{ op, ctx, params, prior | outputs }` and always resolves to an envelope:
//! `{ ok: true, value }` or `{ ok: false, error: { kind, message } }`. An error of a retryable
//! kind (`transient`, `timeout`, `rate_limited`) is retried by the engine like any other step.

use crate::errors;
use napi::Status;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi_derive::napi;
use provisio::{Deleted, Error, Outcome, Result};
use provisio_engine::Capability;
use provisio_engine::resource::{Applied, ResourceType, StepContext};
use serde_json::{Value, json};
use std::sync::Arc;

/// The dispatch function of one custom step type.
pub type StepCall = ThreadsafeFunction<Value, Promise<Value>, Value, Status, false, true>;

/// A custom step type as `index.js` hands it over.
#[napi(object, object_to_js = false)]
pub struct StepDefinition {
    /// The type name blueprints use (`custom.notify`).
    #[napi(js_name = "type")]
    pub type_name: String,
    /// The output keys `apply` returns (for references and "known after apply").
    pub outputs: Option<Vec<String>>,
    /// Parameter fields whose change means replace rather than update.
    pub replace_fields: Option<Vec<String>>,
    /// Which of the optional operations the user wrote (`read`, `delete`).
    pub operations: Option<Vec<String>>,
    /// The dispatch function.
    pub call: StepCall,
}

/// A [`ResourceType`] implemented in JavaScript.
pub struct JsStep {
    name: String,
    outputs: Vec<&'static str>,
    replace: Vec<&'static str>,
    has_read: bool,
    has_delete: bool,
    call: Arc<StepCall>,
}

/// `ResourceType` hands out `&[&str]`; the few names of a step type live as long as the
/// process (a handful of bytes per registered type).
fn leak(names: Option<Vec<String>>) -> Vec<&'static str> {
    names
        .unwrap_or_default()
        .into_iter()
        .map(|s| &*Box::leak(s.into_boxed_str()))
        .collect()
}

impl JsStep {
    /// The step type a definition describes.
    pub fn new(def: StepDefinition) -> napi::Result<JsStep> {
        let ops = def.operations.unwrap_or_default();
        if !def.type_name.contains('.') {
            return Err(errors::bad_argument(
                "step type",
                format!(
                    "{:?} must be namespaced like \"custom.notify\"",
                    def.type_name
                ),
            ));
        }
        Ok(JsStep {
            name: def.type_name,
            outputs: leak(def.outputs),
            replace: leak(def.replace_fields),
            has_read: ops.iter().any(|o| o == "read"),
            has_delete: ops.iter().any(|o| o == "delete"),
            call: Arc::new(def.call),
        })
    }

    async fn invoke(&self, op: &str, ctx: &StepContext<'_>, mut arg: Value) -> Result<Value> {
        arg["op"] = json!(op);
        arg["ctx"] = json!({
            "tenant": { "name": ctx.tenant.name, "vars": ctx.tenant.vars },
            "blueprint": ctx.blueprint,
            "resource": ctx.resource,
            "provider": ctx.provider,
            "ownership": ctx.ownership,
            "idempotency_token": ctx.idempotency_token,
        });
        let context = format!("custom step {} {op}", self.name);
        let promise = self
            .call
            .call_async(arg)
            .await
            .map_err(|e| errors::from_napi(&context, e))?;
        let envelope = promise.await.map_err(|e| errors::from_napi(&context, e))?;
        if envelope.get("ok").and_then(Value::as_bool) == Some(true) {
            Ok(envelope.get("value").cloned().unwrap_or(Value::Null))
        } else {
            let err = envelope.get("error").cloned().unwrap_or(Value::Null);
            Err(errors::from_js(&err)
                .with_operation(format!("{}.{op}", self.name))
                .with_resource(ctx.resource))
        }
    }
}

fn outcome(value: &Value, prior: Option<&Value>) -> Result<Outcome> {
    match value.get("outcome").and_then(Value::as_str) {
        None if prior.is_none() => Ok(Outcome::Created),
        None => Ok(Outcome::Updated),
        Some("created") => Ok(Outcome::Created),
        Some("updated") => Ok(Outcome::Updated),
        Some("unchanged") => Ok(Outcome::Unchanged),
        Some(other) => Err(Error::invalid_field(
            "outcome",
            format!("{other:?} is not created, updated or unchanged"),
        )),
    }
}

#[provisio::async_trait]
impl ResourceType for JsStep {
    fn name(&self) -> &str {
        &self.name
    }
    fn capability(&self) -> Capability {
        Capability::None
    }
    fn validate(&self, params: &Value) -> Result<()> {
        if params.is_object() || params.is_null() {
            Ok(())
        } else {
            Err(Error::invalid_field("params", "must be an object"))
        }
    }
    fn replace_fields(&self) -> &[&str] {
        &self.replace
    }
    fn outputs(&self) -> &[&str] {
        &self.outputs
    }
    fn identity(&self, ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(match params.get("name").and_then(Value::as_str) {
            Some(name) => format!("{} {name}", self.name),
            None => format!("{} {}/{}", self.name, ctx.tenant.name, ctx.resource),
        })
    }
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        if !self.has_read {
            // Without a read, what state recorded is taken as what exists.
            return Ok(prior.cloned());
        }
        let value = self
            .invoke("read", ctx, json!({ "params": params, "prior": prior }))
            .await?;
        Ok(if value.is_null() { None } else { Some(value) })
    }
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let value = self
            .invoke("apply", ctx, json!({ "params": params, "prior": prior }))
            .await?;
        let outcome = outcome(&value, prior)?;
        let outputs = value.get("outputs").cloned().unwrap_or_else(|| json!({}));
        Ok(Applied { outputs, outcome })
    }
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        outputs: &Value,
    ) -> Result<Deleted> {
        if !self.has_delete {
            return Ok(Deleted::Deleted);
        }
        let value = self
            .invoke(
                "delete",
                ctx,
                json!({ "params": params, "outputs": outputs }),
            )
            .await?;
        match value.as_str() {
            Some("already_gone") => Ok(Deleted::AlreadyGone),
            _ => Ok(Deleted::Deleted),
        }
    }
}
