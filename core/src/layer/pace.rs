//! The [`Pace`] layer: a request quota of its own around a provider.

use super::{Call, Layer, Next, Value};
use crate::ratelimit::TokenBucket;
use crate::{Quota, Result};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Holds the requests of the providers it wraps to `quota`, on top of the account's own quota
/// (which every built-in provider already keeps per request, process-wide: see
/// [`crate::requests`]). Use it to give one caller a smaller share of an account ("this
/// back-office script may send 2 requests a second to Cloudflare"), or to pace a provider that
/// declares no quota.
///
/// Requests are counted as the provider reports them through
/// [`requests::before_request`](crate::requests::before_request): a call that sends four requests
/// takes four tokens. Every call takes at least one, so a provider that does not report its
/// requests is paced per call. Clones share one bucket; so do all providers wrapped by one
/// `Pace` (through a [`Stack`](super::Stack)).
///
/// ```
/// use provisio::Quota;
/// use provisio::layer::Pace;
/// use std::time::Duration;
/// let pace = Pace::new(Quota::new(2, Duration::from_secs(1)));
/// assert_eq!(pace.quota().requests, 2);
/// ```
#[derive(Debug, Clone)]
pub struct Pace {
    quota: Quota,
    bucket: Arc<Mutex<TokenBucket>>,
}

impl Pace {
    /// A full bucket for `quota`, paced at its rate with a burst of one.
    pub fn new(quota: Quota) -> Self {
        Pace {
            quota,
            bucket: Arc::new(Mutex::new(TokenBucket::from_quota(quota, Instant::now()))),
        }
    }

    /// The quota.
    pub fn quota(&self) -> Quota {
        self.quota
    }

    fn reserve(&self) -> Duration {
        self.bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reserve(Instant::now())
    }
}

/// One call's view of a [`Pace`] bucket: the first request of the call uses the token the
/// call already took.
pub(crate) struct CallPacer {
    pace: Pace,
    prepaid: AtomicBool,
}

impl CallPacer {
    /// Waits for the token of one request.
    pub(crate) async fn acquire(&self) {
        if self.prepaid.swap(false, Ordering::SeqCst) {
            return;
        }
        let wait = self.pace.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The service said "slow down": pause the bucket too.
    pub(crate) fn pause(&self, retry_after: Duration) {
        self.pace
            .bucket
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pause(Instant::now(), retry_after);
    }
}

#[crate::async_trait]
impl Layer for Pace {
    fn name(&self) -> &'static str {
        "pace"
    }

    async fn call(&self, _call: &Call<'_>, next: &dyn Next) -> Result<Value> {
        let wait = self.reserve();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let pacer = Arc::new(CallPacer {
            pace: self.clone(),
            prepaid: AtomicBool::new(true),
        });
        crate::requests::paced_by(pacer, next.run()).await
    }
}
