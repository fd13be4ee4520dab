//! Compute: virtual machine instances.

use crate::{Deleted, Ensured, Provider, Result, Tags};
use async_trait::async_trait;
use std::time::Duration;

/// The life-cycle state of an instance (EC2's names; Azure's are mapped onto them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Being created.
    Pending,
    /// Running.
    Running,
    /// Being stopped.
    Stopping,
    /// Stopped.
    Stopped,
    /// Being terminated.
    ShuttingDown,
    /// Gone (still listed for a while by some providers).
    Terminated,
}

impl InstanceState {
    /// Whether the instance is gone or on its way out.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            InstanceState::ShuttingDown | InstanceState::Terminated
        )
    }
}

/// The instance a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InstanceSpec {
    /// A deterministic name (also set as the `Name` tag where the provider has one).
    pub name: String,
    /// The image (AMI id, Azure image reference) to start from.
    pub image: String,
    /// The size (EC2 instance type, Azure VM size).
    pub size: String,
    /// Tags, including provisio's ownership tags; used to find the instance again.
    #[serde(default)]
    pub tags: Tags,
    /// Cloud-init or script user data. Must not contain secret values: pass references to the
    /// secret store instead.
    #[serde(default)]
    pub user_data: Option<String>,
    /// A key that makes the launch idempotent (EC2 ClientToken); at most 64 ASCII characters.
    pub idempotency_key: String,
}

/// An instance as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Instance {
    /// The provider's id.
    pub id: String,
    /// The name.
    pub name: String,
    /// The image it was started from.
    pub image: String,
    /// The size.
    pub size: String,
    /// The current state.
    pub state: InstanceState,
    /// The public address, once assigned.
    pub public_ip: Option<String>,
    /// The private address, once assigned.
    pub private_ip: Option<String>,
    /// Tags.
    pub tags: Tags,
}

/// What a compute provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ComputeCapabilities {
    /// The provider honours [`InstanceSpec::idempotency_key`] on its own.
    pub native_idempotency: bool,
    /// Instances carry tags that can be searched.
    pub tags: bool,
    /// User data is supported.
    pub user_data: bool,
    /// [`Compute::stop_instance`] and [`Compute::start_instance`] work; without it both are
    /// `Unsupported`.
    #[serde(default)]
    pub stop_start: bool,
}

/// A compute provider.
#[async_trait]
pub trait Compute: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> ComputeCapabilities;

    /// Launches an instance, unless a live (not terminated) instance with the same ownership
    /// tags and name exists already, in which case that one is returned as `Unchanged`.
    async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>>;

    /// Reads an instance; `Ok(None)` when the id is unknown.
    async fn get_instance(&self, id: &str) -> Result<Option<Instance>>;

    /// Finds the instances (not terminated) carrying every one of `tags`.
    async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>>;

    /// Waits until the instance reaches `state`; `Timeout` after `timeout`, `Conflict` when it
    /// reaches a terminal state that is not the one awaited.
    async fn wait_for_state(
        &self,
        id: &str,
        state: InstanceState,
        timeout: Duration,
    ) -> Result<Instance>;

    /// Terminates the instance; [`Deleted::AlreadyGone`] when it is unknown or terminated.
    async fn terminate_instance(&self, id: &str) -> Result<Deleted>;

    /// Asks the provider to stop the instance and returns it as read after the request: its
    /// state is usually [`InstanceState::Stopping`]; callers that need it stopped follow with
    /// [`Compute::wait_for_state`]`(id, Stopped, ..)`.
    ///
    /// Idempotent: an instance that is already `Stopping` or `Stopped` is returned as it is,
    /// without a second request to change its state. A `Pending` instance is stopped once it
    /// runs (EC2 refuses to stop a pending instance; providers wait for it first). The disks
    /// are kept; the public address is released where the provider assigns one per start (EC2
    /// without an elastic IP, the memory provider).
    ///
    /// Errors: `NotFound` naming the id when it is unknown, `Conflict` when the instance is
    /// shutting down or terminated, `Unsupported` when
    /// [`ComputeCapabilities::stop_start`] is false.
    ///
    /// There is deliberately no default body: each provider says for itself whether it can
    /// stop an instance, and one that cannot returns `Unsupported` with the reason.
    async fn stop_instance(&self, id: &str) -> Result<Instance>;

    /// Asks the provider to start a stopped instance and returns it as read after the request
    /// (usually [`InstanceState::Pending`]); callers follow with
    /// [`Compute::wait_for_state`]`(id, Running, ..)`.
    ///
    /// Idempotent: an instance that is `Pending` or `Running` is returned as it is, without a
    /// second request. A `Stopping` instance is started once it has stopped.
    ///
    /// Errors as for [`Compute::stop_instance`].
    async fn start_instance(&self, id: &str) -> Result<Instance>;
}
