//! `Database`: [`provisio::Database`].
//!
//! Passwords (`admin_password`, `password`) cross as strings: `index.js` unwraps `Secret`s.

use super::storage::Storage;
use crate::errors::OrThrow;
use crate::{from_js, millis, to_js};
use napi::Env;
use napi::bindgen_prelude::PromiseRaw;
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
    /// Dumps the database into `bucket`/`key` of `storage`, streamed, never through a file:
    /// `{ database, bucket, key, size, sha256, etag }`.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn dump_to_storage<'env>(
        &self,
        env: &'env Env,
        name: String,
        storage: &Storage,
        bucket: String,
        key: String,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let d = self.inner.clone();
        let s = storage.inner.clone();
        env.spawn_future(async move {
            let record =
                provisio::archive::dump_to_storage(d.as_ref(), s.as_ref(), &name, &bucket, &key)
                    .await
                    .or_throw()?;
            to_js(&record)
        })
    }
    /// Restores the database `spec.name`, owned by `spec.owner`, from the dump at
    /// `bucket`/`key` of `storage`, streamed; `expected` (`{ size, sha256 }`, as the dump
    /// recorded) is checked before the restore can commit. A database that exists and holds
    /// data is refused (`Conflict`): `{ database, created, bytes }`.
    #[napi(ts_return_type = "Promise<any>")]
    pub fn restore_from_storage<'env>(
        &self,
        env: &'env Env,
        spec: Value,
        storage: &Storage,
        bucket: String,
        key: String,
        expected: Option<Value>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        let spec: DatabaseSpec = from_js("spec", spec)?;
        let expected: Expected = match expected {
            Some(v) => from_js("expected", v)?,
            None => Expected::default(),
        };
        let expected = provisio::archive::Expected {
            size: expected.size,
            sha256: expected.sha256,
        };
        let d = self.inner.clone();
        let s = storage.inner.clone();
        env.spawn_future(async move {
            let restored = provisio::archive::restore_from_storage(
                d.as_ref(),
                s.as_ref(),
                &spec,
                &bucket,
                &key,
                &expected,
            )
            .await
            .or_throw()?;
            to_js(&restored)
        })
    }
}

/// `{ size, sha256 }` of [`Database::restore_from_storage`].
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expected {
    size: Option<u64>,
    sha256: Option<String>,
}
