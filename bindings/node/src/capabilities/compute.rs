//! `Compute`: [`provisio::Compute`].

use crate::errors::OrThrow;
use crate::{from_js, millis, to_js};
use napi_derive::napi;
use provisio::compute::{InstanceSpec, InstanceState};
use serde_json::Value;
use std::sync::Arc;

/// A compute provider: instances.
#[napi]
pub struct Compute {
    pub(crate) inner: Arc<dyn provisio::Compute>,
}

#[napi]
impl Compute {
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
    /// Launches an instance (or returns the live one with the same name and tags).
    #[napi]
    pub async fn launch_instance(&self, spec: Value) -> napi::Result<Value> {
        let spec: InstanceSpec = from_js("instance spec", spec)?;
        to_js(&self.inner.launch_instance(&spec).await.or_throw()?)
    }
    /// The instance, or `null`.
    #[napi]
    pub async fn get_instance(&self, id: String) -> napi::Result<Value> {
        to_js(&self.inner.get_instance(&id).await.or_throw()?)
    }
    /// The live instances carrying every one of `tags`.
    #[napi]
    pub async fn find_instances(&self, tags: Value) -> napi::Result<Value> {
        let tags = super::tags(Some(tags))?;
        to_js(&self.inner.find_instances(&tags).await.or_throw()?)
    }
    /// Waits until the instance reaches `state` (`running`, `stopped`, ...).
    #[napi]
    pub async fn wait_for_state(
        &self,
        id: String,
        state: String,
        timeout_ms: f64,
    ) -> napi::Result<Value> {
        let state: InstanceState = from_js("state", Value::String(state))?;
        let instance = self
            .inner
            .wait_for_state(&id, state, millis(timeout_ms))
            .await
            .or_throw()?;
        to_js(&instance)
    }
    /// Terminates the instance.
    #[napi]
    pub async fn terminate_instance(&self, id: String) -> napi::Result<Value> {
        to_js(&self.inner.terminate_instance(&id).await.or_throw()?)
    }
    /// Asks for the instance to stop; returns it (`stopping`, or `stopped` when it was).
    #[napi]
    pub async fn stop_instance(&self, id: String) -> napi::Result<Value> {
        to_js(&self.inner.stop_instance(&id).await.or_throw()?)
    }
    /// Asks for a stopped instance to start; returns it (`pending`, or `running` when it was).
    #[napi]
    pub async fn start_instance(&self, id: String) -> napi::Result<Value> {
        to_js(&self.inner.start_instance(&id).await.or_throw()?)
    }
}
