//! provisio errors as JavaScript sees them.
//!
//! A napi error carries only a message and a status, so a provisio [`Error`] crosses the
//! boundary as a message holding [`MARKER`] and a JSON payload (kind, retryable, provider,
//! operation, resource, retry hint, message); `index.js` turns every such rejection into a
//! `ProvisioError` (with a subclass per kind). A failed run's error also carries the run report
//! ([`failed_run`]), which `index.js` attaches as `error.report`. The other way, a custom step
//! written in JavaScript reports its failure as `{ kind, message }` and becomes an [`Error`] of
//! that kind, so the engine retries a `transient` failure of a JS step like any other.

use napi::Status;
use provisio::{Error, ErrorKind};
use serde_json::{Value, json};

/// What starts the message of every error the addon throws for a provisio error.
pub const MARKER: &str = "PROVISIO_ERROR:";

/// The JSON fields of an error, as `ProvisioError` exposes them (never a secret value: messages
/// are built from names and codes).
pub fn payload(e: &Error) -> Value {
    json!({
        "kind": e.kind().as_str(),
        "message": e.to_string(),
        "detail": e.message(),
        "retryable": e.retryable(),
        "provider": e.provider(),
        "operation": e.operation(),
        "resource": e.resource(),
        "retry_after_ms": e.retry_after().map(|d| d.as_millis() as u64),
    })
}

/// A provisio error as a napi error whose message `index.js` decodes.
pub fn to_napi(e: Error) -> napi::Error {
    napi::Error::new(Status::GenericFailure, format!("{MARKER}{}", payload(&e)))
}

/// The fields of the error of a run's failed step `step` (an entry of a run report's `errors`).
pub fn step_payload(step: &str, e: &Error) -> Value {
    let mut p = payload(e);
    p["step"] = json!(step);
    p
}

/// The rejection of a failed run: its first error (`step` failed with `e`) with the run report
/// attached (`report`, the JSON the run would have resolved with), as Python and Ruby raise it.
pub fn failed_run(step: &str, e: &Error, report: Value) -> napi::Error {
    let mut p = step_payload(step, e);
    p["report"] = report;
    napi::Error::new(Status::GenericFailure, format!("{MARKER}{p}"))
}

/// `?` for provisio results inside napi functions.
pub trait OrThrow<T> {
    /// Converts the error into a thrown `ProvisioError`.
    fn or_throw(self) -> napi::Result<T>;
}

impl<T> OrThrow<T> for provisio::Result<T> {
    fn or_throw(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}

/// A value that does not have the shape an argument needs: `InvalidInput` naming the argument.
pub fn bad_argument(name: &str, e: impl std::fmt::Display) -> napi::Error {
    to_napi(Error::invalid_field(name, e))
}

/// The [`ErrorKind`] called `name` (`transient`, `not_found`, ...); `Unexpected` for an
/// unknown name.
pub fn kind_named(name: &str) -> ErrorKind {
    serde_json::from_value(json!({ "kind": name })).unwrap_or(ErrorKind::Unexpected)
}

/// The [`ErrorKind`] called `name`, or `InvalidInput` naming the argument.
pub fn parse_kind(argument: &str, name: &str) -> napi::Result<ErrorKind> {
    serde_json::from_value(json!({ "kind": name })).map_err(|_| {
        bad_argument(
            argument,
            format!(
                "{name:?} is not an error kind (not_found, already_exists, conflict, invalid_input, permission_denied, unauthenticated, rate_limited, transient, timeout, protected, unsupported, cancelled, unexpected)"
            ),
        )
    })
}

/// The error a JavaScript callback reported (`{ kind, message, retry_after_ms }`), or the
/// napi error of a callback that could not be called.
pub fn from_js(value: &Value) -> Error {
    let kind = match value.get("kind").and_then(Value::as_str) {
        Some("rate_limited") => ErrorKind::RateLimited {
            retry_after: value
                .get("retry_after_ms")
                .and_then(Value::as_u64)
                .map(std::time::Duration::from_millis),
        },
        Some(name) => kind_named(name),
        None => ErrorKind::Unexpected,
    };
    let message = value
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("the JavaScript callback failed");
    Error::new(kind, message.to_string())
}

/// A napi failure (a callback that threw outside the envelope, a queue that closed) as a
/// provisio error.
pub fn from_napi(context: &str, e: napi::Error) -> Error {
    Error::unexpected(format!("{context}: {}", e.reason))
}
