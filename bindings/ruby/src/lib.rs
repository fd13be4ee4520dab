//! The native half of the `provisio` Ruby gem (`provisio/provisio.so`), built with magnus and
//! rb-sys. It is thin (DESIGN.md section 6): one file per core concept; plain Ruby data
//! crosses the boundary as JSON-shaped values (`convert.rs`), and results come back as frozen
//! Hashes with Symbol keys. The Ruby half (`lib/provisio/*.rb`) gives every method its keyword
//! arguments and defines the error classes and `Provisio::Secret`.
//!
//! The Ruby-facing documentation is `docs/ruby.md`.

mod convert;
mod engine;
mod errors;
mod events;
mod memory;
mod providers;
mod runtime;
mod services;
mod state;
mod steps;

use magnus::prelude::*;
use magnus::{Error, Ruby};

/// Every provider kind this build can construct (`memory`, `git`, `postgres`, ...).
fn kinds() -> Vec<&'static str> {
    provisio_config::ProviderConfig::kinds().to_vec()
}

/// Raises `Provisio::UnexpectedError` from a Rust panic (the test of the panic guard).
fn panic_for_test(ruby: &Ruby) -> Result<(), Error> {
    errors::guard(ruby, || -> Result<(), Error> {
        panic!("a deliberate panic (Provisio.__panic)")
    })
}

/// Defines the `Provisio` module's native parts.
#[magnus::init(name = "provisio")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    let m = ruby.define_module("Provisio")?;
    m.const_set("NATIVE_VERSION", env!("CARGO_PKG_VERSION"))?;
    m.define_module_function("kinds", magnus::function!(kinds, 0))?;
    m.define_module_function("__panic", magnus::function!(panic_for_test, 0))?;
    providers::define(ruby, m)?;
    memory::define(ruby, m)?;
    state::define(ruby, m)?;
    engine::define(ruby, m)?;
    services::Dns::define(ruby, m)?;
    services::Storage::define(ruby, m)?;
    services::Compute::define(ruby, m)?;
    services::Ci::define(ruby, m)?;
    services::Secrets::define(ruby, m)?;
    services::Database::define(ruby, m)?;
    services::Repo::define(ruby, m)?;
    services::Mail::define(ruby, m)?;
    Ok(())
}
