//! `Database`: [`provisio::Database`].
//!
//! Passwords (`admin_password`, `password`) cross as strings: `index.js` unwraps `Secret`s.

use crate::errors::OrThrow;
use crate::{from_js, millis, to_js};
use napi_derive::napi;
use provisio::Confirm;
use provisio::database::{DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, ServerSpec};
use serde_json::Value;
use std::sync::Arc;

/// A database provider: managed servers, roles, databases, seeds.
#[napi]
pub struct Database {
    pub(crate) inner: Arc<dyn provisio::Database>,
}

#[napi]
impl Database {
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
    /// Creates a managed server or brings its settings to `spec`.
    #[napi]
    pub async fn ensure_server(&self, spec: Value) -> napi::Result<Value> {
        let spec: ServerSpec = from_js("server spec", spec)?;
        to_js(&self.inner.ensure_server(&spec).await.or_throw()?)
    }
    /// The managed server, or `null`.
    #[napi]
    pub async fn get_server(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.get_server(&name).await.or_throw()?)
    }
    /// Waits until the server is `available`.
    #[napi]
    pub async fn wait_for_server(&self, name: String, timeout_ms: f64) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .wait_for_server(&name, millis(timeout_ms))
                .await
                .or_throw()?,
        )
    }
    /// Deletes a managed server (`options`: `{ final_snapshot, skip_final_snapshot,
    /// override_protection }`).
    #[napi]
    pub async fn delete_server(&self, name: String, options: Option<Value>) -> napi::Result<Value> {
        // Fields left out keep their defaults (keep a final snapshot, no override).
        let mut merged = to_js(&DeleteServer::default())?;
        if let (Some(Value::Object(given)), Some(base)) = (options, merged.as_object_mut()) {
            base.extend(given);
        }
        let options: DeleteServer = from_js("delete options", merged)?;
        to_js(&self.inner.delete_server(&name, &options).await.or_throw()?)
    }
    /// Creates the role or sets its password.
    #[napi]
    pub async fn ensure_role(&self, spec: Value) -> napi::Result<Value> {
        let spec: RoleSpec = from_js("role spec", spec)?;
        to_js(&self.inner.ensure_role(&spec).await.or_throw()?)
    }
    /// Creates the database owned by a role, or changes its owner.
    #[napi]
    pub async fn ensure_database(&self, spec: Value) -> napi::Result<Value> {
        let spec: DatabaseSpec = from_js("database spec", spec)?;
        to_js(&self.inner.ensure_database(&spec).await.or_throw()?)
    }
    /// Applies seed SQL once (by id and checksum).
    #[napi]
    pub async fn apply_seed(&self, spec: Value) -> napi::Result<Value> {
        let spec: SeedSpec = from_js("seed spec", spec)?;
        to_js(&self.inner.apply_seed(&spec).await.or_throw()?)
    }
    /// Whether a database exists.
    #[napi]
    pub async fn database_exists(&self, name: String) -> napi::Result<bool> {
        self.inner.database_exists(&name).await.or_throw()
    }
    /// Whether a role exists.
    #[napi]
    pub async fn role_exists(&self, name: String) -> napi::Result<bool> {
        self.inner.role_exists(&name).await.or_throw()
    }
    /// Drops a database; `confirm` must be its name.
    #[napi]
    pub async fn drop_database(&self, name: String, confirm: String) -> napi::Result<Value> {
        let confirm = Confirm::named(confirm);
        to_js(&self.inner.drop_database(&name, &confirm).await.or_throw()?)
    }
    /// Drops a role; `confirm` must be its name.
    #[napi]
    pub async fn drop_role(&self, name: String, confirm: String) -> napi::Result<Value> {
        let confirm = Confirm::named(confirm);
        to_js(&self.inner.drop_role(&name, &confirm).await.or_throw()?)
    }
}
