//! The blueprint: a declarative document of named resources.
//!
//! A blueprint is written in YAML, TOML or JSON (all through serde) or built in code:
//!
//! ```yaml
//! name: launch-tenant
//! variables:
//!   domain: { default: example.com }
//!   smtp_password: { secret: true }
//! resources:
//!   web:
//!     type: compute.instance
//!     params: { name: "${tenant.name}-web", image: img-1, size: small }
//!   www:
//!     type: dns.record
//!     params: { zone: "${tenant.domain}", name: "${tenant.name}.${tenant.domain}", type: A, content: "${web.public_ip}" }
//! ```
//!
//! References (see [`crate::template`]) and `depends_on` define the dependency graph.
//! [`Blueprint::validate`] rejects, with an `InvalidInput` error naming the resource and field:
//! bad names, unknown types, parameters the type rejects, malformed or unknown references
//! (resource, output key, tenant variable), secret variables inside `${...}` and cycles. A
//! parameter the type rejects is named by its path:
//! `resources.dns_prod.params.ttl: expected an integer, found "abc"`.
//!
//! Built in code:
//!
//! ```
//! use provisio_engine::blueprint::{Blueprint, ResourceSpec, Variable};
//! use serde_json::json;
//! let bp = Blueprint::new("launch-tenant")
//!     .variable("domain", Variable::with_default("example.com"))
//!     .resource("web", ResourceSpec::new("compute.instance")
//!         .params(json!({"name": "${tenant.name}-web", "image": "img-1", "size": "small"})));
//! assert_eq!(bp.resources["web"].provider, "default");
//! ```

mod parse;
mod phases;
mod resolve;
pub use resolve::secret_env_var;
#[cfg(test)]
mod tests;
mod validate;

pub(crate) use validate::topo_order;
pub use validate::{Graph, resource_name};

use crate::lifecycle::{Phase, PhaseVariant};
use crate::render::BlueprintTemplates;
use crate::retry::RetryPolicy;
use provisio::Error;
use provisio_templates::TemplateSet;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A declared tenant variable.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Variable {
    /// The value used when the tenant gives none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// Whether the tenant must give a value. Unset: required exactly when there is no default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// A secret variable: handed in through
    /// [`Tenant::secrets`](crate::resource::Tenant::secrets), never interpolated, read by
    /// resource types with [`crate::StepContext::secret_var`]. May not have a default.
    pub secret: bool,
    /// What the variable is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Variable {
    /// A plain variable the tenant must give.
    pub fn required() -> Self {
        Variable {
            required: Some(true),
            ..Self::default()
        }
    }
    /// A plain variable with a default.
    pub fn with_default(value: impl Into<Value>) -> Self {
        Variable {
            default: Some(value.into()),
            ..Self::default()
        }
    }
    /// An optional plain variable without default (`null` when not given).
    pub fn optional() -> Self {
        Variable {
            required: Some(false),
            ..Self::default()
        }
    }
    /// A required secret variable.
    pub fn secret() -> Self {
        Variable {
            secret: true,
            ..Self::default()
        }
    }
    /// Whether a value must be given.
    pub fn is_required(&self) -> bool {
        self.required.unwrap_or(self.default.is_none())
    }
}

fn default_provider() -> String {
    crate::providers::DEFAULT_PROVIDER.to_string()
}

fn is_default_provider(p: &String) -> bool {
    p == crate::providers::DEFAULT_PROVIDER
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One resource of a blueprint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// The resource type name (`dns.record`), looked up in the
    /// [`Registry`](crate::resource::Registry).
    #[serde(rename = "type")]
    pub resource_type: String,
    /// The provider name (default `default`).
    #[serde(
        default = "default_provider",
        skip_serializing_if = "is_default_provider"
    )]
    pub provider: String,
    /// The parameters; strings may contain `${...}` references.
    #[serde(default = "empty_object")]
    pub params: Value,
    /// Extra dependencies besides those implied by references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Never delete or replace this resource unless the caller names it in an override.
    #[serde(default, skip_serializing_if = "is_false")]
    pub protect: bool,
    /// The retry policy of this resource's steps (engine default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// The timeout of one step of this resource, in seconds (engine default when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// What the resource becomes in the lifecycle phases other than `launched`
    /// (see [`crate::lifecycle`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub phases: BTreeMap<Phase, PhaseVariant>,
    /// The only phases the resource exists in (unset: every phase but `retired`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only_in: Option<BTreeSet<Phase>>,
}

impl ResourceSpec {
    /// A resource of type `resource_type` with no parameters, on the default provider.
    pub fn new(resource_type: impl Into<String>) -> Self {
        ResourceSpec {
            resource_type: resource_type.into(),
            provider: default_provider(),
            params: empty_object(),
            depends_on: Vec::new(),
            protect: false,
            retry: None,
            timeout_secs: None,
            phases: BTreeMap::new(),
            only_in: None,
        }
    }
    /// Sets the provider name.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = provider.into();
        self
    }
    /// Replaces the parameters.
    pub fn params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }
    /// Sets one parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        if !self.params.is_object() {
            self.params = empty_object();
        }
        if let Value::Object(m) = &mut self.params {
            m.insert(key.into(), value.into());
        }
        self
    }
    /// Adds an explicit dependency.
    pub fn depends_on(mut self, resource: impl Into<String>) -> Self {
        self.depends_on.push(resource.into());
        self
    }
    /// Marks the resource protected.
    pub fn protect(mut self) -> Self {
        self.protect = true;
        self
    }
    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
    /// Declares what the resource becomes in `phase` (see [`crate::lifecycle`]).
    pub fn in_phase(mut self, phase: Phase, variant: PhaseVariant) -> Self {
        self.phases.insert(phase, variant);
        self
    }
    /// Limits the phases the resource exists in.
    pub fn only_in(mut self, phases: impl IntoIterator<Item = Phase>) -> Self {
        self.only_in = Some(phases.into_iter().collect());
        self
    }
    /// Sets the step timeout (rounded up to whole seconds).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_secs = Some(timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0));
        self
    }
}

/// The document formats a blueprint can be read from (`Format::from_path` tells a file's
/// format by its extension; see `provisio_loader::Format`).
pub use provisio_loader::Format;

/// A blueprint: a name, declared tenant variables and named resources.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// The blueprint's name (part of every resource's ownership tags).
    pub name: String,
    /// Declared tenant variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, Variable>,
    /// Resources by name.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceSpec>,
    /// The file templates `{ $template: ... }` parameters render (see [`crate::render`]).
    #[serde(skip)]
    pub templates: Option<BlueprintTemplates>,
    /// In a phase's view ([`Blueprint::in_phase`]): the resources absent in that phase, by
    /// name, with their types. References to them resolve to their recorded outputs.
    #[serde(skip)]
    pub(crate) ghosts: BTreeMap<String, String>,
}

fn in_resource(name: &str, e: Error) -> Error {
    Error::invalid_input(format!("resource {name:?}: {}", e.message())).with_resource(name)
}

fn bad(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("resource {name:?}: {msg}")).with_resource(name)
}

impl Blueprint {
    /// An empty blueprint.
    pub fn new(name: impl Into<String>) -> Self {
        Blueprint {
            name: name.into(),
            variables: BTreeMap::new(),
            resources: BTreeMap::new(),
            templates: None,
            ghosts: BTreeMap::new(),
        }
    }
    /// Gives the blueprint the file templates its `{ $template: ... }` parameters name.
    pub fn with_templates(mut self, templates: TemplateSet) -> Self {
        self.templates = Some(BlueprintTemplates(std::sync::Arc::new(templates)));
        self
    }
    /// Declares a tenant variable.
    pub fn variable(mut self, name: impl Into<String>, var: Variable) -> Self {
        self.variables.insert(name.into(), var);
        self
    }
    /// Adds (or replaces) a resource.
    pub fn resource(mut self, name: impl Into<String>, spec: ResourceSpec) -> Self {
        self.resources.insert(name.into(), spec);
        self
    }
}
