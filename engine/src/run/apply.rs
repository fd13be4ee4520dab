//! Apply: the plan carried out step by step, then the rollback of a failed run.

use super::rollback::Rollback;
use super::step::EnsureStep;
use super::transition::{Lifecycle, refuse_apply};
use super::{
    ApplyOptions, Engine, NodeOutcome, Run, RunReport, check_overrides, idempotency_token,
};
use crate::blueprint::{Blueprint, Graph, ResourceSpec};
use crate::events::{EventKind, Operation, StepOutcome};
use crate::lifecycle::{Phase, TenantPhase};
use crate::plan::{self, Action, Drift, PlanOptions, PlannedResource, decide, protected_message};
use crate::resource::Tenant;
use crate::state::{ResourceRecord, now_ms, records_by_name};
use futures::future::BoxFuture;
use provisio::{Error, Result};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// One apply step: a blueprint resource with its record and resolved parameters.
struct ApplyStep<'a> {
    name: &'a str,
    spec: &'a ResourceSpec,
    deps: &'a BTreeSet<String>,
    record: Option<&'a ResourceRecord>,
    params: Result<Value>,
    overrides: &'a BTreeSet<String>,
    token: &'a str,
    /// What the plan said about it (its drift and refreshed outputs).
    planned: Option<&'a PlannedResource>,
}

impl Engine {
    /// Creates, updates, replaces and deletes `tenant`'s resources to match `blueprint`.
    ///
    /// `Err` is returned for what stops the run before any step (an invalid blueprint or
    /// tenant, a protected resource the plan would delete or replace, a lease held by another
    /// runner, an in-doubt intent that cannot be resolved); step failures are in the
    /// [`RunReport`] (see [`RunReport::into_result`]).
    pub async fn apply(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        let graph = blueprint.validate(&self.inner.registry)?;
        let view = blueprint.in_phase(Phase::Launched);
        self.apply_validated(&view, &graph, tenant, options).await
    }

    /// [`Engine::apply`] of a blueprint already validated against this engine's registry:
    /// `graph` is what [`Blueprint::validate`] returned for it and `blueprint` its launched
    /// view ([`Blueprint::in_phase`]). A fleet validates once and runs every tenant with the
    /// same graph.
    pub(crate) async fn apply_validated(
        &self,
        blueprint: &Blueprint,
        graph: &Graph,
        tenant: &Tenant,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        blueprint.check_tenant(tenant)?;
        plan::check_providers(blueprint, &self.inner.registry, &self.inner.providers)?;
        self.locked(
            Operation::Apply,
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| {
                self.apply_locked(run, blueprint, graph, &options, None)
                    .await
            },
        )
        .await
    }

    /// Apply (or, with `lifecycle`, a transition) under the tenant's lease.
    pub(super) async fn apply_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        graph: &Graph,
        options: &ApplyOptions,
        lifecycle: Option<&Lifecycle>,
    ) -> Result<RunReport> {
        let started = Instant::now();
        let operation = lifecycle.map_or(Operation::Apply, |l| l.transition.into());
        let phase = self.inner.state.get_phase(&run.tenant.name).await?;
        if lifecycle.is_none() {
            refuse_apply(&run.tenant.name, phase.as_ref())?;
        }
        self.recover(run, true).await?;
        let records = records_by_name(self.inner.state.as_ref(), &run.tenant.name).await?;
        check_overrides(
            &options.overrides,
            blueprint.resources.keys().chain(records.keys()),
        )?;
        // a transition also deletes the protected resources the blueprint declares absent
        // in its target phase by name
        let mut overrides = options.overrides.clone();
        if let Some(l) = lifecycle {
            overrides.extend(
                l.released
                    .iter()
                    .filter(|r| records.contains_key(*r))
                    .cloned(),
            );
        }
        let overrides = &overrides;
        // what the resources absent in a phase's view last recorded
        let ghosts = crate::state::last_outputs(
            self.inner.state.as_ref(),
            &run.tenant.name,
            blueprint,
            &self.inner.registry,
            &records,
        )
        .await?;
        let plan = plan::plan_with(
            &self.inner.registry,
            &self.inner.providers,
            blueprint,
            graph,
            run.tenant,
            plan::Recorded {
                records: &records,
                ghosts: &ghosts,
            },
            &PlanOptions {
                refresh: options.refresh,
                overrides: overrides.clone(),
            },
        )
        .await?;
        if let Some(hook) = &options.on_plan
            && !(hook.0)(&plan)
        {
            return Ok(Self::report(
                run,
                operation,
                started,
                &[],
                &BTreeMap::new(),
                &Rollback::default(),
                Some(plan),
            ));
        }
        if let Some(b) = plan.blocked().next() {
            let names: Vec<&str> = plan.blocked().map(|r| r.name.as_str()).collect();
            return Err(Error::protected(format!(
                "{} (refusing to start; protected resources in the way: {})",
                b.blocked.clone().unwrap_or_default(),
                names.join(", ")
            ))
            .with_resource(b.name.clone()));
        }
        // a refresh may have found resources gone: forget them so they are created again
        let mut records = records;
        for r in &plan.resources {
            if r.drift == Some(Drift::Missing) {
                records.remove(&r.name);
            }
        }
        // the transition is recorded before its first side effect: from here on, only the
        // same command may run for this tenant (it finishes the work)
        if let Some(l) = lifecycle {
            let from = phase.as_ref().map_or(Phase::Launched, |p| p.phase);
            self.inner
                .state
                .put_phase(&TenantPhase {
                    tenant: run.tenant.name.clone(),
                    phase: from,
                    transition: Some(l.transition),
                    last: None,
                    run_id: run.id.clone(),
                    updated_at_ms: now_ms(),
                })
                .await?;
        }
        let generations = self.generations(&run.tenant.name).await?;
        let order: Vec<String> = plan.resources.iter().map(|r| r.name.clone()).collect();
        run.emit(|| EventKind::RunStarted {
            operation,
            resources: order.clone(),
        });

        // nodes: every blueprint resource waits for its dependencies; an orphan delete waits
        // for the orphans that depend on it
        let mut waits: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for name in graph.order() {
            waits.insert(name.clone(), graph.dependencies(name).clone());
        }
        let orphans: Vec<&ResourceRecord> = records
            .values()
            .filter(|r| !blueprint.resources.contains_key(&r.name))
            .collect();
        for o in &orphans {
            let w = waits.entry(o.name.clone()).or_default();
            // in a transition every delete waits for everything the target phase has
            if lifecycle.is_some() {
                w.extend(graph.order().iter().cloned());
            }
            for d in &o.depends_on {
                if d != &o.name && orphans.iter().any(|x| &x.name == d) {
                    waits.entry(d.clone()).or_default().insert(o.name.clone());
                }
            }
        }
        let tokens: BTreeMap<String, String> = waits
            .keys()
            .map(|n| {
                let g = generations.get(n).copied().unwrap_or(0);
                (
                    n.clone(),
                    idempotency_token(&run.tenant.name, run.blueprint, n, g),
                )
            })
            .collect();

        let plan_ref = &plan;
        let (finished, results) = self
            .schedule(run, &waits, &run.cancel, "dependency ", |name, results| {
                let started = Instant::now();
                let token = tokens[name].clone();
                let name_owned = name.to_string();
                if let Some(spec) = blueprint.resources.get(name) {
                    let deps = graph.dependencies(name);
                    let mut known: BTreeMap<String, Value> = deps
                        .iter()
                        .filter_map(|d| match results.get(d) {
                            Some(NodeOutcome::Done { outputs, .. }) => {
                                Some((d.clone(), outputs.clone()))
                            }
                            _ => None,
                        })
                        .collect();
                    // a phase's absent resources: their last recorded outputs (their deletes
                    // wait for this step)
                    for (g, o) in &ghosts {
                        known.insert(g.clone(), o.clone());
                    }
                    let params = blueprint.resolve(name, run.tenant, &known);
                    let record = records.get(name);
                    let planned = plan_ref
                        .get(name)
                        .map(|p| p.action)
                        .unwrap_or(Action::Create);
                    let fut = async move {
                        let o = self
                            .apply_step(
                                run,
                                ApplyStep {
                                    name: &name_owned,
                                    spec,
                                    deps,
                                    record,
                                    params,
                                    overrides,
                                    token: &token,
                                    planned: plan_ref.get(&name_owned),
                                },
                            )
                            .await;
                        Self::step_events(run, &name_owned, &o, started);
                        o
                    };
                    (planned, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                } else {
                    let rec = &records[name];
                    let fut = async move {
                        run.emit(|| EventKind::StepStarted {
                            resource: name_owned.clone(),
                            action: Action::Delete,
                        });
                        let o = if rec.protect && !overrides.contains(&name_owned) {
                            NodeOutcome::Failed {
                                action: Action::Delete,
                                error: Error::protected(protected_message(&name_owned, "deleting"))
                                    .with_resource(name_owned.clone()),
                            }
                        } else {
                            match self
                                .delete_recorded(run, rec, "delete", &token, None, &run.cancel)
                                .await
                            {
                                Ok(outcome) => NodeOutcome::Done {
                                    action: Action::Delete,
                                    outcome,
                                    outputs: Value::Null,
                                },
                                Err(error) => NodeOutcome::Failed {
                                    action: Action::Delete,
                                    error,
                                },
                            }
                        };
                        Self::step_events(run, &name_owned, &o, started);
                        o
                    };
                    (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                }
            })
            .await;

        // rollback of what this run created
        let failed = results
            .values()
            .any(|o| matches!(o, NodeOutcome::Failed { .. }));
        // after losing the lease another runner owns the tenant: touch nothing more
        let lease_lost = run.lease_lost.load(Ordering::SeqCst);
        // a transition goes forward only: running it again finishes it
        let rollback = if failed && !options.keep_partial && !lease_lost && lifecycle.is_none() {
            self.roll_back(run, blueprint, graph, &results, &tokens)
                .await?
        } else {
            Rollback::default()
        };
        let report = Self::report(
            run,
            operation,
            started,
            &finished,
            &results,
            &rollback,
            Some(plan),
        );
        if report.is_success() && !lease_lost {
            match lifecycle {
                Some(l) => {
                    self.inner
                        .state
                        .put_phase(&TenantPhase {
                            tenant: run.tenant.name.clone(),
                            phase: l.transition.target(),
                            transition: None,
                            last: Some(l.transition),
                            run_id: run.id.clone(),
                            updated_at_ms: now_ms(),
                        })
                        .await?
                }
                // a tenant launched again after its retirement starts a new life
                None if phase.as_ref().is_some_and(|p| p.phase == Phase::Retired) => {
                    self.inner.state.delete_phase(&run.tenant.name).await?
                }
                None => {}
            }
        }
        Ok(report)
    }

    /// The apply step of one blueprint resource.
    async fn apply_step(&self, run: &Run<'_>, step: ApplyStep<'_>) -> NodeOutcome {
        let ApplyStep {
            name,
            spec,
            deps,
            record,
            params,
            overrides,
            token,
            planned,
        } = step;
        let params = match params {
            Ok(p) => p,
            Err(error) => {
                return NodeOutcome::Failed {
                    action: Action::Create,
                    error,
                };
            }
        };
        let rt = match self.type_of(&spec.resource_type) {
            Ok(rt) => rt,
            Err(error) => {
                return NodeOutcome::Failed {
                    action: Action::Create,
                    error,
                };
            }
        };
        // Parameters are resolved now, with the outputs their dependencies really produced,
        // so the action is decided again; a refresh that found drift makes an unchanged
        // resource an update (the ensure puts it back).
        let repair = planned.is_some_and(|p| matches!(p.drift, Some(Drift::Changed { .. })));
        let action = match (record, decide(rt.as_ref(), spec, record, &params).0) {
            (None, _) => Action::Create,
            (Some(_), Action::NoOp) if repair => Action::Update,
            (Some(_), a) => a,
        };
        run.emit(|| EventKind::StepStarted {
            resource: name.to_string(),
            action,
        });
        let r: Result<(StepOutcome, Value)> = async {
            if let Some(rec) = record
                && rec.protect
                && !spec.protect
                && !overrides.contains(name)
            {
                return Err(Error::protected(protected_message(
                    name,
                    "removing the protection of",
                ))
                .with_resource(name));
            }
            match action {
                Action::NoOp => {
                    let rec = record.expect("no-op has a record");
                    let depends_on: Vec<String> = deps.iter().cloned().collect();
                    // what a refresh read (a branch head moved by a commit) is the current truth
                    let outputs = planned
                        .and_then(|p| p.outputs.clone())
                        .unwrap_or_else(|| rec.outputs.clone());
                    if rec.protect != spec.protect
                        || rec.depends_on != depends_on
                        || rec.outputs != outputs
                    {
                        let mut r = rec.clone();
                        r.protect = spec.protect;
                        r.depends_on = depends_on;
                        r.outputs = outputs.clone();
                        r.updated_at_ms = now_ms();
                        self.inner.state.put_resource(&r).await?;
                    }
                    Ok((StepOutcome::Unchanged, outputs))
                }
                Action::Replace => {
                    let rec = record.expect("replace has a record");
                    if (rec.protect || spec.protect) && !overrides.contains(name) {
                        return Err(Error::protected(protected_message(name, "replacing"))
                            .with_resource(name));
                    }
                    self.delete_recorded(run, rec, "delete", token, Some(spec), &run.cancel)
                        .await?;
                    let step = EnsureStep {
                        name,
                        spec,
                        deps,
                        params: &params,
                        prior: None,
                        action: Action::Create,
                        token,
                    };
                    let (o, outs) = self.ensure(run, step).await?;
                    Ok((
                        if o == StepOutcome::Unchanged {
                            StepOutcome::Unchanged
                        } else {
                            StepOutcome::Created
                        },
                        outs,
                    ))
                }
                _ => {
                    let step = EnsureStep {
                        name,
                        spec,
                        deps,
                        params: &params,
                        prior: record,
                        action,
                        token,
                    };
                    self.ensure(run, step).await
                }
            }
        }
        .await;
        match r {
            Ok((outcome, outputs)) => NodeOutcome::Done {
                action,
                outcome,
                outputs,
            },
            Err(error) => NodeOutcome::Failed { action, error },
        }
    }
}
