//! All ten memory providers as one bundle sharing one [`Faults`].

use crate::{
    Faults, Inventory, MemoryCi, MemoryCompute, MemoryDatabase, MemoryDns, MemoryHost, MemoryMail,
    MemoryProbe, MemoryRepo, MemorySecrets, MemoryStorage,
};
use std::sync::Arc;

/// One memory provider per capability, all sharing [`MemoryCloud::faults`].
///
/// ```
/// use provisio_memory::MemoryCloud;
/// let cloud = MemoryCloud::new(42);
/// cloud.dns.add_zone("example.com");
/// assert_eq!(cloud.inventory().count("dns.zone"), 1);
/// // hand the providers out as trait objects
/// let dns: std::sync::Arc<dyn provisio::DnsProvider> = cloud.dns.clone();
/// # let _ = dns;
/// ```
#[derive(Debug, Clone)]
pub struct MemoryCloud {
    /// DNS.
    pub dns: Arc<MemoryDns>,
    /// Object storage.
    pub storage: Arc<MemoryStorage>,
    /// Compute.
    pub compute: Arc<MemoryCompute>,
    /// CI.
    pub ci: Arc<MemoryCi>,
    /// Secret store.
    pub secrets: Arc<MemorySecrets>,
    /// Databases.
    pub database: Arc<MemoryDatabase>,
    /// Git repository.
    pub repo: Arc<MemoryRepo>,
    /// Mail.
    pub mail: Arc<MemoryMail>,
    /// Probes (`http.check`): every URL answers `200 ok` unless set otherwise.
    pub probe: Arc<MemoryProbe>,
    /// A remote host.
    pub host: Arc<MemoryHost>,
    /// The fault settings and counters every provider above shares.
    pub faults: Faults,
}

impl MemoryCloud {
    /// Every provider, empty (the repository has its `main` branch), seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let faults = Faults::new(seed);
        MemoryCloud {
            dns: Arc::new(MemoryDns::with_faults(faults.clone())),
            storage: Arc::new(MemoryStorage::with_faults(faults.clone())),
            compute: Arc::new(MemoryCompute::with_faults(faults.clone())),
            ci: Arc::new(MemoryCi::with_faults(faults.clone())),
            secrets: Arc::new(MemorySecrets::with_faults(faults.clone())),
            database: Arc::new(MemoryDatabase::with_faults(faults.clone())),
            repo: Arc::new(MemoryRepo::with_faults(faults.clone())),
            mail: Arc::new(MemoryMail::with_faults(faults.clone())),
            probe: Arc::new(MemoryProbe::with_faults(faults.clone())),
            host: Arc::new(MemoryHost::with_faults(faults.clone())),
            faults,
        }
    }

    /// Every live resource of every provider (see [`crate::inventory`]).
    pub fn inventory(&self) -> Inventory {
        let mut inv = self.dns.inventory();
        inv.merge(self.storage.inventory());
        inv.merge(self.compute.inventory());
        inv.merge(self.ci.inventory());
        inv.merge(self.secrets.inventory());
        inv.merge(self.database.inventory());
        inv.merge(self.repo.inventory());
        inv.merge(self.mail.inventory());
        inv.merge(self.probe.inventory());
        inv.merge(self.host.inventory());
        inv
    }

    /// What deletes left behind: soft-deleted secrets, terminated instances, final snapshots.
    pub fn retired(&self) -> Inventory {
        let mut inv = self.compute.retired();
        inv.merge(self.secrets.retired());
        inv.merge(self.database.retired());
        inv
    }
}
