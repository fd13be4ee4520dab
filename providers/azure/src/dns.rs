//! [`AzureDns`]: Azure DNS zones and record sets through Resource Manager (api-version
//! 2018-05-01).
//!
//! provisio manages one record per (name, type); in Azure that is a record set holding one
//! record. `ensure_record` reads the set first (`Unchanged` when equal), creates with
//! `If-None-Match: *` and updates with `If-Match: <etag>`, so a concurrent writer is a
//! `Conflict` rather than a lost update. Record sets written by provisio carry the metadata
//! `provisio=managed`.

use crate::client::{Arm, Core, Response};
use crate::error::PROVIDER;
use async_trait::async_trait;
use provisio::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
use provisio::{
    Deleted, DnsProvider, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Result,
    validate,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

/// The DNS api-version.
pub const DNS_API_VERSION: &str = "2018-05-01";
/// The metadata key marking record sets written by provisio.
pub const MANAGED_METADATA_KEY: &str = "provisio";

/// Azure DNS as a [`DnsProvider`].
pub struct AzureDns {
    arm: Arm,
}

impl AzureDns {
    pub(crate) fn new(core: Arc<Core>) -> Result<Self> {
        Ok(AzureDns {
            arm: Arm::new(core)?,
        })
    }

    fn zone_path(&self, zone: &str) -> String {
        self.arm
            .rg_path(&format!("Microsoft.Network/dnsZones/{zone}"))
    }

    fn set_url(&self, zone: &Zone, relative: &str, t: &RecordType) -> String {
        self.arm.url(
            &format!("{}/{}/{}", self.zone_path(&zone.name), t.as_str(), relative),
            DNS_API_VERSION,
        )
    }

    fn err(&self, e: Error, op: &str, resource: &str) -> Error {
        e.in_context(PROVIDER, op)
            .with_resource(resource.to_string())
    }

    async fn read_set(
        &self,
        zone: &Zone,
        relative: &str,
        t: &RecordType,
    ) -> Result<Option<RecordSet>> {
        let resp = self
            .arm
            .call(Method::GET, &self.set_url(zone, relative, t), None, &[])
            .await?;
        match resp.status {
            200 => Ok(Some(RecordSet::parse(&resp)?)),
            404 => Ok(None),
            _ => Err(resp.json_error()),
        }
    }

    /// The record sets of other types at `relative` (for the CNAME rule), by the
    /// `$recordsetnamesuffix` filter of the zone listing.
    async fn others_at(&self, zone: &Zone, relative: &str, t: &RecordType) -> Result<Vec<String>> {
        let path = format!(
            "{}/recordsets?$top=100&$recordsetnamesuffix={}",
            self.zone_path(&zone.name),
            relative
        );
        let mut url = self.arm.url(&path, DNS_API_VERSION);
        let mut found = Vec::new();
        loop {
            let resp = self.arm.call(Method::GET, &url, None, &[]).await?;
            if !resp.ok() {
                return Err(resp.json_error());
            }
            let list: ListResult = resp.json()?;
            for v in &list.value {
                let set = RecordSet::from_value(v)?;
                if set.name.eq_ignore_ascii_case(relative) && &set.record_type != t {
                    found.push(set.record_type.to_string());
                }
            }
            match list.next_link {
                Some(l) if !l.is_empty() => url = self.arm.check_link(&l)?,
                _ => return Ok(found),
            }
        }
    }

    fn relative_name(zone: &Zone, fqdn: &str) -> Result<String> {
        if fqdn == zone.name {
            return Ok("@".into());
        }
        fqdn.strip_suffix(&format!(".{}", zone.name))
            .map(str::to_string)
            .ok_or_else(|| {
                Error::invalid_field(
                    "record name",
                    format!("{fqdn:?} is not inside zone {:?}", zone.name),
                )
            })
    }

    fn body(spec: &RecordSpec, metadata: &serde_json::Map<String, Value>) -> Value {
        let mut props = serde_json::Map::new();
        props.insert("TTL".into(), json!(spec.ttl));
        let mut meta = metadata.clone();
        meta.insert(MANAGED_METADATA_KEY.into(), json!("managed"));
        props.insert("metadata".into(), Value::Object(meta));
        match spec.record_type {
            RecordType::A => {
                props.insert("ARecords".into(), json!([{ "ipv4Address": spec.content }]));
            }
            RecordType::Aaaa => {
                props.insert(
                    "AAAARecords".into(),
                    json!([{ "ipv6Address": spec.content }]),
                );
            }
            RecordType::Cname => {
                props.insert("CNAMERecord".into(), json!({ "cname": spec.content }));
            }
            RecordType::Txt => {
                // TXT strings are at most 255 bytes each; a longer value is split and joined
                // again when read.
                let chunks: Vec<String> = spec
                    .content
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                props.insert("TXTRecords".into(), json!([{ "value": chunks }]));
            }
            RecordType::Mx => {
                props.insert(
                    "MXRecords".into(),
                    json!([{ "preference": spec.priority.unwrap_or(10), "exchange": spec.content }]),
                );
            }
            RecordType::Other(_) => {}
        }
        json!({ "properties": props })
    }
}

#[derive(serde::Deserialize)]
struct ListResult {
    #[serde(default)]
    value: Vec<Value>,
    #[serde(rename = "nextLink", default)]
    next_link: Option<String>,
}

/// One record set as Azure returns it.
struct RecordSet {
    name: String,
    record_type: RecordType,
    etag: Option<String>,
    fqdn: Option<String>,
    ttl: u32,
    content: String,
    priority: Option<u16>,
    metadata: serde_json::Map<String, Value>,
}

impl RecordSet {
    fn parse(resp: &Response) -> Result<Self> {
        Self::from_value(&resp.json::<Value>()?)
    }

    fn from_value(v: &Value) -> Result<Self> {
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let type_name = v["type"].as_str().unwrap_or_default();
        let record_type = RecordType::parse(type_name.rsplit('/').next().unwrap_or_default());
        let p = &v["properties"];
        let (content, priority) = match &record_type {
            RecordType::A => (s(&p["ARecords"][0]["ipv4Address"]), None),
            RecordType::Aaaa => (s(&p["AAAARecords"][0]["ipv6Address"]), None),
            RecordType::Cname => (s(&p["CNAMERecord"]["cname"]), None),
            RecordType::Txt => (
                p["TXTRecords"][0]["value"]
                    .as_array()
                    .map(|a| a.iter().map(s).collect::<String>())
                    .unwrap_or_default(),
                None,
            ),
            RecordType::Mx => (
                s(&p["MXRecords"][0]["exchange"]),
                p["MXRecords"][0]["preference"].as_u64().map(|n| n as u16),
            ),
            RecordType::Other(t) => match t.as_str() {
                "NS" => (s(&p["NSRecords"][0]["nsdname"]), None),
                "SOA" => (s(&p["SOARecord"]["host"]), None),
                "PTR" => (s(&p["PTRRecords"][0]["ptrdname"]), None),
                _ => (String::new(), None),
            },
        };
        Ok(RecordSet {
            name: s(&v["name"]),
            record_type,
            etag: v["etag"].as_str().map(str::to_string),
            fqdn: p["fqdn"].as_str().map(str::to_string),
            ttl: p["TTL"].as_u64().unwrap_or(0) as u32,
            content,
            priority,
            metadata: p["metadata"].as_object().cloned().unwrap_or_default(),
        })
    }

    fn record(&self, zone: &Zone) -> Record {
        let name = match &self.fqdn {
            Some(f) => f.trim_end_matches('.').to_ascii_lowercase(),
            None if self.name == "@" => zone.name.clone(),
            None => format!("{}.{}", self.name, zone.name).to_ascii_lowercase(),
        };
        Record {
            id: None,
            name,
            record_type: self.record_type.clone(),
            content: self.content.trim_end_matches('.').to_string(),
            ttl: self.ttl,
            proxied: None,
            priority: self.priority,
        }
    }
}

impl std::fmt::Debug for AzureDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureDns")
            .field("subscription", &self.arm.subscription)
            .field("resource_group", &self.arm.resource_group)
            .finish()
    }
}

impl Provider for AzureDns {
    fn info(&self) -> ProviderInfo {
        self.arm.info.clone()
    }
}

#[async_trait]
impl DnsProvider for AzureDns {
    fn capabilities(&self) -> DnsCapabilities {
        DnsCapabilities {
            proxied: false,
            min_ttl: 1,
            automatic_ttl: false,
            waits_for_sync: false,
        }
    }

    async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
        let op = "dns.find_zone";
        let name = validate::dns_name("zone", name).map_err(|e| self.err(e, op, name))?;
        let url = self.arm.url(&self.zone_path(&name), DNS_API_VERSION);
        let resp = self
            .arm
            .call(Method::GET, &url, None, &[])
            .await
            .map_err(|e| self.err(e, op, &name))?;
        match resp.status {
            200 => {
                let v: Value = resp.json()?;
                Ok(Some(Zone {
                    id: v["id"].as_str().unwrap_or_default().to_string(),
                    name: v["name"]
                        .as_str()
                        .unwrap_or(&name)
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                }))
            }
            404 => Ok(None),
            _ => Err(self.err(resp.json_error(), op, &name)),
        }
    }

    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
        let op = "dns.list_records";
        let url = match &page.token {
            Some(t) => self
                .arm
                .check_link(t)
                .map_err(|e| self.err(e, op, &zone.name))?,
            None => {
                let top = page.limit.unwrap_or(100).clamp(1, 1000);
                self.arm.url(
                    &format!("{}/recordsets?$top={top}", self.zone_path(&zone.name)),
                    DNS_API_VERSION,
                )
            }
        };
        let resp = self
            .arm
            .call(Method::GET, &url, None, &[])
            .await
            .map_err(|e| self.err(e, op, &zone.name))?;
        if !resp.ok() {
            return Err(self.err(resp.json_error(), op, &zone.name));
        }
        let list: ListResult = resp.json()?;
        let items = list
            .value
            .iter()
            .map(|v| RecordSet::from_value(v).map(|s| s.record(zone)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            next: list.next_link.filter(|l| !l.is_empty()),
        })
    }

    async fn get_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Option<Record>> {
        let op = "dns.get_record";
        let fqdn = validate::dns_name("record name", name).map_err(|e| self.err(e, op, name))?;
        let rel = Self::relative_name(zone, &fqdn).map_err(|e| self.err(e, op, &fqdn))?;
        Ok(self
            .read_set(zone, &rel, record_type)
            .await
            .map_err(|e| self.err(e, op, &fqdn))?
            .map(|s| s.record(zone)))
    }

    async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
        let op = "dns.ensure_record";
        let spec = spec.validated().map_err(|e| self.err(e, op, &spec.name))?;
        if spec.proxied == Some(true) {
            return Err(self.err(
                Error::unsupported(op).with_resource(spec.name.clone()),
                op,
                &spec.name,
            ));
        }
        let fqdn = spec.name.clone();
        let rel = Self::relative_name(zone, &fqdn).map_err(|e| self.err(e, op, &fqdn))?;
        let current = self
            .read_set(zone, &rel, &spec.record_type)
            .await
            .map_err(|e| self.err(e, op, &fqdn))?;
        let url = self.set_url(zone, &rel, &spec.record_type);
        let (headers, metadata, created) = match &current {
            Some(set) => {
                let rec = set.record(zone);
                if rec.matches(&spec) {
                    return Ok(Ensured::unchanged(rec));
                }
                let etag = set.etag.clone().unwrap_or_else(|| "*".into());
                (vec![("If-Match", etag)], set.metadata.clone(), false)
            }
            None => {
                // A CNAME cannot share its name with other records (RFC 1034 3.6.2).
                let others = self
                    .others_at(zone, &rel, &spec.record_type)
                    .await
                    .map_err(|e| self.err(e, op, &fqdn))?;
                let clash = if spec.record_type == RecordType::Cname {
                    others.first().cloned()
                } else {
                    others.iter().find(|t| t.as_str() == "CNAME").cloned()
                };
                if let Some(other) = clash {
                    return Err(self.err(
                        Error::conflict(format!(
                            "{fqdn} already has a {other} record; a CNAME cannot share its name with other records"
                        )),
                        op,
                        &fqdn,
                    ));
                }
                (
                    vec![("If-None-Match", "*".to_string())],
                    Default::default(),
                    true,
                )
            }
        };
        let body = Self::body(&spec, &metadata);
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = self
            .arm
            .call(Method::PUT, &url, Some(&body), &hdrs)
            .await
            .map_err(|e| self.err(e, op, &fqdn))?;
        if resp.status == 412 {
            return Err(self.err(
                Error::conflict(format!(
                    "{fqdn} {} was changed by someone else while provisio updated it (HTTP 412); retry to re-read it",
                    spec.record_type
                )),
                op,
                &fqdn,
            ));
        }
        if !resp.ok() {
            return Err(self.err(resp.json_error(), op, &fqdn));
        }
        let rec = RecordSet::parse(&resp)?.record(zone);
        Ok(if created {
            Ensured::created(rec)
        } else {
            Ensured::updated(rec)
        })
    }

    async fn delete_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Deleted> {
        let op = "dns.delete_record";
        let fqdn = validate::dns_name("record name", name).map_err(|e| self.err(e, op, name))?;
        let rel = Self::relative_name(zone, &fqdn).map_err(|e| self.err(e, op, &fqdn))?;
        if matches!(record_type, RecordType::Other(t) if t == "SOA" || (t == "NS" && rel == "@")) {
            return Err(self.err(
                Error::invalid_field(
                    "record type",
                    "the zone's SOA and apex NS records cannot be deleted",
                ),
                op,
                &fqdn,
            ));
        }
        let resp = self
            .arm
            .call(
                Method::DELETE,
                &self.set_url(zone, &rel, record_type),
                None,
                &[],
            )
            .await
            .map_err(|e| self.err(e, op, &fqdn))?;
        match resp.status {
            204 | 404 => Ok(Deleted::AlreadyGone),
            200 | 202 => Ok(Deleted::Deleted),
            _ => Err(self.err(resp.json_error(), op, &fqdn)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_set_round_trip() {
        let zone = Zone {
            id: "z".into(),
            name: "example.com".into(),
        };
        let mut spec = RecordSpec::new("mail.example.com", RecordType::Mx, "mx.example.com", 300);
        spec.priority = Some(5);
        let mut body = AzureDns::body(&spec, &Default::default());
        body["name"] = json!("mail");
        body["type"] = json!("Microsoft.Network/dnszones/MX");
        body["etag"] = json!("e1");
        let set = RecordSet::from_value(&body).unwrap();
        assert!(set.record(&zone).matches(&spec));
        assert_eq!(set.metadata[MANAGED_METADATA_KEY], "managed");

        let long = "x".repeat(600);
        let spec = RecordSpec::new("example.com", RecordType::Txt, long.clone(), 60);
        let mut body = AzureDns::body(&spec, &Default::default());
        assert_eq!(
            body["properties"]["TXTRecords"][0]["value"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        body["name"] = json!("@");
        body["type"] = json!("Microsoft.Network/dnszones/TXT");
        let rec = RecordSet::from_value(&body).unwrap().record(&zone);
        assert_eq!(rec.name, "example.com");
        assert_eq!(rec.content, long);
    }

    #[test]
    fn relative_names() {
        let zone = Zone {
            id: "z".into(),
            name: "example.com".into(),
        };
        assert_eq!(AzureDns::relative_name(&zone, "example.com").unwrap(), "@");
        assert_eq!(
            AzureDns::relative_name(&zone, "a.b.example.com").unwrap(),
            "a.b"
        );
        assert!(AzureDns::relative_name(&zone, "example.org").is_err());
        assert!(AzureDns::relative_name(&zone, "badexample.com").is_err());
    }
}
