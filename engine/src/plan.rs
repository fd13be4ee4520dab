//! Plans: what an apply would do, resource by resource, with a readable diff. Planning makes
//! no changes.
//!
//! Each blueprint resource is compared with its [`ResourceRecord`] in the state store (and,
//! when asked, with what [`ResourceType::read`] reports now): no record means `create`; a
//! change of type, provider or a [`ResourceType::replace_fields`] field means `replace`; any
//! other parameter change means `update`; else `no_op`. Records of resources no longer in the
//! blueprint are `delete`d. Parameters that depend on outputs of resources not created yet
//! show [`KNOWN_AFTER_APPLY`].

use crate::blueprint::{Blueprint, Graph, ResourceSpec, topo_order};
use crate::providers::{Capability, Providers};
use crate::resource::{Registry, ResourceType, StepContext, Tenant};
use crate::state::{ResourceRecord, StateStore, records_by_name};
use crate::template::KNOWN_AFTER_APPLY;
use provisio::{Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// What a step does to a resource.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a resource that is not in state.
    Create,
    /// Change a resource in place.
    Update,
    /// Delete and re-create a resource (a replace-only field changed).
    Replace,
    /// Nothing to do.
    NoOp,
    /// Delete a resource (no longer in the blueprint, or destroy).
    Delete,
    /// Resolve an in-doubt intent of a crashed run (read and adopt, or re-run a delete).
    Adopt,
    /// Read a resource to compare it with state (refresh).
    Read,
}

impl Action {
    /// The name used in journals and output (`create`, `no_op`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::NoOp => "no_op",
            Action::Delete => "delete",
            Action::Adopt => "adopt",
            Action::Read => "read",
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::NoOp => "=",
            Action::Delete => "-",
            Action::Adopt => "?",
            Action::Read => "<=",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One changed field: its path (`content`, `tags.env`) and the JSON before and after
/// (`None`: absent).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FieldDiff {
    /// The field's path.
    pub field: String,
    /// The value in state (or as read).
    pub before: Option<Value>,
    /// The wanted value.
    pub after: Option<Value>,
}

/// The differences between two JSON values, object keys recursed into, arrays compared whole.
///
/// ```
/// use provisio_engine::plan::diff_values;
/// use serde_json::json;
/// let d = diff_values(&json!({"a": 1, "t": {"x": "1"}}), &json!({"a": 2, "t": {"x": "1", "y": "2"}}));
/// assert_eq!(d.iter().map(|d| d.field.as_str()).collect::<Vec<_>>(), ["a", "t.y"]);
/// ```
pub fn diff_values(before: &Value, after: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    diff_into("", Some(before), Some(after), &mut out);
    out
}

fn diff_into(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<FieldDiff>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_into(&p, b.get(k), a.get(k), out);
            }
        }
        (b, a) if b == a => {}
        (b, a) => out.push(FieldDiff {
            field: if path.is_empty() {
                "(value)".into()
            } else {
                path.to_string()
            },
            before: b.cloned(),
            after: a.cloned(),
        }),
    }
}

/// The action for one resource given its record and its resolved parameters, with the diff
/// and the fields that force a replace.
pub(crate) fn decide(
    rt: &dyn ResourceType,
    spec: &ResourceSpec,
    record: Option<&ResourceRecord>,
    desired: &Value,
) -> (Action, Vec<FieldDiff>, Vec<String>) {
    let Some(rec) = record else {
        return (
            Action::Create,
            diff_values(&Value::Object(Default::default()), desired),
            vec![],
        );
    };
    let diff = diff_values(&rec.params, desired);
    let mut reasons = Vec::new();
    if rec.resource_type != spec.resource_type {
        reasons.push("type".to_string());
    }
    if rec.provider != spec.provider {
        reasons.push("provider".to_string());
    }
    for d in &diff {
        let top = d.field.split('.').next().unwrap_or_default();
        if rt.replace_fields().contains(&top) && !reasons.iter().any(|r| r == top) {
            reasons.push(top.to_string());
        }
    }
    let action = if !reasons.is_empty() {
        Action::Replace
    } else if diff.is_empty() {
        Action::NoOp
    } else {
        Action::Update
    };
    (action, diff, reasons)
}

/// What a refresh found, given the recorded outputs and those read now: a change of an output
/// that is not volatile for the type ([`ResourceType::volatile_outputs`]) is drift.
pub(crate) fn drift_of(rt: &dyn ResourceType, recorded: &Value, read: &Value) -> Drift {
    let volatile = rt.volatile_outputs();
    let diff: Vec<FieldDiff> = diff_values(recorded, read)
        .into_iter()
        .filter(|d| !volatile.contains(&d.field.split('.').next().unwrap_or_default()))
        .collect();
    if diff.is_empty() {
        Drift::InSync
    } else {
        Drift::Changed { diff }
    }
}

/// What a refresh found about one resource.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Drift {
    /// The resource matches state.
    InSync,
    /// The resource exists with other outputs than recorded.
    Changed {
        /// Recorded outputs -> outputs read now.
        diff: Vec<FieldDiff>,
    },
    /// The resource is gone.
    Missing,
}

/// The plan of one resource.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PlannedResource {
    /// The resource's name.
    pub name: String,
    /// Its type.
    pub resource_type: String,
    /// Its provider name.
    pub provider: String,
    /// What apply would do.
    pub action: Action,
    /// Parameter changes (state -> wanted).
    pub diff: Vec<FieldDiff>,
    /// For `replace`: what forces it (`type`, `provider`, or a replace-only field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace_because: Vec<String>,
    /// The resolved parameters (with [`KNOWN_AFTER_APPLY`] where not known); `null` for deletes.
    pub params: Value,
    /// What the resource depends on.
    pub depends_on: Vec<String>,
    /// Whether it is protected.
    pub protect: bool,
    /// Why apply would refuse this step (a protected resource to delete or replace without an
    /// override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// What a refresh found (only when the plan refreshed and the resource was in state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// The outputs the refresh read (only when the plan refreshed and the resource exists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
}

/// A plan: every resource of the blueprint in dependency order, then the deletes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    /// The tenant.
    pub tenant: String,
    /// The blueprint's name.
    pub blueprint: String,
    /// The resources.
    pub resources: Vec<PlannedResource>,
}

/// How many resources get each action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanCounts {
    /// To create.
    pub create: usize,
    /// To update.
    pub update: usize,
    /// To replace.
    pub replace: usize,
    /// Unchanged.
    pub no_op: usize,
    /// To delete.
    pub delete: usize,
}

impl Plan {
    /// The planned resource called `name`.
    pub fn get(&self, name: &str) -> Option<&PlannedResource> {
        self.resources.iter().find(|r| r.name == name)
    }
    /// Counts per action.
    pub fn counts(&self) -> PlanCounts {
        let mut c = PlanCounts::default();
        for r in &self.resources {
            match r.action {
                Action::Create => c.create += 1,
                Action::Update => c.update += 1,
                Action::Replace => c.replace += 1,
                Action::Delete => c.delete += 1,
                _ => c.no_op += 1,
            }
        }
        c
    }
    /// Whether apply would change anything.
    pub fn has_changes(&self) -> bool {
        self.resources.iter().any(|r| r.action != Action::NoOp)
    }
    /// The steps apply would refuse.
    pub fn blocked(&self) -> impl Iterator<Item = &PlannedResource> {
        self.resources.iter().filter(|r| r.blocked.is_some())
    }
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) if s == KNOWN_AFTER_APPLY => s.clone(),
        Some(v) => v.to_string(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counts();
        writeln!(
            f,
            "Plan for tenant {:?} (blueprint {}): {} to create, {} to update, {} to replace, {} to delete, {} unchanged",
            self.tenant, self.blueprint, c.create, c.update, c.replace, c.delete, c.no_op
        )?;
        for r in &self.resources {
            write!(
                f,
                "  {} {} ({})",
                r.action.symbol(),
                r.name,
                r.resource_type
            )?;
            if !r.replace_because.is_empty() {
                write!(
                    f,
                    " [replace because {} changed]",
                    r.replace_because.join(", ")
                )?;
            }
            if r.protect {
                write!(f, " [protected]")?;
            }
            writeln!(f)?;
            if let Some(b) = &r.blocked {
                writeln!(f, "      ! {b}")?;
            }
            match &r.drift {
                Some(Drift::Missing) => writeln!(f, "      drift: deleted outside provisio")?,
                Some(Drift::Changed { diff }) => {
                    for d in diff {
                        writeln!(
                            f,
                            "      drift {}: {} -> {}",
                            d.field,
                            show(&d.before),
                            show(&d.after)
                        )?;
                    }
                }
                _ => {}
            }
            if r.action == Action::NoOp {
                continue;
            }
            for d in &r.diff {
                match r.action {
                    Action::Create => writeln!(f, "      {}: {}", d.field, show(&d.after))?,
                    _ => writeln!(
                        f,
                        "      {}: {} -> {}",
                        d.field,
                        show(&d.before),
                        show(&d.after)
                    )?,
                }
            }
        }
        Ok(())
    }
}

/// Options of [`plan`].
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Also ask each type what exists now ([`ResourceType::read`]) and report drift.
    pub refresh: bool,
    /// Protected resources the caller allows to be deleted or replaced.
    pub overrides: BTreeSet<String>,
}

/// Checks that every resource's provider is configured.
pub(crate) fn check_providers(
    bp: &Blueprint,
    registry: &Registry,
    providers: &Providers,
) -> Result<()> {
    for (name, spec) in &bp.resources {
        if let Some(rt) = registry.get(&spec.resource_type) {
            let cap = rt.capability();
            if cap != Capability::None && !providers.has(cap, &spec.provider) {
                return Err(Error::invalid_input(format!(
                    "resource {name:?}: provider: no {} provider named {:?} is configured",
                    cap.as_str(),
                    spec.provider
                ))
                .with_resource(name.clone()));
            }
        }
    }
    Ok(())
}

/// Checks one resource's resolved parameters ([`ResourceType::check`]); parameters that still
/// hold [`KNOWN_AFTER_APPLY`] get the load-time checks on what is known. The error names the
/// resource, its type, the field and the rule.
fn check_resolved(rt: &dyn ResourceType, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
    let checked = if crate::template::contains_unknown(params) {
        // unknown values look like unresolved references to the load-time checks
        let masked = crate::template::map_strings::<Error>(params, "", &mut |_, s| {
            Ok(Value::String(if s == KNOWN_AFTER_APPLY {
                "${known.after.apply}".to_string()
            } else {
                s.to_string()
            }))
        })?;
        rt.validate(&masked)
    } else {
        rt.check(ctx, params)
    };
    checked.map_err(|e| {
        e.context(format_args!("resource {:?} ({})", ctx.resource, rt.name()))
            .with_resource(ctx.resource)
    })
}

/// Deletion order of records: dependents first.
pub(crate) fn delete_order(records: &[&ResourceRecord]) -> Vec<String> {
    let names: BTreeSet<&str> = records.iter().map(|r| r.name.as_str()).collect();
    // X waits for every Y that depends on X
    let mut waits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        waits.entry(r.name.clone()).or_default();
        for d in &r.depends_on {
            if names.contains(d.as_str()) && d != &r.name {
                waits.entry(d.clone()).or_default().insert(r.name.clone());
            }
        }
    }
    let mut order = topo_order(&waits);
    // anything left in a (corrupt) cycle goes last, by name
    for r in records {
        if !order.contains(&r.name) {
            order.push(r.name.clone());
        }
    }
    order
}

pub(crate) fn protected_message(name: &str, what: &str) -> String {
    format!("resource {name:?} is protected; {what} it needs an override naming it")
}

/// Plans an apply of `blueprint` for `tenant`. Makes no changes.
pub async fn plan(
    registry: &Registry,
    providers: &Providers,
    store: &dyn StateStore,
    blueprint: &Blueprint,
    tenant: &Tenant,
    options: &PlanOptions,
) -> Result<Plan> {
    let graph = blueprint.validate(registry)?;
    blueprint.check_tenant(tenant)?;
    check_providers(blueprint, registry, providers)?;
    let records = records_by_name(store, &tenant.name).await?;
    let ghosts =
        crate::state::last_outputs(store, &tenant.name, blueprint, registry, &records).await?;
    plan_with(
        registry,
        providers,
        blueprint,
        &graph,
        tenant,
        Recorded {
            records: &records,
            ghosts: &ghosts,
        },
        options,
    )
    .await
}

/// What the state says a plan starts from: the tenant's records, and the last outputs of the
/// resources absent in the blueprint's phase (see [`crate::state::last_outputs`]).
pub(crate) struct Recorded<'a> {
    pub(crate) records: &'a BTreeMap<String, ResourceRecord>,
    pub(crate) ghosts: &'a BTreeMap<String, Value>,
}

pub(crate) async fn plan_with(
    registry: &Registry,
    providers: &Providers,
    blueprint: &Blueprint,
    graph: &Graph,
    tenant: &Tenant,
    recorded: Recorded<'_>,
    options: &PlanOptions,
) -> Result<Plan> {
    let Recorded { records, ghosts } = recorded;
    // a plan writes nothing; its contexts share one empty record of written secrets
    let written = crate::resource::WrittenSecrets::default();
    // in a phase's view, what is absent in the phase is referred to by its recorded outputs
    let mut known: BTreeMap<String, Value> = ghosts.clone();
    let mut resources = Vec::new();
    for name in graph.order() {
        let spec = &blueprint.resources[name];
        let rt = registry
            .get(&spec.resource_type)
            .ok_or_else(|| Error::invalid_input(format!("unknown type {}", spec.resource_type)))?;
        let mut record = records.get(name);
        let mut current_outputs = record.map(|r| r.outputs.clone());
        let mut drift = None;
        if options.refresh
            && let Some(rec) = record
        {
            let ctx = StepContext {
                tenant,
                blueprint: &blueprint.name,
                resource: name,
                provider: &rec.provider,
                providers,
                ownership: provisio::types::ownership::tags(&tenant.name, &blueprint.name, name),
                idempotency_token: "",
                written: &written,
                transition: None,
            };
            match rt.read(&ctx, &rec.params, Some(&rec.outputs)).await? {
                None => {
                    drift = Some(Drift::Missing);
                    record = None;
                    current_outputs = None;
                }
                Some(outs) => {
                    drift = Some(drift_of(rt.as_ref(), &rec.outputs, &outs));
                    current_outputs = Some(outs);
                }
            }
        }
        let desired = blueprint.resolve(name, tenant, &known)?;
        let provider = record
            .filter(|r| r.provider == spec.provider)
            .map(|r| r.provider.as_str())
            .unwrap_or(spec.provider.as_str());
        check_resolved(
            rt.as_ref(),
            &StepContext {
                tenant,
                blueprint: &blueprint.name,
                resource: name,
                provider,
                providers,
                ownership: provisio::types::ownership::tags(&tenant.name, &blueprint.name, name),
                idempotency_token: "",
                written: &written,
                transition: None,
            },
            &desired,
        )?;
        let (mut action, mut diff, replace_because) = decide(rt.as_ref(), spec, record, &desired);
        // drift is put back by the type's ensure
        if action == Action::NoOp && matches!(drift, Some(Drift::Changed { .. })) {
            action = Action::Update;
        }
        // protection is part of the plan: adding it changes nothing at the provider, removing
        // it needs the same override as deleting the resource
        let was_protected = record.is_some_and(|r| r.protect);
        if record.is_some() && was_protected != spec.protect {
            diff.push(FieldDiff {
                field: "protect".into(),
                before: Some(Value::Bool(was_protected)),
                after: Some(Value::Bool(spec.protect)),
            });
            if action == Action::NoOp {
                action = Action::Update;
            }
        }
        if matches!(action, Action::NoOp | Action::Update)
            && let Some(o) = &current_outputs
        {
            // an update may fill what is empty now (a stopped instance's address, once it is
            // started): those outputs are known after apply
            let o = match (action, o) {
                (Action::Update, Value::Object(m)) => Value::Object(
                    m.iter()
                        .map(|(k, v)| {
                            let v = if v.is_null() {
                                Value::String(KNOWN_AFTER_APPLY.into())
                            } else {
                                v.clone()
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                ),
                _ => o.clone(),
            };
            known.insert(name.clone(), o);
        }
        let protect = spec.protect || was_protected;
        let allowed = options.overrides.contains(name);
        let blocked = if action == Action::Replace && protect && !allowed {
            Some(protected_message(name, "replacing"))
        } else if was_protected && !spec.protect && !allowed {
            Some(protected_message(name, "removing the protection of"))
        } else {
            None
        };
        resources.push(PlannedResource {
            name: name.clone(),
            resource_type: spec.resource_type.clone(),
            provider: spec.provider.clone(),
            action,
            diff,
            replace_because,
            params: desired,
            depends_on: graph.dependencies(name).iter().cloned().collect(),
            protect,
            blocked,
            drift,
            outputs: current_outputs.filter(|_| options.refresh),
        });
    }
    let orphans: Vec<&ResourceRecord> = records
        .values()
        .filter(|r| !blueprint.resources.contains_key(&r.name))
        .collect();
    for name in delete_order(&orphans) {
        let rec = &records[&name];
        let blocked = (rec.protect && !options.overrides.contains(&name))
            .then(|| protected_message(&name, "deleting"));
        resources.push(PlannedResource {
            name: name.clone(),
            resource_type: rec.resource_type.clone(),
            provider: rec.provider.clone(),
            action: Action::Delete,
            diff: diff_values(&rec.params, &Value::Object(Default::default())),
            replace_because: vec![],
            params: Value::Null,
            depends_on: rec.depends_on.clone(),
            protect: rec.protect,
            blocked,
            drift: None,
            outputs: None,
        });
    }
    Ok(Plan {
        tenant: tenant.name.clone(),
        blueprint: blueprint.name.clone(),
        resources,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blueprint::ResourceSpec;
    use crate::test_support::{TestCloud, TestStore, registry_with};
    use serde_json::json;

    fn record(
        name: &str,
        ty: &str,
        params: Value,
        outputs: Value,
        deps: &[&str],
    ) -> ResourceRecord {
        ResourceRecord {
            tenant: "acme".into(),
            name: name.into(),
            resource_type: ty.into(),
            provider: "default".into(),
            identity: name.into(),
            params,
            outputs,
            protect: false,
            depends_on: deps.iter().map(|s| s.to_string()).collect(),
            updated_at_ms: 0,
        }
    }

    fn bp() -> Blueprint {
        Blueprint::new("b")
            .resource(
                "web",
                ResourceSpec::new("test.server")
                    .params(json!({"name": "${tenant.name}-web", "size": "small"})),
            )
            .resource(
                "www",
                ResourceSpec::new("test.record")
                    .params(json!({"name": "www", "zone": "z", "content": "${web.public_ip}"})),
            )
            .resource(
                "api",
                ResourceSpec::new("test.record")
                    .params(json!({"name": "api", "zone": "z", "port": "${web.port}"})),
            )
    }

    #[tokio::test]
    async fn fresh_tenant_creates_everything_with_unknowns() {
        let cloud = TestCloud::new();
        let store = TestStore::new();
        let p = plan(
            &registry_with(cloud.clone()),
            &Providers::new(),
            store.as_ref(),
            &bp(),
            &Tenant::new("acme"),
            &PlanOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(
            p.counts(),
            PlanCounts {
                create: 3,
                ..Default::default()
            }
        );
        let www = p.get("www").unwrap();
        assert_eq!(www.params["content"], KNOWN_AFTER_APPLY);
        assert_eq!(p.resources[0].name, "web");
        assert_eq!(p.get("web").unwrap().params["name"], "acme-web");
        let text = p.to_string();
        assert!(text.contains("+ www (test.record)"), "{text}");
        assert!(text.contains("content: (known after apply)"), "{text}");
        assert!(
            cloud.calls().is_empty(),
            "plan makes no calls without refresh"
        );
        serde_json::to_string(&p).unwrap();
    }

    #[tokio::test]
    async fn update_replace_noop_delete_and_diffs() {
        let cloud = TestCloud::new();
        let store = TestStore::new();
        let outs = json!({"id": "srv-1", "public_ip": "10.0.0.1", "size": "small", "port": 8080});
        store
            .put_resource(&record(
                "web",
                "test.server",
                json!({"name": "acme-web", "size": "large"}),
                outs,
                &[],
            ))
            .await
            .unwrap();
        store
            .put_resource(&record(
                "www",
                "test.record",
                json!({"name": "www", "zone": "z", "content": "10.0.0.1"}),
                json!({}),
                &["web"],
            ))
            .await
            .unwrap();
        store
            .put_resource(&record(
                "api",
                "test.record",
                json!({"name": "api", "zone": "z", "port": 80}),
                json!({}),
                &["web"],
            ))
            .await
            .unwrap();
        store
            .put_resource(&record(
                "old",
                "test.record",
                json!({"name": "old"}),
                json!({}),
                &[],
            ))
            .await
            .unwrap();
        let mut prot = record(
            "older",
            "test.record",
            json!({"name": "older"}),
            json!({}),
            &["old"],
        );
        prot.protect = true;
        store.put_resource(&prot).await.unwrap();

        let p = plan(
            &registry_with(cloud),
            &Providers::new(),
            store.as_ref(),
            &bp(),
            &Tenant::new("acme"),
            &PlanOptions::default(),
        )
        .await
        .unwrap();
        let web = p.get("web").unwrap();
        assert_eq!(web.action, Action::Replace);
        assert_eq!(web.replace_because, vec!["size"]);
        assert_eq!(
            web.diff,
            vec![FieldDiff {
                field: "size".into(),
                before: Some(json!("large")),
                after: Some(json!("small"))
            }]
        );
        // dependents of a replaced resource see unknown outputs
        let www = p.get("www").unwrap();
        assert_eq!(www.action, Action::Update);
        assert_eq!(www.diff[0].after, Some(json!(KNOWN_AFTER_APPLY)));
        // the other dependent changes type: 80 -> unknown
        assert_eq!(p.get("api").unwrap().action, Action::Update);
        // deletes come last, dependents first; protection shows as blocked
        let names: Vec<&str> = p.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["web", "api", "www", "older", "old"]);
        assert_eq!(p.get("old").unwrap().action, Action::Delete);
        assert!(
            p.get("older")
                .unwrap()
                .blocked
                .as_ref()
                .unwrap()
                .contains("protected")
        );
        assert_eq!(p.blocked().count(), 1);
        let text = p.to_string();
        assert!(
            text.contains("-/+ web (test.server) [replace because size changed]"),
            "{text}"
        );
        assert!(text.contains("size: \"large\" -> \"small\""), "{text}");
        assert!(text.contains("- old (test.record)"), "{text}");

        // with the size back to large everything known is a no-op
        let bp2 = bp().resource(
            "web",
            ResourceSpec::new("test.server")
                .params(json!({"name": "${tenant.name}-web", "size": "large"})),
        );
        let p = plan(
            &registry(),
            &Providers::new(),
            store.as_ref(),
            &bp2,
            &Tenant::new("acme"),
            &PlanOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(p.get("web").unwrap().action, Action::NoOp);
        assert_eq!(p.get("www").unwrap().action, Action::NoOp);
        let api = p.get("api").unwrap();
        assert_eq!(api.action, Action::Update);
        assert_eq!(
            api.diff,
            vec![FieldDiff {
                field: "port".into(),
                before: Some(json!(80)),
                after: Some(json!(8080))
            }]
        );
    }

    fn registry() -> Registry {
        registry_with(TestCloud::new())
    }

    #[tokio::test]
    async fn refresh_reports_drift_and_missing() {
        let cloud = TestCloud::new();
        let store = TestStore::new();
        cloud.objects.lock().unwrap().insert(
            "server:acme-web".into(),
            json!({"params": {}, "outputs": {"id": "srv-1", "public_ip": "10.9.9.9", "size": "small", "port": 8080}}),
        );
        store
            .put_resource(&record(
                "web",
                "test.server",
                json!({"name": "acme-web", "size": "small"}),
                json!({"id": "srv-1", "public_ip": "10.0.0.1", "size": "small", "port": 8080}),
                &[],
            ))
            .await
            .unwrap();
        store
            .put_resource(&record(
                "www",
                "test.record",
                json!({"name": "www", "zone": "z", "content": "10.0.0.1"}),
                json!({}),
                &["web"],
            ))
            .await
            .unwrap();
        let opts = PlanOptions {
            refresh: true,
            ..Default::default()
        };
        let p = plan(
            &registry_with(cloud.clone()),
            &Providers::new(),
            store.as_ref(),
            &bp(),
            &Tenant::new("acme"),
            &opts,
        )
        .await
        .unwrap();
        // the drift is put back by an update (the type's ensure)
        let web = p.get("web").unwrap();
        assert_eq!(web.action, Action::Update);
        match &web.drift {
            Some(Drift::Changed { diff }) => assert_eq!(diff[0].field, "public_ip"),
            other => panic!("{other:?}"),
        }
        // www is gone in the cloud: create again, and its content uses the refreshed address
        let www = p.get("www").unwrap();
        assert_eq!(www.drift, Some(Drift::Missing));
        assert_eq!(www.action, Action::Create);
        assert_eq!(www.params["content"], "10.9.9.9");
        assert!(p.to_string().contains("deleted outside provisio"));
        assert_eq!(cloud.count("read"), 2);
        assert_eq!(cloud.count("apply"), 0);
    }

    #[tokio::test]
    async fn missing_provider_is_reported() {
        struct Dns;
        #[provisio::async_trait]
        impl ResourceType for Dns {
            fn name(&self) -> &str {
                "test.dns"
            }
            fn capability(&self) -> Capability {
                Capability::Dns
            }
            fn validate(&self, _: &Value) -> Result<()> {
                Ok(())
            }
            fn outputs(&self) -> &[&str] {
                &[]
            }
            fn identity(&self, _: &StepContext<'_>, _: &Value) -> Result<String> {
                Ok(String::new())
            }
            async fn read(
                &self,
                _: &StepContext<'_>,
                _: &Value,
                _: Option<&Value>,
            ) -> Result<Option<Value>> {
                Ok(None)
            }
            async fn apply(
                &self,
                _: &StepContext<'_>,
                _: &Value,
                _: Option<&Value>,
            ) -> Result<crate::Applied> {
                unreachable!()
            }
            async fn delete(
                &self,
                _: &StepContext<'_>,
                _: &Value,
                _: &Value,
            ) -> Result<provisio::Deleted> {
                unreachable!()
            }
        }
        let mut r = Registry::new();
        r.register(std::sync::Arc::new(Dns));
        let bp =
            Blueprint::new("b").resource("z", ResourceSpec::new("test.dns").provider("cloudflare"));
        let e = plan(
            &r,
            &Providers::new(),
            TestStore::new().as_ref(),
            &bp,
            &Tenant::new("acme"),
            &PlanOptions::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            e.message(),
            "resource \"z\": provider: no dns provider named \"cloudflare\" is configured"
        );
    }
}
