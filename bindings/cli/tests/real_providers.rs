//! The launch blueprint through the `provisio` binary with a provider file naming real
//! providers: Cloudflare for DNS and Jenkins for CI, each against its stateful contract fake
//! (started in this test process on 127.0.0.1), memory for the rest.

use assert_cmd::Command;
use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions};
use provisio_fake_jenkins::FakeJenkins;
use std::path::{Path, PathBuf};

fn launch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant")
}

fn provisio(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("provisio").unwrap();
    cmd.current_dir(dir)
        .env("PROVISIO_SECRET_SMTP_PASSWORD", "smtp-credential-for-tests")
        .env("TEST_CF_TOKEN", "cf-token-for-tests")
        .env("TEST_JENKINS_TOKEN", "jenkins-token-for-tests")
        .env_remove("PROVISIO_PROVIDERS")
        .env_remove("PROVISIO_STATE")
        .env("NO_COLOR", "1");
    cmd
}

fn run(dir: &Path, command: &str) -> String {
    let out = provisio(dir)
        .args(["--providers", "providers.toml", command])
        .arg(launch_dir())
        .args(["--tenant", "acme"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command}: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_with_cloudflare_and_jenkins_fakes() {
    let cf = FakeCloudflare::start(
        FakeOptions::default()
            .token("cf-token-for-tests")
            .zone("example.com"),
    )
    .unwrap();
    let jenkins = FakeJenkins::start().await.unwrap();
    jenkins.add_user("provisio", None, Some("jenkins-token-for-tests"));
    jenkins.seed_umbrellas().unwrap();
    let umbrella_before = jenkins.config("web_build-stg").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    std::fs::write(
        dir.join("providers.toml"),
        format!(
            r#"
fallback = "memory"

[providers.dns.default]
kind = "cloudflare"
base_url = "{}"
api_token_env = "TEST_CF_TOKEN"

[providers.ci.default]
kind = "jenkins"
url = "{}"
user = "provisio"
api_token_env = "TEST_JENKINS_TOKEN"
"#,
            cf.url(),
            jenkins.url()
        ),
    )
    .unwrap();

    let text = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run(&dir, "apply")
    })
    .await
    .unwrap();
    assert!(text.contains("cloudflare (dns)"), "{text}");
    assert!(text.contains("jenkins (ci)"), "{text}");
    assert!(text.contains("24 created"), "{text}");
    let job = jenkins.config("web_release-stg-acme").expect("job created");
    assert!(job.contains("acme.stg.example.com"), "{job}");
    let umbrella = jenkins.config("web_build-stg").unwrap();
    assert!(umbrella.contains("web_release-stg-acme"), "{umbrella}");
    assert!(umbrella.contains("web_release-stg-example"), "{umbrella}");
    let dns_writes = cf
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.contains("dns_records"))
        .count();
    assert_eq!(dns_writes, 2, "the production and staging records");

    // again: no changes, and no write reaches either service
    let writes_before = cf.requests().iter().filter(|r| r.method != "GET").count();
    let text = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run(&dir, "apply")
    })
    .await
    .unwrap();
    assert!(text.contains("No changes"), "{text}");
    assert_eq!(
        cf.requests().iter().filter(|r| r.method != "GET").count(),
        writes_before
    );

    let text = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || run(&dir, "destroy")
    })
    .await
    .unwrap();
    assert!(text.contains("Kept: database"), "{text}");
    assert!(jenkins.config("web_release-stg-acme").is_none());
    assert_eq!(
        jenkins.config("web_build-stg").unwrap(),
        umbrella_before,
        "the umbrella job is back to its bytes before the launch"
    );
    let deletes = cf
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE")
        .count();
    assert_eq!(deletes, 2);
}
