//! Lifecycle views of a blueprint: what its resources are in each [`Phase`] (see
//! [`crate::lifecycle`]).

use super::{Blueprint, ResourceSpec, bad};
use crate::lifecycle::{Phase, PhaseVariant};
use crate::resource::Registry;
use provisio::{Error, Result};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Deep-merges `over` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

impl ResourceSpec {
    /// Whether this resource exists in `phase`: not when `only_in` leaves the phase out or the
    /// phase declares it `absent`; in `retired` only when `only_in` names it or it declares
    /// params for it.
    pub fn present_in(&self, phase: Phase) -> bool {
        if let Some(only) = &self.only_in
            && !only.contains(&phase)
        {
            return false;
        }
        match self.phases.get(&phase) {
            Some(PhaseVariant::Absent) => false,
            Some(PhaseVariant::Params(_)) => true,
            None => {
                phase != Phase::Retired
                    || self
                        .only_in
                        .as_ref()
                        .is_some_and(|o| o.contains(&Phase::Retired))
            }
        }
    }

    /// Whether this resource declares a lifecycle (`phases` or `only_in`).
    pub fn has_lifecycle(&self) -> bool {
        !self.phases.is_empty() || self.only_in.is_some()
    }
}

impl Blueprint {
    /// Whether any resource declares a lifecycle (`phases` or `only_in`).
    pub fn has_lifecycle(&self) -> bool {
        self.resources.values().any(ResourceSpec::has_lifecycle)
    }

    /// The blueprint as it is in `phase`: the resources present in it, with their phase params
    /// merged in and without lifecycle declarations. Borrowed when nothing changes.
    ///
    /// ```
    /// use provisio_engine::{Blueprint, lifecycle::Phase};
    /// let bp = Blueprint::from_yaml(r#"
    /// name: shop
    /// resources:
    ///   web:
    ///     type: compute.instance
    ///     params: { name: "${tenant.name}-web", image: img-1, size: small }
    ///     phases:
    ///       suspended: { params: { power: stopped } }
    ///       archived: absent
    /// "#)?;
    /// assert_eq!(bp.in_phase(Phase::Suspended).resources["web"].params["power"], "stopped");
    /// assert!(bp.in_phase(Phase::Archived).resources.is_empty());
    /// assert!(bp.in_phase(Phase::Retired).resources.is_empty());
    /// # Ok::<(), provisio::Error>(())
    /// ```
    pub fn in_phase(&self, phase: Phase) -> Cow<'_, Blueprint> {
        if phase != Phase::Retired && !self.has_lifecycle() {
            return Cow::Borrowed(self);
        }
        let mut view = Blueprint {
            name: self.name.clone(),
            variables: self.variables.clone(),
            resources: Default::default(),
            templates: self.templates.clone(),
            ghosts: Default::default(),
        };
        for (name, spec) in &self.resources {
            if !spec.present_in(phase) {
                view.ghosts.insert(name.clone(), spec.resource_type.clone());
                continue;
            }
            let mut s = spec.clone();
            s.phases.clear();
            s.only_in = None;
            if let Some(PhaseVariant::Params(p)) = spec.phases.get(&phase) {
                merge(&mut s.params, p);
            }
            view.resources.insert(name.clone(), s);
        }
        // ordering on an absent resource is kept by the transition's rule (deletes last)
        for s in view.resources.values_mut() {
            s.depends_on.retain(|d| !view.ghosts.contains_key(d));
        }
        Cow::Owned(view)
    }

    /// The protected resources the blueprint itself declares `absent` in `phase`, by name:
    /// that declaration is the override a transition into `phase` deletes them with.
    pub fn released_in(&self, phase: Phase) -> BTreeSet<String> {
        self.resources
            .iter()
            .filter(|(_, s)| {
                s.protect && matches!(s.phases.get(&phase), Some(PhaseVariant::Absent))
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Checks the lifecycle declarations and validates the views of the phases other than
    /// `launched`.
    pub(super) fn check_lifecycle(&self, registry: &Registry) -> Result<()> {
        for (name, spec) in &self.resources {
            if let Some(only) = &spec.only_in
                && only.is_empty()
            {
                return Err(bad(name, "only_in: must name at least one phase"));
            }
            for (phase, variant) in &spec.phases {
                if *phase == Phase::Launched {
                    return Err(bad(
                        name,
                        "phases.launched: the resource's own params are its launched phase; declare only suspended, archived or retired",
                    ));
                }
                if let Some(only) = &spec.only_in
                    && !only.contains(phase)
                {
                    return Err(bad(
                        name,
                        format!(
                            "phases.{phase}: the resource is not in phase {phase} (only_in: {})",
                            only.iter()
                                .map(|p| p.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                if let PhaseVariant::Params(p) = variant
                    && !p.is_object()
                {
                    return Err(bad(name, format!("phases.{phase}.params: must be a map")));
                }
            }
        }
        // the launched view is validated by `validate` itself, before this
        for phase in [Phase::Suspended, Phase::Archived, Phase::Retired] {
            self.in_phase(phase)
                .validate(registry)
                .map_err(|e| self.in_phase_error(e, phase))?;
        }
        Ok(())
    }

    /// An error of a phase's view, located where the value is written: a parameter of a
    /// resource that declares params for the phase becomes
    /// `resources.<name>.phases.<phase>.params...`; a resource's other errors are its own
    /// (its params are the same in every phase); anything else is prefixed with the phase.
    fn in_phase_error(&self, e: Error, phase: Phase) -> Error {
        let message = match e.resource() {
            Some(r) => {
                let declared = self
                    .resources
                    .get(r)
                    .is_some_and(|s| matches!(s.phases.get(&phase), Some(PhaseVariant::Params(_))));
                let params = format!("resources.{r}.params");
                match e.message().strip_prefix(&params) {
                    Some(rest) if declared => {
                        format!("resources.{r}.phases.{phase}.params{rest}")
                    }
                    _ => return e,
                }
            }
            None => format!("phase {phase}: {}", e.message()),
        };
        let mut out = Error::new(e.kind().clone(), message);
        if let Some(r) = e.resource() {
            out = out.with_resource(r);
        }
        out
    }
}
