//! `Repo`: [`provisio::Repository`].

use crate::errors::OrThrow;
use crate::{from_js, to_js};
use napi::bindgen_prelude::{Buffer, Either};
use napi_derive::napi;
use provisio::Repository;
use provisio::repo::{Author, CommitSpec};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Files to commit to a branch as one commit.
#[napi(object)]
pub struct CommitInput {
    /// The branch (must exist).
    pub branch: String,
    /// Path -> content (`Buffer` or UTF-8 string).
    pub files: HashMap<String, Either<Buffer, String>>,
    /// The commit message.
    pub message: String,
    /// `{ name, email }`.
    pub author: Value,
}

/// A git repository: branches and commits.
#[napi]
pub struct Repo {
    pub(crate) inner: Arc<dyn Repository>,
}

#[napi]
impl Repo {
    /// Who the provider is.
    #[napi]
    pub fn info(&self) -> napi::Result<Value> {
        to_js(&self.inner.info())
    }
    /// What the provider supports.
    #[napi]
    pub fn capabilities(&self) -> napi::Result<Value> {
        to_js(&self.inner.capabilities())
    }
    /// Creates `name` at the head of `base` unless it exists.
    #[napi]
    pub async fn ensure_branch(&self, name: String, base: String) -> napi::Result<Value> {
        to_js(&self.inner.ensure_branch(&name, &base).await.or_throw()?)
    }
    /// The branch, or `null`.
    #[napi]
    pub async fn get_branch(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.get_branch(&name).await.or_throw()?)
    }
    /// A file at the branch's head, or `null`.
    #[napi]
    pub async fn read_file(&self, branch: String, path: String) -> napi::Result<Option<Buffer>> {
        let file = self.inner.read_file(&branch, &path).await.or_throw()?;
        Ok(file.map(|b| b.to_vec().into()))
    }
    /// Writes the files as one commit (none when nothing changes).
    #[napi]
    pub async fn write_files(&self, spec: CommitInput) -> napi::Result<Value> {
        let author: Author = from_js("author", spec.author)?;
        let files: BTreeMap<String, provisio::Bytes> = spec
            .files
            .into_iter()
            .map(|(k, v)| (k, super::storage::body(v)))
            .collect();
        let spec = CommitSpec {
            branch: spec.branch,
            files,
            message: spec.message,
            author,
        };
        to_js(&self.inner.write_files(&spec).await.or_throw()?)
    }
    /// Deletes a branch.
    #[napi]
    pub async fn delete_branch(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.delete_branch(&name).await.or_throw()?)
    }
}
