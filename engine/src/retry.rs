//! Retry policy: which failures are retried, how often, and how long to wait in between.
//!
//! The engine retries a step only when its error is [`provisio::Error::retryable`]
//! (`RateLimited`, `Transient`, `Timeout` from a provider). The wait is exponential backoff with
//! *full jitter* (a uniformly random delay between zero and the exponential cap), which spreads
//! the retries of many concurrent steps instead of having them hit the provider in lock-step.
//! A `RateLimited { retry_after }` hint is a lower bound on the wait.

use rand::Rng;
use std::time::Duration;

/// How a resource's step is retried.
///
/// ```
/// use provisio_engine::retry::RetryPolicy;
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

    /// Whether another attempt may follow attempt number `attempt` (1-based) that failed with
    /// `err`.
    pub fn should_retry(&self, attempt: u32, err: &provisio::Error) -> bool {
        err.retryable() && attempt < self.max_attempts
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
        assert!(p.should_retry(1, &provisio::Error::transient("503")));
        assert!(p.should_retry(4, &provisio::Error::rate_limited(None)));
        assert!(!p.should_retry(5, &provisio::Error::transient("503")));
        assert!(!p.should_retry(1, &provisio::Error::invalid_input("bad")));
        assert!(!p.should_retry(1, &provisio::Error::not_found("x")));
        assert!(!RetryPolicy::never().should_retry(1, &provisio::Error::transient("x")));
    }

    #[test]
    fn serde_defaults() {
        let p: RetryPolicy = serde_json::from_str(r#"{"max_attempts": 2}"#).unwrap();
        assert_eq!(p.max_attempts, 2);
        assert_eq!(p.initial_backoff_ms, 100);
    }
}
