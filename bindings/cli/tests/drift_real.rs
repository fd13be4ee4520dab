//! Drift on real servers, through the `provisio` binary: S3 and EC2 on moto
//! (`PROVISIO_TEST_AWS_ENDPOINT`; skipped when unset) and a bare git repository. A user found
//! that after an object was deleted, an instance terminated and a branch deleted,
//! `fleet apply` said "unchanged" for everything and never put them back. `fleet apply
//! --refresh` must read each resource and repair what drifted; the repair is checked on moto
//! and in the repository themselves.

mod common;
use assert_cmd::Command;
use common::{config_repository, git};
use provisio::{Compute, ObjectStorage};
use provisio_aws::{Aws, AwsConfig};
use std::path::Path;

const BLUEPRINT: &str = r#"
name: drift
variables:
  image: { default: ami-12c6146b }
resources:
  bucket:
    type: storage.bucket
    params: { name: "${tenant.name}-drift-assets" }
  assets:
    type: storage.objects
    params:
      bucket: "${bucket.name}"
      prefix: "assets/"
      files: { "a.txt": "a of ${tenant.name}", "b.txt": "b of ${tenant.name}" }
  web:
    type: compute.instance
    params: { name: "${tenant.name}-web", image: "${tenant.image}", size: t3.micro }
  branch:
    type: repo.branch
    params: { name: "${tenant.name}" }
  files:
    type: repo.files
    params:
      branch: "${branch.name}"
      files: { "config.yml": "tenant: ${tenant.name}\n" }
"#;

fn provisio(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("provisio").unwrap();
    cmd.current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("PROVISIO_PROVIDERS")
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1");
    cmd
}

fn fleet(dir: &Path, args: &[&str]) -> String {
    let out = provisio(dir)
        .args([
            "--providers",
            "providers.toml",
            "fleet",
            "apply",
            "blueprint.yaml",
        ])
        .args(["--tenants", "tenants.csv"])
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_apply_with_refresh_puts_back_what_drifted_on_moto_and_git() {
    let Some(endpoint) = std::env::var("PROVISIO_TEST_AWS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        eprintln!("skipped: PROVISIO_TEST_AWS_ENDPOINT is not set");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let repo = config_repository(dir);

    std::fs::write(dir.join("blueprint.yaml"), BLUEPRINT).unwrap();
    // unique tenant names: moto keeps what other tests made
    let run = std::process::id();
    let tenants = [format!("drift{run}a"), format!("drift{run}b")];
    std::fs::write(
        dir.join("tenants.csv"),
        format!("name\n{}\n{}\n", tenants[0], tenants[1]),
    )
    .unwrap();
    let aws = |cap: &str| {
        format!(
            "[providers.{cap}.default]\nkind = \"aws\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n"
        )
    };
    std::fs::write(
        dir.join("providers.toml"),
        format!(
            "{}{}[providers.repo.default]\nkind = \"git\"\nurl = \"{}\"\ncache_dir = \"git-cache\"\n",
            aws("storage"),
            aws("compute"),
            repo.display()
        ),
    )
    .unwrap();

    let text = fleet(dir, &["--fleet-id", "launch"]);
    assert!(text.contains("2 succeeded"), "{text}");

    // drift made behind provisio's back, on the servers
    let aws = Aws::connect(AwsConfig::for_emulator(&endpoint))
        .await
        .unwrap();
    let storage = aws.storage();
    let compute = aws.compute();
    let t0 = &tenants[0];
    storage
        .delete_object(&format!("{t0}-drift-assets"), "assets/b.txt")
        .await
        .unwrap();
    let ours = provisio::types::ownership::tags(t0, "drift", "web");
    let web = compute.find_instances(&ours).await.unwrap();
    assert_eq!(web.len(), 1, "{web:?}");
    compute.terminate_instance(&web[0].id).await.unwrap();
    git(&["--git-dir", repo.to_str().unwrap(), "branch", "-D", t0]);

    // a fleet apply that trusts the state changes nothing ...
    let text = fleet(dir, &["--fleet-id", "trusting"]);
    assert!(text.contains("0 resources created"), "{text}");
    // ... one with --refresh reads everything once and puts the drift back
    let text = fleet(dir, &["--fleet-id", "refreshing", "--refresh"]);
    assert!(text.contains("2 succeeded"), "{text}");

    let (body, _) = storage
        .get_object(&format!("{t0}-drift-assets"), "assets/b.txt")
        .await
        .unwrap();
    assert_eq!(body.as_ref(), format!("b of {t0}").as_bytes());
    let live: Vec<_> = compute
        .find_instances(&ours)
        .await
        .unwrap()
        .into_iter()
        .filter(|i| !matches!(i.state, provisio::compute::InstanceState::Terminated))
        .collect();
    assert_eq!(live.len(), 1, "one live instance again: {live:?}");
    let branches = git(&["--git-dir", repo.to_str().unwrap(), "branch", "--list"]);
    assert!(branches.contains(t0.as_str()), "{branches}");
    let config = git(&[
        "--git-dir",
        repo.to_str().unwrap(),
        "show",
        &format!("{t0}:config.yml"),
    ]);
    assert_eq!(config, format!("tenant: {t0}\n"));
    // and the untouched tenant stayed as it was: nothing to repair, nothing written
    let again = fleet(dir, &["--fleet-id", "again", "--refresh"]);
    assert!(again.contains("0 resources created"), "{again}");
}
