//! Resource types: what the engine does for each `type:` of a blueprint resource.
//!
//! The engine is generic: it resolves parameters, diffs them against state, journals intents,
//! retries and rolls back. What "create a DNS record" means lives in a [`ResourceType`]. The
//! built-in types are in [`crate::types`]; Rust users add their own by implementing the trait
//! and registering it in a [`Registry`].

use crate::providers::{Capability, Providers};
use provisio::{Deleted, Outcome, Result, SecretString, Tags};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The tenant a run provisions.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    /// The tenant name (validated with [`provisio::validate::tenant_name`]).
    pub name: String,
    /// Plain variables, referenced as `${tenant.<key>}`.
    #[serde(default)]
    pub vars: BTreeMap<String, Value>,
    /// Secret variables (an SMTP password handed in by the caller). They are never
    /// interpolated into parameters; resource types that need one read it with
    /// [`StepContext::secret_var`].
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretString>,
}

impl Tenant {
    /// A tenant with no variables.
    pub fn new(name: impl Into<String>) -> Self {
        Tenant {
            name: name.into(),
            ..Default::default()
        }
    }
    /// Adds a plain variable.
    pub fn var(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.vars.insert(key.into(), value.into());
        self
    }
    /// Adds a secret variable.
    pub fn secret(mut self, key: impl Into<String>, value: impl Into<SecretString>) -> Self {
        self.secrets.insert(key.into(), value.into());
        self
    }
}

/// Everything a resource type's operation may use.
pub struct StepContext<'a> {
    /// The tenant.
    pub tenant: &'a Tenant,
    /// The blueprint's name.
    pub blueprint: &'a str,
    /// The resource's name in the blueprint.
    pub resource: &'a str,
    /// The provider name the resource asked for.
    pub provider: &'a str,
    /// All configured providers.
    pub providers: &'a Providers,
    /// The ownership tags to put on what this step creates.
    pub ownership: Tags,
    /// A deterministic idempotency token for this resource of this tenant (stable across
    /// retries and resumed runs; e.g. an EC2 ClientToken).
    pub idempotency_token: &'a str,
    /// Secret values this run wrote, so a later step of the run that needs one (a database
    /// role's password) does not read it back from the store. Held only for the run.
    pub written: &'a WrittenSecrets,
    /// The lifecycle transition this step runs in (`None` in `apply`, `destroy`, `refresh`
    /// and plans): a database's `restore_from` insists on its archive during `restore`.
    pub transition: Option<crate::lifecycle::Transition>,
}

/// The secret values one run wrote to its secret stores, by provider name and secret name:
/// what a step of the same run would otherwise read back with one more request. The values
/// live as long as the run (in [`SecretString`]s, zeroed on drop) and never leave it.
#[derive(Default)]
pub struct WrittenSecrets(std::sync::Mutex<BTreeMap<(String, String), SecretString>>);

impl WrittenSecrets {
    /// Remembers that this run stored `value` as secret `name` of provider `provider`.
    pub fn remember(&self, provider: &str, name: &str, value: &SecretString) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((provider.to_string(), name.to_string()), value.clone());
    }
    /// The value this run stored as secret `name` of `provider`, if it did.
    pub fn get(&self, provider: &str, name: &str) -> Option<SecretString> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(provider.to_string(), name.to_string()))
            .cloned()
    }
}

impl std::fmt::Debug for WrittenSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map(|m| m.len()).unwrap_or(0);
        write!(f, "WrittenSecrets({n} values, redacted)")
    }
}

impl StepContext<'_> {
    /// A secret variable of the tenant; `InvalidInput` naming it when the caller gave none.
    pub fn secret_var(&self, key: &str) -> Result<&SecretString> {
        self.tenant.secrets.get(key).ok_or_else(|| {
            provisio::Error::invalid_field(
                "secret variable",
                format!("the tenant has no secret variable {key:?}"),
            )
            .with_resource(self.resource)
        })
    }
}

/// What [`ResourceType::apply`] produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// The resource's outputs (ids, addresses, names), referenced by other resources as
    /// `${<resource>.<key>}`. Never a secret value.
    pub outputs: Value,
    /// What the call did.
    pub outcome: Outcome,
}

/// One kind of resource (`dns.record`, `storage.bucket`, a custom step...).
///
/// Implementations must be idempotent: `apply` looks the resource up by its deterministic name
/// or ownership tags first and adopts what exists, so that a retried or resumed step never
/// creates a duplicate; `delete` succeeds when the resource is already gone.
#[provisio::async_trait]
pub trait ResourceType: Send + Sync + 'static {
    /// The type name used in blueprints, e.g. `dns.record`.
    fn name(&self) -> &str;

    /// The capability whose provider this type drives.
    fn capability(&self) -> Capability;

    /// Checks parameters at load time. Values may still contain unresolved `${...}`
    /// references (strings); check everything else: required fields, types, names.
    /// Errors are `InvalidInput` naming the field.
    fn validate(&self, params: &Value) -> Result<()>;

    /// Parameter fields whose change cannot be applied in place; the plan shows a replace.
    fn replace_fields(&self) -> &[&str] {
        &[]
    }

    /// Whether `apply` tells whether the resource existed before it: its `outcome` is
    /// `Created` exactly when the resource was not there when the call looked (the engine
    /// takes that, or an earlier report through [`provisio::existence::found`] by the type or
    /// its provider, made before the write). When it does, the engine learns it without a
    /// request; when it does not (the default, for custom types whose outcome may not say it),
    /// the engine reads the resource before it creates one, which costs one more read.
    fn reports_existence(&self) -> bool {
        false
    }

    /// For a type whose `apply` waits for something outside provisio's control (an
    /// `http.check` waits until a URL answers as expected): how the engine retries the step
    /// and how long the step may take in all, from the resolved parameters.
    ///
    /// Such an `apply` makes one attempt and fails with a retryable error (`Transient`) while
    /// the condition does not hold; the engine retries it by [`Polling::retry`], with a
    /// `step_retrying` event per attempt, until it succeeds or [`Polling::deadline`] passes
    /// (then the step fails with `Timeout`, naming the last attempt's error). A `retry` set on
    /// the blueprint resource replaces [`Polling::retry`]; a `timeout_secs` set on the
    /// resource cuts the deadline short when it is shorter. The engine's default step timeout
    /// does not apply: the parameters say how long to wait. Such an `apply` must change
    /// nothing until it succeeds: after a failed create the engine does not read the
    /// resource to find what an attempt left (which other types get). `None` (the default):
    /// the engine's defaults.
    fn polling(&self, _params: &Value) -> Option<Polling> {
        None
    }

    /// Outputs that change in the resource's normal life, which a refresh records but does
    /// not report as drift: a branch's `head` moves with every commit to it, an instance's
    /// `public_ip` with a restart, a mail identity's `status` when it is verified.
    fn volatile_outputs(&self) -> &[&str] {
        &[]
    }

    /// The output keys this type produces (for "known after apply" in plans and for
    /// reference checks at load time).
    fn outputs(&self) -> &[&str];

    /// Checks resolved parameters before the first side effect of a run: what [`validate`]
    /// could not check at load time because it came from a variable, a template or another
    /// resource's output, and the naming rules of the provider that will receive it
    /// ([`provisio::Provider::check_name`]). The engine calls it when it plans, for every
    /// resource whose parameters are fully known. Errors are `InvalidInput` naming the field.
    /// The default parses the parameters as [`identity`] does.
    ///
    /// [`validate`]: ResourceType::validate
    /// [`identity`]: ResourceType::identity
    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        self.identity(ctx, params).map(|_| ())
    }

    /// The deterministic identity of the resource from its resolved parameters (e.g.
    /// `A acme.example.com`); journaled with every intent and used for adoption.
    fn identity(&self, ctx: &StepContext<'_>, params: &Value) -> Result<String>;

    /// Reads the resource as it exists now: its outputs, or `None` when it does not exist.
    /// `prior` is the outputs recorded in state, if any.
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>>;

    /// Creates the resource or brings it to `params` (ensure semantics).
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied>;

    /// Deletes the resource. `outputs` are those recorded in state (may be `Null` when a
    /// resumed run deletes an in-doubt resource that never recorded outputs).
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        outputs: &Value,
    ) -> Result<Deleted>;
}

/// How the engine retries a step that waits (see [`ResourceType::polling`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Polling {
    /// The retries: attempts and the full-jitter backoff between them.
    pub retry: crate::retry::RetryPolicy,
    /// How long the step may take in all, every attempt and wait included.
    pub deadline: std::time::Duration,
}

/// Resource types by name.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, Arc<dyn ResourceType>>,
}

impl Registry {
    /// An empty registry (see [`crate::types::builtin`] for one with every built-in type).
    pub fn new() -> Self {
        Self::default()
    }
    /// Registers a type under its [`ResourceType::name`], replacing one of the same name.
    pub fn register(&mut self, t: Arc<dyn ResourceType>) -> &mut Self {
        self.types.insert(t.name().to_string(), t);
        self
    }
    /// The type called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn ResourceType>> {
        self.types.get(name).cloned()
    }
    /// Every registered type name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }
}

/// What a custom step written in another language answers, read the same way for every binding
/// (Python, Ruby): its `read`, `apply` and `delete` methods get `(params, prior)` or
/// `(params, outputs)` as JSON and answer JSON.
pub mod foreign {
    use super::Applied;
    use provisio::{Deleted, Error, Outcome, Result};
    use serde_json::Value;

    /// The arguments of `read` and `apply`: the parameters, and what state recorded (`null`
    /// for a new resource).
    pub fn args(params: &Value, prior: Option<&Value>) -> Vec<Value> {
        vec![params.clone(), prior.cloned().unwrap_or(Value::Null)]
    }

    /// `read`'s answer: `null` (or nothing) means the resource is not there.
    pub fn read_answer(out: Value) -> Option<Value> {
        (!out.is_null()).then_some(out)
    }

    /// `apply`'s answer: `{"outcome": "created" | "updated" | "unchanged", "outputs": ...}`.
    ///
    /// ```
    /// use provisio_engine::resource::foreign;
    /// let a = foreign::applied(serde_json::json!({"outcome": "created", "outputs": {"id": 1}})).unwrap();
    /// assert_eq!(a.outputs["id"], 1);
    /// assert!(foreign::applied(serde_json::json!({"outputs": {}})).is_err());
    /// ```
    pub fn applied(out: Value) -> Result<Applied> {
        let outcome: Outcome = serde_json::from_value(out["outcome"].clone())
            .map_err(|e| Error::unexpected(format!("the step returned no valid outcome: {e}")))?;
        Ok(Applied {
            outputs: out["outputs"].clone(),
            outcome,
        })
    }

    /// `delete`'s answer: `"deleted"` or `"already_gone"`.
    pub fn deleted(out: Value) -> Result<Deleted> {
        serde_json::from_value(out).map_err(|e| {
            Error::unexpected(format!("the step's delete returned no valid result: {e}"))
        })
    }

    /// `identity`'s answer as text (a string as it is, anything else as JSON).
    pub fn identity(out: Value) -> String {
        match out {
            Value::String(s) => s,
            other => other.to_string(),
        }
    }
}
