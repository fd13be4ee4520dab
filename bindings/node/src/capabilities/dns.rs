//! `Dns`: [`provisio::DnsProvider`].

use crate::errors::OrThrow;
use crate::{from_js, to_js};
use napi_derive::napi;
use provisio::DnsProvider;
use provisio::dns::{RecordSpec, RecordType, Zone};
use serde_json::Value;
use std::sync::Arc;

/// A DNS provider: zones and records.
#[napi]
pub struct Dns {
    pub(crate) inner: Arc<dyn DnsProvider>,
}

#[napi]
impl Dns {
    /// Who the provider is: `{ name, account, quota }`.
    #[napi]
    pub fn info(&self) -> napi::Result<Value> {
        to_js(&self.inner.info())
    }
    /// What the provider supports.
    #[napi]
    pub fn capabilities(&self) -> napi::Result<Value> {
        to_js(&self.inner.capabilities())
    }
    /// The zone called `name`, or `null`.
    #[napi]
    pub async fn find_zone(&self, name: String) -> napi::Result<Value> {
        to_js(&self.inner.find_zone(&name).await.or_throw()?)
    }
    /// One page of the zone's records.
    #[napi]
    pub async fn list_records(&self, zone: Value, page: Option<Value>) -> napi::Result<Value> {
        let zone: Zone = from_js("zone", zone)?;
        let page = super::page(page)?;
        to_js(&self.inner.list_records(&zone, &page).await.or_throw()?)
    }
    /// The record of a name and type, or `null`.
    #[napi]
    pub async fn get_record(
        &self,
        zone: Value,
        name: String,
        record_type: String,
    ) -> napi::Result<Value> {
        let zone: Zone = from_js("zone", zone)?;
        let t = RecordType::parse(&record_type);
        to_js(&self.inner.get_record(&zone, &name, &t).await.or_throw()?)
    }
    /// Creates, updates or leaves the record: `{ value, outcome }`.
    #[napi]
    pub async fn ensure_record(&self, zone: Value, spec: Value) -> napi::Result<Value> {
        let zone: Zone = from_js("zone", zone)?;
        let spec: RecordSpec = from_js("record spec", spec)?;
        to_js(&self.inner.ensure_record(&zone, &spec).await.or_throw()?)
    }
    /// Deletes the record: `"deleted"` or `"already_gone"`.
    #[napi]
    pub async fn delete_record(
        &self,
        zone: Value,
        name: String,
        record_type: String,
    ) -> napi::Result<Value> {
        let zone: Zone = from_js("zone", zone)?;
        let t = RecordType::parse(&record_type);
        to_js(
            &self
                .inner
                .delete_record(&zone, &name, &t)
                .await
                .or_throw()?,
        )
    }
}
