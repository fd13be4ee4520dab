//! What a fleet run reports: per-tenant results, counts, the status and why it halted.

use crate::events::{EventError, Operation, Summary};

/// When a rollout halts because of failed tenants.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureThreshold {
    /// Halt once this many tenants have failed in this run (0 is taken as 1).
    Count(usize),
    /// Halt once this fraction of the tenants this run has to do have failed:
    /// `max(1, ceil(fraction × tenants))` failures (tenants skipped as already succeeded do not
    /// count). `1.0` halts only when every tenant failed.
    Fraction(f64),
    /// Never halt because of failures (the canary wave still halts).
    Never,
}

impl Default for FailureThreshold {
    fn default() -> Self {
        FailureThreshold::Count(1)
    }
}

impl FailureThreshold {
    /// The number of failures at which a run with `tenants` tenants to do halts.
    ///
    /// ```
    /// use provisio_engine::fleet::FailureThreshold;
    /// assert_eq!(FailureThreshold::Count(3).limit(100), 3);
    /// assert_eq!(FailureThreshold::Count(0).limit(100), 1);
    /// assert_eq!(FailureThreshold::Fraction(0.05).limit(200), 10);
    /// assert_eq!(FailureThreshold::Fraction(0.05).limit(10), 1);
    /// assert_eq!(FailureThreshold::Never.limit(10), usize::MAX);
    /// ```
    pub fn limit(&self, tenants: usize) -> usize {
        match *self {
            FailureThreshold::Count(n) => n.max(1),
            FailureThreshold::Fraction(f) => {
                let f = if f.is_nan() { 0.0 } else { f.max(0.0) };
                ((f * tenants as f64).ceil() as usize).max(1)
            }
            FailureThreshold::Never => usize::MAX,
        }
    }
}

/// Why a rollout halted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum HaltReason {
    /// A tenant of the canary wave failed.
    CanaryFailed {
        /// The canary tenants that failed.
        tenants: Vec<String>,
    },
    /// The failure threshold was reached.
    ThresholdReached {
        /// Tenants failed in this run when it halted.
        failed: usize,
        /// The threshold ([`FailureThreshold::limit`]).
        limit: usize,
    },
}

impl std::fmt::Display for HaltReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HaltReason::CanaryFailed { tenants } => {
                write!(f, "canary tenant(s) failed: {}", tenants.join(", "))
            }
            HaltReason::ThresholdReached { failed, limit } => {
                write!(f, "{failed} tenant(s) failed (threshold {limit})")
            }
        }
    }
}

/// How a fleet run ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FleetStatus {
    /// Every tenant was run (some may have failed without reaching the threshold).
    Completed,
    /// The rollout halted; tenants not started are [`TenantStatus::NotStarted`].
    Halted {
        /// Why.
        #[serde(flatten)]
        reason: HaltReason,
    },
    /// The caller's cancellation token stopped the rollout.
    Cancelled,
}

/// How one tenant fared in a fleet run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Its run succeeded.
    Succeeded,
    /// Its run failed (step failures, a run that could not start, cancellation).
    Failed,
    /// The cursor lists it as succeeded by an earlier run of this fleet id; it was not run.
    AlreadySucceeded,
    /// The rollout halted or was cancelled before it started.
    NotStarted,
}

/// One tenant's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TenantResult {
    /// The tenant.
    pub tenant: String,
    /// How it fared.
    pub status: TenantStatus,
    /// Whether it was in the canary wave.
    pub canary: bool,
    /// The engine run's id (when a run happened and got that far).
    pub run_id: Option<String>,
    /// The run's summary (when the run produced a report).
    pub summary: Option<Summary>,
    /// Why it failed: the first step failure, or what stopped the run from starting.
    pub error: Option<EventError>,
}

impl TenantResult {
    pub(super) fn pending(tenant: &str, status: TenantStatus) -> Self {
        TenantResult {
            tenant: tenant.to_string(),
            status,
            canary: false,
            run_id: None,
            summary: None,
            error: None,
        }
    }
}

/// Counts over a fleet run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FleetCounts {
    /// Tenants in the list.
    pub tenants: usize,
    /// Tenants whose run succeeded.
    pub succeeded: usize,
    /// Tenants whose run failed.
    pub failed: usize,
    /// Tenants skipped because an earlier run of the fleet id succeeded.
    pub already_succeeded: usize,
    /// Tenants not started (halt or cancellation).
    pub not_started: usize,
    /// The tenants' run summaries added up (`duration_ms` is the sum of the runs' durations).
    pub resources: Summary,
}

/// What a fleet run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetReport {
    /// The fleet id (the cursor's key).
    pub fleet_id: String,
    /// apply or destroy.
    pub operation: Operation,
    /// How it ended.
    pub status: FleetStatus,
    /// Every tenant, in the order given.
    pub tenants: Vec<TenantResult>,
    /// Counts.
    pub counts: FleetCounts,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

impl FleetReport {
    /// Whether the rollout completed and every tenant succeeded (now or before).
    pub fn is_success(&self) -> bool {
        self.status == FleetStatus::Completed && self.counts.failed == 0
    }
    /// The result of `tenant`.
    pub fn tenant(&self, tenant: &str) -> Option<&TenantResult> {
        self.tenants.iter().find(|t| t.tenant == tenant)
    }
    /// The tenants with `status`.
    pub fn with_status(&self, status: TenantStatus) -> impl Iterator<Item = &TenantResult> {
        self.tenants.iter().filter(move |t| t.status == status)
    }
}
