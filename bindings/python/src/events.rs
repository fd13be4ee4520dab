//! Run events to Python callers. The engine has one sink for all its runs; it hands each event
//! to the callers subscribed to that event's tenant (a tenant runs at most once at a time: its
//! lease excludes a second run).

use crate::runtime::{Ctx, EventFn};
use provisio_engine::events::{RouteGuard, TenantRouter};
use provisio_engine::{Event, EventSink};
use pyo3::prelude::*;
use std::sync::Arc;

/// A caller of a run: where its events go, and its asyncio loop (for coroutine steps).
#[derive(Clone, Default)]
pub(crate) struct Subscriber {
    pub(crate) events: Option<EventFn>,
    pub(crate) event_loop: Option<Arc<Py<PyAny>>>,
}

/// The engine's event sink: tenant -> subscribed callers.
#[derive(Default)]
pub(crate) struct Dispatch {
    router: Arc<TenantRouter<Subscriber>>,
}

/// Unsubscribes when dropped (also when the run's future is dropped).
pub(crate) type Subscription = RouteGuard<Subscriber>;

impl Dispatch {
    /// Subscribes the caller described by `ctx` to the events of `tenants` (nothing to do when
    /// it neither listens nor has a loop).
    pub(crate) fn subscribe<'a>(
        &self,
        tenants: impl IntoIterator<Item = &'a str>,
        ctx: &Ctx,
    ) -> Subscription {
        if ctx.events.is_none() && ctx.event_loop.is_none() {
            return self
                .router
                .subscribe(std::iter::empty(), Subscriber::default());
        }
        let sub = Subscriber {
            events: ctx.events.clone(),
            event_loop: ctx.event_loop.clone(),
        };
        self.router.subscribe(tenants, sub)
    }

    /// The asyncio loop of the caller running `tenant`, if it has one.
    pub(crate) fn event_loop(&self, tenant: &str) -> Option<Arc<Py<PyAny>>> {
        self.router
            .subscribers(tenant)
            .into_iter()
            .find_map(|s| s.event_loop)
    }
}

impl EventSink for Dispatch {
    fn emit(&self, event: &Event) {
        let listeners: Vec<EventFn> = self
            .router
            .subscribers(&event.tenant)
            .into_iter()
            .filter_map(|s| s.events)
            .collect();
        if listeners.is_empty() {
            return;
        }
        if let Ok(value) = serde_json::to_value(event) {
            for l in listeners {
                l(value.clone());
            }
        }
    }
}
