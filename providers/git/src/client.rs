//! The local bare cache clone of a remote, and the two ways of talking to the remote:
//! libgit2 (local paths, `file://`) and the `git` command (ssh, https).

use crate::config::GitConfig;
use crate::error::{from_command, from_git2};
use git2::Oid;
use provisio::{Error, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, LazyLock};

/// Where a fetched branch is kept in the cache repository.
pub(crate) fn tracking_ref(branch: &str) -> String {
    format!("refs/remotes/origin/{branch}")
}

/// One ref update of a push.
#[derive(Debug, Clone)]
pub(crate) struct Update<'a> {
    /// The branch on the remote.
    pub branch: &'a str,
    /// The new head; `None` deletes the branch.
    pub new: Option<Oid>,
    /// The head the update was computed from; `None`: the branch must not exist yet.
    /// The `git` command enforces it (`--force-with-lease`); libgit2 only refuses
    /// non-fast-forward updates.
    pub expected: Option<Oid>,
}

/// What the remote said to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// The update was applied.
    Accepted,
    /// The remote refused it because the branch is not where we expected (another writer
    /// moved, created or deleted it).
    Rejected(String),
}

/// The per-process lock of each cache repository: one writer at a time per cache path.
static LOCKS: LazyLock<std::sync::Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// The lock of the cache repository at `path`.
pub(crate) fn lock_for(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(path.to_path_buf()).or_default().clone()
}

/// The cache repository's path for `url` below `cache_dir`: a readable slug plus a stable
/// hash of the whole URL, so two remotes never share a cache.
pub(crate) fn cache_path(cache_dir: &Path, url: &str) -> PathBuf {
    let tail = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git");
    let slug: String = tail
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(40)
        .collect();
    // FNV-1a: stable across Rust versions and processes, unlike `DefaultHasher`.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in url.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    cache_dir.join(format!(
        "{}-{h:016x}.git",
        if slug.is_empty() { "repo" } else { &slug }
    ))
}

/// Opens the cache repository, creating it (bare, empty) when missing.
pub(crate) fn open_cache(path: &Path) -> Result<git2::Repository> {
    match git2::Repository::open_bare(path) {
        Ok(repo) => Ok(repo),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            std::fs::create_dir_all(path).map_err(|e| {
                Error::unexpected(format!("cannot create the git cache {}", path.display()))
                    .with_source(e)
            })?;
            git2::Repository::init_bare(path)
                .map_err(|e| from_git2(e, "cannot create the git cache repository"))
        }
        Err(e) => Err(from_git2(e, "cannot open the git cache repository")),
    }
}

/// Talks to the remote: lists, fetches and pushes branches.
pub(crate) enum Remote {
    /// libgit2 on a repository on this machine (a local path or `file://`): fetches with
    /// libgit2's local transport, and pushes by copying the missing objects into the remote's
    /// object database and updating its branch with a compare-and-swap
    /// (`reference_matching`). libgit2's own local push checks fast-forward against the ref
    /// advertisement and then overwrites the ref, which loses a commit a concurrent writer
    /// made in between; the compare-and-swap does not.
    Libgit2 {
        /// The URL as configured (for libgit2's fetch).
        url: String,
        /// The remote repository's path.
        path: PathBuf,
    },
    /// The `git` command.
    Command(GitCommand),
}

impl Remote {
    pub(crate) fn new(config: &GitConfig, cache: &Path) -> Remote {
        if config.uses_command() {
            Remote::Command(GitCommand {
                url: config.url.clone(),
                display_url: config.redacted_url(),
                git_dir: cache.to_path_buf(),
                ssh_key: config.ssh_key_path.clone(),
                known_hosts: config.ssh_known_hosts_path.clone(),
                token_env: config.https_token_env.clone(),
                askpass: config.cache_dir.join("provisio-askpass.sh"),
            })
        } else {
            let path = config.url.strip_prefix("file://").unwrap_or(&config.url);
            Remote::Libgit2 {
                url: config.url.clone(),
                path: PathBuf::from(path),
            }
        }
    }

    /// The heads of `branches` on the remote (missing branches are absent from the map).
    pub(crate) fn heads(&self, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
        let wanted: BTreeMap<String, &str> = branches
            .iter()
            .map(|b| (format!("refs/heads/{b}"), *b))
            .collect();
        let listed = match self {
            Remote::Libgit2 { path, .. } => {
                let remote = open_remote(path)?;
                let mut heads = Vec::new();
                for name in wanted.keys() {
                    match remote.find_reference(name) {
                        Ok(r) => {
                            let oid =
                                r.resolve().ok().and_then(|r| r.target()).ok_or_else(|| {
                                    Error::unexpected(format!("{name} is not a direct reference"))
                                })?;
                            heads.push((name.clone(), oid));
                        }
                        Err(e) if e.code() == git2::ErrorCode::NotFound => {}
                        Err(e) => return Err(from_git2(e, "cannot read the remote's branches")),
                    }
                }
                heads
            }
            Remote::Command(git) => git.ls_remote(&wanted.keys().cloned().collect::<Vec<_>>())?,
        };
        Ok(listed
            .into_iter()
            .filter_map(|(name, oid)| wanted.get(&name).map(|b| (b.to_string(), oid)))
            .collect())
    }

    /// Fetches `branches` (which must exist) into their tracking refs.
    pub(crate) fn fetch(&self, repo: &git2::Repository, branches: &[&str]) -> Result<()> {
        let specs: Vec<String> = branches
            .iter()
            .map(|b| format!("+refs/heads/{b}:{}", tracking_ref(b)))
            .collect();
        match self {
            Remote::Libgit2 { url, path } => {
                open_remote(path)?;
                let mut remote = repo
                    .remote_anonymous(url)
                    .map_err(|e| from_git2(e, "invalid remote URL"))?;
                let mut opts = git2::FetchOptions::new();
                opts.download_tags(git2::AutotagOption::None);
                remote
                    .fetch(&specs, Some(&mut opts), None)
                    .map_err(|e| from_git2(e, "fetch failed"))
            }
            Remote::Command(git) => git.fetch(&specs),
        }
    }

    /// Applies one update (never forced; a compare-and-swap on `expected`). A refusal because
    /// the branch moved is [`Pushed::Rejected`], any other failure an error.
    pub(crate) fn push(&self, repo: &git2::Repository, update: &Update<'_>) -> Result<Pushed> {
        let dst = format!("refs/heads/{}", update.branch);
        match self {
            Remote::Libgit2 { path, .. } => {
                let remote = open_remote(path)?;
                if let Some(new) = update.new {
                    copy_missing(repo, &remote, new)?;
                }
                Ok(compare_and_swap(&remote, &dst, update))
            }
            Remote::Command(git) => {
                let spec = match update.new {
                    Some(oid) => format!("{oid}:{dst}"),
                    None => format!(":{dst}"),
                };
                let lease = format!(
                    "--force-with-lease={dst}:{}",
                    update.expected.map(|o| o.to_string()).unwrap_or_default()
                );
                git.push(&lease, &spec)
            }
        }
    }
}

/// Opens the remote repository on this machine; `NotFound` when there is none.
fn open_remote(path: &Path) -> Result<git2::Repository> {
    if !path.exists() {
        return Err(Error::not_found(format!(
            "repository {} does not exist",
            path.display()
        )));
    }
    git2::Repository::open(path).map_err(|e| {
        let err = from_git2(e, "cannot open the remote repository");
        if err.kind() == &provisio::ErrorKind::Unexpected {
            Error::not_found(format!("{} is not a git repository", path.display()))
        } else {
            err
        }
    })
}

/// Copies the objects reachable from `root` that `dst` lacks from `src` into `dst` (what a
/// push sends). An object `dst` has implies everything it reaches, so the walk stops there.
fn copy_missing(src: &git2::Repository, dst: &git2::Repository, root: Oid) -> Result<()> {
    let fail = |e| from_git2(e, "cannot copy objects to the remote");
    let src_odb = src.odb().map_err(fail)?;
    let dst_odb = dst.odb().map_err(fail)?;
    let mut stack = vec![root];
    while let Some(oid) = stack.pop() {
        if dst_odb.exists(oid) {
            continue;
        }
        let object = src_odb.read(oid).map_err(fail)?;
        match object.kind() {
            git2::ObjectType::Commit => {
                let commit = src.find_commit(oid).map_err(fail)?;
                stack.push(commit.tree_id());
                stack.extend(commit.parent_ids());
            }
            git2::ObjectType::Tree => {
                let tree = src.find_tree(oid).map_err(fail)?;
                // Gitlink (submodule) entries name commits of other repositories.
                stack.extend(
                    tree.iter()
                        .filter(|e| e.kind() != Some(git2::ObjectType::Commit))
                        .map(|e| e.id()),
                );
            }
            _ => {}
        }
        dst_odb.write(object.kind(), object.data()).map_err(fail)?;
    }
    Ok(())
}

/// Moves, creates or deletes the branch only if it is still where `update.expected` says,
/// under the ref's lock file (the same lock `git` itself takes).
fn compare_and_swap(remote: &git2::Repository, dst: &str, update: &Update<'_>) -> Pushed {
    let msg = "provisio: push";
    let result = match (update.new, update.expected) {
        (Some(new), Some(old)) => remote
            .reference_matching(dst, new, true, old, msg)
            .map(|_| ()),
        (Some(new), None) => remote.reference(dst, new, false, msg).map(|_| ()),
        (None, expected) => remote.find_reference(dst).and_then(|mut r| {
            if expected.is_some() && r.target() != expected {
                return Err(git2::Error::new(
                    git2::ErrorCode::Modified,
                    git2::ErrorClass::Reference,
                    "the branch moved",
                ));
            }
            r.delete()
        }),
    };
    match result {
        Ok(()) => Pushed::Accepted,
        // Moved, created, deleted or locked by another writer: the caller re-reads and decides.
        Err(e) => Pushed::Rejected(e.message().to_string()),
    }
}

/// The system `git` command, run against the cache repository (`--git-dir`) for fetch,
/// ls-remote and push only.
///
/// Credentials never reach the disk or the command line: ssh uses the agent or the key file
/// named in `GIT_SSH_COMMAND`; an https token is read from the configured environment variable
/// and handed to `git` in the child's environment, from which a fixed askpass script (which
/// contains no secret) prints it when git asks for the password. Credential helpers are
/// disabled (`-c credential.helper=`) so that no helper stores the token.
pub(crate) struct GitCommand {
    url: String,
    display_url: String,
    git_dir: PathBuf,
    ssh_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    token_env: Option<String>,
    askpass: PathBuf,
}

/// The askpass program: answers git's user-name prompt from `PROVISIO_GIT_USERNAME` (default
/// `x-access-token`) and the password prompt from `PROVISIO_GIT_TOKEN`, both set only in the
/// environment of the `git` child.
const ASKPASS: &str = "#!/bin/sh\n# provisio: prints the https credential from the environment; holds no secret.\ncase \"$1\" in\n  Username*) printf '%s\\n' \"${PROVISIO_GIT_USERNAME:-x-access-token}\" ;;\n  *) printf '%s\\n' \"$PROVISIO_GIT_TOKEN\" ;;\nesac\n";

/// `value` quoted for `sh` (GIT_SSH_COMMAND is run by the shell).
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

impl GitCommand {
    fn command(&self) -> Result<Command> {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.git_dir)
            .args(["-c", "credential.helper=", "-c", "core.askPass="])
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("PROVISIO_GIT_TOKEN");
        if self.ssh_key.is_some() || self.known_hosts.is_some() {
            let mut ssh = String::from("ssh -o BatchMode=yes");
            if let Some(key) = &self.ssh_key {
                ssh.push_str(" -o IdentitiesOnly=yes -i ");
                ssh.push_str(&sh_quote(&key.to_string_lossy()));
            }
            if let Some(hosts) = &self.known_hosts {
                ssh.push_str(" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=");
                ssh.push_str(&sh_quote(&hosts.to_string_lossy()));
            }
            cmd.env("GIT_SSH_COMMAND", ssh);
        } else {
            cmd.env("GIT_SSH_VARIANT", "auto");
        }
        if let Some(var) = &self.token_env {
            let token = std::env::var(var).map_err(|_| {
                Error::new(
                    provisio::ErrorKind::Unauthenticated,
                    format!("the https token variable {var} is not set"),
                )
            })?;
            self.write_askpass()?;
            cmd.env("GIT_ASKPASS", &self.askpass)
                .env("PROVISIO_GIT_TOKEN", token);
            if let Some(user) = url_user(&self.url) {
                cmd.env("PROVISIO_GIT_USERNAME", user);
            }
        }
        Ok(cmd)
    }

    fn write_askpass(&self) -> Result<()> {
        if std::fs::read_to_string(&self.askpass).is_ok_and(|s| s == ASKPASS) {
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            Error::unexpected("cannot write the git askpass helper").with_source(e)
        };
        let tmp = self
            .askpass
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, ASKPASS).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
        std::fs::rename(&tmp, &self.askpass).map_err(fail)
    }

    fn run(&self, what: &str, args: &[&str]) -> Result<std::process::Output> {
        let mut cmd = self.command()?;
        // Every git command run here talks to the remote: one request.
        crate::metering::network_request();
        cmd.args(args);
        tracing::debug!(url = %self.display_url, ?args, "running git");
        let out = cmd.output().map_err(|e| {
            Error::unexpected(format!("{what}: cannot run the git command")).with_source(e)
        })?;
        Ok(out)
    }

    fn ls_remote(&self, refs: &[String]) -> Result<Vec<(String, Oid)>> {
        let mut args = vec!["ls-remote", "--heads", "--", self.url.as_str()];
        args.extend(refs.iter().map(String::as_str));
        let out = self.run("ls-remote", &args)?;
        if !out.status.success() {
            return Err(from_command(
                &String::from_utf8_lossy(&out.stderr),
                &format!("cannot list the branches of {}", self.display_url),
            ));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut heads = Vec::new();
        for line in stdout.lines() {
            if let Some((oid, name)) = line.split_once('\t') {
                let oid = Oid::from_str(oid.trim()).map_err(|e| {
                    Error::unexpected("git ls-remote printed an invalid object id").with_source(e)
                })?;
                heads.push((name.trim().to_string(), oid));
            }
        }
        Ok(heads)
    }

    fn fetch(&self, specs: &[String]) -> Result<()> {
        let mut args = vec![
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            self.url.as_str(),
        ];
        args.extend(specs.iter().map(String::as_str));
        let out = self.run("fetch", &args)?;
        if !out.status.success() {
            return Err(from_command(
                &String::from_utf8_lossy(&out.stderr),
                &format!("cannot fetch from {}", self.display_url),
            ));
        }
        Ok(())
    }

    fn push(&self, lease: &str, spec: &str) -> Result<Pushed> {
        let out = self.run(
            "push",
            &[
                "push",
                "--porcelain",
                "--quiet",
                lease,
                "--",
                &self.url,
                spec,
            ],
        )?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Porcelain status lines: "<flag>\t<from>:<to>\t<summary>"; '!' is a rejection.
        for line in stdout.lines() {
            if let Some(rest) = line.strip_prefix("!\t") {
                let summary = rest.split('\t').nth(1).unwrap_or(rest).to_string();
                return Ok(Pushed::Rejected(summary));
            }
        }
        if out.status.success() {
            Ok(Pushed::Accepted)
        } else {
            Err(from_command(
                &String::from_utf8_lossy(&out.stderr),
                &format!("cannot push to {}", self.display_url),
            ))
        }
    }
}

/// The user name in an https URL (`https://user@host/...`), if any.
fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(userinfo.split(':').next()?.to_string()).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_paths_are_stable_and_distinct() {
        let a = cache_path(Path::new("/c"), "git@h:acme/tenants.git");
        assert_eq!(a, cache_path(Path::new("/c"), "git@h:acme/tenants.git"));
        assert!(a.to_string_lossy().starts_with("/c/tenants-"), "{a:?}");
        assert_ne!(a, cache_path(Path::new("/c"), "git@h:other/tenants.git"));
    }

    #[test]
    fn quoting_and_users() {
        assert_eq!(sh_quote("/k/it's"), "'/k/it'\\''s'");
        assert_eq!(url_user("https://bot@h/x").as_deref(), Some("bot"));
        assert_eq!(url_user("https://h/x"), None);
    }
}
