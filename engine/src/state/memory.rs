//! The in-memory state store: tests, benchmarks and short-lived embedded runs.
//!
//! Tenants are spread over a fixed number of shards, each a `std::sync::Mutex<HashMap>`
//! from tenant name to that tenant's state. A call locks one shard for a few map operations
//! and never across an `.await` (the methods do not await at all), so tasks working on
//! different tenants rarely meet and the async runtime is never blocked for long.
//!
//! # Compact storage
//!
//! A fleet run keeps hundreds of thousands of journal entries and records in memory, so they
//! are not kept as the `JournalEntry` / `ResourceRecord` values the engine hands in (a
//! `serde_json::Value` tree and a dozen `String`s each, ~7.8 KB of heap per resource). What
//! is written is stored compactly and turned back into those types on read:
//!
//! - strings that repeat within a tenant (run id, resource type, action, provider) are
//!   interned per tenant as `Arc<str>`; the tenant name is the map key and not repeated;
//! - the rest of an entry (resource, identity, tags, `detail`) and of a record (params,
//!   outputs, `depends_on`) is one `serde_json::to_vec` blob, parsed again on read. Reads
//!   are rare (recovery, generation counting and planning at the start of a run, which for a
//!   fresh tenant find nothing) and the journal's `token` and `phase`, which
//!   [`StateStore::pending_intents`] needs, stay unserialized.
//!
//! Every value reads back equal to what was written (the engine crate enables serde_json's
//! `float_roundtrip`, so even floats round-trip exactly).

use super::lease::LeaseSlot;
use super::{
    FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, TenantPhase, now_ms,
};
use provisio::{Error, Result, Tags};
use serde_json::Value;
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many shards the tenants are spread over: well above the number of cores, so two
/// busy tenants rarely share a lock.
const SHARDS: usize = 64;

/// How many interned strings a tenant keeps (most recently added win): a run uses a handful
/// (its run id, the blueprint's resource types and providers, the journal actions).
const INTERNED: usize = 32;

/// A journal entry as stored: the tenant is the map key, repeated strings are interned and
/// the rest is one JSON blob.
#[derive(Debug)]
struct StoredEntry {
    seq: u64,
    at_ms: i64,
    phase: JournalPhase,
    run_id: Arc<str>,
    resource_type: Arc<str>,
    action: Arc<str>,
    token: Box<str>,
    /// JSON of `(resource, identity, tags, detail)`.
    blob: Box<[u8]>,
}

/// The JSON blob of a [`StoredEntry`], written from borrowed fields.
type EntryBlobRef<'a> = (&'a str, &'a str, &'a Tags, &'a Value);
/// The JSON blob of a [`StoredEntry`], read back.
type EntryBlob = (String, String, Tags, Value);

/// A resource record as stored (the name is the map key).
#[derive(Debug)]
struct StoredRecord {
    resource_type: Arc<str>,
    provider: Arc<str>,
    identity: Box<str>,
    protect: bool,
    updated_at_ms: i64,
    /// JSON of `(params, outputs, depends_on)`.
    blob: Box<[u8]>,
}

/// The JSON blob of a [`StoredRecord`], written from borrowed fields.
type RecordBlobRef<'a> = (&'a Value, &'a Value, &'a [String]);
/// The JSON blob of a [`StoredRecord`], read back.
type RecordBlob = (Value, Value, Vec<String>);

fn to_blob(value: &impl serde::Serialize) -> Result<Box<[u8]>> {
    serde_json::to_vec(value)
        .map(Vec::into_boxed_slice)
        .map_err(|e| Error::unexpected(format!("memory state store: cannot encode: {e}")))
}

fn from_blob<T: serde::de::DeserializeOwned>(blob: &[u8]) -> Result<T> {
    serde_json::from_slice(blob)
        .map_err(|e| Error::unexpected(format!("memory state store: cannot decode: {e}")))
}

/// Everything the store knows about one tenant.
#[derive(Debug, Default)]
struct TenantState {
    resources: BTreeMap<Box<str>, StoredRecord>,
    /// Appended in increasing `seq` order (the sequence number is drawn under the shard lock).
    journal: Vec<StoredEntry>,
    lease: LeaseSlot,
    /// Strings repeated across this tenant's entries and records.
    interned: Vec<Arc<str>>,
}

impl TenantState {
    fn has_state(&self) -> bool {
        !self.resources.is_empty() || !self.journal.is_empty()
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.interned.iter().rev().find(|a| &***a == s) {
            return a.clone();
        }
        let a: Arc<str> = Arc::from(s);
        if self.interned.len() >= INTERNED {
            self.interned.remove(0);
        }
        self.interned.push(a.clone());
        a
    }

    fn entry(&self, tenant: &str, e: &StoredEntry) -> Result<JournalEntry> {
        let (resource, identity, tags, detail): EntryBlob = from_blob(&e.blob)?;
        Ok(JournalEntry {
            seq: e.seq,
            run_id: e.run_id.to_string(),
            tenant: tenant.to_string(),
            resource,
            resource_type: e.resource_type.to_string(),
            action: e.action.to_string(),
            phase: e.phase,
            identity,
            tags,
            token: e.token.to_string(),
            detail,
            at_ms: e.at_ms,
        })
    }

    fn record(tenant: &str, name: &str, r: &StoredRecord) -> Result<ResourceRecord> {
        let (params, outputs, depends_on): RecordBlob = from_blob(&r.blob)?;
        Ok(ResourceRecord {
            tenant: tenant.to_string(),
            name: name.to_string(),
            resource_type: r.resource_type.to_string(),
            provider: r.provider.to_string(),
            identity: r.identity.to_string(),
            params,
            outputs,
            protect: r.protect,
            depends_on,
            updated_at_ms: r.updated_at_ms,
        })
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
    phases: Mutex<HashMap<String, TenantPhase>>,
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
            phases: Mutex::new(HashMap::new()),
        }
    }

    fn shard(&self, tenant: &str) -> &Shard {
        let h = self.hasher.hash_one(tenant) as usize;
        &self.shards[h % self.shards.len()]
    }

    /// Runs `f` on the tenant's state (and its name as stored), if the store has any.
    fn read<R>(&self, tenant: &str, f: impl FnOnce(Option<(&str, &TenantState)>) -> R) -> R {
        let shard = lock(self.shard(tenant));
        f(shard.get_key_value(tenant).map(|(k, v)| (k.as_str(), v)))
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
        self.read(tenant, |t| {
            t.and_then(|(tn, t)| {
                t.resources
                    .get(name)
                    .map(|r| TenantState::record(tn, name, r))
            })
            .transpose()
        })
    }

    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        self.read(tenant, |t| match t {
            Some((tn, t)) => t
                .resources
                .iter()
                .map(|(name, r)| TenantState::record(tn, name, r))
                .collect(),
            None => Ok(Vec::new()),
        })
    }

    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        // encoded before taking the lock
        let blob: RecordBlobRef<'_> = (&record.params, &record.outputs, &record.depends_on);
        let blob = to_blob(&blob)?;
        self.write(&record.tenant, |t| {
            let stored = StoredRecord {
                resource_type: t.intern(&record.resource_type),
                provider: t.intern(&record.provider),
                identity: record.identity.as_str().into(),
                protect: record.protect,
                updated_at_ms: record.updated_at_ms,
                blob,
            };
            match t.resources.get_mut(record.name.as_str()) {
                Some(slot) => *slot = stored,
                None => {
                    t.resources.insert(record.name.as_str().into(), stored);
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
        // encoded before taking the lock
        let blob: EntryBlobRef<'_> = (&entry.resource, &entry.identity, &entry.tags, &entry.detail);
        let blob = to_blob(&blob)?;
        Ok(self.write(&entry.tenant, |t| {
            // Drawn under the shard lock so a tenant's journal stays sorted by seq.
            let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
            let stored = StoredEntry {
                seq,
                at_ms: entry.at_ms,
                phase: entry.phase,
                run_id: t.intern(&entry.run_id),
                resource_type: t.intern(&entry.resource_type),
                action: t.intern(&entry.action),
                token: entry.token.as_str().into(),
                blob,
            };
            t.journal.push(stored);
            seq
        }))
    }

    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        self.read(tenant, |t| match t {
            Some((tn, t)) => {
                let start = t.journal.partition_point(|e| e.seq <= after);
                t.journal[start..].iter().map(|e| t.entry(tn, e)).collect()
            }
            None => Ok(Vec::new()),
        })
    }

    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        self.read(tenant, |t| {
            let Some((tn, t)) = t else {
                return Ok(Vec::new());
            };
            // Walk backwards: a token is settled for every intent before its result.
            let mut settled: HashSet<&str> = HashSet::new();
            let mut pending = Vec::new();
            for e in t.journal.iter().rev() {
                match e.phase {
                    JournalPhase::Succeeded | JournalPhase::Failed => {
                        settled.insert(&e.token);
                    }
                    JournalPhase::Intent if !settled.contains(&*e.token) => {
                        pending.push(e);
                    }
                    JournalPhase::Intent => {}
                }
            }
            pending.iter().rev().map(|e| t.entry(tn, e)).collect()
        })
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
        Ok(self.read(tenant, |t| t.and_then(|(_, t)| t.lease.current(tenant))))
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

    async fn get_phase(&self, tenant: &str) -> Result<Option<TenantPhase>> {
        Ok(lock(&self.phases).get(tenant).cloned())
    }

    async fn put_phase(&self, record: &TenantPhase) -> Result<()> {
        lock(&self.phases).insert(record.tenant.clone(), record.clone());
        Ok(())
    }

    async fn delete_phase(&self, tenant: &str) -> Result<()> {
        lock(&self.phases).remove(tenant);
        Ok(())
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
