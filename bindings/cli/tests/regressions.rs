//! Regression tests for what a user found driving the `provisio` binary: `fleet destroy` ran an
//! apply, secret variables given with `--var` were dropped silently, `destroy` demanded secrets
//! only creates need, and some errors were printed twice or with the wrong hint. Counted on the
//! memory world the binary leaves behind.

use assert_cmd::Command;
use provisio_memory::MemoryCloud;
use std::path::{Path, PathBuf};

fn launch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant")
}

fn provisio(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("provisio").unwrap();
    cmd.current_dir(dir)
        .env("PROVISIO_SECRET_SMTP_PASSWORD", "smtp-credential-for-tests")
        .env_remove("PROVISIO_PROVIDERS")
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1");
    cmd
}

fn world(dir: &Path) -> MemoryCloud {
    MemoryCloud::load(7, dir.join(".provisio/memory.json"))
        .unwrap()
        .expect("the CLI saved its memory world")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn fleet_destroy_destroys_and_keeps_what_is_protected() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("tenants.csv"), "name\nalpha\nbravo\ncharlie\n").unwrap();
    let out = provisio(dir)
        .args(["fleet", "apply"])
        .arg(launch_dir())
        .args(["--tenants", "tenants.csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(world(dir).inventory().count("compute.instance"), 3);

    // destroy, as NDJSON: every tenant's run is a destroy, and nothing is created again
    let out = provisio(dir)
        .args(["--json", "fleet", "destroy"])
        .arg(launch_dir())
        .args(["--tenants", "tenants.csv"])
        .env_remove("PROVISIO_SECRET_SMTP_PASSWORD")
        .output()
        .unwrap();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains(r#""operation":"destroy""#), "{all}");
    assert!(!all.contains(r#""operation":"apply""#), "{all}");
    let inv = world(dir).inventory();
    assert_eq!(inv.count("compute.instance"), 0, "{inv:?}");
    // the fixtures' SPF record of the zone is all that is left of DNS
    assert_eq!(inv.count("dns.record"), 1, "{inv:?}");
    // per tenant the protected database stays, with its role
    assert_eq!(inv.count("database.database"), 3, "{inv:?}");
    assert_eq!(inv.count("database.role"), 3, "{inv:?}");

    // an apply's cursor cannot be used by a destroy
    let out = provisio(dir)
        .args(["fleet", "destroy"])
        .arg(launch_dir())
        .args([
            "--tenants",
            "tenants.csv",
            "--fleet-id",
            "launch-tenant-tenants",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("fleet id"), "{}", text(&out));

    // --allow names what may go; a name of no resource is refused
    let out = provisio(dir)
        .args(["fleet", "destroy"])
        .arg(launch_dir())
        .args([
            "--tenants",
            "tenants.csv",
            "--fleet-id",
            "second",
            "--allow",
            "Database",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean \"database\""),
        "{}",
        text(&out)
    );
    let out = provisio(dir)
        .args(["fleet", "destroy"])
        .arg(launch_dir())
        .args([
            "--tenants",
            "tenants.csv",
            "--fleet-id",
            "third",
            "--allow",
            "database",
        ])
        .args(["--allow", "db_role", "--allow", "db_password"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let inv = world(dir).inventory();
    assert_eq!(inv.count("database.database"), 0, "{inv:?}");
    assert_eq!(inv.count("database.role"), 0, "{inv:?}");
}

#[test]
fn secrets_never_come_from_the_command_line_and_destroy_needs_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = provisio(dir)
        .arg("apply")
        .arg(launch_dir())
        .args(["--tenant", "acme", "--var", "smtp_password=hunter22"])
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("PROVISIO_SECRET_SMTP_PASSWORD"), "{all}");
    assert!(
        !all.contains("hunter22"),
        "the value is never echoed: {all}"
    );
    // nothing happened
    assert!(
        !dir.join(".provisio/memory.json").exists()
            || world(dir).inventory().count("compute.instance") == 0
    );

    // a vars file cannot smuggle it either
    std::fs::write(dir.join("vars.yaml"), "smtp_password: hunter22\n").unwrap();
    let out = provisio(dir)
        .arg("plan")
        .arg(launch_dir())
        .args(["--tenant", "acme", "--vars-file", "vars.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("hunter22"));

    // apply with the secret from the environment, destroy without it
    let out = provisio(dir)
        .arg("apply")
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = provisio(dir)
        .arg("destroy")
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .env_remove("PROVISIO_SECRET_SMTP_PASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(world(dir).inventory().count("compute.instance"), 0);
}

#[test]
fn errors_are_printed_once_with_a_fitting_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("providers.toml"),
        "[providers.dns.default]\nkind = \"nosuch\"\n",
    )
    .unwrap();
    let out = provisio(dir)
        .args(["--providers", "providers.toml", "plan"])
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("unknown provider kind").count(), 1, "{err}");
    assert!(err.contains("providers.dns.default"), "{err}");

    // a git error that says "blocked" is not a lease problem
    std::fs::write(
        dir.join("providers.toml"),
        "fallback = \"memory\"\n[providers.repo.default]\nkind = \"git\"\n\
         url = \"ssh://-oProxyCommand=x/repo.git\"\ncache_dir = \"git-cache\"\n",
    )
    .unwrap();
    let out = provisio(dir)
        .args(["--providers", "providers.toml", "apply"])
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("blocked"), "{err}");
    assert!(!err.contains("another run holds"), "{err}");
}
