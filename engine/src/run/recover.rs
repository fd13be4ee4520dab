//! Crash recovery: resolving the in-doubt intents a crashed run left in the journal.

use super::{Engine, Run, secret_free};
use crate::events::{EventKind, StepOutcome};
use crate::plan::Action;
use crate::resource::StepContext;
use crate::state::{JournalEntry, JournalPhase, ResourceRecord, now_ms};
use provisio::requests::RequestTally;
use provisio::{Error, Result};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

impl Engine {
    /// Resolves the in-doubt intents of a crashed run of this tenant. Deletes are run again.
    /// A create or update is looked up; when the resource exists and `finish` is set (an
    /// apply resumes), the interrupted ensure is run again with the intent's parameters, so
    /// that a half-done step (a prefix copy killed after one object of three) finishes
    /// instead of being taken for done; without `finish` (a destroy resumes) it is adopted as
    /// found.
    pub(super) async fn recover(&self, run: &Run<'_>, finish: bool) -> Result<()> {
        let pending = self.inner.state.pending_intents(&run.tenant.name).await?;
        for intent in pending {
            let rt = self.type_of(&intent.resource_type)?;
            let d = &intent.detail;
            let params = d.get("params").cloned().unwrap_or(Value::Null);
            let provider = d
                .get("provider")
                .and_then(Value::as_str)
                .unwrap_or(crate::providers::DEFAULT_PROVIDER)
                .to_string();
            let token = d
                .get("idempotency_token")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let record = self
                .inner
                .state
                .get_resource(&run.tenant.name, &intent.resource)
                .await?;
            let ctx = StepContext {
                tenant: run.tenant,
                blueprint: run.blueprint,
                resource: &intent.resource,
                provider: &provider,
                providers: &self.inner.providers,
                ownership: intent.tags.clone(),
                idempotency_token: &token,
                written: &run.written,
                transition: None,
            };
            let span = tracing::info_span!("provisio.recover", resource = %intent.resource, action = %intent.action);
            run.emit(|| EventKind::StepStarted {
                resource: intent.resource.clone(),
                action: Action::Adopt,
            });
            let started = Instant::now();
            let policy = self.policy(None);
            let result = async {
                match intent.action.as_str() {
                    "delete" | "rollback" => {
                        let outputs = record.as_ref().map(|r| r.outputs.clone()).or_else(|| d.get("outputs").cloned()).unwrap_or(Value::Null);
                        let del = self
                            .call(run, &intent.resource, policy, &run.cancel, || rt.delete(&ctx, &params, &outputs))
                            .await?;
                        self.inner.state.append_journal(&JournalEntry {
                            seq: 0,
                            run_id: run.id.clone(),
                            phase: JournalPhase::Succeeded,
                            detail: json!({"deleted": del, "resumed": true}),
                            at_ms: now_ms(),
                            ..intent.clone()
                        }).await?;
                        self.inner.state.delete_resource(&run.tenant.name, &intent.resource).await?;
                        Ok((del.into(), Value::Null))
                    }
                    _ => {
                        let prior = record.as_ref().map(|r| &r.outputs);
                        let found = self
                            .call(run, &intent.resource, policy, &run.cancel, || rt.read(&ctx, &params, prior))
                            .await?;
                        let found = match found {
                            Some(_) if finish => Some(
                                self.call(run, &intent.resource, policy, &run.cancel, || {
                                    rt.apply(&ctx, &params, prior)
                                })
                                .await?
                                .outputs,
                            ),
                            other => other,
                        };
                        match found {
                            Some(outputs) => {
                                secret_free(run.tenant, &intent.resource, &outputs)?;
                                self.inner.state.append_journal(&JournalEntry {
                                    seq: 0,
                                    run_id: run.id.clone(),
                                    phase: JournalPhase::Succeeded,
                                    detail: json!({"outputs": outputs, "adopted": true}),
                                    at_ms: now_ms(),
                                    ..intent.clone()
                                }).await?;
                                let depends_on = d
                                    .get("depends_on")
                                    .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
                                    .unwrap_or_default();
                                self.inner.state.put_resource(&ResourceRecord {
                                    tenant: run.tenant.name.clone(),
                                    name: intent.resource.clone(),
                                    resource_type: intent.resource_type.clone(),
                                    provider: provider.clone(),
                                    identity: intent.identity.clone(),
                                    params: params.clone(),
                                    outputs: outputs.clone(),
                                    protect: d.get("protect").and_then(Value::as_bool).unwrap_or(false),
                                    depends_on,
                                    updated_at_ms: now_ms(),
                                }).await?;
                                Ok((StepOutcome::Adopted, outputs))
                            }
                            None => {
                                self.inner.state.append_journal(&JournalEntry {
                                    seq: 0,
                                    run_id: run.id.clone(),
                                    phase: JournalPhase::Failed,
                                    detail: json!({"error": "in doubt: not found when the next run resumed; treated as absent", "resumed": true}),
                                    at_ms: now_ms(),
                                    ..intent.clone()
                                }).await?;
                                if record.is_some() {
                                    self.inner.state.delete_resource(&run.tenant.name, &intent.resource).await?;
                                }
                                Ok((StepOutcome::Absent, Value::Null))
                            }
                        }
                    }
                }
            }
            .instrument(span);
            let tally = Arc::new(RequestTally::default());
            let result: Result<(StepOutcome, Value)> =
                provisio::requests::counted(tally.clone(), result).await;
            run.requests.merge(&tally);
            match result {
                Ok((outcome, outputs)) => run.emit(|| EventKind::StepSucceeded {
                    resource: intent.resource.clone(),
                    action: Action::Adopt,
                    outcome,
                    outputs,
                    duration_ms: started.elapsed().as_millis() as u64,
                    requests: tally.total(),
                }),
                Err(e) => {
                    run.emit(|| EventKind::StepFailed {
                        resource: intent.resource.clone(),
                        error: (&e).into(),
                    });
                    return Err(Error::new(
                        e.kind().clone(),
                        format!(
                            "cannot resolve the in-doubt {} of resource {:?} left by run {}: {}",
                            intent.action,
                            intent.resource,
                            intent.run_id,
                            e.message()
                        ),
                    )
                    .with_resource(intent.resource.clone()));
                }
            }
        }
        Ok(())
    }
}
