//! Event output: NDJSON for machines, progress bars (on a terminal) or one line per step for
//! people.

use console::{Style, Term};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use provisio_engine::fleet::{FleetEvent, FleetEventKind, FleetSink, TenantStatus};
use provisio_engine::{Event, EventKind, EventSink, StepOutcome};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Colors, off when disabled or when stdout is not a terminal.
#[derive(Clone)]
pub(crate) struct Palette {
    pub(crate) green: Style,
    pub(crate) yellow: Style,
    pub(crate) red: Style,
    pub(crate) cyan: Style,
    pub(crate) dim: Style,
    pub(crate) bold: Style,
}

impl Palette {
    pub(crate) fn new(color: bool) -> Self {
        let s = |st: Style| st.force_styling(color);
        Palette {
            green: s(Style::new().green()),
            yellow: s(Style::new().yellow()),
            red: s(Style::new().red()),
            cyan: s(Style::new().cyan()),
            dim: s(Style::new().dim()),
            bold: s(Style::new().bold()),
        }
    }
}

/// Writes one JSON value as a line on stdout.
pub(crate) fn json_line(value: &impl serde::Serialize) {
    let mut out = std::io::stdout().lock();
    if let Ok(text) = serde_json::to_string(value) {
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

/// How events are shown.
pub(crate) enum Mode {
    /// NDJSON on stdout.
    Json,
    /// Progress bars on stderr (a terminal).
    Bars,
    /// One line per finished step on stdout.
    Lines,
    /// Nothing (fleet runs show tenants, not steps).
    Quiet,
}

struct Bars {
    multi: MultiProgress,
    overall: Option<ProgressBar>,
    steps: HashMap<String, ProgressBar>,
}

/// The engine's event sink for the CLI.
pub(crate) struct Reporter {
    mode: Mode,
    palette: Palette,
    bars: Mutex<Bars>,
}

fn outcome_word(o: &StepOutcome) -> &'static str {
    match o {
        StepOutcome::Created => "created",
        StepOutcome::Updated => "updated",
        StepOutcome::Unchanged => "unchanged",
        StepOutcome::Deleted => "deleted",
        StepOutcome::AlreadyGone => "already gone",
        StepOutcome::Adopted => "adopted",
        StepOutcome::Absent => "absent",
    }
}

impl Reporter {
    pub(crate) fn new(mode: Mode, palette: Palette) -> Self {
        Reporter {
            mode,
            palette,
            bars: Mutex::new(Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                overall: None,
                steps: HashMap::new(),
            }),
        }
    }

    /// Removes the bars (before printing a summary).
    pub(crate) fn finish(&self) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(o) = bars.overall.take() {
            o.finish_and_clear();
        }
        for (_, b) in bars.steps.drain() {
            b.finish_and_clear();
        }
        let _ = bars.multi.clear();
    }

    fn line(&self, text: String) {
        let bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(self.mode, Mode::Bars) {
            let _ = bars.multi.println(text);
        } else {
            drop(bars);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
    }

    fn human(&self, event: &Event) {
        let p = &self.palette;
        match &event.kind {
            EventKind::RunStarted { resources, .. } => {
                if let Mode::Bars = self.mode {
                    let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
                    let bar = bars.multi.add(ProgressBar::new(resources.len() as u64));
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} steps {elapsed}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(event.tenant.clone());
                    bars.overall = Some(bar);
                }
            }
            EventKind::StepStarted { resource, action } => {
                if let Mode::Bars = self.mode {
                    let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
                    let bar = bars.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("  {spinner} {msg} {elapsed:.dim}")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(format!("{resource} ({})", action.as_str()));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bars.steps.insert(resource.clone(), bar);
                }
            }
            EventKind::StepRetrying {
                resource,
                attempt,
                delay_ms,
                reason,
            } => self.line(format!(
                "  {} {resource:<24} attempt {attempt} in {delay_ms} ms: {reason}",
                p.yellow.apply_to("retry")
            )),
            EventKind::StepSucceeded {
                resource,
                outcome,
                duration_ms,
                ..
            } => {
                self.end_step(resource);
                let word = outcome_word(outcome);
                let styled = match outcome {
                    StepOutcome::Created | StepOutcome::Adopted => p.green.apply_to(word),
                    StepOutcome::Updated => p.yellow.apply_to(word),
                    StepOutcome::Deleted => p.red.apply_to(word),
                    _ => p.dim.apply_to(word),
                };
                self.line(format!(
                    "  {} {resource:<24} {styled} {}",
                    p.green.apply_to("ok  "),
                    p.dim.apply_to(format!("({duration_ms} ms)"))
                ));
            }
            EventKind::StepFailed { resource, error } => {
                self.end_step(resource);
                self.line(format!(
                    "  {} {resource:<24} {}: {}",
                    p.red.apply_to("FAIL"),
                    error.kind,
                    error.message
                ));
            }
            EventKind::StepSkipped { resource, reason } => self.line(format!(
                "  {} {resource:<24} {reason}",
                p.dim.apply_to("skip")
            )),
            EventKind::StepRolledBack { resource } => self.line(format!(
                "  {} {resource:<24} rolled back",
                p.yellow.apply_to("undo")
            )),
            EventKind::RunFinished { .. } => self.finish(),
        }
    }

    fn end_step(&self, resource: &str) {
        let mut bars = self.bars.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bars.steps.remove(resource) {
            b.finish_and_clear();
            bars.multi.remove(&b);
        }
        if let Some(o) = &bars.overall {
            o.inc(1);
        }
    }
}

impl EventSink for Reporter {
    fn emit(&self, event: &Event) {
        match self.mode {
            Mode::Json => json_line(event),
            Mode::Quiet => {}
            Mode::Bars | Mode::Lines => self.human(event),
        }
    }
}

/// The fleet's event sink: one line (or a bar tick) per tenant.
pub(crate) struct FleetReporter {
    json: bool,
    palette: Palette,
    bar: Option<ProgressBar>,
}

impl FleetReporter {
    pub(crate) fn new(json: bool, palette: Palette, tenants: usize) -> Self {
        let bar = (!json && Term::stderr().is_term()).then(|| {
            let b = ProgressBar::new(tenants as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "fleet [{bar:40.cyan/blue}] {pos}/{len} tenants {elapsed} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b
        });
        FleetReporter { json, palette, bar }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(b) => b.println(text),
            None => println!("{text}"),
        }
    }
}

impl FleetSink for FleetReporter {
    fn emit(&self, event: &FleetEvent) {
        if self.json {
            json_line(event);
            return;
        }
        let p = &self.palette;
        match &event.kind {
            FleetEventKind::TenantFinished { result } => {
                if let Some(b) = &self.bar {
                    b.inc(1);
                }
                let text = match result.status {
                    TenantStatus::Succeeded => {
                        let s = result.summary.clone().unwrap_or_default();
                        format!(
                            "  {} {:<24} {} created, {} updated, {} unchanged, {} deleted ({} ms)",
                            p.green.apply_to("ok  "),
                            result.tenant,
                            s.created,
                            s.updated,
                            s.unchanged,
                            s.deleted,
                            s.duration_ms
                        )
                    }
                    TenantStatus::Failed => format!(
                        "  {} {:<24} {}",
                        p.red.apply_to("FAIL"),
                        result.tenant,
                        result
                            .error
                            .as_ref()
                            .map(|e| e.message.clone())
                            .unwrap_or_default()
                    ),
                    TenantStatus::AlreadySucceeded => format!(
                        "  {} {:<24} already succeeded in this rollout",
                        p.dim.apply_to("skip"),
                        result.tenant
                    ),
                    TenantStatus::NotStarted => format!(
                        "  {} {:<24} not started",
                        p.dim.apply_to("skip"),
                        result.tenant
                    ),
                };
                self.line(text);
            }
            FleetEventKind::CanaryPassed { .. } => {
                self.line(format!("  {}", p.cyan.apply_to("canary wave passed")))
            }
            FleetEventKind::Halted { .. } | FleetEventKind::Cancelled => {
                self.line(format!("  {}", p.red.apply_to("rollout stopped")))
            }
            _ => {}
        }
    }
}
