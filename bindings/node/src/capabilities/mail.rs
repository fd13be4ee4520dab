//! `Mail`: [`provisio::Mail`].

use crate::errors::OrThrow;
use crate::to_js;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;

/// A mail-sending provider: identities.
#[napi]
pub struct Mail {
    pub(crate) inner: Arc<dyn provisio::Mail>,
}

#[napi]
impl Mail {
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
    /// Creates the identity (a domain, or an address with `@`) unless it exists.
    #[napi]
    pub async fn ensure_identity(&self, name: String, tags: Option<Value>) -> napi::Result<Value> {
        let tags = super::tags(tags)?;
        to_js(&self.inner.ensure_identity(&name, &tags).await.or_throw()?)
    }
    /// The identity with its verification status, or `null`.
    #[napi]
    pub async fn get_identity(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.get_identity(&name).await.or_throw()?)
    }
    /// Deletes an identity.
    #[napi]
    pub async fn delete_identity(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.delete_identity(&name).await.or_throw()?)
    }
}
