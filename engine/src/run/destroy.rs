//! Destroy: every recorded resource deleted, dependents first, protected ones kept.

use super::rollback::Rollback;
use super::{
    DestroyOptions, Engine, NodeOutcome, Run, RunReport, check_overrides, idempotency_token,
};
use crate::blueprint::Blueprint;
use crate::events::{EventKind, Operation};
use crate::plan::{Action, delete_order, protected_message};
use crate::resource::Tenant;
use crate::state::{ResourceRecord, records_by_name};
use futures::future::BoxFuture;
use provisio::Result;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

impl Engine {
    /// Deletes every resource of `tenant` recorded in state, dependents first. Protected
    /// resources not named in an override are kept (and so is what they depend on); the
    /// report lists them in `kept_protected`. `blueprint` provides the name used in ownership
    /// tags and the per-resource retry and timeout settings; resources not in it are deleted
    /// too, so `Blueprint::new(name)` is enough. A destroy that leaves nothing also removes
    /// the tenant's lifecycle record (see [`crate::lifecycle`]).
    pub async fn destroy(
        &self,
        blueprint: &Blueprint,
        tenant: &Tenant,
        options: DestroyOptions,
    ) -> Result<RunReport> {
        provisio::validate::tenant_name("tenant", &tenant.name)?;
        self.locked(
            Operation::Destroy,
            blueprint,
            tenant,
            &options.cancel,
            options.lock_wait,
            async |run| self.destroy_locked(run, blueprint, &options).await,
        )
        .await
    }

    async fn destroy_locked(
        &self,
        run: &Run<'_>,
        blueprint: &Blueprint,
        options: &DestroyOptions,
    ) -> Result<RunReport> {
        let started = Instant::now();
        self.recover(run, false).await?;
        let records = records_by_name(self.inner.state.as_ref(), &run.tenant.name).await?;
        check_overrides(
            &options.overrides,
            blueprint.resources.keys().chain(records.keys()),
        )?;
        let all: Vec<&ResourceRecord> = records.values().collect();
        let order = delete_order(&all);
        run.emit(|| EventKind::RunStarted {
            operation: Operation::Destroy,
            resources: order.clone(),
        });
        let mut waits: BTreeMap<String, BTreeSet<String>> = records
            .keys()
            .map(|n| (n.clone(), BTreeSet::new()))
            .collect();
        for r in records.values() {
            for d in &r.depends_on {
                if d != &r.name && records.contains_key(d) {
                    waits.get_mut(d).expect("recorded").insert(r.name.clone());
                }
            }
        }
        let generations = self.generations(&run.tenant.name).await?;
        let records = &records;
        let generations = &generations;
        let (finished, results) = self
            .schedule(run, &waits, &run.cancel, "kept because ", |name, _| {
                let name = name.to_string();
                let started = Instant::now();
                let fut = async move {
                    let rec = &records[&name];
                    let o = if rec.protect && !options.overrides.contains(&name) {
                        NodeOutcome::Skipped {
                            action: Action::Delete,
                            reason: protected_message(&name, "deleting"),
                            protected: true,
                        }
                    } else {
                        run.emit(|| EventKind::StepStarted {
                            resource: name.clone(),
                            action: Action::Delete,
                        });
                        let token = idempotency_token(
                            &run.tenant.name,
                            run.blueprint,
                            &name,
                            generations.get(&name).copied().unwrap_or(0),
                        );
                        match self
                            .delete_recorded(
                                run,
                                rec,
                                "delete",
                                &token,
                                blueprint.resources.get(&name),
                                &run.cancel,
                            )
                            .await
                        {
                            Ok(outcome) => NodeOutcome::Done {
                                action: Action::Delete,
                                outcome,
                                outputs: Value::Null,
                            },
                            Err(error) => NodeOutcome::Failed {
                                action: Action::Delete,
                                error,
                            },
                        }
                    };
                    Self::step_events(run, &name, &o, started);
                    o
                };
                (Action::Delete, Box::pin(fut) as BoxFuture<'_, NodeOutcome>)
            })
            .await;
        let report = Self::report(
            run,
            Operation::Destroy,
            started,
            &finished,
            &results,
            &Rollback::default(),
            None,
        );
        // a tenant destroyed whole has no lifecycle left (a kept protected resource keeps it)
        if report.is_success()
            && self
                .inner
                .state
                .list_resources(&run.tenant.name)
                .await?
                .is_empty()
        {
            self.inner.state.delete_phase(&run.tenant.name).await?;
        }
        Ok(report)
    }
}
