//! The Rust side of the Python overhead benchmark (docs/performance.md, "Python binding"):
//! launches the example tenant N times (default 100, one tenant after another) on memory
//! providers and an in-memory state store, exactly as `benches/launch_bench.py` does from
//! Python. Run by hand, release build:
//!
//!     cargo run --release -p provisio-python --example launch_bench --features rust-bench -- 100

use provisio_config::ProviderConfig;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Tenant, types};
use std::sync::Arc;
use std::time::Instant;

fn main() -> provisio::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for round in 0..3 {
            let mut config = ProviderConfig::memory();
            config.memory.fixtures = Some(root.join("memory-fixtures.yaml"));
            let connection = config.connect().await?;
            let engine = Engine::builder()
                .providers(connection.providers.clone())
                .registry(types::builtin())
                .state(Arc::new(MemoryStateStore::new()))
                .build()?;
            let blueprint = Blueprint::load(&root)?;
            let started = Instant::now();
            for i in 0..n {
                let tenant =
                    Tenant::new(format!("t{i}")).secret("smtp_password", "smtp-credential-0123");
                engine
                    .apply(&blueprint, &tenant, ApplyOptions::default())
                    .await?
                    .into_result()?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "rust round {round}: {n} launches in {secs:.3} s ({:.2} ms/launch)",
                secs * 1000.0 / n as f64
            );
        }
        Ok(())
    })
}
