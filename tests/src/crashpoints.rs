//! Crash points: a [`Hook`] called at every place a crash matters, a state store wrapper that
//! calls it around journal appends and resource records, and a hook that kills the process
//! with SIGKILL at the n-th point.
//!
//! The labels name the phase of a side effect:
//!
//! | label | a kill here happens |
//! |---|---|
//! | `journal.before.intent` | before the intent is written |
//! | `journal.after.intent`, `provider.*.begin` | after the intent, before the effect |
//! | `provider.*.effect`, `journal.before.succeeded` | after the effect, before the result |
//! | `journal.after.succeeded`, `put.before` | after the result, before the record |
//! | `put.after` | after the record |

// `provisio::Error` is large by design; the StateStore trait returns it.
#![allow(clippy::result_large_err)]

use provisio::Result;
use provisio_engine::StateStore;
use provisio_engine::state::{FleetCursor, JournalEntry, Lease, ResourceRecord, TenantPhase};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Called with a label at every crash point.
pub type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// The marker a child prints to stderr right before it kills itself at a crash point:
/// `CRASH-POINT <n> <label>`.
pub const CRASH_MARKER: &str = "CRASH-POINT";

/// A hook that counts crash points and, at the `n`-th, prints `CRASH-POINT <n> <label>` to
/// stderr and sends SIGKILL to its own process (no destructors, no flushes: a real crash).
/// `n == 0` never kills. Also returns the counter of points passed so far.
pub fn kill_at(n: u64) -> (Hook, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    let hook: Hook = Arc::new(move |label: &str| {
        let i = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n != 0 && i == n {
            eprintln!("{CRASH_MARKER} {i} {label}");
            // SAFETY: kill(2) on our own pid has no memory-safety preconditions.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
            // SIGKILL is not deliverable late, but never return into the engine regardless.
            loop {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    });
    (hook, counter)
}

/// A [`StateStore`] that calls a [`Hook`] before and after every journal append
/// (`journal.before.<phase>`, `journal.after.<phase>`) and resource write (`put.before`,
/// `put.after`), and otherwise delegates.
pub struct CrashingStore {
    inner: Arc<dyn StateStore>,
    hook: Hook,
}

impl CrashingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn StateStore>, hook: Hook) -> Self {
        CrashingStore { inner, hook }
    }
}

fn phase(e: &JournalEntry) -> &'static str {
    match e.phase {
        provisio_engine::state::JournalPhase::Intent => "intent",
        provisio_engine::state::JournalPhase::Succeeded => "succeeded",
        provisio_engine::state::JournalPhase::Failed => "failed",
    }
}

#[provisio::async_trait]
impl StateStore for CrashingStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        self.inner.get_resource(tenant, name).await
    }
    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        self.inner.list_resources(tenant).await
    }
    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        (self.hook)("put.before");
        self.inner.put_resource(record).await?;
        (self.hook)("put.after");
        Ok(())
    }
    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        self.inner.delete_resource(tenant, name).await
    }
    async fn list_tenants(&self) -> Result<Vec<String>> {
        self.inner.list_tenants().await
    }
    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64> {
        (self.hook)(&format!("journal.before.{}", phase(entry)));
        let seq = self.inner.append_journal(entry).await?;
        (self.hook)(&format!("journal.after.{}", phase(entry)));
        Ok(seq)
    }
    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        self.inner.journal(tenant, after).await
    }
    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        self.inner.pending_intents(tenant).await
    }
    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        self.inner.acquire_lease(tenant, owner, ttl).await
    }
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        self.inner.renew_lease(lease, ttl).await
    }
    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.inner.release_lease(lease).await
    }
    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        self.inner.get_lease(tenant).await
    }
    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        self.inner.break_lease(tenant).await
    }
    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        self.inner.put_fleet_cursor(cursor).await
    }
    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        self.inner.get_fleet_cursor(fleet_id).await
    }
    async fn get_phase(&self, tenant: &str) -> Result<Option<TenantPhase>> {
        self.inner.get_phase(tenant).await
    }
    async fn put_phase(&self, record: &TenantPhase) -> Result<()> {
        (self.hook)("phase.before");
        self.inner.put_phase(record).await?;
        (self.hook)("phase.after");
        Ok(())
    }
    async fn delete_phase(&self, tenant: &str) -> Result<()> {
        self.inner.delete_phase(tenant).await
    }
}
