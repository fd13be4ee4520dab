//! The tenant's lease around a run: taken (or waited for), renewed by a heartbeat, released.

use super::{Engine, Run, new_run_id};
use crate::blueprint::Blueprint;
use crate::resource::Tenant;
use crate::state::{Lease, StateStore};
use provisio::{Error, ErrorKind, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

struct LeaseGuard {
    lease: Arc<tokio::sync::Mutex<Lease>>,
    heartbeat: tokio::task::JoinHandle<()>,
    state: Arc<dyn StateStore>,
}

impl Drop for LeaseGuard {
    /// A run future dropped by its caller stops renewing; the lease then expires by its TTL.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

impl LeaseGuard {
    async fn release(self) {
        self.heartbeat.abort();
        let lease = self.lease.lock().await.clone();
        if let Err(e) = self.state.release_lease(&lease).await {
            tracing::warn!(tenant = %lease.tenant, error = %e, "releasing the lease failed");
        }
    }
}

impl Engine {
    async fn lock(
        &self,
        tenant: &str,
        run_id: &str,
        wait: Option<Duration>,
        run_cancel: &CancellationToken,
        lost: &Arc<AtomicBool>,
    ) -> Result<LeaseGuard> {
        let state = self.inner.state.clone();
        let owner = format!("{}/{run_id}", self.inner.lock_owner);
        let ttl = self.inner.lock_ttl;
        let deadline = wait.map(|w| tokio::time::Instant::now() + w);
        let lease = loop {
            match state.acquire_lease(tenant, &owner, ttl).await {
                Ok(l) => break l,
                Err(e) if e.kind() == &ErrorKind::Conflict => {
                    let now = tokio::time::Instant::now();
                    match deadline {
                        Some(d) if now < d && !run_cancel.is_cancelled() => {
                            let nap = (d - now).min(Duration::from_millis(250));
                            tokio::select! {
                                _ = tokio::time::sleep(nap) => {}
                                _ = run_cancel.cancelled() => {}
                            }
                        }
                        _ => {
                            // the store's message already names the holder and expiry
                            return Err(Error::conflict(format!(
                                "{}{}; wait for it (lock_wait) or, if its holder is dead, \
                                 break the lease",
                                e.message(),
                                if wait.is_some() {
                                    " (gave up waiting)"
                                } else {
                                    ""
                                },
                            ))
                            .with_operation("state.lease")
                            .with_resource(tenant.to_string()));
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        };
        let shared = Arc::new(tokio::sync::Mutex::new(lease));
        let hb_lease = shared.clone();
        let hb_state = state.clone();
        let hb_cancel = run_cancel.clone();
        let hb_lost = lost.clone();
        let heartbeat = tokio::spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                let current = hb_lease.lock().await.clone();
                match hb_state.renew_lease(&current, ttl).await {
                    Ok(l) => *hb_lease.lock().await = l,
                    Err(e) if e.kind() == &ErrorKind::Conflict => {
                        tracing::error!(tenant = %current.tenant, error = %e, "lease lost; cancelling the run");
                        hb_lost.store(true, Ordering::SeqCst);
                        hb_cancel.cancel();
                        return;
                    }
                    Err(e) => {
                        // a store hiccup: try again at the next beat, the TTL leaves room
                        tracing::warn!(tenant = %current.tenant, error = %e, "lease renewal failed");
                    }
                }
            }
        });
        Ok(LeaseGuard {
            lease: shared,
            heartbeat,
            state,
        })
    }

    /// Runs `body` as one run of `operation` on `tenant`: in a `provisio.run` span, holding the
    /// tenant's lease (taken, or waited for up to `lock_wait`, and renewed by a heartbeat), and
    /// releasing it whatever `body` returned.
    pub(super) async fn locked<T>(
        &self,
        operation: crate::events::Operation,
        blueprint: &Blueprint,
        tenant: &Tenant,
        cancel: &CancellationToken,
        lock_wait: Option<Duration>,
        body: impl AsyncFnOnce(&Run<'_>) -> Result<T>,
    ) -> Result<T> {
        let run_id = new_run_id();
        let span = tracing::info_span!("provisio.run", run_id = %run_id, tenant = %tenant.name, operation = %operation);
        let transition = operation.transition();
        async {
            let cancel = cancel.child_token();
            let lost = Arc::new(AtomicBool::new(false));
            let guard = self
                .lock(&tenant.name, &run_id, lock_wait, &cancel, &lost)
                .await?;
            let run = Run {
                id: run_id.clone(),
                tenant,
                blueprint: &blueprint.name,
                cancel,
                lease_lost: lost,
                events: self.inner.events.as_deref(),
                created_on_failure: Default::default(),
                in_doubt: Default::default(),
                requests: Default::default(),
                written: Default::default(),
                transition,
            };
            let r = body(&run).await;
            guard.release().await;
            r
        }
        .instrument(span)
        .await
    }
}
