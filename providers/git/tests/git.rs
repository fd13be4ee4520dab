//! The git provider against real bare repositories: branches, commits with the author, no-op
//! writes, deletes, errors, and concurrent writers.

mod common;

use common::{Remote, bare_git};
use provisio::repo::{Author, CommitSpec};
use provisio::{Bytes, Deleted, ErrorKind, Outcome, Repository};
use provisio_git::{GitConfig, GitRepository, GitTransport};

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

const TRANSPORTS: [GitTransport; 2] = [GitTransport::Auto, GitTransport::Command];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_and_commits_land_in_the_bare_repo() {
    for transport in TRANSPORTS {
        let remote = Remote::new();
        let repo = remote.provider(&remote.path_url(), transport);
        let main = remote.rev("main");

        // ensure_branch from main: created at main's head, visible in the bare repo.
        let made = repo.ensure_branch("acme", "main").await.unwrap();
        assert_eq!(made.outcome, Outcome::Created);
        assert_eq!(made.value.head, main);
        assert_eq!(remote.rev("acme"), main);
        let dev = repo.ensure_branch("dev-acme", "acme").await.unwrap();
        assert_eq!(dev.outcome, Outcome::Created);

        // One commit with the spec's author, message, parent and files.
        let files = [
            ("config.yml", "tenant: \"acme\"\n"),
            ("nginx/conf.d/acme.conf", "server_name acme.example.com;\n"),
        ];
        let written = repo
            .write_files(&spec("acme", &files, "Configure acme"))
            .await
            .unwrap();
        assert_eq!(written.outcome, Outcome::Updated);
        assert_eq!(remote.rev("acme"), written.value.head);
        let log = bare_git(
            &remote.bare,
            &["log", "--format=%an <%ae>|%cn <%ce>|%s|%P", "main..acme"],
        );
        assert_eq!(
            log,
            format!(
                "Provisio Bot <bot@provisio.example>|Provisio Bot <bot@provisio.example>|Configure acme|{main}"
            )
        );
        assert_eq!(
            bare_git(&remote.bare, &["show", "acme:nginx/conf.d/acme.conf"]),
            "server_name acme.example.com;"
        );
        assert_eq!(
            bare_git(&remote.bare, &["show", "acme:README.md"]),
            "tenant configuration",
            "files not named are kept"
        );
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", "acme"]),
            "2"
        );

        // The same content again: no commit, head unchanged.
        let again = repo
            .write_files(&spec("acme", &files[..1], "Configure acme again"))
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.value.head, written.value.head);
        assert_eq!(remote.rev("acme"), written.value.head);
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", "acme"]),
            "2"
        );

        // An existing branch is left where it is.
        let kept = repo.ensure_branch("acme", "main").await.unwrap();
        assert_eq!(kept.outcome, Outcome::Unchanged);
        assert_eq!(kept.value.head, written.value.head);

        // Reads see the remote.
        assert_eq!(
            repo.read_file("acme", "config.yml")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"tenant: \"acme\"\n"[..])
        );
        assert_eq!(repo.read_file("acme", "nginx").await.unwrap(), None);
        assert_eq!(repo.read_file("main", "config.yml").await.unwrap(), None);
        assert_eq!(
            repo.get_branch("acme").await.unwrap().unwrap().head,
            written.value.head
        );
        let err = repo.read_file("nope", "config.yml").await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound);

        // Delete: gone from the bare repo; again AlreadyGone.
        assert_eq!(
            repo.delete_branch("dev-acme").await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(remote.branches(), vec!["acme", "main"]);
        assert_eq!(
            repo.delete_branch("dev-acme").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert!(repo.get_branch("dev-acme").await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_by_others_are_seen() {
    let remote = Remote::new();
    let a = remote.provider(&remote.file_url(), GitTransport::Auto);
    let b = remote.provider(&remote.file_url(), GitTransport::Command);
    a.ensure_branch("acme", "main").await.unwrap();
    a.write_files(&spec("acme", &[("a.txt", "1")], "a1"))
        .await
        .unwrap();
    // b's cache has never seen acme: it fetches before writing and builds on a's commit.
    let w = b
        .write_files(&spec("acme", &[("b.txt", "1")], "b1"))
        .await
        .unwrap();
    assert_eq!(w.outcome, Outcome::Updated);
    assert_eq!(a.read_file("acme", "b.txt").await.unwrap().unwrap(), "1");
    assert_eq!(b.read_file("acme", "a.txt").await.unwrap().unwrap(), "1");
    // a writes again on a head it has not fetched yet: no lost commit.
    a.write_files(&spec("acme", &[("a.txt", "2")], "a2"))
        .await
        .unwrap();
    let subjects = bare_git(&remote.bare, &["log", "--format=%s", "acme"]);
    assert_eq!(subjects, "a2\nb1\na1\ninitial");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_and_validated_first() {
    let remote = Remote::new();
    let repo = remote.provider(&remote.path_url(), GitTransport::Auto);
    let err = repo
        .ensure_branch("acme", "no-such-base")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert_eq!(err.provider(), Some("git"));
    assert_eq!(remote.branches(), vec!["main"]);

    let err = repo
        .write_files(&spec("missing", &[("a", "b")], "m"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);

    repo.ensure_branch("acme", "main").await.unwrap();
    let head = remote.rev("acme");
    for bad in [
        spec("acme", &[("a/b", "x"), ("a", "y")], "file and dir"),
        spec("acme", &[("ok.txt", "x")], "  "),
        {
            let mut s = spec("acme", &[("ok.txt", "x")], "bad author");
            s.author.email = "<evil>@x".into();
            s
        },
    ] {
        let err = repo.write_files(&bad).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    }
    // A file where a directory is (or below a file) is a conflict with the branch's content.
    let err = repo
        .write_files(&spec("acme", &[("README.md/x", "x")], "below a file"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert_eq!(
        remote.rev("acme"),
        head,
        "refused writes must not move the branch"
    );

    // A remote that does not exist.
    for transport in TRANSPORTS {
        let missing = remote.dir.path().join("missing.git");
        let repo = remote.provider(missing.to_str().unwrap(), transport);
        let err = repo.get_branch("main").await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::NotFound, "{transport:?}: {err}");
    }

    // libgit2 here has no network transport.
    let err = GitRepository::new(
        GitConfig::new("https://git.example.com/t.git", remote.dir.path())
            .with_transport(GitTransport::Libgit2),
    )
    .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_ssh_remote_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let repo = GitRepository::new(
        GitConfig::new("ssh://git@127.0.0.1:1/srv/t.git", dir.path())
            .with_ssh_key(dir.path().join("no-such-key")),
    )
    .unwrap();
    let err = repo.get_branch("main").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient, "{err}");
    assert!(err.retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_token_comes_from_the_environment_only() {
    let dir = tempfile::tempdir().unwrap();
    let repo = GitRepository::new(
        GitConfig::new("https://127.0.0.1:1/t.git", dir.path())
            .with_https_token_env("PROVISIO_TEST_GIT_TOKEN_THAT_IS_NOT_SET"),
    )
    .unwrap();
    let err = repo.get_branch("main").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(
        err.message()
            .contains("PROVISIO_TEST_GIT_TOKEN_THAT_IS_NOT_SET")
    );
}

/// Two tenants provisioned at once, by two providers with their own caches (as two processes
/// would) and by one shared provider: every commit of every branch lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tenants_on_different_branches() {
    const COMMITS: usize = 4;
    let remote = Remote::new();
    let shared = remote.provider(&remote.path_url(), GitTransport::Auto);
    let providers = [
        remote.provider(&remote.path_url(), GitTransport::Auto),
        remote.provider(&remote.file_url(), GitTransport::Command),
        shared.clone(),
        shared,
    ];
    let mut tasks = Vec::new();
    for (i, repo) in providers.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let tenant = format!("tenant{i}");
            repo.ensure_branch(&tenant, "main").await.unwrap();
            for n in 0..COMMITS {
                let content = format!("{tenant} revision {n}\n");
                let w = repo
                    .write_files(&spec(
                        &tenant,
                        &[("config.yml", &content)],
                        &format!("{tenant} {n}"),
                    ))
                    .await
                    .unwrap();
                assert_eq!(w.outcome, Outcome::Updated);
            }
            tenant
        }));
    }
    for task in tasks {
        let tenant = task.await.unwrap();
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", &tenant]),
            (COMMITS + 1).to_string(),
            "{tenant} lost commits"
        );
        assert_eq!(
            bare_git(&remote.bare, &["show", &format!("{tenant}:config.yml")]),
            format!("{tenant} revision {}", COMMITS - 1)
        );
    }
    assert_eq!(
        bare_git(&remote.bare, &["rev-list", "--count", "main"]),
        "1",
        "main must be untouched"
    );
}

/// Two writers with their own caches race on one branch: pushes get rejected, the loser
/// re-fetches and rebuilds on the winner's commit; nothing is lost, history stays linear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_the_same_branch_lose_nothing() {
    // Each rejection of one writer is a success of the other, so with 3 commits each no
    // write needs more than 4 of its MAX_PUSH_ATTEMPTS (5) attempts.
    const COMMITS: usize = 3;
    for transport in TRANSPORTS {
        let remote = Remote::new();
        let setup = remote.provider(&remote.path_url(), transport);
        setup.ensure_branch("acme", "main").await.unwrap();
        let writers = [
            remote.provider(&remote.path_url(), transport),
            remote.provider(&remote.file_url(), transport),
        ];
        let mut tasks = Vec::new();
        for (w, repo) in writers.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                for n in 0..COMMITS {
                    let path = format!("writer{w}/file{n}.txt");
                    let out = repo
                        .write_files(&spec("acme", &[(&path, "x")], &format!("w{w} n{n}")))
                        .await
                        .unwrap();
                    assert_eq!(out.outcome, Outcome::Updated);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", "acme"]),
            (2 * COMMITS + 1).to_string(),
            "{transport:?}: lost or extra commits"
        );
        assert_eq!(
            bare_git(&remote.bare, &["rev-list", "--count", "--merges", "acme"]),
            "0"
        );
        let files = bare_git(&remote.bare, &["ls-tree", "-r", "--name-only", "acme"]);
        for w in 0..2 {
            for n in 0..COMMITS {
                assert!(
                    files.contains(&format!("writer{w}/file{n}.txt")),
                    "{transport:?}: writer{w}/file{n}.txt is missing:\n{files}"
                );
            }
        }
    }
}

#[test]
fn config_from_env_and_serde() {
    let c: GitConfig = serde_json::from_str(
        r#"{"url": "git@h:t.git", "cache_dir": "/c", "https_token_env": "GIT_TOKEN"}"#,
    )
    .unwrap();
    assert_eq!(c.transport, GitTransport::Auto);
    assert!(c.uses_command());
    assert_eq!(c.https_token_env.as_deref(), Some("GIT_TOKEN"));
    // SAFETY of the test: no other test of this binary reads these variables.
    unsafe {
        std::env::set_var("PROVISIO_GIT_URL", "/srv/git/t.git");
        std::env::set_var("PROVISIO_GIT_CACHE_DIR", "/var/cache/p");
        std::env::set_var("PROVISIO_GIT_TRANSPORT", "command");
    }
    let c = GitConfig::from_env().unwrap();
    assert_eq!(c.url, "/srv/git/t.git");
    assert_eq!(c.cache_dir, std::path::PathBuf::from("/var/cache/p"));
    assert_eq!(c.transport, GitTransport::Command);
    unsafe {
        std::env::remove_var("PROVISIO_GIT_URL");
    }
    assert_eq!(
        GitConfig::from_env().unwrap_err().kind(),
        &ErrorKind::InvalidInput
    );
}

/// Over the real sshd of `tests/sshd.sh` (skipped when `PROVISIO_TEST_GIT_SSH` is unset): a
/// key the server does not accept is `Unauthenticated`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_with_an_unknown_key_is_unauthenticated() {
    let Some(url) = provisio_testkit::endpoint_from_env("GIT_SSH") else {
        eprintln!("skipped: PROVISIO_TEST_GIT_SSH is not set (see tests/sshd.sh)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    let mut config = GitConfig::new(url, dir.path().join("cache")).with_ssh_key(&key);
    if let Ok(hosts) = std::env::var("PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS") {
        config = config.with_ssh_known_hosts(hosts);
    }
    let repo = GitRepository::new(config).unwrap();
    let err = repo.get_branch("main").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
}
