//! What a run reports: its steps, their statuses and counts, and the events that end a step.

use super::rollback::Rollback;
use super::{Engine, NodeOutcome, Run};
use crate::events::{EventError, EventKind, Operation, StepOutcome, Summary};
use crate::plan::{Action, Drift, Plan};
use provisio::{Error, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

/// How one step ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// It succeeded.
    Succeeded {
        /// What it did.
        outcome: StepOutcome,
    },
    /// It failed.
    Failed {
        /// Why.
        error: EventError,
    },
    /// It did not run.
    Skipped {
        /// Why.
        reason: String,
    },
    /// It succeeded, then was undone by the rollback of the failed run.
    RolledBack,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepReport {
    /// The resource.
    pub resource: String,
    /// What the step did or would have done.
    pub action: Action,
    /// How it ended.
    pub status: StepStatus,
    /// The outputs after the step (`null` when it did not succeed or deleted).
    pub outputs: Value,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// The run's id.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// apply or destroy.
    pub operation: Operation,
    /// Counts.
    pub summary: Summary,
    /// Every step, in the order they finished.
    pub steps: Vec<StepReport>,
    /// Protected resources a destroy kept, and what they need (a rollback keeps the same: a
    /// protected database created by a failed first launch keeps its owner role).
    pub kept_protected: Vec<String>,
    /// Resources this run may have created without being able to prove it (a provider
    /// reported what it found only after an attempt whose answer was lost): kept when the run
    /// rolled back, recorded in state, so a later apply adopts them and destroy removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_doubt: Vec<String>,
    /// Resources this run created whose rollback failed (their delete failed even after its
    /// retries, or was not tried because a dependent's delete failed): they stay, recorded in state, so a later apply adopts them and destroy
    /// removes them. Each one's error is in [`RunReport::errors`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_failed: Vec<String>,
    /// The plan the apply started from (`None` for destroy).
    pub plan: Option<Plan>,
    /// The failures, with their full errors.
    #[serde(skip)]
    pub errors: Vec<(String, Error)>,
}

impl RunReport {
    /// Whether every step succeeded (skips of protected resources in a destroy count as
    /// success).
    pub fn is_success(&self) -> bool {
        self.errors.is_empty()
    }
    /// The step of `resource`.
    pub fn step(&self, resource: &str) -> Option<&StepReport> {
        self.steps.iter().find(|s| s.resource == resource)
    }
    /// The report as the Python, Ruby and Node bindings hand it out: its JSON plus `success` and
    /// `errors` (the `resource`, `kind`, `message` and `retryable` of each failure; messages
    /// carry no secret value). Node puts its fuller error fields in `errors` instead, since each
    /// becomes a `ProvisioError` there.
    pub fn to_json(&self) -> std::result::Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|(resource, e)| {
                serde_json::json!({
                    "resource": resource, "kind": e.kind().as_str(), "message": e.to_string(),
                    "retryable": e.retryable(),
                })
            })
            .collect();
        value["success"] = Value::Bool(self.is_success());
        value["errors"] = Value::Array(errors);
        Ok(value)
    }

    /// `Ok(self)` when the run succeeded, else the first failure.
    pub fn into_result(self) -> Result<RunReport> {
        match self.errors.first() {
            None => Ok(self),
            Some((_, e)) => Err(e.clone()),
        }
    }
}

/// One resource in a refresh.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RefreshedResource {
    /// The resource.
    pub resource: String,
    /// What the read found.
    pub drift: Drift,
}

/// What a refresh found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RefreshReport {
    /// The run's id.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// Every resource in state.
    pub resources: Vec<RefreshedResource>,
}

impl RefreshReport {
    /// Whether any resource drifted or went missing.
    pub fn has_drift(&self) -> bool {
        self.resources.iter().any(|r| r.drift != Drift::InSync)
    }
}

impl Engine {
    pub(super) fn step_events(run: &Run<'_>, name: &str, outcome: &NodeOutcome, started: Instant) {
        match outcome {
            NodeOutcome::Done {
                action,
                outcome,
                outputs,
            } => run.emit(|| EventKind::StepSucceeded {
                resource: name.to_string(),
                action: *action,
                outcome: *outcome,
                outputs: outputs.clone(),
                duration_ms: started.elapsed().as_millis() as u64,
                requests: provisio::requests::current_total(),
            }),
            NodeOutcome::Failed { error, .. } => {
                tracing::warn!(resource = name, error = %error, "step failed");
                run.emit(|| EventKind::StepFailed {
                    resource: name.to_string(),
                    error: error.into(),
                })
            }
            NodeOutcome::Skipped { reason, .. } => run.emit(|| EventKind::StepSkipped {
                resource: name.to_string(),
                reason: reason.clone(),
            }),
        }
    }

    pub(super) fn report(
        run: &Run<'_>,
        operation: Operation,
        started: Instant,
        order: &[String],
        results: &BTreeMap<String, NodeOutcome>,
        rollback: &Rollback,
        plan: Option<Plan>,
    ) -> RunReport {
        let rolled_back = &rollback.rolled_back;
        let mut summary = Summary::default();
        let mut steps = Vec::new();
        let mut errors = Vec::new();
        let mut kept = Vec::new();
        for name in order {
            let Some(o) = results.get(name) else { continue };
            let (action, status, outputs) = match o {
                NodeOutcome::Done {
                    action,
                    outcome,
                    outputs,
                } => {
                    match (action, outcome) {
                        (_, StepOutcome::Deleted | StepOutcome::AlreadyGone) => {
                            summary.deleted += 1
                        }
                        (_, StepOutcome::Created) => summary.created += 1,
                        (_, StepOutcome::Updated) => summary.updated += 1,
                        _ => summary.unchanged += 1,
                    }
                    if *action == Action::Replace {
                        summary.deleted += 1;
                    }
                    if rolled_back.contains(name) {
                        summary.rolled_back += 1;
                        (*action, StepStatus::RolledBack, Value::Null)
                    } else {
                        (
                            *action,
                            StepStatus::Succeeded { outcome: *outcome },
                            outputs.clone(),
                        )
                    }
                }
                NodeOutcome::Failed { action, error } => {
                    summary.failed += 1;
                    errors.push((name.clone(), error.clone()));
                    (
                        *action,
                        StepStatus::Failed {
                            error: error.into(),
                        },
                        Value::Null,
                    )
                }
                NodeOutcome::Skipped {
                    action,
                    reason,
                    protected,
                } => {
                    summary.skipped += 1;
                    if *protected {
                        kept.push(name.clone());
                    }
                    (
                        *action,
                        StepStatus::Skipped {
                            reason: reason.clone(),
                        },
                        Value::Null,
                    )
                }
            };
            steps.push(StepReport {
                resource: name.clone(),
                action,
                status,
                outputs,
            });
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.requests = run.requests.total();
        summary.requests_by_service = run.requests.by_service();
        for (name, error) in &rollback.failed {
            errors.push((
                name.clone(),
                error.clone().context(
                    "the rollback could not delete it; it stays, recorded in state, for the next apply or destroy",
                ),
            ));
        }
        kept.extend(rollback.kept.iter().cloned());
        kept.sort();
        kept.dedup();
        run.emit(|| EventKind::RunFinished {
            summary: summary.clone(),
        });
        RunReport {
            run_id: run.id.clone(),
            tenant: run.tenant.name.clone(),
            operation,
            summary,
            steps,
            kept_protected: kept,
            in_doubt: run
                .in_doubt
                .lock()
                .expect("in_doubt lock")
                .iter()
                .cloned()
                .collect(),
            rollback_failed: rollback.failed.keys().cloned().collect(),
            plan,
            errors,
        }
    }
}
