//! The Rust half of the Node overhead benchmark (docs/performance.md, "Node binding"):
//! launches the example tenant N times (default 100) on memory providers, one tenant after the
//! other, with the same setup as `bench/launch100.mjs` (memory providers prepared with the
//! launch fixtures, memory state store, no event sink), and prints the wall time.
//!
//! ```sh
//! cargo run --release -p provisio-node --example launch100 -- 100
//! ```

use provisio_config::ProviderConfig;
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Tenant, types};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main]
async fn main() -> provisio::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let launch = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant");
    let mut config = ProviderConfig::memory();
    config.memory.fixtures = Some(launch.join("memory-fixtures.yaml"));
    let connection = config.connect().await?;
    let engine = Engine::builder()
        .providers(connection.providers.clone())
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()?;
    let blueprint = Blueprint::load(&launch)?;
    let start = Instant::now();
    for i in 0..n {
        let tenant = Tenant::new(format!("t{i:03}")).secret("smtp_password", "bench-smtp-password");
        let report = engine
            .apply(&blueprint, &tenant, ApplyOptions::default())
            .await?;
        report.into_result()?;
    }
    let elapsed = start.elapsed();
    println!(
        "rust: {n} launches in {:.3} s ({:.2} ms per launch)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / n as f64
    );
    Ok(())
}
