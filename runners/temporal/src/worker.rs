//! Running a worker: connect to Temporal, register the fleet workflow and the tenant activity,
//! poll a task queue until told to stop.
//!
//! ```no_run
//! # async fn demo(builder: provisio_engine::EngineBuilder) -> provisio::Result<()> {
//! use provisio_temporal::worker::{ProvisioWorker, WorkerConfig};
//! use provisio_temporal::activity::TenantActivities;
//! let config = WorkerConfig::new("127.0.0.1:7233", "provisio");
//! let activities = TenantActivities::new(builder, None, config.lease_ttl, config.identity.clone())?;
//! let worker = ProvisioWorker::connect(&config, activities).await?;
//! worker.run_until_signal().await // SIGTERM or Ctrl-C: hands running tenants over cleanly
//! # }
//! ```

use crate::activity::TenantActivities;
use crate::fleet::FleetWorkflow;
use provisio::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::telemetry::{Logger, TelemetryOptions};
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// Where a worker connects and what it polls.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The Temporal frontend: `host:port`, or a URL (`http://host:port`, `https://...`).
    pub address: String,
    /// The namespace (default `default`).
    pub namespace: String,
    /// The task queue the fleet workflows and tenant activities run on.
    pub task_queue: String,
    /// This worker's identity in Temporal and in lease owners (default `<host>-<pid>`).
    pub identity: String,
    /// How long a shutting-down worker lets running tenants go on before it cancels them
    /// (default 5 s); a cancelled tenant then resumes on another worker.
    pub graceful_shutdown: Duration,
    /// The engine's lease TTL (default 30 s): keep it at most the rollouts' heartbeat timeout
    /// so that a lost worker's tenants can be taken over in about that time.
    pub lease_ttl: Duration,
    /// Tenants this worker runs at once (default 100); the fleet workflow's window bounds a
    /// rollout as a whole.
    pub max_concurrent_tenants: usize,
    /// Whether a tenant may run on the worker whose workflow task scheduled it, without a
    /// poll (Temporal's eager activity execution; default false). Eager dispatch saves a
    /// round trip per tenant but puts the tenants of a rollout on the worker that runs its
    /// workflow; off, every worker's pollers share them.
    pub eager_tenants: bool,
    /// The core's log filter (default `warn`): workflow task failures such as
    /// nondeterminism are reported only here.
    pub log_filter: String,
}

impl WorkerConfig {
    /// A config for `address` and `task_queue` with the defaults.
    pub fn new(address: impl Into<String>, task_queue: impl Into<String>) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        WorkerConfig {
            address: address.into(),
            namespace: "default".into(),
            task_queue: task_queue.into(),
            identity: format!("{host}-{}", std::process::id()),
            graceful_shutdown: Duration::from_secs(5),
            lease_ttl: Duration::from_secs(30),
            max_concurrent_tenants: 100,
            eager_tenants: false,
            log_filter: "warn".into(),
        }
    }
}

/// Fixed slots: `tenants` activity slots (tenants this worker runs at once), 100 of the rest.
fn tuner(tenants: usize) -> TunerHolder {
    TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(tenants.max(1)))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .build()
}

/// Connects a client to `address` (`host:port` or a URL) and `namespace`.
pub async fn connect(address: &str, namespace: &str, identity: &str) -> Result<Client> {
    let url = if address.contains("://") {
        address.to_string()
    } else {
        format!("http://{address}")
    };
    let url = url::Url::parse(&url)
        .map_err(|e| Error::invalid_field("temporal address", format!("{address:?}: {e}")))?;
    let conn = Connection::connect(
        ConnectionOptions::new(url)
            .identity(identity.to_string())
            .build(),
    )
    .await
    .map_err(|e| Error::transient(format!("cannot connect to Temporal at {address}: {e}")))?;
    Client::new(conn, ClientOptions::new(namespace.to_string()).build())
        .map_err(|e| Error::invalid_input(format!("Temporal client: {e}")))
}

/// Stops a [`ProvisioWorker`]: running tenants get the graceful period, then are cancelled
/// and handed to other workers.
#[derive(Clone)]
pub struct ShutdownHandle {
    flag: Arc<AtomicBool>,
    shutdown: Arc<dyn Fn() + Send + Sync>,
}

impl ShutdownHandle {
    /// Starts the shutdown; [`ProvisioWorker::run`] returns once it is complete.
    pub fn shutdown(&self) {
        self.flag.store(true, Ordering::SeqCst);
        (self.shutdown)();
    }
}

/// A worker: the fleet workflow and the tenant activity on one task queue.
pub struct ProvisioWorker {
    // the runtime must outlive the worker
    worker: Worker,
    _runtime: Runtime,
    handle: ShutdownHandle,
    task_queue: String,
}

impl ProvisioWorker {
    /// Connects to Temporal and registers the workflow and the activities.
    pub async fn connect(config: &WorkerConfig, activities: TenantActivities) -> Result<Self> {
        let unexpected = |what: &str, e: &dyn std::fmt::Display| {
            Error::unexpected(format!("Temporal worker: {what}: {e}"))
        };
        let telemetry = TelemetryOptions::builder()
            .logging(Logger::Console {
                filter: config.log_filter.clone(),
                format: None,
            })
            .build();
        let options = RuntimeOptions::builder()
            .telemetry_options(telemetry)
            .build()
            .map_err(|e| unexpected("runtime options", &e))?;
        let runtime =
            Runtime::from_current_tokio(options).map_err(|e| unexpected("runtime", &e))?;
        let client = connect(&config.address, &config.namespace, &config.identity).await?;
        let flag = activities.shutdown_flag();
        let options = WorkerOptions::new(config.task_queue.clone())
            .register_workflow::<FleetWorkflow>()
            .map_err(|e| unexpected("register FleetWorkflow", &e))?
            .register_activities(activities)
            .graceful_shutdown_period(config.graceful_shutdown)
            .tuner(tuner(config.max_concurrent_tenants))
            .max_eager_activity_reservations_per_workflow_task(if config.eager_tenants {
                3
            } else {
                0
            })
            .build();
        let worker =
            Worker::new(&runtime, client, options).map_err(|e| unexpected("worker", &e))?;
        let shutdown = worker.shutdown_handle();
        Ok(ProvisioWorker {
            worker,
            _runtime: runtime,
            handle: ShutdownHandle {
                flag,
                shutdown: Arc::new(shutdown),
            },
            task_queue: config.task_queue.clone(),
        })
    }

    /// A handle that stops this worker.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.handle.clone()
    }

    /// Polls until [`ShutdownHandle::shutdown`]; returns once running work has stopped.
    pub async fn run(mut self) -> Result<()> {
        tracing::info!(task_queue = %self.task_queue, "provisio worker polling");
        self.worker
            .run()
            .await
            .map_err(|e| Error::unexpected(format!("Temporal worker stopped: {e}")))
    }

    /// [`run`](Self::run) until SIGTERM or Ctrl-C, then shuts down cleanly.
    pub async fn run_until_signal(self) -> Result<()> {
        let handle = self.shutdown_handle();
        let signals = tokio::spawn(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut term = match signal(SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return,
                };
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            #[cfg(not(unix))]
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("provisio worker shutting down");
            handle.shutdown();
        });
        let r = self.run().await;
        signals.abort();
        r
    }
}
