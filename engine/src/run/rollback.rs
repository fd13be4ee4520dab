//! Rollback: what a failed apply created is deleted again, dependents first.

use super::{Engine, NodeOutcome, Run};
use crate::blueprint::{Blueprint, Graph};
use crate::events::{EventKind, StepOutcome};
use crate::plan::Action;
use crate::state::{ResourceRecord, records_by_name};
use futures::future::BoxFuture;
use provisio::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use tokio_util::sync::CancellationToken;

/// What the rollback of a failed apply did.
#[derive(Debug, Default)]
pub(super) struct Rollback {
    /// Deleted again.
    pub(super) rolled_back: BTreeSet<String>,
    /// Created by the run but kept, because something that stays needs them.
    pub(super) kept: Vec<String>,
    /// Created by the run, and their delete failed even after its retries (or was not tried
    /// because a dependent's failed): they stay, recorded in state (a later apply adopts
    /// them, destroy removes them).
    pub(super) failed: BTreeMap<String, provisio::Error>,
}

impl Engine {
    /// Deletes again the resources the failed apply of `run` created (its `results`, and what
    /// a failed create made), in reverse dependency order. Protected ones are kept, and so is
    /// what something that stays depends on. `tokens` are the resources' idempotency tokens.
    pub(super) async fn roll_back(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        graph: &Graph,
        results: &BTreeMap<String, NodeOutcome>,
        tokens: &BTreeMap<String, String>,
    ) -> Result<Rollback> {
        let mut rolled_back = BTreeSet::new();
        let mut failed = BTreeMap::new();
        let mut kept_for_rollback: Vec<String> = Vec::new();
        let created_on_failure = run
            .created_on_failure
            .lock()
            .expect("created_on_failure lock")
            .clone();
        let current = records_by_name(self.inner.state.as_ref(), &run.tenant.name).await?;
        let (mut created, protected): (BTreeSet<String>, BTreeSet<String>) = results
            .iter()
            .filter(|(n, o)| {
                matches!(
                    o,
                    NodeOutcome::Done {
                        action: Action::Create,
                        outcome: StepOutcome::Created,
                        ..
                    }
                ) || created_on_failure.contains(*n)
            })
            .map(|(n, _)| n.clone())
            .partition(|n| blueprint.resources.get(n).is_none_or(|s| !s.protect));
        kept_for_rollback.extend(protected);
        // What stays (a protected resource, or one that existed before) keeps what it
        // depends on: a kept database still needs its owner role. Destroy does the same.
        let depends_on = |r: &ResourceRecord| -> Vec<String> {
            if blueprint.resources.contains_key(&r.name) {
                graph.dependencies(&r.name).iter().cloned().collect()
            } else {
                r.depends_on.clone()
            }
        };
        loop {
            let needed: BTreeSet<String> = current
                .values()
                .filter(|r| !created.contains(&r.name))
                .flat_map(&depends_on)
                .filter(|d| created.contains(d))
                .collect();
            if needed.is_empty() {
                break;
            }
            for n in needed {
                created.remove(&n);
                kept_for_rollback.push(n);
            }
        }
        if !created.is_empty() {
            // X is deleted after every created Y that depends on X
            let mut rwaits: BTreeMap<String, BTreeSet<String>> = created
                .iter()
                .map(|n| (n.clone(), BTreeSet::new()))
                .collect();
            for y in &created {
                for x in graph.dependencies(y) {
                    if created.contains(x) {
                        rwaits.get_mut(x).expect("created").insert(y.clone());
                    }
                }
            }
            // rollback runs even when the run was cancelled: recoverable by default
            let rollback_cancel = CancellationToken::new();
            let current = &current;
            let rc = &rollback_cancel;
            let (_, rb) = self
                .schedule(run, &rwaits, &rollback_cancel, "rollback of ", |name, _| {
                    let name = name.to_string();
                    let token = tokens[&name].clone();
                    let fut = async move {
                        let Some(rec) = current.get(&name) else {
                            return NodeOutcome::Done {
                                action: Action::Delete,
                                outcome: StepOutcome::AlreadyGone,
                                outputs: Value::Null,
                            };
                        };
                        let spec = blueprint.resources.get(&name);
                        match self.delete_recorded(run, rec, "rollback", &token, spec, rc).await {
                            Ok(outcome) => {
                                run.emit(|| EventKind::StepRolledBack { resource: name.clone() });
                                NodeOutcome::Done {
                                    action: Action::Delete,
                                    outcome,
                                    outputs: Value::Null,
                                }
                            }
                            Err(error) => {
                                tracing::error!(resource = %name, error = %error, "rollback failed");
                                run.emit(|| EventKind::StepFailed {
                                    resource: name.clone(),
                                    error: (&error).into(),
                                });
                                NodeOutcome::Failed {
                                    action: Action::Delete,
                                    error,
                                }
                            }
                        }
                    };
                    (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
                })
                .await;
            for (n, o) in rb {
                match o {
                    NodeOutcome::Failed { error, .. } => {
                        failed.insert(n, error);
                    }
                    // not tried: a dependent of it could not be deleted first
                    NodeOutcome::Skipped { reason, .. } => {
                        failed.insert(n, provisio::Error::conflict(reason));
                    }
                    o if o.ok() => {
                        rolled_back.insert(n);
                    }
                    _ => {}
                }
            }
        }
        Ok(Rollback {
            rolled_back,
            kept: kept_for_rollback,
            failed,
        })
    }
}
