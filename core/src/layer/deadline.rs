//! The [`Deadline`] layer: a call that does not finish in time fails with `Timeout`.

use super::{Call, Layer, Next, Value};
use crate::{Error, Result};
use std::time::Duration;

/// Bounds each call: after `limit` the call is dropped (its future cancelled) and fails with
/// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout), which [`Retry`](super::Retry) outside it
/// may retry. Put it inside `Retry` to bound each attempt, outside to bound all of them.
///
/// Calls that wait on their own clock (`wait_for_state`, `wait_for_build`, `wait_for_server`)
/// get their own timeout added to `limit`, so the layer only catches a wait that hangs.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    limit: Duration,
}

impl Deadline {
    /// Calls fail after `limit`.
    pub fn new(limit: Duration) -> Self {
        Deadline { limit }
    }

    /// The limit.
    pub fn limit(&self) -> Duration {
        self.limit
    }
}

#[crate::async_trait]
impl Layer for Deadline {
    fn name(&self) -> &'static str {
        "deadline"
    }

    async fn call(&self, call: &Call<'_>, next: &dyn Next) -> Result<Value> {
        let limit = self.limit + call.waits.unwrap_or_default();
        match tokio::time::timeout(limit, next.run()).await {
            Ok(r) => r,
            Err(_) => {
                let mut e = Error::timeout(format!(
                    "{} did not finish within {} s",
                    call.operation,
                    limit.as_secs_f64()
                ))
                .in_context(&call.provider.name, call.operation);
                if let Some(r) = call.resource {
                    e = e.with_resource(r);
                }
                Err(e)
            }
        }
    }
}
