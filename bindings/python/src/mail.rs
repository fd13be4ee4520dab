//! `provisio.Mail`: sending identities ([`provisio::Mail`]).

use crate::convert::{self, from_json, opt_from_py};
use crate::runtime::Task;
use provisio::{Mail as MailTrait, Tags};
use pyo3::prelude::*;
use std::sync::Arc;

/// A mail-sending provider.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Mail {
    pub(crate) inner: Arc<dyn MailTrait>,
}

/// The asyncio twin of [`Mail`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncMail {
    pub(crate) inner: Arc<dyn MailTrait>,
}

py_operations! {
    Mail, AsyncMail;
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

    /// Creates a sending identity (a domain, or an address with `@`) unless it exists.
    #[pyo3(signature = (name, *, tags = None))]
    fn ensure_identity(this, py, name: String, tags: Option<Bound<'_, PyAny>>) {
        let tags: Tags = match tags {
            Some(t) => from_json(py, "tags", opt_from_py(Some(&t))?)?,
            None => Tags::new(),
        };
        let m = this.clone();
        Ok(Task::json(async move { m.ensure_identity(&name, &tags).await }))
    }

    /// An identity with its verification status, or `None`.
    #[pyo3(signature = (name))]
    fn get_identity(this, py, name: String) {
        let m = this.clone();
        Ok(Task::json(async move { m.get_identity(&name).await }))
    }

    /// Deletes an identity: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (name))]
    fn delete_identity(this, py, name: String) {
        let m = this.clone();
        Ok(Task::json(async move { m.delete_identity(&name).await }))
    }
}
