//! Provider requests: paced per account and counted per step.
//!
//! A provider calls [`before_request`] immediately before it sends one request to its service
//! (one HTTP request, one SQL round trip, one git transfer, one call of a memory provider).
//! That call does two things:
//!
//! - **Pacing.** It waits for a token of the account's bucket in the process-wide
//!   [`limiter`], keyed by [`ProviderInfo::name`] and [`ProviderInfo::account`], refilled at the
//!   account's [`ProviderInfo::quota`] (no quota: no wait). Rate limits therefore count
//!   requests, not steps: a step that sends four Route 53 requests takes four tokens, and every
//!   engine, fleet and direct caller in the process shares the account's bucket. A provider that
//!   is answered "slow down" calls [`rate_limited`], which pauses the account's bucket.
//! - **Counting.** It adds one to the [`RequestTally`] of the step it runs in (the engine wraps
//!   each step in [`counted`]) under the provider's name (`aws-s3`, `postgres`), so events
//!   and reports say how many requests each step sent.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use provisio::requests::{RequestTally, before_request, counted};
//! use provisio::ProviderInfo;
//! use std::sync::Arc;
//!
//! let info = ProviderInfo::new("example-dns", "acct-1");
//! let tally = Arc::new(RequestTally::default());
//! counted(tally.clone(), async {
//!     before_request(&info).await; // e.g. a zone lookup
//!     before_request(&info).await; // the record change
//! })
//! .await;
//! assert_eq!(tally.total(), 2);
//! assert_eq!(tally.by_service()["example-dns"], 2);
//! # });
//! ```

use crate::ProviderInfo;
use crate::ratelimit::RateLimiter;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// How many requests were sent, per provider name. Cheap to update from many tasks.
#[derive(Debug, Default)]
pub struct RequestTally {
    total: AtomicU64,
    by_service: Mutex<BTreeMap<String, u64>>,
}

impl RequestTally {
    /// Adds one request to `service`.
    pub fn add(&self, service: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut m = self.by_service.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(service) {
            Some(n) => *n += 1,
            None => {
                m.insert(service.to_string(), 1);
            }
        }
    }
    /// Adds every count of `other` (a step's tally into its run's).
    pub fn merge(&self, other: &RequestTally) {
        for (service, n) in other.by_service() {
            self.total.fetch_add(n, Ordering::Relaxed);
            *self
                .by_service
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(service)
                .or_insert(0) += n;
        }
    }
    /// Every request counted so far.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
    /// The counts per provider name.
    pub fn by_service(&self) -> BTreeMap<String, u64> {
        self.by_service
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

tokio::task_local! {
    static STEP: Arc<RequestTally>;
    static PACER: Arc<crate::layer::pace::CallPacer>;
}

/// Runs `fut` with a [`Pace`](crate::layer::Pace) layer's bucket pacing every request it
/// reports (nested: the innermost layer's bucket).
pub(crate) async fn paced_by<F: Future>(
    pacer: Arc<crate::layer::pace::CallPacer>,
    fut: F,
) -> F::Output {
    PACER.scope(pacer, fut).await
}

/// Runs `fut` with `tally` counting every request it sends through [`before_request`]
/// (nested scopes count into the innermost one only).
pub async fn counted<F: Future>(tally: Arc<RequestTally>, fut: F) -> F::Output {
    STEP.scope(tally, fut).await
}

/// The requests counted so far by the innermost [`counted`] scope around the caller (0
/// outside one).
pub fn current_total() -> u64 {
    STEP.try_with(|t| t.total()).unwrap_or(0)
}

/// The tally of the step the caller runs in, if any: for providers that send requests from
/// blocking threads (a `git` subprocess, a blocking library), where the step's task-local is
/// not visible. Count there with [`RequestTally::add`], pace with [`limiter`].
pub fn current_tally() -> Option<Arc<RequestTally>> {
    STEP.try_with(|t| t.clone()).ok()
}

/// The process-wide limiter every provider paces its requests in.
pub fn limiter() -> &'static RateLimiter {
    static LIMITER: OnceLock<RateLimiter> = OnceLock::new();
    LIMITER.get_or_init(RateLimiter::new)
}

/// Call right before sending one request to the provider's service: waits for the account's
/// rate limit (when it has a quota) and counts the request in the current step's tally.
pub async fn before_request(info: &ProviderInfo) {
    if let Ok(pacer) = PACER.try_with(|p| p.clone()) {
        pacer.acquire().await;
    }
    if info.quota.is_some() {
        limiter().acquire(info).await;
    }
    record(&info.name);
}

/// Counts one request to `service` in the current step's tally without pacing it (for
/// requests whose pacing the caller did itself, or that no quota applies to).
pub fn record(service: &str) {
    let _ = STEP.try_with(|t| t.add(service));
}

/// Call when the service answered "too many requests": pauses the account's bucket for
/// `retry_after`, so every caller in the process backs off, not only the one that was refused.
pub fn rate_limited(info: &ProviderInfo, retry_after: Duration) {
    let _ = PACER.try_with(|p| p.pause(retry_after));
    limiter().penalize(info, retry_after);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;

    #[tokio::test(start_paused = true)]
    async fn counts_per_step_and_paces_per_account() {
        let info = ProviderInfo::new("requests-test", "acct-pace")
            .with_quota(Quota::new(2, Duration::from_secs(1)));
        let a = Arc::new(RequestTally::default());
        let b = Arc::new(RequestTally::default());
        let start = tokio::time::Instant::now();
        let (_, _) = tokio::join!(
            counted(a.clone(), async {
                for _ in 0..3 {
                    before_request(&info).await;
                }
            }),
            counted(b.clone(), async {
                for _ in 0..2 {
                    before_request(&info).await;
                }
            }),
        );
        assert_eq!((a.total(), b.total()), (3, 2));
        // five requests at two per second, paced: the last one waits 2 s
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // outside a step nothing is counted, and nothing panics
        record("requests-test");
        assert_eq!(a.total() + b.total(), 5);
        assert!(current_tally().is_none());
        let seen = counted(a.clone(), async { current_tally() }).await;
        assert!(seen.is_some_and(|t| Arc::ptr_eq(&t, &a)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_pauses_the_account() {
        let info = ProviderInfo::new("requests-test", "acct-refused")
            .with_quota(Quota::new(1000, Duration::from_secs(1)));
        rate_limited(&info, Duration::from_secs(3));
        let start = tokio::time::Instant::now();
        before_request(&info).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }
}
