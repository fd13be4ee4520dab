//! Run and fleet events delivered to a JavaScript callback.
//!
//! The engine calls its sink from the run's task; the sink serializes the event (the same JSON
//! as the CLI's `--json` events, with a `type` tag) and queues it to the JS thread through a
//! threadsafe function, without blocking the run. The function is weak: a callback alone does
//! not keep Node's event loop alive once the runs are over.

use napi::Status;
use napi::bindgen_prelude::Unknown;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use provisio_engine::events::{Event, EventSink};
use provisio_engine::fleet::{FleetEvent, FleetSink};
use serde_json::Value;

/// A JS callback receiving one JSON event per call.
pub type EventCallback = ThreadsafeFunction<Value, Unknown<'static>, Value, Status, false, true>;

/// Forwards run events to a JS callback.
pub struct JsEventSink(pub EventCallback);

impl EventSink for JsEventSink {
    fn emit(&self, event: &Event) {
        if let Ok(value) = serde_json::to_value(event) {
            self.0.call(value, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// Forwards fleet events to a JS callback.
pub struct JsFleetSink(pub EventCallback);

impl FleetSink for JsFleetSink {
    fn emit(&self, event: &FleetEvent) {
        if let Ok(value) = serde_json::to_value(event) {
            self.0.call(value, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}
