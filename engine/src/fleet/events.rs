//! Fleet events and where they go.

use super::report::{FleetCounts, FleetStatus, HaltReason, TenantResult};
use crate::events::Operation;

/// One fleet event.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetEvent {
    /// The fleet id.
    pub fleet_id: String,
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: FleetEventKind,
}

/// What happened in a fleet run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetEventKind {
    /// The rollout began.
    FleetStarted {
        /// apply or destroy.
        operation: Operation,
        /// Tenants in the list.
        tenants: usize,
        /// Tenants skipped because the cursor lists them as succeeded.
        already_succeeded: usize,
        /// Tenants in the canary wave.
        canary: usize,
        /// The failure threshold as a count ([`FailureThreshold::limit`](super::FailureThreshold::limit)).
        failure_limit: usize,
    },
    /// A tenant's run began.
    TenantStarted {
        /// The tenant.
        tenant: String,
        /// Whether it is a canary.
        canary: bool,
    },
    /// A tenant's run ended.
    TenantFinished {
        /// The tenant's result.
        result: TenantResult,
    },
    /// Every canary succeeded; the rest of the fleet starts.
    CanaryPassed {
        /// The canary tenants.
        tenants: Vec<String>,
    },
    /// The rollout halted: no tenant starts any more; the ones in flight finish.
    Halted {
        /// Why.
        #[serde(flatten)]
        reason: HaltReason,
    },
    /// The rollout was cancelled: no tenant starts any more; the ones in flight are cancelled.
    Cancelled,
    /// The rollout ended (after the last tenant in flight finished).
    FleetFinished {
        /// How it ended.
        status: FleetStatus,
        /// Counts.
        counts: FleetCounts,
    },
}

/// Where fleet events go. Any `Fn(&FleetEvent) + Send + Sync` is one.
///
/// ```
/// use provisio_engine::fleet::{FleetEvent, FleetSink};
/// let sink: std::sync::Arc<dyn FleetSink> = std::sync::Arc::new(|e: &FleetEvent| {
///     println!("{}", serde_json::to_string(e).unwrap())
/// });
/// # let _ = sink;
/// ```
pub trait FleetSink: Send + Sync {
    /// Receives one event (called from the fleet's driving task; keep it quick).
    fn emit(&self, event: &FleetEvent);
}

impl<F: Fn(&FleetEvent) + Send + Sync> FleetSink for F {
    fn emit(&self, event: &FleetEvent) {
        self(event)
    }
}
