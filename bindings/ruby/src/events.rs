//! Run events to Ruby callers. The engine has one sink for all its runs; it hands each event
//! to the callers subscribed to that event's tenant (a tenant runs at most once at a time: its
//! lease excludes a second run). Custom steps find the Ruby thread to run on the same way.

use crate::runtime::Caller;
use provisio_engine::{Event, EventSink};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The engine's event sink: tenant -> subscribed callers.
#[derive(Default)]
pub(crate) struct Dispatch {
    subs: Mutex<HashMap<String, Vec<(u64, Caller)>>>,
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
    /// Subscribes `caller` to the events (and step calls) of `tenants`.
    pub(crate) fn subscribe<'a>(
        self: &Arc<Self>,
        tenants: impl IntoIterator<Item = &'a str>,
        caller: &Caller,
    ) -> Subscription {
        let mut out = Subscription {
            dispatch: self.clone(),
            tenants: Vec::new(),
        };
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        for tenant in tenants {
            let id = self.next.fetch_add(1, Ordering::Relaxed);
            subs.entry(tenant.to_string())
                .or_default()
                .push((id, caller.clone()));
            out.tenants.push((tenant.to_string(), id));
        }
        out
    }

    /// The Ruby caller running `tenant` (where its custom steps run).
    pub(crate) fn caller(&self, tenant: &str) -> Option<Caller> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.get(tenant)?.first().map(|(_, c)| c.clone())
    }
}

impl EventSink for Dispatch {
    fn emit(&self, event: &Event) {
        let listeners: Vec<Caller> = {
            let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            match subs.get(&event.tenant) {
                Some(list) => list
                    .iter()
                    .filter(|(_, c)| c.wants_events)
                    .map(|(_, c)| c.clone())
                    .collect(),
                None => return,
            }
        };
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
