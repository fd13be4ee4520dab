//! Run events to Python callers. The engine has one sink for all its runs; it hands each event
//! to the callers subscribed to that event's tenant (a tenant runs at most once at a time: its
//! lease excludes a second run).

use crate::runtime::{Ctx, EventFn};
use provisio_engine::{Event, EventSink};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A caller of a run: where its events go, and its asyncio loop (for coroutine steps).
#[derive(Clone)]
pub(crate) struct Subscriber {
    pub(crate) events: Option<EventFn>,
    pub(crate) event_loop: Option<Arc<Py<PyAny>>>,
}

/// The engine's event sink: tenant -> subscribed callers.
#[derive(Default)]
pub(crate) struct Dispatch {
    subs: Mutex<HashMap<String, Vec<(u64, Subscriber)>>>,
    next: AtomicU64,
}

/// Unsubscribes when dropped (also when the run's future is dropped).
pub(crate) struct Subscription {
    dispatch: Arc<Dispatch>,
    tenants: Vec<(String, u64)>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subs = self.dispatch.subs.lock().unwrap_or_else(|e| e.into_inner());
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

impl Dispatch {
    /// Subscribes the caller described by `ctx` to the events of `tenants` (nothing to do when
    /// it neither listens nor has a loop).
    pub(crate) fn subscribe<'a>(
        self: &Arc<Self>,
        tenants: impl IntoIterator<Item = &'a str>,
        ctx: &Ctx,
    ) -> Subscription {
        let mut out = Subscription {
            dispatch: self.clone(),
            tenants: Vec::new(),
        };
        if ctx.events.is_none() && ctx.event_loop.is_none() {
            return out;
        }
        let sub = Subscriber {
            events: ctx.events.clone(),
            event_loop: ctx.event_loop.clone(),
        };
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in tenants {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            subs.entry(tenant.to_string())
                .or_default()
                .push((id, sub.clone()));
            out.tenants.push((tenant.to_string(), id));
        }
        out
    }

    /// The asyncio loop of the caller running `tenant`, if it has one.
    pub(crate) fn event_loop(&self, tenant: &str) -> Option<Arc<Py<PyAny>>> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.get(tenant)?
            .iter()
            .find_map(|(_, s)| s.event_loop.clone())
    }
}

impl EventSink for Dispatch {
    fn emit(&self, event: &Event) {
        let listeners: Vec<EventFn> = {
            let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            match subs.get(&event.tenant) {
                Some(list) => list.iter().filter_map(|(_, s)| s.events.clone()).collect(),
                None => return,
            }
        };
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
