//! Retry policy and the [`Retry`] layer: which failures are retried, how often, and how long
//! to wait in between.
//!
//! A call is retried only when its error is [`Error::retryable`] (`RateLimited`, `Transient`,
//! `Timeout`) and the call is [`Safety::Idempotent`]; a call that could do its work twice is
//! retried only when the service refused it (`RateLimited`). The wait is exponential backoff
//! with *full jitter* (a uniformly random delay between zero and the exponential cap), which
//! spreads the retries of many concurrent callers instead of having them hit the provider in
//! lock-step. A `RateLimited { retry_after }` hint is a lower bound on the wait.
//!
//! The engine retries its steps with the same policy and the same loop ([`with_retries`]);
//! inside a step, [`caller_retries`] tells the [`Retry`] layer to let calls through once.

use super::{Call, Layer, Next, Safety, Value};
use crate::{Error, ErrorKind, Result};
use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// How a call (or an engine step) is retried.
///
/// ```
/// use provisio::layer::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!(p.max_attempts, 5);
/// // the cap of the n-th retry: initial * 2^(n-1), at most max
/// assert_eq!(p.backoff_cap(1).as_millis(), 100);
/// assert_eq!(p.backoff_cap(3).as_millis(), 400);
/// assert_eq!(p.backoff_cap(30).as_millis(), 5000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The cap of the first retry's delay, in milliseconds.
    pub initial_backoff_ms: u64,
    /// The largest cap of any retry's delay, in milliseconds.
    pub max_backoff_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff_ms: 100,
            max_backoff_ms: 5000,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn never() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Checks the policy's numbers; `field` names it in the error (`retry.max_attempts`).
    pub fn check(&self, field: &str) -> Result<()> {
        if !(1..=100).contains(&self.max_attempts) {
            return Err(Error::invalid_field(
                &format!("{field}.max_attempts"),
                format!("must be 1 to 100, got {}", self.max_attempts),
            ));
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(Error::invalid_field(
                &format!("{field}.initial_backoff_ms"),
                format!(
                    "must not exceed max_backoff_ms ({} > {})",
                    self.initial_backoff_ms, self.max_backoff_ms
                ),
            ));
        }
        if self.max_backoff_ms > 600_000 {
            return Err(Error::invalid_field(
                &format!("{field}.max_backoff_ms"),
                format!(
                    "must be at most 600000 (10 minutes), got {}",
                    self.max_backoff_ms
                ),
            ));
        }
        Ok(())
    }

    /// The upper bound of the delay before retry number `retry` (1-based):
    /// `min(max_backoff, initial_backoff * 2^(retry-1))`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let shift = retry.saturating_sub(1).min(32);
        let cap = self
            .initial_backoff_ms
            .saturating_mul(1u64 << shift)
            .min(self.max_backoff_ms);
        Duration::from_millis(cap)
    }

    /// The delay before retry number `retry` (1-based): full jitter, uniformly random in
    /// `[0, backoff_cap(retry)]`, and never shorter than the provider's `retry_after` hint.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.backoff_cap(retry).as_millis() as u64;
        let jittered = if cap == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=cap)
        };
        let d = Duration::from_millis(jittered);
        match retry_after {
            Some(hint) if hint > d => hint,
            _ => d,
        }
    }

    /// Whether another attempt may follow attempt number `attempt` (1-based) of an idempotent
    /// call that failed with `err`.
    pub fn should_retry(&self, attempt: u32, err: &Error) -> bool {
        err.retryable() && attempt < self.max_attempts
    }

    /// The same for a call of the given [`Safety`].
    pub fn should_retry_call(&self, attempt: u32, err: &Error, safety: Safety) -> bool {
        match safety {
            Safety::Idempotent => self.should_retry(attempt, err),
            Safety::OnlyIfRefused => {
                matches!(err.kind(), ErrorKind::RateLimited { .. }) && attempt < self.max_attempts
            }
            Safety::Never => false,
        }
    }
}

/// Runs `attempt` until it succeeds, fails with an error `policy` does not retry, or runs out of
/// attempts, sleeping the policy's delay in between. `on_retry(attempt, delay, error)` is told
/// before each wait (the engine emits its `step_retrying` event there).
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    safety: Safety,
    mut on_retry: impl FnMut(u32, Duration, &Error),
    mut attempt: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1u32;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                if !policy.should_retry_call(n, &e, safety) {
                    return Err(e);
                }
                let delay = policy.delay(n, e.retry_after());
                on_retry(n, delay, &e);
                tokio::time::sleep(delay).await;
                n += 1;
            }
        }
    }
}

tokio::task_local! {
    static CALLER_RETRIES: ();
}

/// Runs `fut` telling every [`Retry`] layer inside it that the caller retries the whole of
/// it (the engine does so for each step), so those layers let each call through once.
pub async fn caller_retries<F: Future>(fut: F) -> F::Output {
    CALLER_RETRIES.scope((), fut).await
}

/// Whether the caller runs inside [`caller_retries`].
pub fn retried_by_caller() -> bool {
    CALLER_RETRIES.try_with(|_| ()).is_ok()
}

/// The layer that retries calls by a [`RetryPolicy`] (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retry {
    policy: RetryPolicy,
}

impl Retry {
    /// Retries by `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Retry { policy }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

#[crate::async_trait]
impl Layer for Retry {
    fn name(&self) -> &'static str {
        "retry"
    }

    async fn call(&self, call: &Call<'_>, next: &dyn Next) -> Result<Value> {
        if retried_by_caller() {
            return next.run().await;
        }
        with_retries(
            &self.policy,
            call.safety,
            |attempt, delay, e| {
                tracing::info!(
                    operation = call.operation,
                    provider = %call.provider.name,
                    resource = call.resource.unwrap_or(""),
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    error = %e,
                    "retrying"
                );
            },
            || next.run(),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_jitter_stays_within_cap() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff_ms: 50,
            max_backoff_ms: 1000,
        };
        let mut saw_small = false;
        for retry in 1..8 {
            let cap = p.backoff_cap(retry);
            for _ in 0..200 {
                let d = p.delay(retry, None);
                assert!(d <= cap, "{d:?} > {cap:?}");
                if d < cap / 4 {
                    saw_small = true;
                }
            }
        }
        assert!(saw_small, "full jitter must sometimes pick short delays");
        assert_eq!(p.backoff_cap(5), Duration::from_millis(800));
        assert_eq!(p.backoff_cap(6), Duration::from_millis(1000));
    }

    #[test]
    fn retry_after_is_a_lower_bound() {
        let p = RetryPolicy::default();
        for _ in 0..50 {
            assert!(p.delay(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        }
    }

    #[test]
    fn only_retryable_errors_are_retried() {
        let p = RetryPolicy::default();
        assert!(p.should_retry(1, &Error::transient("503")));
        assert!(p.should_retry(4, &Error::rate_limited(None)));
        assert!(!p.should_retry(5, &Error::transient("503")));
        assert!(!p.should_retry(1, &Error::invalid_input("bad")));
        assert!(!p.should_retry(1, &Error::not_found("x")));
        assert!(!RetryPolicy::never().should_retry(1, &Error::transient("x")));
    }

    #[test]
    fn calls_that_could_run_twice_are_retried_only_when_refused() {
        let p = RetryPolicy::default();
        let once = Safety::OnlyIfRefused;
        assert!(p.should_retry_call(1, &Error::rate_limited(None), once));
        assert!(!p.should_retry_call(1, &Error::transient("reset after send"), once));
        assert!(!p.should_retry_call(1, &Error::timeout("no answer"), once));
        assert!(p.should_retry_call(1, &Error::timeout("no answer"), Safety::Idempotent));
    }

    #[test]
    fn policy_numbers_are_checked() {
        assert!(RetryPolicy::default().check("retry").is_ok());
        let zero = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        let e = zero.check("retry").unwrap_err().to_string();
        assert!(e.contains("retry.max_attempts"), "{e}");
        let inverted = RetryPolicy {
            initial_backoff_ms: 10_000,
            max_backoff_ms: 100,
            ..RetryPolicy::default()
        };
        assert!(inverted.check("retry").is_err());
    }

    #[test]
    fn serde_defaults() {
        let p: RetryPolicy = serde_json::from_str(r#"{"max_attempts": 2}"#).unwrap();
        assert_eq!(p.max_attempts, 2);
        assert_eq!(p.initial_backoff_ms, 100);
    }

    #[tokio::test(start_paused = true)]
    async fn with_retries_reports_each_wait_and_stops_at_the_limit() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut waits = Vec::new();
        let mut calls = 0;
        let r: Result<()> = with_retries(
            &policy,
            Safety::Idempotent,
            |n, _, e| waits.push((n, e.kind().as_str())),
            || {
                calls += 1;
                async { Err(Error::transient("503")) }
            },
        )
        .await;
        assert!(r.is_err());
        assert_eq!(calls, 3);
        assert_eq!(waits, [(1, "transient"), (2, "transient")]);
    }
}
