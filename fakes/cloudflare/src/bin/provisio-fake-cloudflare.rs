//! `provisio-fake-cloudflare`: the fake Cloudflare API as a process, for Prism and the bindings'
//! tests.
//!
//! ```text
//! provisio-fake-cloudflare [--port N] [--token T] [--zone NAME]... [--quota N --window-secs S] [--min-ttl N]
//! ```
//!
//! Listens on 127.0.0.1, then prints the API base URL (`http://127.0.0.1:<port>/client/v4`) on
//! the first line of stdout and one `zone <name> <id>` line per zone. The token defaults to the
//! environment variable `PROVISIO_FAKE_CLOUDFLARE_TOKEN`, else `test-token`. Stops on SIGTERM or
//! SIGINT (the default signal actions).

use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions, Quota};
use std::io::Write;
use std::time::Duration;

const USAGE: &str = "usage: provisio-fake-cloudflare [--port N] [--token T] [--zone NAME]... \
[--quota N --window-secs S] [--min-ttl N]";

fn main() {
    if let Err(msg) = run() {
        eprintln!("provisio-fake-cloudflare: {msg}\n{USAGE}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let mut options = FakeOptions::default();
    if let Ok(t) = std::env::var("PROVISIO_FAKE_CLOUDFLARE_TOKEN")
        && !t.trim().is_empty()
    {
        options.token = t.trim().to_string();
    }
    let mut quota: Option<u32> = None;
    let mut window_secs: f64 = 300.0;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                options.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port must be a port number".to_string())?
            }
            "--token" => options.token = value("--token")?,
            "--zone" => options.zones.push(value("--zone")?),
            "--quota" => {
                quota = Some(
                    value("--quota")?
                        .parse()
                        .map_err(|_| "--quota must be a number".to_string())?,
                )
            }
            "--window-secs" => {
                window_secs = value("--window-secs")?
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or_else(|| "--window-secs must be a positive number".to_string())?
            }
            "--min-ttl" => {
                options.min_ttl = value("--min-ttl")?
                    .parse()
                    .map_err(|_| "--min-ttl must be a number".to_string())?
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if options.token.trim().is_empty() {
        return Err("the token must not be empty".into());
    }
    options.quota = quota.map(|requests| Quota {
        requests,
        window: Duration::from_secs_f64(window_secs),
    });
    let zones = options.zones.clone();
    let fake = FakeCloudflare::start(options).map_err(|e| format!("cannot listen: {e}"))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", fake.url());
    for z in zones {
        let id = fake.add_zone(&z);
        let _ = writeln!(out, "zone {z} {id}");
    }
    let _ = out.flush();
    drop(out);
    // The server runs on its own thread; this one only keeps the process alive.
    loop {
        std::thread::park();
    }
}
