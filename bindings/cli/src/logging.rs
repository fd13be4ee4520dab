//! provisio's `tracing` output on stderr: off unless asked for with `-v` (repeatable) or
//! `RUST_LOG`, so stdout stays the command's output (and NDJSON under `--json`).
//!
//! | flag | what is shown |
//! |---|---|
//! | (none) | nothing, unless `RUST_LOG` is set |
//! | `-v` | provisio's info events (retries) and one line per finished step or recovery (`provisio.step`, with its time) |
//! | `-vv` | also debug events (each git, Jenkins or Cloudflare request, rate-limit waits) |
//! | `-vvv` | everything provisio traces |
//!
//! `RUST_LOG` takes the usual `target=level,...` list (e.g. `provisio_git=debug,info`) and
//! wins over `-v`. Only provisio's own crates are shown at `-v` levels; `RUST_LOG` can name
//! others (`aws_smithy_runtime=debug`). Secret values never reach these lines: events carry
//! names and errors, and errors never hold a secret.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

/// The filter for `-v` repeated `verbose` times (`None`: no output).
fn from_verbosity(verbose: u8) -> Option<Targets> {
    let level = match verbose {
        0 => return None,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    // every crate of provisio's is named provisio or provisio_*
    Some(
        Targets::new()
            .with_target("provisio", level)
            .with_default(LevelFilter::OFF),
    )
}

/// Installs the stderr subscriber when `-v` or `RUST_LOG` asks for one. An unreadable
/// `RUST_LOG` is reported once and `-v` decides.
pub(crate) fn init(verbose: u8) {
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .and_then(|v| match v.parse::<Targets>() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("warning: RUST_LOG={v:?} is not a target=level list ({e}); ignored");
                None
            }
        });
    let Some(filter) = from_env.or_else(|| from_verbosity(verbose)) else {
        return;
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE);
    // Only fails when a subscriber is set already, which nothing else here does.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_levels() {
        assert!(from_verbosity(0).is_none());
        let info = from_verbosity(1).unwrap();
        assert!(info.would_enable("provisio_engine::run::call", &tracing::Level::INFO));
        assert!(!info.would_enable("provisio_engine::run::call", &tracing::Level::DEBUG));
        assert!(!info.would_enable("hyper::proto", &tracing::Level::ERROR));
        let debug = from_verbosity(2).unwrap();
        assert!(debug.would_enable("provisio_git::command", &tracing::Level::DEBUG));
        let trace = from_verbosity(5).unwrap();
        assert!(trace.would_enable("provisio", &tracing::Level::TRACE));
    }
}
