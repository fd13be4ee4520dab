//! Many writers at once, in one process and in two processes sharing one cache directory:
//! no lost commit, no error (in particular no git lock-file error), on every transport.

mod common;

use common::{FakeSsh, Remote, bare_git};
use provisio::repo::{Author, CommitSpec};
use provisio::{Bytes, Outcome, Repository};
use provisio_git::{GitConfig, GitRepository, GitTransport};
use std::path::Path;

fn spec(branch: &str, files: &[(&str, &str)], message: &str) -> CommitSpec {
    CommitSpec {
        branch: branch.to_string(),
        files: files
            .iter()
            .map(|(p, c)| (p.to_string(), Bytes::from(c.to_string())))
            .collect(),
        message: message.to_string(),
        author: Author {
            name: "Provisio Bot".into(),
            email: "bot@provisio.example".into(),
        },
    }
}

/// The transports, by name (for the child processes' environment): libgit2 in process, the
/// `git` command over `file://`, and the `git` command over ssh (the [`FakeSsh`] stand-in,
/// which the parent installs and the children inherit).
const TRANSPORTS: [&str; 3] = ["libgit2", "command", "ssh"];

fn transport(name: &str, remote_path: &Path) -> (String, GitTransport) {
    match name {
        "ssh" => (
            format!("ssh://fakehost{}", remote_path.display()),
            GitTransport::Auto,
        ),
        "libgit2" => (remote_path.display().to_string(), GitTransport::Auto),
        "command" => (
            format!("file://{}", remote_path.display()),
            GitTransport::Command,
        ),
        other => panic!("unknown transport {other}"),
    }
}

/// What one writer does: ensures every shared tenant branch and its own branches, all at
/// once (a task per tenant), and commits a file of its own to each. Shared branches end up
/// with one commit per writer; nothing may fail.
async fn write_tenants(repo: GitRepository, writer: &str, tenants: usize) {
    write_prefixed_tenants(repo, "", writer, tenants).await
}

/// [`write_tenants`] on branches named `<prefix>tenant-<n>` and `<prefix><writer>-tenant-<n>`.
async fn write_prefixed_tenants(repo: GitRepository, prefix: &str, writer: &str, tenants: usize) {
    let mut tasks = Vec::new();
    for t in 0..tenants {
        let repo = repo.clone();
        let writer = writer.to_string();
        let prefix = prefix.to_string();
        tasks.push(tokio::spawn(async move {
            let shared = format!("{prefix}tenant-{t}");
            let own = format!("{prefix}{writer}-tenant-{t}");
            let (a, b) = tokio::join!(
                repo.ensure_branch(&shared, "main"),
                repo.ensure_branch(&own, "main")
            );
            a.unwrap_or_else(|e| panic!("{writer}: ensure {shared}: {e}"));
            let made = b.unwrap_or_else(|e| panic!("{writer}: ensure {own}: {e}"));
            assert_eq!(made.outcome, Outcome::Created, "{writer}: {own}");
            let path = format!("{writer}/config.yml");
            let content = format!("tenant: {t}\nwriter: {writer}\n");
            let message = format!("{writer} {t}");
            let (shared_files, own_files) = (
                spec(&shared, &[(&path, &content)], &message),
                spec(&own, &[("config.yml", &content)], &message),
            );
            let (a, b) = tokio::join!(
                repo.write_files(&shared_files),
                repo.write_files(&own_files)
            );
            for (branch, w) in [(&shared, a), (&own, b)] {
                let w = w.unwrap_or_else(|e| panic!("{writer}: write {branch}: {e}"));
                assert_eq!(w.outcome, Outcome::Updated, "{writer}: {branch}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Checks what `writers` left: every shared branch has one commit per writer on top of
/// `main` (linear, no merge), every writer's own branches one commit.
fn check_tenants(remote: &Remote, writers: &[&str], tenants: usize) {
    for t in 0..tenants {
        let shared = format!("tenant-{t}");
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", &shared]),
            (writers.len() + 1).to_string(),
            "{shared} lost or gained commits"
        );
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", "--merges", &shared]),
            "0"
        );
        let files = bare_git(&remote.bare, &["ls-tree", "-r", "--name-only", &shared]);
        for w in writers {
            assert!(
                files.contains(&format!("{w}/config.yml")),
                "{shared} lacks {w}'s file:\n{files}"
            );
            let own = format!("{w}-tenant-{t}");
            assert_eq!(
                bare_git(&remote.bare, &["rev-list", "--count", &own]),
                "2",
                "{own}"
            );
        }
    }
    assert_eq!(
        bare_git(&remote.bare, &["rev-list", "--count", "main"]),
        "1",
        "main must be untouched"
    );
}

/// Three writers in one process, with their own providers on one cache directory (so they
/// share the process's remote state) and one with a cache of its own, each a task per
/// tenant, on the same tenants' branches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_of_one_process() {
    const TENANTS: usize = 10;
    for name in TRANSPORTS {
        let remote = Remote::new();
        FakeSsh::url(&remote);
        let (url, transport) = transport(name, &remote.bare);
        let shared_cache = remote.dir.path().join("shared-cache");
        let on_shared = || {
            GitRepository::new(GitConfig::new(url.clone(), &shared_cache).with_transport(transport))
                .unwrap()
        };
        let writers = [
            ("a", on_shared()),
            ("b", on_shared()),
            ("c", remote.provider(&url, transport)),
        ];
        let runs: Vec<_> = writers
            .into_iter()
            .map(|(w, repo)| tokio::spawn(write_tenants(repo, w, TENANTS)))
            .collect();
        for run in runs {
            run.await.unwrap();
        }
        check_tenants(&remote, &["a", "b", "c"], TENANTS);
    }
}

/// The environment a child writer reads (see [`child_writer`]).
const CHILD_ENV: [&str; 5] = [
    "PROVISIO_GIT_CHILD_URL",
    "PROVISIO_GIT_CHILD_CACHE",
    "PROVISIO_GIT_CHILD_TRANSPORT",
    "PROVISIO_GIT_CHILD_WRITER",
    "PROVISIO_GIT_CHILD_TENANTS",
];

/// Two processes on one cache directory write the same tenants' branches at once.
#[test]
fn two_processes_on_one_cache_dir() {
    const TENANTS: usize = 8;
    for name in TRANSPORTS {
        let remote = Remote::new();
        FakeSsh::url(&remote);
        let (url, _) = transport(name, &remote.bare);
        let cache = remote.dir.path().join("one-cache");
        let children: Vec<_> = ["p1", "p2"]
            .into_iter()
            .map(|writer| {
                let values = [
                    url.clone(),
                    cache.display().to_string(),
                    name.to_string(),
                    writer.to_string(),
                    TENANTS.to_string(),
                ];
                let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
                cmd.args([
                    "--ignored",
                    "--exact",
                    "child_writer",
                    "--nocapture",
                    "--test-threads=1",
                ]);
                for (var, value) in CHILD_ENV.iter().zip(values) {
                    cmd.env(var, value);
                }
                cmd.stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                (writer, cmd.spawn().unwrap())
            })
            .collect();
        for (writer, child) in children {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "{name}: writer {writer} failed:\n{text}"
            );
            assert!(
                !text.contains(".lock"),
                "{name}: writer {writer} met a lock file:\n{text}"
            );
        }
        check_tenants(&remote, &["p1", "p2"], TENANTS);
    }
}

/// One writer process of [`two_processes_on_one_cache_dir`] (run by it, with its
/// environment; ignored otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child process of two_processes_on_one_cache_dir"]
async fn child_writer() {
    let [url, cache, name, writer, tenants] =
        CHILD_ENV.map(|v| std::env::var(v).unwrap_or_else(|_| panic!("{v} is not set")));
    let path = url
        .trim_start_matches("ssh://fakehost")
        .trim_start_matches("file://");
    let (_, transport) = transport(&name, Path::new(path));
    let repo = GitRepository::new(GitConfig::new(url, cache).with_transport(transport)).unwrap();
    write_tenants(repo, &writer, tenants.parse().unwrap()).await;
}

/// Over the real sshd of `tests/sshd.sh` (skipped when `PROVISIO_TEST_GIT_SSH` is unset): two
/// writers with caches of their own and one sharing a cache with the first, on the same
/// tenants' branches at once; every writer's file is on every shared branch afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_sshd_writers() {
    const TENANTS: usize = 6;
    let Some(url) = provisio_testkit::endpoint_from_env("GIT_SSH") else {
        eprintln!("skipped: PROVISIO_TEST_GIT_SSH is not set (see tests/sshd.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let provider = |cache: &str| {
        let mut config = GitConfig::new(url.clone(), dir.path().join(cache));
        if let Ok(key) = std::env::var("PROVISIO_TEST_GIT_SSH_KEY") {
            config = config.with_ssh_key(key);
        }
        if let Ok(hosts) = std::env::var("PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS") {
            config = config.with_ssh_known_hosts(hosts);
        }
        GitRepository::new(config).unwrap()
    };
    let prefix = format!("{}-", provisio_testkit::unique("conc"));
    let writers = [
        ("a", provider("one")),
        ("b", provider("one")),
        ("c", provider("two")),
    ];
    let runs: Vec<_> = writers
        .into_iter()
        .map(|(w, repo)| {
            let prefix = prefix.clone();
            tokio::spawn(async move { write_prefixed_tenants(repo, &prefix, w, TENANTS).await })
        })
        .collect();
    for run in runs {
        run.await.unwrap();
    }
    let check = provider("check");
    let paths: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|w| format!("{w}/config.yml"))
        .collect();
    for t in 0..TENANTS {
        let shared = format!("{prefix}tenant-{t}");
        let read = check.read_files(&shared, &paths).await.unwrap().unwrap();
        for (path, content) in &read.files {
            assert!(content.is_some(), "{shared} lost {path}");
        }
        check.delete_branch(&shared).await.unwrap();
        for w in ["a", "b", "c"] {
            check
                .delete_branch(&format!("{prefix}{w}-tenant-{t}"))
                .await
                .unwrap();
        }
    }
}
