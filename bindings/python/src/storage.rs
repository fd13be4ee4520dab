//! `provisio.Storage`: buckets and objects ([`provisio::ObjectStorage`]); object bodies are
//! `bytes`.

use crate::convert::{self, from_json, opt_from_py};
use crate::runtime::{Output, Task};
use provisio::storage::{BucketSpec, StorageClass};
use provisio::{ObjectStorage, PageRequest};
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use serde_json::json;
use std::sync::Arc;

/// An object storage provider.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Storage {
    pub(crate) inner: Arc<dyn ObjectStorage>,
}

/// The asyncio twin of [`Storage`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncStorage {
    pub(crate) inner: Arc<dyn ObjectStorage>,
}

/// The provider inside a `Storage` or `AsyncStorage` handed to another provider's method.
pub(crate) fn inner_of(obj: &Bound<'_, PyAny>) -> PyResult<Arc<dyn ObjectStorage>> {
    if let Ok(s) = obj.cast::<Storage>() {
        return Ok(s.get().inner.clone());
    }
    if let Ok(s) = obj.cast::<AsyncStorage>() {
        return Ok(s.get().inner.clone());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "storage: expected a provisio Storage provider",
    ))
}

py_operations! {
    Storage, AsyncStorage;
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

    /// Creates the bucket or brings its settings to these: `{"value": bucket, "outcome": ...}`.
    #[pyo3(signature = (name, *, versioning = false, archive_after_days = None, block_public_access = true, tags = None))]
    fn ensure_bucket(this, py, name: String, versioning: bool, archive_after_days: Option<u32>, block_public_access: bool, tags: Option<Bound<'_, PyAny>>) {
        let spec: BucketSpec = from_json(py, "bucket", json!({
            "name": name, "versioning": versioning, "archive_after_days": archive_after_days,
            "block_public_access": block_public_access,
            "tags": opt_from_py(tags.as_ref())?.as_object().cloned().unwrap_or_default(),
        }))?;
        let s = this.clone();
        Ok(Task::json(async move { s.ensure_bucket(&spec).await }))
    }

    /// A bucket's settings, or `None`.
    #[pyo3(signature = (name))]
    fn get_bucket(this, py, name: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.get_bucket(&name).await }))
    }

    /// Deletes an empty bucket: `"deleted"` or `"already_gone"` (`ConflictError` when not empty).
    #[pyo3(signature = (name))]
    fn delete_bucket(this, py, name: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.delete_bucket(&name).await }))
    }

    /// Stores an object (`bytes`, or `str` as UTF-8); returns its metadata.
    #[pyo3(signature = (bucket, key, body, *, content_type = None))]
    fn put_object(this, py, bucket: String, key: String, body: Bound<'_, PyAny>, content_type: Option<String>) {
        let (s, body) = (this.clone(), convert::bytes_from_py(&body)?);
        Ok(Task::json(async move { s.put_object(&bucket, &key, body, content_type.as_deref()).await }))
    }

    /// Reads an object: `(body: bytes, metadata)`; `NotFoundError` when missing.
    #[pyo3(signature = (bucket, key))]
    fn get_object(this, py, bucket: String, key: String) {
        let s = this.clone();
        Ok(Task::custom(async move {
            let (body, meta) = s.get_object(&bucket, &key).await?;
            let meta = convert::json(&meta)?;
            Ok(Box::new(move |py: Python<'_>| {
                let t = PyTuple::new(py, [convert::bytes_to_py(py, &body), convert::to_py(py, &meta)?])?;
                Ok(t.into_any().unbind())
            }) as Output)
        }))
    }

    /// An object's metadata, or `None`.
    #[pyo3(signature = (bucket, key))]
    fn head_object(this, py, bucket: String, key: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.head_object(&bucket, &key).await }))
    }

    /// One page of the objects under `prefix`: `{"items": [...], "next": ...}`.
    #[pyo3(signature = (bucket, prefix = String::new(), *, token = None, limit = None))]
    fn list_objects(this, py, bucket: String, prefix: String, token: Option<String>, limit: Option<u32>) {
        let s = this.clone();
        Ok(Task::json(async move { s.list_objects(&bucket, &prefix, &PageRequest { token, limit }).await }))
    }

    /// Deletes an object: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (bucket, key))]
    fn delete_object(this, py, bucket: String, key: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.delete_object(&bucket, &key).await }))
    }

    /// Copies every object under a prefix (skipping identical ones); returns how many were written.
    #[pyo3(signature = (src_bucket, src_prefix, dst_bucket, dst_prefix))]
    fn copy_prefix(this, py, src_bucket: String, src_prefix: String, dst_bucket: String, dst_prefix: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.copy_prefix(&src_bucket, &src_prefix, &dst_bucket, &dst_prefix).await }))
    }

    /// Deletes every object under a prefix; returns how many were deleted.
    #[pyo3(signature = (bucket, prefix))]
    fn delete_prefix(this, py, bucket: String, prefix: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.delete_prefix(&bucket, &prefix).await }))
    }

    /// Moves an object to a storage class (`"standard"`, `"infrequent_access"`, `"archive"`,
    /// `"deep_archive"`, or a provider's spelling such as `"GLACIER"`); returns its metadata.
    /// Out of an archive class it restores first: `TransientError` while the restore runs.
    #[pyo3(signature = (bucket, key, storage_class))]
    fn set_storage_class(this, py, bucket: String, key: String, storage_class: String) {
        let s = this.clone();
        Ok(Task::json(async move {
            let class = StorageClass::parse("storage_class", &storage_class)?;
            s.set_storage_class(&bucket, &key, class).await
        }))
    }

    /// Moves every object under a prefix to a storage class:
    /// `{"changed", "unchanged", "pending"}` (pending: still being restored; call again).
    #[pyo3(signature = (bucket, prefix, storage_class))]
    fn set_prefix_storage_class(this, py, bucket: String, prefix: String, storage_class: String) {
        let s = this.clone();
        Ok(Task::json(async move {
            let class = StorageClass::parse("storage_class", &storage_class)?;
            s.set_prefix_storage_class(&bucket, &prefix, class).await
        }))
    }

    /// Ensures a rule deleting the objects under a prefix `days` days after they were written:
    /// `{"value": {"id", "prefix", "days"}, "outcome": ...}`.
    #[pyo3(signature = (bucket, prefix, days))]
    fn ensure_expiry_rule(this, py, bucket: String, prefix: String, days: u32) {
        let s = this.clone();
        Ok(Task::json(async move { s.ensure_expiry_rule(&bucket, &prefix, days).await }))
    }

    /// The expiry rule of a prefix, or `None`.
    #[pyo3(signature = (bucket, prefix))]
    fn get_expiry_rule(this, py, bucket: String, prefix: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.get_expiry_rule(&bucket, &prefix).await }))
    }

    /// Removes the expiry rule of a prefix (never an object): `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (bucket, prefix))]
    fn delete_expiry_rule(this, py, bucket: String, prefix: String) {
        let s = this.clone();
        Ok(Task::json(async move { s.delete_expiry_rule(&bucket, &prefix).await }))
    }
}
