//! provisio errors <-> Python exceptions. The classes live in `provisio/errors.py` (one subclass
//! of `provisio.Error` per [`provisio::ErrorKind`]); this file only crosses the boundary.

use provisio::{Error, ErrorKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The Python exception for a provisio error.
pub(crate) fn to_py(py: Python<'_>, err: &Error) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let retry_after = err.retry_after().map(|d| d.as_secs_f64());
        let exc = py
            .import("provisio.errors")?
            .getattr("_from_native")?
            .call1((
                err.kind().as_str(),
                err.message(),
                err.to_string(),
                err.provider(),
                err.operation(),
                err.resource(),
                retry_after,
            ))?;
        Ok(PyErr::from_value(exc))
    };
    make().unwrap_or_else(|e| {
        PyRuntimeError::new_err(format!(
            "{err} (and provisio.errors could not be loaded: {e})"
        ))
    })
}

/// A provisio error for an exception raised by Python code the engine called (a custom step):
/// a `provisio.Error` keeps its kind (so `TransientError` is retried); anything else is
/// `Unexpected`.
pub(crate) fn from_py(py: Python<'_>, err: &PyErr) -> Error {
    let value = err.value(py);
    let text = value
        .str()
        .map(|s| s.to_string())
        .unwrap_or_else(|_| "<unprintable>".into());
    let kind = value
        .getattr("kind")
        .ok()
        .and_then(|k| k.extract::<String>().ok())
        .filter(|_| {
            py.import("provisio.errors")
                .and_then(|m| m.getattr("Error"))
                .and_then(|base| value.is_instance(&base))
                .unwrap_or(false)
        });
    match kind {
        Some(kind) => {
            let retry_after_ms = value
                .getattr("retry_after")
                .ok()
                .and_then(|r| r.extract::<Option<f64>>().ok())
                .flatten()
                .map(|s| (s * 1000.0) as u64);
            let kind: ErrorKind = serde_json::from_value(
                serde_json::json!({ "kind": kind, "retry_after": retry_after_ms }),
            )
            .unwrap_or(ErrorKind::Unexpected);
            let message = value
                .getattr("message")
                .ok()
                .and_then(|m| m.extract::<String>().ok())
                .unwrap_or(text);
            Error::new(kind, message)
        }
        None => {
            let name = value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "Exception".into());
            Error::unexpected(format!("{name}: {text}"))
        }
    }
}
