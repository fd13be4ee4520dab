//! The engine's builder and its defaults.

use super::{Engine, Inner};
use crate::events::EventSink;
use crate::providers::Providers;
use crate::resource::Registry;
use crate::retry::RetryPolicy;
use crate::state::StateStore;
use provisio::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

/// Builds an [`Engine`].
pub struct EngineBuilder {
    providers: Providers,
    registry: Registry,
    state: Option<Arc<dyn StateStore>>,
    events: Option<Arc<dyn EventSink>>,
    concurrency: usize,
    lock_owner: String,
    lock_ttl: Duration,
    step_timeout: Option<Duration>,
    retry: RetryPolicy,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            providers: Providers::new(),
            registry: Registry::new(),
            state: None,
            events: None,
            concurrency: 16,
            lock_owner: format!("pid-{}", std::process::id()),
            lock_ttl: Duration::from_secs(60),
            step_timeout: Some(Duration::from_secs(600)),
            retry: RetryPolicy::default(),
        }
    }
}

impl EngineBuilder {
    /// The providers resources may use.
    pub fn providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }
    /// The resource types (e.g. [`crate::types::builtin`] plus custom ones).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = registry;
        self
    }
    /// The state store (required).
    pub fn state(mut self, state: Arc<dyn StateStore>) -> Self {
        self.state = Some(state);
        self
    }
    /// Where run events go (default: dropped; without a sink no event is even built).
    pub fn events(mut self, events: Arc<dyn EventSink>) -> Self {
        self.events = Some(events);
        self
    }
    /// How many steps of one run may be in flight at once (default 16, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// The lease owner prefix (default `pid-<pid>`); each run appends its run id, so two runs
    /// of one engine exclude each other too.
    pub fn lock_owner(mut self, owner: impl Into<String>) -> Self {
        self.lock_owner = owner.into();
        self
    }
    /// The lease TTL (default 60 s); the heartbeat renews it every third of it.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(30));
        self
    }
    /// The timeout of a step whose resource sets none (default 600 s; `None`: no timeout).
    pub fn step_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.step_timeout = timeout;
        self
    }
    /// The retry policy of resources that set none.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
    /// Builds the engine; `InvalidInput` when no state store was given.
    pub fn build(self) -> Result<Engine> {
        let state = self.state.ok_or_else(|| {
            Error::invalid_input("the engine needs a state store (EngineBuilder::state)")
        })?;
        Ok(Engine {
            inner: Arc::new(Inner {
                providers: self.providers,
                registry: self.registry,
                state,
                events: self.events,
                concurrency: self.concurrency,
                lock_owner: self.lock_owner,
                lock_ttl: self.lock_ttl,
                step_timeout: self.step_timeout,
                retry: self.retry,
            }),
        })
    }
}

impl Engine {
    /// A builder with the defaults: no providers, no types, no state store (required),
    /// events dropped, concurrency 16, lease TTL 60 s, step timeout 600 s.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }
}
