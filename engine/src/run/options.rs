//! The options of apply, destroy and refresh.

use crate::plan::Plan;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A look at the plan an apply is about to carry out; see [`ApplyOptions::on_plan`].
#[derive(Clone)]
pub struct PlanHook(pub(super) Arc<dyn Fn(&Plan) -> bool + Send + Sync>);

impl PlanHook {
    /// Wraps `f`; it returns whether the run goes on.
    pub fn new(f: impl Fn(&Plan) -> bool + Send + Sync + 'static) -> Self {
        PlanHook(Arc::new(f))
    }
}

impl std::fmt::Debug for PlanHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlanHook")
    }
}

/// Options of [`Engine::apply`](super::Engine::apply).
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Called with the plan once the run holds the tenant's lease and has finished what a
    /// crashed run left, before any step (and before a blocked plan is refused); returning
    /// `false` ends the run there, changing nothing. The CLI prints the plan from here, so
    /// what it shows is what the run does, planned under the lease and read once.
    pub on_plan: Option<PlanHook>,
    /// Keep what a failed run created instead of rolling it back.
    pub keep_partial: bool,
    /// Protected resources the caller allows to be deleted or replaced.
    pub overrides: BTreeSet<String>,
    /// Read every resource before planning (drift shows in the plan).
    pub refresh: bool,
    /// Cancels the run: running steps fail with `Cancelled`, the rest are skipped.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease instead of failing with `Conflict`.
    pub lock_wait: Option<Duration>,
}

impl ApplyOptions {
    /// Keeps what a failed run created.
    pub fn keep_partial(mut self) -> Self {
        self.keep_partial = true;
        self
    }
    /// Allows deleting or replacing the protected resource `name`.
    pub fn allow(mut self, name: impl Into<String>) -> Self {
        self.overrides.insert(name.into());
        self
    }
    /// Refreshes before planning.
    pub fn refresh(mut self) -> Self {
        self.refresh = true;
        self
    }
    /// Uses `token` for cancellation.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Waits up to `d` for the tenant's lease.
    pub fn lock_wait(mut self, d: Duration) -> Self {
        self.lock_wait = Some(d);
        self
    }
    /// Shows the plan to `f` before the first step; `f` returns whether to go on.
    pub fn on_plan(mut self, f: impl Fn(&Plan) -> bool + Send + Sync + 'static) -> Self {
        self.on_plan = Some(PlanHook::new(f));
        self
    }
}

/// Options of [`Engine::destroy`](super::Engine::destroy).
#[derive(Debug, Clone, Default)]
pub struct DestroyOptions {
    /// Protected resources the caller allows to be deleted.
    pub overrides: BTreeSet<String>,
    /// Cancels the run.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease.
    pub lock_wait: Option<Duration>,
}

impl DestroyOptions {
    /// Allows deleting the protected resource `name`.
    pub fn allow(mut self, name: impl Into<String>) -> Self {
        self.overrides.insert(name.into());
        self
    }
    /// Uses `token` for cancellation.
    pub fn cancel(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }
    /// Waits up to `d` for the tenant's lease.
    pub fn lock_wait(mut self, d: Duration) -> Self {
        self.lock_wait = Some(d);
        self
    }
}

/// Options of [`Engine::refresh`](super::Engine::refresh).
#[derive(Debug, Clone, Default)]
pub struct RefreshOptions {
    /// Write what was read into state: changed outputs are recorded, records of missing
    /// resources removed. Default: report only.
    pub write: bool,
    /// Cancels the run.
    pub cancel: CancellationToken,
    /// Wait up to this long for another runner's lease.
    pub lock_wait: Option<Duration>,
}
