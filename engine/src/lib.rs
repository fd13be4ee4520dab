//! provisio's orchestration engine: blueprints, plan/apply/destroy/refresh, the crash-safe
//! journal, state stores, per-tenant locks, retries, rate limits, events and fleet runs.
//!
//! See `docs/engine.md` for the blueprint format and the semantics.
//!
//! ```no_run
//! # async fn demo(store: std::sync::Arc<dyn provisio_engine::StateStore>, registry: provisio_engine::Registry) -> provisio::Result<()> {
//! use provisio_engine::{ApplyOptions, Blueprint, Engine, Tenant};
//! let engine = Engine::builder().registry(registry).state(store).build()?;
//! let bp = Blueprint::from_yaml("name: launch\nresources: {}\n")?;
//! let report = engine.apply(&bp, &Tenant::new("acme"), ApplyOptions::default()).await?;
//! report.into_result()?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod blueprint;
pub mod events;
pub mod fleet;
pub mod lifecycle;
pub mod plan;
/// The provider registry (lives in the core crate, so that `provisio-config` builds providers
/// without the engine).
pub use provisio::providers;
pub mod render;
/// Per-account rate limiting (lives in the core crate so providers can pace their own requests).
pub use provisio::ratelimit;
pub mod resource;
pub mod retry;
pub mod run;
pub mod state;
pub mod template;
pub mod types;

#[cfg(test)]
pub(crate) mod test_support;

pub use blueprint::{Blueprint, Format, Graph, ResourceSpec, Variable};
pub use events::{
    ChannelSink, Event, EventKind, EventSink, FnSink, Operation, StepOutcome, Summary, VecSink,
};
pub use fleet::{
    FailureThreshold, Fleet, FleetCounts, FleetCursor, FleetEvent, FleetEventKind, FleetReport,
    FleetSink, FleetStatus, HaltReason, TenantResult, TenantStatus,
};
pub use lifecycle::{Phase, PhaseVariant, TenantPhase, Transition};
pub use plan::{Action, FieldDiff, Plan, PlanOptions};
pub use providers::{Capability, Providers};
pub use resource::{Applied, Registry, ResourceType, StepContext, Tenant, WrittenSecrets};
pub use retry::RetryPolicy;
pub use run::{
    ApplyOptions, DestroyOptions, Engine, EngineBuilder, PlanHook, RefreshOptions, RefreshReport,
    RunReport, StepReport, StepStatus, idempotency_token,
};
pub use state::StateStore;
/// Re-exported: the cancellation token apply, destroy and refresh take.
pub use tokio_util::sync::CancellationToken;
