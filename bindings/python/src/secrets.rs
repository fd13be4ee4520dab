//! `provisio.Secrets`: versioned secrets with soft delete ([`provisio::SecretStore`]). Values go
//! in as `str` or `provisio.Secret` and come out as `provisio.Secret`.

use crate::convert::{self, from_json, opt_from_py};
use crate::runtime::{Output, Task};
use provisio::types::Confirm;
use provisio::{PageRequest, SecretStore, Tags};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// A secret store.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Secrets {
    pub(crate) inner: Arc<dyn SecretStore>,
}

/// The asyncio twin of [`Secrets`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncSecrets {
    pub(crate) inner: Arc<dyn SecretStore>,
}

py_operations! {
    Secrets, AsyncSecrets;
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

    /// Stores `value` as the secret's current version: `{"value": metadata, "outcome": ...}`
    /// (the metadata never holds the value).
    #[pyo3(signature = (name, value, *, tags = None))]
    fn put_secret(this, py, name: String, value: Bound<'_, PyAny>, tags: Option<Bound<'_, PyAny>>) {
        let value = convert::secret_from_py(&value)?;
        let tags: Tags = match tags {
            Some(t) => from_json(py, "tags", opt_from_py(Some(&t))?)?,
            None => Tags::new(),
        };
        let s = this.clone();
        Ok(Task::json(async move { s.put_secret(&name, &value, &tags).await }))
    }

    /// The current version: `{"value": provisio.Secret, "version": str}`; `NotFoundError` when
    /// missing or deleted.
    #[pyo3(signature = (name))]
    fn get_secret(this, py, name: String) {
        let s = this.clone();
        Ok(Task::custom(async move {
            let v = s.get_secret(&name).await?;
            Ok(Box::new(move |py: Python<'_>| {
                let d = PyDict::new(py);
                d.set_item("value", convert::secret_to_py(py, &v.value)?)?;
                d.set_item("version", &v.version)?;
                Ok(d.into_any().unbind())
            }) as Output)
        }))
    }

    /// A secret's metadata (also when soft-deleted), or `None`.
    #[pyo3(signature = (name))]
    fn describe_secret(this, py, name: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.describe_secret(&name).await }))
    }

    /// One page of live secrets whose name starts with `prefix`.
    #[pyo3(signature = (prefix = String::new(), *, token = None, limit = None))]
    fn list_secrets(this, py, prefix: String, token: Option<String>, limit: Option<u32>) {
        let s = this.clone();
        Ok(Task::json(async move { s.list_secrets(&prefix, &PageRequest { token, limit }).await }))
    }

    /// Soft-deletes a secret, recoverable for `recovery_days` (7 to 30).
    #[pyo3(signature = (name, *, recovery_days = 7))]
    fn delete_secret(this, py, name: String, recovery_days: u32) {
        let s = this.clone();
        Ok(Task::json(async move { s.delete_secret(&name, recovery_days).await }))
    }

    /// Restores a soft-deleted secret; returns its metadata.
    #[pyo3(signature = (name))]
    fn recover_secret(this, py, name: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.recover_secret(&name).await }))
    }

    /// Irreversibly destroys a secret; `confirm` must repeat its name (else `ProtectedError`).
    #[pyo3(signature = (name, *, confirm))]
    fn purge_secret(this, py, name: String, confirm: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.purge_secret(&name, &Confirm::named(confirm)).await }))
    }
}
