//! The [`Faults`] layer: injected failures and latency around any provider.

use super::{Call, Layer, Next, Value};
use crate::{Error, ErrorKind, Result};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// When a [`FaultRule`] fires, counted per operation (its first call is call 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultTrigger {
    /// The `n`-th call only.
    OnCall(u64),
    /// Each call with this probability (0.0 to 1.0), decided from the layer's seed, the
    /// operation and the call's number, so a run is reproducible.
    Rate(f64),
    /// Every call.
    Always,
}

/// One injected failure or delay.
///
/// `operation` is an exact operation (`storage.put_object`), a capability wildcard
/// (`storage.*`) or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// The operations it applies to.
    pub operation: String,
    /// Which calls.
    pub trigger: FaultTrigger,
    /// The error the call fails with; `None` for a pure delay.
    pub error: Option<ErrorKind>,
    /// Fail *after* the call reached the provider (its effect happened, the answer was lost),
    /// instead of before it.
    pub after_effect: bool,
    /// A delay added before the call.
    pub latency: Duration,
}

impl FaultRule {
    /// The `n`-th call of `operation` fails with `kind` before it reaches the provider.
    pub fn on_call(operation: &str, n: u64, kind: ErrorKind) -> Self {
        FaultRule {
            operation: operation.to_string(),
            trigger: FaultTrigger::OnCall(n),
            error: Some(kind),
            after_effect: false,
            latency: Duration::ZERO,
        }
    }

    /// Calls of `operation` fail with probability `rate`, before they reach the provider.
    pub fn rate(operation: &str, rate: f64, kind: ErrorKind) -> Self {
        FaultRule {
            trigger: FaultTrigger::Rate(rate.clamp(0.0, 1.0)),
            ..Self::on_call(operation, 0, kind)
        }
    }

    /// Every call of `operation` is delayed by `latency`.
    pub fn latency(operation: &str, latency: Duration) -> Self {
        FaultRule {
            operation: operation.to_string(),
            trigger: FaultTrigger::Always,
            error: None,
            after_effect: false,
            latency,
        }
    }

    /// The same failure, but after the provider did the work.
    pub fn after_effect(mut self) -> Self {
        self.after_effect = true;
        self
    }

    fn fires(&self, seed: u64, op: &str, n: u64) -> bool {
        match self.trigger {
            FaultTrigger::OnCall(k) => k == n,
            FaultTrigger::Always => true,
            FaultTrigger::Rate(rate) => unit(seed, op, n) < rate,
        }
    }
}

/// Whether `pattern` (exact, `capability.*` or `*`) covers `op`.
pub fn operation_matches(pattern: &str, op: &str) -> bool {
    pattern == "*"
        || pattern == op
        || pattern
            .strip_suffix(".*")
            .is_some_and(|cap| op.split_once('.').is_some_and(|(c, _)| c == cap))
}

/// A uniform number in [0, 1) from the seed, the operation and the call number (splitmix64
/// over an FNV-1a hash of the operation: stable across runs and platforms).
fn unit(seed: u64, op: &str, n: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in op.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<FaultRule>,
    calls: HashMap<String, u64>,
    injected: u64,
}

/// Injects failures and latency by [`FaultRule`]s, around any provider (a real one included:
/// tests wrap the AWS provider on moto to see that a lost answer is retried without a
/// duplicate). Clones share rules and counters.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    seed: u64,
    state: Arc<Mutex<State>>,
}

impl Faults {
    /// No rules yet; probabilistic rules decide from `seed`.
    pub fn new(seed: u64) -> Self {
        Faults {
            seed,
            state: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule.
    pub fn add(&self, rule: FaultRule) -> &Self {
        self.lock().rules.push(rule);
        self
    }

    /// Removes every rule (counters stay).
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// How many calls of `operation` went through the layer (injected failures included).
    pub fn calls(&self, operation: &str) -> u64 {
        self.lock().calls.get(operation).copied().unwrap_or(0)
    }

    /// How many failures were injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// This call's number and what the rules do to it: the delay, and the failure (with
    /// whether it comes after the effect).
    fn decide(&self, op: &str) -> (Duration, Option<(ErrorKind, bool)>) {
        let mut s = self.lock();
        let n = {
            let c = s.calls.entry(op.to_string()).or_insert(0);
            *c += 1;
            *c
        };
        let mut delay = Duration::ZERO;
        let mut failure = None;
        for r in &s.rules {
            if operation_matches(&r.operation, op) && r.fires(self.seed, op, n) {
                delay += r.latency;
                if failure.is_none() {
                    failure = r.error.clone().map(|k| (k, r.after_effect));
                }
            }
        }
        if failure.is_some() {
            s.injected += 1;
        }
        (delay, failure)
    }
}

fn injected(call: &Call<'_>, kind: ErrorKind, after: bool) -> Error {
    let mut e = Error::new(
        kind,
        if after {
            format!("injected failure after {} took effect", call.operation)
        } else {
            format!("injected failure of {}", call.operation)
        },
    )
    .in_context(&call.provider.name, call.operation);
    if let Some(r) = call.resource {
        e = e.with_resource(r);
    }
    e
}

#[crate::async_trait]
impl Layer for Faults {
    fn name(&self) -> &'static str {
        "faults"
    }

    async fn call(&self, call: &Call<'_>, next: &dyn Next) -> Result<Value> {
        let (delay, failure) = self.decide(call.operation);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match failure {
            None => next.run().await,
            Some((kind, false)) => Err(injected(call, kind, false)),
            Some((kind, true)) => {
                // the effect happens; its answer is lost
                next.run().await?;
                Err(injected(call, kind, true))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(operation_matches("*", "dns.find_zone"));
        assert!(operation_matches("dns.*", "dns.find_zone"));
        assert!(operation_matches("dns.find_zone", "dns.find_zone"));
        assert!(!operation_matches("storage.*", "dns.find_zone"));
        assert!(!operation_matches("dns.find", "dns.find_zone"));
    }

    #[test]
    fn rates_are_reproducible_and_roughly_right() {
        let hits = |seed| {
            (1..=2000)
                .filter(|n| unit(seed, "dns.x", *n) < 0.25)
                .count()
        };
        assert_eq!(hits(3), hits(3));
        let h = hits(3);
        assert!((400..600).contains(&h), "{h}");
    }

    #[test]
    fn nth_call_and_counters() {
        let f = Faults::new(1);
        f.add(FaultRule::on_call("dns.*", 2, ErrorKind::Transient));
        assert!(f.decide("dns.find_zone").1.is_none());
        assert_eq!(
            f.decide("dns.find_zone").1,
            Some((ErrorKind::Transient, false))
        );
        assert!(f.decide("dns.find_zone").1.is_none());
        assert_eq!(f.calls("dns.find_zone"), 3);
        assert_eq!(f.injected(), 1);
    }
}
