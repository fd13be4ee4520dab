//! `provisio.Dns`: zones and records ([`provisio::DnsProvider`]).

use crate::convert::{self, from_json};
use crate::runtime::Task;
use provisio::dns::{RecordSpec, RecordType, Zone};
use provisio::{DnsProvider, Error, PageRequest};
use pyo3::prelude::*;
use serde_json::json;
use std::sync::Arc;

/// A DNS provider.
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct Dns {
    pub(crate) inner: Arc<dyn DnsProvider>,
}

/// The asyncio twin of [`Dns`].
#[pyclass(module = "provisio._native", frozen)]
pub(crate) struct AsyncDns {
    pub(crate) inner: Arc<dyn DnsProvider>,
}

/// A zone argument: its name (looked up) or a zone dict as `find_zone` returns it.
enum ZoneArg {
    Name(String),
    Zone(Zone),
}

fn zone_arg(py: Python<'_>, zone: &Bound<'_, PyAny>) -> PyResult<ZoneArg> {
    match zone.extract::<String>() {
        Ok(name) => Ok(ZoneArg::Name(name)),
        Err(_) => Ok(ZoneArg::Zone(from_json(
            py,
            "zone",
            convert::from_py(zone)?,
        )?)),
    }
}

async fn resolve(dns: &Arc<dyn DnsProvider>, zone: ZoneArg) -> provisio::Result<Zone> {
    match zone {
        ZoneArg::Zone(z) => Ok(z),
        ZoneArg::Name(name) => dns.find_zone(&name).await?.ok_or_else(|| {
            Error::not_found(format!("zone {name:?} does not exist"))
                .with_provider(dns.info().name)
                .with_operation("dns.find_zone")
                .with_resource(name)
        }),
    }
}

py_operations! {
    Dns, AsyncDns;
    common {
        /// Who this provider is: `{"name", "account", "quota"}`.
        fn info(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            Ok(convert::to_py(py, &serde_json::to_value(self.inner.info()).unwrap_or_default())?.unbind())
        }
        /// What this provider supports.
        fn capabilities(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
            Ok(convert::to_py(py, &serde_json::to_value(self.inner.capabilities()).unwrap_or_default())?.unbind())
        }
    }

    /// Finds a zone by name: `{"id", "name"}` or `None`.
    #[pyo3(signature = (name))]
    fn find_zone(this, py, name: String) {
        let dns = this.clone();
        Ok(Task::json(async move { dns.find_zone(&name).await }))
    }

    /// One page of a zone's records: `{"items": [...], "next": token or None}`.
    #[pyo3(signature = (zone, *, token = None, limit = None))]
    fn list_records(this, py, zone: Bound<'_, PyAny>, token: Option<String>, limit: Option<u32>) {
        let (dns, zone) = (this.clone(), zone_arg(py, &zone)?);
        Ok(Task::json(async move {
            let zone = resolve(&dns, zone).await?;
            dns.list_records(&zone, &PageRequest { token, limit }).await
        }))
    }

    /// The record of a name and type, or `None`.
    #[pyo3(signature = (zone, name, r#type))]
    fn get_record(this, py, zone: Bound<'_, PyAny>, name: String, r#type: String) {
        let (dns, zone) = (this.clone(), zone_arg(py, &zone)?);
        Ok(Task::json(async move {
            let zone = resolve(&dns, zone).await?;
            dns.get_record(&zone, &name, &RecordType::parse(&r#type)).await
        }))
    }

    /// Creates or updates the record: `{"value": record, "outcome": "created"|"updated"|"unchanged"}`.
    #[pyo3(signature = (zone, name, r#type, content, *, ttl = 300, proxied = None, priority = None))]
    fn ensure_record(this, py, zone: Bound<'_, PyAny>, name: String, r#type: String, content: String, ttl: u32, proxied: Option<bool>, priority: Option<u16>) {
        let (dns, zone) = (this.clone(), zone_arg(py, &zone)?);
        let spec: RecordSpec = from_json(py, "record", json!({
            "name": name, "type": r#type, "content": content, "ttl": ttl,
            "proxied": proxied, "priority": priority,
        }))?;
        Ok(Task::json(async move {
            let zone = resolve(&dns, zone).await?;
            dns.ensure_record(&zone, &spec).await
        }))
    }

    /// Deletes the record of a name and type: `"deleted"` or `"already_gone"`.
    #[pyo3(signature = (zone, name, r#type))]
    fn delete_record(this, py, zone: Bound<'_, PyAny>, name: String, r#type: String) {
        let (dns, zone) = (this.clone(), zone_arg(py, &zone)?);
        Ok(Task::json(async move {
            let zone = resolve(&dns, zone).await?;
            dns.delete_record(&zone, &name, &RecordType::parse(&r#type)).await
        }))
    }
}
