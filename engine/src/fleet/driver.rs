//! The driver of one fleet run: waves, the failure threshold, the cursor, cancellation.

use crate::blueprint::Blueprint;
use crate::events::Operation;
use crate::resource::Tenant;
use crate::run::RunReport;
pub use crate::state::FleetCursor;
use crate::state::now_ms;
use provisio::{Error, Result};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::*;

/// The state of one fleet run.
pub(super) struct Driver<'f> {
    fleet: &'f Fleet,
    op: Op,
    operation: Operation,
    fleet_id: String,
    blueprint: Arc<Blueprint>,
    tenants: Vec<Option<Tenant>>,
    results: Vec<TenantResult>,
    cancel: CancellationToken,
    started: Instant,
    // the cursor, kept as sets and rebuilt for every save
    succeeded: Vec<String>,
    failed: BTreeMap<String, String>,
    attempt: u64,
    // this run
    todo: Vec<usize>,
    failed_now: usize,
    limit: usize,
    halt: Option<HaltReason>,
    cancelled: bool,
    last_save: Option<Instant>,
}

impl<'f> Driver<'f> {
    pub(super) async fn new(
        fleet: &'f Fleet,
        op: Op,
        operation: Operation,
        fleet_id: &str,
        blueprint: &Blueprint,
        tenants: Vec<Tenant>,
        cancel: CancellationToken,
    ) -> Result<Driver<'f>> {
        let mut seen = HashSet::with_capacity(tenants.len());
        for t in &tenants {
            provisio::validate::tenant_name("tenant", &t.name)?;
            if !seen.insert(t.name.as_str()) {
                return Err(Error::invalid_input(format!(
                    "tenant {:?} is listed twice in fleet {fleet_id:?}",
                    t.name
                )));
            }
        }
        let cursor = fleet
            .engine
            .state()
            .get_fleet_cursor(fleet_id)
            .await?
            .unwrap_or_default();
        // an apply's cursor lists tenants as done; a destroy under the same id would skip them
        if let Some(theirs) = cursor.detail.get("operation").and_then(|v| v.as_str())
            && theirs != operation.to_string()
        {
            return Err(Error::invalid_input(format!(
                "fleet id {fleet_id:?} is the cursor of a fleet {theirs}; a fleet {operation} \
                 needs a fleet id of its own"
            )));
        }
        let done: HashSet<&str> = cursor.succeeded.iter().map(String::as_str).collect();
        let mut results = Vec::with_capacity(tenants.len());
        let mut todo = Vec::new();
        for (i, t) in tenants.iter().enumerate() {
            if done.contains(t.name.as_str()) {
                results.push(TenantResult::pending(
                    &t.name,
                    TenantStatus::AlreadySucceeded,
                ));
            } else {
                results.push(TenantResult::pending(&t.name, TenantStatus::NotStarted));
                todo.push(i);
            }
        }
        let attempt = cursor
            .detail
            .get("attempt")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
            + 1;
        let limit = fleet.threshold.limit(todo.len());
        Ok(Driver {
            fleet,
            op,
            operation,
            fleet_id: fleet_id.to_string(),
            blueprint: Arc::new(blueprint.clone()),
            tenants: tenants.into_iter().map(Some).collect(),
            results,
            cancel,
            started: Instant::now(),
            succeeded: cursor.succeeded,
            failed: cursor.failed.into_iter().collect(),
            attempt,
            todo,
            failed_now: 0,
            limit,
            halt: None,
            cancelled: false,
            last_save: None,
        })
    }

    /// Emits the event `kind` builds, building it only when there is a sink.
    fn emit(&self, kind: impl FnOnce() -> FleetEventKind) {
        if let Some(s) = &self.fleet.events {
            s.emit(&FleetEvent {
                fleet_id: self.fleet_id.clone(),
                at_ms: now_ms(),
                kind: kind(),
            });
        }
    }

    fn state_name(&self, finished: bool) -> &'static str {
        match (finished, self.cancelled, &self.halt) {
            (_, true, _) => "cancelled",
            (_, _, Some(_)) => "halted",
            (true, _, None) => "completed",
            (false, _, None) => "running",
        }
    }

    async fn save(&mut self, finished: bool) -> Result<()> {
        self.last_save = Some(Instant::now());
        let cursor = FleetCursor {
            fleet_id: self.fleet_id.clone(),
            succeeded: self.succeeded.clone(),
            failed: self
                .failed
                .iter()
                .map(|(t, e)| (t.clone(), e.clone()))
                .collect(),
            halted: self.cancelled || self.halt.is_some(),
            detail: json!({
                "operation": self.operation,
                "blueprint": self.blueprint.name,
                "state": self.state_name(finished),
                "halt_reason": self.halt.as_ref().map(|h| h.to_string()),
                "attempt": self.attempt,
                "tenants": self.results.len(),
            }),
        };
        self.fleet.engine.state().put_fleet_cursor(&cursor).await
    }

    /// Whether no new tenant may start.
    fn stopped(&mut self) -> bool {
        if !self.cancelled && self.cancel.is_cancelled() {
            self.cancelled = true;
            self.emit(|| FleetEventKind::Cancelled);
        }
        self.cancelled || self.halt.is_some()
    }

    fn spawn(
        &mut self,
        set: &mut JoinSet<(usize, Result<RunReport>)>,
        ids: &mut HashMap<tokio::task::Id, usize>,
        i: usize,
        canary: bool,
    ) {
        let tenant = self.tenants[i].take().expect("each tenant runs once");
        self.results[i].canary = canary;
        self.emit(|| FleetEventKind::TenantStarted {
            tenant: tenant.name.clone(),
            canary,
        });
        let engine = self.fleet.engine.clone();
        let blueprint = self.blueprint.clone();
        let cancel = self.cancel.child_token();
        let op = self.op.clone();
        let apply = self.fleet.apply_options.clone().cancel(cancel.clone());
        let destroy = self.fleet.destroy_options.clone().cancel(cancel);
        let handle = set.spawn(
            async move {
                let r = match op {
                    Op::Apply(graph) => {
                        engine
                            .apply_validated(&blueprint, &graph, &tenant, apply)
                            .await
                    }
                    Op::Destroy => engine.destroy(&blueprint, &tenant, destroy).await,
                };
                (i, r)
            }
            .in_current_span(),
        );
        ids.insert(handle.id(), i);
    }

    /// Records a finished tenant; returns whether it failed.
    fn finished(&mut self, i: usize, r: Result<RunReport>) -> bool {
        let res = &mut self.results[i];
        match r {
            Ok(report) => {
                res.run_id = Some(report.run_id);
                res.error = report.errors.first().map(|(_, e)| e.into());
                res.summary = Some(report.summary);
            }
            Err(e) => res.error = Some((&e).into()),
        }
        let ok = res.error.is_none();
        res.status = if ok {
            TenantStatus::Succeeded
        } else {
            TenantStatus::Failed
        };
        let name = res.tenant.clone();
        if ok {
            self.failed.remove(&name);
            self.succeeded.push(name);
        } else {
            let msg = res
                .error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            self.failed.insert(name, msg);
            self.failed_now += 1;
        }
        self.emit(|| FleetEventKind::TenantFinished {
            result: self.results[i].clone(),
        });
        !ok
    }

    /// Runs the tenants `todo[range]`, at most `concurrency` at a time, until they are done
    /// or the rollout stops; saves the cursor whenever tenants finish. Returns the canaries
    /// that failed (for the canary wave).
    async fn wave(&mut self, from: usize, to: usize, canary: bool) -> Result<Vec<String>> {
        let mut set = JoinSet::new();
        let mut ids = HashMap::new();
        let mut next = from;
        let mut failed = Vec::new();
        let limit = self.fleet.concurrency;
        loop {
            while set.len() < limit && next < to && !self.stopped() {
                let i = self.todo[next];
                next += 1;
                self.spawn(&mut set, &mut ids, i, canary);
            }
            if set.is_empty() {
                break;
            }
            let first = tokio::select! {
                // a cancellation is noticed at once (the runs in flight see it themselves)
                _ = self.cancel.cancelled(), if !self.cancelled => {
                    self.stopped();
                    continue;
                }
                j = set.join_next_with_id() => j,
            };
            // tenants that finished together share one cursor save
            let mut batch = vec![first.expect("the set is not empty")];
            while let Some(j) = set.try_join_next_with_id() {
                batch.push(j);
            }
            let failures_before = self.failed_now;
            for j in batch {
                let (i, r) = match j {
                    Ok((id, (i, r))) => {
                        ids.remove(&id);
                        (i, r)
                    }
                    Err(e) => {
                        let i = ids.remove(&e.id()).expect("spawned by this wave");
                        let what = if e.is_panic() {
                            "panicked"
                        } else {
                            "was aborted"
                        };
                        let err = Error::unexpected(format!(
                            "the run of tenant {:?} {what}",
                            self.results[i].tenant
                        ));
                        (i, Err(err))
                    }
                };
                if self.finished(i, r) {
                    if canary {
                        failed.push(self.results[i].tenant.clone());
                    }
                    if self.halt.is_none() && !canary && self.failed_now >= self.limit {
                        let reason = HaltReason::ThresholdReached {
                            failed: self.failed_now,
                            limit: self.limit,
                        };
                        tracing::warn!(reason = %reason, "fleet rollout halted");
                        self.halt = Some(reason.clone());
                        self.emit(|| FleetEventKind::Halted { reason });
                    }
                }
            }
            let due = self.failed_now > failures_before
                || self.halt.is_some()
                || self.cancelled
                || self
                    .last_save
                    .is_none_or(|t| t.elapsed() >= self.fleet.cursor_interval);
            if due {
                self.save(false).await?;
            }
        }
        Ok(failed)
    }

    pub(super) async fn go(mut self) -> Result<FleetReport> {
        let already = self.results.len() - self.todo.len();
        let canary = self.fleet.canary.min(self.todo.len());
        self.emit(|| FleetEventKind::FleetStarted {
            operation: self.operation,
            tenants: self.results.len(),
            already_succeeded: already,
            canary,
            failure_limit: self.limit,
        });
        self.save(false).await?;
        if canary > 0 {
            let failed = self.wave(0, canary, true).await?;
            if self.stopped() {
                // cancelled during the canary wave
            } else if !failed.is_empty() {
                let reason = HaltReason::CanaryFailed { tenants: failed };
                tracing::warn!(reason = %reason, "fleet rollout halted");
                self.halt = Some(reason.clone());
                self.emit(|| FleetEventKind::Halted { reason });
            } else {
                let tenants = self.todo[..canary]
                    .iter()
                    .map(|&i| self.results[i].tenant.clone())
                    .collect();
                self.emit(|| FleetEventKind::CanaryPassed { tenants });
            }
        }
        // a failure threshold reached by canaries alone is already a canary halt
        if self.halt.is_none() && self.failed_now >= self.limit {
            let reason = HaltReason::ThresholdReached {
                failed: self.failed_now,
                limit: self.limit,
            };
            self.halt = Some(reason.clone());
            self.emit(|| FleetEventKind::Halted { reason });
        }
        let n = self.todo.len();
        self.wave(canary, n, false).await?;
        self.stopped();
        self.save(true).await?;

        let mut counts = FleetCounts {
            tenants: self.results.len(),
            ..Default::default()
        };
        for r in &self.results {
            match r.status {
                TenantStatus::Succeeded => counts.succeeded += 1,
                TenantStatus::Failed => counts.failed += 1,
                TenantStatus::AlreadySucceeded => counts.already_succeeded += 1,
                TenantStatus::NotStarted => counts.not_started += 1,
            }
            if let Some(s) = &r.summary {
                let t = &mut counts.resources;
                t.created += s.created;
                t.updated += s.updated;
                t.unchanged += s.unchanged;
                t.deleted += s.deleted;
                t.failed += s.failed;
                t.skipped += s.skipped;
                t.rolled_back += s.rolled_back;
                t.duration_ms += s.duration_ms;
            }
        }
        let status = if self.cancelled {
            FleetStatus::Cancelled
        } else if let Some(reason) = self.halt.clone() {
            FleetStatus::Halted { reason }
        } else {
            FleetStatus::Completed
        };
        self.emit(|| FleetEventKind::FleetFinished {
            status: status.clone(),
            counts: counts.clone(),
        });
        Ok(FleetReport {
            fleet_id: self.fleet_id,
            operation: self.operation,
            status,
            tenants: self.results,
            counts,
            duration_ms: self.started.elapsed().as_millis() as u64,
        })
    }
}
