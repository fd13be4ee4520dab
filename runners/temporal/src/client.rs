//! Starting and managing rollouts from a program (the CLI's `fleet ... --on temporal://`
//! builds on this).

use crate::fleet::FleetWorkflow;
use crate::types::{FleetInput, FleetStatus};
use provisio::{Error, Result};
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowGetResultOptions, WorkflowHandle, WorkflowQueryOptions,
    WorkflowSignalOptions, WorkflowStartOptions,
};

/// The workflow id of rollout `fleet_id`.
pub fn workflow_id(fleet_id: &str) -> String {
    format!("fleet-{fleet_id}")
}

fn temporal(what: &str, fleet_id: &str, e: impl std::fmt::Display) -> Error {
    Error::transient(format!("fleet {fleet_id:?}: {what}: {e}"))
}

/// A client for rollouts on one task queue.
#[derive(Clone)]
pub struct FleetClient {
    client: Client,
    task_queue: String,
}

/// A running (or finished) rollout.
pub struct Rollout {
    fleet_id: String,
    handle: WorkflowHandle<Client, FleetWorkflow>,
}

impl FleetClient {
    /// A client on `client`'s namespace, starting rollouts on `task_queue`.
    pub fn new(client: Client, task_queue: impl Into<String>) -> Self {
        FleetClient {
            client,
            task_queue: task_queue.into(),
        }
    }

    /// Validates `input` ([`FleetInput::validate`]) and starts the rollout as workflow
    /// `fleet-<fleet_id>`. A rollout with that id still running is refused (`Conflict`).
    pub async fn start(&self, input: FleetInput) -> Result<Rollout> {
        input.validate()?;
        let fleet_id = input.fleet_id.clone();
        let options =
            WorkflowStartOptions::new(self.task_queue.clone(), workflow_id(&fleet_id)).build();
        self.client
            .start_workflow(FleetWorkflow::run, input, options)
            .await
            .map_err(|e| match e {
                temporalio_client::errors::WorkflowStartError::AlreadyStarted { .. } => {
                    Error::conflict(format!("fleet {fleet_id:?} is already running"))
                }
                e => temporal("start", &fleet_id, e),
            })?;
        Ok(self.rollout(&fleet_id))
    }

    /// The rollout `fleet_id` (started by anyone).
    pub fn rollout(&self, fleet_id: &str) -> Rollout {
        Rollout {
            fleet_id: fleet_id.to_string(),
            handle: self
                .client
                .get_workflow_handle::<FleetWorkflow>(workflow_id(fleet_id)),
        }
    }
}

impl Rollout {
    /// The rollout's id.
    pub fn fleet_id(&self) -> &str {
        &self.fleet_id
    }

    /// Its progress now (a running rollout only).
    pub async fn status(&self) -> Result<FleetStatus> {
        self.handle
            .query(FleetWorkflow::status, (), WorkflowQueryOptions::default())
            .await
            .map_err(|e| temporal("status", &self.fleet_id, e))
    }

    /// Pauses it: no new tenant starts; running ones finish.
    pub async fn pause(&self) -> Result<()> {
        self.handle
            .signal(FleetWorkflow::pause, (), WorkflowSignalOptions::default())
            .await
            .map_err(|e| temporal("pause", &self.fleet_id, e))
    }

    /// Resumes a paused rollout.
    pub async fn resume(&self) -> Result<()> {
        self.handle
            .signal(FleetWorkflow::resume, (), WorkflowSignalOptions::default())
            .await
            .map_err(|e| temporal("resume", &self.fleet_id, e))
    }

    /// Cancels it by signal: running tenants are cancelled (their runs roll back), no new
    /// tenant starts; the workflow then completes with a cancelled status as its result.
    pub async fn cancel(&self) -> Result<()> {
        self.handle
            .signal(FleetWorkflow::cancel, (), WorkflowSignalOptions::default())
            .await
            .map_err(|e| temporal("cancel", &self.fleet_id, e))
    }

    /// Cancels the workflow itself (as `temporal workflow cancel` does): the same, but the
    /// execution ends *Cancelled*, without a result.
    pub async fn cancel_workflow(&self, reason: &str) -> Result<()> {
        self.handle
            .cancel(
                WorkflowCancelOptions::builder()
                    .reason(reason.to_string())
                    .build(),
            )
            .await
            .map_err(|e| temporal("cancel workflow", &self.fleet_id, e))
    }

    /// Waits for the rollout to end and returns its final status.
    pub async fn result(&self) -> Result<FleetStatus> {
        self.handle
            .get_result(WorkflowGetResultOptions::default())
            .await
            .map_err(|e| temporal("result", &self.fleet_id, e))
    }
}
