//! Fleets on Temporal: `provisio worker`, `fleet apply|destroy --on temporal://...` and
//! `fleet status|pause|resume|cancel ID` (crate `provisio-temporal`; `docs/distributed.md`).
//! Compiled with the `temporal` feature; without it these commands say how to get it.

use crate::FleetArgs;
#[cfg(not(feature = "temporal"))]
use crate::{FleetCommand, Global, WorkerArgs, report::Palette};
use provisio::{Error, Result};
use provisio_engine::fleet::FailureThreshold;
use serde_json::Value;
use std::collections::BTreeMap;

/// A rollout to start: what `fleet apply|destroy` read and checked.
// (read only by the `temporal` feature's code)
#[cfg_attr(not(feature = "temporal"), allow(dead_code))]
pub(crate) struct NewRollout<'a> {
    pub(crate) args: &'a FleetArgs,
    pub(crate) destroy: bool,
    pub(crate) fleet_id: String,
    pub(crate) threshold: FailureThreshold,
    /// Each tenant's name and plain variables (secrets are read by the workers).
    pub(crate) tenants: Vec<(String, BTreeMap<String, Value>)>,
}

/// Where rollouts run: a Temporal frontend and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) address: String,
    pub(crate) namespace: String,
}

/// Parses `temporal://HOST:PORT[/NAMESPACE]` (and, when `bare` is allowed, `HOST:PORT`).
pub(crate) fn endpoint(spec: &str, field: &str, bare: bool) -> Result<Endpoint> {
    let bad = |why: &str| {
        Error::invalid_field(
            field,
            format!("{spec:?} {why}: expected temporal://HOST:PORT[/NAMESPACE]"),
        )
    };
    let rest = match spec.strip_prefix("temporal://") {
        Some(rest) => rest,
        None if bare && !spec.contains("://") => spec,
        None => return Err(bad("is not a temporal:// URL")),
    };
    let (address, namespace) = match rest.split_once('/') {
        Some((a, ns)) if !ns.is_empty() => (a, ns),
        Some((a, _)) => (a, "default"),
        None => (rest, "default"),
    };
    let (host, port) = address.rsplit_once(':').ok_or_else(|| bad("has no port"))?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad("has no valid HOST:PORT"));
    }
    let ns_ok = namespace.len() <= 255
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ns_ok {
        return Err(bad("names an invalid namespace"));
    }
    Ok(Endpoint {
        address: address.to_string(),
        namespace: namespace.to_string(),
    })
}

#[cfg(not(feature = "temporal"))]
fn not_built() -> Error {
    Error::invalid_input(
        "this provisio was built without Temporal support: build it with \
         `cargo build -p provisio-cli --features temporal`",
    )
}

/// `provisio worker`.
#[cfg(not(feature = "temporal"))]
pub(crate) async fn worker(_g: &Global, _palette: &Palette, args: &WorkerArgs) -> Result<u8> {
    endpoint(&args.temporal, "--temporal", true)?;
    Err(not_built())
}

/// `fleet apply|destroy --on temporal://...`.
#[cfg(not(feature = "temporal"))]
pub(crate) async fn start(
    _g: &Global,
    _palette: &Palette,
    on: &str,
    _rollout: NewRollout<'_>,
) -> Result<u8> {
    endpoint(on, "--on", false)?;
    Err(not_built())
}

/// `fleet status|pause|resume|cancel`.
#[cfg(not(feature = "temporal"))]
pub(crate) async fn manage(_g: &Global, _palette: &Palette, command: &FleetCommand) -> Result<u8> {
    if let FleetCommand::Status { rollout: r, .. }
    | FleetCommand::Pause(r)
    | FleetCommand::Resume(r)
    | FleetCommand::Cancel(r) = command
    {
        endpoint(&r.on, "--on", false)?;
    }
    Err(not_built())
}

#[cfg(feature = "temporal")]
pub(crate) use on_temporal::{manage, start, worker};

#[cfg(feature = "temporal")]
mod on_temporal {
    use super::{Endpoint, NewRollout, endpoint};
    use crate::report::{Palette, json_line};
    use crate::session::{self, split_pair};
    use crate::{FleetCommand, Global, RolloutArgs, WorkerArgs};
    use console::Term;
    use indicatif::{ProgressBar, ProgressStyle};
    use provisio::{Error, Result};
    use provisio_engine::{Engine, types};
    use provisio_temporal::worker::{ProvisioWorker, WorkerConfig, connect};
    use provisio_temporal::{
        BlueprintContent, FleetClient, FleetInput, FleetOperation, FleetStatus, Rollout,
        RolloutState, TenantActivities, TenantSpec, TenantState, providers_digest,
    };
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// The digest of the provider configuration as declared (`--providers`, or the memory
    /// default), which a rollout and its workers compare.
    fn declared_digest(g: &Global) -> Result<String> {
        providers_digest(&session::declared_config(g)?)
    }

    async fn client(ep: &Endpoint, task_queue: &str) -> Result<FleetClient> {
        let identity = format!("provisio-cli-{}", std::process::id());
        let client = connect(&ep.address, &ep.namespace, &identity).await?;
        Ok(FleetClient::new(client, task_queue))
    }

    /// `provisio worker`: polls until SIGTERM or Ctrl-C.
    pub(crate) async fn worker(g: &Global, palette: &Palette, args: &WorkerArgs) -> Result<u8> {
        let ep = endpoint(&args.temporal, "--temporal", true)?;
        if !(g.state.starts_with("postgres://") || g.state.starts_with("postgresql://")) {
            return Err(Error::invalid_field(
                "--state",
                "a worker needs the PostgreSQL state store all workers share (postgres://...): \
                 the tenants' journals, leases and rate limits live there",
            ));
        }
        provisio_temporal::types::fleet_id(&args.task_queue)
            .map_err(|_| Error::invalid_field("--task-queue", "1 to 64 of a-z A-Z 0-9 - _ ."))?;
        let digest = declared_digest(g)?;
        let mut secret_env = BTreeMap::new();
        for arg in &args.secret_env {
            let (k, env) = split_pair(arg, "--secret-env")?;
            secret_env.insert(k.to_string(), env.to_string());
        }
        let connection = session::provider_config(g, None)?.connect().await?;
        let state = session::open_state(&g.state).await?;
        let builder = Engine::builder()
            .providers(connection.providers.clone())
            .registry(types::builtin())
            .state(state)
            .concurrency(g.step_concurrency.max(1));
        let mut config = WorkerConfig::new(ep.address.clone(), args.task_queue.clone());
        config.namespace = ep.namespace.clone();
        if let Some(id) = &args.identity {
            config.identity = id.clone();
        }
        config.lease_ttl = Duration::from_secs(args.lease_ttl.max(1));
        config.max_concurrent_tenants = args.max_tenants.max(1);
        config.graceful_shutdown = Duration::from_secs(args.grace);
        let events: Option<std::sync::Arc<dyn provisio_engine::EventSink>> = if g.json {
            Some(std::sync::Arc::new(crate::report::Reporter::new(
                crate::report::Mode::Json,
                palette.clone(),
            )))
        } else {
            None
        };
        let activities =
            TenantActivities::new(builder, events, config.lease_ttl, &config.identity)?
                .with_providers_digest(digest.clone())
                .with_secrets_from_env(secret_env);
        let worker = ProvisioWorker::connect(&config, activities).await?;
        if g.json {
            json_line(&json!({
                "type": "worker_ready", "identity": config.identity, "address": ep.address,
                "namespace": ep.namespace, "task_queue": config.task_queue,
                "providers_digest": digest,
            }));
        } else {
            println!(
                "{} {} polling task queue {} on {} (namespace {}); providers {digest}",
                palette.bold.apply_to("Worker"),
                config.identity,
                config.task_queue,
                ep.address,
                ep.namespace
            );
        }
        let result = worker.run_until_signal().await;
        let saved = match &connection.memory {
            Some(cloud) if cloud.persist_path().is_some() => Ok(()),
            _ => connection.save(),
        };
        result?;
        saved?;
        if !g.json {
            println!("Worker {} stopped", config.identity);
        }
        Ok(0)
    }

    /// `fleet apply|destroy --on temporal://...`: starts the rollout and prints its id.
    pub(crate) async fn start(
        g: &Global,
        palette: &Palette,
        on: &str,
        new: NewRollout<'_>,
    ) -> Result<u8> {
        let ep = endpoint(on, "--on", false)?;
        let args = new.args;
        let blueprint = BlueprintContent::load(&args.blueprint)?;
        let tenants: Vec<TenantSpec> = new
            .tenants
            .into_iter()
            .map(|(name, vars)| TenantSpec { name, vars })
            .collect();
        let count = tenants.len();
        let operation = if new.destroy {
            FleetOperation::Destroy
        } else {
            FleetOperation::Apply
        };
        let mut input = FleetInput::new(&new.fleet_id, operation, blueprint, tenants);
        input.concurrency = args.concurrency.max(1);
        input.canary = args.canary;
        input.max_failures = new.threshold;
        input.heartbeat_timeout_secs = args.heartbeat_timeout.max(1);
        input.providers_digest = Some(declared_digest(g)?);
        input.allow = args.allow.clone();
        input.refresh = args.refresh;
        // checked here too, so bad input is refused before connecting
        input.validate()?;
        let rollout = client(&ep, &args.task_queue).await?.start(input).await?;
        if g.json {
            json_line(&json!({
                "type": "fleet_started", "fleet_id": new.fleet_id, "operation": operation,
                "tenants": count, "on": on, "task_queue": args.task_queue,
            }));
        } else {
            println!(
                "{} fleet {} ({operation} for {count} tenants) on {on}, task queue {}",
                palette.bold.apply_to("Started"),
                new.fleet_id,
                args.task_queue
            );
            if !args.follow {
                println!(
                    "  progress: provisio fleet status {} --on {on} --follow",
                    new.fleet_id
                );
            }
        }
        if args.follow {
            follow(g, palette, &rollout).await
        } else {
            Ok(0)
        }
    }

    /// `fleet status|pause|resume|cancel ID --on temporal://...`.
    pub(crate) async fn manage(
        g: &Global,
        palette: &Palette,
        command: &FleetCommand,
    ) -> Result<u8> {
        let (r, follow_it): (&RolloutArgs, bool) = match command {
            FleetCommand::Status { rollout, follow } => (rollout, *follow),
            FleetCommand::Pause(r) | FleetCommand::Resume(r) | FleetCommand::Cancel(r) => {
                (r, false)
            }
            FleetCommand::Apply(_) | FleetCommand::Destroy(_) => {
                unreachable!("fleet apply and destroy are dispatched elsewhere")
            }
        };
        let ep = endpoint(&r.on, "--on", false)?;
        provisio_temporal::types::fleet_id(&r.id)?;
        // the task queue matters only for starting a rollout
        let rollout = client(&ep, "provisio").await?.rollout(&r.id);
        let said = |what: &str, text: String| {
            if g.json {
                json_line(&json!({"type": what, "fleet_id": r.id}));
            } else {
                println!("{text}");
            }
        };
        match command {
            FleetCommand::Status { .. } if follow_it => follow(g, palette, &rollout).await,
            FleetCommand::Status { .. } => {
                let status = rollout.status().await.map_err(|e| explain(e, &r.id))?;
                if g.json {
                    json_line(&status);
                } else {
                    print_status(palette, &status);
                }
                Ok(exit_code(&status))
            }
            FleetCommand::Pause(_) => {
                rollout.pause().await.map_err(|e| explain(e, &r.id))?;
                said(
                    "fleet_paused",
                    format!(
                        "Paused fleet {}: running tenants finish, no new ones start until \
                         `provisio fleet resume {} --on {}`",
                        r.id, r.id, r.on
                    ),
                );
                Ok(0)
            }
            FleetCommand::Resume(_) => {
                rollout.resume().await.map_err(|e| explain(e, &r.id))?;
                said("fleet_resumed", format!("Resumed fleet {}", r.id));
                Ok(0)
            }
            _ => {
                rollout.cancel().await.map_err(|e| explain(e, &r.id))?;
                said(
                    "fleet_cancel_requested",
                    format!(
                        "Cancelling fleet {}: running tenants stop and roll back their run, no \
                         new ones start",
                        r.id
                    ),
                );
                Ok(0)
            }
        }
    }

    /// Temporal's answers in terms of the rollout: one it does not know is a `NotFound` naming
    /// it; a query nobody answers (a rollout's status is answered by a worker polling its task
    /// queue) is a `Timeout` saying so.
    fn explain(e: Error, id: &str) -> Error {
        let text = e.to_string();
        if text.contains("not found") || text.contains("NotFound") {
            Error::not_found(format!("no fleet {id:?} on this Temporal namespace"))
        } else if text.contains("Timeout expired") || text.contains("DeadlineExceeded") {
            Error::timeout(format!(
                "fleet {id:?} did not answer: a rollout's status is answered by a worker \
                 polling its task queue; is a `provisio worker --task-queue ...` for it running?"
            ))
        } else {
            e
        }
    }

    fn exit_code(status: &FleetStatus) -> u8 {
        match status.state {
            RolloutState::Running | RolloutState::Paused | RolloutState::Completed
                if status.failed == 0 =>
            {
                0
            }
            _ => 1,
        }
    }

    fn state_text(state: &RolloutState) -> String {
        match state {
            RolloutState::Running => "running".into(),
            RolloutState::Paused => "paused".into(),
            RolloutState::Completed => "completed".into(),
            RolloutState::Halted { reason } => format!("halted ({reason})"),
            RolloutState::Cancelled => "cancelled".into(),
            RolloutState::Refused { message } => format!("refused: {message}"),
        }
    }

    fn counts(status: &FleetStatus) -> String {
        format!(
            "{} succeeded, {} failed, {} running, {} pending",
            status.done,
            status.failed,
            status.running.len(),
            status.pending
        )
    }

    fn print_status(palette: &Palette, status: &FleetStatus) {
        println!(
            "{} {}: {} — {} of {} tenants: {}",
            palette.bold.apply_to("Fleet"),
            status.fleet_id,
            state_text(&status.state),
            status.done + status.failed,
            status.tenants,
            counts(status)
        );
        if !status.running.is_empty() {
            println!("  running: {}", status.running.join(", "));
        }
        print_failures(status);
    }

    fn print_failures(status: &FleetStatus) {
        for t in &status.results {
            match t.state {
                TenantState::Failed => println!(
                    "  failed: {} — {}",
                    t.tenant,
                    t.error.as_ref().map(|e| e.message.as_str()).unwrap_or("")
                ),
                TenantState::Cancelled => println!("  cancelled: {}", t.tenant),
                TenantState::Succeeded => {}
            }
        }
    }

    /// Shows the rollout's progress (its `status` query, once a second) until it ends.
    async fn follow(g: &Global, palette: &Palette, rollout: &Rollout) -> Result<u8> {
        let bar = (!g.json && Term::stderr().is_term()).then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "fleet [{bar:40.cyan/blue}] {pos}/{len} tenants {elapsed} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        let mut last = String::new();
        let status = loop {
            let status = rollout
                .status()
                .await
                .map_err(|e| explain(e, rollout.fleet_id()))?;
            let line = format!("{}: {}", state_text(&status.state), counts(&status));
            if let Some(b) = &bar {
                b.set_length(status.tenants as u64);
                b.set_position((status.done + status.failed) as u64);
                b.set_message(line.clone());
            } else if line != last {
                if g.json {
                    let mut s = status.clone();
                    s.results.clear();
                    json_line(&json!({"type": "fleet_progress", "status": s}));
                } else {
                    println!("fleet {}: {line}", status.fleet_id);
                }
            }
            last = line;
            if status.is_finished() {
                break status;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        if let Some(b) = &bar {
            b.finish_and_clear();
        }
        if g.json {
            json_line(&json!({"type": "fleet_result", "status": status}));
        } else {
            let ok = exit_code(&status) == 0;
            println!(
                "\n{} {}: {}",
                if ok {
                    palette.green.apply_to("Fleet done")
                } else {
                    palette.red.apply_to("Fleet stopped")
                },
                state_text(&status.state),
                counts(&status)
            );
            print_failures(&status);
        }
        Ok(exit_code(&status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ep = endpoint("temporal://127.0.0.1:7233", "--on", false).unwrap();
        assert_eq!(ep.address, "127.0.0.1:7233");
        assert_eq!(ep.namespace, "default");
        let ep = endpoint("temporal://tmp.example:7233/prod-tenants", "--on", false).unwrap();
        assert_eq!(ep.namespace, "prod-tenants");
        assert_eq!(
            endpoint("127.0.0.1:7233", "--temporal", true)
                .unwrap()
                .address,
            "127.0.0.1:7233"
        );
        for (bad, bare) in [
            ("127.0.0.1:7233", false),
            ("http://127.0.0.1:7233", true),
            ("temporal://127.0.0.1", false),
            ("temporal://:7233", false),
            ("temporal://h:99999", false),
            ("temporal://h:7233/a b", false),
        ] {
            let e = endpoint(bad, "--on", bare).unwrap_err();
            assert!(e.to_string().contains("--on"), "{bad}: {e}");
        }
    }
}
