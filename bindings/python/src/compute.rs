//! `provisio.Compute`: instances ([`provisio::Compute`]).

use crate::convert::{self, from_json, opt_from_py};
use crate::runtime::Task;
use provisio::compute::{InstanceSpec, InstanceState};
use provisio::{Compute as ComputeTrait, Tags};
use pyo3::prelude::*;
use serde_json::json;
use std::sync::Arc;

/// A compute provider.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Compute {
    pub(crate) inner: Arc<dyn ComputeTrait>,
}

/// The asyncio twin of [`Compute`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncCompute {
    pub(crate) inner: Arc<dyn ComputeTrait>,
}

py_operations! {
    Compute, AsyncCompute;
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

    /// Launches an instance unless one with the same name and tags lives:
    /// `{"value": instance, "outcome": ...}`.
    #[pyo3(signature = (name, image, size, idempotency_key, *, tags = None, user_data = None))]
    fn launch_instance(this, py, name: String, image: String, size: String, idempotency_key: String, tags: Option<Bound<'_, PyAny>>, user_data: Option<String>) {
        let spec: InstanceSpec = from_json(py, "instance", json!({
            "name": name, "image": image, "size": size, "idempotency_key": idempotency_key,
            "tags": opt_from_py(tags.as_ref())?.as_object().cloned().unwrap_or_default(),
            "user_data": user_data,
        }))?;
        let c = this.clone();
        Ok(Task::json(async move { c.launch_instance(&spec).await }))
    }

    /// An instance by id, or `None`.
    #[pyo3(signature = (id))]
    fn get_instance(this, py, id: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.get_instance(&id).await }))
    }

    /// The live instances carrying every one of `tags`.
    #[pyo3(signature = (tags))]
    fn find_instances(this, py, tags: Bound<'_, PyAny>) {
        let tags: Tags = from_json(py, "tags", convert::from_py(&tags)?)?;
        let c = this.clone();
        Ok(Task::json(async move { c.find_instances(&tags).await }))
    }

    /// Waits until the instance is in `state` (`"running"`, `"stopped"`, ...); `ProvisioTimeoutError`
    /// after `timeout` seconds.
    #[pyo3(signature = (id, state, *, timeout = 300.0))]
    fn wait_for_state(this, py, id: String, state: String, timeout: f64) {
        let state: InstanceState = from_json(py, "state", json!(state))?;
        let timeout = convert::seconds(py, "timeout", timeout)?;
        let c = this.clone();
        Ok(Task::json(async move { c.wait_for_state(&id, state, timeout).await }))
    }

    /// Terminates an instance: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (id))]
    fn terminate_instance(this, py, id: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.terminate_instance(&id).await }))
    }

    /// Asks for the instance to stop and returns it as read after the request (`"stopping"`,
    /// or `"stopped"` when it was); follow with `wait_for_state(id, "stopped")`.
    /// `NotFoundError` for an unknown id, `ConflictError` for a terminated one,
    /// `UnsupportedError` where `capabilities()["stop_start"]` is false.
    #[pyo3(signature = (id))]
    fn stop_instance(this, py, id: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.stop_instance(&id).await }))
    }

    /// Asks for a stopped instance to start and returns it (`"pending"`, or `"running"` when
    /// it was); follow with `wait_for_state(id, "running")`. Errors as for `stop_instance`.
    #[pyo3(signature = (id))]
    fn start_instance(this, py, id: String) {
        let c = this.clone();
        Ok(Task::json(async move { c.start_instance(&id).await }))
    }
}
