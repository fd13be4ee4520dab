//! `Ci`: [`provisio::CiServer`].

use crate::errors::OrThrow;
use crate::{from_js, millis, to_js};
use napi_derive::napi;
use provisio::CiServer;
use provisio::ci::BuildRef;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A CI server: folders, jobs, their downstream jobs, builds.
#[napi]
pub struct Ci {
    pub(crate) inner: Arc<dyn CiServer>,
}

#[napi]
impl Ci {
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
    /// Creates the folder (and its parents) unless it exists.
    #[napi]
    pub async fn ensure_folder(&self, path: String) -> napi::Result<Value> {
        to_js(&self.inner.ensure_folder(&path).await.or_throw()?)
    }
    /// Creates or updates the job from its config XML.
    #[napi]
    pub async fn ensure_job(&self, path: String, config_xml: String) -> napi::Result<Value> {
        to_js(&self.inner.ensure_job(&path, &config_xml).await.or_throw()?)
    }
    /// The job's config XML, or `null`.
    #[napi]
    pub async fn get_job_config(&self, path: String) -> napi::Result<Option<String>> {
        self.inner.get_job_config(&path).await.or_throw()
    }
    /// The jobs this job triggers when it finishes, or `null` when the job does not exist.
    #[napi]
    pub async fn downstream_jobs(&self, path: String) -> napi::Result<Option<Vec<String>>> {
        self.inner.downstream_jobs(&path).await.or_throw()
    }
    /// Adds a job to the jobs this job triggers (idempotent): `{ was_listed, changed }`, or
    /// `null` when the job does not exist.
    #[napi]
    pub async fn add_downstream(&self, path: String, downstream: String) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .add_downstream(&path, &downstream)
                .await
                .or_throw()?,
        )
    }
    /// Removes a job from the jobs this job triggers (idempotent): `{ was_listed, changed }`,
    /// or `null` when the job does not exist.
    #[napi]
    pub async fn remove_downstream(&self, path: String, downstream: String) -> napi::Result<Value> {
        to_js(
            &self
                .inner
                .remove_downstream(&path, &downstream)
                .await
                .or_throw()?,
        )
    }
    /// Deletes a job or folder.
    #[napi]
    pub async fn delete_job(&self, path: String) -> napi::Result<Value> {
        to_js(&self.inner.delete_job(&path).await.or_throw()?)
    }
    /// Queues a build and waits for its number: `{ job, number }`.
    #[napi]
    pub async fn trigger_build(
        &self,
        path: String,
        parameters: Option<Value>,
    ) -> napi::Result<Value> {
        let parameters: BTreeMap<String, String> = match parameters {
            None | Some(Value::Null) => BTreeMap::new(),
            Some(v) => from_js("parameters", v)?,
        };
        to_js(
            &self
                .inner
                .trigger_build(&path, &parameters)
                .await
                .or_throw()?,
        )
    }
    /// Waits for a build to finish: `"SUCCESS"`, `"FAILURE"`, ...
    #[napi]
    pub async fn wait_for_build(&self, build: Value, timeout_ms: f64) -> napi::Result<Value> {
        let build: BuildRef = from_js("build", build)?;
        to_js(
            &self
                .inner
                .wait_for_build(&build, millis(timeout_ms))
                .await
                .or_throw()?,
        )
    }
}
