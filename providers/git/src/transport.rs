//! The two ways of reaching a remote, each serving whole batches: libgit2 in process (local
//! paths, `file://`) and the `git` command (ssh, https; see [`crate::command`]).

use crate::cache;
use crate::command::GitCommand;
use crate::config::GitConfig;
use crate::error::from_git2;
use git2::Oid;
use provisio::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One ref update of a push: a compare-and-swap of the remote branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    /// The branch on the remote.
    pub branch: String,
    /// The new head; `None` deletes the branch.
    pub new: Option<Oid>,
    /// The head the update was computed from; `None`: the branch must not exist yet.
    pub expected: Option<Oid>,
}

/// What the remote said to one update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// The update was applied.
    Accepted,
    /// The branch already was at the new head (nothing to do, so the expectation was not
    /// checked: a branch created "from nothing" may have existed).
    UpToDate,
    /// The remote refused it, usually because the branch is not where we expected (another
    /// writer moved, created or deleted it); the text is the remote's reason.
    Rejected(String),
}

/// Talks to the remote: lists, fetches and pushes batches of branches.
pub(crate) enum Transport {
    /// libgit2 on a repository on this machine. Fetching copies the objects the cache lacks
    /// straight from the remote's object database (no ref, no `FETCH_HEAD`); pushing copies
    /// the objects the remote lacks into its object database and moves the branch with a
    /// compare-and-swap under the ref's lock file (`reference_matching`). libgit2's own local
    /// push checks fast-forward against the ref advertisement and then overwrites the ref,
    /// which loses a commit a concurrent writer made in between; the compare-and-swap does not.
    Libgit2 {
        /// The remote repository's path.
        path: PathBuf,
    },
    /// The `git` command.
    Command(GitCommand),
}

impl Transport {
    pub(crate) fn new(config: &GitConfig, cache: &Path) -> Transport {
        if config.uses_command() {
            Transport::Command(GitCommand::new(config, cache.to_path_buf()))
        } else {
            let path = config.url.strip_prefix("file://").unwrap_or(&config.url);
            Transport::Libgit2 {
                path: PathBuf::from(path),
            }
        }
    }

    /// Whether a session is a network request (paced and counted); libgit2's in-process work
    /// on a local repository is not.
    pub(crate) fn is_network(&self) -> bool {
        matches!(self, Transport::Command(_))
    }

    /// The heads of `branches` on the remote (missing branches are absent from the map).
    pub(crate) fn list(&self, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
        match self {
            Transport::Libgit2 { path } => local_heads(&open_remote(path)?, branches),
            Transport::Command(git) => git.ls_remote(branches),
        }
    }

    /// Fetches the heads of those of `branches` that exist into the cache and returns them
    /// (missing branches are absent). Afterwards the cache holds every returned head.
    pub(crate) fn fetch(
        &self,
        cache: &git2::Repository,
        branches: &[&str],
    ) -> Result<BTreeMap<String, Oid>> {
        match self {
            Transport::Libgit2 { path } => {
                let remote = open_remote(path)?;
                let heads = local_heads(&remote, branches)?;
                for head in heads.values() {
                    copy_missing(&remote, cache, *head)?;
                }
                Ok(heads)
            }
            Transport::Command(git) => {
                let heads = git.fetch_pack(branches)?;
                if let Some((branch, _)) =
                    heads.iter().find(|(_, h)| !cache::has_commit(cache, **h))
                {
                    return Err(Error::transient(format!(
                        "the fetch of branch {branch} did not bring its head"
                    )));
                }
                Ok(heads)
            }
        }
    }

    /// Applies `updates` (each a compare-and-swap on its `expected` head, never forced): one
    /// answer per update, in order. A refusal is [`Pushed::Rejected`]; an error means the
    /// outcome of that update is unknown.
    pub(crate) fn push(
        &self,
        cache: &git2::Repository,
        updates: &[Update],
    ) -> Result<Vec<Result<Pushed>>> {
        match self {
            Transport::Libgit2 { path } => {
                let remote = open_remote(path)?;
                Ok(updates
                    .iter()
                    .map(|u| {
                        if let Some(new) = u.new {
                            copy_missing(cache, &remote, new)?;
                        }
                        Ok(compare_and_swap(&remote, u))
                    })
                    .collect())
            }
            Transport::Command(git) => git.push(updates),
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

/// The heads of `branches` in a repository on this machine.
fn local_heads(remote: &git2::Repository, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
    let mut heads = BTreeMap::new();
    for branch in branches {
        let name = format!("refs/heads/{branch}");
        match remote.find_reference(&name) {
            Ok(r) => {
                let oid = r.resolve().ok().and_then(|r| r.target()).ok_or_else(|| {
                    Error::unexpected(format!("{name} is not a direct reference"))
                })?;
                heads.insert(branch.to_string(), oid);
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(from_git2(e, "cannot read the remote's branches")),
        }
    }
    Ok(heads)
}

/// Copies the objects reachable from `root` that `dst` lacks from `src` into `dst` (what a
/// fetch or a push transfers). An object `dst` has implies everything it reaches (objects are
/// written children first), so the walk stops there.
fn copy_missing(src: &git2::Repository, dst: &git2::Repository, root: Oid) -> Result<()> {
    let fail = |e| from_git2(e, "cannot copy objects between repositories");
    let src_odb = src.odb().map_err(fail)?;
    let dst_odb = dst.odb().map_err(fail)?;
    // Depth first, writing an object only after everything it points to.
    let mut stack = vec![(root, false)];
    while let Some((oid, children_done)) = stack.pop() {
        if dst_odb.exists(oid) {
            continue;
        }
        if !children_done {
            stack.push((oid, true));
            let (_, kind) = src_odb.read_header(oid).map_err(fail)?;
            match kind {
                git2::ObjectType::Commit => {
                    let commit = src.find_commit(oid).map_err(fail)?;
                    stack.push((commit.tree_id(), false));
                    stack.extend(commit.parent_ids().map(|p| (p, false)));
                }
                git2::ObjectType::Tree => {
                    let tree = src.find_tree(oid).map_err(fail)?;
                    // Gitlink (submodule) entries name commits of other repositories.
                    stack.extend(
                        tree.iter()
                            .filter(|e| e.kind() != Some(git2::ObjectType::Commit))
                            .map(|e| (e.id(), false)),
                    );
                }
                _ => {}
            }
            continue;
        }
        let object = src_odb.read(oid).map_err(fail)?;
        dst_odb.write(object.kind(), object.data()).map_err(fail)?;
    }
    Ok(())
}

/// How long a compare-and-swap waits for a ref lock another writer holds, like git's own
/// `core.filesRefLockTimeout` (libgit2 gives up at once).
const REF_LOCK_TIMEOUT: Duration = Duration::from_millis(1000);

/// Moves, creates or deletes the branch only if it is still where `update.expected` says,
/// under the ref's lock file (the same lock `git` itself takes). A lock held by another
/// writer is waited for (up to [`REF_LOCK_TIMEOUT`]): it is a race to answer, not a failure.
fn compare_and_swap(remote: &git2::Repository, update: &Update) -> Pushed {
    let started = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        match try_compare_and_swap(remote, update) {
            Err(e)
                if e.code() == git2::ErrorCode::Locked && started.elapsed() < REF_LOCK_TIMEOUT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Ok(pushed) => return pushed,
            // Moved, created, deleted or still locked by another writer: the caller re-reads
            // and decides.
            Err(e) => return Pushed::Rejected(e.message().to_string()),
        }
    }
}

fn try_compare_and_swap(
    remote: &git2::Repository,
    update: &Update,
) -> std::result::Result<Pushed, git2::Error> {
    let dst = format!("refs/heads/{}", update.branch);
    let current = remote
        .find_reference(&dst)
        .ok()
        .and_then(|r| r.resolve().ok())
        .and_then(|r| r.target());
    if update.new.is_some() && current == update.new {
        return Ok(Pushed::UpToDate);
    }
    let msg = "provisio: push";
    match (update.new, update.expected) {
        (Some(new), Some(old)) => remote
            .reference_matching(&dst, new, true, old, msg)
            .map(|_| ()),
        (Some(new), None) => remote.reference(&dst, new, false, msg).map(|_| ()),
        (None, expected) => remote.find_reference(&dst).and_then(|mut r| {
            if expected.is_some() && r.target() != expected {
                return Err(git2::Error::new(
                    git2::ErrorCode::Modified,
                    git2::ErrorClass::Reference,
                    "the branch moved",
                ));
            }
            r.delete()
        }),
    }
    .map(|()| Pushed::Accepted)
}
