//! One provider call of a step: its retry policy, retries, timeout and cancellation.

use super::{Engine, Run};
use crate::events::EventKind;
use crate::retry::RetryPolicy;
use provisio::layer::Safety;
use provisio::layer::retry::{caller_retries, with_retries};
use provisio::{Error, Result};
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

impl Engine {
    /// Runs `call` with retries (retryable errors only, full-jitter backoff: the loop of
    /// provisio's `Retry` layer), the step timeout and cancellation. The step is retried as a
    /// whole, so `Retry` layers around the providers let its calls through once. (Providers
    /// pace their own requests; see [`provisio::requests`].)
    pub(super) async fn call<'f, T, F, Fut>(
        &self,
        run: &Run<'_>,
        resource: &str,
        (policy, timeout): (RetryPolicy, Option<Duration>),
        cancel: &CancellationToken,
        call: F,
    ) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>> + 'f,
    {
        // the last failed attempt, for the error when the timeout ends the step
        let last_failure: std::sync::Mutex<Option<(u32, String)>> = Default::default();
        let attempts = caller_retries(with_retries(
            &policy,
            Safety::Idempotent,
            |attempt, delay, e| {
                *last_failure.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((attempt, e.to_string()));
                tracing::info!(resource, attempt, delay_ms = delay.as_millis() as u64, error = %e, "retrying");
                run.emit(|| EventKind::StepRetrying {
                    resource: resource.to_string(),
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                    reason: e.to_string(),
                });
            },
            call,
        ));
        let timed = async {
            match timeout {
                Some(t) => match tokio::time::timeout(t, attempts).await {
                    Ok(r) => r,
                    Err(_) => {
                        let last = last_failure
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .take();
                        let after = match last {
                            None => String::new(),
                            Some((n, e)) => format!(
                                "; {n} attempt{} failed, the last with: {e}",
                                if n == 1 { "" } else { "s" }
                            ),
                        };
                        Err(Error::timeout(format!(
                            "the step did not finish within {} s{after}",
                            t.as_secs_f64()
                        ))
                        .with_resource(resource))
                    }
                },
                None => attempts.await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => Err(run.cancelled_error().with_resource(resource)),
            r = timed => r,
        }
    }
}
