//! Azure provider for provisio.
//!
//! | capability | type | service |
//! |---|---|---|
//! | [`DnsProvider`](provisio::DnsProvider) | [`AzureDns`] | Azure DNS via Resource Manager |
//! | [`ObjectStorage`](provisio::ObjectStorage) | [`AzureBlob`] | Blob storage (Shared Key or bearer) |
//! | [`SecretStore`](provisio::SecretStore) | [`AzureKeyVault`] | Key Vault secrets |
//! | [`Compute`](provisio::Compute) | [`AzureCompute`] | Virtual machines via Resource Manager |
//!
//! Everything is plain REST over one reqwest client with rustls (no OpenSSL, no Azure SDK
//! crates); tokens come from Entra ID (client secret, managed identity or a static token) and
//! are cached per scope ([`auth::Credential`]). See `docs/providers/azure.md` for the required
//! roles, the configuration keys, and how the fakes and Azurite differ from Azure.
//!
//! Getting each capability from a configuration:
//!
//! ```no_run
//! use provisio_azure::{Azure, AzureConfig};
//! use std::sync::Arc;
//!
//! # fn demo() -> provisio::Result<()> {
//! let config = AzureConfig::from_env()?; // AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, ...
//! let azure = Azure::new(config)?;
//! let dns: Arc<dyn provisio::DnsProvider> = azure.dns()?;
//! let storage: Arc<dyn provisio::ObjectStorage> = azure.blob()?;
//! let secrets: Arc<dyn provisio::SecretStore> = azure.key_vault()?;
//! let compute: Arc<dyn provisio::Compute> = azure.compute()?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod auth;
pub mod blob;
mod blob_tiers;
mod client;
pub mod compute;
pub mod config;
pub mod dns;
pub mod error;
pub mod keyvault;
mod lro;
mod sharedkey;

pub use auth::Credential;
pub use blob::AzureBlob;
pub use compute::AzureCompute;
pub use config::{AzureConfig, CredentialKind};
pub use dns::AzureDns;
pub use keyvault::{AzureKeyVault, DeletedSecretInfo};

use provisio::Result;
use std::sync::Arc;

/// One configured Azure account: a subscription and resource group, a vault, a storage
/// account, and the credential they share (one token cache for all capabilities).
pub struct Azure {
    core: Arc<client::Core>,
}

impl std::fmt::Debug for Azure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Azure")
            .field("config", &self.core.config)
            .finish_non_exhaustive()
    }
}

impl Azure {
    /// Builds the HTTP client and the credential the configuration names. Nothing is sent
    /// until a capability is used.
    pub fn new(config: AzureConfig) -> Result<Self> {
        Ok(Azure {
            core: Arc::new(client::Core::new(config, None)?),
        })
    }

    /// The same with a credential of your own (e.g. [`Credential::fixed`], or one wrapping a
    /// custom [`auth::TokenSource`]).
    pub fn with_credential(config: AzureConfig, credential: Arc<Credential>) -> Result<Self> {
        Ok(Azure {
            core: Arc::new(client::Core::new(config, Some(credential))?),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AzureConfig {
        &self.core.config
    }

    /// The shared credential.
    pub fn credential(&self) -> Arc<Credential> {
        self.core.credential.clone()
    }

    /// Azure DNS (needs `subscription_id` and `resource_group`).
    pub fn dns(&self) -> Result<Arc<AzureDns>> {
        Ok(Arc::new(AzureDns::new(self.core.clone())?))
    }

    /// Blob storage (needs `storage_account`).
    pub fn blob(&self) -> Result<Arc<AzureBlob>> {
        Ok(Arc::new(AzureBlob::new(self.core.clone())?))
    }

    /// Key Vault secrets (needs `vault_url`).
    pub fn key_vault(&self) -> Result<Arc<AzureKeyVault>> {
        Ok(Arc::new(AzureKeyVault::new(self.core.clone())?))
    }

    /// Virtual machines (needs `subscription_id` and `resource_group`).
    pub fn compute(&self) -> Result<Arc<AzureCompute>> {
        Ok(Arc::new(AzureCompute::new(self.core.clone())?))
    }
}
