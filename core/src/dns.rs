//! DNS: zones and records.
//!
//! A record is identified by its fully qualified name and type: provisio manages one record per
//! (name, type), which maps onto Route 53 and Azure record sets and onto Cloudflare's
//! one-record-per-name usage.

use crate::{Deleted, Ensured, Page, PageRequest, Provider, Result};
use async_trait::async_trait;

/// A DNS zone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Zone {
    /// The provider's zone id (Cloudflare's 32-hex id, Route 53's hosted zone id, ...).
    pub id: String,
    /// The zone's name, punycode, no trailing dot.
    pub name: String,
}

/// A record type. Types provisio does not manage are kept as `Other` so that listing a zone
/// never fails on them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Canonical name.
    Cname,
    /// Text.
    Txt,
    /// Mail exchange (uses [`RecordSpec::priority`]).
    Mx,
    /// Any other type, by its upper-case name.
    Other(String),
}

impl RecordType {
    /// The type's name as DNS writes it (`A`, `AAAA`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Cname => "CNAME",
            RecordType::Txt => "TXT",
            RecordType::Mx => "MX",
            RecordType::Other(s) => s,
        }
    }
    /// Parses a type name (case-insensitive); unknown names become `Other`.
    pub fn parse(s: &str) -> RecordType {
        match s.to_ascii_uppercase().as_str() {
            "A" => RecordType::A,
            "AAAA" => RecordType::Aaaa,
            "CNAME" => RecordType::Cname,
            "TXT" => RecordType::Txt,
            "MX" => RecordType::Mx,
            other => RecordType::Other(other.to_string()),
        }
    }
    /// Whether provisio can create records of this type.
    pub fn is_managed(&self) -> bool {
        !matches!(self, RecordType::Other(_))
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
impl serde::Serialize for RecordType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> serde::Deserialize<'de> for RecordType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(RecordType::parse(&String::deserialize(d)?))
    }
}

/// The record a caller wants.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RecordSpec {
    /// Fully qualified name inside the zone (validated with [`crate::validate::dns_name`]).
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// The value: an address, a target name, the text, or the MX exchange.
    pub content: String,
    /// TTL in seconds; 1 means "automatic" where the provider has that notion.
    pub ttl: u32,
    /// Cloudflare's proxy flag (A/AAAA/CNAME only); `None` where the provider has no proxy.
    #[serde(default)]
    pub proxied: Option<bool>,
    /// MX preference.
    #[serde(default)]
    pub priority: Option<u16>,
}

impl RecordSpec {
    /// A record with the given name, type, content and TTL.
    pub fn new(
        name: impl Into<String>,
        record_type: RecordType,
        content: impl Into<String>,
        ttl: u32,
    ) -> Self {
        RecordSpec {
            name: name.into(),
            record_type,
            content: content.into(),
            ttl,
            proxied: None,
            priority: None,
        }
    }

    /// Checks the parts every provider agrees on: the name, a managed type, content that fits
    /// the type (an IPv4 address for A, IPv6 for AAAA, a host name for CNAME/MX), MX priority
    /// present only for MX, `proxied` only for A/AAAA/CNAME. Returns the spec with the name in
    /// canonical form.
    pub fn validated(&self) -> Result<RecordSpec> {
        use crate::Error;
        use crate::validate;
        let mut spec = self.clone();
        spec.name = validate::dns_name("record name", &self.name)?;
        match &self.record_type {
            RecordType::A => {
                self.content.parse::<std::net::Ipv4Addr>().map_err(|_| {
                    Error::invalid_field(
                        "record content",
                        format!("{:?} is not an IPv4 address (A record)", self.content),
                    )
                })?;
            }
            RecordType::Aaaa => {
                self.content.parse::<std::net::Ipv6Addr>().map_err(|_| {
                    Error::invalid_field(
                        "record content",
                        format!("{:?} is not an IPv6 address (AAAA record)", self.content),
                    )
                })?;
            }
            RecordType::Cname | RecordType::Mx => {
                spec.content = validate::hostname("record content", &self.content)?;
            }
            RecordType::Txt => {
                if self.content.is_empty() || self.content.len() > 4096 {
                    return Err(Error::invalid_field(
                        "record content",
                        "TXT content must be 1 to 4096 bytes",
                    ));
                }
            }
            RecordType::Other(t) => {
                return Err(Error::invalid_field(
                    "record type",
                    format!(
                        "{t} records are not managed by provisio (A, AAAA, CNAME, TXT, MX are)"
                    ),
                ));
            }
        }
        if self.record_type == RecordType::Mx && self.priority.is_none() {
            return Err(Error::invalid_field(
                "record priority",
                "MX records need a priority",
            ));
        }
        if self.record_type != RecordType::Mx && self.priority.is_some() {
            return Err(Error::invalid_field(
                "record priority",
                "only MX records take a priority",
            ));
        }
        if self.proxied == Some(true)
            && !matches!(
                self.record_type,
                RecordType::A | RecordType::Aaaa | RecordType::Cname
            )
        {
            return Err(Error::invalid_field(
                "record proxied",
                "only A, AAAA and CNAME records can be proxied",
            ));
        }
        if self.ttl == 0 {
            return Err(Error::invalid_field("record ttl", "must be at least 1"));
        }
        Ok(spec)
    }
}

/// A record as the provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The provider's record id (Route 53 and Azure have none: they use name + type).
    pub id: Option<String>,
    /// Fully qualified name, punycode, no trailing dot.
    pub name: String,
    /// The type.
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// The value.
    pub content: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// The proxy flag where the provider has one.
    pub proxied: Option<bool>,
    /// MX preference.
    pub priority: Option<u16>,
}

impl Record {
    /// Whether this record already is what `spec` asks for.
    pub fn matches(&self, spec: &RecordSpec) -> bool {
        self.name == spec.name
            && self.record_type == spec.record_type
            && self.content == spec.content
            && self.ttl == spec.ttl
            && spec
                .proxied
                .is_none_or(|p| self.proxied.unwrap_or(false) == p)
            && self.priority == spec.priority
    }
}

/// What a DNS provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsCapabilities {
    /// Supports Cloudflare-style proxying.
    pub proxied: bool,
    /// The smallest TTL accepted (other than 1 = automatic where supported).
    pub min_ttl: u32,
    /// Whether TTL 1 means "automatic".
    pub automatic_ttl: bool,
    /// Whether changes propagate asynchronously (Route 53's PENDING -> INSYNC) and
    /// [`DnsProvider::ensure_record`] waits for them.
    pub waits_for_sync: bool,
}

/// A DNS provider.
#[async_trait]
pub trait DnsProvider: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> DnsCapabilities;

    /// Finds a zone by name; `Ok(None)` when no zone of that name is visible.
    async fn find_zone(&self, name: &str) -> Result<Option<Zone>>;

    /// Lists one page of the zone's records, of every type.
    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>>;

    /// Finds the record of a name and type; `Ok(None)` when there is none.
    async fn get_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Option<Record>>;

    /// Creates the record, or changes the existing record of the same name and type when it
    /// differs, or does nothing when it matches.
    async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>>;

    /// Deletes the record of a name and type; succeeds with [`Deleted::AlreadyGone`] when there
    /// is none.
    async fn delete_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Deleted>;
}
