//! Run events to Ruby callers. The engine has one sink for all its runs; it hands each event
//! to the callers subscribed to that event's tenant (a tenant runs at most once at a time: its
//! lease excludes a second run). Custom steps find the Ruby thread to run on the same way.

use crate::runtime::Caller;
use provisio_engine::events::{RouteGuard, TenantRouter};
use provisio_engine::{Event, EventSink};
use std::sync::Arc;

/// The engine's event sink: tenant -> subscribed callers.
#[derive(Default)]
pub(crate) struct Dispatch {
    router: Arc<TenantRouter<Caller>>,
}

/// Unsubscribes when dropped (also when the run's future is dropped).
pub(crate) type Subscription = RouteGuard<Caller>;

impl Dispatch {
    /// Subscribes `caller` to the events (and step calls) of `tenants`.
    pub(crate) fn subscribe<'a>(
        &self,
        tenants: impl IntoIterator<Item = &'a str>,
        caller: &Caller,
    ) -> Subscription {
        self.router.subscribe(tenants, caller.clone())
    }

    /// The Ruby caller running `tenant` (where its custom steps run).
    pub(crate) fn caller(&self, tenant: &str) -> Option<Caller> {
        self.router.subscribers(tenant).into_iter().next()
    }
}

impl EventSink for Dispatch {
    fn emit(&self, event: &Event) {
        let listeners: Vec<Caller> = self
            .router
            .subscribers(&event.tenant)
            .into_iter()
            .filter(|c| c.wants_events)
            .collect();
        if listeners.is_empty() {
            return;
        }
        if let Ok(value) = serde_json::to_value(event) {
            for l in listeners {
                l.event(value.clone());
            }
        }
    }
}
