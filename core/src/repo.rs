//! Git repositories: branches and files committed to them.

use crate::{Deleted, Ensured, ErrorKind, Provider, Result};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;

/// The author (and committer) of commits provisio makes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Author {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
}

/// A branch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Branch {
    /// The branch name.
    pub name: String,
    /// The commit id at its head.
    pub head: String,
}

/// Files to commit to a branch, as one commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommitSpec {
    /// The branch (must exist; see [`Repository::ensure_branch`]).
    pub branch: String,
    /// Path -> new content. Files not named are left as they are.
    pub files: BTreeMap<String, Bytes>,
    /// The commit message.
    pub message: String,
    /// The author.
    pub author: Author,
}

/// Files of a branch read at one head (see [`Repository::read_files`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchFiles {
    /// The branch, with the head the files were read at.
    pub branch: Branch,
    /// Path -> content; `None` when the file is missing at that head.
    pub files: BTreeMap<String, Option<Bytes>>,
}

/// What a repository provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoCapabilities {
    /// Branches can be deleted.
    pub delete_branch: bool,
}

/// One git repository.
#[async_trait]
pub trait Repository: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> RepoCapabilities;

    /// Creates `name` at the head of `base` unless it exists (an existing branch is left where
    /// it is). `NotFound` when `base` does not exist.
    async fn ensure_branch(&self, name: &str, base: &str) -> Result<Ensured<Branch>>;

    /// Reads a branch; `Ok(None)` when missing.
    async fn get_branch(&self, name: &str) -> Result<Option<Branch>>;

    /// Reads a file at a branch's head; `Ok(None)` when the file is missing.
    async fn read_file(&self, branch: &str, path: &str) -> Result<Option<Bytes>>;

    /// Reads several files of a branch: `Ok(None)` when the branch is missing, else the branch
    /// and each path's content (`None` for a missing file).
    ///
    /// Providers that can read a whole commit at once override it to read every file at one
    /// head with one request (git: one fetch). The default reads the branch, then each file,
    /// so a concurrent writer can make them come from different heads.
    async fn read_files(&self, branch: &str, paths: &[String]) -> Result<Option<BranchFiles>> {
        let Some(head) = self.get_branch(branch).await? else {
            return Ok(None);
        };
        let mut files = BTreeMap::new();
        for path in paths {
            match self.read_file(branch, path).await {
                Ok(content) => {
                    files.insert(path.clone(), content);
                }
                // deleted since it was read
                Err(e) if e.kind() == &ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(Some(BranchFiles {
            branch: head,
            files,
        }))
    }

    /// Writes the files as one commit on the branch; `Unchanged` (no commit) when every file
    /// already has that content. Returns the branch with its new head.
    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>>;

    /// Deletes a branch; [`Deleted::AlreadyGone`] when missing.
    async fn delete_branch(&self, name: &str) -> Result<Deleted>;
}
