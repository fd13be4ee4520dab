//! The state store: what the engine knows about each tenant's resources, the journal of side
//! effects, per-tenant lease locks and fleet cursors.
//!
//! Three implementations: [`memory::MemoryStateStore`] (tests), [`sqlite::SqliteStateStore`]
//! (the embedded default, one file) and [`postgres::PostgresStateStore`] (many workers).
//! State never holds a secret value: parameters and outputs are secret-free by construction
//! (see [`crate::resource::Tenant::secrets`]). The stores never log parameters, outputs or
//! journal details either.
//!
//! # Semantics every store honours
//!
//! These rules are checked by the shared behaviour suite in `conformance` (compiled for tests
//! and with the `testing` feature), which runs against all three stores.
//!
//! - **Resources**: [`StateStore::put_resource`] inserts or replaces by `(tenant, name)`;
//!   [`StateStore::list_resources`] and [`StateStore::list_tenants`] sort by byte order of
//!   the names (Rust's `str` order; the PostgreSQL store uses the `"C"` collation for this).
//! - **Journal**: [`StateStore::append_journal`] assigns a sequence number, unique across the
//!   whole store and increasing in append order within a tenant, and returns only once the
//!   entry is durable (SQLite: committed with `synchronous=FULL`; PostgreSQL: committed).
//!   The `seq` field of the appended entry is ignored.
//! - **Pending intents**: an entry with phase [`JournalPhase::Intent`] is pending when no
//!   entry with the same tenant and `token` and phase `Succeeded` or `Failed` has a greater
//!   `seq`. A result written *before* an intent with a reused token does not settle it.
//! - **Leases** (times from [`now_ms`]; a lease is expired when `expires_at_ms <= now`):
//!   - [`StateStore::acquire_lease`] when nobody holds the tenant (never leased, released,
//!     broken) takes it with a generation one higher than the tenant's previous lease (the
//!     store remembers generations across release and break, so they never repeat).
//!   - The same owner acquiring again *renews*: new expiry, same generation, so a heartbeat
//!     holding the earlier [`Lease`] keeps working.
//!   - Another owner gets [`provisio::ErrorKind::Conflict`] with a message naming the holder
//!     and its expiry, unless the lease has expired: then it takes over and the generation is
//!     bumped.
//!   - [`StateStore::renew_lease`] succeeds only while the tenant's lease has the same owner
//!     and generation (even if it expired meanwhile, as long as nobody took it over);
//!     otherwise `Conflict` naming the current holder, if any.
//!   - [`StateStore::release_lease`] removes the lease only when owner and generation match;
//!     a stale lease is a no-op.
//!   - [`StateStore::break_lease`] removes whatever lease is there and returns it.
//! - **Fleet cursors** are saved and loaded whole, keyed by `fleet_id`.
//! - **Lifecycle records** ([`TenantPhase`]) are saved, loaded and removed whole, keyed by
//!   tenant.

// `provisio::Error` is large by design (kind, message, context, source): every store method
// returns it, as the other crates of the workspace do.

pub use crate::lifecycle::TenantPhase;
use provisio::{Result, Tags};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod lease;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// What the engine recorded about one resource of one tenant after it was applied.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResourceRecord {
    /// The tenant.
    pub tenant: String,
    /// The resource's name in the blueprint.
    pub name: String,
    /// The resource type (`dns.record`).
    pub resource_type: String,
    /// The provider name the resource used.
    pub provider: String,
    /// The deterministic identity ([`crate::resource::ResourceType::identity`]).
    pub identity: String,
    /// The resolved parameters that were applied (secret-free).
    pub params: Value,
    /// The outputs (secret-free).
    pub outputs: Value,
    /// Whether the resource is protected from delete and replace.
    pub protect: bool,
    /// The blueprint resources this one depended on (for destroy order without a blueprint).
    pub depends_on: Vec<String>,
    /// Unix milliseconds of the last change.
    pub updated_at_ms: i64,
}

/// The phase of a journal entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalPhase {
    /// Written before the side effect.
    Intent,
    /// Written after the side effect succeeded.
    Succeeded,
    /// Written after the side effect failed (the failure may have had partial effects).
    Failed,
}

/// One journal entry. An `Intent` is followed by a `Succeeded` or `Failed` entry with the same
/// `token`; an intent with neither is "in doubt" (the process died during the side effect).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JournalEntry {
    /// Sequence number assigned by the store (ignored on append).
    pub seq: u64,
    /// The run that wrote it.
    pub run_id: String,
    /// The tenant.
    pub tenant: String,
    /// The resource's name in the blueprint.
    pub resource: String,
    /// The resource type.
    pub resource_type: String,
    /// `create`, `update`, `replace`, `delete`, `adopt`, ...
    pub action: String,
    /// The phase.
    pub phase: JournalPhase,
    /// The deterministic identity of the resource.
    pub identity: String,
    /// The ownership tags the resource carries.
    pub tags: Tags,
    /// Links an intent to its result.
    pub token: String,
    /// Extra data: the resolved params on intents, outputs on success, the error on failure.
    /// Secret-free.
    pub detail: Value,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// A lease lock on one tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Lease {
    /// The tenant.
    pub tenant: String,
    /// Who holds it (host, pid, run id).
    pub owner: String,
    /// Unix milliseconds at which it expires unless renewed.
    pub expires_at_ms: i64,
    /// Incremented whenever the lease changes hands (a fresh acquire or a takeover of an
    /// expired lease; a renewal by the same owner keeps it); a renew or release with a stale
    /// generation fails (renew) or does nothing (release).
    pub generation: u64,
}

/// Where a fleet run stands, so a stopped rollout resumes where it stopped.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FleetCursor {
    /// The fleet run's id.
    pub fleet_id: String,
    /// Tenants finished successfully.
    pub succeeded: Vec<String>,
    /// Tenants that failed, with the error message.
    pub failed: Vec<(String, String)>,
    /// Whether the rollout halted (failure threshold reached or stopped by the caller).
    pub halted: bool,
    /// Free-form data the fleet runner keeps (wave number, counts).
    pub detail: Value,
}

/// The state store.
///
/// All methods are safe to call concurrently from many tasks (and, for the SQL stores, from
/// many processes). Times are wall-clock Unix milliseconds from [`now_ms`].
#[provisio::async_trait]
pub trait StateStore: Send + Sync {
    /// The resource record of one tenant's resource.
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>>;
    /// Every resource record of a tenant, in name order.
    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>>;
    /// Inserts or replaces a resource record.
    async fn put_resource(&self, record: &ResourceRecord) -> Result<()>;
    /// Removes a resource record (no error when missing).
    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()>;
    /// Every tenant that has resources or journal entries, in name order.
    async fn list_tenants(&self) -> Result<Vec<String>>;

    /// Appends a journal entry durably (fsync'ed / committed before returning); returns its
    /// sequence number.
    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64>;
    /// A tenant's journal entries with `seq > after`, in order.
    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>>;
    /// A tenant's intents that have no result entry (in doubt), in order.
    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>>;

    /// Takes the tenant's lease for `ttl`; `Conflict` naming the holder and its expiry when
    /// another owner holds an unexpired lease. The same owner re-acquiring renews.
    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease>;
    /// Extends a held lease; `Conflict` when it was broken or taken over meanwhile.
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease>;
    /// Releases a held lease (no error when it already expired or was broken).
    async fn release_lease(&self, lease: &Lease) -> Result<()>;
    /// The tenant's current lease, expired or not.
    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>>;
    /// Removes the tenant's lease whoever holds it; returns what was removed.
    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>>;

    /// Saves a fleet cursor.
    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()>;
    /// Loads a fleet cursor.
    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>>;

    /// The tenant's lifecycle record; `None` when no transition ever ran for it.
    async fn get_phase(&self, tenant: &str) -> Result<Option<TenantPhase>>;
    /// Inserts or replaces the tenant's lifecycle record, durably (committed before returning).
    async fn put_phase(&self, record: &TenantPhase) -> Result<()>;
    /// Removes the tenant's lifecycle record (no error when missing).
    async fn delete_phase(&self, tenant: &str) -> Result<()>;
}

/// Every resource record of `tenant`, by resource name.
pub(crate) async fn records_by_name(
    store: &dyn StateStore,
    tenant: &str,
) -> Result<BTreeMap<String, ResourceRecord>> {
    Ok(store
        .list_resources(tenant)
        .await?
        .into_iter()
        .map(|r| (r.name.clone(), r))
        .collect())
}

/// The last recorded outputs of the absent resources of a phase's view (see
/// [`crate::lifecycle`]): their records' outputs, or, for a resource whose record is gone
/// (deleted by the transition that a crash interrupted), the outputs of its last successful
/// create or update in the journal (read only for a tenant that has a lifecycle record). A resource with neither (never created: an archive before
/// the first `archive`) has every output of its type `null`, so a reference to it is `null`.
pub(crate) async fn last_outputs(
    store: &dyn StateStore,
    tenant: &str,
    blueprint: &crate::Blueprint,
    registry: &crate::Registry,
    records: &BTreeMap<String, ResourceRecord>,
) -> Result<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for n in blueprint.ghosts.keys() {
        match records.get(n) {
            Some(r) => {
                out.insert(n.clone(), r.outputs.clone());
            }
            None => missing.push(n.clone()),
        }
    }
    // Only a transition makes what a launched tenant lacks, and a transition records the
    // tenant's phase before its first step: without that record the journal holds nothing
    // for these, and is not read (an apply of a never-transitioned tenant stays one keyed read).
    let journal = if missing.is_empty() || store.get_phase(tenant).await?.is_none() {
        Vec::new()
    } else {
        store.journal(tenant, 0).await?
    };
    for e in journal {
        if e.phase == JournalPhase::Succeeded
            && missing.contains(&e.resource)
            && let Some(o) = e.detail.get("outputs")
            && !o.is_null()
        {
            out.insert(e.resource.clone(), o.clone());
        }
    }
    for (name, rtype) in &blueprint.ghosts {
        if !out.contains_key(name)
            && let Some(rt) = registry.get(rtype)
        {
            let nulls = rt
                .outputs()
                .iter()
                .map(|k| (k.to_string(), Value::Null))
                .collect();
            out.insert(name.clone(), Value::Object(nulls));
        }
    }
    Ok(out)
}

/// The `Conflict` error for a tenant leased by someone else.
pub(crate) fn lease_conflict(tenant: &str, holder: &Lease, now: i64) -> provisio::Error {
    let left = holder.expires_at_ms - now;
    let when = if left > 0 {
        format!("expires in {left} ms")
    } else {
        format!("expired {} ms ago", -left)
    };
    provisio::Error::conflict(format!(
        "tenant {tenant} is locked by {} until {} (unix ms; {when}; generation {})",
        holder.owner, holder.expires_at_ms, holder.generation
    ))
    .with_operation("state.lease")
    .with_resource(tenant)
}

/// The `Conflict` error for renewing a lease that was broken or taken over.
pub(crate) fn lease_lost(lease: &Lease, current: Option<&Lease>) -> provisio::Error {
    let what = match current {
        Some(c) => format!(
            "it is now held by {} (generation {}) until {} (unix ms)",
            c.owner, c.generation, c.expires_at_ms
        ),
        None => "nobody holds it now (released or broken)".to_string(),
    };
    provisio::Error::conflict(format!(
        "lease on tenant {} held by {} (generation {}) was lost: {what}",
        lease.tenant, lease.owner, lease.generation
    ))
    .with_operation("state.renew_lease")
    .with_resource(&lease.tenant)
}

/// A lease TTL in milliseconds, saturating.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

// Used by the SQL stores only; without both features nothing calls these.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
impl JournalPhase {
    /// The stable snake_case name stored by the SQL stores.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JournalPhase::Intent => "intent",
            JournalPhase::Succeeded => "succeeded",
            JournalPhase::Failed => "failed",
        }
    }

    /// Parses [`JournalPhase::as_str`].
    pub(crate) fn parse(s: &str) -> provisio::Result<Self> {
        match s {
            "intent" => Ok(JournalPhase::Intent),
            "succeeded" => Ok(JournalPhase::Succeeded),
            "failed" => Ok(JournalPhase::Failed),
            other => Err(provisio::Error::unexpected(format!(
                "unknown journal phase {other:?} in the state store"
            ))),
        }
    }
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
