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

use crate::render::BlueprintTemplates;
use crate::resource::{Registry, Tenant};
use crate::retry::RetryPolicy;
use crate::template::{Reference, Template, map_strings, walk_strings};
use provisio::{Error, Result};
use provisio_loader::Limits;
use provisio_templates::TemplateSet;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
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
    /// A secret variable: handed in through [`Tenant::secrets`], never interpolated, read by
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
    /// The resource type name (`dns.record`), looked up in the [`Registry`].
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
}

/// The dependency graph of a validated blueprint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    deps: BTreeMap<String, BTreeSet<String>>,
    order: Vec<String>,
}

impl Graph {
    /// What `resource` depends on (references and `depends_on`).
    pub fn dependencies(&self, resource: &str) -> &BTreeSet<String> {
        static EMPTY: BTreeSet<String> = BTreeSet::new();
        self.deps.get(resource).unwrap_or(&EMPTY)
    }
    /// What depends directly on `resource`.
    pub fn dependents(&self, resource: &str) -> Vec<String> {
        self.deps
            .iter()
            .filter(|(_, d)| d.contains(resource))
            .map(|(n, _)| n.clone())
            .collect()
    }
    /// Every resource in a dependency order (dependencies first; ties by name).
    pub fn order(&self) -> &[String] {
        &self.order
    }
}

/// Checks a blueprint resource name: `[a-z][a-z0-9_]{0,62}`, not `tenant`.
///
/// ```
/// use provisio_engine::blueprint::resource_name;
/// assert!(resource_name("web_1").is_ok());
/// assert!(resource_name("Web").is_err());
/// assert!(resource_name("tenant").is_err());
/// ```
pub fn resource_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::invalid_field(
            "resource name",
            format!("{name:?} must match [a-z][a-z0-9_]{{0,62}}"),
        )
        .with_resource(name));
    }
    if name == "tenant" {
        return Err(Error::invalid_field(
            "resource name",
            "\"tenant\" is reserved for ${tenant.*} references",
        )
        .with_resource(name));
    }
    Ok(())
}

fn in_resource(name: &str, e: Error) -> Error {
    Error::invalid_input(format!("resource {name:?}: {}", e.message())).with_resource(name)
}

/// A refusal of a resource's parameters (by its type, or by the template check):
/// `resources.<name>.params.<path>: <rule>` when the error names a parameter path
/// ([`Error::invalid_field`]: `invalid ttl: ...`, `invalid params.files.vars: ...`), else like
/// [`in_resource`].
fn in_params(name: &str, e: Error) -> Error {
    match crate::types::params::split_field(e.message()) {
        Some((path, rule)) if e.kind() == &provisio::ErrorKind::InvalidInput => {
            // the type names a field inside its parameters; the template check names
            // `params.<path>`
            let path = match path.strip_prefix("params") {
                Some(rest) if rest.is_empty() || rest.starts_with(['.', '[']) => rest.to_string(),
                _ => format!(".{path}"),
            };
            Error::invalid_input(format!("resources.{name}.params{path}: {rule}"))
                .with_resource(name)
        }
        _ => in_resource(name, e),
    }
}

fn bad(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("resource {name:?}: {msg}")).with_resource(name)
}

/// Parses blueprint text; errors name `<blueprint>` with the line, column and field.
fn parse_text(text: &str, format: Format) -> Result<Blueprint> {
    provisio_loader::parse_str(text, format, "<blueprint>", &Limits::default())
}

impl Blueprint {
    /// An empty blueprint.
    pub fn new(name: impl Into<String>) -> Self {
        Blueprint {
            name: name.into(),
            variables: BTreeMap::new(),
            resources: BTreeMap::new(),
            templates: None,
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

    /// Parses a YAML document (no validation beyond the document's shape), held to the
    /// default [`Limits`] (size, nesting depth, alias expansion). Errors are `InvalidInput`
    /// naming the line, column and field:
    ///
    /// ```
    /// let e = provisio_engine::Blueprint::from_yaml(
    ///     "name: x\nresources:\n  web:\n    type: compute.instance\n    timeout_secs: soon\n",
    /// )
    /// .unwrap_err();
    /// assert_eq!(
    ///     e.message(),
    ///     "<blueprint>:5:19: resources.web.timeout_secs: invalid value, expected u64"
    /// );
    /// ```
    pub fn from_yaml(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Yaml)
    }
    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Toml)
    }
    /// Parses a JSON document.
    pub fn from_json(text: &str) -> Result<Blueprint> {
        parse_text(text, Format::Json)
    }
    /// Parses a document of the given format.
    pub fn parse(text: &str, format: Format) -> Result<Blueprint> {
        parse_text(text, format)
    }
    /// Reads a file, choosing the format by extension (by content when the file has none),
    /// within the default [`Limits`]. Errors name the file, line, column and field:
    /// `blueprint.yaml:12:7: resources.dns_prod.params: invalid type: ...`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Blueprint> {
        provisio_loader::load_file(path, &Limits::default())
    }

    /// Loads a blueprint from a file, or from a directory holding `blueprint.yaml` (or `.yml`,
    /// `.toml`, `.json`), together with the `templates/` directory beside the file, if any.
    ///
    /// ```no_run
    /// let bp = provisio_engine::Blueprint::load("examples/launch-tenant")?;
    /// assert!(bp.templates.is_some());
    /// # Ok::<(), provisio::Error>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Blueprint> {
        let path = path.as_ref();
        let file = if path.is_dir() {
            [
                "blueprint.yaml",
                "blueprint.yml",
                "blueprint.toml",
                "blueprint.json",
            ]
            .iter()
            .map(|f| path.join(f))
            .find(|f| f.is_file())
            .ok_or_else(|| {
                Error::not_found(format!(
                    "no blueprint.yaml, .yml, .toml or .json in {}",
                    path.display()
                ))
            })?
        } else if path.exists() {
            path.to_path_buf()
        } else {
            return Err(Error::not_found(format!(
                "blueprint {} does not exist",
                path.display()
            )));
        };
        let mut bp = Self::from_file(&file)?;
        let dir = file
            .parent()
            .map(|d| d.join("templates"))
            .filter(|d| d.is_dir());
        if let Some(dir) = dir {
            bp = bp.with_templates(TemplateSet::load(&dir)?);
        }
        Ok(bp)
    }

    /// The resources `resource`'s parameters reference (not including `depends_on`).
    fn references(spec: &ResourceSpec) -> Vec<(String, Reference)> {
        let mut out = Vec::new();
        walk_strings(&spec.params, "params", &mut |path, s| {
            if let Ok(t) = Template::parse(s) {
                for r in t.references() {
                    out.push((path.to_string(), r.clone()));
                }
            }
        });
        out
    }

    /// Checks the blueprint against the registry and returns its dependency graph.
    ///
    /// Every failure is `InvalidInput` and names the resource and the field; a parameter the
    /// resource's type refuses reads `resources.<name>.params.<path>: <rule>`.
    pub fn validate(&self, registry: &Registry) -> Result<Graph> {
        let bp_ok = !self.name.is_empty()
            && self.name.len() <= 63
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !bp_ok {
            return Err(Error::invalid_field(
                "blueprint name",
                format!(
                    "{:?} must be 1 to 63 letters, digits, '-' or '_'",
                    self.name
                ),
            ));
        }
        for (name, var) in &self.variables {
            let mut chars = name.chars();
            let ok = matches!(chars.next(), Some('a'..='z' | 'A'..='Z' | '_'))
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok || name == "name" {
                return Err(Error::invalid_field(
                    "variable name",
                    format!(
                        "{name:?} must be an identifier other than \"name\" (${{tenant.name}} is the tenant's name)"
                    ),
                ));
            }
            if var.secret && var.default.is_some() {
                return Err(Error::invalid_field(
                    "variable",
                    format!(
                        "secret variable {name:?} cannot have a default (a secret never lives in a blueprint)"
                    ),
                ));
            }
        }

        let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, spec) in &self.resources {
            resource_name(name)?;
            let rt = registry.get(&spec.resource_type).ok_or_else(|| {
                let known: Vec<&str> = registry.names().collect();
                bad(
                    name,
                    format!(
                        "type: unknown resource type {:?} (known: {})",
                        spec.resource_type,
                        known.join(", ")
                    ),
                )
            })?;
            if spec.provider.is_empty() {
                return Err(bad(name, "provider: must not be empty"));
            }
            if let Some(r) = &spec.retry
                && r.max_attempts == 0
            {
                return Err(bad(name, "retry.max_attempts: must be at least 1"));
            }
            if spec.timeout_secs == Some(0) {
                return Err(bad(name, "timeout_secs: must be at least 1"));
            }
            // syntax of every reference first, so validate() sees well-formed templates
            let mut syntax: Result<()> = Ok(());
            walk_strings(&spec.params, "params", &mut |path, s| {
                if syntax.is_ok()
                    && let Err(e) = Template::parse(s)
                {
                    syntax = Err(bad(name, format!("{path}: {e}")));
                }
            });
            syntax?;
            let checked = crate::render::check(&spec.params, self.templates.as_ref())
                .map_err(|e| in_params(name, e))?;
            rt.validate(&checked).map_err(|e| in_params(name, e))?;

            let mut mine = BTreeSet::new();
            for (path, r) in Self::references(spec) {
                match &r {
                    Reference::TenantName => {}
                    Reference::TenantVar(v) => match self.variables.get(v) {
                        None => {
                            return Err(bad(
                                name,
                                format!(
                                    "{path}: {r} refers to undeclared tenant variable {v:?} (declare it under `variables:`)"
                                ),
                            ));
                        }
                        Some(var) if var.secret => {
                            return Err(bad(
                                name,
                                format!(
                                    "{path}: {r} refers to secret variable {v:?}; secrets are never interpolated (the resource type reads them with StepContext::secret_var)"
                                ),
                            ));
                        }
                        Some(_) => {}
                    },
                    Reference::Output { resource, key, .. } => {
                        let Some(target) = self.resources.get(resource) else {
                            return Err(bad(
                                name,
                                format!("{path}: {r} refers to unknown resource {resource:?}"),
                            ));
                        };
                        if let Some(tt) = registry.get(&target.resource_type) {
                            let outs = tt.outputs();
                            if !outs.contains(&key.as_str()) {
                                return Err(bad(
                                    name,
                                    format!(
                                        "{path}: {r} refers to unknown output {key:?} of resource {resource:?} ({} outputs: {})",
                                        target.resource_type,
                                        outs.join(", ")
                                    ),
                                ));
                            }
                        }
                        mine.insert(resource.clone());
                    }
                }
            }
            for d in &spec.depends_on {
                if !self.resources.contains_key(d) {
                    return Err(bad(
                        name,
                        format!("depends_on: names unknown resource {d:?}"),
                    ));
                }
                mine.insert(d.clone());
            }
            deps.insert(name.clone(), mine);
        }

        if let Some(cycle) = find_cycle(&deps) {
            return Err(
                Error::invalid_input(format!("dependency cycle: {}", cycle.join(" -> ")))
                    .with_resource(cycle[0].clone()),
            );
        }
        let order = topo_order(&deps);
        Ok(Graph { deps, order })
    }

    /// Checks that the tenant gives what the blueprint needs: a valid name, every required
    /// plain variable and every required secret variable.
    pub fn check_tenant(&self, tenant: &Tenant) -> Result<()> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        for (name, var) in &self.variables {
            if !var.is_required() {
                continue;
            }
            let given = if var.secret {
                tenant.secrets.contains_key(name)
            } else {
                tenant.vars.contains_key(name)
            };
            if !given {
                return Err(Error::invalid_field(
                    "tenant",
                    format!(
                        "tenant {:?} has no value for required {}variable {name:?}",
                        tenant.name,
                        if var.secret { "secret " } else { "" }
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The value of a plain tenant variable: the tenant's, else the default, else `null`.
    pub fn variable_value(&self, tenant: &Tenant, key: &str) -> Value {
        tenant
            .vars
            .get(key)
            .cloned()
            .or_else(|| self.variables.get(key).and_then(|v| v.default.clone()))
            .unwrap_or(Value::Null)
    }

    /// Resolves `resource`'s parameters. `outputs` holds the outputs of the upstream
    /// resources that are known; a reference to one that is not known renders as
    /// [`crate::template::KNOWN_AFTER_APPLY`]. A reference to a known resource whose outputs
    /// lack the key is an `InvalidInput` error.
    pub fn resolve(
        &self,
        resource: &str,
        tenant: &Tenant,
        outputs: &BTreeMap<String, Value>,
    ) -> Result<Value> {
        let spec = self
            .resources
            .get(resource)
            .ok_or_else(|| Error::invalid_input(format!("no resource named {resource:?}")))?;
        let resolved = map_strings(&spec.params, "params", &mut |path, s| {
            let t = Template::parse(s).map_err(|e| bad(resource, format!("{path}: {e}")))?;
            if t.is_literal() {
                // keep escapes resolved ("$${" -> "${")
                return t.render::<Error>(|_| Ok(None));
            }
            t.render(|r| match r {
                Reference::TenantName => Ok(Some(Value::String(tenant.name.clone()))),
                Reference::TenantVar(v) => Ok(Some(self.variable_value(tenant, v))),
                Reference::Output {
                    resource: up,
                    key,
                    path: sub,
                } => {
                    let Some(outs) = outputs.get(up) else {
                        return Ok(None);
                    };
                    let mut cur = outs.get(key).ok_or_else(|| {
                        bad(
                            resource,
                            format!("{path}: {r}: resource {up:?} has no output {key:?}"),
                        )
                    })?;
                    for k in sub {
                        cur = cur.get(k).ok_or_else(|| {
                            bad(
                                resource,
                                format!("{path}: {r}: output {key:?} of {up:?} has no key {k:?}"),
                            )
                        })?;
                    }
                    Ok(Some(cur.clone()))
                }
            })
        })?;
        if self.templates.is_none() && crate::render::check(&resolved, None).is_ok() {
            return Ok(resolved);
        }
        let plain = self
            .variables
            .iter()
            .filter(|(_, v)| !v.secret)
            .map(|(k, _)| (k.clone(), self.variable_value(tenant, k)));
        let context = crate::render::tenant_context(tenant, plain);
        crate::render::render(&resolved, self.templates.as_ref(), &context)
            .map_err(|e| in_resource(resource, e))
    }
}

/// A cycle in `deps` as `[a, b, ..., a]`, or `None`.
fn find_cycle(deps: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit(
        n: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(n.to_string(), Mark::Active);
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            match marks.get(d).copied().unwrap_or(Mark::New) {
                Mark::Active => {
                    let start = stack.iter().position(|s| s == d).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(d.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(d, deps, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(n.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for n in deps.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, deps, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

/// Kahn's algorithm; ties broken by name. Nodes in a cycle are left out (callers check first).
pub(crate) fn topo_order(deps: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut remaining: BTreeMap<&str, usize> = deps
        .iter()
        .map(|(n, d)| {
            (
                n.as_str(),
                d.iter().filter(|x| deps.contains_key(*x)).count(),
            )
        })
        .collect();
    let mut ready: BTreeSet<&str> = remaining
        .iter()
        .filter(|(_, c)| **c == 0)
        .map(|(n, _)| *n)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop_first() {
        remaining.remove(n);
        order.push(n.to_string());
        for (m, d) in deps {
            if d.contains(n)
                && let Some(c) = remaining.get_mut(m.as_str())
            {
                *c -= 1;
                if *c == 0 {
                    ready.insert(m.as_str());
                }
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{registry, tenant};
    use serde_json::json;

    const YAML: &str = r#"
name: launch-tenant
variables:
  domain: { default: example.com }
  smtp_password: { secret: true }
resources:
  web:
    type: test.server
    provider: default
    params: { name: "${tenant.name}-web", size: small }
    depends_on: []
    protect: false
    retry: { max_attempts: 5, initial_backoff_ms: 100, max_backoff_ms: 5000 }
    timeout_secs: 600
  www:
    type: test.record
    params: { zone: "${tenant.domain}", name: "${tenant.name}.${tenant.domain}", content: "${web.public_ip}" }
"#;

    const TOML: &str = r#"
name = "launch-tenant"
[variables.domain]
default = "example.com"
[variables.smtp_password]
secret = true
[resources.web]
type = "test.server"
provider = "default"
params = { name = "${tenant.name}-web", size = "small" }
depends_on = []
protect = false
retry = { max_attempts = 5, initial_backoff_ms = 100, max_backoff_ms = 5000 }
timeout_secs = 600
[resources.www]
type = "test.record"
params = { zone = "${tenant.domain}", name = "${tenant.name}.${tenant.domain}", content = "${web.public_ip}" }
"#;

    const JSON: &str = r#"{
  "name": "launch-tenant",
  "variables": {"domain": {"default": "example.com"}, "smtp_password": {"secret": true}},
  "resources": {
    "web": {"type": "test.server", "provider": "default",
            "params": {"name": "${tenant.name}-web", "size": "small"},
            "depends_on": [], "protect": false,
            "retry": {"max_attempts": 5, "initial_backoff_ms": 100, "max_backoff_ms": 5000},
            "timeout_secs": 600},
    "www": {"type": "test.record",
            "params": {"zone": "${tenant.domain}", "name": "${tenant.name}.${tenant.domain}", "content": "${web.public_ip}"}}
  }
}"#;

    fn built() -> Blueprint {
        Blueprint::new("launch-tenant")
            .variable("domain", Variable::with_default("example.com"))
            .variable("smtp_password", Variable::secret())
            .resource(
                "web",
                ResourceSpec::new("test.server")
                    .param("name", "${tenant.name}-web")
                    .param("size", "small")
                    .retry(RetryPolicy::default())
                    .timeout(Duration::from_secs(600)),
            )
            .resource(
                "www",
                ResourceSpec::new("test.record").params(json!({
                    "zone": "${tenant.domain}",
                    "name": "${tenant.name}.${tenant.domain}",
                    "content": "${web.public_ip}"
                })),
            )
    }

    #[test]
    fn three_formats_and_builder_agree() {
        let y = Blueprint::from_yaml(YAML).unwrap();
        let t = Blueprint::from_toml(TOML).unwrap();
        let j = Blueprint::from_json(JSON).unwrap();
        assert_eq!(y, t);
        assert_eq!(y, j);
        assert_eq!(y, built());
        let g = y.validate(&registry()).unwrap();
        assert_eq!(g.order(), ["web", "www"]);
        assert!(g.dependencies("www").contains("web"));
        assert_eq!(g.dependents("web"), vec!["www".to_string()]);
        // round trip through each format's serializer
        let back = Blueprint::from_yaml(&serde_saphyr::to_string(&y).unwrap()).unwrap();
        assert_eq!(back, y);
        let back = Blueprint::from_toml(&toml::to_string(&y).unwrap()).unwrap();
        assert_eq!(back, y);
    }

    #[test]
    fn format_by_extension_and_shape_errors() {
        assert_eq!(Format::from_path(Path::new("a.yml")), Some(Format::Yaml));
        assert_eq!(Format::from_path(Path::new("a.TOML")), Some(Format::Toml));
        assert_eq!(Format::from_path(Path::new("a.txt")), None);
        let e =
            Blueprint::from_yaml("name: x\nresources:\n  a: {type: t, colour: red}\n").unwrap_err();
        assert!(
            e.message()
                .starts_with("<blueprint>:3:16: resources.a.colour: unknown field `colour`"),
            "{e}"
        );
        assert!(Blueprint::from_json("{").is_err());
        assert!(Blueprint::from_toml("name = ").is_err());
    }

    fn rejected(bp: Blueprint) -> String {
        let e = bp.validate(&registry()).unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
        e.message().to_string()
    }

    #[test]
    fn load_time_rejections() {
        // cycle, named
        let m = rejected(
            Blueprint::new("b")
                .resource(
                    "a",
                    ResourceSpec::new("test.server").param("name", "${c.public_ip}"),
                )
                .resource(
                    "b",
                    ResourceSpec::new("test.server")
                        .param("name", "x")
                        .depends_on("a"),
                )
                .resource(
                    "c",
                    ResourceSpec::new("test.server").param("name", "${b.id}"),
                ),
        );
        assert_eq!(m, "dependency cycle: a -> c -> b -> a");
        let m = rejected(Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.server").param("name", "${a.id}"),
        ));
        assert_eq!(m, "dependency cycle: a -> a");

        // unknown resource
        let m = rejected(
            Blueprint::new("b").resource(
                "a",
                ResourceSpec::new("test.record")
                    .param("content", "${wbe.public_ip}")
                    .param("name", "x"),
            ),
        );
        assert_eq!(
            m,
            "resource \"a\": params.content: ${wbe.public_ip} refers to unknown resource \"wbe\""
        );

        // unknown output
        let m = rejected(
            built().resource(
                "www",
                ResourceSpec::new("test.record")
                    .param("name", "x")
                    .param("content", "${web.ip}"),
            ),
        );
        assert!(m.starts_with("resource \"www\": params.content: ${web.ip} refers to unknown output \"ip\" of resource \"web\" (test.server outputs: id, public_ip"), "{m}");

        // undeclared tenant variable
        let m = rejected(built().resource(
            "www",
            ResourceSpec::new("test.record").param("name", "${tenant.domian}"),
        ));
        assert!(m.starts_with("resource \"www\": params.name: ${tenant.domian} refers to undeclared tenant variable \"domian\""), "{m}");

        // secret variable interpolated
        let m = rejected(
            built().resource(
                "www",
                ResourceSpec::new("test.record")
                    .param("name", "x")
                    .param("content", "pw=${tenant.smtp_password}"),
            ),
        );
        assert!(m.contains("params.content: ${tenant.smtp_password} refers to secret variable \"smtp_password\"; secrets are never interpolated"), "{m}");

        // unknown type
        let m = rejected(Blueprint::new("b").resource("a", ResourceSpec::new("test.nope")));
        assert!(
            m.starts_with("resource \"a\": type: unknown resource type \"test.nope\" (known: "),
            "{m}"
        );

        // bad params (ResourceType::validate)
        let m = rejected(
            Blueprint::new("b")
                .resource("a", ResourceSpec::new("test.server").param("size", "small")),
        );
        assert_eq!(m, "resources.a.params.name: is required");

        // bad names
        let m = rejected(
            Blueprint::new("b")
                .resource("Web", ResourceSpec::new("test.server").param("name", "x")),
        );
        assert!(m.contains("\"Web\" must match [a-z][a-z0-9_]{0,62}"), "{m}");
        let long = "a".repeat(64);
        let m = rejected(
            Blueprint::new("b").resource(long, ResourceSpec::new("test.server").param("name", "x")),
        );
        assert!(m.contains("must match"), "{m}");
        assert!(
            rejected(Blueprint::new("b").resource(
                "tenant",
                ResourceSpec::new("test.server").param("name", "x")
            ))
            .contains("reserved")
        );
        assert!(rejected(Blueprint::new("")).contains("blueprint name"));

        // unknown depends_on
        let m = rejected(
            Blueprint::new("b").resource(
                "a",
                ResourceSpec::new("test.server")
                    .param("name", "x")
                    .depends_on("zz"),
            ),
        );
        assert_eq!(
            m,
            "resource \"a\": depends_on: names unknown resource \"zz\""
        );

        // malformed reference
        let m = rejected(Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.server").param("name", "${oops"),
        ));
        assert!(
            m.starts_with("resource \"a\": params.name: unterminated reference"),
            "{m}"
        );

        // secret default, reserved variable name
        assert!(
            rejected(Blueprint::new("b").variable(
                "pw",
                Variable {
                    secret: true,
                    default: Some(json!("x")),
                    ..Default::default()
                }
            ))
            .contains("cannot have a default")
        );
        assert!(
            rejected(Blueprint::new("b").variable("name", Variable::optional()))
                .contains("variable name")
        );

        // retry and timeout sanity
        let m = rejected(
            Blueprint::new("b").resource(
                "a",
                ResourceSpec::new("test.server")
                    .param("name", "x")
                    .retry(RetryPolicy {
                        max_attempts: 0,
                        ..Default::default()
                    }),
            ),
        );
        assert!(m.contains("retry.max_attempts"), "{m}");
    }

    #[test]
    fn resolves_and_checks_tenant() {
        let bp = built();
        let t = tenant("acme").secret("smtp_password", "pw");
        bp.check_tenant(&t).unwrap();
        let e = bp.check_tenant(&tenant("acme")).unwrap_err();
        assert!(
            e.message()
                .contains("required secret variable \"smtp_password\""),
            "{e}"
        );
        assert!(bp.check_tenant(&tenant("Not A Name")).is_err());

        let mut outs = BTreeMap::new();
        let p = bp.resolve("www", &t, &outs).unwrap();
        assert_eq!(
            p,
            json!({"zone": "example.com", "name": "acme.example.com", "content": crate::template::KNOWN_AFTER_APPLY})
        );
        outs.insert(
            "web".to_string(),
            json!({"id": "i-1", "public_ip": "10.0.0.9"}),
        );
        let t2 = t.clone().var("domain", "corp.test");
        let p = bp.resolve("www", &t2, &outs).unwrap();
        assert_eq!(
            p,
            json!({"zone": "corp.test", "name": "acme.corp.test", "content": "10.0.0.9"})
        );
        // a known upstream missing the key is an error
        outs.insert("web".to_string(), json!({"id": "i-1"}));
        let e = bp.resolve("www", &t, &outs).unwrap_err();
        assert!(e.message().contains("has no output \"public_ip\""), "{e}");
        // escapes
        let bp = Blueprint::new("b").resource(
            "a",
            ResourceSpec::new("test.server").param("name", "$${literal}"),
        );
        assert_eq!(
            bp.resolve("a", &t, &BTreeMap::new()).unwrap()["name"],
            "${literal}"
        );
    }

    /// A built-in type's parameter refusal names the resource and the exact field path.
    #[test]
    fn parameter_errors_name_the_field_path() {
        let registry = crate::types::builtin();
        let check = |params: &str| -> String {
            let text = format!(
                "name: b\nvariables: {{ ttl: {{ default: 300 }} }}\nresources:\n  dns_prod:\n    type: dns.record\n    params: {params}\n"
            );
            match Blueprint::from_yaml(&text).unwrap().validate(&registry) {
                Ok(_) => "ok".to_string(),
                Err(e) => {
                    assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
                    assert_eq!(e.resource(), Some("dns_prod"), "{e}");
                    e.message().to_string()
                }
            }
        };
        let base = "zone: example.com, name: www, type: A, content: 192.0.2.1";
        assert_eq!(check(&format!("{{ {base}, ttl: 300 }}")), "ok");
        // a reference where an integer belongs is checked once resolved
        assert_eq!(
            check(&format!("{{ {base}, ttl: \"${{tenant.ttl}}\" }}")),
            "ok"
        );
        assert_eq!(
            check(&format!("{{ {base}, ttl: abc }}")),
            "resources.dns_prod.params.ttl: expected an integer, found \"abc\""
        );
        assert_eq!(
            check(&format!("{{ {base}, ttl: 0 }}")),
            "resources.dns_prod.params.ttl: must be from 1 to 4294967295, got 0"
        );
        assert_eq!(
            check(&format!("{{ {base}, proxied: [true] }}")),
            "resources.dns_prod.params.proxied: expected true or false, found a list"
        );
        assert_eq!(
            check("{ zone: example.com, name: www, type: A }"),
            "resources.dns_prod.params.content: is required"
        );
        assert!(
            check(&format!("{{ {base}, colour: red }}")).starts_with(
                "resources.dns_prod.params.colour: unknown field \"colour\" (expected one of: zone, name, type, content,"
            )
        );
        assert_eq!(
            check("[1, 2]"),
            "resources.dns_prod.params: dns.record takes an object of parameters, found a list"
        );
        // a name rule of the second pass
        assert!(
            check("{ zone: example.com, name: \"a b\", type: A, content: 192.0.2.1 }")
                .starts_with("resources.dns_prod.params.name: "),
        );
        // a refusal that names no parameter keeps the resource prefix
        assert!(
            check("{ zone: example.com, name: www, type: A, content: nope }")
                .starts_with("resource \"dns_prod\": invalid record content: "),
        );

        // nested objects and map entries
        let assets = |params: &str| {
            let bp = Blueprint::from_yaml(&format!(
                "name: b\nresources:\n  assets:\n    type: storage.objects\n    params: {params}\n"
            ))
            .unwrap();
            bp.validate(&registry).unwrap_err().message().to_string()
        };
        assert_eq!(
            assets("{ bucket: shared-assets, prefix: t/, copy_from: { prefix: initial/ } }"),
            "resources.assets.params.copy_from.bucket: is required"
        );
        assert_eq!(
            assets(
                "{ bucket: shared-assets, prefix: t/, copy_from: { bucket: b, prefix: p/, x: 1 } }"
            ),
            "resources.assets.params.copy_from.x: unknown field \"x\" (expected one of: bucket, prefix)"
        );
        assert_eq!(
            assets("{ bucket: shared-assets, prefix: t/, files: { \"conf/app.yml\": [1] } }"),
            "resources.assets.params.files[\"conf/app.yml\"]: expected a string, found a list"
        );
    }
}
