//! provisio's orchestration engine: blueprints, plan/apply/destroy/refresh, the crash-safe
//! journal, state stores, per-tenant locks, retries, rate limits, events and fleet runs.
//!
//! See `docs/engine.md` for the blueprint format and the semantics.
#![deny(missing_docs)]

pub mod providers;
pub mod resource;
pub mod state;
pub mod types;

pub use providers::{Capability, Providers};
pub use resource::{Applied, Registry, ResourceType, StepContext, Tenant};
pub use state::StateStore;
