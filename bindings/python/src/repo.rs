//! `provisio.Repo`: branches and commits ([`provisio::Repository`]); file contents are `bytes`
//! (or `str`, written as UTF-8).

use crate::convert::{self, from_json};
use crate::runtime::{Output, Task};
use provisio::repo::{Author, CommitSpec};
use provisio::{Bytes, Repository};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A git repository.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Repo {
    pub(crate) inner: Arc<dyn Repository>,
}

/// The asyncio twin of [`Repo`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncRepo {
    pub(crate) inner: Arc<dyn Repository>,
}

py_operations! {
    Repo, AsyncRepo;
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

    /// Creates branch `name` at the head of `base` unless it exists.
    #[pyo3(signature = (name, base = "main".to_string()))]
    fn ensure_branch(this, py, name: String, base: String) {
        let r = this.clone();
        Ok(Task::json(async move { r.ensure_branch(&name, &base).await }))
    }

    /// A branch `{"name", "head"}`, or `None`.
    #[pyo3(signature = (name))]
    fn get_branch(this, py, name: String) {
        let r = this.clone();
        Ok(Task::json(async move { r.get_branch(&name).await }))
    }

    /// A file at a branch's head as `bytes`, or `None`.
    #[pyo3(signature = (branch, path))]
    fn read_file(this, py, branch: String, path: String) {
        let r = this.clone();
        Ok(Task::custom(async move {
            let body = r.read_file(&branch, &path).await?;
            Ok(Box::new(move |py: Python<'_>| {
                Ok(match body {
                    Some(b) => convert::bytes_to_py(py, &b).unbind(),
                    None => py.None(),
                })
            }) as Output)
        }))
    }

    /// Writes `files` (path -> bytes or str) as one commit; `unchanged` when nothing differs.
    #[pyo3(signature = (branch, files, *, message, author_name = "provisio".to_string(), author_email = "provisio@localhost".to_string()))]
    fn write_files(this, py, branch: String, files: Bound<'_, PyDict>, message: String, author_name: String, author_email: String) {
        let mut contents = BTreeMap::<String, Bytes>::new();
        for (k, v) in files.iter() {
            contents.insert(k.extract::<String>()?, convert::bytes_from_py(&v)?);
        }
        let author: Author = from_json(py, "author", serde_json::json!({"name": author_name, "email": author_email}))?;
        let spec = CommitSpec { branch, files: contents, message, author };
        let r = this.clone();
        Ok(Task::json(async move { r.write_files(&spec).await }))
    }

    /// Deletes a branch: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (name))]
    fn delete_branch(this, py, name: String) {
        let r = this.clone();
        Ok(Task::json(async move { r.delete_branch(&name).await }))
    }
}
