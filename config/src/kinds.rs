//! Provider kinds: turning a [`ProviderEntry`] into trait objects.

use crate::ProviderEntry;
use provisio::providers::{Capability, Providers};
use provisio::{Error, Result};
use provisio_memory::MemoryCloud;
use serde_json::Value;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

/// Builds a kind that serves one capability from its config type and constructor.
#[cfg(any(
    feature = "git",
    feature = "jenkins",
    feature = "postgres",
    feature = "cloudflare"
))]
macro_rules! single {
    ($self:ident, $providers:ident, $cap:ident, $name:ident, $entry:ident, $serves:expr, $config:ty, $new:path, $with:ident) => {{
        if $cap != $serves {
            return Err(unsupported($cap, &$entry.kind));
        }
        let config: $config = settings($entry)?;
        let built = $self.shared($entry, || async { $new(config) }).await?;
        Ok($providers.$with($name, built))
    }};
}

/// The provider kinds this build can construct.
pub const KINDS: &[&str] = &[
    "memory",
    #[cfg(feature = "git")]
    "git",
    #[cfg(feature = "jenkins")]
    "jenkins",
    #[cfg(feature = "postgres")]
    "postgres",
    #[cfg(feature = "cloudflare")]
    "cloudflare",
    #[cfg(feature = "azure")]
    "azure",
    #[cfg(feature = "aws")]
    "aws",
];

/// Builds providers, sharing one instance among entries of the same kind and settings.
pub(crate) struct Builder {
    memory: Option<MemoryCloud>,
    /// (kind, settings as JSON) -> the built client, type-erased.
    built: HashMap<(String, String), Arc<dyn Any + Send + Sync>>,
}

fn unsupported(cap: Capability, kind: &str) -> Error {
    Error::invalid_field(
        "kind",
        format!(
            "provider kind {kind:?} does not serve the {} capability",
            cap.as_str()
        ),
    )
}

/// Deserializes an entry's settings into a kind's config type; unknown keys are errors.
#[allow(dead_code)]
pub(crate) fn settings<T: serde::de::DeserializeOwned>(entry: &ProviderEntry) -> Result<T> {
    serde_json::from_value(Value::Object(entry.settings.clone()))
        .map_err(|e| Error::invalid_field("settings", e.to_string()))
}

impl Builder {
    pub(crate) fn new(memory: Option<MemoryCloud>) -> Self {
        Builder {
            memory,
            built: HashMap::new(),
        }
    }

    /// The shared instance for `entry`, built by `make` on first use.
    #[allow(dead_code)]
    async fn shared<T, F, Fut>(&mut self, entry: &ProviderEntry, make: F) -> Result<Arc<T>>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let key = (
            entry.kind.clone(),
            Value::Object(entry.settings.clone()).to_string(),
        );
        if let Some(existing) = self.built.get(&key)
            && let Ok(t) = existing.clone().downcast::<T>()
        {
            return Ok(t);
        }
        let made = Arc::new(make().await?);
        self.built.insert(key, made.clone());
        Ok(made)
    }

    /// Registers `entry` as the provider `name` of `cap`.
    pub(crate) async fn register(
        &mut self,
        providers: Providers,
        cap: Capability,
        name: &str,
        entry: &ProviderEntry,
    ) -> Result<Providers> {
        match entry.kind.as_str() {
            "memory" => self.memory(providers, cap, name, entry),
            #[cfg(feature = "git")]
            "git" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Repo,
                provisio_git::GitConfig,
                provisio_git::GitRepository::new,
                with_repo
            ),
            #[cfg(feature = "jenkins")]
            "jenkins" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Ci,
                provisio_jenkins::JenkinsConfig,
                provisio_jenkins::JenkinsCi::new,
                with_ci
            ),
            #[cfg(feature = "postgres")]
            "postgres" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Database,
                provisio_postgres::PostgresConfig,
                provisio_postgres::PostgresDatabase::new,
                with_database
            ),
            #[cfg(feature = "cloudflare")]
            "cloudflare" => single!(
                self,
                providers,
                cap,
                name,
                entry,
                Capability::Dns,
                provisio_cloudflare::CloudflareConfig,
                provisio_cloudflare::CloudflareDns::new,
                with_dns
            ),
            #[cfg(feature = "azure")]
            "azure" => {
                let config: provisio_azure::AzureConfig = settings(entry)?;
                let azure = self
                    .shared(entry, || async { provisio_azure::Azure::new(config) })
                    .await?;
                Ok(match cap {
                    Capability::Dns => providers.with_dns(name, azure.dns()?),
                    Capability::Storage => providers.with_storage(name, azure.blob()?),
                    Capability::Secrets => providers.with_secrets(name, azure.key_vault()?),
                    Capability::Compute => providers.with_compute(name, azure.compute()?),
                    other => return Err(unsupported(other, "azure")),
                })
            }
            #[cfg(feature = "aws")]
            "aws" => {
                let config: provisio_aws::AwsConfig = settings(entry)?;
                let aws = self
                    .shared(entry, || provisio_aws::Aws::connect(config))
                    .await?;
                Ok(match cap {
                    Capability::Dns => providers.with_dns(name, aws.dns()),
                    Capability::Storage => providers.with_storage(name, aws.storage()),
                    Capability::Compute => providers.with_compute(name, aws.compute()),
                    Capability::Secrets => providers.with_secrets(name, aws.secrets()),
                    Capability::Database => providers.with_database(name, aws.database()),
                    Capability::Mail => providers.with_mail(name, aws.mail()),
                    other => return Err(unsupported(other, "aws")),
                })
            }
            other => Err(Error::invalid_field(
                "kind",
                format!(
                    "unknown provider kind {other:?} (this build knows: {})",
                    KINDS.join(", ")
                ),
            )),
        }
    }

    fn memory(
        &mut self,
        providers: Providers,
        cap: Capability,
        name: &str,
        entry: &ProviderEntry,
    ) -> Result<Providers> {
        if let Some(key) = entry.settings.keys().next() {
            return Err(Error::invalid_field(
                &format!("settings.{key}"),
                "memory providers take no settings here (use the [memory] table)",
            ));
        }
        let cloud = self
            .memory
            .as_ref()
            .ok_or_else(|| Error::unexpected("the memory world was not opened"))?;
        Ok(match cap {
            Capability::Dns => providers.with_dns(name, cloud.dns.clone()),
            Capability::Storage => providers.with_storage(name, cloud.storage.clone()),
            Capability::Compute => providers.with_compute(name, cloud.compute.clone()),
            Capability::Ci => providers.with_ci(name, cloud.ci.clone()),
            Capability::Secrets => providers.with_secrets(name, cloud.secrets.clone()),
            Capability::Database => providers.with_database(name, cloud.database.clone()),
            Capability::Repo => providers.with_repo(name, cloud.repo.clone()),
            Capability::Mail => providers.with_mail(name, cloud.mail.clone()),
            Capability::None => return Err(unsupported(cap, "memory")),
        })
    }
}
