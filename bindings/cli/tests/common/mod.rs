//! What the real-server tests of the CLI share: git on the command line and a bare
//! repository with a `main` branch, as a tenant configuration repository starts.

use std::path::{Path, PathBuf};

/// Runs `git` with `args`; panics (with git's output) when it fails. Its standard output.
pub fn git(args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository `<dir>/tenant-config.git` whose `main` branch holds one commit (a
/// README): the base branch tenant branches start from. Its path.
pub fn config_repository(dir: &Path) -> PathBuf {
    let repo = dir.join("tenant-config.git");
    git(&[
        "init",
        "--bare",
        "--initial-branch=main",
        repo.to_str().unwrap(),
    ]);
    let seed = dir.join("seed");
    git(&["init", "--initial-branch=main", seed.to_str().unwrap()]);
    std::fs::write(seed.join("README.md"), "tenant configuration\n").unwrap();
    let s = seed.to_str().unwrap();
    git(&["-C", s, "add", "."]);
    git(&[
        "-C",
        s,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.test",
        "commit",
        "-qm",
        "init",
    ]);
    git(&["-C", s, "push", "-q", repo.to_str().unwrap(), "main"]);
    repo
}
