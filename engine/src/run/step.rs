//! The journaled side effects of a step: ensure (create or update) and delete of one resource.

use super::journal::SideEffect;
use super::{Engine, Run, secret_free};
use crate::blueprint::ResourceSpec;
use crate::events::{EventError, StepOutcome};
use crate::plan::Action;
use crate::resource::{ResourceType, StepContext};
use crate::state::{JournalPhase, ResourceRecord, now_ms};
use provisio::Result;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// One create or update of a blueprint resource, as [`Engine::ensure`] carries it out.
pub(super) struct EnsureStep<'a> {
    /// The resource.
    pub(super) name: &'a str,
    /// Its blueprint entry.
    pub(super) spec: &'a ResourceSpec,
    /// What it depends on (recorded with it).
    pub(super) deps: &'a BTreeSet<String>,
    /// Its resolved parameters.
    pub(super) params: &'a Value,
    /// Its record in state; `None` when there is none (a create, or a replace's new one).
    pub(super) prior: Option<&'a ResourceRecord>,
    /// `Create` or `Update`.
    pub(super) action: Action,
    /// Its idempotency token.
    pub(super) token: &'a str,
}

/// Whether this run created a resource it had no record of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provenance {
    /// It was absent before the step: this run made it (and rolls it back with the run).
    Created,
    /// It existed before the step (adopted, or recorded in state).
    Existed,
    /// The provider's first report came after a failed attempt that may have created it:
    /// kept on rollback (recorded in state, listed in
    /// [`RunReport::in_doubt`](super::RunReport::in_doubt)).
    InDoubt,
}

impl Provenance {
    fn from_absent(absent: bool) -> Self {
        if absent {
            Provenance::Created
        } else {
            Provenance::Existed
        }
    }
}

/// A resource whose create step failed, to look up once more (see
/// `Engine::record_after_failed_create`).
struct FoundAfterFailure<'a> {
    name: &'a str,
    spec: &'a ResourceSpec,
    ctx: &'a StepContext<'a>,
    rt: &'a dyn ResourceType,
    params: &'a Value,
    identity: String,
    depends_on: Vec<String>,
}

impl Engine {
    /// One journaled delete of a recorded resource (destroy, orphan delete, replace, rollback).
    pub(super) async fn delete_recorded(
        &self,
        run: &Run<'_>,
        rec: &ResourceRecord,
        journal_action: &str,
        token: &str,
        spec: Option<&ResourceSpec>,
        cancel: &CancellationToken,
    ) -> Result<StepOutcome> {
        let rt = self.type_of(&rec.resource_type)?;
        let ctx = self.ctx(run, &rec.name, &rec.provider, token);
        let effect = SideEffect::new(
            run,
            &rec.name,
            &rec.resource_type,
            journal_action,
            &rec.identity,
            token,
        );
        self.journal(
            run,
            &effect,
            JournalPhase::Intent,
            json!({"params": rec.params, "outputs": rec.outputs, "provider": rec.provider, "protect": rec.protect, "depends_on": rec.depends_on, "idempotency_token": token}),
        )
        .await?;
        let r = self
            .call(run, &rec.name, self.policy(spec), cancel, || {
                rt.delete(&ctx, &rec.params, &rec.outputs)
            })
            .await;
        match r {
            Ok(d) => {
                self.journal(run, &effect, JournalPhase::Succeeded, json!({"deleted": d}))
                    .await?;
                self.inner
                    .state
                    .delete_resource(&run.tenant.name, &rec.name)
                    .await?;
                Ok(d.into())
            }
            Err(e) => {
                self.journal(
                    run,
                    &effect,
                    JournalPhase::Failed,
                    json!({"error": EventError::from(&e)}),
                )
                .await?;
                Err(e)
            }
        }
    }

    /// Create or update one blueprint resource (journaled).
    pub(super) async fn ensure(
        &self,
        run: &Run<'_>,
        step: EnsureStep<'_>,
    ) -> Result<(StepOutcome, Value)> {
        let EnsureStep {
            name,
            spec,
            deps,
            params,
            prior,
            action,
            token,
        } = step;
        let rt = self.type_of(&spec.resource_type)?;
        let ctx = self.ctx(run, name, &spec.provider, token);
        let identity = rt.identity(&ctx, params)?;
        let jaction = action.as_str();
        let effect = SideEffect::new(run, name, &spec.resource_type, jaction, &identity, token);
        let depends_on: Vec<String> = deps.iter().cloned().collect();
        self.journal(
            run,
            &effect,
            JournalPhase::Intent,
            json!({"params": params, "provider": spec.provider, "protect": spec.protect, "depends_on": depends_on, "idempotency_token": token}),
        )
        .await?;
        let policy = self.policy(Some(spec));
        let apply_policy = self.apply_policy(spec, rt.as_ref(), params);
        let prior_outputs = prior.map(|r| &r.outputs);
        // Without a record, the run must learn whether the resource existed before this step:
        // it rolls back what it created and never what existed. Built-in types' providers say
        // what they found while they ensure (`provisio::existence`), which costs no request;
        // for other types the engine reads first. An attempt whose answer is lost can have
        // created the resource; the retry then finds it, so a report made only after a failed
        // attempt leaves the step in doubt.
        let pre_read_absent = if prior.is_none() && !rt.reports_existence() {
            Some(matches!(
                self.call(run, name, policy, &run.cancel, || rt
                    .read(&ctx, params, None))
                    .await,
                Ok(None)
            ))
        } else {
            None
        };
        let existence = Arc::new(provisio::existence::Existence::default());
        let failed_before_report = AtomicBool::new(false);
        let r = self
            .call(run, name, apply_policy, &run.cancel, || {
                let existence = existence.clone();
                let failed_before_report = &failed_before_report;
                let attempt = rt.apply(&ctx, params, prior_outputs);
                async move {
                    let r = provisio::existence::watched(existence.clone(), attempt).await;
                    match &r {
                        // a provider that said nothing: what the ensure did tells (`Created`:
                        // it was not there)
                        Ok(a) => existence.report(a.outcome != provisio::Outcome::Created),
                        Err(_) if existence.get().is_none() => {
                            failed_before_report.store(true, Ordering::SeqCst)
                        }
                        Err(_) => {}
                    }
                    r
                }
            })
            .await;
        let provenance = match (prior, pre_read_absent, existence.get()) {
            (Some(_), _, _) => Provenance::Existed,
            (None, Some(absent), _) => Provenance::from_absent(absent),
            // nothing there when the provider looked: a failed earlier attempt made nothing
            (None, None, Some(false)) => Provenance::Created,
            (None, None, Some(true)) if !failed_before_report.load(Ordering::SeqCst) => {
                Provenance::Existed
            }
            (None, None, _) => Provenance::InDoubt,
        };
        let r = r
            .and_then(|a| secret_free(run.tenant, name, &a.outputs).map(|_| a))
            .map(|mut a| {
                // absent before the step: whatever the ensure reports (`Unchanged` after a lost
                // response, `Updated` for files written to a branch that was just made), this
                // run created it
                if provenance == Provenance::Created {
                    a.outcome = provisio::Outcome::Created;
                }
                a
            });
        if prior.is_none() && provenance == Provenance::InDoubt {
            tracing::warn!(
                resource = name,
                "cannot tell whether this run created the resource; it is kept on rollback"
            );
            run.in_doubt
                .lock()
                .expect("in_doubt lock")
                .insert(name.to_string());
        }
        match r {
            Ok(applied) => {
                self.journal(
                    run,
                    &effect,
                    JournalPhase::Succeeded,
                    json!({"outputs": applied.outputs, "outcome": applied.outcome}),
                )
                .await?;
                self.inner
                    .state
                    .put_resource(&ResourceRecord {
                        tenant: run.tenant.name.clone(),
                        name: name.to_string(),
                        resource_type: spec.resource_type.clone(),
                        provider: spec.provider.clone(),
                        identity,
                        params: params.clone(),
                        outputs: applied.outputs.clone(),
                        protect: spec.protect,
                        depends_on,
                        updated_at_ms: now_ms(),
                    })
                    .await?;
                Ok((applied.outcome.into(), applied.outputs))
            }
            Err(e) => {
                self.journal(
                    run,
                    &effect,
                    JournalPhase::Failed,
                    json!({"error": EventError::from(&e)}),
                )
                .await?;
                // a failed attempt of a waiting type left nothing to find (see
                // `ResourceType::polling`): no read after it. Nor does a step that found the
                // resource there before it (and refused it, say a database that holds data a
                // restore would overwrite): this run did not make it, so it is not recorded as
                // this tenant's
                if prior.is_none()
                    && rt.polling(params).is_none()
                    && provenance != Provenance::Existed
                {
                    let found = FoundAfterFailure {
                        name,
                        spec,
                        ctx: &ctx,
                        rt: rt.as_ref(),
                        params,
                        identity,
                        depends_on,
                    };
                    self.record_after_failed_create(run, found, provenance)
                        .await;
                }
                Err(e)
            }
        }
    }

    /// After a create step failed: an attempt may have taken effect before the failure (a
    /// lost response, then a permanent error). Reads the resource once; when it exists it is
    /// recorded in state (so destroy knows it), and when it was absent before the step it is
    /// marked for rollback. Best effort: a failing read leaves things as they are, and the next
    /// apply adopts the resource by name or tags.
    async fn record_after_failed_create(
        &self,
        run: &Run<'_>,
        found: FoundAfterFailure<'_>,
        provenance: Provenance,
    ) {
        let FoundAfterFailure {
            name,
            spec,
            ctx,
            rt,
            params,
            identity,
            depends_on,
        } = found;
        // retried like any call, and not cut short by a cancelled run: the rollback that
        // follows runs after cancellation too
        let Ok(Some(outputs)) = self
            .call(
                run,
                name,
                self.policy(Some(spec)),
                &CancellationToken::new(),
                || rt.read(ctx, params, None),
            )
            .await
        else {
            return;
        };
        if secret_free(run.tenant, name, &outputs).is_err() {
            return;
        }
        let record = ResourceRecord {
            tenant: run.tenant.name.clone(),
            name: name.to_string(),
            resource_type: spec.resource_type.clone(),
            provider: spec.provider.clone(),
            identity,
            params: params.clone(),
            outputs,
            protect: spec.protect,
            depends_on,
            updated_at_ms: now_ms(),
        };
        if self.inner.state.put_resource(&record).await.is_ok() && provenance == Provenance::Created
        {
            run.created_on_failure
                .lock()
                .expect("created_on_failure lock")
                .insert(name.to_string());
        }
    }
}
