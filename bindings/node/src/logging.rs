//! provisio's `tracing` output delivered to a JavaScript callback (`setLogger`).
//!
//! The workspace's `tracing` has its `log` feature on in this addon: while no `tracing`
//! subscriber is installed (none is, in a Node process), every event is also a `log` record.
//! [`JsLogger`] queues each record at or above the chosen level to the callback as
//! `{ level, target, message }`, without blocking the task that logged it. Names and ids only:
//! secret values are never logged.

use crate::events::EventCallback;
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi_derive::napi;
use serde_json::json;
use std::sync::{Once, RwLock};

struct JsLogger {
    sink: RwLock<Option<EventCallback>>,
}

static LOGGER: JsLogger = JsLogger {
    sink: RwLock::new(None),
};

impl log::Log for JsLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let sink = self.sink.read().unwrap_or_else(|e| e.into_inner());
        if let Some(callback) = sink.as_ref() {
            callback.call(
                json!({
                    "level": record.level().as_str().to_ascii_lowercase(),
                    "target": record.target(),
                    "message": record.args().to_string(),
                }),
                ThreadsafeFunctionCallMode::NonBlocking,
            );
        }
    }

    fn flush(&self) {}
}

fn level_filter(level: Option<&str>) -> napi::Result<log::LevelFilter> {
    Ok(match level.unwrap_or("info") {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        other => {
            return Err(crate::errors::bad_argument(
                "level",
                format!("must be one of off, error, warn, info, debug, trace; got {other:?}"),
            ));
        }
    })
}

/// Sends provisio's log records at `level` (default `info`) and above to `callback` as
/// `{ level, target, message }`; `null` stops them. Targets are Rust module paths:
/// `provisio_engine::run::step` (a line per finished step), `provisio::layer::retry` (a retried
/// call), `provisio::layer::trace` (each provider call, at `debug`).
#[napi(js_name = "setLogger")]
pub fn set_logger(callback: Option<EventCallback>, level: Option<String>) -> napi::Result<()> {
    let filter = level_filter(level.as_deref())?;
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // fails only when another `log` logger is already installed in this process
        let _ = log::set_logger(&LOGGER);
    });
    let on = callback.is_some();
    *LOGGER.sink.write().unwrap_or_else(|e| e.into_inner()) = callback;
    log::set_max_level(if on { filter } else { log::LevelFilter::Off });
    Ok(())
}
