//! provisio errors <-> Ruby exceptions. The classes live in `lib/provisio/error.rb` (one
//! subclass of `Provisio::Error` per [`provisio::ErrorKind`]); this file only crosses the
//! boundary.

use magnus::prelude::*;
use magnus::value::ReprValue;
use magnus::{Error, Exception, RModule, Ruby, Value};
use provisio::ErrorKind;

/// The `Provisio` module.
fn provisio_module(ruby: &Ruby) -> Result<RModule, Error> {
    ruby.class_object().const_get("Provisio")
}

/// The Ruby exception for a provisio error (built by `Provisio::Error.from_native`).
pub(crate) fn to_ruby(ruby: &Ruby, err: &provisio::Error) -> Error {
    let make = || -> Result<Error, Error> {
        let retry_after = err.retry_after().map(|d| d.as_secs_f64());
        let class: Value = provisio_module(ruby)?.const_get("Error")?;
        let exc: Value = class.funcall(
            "from_native",
            (
                err.kind().as_str(),
                err.message().to_string(),
                err.to_string(),
                err.provider().map(str::to_string),
                err.operation().map(str::to_string),
                err.resource().map(str::to_string),
                retry_after,
            ),
        )?;
        Exception::from_value(exc)
            .map(Error::from)
            .ok_or_else(|| Error::new(ruby.exception_runtime_error(), "not an exception"))
    };
    make().unwrap_or_else(|e| {
        Error::new(
            ruby.exception_runtime_error(),
            format!("{err} (and Provisio::Error could not be built: {e})"),
        )
    })
}

/// A provisio error for an exception raised by Ruby code the engine called (a custom step):
/// a `Provisio::Error` keeps its kind (so `TransientError` is retried); anything else is
/// `Unexpected`.
pub(crate) fn from_ruby(ruby: &Ruby, err: &Error) -> provisio::Error {
    let Some(value) = err.value() else {
        return provisio::Error::unexpected("the Ruby code jumped out (throw/break)");
    };
    let text: String = value
        .funcall::<_, _, String>("message", ())
        .unwrap_or_else(|_| "<unprintable>".into());
    let is_provisio = provisio_module(ruby)
        .and_then(|m| m.const_get::<_, magnus::RClass>("Error"))
        .map(|c| value.is_kind_of(c))
        .unwrap_or(false);
    if is_provisio {
        let kind: Option<String> = value
            .funcall::<_, _, magnus::Symbol>("kind", ())
            .ok()
            .and_then(|s| s.name().ok().map(|n| n.into_owned()));
        let retry_after_ms = value
            .funcall::<_, _, Option<f64>>("retry_after", ())
            .ok()
            .flatten()
            .map(|s| (s * 1000.0) as u64);
        let kind: ErrorKind = serde_json::from_value(
            serde_json::json!({ "kind": kind, "retry_after": retry_after_ms }),
        )
        .unwrap_or(ErrorKind::Unexpected);
        let message: String = value
            .funcall::<_, _, String>("bare_message", ())
            .unwrap_or(text);
        return provisio::Error::new(kind, message);
    }
    // SAFETY: copied into a String right away.
    let name = unsafe { value.classname() }.into_owned();
    provisio::Error::unexpected(format!("{name}: {text}"))
}

/// Runs a native entry point, turning a Rust panic into a `Provisio::UnexpectedError` (magnus
/// alone would raise `fatal`, which ends the process).
pub(crate) fn guard<T>(ruby: &Ruby, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into());
            Err(to_ruby(
                ruby,
                &provisio::Error::unexpected(format!("provisio panicked: {what}")),
            ))
        }
    }
}
