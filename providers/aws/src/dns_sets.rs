//! Route 53 record sets as provisio records, and back; and the XML they are read from and
//! written as.
//!
//! Names and targets are canonical on provisio's side (lower case, punycode, no trailing dot)
//! and fully qualified on Route 53's (trailing dot): a CNAME written as `staging.example.test`
//! is sent as `staging.example.test.` and read back as `staging.example.test`, and so are the
//! targets of MX, NS, SRV and PTR records, so what a caller compares against is what it wrote.

use crate::wire::Element;
use crate::wire::xml::escape;
use provisio::dns::{Record, RecordSpec, RecordType, Zone};
use provisio::{Error, Result, validate};

/// One Route 53 resource record set, as far as provisio reads and writes it: a simple set (the
/// only kind provisio writes), or any other kind it lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecordSet {
    /// The name as Route 53 has it: fully qualified (trailing dot), special characters as
    /// octal escapes (`\052.example.com.`).
    pub name: String,
    /// The type: `A`, `CNAME`, `TXT`, ...
    pub rtype: String,
    /// The identifier of a weighted, latency, failover, geolocation or multivalue set (none for
    /// a simple set).
    pub set_identifier: Option<String>,
    /// The TTL in seconds (none for an alias).
    pub ttl: Option<i64>,
    /// The values, exactly as Route 53 stores them (a TXT value with its quotes).
    pub values: Vec<String>,
    /// The target of an alias set.
    pub alias: Option<AliasTarget>,
    /// The health check the set is answered under, if any.
    pub health_check_id: Option<String>,
}

/// Where an alias set points.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AliasTarget {
    /// The hosted zone of the target (a load balancer's, a CloudFront distribution's, ...).
    pub hosted_zone_id: String,
    /// The target's DNS name.
    pub dns_name: String,
    /// Whether Route 53 checks the target's health.
    pub evaluate_target_health: bool,
}

impl RecordSet {
    /// A `ResourceRecordSet` element of a `ListResourceRecordSets` answer. Missing fields are
    /// empty, as the SDK reads them.
    pub(crate) fn from_xml(e: &Element) -> RecordSet {
        let text = |path: &[&str]| e.text_at(path).map(str::to_string);
        RecordSet {
            name: text(&["Name"]).unwrap_or_default(),
            rtype: text(&["Type"]).unwrap_or_default(),
            set_identifier: text(&["SetIdentifier"]),
            ttl: e.text_at(&["TTL"]).and_then(|t| t.parse().ok()),
            values: e
                .list(&["ResourceRecords"], "ResourceRecord")
                .map(|r| r.raw_at(&["Value"]).unwrap_or_default().to_string())
                .collect(),
            alias: e.child("AliasTarget").map(|a| AliasTarget {
                hosted_zone_id: a.text_at(&["HostedZoneId"]).unwrap_or_default().to_string(),
                dns_name: a.text_at(&["DNSName"]).unwrap_or_default().to_string(),
                evaluate_target_health: a.text_at(&["EvaluateTargetHealth"]) == Some("true"),
            }),
            health_check_id: text(&["HealthCheckId"]),
        }
    }

    /// Appends the set as the `ResourceRecordSet` element of a change, every text escaped, in
    /// the order Route 53's schema requires (Name, Type, TTL, ResourceRecords, AliasTarget,
    /// HealthCheckId). Only simple sets are written: provisio never sends a set identifier.
    pub(crate) fn write_xml(&self, out: &mut String) {
        let mut element = |name: &str, text: &str| {
            out.push_str(&format!("<{name}>{}</{name}>", escape(text)));
        };
        element("Name", &self.name);
        element("Type", &self.rtype);
        if let Some(ttl) = self.ttl {
            element("TTL", &ttl.to_string());
        }
        if !self.values.is_empty() {
            out.push_str("<ResourceRecords>");
            for value in &self.values {
                out.push_str(&format!(
                    "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                    escape(value)
                ));
            }
            out.push_str("</ResourceRecords>");
        }
        if let Some(alias) = &self.alias {
            out.push_str(&format!(
                "<AliasTarget><HostedZoneId>{}</HostedZoneId><DNSName>{}</DNSName>\
                 <EvaluateTargetHealth>{}</EvaluateTargetHealth></AliasTarget>",
                escape(&alias.hosted_zone_id),
                escape(&alias.dns_name),
                alias.evaluate_target_health
            ));
        }
        if let Some(id) = &self.health_check_id {
            out.push_str(&format!("<HealthCheckId>{}</HealthCheckId>", escape(id)));
        }
    }
}

/// Route 53's hosted zone id without the `/hostedzone/` prefix.
pub(crate) fn zone_id(id: &str) -> String {
    id.trim_start_matches("/hostedzone/").to_string()
}

/// A name as Route 53 returns it (`\052.example.com.`) in provisio's canonical form
/// (`*.example.com`): octal escapes decoded, lower case, no trailing dot.
pub(crate) fn decode_name(name: &str) -> String {
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

/// A Route 53 record set as a provisio record. Several values (set by someone else) are
/// joined with a space.
pub(crate) fn to_record(set: &RecordSet) -> Record {
    let record_type = RecordType::parse(&set.rtype);
    let values: Vec<&str> = match &set.alias {
        Some(a) => vec![a.dns_name.as_str()],
        None => set.values.iter().map(String::as_str).collect(),
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
        RecordType::Other(ref t) if matches!(t.as_str(), "NS" | "PTR" | "SRV") => values
            .iter()
            .map(|v| target_without_dot(v))
            .collect::<Vec<_>>()
            .join(" "),
        _ => values.join(" "),
    };
    Record {
        id: None,
        name: decode_name(&set.name),
        record_type,
        content,
        ttl: set
            .ttl
            .map(|t| u32::try_from(t).unwrap_or(u32::MAX))
            .unwrap_or(0),
        proxied: None,
        priority,
    }
}

/// An NS or PTR target, or an SRV value (`0 5 5060 sip.example.com.`), with the target in
/// canonical form: the trailing dot of the fully qualified name removed, lower case.
fn target_without_dot(value: &str) -> String {
    match value.rsplit_once(' ') {
        Some((fields, target)) => format!("{fields} {}", decode_name(target)),
        None => decode_name(value),
    }
}

/// The record set Route 53 should hold for `spec` (validated).
pub(crate) fn to_record_set(spec: &RecordSpec) -> RecordSet {
    let value = match spec.record_type {
        RecordType::Txt => encode_txt(&spec.content),
        RecordType::Cname => format!("{}.", spec.content),
        RecordType::Mx => format!("{} {}.", spec.priority.unwrap_or(10), spec.content),
        _ => spec.content.clone(),
    };
    RecordSet {
        name: format!("{}.", spec.name),
        rtype: spec.record_type.as_str().to_string(),
        ttl: Some(i64::from(spec.ttl)),
        values: vec![value],
        ..RecordSet::default()
    }
}

pub(crate) fn record_name(name: &str) -> Result<String> {
    validate::dns_name("record name", name)
}

pub(crate) fn check_in_zone(zone: &Zone, name: &str) -> Result<()> {
    if name == zone.name || name.ends_with(&format!(".{}", zone.name)) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "record name",
            format!("{name:?} is not inside the zone {:?}", zone.name),
        ))
    }
}

pub(crate) fn encode_token(name: &str, t: &str, identifier: Option<&str>) -> String {
    match identifier {
        Some(id) => format!("{t}|{name}|{id}"),
        None => format!("{t}|{name}"),
    }
}

pub(crate) fn decode_token(token: &str) -> Result<(String, String, Option<String>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn set(t: &str, values: &[&str]) -> RecordSet {
        RecordSet {
            name: "www.example.test.".into(),
            rtype: t.into(),
            ttl: Some(300),
            values: values.iter().map(|v| v.to_string()).collect(),
            ..RecordSet::default()
        }
    }

    #[test]
    fn targets_read_back_as_written() {
        // Route 53 stores fully qualified targets; provisio reads them back without the dot.
        let spec = RecordSpec::new(
            "www.example.test",
            RecordType::Cname,
            "staging.example.test",
            300,
        );
        let sent = to_record_set(&spec.validated().unwrap());
        assert_eq!(sent.values, ["staging.example.test."]);
        let back = to_record(&sent);
        assert_eq!(back.content, "staging.example.test");
        assert!(back.matches(&spec));
        // a user writing the dot gets the same canonical record
        let dotted = RecordSpec::new(
            "www.example.test",
            RecordType::Cname,
            "Staging.Example.Test.",
            300,
        )
        .validated()
        .unwrap();
        assert!(back.matches(&dotted));
        let mut mx = RecordSpec::new("example.test", RecordType::Mx, "mail.example.test.", 300);
        mx.priority = Some(10);
        let mx = mx.validated().unwrap();
        let back = to_record(&to_record_set(&mx));
        assert_eq!(
            (back.content.as_str(), back.priority),
            ("mail.example.test", Some(10))
        );
        // values others wrote, of types provisio only reads
        assert_eq!(
            to_record(&set("NS", &["ns-1.awsdns-1.com.", "ns-2.awsdns-2.net."])).content,
            "ns-1.awsdns-1.com ns-2.awsdns-2.net"
        );
        assert_eq!(
            to_record(&set("SRV", &["0 5 5060 SIP.example.test."])).content,
            "0 5 5060 sip.example.test"
        );
        assert_eq!(to_record(&set("A", &["192.0.2.1"])).content, "192.0.2.1");
    }

    #[test]
    fn sets_read_from_and_written_as_xml() {
        let answer = br#"<ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
<ResourceRecordSets>
<ResourceRecordSet><Name>\052.example.test.</Name><Type>TXT</Type><TTL>60</TTL>
<ResourceRecords><ResourceRecord><Value>"a &amp; b" "&lt;c&gt;"</Value></ResourceRecord>
<ResourceRecord><Value>"d"</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>
<ResourceRecordSet><Name>example.test.</Name><Type>A</Type>
<AliasTarget><HostedZoneId>Z2FDTNDATAQYW2</HostedZoneId><DNSName>d1.cloudfront.net.</DNSName>
<EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>
<ResourceRecordSet><Name>w.example.test.</Name><Type>A</Type><SetIdentifier>blue</SetIdentifier>
<Weight>10</Weight><TTL>oops</TTL><ResourceRecords><ResourceRecord><Value>192.0.2.1</Value>
</ResourceRecord></ResourceRecords></ResourceRecordSet>
</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems>
</ListResourceRecordSetsResponse>"#;
        let root = crate::wire::xml::parse(answer).unwrap();
        let sets: Vec<RecordSet> = root
            .list(&["ResourceRecordSets"], "ResourceRecordSet")
            .map(RecordSet::from_xml)
            .collect();
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0].name, "\\052.example.test.");
        assert_eq!(sets[0].ttl, Some(60));
        assert_eq!(sets[0].values, [r#""a & b" "<c>""#, r#""d""#]);
        assert_eq!(to_record(&sets[0]).content, "a & b<c> d");
        let alias = sets[1].alias.as_ref().expect("an alias");
        assert_eq!(
            (alias.hosted_zone_id.as_str(), alias.dns_name.as_str()),
            ("Z2FDTNDATAQYW2", "d1.cloudfront.net.")
        );
        assert!(!alias.evaluate_target_health);
        assert_eq!((sets[1].ttl, sets[1].values.len()), (None, 0));
        assert_eq!(to_record(&sets[1]).content, "d1.cloudfront.net.");
        assert_eq!(sets[2].set_identifier.as_deref(), Some("blue"));
        assert_eq!(sets[2].ttl, None, "an unreadable TTL is no TTL");

        let mut xml = String::new();
        sets[0].write_xml(&mut xml);
        assert_eq!(
            xml,
            "<Name>\\052.example.test.</Name><Type>TXT</Type><TTL>60</TTL><ResourceRecords>\
             <ResourceRecord><Value>&quot;a &amp; b&quot; &quot;&lt;c&gt;&quot;</Value></ResourceRecord>\
             <ResourceRecord><Value>&quot;d&quot;</Value></ResourceRecord></ResourceRecords>"
        );
        let mut xml = String::new();
        sets[1].write_xml(&mut xml);
        assert_eq!(
            xml,
            "<Name>example.test.</Name><Type>A</Type><AliasTarget><HostedZoneId>Z2FDTNDATAQYW2\
             </HostedZoneId><DNSName>d1.cloudfront.net.</DNSName><EvaluateTargetHealth>false\
             </EvaluateTargetHealth></AliasTarget>"
        );
        // what is written reads back the same
        for set in &sets[..2] {
            let mut xml = String::from("<ResourceRecordSet>");
            set.write_xml(&mut xml);
            xml.push_str("</ResourceRecordSet>");
            let back = RecordSet::from_xml(&crate::wire::xml::parse(xml.as_bytes()).unwrap());
            assert_eq!(&back, set);
        }
    }

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
