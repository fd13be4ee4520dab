//! The providers a run may use, registered by capability and name.
//!
//! A blueprint resource names its provider (`provider: cloudflare`); the registry turns that
//! name into a trait object. The engine never knows which implementation it drives.

use crate::{
    CiServer, Compute, Database, DnsProvider, Error, Host, Mail, ObjectStorage, Probe, Provider,
    Repository, Result, SecretStore,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The capability a resource type needs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// [`DnsProvider`].
    Dns,
    /// [`ObjectStorage`].
    Storage,
    /// [`Compute`].
    Compute,
    /// [`CiServer`].
    Ci,
    /// [`SecretStore`].
    Secrets,
    /// [`Database`].
    Database,
    /// [`Repository`].
    Repo,
    /// [`Mail`].
    Mail,
    /// [`Probe`].
    Probe,
    /// [`Host`].
    Host,
    /// No provider (custom steps that do their own I/O).
    None,
}

impl Capability {
    /// The capability's name as blueprints write it (`dns`, `storage`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Dns => "dns",
            Capability::Storage => "storage",
            Capability::Compute => "compute",
            Capability::Ci => "ci",
            Capability::Secrets => "secrets",
            Capability::Database => "database",
            Capability::Repo => "repo",
            Capability::Mail => "mail",
            Capability::Probe => "probe",
            Capability::Host => "host",
            Capability::None => "none",
        }
    }
}

/// The provider name used when a resource names none.
pub const DEFAULT_PROVIDER: &str = "default";

/// Providers by capability and name.
///
/// ```
/// use provisio::providers::{Providers, Capability};
/// let p = Providers::new();
/// assert!(p.dns("default").is_err());
/// assert!(!p.has(Capability::Dns, "default"));
/// ```
#[derive(Clone, Default)]
pub struct Providers {
    dns: BTreeMap<String, Arc<dyn DnsProvider>>,
    storage: BTreeMap<String, Arc<dyn ObjectStorage>>,
    compute: BTreeMap<String, Arc<dyn Compute>>,
    ci: BTreeMap<String, Arc<dyn CiServer>>,
    secrets: BTreeMap<String, Arc<dyn SecretStore>>,
    database: BTreeMap<String, Arc<dyn Database>>,
    repo: BTreeMap<String, Arc<dyn Repository>>,
    mail: BTreeMap<String, Arc<dyn Mail>>,
    probe: BTreeMap<String, Arc<dyn Probe>>,
    host: BTreeMap<String, Arc<dyn Host>>,
}

fn missing(cap: Capability, name: &str) -> Error {
    Error::invalid_field(
        "provider",
        format!("no {} provider named {name:?} is configured", cap.as_str()),
    )
}

macro_rules! accessors {
    ($($field:ident, $with:ident, $trait:ident, $cap:expr;)*) => {
        $(
            #[doc = concat!("Registers a `", stringify!($trait), "` under `name`.")]
            pub fn $with(mut self, name: impl Into<String>, provider: Arc<dyn $trait>) -> Self {
                self.$field.insert(name.into(), provider);
                self
            }
            #[doc = concat!("The `", stringify!($trait), "` registered under `name`.")]
            pub fn $field(&self, name: &str) -> Result<Arc<dyn $trait>> {
                self.$field.get(name).cloned().ok_or_else(|| missing($cap, name))
            }
        )*
    };
}

impl Providers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    accessors! {
        dns, with_dns, DnsProvider, Capability::Dns;
        storage, with_storage, ObjectStorage, Capability::Storage;
        compute, with_compute, Compute, Capability::Compute;
        ci, with_ci, CiServer, Capability::Ci;
        secrets, with_secrets, SecretStore, Capability::Secrets;
        database, with_database, Database, Capability::Database;
        repo, with_repo, Repository, Capability::Repo;
        mail, with_mail, Mail, Capability::Mail;
        probe, with_probe, Probe, Capability::Probe;
        host, with_host, Host, Capability::Host;
    }

    /// The same providers, each with the layers of `stack` around it (see
    /// [`crate::layer`]): what `provisio-config` does with [`Stack::standard`] so that direct
    /// calls from every front end retry transient failures.
    ///
    /// ```
    /// use provisio::layer::{RetryPolicy, Stack};
    /// use provisio::providers::Providers;
    /// let p = Providers::new().layered(&Stack::standard(RetryPolicy::default(), None));
    /// assert!(p.dns("default").is_err());
    /// ```
    ///
    /// [`Stack::standard`]: crate::layer::Stack::standard
    pub fn layered(&self, stack: &crate::layer::Stack) -> Providers {
        fn wrap<T: ?Sized>(
            m: &BTreeMap<String, Arc<T>>,
            f: impl Fn(Arc<T>) -> Arc<T>,
        ) -> BTreeMap<String, Arc<T>> {
            m.iter().map(|(k, v)| (k.clone(), f(v.clone()))).collect()
        }
        Providers {
            dns: wrap(&self.dns, |p| stack.dns(p)),
            storage: wrap(&self.storage, |p| stack.storage(p)),
            compute: wrap(&self.compute, |p| stack.compute(p)),
            ci: wrap(&self.ci, |p| stack.ci(p)),
            secrets: wrap(&self.secrets, |p| stack.secrets(p)),
            database: wrap(&self.database, |p| stack.database(p)),
            repo: wrap(&self.repo, |p| stack.repo(p)),
            mail: wrap(&self.mail, |p| stack.mail(p)),
            probe: wrap(&self.probe, |p| stack.probe(p)),
            host: wrap(&self.host, |p| stack.host(p)),
        }
    }

    /// Whether a provider of this capability and name is registered.
    pub fn has(&self, cap: Capability, name: &str) -> bool {
        self.info(cap, name).is_some()
    }

    /// The [`ProviderInfo`](crate::ProviderInfo) of a registered provider (for rate limiting and events).
    pub fn info(&self, cap: Capability, name: &str) -> Option<crate::ProviderInfo> {
        fn get<T: ?Sized + Provider>(
            m: &BTreeMap<String, Arc<T>>,
            n: &str,
        ) -> Option<crate::ProviderInfo> {
            m.get(n).map(|p| p.info())
        }
        match cap {
            Capability::Dns => get(&self.dns, name),
            Capability::Storage => get(&self.storage, name),
            Capability::Compute => get(&self.compute, name),
            Capability::Ci => get(&self.ci, name),
            Capability::Secrets => get(&self.secrets, name),
            Capability::Database => get(&self.database, name),
            Capability::Repo => get(&self.repo, name),
            Capability::Mail => get(&self.mail, name),
            Capability::Probe => get(&self.probe, name),
            Capability::Host => get(&self.host, name),
            Capability::None => None,
        }
    }
}
