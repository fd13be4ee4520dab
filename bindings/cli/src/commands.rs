//! The commands.

use crate::report::{FleetReporter, Mode, Palette, Reporter, json_line};
use crate::session::{self, Session};
use crate::{
    Cli, Command, FleetArgs, FleetCommand, Global, StateCommand, Target, TransitionArgs, hints,
};
use console::Term;
use provisio::{Error, ErrorKind, Result};
use provisio_engine::fleet::{FailureThreshold, Fleet, TenantStatus};
use provisio_engine::{
    ApplyOptions, CancellationToken, DestroyOptions, PlanOptions, RefreshOptions, RunReport,
    Tenant, Transition,
};
use serde_json::json;
use std::sync::Arc;

/// Runs the command and returns the exit code.
pub(crate) async fn run(cli: Cli) -> u8 {
    let color =
        !cli.global.no_color && std::env::var_os("NO_COLOR").is_none() && Term::stdout().is_term();
    let palette = Palette::new(color);
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("cancelling: the steps in flight finish or roll back...");
                cancel.cancel();
            }
        });
    }
    match dispatch(&cli, &palette, cancel.clone()).await {
        Ok(code) => code,
        Err(e) => {
            hints::print(&e);
            if cancel.is_cancelled() || e.kind() == &ErrorKind::Cancelled {
                130
            } else {
                1
            }
        }
    }
}

fn reporter(global: &Global, palette: &Palette) -> Arc<Reporter> {
    let mode = if global.json {
        Mode::Json
    } else if Term::stderr().is_term() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    Arc::new(Reporter::new(mode, palette.clone()))
}

/// Prints unless `--json`.
macro_rules! say {
    ($global:expr, $($arg:tt)*) => {
        if !$global.json {
            println!($($arg)*);
        }
    };
}

struct Prepared {
    session: Session,
    blueprint: provisio_engine::Blueprint,
    tenant: Tenant,
    reporter: Arc<Reporter>,
}

async fn prepare(
    global: &Global,
    target: &Target,
    palette: &Palette,
    inputs: session::Inputs,
) -> Result<Prepared> {
    let blueprint = session::load_blueprint(&target.blueprint)?;
    let tenant = session::tenant(&target.tenant, &blueprint, &target.vars, inputs)?;
    let reporter = reporter(global, palette);
    let session = Session::open(global, Some(&target.blueprint), reporter.clone()).await?;
    Ok(Prepared {
        session,
        blueprint,
        tenant,
        reporter,
    })
}

fn providers_line(palette: &Palette, session: &Session) -> String {
    let mut by_kind: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (cap, name, kind) in &session.connection.summary {
        let label = if name == provisio_engine::providers::DEFAULT_PROVIDER {
            cap.as_str().to_string()
        } else {
            format!("{}:{name}", cap.as_str())
        };
        by_kind.entry(kind.clone()).or_default().push(label);
    }
    let parts: Vec<String> = by_kind
        .iter()
        .map(|(k, caps)| format!("{} ({})", palette.bold.apply_to(k), caps.join(", ")))
        .collect();
    format!("providers: {}", parts.join("; "))
}

/// Keeps the memory world whatever happened, then passes the result on.
fn saved<T>(session: &Session, result: Result<T>) -> Result<T> {
    let save = session.save();
    let value = result?;
    save?;
    Ok(value)
}

async fn dispatch(cli: &Cli, palette: &Palette, cancel: CancellationToken) -> Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Plan {
            target,
            detailed_exitcode,
            no_refresh,
        } => {
            let p = prepare(g, target, palette, session::Inputs::All).await?;
            let plan = p
                .session
                .engine
                .plan(
                    &p.blueprint,
                    &p.tenant,
                    &PlanOptions {
                        refresh: !no_refresh,
                        ..Default::default()
                    },
                )
                .await;
            let plan = saved(&p.session, plan)?;
            if g.json {
                json_line(
                    &json!({"type": "plan", "plan": plan, "has_changes": plan.has_changes()}),
                );
            } else {
                println!("{}", providers_line(palette, &p.session));
                print!("{}", crate::view::plan_table(palette, &plan));
            }
            Ok(if *detailed_exitcode && plan.has_changes() {
                2
            } else {
                0
            })
        }
        Command::Apply {
            target,
            allow,
            keep_partial,
        } => {
            let p = prepare(g, target, palette, session::Inputs::All).await?;
            say!(g, "{}", providers_line(palette, &p.session));
            // The plan is made by the apply itself, under the tenant's lease (another runner
            // gets the lease error before anything is read) and with one read per resource.
            let json_out = g.json;
            let plan_palette = palette.clone();
            let mut options = ApplyOptions::default()
                .refresh()
                .cancel(cancel)
                .on_plan(move |plan| {
                    if json_out {
                        json_line(
                            &json!({"type": "plan", "plan": plan, "has_changes": plan.has_changes()}),
                        );
                    } else {
                        print!("{}", crate::view::plan_table(&plan_palette, plan));
                        if plan.has_changes() && plan.blocked().next().is_none() {
                            println!("\n{}", plan_palette.bold.apply_to("Applying"));
                        }
                    }
                    plan.has_changes()
                });
            options.keep_partial = *keep_partial;
            for a in allow {
                options = options.allow(a.clone());
            }
            let report = p
                .session
                .engine
                .apply(&p.blueprint, &p.tenant, options)
                .await;
            p.reporter.finish();
            let report = saved(&p.session, report)?;
            if report.steps.is_empty() && report.plan.as_ref().is_some_and(|p| !p.has_changes()) {
                say!(
                    g,
                    "{}",
                    palette
                        .green
                        .apply_to("No changes: the tenant is up to date.")
                );
                return Ok(0);
            }
            finish_run(g, palette, &p, report).await
        }
        Command::Destroy { target, allow } => {
            let p = prepare(g, target, palette, session::Inputs::Given).await?;
            say!(g, "{}", providers_line(palette, &p.session));
            let mut options = DestroyOptions::default().cancel(cancel);
            for a in allow {
                options = options.allow(a.clone());
            }
            say!(
                g,
                "{} tenant {}",
                palette.bold.apply_to("Destroying"),
                p.tenant.name
            );
            let report = p
                .session
                .engine
                .destroy(&p.blueprint, &p.tenant, options)
                .await;
            p.reporter.finish();
            let report = saved(&p.session, report)?;
            finish_run(g, palette, &p, report).await
        }
        Command::Refresh { target, write } => {
            let p = prepare(g, target, palette, session::Inputs::Given).await?;
            let options = RefreshOptions {
                write: *write,
                cancel,
                ..Default::default()
            };
            let report = p
                .session
                .engine
                .refresh(&p.blueprint, &p.tenant, options)
                .await;
            p.reporter.finish();
            let report = saved(&p.session, report)?;
            if g.json {
                json_line(&json!({"type": "refresh", "report": report}));
            } else {
                for r in &report.resources {
                    let text = match &r.drift {
                        provisio_engine::plan::Drift::InSync => {
                            palette.dim.apply_to("in sync".to_string())
                        }
                        provisio_engine::plan::Drift::Missing => {
                            palette.red.apply_to("missing".to_string())
                        }
                        provisio_engine::plan::Drift::Changed { diff } => {
                            palette.yellow.apply_to(format!(
                                "changed: {}",
                                diff.iter()
                                    .map(|d| d.field.clone())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        }
                    };
                    println!("  {:<24} {text}", r.resource);
                }
                println!(
                    "{}",
                    if report.has_drift() {
                        "drift found".to_string()
                    } else {
                        "no drift".to_string()
                    }
                );
            }
            Ok(0)
        }
        Command::Suspend(a) => transition(g, palette, a, Transition::Suspend, cancel).await,
        Command::Resume(a) => transition(g, palette, a, Transition::Resume, cancel).await,
        Command::Archive(a) => transition(g, palette, a, Transition::Archive, cancel).await,
        Command::Restore(a) => transition(g, palette, a, Transition::Restore, cancel).await,
        Command::Retire(a) => transition(g, palette, a, Transition::Retire, cancel).await,
        Command::Status { tenant } => status(g, palette, tenant.as_deref()).await,
        Command::Outputs { tenant, resource } => {
            provisio::validate::tenant_name("--tenant", tenant)?;
            let state = session::open_state(&g.state).await?;
            let engine = provisio_engine::Engine::builder()
                .state(state)
                .events(Arc::new(provisio_engine::events::NullSink))
                .build()?;
            let mut outputs = engine.outputs(tenant).await?;
            if outputs.is_empty() {
                return Err(Error::not_found(format!(
                    "tenant {tenant:?} has no resources in the state store {}",
                    g.state
                )));
            }
            if let Some(r) = resource {
                let v = outputs.remove(r).ok_or_else(|| {
                    Error::not_found(format!("tenant {tenant:?} has no resource {r:?}"))
                })?;
                outputs = [(r.clone(), v)].into_iter().collect();
            }
            if g.json {
                json_line(&outputs);
            } else {
                print!("{}", crate::view::outputs_table(&outputs));
            }
            Ok(0)
        }
        Command::Fleet(FleetCommand::Apply(args)) => fleet(g, palette, args, false, cancel).await,
        Command::Fleet(FleetCommand::Destroy(args)) => fleet(g, palette, args, true, cancel).await,
        Command::Fleet(command) => crate::remote::manage(g, palette, command).await,
        Command::Worker(args) => crate::remote::worker(g, palette, args).await,
        Command::State(StateCommand::Unlock { tenant }) => {
            provisio::validate::tenant_name("--tenant", tenant)?;
            let state = session::open_state(&g.state).await?;
            match state.break_lease(tenant).await? {
                Some(lease) => {
                    say!(
                        g,
                        "broke the lease of tenant {tenant} held by {}",
                        lease.owner
                    );
                    if g.json {
                        json_line(
                            &json!({"type": "unlocked", "tenant": tenant, "owner": lease.owner}),
                        );
                    }
                }
                None => {
                    say!(g, "tenant {tenant} was not locked");
                    if g.json {
                        json_line(&json!({"type": "unlocked", "tenant": tenant, "owner": null}));
                    }
                }
            }
            Ok(0)
        }
    }
}

async fn finish_run(g: &Global, palette: &Palette, p: &Prepared, report: RunReport) -> Result<u8> {
    let s = &report.summary;
    if g.json {
        json_line(&json!({
            "type": "result",
            "run_id": report.run_id,
            "tenant": report.tenant,
            "success": report.is_success(),
            "summary": s,
            "kept_protected": report.kept_protected,
            "in_doubt": report.in_doubt,
            "rollback_failed": report.rollback_failed,
        }));
    } else {
        println!(
            "\n{} in {:.1} s: {} created, {} updated, {} unchanged, {} deleted, {} failed, {} rolled back",
            if report.is_success() {
                palette.green.apply_to("Done")
            } else {
                palette.red.apply_to("Failed")
            },
            s.duration_ms as f64 / 1000.0,
            s.created,
            s.updated,
            s.unchanged,
            s.deleted,
            s.failed,
            s.rolled_back
        );
        if s.requests > 0 {
            let per: Vec<String> = s
                .requests_by_service
                .iter()
                .map(|(service, n)| format!("{service} {n}"))
                .collect();
            println!("{} provider requests ({})", s.requests, per.join(", "));
        }
        if !report.in_doubt.is_empty() {
            println!(
                "{} {} (this run may have created them; kept and recorded, so the next apply adopts them)",
                palette.yellow.apply_to("In doubt:"),
                report.in_doubt.join(", ")
            );
        }
        if !report.rollback_failed.is_empty() {
            println!(
                "{} {} (their delete failed; kept and recorded, so the next apply adopts them and destroy removes them)",
                palette.red.apply_to("Not rolled back:"),
                report.rollback_failed.join(", ")
            );
        }
        if !report.kept_protected.is_empty() {
            println!(
                "{} {} (protected; delete with --allow <name>)",
                palette.yellow.apply_to("Kept:"),
                report.kept_protected.join(", ")
            );
            let needed: Vec<&str> = report
                .steps
                .iter()
                .filter(|st| {
                    matches!(st.status, provisio_engine::StepStatus::Skipped { .. })
                        && !report.kept_protected.contains(&st.resource)
                })
                .map(|st| st.resource.as_str())
                .collect();
            if !needed.is_empty() {
                println!(
                    "{} {} (what the protected resources depend on)",
                    palette.yellow.apply_to("Also kept:"),
                    needed.join(", ")
                );
            }
        }
    }
    let report = report.into_result()?;
    if !g.json
        && matches!(
            report.operation,
            provisio_engine::Operation::Apply
                | provisio_engine::Operation::Resume
                | provisio_engine::Operation::Restore
        )
    {
        let outputs = p.session.engine.outputs(&p.tenant.name).await?;
        let wanted = [
            ("hostname", "dns_prod", "fqdn"),
            ("staging hostname", "dns_stg", "fqdn"),
            ("instance", "web", "id"),
            ("public ip", "web", "public_ip"),
            ("database", "database", "name"),
            ("branches", "branch_prod", "name"),
            ("", "branch_dev", "name"),
        ];
        let mut lines = Vec::new();
        for (label, res, key) in wanted {
            if let Some(v) = outputs.get(res).and_then(|o| o.get(key)) {
                lines.push((label, crate::view::short(v, 60)));
            }
        }
        if lines.is_empty() {
            println!("\nOutputs:");
            print!("{}", crate::view::outputs_table(&outputs));
        } else {
            println!("\n{}", palette.bold.apply_to("Outputs"));
            for (label, v) in lines {
                println!("  {label:<18} {v}");
            }
            println!(
                "  (all outputs: provisio outputs --tenant {})",
                p.tenant.name
            );
        }
    }
    Ok(0)
}

/// `provisio suspend|resume|archive|restore|retire`: the plan under the lease, then the run.
async fn transition(
    g: &Global,
    palette: &Palette,
    args: &TransitionArgs,
    transition: Transition,
    cancel: CancellationToken,
) -> Result<u8> {
    let p = prepare(g, &args.target, palette, session::Inputs::All).await?;
    if args.plan {
        let mut options = PlanOptions::default();
        options.overrides.extend(args.allow.iter().cloned());
        let plan = p
            .session
            .engine
            .plan_transition(&p.blueprint, &p.tenant, transition, &options)
            .await;
        let plan = saved(&p.session, plan)?;
        if g.json {
            json_line(
                &json!({"type": "plan", "transition": transition, "plan": plan, "has_changes": plan.has_changes()}),
            );
        } else {
            println!("{}", providers_line(palette, &p.session));
            print!("{}", crate::view::plan_table(palette, &plan));
        }
        return Ok(0);
    }
    say!(g, "{}", providers_line(palette, &p.session));
    let json_out = g.json;
    let plan_palette = palette.clone();
    let header = format!(
        "{} tenant {} ({} → {})",
        capitalised(transition.progressive()),
        p.tenant.name,
        transition
            .from()
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        transition.target()
    );
    let mut options = ApplyOptions::default().cancel(cancel).on_plan(move |plan| {
        if json_out {
            json_line(&json!({"type": "plan", "transition": transition, "plan": plan, "has_changes": plan.has_changes()}));
        } else {
            print!("{}", crate::view::plan_table(&plan_palette, plan));
            if plan.blocked().next().is_none() {
                println!("\n{}", plan_palette.bold.apply_to(&header));
            }
        }
        true
    });
    for a in &args.allow {
        options = options.allow(a.clone());
    }
    let report = p
        .session
        .engine
        .transition(&p.blueprint, &p.tenant, transition, options)
        .await;
    p.reporter.finish();
    let report = saved(&p.session, report)?;
    let ok = report.is_success();
    let code = finish_run(g, palette, &p, report).await?;
    if !g.json {
        if ok {
            say!(g, "tenant {} is {}", p.tenant.name, transition.target());
        } else {
            say!(
                g,
                "tenant {} is still {}: run `provisio {transition}` again to finish it",
                p.tenant.name,
                transition.progressive()
            );
        }
    }
    Ok(code)
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// A tenant's phase as `status` shows it: its lifecycle record, else `launched` when it has
/// resources.
async fn phase_of(
    state: &dyn provisio_engine::StateStore,
    tenant: &str,
    has_resources: bool,
) -> Result<String> {
    Ok(match state.get_phase(tenant).await? {
        Some(p) => p.describe(),
        None if has_resources => "launched".to_string(),
        None => "-".to_string(),
    })
}

async fn status(g: &Global, palette: &Palette, tenant: Option<&str>) -> Result<u8> {
    let state = session::open_state(&g.state).await?;
    match tenant {
        None => {
            let tenants = state.list_tenants().await?;
            let mut rows = Vec::new();
            for t in &tenants {
                let resources = state.list_resources(t).await?;
                let lease = state.get_lease(t).await?;
                let phase = phase_of(state.as_ref(), t, !resources.is_empty()).await?;
                rows.push(json!({
                    "tenant": t,
                    "phase": phase,
                    "resources": resources.len(),
                    "protected": resources.iter().filter(|r| r.protect).count(),
                    "locked_by": lease.as_ref().map(|l| l.owner.clone()),
                    "updated_at_ms": resources.iter().map(|r| r.updated_at_ms).max(),
                }));
            }
            if g.json {
                json_line(&json!({"type": "status", "tenants": rows}));
            } else if rows.is_empty() {
                println!("no tenants in {}", g.state);
            } else {
                println!(
                    "  {}",
                    palette.dim.apply_to(format!(
                        "{:<24} {:<28} {:>9}  {:>9}  lock",
                        "TENANT", "PHASE", "RESOURCES", "PROTECTED"
                    ))
                );
                for r in rows {
                    println!(
                        "  {:<24} {:<28} {:>9}  {:>9}  {}",
                        r["tenant"].as_str().unwrap_or_default(),
                        r["phase"].as_str().unwrap_or_default(),
                        r["resources"].as_u64().unwrap_or(0),
                        r["protected"].as_u64().unwrap_or(0),
                        r["locked_by"].as_str().unwrap_or("-")
                    );
                }
            }
        }
        Some(t) => {
            provisio::validate::tenant_name("--tenant", t)?;
            let resources = state.list_resources(t).await?;
            let lease = state.get_lease(t).await?;
            let phase = phase_of(state.as_ref(), t, !resources.is_empty()).await?;
            if g.json {
                let rows: Vec<_> = resources
                    .iter()
                    .map(|r| {
                        json!({"name": r.name, "type": r.resource_type, "provider": r.provider,
                               "identity": r.identity, "protect": r.protect, "updated_at_ms": r.updated_at_ms})
                    })
                    .collect();
                json_line(
                    &json!({"type": "status", "tenant": t, "phase": phase, "resources": rows,
                                  "locked_by": lease.map(|l| l.owner)}),
                );
            } else {
                if resources.is_empty() {
                    println!("tenant {t} has no resources in {}", g.state);
                }
                if phase != "-" {
                    println!("  phase: {phase}");
                }
                for r in &resources {
                    println!(
                        "  {:<24} {:<18} {}{}",
                        r.name,
                        r.resource_type,
                        r.identity,
                        if r.protect { " [protected]" } else { "" }
                    );
                }
                if let Some(l) = lease {
                    println!(
                        "locked by {} (run `provisio state unlock --tenant {t}` if it died)",
                        l.owner
                    );
                }
            }
        }
    }
    Ok(0)
}

fn threshold(s: &str) -> Result<FailureThreshold> {
    let bad = || {
        Error::invalid_field(
            "--max-failures",
            format!("{s:?} is not a count (3), a percentage (5%) or `never`"),
        )
    };
    if s == "never" {
        return Ok(FailureThreshold::Never);
    }
    if let Some(p) = s.strip_suffix('%') {
        let f: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&f) {
            return Err(bad());
        }
        return Ok(FailureThreshold::Fraction(f / 100.0));
    }
    s.trim()
        .parse()
        .map(FailureThreshold::Count)
        .map_err(|_| bad())
}

async fn fleet(
    g: &Global,
    palette: &Palette,
    args: &FleetArgs,
    destroy: bool,
    cancel: CancellationToken,
) -> Result<u8> {
    let blueprint = session::load_blueprint(&args.blueprint)?;
    if args.refresh && destroy {
        return Err(Error::invalid_field(
            "--refresh",
            "only fleet apply refreshes; a destroy deletes what the state records",
        ));
    }
    // each tenant's plain variables: the common ones, then the tenants file's
    let rows = crate::tenants::read(&args.tenants)?;
    let common = session::plain_vars(&args.vars)?;
    for k in common.keys() {
        session::check_plain_var(&blueprint, k, "--var")?;
    }
    let mut plain = Vec::with_capacity(rows.len());
    for row in rows {
        let mut vars = common.clone();
        for (k, v) in row.vars {
            session::check_plain_var(
                &blueprint,
                &k,
                &format!("tenants file, tenant {:?}", row.name),
            )?;
            vars.insert(k, v);
        }
        plain.push((row.name, vars));
    }
    let threshold = threshold(&args.max_failures)?;
    let fleet_id = args.fleet_id.clone().unwrap_or_else(|| {
        let stem = args
            .tenants
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("tenants");
        if destroy {
            format!("{}-{stem}-destroy", blueprint.name)
        } else {
            format!("{}-{stem}", blueprint.name)
        }
    });
    if let Some(on) = &args.on {
        let rollout = crate::remote::NewRollout {
            args,
            destroy,
            fleet_id,
            threshold,
            tenants: plain,
        };
        return crate::remote::start(g, palette, on, rollout).await;
    }
    if args.follow {
        return Err(Error::invalid_field(
            "--follow",
            "only a rollout on Temporal (--on) is followed; an in-process fleet shows its progress as it runs",
        ));
    }
    let secrets = session::secret_vars(&blueprint, &args.vars)?;
    let mut tenants = Vec::with_capacity(plain.len());
    for (name, vars) in plain {
        let mut t = Tenant::new(&name);
        t.vars = vars;
        for (k, v) in &secrets {
            t = t.secret(k.clone(), v.clone());
        }
        if !destroy {
            blueprint.check_tenant(&t)?;
        }
        tenants.push(t);
    }
    let steps = Arc::new(Reporter::new(
        if g.json { Mode::Json } else { Mode::Quiet },
        palette.clone(),
    ));
    let session = Session::open(g, Some(&args.blueprint), steps).await?;
    say!(g, "{}", providers_line(palette, &session));
    say!(
        g,
        "{} {} for {} tenants (fleet id {fleet_id}, concurrency {})",
        palette
            .bold
            .apply_to(if destroy { "Destroying" } else { "Applying" }),
        blueprint.name,
        tenants.len(),
        args.concurrency
    );
    let reporter = Arc::new(FleetReporter::new(g.json, palette.clone(), tenants.len()));
    let mut fleet = Fleet::new(session.engine.clone())
        .concurrency(args.concurrency.max(1))
        .canary(args.canary)
        .max_failures(threshold)
        .events(reporter.clone());
    let report = if destroy {
        fleet = fleet.destroy_options(DestroyOptions {
            overrides: args.allow.iter().cloned().collect(),
            ..Default::default()
        });
        fleet.destroy(&fleet_id, &blueprint, tenants, cancel).await
    } else {
        fleet = fleet.apply_options(ApplyOptions {
            refresh: args.refresh,
            overrides: args.allow.iter().cloned().collect(),
            ..Default::default()
        });
        fleet.run(&fleet_id, &blueprint, tenants, cancel).await
    };
    reporter.finish();
    let report = saved(&session, report)?;
    let c = &report.counts;
    if g.json {
        json_line(&json!({"type": "fleet_result", "report": report}));
    } else {
        println!(
            "\n{} in {:.1} s: {} succeeded, {} failed, {} already done, {} not started ({} resources created, {} deleted)",
            if report.is_success() {
                palette.green.apply_to("Fleet done")
            } else {
                palette.red.apply_to("Fleet stopped")
            },
            report.duration_ms as f64 / 1000.0,
            c.succeeded,
            c.failed,
            c.already_succeeded,
            c.not_started,
            c.resources.created,
            c.resources.deleted
        );
        for t in report.with_status(TenantStatus::Failed) {
            println!(
                "  failed: {} — {}",
                t.tenant,
                t.error.as_ref().map(|e| e.message.as_str()).unwrap_or("")
            );
        }
    }
    Ok(if report.is_success() { 0 } else { 1 })
}
