//! `dns.record`: one DNS record, identified by its fully qualified name and type.

use super::in_resource;
use super::params::{Flag, Int, Phase, TypedParams};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::dns::{Record, RecordSpec, RecordType, Zone};
use provisio::{Deleted, Error, ErrorKind, Result, validate};
use serde_json::{Value, json};

/// `dns.record`: a record in an existing zone.
///
/// Parameters:
/// - `zone` (required): the zone's name, e.g. `example.com`.
/// - `name` (required): the record name, fully qualified (`www.acme.example.com`, or with a
///   trailing dot) or relative to the zone (`www.acme`); `@` is the zone apex. A name that ends
///   with the zone's name is taken as fully qualified. IDN names are converted to punycode.
/// - `type` (required): `A`, `AAAA`, `CNAME`, `TXT` or `MX`.
/// - `content` (required): the address, target host, text or mail exchange.
/// - `ttl` (default 300, or 1 when `proxied` is true): seconds; 1 means "automatic" where the
///   provider has that notion.
/// - `proxied` (optional): Cloudflare's proxy flag (A, AAAA and CNAME only).
/// - `priority` (optional): MX preference (MX only, and required there).
///
/// Outputs: `fqdn`, `type`, `content`, `zone_id`, `id` (the provider's record id; providers
/// without record ids, such as Route 53, get `"<TYPE> <fqdn>"`).
/// Changing `zone`, `name` or `type` replaces the record.
///
/// ```yaml
/// web_dns:
///   type: dns.record
///   provider: cloudflare
///   params:
///     zone: example.com
///     name: ${tenant.name}            # -> acme.example.com
///     type: A
///     content: ${web.public_ip}
///     ttl: 300
///     proxied: false
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsRecord;

/// The parameters of `dns.record` (see [`DnsRecord`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsParams {
    zone: String,
    name: String,
    #[serde(rename = "type")]
    record_type: String,
    content: String,
    ttl: Option<Int>,
    proxied: Option<Flag>,
    priority: Option<Int>,
}

struct Spec {
    zone: String,
    record: RecordSpec,
}

/// The fully qualified form of `name` inside `zone` (both already canonical).
fn qualify(name: &str, zone: &str) -> String {
    if name == zone || name.ends_with(&format!(".{zone}")) {
        name.to_string()
    } else {
        format!("{name}.{zone}")
    }
}

impl TypedParams for DnsParams {
    const TYPE: &'static str = "dns.record";
    const REPLACE: &'static [&'static str] = &["zone", "name", "type"];
    type Spec = Spec;

    fn check(self, phase: Phase) -> Result<Spec> {
        let zone = phase.name("zone", &self.zone, validate::dns_name)?;
        let proxied = phase.flag("proxied", self.proxied.as_ref())?;
        // Proxied records always have Cloudflare's automatic TTL (1), which is their default.
        let default_ttl = if proxied == Some(true) { 1 } else { 300 };
        let ttl = phase
            .int("ttl", self.ttl.as_ref(), 1, u32::MAX as u64)?
            .unwrap_or(default_ttl) as u32;
        let priority = phase
            .int("priority", self.priority.as_ref(), 0, u16::MAX as u64)?
            .map(|n| n as u16);

        let raw_type = self.record_type.as_str();
        let record_type = RecordType::parse(raw_type);
        if !phase.unresolved(raw_type) && !record_type.is_managed() {
            return Err(Error::invalid_field(
                "type",
                format!(
                    "{raw_type:?} records are not managed by provisio (A, AAAA, CNAME, TXT, MX are)"
                ),
            ));
        }
        let raw_name = self.name.as_str();
        let fqdn = if phase.unresolved(raw_name) || phase.unresolved(&self.zone) {
            raw_name.to_string()
        } else {
            let absolute = raw_name.ends_with('.');
            let name = if raw_name == "@" {
                zone.clone()
            } else {
                validate::dns_name("name", raw_name)?
            };
            let fqdn = if absolute {
                name
            } else {
                qualify(&name, &zone)
            };
            if fqdn != zone && !fqdn.ends_with(&format!(".{zone}")) {
                return Err(Error::invalid_field(
                    "name",
                    format!("{fqdn:?} is not inside zone {zone:?}"),
                ));
            }
            validate::dns_name("name", &fqdn)?
        };
        let any_unresolved = [&self.zone, &self.name, &self.record_type, &self.content]
            .iter()
            .any(|s| phase.unresolved(s))
            || matches!(self.ttl, Some(Int::Reference(_)))
            || matches!(self.priority, Some(Int::Reference(_)))
            || matches!(self.proxied, Some(Flag::Reference(_)));
        let mut record = RecordSpec::new(fqdn, record_type, self.content, ttl);
        record.proxied = proxied;
        record.priority = priority;
        if !any_unresolved {
            record = record.validated()?;
        }
        Ok(Spec { zone, record })
    }
}

fn outputs(zone: &Zone, r: &Record) -> Value {
    json!({
        "fqdn": r.name,
        "type": r.record_type.as_str(),
        "content": r.content,
        "zone_id": zone.id,
        "id": r.id.clone().unwrap_or_else(|| format!("{} {}", r.record_type, r.name)),
    })
}

#[provisio::async_trait]
impl ResourceType for DnsRecord {
    fn name(&self) -> &str {
        "dns.record"
    }

    fn capability(&self) -> Capability {
        Capability::Dns
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        DnsParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        DnsParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["fqdn", "type", "content", "zone_id", "id"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let s = DnsParams::parse(params, Phase::Resolved)?;
        Ok(format!("{} {}", s.record.record_type, s.record.name))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let s = DnsParams::parse(params, Phase::Resolved)?;
        let dns = ctx.providers.dns(ctx.provider)?;
        // A refresh knows the zone's id from the recorded outputs: one read per record, no
        // zone lookup. A zone that is gone (or was replaced) answers NotFound: look it up.
        if let Some(id) = prior.and_then(|p| p.get("zone_id")).and_then(Value::as_str) {
            let zone = Zone {
                id: id.to_string(),
                name: s.zone.clone(),
            };
            match dns
                .get_record(&zone, &s.record.name, &s.record.record_type)
                .await
            {
                Ok(found) => return Ok(found.map(|r| outputs(&zone, &r))),
                Err(e) if e.kind() == &ErrorKind::NotFound => {}
                Err(e) => return Err(in_resource(ctx)(e)),
            }
        }
        let Some(zone) = dns.find_zone(&s.zone).await.map_err(in_resource(ctx))? else {
            return Ok(None);
        };
        let found = dns
            .get_record(&zone, &s.record.name, &s.record.record_type)
            .await
            .map_err(in_resource(ctx))?;
        Ok(found.map(|r| outputs(&zone, &r)))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let s = DnsParams::parse(params, Phase::Resolved)?;
        let dns = ctx.providers.dns(ctx.provider)?;
        let zone = dns
            .find_zone(&s.zone)
            .await
            .map_err(in_resource(ctx))?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "zone {:?} does not exist in DNS provider {:?}",
                    s.zone, ctx.provider
                ))
                .with_resource(ctx.resource)
            })?;
        // ensure_record is keyed by (name, type): a retry or a resumed run finds the record it
        // created before and reports it unchanged.
        let ensured = dns
            .ensure_record(&zone, &s.record)
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: outputs(&zone, &ensured.value),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let s = DnsParams::parse(params, Phase::Resolved)?;
        let dns = ctx.providers.dns(ctx.provider)?;
        let Some(zone) = dns.find_zone(&s.zone).await.map_err(in_resource(ctx))? else {
            // No zone, no record.
            return Ok(Deleted::AlreadyGone);
        };
        dns.delete_record(&zone, &s.record.name, &s.record.record_type)
            .await
            .map_err(in_resource(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};
    use provisio::DnsProvider;

    #[test]
    fn validates_params() {
        let t = DnsRecord;
        let ok = json!({"zone": "example.com", "name": "www", "type": "A", "content": "192.0.2.1"});
        t.validate(&ok).unwrap();
        // References are accepted at load time.
        t.validate(
            &json!({"zone": "example.com", "name": "${tenant.name}", "type": "A",
            "content": "${web.public_ip}", "ttl": "${tenant.ttl}"}),
        )
        .unwrap();
        rejects(
            t.validate(&json!({"name": "www", "type": "A", "content": "192.0.2.1"})),
            "zone",
        );
        rejects(
            t.validate(
                &json!({"zone": "example.com", "name": "www", "type": "SRV", "content": "x"}),
            ),
            "type",
        );
        rejects(
            t.validate(
                &json!({"zone": "example.com", "name": "a b", "type": "A", "content": "192.0.2.1"}),
            ),
            "name",
        );
        rejects(
            t.validate(&json!({"zone": "example.com", "name": "www.other.org.", "type": "A", "content": "192.0.2.1"})),
            "name",
        );
        rejects(
            t.validate(
                &json!({"zone": "example.com", "name": "www", "type": "A", "content": "nope"}),
            ),
            "record content",
        );
        rejects(
            t.validate(&json!({"zone": "example.com", "name": "www", "type": "A", "content": "192.0.2.1", "ttl": "x"})),
            "ttl",
        );
        rejects(
            t.validate(&json!({"zone": "example.com", "name": "www", "type": "A", "content": "192.0.2.1", "extra": 1})),
            "extra",
        );
    }

    #[test]
    fn normalises_names_to_fqdn() {
        let f = |name: &str| {
            DnsParams::parse(
                &json!({"zone": "Example.com.", "name": name, "type": "TXT", "content": "x"}),
                Phase::Resolved,
            )
            .unwrap()
            .record
            .name
        };
        assert_eq!(f("www"), "www.example.com");
        assert_eq!(f("www.acme"), "www.acme.example.com");
        assert_eq!(f("WWW.example.com"), "www.example.com");
        assert_eq!(f("www.example.com."), "www.example.com");
        assert_eq!(f("@"), "example.com");
        assert_eq!(f("bücher"), "xn--bcher-kva.example.com");
    }

    #[tokio::test]
    async fn lifecycle_against_memory() {
        let h = Harness::new();
        let zone = h.cloud.dns.add_zone("example.com");
        let ctx = h.ctx("web_dns", "tok-dns");
        let params =
            json!({"zone": "example.com", "name": "acme", "type": "A", "content": "192.0.2.10"});
        let out = lifecycle(&DnsRecord, &ctx, &params).await;
        assert_eq!(out["fqdn"], "acme.example.com");
        assert_eq!(out["type"], "A");
        assert_eq!(out["content"], "192.0.2.10");
        assert_eq!(out["zone_id"], zone.id.as_str());
        assert!(
            h.cloud
                .dns
                .get_record(&zone, "acme.example.com", &RecordType::A)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// A refresh reads a record in the zone its outputs name, without looking the zone up;
    /// a stale zone id (the zone was replaced) falls back to the lookup.
    #[tokio::test]
    async fn a_refresh_reads_in_the_recorded_zone() {
        let h = Harness::new();
        h.cloud.dns.add_zone("example.com");
        let ctx = h.ctx("web_dns", "tok-dns");
        let t = DnsRecord;
        let p =
            json!({"zone": "example.com", "name": "acme", "type": "A", "content": "192.0.2.10"});
        let applied = t.apply(&ctx, &p, None).await.unwrap().outputs;
        let lookups = h.cloud.faults.calls("dns.find_zone");
        let read = t.read(&ctx, &p, Some(&applied)).await.unwrap().unwrap();
        assert_eq!(read, applied);
        assert_eq!(h.cloud.faults.calls("dns.find_zone"), lookups);
        let mut stale = applied.clone();
        stale["zone_id"] = json!("no-such-zone");
        let read = t.read(&ctx, &p, Some(&stale)).await.unwrap().unwrap();
        assert_eq!(read, applied);
        assert_eq!(h.cloud.faults.calls("dns.find_zone"), lookups + 1);
    }

    #[tokio::test]
    async fn updates_content_in_place() {
        let h = Harness::new();
        h.cloud.dns.add_zone("example.com");
        let ctx = h.ctx("web_dns", "tok-dns");
        let t = DnsRecord;
        let p1 =
            json!({"zone": "example.com", "name": "acme", "type": "A", "content": "192.0.2.10"});
        let p2 =
            json!({"zone": "example.com", "name": "acme", "type": "A", "content": "192.0.2.11"});
        let a = t.apply(&ctx, &p1, None).await.unwrap();
        let b = t.apply(&ctx, &p2, Some(&a.outputs)).await.unwrap();
        assert_eq!(b.outcome, provisio::Outcome::Updated);
        assert_eq!(b.outputs["content"], "192.0.2.11");
        assert_eq!(
            t.read(&ctx, &p2, None).await.unwrap().unwrap()["content"],
            "192.0.2.11"
        );
    }

    #[tokio::test]
    async fn proxied_records_default_to_automatic_ttl() {
        let h = Harness::new();
        h.cloud.dns.add_zone("example.com");
        let ctx = h.ctx("web_dns", "tok-dns");
        let params = json!({"zone": "example.com", "name": "www.acme", "type": "CNAME",
            "content": "acme.example.com", "proxied": true});
        let out = lifecycle(&DnsRecord, &ctx, &params).await;
        assert_eq!(out["fqdn"], "www.acme.example.com");
    }

    #[tokio::test]
    async fn missing_zone_is_not_found_and_delete_tolerates_it() {
        let h = Harness::new();
        let ctx = h.ctx("web_dns", "tok-dns");
        let params =
            json!({"zone": "nowhere.com", "name": "acme", "type": "A", "content": "192.0.2.10"});
        let e = DnsRecord.apply(&ctx, &params, None).await.unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::NotFound);
        assert_eq!(
            DnsRecord.delete(&ctx, &params, &Value::Null).await.unwrap(),
            Deleted::AlreadyGone
        );
    }
}
