//! Per-provider-account rate limiting.
//!
//! Every provider declares its account's request quota ([`crate::ProviderInfo::quota`]); the
//! process keeps one token bucket per provider kind and account (`cloudflare/acct-1`), shared by
//! every request of every step, run and direct call ([`crate::requests::limiter`]), so a fleet
//! run stays inside the quota as a whole. A quota's bucket refills at `quota.per_second()` and holds a single token: requests
//! are *paced* evenly rather than sent in a burst of `quota.requests`. A full-size burst followed
//! by the sustained rate could send up to twice the quota within one window, which fixed-window
//! and sliding-window limiters (Cloudflare's, the memory provider's) reject; pacing never
//! exceeds `requests + 1` in any window.
//! A provider's `RateLimited { retry_after }` answer pauses the whole account's bucket for that
//! long, so the other steps do not walk into the same wall.
//!
//! Waiting is by *reservation*: a caller takes its token at once (the balance may go negative)
//! and sleeps until the balance it took would have been refilled. Callers are thus served in
//! arrival order, without polling. Time is tokio time, so tests run with paused time.
//!
//! **Across processes.** A bucket in one process only paces that process. Workers on several
//! machines that drive the same account share one bucket through [`SharedBuckets`] (the
//! PostgreSQL state store implements it): [`RateLimiter::share`] makes the limiter take its
//! tokens there, a few at a time ([`shared_block`]: a fifth of a second's worth, at least one),
//! keeping what it was granted for at most [`STASH_TTL`]. A `RateLimited` answer pauses the
//! shared bucket too. When the shared store fails, the limiter paces by its local bucket and
//! says so in a warning: requests go on, at the quota per process.

use crate::{Error, ProviderInfo, Quota, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// A request limit as a provider file writes it: `rate_limit = { requests = 5, per_secs = 1 }`.
///
/// Every real provider's configuration takes one (`rate_limit`, or `rate_limits.<service>` for
/// kinds that drive several services with separate limits, such as AWS and Azure). It replaces
/// the default quota the provider declares from its service's documented limits
/// ([`ProviderInfo::quota`]); the provider then paces each of its requests by it in
/// [`crate::requests::before_request`].
///
/// ```
/// use provisio::ratelimit::RateLimit;
/// use std::time::Duration;
/// let r: RateLimit = serde_json::from_str(r#"{"requests": 1200, "per_secs": 300}"#).unwrap();
/// assert_eq!(r.quota("rate_limit").unwrap(), provisio::Quota::new(1200, Duration::from_secs(300)));
/// // `per_secs` defaults to one second
/// let r: RateLimit = serde_json::from_str(r#"{"requests": 5}"#).unwrap();
/// assert_eq!(r.quota("rate_limit").unwrap().per_second(), 5.0);
/// let bad: RateLimit = serde_json::from_str(r#"{"requests": 0}"#).unwrap();
/// assert!(bad.quota("rate_limit").unwrap_err().to_string().contains("invalid rate_limit.requests"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per window (at least 1).
    pub requests: u32,
    /// The window in seconds (default 1; fractions allowed, more than 0).
    #[serde(default = "one_second")]
    pub per_secs: f64,
}

// `per_secs` is a finite number (`quota` refuses anything else), so equality is reflexive:
// configurations that hold a `RateLimit` may be map keys.
impl Eq for RateLimit {}

impl std::hash::Hash for RateLimit {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.requests.hash(state);
        self.per_secs.to_bits().hash(state);
    }
}

fn one_second() -> f64 {
    1.0
}

impl RateLimit {
    /// `requests` per `per_secs` seconds.
    pub fn new(requests: u32, per_secs: f64) -> Self {
        RateLimit { requests, per_secs }
    }

    /// The quota this setting stands for; `field` names the setting in the error
    /// (`invalid <field>.requests: ...`).
    pub fn quota(&self, field: &str) -> Result<Quota> {
        if self.requests == 0 {
            return Err(Error::invalid_field(
                &format!("{field}.requests"),
                "must be at least 1",
            ));
        }
        if !(self.per_secs.is_finite() && self.per_secs > 0.0 && self.per_secs <= 86_400.0) {
            return Err(Error::invalid_field(
                &format!("{field}.per_secs"),
                format!(
                    "must be more than 0 and at most 86400, got {}",
                    self.per_secs
                ),
            ));
        }
        Ok(Quota::new(
            self.requests,
            std::time::Duration::from_secs_f64(self.per_secs),
        ))
    }

    /// The quota a provider runs with: the configured one, else its `default`.
    ///
    /// ```
    /// use provisio::ratelimit::RateLimit;
    /// use provisio::Quota;
    /// use std::time::Duration;
    /// let route53 = Some(Quota::new(5, Duration::from_secs(1)));
    /// assert_eq!(RateLimit::effective(None, route53, "rate_limit").unwrap(), route53);
    /// let two = RateLimit::new(2, 1.0);
    /// assert_eq!(
    ///     RateLimit::effective(Some(&two), route53, "rate_limit").unwrap(),
    ///     Some(Quota::new(2, Duration::from_secs(1)))
    /// );
    /// ```
    pub fn effective(
        configured: Option<&RateLimit>,
        default: Option<Quota>,
        field: &str,
    ) -> Result<Option<Quota>> {
        match configured {
            Some(r) => r.quota(field).map(Some),
            None => Ok(default),
        }
    }
}

/// One token bucket.
///
/// ```
/// use provisio::ratelimit::TokenBucket;
/// use std::time::Duration;
/// let now = tokio::time::Instant::now();
/// let mut b = TokenBucket::new(2.0, 1.0, now); // burst 2, one per second
/// assert_eq!(b.reserve(now), Duration::ZERO);
/// assert_eq!(b.reserve(now), Duration::ZERO);
/// assert_eq!(b.reserve(now), Duration::from_secs(1));
/// assert_eq!(b.reserve(now), Duration::from_secs(2));
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
    paused_until: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `capacity` tokens refilled at `rate` tokens per second.
    pub fn new(capacity: f64, rate: f64, now: Instant) -> Self {
        TokenBucket {
            capacity: capacity.max(1.0),
            rate: rate.max(f64::MIN_POSITIVE),
            tokens: capacity.max(1.0),
            last: now,
            paused_until: None,
        }
    }

    /// The bucket for a provider quota: paced at `requests / per`, burst 1.
    pub fn from_quota(quota: Quota, now: Instant) -> Self {
        Self::new(1.0, quota.per_second(), now)
    }

    /// An unlimited bucket that only honours pauses.
    fn unlimited(now: Instant) -> Self {
        TokenBucket {
            capacity: f64::INFINITY,
            rate: f64::INFINITY,
            tokens: f64::INFINITY,
            last: now,
            paused_until: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.rate.is_infinite() {
            return;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.last = now;
    }

    /// Takes one token at `now` and returns how long the caller must wait before using it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        self.refill(now);
        let token_wait = if self.rate.is_infinite() {
            Duration::ZERO
        } else {
            self.tokens -= 1.0;
            if self.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-self.tokens / self.rate)
            }
        };
        let pause_wait = self
            .paused_until
            .map(|p| p.saturating_duration_since(now))
            .unwrap_or_default();
        token_wait.max(pause_wait)
    }

    /// Blocks every reservation until `now + delay` (the provider said "retry after").
    pub fn pause(&mut self, now: Instant, delay: Duration) {
        let until = now + delay;
        if self.paused_until.is_none_or(|p| p < until) {
            self.paused_until = Some(until);
        }
    }

    /// The tokens available at `now` (negative when callers are queued).
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }
}

/// What a [`SharedBuckets::take`] granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// This many tokens (at least one), to spend now.
    Tokens(u32),
    /// None now; ask again after this long.
    WaitFor(Duration),
}

/// Token buckets shared by every process that reaches the same store (the PostgreSQL state
/// store implements it): one provider account's quota holds across all the workers of a fleet.
#[crate::async_trait]
pub trait SharedBuckets: Send + Sync + std::fmt::Debug {
    /// Takes up to `want` tokens from the bucket `key`, which holds at most `capacity` tokens
    /// and refills at `rate` tokens per second (a bucket seen for the first time starts full).
    /// Atomic across processes.
    async fn take(&self, key: &str, rate: f64, capacity: f64, want: u32) -> Result<Grant>;
    /// Makes every process wait `delay` before the bucket `key` grants again (the provider
    /// answered "too many requests").
    async fn pause(&self, key: &str, rate: f64, delay: Duration) -> Result<()>;
}

/// How long tokens taken from a shared bucket may wait in a process before they are dropped
/// unused (so that tokens taken long ago never add to a burst later).
pub const STASH_TTL: Duration = Duration::from_secs(1);

/// How many tokens a limiter takes from a shared bucket at once for `quota`: a fifth of a
/// second's worth, at least 1 and at most 50. It is also the shared bucket's capacity, so the
/// whole fleet never sends more than the quota plus this many in any window.
pub fn shared_block(quota: Quota) -> u32 {
    ((quota.per_second() * 0.2).floor() as u32).clamp(1, 50)
}

/// The rate limiter of an engine: one [`TokenBucket`] per provider kind and account, or, once
/// [`shared`](Self::share), one bucket per account in a [`SharedBuckets`] store for every
/// process.
///
/// A bucket follows its account's quota: when a provider of the same name and account declares
/// another quota than the one the bucket was made for (a provider file changed it), the bucket is
/// rebuilt at the new rate, keeping a pause that is still running.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (Option<Quota>, TokenBucket)>>,
    shared: RwLock<Option<Arc<dyn SharedBuckets>>>,
    /// Tokens granted by the shared bucket and not spent yet: count and when they came.
    stash: Mutex<HashMap<String, (u32, Instant)>>,
}

impl RateLimiter {
    /// An empty limiter; buckets are created on first use from the provider's quota.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bucket key of a provider: `<name>/<account>`.
    pub fn key(info: &ProviderInfo) -> String {
        format!("{}/{}", info.name, info.account)
    }

    fn with_bucket<R>(
        &self,
        info: &ProviderInfo,
        f: impl FnOnce(&mut TokenBucket, Instant) -> R,
    ) -> R {
        let now = Instant::now();
        let fresh = |now| match info.quota {
            Some(q) => TokenBucket::from_quota(q, now),
            None => TokenBucket::unlimited(now),
        };
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (quota, bucket) = map
            .entry(Self::key(info))
            .or_insert_with(|| (info.quota, fresh(now)));
        if *quota != info.quota {
            let paused_until = bucket.paused_until;
            *bucket = fresh(now);
            bucket.paused_until = paused_until;
            *quota = info.quota;
        }
        f(bucket, now)
    }

    /// Reserves one request for the provider's account; returns the wait (without sleeping).
    pub fn reserve(&self, info: &ProviderInfo) -> Duration {
        self.with_bucket(info, |b, now| b.reserve(now))
    }

    /// Waits until one request to the provider's account is allowed.
    pub async fn acquire(&self, info: &ProviderInfo) {
        if let (Some(shared), Some(quota)) = (self.shared(), info.quota)
            && self.acquire_shared(shared.as_ref(), info, quota).await
        {
            return;
        }
        let wait = self.reserve(info);
        if !wait.is_zero() {
            tracing::debug!(account = %Self::key(info), wait_ms = wait.as_millis() as u64, "rate limit wait");
            tokio::time::sleep(wait).await;
        }
    }

    /// Pauses the provider's account for `retry_after` (after a `RateLimited` answer), in the
    /// shared bucket too when there is one (sent in the background).
    pub fn penalize(&self, info: &ProviderInfo, retry_after: Duration) {
        self.with_bucket(info, |b, now| b.pause(now, retry_after));
        if let (Some(shared), Some(quota), Ok(runtime)) = (
            self.shared(),
            info.quota,
            tokio::runtime::Handle::try_current(),
        ) {
            let key = Self::key(info);
            runtime.spawn(async move {
                if let Err(e) = shared.pause(&key, quota.per_second(), retry_after).await {
                    tracing::warn!(account = %key, error = %e, "could not pause the shared rate limit");
                }
            });
        }
    }

    /// Takes the tokens of every quota'd account from `shared` from now on (`None`: back to
    /// this process's buckets).
    pub fn share(&self, shared: Option<Arc<dyn SharedBuckets>>) {
        *self.shared.write().unwrap_or_else(|e| e.into_inner()) = shared;
        self.stash.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    fn shared(&self) -> Option<Arc<dyn SharedBuckets>> {
        self.shared
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// One token from the stash, when a fresh one is there.
    fn take_stashed(&self, key: &str) -> bool {
        let mut stash = self.stash.lock().unwrap_or_else(|e| e.into_inner());
        match stash.get_mut(key) {
            Some((n, at)) if *n > 0 && at.elapsed() < STASH_TTL => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Waits for a token of the shared bucket; `false` when the store failed (the caller then
    /// paces by the local bucket).
    async fn acquire_shared(
        &self,
        shared: &dyn SharedBuckets,
        info: &ProviderInfo,
        quota: Quota,
    ) -> bool {
        let key = Self::key(info);
        let block = shared_block(quota);
        loop {
            // a pause this process was told about holds before the shared bucket hears of it
            let paused = self.with_bucket(info, |b, now| {
                b.paused_until
                    .map(|p| p.saturating_duration_since(now))
                    .unwrap_or_default()
            });
            if !paused.is_zero() {
                tokio::time::sleep(paused).await;
            }
            if self.take_stashed(&key) {
                return true;
            }
            match shared
                .take(&key, quota.per_second(), f64::from(block), block)
                .await
            {
                Ok(Grant::Tokens(n)) if n > 0 => {
                    if n > 1 {
                        self.stash
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(key, (n - 1, Instant::now()));
                    }
                    return true;
                }
                Ok(Grant::Tokens(_)) => tokio::time::sleep(Duration::from_millis(1)).await,
                Ok(Grant::WaitFor(wait)) => {
                    tracing::debug!(account = %key, wait_ms = wait.as_millis() as u64, "shared rate limit wait");
                    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
                }
                Err(e) => {
                    tracing::warn!(account = %key, error = %e, "shared rate limit unavailable: pacing by this process's bucket");
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(quota: Option<Quota>) -> ProviderInfo {
        let i = ProviderInfo::new("memory", "acct-1");
        match quota {
            Some(q) => i.with_quota(q),
            None => i,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn paced_at_the_quota_rate() {
        // 4 per second, paced: 12 requests take 11 * 250 ms.
        let rl = RateLimiter::new();
        let i = info(Some(Quota::new(4, Duration::from_secs(1))));
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..12 {
            rl.acquire(&i).await;
            at.push(start.elapsed());
        }
        assert_eq!(start.elapsed(), Duration::from_millis(2750));
        // never more than `requests` in any window of `per` starting at a request
        for (k, t) in at.iter().enumerate() {
            let in_window = at[k..]
                .iter()
                .filter(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(in_window <= 4, "{in_window} requests within 1 s from {t:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_are_spaced() {
        let rl = std::sync::Arc::new(RateLimiter::new());
        let i = info(Some(Quota::new(2, Duration::from_secs(1))));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let rl = rl.clone();
            let i = i.clone();
            tasks.push(tokio::spawn(async move {
                rl.acquire(&i).await;
                start.elapsed()
            }));
        }
        let mut done: Vec<Duration> = Vec::new();
        for t in tasks {
            done.push(t.await.unwrap());
        }
        done.sort();
        let ms: Vec<u128> = done.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, vec![0, 500, 1000, 1500, 2000, 2500]);
    }

    #[tokio::test(start_paused = true)]
    async fn refill_is_capped_at_capacity() {
        let rl = RateLimiter::new();
        let i = info(Some(Quota::new(3, Duration::from_secs(3))));
        tokio::time::sleep(Duration::from_secs(100)).await;
        let start = Instant::now();
        for _ in 0..4 {
            rl.acquire(&i).await;
        }
        // idle time does not build up a burst: 1 at once, then one per second
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_account() {
        let rl = RateLimiter::new();
        let i = info(None);
        assert_eq!(rl.reserve(&i), Duration::ZERO);
        rl.penalize(&i, Duration::from_secs(3));
        let start = Instant::now();
        rl.acquire(&i).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3));
        // other accounts are unaffected
        let other = ProviderInfo::new("memory", "acct-2");
        assert_eq!(rl.reserve(&other), Duration::ZERO);
        // a shorter pause does not shorten a longer one
        rl.penalize(&i, Duration::from_secs(5));
        rl.penalize(&i, Duration::from_secs(1));
        assert_eq!(rl.reserve(&i), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_changed_quota_rebuilds_the_bucket() {
        let rl = RateLimiter::new();
        let slow = info(Some(Quota::new(1, Duration::from_secs(10))));
        rl.acquire(&slow).await;
        assert_eq!(rl.reserve(&slow), Duration::from_secs(10));
        // the same account, now configured at 10 per second: paced at the new rate
        let fast = info(Some(Quota::new(10, Duration::from_secs(1))));
        let start = Instant::now();
        for _ in 0..3 {
            rl.acquire(&fast).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
        // a running pause survives the change
        rl.penalize(&fast, Duration::from_secs(4));
        assert_eq!(rl.reserve(&info(None)), Duration::from_secs(4));
    }

    #[test]
    fn rate_limit_settings_are_checked() {
        assert!(RateLimit::new(5, 0.0).quota("rate_limit").is_err());
        assert!(RateLimit::new(5, f64::NAN).quota("rate_limit").is_err());
        let e = RateLimit::new(5, -1.0)
            .quota("rate_limits.route53")
            .unwrap_err();
        assert!(
            e.to_string().contains("rate_limits.route53.per_secs"),
            "{e}"
        );
        assert_eq!(
            RateLimit::new(1, 0.5).quota("r").unwrap(),
            Quota::new(1, Duration::from_millis(500))
        );
    }

    #[test]
    fn cloudflare_quota_math() {
        let now = Instant::now();
        let mut b = TokenBucket::from_quota(Quota::new(1200, Duration::from_secs(300)), now);
        assert_eq!(b.reserve(now), Duration::ZERO);
        assert_eq!(b.reserve(now), Duration::from_millis(250));
        assert_eq!(b.reserve(now), Duration::from_millis(500));
        // a general bucket with a burst
        let mut b = TokenBucket::new(1200.0, 4.0, now);
        for _ in 0..1200 {
            assert_eq!(b.reserve(now), Duration::ZERO);
        }
        assert_eq!(b.reserve(now), Duration::from_millis(250));
        assert!((b.available(now + Duration::from_secs(1)) - 3.0).abs() < 1e-9);
    }

    /// A shared store in memory: what the PostgreSQL one does, for two limiters in one test.
    #[derive(Debug, Default)]
    struct MemoryShared {
        buckets: Mutex<HashMap<String, TokenBucket>>,
        takes: std::sync::atomic::AtomicU32,
        fail: std::sync::atomic::AtomicBool,
    }

    #[crate::async_trait]
    impl SharedBuckets for MemoryShared {
        async fn take(&self, key: &str, rate: f64, capacity: f64, want: u32) -> Result<Grant> {
            use std::sync::atomic::Ordering::SeqCst;
            if self.fail.load(SeqCst) {
                return Err(Error::transient("the shared store is down"));
            }
            self.takes.fetch_add(1, SeqCst);
            let now = Instant::now();
            let mut map = self.buckets.lock().unwrap();
            let b = map
                .entry(key.to_string())
                .or_insert_with(|| TokenBucket::new(capacity, rate, now));
            let level = b.available(now);
            let granted = (level.floor().max(0.0) as u32).min(want);
            if granted == 0 {
                let paused = b
                    .paused_until
                    .map(|p| p.saturating_duration_since(now))
                    .unwrap_or_default();
                return Ok(Grant::WaitFor(
                    Duration::from_secs_f64((1.0 - level) / rate).max(paused),
                ));
            }
            b.tokens -= f64::from(granted);
            Ok(Grant::Tokens(granted))
        }

        async fn pause(&self, key: &str, _rate: f64, delay: Duration) -> Result<()> {
            if let Some(b) = self.buckets.lock().unwrap().get_mut(key) {
                b.pause(Instant::now(), delay);
                b.tokens = b.tokens.min(0.0);
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn limiters_sharing_a_bucket_keep_the_quota_together() {
        // 10 per second for the account; two workers of 30 requests each: alone each would
        // need 3 s, together they need 6 s, because they share one bucket.
        let quota = Quota::new(10, Duration::from_secs(1));
        assert_eq!(shared_block(quota), 2);
        let store: Arc<dyn SharedBuckets> = Arc::new(MemoryShared::default());
        let (a, b) = (RateLimiter::new(), RateLimiter::new());
        a.share(Some(store.clone()));
        b.share(Some(store.clone()));
        let i = info(Some(quota));
        let start = Instant::now();
        async fn worker(rl: &RateLimiter, i: &ProviderInfo) {
            for _ in 0..30 {
                rl.acquire(i).await;
            }
        }
        tokio::join!(worker(&a, &i), worker(&b, &i));
        let took = start.elapsed();
        // 60 tokens, 2 in the full bucket at the start, the rest at 10 per second
        assert!(
            took >= Duration::from_millis(5_750) && took <= Duration::from_millis(6_300),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_pauses_the_shared_bucket_and_a_failing_store_falls_back_to_local_pacing() {
        let quota = Quota::new(10, Duration::from_secs(1));
        let mem = Arc::new(MemoryShared::default());
        let store: Arc<dyn SharedBuckets> = mem.clone();
        let (a, b) = (RateLimiter::new(), RateLimiter::new());
        a.share(Some(store.clone()));
        b.share(Some(store));
        let i = info(Some(quota));
        a.acquire(&i).await; // the bucket exists
        a.penalize(&i, Duration::from_secs(5));
        tokio::task::yield_now().await; // the background pause reaches the store
        let start = Instant::now();
        b.acquire(&i).await; // the other worker never heard "slow down" itself
        assert!(
            start.elapsed() >= Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );

        mem.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let c = RateLimiter::new();
        c.share(Some(mem.clone()));
        let start = Instant::now();
        for _ in 0..11 {
            c.acquire(&i).await;
        }
        // paced locally at 10 per second: the 11th request waits 1 s
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }
}
