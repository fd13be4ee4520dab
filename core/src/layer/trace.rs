//! The [`Trace`] layer: a `tracing` span around every call.

use super::{Call, Layer, Next, Value};
use crate::Result;
use tracing::Instrument;

/// Runs each call in a `provider_call` span (fields `operation`, `provider`, `account`,
/// `resource`) and logs its end at `debug` (`elapsed_ms`, and the error kind when it failed).
/// Names and ids only: a secret value never reaches a span or an event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace;

#[crate::async_trait]
impl Layer for Trace {
    fn name(&self) -> &'static str {
        "trace"
    }

    async fn call(&self, call: &Call<'_>, next: &dyn Next) -> Result<Value> {
        let span = tracing::debug_span!(
            "provider_call",
            operation = call.operation,
            provider = %call.provider.name,
            account = %call.provider.account,
            resource = call.resource.unwrap_or(""),
        );
        let started = std::time::Instant::now();
        let result = next.run().instrument(span.clone()).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let _entered = span.enter();
        match &result {
            Ok(_) => tracing::debug!(elapsed_ms, "call finished"),
            Err(e) => tracing::debug!(elapsed_ms, error = e.kind().as_str(), "call failed"),
        }
        result
    }
}
