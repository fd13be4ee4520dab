//! Lifecycle transitions: apply's machinery run on the target phase's view of the blueprint
//! (see [`crate::lifecycle`]).

use super::{ApplyOptions, Engine, RunReport};
use crate::blueprint::Blueprint;
use crate::lifecycle::{Phase, TenantPhase, Transition};
use crate::plan::{self, Plan, PlanOptions};
use crate::resource::Tenant;
use provisio::{Error, Result};
use std::collections::BTreeSet;

/// What apply needs to know when it runs a transition.
pub(super) struct Lifecycle {
    pub(super) transition: Transition,
    /// Protected resources the blueprint declares `absent` in the target phase.
    pub(super) released: BTreeSet<String>,
}

/// Refuses `apply` for a tenant that is not launched: a suspended or archived tenant would be
/// relaunched behind the operator's back, and a transition under way must be finished first.
pub(super) fn refuse_apply(tenant: &str, phase: Option<&TenantPhase>) -> Result<()> {
    let Some(p) = phase else { return Ok(()) };
    if let Some(t) = p.transition {
        return Err(in_progress(tenant, p, t));
    }
    let hint = match p.phase {
        Phase::Launched | Phase::Retired => return Ok(()),
        Phase::Suspended => "resume",
        Phase::Archived => "restore",
    };
    Err(Error::conflict(format!(
        "tenant {tenant} is {}: apply would launch it again behind its lifecycle; run `{hint}` first",
        p.phase
    ))
    .with_operation("apply")
    .with_resource(tenant))
}

fn in_progress(tenant: &str, p: &TenantPhase, t: Transition) -> Error {
    Error::conflict(format!(
        "tenant {tenant}: {t} is in progress ({}); run `{t}` again to finish it",
        p.describe()
    ))
    .with_resource(tenant)
}

/// Checks that `transition` may run for a tenant whose lifecycle record is `phase` (`None`:
/// no record); returns the phase it starts from.
fn check_transition(
    tenant: &str,
    transition: Transition,
    phase: Option<&TenantPhase>,
    has_resources: bool,
) -> Result<Phase> {
    let from = match phase {
        Some(p) => match p.transition {
            Some(t) if t == transition => return Ok(p.phase),
            Some(t) => {
                return Err(in_progress(tenant, p, t).with_operation(transition.as_str()));
            }
            // the same transition again: it finds everything in place
            None if p.last == Some(transition) => return Ok(p.phase),
            None => p.phase,
        },
        None if has_resources => Phase::Launched,
        None => {
            return Err(Error::not_found(format!(
                "cannot {transition} tenant {tenant}: it has no resources and no lifecycle phase in the state store (launch it with `apply` first)"
            ))
            .with_operation(transition.as_str())
            .with_resource(tenant));
        }
    };
    if transition.from().contains(&from) {
        return Ok(from);
    }
    let allowed: Vec<&str> = from.transitions().iter().map(|t| t.as_str()).collect();
    let allowed = if allowed.is_empty() {
        "none (`apply` launches it again)".to_string()
    } else {
        allowed.join(", ")
    };
    Err(Error::conflict(format!(
        "cannot {transition} tenant {tenant}: it is {from}, and {transition} starts from {}; from {from}: {allowed}",
        transition
            .from()
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    ))
    .with_operation(transition.as_str())
    .with_resource(tenant))
}

impl Engine {
    /// The tenant's lifecycle phase: its record in the state store, or `launched` for a tenant
    /// that has resources and never went through a transition; `None` for an unknown tenant.
    pub async fn phase(&self, tenant: &str) -> Result<Option<TenantPhase>> {
        if let Some(p) = self.inner.state.get_phase(tenant).await? {
            return Ok(Some(p));
        }
        if self.inner.state.list_resources(tenant).await?.is_empty() {
            return Ok(None);
        }
        Ok(Some(TenantPhase {
            tenant: tenant.to_string(),
            phase: Phase::Launched,
            transition: None,
            last: None,
            run_id: String::new(),
            updated_at_ms: 0,
        }))
    }

    async fn transition_from(&self, tenant: &str, transition: Transition) -> Result<Phase> {
        let record = self.inner.state.get_phase(tenant).await?;
        let has_resources =
            record.is_some() || !self.inner.state.list_resources(tenant).await?.is_empty();
        check_transition(tenant, transition, record.as_ref(), has_resources)
    }

    /// What `transition` would do to `tenant`: the plan of its target phase's view against the
    /// state. Makes no changes and takes no lease; an illegal transition is refused as
    /// [`Engine::transition`] refuses it.
    pub async fn plan_transition(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        transition: Transition,
        options: &PlanOptions,
    ) -> Result<Plan> {
        blueprint.validate(&self.inner.registry)?;
        self.transition_from(&tenant.name, transition).await?;
        let view = blueprint.in_phase(transition.target());
        let records =
            crate::state::records_by_name(self.inner.state.as_ref(), &tenant.name).await?;
        // a typo in an override is refused as the transition itself refuses it; the
        // blueprint's own releases count only for what is recorded
        super::check_overrides(
            &options.overrides,
            blueprint.resources.keys().chain(records.keys()),
        )?;
        let mut options = options.clone();
        options.overrides.extend(
            blueprint
                .released_in(transition.target())
                .into_iter()
                .filter(|r| records.contains_key(r)),
        );
        plan::plan(
            &self.inner.registry,
            &self.inner.providers,
            self.inner.state.as_ref(),
            &view,
            tenant,
            &options,
        )
        .await
    }

    /// Moves `tenant` through a lifecycle transition: the resources become what the blueprint
    /// says they are in the target phase (see [`crate::lifecycle`]).
    ///
    /// Runs like [`Engine::apply`] (lease, recovery of a crashed run, plan and `on_plan`,
    /// journal, retries, events), with these differences:
    /// - the transition must start from one of [`Transition::from`]; anything else (and an
    ///   unknown tenant) is refused before any side effect, naming the phase and the
    ///   transitions allowed from it;
    /// - the state store records the transition before its first step; until it succeeded,
    ///   only the same transition may run for the tenant (`apply` and other transitions are
    ///   refused), and running it again finishes it;
    /// - every delete waits until every resource of the target phase is in place;
    /// - a failed transition is not rolled back (`keep_partial` is implied);
    /// - the protected resources the blueprint declares `absent` in the target phase are
    ///   deleted without an override; others still need one.
    ///
    /// The tenant's phase changes only when every step succeeded.
    pub async fn transition(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        transition: Transition,
        options: ApplyOptions,
    ) -> Result<RunReport> {
        blueprint.validate(&self.inner.registry)?;
        let view = blueprint.in_phase(transition.target());
        let graph = view.validate(&self.inner.registry)?;
        view.check_tenant(tenant)?;
        plan::check_providers(&view, &self.inner.registry, &self.inner.providers)?;
        let lifecycle = Lifecycle {
            transition,
            released: blueprint.released_in(transition.target()),
        };
        self.locked(
            transition.into(),
            &view,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| {
                self.transition_from(&tenant.name, transition).await?;
                self.apply_locked(run, &view, &graph, &options, Some(&lifecycle))
                    .await
            },
        )
        .await
    }
}
