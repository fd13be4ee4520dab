//! Typed run events and where they go.
//!
//! Every run (apply, destroy, refresh) emits [`Event`]s: run started, step started, retrying
//! (with the reason and the delay), succeeded (with outputs, which are secret-free by
//! construction), failed, skipped, rolled back, and run finished with a [`Summary`]. They go to
//! an [`EventSink`]: a callback ([`FnSink`]), a tokio channel ([`ChannelSink`]) or a collector
//! for tests ([`VecSink`]). The engine also opens a `tracing` span per run (`provisio.run`) and
//! per step (`provisio.step`).
//!
//! Events serialize as one JSON object with a `type` tag:
//!
//! ```
//! use provisio_engine::events::{Event, EventKind};
//! let e = Event {
//!     run_id: "r1".into(),
//!     tenant: "acme".into(),
//!     at_ms: 0,
//!     kind: EventKind::StepRolledBack { resource: "web".into() },
//! };
//! let j = serde_json::to_value(&e).unwrap();
//! assert_eq!(j["type"], "step_rolled_back");
//! assert_eq!(j["resource"], "web");
//! assert_eq!(j["tenant"], "acme");
//! ```

use crate::plan::Action;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// What kind of run an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create or update resources to match a blueprint.
    Apply,
    /// Delete every resource of a tenant.
    Destroy,
    /// Compare state with what the providers report.
    Refresh,
    /// Lifecycle: launched → suspended.
    Suspend,
    /// Lifecycle: suspended → launched.
    Resume,
    /// Lifecycle: launched or suspended → archived.
    Archive,
    /// Lifecycle: archived → launched.
    Restore,
    /// Lifecycle: → retired.
    Retire,
}

impl Operation {
    /// The lifecycle transition this operation is, if it is one.
    pub fn transition(self) -> Option<crate::lifecycle::Transition> {
        use crate::lifecycle::Transition as T;
        match self {
            Operation::Apply | Operation::Destroy | Operation::Refresh => None,
            Operation::Suspend => Some(T::Suspend),
            Operation::Resume => Some(T::Resume),
            Operation::Archive => Some(T::Archive),
            Operation::Restore => Some(T::Restore),
            Operation::Retire => Some(T::Retire),
        }
    }
}

impl From<crate::lifecycle::Transition> for Operation {
    fn from(t: crate::lifecycle::Transition) -> Self {
        use crate::lifecycle::Transition as T;
        match t {
            T::Suspend => Operation::Suspend,
            T::Resume => Operation::Resume,
            T::Archive => Operation::Archive,
            T::Restore => Operation::Restore,
            T::Retire => Operation::Retire,
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Operation::Apply => "apply",
            Operation::Destroy => "destroy",
            Operation::Refresh => "refresh",
            Operation::Suspend => "suspend",
            Operation::Resume => "resume",
            Operation::Archive => "archive",
            Operation::Restore => "restore",
            Operation::Retire => "retire",
        })
    }
}

/// Counts of what a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Resources created (including the create half of a replace).
    pub created: usize,
    /// Resources changed in place.
    pub updated: usize,
    /// Resources that already matched.
    pub unchanged: usize,
    /// Resources deleted.
    pub deleted: usize,
    /// Steps that failed.
    pub failed: usize,
    /// Steps not run (a dependency failed, the run was cancelled, or protection kept them).
    pub skipped: usize,
    /// Resources this run created and then deleted again because the run failed.
    pub rolled_back: usize,
    /// Wall time of the run in milliseconds.
    pub duration_ms: u64,
    /// Provider requests the run sent (as counted by [`provisio::requests`]).
    #[serde(default)]
    pub requests: u64,
    /// The same per provider (`aws-s3`, `postgres`, `memory-dns`, ...).
    #[serde(default)]
    pub requests_by_service: std::collections::BTreeMap<String, u64>,
}

/// What a successful step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// The resource did not exist and was created.
    Created,
    /// The resource existed with other settings and was changed in place.
    Updated,
    /// The resource already matched; nothing was sent.
    Unchanged,
    /// The resource was deleted.
    Deleted,
    /// The resource to delete was already gone.
    AlreadyGone,
    /// An in-doubt resource of a crashed run was found and recorded.
    Adopted,
    /// An in-doubt resource of a crashed run was not found; it is treated as absent.
    Absent,
}

impl From<provisio::Outcome> for StepOutcome {
    fn from(o: provisio::Outcome) -> Self {
        match o {
            provisio::Outcome::Created => StepOutcome::Created,
            provisio::Outcome::Updated => StepOutcome::Updated,
            provisio::Outcome::Unchanged => StepOutcome::Unchanged,
        }
    }
}

impl From<provisio::Deleted> for StepOutcome {
    fn from(d: provisio::Deleted) -> Self {
        match d {
            provisio::Deleted::Deleted => StepOutcome::Deleted,
            provisio::Deleted::AlreadyGone => StepOutcome::AlreadyGone,
        }
    }
}

/// A failure as events carry it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventError {
    /// The [`provisio::ErrorKind`] name (`transient`, `not_found`, ...).
    pub kind: String,
    /// The full message (with provider, operation and resource; never a secret value).
    pub message: String,
    /// Whether the error kind is retryable.
    pub retryable: bool,
}

impl From<&provisio::Error> for EventError {
    fn from(e: &provisio::Error) -> Self {
        EventError {
            kind: e.kind().as_str().to_string(),
            message: e.to_string(),
            retryable: e.retryable(),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A run began.
    RunStarted {
        /// apply, destroy or refresh.
        operation: Operation,
        /// The resources the run considers, in dependency order.
        resources: Vec<String>,
    },
    /// A step began.
    StepStarted {
        /// The resource.
        resource: String,
        /// What the step does.
        action: Action,
    },
    /// A step failed with a retryable error and will be tried again.
    StepRetrying {
        /// The resource.
        resource: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// How long the engine waits before the next attempt.
        delay_ms: u64,
        /// The error that caused the retry.
        reason: String,
    },
    /// A step succeeded.
    StepSucceeded {
        /// The resource.
        resource: String,
        /// What the step did.
        action: Action,
        /// What the step did.
        outcome: StepOutcome,
        /// The resource's outputs (secret-free by construction).
        outputs: Value,
        /// Wall time of the step in milliseconds.
        duration_ms: u64,
        /// Provider requests the step sent (reads and writes, retries included).
        #[serde(default)]
        requests: u64,
    },
    /// A step failed for good.
    StepFailed {
        /// The resource.
        resource: String,
        /// The error.
        error: EventError,
    },
    /// A step was not run.
    StepSkipped {
        /// The resource.
        resource: String,
        /// Why (`dependency "web" failed`, `cancelled`, `protected`).
        reason: String,
    },
    /// A resource this run created was deleted again because the run failed.
    StepRolledBack {
        /// The resource.
        resource: String,
    },
    /// A run ended.
    RunFinished {
        /// What it did.
        summary: Summary,
    },
}

/// One event of one run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// The run's id.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// Wall-clock Unix milliseconds.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Where events go. Implementations must not block: `emit` is called from the run's task.
pub trait EventSink: Send + Sync {
    /// Receives one event.
    fn emit(&self, event: &Event);
}

/// Drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _event: &Event) {}
}

/// Calls a closure for every event.
///
/// ```
/// use provisio_engine::events::FnSink;
/// let sink = FnSink::new(|e| println!("{}", serde_json::to_string(e).unwrap()));
/// ```
pub struct FnSink<F>(F);

impl<F: Fn(&Event) + Send + Sync> FnSink<F> {
    /// Wraps a callback.
    pub fn new(f: F) -> Self {
        FnSink(f)
    }
}

impl<F: Fn(&Event) + Send + Sync> EventSink for FnSink<F> {
    fn emit(&self, event: &Event) {
        (self.0)(event)
    }
}

/// Sends every event into an unbounded tokio channel (a closed receiver drops events).
///
/// ```
/// let (sink, mut rx) = provisio_engine::events::ChannelSink::new();
/// # drop(sink); assert!(rx.try_recv().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ChannelSink(tokio::sync::mpsc::UnboundedSender<Event>);

impl ChannelSink {
    /// A sink and the receiver of its events.
    pub fn new() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Event>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (ChannelSink(tx), rx)
    }
    /// A sink sending into an existing channel.
    pub fn from_sender(tx: tokio::sync::mpsc::UnboundedSender<Event>) -> Self {
        ChannelSink(tx)
    }
}

impl EventSink for ChannelSink {
    fn emit(&self, event: &Event) {
        let _ = self.0.send(event.clone());
    }
}

/// Collects every event in memory (for tests and for bindings that return them at the end).
#[derive(Debug, Default, Clone)]
pub struct VecSink(Arc<Mutex<Vec<Event>>>);

impl VecSink {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }
    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Removes and returns the events so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl EventSink for VecSink {
    fn emit(&self, event: &Event) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
    }
}

/// Sends every event to several sinks.
#[derive(Default, Clone)]
pub struct FanoutSink(Vec<Arc<dyn EventSink>>);

impl FanoutSink {
    /// A sink forwarding to `sinks`.
    pub fn new(sinks: Vec<Arc<dyn EventSink>>) -> Self {
        FanoutSink(sinks)
    }
}

impl EventSink for FanoutSink {
    fn emit(&self, event: &Event) {
        for s in &self.0 {
            s.emit(event);
        }
    }
}

/// Routes events to the callers running each tenant: what a binding needs when one engine (one
/// sink) serves runs started from several threads or event loops. A tenant runs at most once at
/// a time (its lease excludes a second run), so its subscribers are the callers of that run.
///
/// ```
/// use provisio_engine::events::TenantRouter;
/// use std::sync::Arc;
/// let router = Arc::new(TenantRouter::<&str>::new());
/// let guard = router.subscribe(["acme"], "caller-1");
/// assert_eq!(router.subscribers("acme"), vec!["caller-1"]);
/// drop(guard);
/// assert!(router.subscribers("acme").is_empty());
/// ```
pub struct TenantRouter<S> {
    subs: Mutex<std::collections::HashMap<String, Vec<(u64, S)>>>,
    next: std::sync::atomic::AtomicU64,
}

impl<S> Default for TenantRouter<S> {
    fn default() -> Self {
        TenantRouter {
            subs: Mutex::new(std::collections::HashMap::new()),
            next: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl<S> std::fmt::Debug for TenantRouter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("TenantRouter")
            .field("tenants", &subs.len())
            .finish()
    }
}

/// A subscription of [`TenantRouter::subscribe`]; it ends when dropped (also when the run's
/// future is dropped).
#[must_use = "the subscription ends when it is dropped"]
pub struct RouteGuard<S> {
    router: Arc<TenantRouter<S>>,
    tenants: Vec<(String, u64)>,
}

impl<S> Drop for RouteGuard<S> {
    fn drop(&mut self) {
        let mut subs = self.router.subs.lock().unwrap_or_else(|e| e.into_inner());
        for (tenant, id) in &self.tenants {
            if let Some(list) = subs.get_mut(tenant) {
                list.retain(|(i, _)| i != id);
                if list.is_empty() {
                    subs.remove(tenant);
                }
            }
        }
    }
}

impl<S: Clone> TenantRouter<S> {
    /// No subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `subscriber` to the events of `tenants` until the guard is dropped.
    pub fn subscribe<'a>(
        self: &Arc<Self>,
        tenants: impl IntoIterator<Item = &'a str>,
        subscriber: S,
    ) -> RouteGuard<S> {
        let mut guard = RouteGuard {
            router: self.clone(),
            tenants: Vec::new(),
        };
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in tenants {
            let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            subs.entry(tenant.to_string())
                .or_default()
                .push((id, subscriber.clone()));
            guard.tenants.push((tenant.to_string(), id));
        }
        guard
    }

    /// The subscribers of `tenant`, in the order they subscribed.
    pub fn subscribers(&self, tenant: &str) -> Vec<S> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.get(tenant)
            .map(|list| list.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> Event {
        Event {
            run_id: "r".into(),
            tenant: "t".into(),
            at_ms: 1,
            kind,
        }
    }

    #[test]
    fn events_roundtrip_through_json() {
        let all = vec![
            ev(EventKind::RunStarted {
                operation: Operation::Apply,
                resources: vec!["a".into()],
            }),
            ev(EventKind::StepStarted {
                resource: "a".into(),
                action: Action::Create,
            }),
            ev(EventKind::StepRetrying {
                resource: "a".into(),
                attempt: 1,
                delay_ms: 20,
                reason: "transient".into(),
            }),
            ev(EventKind::StepSucceeded {
                resource: "a".into(),
                action: Action::Create,
                outcome: StepOutcome::Created,
                outputs: serde_json::json!({"id": "x"}),
                duration_ms: 3,
                requests: 2,
            }),
            ev(EventKind::StepFailed {
                resource: "a".into(),
                error: (&provisio::Error::transient("boom")).into(),
            }),
            ev(EventKind::StepSkipped {
                resource: "b".into(),
                reason: "dependency".into(),
            }),
            ev(EventKind::StepRolledBack {
                resource: "a".into(),
            }),
            ev(EventKind::RunFinished {
                summary: Summary::default(),
            }),
        ];
        for e in all {
            let j = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&j).unwrap();
            assert_eq!(back, e, "{j}");
        }
    }

    #[tokio::test]
    async fn sinks_deliver() {
        let v = VecSink::new();
        let (c, mut rx) = ChannelSink::new();
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = count.clone();
        let f = FnSink::new(move |_| {
            c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let fan = FanoutSink::new(vec![Arc::new(v.clone()), Arc::new(c), Arc::new(f)]);
        fan.emit(&ev(EventKind::StepRolledBack {
            resource: "a".into(),
        }));
        assert_eq!(v.events().len(), 1);
        assert!(rx.recv().await.is_some());
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(v.take().len(), 1);
        assert!(v.events().is_empty());
    }
}
