//! [`GitRepository`]: the [`Repository`] capability over a git remote.

use crate::client::{self, Pushed, Remote, Update, tracking_ref};
use crate::config::GitConfig;
use crate::error::from_git2;
use git2::Oid;
use provisio::repo::{Branch, CommitSpec, RepoCapabilities};
use provisio::{
    Bytes, Deleted, Ensured, Error, Provider, ProviderInfo, Repository, Result, async_trait,
    validate,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The provider name on errors and in [`ProviderInfo`].
const PROVIDER: &str = "git";

/// How often a write is rebuilt on a branch another writer moved before giving up with
/// `Conflict`.
pub const MAX_PUSH_ATTEMPTS: u32 = 5;

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
    /// The remote as a provider: the key of its bucket and the name its requests count under.
    info: ProviderInfo,
    config: GitConfig,
    cache: PathBuf,
    remote: Remote,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for GitRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitRepository")
            .field("url", &self.inner.config.redacted_url())
            .field("cache", &self.inner.cache)
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
        if !config.uses_command()
            && config.url.contains("://")
            && !config.url.starts_with("file://")
        {
            return Err(Error::invalid_field(
                "git url",
                "the libgit2 transport only reaches local paths and file:// URLs",
            ));
        }
        let cache = client::cache_path(&config.cache_dir, &config.url);
        client::open_cache(&cache).map_err(|e| e.in_context(PROVIDER, "repo.open"))?;
        // One lock per cache repository in this process, whatever the instance.
        let cache = cache.canonicalize().unwrap_or(cache);
        let remote = Remote::new(&config, &cache);
        let quota = provisio::ratelimit::RateLimit::effective(
            config.rate_limit.as_ref(),
            None,
            "rate_limit",
        )
        .map_err(|e| e.in_context(PROVIDER, "repo.open"))?;
        let mut info = ProviderInfo::new(PROVIDER, config.redacted_url());
        info.quota = quota;
        Ok(GitRepository {
            inner: Arc::new(Inner {
                info,
                lock: client::lock_for(&cache),
                config,
                cache,
                remote,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GitConfig {
        &self.inner.config
    }

    /// The path of the local bare cache clone.
    pub fn cache_path(&self) -> &Path {
        &self.inner.cache
    }

    /// Runs `work` on the cache repository, holding its lock, on tokio's blocking pool.
    async fn with_cache<T, F>(&self, op: &'static str, resource: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &git2::Repository) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        // The guard moves into the blocking task: if the caller's future is dropped, the lock
        // is still held until the git work really stops.
        let guard = inner.lock.clone().lock_owned().await;
        let meter = crate::metering::Meter::capture(&inner.info);
        let result = tokio::task::spawn_blocking(move || {
            let _guard = guard;
            meter.run(|| {
                let repo = client::open_cache(&inner.cache)?;
                work(&inner, &repo)
            })
        })
        .await
        .unwrap_or_else(|e| Err(Error::unexpected("the git task panicked").with_source(e)));
        result.map_err(|e| e.in_context(PROVIDER, op).with_resource(resource))
    }
}

impl Provider for GitRepository {
    fn info(&self) -> ProviderInfo {
        self.inner.info.clone()
    }

    /// Git's branch rules (`git check-ref-format --branch`, and not `HEAD`) and its path rules.
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        use provisio::validate::NameKind;
        match kind {
            NameKind::Branch => validate::git_branch_name(field, value),
            NameKind::RepoPath => validate::repo_file_path(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

fn branch_name(name: &str) -> Result<String> {
    validate::git_branch_name("branch", name)
}

fn validate_spec(spec: &CommitSpec) -> Result<()> {
    branch_name(&spec.branch)?;
    for path in spec.files.keys() {
        validate::repo_file_path("file path", path)?;
    }
    // A path cannot be both a file and a directory in one commit.
    for path in spec.files.keys() {
        let mut prefix = path.as_str();
        while let Some((dir, _)) = prefix.rsplit_once('/') {
            if spec.files.contains_key(dir) {
                return Err(Error::invalid_field(
                    "file path",
                    format!("{dir:?} cannot be both a file and the directory of {path:?}"),
                ));
            }
            prefix = dir;
        }
    }
    if spec.message.trim().is_empty() {
        return Err(Error::invalid_field("commit message", "must not be empty"));
    }
    let a = &spec.author;
    let bad = |s: &str| s.contains(['<', '>', '\n', '\r', '\0']);
    if a.name.trim().is_empty() || !a.email.contains('@') || bad(&a.name) || bad(&a.email) {
        return Err(Error::invalid_field(
            "commit author",
            "needs a name and an e-mail address without '<', '>' or line breaks",
        ));
    }
    Ok(())
}

/// The head commit of a fetched branch.
fn fetched_head<'r>(repo: &'r git2::Repository, branch: &str) -> Result<git2::Commit<'r>> {
    repo.find_reference(&tracking_ref(branch))
        .and_then(|r| r.peel_to_commit())
        .map_err(|e| from_git2(e, "the fetched branch is missing from the cache"))
}

/// Fetches `branch` and returns its head, or `None` when the remote has no such branch.
fn fetch_branch(inner: &Inner, repo: &git2::Repository, branch: &str) -> Result<Option<Oid>> {
    let heads = inner.remote.heads(&[branch])?;
    let Some(&head) = heads.get(branch) else {
        return Ok(None);
    };
    if repo.find_commit(head).is_err() {
        inner.remote.fetch(repo, &[branch])?;
    }
    // Point the tracking ref at the listed head (a fetch may have seen a newer one; the
    // listed head is the one the caller compares against).
    if repo.find_commit(head).is_err() {
        return Err(Error::transient(format!(
            "branch {branch} moved while it was fetched"
        )));
    }
    repo.reference(&tracking_ref(branch), head, true, "provisio: fetch")
        .map_err(|e| from_git2(e, "cannot update the cache's tracking ref"))?;
    Ok(Some(head))
}

/// A conflict check against the head tree: a new file where a directory is, or below a file.
fn clash(tree: &git2::Tree<'_>, path: &str) -> Option<String> {
    if let Ok(entry) = tree.get_path(Path::new(path))
        && entry.kind() == Some(git2::ObjectType::Tree)
    {
        return Some(format!("{path} is a directory"));
    }
    let mut prefix = path;
    while let Some((dir, _)) = prefix.rsplit_once('/') {
        if let Ok(entry) = tree.get_path(Path::new(dir))
            && entry.kind() == Some(git2::ObjectType::Blob)
        {
            return Some(format!("{dir} is a file"));
        }
        prefix = dir;
    }
    None
}

/// Builds the tree of `head` plus the spec's files; `None` when it equals the head's tree.
fn build_tree(
    repo: &git2::Repository,
    head: &git2::Commit<'_>,
    spec: &CommitSpec,
) -> Result<Option<Oid>> {
    let tree = head
        .tree()
        .map_err(|e| from_git2(e, "cannot read the head tree"))?;
    for path in spec.files.keys() {
        if let Some(why) = clash(&tree, path) {
            return Err(Error::conflict(format!("cannot write {path}: {why}")));
        }
    }
    let mut index = git2::Index::new().map_err(|e| from_git2(e, "cannot create an index"))?;
    index
        .read_tree(&tree)
        .map_err(|e| from_git2(e, "cannot read the head tree"))?;
    for (path, content) in &spec.files {
        // Keep an existing file's mode (an executable script stays executable).
        let mode = tree
            .get_path(Path::new(path))
            .map(|e| e.filemode() as u32)
            .unwrap_or(0o100644);
        // An in-memory index cannot hash content itself: write the blob, then add the entry.
        let blob = repo
            .blob(content)
            .map_err(|e| from_git2(e, "cannot write a file's blob"))?;
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: blob,
            flags: path.len().min(0xfff) as u16,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index
            .add(&entry)
            .map_err(|e| from_git2(e, "cannot stage a file"))?;
    }
    let new_tree = index
        .write_tree_to(repo)
        .map_err(|e| from_git2(e, "cannot write the tree"))?;
    Ok((new_tree != tree.id()).then_some(new_tree))
}

/// A short pause before rebuilding a rejected write: 20–60 ms times the attempt, jittered so
/// that writers racing for one branch spread out.
fn backoff(attempt: u32) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from(nanos % 40);
    std::thread::sleep(Duration::from_millis((20 + jitter) * u64::from(attempt)));
}

fn write_once(
    inner: &Inner,
    repo: &git2::Repository,
    spec: &CommitSpec,
) -> Result<Result<Ensured<Branch>, String>> {
    let branch = spec.branch.as_str();
    let Some(head_id) = fetch_branch(inner, repo, branch)? else {
        return Err(Error::not_found(format!(
            "branch {branch} does not exist (ensure it first)"
        )));
    };
    let head = fetched_head(repo, branch)?;
    let Some(tree_id) = build_tree(repo, &head, spec)? else {
        return Ok(Ok(Ensured::unchanged(Branch {
            name: branch.to_string(),
            head: head_id.to_string(),
        })));
    };
    let tree = repo
        .find_tree(tree_id)
        .map_err(|e| from_git2(e, "cannot read the new tree"))?;
    let sig = git2::Signature::now(&spec.author.name, &spec.author.email)
        .map_err(|e| Error::invalid_field("commit author", e.message().to_string()))?;
    let commit = repo
        .commit(None, &sig, &sig, &spec.message, &tree, &[&head])
        .map_err(|e| from_git2(e, "cannot create the commit"))?;
    let update = Update {
        branch,
        new: Some(commit),
        expected: Some(head_id),
    };
    match inner.remote.push(repo, &update)? {
        Pushed::Accepted => {
            repo.reference(&tracking_ref(branch), commit, true, "provisio: push")
                .map_err(|e| from_git2(e, "cannot update the cache's tracking ref"))?;
            Ok(Ok(Ensured::updated(Branch {
                name: branch.to_string(),
                head: commit.to_string(),
            })))
        }
        Pushed::Rejected(reason) => Ok(Err(reason)),
    }
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
        let resource = name.clone();
        self.with_cache("repo.ensure_branch", &resource, move |inner, repo| {
            let heads = inner.remote.heads(&[&name, &base])?;
            if let Some(head) = heads.get(&name) {
                return Ok(Ensured::unchanged(Branch {
                    name,
                    head: head.to_string(),
                }));
            }
            let Some(&base_head) = heads.get(&base) else {
                return Err(Error::not_found(format!(
                    "base branch {base} does not exist"
                )));
            };
            if repo.find_commit(base_head).is_err() {
                inner.remote.fetch(repo, &[&base])?;
            }
            let update = Update {
                branch: &name,
                new: Some(base_head),
                expected: None,
            };
            match inner.remote.push(repo, &update)? {
                Pushed::Accepted => Ok(Ensured::created(Branch {
                    name,
                    head: base_head.to_string(),
                })),
                Pushed::Rejected(reason) => {
                    // Another writer created it first: it exists, which is all we ensure.
                    let heads = inner.remote.heads(&[&name])?;
                    match heads.get(&name) {
                        Some(head) => Ok(Ensured::unchanged(Branch {
                            name,
                            head: head.to_string(),
                        })),
                        None => Err(Error::conflict(format!(
                            "the remote refused to create the branch: {reason}"
                        ))),
                    }
                }
            }
        })
        .await
    }

    async fn get_branch(&self, name: &str) -> Result<Option<Branch>> {
        let name = branch_name(name)?;
        let resource = name.clone();
        self.with_cache("repo.get_branch", &resource, move |inner, _repo| {
            let heads = inner.remote.heads(&[&name])?;
            Ok(heads.get(&name).map(|head| Branch {
                name: name.clone(),
                head: head.to_string(),
            }))
        })
        .await
    }

    async fn read_file(&self, branch: &str, path: &str) -> Result<Option<Bytes>> {
        let branch = branch_name(branch)?;
        let path = validate::repo_file_path("file path", path)?;
        let resource = format!("{branch}:{path}");
        self.with_cache("repo.read_file", &resource, move |inner, repo| {
            if fetch_branch(inner, repo, &branch)?.is_none() {
                return Err(Error::not_found(format!("branch {branch} does not exist")));
            }
            let tree = fetched_head(repo, &branch)?
                .tree()
                .map_err(|e| from_git2(e, "cannot read the head tree"))?;
            let entry = match tree.get_path(Path::new(&path)) {
                Ok(entry) => entry,
                Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
                Err(e) => return Err(from_git2(e, "cannot look up the file")),
            };
            if entry.kind() != Some(git2::ObjectType::Blob) {
                return Ok(None);
            }
            let blob = repo
                .find_blob(entry.id())
                .map_err(|e| from_git2(e, "cannot read the file"))?;
            Ok(Some(Bytes::copy_from_slice(blob.content())))
        })
        .await
    }

    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>> {
        validate_spec(spec).map_err(|e| {
            e.in_context(PROVIDER, "repo.write_files")
                .with_resource(spec.branch.clone())
        })?;
        let spec = spec.clone();
        let resource = spec.branch.clone();
        self.with_cache("repo.write_files", &resource, move |inner, repo| {
            let mut last = String::new();
            for attempt in 1..=MAX_PUSH_ATTEMPTS {
                match write_once(inner, repo, &spec)? {
                    Ok(done) => return Ok(done),
                    Err(reason) => {
                        tracing::debug!(
                            branch = %spec.branch,
                            attempt,
                            %reason,
                            "push rejected: another writer moved the branch; rebuilding"
                        );
                        last = reason;
                        if attempt < MAX_PUSH_ATTEMPTS {
                            backoff(attempt);
                        }
                    }
                }
            }
            Err(Error::conflict(format!(
                "branch {} kept moving: the push was rejected {MAX_PUSH_ATTEMPTS} times ({last})",
                spec.branch
            )))
        })
        .await
    }

    async fn delete_branch(&self, name: &str) -> Result<Deleted> {
        let name = branch_name(name)?;
        let resource = name.clone();
        self.with_cache("repo.delete_branch", &resource, move |inner, repo| {
            let heads = inner.remote.heads(&[&name])?;
            let Some(&head) = heads.get(&name) else {
                return Ok(Deleted::AlreadyGone);
            };
            let update = Update {
                branch: &name,
                new: None,
                expected: Some(head),
            };
            let pushed = inner.remote.push(repo, &update)?;
            if let Ok(mut r) = repo.find_reference(&tracking_ref(&name)) {
                let _ = r.delete();
            }
            match pushed {
                Pushed::Accepted => Ok(Deleted::Deleted),
                Pushed::Rejected(reason) => {
                    if inner.remote.heads(&[&name])?.contains_key(&name) {
                        Err(Error::conflict(format!(
                            "branch {name} moved while it was being deleted: {reason}"
                        )))
                    } else {
                        Ok(Deleted::AlreadyGone)
                    }
                }
            }
        })
        .await
    }
}
