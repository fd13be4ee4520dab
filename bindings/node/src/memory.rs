//! `MemoryCloud` and `Faults`: the memory providers' world, for tests.
//!
//! `providers.memory` is the world behind every `memory` entry of a provider configuration:
//! its inventory to assert on, fault injection, and the fixtures that prepare it.

use crate::errors::{OrThrow, parse_kind};
use crate::{from_js, millis, to_js};
use napi_derive::napi;
use provisio::Quota;
use provisio_memory::MemoryFixtures;
use serde_json::Value;

/// The memory providers' world.
#[napi]
pub struct MemoryCloud {
    pub(crate) cloud: provisio_memory::MemoryCloud,
}

#[napi]
impl MemoryCloud {
    /// Every live resource: `{ kind: { id: detail } }` (secrets show a fingerprint, never a
    /// value).
    #[napi]
    pub fn inventory(&self) -> napi::Result<Value> {
        to_js(&self.cloud.inventory().kinds)
    }
    /// What deletes left behind (soft-deleted secrets, terminated instances, final snapshots).
    #[napi]
    pub fn retired(&self) -> napi::Result<Value> {
        to_js(&self.cloud.retired().kinds)
    }
    /// Fault injection shared by every memory provider of this world.
    #[napi(getter)]
    pub fn faults(&self) -> Faults {
        Faults {
            faults: self.cloud.faults.clone(),
        }
    }
    /// Creates a DNS zone (zones exist before provisioning): `{ id, name }`.
    #[napi]
    pub fn add_zone(&self, name: String) -> napi::Result<Value> {
        to_js(&self.cloud.dns.add_zone(&name))
    }
    /// Simulates a bucket name taken by another account.
    #[napi]
    pub fn add_foreign_bucket(&self, name: String) {
        self.cloud.storage.add_foreign_bucket(&name);
    }
    /// Marks a mail identity verified; `false` when unknown.
    #[napi]
    pub fn verify_mail_identity(&self, name: String) -> bool {
        self.cloud.mail.verify(&name)
    }
    /// Ensures what fixtures describe (the same document as `memory-fixtures.yaml`, as an
    /// object); applying twice changes nothing.
    #[napi]
    pub async fn apply_fixtures(&self, fixtures: Value) -> napi::Result<()> {
        let fixtures: MemoryFixtures = from_js("fixtures", fixtures)?;
        self.cloud.apply_fixtures(&fixtures).await.or_throw()
    }
    /// Saves the world to a JSON file (mode 0600; it holds the memory secret store's values).
    #[napi]
    pub fn save(&self, path: String) -> napi::Result<()> {
        self.cloud.save(&path).or_throw()
    }
}

/// Fault injection and call accounting (deterministic under the world's seed). Operation
/// patterns: `"dns.ensure_record"`, `"dns.*"` or `"*"`; kinds: `"transient"`, `"not_found"`, ...
#[napi]
pub struct Faults {
    pub(crate) faults: provisio_memory::Faults,
}

#[napi]
impl Faults {
    /// The seed every decision derives from.
    #[napi(getter)]
    pub fn seed(&self) -> f64 {
        self.faults.seed() as f64
    }
    /// Fails each matching call with probability `rate`, before it has any effect.
    #[napi]
    pub fn error_rate(&self, operation: String, rate: f64, kind: String) -> napi::Result<()> {
        let kind = parse_kind("kind", &kind)?;
        self.faults.error_rate(&operation, rate, kind);
        Ok(())
    }
    /// Fails the `n`-th call (from 1) of each matching operation, before it has any effect.
    #[napi]
    pub fn error_on_call(&self, operation: String, n: u32, kind: String) -> napi::Result<()> {
        let kind = parse_kind("kind", &kind)?;
        self.faults.error_on_call(&operation, n.into(), kind);
        Ok(())
    }
    /// Lets the `n`-th call take effect, then fails it (a lost response).
    #[napi]
    pub fn error_after_effect(&self, operation: String, n: u32, kind: String) -> napi::Result<()> {
        let kind = parse_kind("kind", &kind)?;
        self.faults.error_after_effect(&operation, n.into(), kind);
        Ok(())
    }
    /// Like `errorAfterEffect`, for each call with probability `rate`.
    #[napi]
    pub fn error_rate_after_effect(
        &self,
        operation: String,
        rate: f64,
        kind: String,
    ) -> napi::Result<()> {
        let kind = parse_kind("kind", &kind)?;
        self.faults.error_rate_after_effect(&operation, rate, kind);
        Ok(())
    }
    /// Delays every matching call by `ms` milliseconds.
    #[napi]
    pub fn latency(&self, operation: String, ms: f64) {
        self.faults.latency(&operation, millis(ms));
    }
    /// Delays every matching call by a seeded duration between `min_ms` and `max_ms`.
    #[napi]
    pub fn latency_between(&self, operation: String, min_ms: f64, max_ms: f64) {
        self.faults
            .latency_between(&operation, millis(min_ms), millis(max_ms));
    }
    /// Allows at most `requests` calls per `per_ms` on provider account `account` (the memory
    /// providers' accounts are `memory-dns`, `memory-storage`, ...); calls over it fail with
    /// `rate_limited`.
    #[napi]
    pub fn rate_limit(&self, account: String, requests: u32, per_ms: f64) {
        // Undeclared: the providers do not announce it, so the client does not pace for it
        // and calls over it fail, as documented above.
        self.faults
            .undeclared_rate_limit(&account, Quota::new(requests, millis(per_ms)));
    }
    /// Removes every error, latency and quota rule (counters and log are kept).
    #[napi]
    pub fn clear(&self) {
        self.faults.clear();
    }
    /// Resets call counters, mutation counters and the log (rules are kept).
    #[napi]
    pub fn reset_counters(&self) {
        self.faults.reset_counters();
    }
    /// How many calls matched `operation`.
    #[napi]
    pub fn calls(&self, operation: String) -> f64 {
        self.faults.calls(&operation) as f64
    }
    /// How many calls matching `operation` changed state.
    #[napi]
    pub fn mutations(&self, operation: String) -> f64 {
        self.faults.mutations(&operation) as f64
    }
    /// Every call so far: `{ operation, call, account, resource, outcome }`.
    #[napi]
    pub fn call_log(&self) -> napi::Result<Value> {
        to_js(&self.faults.call_log())
    }
    /// The calls that got an injected error, sorted by operation and call index.
    #[napi]
    pub fn injected(&self) -> napi::Result<Value> {
        to_js(&self.faults.injected())
    }
}
