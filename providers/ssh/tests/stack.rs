//! `host.stack` through the engine against the test sshd, with a stand-in `docker` on the
//! remote `PATH` that records every invocation; then checked on the host itself (the test
//! sshd serves this machine): the files in the directory, their modes, the log of docker
//! invocations, the directory gone after destroy. Also: a host key that does not match stops
//! everything before anything runs, and the requests each run sends are counted.
//!
//! Skipped without `PROVISIO_TEST_GIT_SSH` (see `tests/common/mod.rs`).

mod common;

use common::{Sshd, WRONG_KEY, workdir};
use provisio::host::HostCommand;
use provisio::providers::Providers;
use provisio::{ErrorKind, Host};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, DestroyOptions, Engine, Tenant};
use provisio_ssh::SshHost;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The stand-in `docker`: appends `<dir> <args>` to the log, keeps "running" in a state file
/// beside the log (so `compose ps` answers like the real one), and fails `compose up` when
/// the stack's `app.env` asks it to.
fn stand_in_docker(work: &Path) -> (PathBuf, PathBuf) {
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = work.join("docker.log");
    let state = work.join("running");
    let script = format!(
        "#!/bin/sh\n\
         printf '%s %s\\n' \"$PWD\" \"$*\" >> '{log}'\n\
         case \"$*\" in\n\
         'compose up -d') grep -q FAIL_START=1 app.env 2>/dev/null && {{ echo 'image not found' >&2; exit 1; }}; touch '{state}' ;;\n\
         'compose down') rm -f '{state}' ;;\n\
         'compose ps --quiet') [ -f '{state}' ] || exit 1 ;;\n\
         esac\n",
        log = log.display(),
        state = state.display()
    );
    let docker = bin.join("docker");
    std::fs::write(&docker, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

fn docker_calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            l.split_once(' ')
                .map(|(_, args)| args.to_string())
                .unwrap_or_default()
        })
        .collect()
}

fn count(calls: &[String], what: &str) -> usize {
    calls.iter().filter(|c| c.as_str() == what).count()
}

/// A blueprint directory: the stack's compose file from a template, an env file inline.
fn blueprint(work: &Path) -> Blueprint {
    let dir = work.join("blueprint");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("templates/docker-compose.yml"),
        "# {{ tenant.name }}\nservices:\n  web:\n    image: {{ \"registry.local/web:\" ~ vars.image_tag }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("blueprint.yaml"),
        format!(
            r#"name: staging
variables:
  image_tag: {{ default: "1.0" }}
  fail_start: {{ default: "0" }}
resources:
  stack:
    type: host.stack
    provider: staging
    params:
      dir: "{root}/stacks/${{tenant.name}}"
      files:
        docker-compose.yml: {{ $template: docker-compose.yml, vars: {{ image_tag: "${{tenant.image_tag}}" }} }}
        app.env: "TENANT=${{tenant.name}}\nFAIL_START=${{tenant.fail_start}}\n"
      start: docker compose up -d
      status: [docker, compose, ps, --quiet]
      stop: docker compose down
"#,
            root = work.display()
        ),
    )
    .unwrap();
    Blueprint::load(&dir).unwrap()
}

fn engine(host: SshHost) -> Engine {
    Engine::builder()
        .providers(Providers::new().with_host("staging", Arc::new(host)))
        .registry(provisio_engine::types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_no_op_change_and_destroy_a_stack() {
    let Some(sshd) = Sshd::from_env("apply_no_op_change_and_destroy_a_stack") else {
        return;
    };
    let work = workdir("stack");
    let (bin, log) = stand_in_docker(&work);
    let host = SshHost::new(sshd.config().with_path_prefix(bin.to_string_lossy())).unwrap();
    let e = engine(host);
    let bp = blueprint(&work);
    let acme = Tenant::new("acme");
    let dir = work.join("stacks/acme");

    // 1. create: inspect, upload, start, checksum
    let r = e.apply(&bp, &acme, ApplyOptions::default()).await.unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.created, 1);
    assert_eq!(
        r.summary.requests_by_service["ssh"], 4,
        "requests of a create"
    );
    let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("registry.local/web:1.0"), "{compose}");
    assert!(
        compose.starts_with("# \"acme\"\n"),
        "rendered from the template: {compose}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("app.env")).unwrap(),
        "TENANT=acme\nFAIL_START=0\n"
    );
    assert_eq!(mode(&dir), 0o700, "the stack directory is private");
    assert_eq!(mode(&dir.join("app.env")), 0o600, "files are private");
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".provisio-stack")).unwrap()).unwrap();
    assert_eq!(marker["tenant"], "acme");
    assert_eq!(
        marker["checksum"],
        r.step("stack").unwrap().outputs["checksum"]
    );
    let calls = docker_calls(&log);
    assert_eq!(
        calls,
        ["compose up -d"],
        "started once, in the stack's directory"
    );
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .starts_with(&format!("{} ", dir.display()))
    );

    // 2. no change: nothing sent; with a refresh, one request (checksum + status) and no start
    let r = e.apply(&bp, &acme, ApplyOptions::default()).await.unwrap();
    assert_eq!((r.summary.unchanged, r.summary.requests), (1, 0));
    // the plan's refresh reads run before any step, so the run's summary does not count
    // them: count them around the whole apply
    let tally = Arc::new(provisio::requests::RequestTally::default());
    let r = provisio::requests::counted(
        tally.clone(),
        e.apply(&bp, &acme, ApplyOptions::default().refresh()),
    )
    .await
    .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.unchanged, 1);
    assert_eq!(r.summary.requests, 0, "no step sent anything");
    assert_eq!(
        tally.by_service()["ssh"],
        1,
        "requests of a refreshed no-op: checksum and status in one"
    );
    let calls = docker_calls(&log);
    assert_eq!(
        count(&calls, "compose up -d"),
        1,
        "not started again: {calls:?}"
    );
    assert_eq!(count(&calls, "compose ps --quiet"), 1);

    // 3. a changed template variable: uploaded and started again
    let acme_next = Tenant::new("acme").var("image_tag", "1.1");
    let r = e
        .apply(&bp, &acme_next, ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.updated, 1);
    assert_eq!(
        r.summary.requests_by_service["ssh"], 4,
        "requests of a change"
    );
    let compose = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    assert!(compose.contains("web:1.1"), "{compose}");
    assert_eq!(count(&docker_calls(&log), "compose up -d"), 2);

    // 4. the stack stopped behind provisio's back: a refresh sees it and starts it again
    std::fs::remove_file(work.join("running")).unwrap();
    let r = e
        .apply(&bp, &acme_next, ApplyOptions::default().refresh())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(count(&docker_calls(&log), "compose up -d"), 3);
    assert!(work.join("running").exists());

    // 5. destroy: read the checksum file, stop, remove
    let r = e
        .destroy(&bp, &acme_next, DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert_eq!(r.summary.deleted, 1);
    assert_eq!(
        r.summary.requests_by_service["ssh"], 3,
        "requests of a destroy"
    );
    let calls = docker_calls(&log);
    assert_eq!(count(&calls, "compose down"), 1, "stopped once: {calls:?}");
    assert_eq!(calls.last().map(String::as_str), Some("compose down"));
    assert!(!dir.exists(), "the stack directory is gone");
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_keeps_the_old_checksum_and_is_tried_again() {
    let Some(sshd) = Sshd::from_env("a_failed_start_keeps_the_old_checksum_and_is_tried_again")
    else {
        return;
    };
    let work = workdir("failstart");
    let (bin, log) = stand_in_docker(&work);
    let host = SshHost::new(sshd.pinned().with_path_prefix(bin.to_string_lossy())).unwrap();
    let e = engine(host);
    let bp = blueprint(&work);
    let failing = Tenant::new("globex").var("fail_start", "1");
    let r = e
        .apply(&bp, &failing, ApplyOptions::default())
        .await
        .unwrap();
    assert!(!r.is_success());
    let (_, err) = &r.errors[0];
    assert!(err.message().contains("exited with status 1"), "{err}");
    assert!(err.message().contains("image not found"), "{err}");
    // no checksum written: nothing claims the stack is deployed
    assert!(!work.join("stacks/globex/.provisio-stack").exists());
    let r = e
        .apply(&bp, &Tenant::new("globex"), ApplyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert!(work.join("stacks/globex/.provisio-stack").exists());
    assert_eq!(count(&docker_calls(&log), "compose up -d"), 2);
    let r = e
        .destroy(&bp, &Tenant::new("globex"), DestroyOptions::default())
        .await
        .unwrap();
    assert!(r.is_success(), "{:?}", r.errors);
    assert!(!work.join("stacks/globex").exists());
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_key_that_does_not_match_runs_nothing() {
    let Some(sshd) = Sshd::from_env("a_host_key_that_does_not_match_runs_nothing") else {
        return;
    };
    let work = workdir("hostkey");
    let (bin, log) = stand_in_docker(&work);
    let target = work.join("never");
    let target = target.to_string_lossy().to_string();

    // a wrong pinned key
    let mut wrong = sshd.pinned().with_path_prefix(bin.to_string_lossy());
    wrong.host_key = Some(WRONG_KEY.to_string());
    let host = SshHost::new(wrong).unwrap();
    let files = [("f".to_string(), provisio::Bytes::from("x"))].into();
    let started = std::time::Instant::now();
    let e = host.write_files(&target, &files).await.unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "no hang"
    );
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(e.message().contains("host key"), "{e}");
    assert!(e.message().contains("did not match"), "{e}");
    assert!(
        e.message().contains(
            "pinned host_key (ssh-ed25519 SHA256:VGpwKiyzs2u9GgXcF/LaO+FuBMji9XebtcruoCx9GfI)"
        ),
        "{e}"
    );
    assert!(e.message().contains("the host presented SHA256:"), "{e}");
    assert!(!e.retryable());
    eprintln!("a pinned key that does not match: {e}");
    let e = host
        .run(&HostCommand::new(
            &target,
            ["docker", "compose", "up", "-d"],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");

    // a known_hosts file that lists another key for the server
    let known = work.join("known_hosts");
    std::fs::write(
        &known,
        format!("[{}]:{} {WRONG_KEY}\n", sshd.host, sshd.port),
    )
    .unwrap();
    let host = SshHost::new(sshd.config().with_known_hosts(&known)).unwrap();
    let e = host.read_file(&format!("{target}/f")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(
        e.message().contains(&format!(
            "did not match the known_hosts file {}",
            known.display()
        )),
        "{e}"
    );

    // through the engine: the step fails with the same error, nothing was written or run
    let mut wrong = sshd.pinned().with_path_prefix(bin.to_string_lossy());
    wrong.host_key = Some(WRONG_KEY.to_string());
    let e = engine(SshHost::new(wrong).unwrap());
    let r = e
        .apply(
            &blueprint(&work),
            &Tenant::new("acme"),
            ApplyOptions::default(),
        )
        .await
        .unwrap();
    assert!(!r.is_success());
    assert_eq!(r.errors[0].1.kind(), &ErrorKind::Unauthenticated);
    assert!(!Path::new(&target).exists());
    assert!(!work.join("stacks").exists(), "nothing was written");
    assert!(docker_calls(&log).is_empty(), "nothing was run");
    std::fs::remove_dir_all(&work).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operation_is_one_request() {
    let Some(sshd) = Sshd::from_env("each_operation_is_one_request") else {
        return;
    };
    use provisio::requests::{RequestTally, counted};
    let work = workdir("requests");
    let dir = work.join("d").to_string_lossy().to_string();
    let host = SshHost::new(sshd.config()).unwrap();
    let tally = Arc::new(RequestTally::default());
    counted(tally.clone(), async {
        let files = [
            ("a".to_string(), provisio::Bytes::from("1")),
            ("b/c".to_string(), provisio::Bytes::from("2")),
        ]
        .into();
        host.write_files(&dir, &files).await.unwrap();
        assert_eq!(
            provisio::requests::current_total(),
            1,
            "all files in one upload"
        );
        let seen = host
            .inspect(&dir, "a", Some(&["true".to_string()]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(seen.file.as_deref(), Some(&b"1"[..]));
        assert!(seen.command.unwrap().success());
        assert_eq!(
            provisio::requests::current_total(),
            2,
            "a file and a command in one"
        );
        host.remove_dir(&dir).await.unwrap();
    })
    .await;
    assert_eq!(tally.by_service()["ssh"], 3);
    std::fs::remove_dir_all(&work).unwrap();
}
