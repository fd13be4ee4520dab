//! Refresh: every recorded resource read, drift reported (and optionally recorded).

use super::{Engine, RefreshOptions, RefreshReport, RefreshedResource, Run, secret_free};
use crate::blueprint::Blueprint;
use crate::events::{EventKind, Operation, StepOutcome, Summary};
use crate::plan::{self, Action, Drift, diff_values};
use crate::resource::Tenant;
use crate::state::now_ms;
use futures::stream::StreamExt;
use provisio::Result;
use provisio::requests::RequestTally;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

impl Engine {
    /// Reads every resource of `tenant` recorded in state and reports drift; with
    /// `options.write`, records what it read (changed outputs; missing resources removed).
    pub async fn refresh(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: RefreshOptions,
    ) -> Result<RefreshReport> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        self.locked(
            Operation::Refresh,
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| self.refresh_locked(run, blueprint, &options).await,
        )
        .await
    }

    async fn refresh_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        options: &RefreshOptions,
    ) -> Result<RefreshReport> {
        let started = Instant::now();
        let records = self.inner.state.list_resources(&run.tenant.name).await?;
        run.emit(|| EventKind::RunStarted {
            operation: Operation::Refresh,
            resources: records.iter().map(|r| r.name.clone()).collect(),
        });
        let mut summary = Summary::default();
        let reads = futures::stream::iter(records.iter().map(|rec| async move {
            let t0 = Instant::now();
            run.emit(|| EventKind::StepStarted {
                resource: rec.name.clone(),
                action: Action::Read,
            });
            let tally = Arc::new(RequestTally::default());
            let read = async {
                let rt = self.type_of(&rec.resource_type)?;
                let ctx = self.ctx(run, &rec.name, &rec.provider, "");
                let policy = self.policy(blueprint.resources.get(&rec.name));
                self.call(run, &rec.name, policy, &run.cancel, || {
                    rt.read(&ctx, &rec.params, Some(&rec.outputs))
                })
                .await
            }
            .instrument(
                tracing::info_span!("provisio.step", resource = %rec.name, action = "read"),
            );
            let r = provisio::requests::counted(tally.clone(), read).await;
            run.requests.merge(&tally);
            (rec, r, t0, tally.total())
        }))
        .buffer_unordered(self.inner.concurrency)
        .collect::<Vec<_>>()
        .await;
        let mut out = Vec::new();
        let mut first_error = None;
        for (rec, r, t0, step_requests) in reads {
            match r {
                Err(e) => {
                    summary.failed += 1;
                    run.emit(|| EventKind::StepFailed {
                        resource: rec.name.clone(),
                        error: (&e).into(),
                    });
                    first_error.get_or_insert(e);
                }
                Ok(found) => {
                    // the read went through the type, so it is registered
                    let drift = match (&found, self.type_of(&rec.resource_type)) {
                        (None, _) => Drift::Missing,
                        (Some(o), Ok(rt)) => plan::drift_of(rt.as_ref(), &rec.outputs, o),
                        (Some(o), Err(_)) => Drift::Changed {
                            diff: diff_values(&rec.outputs, o),
                        },
                    };
                    if options.write {
                        match (&drift, found) {
                            (Drift::Missing, _) => {
                                self.inner
                                    .state
                                    .delete_resource(&run.tenant.name, &rec.name)
                                    .await?
                            }
                            (_, Some(o)) if o != rec.outputs => {
                                secret_free(run.tenant, &rec.name, &o)?;
                                let mut r = rec.clone();
                                r.outputs = o;
                                r.updated_at_ms = now_ms();
                                self.inner.state.put_resource(&r).await?;
                            }
                            _ => {}
                        }
                    }
                    match drift {
                        Drift::InSync => summary.unchanged += 1,
                        Drift::Changed { .. } => summary.updated += 1,
                        Drift::Missing => summary.deleted += 1,
                    }
                    run.emit(|| EventKind::StepSucceeded {
                        resource: rec.name.clone(),
                        action: Action::Read,
                        outcome: match drift {
                            Drift::InSync => StepOutcome::Unchanged,
                            Drift::Changed { .. } => StepOutcome::Updated,
                            Drift::Missing => StepOutcome::AlreadyGone,
                        },
                        outputs: Value::Null,
                        duration_ms: t0.elapsed().as_millis() as u64,
                        requests: step_requests,
                    });
                    out.push(RefreshedResource {
                        resource: rec.name.clone(),
                        drift,
                    });
                }
            }
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary.requests = run.requests.total();
        summary.requests_by_service = run.requests.by_service();
        run.emit(|| EventKind::RunFinished { summary });
        if let Some(e) = first_error {
            return Err(e);
        }
        out.sort_by(|a, b| a.resource.cmp(&b.resource));
        Ok(RefreshReport {
            run_id: run.id.clone(),
            tenant: run.tenant.name.clone(),
            resources: out,
        })
    }
}
