//! The native half of the `provisio` Python package (`provisio._native`), built with pyo3 and
//! maturin. It is thin (DESIGN.md section 6): one file per core concept, plus `errors.rs`;
//! plain Python data crosses the boundary as JSON-shaped values (`convert.rs`), so the core's
//! serde types need no hand-written Python class each.
//!
//! The Python-facing documentation is `docs/python.md`; the typed API is
//! `python/provisio/_native.pyi`.
// pyo3's generated code trips this lint on `PyResult` returns.
#![allow(clippy::useless_conversion)]
// Python keyword-argument signatures mirror the core specs field by field.
#![allow(clippy::too_many_arguments)]

/// Defines a capability's synchronous class and its asyncio twin from one list of operations.
///
/// Every operation body builds a [`runtime::Task`]; the synchronous method waits for it with the
/// GIL released, the asynchronous one returns a coroutine. `common` methods (no I/O) are copied
/// into both classes.
macro_rules! py_operations {
    (
        $sync:ident, $async_:ident;
        common { $($common:tt)* }
        $(
            $(#[doc = $doc:literal])*
            #[pyo3(signature = $sig:tt)]
            fn $name:ident($this:ident, $py:ident $(, $arg:ident : $ty:ty)* $(,)?) $body:block
        )*
    ) => {
        #[pymethods]
        impl $sync {
            $($common)*

            /// The asyncio twin of this provider (same provider, `async` methods).
            #[getter]
            fn aio(&self) -> $async_ {
                $async_ { inner: self.inner.clone() }
            }

            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                fn $name(&self, $py: Python<'_>, $($arg: $ty),*) -> PyResult<Py<PyAny>> {
                    let $this = &self.inner;
                    let task: $crate::runtime::Task = $crate::runtime::build(|| -> PyResult<$crate::runtime::Task> { $body })?;
                    task.wait($py)
                }
            )*
        }

        #[pymethods]
        impl $async_ {
            $($common)*

            $(
                $(#[doc = $doc])*
                #[pyo3(signature = $sig)]
                fn $name<'py>(&self, $py: Python<'py>, $($arg: $ty),*) -> PyResult<Bound<'py, PyAny>> {
                    let $this = &self.inner;
                    let task: $crate::runtime::Task = $crate::runtime::build(|| -> PyResult<$crate::runtime::Task> { $body })?;
                    task.into_coroutine($py, None)
                }
            )*
        }
    };
}

mod ci;
mod compute;
mod convert;
mod database;
mod dns;
mod engine;
mod errors;
mod events;
mod logging;
mod mail;
mod memory;
mod providers;
mod repo;
mod runtime;
mod secrets;
mod state;
mod steps;
mod storage;

use pyo3::prelude::*;

/// Every provider kind this build can construct (`memory`, `git`, `postgres`, ...).
#[pyfunction]
fn kinds() -> Vec<&'static str> {
    provisio_config::ProviderConfig::kinds().to_vec()
}

/// The native module `provisio._native`.
#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(kinds, m)?)?;
    logging::install(m.py())?;
    m.add_function(wrap_pyfunction!(logging::reset_logging, m)?)?;
    m.add_class::<runtime::AsyncTask>()?;
    m.add_class::<providers::Providers>()?;
    m.add_class::<memory::MemoryCloud>()?;
    m.add_class::<memory::Faults>()?;
    m.add_class::<dns::Dns>()?;
    m.add_class::<dns::AsyncDns>()?;
    m.add_class::<storage::Storage>()?;
    m.add_class::<storage::AsyncStorage>()?;
    m.add_class::<compute::Compute>()?;
    m.add_class::<compute::AsyncCompute>()?;
    m.add_class::<ci::Ci>()?;
    m.add_class::<ci::AsyncCi>()?;
    m.add_class::<secrets::Secrets>()?;
    m.add_class::<secrets::AsyncSecrets>()?;
    m.add_class::<database::Database>()?;
    m.add_class::<database::AsyncDatabase>()?;
    m.add_class::<repo::Repo>()?;
    m.add_class::<repo::AsyncRepo>()?;
    m.add_class::<mail::Mail>()?;
    m.add_class::<mail::AsyncMail>()?;
    m.add_class::<state::StateStore>()?;
    m.add_class::<engine::Blueprint>()?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<engine::AsyncEngine>()?;
    Ok(())
}
