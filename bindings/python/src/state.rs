//! `provisio.StateStore`: where the engine keeps state, journal and leases: in memory, in a
//! SQLite file, or in PostgreSQL.

use crate::errors;
use crate::runtime::block_on;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::state::postgres::PostgresStateStore;
use provisio_engine::state::sqlite::SqliteStateStore;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;
use std::sync::Arc;

/// A state store.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct StateStore {
    pub(crate) inner: Arc<dyn provisio_engine::StateStore>,
    kind: String,
}

impl StateStore {
    /// `"memory"`, a `postgres://` / `postgresql://` URL, or a SQLite file path (as the CLI's
    /// `--state`).
    pub(crate) fn open(py: Python<'_>, spec: &str) -> PyResult<Self> {
        if spec == "memory" || spec == ":memory:" {
            return Ok(Self::memory());
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            return Self::postgres(py, spec.to_string());
        }
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        Self::sqlite(py, PathBuf::from(path))
    }

    /// A store from a Python argument: a `StateStore`, a spec string or path, or `None`
    /// (memory).
    pub(crate) fn from_arg(
        py: Python<'_>,
        arg: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Arc<dyn provisio_engine::StateStore>> {
        let Some(arg) = arg else {
            return Ok(Arc::new(MemoryStateStore::new()));
        };
        if let Ok(store) = arg.cast::<StateStore>() {
            return Ok(store.get().inner.clone());
        }
        if arg.is_instance_of::<PyString>() {
            return Ok(Self::open(py, &arg.extract::<String>()?)?.inner);
        }
        let path: PathBuf = arg.extract()?;
        Ok(Self::sqlite(py, path)?.inner)
    }
}

#[pymethods]
impl StateStore {
    /// In this process's memory (tests; state ends with the process).
    #[staticmethod]
    fn memory() -> Self {
        StateStore {
            inner: Arc::new(MemoryStateStore::new()),
            kind: "memory".into(),
        }
    }

    /// A SQLite file (created with its directory when missing): the embedded default.
    #[staticmethod]
    fn sqlite(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                errors::to_py(
                    py,
                    &provisio::Error::invalid_input(format!(
                        "cannot create {}: {e}",
                        dir.display()
                    )),
                )
            })?;
        }
        let kind = format!("sqlite:{}", path.display());
        let store = block_on(py, async move { SqliteStateStore::open(path).await })?;
        Ok(StateStore {
            inner: Arc::new(store),
            kind,
        })
    }

    /// PostgreSQL, for many workers on many machines (`postgres://user@host/db`).
    #[staticmethod]
    fn postgres(py: Python<'_>, url: String) -> PyResult<Self> {
        let store = block_on(py, async move { PostgresStateStore::connect(&url).await })?;
        Ok(StateStore {
            inner: Arc::new(store),
            kind: "postgres".into(),
        })
    }

    /// Opens a store from a spec: `"memory"`, a PostgreSQL URL, or a SQLite path.
    #[staticmethod]
    #[pyo3(name = "open")]
    fn open_py(py: Python<'_>, spec: &str) -> PyResult<Self> {
        Self::open(py, spec)
    }

    fn __repr__(&self) -> String {
        format!("StateStore({})", self.kind)
    }
}
