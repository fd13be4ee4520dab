//! `provisio`: plan, apply and destroy blueprints for tenants from the command line.
//!
//! ```sh
//! provisio apply examples/launch-tenant --tenant acme
//! provisio plan examples/launch-tenant --tenant acme --detailed-exitcode
//! provisio outputs --tenant acme
//! provisio destroy examples/launch-tenant --tenant acme
//! provisio fleet apply examples/launch-tenant --tenants tenants.csv --concurrency 16
//! ```
//!
//! Exit codes: 0 success (and, with `--detailed-exitcode`, a plan without changes); 1 an error
//! (one line on stderr, plus a hint); 2 a plan with changes under `--detailed-exitcode`;
//! 130 cancelled by Ctrl-C. See `docs/cli.md`.
#![deny(missing_docs)]

mod commands;
mod hints;
mod logging;
mod remote;
mod report;
mod session;
mod tenants;
mod view;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Plan, apply and destroy provisioning blueprints for tenants.
#[derive(Debug, Parser)]
#[command(name = "provisio", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// Provider configuration (TOML, YAML or JSON). Default: memory providers, kept in
    /// `memory.json` beside the SQLite state file.
    #[arg(
        long,
        short = 'p',
        global = true,
        env = "PROVISIO_PROVIDERS",
        value_name = "FILE"
    )]
    pub(crate) providers: Option<PathBuf>,
    /// The state store: a SQLite file, or a `postgres://` URL.
    #[arg(
        long,
        global = true,
        env = "PROVISIO_STATE",
        default_value = ".provisio/state.db",
        value_name = "PATH|URL"
    )]
    pub(crate) state: String,
    /// Write the event stream as NDJSON on stdout (one JSON object per line) instead of the
    /// human output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No colors (also when NO_COLOR is set or stdout is not a terminal).
    #[arg(long, global = true)]
    pub(crate) no_color: bool,
    /// Steps in flight at once within one tenant's run.
    #[arg(long, global = true, default_value_t = 8, value_name = "N")]
    pub(crate) step_concurrency: usize,
    /// Log provisio's tracing on stderr: `-v` steps and retries, `-vv` each provider request,
    /// `-vvv` everything (`RUST_LOG` wins when set).
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, global = true)]
    pub(crate) verbose: u8,
}

/// The blueprint and the tenant a command works on.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The blueprint: a file, or a directory with `blueprint.yaml` and `templates/`.
    #[arg(value_name = "BLUEPRINT")]
    pub(crate) blueprint: PathBuf,
    /// The tenant's name.
    #[arg(long, short = 't')]
    pub(crate) tenant: String,
    #[command(flatten)]
    pub(crate) vars: VarArgs,
}

/// Tenant variables.
#[derive(Debug, Args, Default)]
pub(crate) struct VarArgs {
    /// A plain tenant variable (repeatable). Values are strings.
    #[arg(long = "var", value_name = "KEY=VALUE")]
    pub(crate) vars: Vec<String>,
    /// A file of plain tenant variables (YAML, JSON or TOML object); `--var` wins.
    #[arg(long = "vars-file", value_name = "FILE")]
    pub(crate) vars_file: Option<PathBuf>,
    /// Read the secret variable KEY from the environment variable ENV (repeatable). Without
    /// it, a secret variable `smtp_password` is read from `PROVISIO_SECRET_SMTP_PASSWORD`.
    #[arg(long = "secret-env", value_name = "KEY=ENV")]
    pub(crate) secret_env: Vec<String>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Show what apply would do (reads the providers to see what really exists).
    Plan {
        #[command(flatten)]
        target: Target,
        /// Exit with 2 when the plan has changes (0 when it has none).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Trust the state store; do not read the providers.
        #[arg(long)]
        no_refresh: bool,
    },
    /// Create or update the tenant's resources.
    Apply {
        #[command(flatten)]
        target: Target,
        /// Allow replacing the protected resource NAME (repeatable).
        #[arg(long = "allow", value_name = "NAME")]
        allow: Vec<String>,
        /// Keep what was created when a step fails (default: roll back this run's creates).
        #[arg(long)]
        keep_partial: bool,
    },
    /// Delete the tenant's resources in reverse order; protected ones are kept.
    Destroy {
        #[command(flatten)]
        target: Target,
        /// Also delete the protected resource NAME (repeatable).
        #[arg(long = "allow", value_name = "NAME")]
        allow: Vec<String>,
    },
    /// Lifecycle: turn the tenant off, keeping its data (launched → suspended).
    Suspend(TransitionArgs),
    /// Lifecycle: turn a suspended tenant back on (suspended → launched).
    Resume(TransitionArgs),
    /// Lifecycle: keep only what a restore needs (launched or suspended → archived).
    Archive(TransitionArgs),
    /// Lifecycle: bring an archived tenant back (archived → launched).
    Restore(TransitionArgs),
    /// Lifecycle: delete everything but what the blueprint keeps when retired (→ retired).
    Retire(TransitionArgs),
    /// Read every recorded resource from its provider and report drift.
    Refresh {
        #[command(flatten)]
        target: Target,
        /// Write what was read into the state store.
        #[arg(long)]
        write: bool,
    },
    /// The tenants in the state store, or one tenant's resources.
    Status {
        /// Show this tenant's resources.
        #[arg(long, short = 't')]
        tenant: Option<String>,
    },
    /// The recorded outputs of a tenant's resources.
    Outputs {
        /// The tenant.
        #[arg(long, short = 't')]
        tenant: String,
        /// Only this resource.
        #[arg(long, short = 'r')]
        resource: Option<String>,
    },
    /// Run a blueprint over many tenants.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Inspect or repair the state store.
    #[command(subcommand)]
    State(StateCommand),
    /// Run the tenants of fleet rollouts on Temporal (`fleet apply --on temporal://...`) until
    /// SIGTERM or Ctrl-C; start any number, on any number of machines, with the same
    /// `--providers` and a shared PostgreSQL `--state`. Needs a build with the `temporal`
    /// feature.
    Worker(WorkerArgs),
}

/// Options of `provisio worker`.
#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The Temporal frontend: `HOST:PORT`, or `temporal://HOST:PORT[/NAMESPACE]`.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) temporal: String,
    /// The task queue rollouts are started on (`fleet apply --task-queue`).
    #[arg(long, default_value = "provisio", value_name = "QUEUE")]
    pub(crate) task_queue: String,
    /// This worker's name in Temporal and in tenant leases. Default: `$HOSTNAME-PID`.
    #[arg(long, value_name = "NAME")]
    pub(crate) identity: Option<String>,
    /// Tenants this worker runs at once.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub(crate) max_tenants: usize,
    /// Seconds a tenant's lease outlives its last renewal: after a worker dies, its tenants
    /// can resume elsewhere this long after. Keep it at most the rollouts' heartbeat timeout.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub(crate) lease_ttl: u64,
    /// Seconds running tenants get to finish on SIGTERM before they are cancelled (rolled
    /// back) and handed to another worker.
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub(crate) grace: u64,
    /// Read the secret variable KEY from the environment variable ENV (repeatable). Without
    /// it, a secret variable `smtp_password` is read from `PROVISIO_SECRET_SMTP_PASSWORD`.
    /// Secrets never travel through Temporal: every worker reads them from its environment.
    #[arg(long = "secret-env", value_name = "KEY=ENV")]
    pub(crate) secret_env: Vec<String>,
}

/// The arguments of a lifecycle transition (`provisio archive BLUEPRINT --tenant T`).
#[derive(Debug, Args)]
pub(crate) struct TransitionArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Also delete the protected resource NAME (repeatable); resources the blueprint declares
    /// `absent` in the target phase need no override.
    #[arg(long = "allow", value_name = "NAME")]
    pub(crate) allow: Vec<String>,
    /// Show what the transition would do and change nothing.
    #[arg(long)]
    pub(crate) plan: bool,
}

/// `provisio fleet ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum FleetCommand {
    /// Apply the blueprint for every tenant of a file.
    Apply(FleetArgs),
    /// Destroy the blueprint's resources for every tenant of a file.
    Destroy(FleetArgs),
    /// Show a rollout on Temporal: done, running, failed and pending tenants.
    Status {
        #[command(flatten)]
        rollout: RolloutArgs,
        /// Keep showing progress until the rollout ends.
        #[arg(long)]
        follow: bool,
    },
    /// Pause a rollout on Temporal: running tenants finish, no new ones start.
    Pause(RolloutArgs),
    /// Resume a paused rollout on Temporal.
    Resume(RolloutArgs),
    /// Cancel a rollout on Temporal: running tenants stop and roll back what their run
    /// created, no new ones start.
    Cancel(RolloutArgs),
}

/// Which rollout on Temporal.
#[derive(Debug, Args)]
pub(crate) struct RolloutArgs {
    /// The rollout's id (printed by `fleet apply --on`).
    #[arg(value_name = "ID")]
    pub(crate) id: String,
    /// Where it runs: `temporal://HOST:PORT[/NAMESPACE]`.
    #[arg(long, env = "PROVISIO_FLEET_ON", value_name = "URL")]
    pub(crate) on: String,
}

/// Options of a fleet run.
#[derive(Debug, Args)]
pub(crate) struct FleetArgs {
    /// The blueprint: a file, or a directory with `blueprint.yaml` and `templates/`.
    #[arg(value_name = "BLUEPRINT")]
    pub(crate) blueprint: PathBuf,
    /// The tenants: CSV with a `name` column (other columns are variables), or a JSON array
    /// of objects with `name` (other keys, or a `vars` object, are variables).
    #[arg(long, value_name = "FILE")]
    pub(crate) tenants: PathBuf,
    /// Tenants in flight at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub(crate) concurrency: usize,
    /// Run the first N tenants first; halt if any of them fails.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub(crate) canary: usize,
    /// Halt after this many failed tenants: a count (`3`), a percentage (`5%`) or `never`.
    #[arg(long, default_value = "1", value_name = "N|P%|never")]
    pub(crate) max_failures: String,
    /// The rollout's id (its resumable cursor). Default: `<blueprint>-<tenants file name>`
    /// for apply, with `-destroy` appended for destroy. Running again with the same id skips
    /// the tenants that already succeeded.
    #[arg(long, value_name = "ID")]
    pub(crate) fleet_id: Option<String>,
    /// Allow deleting (destroy) or replacing or unprotecting (apply) the protected resource
    /// NAME in every tenant (repeatable).
    #[arg(long = "allow", value_name = "NAME")]
    pub(crate) allow: Vec<String>,
    /// Apply only: read every recorded resource first, so drift (a deleted branch, a
    /// terminated instance, a removed object) is put back.
    #[arg(long)]
    pub(crate) refresh: bool,
    /// Run the rollout on Temporal instead of in this process:
    /// `temporal://HOST:PORT[/NAMESPACE]`. Workers (`provisio worker`) run the tenants; this
    /// command starts the rollout, prints its id and returns (`--follow` waits). Secrets are
    /// read by the workers from their environment, not sent.
    #[arg(long, env = "PROVISIO_FLEET_ON", value_name = "URL")]
    pub(crate) on: Option<String>,
    /// With `--on`: the workers' task queue.
    #[arg(long, default_value = "provisio", value_name = "QUEUE")]
    pub(crate) task_queue: String,
    /// With `--on`: seconds without a heartbeat after which a tenant moves to another worker.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub(crate) heartbeat_timeout: u64,
    /// With `--on`: show progress until the rollout ends.
    #[arg(long)]
    pub(crate) follow: bool,
    #[command(flatten)]
    pub(crate) vars: VarArgs,
}

/// `provisio state ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Break the tenant's lease left behind by a runner that died.
    Unlock {
        /// The tenant.
        #[arg(long, short = 't')]
        tenant: String,
    },
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("error: internal error: {msg}");
        eprintln!("hint: this is a bug in provisio; please report it with the command you ran");
    }));
    let cli = Cli::parse();
    logging::init(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}
