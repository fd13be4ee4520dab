//! Journal writes: the intent of a side effect before it happens, then how it ended.

use super::{Engine, Run};
use crate::state::{JournalEntry, JournalPhase, now_ms};
use provisio::Result;
use serde_json::Value;
use std::collections::BTreeMap;

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn journal(
        &self,
        run: &Run<'_>,
        resource: &str,
        resource_type: &str,
        action: &str,
        phase: JournalPhase,
        identity: &str,
        token: &str,
        detail: Value,
    ) -> Result<()> {
        self.inner
            .state
            .append_journal(&JournalEntry {
                seq: 0,
                run_id: run.id.clone(),
                tenant: run.tenant.name.clone(),
                resource: resource.to_string(),
                resource_type: resource_type.to_string(),
                action: action.to_string(),
                phase,
                identity: identity.to_string(),
                tags: provisio::types::ownership::tags(&run.tenant.name, run.blueprint, resource),
                token: token.to_string(),
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
