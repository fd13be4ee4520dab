//! provisio for Node.js: the native half of the `provisio` npm package.
//!
//! Thin by design (DESIGN.md section 6): one file per core concept, every value converted
//! through serde (`serde_json::Value` <-> JS), no behaviour the Rust crates lack. The JavaScript
//! half (`index.js`) adds what JavaScript needs on top: `ProvisioError` classes decoded from
//! [`errors::MARKER`] messages, the redacting `Secret`, `AbortSignal` wiring and the envelope
//! that lets custom steps be plain async functions.
//!
//! | JS class | Rust |
//! |---|---|
//! | `Providers` | [`providers::Providers`]: `provisio_config::Connection` |
//! | `Dns`, `Storage`, `Compute`, `Ci`, `Secrets`, `Database`, `Repo`, `Mail` | [`capabilities`]: the eight traits |
//! | `MemoryCloud`, `Faults` | [`memory`]: `provisio_memory::MemoryCloud` |
//! | `Blueprint` | [`blueprint::Blueprint`] |
//! | `Engine`, `CancelToken` | [`engine`] (plan, apply, destroy, refresh, outputs, fleet) |
//!
//! Every async method runs on napi's one shared tokio runtime.
#![deny(missing_docs)]

pub mod blueprint;
pub mod capabilities;
pub mod engine;
pub mod errors;
pub mod events;
pub mod logging;
pub mod memory;
pub mod providers;
pub mod steps;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Serializes a Rust value into the JSON handed to JavaScript.
pub(crate) fn to_js<T: Serialize>(value: &T) -> napi::Result<Value> {
    serde_json::to_value(value)
        .map_err(|e| errors::to_napi(provisio::Error::unexpected(format!("serializing: {e}"))))
}

/// Deserializes the JavaScript argument `name`; `InvalidInput` naming it when it has the wrong
/// shape.
pub(crate) fn from_js<T: DeserializeOwned>(name: &str, value: Value) -> napi::Result<T> {
    serde_json::from_value(value).map_err(|e| errors::bad_argument(name, e))
}

/// A duration given in milliseconds by JavaScript.
pub(crate) fn millis(ms: f64) -> std::time::Duration {
    std::time::Duration::from_millis(if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    })
}
