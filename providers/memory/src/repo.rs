//! In-memory git repository: branches pointing at content-addressed commits.

use crate::faults::{Base, Faults, Read, hash_bytes};
use crate::inventory::Inventory;
use provisio::repo::{Author, Branch, CommitSpec, RepoCapabilities, Repository};
use provisio::{
    Bytes, Deleted, Ensured, Error, Provider, ProviderInfo, Result, async_trait, validate,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The branch every new repository has.
pub const DEFAULT_BRANCH: &str = "main";

type Tree = BTreeMap<String, Bytes>;

#[derive(Debug, Clone)]
struct Commit {
    tree: Tree,
    parent: Option<String>,
    message: String,
    /// Kept like git keeps it; not part of the id (see `commit_id`).
    author: Author,
}

#[derive(Debug)]
pub(crate) struct State {
    commits: BTreeMap<String, Commit>,
    branches: BTreeMap<String, String>,
}

/// One commit as [`MemoryRepo::history`] shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitInfo {
    /// The commit id (SHA-256 hex of tree, parent and message).
    pub id: String,
    /// The commit message.
    pub message: String,
}

/// An in-memory git repository.
///
/// It starts with a `main` branch holding one initial commit. Commits are content-addressed:
/// the id is the SHA-256 of the tree, the parent and the message, so the same change on the
/// same parent always yields the same id. [`Repository::write_files`] makes no commit when every
/// file already has the wanted content.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use provisio::{Repository, Outcome};
/// use provisio::repo::{Author, CommitSpec};
/// let repo = provisio_memory::MemoryRepo::new();
/// repo.ensure_branch("acme", "main").await.unwrap();
/// let spec = CommitSpec {
///     branch: "acme".into(),
///     files: [("config.yml".to_string(), "tenant: acme\n".into())].into(),
///     message: "configure acme".into(),
///     author: Author { name: "provisio".into(), email: "bot@example.com".into() },
/// };
/// assert_eq!(repo.write_files(&spec).await.unwrap().outcome, Outcome::Updated);
/// assert_eq!(repo.write_files(&spec).await.unwrap().outcome, Outcome::Unchanged);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryRepo {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryRepo {
    fn default() -> Self {
        Self::new()
    }
}

fn tree_hash(tree: &Tree) -> [u8; 32] {
    let mut parts: Vec<&[u8]> = Vec::new();
    for (path, content) in tree {
        parts.push(path.as_bytes());
        parts.push(content);
    }
    hash_bytes(&parts)
}

fn commit_id(tree: &Tree, parent: Option<&str>, message: &str) -> String {
    hex::encode(hash_bytes(&[
        &tree_hash(tree),
        parent.unwrap_or("").as_bytes(),
        message.as_bytes(),
    ]))
}

fn bot() -> Author {
    Author {
        name: "provisio".into(),
        email: "provisio@memory.invalid".into(),
    }
}

/// The branch rule of `git check-ref-format --branch` (see [`crate::names::git_branch`]).
fn branch_name(field: &str, name: &str) -> Result<String> {
    crate::names::git_branch(field, name)
}

impl MemoryRepo {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-repo";

    /// A repository whose `main` branch holds an empty initial commit.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A repository using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        Self::with_files_and_faults(Tree::new(), faults)
    }

    /// A repository whose initial commit on `main` holds `files`.
    ///
    /// # Panics
    /// When a path is not a valid repository path: this is a test setup helper.
    pub fn with_files<P: Into<String>, C: Into<Bytes>>(
        files: impl IntoIterator<Item = (P, C)>,
    ) -> Self {
        let tree: Tree = files
            .into_iter()
            .map(|(p, c)| {
                let p = p.into();
                validate::repo_file_path("file path", &p).expect("with_files: invalid path");
                (p, c.into())
            })
            .collect();
        Self::with_files_and_faults(tree, Faults::default())
    }

    fn with_files_and_faults(tree: Tree, faults: Faults) -> Self {
        let message = "initial commit".to_string();
        let id = commit_id(&tree, None, &message);
        let commit = Commit {
            tree,
            parent: None,
            message,
            author: bot(),
        };
        MemoryRepo {
            base: Base::new(faults, Self::DEFAULT_ACCOUNT, crate::persist::Section::Repo),
            state: Mutex::new(State {
                commits: [(id.clone(), commit)].into(),
                branches: [(DEFAULT_BRANCH.to_string(), id)].into(),
            }),
        }
    }

    /// The same repository using the shared `faults` (for [`MemoryRepo::with_files`]).
    pub fn use_faults(mut self, faults: Faults) -> Self {
        self.base.faults = faults;
        self
    }

    /// The same repository acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The commits of a branch, newest first; empty when the branch does not exist.
    pub fn history(&self, branch: &str) -> Vec<CommitInfo> {
        let s = self.lock();
        let mut out = Vec::new();
        let mut at = s.branches.get(branch).cloned();
        while let Some(id) = at {
            let c = &s.commits[&id];
            out.push(CommitInfo {
                id: id.clone(),
                message: c.message.clone(),
            });
            at = c.parent.clone();
        }
        out
    }

    /// Every branch (`repo.branch`) with the SHA-256 of each file at its head. The head commit
    /// id is left out on purpose: writing back the old content restores the old inventory.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, head) in &s.branches {
            let files: BTreeMap<&String, String> = s.commits[head]
                .tree
                .iter()
                .map(|(p, c)| (p, hex::encode(hash_bytes(&[c]))))
                .collect();
            inv.insert("repo.branch", name.clone(), json!({ "files": files }));
        }
        inv
    }

    /// Nothing is retired in a repository.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }
}

/// Whether writing `path` into `tree` would turn a file into a directory or back.
fn path_clash(tree: &Tree, path: &str) -> Option<String> {
    let mut prefix = String::new();
    for seg in path.split('/') {
        if !prefix.is_empty() {
            if tree.contains_key(&prefix) {
                return Some(prefix);
            }
            prefix.push('/');
        }
        prefix.push_str(seg);
    }
    let dir = format!("{path}/");
    tree.range(dir.clone()..)
        .next()
        .filter(|(k, _)| k.starts_with(&dir))
        .map(|(k, _)| k.clone())
}

/// The repository's part of a [`crate::MemorySnapshot`]: every commit (with its full tree)
/// and every branch head.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RepoSnapshot {
    commits: Vec<CommitSnapshot>,
    /// Branch -> head commit id.
    branches: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitSnapshot {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    message: String,
    author: Author,
    files: BTreeMap<String, crate::Content>,
}

impl MemoryRepo {
    /// Everything this repository holds.
    pub(crate) fn snapshot(&self) -> RepoSnapshot {
        let s = self.lock();
        RepoSnapshot {
            commits: s
                .commits
                .iter()
                .map(|(id, c)| CommitSnapshot {
                    id: id.clone(),
                    parent: c.parent.clone(),
                    message: c.message.clone(),
                    author: c.author.clone(),
                    files: c
                        .tree
                        .iter()
                        .map(|(p, b)| (p.clone(), crate::Content(b.clone())))
                        .collect(),
                })
                .collect(),
            branches: s.branches.clone(),
        }
    }

    /// Replaces everything this repository holds with `snap`, after checking that every commit
    /// id matches its content and that parents and branch heads exist.
    pub(crate) fn prepare_restore(&self, snap: RepoSnapshot) -> Result<State> {
        use crate::snapshot::corrupt;
        let mut commits = BTreeMap::new();
        for c in snap.commits {
            let tree: Tree = c.files.into_iter().map(|(p, b)| (p, b.0)).collect();
            if commit_id(&tree, c.parent.as_deref(), &c.message) != c.id {
                return Err(corrupt(format!(
                    "repo commit {} does not match its content",
                    c.id
                )));
            }
            let commit = Commit {
                tree,
                parent: c.parent,
                message: c.message,
                author: c.author,
            };
            commits.insert(c.id, commit);
        }
        for (id, c) in &commits {
            if let Some(p) = &c.parent
                && !commits.contains_key(p)
            {
                return Err(corrupt(format!(
                    "repo commit {id} has a missing parent {p}"
                )));
            }
        }
        if !snap.branches.contains_key(DEFAULT_BRANCH) {
            return Err(corrupt(format!("repo has no {DEFAULT_BRANCH} branch")));
        }
        for (name, head) in &snap.branches {
            if !commits.contains_key(head) {
                return Err(corrupt(format!(
                    "repo branch {name} points at a missing commit {head}"
                )));
            }
        }
        Ok(State {
            commits,
            branches: snap.branches,
        })
    }

    /// Installs a state made by [`MemoryRepo::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

/// Each commit's JSON by commit id: a commit never changes (its id is its content's hash), and
/// the commits with their trees make the repository section large.
#[derive(Debug, Default)]
pub(crate) struct RepoJson(std::collections::HashMap<String, String>);

impl crate::snapshot::SnapshotSection for MemoryRepo {
    type JsonCache = RepoJson;
    fn section_json(snap: RepoSnapshot, cache: &mut RepoJson) -> serde_json::Result<String> {
        // Field by field in declaration order, as the derived `Serialize` writes them
        // (the tests compare with `serde_json::to_string`).
        let RepoSnapshot { commits, branches } = snap;
        let mut next = std::collections::HashMap::with_capacity(commits.len());
        let mut out = String::from("{\"commits\":[");
        for (i, c) in commits.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let json = match cache.0.remove(&c.id) {
                Some(json) => json,
                None => serde_json::to_string(c)?,
            };
            out.push_str(&json);
            next.insert(c.id.clone(), json);
        }
        cache.0 = next;
        out.push_str("],\"branches\":");
        out.push_str(&serde_json::to_string(&branches)?);
        out.push('}');
        Ok(out)
    }
    type Snapshot = RepoSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> RepoSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: RepoSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
}

impl Provider for MemoryRepo {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(&[provisio::validate::NameKind::Branch], kind, field, value)
    }
}

#[async_trait]
impl Repository for MemoryRepo {
    fn capabilities(&self) -> RepoCapabilities {
        RepoCapabilities {
            delete_branch: true,
        }
    }

    async fn ensure_branch(&self, name: &str, base: &str) -> Result<Ensured<Branch>> {
        self.base
            .run_ensure("repo.ensure_branch", name, async {
                let name = branch_name("branch", name)?;
                let base = branch_name("base branch", base)?;
                let mut s = self.lock();
                if let Some(head) = s.branches.get(&name) {
                    return Ok(Ensured::unchanged(Branch {
                        name,
                        head: head.clone(),
                    }));
                }
                let head = s.branches.get(&base).cloned().ok_or_else(|| {
                    Error::not_found(format!("base branch {base} does not exist"))
                        .with_resource(base.clone())
                })?;
                s.branches.insert(name.clone(), head.clone());
                Ok(Ensured::created(Branch { name, head }))
            })
            .await
    }

    async fn get_branch(&self, name: &str) -> Result<Option<Branch>> {
        self.base
            .run("repo.get_branch", name, async {
                let name = branch_name("branch", name)?;
                Ok(Read(self.lock().branches.get(&name).map(|head| Branch {
                    name: name.clone(),
                    head: head.clone(),
                })))
            })
            .await
    }

    async fn read_file(&self, branch: &str, path: &str) -> Result<Option<Bytes>> {
        let resource = format!("{branch}:{path}");
        self.base
            .run("repo.read_file", &resource, async {
                let branch = branch_name("branch", branch)?;
                let path = validate::repo_file_path("file path", path)?;
                let s = self.lock();
                let head = s
                    .branches
                    .get(&branch)
                    .ok_or_else(|| Error::not_found(format!("branch {branch} does not exist")))?;
                Ok(Read(s.commits[head].tree.get(&path).cloned()))
            })
            .await
    }

    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>> {
        self.base
            .run("repo.write_files", &spec.branch, async {
                let branch = branch_name("branch", &spec.branch)?;
                for path in spec.files.keys() {
                    validate::repo_file_path("file path", path)?;
                }
                if spec.message.trim().is_empty() {
                    return Err(Error::invalid_field("commit message", "must not be empty"));
                }
                if spec.author.name.trim().is_empty() || !spec.author.email.contains('@') {
                    return Err(Error::invalid_field(
                        "commit author",
                        "needs a name and an e-mail address",
                    ));
                }
                let mut s = self.lock();
                let head = s.branches.get(&branch).cloned().ok_or_else(|| {
                    Error::not_found(format!(
                        "branch {branch} does not exist (ensure it first)"
                    ))
                })?;
                let mut tree = s.commits[&head].tree.clone();
                let mut changed = false;
                for (path, content) in &spec.files {
                    if tree.get(path) == Some(content) {
                        continue;
                    }
                    if let Some(clash) = path_clash(&tree, path) {
                        return Err(Error::conflict(format!(
                            "cannot write {path}: it clashes with {clash} (a file cannot also be a directory)"
                        )));
                    }
                    tree.insert(path.clone(), content.clone());
                    changed = true;
                }
                // the files are "there" when nothing had to be written
                provisio::existence::found(!changed);
                if !changed {
                    return Ok(Ensured::unchanged(Branch { name: branch, head }));
                }
                let id = commit_id(&tree, Some(&head), &spec.message);
                s.commits.entry(id.clone()).or_insert(Commit {
                    tree,
                    parent: Some(head),
                    message: spec.message.clone(),
                    author: spec.author.clone(),
                });
                s.branches.insert(branch.clone(), id.clone());
                Ok(Ensured::updated(Branch {
                    name: branch,
                    head: id,
                }))
            })
            .await
    }

    async fn delete_branch(&self, name: &str) -> Result<Deleted> {
        self.base
            .run("repo.delete_branch", name, async {
                let name = branch_name("branch", name)?;
                if name == DEFAULT_BRANCH {
                    return Err(Error::conflict(format!(
                        "refusing to delete the default branch {name} (receive.denyDeleteCurrent)"
                    )));
                }
                Ok(match self.lock().branches.remove(&name) {
                    Some(_) => Deleted::Deleted,
                    None => Deleted::AlreadyGone,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome};

    fn commit(branch: &str, files: &[(&str, &str)]) -> CommitSpec {
        CommitSpec {
            branch: branch.into(),
            files: files
                .iter()
                .map(|(p, c)| (p.to_string(), Bytes::from(c.to_string())))
                .collect(),
            message: "update".into(),
            author: Author {
                name: "bot".into(),
                email: "bot@example.com".into(),
            },
        }
    }

    #[tokio::test]
    async fn branches_and_commits() {
        let repo = MemoryRepo::with_files([("README.md", "hi")]);
        let main = repo.get_branch("main").await.unwrap().unwrap();
        assert_eq!(main.head.len(), 64);
        assert_eq!(repo.history("main").len(), 1);
        assert_eq!(
            repo.read_file("main", "README.md")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"hi"[..])
        );
        assert_eq!(repo.read_file("main", "nope").await.unwrap(), None);
        assert_eq!(
            repo.read_file("nope", "README.md")
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        let b = repo.ensure_branch("acme", "main").await.unwrap();
        assert_eq!(b.outcome, Outcome::Created);
        assert_eq!(b.value.head, main.head);
        assert_eq!(
            repo.ensure_branch("acme", "main").await.unwrap().outcome,
            Outcome::Unchanged
        );
        assert_eq!(
            repo.ensure_branch("dev-acme", "ghost")
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(
            repo.ensure_branch("bad..name", "main")
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );

        let w = repo
            .write_files(&commit(
                "acme",
                &[("config.yml", "a: 1"), ("README.md", "hi")],
            ))
            .await
            .unwrap();
        assert_eq!(w.outcome, Outcome::Updated);
        assert_ne!(w.value.head, main.head);
        let again = repo
            .write_files(&commit("acme", &[("config.yml", "a: 1")]))
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.value.head, w.value.head);
        assert_eq!(repo.history("acme").len(), 2);
        // content-addressed: the same change on another branch from the same parent
        repo.ensure_branch("dev-acme", "main").await.unwrap();
        let same = repo
            .write_files(&commit("dev-acme", &[("config.yml", "a: 1")]))
            .await
            .unwrap();
        assert_eq!(same.value.head, w.value.head);
        assert_eq!(
            repo.write_files(&commit("acme", &[("../x", "x")]))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(
            repo.write_files(&commit("acme", &[("config.yml/x", "x")]))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::Conflict
        );
        assert_eq!(
            repo.write_files(&commit("ghost", &[("a", "x")]))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(repo.inventory().count("repo.branch"), 3);
        assert_eq!(repo.delete_branch("acme").await.unwrap(), Deleted::Deleted);
        assert_eq!(
            repo.delete_branch("acme").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            repo.delete_branch("main").await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
    }
}
