//! provisio's `tracing` output in Python's `logging`.
//!
//! The workspace's `tracing` has its `log` feature on in this extension: while no `tracing`
//! subscriber is installed (none is, in a Python process), every event is also a `log` record,
//! and pyo3-log hands those to `logging.getLogger(<Rust module path with dots>)`:
//! `provisio_engine.run.step` (a line per finished step), `provisio.layer.retry` (a retried
//! call), `provisio.layer.trace` (each provider call, at DEBUG), `provisio_aws...`. Names and
//! ids only: secret values are never logged.
//!
//! Levels are cached per logger (a disabled level costs no GIL); after changing a level, call
//! `provisio.reset_logging()`.

use pyo3::prelude::*;
use std::sync::OnceLock;

static RESET: OnceLock<pyo3_log::ResetHandle> = OnceLock::new();

/// Installs the bridge once per process (a second extension that already installed a `log`
/// logger keeps its own).
pub(crate) fn install(py: Python<'_>) -> PyResult<()> {
    let logger = pyo3_log::Logger::new(py, pyo3_log::Caching::LoggersAndLevels)?
        .filter(log::LevelFilter::Debug);
    if let Ok(handle) = logger.install() {
        let _ = RESET.set(handle);
    }
    Ok(())
}

/// Makes provisio pick up logging levels changed since its first log record.
#[pyfunction]
pub(crate) fn reset_logging() {
    if let Some(handle) = RESET.get() {
        handle.reset();
    }
}
