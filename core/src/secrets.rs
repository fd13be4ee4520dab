//! Secret stores: versioned secret values with soft delete.
//!
//! Deleting a secret always keeps it recoverable for a recovery window; an irreversible purge
//! happens only through [`SecretStore::purge_secret`] with a [`Confirm`] naming the secret.

use crate::{Confirm, Deleted, Ensured, Page, PageRequest, Provider, Result, SecretString, Tags};
use async_trait::async_trait;

/// The smallest recovery window provisio accepts, in days (Secrets Manager's minimum).
pub const MIN_RECOVERY_DAYS: u32 = 7;
/// The largest recovery window, in days (both Secrets Manager and Key Vault stop at 30/90).
pub const MAX_RECOVERY_DAYS: u32 = 30;

/// A secret's metadata: never its value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretMeta {
    /// The name.
    pub name: String,
    /// The current version id.
    pub version: String,
    /// Tags.
    pub tags: Tags,
    /// Whether the secret is soft-deleted (recoverable).
    pub deleted: bool,
}

/// A secret value with the version it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecretValue {
    /// The value (redacted in every output).
    pub value: SecretString,
    /// The version id.
    pub version: String,
}

/// What a secret store can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SecretsCapabilities {
    /// Deleted secrets can be recovered.
    pub soft_delete: bool,
    /// The recovery window can be chosen per delete.
    pub custom_recovery_window: bool,
    /// Secrets carry tags.
    pub tags: bool,
}

/// A secret store.
#[async_trait]
pub trait SecretStore: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> SecretsCapabilities;

    /// Stores `value` as the secret's current version. When the current version already holds
    /// the same value the call is `Unchanged` and returns that version. A name that is
    /// soft-deleted is a `Conflict` saying to recover or purge it.
    async fn put_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Ensured<SecretMeta>>;

    /// Creates the secret with `value` unless a secret of that name exists (live or
    /// soft-deleted): `Ok(Some(meta))` when it was created, `Ok(None)` when the name was taken
    /// (nothing changed, whatever its value). What a generated secret needs: a value that
    /// exists stays. Services that refuse a duplicate create make it one request; the default
    /// looks first.
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Option<SecretMeta>> {
        if self.describe_secret(name).await?.is_some() {
            return Ok(None);
        }
        self.put_secret(name, value, tags)
            .await
            .map(|e| Some(e.value))
    }

    /// Reads the current version; `NotFound` when missing or soft-deleted.
    async fn get_secret(&self, name: &str) -> Result<SecretValue>;

    /// Reads a secret's metadata (also when soft-deleted); `Ok(None)` when unknown.
    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>>;

    /// Lists one page of live (not deleted) secrets whose name starts with `prefix`.
    async fn list_secrets(&self, prefix: &str, page: &PageRequest) -> Result<Page<SecretMeta>>;

    /// Soft-deletes the secret, recoverable for `recovery_days`
    /// ([`MIN_RECOVERY_DAYS`]..=[`MAX_RECOVERY_DAYS`]); [`Deleted::AlreadyGone`] when unknown or
    /// already deleted.
    async fn delete_secret(&self, name: &str, recovery_days: u32) -> Result<Deleted>;

    /// Restores a soft-deleted secret; `NotFound` when there is nothing to recover.
    async fn recover_secret(&self, name: &str) -> Result<SecretMeta>;

    /// Irreversibly destroys a secret (live or soft-deleted). `confirm` must name `name`,
    /// otherwise the call fails with `Protected` and nothing happens.
    async fn purge_secret(&self, name: &str, confirm: &Confirm) -> Result<Deleted>;
}

/// Checks a recovery window against the bounds every store accepts.
pub fn check_recovery_days(days: u32) -> Result<()> {
    if !(MIN_RECOVERY_DAYS..=MAX_RECOVERY_DAYS).contains(&days) {
        return Err(crate::Error::invalid_field(
            "recovery_days",
            format!("must be {MIN_RECOVERY_DAYS} to {MAX_RECOVERY_DAYS} days, got {days}"),
        ));
    }
    Ok(())
}
