//! `provisio.Database`: managed servers, roles, databases and seeds ([`provisio::Database`]).

use crate::convert::{self, from_json, opt_from_py};
use crate::runtime::Task;
use provisio::database::{DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, ServerSpec};
use provisio::types::Confirm;
use provisio::{Database as DatabaseTrait, Tags};
use pyo3::prelude::*;
use std::sync::Arc;

/// A database provider.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Database {
    pub(crate) inner: Arc<dyn DatabaseTrait>,
}

/// The asyncio twin of [`Database`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncDatabase {
    pub(crate) inner: Arc<dyn DatabaseTrait>,
}

py_operations! {
    Database, AsyncDatabase;
    common {
        /// Who this provider is: `{"name", "account", "quota"}`.
        fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            Ok(convert::to_py(py, &serde_json::to_value(self.inner.info()).unwrap_or_default())?.unbind())
        }
        /// What this provider supports.
        fn capabilities(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            Ok(convert::to_py(py, &serde_json::to_value(self.inner.capabilities()).unwrap_or_default())?.unbind())
        }
    }

    /// Creates a managed server or brings its settings to these.
    #[pyo3(signature = (name, *, engine, version, size, storage_gb, admin_user, admin_password, deletion_protection = true, tags = None))]
    fn ensure_server(this, py, name: String, engine: String, version: String, size: String, storage_gb: u32, admin_user: String, admin_password: Bound<'_, PyAny>, deletion_protection: bool, tags: Option<Bound<'_, PyAny>>) {
        let tags: Tags = match tags {
            Some(t) => from_json(py, "tags", opt_from_py(Some(&t))?)?,
            None => Tags::new(),
        };
        let spec = ServerSpec {
            name, engine, version, size, storage_gb, admin_user,
            admin_password: convert::secret_from_py(&admin_password)?,
            deletion_protection, tags,
            // not exposed here yet: a server restored from a snapshot is the engine's job
            restore_from_snapshot: None,
        };
        let d = this.clone();
        Ok(Task::json(async move { d.ensure_server(&spec).await }))
    }

    /// A managed server, or `None`.
    #[pyo3(signature = (name))]
    fn get_server(this, py, name: String) {
        let d = this.clone();
        Ok(Task::json(async move { d.get_server(&name).await }))
    }

    /// Waits until the server is `available`.
    #[pyo3(signature = (name, *, timeout = 1800.0))]
    fn wait_for_server(this, py, name: String, timeout: f64) {
        let timeout = convert::seconds(py, "timeout", timeout)?;
        let d = this.clone();
        Ok(Task::json(async move { d.wait_for_server(&name, timeout).await }))
    }

    /// Deletes a managed server (a final snapshot unless `skip_final_snapshot`; a protected
    /// server only when `override_protection` names it).
    #[pyo3(signature = (name, *, final_snapshot = None, skip_final_snapshot = false, override_protection = None))]
    fn delete_server(this, py, name: String, final_snapshot: Option<String>, skip_final_snapshot: bool, override_protection: Option<String>) {
        let options = DeleteServer {
            final_snapshot,
            skip_final_snapshot,
            override_protection: override_protection.map(Confirm::named),
        };
        let d = this.clone();
        Ok(Task::json(async move { d.delete_server(&name, &options).await }))
    }

    /// Creates the role with a login password, or sets the password.
    #[pyo3(signature = (name, password))]
    fn ensure_role(this, py, name: String, password: Bound<'_, PyAny>) {
        let spec = RoleSpec { name, password: convert::secret_from_py(&password)? };
        let d = this.clone();
        Ok(Task::json(async move { d.ensure_role(&spec).await }))
    }

    /// Creates the database owned by `owner`, or changes its owner.
    #[pyo3(signature = (name, owner))]
    fn ensure_database(this, py, name: String, owner: String) {
        let spec: DatabaseSpec = from_json(py, "database", serde_json::json!({"name": name, "owner": owner}))?;
        let d = this.clone();
        Ok(Task::json(async move { d.ensure_database(&spec).await }))
    }

    /// Applies seed SQL once per `id` (a different SQL under the same id is a `ConflictError`).
    #[pyo3(signature = (database, id, sql))]
    fn apply_seed(this, py, database: String, id: String, sql: String) {
        let spec = SeedSpec { database, id, sql };
        let d = this.clone();
        Ok(Task::json(async move { d.apply_seed(&spec).await }))
    }

    /// Whether a database exists.
    #[pyo3(signature = (name))]
    fn database_exists(this, py, name: String) {
        let d = this.clone();
        Ok(Task::json(async move { d.database_exists(&name).await }))
    }

    /// Whether a role exists.
    #[pyo3(signature = (name))]
    fn role_exists(this, py, name: String) {
        let d = this.clone();
        Ok(Task::json(async move { d.role_exists(&name).await }))
    }

    /// Drops a database; `confirm` must repeat its name.
    #[pyo3(signature = (name, *, confirm))]
    fn drop_database(this, py, name: String, confirm: String) {
        let d = this.clone();
        Ok(Task::json(async move { d.drop_database(&name, &Confirm::named(confirm)).await }))
    }

    /// Drops a role; `confirm` must repeat its name.
    #[pyo3(signature = (name, *, confirm))]
    fn drop_role(this, py, name: String, confirm: String) {
        let d = this.clone();
        Ok(Task::json(async move { d.drop_role(&name, &Confirm::named(confirm)).await }))
    }

    /// Dumps the database into `bucket`/`key` of `storage` (a `Storage`), streamed, never
    /// through a file (`provisio::archive::dump_to_storage`): `{database, bucket, key, size,
    /// sha256, etag}`.
    #[pyo3(signature = (name, *, storage, bucket, key))]
    fn dump_to_storage(this, py, name: String, storage: Bound<'_, PyAny>, bucket: String, key: String) {
        let s = crate::storage::inner_of(&storage)?;
        let d = this.clone();
        Ok(Task::json(async move {
            provisio::archive::dump_to_storage(d.as_ref(), s.as_ref(), &name, &bucket, &key).await
        }))
    }

    /// Restores the database `name`, owned by `owner`, from the dump at `bucket`/`key` of
    /// `storage`, streamed (`provisio::archive::restore_from_storage`); `size` and `sha256`,
    /// when given, are checked before the restore can commit. A database that exists and
    /// holds data is refused (`ConflictError`): a restore never overwrites a live database.
    /// `{database, created, bytes}`.
    #[pyo3(signature = (name, *, owner, storage, bucket, key, size = None, sha256 = None))]
    fn restore_from_storage(this, py, name: String, owner: String, storage: Bound<'_, PyAny>, bucket: String, key: String, size: Option<u64>, sha256: Option<String>) {
        let s = crate::storage::inner_of(&storage)?;
        let d = this.clone();
        let spec = DatabaseSpec { name, owner };
        let expected = provisio::archive::Expected { size, sha256 };
        Ok(Task::json(async move {
            provisio::archive::restore_from_storage(d.as_ref(), s.as_ref(), &spec, &bucket, &key, &expected).await
        }))
    }
}
