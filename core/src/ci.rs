//! Continuous integration: folders, jobs from config XML, builds.

use crate::{Deleted, Ensured, Provider, Result};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::Duration;

/// A job as the CI server holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The full path, `folder/sub/job`.
    pub path: String,
    /// The job's URL on the server, when it has one.
    pub url: Option<String>,
}

/// A build that was queued and started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BuildRef {
    /// The job's path.
    pub job: String,
    /// The build number.
    pub number: u64,
}

/// How a finished build ended (Jenkins' results).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildResult {
    /// Passed.
    Success,
    /// Passed with test failures.
    Unstable,
    /// Failed.
    Failure,
    /// Not built.
    NotBuilt,
    /// Aborted.
    Aborted,
}

/// What a CI provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CiCapabilities {
    /// Folders are supported.
    pub folders: bool,
    /// Builds can take parameters.
    pub parameters: bool,
}

/// A CI server.
#[async_trait]
pub trait CiServer: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> CiCapabilities;

    /// Creates the folder (and its parents) unless it exists.
    async fn ensure_folder(&self, path: &str) -> Result<Ensured<String>>;

    /// Creates the job from `config_xml`, or replaces its configuration when it differs.
    async fn ensure_job(&self, path: &str, config_xml: &str) -> Result<Ensured<Job>>;

    /// Reads a job's configuration; `Ok(None)` when the job does not exist.
    async fn get_job_config(&self, path: &str) -> Result<Option<String>>;

    /// Changes a job's configuration: `edit` gets the current `config.xml` and returns the
    /// new one, or `None` to leave it as it is. `Ok(None)` when the job does not exist,
    /// `Ok(Some(changed))` otherwise. Providers that can make the read and the write one
    /// atomic step do (the memory provider); the default reads and then writes, so a writer
    /// in another process can slip in between (Jenkins has no compare-and-set on a job's
    /// configuration): callers that edit shared jobs read again to check.
    async fn edit_job_config(
        &self,
        path: &str,
        edit: &(dyn for<'c> Fn(&'c str) -> Result<Option<String>> + Send + Sync),
    ) -> Result<Option<bool>> {
        let Some(config) = self.get_job_config(path).await? else {
            return Ok(None);
        };
        match edit(&config)? {
            Some(new) if new != config => {
                self.ensure_job(path, &new).await?;
                Ok(Some(true))
            }
            _ => Ok(Some(false)),
        }
    }

    /// Deletes a job or folder; [`Deleted::AlreadyGone`] when missing.
    async fn delete_job(&self, path: &str) -> Result<Deleted>;

    /// Queues a build with parameters and waits until it leaves the queue with a number.
    async fn trigger_build(
        &self,
        path: &str,
        parameters: &BTreeMap<String, String>,
    ) -> Result<BuildRef>;

    /// Waits for a build to finish; `Timeout` after `timeout`.
    async fn wait_for_build(&self, build: &BuildRef, timeout: Duration) -> Result<BuildResult>;
}
