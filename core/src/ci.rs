//! Continuous integration: folders, jobs from config XML, downstream jobs, builds.

use crate::{Deleted, Ensured, Error, ErrorKind, Provider, Result};
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
    /// Jobs' downstream lists can be read and edited ([`CiServer::downstream_jobs`],
    /// [`CiServer::add_downstream`], [`CiServer::remove_downstream`]).
    #[serde(default)]
    pub downstream: bool,
}

/// What [`CiServer::add_downstream`] or [`CiServer::remove_downstream`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Linked {
    /// Whether the downstream job was in the job's list when the call first looked.
    pub was_listed: bool,
    /// Whether the call changed the job (wrote its configuration); `false` when there was
    /// nothing to do.
    pub changed: bool,
}

fn downstream_unsupported(operation: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{operation} is not supported by this provider: it cannot read or edit the jobs a \
             job triggers (its capabilities say downstream: false)"
        ),
    )
    .with_operation(operation)
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

    /// The jobs that `job` triggers when it finishes (its downstream list, in the order the
    /// server keeps it); `Ok(None)` when `job` does not exist. A folder is `Conflict`.
    ///
    /// The default returns `Unsupported`.
    async fn downstream_jobs(&self, job: &str) -> Result<Option<Vec<String>>> {
        let _ = job;
        Err(downstream_unsupported("ci.downstream_jobs"))
    }

    /// Adds `downstream` to the jobs `job` triggers when it finishes; idempotent (a job
    /// listed already is left as it is: `changed: false`). `Ok(None)` when `job` does not
    /// exist; a folder is `Conflict`. `downstream` itself need not exist (the server keeps the
    /// name). The rest of the job's configuration is kept as it is.
    ///
    /// Many tenants' runs edit the same umbrella job at once, in this process and in others,
    /// and each addition must stick: a provider whose service has no atomic edit serializes
    /// its edits within the process and reads the job again after writing, redoing the edit
    /// when a concurrent writer dropped it, and gives up with `Conflict` when it keeps losing.
    /// After its first look the call reports [`crate::existence::found`] (whether
    /// `downstream` was listed), before it writes.
    ///
    /// The default returns `Unsupported`.
    async fn add_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        let _ = (job, downstream);
        Err(downstream_unsupported("ci.add_downstream"))
    }

    /// Removes `downstream` from the jobs `job` triggers; idempotent (`was_listed: false,
    /// changed: false` when it is not listed). `Ok(None)` when `job` does not exist; a folder
    /// is `Conflict`. The rest of the job's configuration (the other downstream jobs, the
    /// trigger's threshold) is kept; concurrent writers are handled as in
    /// [`CiServer::add_downstream`].
    ///
    /// The default returns `Unsupported`.
    async fn remove_downstream(&self, job: &str, downstream: &str) -> Result<Option<Linked>> {
        let _ = (job, downstream);
        Err(downstream_unsupported("ci.remove_downstream"))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProviderInfo;

    /// A CI server that implements only the required methods.
    struct Plain;

    impl Provider for Plain {
        fn info(&self) -> ProviderInfo {
            ProviderInfo::new("plain", "test")
        }
    }

    #[async_trait]
    impl CiServer for Plain {
        fn capabilities(&self) -> CiCapabilities {
            CiCapabilities {
                folders: false,
                parameters: false,
                downstream: false,
            }
        }
        async fn ensure_folder(&self, _: &str) -> Result<Ensured<String>> {
            Err(Error::unsupported("ci.ensure_folder"))
        }
        async fn ensure_job(&self, _: &str, _: &str) -> Result<Ensured<Job>> {
            Err(Error::unsupported("ci.ensure_job"))
        }
        async fn get_job_config(&self, _: &str) -> Result<Option<String>> {
            Ok(None)
        }
        async fn delete_job(&self, _: &str) -> Result<Deleted> {
            Ok(Deleted::AlreadyGone)
        }
        async fn trigger_build(&self, _: &str, _: &BTreeMap<String, String>) -> Result<BuildRef> {
            Err(Error::unsupported("ci.trigger_build"))
        }
        async fn wait_for_build(&self, _: &BuildRef, _: Duration) -> Result<BuildResult> {
            Err(Error::unsupported("ci.wait_for_build"))
        }
    }

    #[tokio::test]
    async fn downstream_operations_default_to_unsupported() {
        let ci: &dyn CiServer = &Plain;
        let errors = [
            ci.downstream_jobs("umbrella").await.unwrap_err(),
            ci.add_downstream("umbrella", "t/build").await.unwrap_err(),
            ci.remove_downstream("umbrella", "t/build")
                .await
                .unwrap_err(),
        ];
        for (e, op) in errors.iter().zip([
            "ci.downstream_jobs",
            "ci.add_downstream",
            "ci.remove_downstream",
        ]) {
            assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");
            assert_eq!(e.operation(), Some(op));
            assert!(e.message().contains("downstream: false"), "{e}");
        }
    }

    #[test]
    fn capabilities_without_downstream_still_parse() {
        let caps: CiCapabilities =
            serde_json::from_str(r#"{"folders": true, "parameters": false}"#).unwrap();
        assert!(!caps.downstream);
    }
}
