//! The git provider of provisio: the [`Repository`](provisio::Repository) capability over any
//! git remote, a local path, a `file://` URL, ssh (`ssh://` or scp-like `user@host:path`) or
//! https.
//!
//! # Design
//!
//! * **A local bare cache clone per remote.** Below [`GitConfig::cache_dir`], each remote URL
//!   gets its own bare repository (named from the URL's last component and a stable hash).
//!   Only the branches an operation touches are fetched; there is never a work tree. Commits
//!   are built with libgit2 directly in the cache: `write_files` reads the branch head's tree
//!   into an in-memory index, adds the changed files (keeping existing file modes), writes the
//!   tree and, only when it differs from the head's, one commit whose author and committer
//!   are the spec's author. Same content → no commit,
//!   [`Outcome::Unchanged`](provisio::Outcome::Unchanged).
//! * **Few network sessions.** The process remembers each branch head it learned (from a
//!   list, a fetch or an accepted push). `ensure_branch` of a new branch is one push of the
//!   new ref at the base's head (learned once, re-read after [`BASE_HEAD_MAX_AGE`]);
//!   `write_files` builds its commit on the remembered head and pushes once; reads fetch the
//!   branch once and read every file from that one commit
//!   ([`read_files`](provisio::Repository::read_files)). And concurrent operations share
//!   sessions: each kind of session (list, fetch, push) has one in flight per remote, and
//!   everything queued meanwhile goes into the next one, so a fleet's tenants push their
//!   branches together.
//! * **Every update is a compare-and-swap.** A push names the head it was computed from
//!   (`--force-with-lease=<branch>:<expected head>`; "must not exist" for a new branch) and is
//!   never forced otherwise. When another writer moved the branch, the write fetches the new
//!   head, rebuilds its commit on it (or finds its content already there) and pushes again,
//!   at most [`MAX_PUSH_ATTEMPTS`] times with a short jittered pause, then fails with
//!   `Conflict`. So concurrent writers, to different branches or to the same branch, in one
//!   process or many, never overwrite or lose each other's commits, and a remembered head
//!   that went stale costs one more round trip, never a lost commit.
//! * **Concurrency.** Operations on different branches run in parallel; operations on one
//!   branch take turns within the process (a lock per branch). Processes may share a cache
//!   directory: objects are written to temporary files and renamed into place, fetches write
//!   no ref and no `FETCH_HEAD`, the cache's config is written only when the cache is created
//!   (under a cross-process file lock), and the tracking refs that keep fetched commits
//!   reachable are updated on a best-effort basis. No operation fails on another one's git
//!   lock file.
//! * **Transports.** This crate uses `git2` with `default-features = false` and
//!   `vendored-libgit2`: provisio is rustls-only, and git2's `https` and `ssh` features would
//!   link OpenSSL and libssh2. So libgit2 here only serves local paths and `file://` URLs, in
//!   process (objects are copied between the object databases; the ref is moved with
//!   libgit2's `reference_matching`, a compare-and-swap under the ref's lock file). For ssh
//!   and https remotes, the **system `git` command** runs the sessions (`ls-remote`,
//!   `fetch-pack`, `push`) against the cache; all object and commit work stays in libgit2.
//!   The `git` command brings ssh-agent, `~/.ssh` and the configured key (`GIT_SSH_COMMAND`
//!   built from [`GitConfig::ssh_key_path`], with `BatchMode`), and https tokens: the token is
//!   read from the environment variable named by [`GitConfig::https_token_env`] and given to
//!   `git` only through the child's environment and a fixed askpass script that contains no
//!   secret; credential helpers are disabled so nothing stores it. No credential is written
//!   to disk, put on a command line or logged. Remote hooks are not run for local remotes.
//! * **Requests.** Each session of the `git` command first calls
//!   [`provisio::requests::before_request`]: it is paced by the account's quota and counted
//!   once, in the step of the operation that leads it.
//! * **Existence reports.** `ensure_branch` and `write_files` report through
//!   [`provisio::existence::found`] whether the branch (the files) already existed.
//! * **Validation first.** Branch names ([`validate::git_branch_name`]), file paths
//!   ([`validate::repo_file_path`]), the commit message and the author are checked before any
//!   fetch or push.
//! * **Errors** are classified at this boundary: authentication → `Unauthenticated`, a missing
//!   repository or branch → `NotFound`, network failures → `Transient`, a push still rejected
//!   after the retries → `Conflict`, an update a hook or a protected branch refuses →
//!   `PermissionDenied`.
//!
//! [`validate::git_branch_name`]: provisio::validate::git_branch_name
//! [`validate::repo_file_path`]: provisio::validate::repo_file_path
//!
//! ```no_run
//! # async fn demo() -> provisio::Result<()> {
//! use provisio::Repository;
//! use provisio::repo::{Author, CommitSpec};
//! use provisio_git::{GitConfig, GitRepository};
//!
//! let config = GitConfig::new("git@git.example.com:ops/tenants.git", "/var/cache/provisio/git")
//!     .with_ssh_key("/etc/provisio/deploy_key");
//! let repo = GitRepository::new(config)?;
//! repo.ensure_branch("acme", "main").await?;
//! let written = repo
//!     .write_files(&CommitSpec {
//!         branch: "acme".into(),
//!         files: [("config.yml".to_string(), provisio::Bytes::from("tenant: \"acme\"\n"))].into(),
//!         message: "Configure acme".into(),
//!         author: Author { name: "provisio".into(), email: "bot@example.com".into() },
//!     })
//!     .await?;
//! println!("acme is at {} ({:?})", written.value.head, written.outcome);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod batch;
mod cache;
mod command;
mod commit;
mod config;
mod error;
mod remote;
mod repo;
mod transport;

pub use config::{GitConfig, GitTransport};
pub use repo::{BASE_HEAD_MAX_AGE, GitRepository, MAX_PUSH_ATTEMPTS};
