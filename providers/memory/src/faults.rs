//! Fault injection shared by every memory provider: injected errors, latency, rate-limit quotas,
//! call counters and a call log.
//!
//! Every decision is a pure function of the seed, the operation name and that operation's call
//! index (1 for its first call, 2 for the second, ...), so a run is reproducible even when tasks
//! interleave differently: the *n*-th call of `dns.ensure_record` always gets the same fate.
//!
//! ```
//! # tokio_test_block_on(async {
//! use provisio::{DnsProvider, ErrorKind};
//! use provisio_memory::{Faults, MemoryDns};
//!
//! let faults = Faults::new(7);
//! faults.error_on_call("dns.find_zone", 1, ErrorKind::Transient);
//! let dns = MemoryDns::with_faults(faults.clone());
//! dns.add_zone("example.com");
//! let err = dns.find_zone("example.com").await.unwrap_err();
//! assert!(err.retryable());
//! assert!(dns.find_zone("example.com").await.unwrap().is_some());
//! assert_eq!(faults.calls("dns.find_zone"), 2);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
//! # }
//! ```

use crate::persist::{Access, Section, WorldFile};
use provisio::{Error, ErrorKind, Quota, Result};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The provider name every memory provider reports, in [`provisio::ProviderInfo`] and errors.
pub const PROVIDER: &str = "memory";

/// How a recorded call ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CallOutcome {
    /// The call succeeded; `changed` says whether it changed any state.
    Ok {
        /// Whether the call created, updated or deleted something.
        changed: bool,
    },
    /// The call failed with an error of the provider's own semantics (not injected).
    Failed {
        /// The error kind.
        kind: ErrorKind,
    },
    /// An injected error (or the rate-limit quota) failed the call before it had any effect.
    Injected {
        /// The injected kind.
        kind: ErrorKind,
    },
    /// The call's change was applied, then an injected error replaced its response
    /// (a lost response).
    InjectedAfterEffect {
        /// The injected kind.
        kind: ErrorKind,
        /// Whether the call had changed state before its response was lost.
        changed: bool,
    },
}

impl CallOutcome {
    /// Whether the caller got an error.
    pub fn is_err(&self) -> bool {
        !matches!(self, CallOutcome::Ok { .. })
    }
    /// Whether the error (if any) was injected.
    pub fn is_injected(&self) -> bool {
        matches!(
            self,
            CallOutcome::Injected { .. } | CallOutcome::InjectedAfterEffect { .. }
        )
    }
    /// The error kind the caller got, if any.
    pub fn error_kind(&self) -> Option<&ErrorKind> {
        match self {
            CallOutcome::Ok { .. } => None,
            CallOutcome::Failed { kind }
            | CallOutcome::Injected { kind }
            | CallOutcome::InjectedAfterEffect { kind, .. } => Some(kind),
        }
    }
}

/// One entry of the call log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    /// The operation, e.g. `dns.ensure_record`.
    pub operation: String,
    /// The call's index among the calls of this operation, from 1.
    pub call: u64,
    /// The provider account the call was made on.
    pub account: String,
    /// The resource the call was about (a name or id, never a secret value).
    pub resource: String,
    /// How it ended.
    pub outcome: CallOutcome,
}

#[derive(Debug, Clone)]
enum Trigger {
    Rate(f64),
    Nth(u64),
}

#[derive(Debug, Clone)]
struct ErrorRule {
    pattern: String,
    trigger: Trigger,
    kind: ErrorKind,
    after_effect: bool,
}

#[derive(Debug, Clone)]
struct LatencyRule {
    pattern: String,
    min: Duration,
    max: Duration,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    used: u32,
}

#[derive(Debug, Default)]
struct State {
    errors: Vec<ErrorRule>,
    latency: Vec<LatencyRule>,
    quotas: HashMap<String, Quota>,
    /// Accounts whose quota is enforced but not declared in the providers' info.
    undeclared: std::collections::HashSet<String>,
    windows: HashMap<String, Window>,
    calls: BTreeMap<String, u64>,
    mutations: BTreeMap<String, u64>,
    log: Vec<CallRecord>,
}

/// Fault injection settings and call accounting, shared by every provider built with it.
///
/// Cheap to clone: clones share the same rules, counters and log. Operation patterns are an
/// exact operation name (`storage.put_object`), a capability wildcard (`storage.*`) or `*` for
/// every operation.
#[derive(Clone)]
pub struct Faults {
    seed: u64,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("Faults")
            .field("seed", &self.seed)
            .field("error_rules", &s.errors.len())
            .field("latency_rules", &s.latency.len())
            .field("quotas", &s.quotas)
            .field("calls", &s.calls)
            .finish()
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new(0)
    }
}

fn matches(pattern: &str, op: &str) -> bool {
    pattern == "*"
        || pattern == op
        || pattern
            .strip_suffix(".*")
            .is_some_and(|cap| op.split_once('.').is_some_and(|(c, _)| c == cap))
}

/// A deterministic 64-bit hash of the parts (SHA-256 based, stable across runs and platforms).
pub(crate) fn hash64(parts: &[&[u8]]) -> u64 {
    let digest = hash_bytes(parts);
    u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// SHA-256 over length-prefixed parts.
pub(crate) fn hash_bytes(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A deterministic lower-case hex id of `len` characters (at most 64) derived from the parts.
pub(crate) fn hex_id(parts: &[&[u8]], len: usize) -> String {
    hex::encode(hash_bytes(parts))[..len].to_string()
}

impl Faults {
    /// No faults, no latency, no quotas; decisions seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Faults {
            seed,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    /// The seed every decision derives from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn uniform(&self, op: &str, call: u64, salt: &str) -> f64 {
        let h = hash64(&[
            &self.seed.to_be_bytes(),
            op.as_bytes(),
            &call.to_be_bytes(),
            salt.as_bytes(),
        ]);
        (h >> 11) as f64 / (1u64 << 53) as f64
    }

    fn add_error(&self, pattern: &str, trigger: Trigger, kind: ErrorKind, after_effect: bool) {
        self.lock().errors.push(ErrorRule {
            pattern: pattern.to_string(),
            trigger,
            kind,
            after_effect,
        });
    }

    /// Fails each call of the matching operations with probability `rate` (0.0..=1.0), before
    /// the call has any effect.
    pub fn error_rate(&self, operation: &str, rate: f64, kind: ErrorKind) {
        self.add_error(operation, Trigger::Rate(rate), kind, false);
    }

    /// Fails the `n`-th call (from 1) of each matching operation, before it has any effect.
    pub fn error_on_call(&self, operation: &str, n: u64, kind: ErrorKind) {
        self.add_error(operation, Trigger::Nth(n), kind, false);
    }

    /// Lets the `n`-th call (from 1) of each matching operation take effect, then returns `kind`
    /// instead of its result: a lost response, as when a connection drops after the server
    /// committed the change.
    pub fn error_after_effect(&self, operation: &str, n: u64, kind: ErrorKind) {
        self.add_error(operation, Trigger::Nth(n), kind, true);
    }

    /// Like [`Faults::error_after_effect`], for each call with probability `rate`.
    pub fn error_rate_after_effect(&self, operation: &str, rate: f64, kind: ErrorKind) {
        self.add_error(operation, Trigger::Rate(rate), kind, true);
    }

    /// Delays every matching call by `delay` (with `tokio::time::sleep`, so paused test time
    /// applies).
    pub fn latency(&self, operation: &str, delay: Duration) {
        self.latency_between(operation, delay, delay);
    }

    /// Delays every matching call by a seeded uniform duration in `min..=max`.
    pub fn latency_between(&self, operation: &str, min: Duration, max: Duration) {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        self.lock().latency.push(LatencyRule {
            pattern: operation.to_string(),
            min,
            max,
        });
    }

    /// Subjects every call on provider account `account` to `quota`: at most `quota.requests`
    /// calls per fixed window of `quota.per` (the window starts at the first call). Calls over
    /// the quota fail with `RateLimited { retry_after }`, the time left in the window, and do
    /// not count against it. Providers on that account report the quota in their info.
    ///
    /// Because the quota is declared, every memory call on that account is paced by the
    /// client ([`provisio::requests::before_request`]) and stays inside it: in one process,
    /// such calls are slowed down, not refused. Use [`Faults::undeclared_rate_limit`] to make
    /// calls fail with `RateLimited`.
    pub fn rate_limit(&self, account: &str, quota: Quota) {
        let mut s = self.lock();
        s.quotas.insert(account.to_string(), quota);
        s.undeclared.remove(account);
        s.windows.remove(account);
    }

    /// Like [`Faults::rate_limit`], but the providers do not declare the quota (an account
    /// whose provider does not document its limit): the client cannot pace for it, so calls
    /// over it fail with `RateLimited { retry_after }`.
    pub fn undeclared_rate_limit(&self, account: &str, quota: Quota) {
        let mut s = self.lock();
        s.quotas.insert(account.to_string(), quota);
        s.undeclared.insert(account.to_string());
        s.windows.remove(account);
    }

    /// The quota the providers on `account` declare: set with [`Faults::rate_limit`].
    pub fn quota(&self, account: &str) -> Option<Quota> {
        let s = self.lock();
        if s.undeclared.contains(account) {
            return None;
        }
        s.quotas.get(account).copied()
    }

    /// Removes every error, latency and quota rule; counters and the log are kept.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.errors.clear();
        s.latency.clear();
        s.quotas.clear();
        s.undeclared.clear();
        s.windows.clear();
    }

    /// Resets the call counters (and so the call indices rules match on), the mutation counters
    /// and the log; rules are kept.
    pub fn reset_counters(&self) {
        let mut s = self.lock();
        s.calls.clear();
        s.mutations.clear();
        s.log.clear();
    }

    /// How many calls matched `operation` (a name, `cap.*` or `*`), whatever their outcome.
    pub fn calls(&self, operation: &str) -> u64 {
        let s = self.lock();
        s.calls
            .iter()
            .filter(|(op, _)| matches(operation, op))
            .map(|(_, n)| n)
            .sum()
    }

    /// How many calls matching `operation` changed state (created, updated or deleted
    /// something), including calls whose response was then lost to an after-effect error.
    /// Calls that found nothing to do (`Unchanged`, `AlreadyGone`) are not counted.
    pub fn mutations(&self, operation: &str) -> u64 {
        let s = self.lock();
        s.mutations
            .iter()
            .filter(|(op, _)| matches(operation, op))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every call so far, in completion order.
    pub fn call_log(&self) -> Vec<CallRecord> {
        self.lock().log.clone()
    }

    /// The calls that got an injected error (including rate limiting), sorted by operation and
    /// call index: the same for the same seed and the same number of calls, however the tasks
    /// interleaved.
    pub fn injected(&self) -> Vec<CallRecord> {
        let mut v: Vec<CallRecord> = self
            .lock()
            .log
            .iter()
            .filter(|r| r.outcome.is_injected())
            .cloned()
            .collect();
        v.sort_by(|a, b| (&a.operation, a.call).cmp(&(&b.operation, b.call)));
        v
    }

    /// Starts a call: counts it, applies the quota, latency and pre-effect errors. Returns the
    /// ticket to pass to [`Faults::finish`].
    pub(crate) async fn begin(
        &self,
        account: &str,
        op: &'static str,
        resource: &str,
    ) -> Result<Call> {
        let (call, delay, quota_err) = {
            let mut s = self.lock();
            let n = s.calls.entry(op.to_string()).or_insert(0);
            *n += 1;
            let call = *n;
            let mut quota_err = None;
            if let Some(q) = s.quotas.get(account).copied() {
                let now = Instant::now();
                let w = s.windows.entry(account.to_string()).or_insert(Window {
                    start: now,
                    used: 0,
                });
                if now >= w.start + q.per {
                    w.start = now;
                    w.used = 0;
                }
                if w.used >= q.requests {
                    quota_err = Some(ErrorKind::RateLimited {
                        retry_after: Some(w.start + q.per - now),
                    });
                } else {
                    w.used += 1;
                }
            }
            let delay = s
                .latency
                .iter()
                .filter(|r| matches(&r.pattern, op))
                .map(|r| {
                    let span = (r.max - r.min).as_nanos() as f64;
                    let u = self.uniform(op, call, &format!("latency:{}", r.pattern));
                    r.min + Duration::from_nanos((span * u) as u64)
                })
                .max();
            (call, delay, quota_err)
        };
        let ticket = Call {
            op,
            call,
            account: account.to_string(),
            resource: resource.to_string(),
            after_effect: None,
        };
        if let Some(kind) = quota_err {
            let err = Error::new(
                kind.clone(),
                format!("request quota of account {account:?} exhausted"),
            );
            return Err(self.fail(&ticket, err, CallOutcome::Injected { kind }));
        }
        if let Some(d) = delay
            && !d.is_zero()
        {
            tokio::time::sleep(d).await;
        }
        let rules: Vec<ErrorRule> = self
            .lock()
            .errors
            .iter()
            .filter(|r| matches(&r.pattern, op))
            .cloned()
            .collect();
        let mut ticket = ticket;
        for (i, rule) in rules.iter().enumerate() {
            let fires = match rule.trigger {
                Trigger::Nth(n) => n == call,
                Trigger::Rate(rate) => {
                    self.uniform(op, call, &format!("error:{i}:{}", rule.pattern)) < rate
                }
            };
            if !fires {
                continue;
            }
            if rule.after_effect {
                ticket.after_effect.get_or_insert(rule.kind.clone());
            } else {
                let kind = rule.kind.clone();
                let err = Error::new(
                    kind.clone(),
                    format!("injected {kind} fault on call {call} of {op}"),
                );
                return Err(self.fail(&ticket, err, CallOutcome::Injected { kind }));
            }
        }
        Ok(ticket)
    }

    fn fail(&self, call: &Call, err: Error, outcome: CallOutcome) -> Error {
        self.record(call, outcome);
        contextualize(err, call.op, &call.resource)
    }

    fn record(&self, call: &Call, outcome: CallOutcome) {
        let mut s = self.lock();
        let changed = matches!(
            outcome,
            CallOutcome::Ok { changed: true }
                | CallOutcome::InjectedAfterEffect { changed: true, .. }
        );
        if changed {
            *s.mutations.entry(call.op.to_string()).or_insert(0) += 1;
        }
        s.log.push(CallRecord {
            operation: call.op.to_string(),
            call: call.call,
            account: call.account.clone(),
            resource: call.resource.clone(),
            outcome,
        });
    }

    /// Ends a call: records it and applies an after-effect error.
    pub(crate) fn finish<T: Change>(&self, call: Call, result: Result<T>) -> Result<T::Out> {
        match result {
            Err(err) => {
                let kind = err.kind().clone();
                Err(self.fail(&call, err, CallOutcome::Failed { kind }))
            }
            Ok(value) => {
                let changed = value.changed();
                if let Some(kind) = call.after_effect.clone() {
                    let err = Error::new(
                        kind.clone(),
                        format!(
                            "injected {kind} fault after the effect of call {} of {} (the change was applied)",
                            call.call, call.op
                        ),
                    );
                    return Err(self.fail(
                        &call,
                        err,
                        CallOutcome::InjectedAfterEffect { kind, changed },
                    ));
                }
                self.record(&call, CallOutcome::Ok { changed });
                Ok(value.into_out())
            }
        }
    }
}

/// Adds the memory provider, the operation and the resource to an error where missing.
pub(crate) fn contextualize(err: Error, op: &str, resource: &str) -> Error {
    let err = err.in_context(PROVIDER, op);
    if err.resource().is_none() && !resource.is_empty() {
        err.with_resource(resource)
    } else {
        err
    }
}

/// A call in progress, between [`Faults::begin`] and [`Faults::finish`].
#[derive(Debug)]
pub(crate) struct Call {
    op: &'static str,
    call: u64,
    account: String,
    resource: String,
    after_effect: Option<ErrorKind>,
}

/// Whether a successful result changed state (for the mutation counters and the persisted
/// world's writes).
pub(crate) trait Change {
    /// What the caller gets.
    type Out;
    /// Whether an operation of this result type can change state at all (a failed one is
    /// then assumed to have changed some).
    const MAY_CHANGE: bool = true;
    fn changed(&self) -> bool;
    fn into_out(self) -> Self::Out;
}

impl<T> Change for provisio::Ensured<T> {
    type Out = Self;
    fn changed(&self) -> bool {
        self.outcome.changed()
    }
    fn into_out(self) -> Self {
        self
    }
}
impl Change for provisio::Deleted {
    type Out = Self;
    fn changed(&self) -> bool {
        *self == provisio::Deleted::Deleted
    }
    fn into_out(self) -> Self {
        self
    }
}
/// Marks a result as a state change (puts, triggered builds, recoveries).
pub(crate) struct Changed<T>(pub T);
impl<T> Change for Changed<T> {
    type Out = T;
    fn changed(&self) -> bool {
        true
    }
    fn into_out(self) -> T {
        self.0
    }
}
/// A request that changes state only sometimes (a stop of an instance that is already
/// stopped changes nothing): the value, and whether it changed anything.
pub(crate) struct MaybeChanged<T> {
    pub value: T,
    pub changed: bool,
}
impl<T> Change for MaybeChanged<T> {
    type Out = T;
    fn changed(&self) -> bool {
        self.changed
    }
    fn into_out(self) -> T {
        self.value
    }
}
/// A conditional write: `Some` when it wrote, `None` when it found the place taken.
pub(crate) struct Wrote<T>(pub Option<T>);
impl<T> Change for Wrote<T> {
    type Out = Option<T>;
    fn changed(&self) -> bool {
        self.0.is_some()
    }
    fn into_out(self) -> Option<T> {
        self.0
    }
}
/// An edit of a downstream list: `None` when the job does not exist.
pub(crate) struct Relinked(pub Option<provisio::ci::Linked>);
impl Change for Relinked {
    type Out = Option<provisio::ci::Linked>;
    fn changed(&self) -> bool {
        self.0.is_some_and(|l| l.changed)
    }
    fn into_out(self) -> Option<provisio::ci::Linked> {
        self.0
    }
}
/// Marks a result as a read.
pub(crate) struct Read<T>(pub T);
impl<T> Change for Read<T> {
    type Out = T;
    const MAY_CHANGE: bool = false;
    fn changed(&self) -> bool {
        false
    }
    fn into_out(self) -> T {
        self.0
    }
}
/// What every memory provider holds besides its state: the shared faults, its account, its
/// section of the world file and, once the world is persisted, the world file's handle.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) faults: Faults,
    pub(crate) account: String,
    section: Section,
    world: OnceLock<Arc<WorldFile>>,
}

impl Base {
    pub(crate) fn new(faults: Faults, account: &str, section: Section) -> Self {
        Base {
            faults,
            account: account.to_string(),
            section,
            world: OnceLock::new(),
        }
    }

    pub(crate) fn info(&self) -> provisio::ProviderInfo {
        let info = provisio::ProviderInfo::new(PROVIDER, self.account.clone());
        match self.faults.quota(&self.account) {
            Some(q) => info.with_quota(q),
            None => info,
        }
    }

    /// Makes every later call of this provider part of the persisted `world`.
    pub(crate) fn attach(&self, world: Arc<WorldFile>) {
        let _ = self.world.set(world);
    }

    /// The persisted world this provider belongs to, if any.
    pub(crate) fn world(&self) -> Option<&Arc<WorldFile>> {
        self.world.get()
    }

    /// What every call does first: waits for the account's rate limit and counts the request
    /// in the current step ([`provisio::requests::before_request`]), then starts the call in
    /// the fault injector; an injected "too many requests" pauses the account's bucket for
    /// every caller in the process.
    async fn begin(&self, op: &'static str, resource: &str) -> Result<Call> {
        let info = self.info();
        provisio::requests::before_request(&info).await;
        let call = self.faults.begin(&self.account, op, resource).await;
        if let Err(e) = &call
            && let Some(after) = e.retry_after()
        {
            provisio::requests::rate_limited(&info, after);
        }
        call
    }

    /// Runs one operation through pacing and fault injection: `body` runs only when no
    /// pre-effect fault fires, and its result is recorded. On a persisted world `body` runs
    /// in a session (see [`crate::persist`]): the copy is up to date when it starts, and the
    /// call returns once its change is on disk.
    pub(crate) async fn run<C, F>(
        &self,
        op: &'static str,
        resource: &str,
        body: F,
    ) -> Result<C::Out>
    where
        C: Change,
        F: std::future::Future<Output = Result<C>>,
    {
        let call = self.begin(op, resource).await?;
        let result = match self.world.get() {
            None => body.await,
            Some(world) => {
                let changed = |r: &Result<C>| match r {
                    Ok(v) => v.changed(),
                    Err(_) => C::MAY_CHANGE,
                };
                let access = if C::MAY_CHANGE {
                    Access::Write
                } else {
                    Access::Read
                };
                world.run(self.section, access, body, changed).await
            }
        };
        self.faults.finish(call, result)
    }

    /// [`Base::run`] for an "ensure" of one resource: reports to the engine whether the
    /// resource was there ([`provisio::existence::found`]: not `Created`) the moment the
    /// change is made, before an injected "answer lost after the effect" can hide it, which
    /// is how the engine tells what a run created from what existed before it.
    pub(crate) async fn run_ensure<T, F>(
        &self,
        op: &'static str,
        resource: &str,
        body: F,
    ) -> Result<provisio::Ensured<T>>
    where
        F: std::future::Future<Output = Result<provisio::Ensured<T>>>,
        provisio::Ensured<T>: Change<Out = provisio::Ensured<T>>,
    {
        self.run(op, resource, async {
            let r = body.await;
            if let Ok(e) = &r {
                provisio::existence::found(e.outcome != provisio::Outcome::Created);
            }
            r
        })
        .await
    }

    /// Like [`Base::run`] for a read that polls (and sleeps between polls): on a persisted
    /// world the copy is brought up to date once, then `body` polls it outside any session, so
    /// the lock is never held while it sleeps.
    pub(crate) async fn run_polling<T, F>(
        &self,
        op: &'static str,
        resource: &str,
        body: F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<Read<T>>>,
    {
        let call = self.begin(op, resource).await?;
        let result = match self.world.get() {
            None => body.await,
            Some(world) => match world.refresh().await {
                Ok(()) => body.await,
                Err(e) => Err(e),
            },
        };
        self.faults.finish(call, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("*", "dns.ensure_record"));
        assert!(matches("dns.*", "dns.ensure_record"));
        assert!(!matches("dns.*", "storage.put_object"));
        assert!(matches("dns.ensure_record", "dns.ensure_record"));
        assert!(!matches("dns.ensure", "dns.ensure_record"));
    }

    #[test]
    fn uniform_is_deterministic_and_spread() {
        let f = Faults::new(1);
        let a: Vec<f64> = (1..100).map(|i| f.uniform("op", i, "s")).collect();
        let b: Vec<f64> = (1..100).map(|i| f.uniform("op", i, "s")).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((0.3..0.7).contains(&mean));
        assert_ne!(Faults::new(2).uniform("op", 1, "s"), a[0]);
    }
}
