//! The tenant lifecycle: phases, the transitions between them, and how a blueprint says what
//! each resource becomes in each phase.
//!
//! A tenant is `launched` by its first apply. From there an operator can `suspend` it (site off,
//! data kept), `resume` it, `archive` it (data dumped and moved to cold storage, the running
//! parts deleted), `restore` it and `retire` it (everything gone but the archive). A phase is
//! not a blueprint of its own: it is a *view* of the one blueprint, declared per resource:
//!
//! ```yaml
//! resources:
//!   web:
//!     type: compute.instance
//!     params: { name: "${tenant.name}-web", image: img-1, size: small }
//!     phases:
//!       suspended: { params: { power: stopped } }   # merged over params
//!       archived: absent                            # deleted; restore creates it again
//!   db_archive:
//!     type: database.dump
//!     only_in: [archived, retired]                  # exists only in these phases
//!     params: { database: "${tenant.name}", bucket: archive, key: "${tenant.name}/db.dump" }
//! ```
//!
//! - `phases.<phase>` is `absent` or `{ params: {...} }`, deep-merged over the resource's
//!   params (objects merged key by key, anything else replaced). `launched` is the resource's
//!   own params and cannot be declared.
//! - `only_in: [...]` limits the phases the resource exists in.
//! - Without a declaration, a resource looks in `suspended` and `archived` as it does in
//!   `launched`, and is absent in `retired`.
//! - A resource present in a phase may refer to one absent in it: the reference resolves to
//!   the absent resource's last recorded outputs (a dump still names the database it came
//!   from, a config file keeps naming the dropped database). Such a reference is an error
//!   only when the absent resource has no record.
//!
//! A transition is carried out by apply's machinery on the target phase's view
//! ([`Blueprint::in_phase`](crate::Blueprint::in_phase)): planned (previewable), journaled, leased and resumable. Two rules
//! differ from apply:
//! - **Creates and updates come first.** Every delete of the transition waits until every
//!   resource present in the target phase is in place: the dump exists before the database it
//!   came from is dropped, and when anything fails, nothing is deleted.
//! - **Forward only.** A failed transition is not rolled back; the tenant stays in the
//!   transition, and running the same command again finishes it (any other is refused).
//!
//! A protected resource is deleted by a transition only when the blueprint declares it `absent`
//! in the target phase by name (that declaration is the override naming it) or the caller
//! names it in an override; `only_in` and `retired`'s default never delete a protected
//! resource on their own.
//!
//! The phase is kept in the state store ([`TenantPhase`]); it changes only when the whole
//! transition succeeded.

use provisio::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// A tenant's lifecycle phase.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Running: what `apply` builds.
    Launched,
    /// Turned off, data kept (`suspend`).
    Suspended,
    /// Data in cold storage, the running parts deleted (`archive`).
    Archived,
    /// Gone but for what the blueprint keeps in this phase (an archive that expires).
    Retired,
}

impl Phase {
    /// Every phase, in lifecycle order.
    pub const ALL: [Phase; 4] = [
        Phase::Launched,
        Phase::Suspended,
        Phase::Archived,
        Phase::Retired,
    ];
    /// The lower-case name (`archived`).
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Launched => "launched",
            Phase::Suspended => "suspended",
            Phase::Archived => "archived",
            Phase::Retired => "retired",
        }
    }
    /// The transitions allowed from this phase.
    pub fn transitions(self) -> Vec<Transition> {
        Transition::ALL
            .into_iter()
            .filter(|t| t.from().contains(&self))
            .collect()
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle transition: a command that moves a tenant from one phase to another.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// launched → suspended.
    Suspend,
    /// suspended → launched.
    Resume,
    /// launched or suspended → archived.
    Archive,
    /// archived → launched.
    Restore,
    /// launched, suspended or archived → retired.
    Retire,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Transition; 5] = [
        Transition::Suspend,
        Transition::Resume,
        Transition::Archive,
        Transition::Restore,
        Transition::Retire,
    ];
    /// The command's name (`archive`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Suspend => "suspend",
            Transition::Resume => "resume",
            Transition::Archive => "archive",
            Transition::Restore => "restore",
            Transition::Retire => "retire",
        }
    }
    /// The name of the transition while it runs (`archiving`).
    pub fn progressive(self) -> &'static str {
        match self {
            Transition::Suspend => "suspending",
            Transition::Resume => "resuming",
            Transition::Archive => "archiving",
            Transition::Restore => "restoring",
            Transition::Retire => "retiring",
        }
    }
    /// The phases it starts from.
    pub fn from(self) -> &'static [Phase] {
        match self {
            Transition::Suspend => &[Phase::Launched],
            Transition::Resume => &[Phase::Suspended],
            Transition::Archive => &[Phase::Launched, Phase::Suspended],
            Transition::Restore => &[Phase::Archived],
            Transition::Retire => &[Phase::Launched, Phase::Suspended, Phase::Archived],
        }
    }
    /// The phase it ends in.
    pub fn target(self) -> Phase {
        match self {
            Transition::Suspend => Phase::Suspended,
            Transition::Resume | Transition::Restore => Phase::Launched,
            Transition::Archive => Phase::Archived,
            Transition::Retire => Phase::Retired,
        }
    }
    /// Parses a command name; `InvalidInput` naming the known ones.
    pub fn parse(s: &str) -> Result<Transition> {
        Transition::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                Error::invalid_field(
                    "transition",
                    format!("{s:?} is not one of suspend, resume, archive, restore, retire"),
                )
            })
    }
}

impl fmt::Display for Transition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a resource becomes in one phase (`phases.<phase>` of a [`ResourceSpec`](crate::ResourceSpec)).
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseVariant {
    /// `absent`: the resource does not exist in this phase (deleted on the way in, created
    /// again on the way out).
    Absent,
    /// `{ params: {...} }`: these parameters deep-merged over the resource's own.
    Params(Value),
}

impl Serialize for PhaseVariant {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            PhaseVariant::Absent => s.serialize_str("absent"),
            PhaseVariant::Params(p) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("params", p)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for PhaseVariant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct WithParams {
            params: serde_json::Map<String, Value>,
        }
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PhaseVariant;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`absent` or a map `{ params: {...} }`")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                v: &str,
            ) -> std::result::Result<Self::Value, E> {
                if v == "absent" {
                    Ok(PhaseVariant::Absent)
                } else {
                    Err(E::custom(format!(
                        "expected `absent` or a map `{{ params: {{...}} }}`, found {v:?}"
                    )))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let w = WithParams::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(PhaseVariant::Params(Value::Object(w.params)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A tenant's lifecycle record in the state store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TenantPhase {
    /// The tenant.
    pub tenant: String,
    /// The phase the tenant is in (the phase it left, while a transition runs).
    pub phase: Phase,
    /// The transition under way: written before its first side effect, cleared when it
    /// succeeded. While it is set, only the same transition may run (it finishes the work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// The transition that brought the tenant into `phase` (`None` while one is under way, or
    /// when `apply` launched it). Running that transition again is allowed and changes
    /// nothing that is already in place: a caller that lost the answer (a crash right after
    /// the last step) can simply retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Transition>,
    /// The run that wrote this record.
    pub run_id: String,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: i64,
}

impl TenantPhase {
    /// What `status` shows: `archived`, or `archiving (from launched)` while it runs.
    pub fn describe(&self) -> String {
        match self.transition {
            None => self.phase.to_string(),
            Some(t) => format!("{} (from {})", t.progressive(), self.phase),
        }
    }
}

#[cfg(test)]
mod tests;
