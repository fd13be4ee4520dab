//! Git repositories: branches and files committed to them.

use crate::{Deleted, Ensured, Provider, Result};
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

    /// Writes the files as one commit on the branch; `Unchanged` (no commit) when every file
    /// already has that content. Returns the branch with its new head.
    async fn write_files(&self, spec: &CommitSpec) -> Result<Ensured<Branch>>;

    /// Deletes a branch; [`Deleted::AlreadyGone`] when missing.
    async fn delete_branch(&self, name: &str) -> Result<Deleted>;
}
