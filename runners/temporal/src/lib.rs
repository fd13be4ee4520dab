//! provisio's fleet runner on Temporal: a rollout of one blueprint over many tenants whose
//! placement on workers, pause/resume/cancel and re-run after a lost worker belong to
//! Temporal, while each tenant's steps, journal, lease and state stay provisio's (the engine,
//! with a PostgreSQL state store shared by every worker).
//!
//! - [`types`]: the wire types (versioned; they live in workflow histories).
//! - [`fleet`]: the fleet workflow (canary wave, failure threshold, window, signals, query).
//! - [`activity`]: the unit of work per tenant (one heartbeating activity).
//! - [`worker`]: running a worker; [`client`]: starting and managing rollouts.
//!
//! See `docs/design/temporal.md` for what the SDK does and why the runner is built this way.
//!
//! ```no_run
//! # async fn demo(client: temporalio_client::Client) -> provisio::Result<()> {
//! use provisio_temporal::client::FleetClient;
//! use provisio_temporal::types::{BlueprintContent, FleetInput, FleetOperation, TenantSpec};
//! let blueprint = BlueprintContent::load("examples/launch-tenant")?;
//! let tenants = (0..50).map(|i| TenantSpec::new(format!("t{i:03}"))).collect();
//! let mut input = FleetInput::new("upgrade-2026-12", FleetOperation::Apply, blueprint, tenants);
//! input.concurrency = 16;
//! input.canary = 3;
//! let rollout = FleetClient::new(client, "provisio").start(input).await?;
//! println!("{:?}", rollout.status().await?);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod activity;
pub mod client;
pub mod fleet;
pub mod types;
pub mod worker;

pub use activity::TenantActivities;
pub use client::{FleetClient, Rollout};
pub use fleet::FleetWorkflow;
pub use types::{
    BlueprintContent, FleetInput, FleetOperation, FleetStatus, RolloutState, TenantOutcome,
    TenantSpec, TenantState, providers_digest,
};
pub use worker::{ProvisioWorker, ShutdownHandle, WorkerConfig};
