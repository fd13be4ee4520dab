//! `provisio-fake-jenkins`: the Jenkins fake as a server process on 127.0.0.1.
//!
//! ```text
//! provisio-fake-jenkins [--port N] [--user NAME] [--token TOKEN] [--password PASSWORD]
//!                       [--job PATH=config.xml]... [--folder PATH]... [--seed-umbrellas]
//!                       [--queue-delay-ms N] [--build-duration-ms N] [--left-item-ttl-ms N]
//!                       [--anonymous denied|redirect|allowed] [--no-csrf]
//! ```
//!
//! Prints its base URL on one line once it listens, then serves until killed.

use provisio_fake_jenkins::{AnonymousAccess, FakeJenkins};
use std::time::Duration;

const USAGE: &str = "usage: provisio-fake-jenkins [--port N] [--user NAME] [--token TOKEN] [--password PASSWORD] [--job PATH=config.xml]... [--folder PATH]... [--seed-umbrellas] [--queue-delay-ms N] [--build-duration-ms N] [--left-item-ttl-ms N] [--anonymous denied|redirect|allowed] [--no-csrf]";

fn fail(msg: &str) -> ! {
    eprintln!("provisio-fake-jenkins: {msg}\n{USAGE}");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut port: u16 = 0;
    let mut user = "admin".to_string();
    let mut token: Option<String> = None;
    let mut password: Option<String> = None;
    let mut jobs: Vec<(String, String)> = Vec::new();
    let mut folders: Vec<String> = Vec::new();
    let mut umbrellas = false;
    let mut queue_delay = None;
    let mut build_duration = None;
    let mut left_ttl = None;
    let mut anonymous = AnonymousAccess::Denied;
    let mut csrf = true;
    let ms = |v: Option<String>, flag: &str| -> Duration {
        v.and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or_else(|| fail(&format!("{flag} needs a number of milliseconds")))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| fail("--port needs a port number"))
            }
            "--user" => user = args.next().unwrap_or_else(|| fail("--user needs a name")),
            "--token" => token = Some(args.next().unwrap_or_else(|| fail("--token needs a value"))),
            "--password" => {
                password = Some(
                    args.next()
                        .unwrap_or_else(|| fail("--password needs a value")),
                )
            }
            "--job" => {
                let spec = args.next().unwrap_or_else(|| fail("--job needs PATH=FILE"));
                let (path, file) = spec
                    .split_once('=')
                    .unwrap_or_else(|| fail("--job needs PATH=FILE"));
                let xml = std::fs::read_to_string(file)
                    .unwrap_or_else(|e| fail(&format!("cannot read {file}: {e}")));
                jobs.push((path.to_string(), xml));
            }
            "--folder" => {
                folders.push(args.next().unwrap_or_else(|| fail("--folder needs a path")))
            }
            "--seed-umbrellas" => umbrellas = true,
            "--queue-delay-ms" => queue_delay = Some(ms(args.next(), "--queue-delay-ms")),
            "--build-duration-ms" => build_duration = Some(ms(args.next(), "--build-duration-ms")),
            "--left-item-ttl-ms" => left_ttl = Some(ms(args.next(), "--left-item-ttl-ms")),
            "--anonymous" => {
                anonymous = match args.next().as_deref() {
                    Some("denied") => AnonymousAccess::Denied,
                    Some("redirect") => AnonymousAccess::RedirectToLogin,
                    Some("allowed") => AnonymousAccess::Allowed,
                    _ => fail("--anonymous needs denied, redirect or allowed"),
                }
            }
            "--no-csrf" => csrf = false,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("cannot start a runtime: {e}")));
    runtime.block_on(async move {
        let fake = FakeJenkins::start_on(port)
            .await
            .unwrap_or_else(|e| fail(&format!("cannot listen on 127.0.0.1:{port}: {e}")));
        fake.add_user(&user, password.as_deref(), token.as_deref());
        fake.set_anonymous(anonymous);
        fake.set_csrf(csrf);
        if let Some(d) = queue_delay {
            fake.set_queue_delay(d);
        }
        if let Some(d) = build_duration {
            fake.set_build_duration(d);
        }
        if let Some(d) = left_ttl {
            fake.set_left_item_ttl(d);
        }
        for folder in &folders {
            fake.seed_folder(folder)
                .unwrap_or_else(|e| fail(&format!("--folder {folder}: {e}")));
        }
        if umbrellas {
            fake.seed_umbrellas()
                .unwrap_or_else(|e| fail(&format!("--seed-umbrellas: {e}")));
        }
        for (path, xml) in &jobs {
            fake.seed_job(path, xml)
                .unwrap_or_else(|e| fail(&format!("--job {path}: {e}")));
        }
        println!("{}", fake.url());
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .unwrap_or_else(|e| fail(&format!("cannot wait for SIGTERM: {e}")));
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        drop(fake);
    });
}
