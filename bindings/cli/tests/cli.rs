//! Drives the real `provisio` binary through the launch of the example tenant on the embedded
//! defaults (memory providers kept in `.provisio/memory.json`, SQLite state), checking the
//! memory world's inventory after every command.

use assert_cmd::Command;
use predicates::prelude::*;
use provisio::{CiServer, Repository};
use provisio_memory::MemoryCloud;
use std::path::{Path, PathBuf};

fn launch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant")
}

/// `provisio` in `dir`, with the example's secret variable in the environment.
fn provisio(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("provisio").unwrap();
    cmd.current_dir(dir)
        .env("PROVISIO_SECRET_SMTP_PASSWORD", "smtp-credential-for-tests")
        .env_remove("PROVISIO_PROVIDERS")
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1");
    cmd
}

/// The memory world the CLI left behind.
fn world(dir: &Path) -> MemoryCloud {
    MemoryCloud::load(7, dir.join(".provisio/memory.json"))
        .unwrap()
        .expect("the CLI saved its memory world")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_noop_destroy_on_the_embedded_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bp = launch_dir();

    // plan: 24 to create, exit 2 with --detailed-exitcode
    let out = provisio(dir)
        .args(["plan"])
        .arg(&bp)
        .args(["--tenant", "acme", "--detailed-exitcode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stdout(&out).contains("24 to create"), "{}", stdout(&out));
    // the plan created nothing, but the world with its fixtures exists
    let w = world(dir);
    assert_eq!(w.inventory().count("compute.instance"), 0);
    assert_eq!(
        w.inventory().count("ci.job"),
        2,
        "the umbrella jobs of the fixtures"
    );

    // apply: everything created, outputs printed
    let out = provisio(dir)
        .arg("apply")
        .arg(&bp)
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("24 created"), "{text}");
    assert!(text.contains("acme.example.com"), "{text}");
    assert!(text.contains("dev-acme"), "{text}");
    let w = world(dir);
    let inv = w.inventory();
    assert_eq!(inv.count("compute.instance"), 1);
    assert_eq!(
        inv.count("ci.job"),
        7,
        "five tenant jobs and two umbrella jobs"
    );
    assert_eq!(inv.count("repo.branch"), 3, "main, acme, dev-acme");
    assert!(inv.count("dns.record") >= 3);
    // the templates were rendered for their formats and committed
    let config = w
        .repo
        .read_file("acme", "config.yml")
        .await
        .unwrap()
        .unwrap();
    let config = String::from_utf8(config.to_vec()).unwrap();
    assert!(
        config.contains("hostname: \"acme.example.com\""),
        "{config}"
    );
    let staging = w
        .repo
        .read_file("dev-acme", "nginx.conf")
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&staging).contains("server_name acme.stg.example.com;"));
    let job =
        w.ci.get_job_config("web_build-acme")
            .await
            .unwrap()
            .unwrap();
    assert!(job.contains("<name>acme</name>"), "{job}");
    let umbrella =
        w.ci.downstream_jobs("web_build-stg")
            .await
            .unwrap()
            .unwrap();
    assert!(
        umbrella.contains(&"web_release-stg-acme".to_string()),
        "{umbrella:?}"
    );

    // apply again: nothing to do
    let out = provisio(dir)
        .arg("apply")
        .arg(&bp)
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains("No changes"), "{}", stdout(&out));
    assert_eq!(world(dir).inventory(), inv, "a no-op apply changes nothing");
    provisio(dir)
        .arg("plan")
        .arg(&bp)
        .args(["--tenant", "acme", "--detailed-exitcode"])
        .assert()
        .code(0);

    // outputs and status read the state file
    provisio(dir)
        .args(["outputs", "--tenant", "acme", "--resource", "web"])
        .assert()
        .success()
        .stdout(predicate::str::contains("public_ip=203.0.113."));
    provisio(dir)
        .args(["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("acme"));

    // destroy: everything but the protected database (and what it needs) is gone
    let out = provisio(dir)
        .arg("destroy")
        .arg(&bp)
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Kept: database"), "{text}");
    let w = world(dir);
    let inv = w.inventory();
    assert_eq!(inv.count("compute.instance"), 0);
    assert_eq!(inv.count("ci.job"), 2, "only the umbrella jobs remain");
    assert_eq!(inv.count("repo.branch"), 1, "only main remains");
    assert_eq!(
        inv.count("database.database"),
        1,
        "the protected database is kept"
    );
    let umbrella =
        w.ci.downstream_jobs("web_build-stg")
            .await
            .unwrap()
            .unwrap();
    assert!(
        !umbrella.contains(&"web_release-stg-acme".to_string()),
        "{umbrella:?}"
    );
}

#[test]
fn json_writes_the_event_stream_as_ndjson() {
    let tmp = tempfile::tempdir().unwrap();
    let out = provisio(tmp.path())
        .arg("--json")
        .arg("apply")
        .arg(launch_dir())
        .args(["--tenant", "globex"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let types: Vec<&str> = lines.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"plan"));
    assert!(types.contains(&"run_started"));
    assert_eq!(types.iter().filter(|t| **t == "step_succeeded").count(), 24);
    assert_eq!(types.last(), Some(&"result"));
    assert_eq!(lines.last().unwrap()["summary"]["created"], 24);
    // no secret value anywhere in the stream
    assert!(!stdout(&out).contains("smtp-credential-for-tests"));
}

/// `-v` puts provisio's tracing on stderr (a line per finished step), stdout stays the
/// NDJSON stream, no secret value appears; without `-v` (and `RUST_LOG`) stderr has none of it.
#[test]
fn verbose_logs_steps_on_stderr_without_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = provisio(dir)
        .env_remove("RUST_LOG")
        .args(["-v", "apply"])
        .arg(launch_dir())
        .args(["--tenant", "loud", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stdout(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let steps = stderr
        .lines()
        .filter(|l| l.contains("provisio.step{resource="))
        .count();
    assert_eq!(steps, 24, "a line per step:\n{stderr}");
    assert!(!stderr.contains("smtp-credential-for-tests"), "{stderr}");
    for line in stdout(&out).lines() {
        serde_json::from_str::<serde_json::Value>(line).expect("stdout is NDJSON only");
    }
    let quiet = provisio(dir)
        .env_remove("RUST_LOG")
        .args(["destroy"])
        .arg(launch_dir())
        .args(["--tenant", "loud", "--json"])
        .output()
        .unwrap();
    assert!(quiet.status.success());
    assert!(
        !String::from_utf8_lossy(&quiet.stderr).contains("provisio.step"),
        "no tracing without -v"
    );
}

#[test]
fn errors_are_one_line_and_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    // a missing secret variable
    let mut cmd = provisio(tmp.path());
    cmd.env_remove("PROVISIO_SECRET_SMTP_PASSWORD");
    let out = cmd
        .arg("apply")
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("smtp_password"),
        "{err}"
    );
    assert!(lines[1].contains("PROVISIO_SECRET_SMTP_PASSWORD"), "{err}");

    // a bad tenant name, an unknown variable, a missing blueprint, a bad provider file
    for args in [
        vec!["apply", "BP", "--tenant", "Bad Name!"],
        vec!["apply", "BP", "--tenant", "acme", "--var", "colour=blue"],
        vec!["plan", "no/such/dir", "--tenant", "acme"],
        vec![
            "--providers",
            "missing.toml",
            "plan",
            "BP",
            "--tenant",
            "acme",
        ],
    ] {
        let bp = launch_dir();
        let args: Vec<std::ffi::OsString> = args
            .iter()
            .map(|a| {
                if *a == "BP" {
                    bp.clone().into_os_string()
                } else {
                    a.into()
                }
            })
            .collect();
        let out = provisio(tmp.path()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.lines().count() <= 2, "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
    }
}

#[test]
fn hostile_variables_stay_inert_in_every_rendered_file() {
    let tmp = tempfile::tempdir().unwrap();
    let hostile = "x\"/><evil>${tenant.name}</evil>";
    provisio(tmp.path())
        .arg("apply")
        .arg(launch_dir())
        .args(["--tenant", "initech", "--var"])
        .arg(format!("config_repository={hostile}"))
        .assert()
        .success();
    let w = world(tmp.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let job = rt
        .block_on(w.ci.get_job_config("web_build-initech"))
        .unwrap()
        .unwrap();
    assert!(
        job.contains("<url>x&quot;/&gt;&lt;evil&gt;${tenant.name}&lt;/evil&gt;</url>"),
        "{job}"
    );
    assert!(!job.contains("<evil>"));
}

#[test]
fn state_unlock_breaks_a_dead_runners_lease() {
    let tmp = tempfile::tempdir().unwrap();
    provisio(tmp.path())
        .args(["state", "unlock", "--tenant", "acme"])
        .assert()
        .success()
        .stdout(predicate::str::contains("was not locked"));
    // a lease left behind by a runner that died
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = provisio_engine::state::sqlite::SqliteStateStore::open(
            tmp.path().join(".provisio/state.db"),
        )
        .await
        .unwrap();
        use provisio_engine::StateStore;
        store
            .acquire_lease(
                "acme",
                "runner-that-died",
                std::time::Duration::from_secs(3600),
            )
            .await
            .unwrap();
    });
    provisio(tmp.path()).args(["status"]).assert().success();
    provisio(tmp.path())
        .args(["state", "unlock", "--tenant", "acme"])
        .assert()
        .success()
        .stdout(predicate::str::contains("runner-that-died"));
}

#[test]
fn fleet_launches_200_tenants_from_a_csv_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut csv = String::from("name,size\n");
    for i in 0..200 {
        csv.push_str(&format!(
            "tenant-{i:03},{}\n",
            if i % 2 == 0 { "small" } else { "large" }
        ));
    }
    std::fs::write(tmp.path().join("tenants.csv"), csv).unwrap();
    let out = provisio(tmp.path())
        .args(["--json", "fleet", "apply"])
        .arg(launch_dir())
        .args(["--tenants", "tenants.csv", "--concurrency", "16"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "fleet_result");
    let report = &last["report"];
    assert_eq!(report["counts"]["succeeded"], 200);
    assert_eq!(report["counts"]["failed"], 0);
    let tenants = report["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 200);
    assert!(
        tenants
            .iter()
            .all(|t| t["status"] == "succeeded" && t["summary"]["created"] == 24)
    );
    let finished = text
        .lines()
        .filter(|l| l.contains("\"tenant_finished\""))
        .count();
    assert_eq!(finished, 200, "one fleet event per tenant");
    let inv = world(tmp.path()).inventory();
    assert_eq!(inv.count("compute.instance"), 200);
    assert_eq!(inv.count("ci.job"), 2 + 5 * 200);

    // the same rollout again: every tenant is already done
    let out = provisio(tmp.path())
        .args(["fleet", "apply"])
        .arg(launch_dir())
        .args(["--tenants", "tenants.csv", "--concurrency", "16"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("200 already done"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn postgres_state_store_by_url() {
    let Ok(url) = std::env::var("PROVISIO_TEST_POSTGRES_URL") else {
        eprintln!("skipped: PROVISIO_TEST_POSTGRES_URL is not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // a tenant name of its own, so reruns and other tests sharing the server don't collide
    let tenant = format!("cli-{}", std::process::id());
    let apply = |command: &str| {
        let mut cmd = provisio(tmp.path());
        cmd.args(["--state", &url, command])
            .arg(launch_dir())
            .args(["--tenant", &tenant]);
        if command == "destroy" {
            cmd.args(["--allow", "database"]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    assert!(apply("apply").contains("24 created"));
    provisio(tmp.path())
        .args(["--state", &url, "status", "--tenant", &tenant])
        .assert()
        .success()
        .stdout(predicate::str::contains("database.database"));
    // the memory world sits in ./.provisio when the state is a URL
    assert!(tmp.path().join(".provisio/memory.json").is_file());
    assert!(apply("apply").contains("No changes"));
    assert!(apply("destroy").contains("24 deleted"));
}

/// The launch example through its lifecycle with the real binary: suspend, resume, archive,
/// restore, retire, checked on the memory world after each command, with `status` showing
/// the phase and the refusals a wrong command gets.
#[test]
fn the_example_tenant_through_its_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bp = launch_dir();
    let run = |args: &[&str]| {
        let out = provisio(dir)
            .arg(args[0])
            .arg(&bp)
            .args(["--tenant", "acme"])
            .args(&args[1..])
            .output()
            .unwrap();
        (
            out.status.code(),
            stdout(&out),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, Some(0), "{args:?}\n{out}\n{err}");
        out
    };
    let status = || {
        let out = provisio(dir)
            .args(["status", "--tenant", "acme"])
            .output()
            .unwrap();
        stdout(&out)
    };
    let www = || {
        let inv = world(dir).inventory();
        let id = inv
            .ids("dns.record")
            .into_iter()
            .find(|id| id.contains("acme.example.com") && !id.contains("stg"))
            .unwrap()
            .to_string();
        inv.get("dns.record", &id).unwrap()["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let instances = || world(dir).inventory().count("compute.instance");
    // the storage class of every object under the tenant's prefix
    let classes = || {
        let inv = world(dir).inventory();
        let mut c: Vec<String> = inv
            .ids("storage.object")
            .into_iter()
            .filter(|k| k.contains("/tenants/acme/"))
            .map(|k| inv.get("storage.object", k).unwrap()["storage_class"].to_string())
            .collect();
        c.dedup();
        c
    };

    // a tenant that was never launched
    let (code, _, err) = run(&["archive"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("it has no resources and no lifecycle phase"),
        "{err}"
    );

    ok(&["apply"]);
    assert!(status().contains("phase: launched"), "{}", status());
    let ip = www();

    let state = || {
        let inv = world(dir).inventory();
        let id = inv.ids("compute.instance")[0].to_string();
        inv.get("compute.instance", &id).unwrap()["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let out = ok(&["suspend"]);
    assert!(out.contains("tenant acme is suspended"), "{out}");
    assert_eq!(www(), "192.0.2.250");
    assert_eq!(state(), "stopped");
    assert!(status().contains("phase: suspended"));
    let (code, _, err) = run(&["apply"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("is suspended") && err.contains("`resume`"),
        "{err}"
    );

    ok(&["resume"]);
    assert_eq!(state(), "running");
    // started again, the instance has a new address, and the hostname follows it
    assert_ne!(www(), ip);
    assert_ne!(www(), "192.0.2.250");

    // archive: the plan first, then the run
    let out = ok(&["archive", "--plan"]);
    assert!(
        out.lines()
            .any(|l| l.contains("- delete") && l.contains(" web ")),
        "{out}"
    );
    assert_eq!(instances(), 1, "a plan changes nothing");
    let out = ok(&["archive"]);
    assert!(out.contains("tenant acme is archived"), "{out}");
    assert_eq!(instances(), 0);
    assert_eq!(www(), "192.0.2.250");
    assert_eq!(classes(), ["\"archive\""]);
    assert!(status().contains("phase: archived"));
    let (code, _, err) = run(&["resume"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot resume tenant acme: it is archived"),
        "{err}"
    );

    ok(&["restore"]);
    assert_eq!(instances(), 1);
    assert_eq!(classes(), ["\"standard\""]);
    assert_ne!(www(), "192.0.2.250");

    // retire: the protected database needs its name
    let (code, out, err) = run(&["retire"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(err.contains("protected"), "{err}");
    assert!(status().contains("phase: launched"));
    ok(&["retire", "--allow", "database"]);
    assert_eq!(instances(), 0);
    let inv = world(dir).inventory();
    assert!(!inv.contains("database.database", "acme"));
    assert!(status().contains("phase: retired"), "{}", status());
}
