//! `Provisio::StateStore`: where the engine keeps state, journal and leases: in memory, in a
//! SQLite file, or in PostgreSQL.

use crate::errors::{guard, to_ruby};
use crate::runtime::block_on;
use magnus::prelude::*;
use magnus::{Error, RModule, RString, Ruby, Value};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::state::postgres::PostgresStateStore;
use provisio_engine::state::sqlite::SqliteStateStore;
use std::path::PathBuf;
use std::sync::Arc;

/// A state store.
#[magnus::wrap(class = "Provisio::StateStore", free_immediately, size)]
pub(crate) struct StateStore {
    pub(crate) inner: Arc<dyn provisio_engine::StateStore>,
    kind: String,
}

impl StateStore {
    /// In this process's memory (tests; state ends with the process).
    fn memory() -> Self {
        StateStore {
            inner: Arc::new(MemoryStateStore::new()),
            kind: "memory".into(),
        }
    }

    /// A SQLite file (created with its directory when missing).
    fn sqlite(ruby: &Ruby, path: PathBuf) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                to_ruby(
                    ruby,
                    &provisio::Error::invalid_input(format!(
                        "cannot create {}: {e}",
                        dir.display()
                    )),
                )
            })?;
        }
        let kind = format!("sqlite:{}", path.display());
        let store = block_on(ruby, async move { SqliteStateStore::open(path).await })?;
        Ok(StateStore {
            inner: Arc::new(store),
            kind,
        })
    }

    /// PostgreSQL (`postgres://user@host/db`).
    fn postgres(ruby: &Ruby, url: String) -> Result<Self, Error> {
        let store = block_on(ruby, async move { PostgresStateStore::connect(&url).await })?;
        Ok(StateStore {
            inner: Arc::new(store),
            kind: "postgres".into(),
        })
    }

    /// `"memory"`, a `postgres://`/`postgresql://` URL, or a SQLite path (as the CLI's
    /// `--state`).
    pub(crate) fn open(ruby: &Ruby, spec: &str) -> Result<Self, Error> {
        if spec == "memory" || spec == ":memory:" {
            return Ok(Self::memory());
        }
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            return Self::postgres(ruby, spec.to_string());
        }
        let path = spec.strip_prefix("sqlite:").unwrap_or(spec);
        Self::sqlite(ruby, PathBuf::from(path))
    }

    /// A store from an argument: a `StateStore`, a spec String, a Pathname, `:memory` or nil
    /// (memory).
    pub(crate) fn from_arg(
        ruby: &Ruby,
        arg: Value,
    ) -> Result<Arc<dyn provisio_engine::StateStore>, Error> {
        if arg.is_nil() {
            return Ok(Arc::new(MemoryStateStore::new()));
        }
        if let Ok(store) = <&StateStore>::try_convert(arg) {
            return Ok(store.inner.clone());
        }
        if let Some(sym) = magnus::Symbol::from_value(arg) {
            return Ok(Self::open(ruby, &sym.name()?)?.inner);
        }
        if let Some(p) = crate::providers::path_arg(ruby, "state", arg)? {
            return Ok(Self::open(ruby, &p.to_string_lossy())?.inner);
        }
        Err(Error::new(
            ruby.exception_type_error(),
            "state: expected a Provisio::StateStore, :memory, a SQLite path or a PostgreSQL URL",
        ))
    }

    /// `StateStore.open(spec)`: `"memory"`, a PostgreSQL URL or a SQLite path.
    fn open_rb(ruby: &Ruby, spec: RString) -> Result<Self, Error> {
        guard(ruby, || {
            let spec = crate::convert::string(ruby, "spec", spec)?;
            Self::open(ruby, &spec)
        })
    }

    /// `StateStore.sqlite(path)`.
    fn sqlite_rb(ruby: &Ruby, path: Value) -> Result<Self, Error> {
        guard(ruby, || {
            let p = crate::providers::path_arg(ruby, "path", path)?.ok_or_else(|| {
                Error::new(ruby.exception_type_error(), "path: expected a String")
            })?;
            Self::sqlite(ruby, p)
        })
    }

    /// `StateStore.postgres(url)`.
    fn postgres_rb(ruby: &Ruby, url: RString) -> Result<Self, Error> {
        guard(ruby, || {
            let url = crate::convert::string(ruby, "url", url)?;
            Self::postgres(ruby, url)
        })
    }

    /// `#<Provisio::StateStore kind>` (never a password).
    fn inspect(&self) -> String {
        format!("#<Provisio::StateStore {}>", self.kind)
    }
}

/// Defines `Provisio::StateStore`.
pub(crate) fn define(ruby: &Ruby, module: RModule) -> Result<(), Error> {
    use magnus::{function, method};
    let c = module.define_class("StateStore", ruby.class_object())?;
    c.define_singleton_method("memory", function!(StateStore::memory, 0))?;
    c.define_singleton_method("sqlite", function!(StateStore::sqlite_rb, 1))?;
    c.define_singleton_method("postgres", function!(StateStore::postgres_rb, 1))?;
    c.define_singleton_method("open", function!(StateStore::open_rb, 1))?;
    c.define_method("inspect", method!(StateStore::inspect, 0))?;
    Ok(())
}
