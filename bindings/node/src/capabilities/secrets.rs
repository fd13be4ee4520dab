//! `Secrets`: [`provisio::SecretStore`].
//!
//! Values cross as strings: `index.js` unwraps a `Secret` before [`Secrets::put_secret`] and
//! wraps the value [`Secrets::get_secret`] returns in a `Secret`, so JavaScript only ever
//! holds secret values inside the redacting class.

use crate::errors::OrThrow;
use crate::to_js;
use napi_derive::napi;
use provisio::{Confirm, SecretStore, SecretString};
use serde_json::Value;
use std::sync::Arc;

/// A secret's value and version (the JS wrapper turns `value` into a `Secret`).
#[napi(object)]
pub struct RevealedSecret {
    /// The value.
    pub value: String,
    /// The version id.
    pub version: String,
}

/// A secret store: versioned secrets with soft delete.
#[napi]
pub struct Secrets {
    pub(crate) inner: Arc<dyn SecretStore>,
}

#[napi]
impl Secrets {
    /// Who the provider is.
    #[napi]
    pub fn info(&self) -> napi::Result<Value> {
        to_js(&self.inner.info())
    }
    /// What the provider supports.
    #[napi]
    pub fn capabilities(&self) -> napi::Result<Value> {
        to_js(&self.inner.capabilities())
    }
    /// Stores `value` as the current version: `{ value: meta, outcome }`.
    #[napi]
    pub async fn put_secret(
        &self,
        name: String,
        value: String,
        tags: Option<Value>,
    ) -> napi::Result<Value> {
        let tags = super::tags(tags)?;
        let value = SecretString::from(value);
        to_js(
            &self
                .inner
                .put_secret(&name, &value, &tags)
                .await
                .or_throw()?,
        )
    }
    /// The current version's value.
    #[napi]
    pub async fn get_secret(&self, name: String) -> napi::Result<RevealedSecret> {
        let v = self.inner.get_secret(&name).await.or_throw()?;
        Ok(RevealedSecret {
            value: v.value.expose().to_string(),
            version: v.version,
        })
    }
    /// The secret's metadata (also when soft-deleted), or `null`.
    #[napi]
    pub async fn describe_secret(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.describe_secret(&name).await.or_throw()?)
    }
    /// One page of live secrets whose name starts with `prefix`.
    #[napi]
    pub async fn list_secrets(&self, prefix: String, page: Option<Value>) -> napi::Result<Value> {
        let page = super::page(page)?;
        to_js(&self.inner.list_secrets(&prefix, &page).await.or_throw()?)
    }
    /// Soft-deletes the secret for `recovery_days` (7 to 30).
    #[napi]
    pub async fn delete_secret(&self, name: String, recovery_days: u32) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .delete_secret(&name, recovery_days)
                .await
                .or_throw()?,
        )
    }
    /// Restores a soft-deleted secret.
    #[napi]
    pub async fn recover_secret(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.recover_secret(&name).await.or_throw()?)
    }
    /// Irreversibly destroys a secret; `confirm` must be its name.
    #[napi]
    pub async fn purge_secret(&self, name: String, confirm: String) -> napi::Result<Value> {
        let confirm = Confirm::named(confirm);
        to_js(&self.inner.purge_secret(&name, &confirm).await.or_throw()?)
    }
}
