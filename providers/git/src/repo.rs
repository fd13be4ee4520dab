//! [`GitRepository`]: the [`Repository`] capability over a git remote.

use crate::cache;
use crate::commit::{commit_on, read_paths, validate_spec};
use crate::config::GitConfig;
use crate::remote::RemoteState;
use crate::transport::{Pushed, Update};
use git2::Oid;
use provisio::existence::found;
use provisio::repo::{Branch, BranchFiles, CommitSpec, RepoCapabilities};
use provisio::{
    Bytes, Deleted, Ensured, Error, ErrorKind, Provider, ProviderInfo, Repository, Result,
    async_trait, validate,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The provider name on errors and in [`ProviderInfo`].
const PROVIDER: &str = "git";

/// How often a write is rebuilt on a branch another writer moved before giving up with
/// `Conflict`.
pub const MAX_PUSH_ATTEMPTS: u32 = 5;

/// How long a base branch's head, once learned, is used to create branches from without
/// asking the remote again. A fleet creates every tenant's branches from one read of `main`
/// (the plain script clones once, too); a process that lives longer than this re-reads it,
/// so a branch never starts from a base head older than this.
pub const BASE_HEAD_MAX_AGE: Duration = Duration::from_secs(30);

/// A git remote as a provisio [`Repository`]; see the [crate documentation](crate).
///
/// ```no_run
/// # async fn demo() -> provisio::Result<()> {
/// use provisio::Repository;
/// use provisio_git::{GitConfig, GitRepository};
/// let repo = GitRepository::new(GitConfig::new("/srv/git/tenants.git", "/var/cache/provisio"))?;
/// repo.ensure_branch("acme", "main").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct GitRepository {
    inner: Arc<Inner>,
}

struct Inner {
    config: GitConfig,
    state: Arc<RemoteState>,
}

impl std::fmt::Debug for GitRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepository")
            .field("url", &self.inner.config.redacted_url())
            .field("cache", &self.inner.state.cache_path())
            .finish()
    }
}

impl GitRepository {
    /// A provider for `config.url`, with its cache clone below `config.cache_dir` (created, as
    /// an empty bare repository, when missing). Nothing is fetched yet.
    pub fn new(config: GitConfig) -> Result<GitRepository> {
        if config.url.trim().is_empty() {
            return Err(Error::invalid_field("git url", "must not be empty"));
        }
        if config.url.starts_with('-') {
            // git would read it as an option
            return Err(Error::invalid_field("git url", "must not start with '-'"));
        }
        if !config.uses_command()
            && config.url.contains("://")
            && !config.url.starts_with("file://")
        {
            return Err(Error::invalid_field(
                "git url",
                "the libgit2 transport only reaches local paths and file:// URLs",
            ));
        }
        let path = cache::cache_path(&config.cache_dir, &config.url);
        cache::open_or_create(&path).map_err(|e| e.in_context(PROVIDER, "repo.open"))?;
        let path = path.canonicalize().unwrap_or(path);
        let mut info = ProviderInfo::new(PROVIDER, config.redacted_url());
        info.quota = provisio::ratelimit::RateLimit::effective(
            config.rate_limit.as_ref(),
            None,
            "rate_limit",
        )
        .map_err(|e| e.in_context(PROVIDER, "repo.open"))?;
        let state = RemoteState::shared(&config, &path, info);
        Ok(GitRepository {
            inner: Arc::new(Inner { config, state }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GitConfig {
        &self.inner.config
    }

    /// The path of the local bare cache clone.
    pub fn cache_path(&self) -> &Path {
        self.inner.state.cache_path()
    }

    fn state(&self) -> &Arc<RemoteState> {
        &self.inner.state
    }

    /// The head of `branch`, fetched now into the cache; `NotFound` when there is no such
    /// branch.
    async fn fetch_head(&self, branch: &str) -> Result<Oid> {
        self.state().fetch(&[branch]).await?[0].ok_or_else(|| {
            Error::not_found(format!("branch {branch} does not exist (ensure it first)"))
        })
    }

    /// The head of `base` to create branches from without a read: learned less than
    /// [`BASE_HEAD_MAX_AGE`] ago and held by the cache.
    fn recent_base(&self, base: &str) -> Option<Oid> {
        self.state()
            .known(base)
            .filter(|k| k.local && k.younger_than(BASE_HEAD_MAX_AGE))
            .map(|k| k.head)
    }

    async fn ensure(&self, name: &str, base: &str) -> Result<Ensured<Branch>> {
        let state = self.state();
        let _branch = state.lock_branch(name).await;
        let create = |head: Oid| Update {
            branch: name.to_string(),
            new: Some(head),
            expected: None,
        };
        // A branch this process has not seen, from a base it knows: create it optimistically,
        // one push (which the remote refuses when the branch exists).
        if state.known(name).is_none()
            && let Some(base_head) = self.recent_base(base)
        {
            match state.push(create(base_head)).await? {
                Pushed::Accepted => {
                    found(false);
                    return Ok(Ensured::created(branch(name, base_head)));
                }
                Pushed::UpToDate => {
                    found(true);
                    return Ok(Ensured::unchanged(branch(name, base_head)));
                }
                Pushed::Rejected(reason) => {
                    tracing::debug!(branch = %name, %reason, "branch not created: reading it");
                }
            }
        }
        // Read first: the branch and its base in one fetch (the fetch also brings the
        // branch's commits, which a write of its files needs next). Another writer may create
        // the branch between the read and the push; the next read then finds it.
        let mut attempts = 0;
        loop {
            let heads = state.fetch(&[name, base]).await?;
            if let Some(head) = heads[0] {
                found(true);
                return Ok(Ensured::unchanged(branch(name, head)));
            }
            let Some(base_head) = heads[1] else {
                return Err(Error::not_found(format!(
                    "base branch {base} does not exist"
                )));
            };
            found(false);
            attempts += 1;
            let reason = match state.push(create(base_head)).await? {
                Pushed::Accepted => return Ok(Ensured::created(branch(name, base_head))),
                Pushed::UpToDate => return Ok(Ensured::unchanged(branch(name, base_head))),
                Pushed::Rejected(reason) => reason,
            };
            if is_final_refusal(&reason) || attempts >= MAX_PUSH_ATTEMPTS {
                return Err(refused(name, &reason));
            }
            backoff(attempts).await;
        }
    }

    async fn write(&self, spec: &CommitSpec) -> Result<Ensured<Branch>> {
        let state = self.state();
        let name = spec.branch.as_str();
        let _branch = state.lock_branch(name).await;
        // Build on the head as last learned (the push's compare-and-swap proves it current),
        // or on the head fetched now.
        let (mut head, mut verified) = match state.known(name).filter(|k| k.local) {
            Some(k) => (k.head, false),
            None => (self.fetch_head(name).await?, true),
        };
        let mut attempts = 0;
        loop {
            let built = {
                let spec = spec.clone();
                state
                    .local(move |repo| {
                        if !cache::has_commit(repo, head) {
                            return Ok(None);
                        }
                        commit_on(repo, head, &spec).map(Some)
                    })
                    .await?
            };
            let Some(built) = built else {
                // The cache lost the head (removed under a running process): fetch it again.
                state.forget(name);
                head = self.fetch_head(name).await?;
                verified = true;
                continue;
            };
            let Some(commit) = built else {
                // The files are there. On a head learned earlier that needs proof, so look
                // once whether the branch is still there and still at that head.
                if !verified {
                    let now = self.fetch_head(name).await?;
                    verified = true;
                    if now != head {
                        head = now;
                        continue;
                    }
                }
                found(true);
                return Ok(Ensured::unchanged(branch(name, head)));
            };
            if verified {
                found(false);
            }
            attempts += 1;
            let update = Update {
                branch: name.to_string(),
                new: Some(commit),
                expected: Some(head),
            };
            let reason = match state.push(update).await? {
                Pushed::Accepted | Pushed::UpToDate => {
                    found(false);
                    return Ok(Ensured::updated(branch(name, commit)));
                }
                Pushed::Rejected(reason) => reason,
            };
            if is_final_refusal(&reason) {
                return Err(refused(name, &reason));
            }
            if attempts >= MAX_PUSH_ATTEMPTS {
                return Err(Error::conflict(format!(
                    "branch {name} kept moving: the push was rejected {attempts} times ({reason})"
                )));
            }
            tracing::debug!(
                branch = %name,
                attempt = attempts,
                %reason,
                "push rejected: another writer moved the branch; rebuilding"
            );
            backoff(attempts).await;
            head = self.fetch_head(name).await?;
            verified = true;
        }
    }

    async fn read(&self, name: &str, paths: Vec<String>) -> Result<Option<BranchFiles>> {
        let state = self.state();
        let Some(head) = state.fetch(&[name]).await?[0] else {
            return Ok(None);
        };
        let read = paths.clone();
        let contents = state
            .local(move |repo| read_paths(repo, head, &read))
            .await?;
        Ok(Some(BranchFiles {
            branch: branch(name, head),
            files: paths.into_iter().zip(contents).collect(),
        }))
    }

    async fn delete(&self, name: &str) -> Result<Deleted> {
        let state = self.state();
        let _branch = state.lock_branch(name).await;
        let Some(head) = state.list(&[name]).await?[0] else {
            return Ok(Deleted::AlreadyGone);
        };
        let update = Update {
            branch: name.to_string(),
            new: None,
            expected: Some(head),
        };
        match state.push(update).await? {
            Pushed::Accepted | Pushed::UpToDate => Ok(Deleted::Deleted),
            Pushed::Rejected(reason) => match state.list(&[name]).await?[0] {
                None => Ok(Deleted::AlreadyGone),
                Some(_) if is_final_refusal(&reason) => Err(refused(name, &reason)),
                Some(_) => Err(Error::conflict(format!(
                    "branch {name} moved while it was being deleted: {reason}"
                ))),
            },
        }
    }
}

fn branch(name: &str, head: Oid) -> Branch {
    Branch {
        name: name.to_string(),
        head: head.to_string(),
    }
}

fn branch_name(name: &str) -> Result<String> {
    validate::git_branch_name("branch", name)
}

/// Whether the remote refused an update for a reason other than the branch having moved (a
/// hook, a protected branch, missing permission): trying again would not help.
fn is_final_refusal(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "declined",
        "denied",
        "protected",
        "not allowed",
        "permission",
    ]
    .iter()
    .any(|n| r.contains(n))
}

fn refused(branch: &str, reason: &str) -> Error {
    let kind = if is_final_refusal(reason) {
        ErrorKind::PermissionDenied
    } else {
        ErrorKind::Conflict
    };
    Error::new(
        kind,
        format!("the remote refused the update of branch {branch}: {reason}"),
    )
}

/// A short pause before rebuilding a rejected write: 20–60 ms times the attempt, jittered so
/// that writers racing for one branch spread out.
async fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from(nanos % 40);
    tokio::time::sleep(Duration::from_millis((20 + jitter) * u64::from(attempt))).await;
}

impl Provider for GitRepository {
    fn info(&self) -> ProviderInfo {
        self.inner.state.info().clone()
    }

    /// Git's branch rules (`git check-ref-format --branch`, and not `HEAD`) and its path rules.
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        use provisio::validate::{self, NameKind};
        match kind {
            NameKind::Branch => validate::git_branch_name(field, value),
            NameKind::RepoPath => validate::repo_file_path(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

fn in_op(op: &'static str, resource: &str) -> impl FnOnce(Error) -> Error {
    let resource = resource.to_string();
    move |e| e.in_context(PROVIDER, op).with_resource(resource)
}

#[async_trait]
impl Repository for GitRepository {
    fn capabilities(&self) -> RepoCapabilities {
        RepoCapabilities {
            delete_branch: true,
        }
    }

    async fn ensure_branch(&self, name: &str, base: &str) -> Result<Ensured<Branch>> {
        let name = branch_name(name)?;
        let base = validate::git_branch_name("base branch", base)?;
        self.ensure(&name, &base)
            .await
            .map_err(in_op("repo.ensure_branch", &name))
    }

    async fn get_branch(&self, name: &str) -> Result<Option<Branch>> {
        let name = branch_name(name)?;
        let head = self
            .state()
            .list(&[&name])
            .await
            .map_err(in_op("repo.get_branch", &name))?[0];
        Ok(head.map(|head| branch(&name, head)))
    }

    async fn read_file(&self, branch: &str, path: &str) -> Result<Option<Bytes>> {
        let name = branch_name(branch)?;
        let path = validate::repo_file_path("file path", path)?;
        let resource = format!("{name}:{path}");
        let read = self
            .read(&name, vec![path.clone()])
            .await
            .map_err(in_op("repo.read_file", &resource))?;
        match read {
            Some(mut at) => Ok(at.files.remove(&path).flatten()),
            None => Err(Error::not_found(format!("branch {name} does not exist"))
                .in_context(PROVIDER, "repo.read_file")
                .with_resource(resource)),
        }
    }

    async fn read_files(&self, branch: &str, paths: &[String]) -> Result<Option<BranchFiles>> {
        let name = branch_name(branch)?;
        let paths = paths
            .iter()
            .map(|p| validate::repo_file_path("file path", p))
            .collect::<Result<Vec<_>>>()?;
        self.read(&name, paths)
            .await
            .map_err(in_op("repo.read_files", &name))
    }

    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>> {
        let fail = in_op("repo.write_files", &spec.branch);
        validate_spec(spec).map_err(fail)?;
        self.write(spec)
            .await
            .map_err(in_op("repo.write_files", &spec.branch))
    }

    async fn delete_branch(&self, name: &str) -> Result<Deleted> {
        let name = branch_name(name)?;
        self.delete(&name)
            .await
            .map_err(in_op("repo.delete_branch", &name))
    }
}
