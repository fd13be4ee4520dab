//! `provisio.Providers`: the providers a run uses, built from a provider configuration in the
//! CLI's format (`provisio-config`: `{"fallback": "memory", "memory": {...}, "providers":
//! {capability: {name: {"kind": ..., settings...}}}}`).

use crate::convert;
use crate::runtime::block_on;
use crate::{ci, compute, database, dns, mail, memory, repo, secrets, storage};
use provisio_config::{Connection, ProviderConfig};
use provisio_memory::MemoryFixtures;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;

/// Every configured provider, by capability and name.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Providers {
    pub(crate) connection: Connection,
}

/// Fixtures given as a path (applied by the configuration) or as data (applied here).
enum FixturesArg {
    Path(PathBuf),
    Data(Box<MemoryFixtures>),
}

fn fixtures_arg(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<FixturesArg> {
    if obj.is_instance_of::<PyString>() || obj.hasattr("__fspath__")? {
        let path: PathBuf = obj.extract()?;
        return Ok(FixturesArg::Path(path));
    }
    Ok(FixturesArg::Data(Box::new(convert::from_json(
        py,
        "memory fixtures",
        convert::from_py(obj)?,
    )?)))
}

pub(crate) fn read_fixtures(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<MemoryFixtures> {
    match fixtures_arg(py, obj)? {
        FixturesArg::Data(f) => Ok(*f),
        FixturesArg::Path(p) => {
            MemoryFixtures::from_path(&p).map_err(|e| crate::errors::to_py(py, &e))
        }
    }
}

fn connect(
    py: Python<'_>,
    config: ProviderConfig,
    fixtures: Option<MemoryFixtures>,
) -> PyResult<Providers> {
    let connection = block_on(py, async move {
        let connection = config.connect().await?;
        if let (Some(f), Some(cloud)) = (fixtures, &connection.memory) {
            cloud.apply_fixtures(&f).await?;
        }
        Ok(connection)
    })?;
    Ok(Providers { connection })
}

#[pymethods]
impl Providers {
    /// Builds the providers of a configuration: a dict in the provider-config format, a path to
    /// a `.toml`/`.yaml`/`.json` provider file, or `None` for memory providers everywhere.
    #[new]
    #[pyo3(signature = (config = None))]
    fn new(py: Python<'_>, config: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        let config = match config {
            None => ProviderConfig::memory(),
            Some(c) if c.is_instance_of::<PyString>() || c.hasattr("__fspath__")? => {
                let path: PathBuf = c.extract()?;
                ProviderConfig::from_file(path).map_err(|e| crate::errors::to_py(py, &e))?
            }
            Some(c) => ProviderConfig::from_value(convert::from_py(&c)?)
                .map_err(|e| crate::errors::to_py(py, &e))?,
        };
        connect(py, config, None)
    }

    /// Memory providers for every capability, seeded with `seed`, holding `fixtures` (a path to
    /// a fixtures file, or the same as a dict) and, with `persist`, kept in that JSON file.
    /// `calls` is the provider file's `[calls]` section as a dict (how direct calls retry and
    /// time out): `{"retry": {"max_attempts": 1}}` turns retries off.
    #[staticmethod]
    #[pyo3(signature = (*, seed = 7, fixtures = None, persist = None, calls = None))]
    fn memory(
        py: Python<'_>,
        seed: u64,
        fixtures: Option<Bound<'_, PyAny>>,
        persist: Option<PathBuf>,
        calls: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut config = ProviderConfig::memory();
        config.memory.seed = seed;
        config.memory.persist = persist;
        if let Some(calls) = calls {
            config.calls = convert::from_json(py, "calls", convert::from_py(&calls)?)?;
        }
        let mut data = None;
        match fixtures.map(|f| fixtures_arg(py, &f)).transpose()? {
            Some(FixturesArg::Path(p)) => config.memory.fixtures = Some(p),
            Some(FixturesArg::Data(f)) => data = Some(*f),
            None => {}
        }
        connect(py, config, data)
    }

    /// The `dns` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn dns(&self, py: Python<'_>, name: &str) -> PyResult<dns::Dns> {
        let inner = self
            .connection
            .providers
            .dns(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(dns::Dns { inner })
    }

    /// The `storage` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn storage(&self, py: Python<'_>, name: &str) -> PyResult<storage::Storage> {
        let inner = self
            .connection
            .providers
            .storage(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(storage::Storage { inner })
    }

    /// The `compute` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn compute(&self, py: Python<'_>, name: &str) -> PyResult<compute::Compute> {
        let inner = self
            .connection
            .providers
            .compute(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(compute::Compute { inner })
    }

    /// The `ci` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn ci(&self, py: Python<'_>, name: &str) -> PyResult<ci::Ci> {
        let inner = self
            .connection
            .providers
            .ci(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(ci::Ci { inner })
    }

    /// The `secrets` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn secrets(&self, py: Python<'_>, name: &str) -> PyResult<secrets::Secrets> {
        let inner = self
            .connection
            .providers
            .secrets(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(secrets::Secrets { inner })
    }

    /// The `database` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn database(&self, py: Python<'_>, name: &str) -> PyResult<database::Database> {
        let inner = self
            .connection
            .providers
            .database(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(database::Database { inner })
    }

    /// The `repo` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn repo(&self, py: Python<'_>, name: &str) -> PyResult<repo::Repo> {
        let inner = self
            .connection
            .providers
            .repo(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(repo::Repo { inner })
    }

    /// The `mail` provider called `name`.
    #[pyo3(signature = (name = "default"))]
    fn mail(&self, py: Python<'_>, name: &str) -> PyResult<mail::Mail> {
        let inner = self
            .connection
            .providers
            .mail(name)
            .map_err(|e| crate::errors::to_py(py, &e))?;
        Ok(mail::Mail { inner })
    }

    /// The memory world behind every `memory` provider (fault injection, inventory), or `None`.
    #[getter]
    fn cloud(&self) -> Option<memory::MemoryCloud> {
        self.connection
            .memory
            .clone()
            .map(|cloud| memory::MemoryCloud { cloud })
    }

    /// `(capability, name, kind)` of every configured provider.
    #[getter]
    fn summary(&self) -> Vec<(&'static str, String, String)> {
        self.connection
            .summary
            .iter()
            .map(|(cap, name, kind)| (cap.as_str(), name.clone(), kind.clone()))
            .collect()
    }

    /// Writes the memory world to its `persist` file (a no-op without one).
    fn save(&self, py: Python<'_>) -> PyResult<()> {
        self.connection
            .save()
            .map_err(|e| crate::errors::to_py(py, &e))
    }

    fn __repr__(&self) -> String {
        let parts: Vec<String> = self
            .connection
            .summary
            .iter()
            .map(|(cap, name, kind)| format!("{}.{name}={kind}", cap.as_str()))
            .collect();
        format!("Providers({})", parts.join(", "))
    }
}
