//! The in-memory state store: tests, benchmarks and short-lived embedded runs.
//!
//! Tenants are spread over a fixed number of shards, each a `std::sync::Mutex<HashMap>`
//! from tenant name to that tenant's state. A call locks one shard for a few map operations
//! and never across an `.await` (the methods do not await at all), so tasks working on
//! different tenants rarely meet and the async runtime is never blocked for long.

use super::lease::LeaseSlot;
use super::{FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, now_ms};
use provisio::Result;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many shards the tenants are spread over: well above the number of cores, so two
/// busy tenants rarely share a lock.
const SHARDS: usize = 64;

/// Everything the store knows about one tenant.
#[derive(Debug, Default)]
struct TenantState {
    resources: BTreeMap<String, ResourceRecord>,
    /// Appended in increasing `seq` order (the sequence number is drawn under the shard lock).
    journal: Vec<JournalEntry>,
    lease: LeaseSlot,
}

impl TenantState {
    fn has_state(&self) -> bool {
        !self.resources.is_empty() || !self.journal.is_empty()
    }
}

type Shard = Mutex<HashMap<String, TenantState>>;

/// An in-memory [`StateStore`], sharded by tenant. Nothing survives the process.
///
/// Sequence numbers come from one atomic counter, so they are unique across the store and
/// increase in append order within a tenant. It follows every rule of the
/// [module documentation](super).
///
/// ```
/// use provisio_engine::state::{StateStore, memory::MemoryStateStore};
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryStateStore::new();
/// assert!(store.list_tenants().await.unwrap().is_empty());
/// # });
/// ```
pub struct MemoryStateStore {
    shards: Box<[Shard]>,
    hasher: RandomState,
    next_seq: AtomicU64,
    fleet: Mutex<HashMap<String, FleetCursor>>,
}

impl Default for MemoryStateStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStateStore")
            .field("shards", &self.shards.len())
            .field("last_seq", &self.next_seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No method panics half-way through an update, so a poisoned lock still guards
    // consistent data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStateStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            next_seq: AtomicU64::new(0),
            fleet: Mutex::new(HashMap::new()),
        }
    }

    fn shard(&self, tenant: &str) -> &Shard {
        let h = self.hasher.hash_one(tenant) as usize;
        &self.shards[h % self.shards.len()]
    }

    /// Runs `f` on the tenant's state, if the store has any.
    fn read<R>(&self, tenant: &str, f: impl FnOnce(Option<&TenantState>) -> R) -> R {
        let shard = lock(self.shard(tenant));
        f(shard.get(tenant))
    }

    /// Runs `f` on the tenant's state, creating it when missing.
    fn write<R>(&self, tenant: &str, f: impl FnOnce(&mut TenantState) -> R) -> R {
        let mut shard = lock(self.shard(tenant));
        // Look up by `&str` first: the common case allocates no key.
        if let Some(state) = shard.get_mut(tenant) {
            return f(state);
        }
        f(shard.entry(tenant.to_string()).or_default())
    }

    /// Runs `f` on the tenant's state only when it exists.
    fn write_existing<R>(&self, tenant: &str, f: impl FnOnce(&mut TenantState) -> R) -> Option<R> {
        let mut shard = lock(self.shard(tenant));
        shard.get_mut(tenant).map(f)
    }
}

#[provisio::async_trait]
impl StateStore for MemoryStateStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        Ok(self.read(tenant, |t| t.and_then(|t| t.resources.get(name).cloned())))
    }

    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        Ok(self.read(tenant, |t| {
            t.map(|t| t.resources.values().cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        self.write(&record.tenant, |t| {
            match t.resources.get_mut(&record.name) {
                Some(slot) => *slot = record.clone(),
                None => {
                    t.resources.insert(record.name.clone(), record.clone());
                }
            }
        });
        Ok(())
    }

    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        self.write_existing(tenant, |t| t.resources.remove(name));
        Ok(())
    }

    async fn list_tenants(&self) -> Result<Vec<String>> {
        let mut tenants: Vec<String> = self
            .shards
            .iter()
            .flat_map(|shard| {
                lock(shard)
                    .iter()
                    .filter(|(_, t)| t.has_state())
                    .map(|(name, _)| name.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        tenants.sort_unstable();
        Ok(tenants)
    }

    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64> {
        Ok(self.write(&entry.tenant, |t| {
            // Drawn under the shard lock so a tenant's journal stays sorted by seq.
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let mut entry = entry.clone();
            entry.seq = seq;
            t.journal.push(entry);
            seq
        }))
    }

    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        Ok(self.read(tenant, |t| match t {
            Some(t) => {
                let start = t.journal.partition_point(|e| e.seq <= after);
                t.journal[start..].to_vec()
            }
            None => Vec::new(),
        }))
    }

    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        Ok(self.read(tenant, |t| {
            let Some(t) = t else { return Vec::new() };
            // Walk backwards: a token is settled for every intent before its result.
            let mut settled: HashSet<&str> = HashSet::new();
            let mut pending = Vec::new();
            for e in t.journal.iter().rev() {
                match e.phase {
                    JournalPhase::Succeeded | JournalPhase::Failed => {
                        settled.insert(e.token.as_str());
                    }
                    JournalPhase::Intent if !settled.contains(e.token.as_str()) => {
                        pending.push(e.clone());
                    }
                    JournalPhase::Intent => {}
                }
            }
            pending.reverse();
            pending
        }))
    }

    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        self.write(tenant, |t| t.lease.acquire(tenant, owner, ttl, now_ms()))
    }

    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        self.write_existing(&lease.tenant, |t| t.lease.renew(lease, ttl, now_ms()))
            .unwrap_or_else(|| Err(super::lease_lost(lease, None)))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        self.write_existing(&lease.tenant, |t| t.lease.release(lease));
        Ok(())
    }

    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self.read(tenant, |t| t.and_then(|t| t.lease.current(tenant))))
    }

    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self
            .write_existing(tenant, |t| t.lease.break_lease(tenant))
            .flatten())
    }

    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        lock(&self.fleet).insert(cursor.fleet_id.clone(), cursor.clone());
        Ok(())
    }

    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        Ok(lock(&self.fleet).get(fleet_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn conformance_memory() {
        let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
        crate::state::conformance::run_all(store).await;
    }
}
