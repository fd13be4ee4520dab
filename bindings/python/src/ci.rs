//! `provisio.Ci`: folders, jobs, their downstream jobs and builds ([`provisio::CiServer`]).

use crate::convert::{self, from_json};
use crate::runtime::Task;
use provisio::CiServer;
use provisio::ci::BuildRef;
use pyo3::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A CI server.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Ci {
    pub(crate) inner: Arc<dyn CiServer>,
}

/// The asyncio twin of [`Ci`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncCi {
    pub(crate) inner: Arc<dyn CiServer>,
}

py_operations! {
    Ci, AsyncCi;
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

    /// Creates the folder and its parents unless they exist: `{"value": path, "outcome": ...}`.
    #[pyo3(signature = (path))]
    fn ensure_folder(this, py, path: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.ensure_folder(&path).await }))
    }

    /// Creates the job from its config XML or replaces a differing configuration.
    #[pyo3(signature = (path, config_xml))]
    fn ensure_job(this, py, path: String, config_xml: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.ensure_job(&path, &config_xml).await }))
    }

    /// A job's config XML, or `None`.
    #[pyo3(signature = (path))]
    fn get_job_config(this, py, path: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.get_job_config(&path).await }))
    }

    /// The jobs `path` triggers when it finishes, or `None` when the job does not exist.
    #[pyo3(signature = (path))]
    fn downstream_jobs(this, py, path: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.downstream_jobs(&path).await }))
    }

    /// Adds `downstream` to the jobs `path` triggers (idempotent): `{"was_listed", "changed"}`,
    /// or `None` when the job does not exist.
    #[pyo3(signature = (path, downstream))]
    fn add_downstream(this, py, path: String, downstream: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.add_downstream(&path, &downstream).await }))
    }

    /// Removes `downstream` from the jobs `path` triggers (idempotent): `{"was_listed",
    /// "changed"}`, or `None` when the job does not exist.
    #[pyo3(signature = (path, downstream))]
    fn remove_downstream(this, py, path: String, downstream: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.remove_downstream(&path, &downstream).await }))
    }

    /// Deletes a job or folder: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (path))]
    fn delete_job(this, py, path: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.delete_job(&path).await }))
    }

    /// Queues a build and waits for its number: `{"job", "number"}`.
    #[pyo3(signature = (path, parameters = None))]
    fn trigger_build(this, py, path: String, parameters: Option<BTreeMap<String, String>>) {
        let c = this.clone();
        let parameters = parameters.unwrap_or_default();
        Ok(Task::json(async move { c.trigger_build(&path, &parameters).await }))
    }

    /// Waits for a build (`{"job", "number"}`) to finish: `"SUCCESS"`, `"FAILURE"`, ...
    #[pyo3(signature = (build, *, timeout = 600.0))]
    fn wait_for_build(this, py, build: Bound<'_, PyAny>, timeout: f64) {
        let build: BuildRef = from_json(py, "build", convert::from_py(&build)?)?;
        let timeout = convert::seconds(py, "timeout", timeout)?;
        let c = this.clone();
        Ok(Task::json(async move { c.wait_for_build(&build, timeout).await }))
    }
}
