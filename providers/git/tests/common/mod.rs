//! Real bare repositories in temp dirs, made with the `git` command, for the tests.
#![allow(dead_code)]

use provisio_git::{GitConfig, GitRepository, GitTransport};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `git` with a fixed identity and returns its trimmed stdout; panics on failure.
pub fn git(dir: Option<&Path>, args: &[&str]) -> String {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd
        .args([
            "-c",
            "user.name=Seeder",
            "-c",
            "user.email=seed@example.test",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("git must be installed");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `git --git-dir=<bare> <args>`.
pub fn bare_git(bare: &Path, args: &[&str]) -> String {
    let dir = format!("--git-dir={}", bare.display());
    let mut all = vec![dir.as_str()];
    all.extend_from_slice(args);
    git(None, &all)
}

/// A bare repository with a `main` branch holding one commit (README.md), in a temp dir
/// that lives as long as the fixture.
pub struct Remote {
    pub dir: tempfile::TempDir,
    pub bare: PathBuf,
}

impl Remote {
    pub fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("tenants.git");
        git(None, &["init", "--quiet", "--bare", bare.to_str().unwrap()]);
        let work = dir.path().join("seed");
        git(None, &["init", "--quiet", work.to_str().unwrap()]);
        std::fs::write(work.join("README.md"), "tenant configuration\n").unwrap();
        git(Some(&work), &["add", "README.md"]);
        git(Some(&work), &["commit", "--quiet", "-m", "initial"]);
        git(
            Some(&work),
            &["push", "--quiet", bare.to_str().unwrap(), "main"],
        );
        Remote { dir, bare }
    }

    pub fn path_url(&self) -> String {
        self.bare.to_str().unwrap().to_string()
    }

    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// A provider with its own cache directory (like another process).
    pub fn provider(&self, url: &str, transport: GitTransport) -> GitRepository {
        let cache = tempfile::Builder::new()
            .prefix("cache")
            .tempdir_in(self.dir.path())
            .unwrap()
            .keep();
        GitRepository::new(GitConfig::new(url, cache).with_transport(transport)).unwrap()
    }

    pub fn rev(&self, rev: &str) -> String {
        bare_git(&self.bare, &["rev-parse", rev])
    }

    pub fn branches(&self) -> Vec<String> {
        bare_git(
            &self.bare,
            &["for-each-ref", "--format=%(refname:short)", "refs/heads"],
        )
        .lines()
        .map(str::to_string)
        .collect()
    }
}

/// A provider that keeps its remote alive, for the conformance macro (`&*fixture` is a
/// `&GitRepository`).
pub struct Fixture {
    pub repo: GitRepository,
    pub remote: Remote,
}

impl Fixture {
    pub fn new(file_url: bool, transport: GitTransport) -> Fixture {
        let remote = Remote::new();
        let url = if file_url {
            remote.file_url()
        } else {
            remote.path_url()
        };
        Fixture {
            repo: remote.provider(&url, transport),
            remote,
        }
    }
}

impl std::ops::Deref for Fixture {
    type Target = GitRepository;
    fn deref(&self) -> &GitRepository {
        &self.repo
    }
}

/// An `ssh` stand-in that runs the requested git command locally and logs it, one line per
/// session, to `<repository>.sessions` (as an sshd forced command would): set as `GIT_SSH`
/// once per test binary, before any git runs, by [`FakeSsh::install`].
pub struct FakeSsh;

impl FakeSsh {
    /// Installs the stand-in as `GIT_SSH` for this process (once) and returns an ssh URL for
    /// `remote` that goes through it.
    pub fn url(remote: &Remote) -> String {
        static INSTALLED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
        INSTALLED.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap().keep();
            let script = dir.join("fake-ssh");
            // git first asks `<ssh> -G <host>` whether it is OpenSSH; "no" makes it pass just
            // the host and the command. The command is `git-upload-pack '<path>'` (reads:
            // ls-remote, fetch) or `git-receive-pack '<path>'` (push).
            std::fs::write(
                &script,
                "#!/bin/sh\n\
                 [ \"$1\" = -G ] && exit 1\n\
                 for arg; do cmd=\"$arg\"; done\n\
                 repo=$(printf '%s' \"$cmd\" | sed \"s/^[^']*'\\(.*\\)'$/\\1/\")\n\
                 printf '%s\\n' \"${cmd%% *}\" >> \"$repo.sessions\"\n\
                 exec sh -c \"$cmd\"\n",
            )
            .unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            // SAFETY of the test: set once, before this binary's first git command (every test
            // that runs git over ssh calls this first).
            unsafe { std::env::set_var("GIT_SSH", &script) };
            script
        });
        format!("ssh://fakehost{}", remote.bare.display())
    }

    /// The sessions logged for `remote` so far: (reads, writes).
    pub fn sessions(remote: &Remote) -> (usize, usize) {
        let log = std::fs::read_to_string(format!("{}.sessions", remote.bare.display()))
            .unwrap_or_default();
        let reads = log.lines().filter(|l| *l == "git-upload-pack").count();
        let writes = log.lines().filter(|l| *l == "git-receive-pack").count();
        assert_eq!(reads + writes, log.lines().count(), "unexpected log: {log}");
        (reads, writes)
    }
}
