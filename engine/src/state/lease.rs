//! The lease state machine shared by the stores that read, decide and write inside one
//! critical section (the memory store under its shard lock, SQLite inside `BEGIN IMMEDIATE`).
//! The PostgreSQL store encodes the same rules in single atomic statements.

use super::{Lease, lease_conflict, lease_lost, ttl_ms};
use provisio::Result;
use std::time::Duration;

/// A tenant's lease as stored. The generation outlives release and break, so a lease that
/// changes hands always gets a generation never seen before for that tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LeaseSlot {
    /// The holder and the expiry (Unix ms), or `None` when nobody holds the tenant.
    pub holder: Option<(String, i64)>,
    /// The generation of the last lease handed out (0: never leased).
    pub generation: u64,
}

impl LeaseSlot {
    /// The current lease of `tenant`, expired or not.
    pub fn current(&self, tenant: &str) -> Option<Lease> {
        self.holder.as_ref().map(|(owner, expires)| Lease {
            tenant: tenant.to_string(),
            owner: owner.clone(),
            expires_at_ms: *expires,
            generation: self.generation,
        })
    }

    /// Acquire: free → take (generation + 1); same owner → renew (same generation); other
    /// owner, unexpired → `Conflict`; other owner, expired → take over (generation + 1).
    pub fn acquire(&mut self, tenant: &str, owner: &str, ttl: Duration, now: i64) -> Result<Lease> {
        let expires = now.saturating_add(ttl_ms(ttl));
        match &self.holder {
            Some((holder, _)) if holder == owner => {}
            Some((_, held_until)) if *held_until > now => {
                let current = self.current(tenant).expect("holder is set");
                return Err(lease_conflict(tenant, &current, now));
            }
            _ => self.generation += 1,
        }
        self.holder = Some((owner.to_string(), expires));
        Ok(self.current(tenant).expect("holder was just set"))
    }

    /// Renew: only while owner and generation still match.
    pub fn renew(&mut self, lease: &Lease, ttl: Duration, now: i64) -> Result<Lease> {
        if !self.matches(lease) {
            return Err(lease_lost(lease, self.current(&lease.tenant).as_ref()));
        }
        self.holder = Some((lease.owner.clone(), now.saturating_add(ttl_ms(ttl))));
        Ok(self.current(&lease.tenant).expect("holder was just set"))
    }

    /// Release: removes the holder when owner and generation match; otherwise nothing.
    /// Returns whether something changed.
    pub fn release(&mut self, lease: &Lease) -> bool {
        if self.matches(lease) {
            self.holder = None;
            true
        } else {
            false
        }
    }

    /// Break: removes whatever holder there is and returns its lease.
    pub fn break_lease(&mut self, tenant: &str) -> Option<Lease> {
        let current = self.current(tenant);
        self.holder = None;
        current
    }

    fn matches(&self, lease: &Lease) -> bool {
        matches!(&self.holder, Some((owner, _)) if *owner == lease.owner)
            && self.generation == lease.generation
    }
}
