//! `provisio-fake-azure [--port N] [--zone example.com]...`: serves the Azure fakes on
//! 127.0.0.1 and prints the base URL on the first line of stdout.

use provisio_fake_azure::{FakeAzure, FakeOptions};

fn main() {
    let mut port = 0u16;
    let mut zones = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage("--port needs a number"));
            }
            "--zone" => zones.push(args.next().unwrap_or_else(|| usage("--zone needs a name"))),
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other:?}")),
        }
    }
    let fake = FakeAzure::start_with(port, FakeOptions::default()).unwrap_or_else(|e| {
        eprintln!("provisio-fake-azure: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    for z in &zones {
        fake.add_zone(z);
    }
    println!("{}", fake.url());
    // Serve until killed.
    loop {
        std::thread::park();
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("provisio-fake-azure: {problem}");
    }
    eprintln!("usage: provisio-fake-azure [--port N] [--zone NAME]...");
    std::process::exit(2);
}
