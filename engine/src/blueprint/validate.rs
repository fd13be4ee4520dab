//! Load-time checks: [`Blueprint::validate`], resource names, and the dependency [`Graph`].

use super::{Blueprint, ResourceSpec, bad, in_resource};
use crate::resource::Registry;
use crate::template::{Reference, Template, walk_strings};
use provisio::{Error, Result};
use std::collections::{BTreeMap, BTreeSet};

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

impl Blueprint {
    /// The resources `resource`'s parameters reference (not including `depends_on`).
    pub(super) fn references(spec: &ResourceSpec) -> Vec<(String, Reference)> {
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
    ///
    /// A blueprint with lifecycle declarations (see [`crate::lifecycle`]) has them checked and
    /// every phase's view validated too; the graph returned is the one of its `launched` view
    /// ([`Blueprint::in_phase`]), which is what apply runs.
    pub fn validate(&self, registry: &Registry) -> Result<Graph> {
        if self.has_lifecycle() {
            // the blueprint as apply runs it first: its errors name the resource's own fields
            let graph = self
                .in_phase(crate::lifecycle::Phase::Launched)
                .validate(registry)?;
            self.check_lifecycle(registry)?;
            return Ok(graph);
        }
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
                        let target_type =
                            match (self.resources.get(resource), self.ghosts.get(resource)) {
                                (Some(t), _) => &t.resource_type,
                                (None, Some(t)) => t,
                                (None, None) => {
                                    return Err(bad(
                                        name,
                                        format!(
                                            "{path}: {r} refers to unknown resource {resource:?}"
                                        ),
                                    ));
                                }
                            };
                        if let Some(tt) = registry.get(target_type) {
                            let outs = tt.outputs();
                            if !outs.contains(&key.as_str()) {
                                return Err(bad(
                                    name,
                                    format!(
                                        "{path}: {r} refers to unknown output {key:?} of resource {resource:?} ({} outputs: {})",
                                        target_type,
                                        outs.join(", ")
                                    ),
                                ));
                            }
                        }
                        // an absent resource of a phase's view is not a step: its recorded
                        // outputs are read instead
                        if !self.ghosts.contains_key(resource) {
                            mine.insert(resource.clone());
                        }
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
