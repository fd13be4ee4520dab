//! [`AzureConfig`]: what a provider file says about an Azure subscription, vault and storage
//! account. Credentials are never written in the file: fields name the environment variables
//! they are read from.

use provisio::{Error, Result, SecretString};
use std::fmt;
use std::time::Duration;

/// The public Azure Resource Manager endpoint.
pub const DEFAULT_ARM_ENDPOINT: &str = "https://management.azure.com";
/// The public Entra ID authority.
pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
/// The Azure Instance Metadata Service token endpoint used by managed identities on VMs.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The Azurite / storage emulator account name.
pub const DEVSTORE_ACCOUNT: &str = "devstoreaccount1";
/// The well-known, public key of the Azurite development account (documented by Microsoft; it
/// grants nothing outside a local emulator).
pub const DEVSTORE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How the provider gets its Entra ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// OAuth2 client credentials with a client secret: tenant, client id and secret from the
    /// environment variables named by `tenant_id_env`, `client_id_env`, `client_secret_env`.
    ClientSecret,
    /// A managed identity: the App Service / Functions endpoint (`IDENTITY_ENDPOINT` +
    /// `IDENTITY_HEADER`) when set, else the VM's Instance Metadata Service.
    ManagedIdentity,
    /// The standard environment: client secret from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
    /// `AZURE_CLIENT_SECRET` when all three are set, else a managed identity.
    #[default]
    Env,
    /// A fixed bearer token (tests): [`AzureConfig::static_token`] or the variable named by
    /// `static_token_env`. Never refreshed.
    Static,
}

/// Settings of one Azure provider instance.
///
/// ```
/// let cfg: provisio_azure::AzureConfig = serde_json::from_value(serde_json::json!({
///     "subscription_id": "00000000-0000-0000-0000-000000000000",
///     "resource_group": "tenants",
///     "vault_url": "https://acme-kv.vault.azure.net",
///     "storage_account": "acmeassets",
///     "credential": "client_secret"
/// })).unwrap();
/// assert_eq!(cfg.client_secret_env, "AZURE_CLIENT_SECRET");
/// assert!(!format!("{cfg:?}").contains("secret_value"));
/// ```
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureConfig {
    /// The subscription holding the DNS zones and virtual machines.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// The resource group of the DNS zones and virtual machines.
    #[serde(default)]
    pub resource_group: Option<String>,
    /// The Key Vault URL, e.g. `https://acme-kv.vault.azure.net`.
    #[serde(default)]
    pub vault_url: Option<String>,
    /// The storage account name.
    #[serde(default)]
    pub storage_account: Option<String>,
    /// The resource group of the storage account. When set (with `subscription_id`), archive
    /// lifecycle rules are written into the account's lifecycle management policy through
    /// Resource Manager; when unset, `archive_after_days` is unsupported.
    #[serde(default)]
    pub storage_resource_group: Option<String>,
    /// The Blob endpoint, when not `https://<account>.blob.core.windows.net` (Azurite:
    /// `http://127.0.0.1:10000/devstoreaccount1`, path-style).
    #[serde(default)]
    pub blob_endpoint: Option<String>,
    /// The Resource Manager endpoint.
    #[serde(default = "default_arm")]
    pub arm_endpoint: String,
    /// The Entra ID authority (token endpoint host).
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The managed identity token endpoint of a VM (IMDS); overridable for tests.
    #[serde(default = "default_imds")]
    pub imds_endpoint: String,
    /// The client id of a user-assigned managed identity; `None` uses the system identity.
    #[serde(default)]
    pub managed_identity_client_id: Option<String>,
    /// How tokens are obtained.
    #[serde(default)]
    pub credential: CredentialKind,
    /// The Entra tenant id (not a secret); when unset it is read from `tenant_id_env`.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The application (client) id (not a secret); when unset it is read from `client_id_env`.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The variable holding the Entra tenant id.
    #[serde(default = "tenant_env")]
    pub tenant_id_env: String,
    /// The variable holding the application (client) id.
    #[serde(default = "client_id_env")]
    pub client_id_env: String,
    /// The variable holding the client secret.
    #[serde(default = "client_secret_env")]
    pub client_secret_env: String,
    /// The variable holding a storage account key (Shared Key auth). When unset the Blob
    /// client uses bearer tokens, except for the Azurite account, whose key is public.
    #[serde(default = "storage_key_env")]
    pub storage_key_env: String,
    /// The variable holding a fixed bearer token for `credential = "static"`.
    #[serde(default = "static_token_env")]
    pub static_token_env: String,
    /// Region of new virtual machines.
    #[serde(default = "default_location")]
    pub location: String,
    /// The subnet (ARM id) new virtual machines' network interfaces join.
    #[serde(default)]
    pub subnet_id: Option<String>,
    /// Give new virtual machines a public IP address.
    #[serde(default = "default_true")]
    pub public_ip: bool,
    /// The admin user of new Linux virtual machines.
    #[serde(default = "default_admin")]
    pub admin_username: String,
    /// The SSH public key installed for the admin user (a public key, not a secret).
    #[serde(default)]
    pub ssh_public_key: Option<String>,
    /// Per-service request limits overriding the documented defaults ([`AzureRateLimits`]).
    #[serde(default)]
    pub rate_limits: AzureRateLimits,
    /// Per-request timeout in seconds.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_secs: u64,
    /// How long a long-running operation (VM create/delete) may take, in seconds.
    #[serde(default = "default_lro_timeout")]
    pub lro_timeout_secs: u64,
    /// The poll interval of long-running operations and waits when the service gives no
    /// `Retry-After`, in milliseconds.
    #[serde(default = "default_poll")]
    pub poll_interval_ms: u64,
    /// The client secret, set by Rust callers instead of the environment.
    #[serde(skip)]
    pub client_secret: Option<SecretString>,
    /// The storage account key, set by Rust callers instead of the environment.
    #[serde(skip)]
    pub storage_key: Option<SecretString>,
    /// The fixed token of `credential = "static"`, set by Rust callers.
    #[serde(skip)]
    pub static_token: Option<SecretString>,
}

fn default_arm() -> String {
    DEFAULT_ARM_ENDPOINT.into()
}
fn default_authority() -> String {
    DEFAULT_AUTHORITY.into()
}
fn default_imds() -> String {
    DEFAULT_IMDS_ENDPOINT.into()
}
fn tenant_env() -> String {
    "AZURE_TENANT_ID".into()
}
fn client_id_env() -> String {
    "AZURE_CLIENT_ID".into()
}
fn client_secret_env() -> String {
    "AZURE_CLIENT_SECRET".into()
}
fn storage_key_env() -> String {
    "AZURE_STORAGE_KEY".into()
}
fn static_token_env() -> String {
    "AZURE_ACCESS_TOKEN".into()
}
fn default_location() -> String {
    "westeurope".into()
}
fn default_admin() -> String {
    "provisio".into()
}
fn default_true() -> bool {
    true
}
fn default_request_timeout() -> u64 {
    60
}
fn default_lro_timeout() -> u64 {
    1800
}
fn default_poll() -> u64 {
    5000
}

impl Default for AzureConfig {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

impl fmt::Debug for AzureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureConfig")
            .field("subscription_id", &self.subscription_id)
            .field("resource_group", &self.resource_group)
            .field("vault_url", &self.vault_url)
            .field("storage_account", &self.storage_account)
            .field("blob_endpoint", &self.blob_endpoint)
            .field("arm_endpoint", &self.arm_endpoint)
            .field("authority", &self.authority)
            .field("credential", &self.credential)
            .field("location", &self.location)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "set"))
            .field("storage_key", &self.storage_key.as_ref().map(|_| "set"))
            .field("static_token", &self.static_token.as_ref().map(|_| "set"))
            .finish_non_exhaustive()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl AzureConfig {
    /// A configuration from the standard environment variables: `AZURE_SUBSCRIPTION_ID`,
    /// `AZURE_RESOURCE_GROUP`, `AZURE_KEYVAULT_URL`, `AZURE_STORAGE_ACCOUNT`,
    /// `AZURE_STORAGE_BLOB_ENDPOINT`, `AZURE_ARM_ENDPOINT`, `AZURE_AUTHORITY_HOST`,
    /// `AZURE_LOCATION`; the credential kind is `env` unless `PROVISIO_AZURE_CREDENTIAL` says
    /// otherwise.
    pub fn from_env() -> Result<Self> {
        let mut c = AzureConfig {
            subscription_id: env("AZURE_SUBSCRIPTION_ID"),
            resource_group: env("AZURE_RESOURCE_GROUP"),
            vault_url: env("AZURE_KEYVAULT_URL"),
            storage_account: env("AZURE_STORAGE_ACCOUNT"),
            blob_endpoint: env("AZURE_STORAGE_BLOB_ENDPOINT"),
            ..AzureConfig::default()
        };
        if let Some(v) = env("AZURE_ARM_ENDPOINT") {
            c.arm_endpoint = v;
        }
        if let Some(v) = env("AZURE_AUTHORITY_HOST") {
            c.authority = v;
        }
        if let Some(v) = env("AZURE_LOCATION") {
            c.location = v;
        }
        if let Some(kind) = env("PROVISIO_AZURE_CREDENTIAL") {
            c.credential = serde_json::from_value(serde_json::Value::String(kind.clone()))
                .map_err(|_| {
                    Error::invalid_field(
                        "PROVISIO_AZURE_CREDENTIAL",
                        format!(
                            "{kind:?} is not one of client_secret, managed_identity, env, static"
                        ),
                    )
                })?;
        }
        Ok(c)
    }

    /// A configuration for the fakes and emulators on one local endpoint: ARM, Key Vault and
    /// the token authority at `endpoint`, a static token credential, and no storage account.
    pub fn for_local_endpoint(endpoint: &str, token: &str) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        AzureConfig {
            subscription_id: Some("00000000-0000-0000-0000-000000000000".into()),
            resource_group: Some("provisio-test".into()),
            vault_url: Some(endpoint.clone()),
            arm_endpoint: endpoint.clone(),
            authority: endpoint.clone(),
            imds_endpoint: format!("{endpoint}/metadata/identity/oauth2/token"),
            credential: CredentialKind::Static,
            static_token: Some(SecretString::new(token)),
            poll_interval_ms: 50,
            ..AzureConfig::default()
        }
    }

    /// The same, with Blob storage on Azurite's development account at `blob_endpoint`
    /// (`http://127.0.0.1:10000/devstoreaccount1`).
    pub fn with_azurite(mut self, blob_endpoint: &str) -> Self {
        self.storage_account = Some(DEVSTORE_ACCOUNT.into());
        self.blob_endpoint = Some(blob_endpoint.trim_end_matches('/').to_string());
        self
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs.max(1))
    }
    pub(crate) fn lro_timeout(&self) -> Duration {
        Duration::from_secs(self.lro_timeout_secs.max(1))
    }
    pub(crate) fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.max(10))
    }

    /// The quota `service` runs with: the configured one, else the documented default.
    pub(crate) fn quota(&self, service: AzureService) -> Result<provisio::Quota> {
        let (configured, field) = match service {
            AzureService::Arm => (self.rate_limits.arm.as_ref(), "rate_limits.arm"),
            AzureService::Blob => (self.rate_limits.blob.as_ref(), "rate_limits.blob"),
            AzureService::KeyVault => {
                (self.rate_limits.key_vault.as_ref(), "rate_limits.key_vault")
            }
        };
        Ok(provisio::ratelimit::RateLimit::effective(
            configured,
            Some(service.default_quota()),
            field,
        )?
        .unwrap_or(service.default_quota()))
    }

    pub(crate) fn required<'a>(&self, value: &'a Option<String>, field: &str) -> Result<&'a str> {
        value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| {
                Error::invalid_field(field, "is required by this capability but not configured")
                    .with_provider("azure")
            })
    }

    /// The storage key: the configured one, the variable named by `storage_key_env`, or the
    /// public Azurite key for the development account.
    pub(crate) fn resolve_storage_key(&self) -> Option<SecretString> {
        if let Some(k) = &self.storage_key {
            return Some(k.clone());
        }
        if let Some(k) = env(&self.storage_key_env) {
            return Some(SecretString::new(k));
        }
        (self.storage_account.as_deref() == Some(DEVSTORE_ACCOUNT))
            .then(|| SecretString::new(DEVSTORE_KEY))
    }
}

/// Checks an endpoint URL: `https`, or plain `http` only for a loopback host (the fakes and
/// Azurite) or the link-local managed identity endpoint.
pub(crate) fn check_endpoint(field: &str, raw: &str) -> Result<url::Url> {
    let url = url::Url::parse(raw)
        .map_err(|e| Error::invalid_field(field, format!("{raw:?} is not a URL: {e}")))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_local_host(&url) => Ok(url),
        _ => Err(Error::invalid_field(
            field,
            format!(
                "{raw:?} must use https (plain http is only allowed for 127.0.0.1, ::1 and localhost)"
            ),
        )),
    }
}

pub(crate) fn is_local_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => {
            ip.is_loopback() || ip == std::net::Ipv4Addr::new(169, 254, 169, 254)
        }
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_need_https_except_loopback() {
        assert!(check_endpoint("x", "https://management.azure.com").is_ok());
        assert!(check_endpoint("x", "http://127.0.0.1:8080").is_ok());
        assert!(check_endpoint("x", "http://localhost:8080").is_ok());
        assert!(check_endpoint("x", "http://[::1]:8080").is_ok());
        assert!(check_endpoint("x", DEFAULT_IMDS_ENDPOINT).is_ok());
        let e = check_endpoint("arm_endpoint", "http://management.example.com").unwrap_err();
        assert!(e.to_string().contains("arm_endpoint"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused_and_debug_hides_secrets() {
        let r: std::result::Result<AzureConfig, _> =
            serde_json::from_value(serde_json::json!({"client_secret": "x"}));
        assert!(r.is_err());
        let c = AzureConfig {
            client_secret: Some(SecretString::new("hunter2")),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.credential, CredentialKind::Env);
    }
}

/// The request limits of the Azure services provisio drives, each overriding its documented
/// default (sources in `docs/providers/azure.md`):
///
/// ```
/// let c: provisio_azure::AzureConfig = serde_json::from_value(serde_json::json!({
///     "rate_limits": { "arm": { "requests": 5, "per_secs": 1 } },
/// })).unwrap();
/// assert_eq!(c.rate_limits.arm.unwrap().requests, 5);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureRateLimits {
    /// Resource Manager (DNS zones and records, virtual machines, storage management
    /// policies): default 10 per second, the write bucket's refill rate per subscription and
    /// principal.
    #[serde(default)]
    pub arm: Option<provisio::ratelimit::RateLimit>,
    /// Blob storage: default 20,000 per second per storage account.
    #[serde(default)]
    pub blob: Option<provisio::ratelimit::RateLimit>,
    /// Key Vault secrets: default 4,000 per 10 seconds per vault.
    #[serde(default)]
    pub key_vault: Option<provisio::ratelimit::RateLimit>,
}

/// An Azure service provisio sends requests to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AzureService {
    Arm,
    Blob,
    KeyVault,
}

impl AzureService {
    /// The documented default quota (cited in `docs/providers/azure.md`).
    pub(crate) fn default_quota(self) -> provisio::Quota {
        use std::time::Duration;
        match self {
            // "Understand how Azure Resource Manager throttles requests": per subscription and
            // principal, writes refill at 10 per second (bucket 200), reads at 25 (bucket 250).
            AzureService::Arm => provisio::Quota::new(10, Duration::from_secs(1)),
            // "Scalability and performance targets for standard storage accounts": 20,000
            // requests per second per account.
            AzureService::Blob => provisio::Quota::new(20_000, Duration::from_secs(1)),
            // "Azure Key Vault service limits": 4,000 secret transactions per 10 seconds per
            // vault.
            AzureService::KeyVault => provisio::Quota::new(4_000, Duration::from_secs(10)),
        }
    }
}
