//! Route 53 as a [`DnsProvider`].
//!
//! provisio manages one record per (name, type); in Route 53 that is one simple record set
//! (no set identifier) with one value. Creates are `CREATE` changes, updates `UPSERT`, deletes
//! `DELETE` with the record set exactly as read; every change is waited for until Route 53
//! reports it `INSYNC` (bounded by [`AwsConfig::dns_sync_timeout_secs`]).

use crate::config::AwsConfig;
use crate::error::{PROVIDER, classify, located};
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecord, ResourceRecordSet, RrType,
};
use provisio::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
use provisio::{
    Deleted, DnsProvider, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Quota, Result,
    validate,
};
use std::time::Duration;

/// Route 53 allows five API requests per second per account.
const ROUTE53_QUOTA: Quota = Quota {
    requests: 5,
    per: Duration::from_secs(1),
};

/// The most record sets one `ListResourceRecordSets` call returns.
const MAX_PAGE: u32 = 300;

/// Route 53 hosted zones and record sets.
#[derive(Debug, Clone)]
pub struct Route53Dns {
    client: Client,
    account: String,
    poll: Duration,
    sync_timeout: Duration,
}

impl Route53Dns {
    /// Wraps a Route 53 client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        Route53Dns {
            client,
            account: account.into(),
            poll: config.poll_interval(),
            sync_timeout: Duration::from_secs(config.dns_sync_timeout_secs),
        }
    }

    /// Every simple record set at `fqdn` (canonical name, no trailing dot), as read.
    async fn record_sets_at(&self, zone: &Zone, fqdn: &str) -> Result<Vec<ResourceRecordSet>> {
        let op = "dns.get_record";
        let mut out = Vec::new();
        let mut start_type: Option<RrType> = None;
        loop {
            let mut req = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(&zone.id)
                .start_record_name(format!("{fqdn}."))
                .max_items(20);
            if let Some(t) = start_type.take() {
                req = req.start_record_type(t);
            }
            let resp = req.send().await.map_err(|e| classify(e, op, fqdn))?;
            let mut past = false;
            for set in resp.resource_record_sets() {
                if decode_name(set.name()) == fqdn {
                    if set.set_identifier().is_none() {
                        out.push(set.clone());
                    }
                } else {
                    past = true;
                }
            }
            let more = resp.is_truncated()
                && !past
                && resp.next_record_name().map(decode_name).as_deref() == Some(fqdn);
            if !more {
                return Ok(out);
            }
            start_type = resp.next_record_type().cloned();
        }
    }

    /// Sends one change and waits until Route 53 reports it in sync.
    async fn change(
        &self,
        zone: &Zone,
        action: ChangeAction,
        set: ResourceRecordSet,
        op: &str,
    ) -> Result<()> {
        let resource = decode_name(set.name());
        let batch = ChangeBatch::builder()
            .comment("provisio")
            .changes(
                Change::builder()
                    .action(action)
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| Error::unexpected("cannot build the change").with_source(e))?,
            )
            .build()
            .map_err(|e| Error::unexpected("cannot build the change batch").with_source(e))?;
        let resp = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| classify(e, op, &resource))?;
        let Some(info) = resp.change_info() else {
            return Ok(());
        };
        let mut status = info.status().clone();
        let id = info.id().to_string();
        let deadline = tokio::time::Instant::now() + self.sync_timeout;
        while status != ChangeStatus::Insync {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "change {id} is still {} after {} s (it stays applied; Route 53 is propagating it)",
                    status.as_str(),
                    self.sync_timeout.as_secs()
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(resource));
            }
            tokio::time::sleep(self.poll).await;
            let resp = self
                .client
                .get_change()
                .id(&id)
                .send()
                .await
                .map_err(|e| classify(e, op, &resource))?;
            status = resp
                .change_info()
                .map(|i| i.status().clone())
                .unwrap_or(ChangeStatus::Insync);
        }
        Ok(())
    }
}

impl Provider for Route53Dns {
    fn info(&self) -> ProviderInfo {
        ProviderInfo::new("aws-route53", &self.account).with_quota(ROUTE53_QUOTA)
    }
}

/// Route 53's hosted zone id without the `/hostedzone/` prefix.
fn zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

/// A name as Route 53 returns it (`\052.example.com.`) in provisio's canonical form
/// (`*.example.com`): octal escapes decoded, lower case, no trailing dot.
fn decode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(u8::is_ascii_digit)
        {
            let n = (bytes[i + 1] - b'0') as u32 * 64
                + (bytes[i + 2] - b'0') as u32 * 8
                + (bytes[i + 3] - b'0') as u32;
            out.push(char::from_u32(n).unwrap_or('?'));
            i += 4;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out.strip_suffix('.').unwrap_or(&out).to_ascii_lowercase()
}

/// TXT content as Route 53 wants it: quoted character strings of at most 255 bytes.
fn encode_txt(content: &str) -> String {
    let mut parts = Vec::new();
    let mut chunk = String::new();
    let mut len = 0;
    for c in content.chars() {
        let n = c.len_utf8();
        if len + n > 255 {
            parts.push(std::mem::take(&mut chunk));
            len = 0;
        }
        match c {
            '"' => chunk.push_str("\\\""),
            '\\' => chunk.push_str("\\\\"),
            c => chunk.push(c),
        }
        len += n;
    }
    parts.push(chunk);
    parts
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The reverse of [`encode_txt`]: the character strings concatenated, escapes decoded.
fn decode_txt(value: &str) -> String {
    let v = value.trim();
    if !v.starts_with('"') {
        return v.to_string();
    }
    let mut out: Vec<u8> = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    let mut quoted = false;
    while i < b.len() {
        let c = b[i];
        if !quoted {
            if c == b'"' {
                quoted = true;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                quoted = false;
                i += 1;
            }
            b'\\' if i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) => {
                let n = (b[i + 1] - b'0') as u32 * 64
                    + (b[i + 2] - b'0') as u32 * 8
                    + (b[i + 3] - b'0') as u32;
                out.push(n as u8);
                i += 4;
            }
            b'\\' if i + 1 < b.len() => {
                out.push(b[i + 1]);
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn to_rr_type(t: &RecordType) -> RrType {
    RrType::from(t.as_str())
}

/// A Route 53 record set as a provisio record. Several values (set by someone else) are
/// joined with a space.
fn to_record(set: &ResourceRecordSet) -> Record {
    let record_type = RecordType::parse(set.r#type().as_str());
    let values: Vec<&str> = match set.alias_target() {
        Some(a) => vec![a.dns_name()],
        None => set.resource_records().iter().map(|r| r.value()).collect(),
    };
    let mut priority = None;
    let content = match record_type {
        RecordType::Txt => values
            .iter()
            .map(|v| decode_txt(v))
            .collect::<Vec<_>>()
            .join(" "),
        RecordType::Cname => values
            .iter()
            .map(|v| decode_name(v))
            .collect::<Vec<_>>()
            .join(" "),
        RecordType::Mx => {
            let first = values.first().copied().unwrap_or_default();
            match first.split_once(' ') {
                Some((p, host)) => {
                    priority = p.trim().parse().ok();
                    decode_name(host.trim())
                }
                None => first.to_string(),
            }
        }
        _ => values.join(" "),
    };
    Record {
        id: None,
        name: decode_name(set.name()),
        record_type,
        content,
        ttl: set
            .ttl()
            .map(|t| u32::try_from(t).unwrap_or(u32::MAX))
            .unwrap_or(0),
        proxied: None,
        priority,
    }
}

/// The record set Route 53 should hold for `spec` (validated).
fn to_record_set(spec: &RecordSpec) -> Result<ResourceRecordSet> {
    let value = match spec.record_type {
        RecordType::Txt => encode_txt(&spec.content),
        RecordType::Cname => format!("{}.", spec.content),
        RecordType::Mx => format!("{} {}.", spec.priority.unwrap_or(10), spec.content),
        _ => spec.content.clone(),
    };
    let build = |e: aws_sdk_route53::error::BuildError| {
        Error::unexpected("cannot build the record set").with_source(e)
    };
    ResourceRecordSet::builder()
        .name(format!("{}.", spec.name))
        .r#type(to_rr_type(&spec.record_type))
        .ttl(i64::from(spec.ttl))
        .resource_records(
            ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(build)?,
        )
        .build()
        .map_err(build)
}

fn record_name(name: &str) -> Result<String> {
    validate::dns_name("record name", name)
}

fn check_in_zone(zone: &Zone, name: &str) -> Result<()> {
    if name == zone.name || name.ends_with(&format!(".{}", zone.name)) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "record name",
            format!("{name:?} is not inside the zone {:?}", zone.name),
        ))
    }
}

fn encode_token(name: &str, t: &str, identifier: Option<&str>) -> String {
    match identifier {
        Some(id) => format!("{t}|{name}|{id}"),
        None => format!("{t}|{name}"),
    }
}

fn decode_token(token: &str) -> Result<(String, String, Option<String>)> {
    let mut parts = token.splitn(3, '|');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(t), Some(name), id) if !t.is_empty() && !name.is_empty() => {
            Ok((name.to_string(), t.to_string(), id.map(str::to_string)))
        }
        _ => Err(Error::invalid_field(
            "page token",
            "not a token returned by list_records",
        )),
    }
}

#[provisio::async_trait]
impl DnsProvider for Route53Dns {
    fn capabilities(&self) -> DnsCapabilities {
        DnsCapabilities {
            proxied: false,
            min_ttl: 1,
            automatic_ttl: false,
            waits_for_sync: true,
        }
    }

    async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
        let op = "dns.find_zone";
        let name = validate::dns_name("zone", name).map_err(|e| located(e, op, name))?;
        let resp = self
            .client
            .list_hosted_zones_by_name()
            .dns_name(format!("{name}."))
            .max_items(20)
            .send()
            .await
            .map_err(|e| classify(e, op, &name))?;
        let mut matching: Vec<_> = resp
            .hosted_zones()
            .iter()
            .filter(|z| decode_name(z.name()) == name)
            .collect();
        // A public zone and private zones may share a name; records for the world go public.
        matching.sort_by_key(|z| z.config().map(|c| c.private_zone()).unwrap_or(false));
        Ok(matching.first().map(|z| Zone {
            id: zone_id(z.id()),
            name: name.clone(),
        }))
    }

    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
        let op = "dns.list_records";
        let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let mut req = self
            .client
            .list_resource_record_sets()
            .hosted_zone_id(&zone.id)
            .max_items(limit as i32);
        if let Some(token) = &page.token {
            let (name, t, id) = decode_token(token).map_err(|e| located(e, op, &zone.name))?;
            req = req
                .start_record_name(name)
                .start_record_type(RrType::from(t.as_str()));
            if let Some(id) = id {
                req = req.start_record_identifier(id);
            }
        }
        let resp = req.send().await.map_err(|e| classify(e, op, &zone.name))?;
        let items = resp
            .resource_record_sets()
            .iter()
            .take(limit as usize)
            .map(to_record)
            .collect();
        let next = match (
            resp.is_truncated(),
            resp.next_record_name(),
            resp.next_record_type(),
        ) {
            (true, Some(name), Some(t)) => Some(encode_token(
                name,
                t.as_str(),
                resp.next_record_identifier(),
            )),
            _ => None,
        };
        Ok(Page { items, next })
    }

    async fn get_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Option<Record>> {
        let op = "dns.get_record";
        let name = record_name(name).map_err(|e| located(e, op, name))?;
        let sets = self
            .record_sets_at(zone, &name)
            .await
            .map_err(|e| located(e, op, &name))?;
        Ok(sets
            .iter()
            .find(|s| s.r#type().as_str() == record_type.as_str())
            .map(to_record))
    }

    async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
        let op = "dns.ensure_record";
        let spec = spec.validated().map_err(|e| located(e, op, &spec.name))?;
        if spec.proxied == Some(true) {
            return Err(located(
                Error::unsupported(op).with_resource(&spec.name),
                op,
                &spec.name,
            ));
        }
        check_in_zone(zone, &spec.name).map_err(|e| located(e, op, &spec.name))?;
        let sets = self
            .record_sets_at(zone, &spec.name)
            .await
            .map_err(|e| located(e, op, &spec.name))?;
        let existing: Vec<Record> = sets.iter().map(to_record).collect();
        // DNS forbids a CNAME beside any other record at one name; Route 53 refuses it too,
        // but checking first keeps the error the same everywhere (and emulators lax).
        let clash = existing.iter().find(|r| {
            r.record_type != spec.record_type
                && (r.record_type == RecordType::Cname || spec.record_type == RecordType::Cname)
        });
        if let Some(other) = clash {
            return Err(Error::conflict(format!(
                "{} already has a {} record; a CNAME cannot share its name with another record",
                spec.name, other.record_type
            ))
            .with_provider(PROVIDER)
            .with_operation(op)
            .with_resource(&spec.name));
        }
        let wanted = Record {
            id: None,
            name: spec.name.clone(),
            record_type: spec.record_type.clone(),
            content: spec.content.clone(),
            ttl: spec.ttl,
            proxied: None,
            priority: spec.priority,
        };
        let set = to_record_set(&spec).map_err(|e| located(e, op, &spec.name))?;
        match existing.iter().find(|r| r.record_type == spec.record_type) {
            Some(current) if current.matches(&spec) => Ok(Ensured::unchanged(current.clone())),
            Some(_) => {
                self.change(zone, ChangeAction::Upsert, set, op).await?;
                Ok(Ensured::updated(wanted))
            }
            None => {
                self.change(zone, ChangeAction::Create, set, op).await?;
                Ok(Ensured::created(wanted))
            }
        }
    }

    async fn delete_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Deleted> {
        let op = "dns.delete_record";
        let name = record_name(name).map_err(|e| located(e, op, name))?;
        let sets = self
            .record_sets_at(zone, &name)
            .await
            .map_err(|e| located(e, op, &name))?;
        let Some(set) = sets
            .into_iter()
            .find(|s| s.r#type().as_str() == record_type.as_str())
        else {
            return Ok(Deleted::AlreadyGone);
        };
        match self.change(zone, ChangeAction::Delete, set, op).await {
            Ok(()) => Ok(Deleted::Deleted),
            // Deleted by someone else between the read and the change.
            Err(e) if e.kind() == &provisio::ErrorKind::Conflict => {
                let again = self.get_record(zone, &name, record_type).await?;
                if again.is_none() {
                    Ok(Deleted::AlreadyGone)
                } else {
                    Err(e)
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decode() {
        assert_eq!(decode_name("\\052.Example.COM."), "*.example.com");
        assert_eq!(decode_name("a.example.com"), "a.example.com");
    }

    #[test]
    fn txt_round_trips() {
        for s in [
            "hello",
            "v=spf1 -all",
            "with \"quotes\" and \\",
            &"x".repeat(600),
        ] {
            assert_eq!(decode_txt(&encode_txt(s)), s, "{s}");
        }
        assert!(encode_txt(&"y".repeat(300)).starts_with(&format!("\"{}\" \"", "y".repeat(255))));
        assert_eq!(decode_txt("\"caf\\303\\251\""), "café");
    }

    #[test]
    fn tokens_round_trip() {
        let t = encode_token("a.example.com.", "TXT", None);
        assert_eq!(
            decode_token(&t).unwrap(),
            ("a.example.com.".to_string(), "TXT".to_string(), None)
        );
        assert!(decode_token("garbage").is_err());
    }
}
