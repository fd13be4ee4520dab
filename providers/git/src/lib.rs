//! The git provider of provisio: the [`Repository`](provisio::Repository) capability over any
//! git remote, a local path, a `file://` URL, ssh (`ssh://` or scp-like `user@host:path`) or
//! https.
//!
//! # Design
//!
//! * **A local bare cache clone per remote.** Below [`GitConfig::cache_dir`], each remote URL
//!   gets its own bare repository (named from the URL's last component and a stable hash).
//!   Only the branches an operation touches are fetched, into `refs/remotes/origin/<branch>`;
//!   there is never a work tree.
//! * **Commits are built with libgit2 directly in the cache.** `write_files` reads the branch
//!   head's tree into an in-memory index, adds the changed files (keeping existing file
//!   modes), writes the tree and, only when the tree id differs from the head's, one commit
//!   whose author and committer are the spec's author. Same content → no commit,
//!   [`Outcome::Unchanged`](provisio::Outcome::Unchanged), head unchanged.
//! * **Every write fetches first and pushes without force.** When the push is rejected
//!   because another writer moved the branch, the write re-fetches, rebuilds its commit on the
//!   new head (or finds that the content is there already) and pushes again, at most
//!   [`MAX_PUSH_ATTEMPTS`] times with a short jittered pause, then fails with `Conflict`.
//!   So concurrent writers, to different branches or to the same branch, in one process or
//!   many, never overwrite or lose each other's commits.
//! * **Transports.** This crate uses `git2` with `default-features = false` and
//!   `vendored-libgit2`: provisio is rustls-only, and git2's `https` and `ssh` features would
//!   link OpenSSL and libssh2. So libgit2 here only has its local transport, which serves
//!   local paths and `file://` URLs. For ssh and https remotes, the **system `git` command**
//!   does the fetches, `ls-remote`s and pushes (against the cache, with `--git-dir`); all
//!   object and commit work stays in libgit2. The `git` command brings ssh-agent, `~/.ssh`
//!   and the configured key (`GIT_SSH_COMMAND` built from [`GitConfig::ssh_key_path`], with
//!   `BatchMode`), and https tokens: the token is read from the environment variable named by
//!   [`GitConfig::https_token_env`] and given to `git` only through the child's environment
//!   and a fixed askpass script that contains no secret; credential helpers are disabled so
//!   nothing stores it. No credential is written to disk, put on a command line or logged.
//!   Pushes through the `git` command carry `--force-with-lease=<branch>:<expected head>`
//!   (and are never forced otherwise), which makes every update (create, move, delete) a
//!   compare-and-swap on the remote. For local remotes, a push copies the objects the remote
//!   lacks into its object database and then moves the branch with libgit2's
//!   `reference_matching` (a compare-and-swap under the ref's lock file, the same lock `git`
//!   takes). libgit2's own local push is not used: it checks fast-forward against the ref
//!   advertisement and then overwrites the ref, and the tests showed it losing commits when
//!   two writers race. Remote hooks are not run for local remotes.
//! * **Locking.** A tokio mutex per cache path serialises operations on one cache repository
//!   within the process; git work runs on tokio's blocking pool (`spawn_blocking`), with the
//!   lock held until it really ends. Writers in other processes are handled by the
//!   fetch/push/retry protocol above; give each process its own `cache_dir` if they may share
//!   a machine (git's lock files keep a shared cache consistent, but may fail a call with
//!   `Transient`).
//! * **Validation first.** Branch names ([`validate::git_branch_name`]), file paths
//!   ([`validate::repo_file_path`]), the commit message and the author are checked before any
//!   fetch or push.
//! * **Errors** are classified at this boundary: authentication → `Unauthenticated`, a missing
//!   repository or branch → `NotFound`, network failures → `Transient`, a push still rejected
//!   after the retries → `Conflict`.
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

mod client;
mod config;
mod error;
mod metering;
mod repo;

pub use config::{GitConfig, GitTransport};
pub use repo::{GitRepository, MAX_PUSH_ATTEMPTS};
