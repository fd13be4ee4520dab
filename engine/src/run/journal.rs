//! Journal writes: the intent of a side effect before it happens, then how it ended.

use super::{Engine, Run};
use crate::state::{JournalEntry, JournalPhase, now_ms};
use provisio::Result;
use serde_json::Value;
use std::collections::BTreeMap;

/// One side effect on one resource, as the journal names it: its intent is written before the
/// provider is called, then whether it succeeded or failed.
pub(super) struct SideEffect<'a> {
    /// The resource.
    pub(super) resource: &'a str,
    /// Its type.
    pub(super) resource_type: &'a str,
    /// What is done: `create`, `update`, `delete` or `rollback`.
    pub(super) action: &'a str,
    /// The identity of the resource at the provider.
    pub(super) identity: &'a str,
    /// The journal token of this side effect: the idempotency token, the action and the run id.
    pub(super) token: String,
}

impl<'a> SideEffect<'a> {
    /// The side effect `action` of `run` on `resource`, whose idempotency token is `token`.
    pub(super) fn new(
        run: &Run<'_>,
        resource: &'a str,
        resource_type: &'a str,
        action: &'a str,
        identity: &'a str,
        token: &str,
    ) -> Self {
        SideEffect {
            resource,
            resource_type,
            action,
            identity,
            token: format!("{token}:{action}:{}", run.id),
        }
    }
}

impl Engine {
    /// Appends the journal entry of `effect` in `phase`, with `detail`.
    pub(super) async fn journal(
        &self,
        run: &Run<'_>,
        effect: &SideEffect<'_>,
        phase: JournalPhase,
        detail: Value,
    ) -> Result<()> {
        let resource = effect.resource;
        self.inner
            .state
            .append_journal(&JournalEntry {
                seq: 0,
                run_id: run.id.clone(),
                tenant: run.tenant.name.clone(),
                resource: resource.to_string(),
                resource_type: effect.resource_type.to_string(),
                action: effect.action.to_string(),
                phase,
                identity: effect.identity.to_string(),
                tags: provisio::types::ownership::tags(&run.tenant.name, run.blueprint, resource),
                token: effect.token.clone(),
                detail,
                at_ms: now_ms(),
            })
            .await
            .map(|_| ())
    }

    /// Generation per resource: successful `create` journal entries.
    pub(super) async fn generations(&self, tenant: &str) -> Result<BTreeMap<String, u64>> {
        let mut g = BTreeMap::new();
        for e in self.inner.state.journal(tenant, 0).await? {
            if e.phase == JournalPhase::Succeeded && e.action == "create" {
                *g.entry(e.resource).or_insert(0) += 1;
            }
        }
        Ok(g)
    }
}
