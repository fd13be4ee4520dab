//! `provisio.MemoryCloud` and `provisio.Faults`: the memory providers' world, its fault
//! injection and its inventory as plain Python data.

use crate::convert;
use crate::errors;
use crate::runtime::block_on;
use crate::{ci, compute, database, dns, mail, repo, secrets, storage};
use provisio::{ErrorKind, Quota};
use pyo3::prelude::*;
use std::path::PathBuf;

/// The memory world.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct MemoryCloud {
    pub(crate) cloud: provisio_memory::MemoryCloud,
}

/// Fault injection settings and call accounting shared by every memory provider of a world.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Faults {
    faults: provisio_memory::Faults,
}

fn kind(py: Python<'_>, kind: &str, retry_after: Option<f64>) -> PyResult<ErrorKind> {
    let ms = retry_after.map(|s| (s * 1000.0).round() as u64);
    convert::from_json(
        py,
        "error kind",
        serde_json::json!({ "kind": kind, "retry_after": ms }),
    )
}

#[pymethods]
impl MemoryCloud {
    /// A new, empty world seeded with `seed`.
    #[new]
    #[pyo3(signature = (seed = 7))]
    fn new(seed: u64) -> Self {
        MemoryCloud {
            cloud: provisio_memory::MemoryCloud::new(seed),
        }
    }

    /// The world's fault injection.
    #[getter]
    fn faults(&self) -> Faults {
        Faults {
            faults: self.cloud.faults.clone(),
        }
    }

    /// Every live resource: `{kind: {id: detail}}` (secret values show as fingerprints).
    fn inventory(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&self.cloud.inventory().kinds).map_err(|e| errors::to_py(py, &e))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }

    /// What deletes left behind (soft-deleted secrets, terminated instances, final snapshots),
    /// in the same shape as `inventory()`.
    fn retired(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&self.cloud.retired().kinds).map_err(|e| errors::to_py(py, &e))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }

    /// Ensures the fixtures (a path to a YAML/JSON/TOML fixtures file, or a dict) exist.
    fn apply_fixtures(&self, py: Python<'_>, fixtures: Bound<'_, PyAny>) -> PyResult<()> {
        let fixtures = crate::providers::read_fixtures(py, &fixtures)?;
        let cloud = self.cloud.clone();
        block_on(py, async move { cloud.apply_fixtures(&fixtures).await })
    }

    /// Writes the world to a JSON file (mode 0600: it holds secret values).
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        self.cloud.save(path).map_err(|e| errors::to_py(py, &e))
    }

    /// The world's seed.
    #[getter]
    fn seed(&self) -> u64 {
        self.cloud.faults.seed()
    }

    /// The memory DNS provider.
    #[getter]
    fn dns(&self) -> dns::Dns {
        dns::Dns {
            inner: self.cloud.dns.clone(),
        }
    }
    /// The memory object storage.
    #[getter]
    fn storage(&self) -> storage::Storage {
        storage::Storage {
            inner: self.cloud.storage.clone(),
        }
    }
    /// The memory compute provider.
    #[getter]
    fn compute(&self) -> compute::Compute {
        compute::Compute {
            inner: self.cloud.compute.clone(),
        }
    }
    /// The memory CI server.
    #[getter]
    fn ci(&self) -> ci::Ci {
        ci::Ci {
            inner: self.cloud.ci.clone(),
        }
    }
    /// The memory secret store.
    #[getter]
    fn secrets(&self) -> secrets::Secrets {
        secrets::Secrets {
            inner: self.cloud.secrets.clone(),
        }
    }
    /// The memory database provider.
    #[getter]
    fn database(&self) -> database::Database {
        database::Database {
            inner: self.cloud.database.clone(),
        }
    }
    /// The memory repository.
    #[getter]
    fn repo(&self) -> repo::Repo {
        repo::Repo {
            inner: self.cloud.repo.clone(),
        }
    }
    /// The memory mail provider.
    #[getter]
    fn mail(&self) -> mail::Mail {
        mail::Mail {
            inner: self.cloud.mail.clone(),
        }
    }
}

#[pymethods]
impl Faults {
    /// Fails each call of the matching operations (`dns.ensure_record`, `dns.*`, `*`) with
    /// probability `rate`, before it has any effect.
    #[pyo3(signature = (operation, rate, kind = "transient", *, retry_after = None))]
    fn error_rate(
        &self,
        py: Python<'_>,
        operation: &str,
        rate: f64,
        kind: &str,
        retry_after: Option<f64>,
    ) -> PyResult<()> {
        self.faults
            .error_rate(operation, rate, self::kind(py, kind, retry_after)?);
        Ok(())
    }

    /// Fails the `n`-th call (from 1) of each matching operation, before it has any effect.
    #[pyo3(signature = (operation, n, kind = "transient", *, retry_after = None))]
    fn error_on_call(
        &self,
        py: Python<'_>,
        operation: &str,
        n: u64,
        kind: &str,
        retry_after: Option<f64>,
    ) -> PyResult<()> {
        self.faults
            .error_on_call(operation, n, self::kind(py, kind, retry_after)?);
        Ok(())
    }

    /// Lets the `n`-th call take effect, then fails it (a lost response).
    #[pyo3(signature = (operation, n, kind = "transient", *, retry_after = None))]
    fn error_after_effect(
        &self,
        py: Python<'_>,
        operation: &str,
        n: u64,
        kind: &str,
        retry_after: Option<f64>,
    ) -> PyResult<()> {
        self.faults
            .error_after_effect(operation, n, self::kind(py, kind, retry_after)?);
        Ok(())
    }

    /// Like `error_after_effect`, for each call with probability `rate`.
    #[pyo3(signature = (operation, rate, kind = "transient", *, retry_after = None))]
    fn error_rate_after_effect(
        &self,
        py: Python<'_>,
        operation: &str,
        rate: f64,
        kind: &str,
        retry_after: Option<f64>,
    ) -> PyResult<()> {
        self.faults
            .error_rate_after_effect(operation, rate, self::kind(py, kind, retry_after)?);
        Ok(())
    }

    /// Delays every matching call by `seconds`, or by a seeded uniform delay up to `max_seconds`.
    #[pyo3(signature = (operation, seconds, max_seconds = None))]
    fn latency(
        &self,
        py: Python<'_>,
        operation: &str,
        seconds: f64,
        max_seconds: Option<f64>,
    ) -> PyResult<()> {
        let min = convert::seconds(py, "seconds", seconds)?;
        let max = convert::seconds(py, "max_seconds", max_seconds.unwrap_or(seconds))?;
        self.faults.latency_between(operation, min, max);
        Ok(())
    }

    /// At most `requests` calls per `per_seconds` window on provider account `account`
    /// (see a provider's `info()["account"]`, e.g. `"memory-dns"`); calls over it fail with
    /// `RateLimitedError`.
    #[pyo3(signature = (account, requests, per_seconds))]
    fn rate_limit(
        &self,
        py: Python<'_>,
        account: &str,
        requests: u32,
        per_seconds: f64,
    ) -> PyResult<()> {
        let per = convert::seconds(py, "per_seconds", per_seconds)?;
        // Undeclared: the providers do not announce it, so the client does not pace for it
        // and calls over it fail, as documented above.
        self.faults
            .undeclared_rate_limit(account, Quota::new(requests, per));
        Ok(())
    }

    /// Removes every error, latency and quota rule (counters and the log stay).
    fn clear(&self) {
        self.faults.clear();
    }

    /// Resets the call counters and the log (rules stay).
    fn reset_counters(&self) {
        self.faults.reset_counters();
    }

    /// How many calls matched `operation` (a name, `cap.*` or `*`).
    #[pyo3(signature = (operation = "*"))]
    fn calls(&self, operation: &str) -> u64 {
        self.faults.calls(operation)
    }

    /// How many calls matching `operation` changed state.
    #[pyo3(signature = (operation = "*"))]
    fn mutations(&self, operation: &str) -> u64 {
        self.faults.mutations(operation)
    }

    /// Every call so far: `[{"operation", "call", "account", "resource", "outcome": {...}}]`.
    fn call_log(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&self.faults.call_log()).map_err(|e| errors::to_py(py, &e))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }

    /// The calls that got an injected error, sorted by operation and call index.
    fn injected(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let v = convert::json(&self.faults.injected()).map_err(|e| errors::to_py(py, &e))?;
        Ok(convert::to_py(py, &v)?.unbind())
    }
}
