//! In-memory DNS with Cloudflare's semantics.

use crate::faults::{Base, Faults, Read, hex_id};
use crate::inventory::Inventory;
use provisio::dns::{DnsCapabilities, DnsProvider, Record, RecordSpec, RecordType, Zone};
use provisio::{
    Deleted, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Result, async_trait,
    validate,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The default page size of [`DnsProvider::list_records`] (Cloudflare's `per_page` default).
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// The largest page [`DnsProvider::list_records`] returns.
pub const MAX_PAGE_SIZE: u32 = 5000;

#[derive(Debug, Default)]
struct ZoneState {
    name: String,
    records: BTreeMap<(String, RecordType), Record>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    /// Zone id -> zone.
    zones: BTreeMap<String, ZoneState>,
    next_record: u64,
}

/// An in-memory DNS provider with Cloudflare's rules.
///
/// Zones are created by [`MemoryDns::add_zone`] (the trait has no zone creation, as for real
/// accounts). Records are kept one per (name, type); a CNAME cannot share its name with any other
/// type (Cloudflare errors 81053/81054, here `Conflict`); TTL is 1 (automatic) or 60..=86400, and
/// proxied records must use the automatic TTL.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use provisio::DnsProvider;
/// use provisio::dns::{RecordSpec, RecordType};
/// let dns = provisio_memory::MemoryDns::new();
/// let zone = dns.add_zone("example.com");
/// let spec = RecordSpec::new("www.example.com", RecordType::A, "192.0.2.1", 300);
/// assert!(dns.ensure_record(&zone, &spec).await.unwrap().outcome.changed());
/// assert!(!dns.ensure_record(&zone, &spec).await.unwrap().outcome.changed());
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryDns {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryDns {
    fn default() -> Self {
        Self::new()
    }
}

fn record_id(record: &Record) -> String {
    format!("{} {}", record.record_type, record.name)
}

impl MemoryDns {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-dns";

    /// A provider with no zones and no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A provider using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryDns {
            base: Base::new(faults, Self::DEFAULT_ACCOUNT, crate::persist::Section::Dns),
            state: Mutex::new(State::default()),
        }
    }

    /// The same provider acting on account `account` (rate limits are per account).
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a zone (or returns the existing one of that name) with a 32-hex id, as Cloudflare
    /// shows zones the account already has.
    ///
    /// # Panics
    /// When `name` is not a valid DNS name: this is a test setup helper.
    pub fn add_zone(&self, name: &str) -> Zone {
        let name = validate::dns_name("zone name", name).expect("add_zone: invalid zone name");
        let mut s = self.lock();
        if let Some((id, _)) = s.zones.iter().find(|(_, z)| z.name == name) {
            return Zone {
                id: id.clone(),
                name,
            };
        }
        let id = hex_id(
            &[
                &self.base.faults.seed().to_be_bytes(),
                b"zone",
                name.as_bytes(),
            ],
            32,
        );
        s.zones.insert(
            id.clone(),
            ZoneState {
                name: name.clone(),
                records: BTreeMap::new(),
            },
        );
        Zone { id, name }
    }

    /// Puts a record into a zone as it is, without validation: for types provisio does not
    /// manage (NS, SOA, CAA, ...) that a real zone would also hold. A record with the same
    /// name and type is replaced.
    ///
    /// # Panics
    /// When the zone is unknown.
    pub fn insert_raw_record(&self, zone: &Zone, mut record: Record) {
        let mut s = self.lock();
        let id = format!("{:032x}", s.next_record + 1);
        s.next_record += 1;
        let z = s
            .zones
            .get_mut(&zone.id)
            .expect("insert_raw_record: unknown zone");
        record.id.get_or_insert(id);
        z.records
            .insert((record.name.clone(), record.record_type.clone()), record);
    }

    /// Every live zone and record.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (id, z) in &s.zones {
            inv.insert("dns.zone", z.name.clone(), json!({ "id": id }));
            for r in z.records.values() {
                inv.insert(
                    "dns.record",
                    record_id(r),
                    json!({
                        "zone": z.name,
                        "content": r.content,
                        "ttl": r.ttl,
                        "proxied": r.proxied,
                        "priority": r.priority,
                    }),
                );
            }
        }
        inv
    }

    /// Nothing is retired in DNS: deleted records are gone.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }
}

/// DNS's part of a [`crate::MemorySnapshot`]: every zone with its records, and the record
/// counter new record ids derive from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DnsSnapshot {
    zones: Vec<ZoneSnapshot>,
    next_record: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneSnapshot {
    id: String,
    name: String,
    records: Vec<Record>,
}

impl MemoryDns {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> DnsSnapshot {
        let s = self.lock();
        DnsSnapshot {
            zones: s
                .zones
                .iter()
                .map(|(id, z)| ZoneSnapshot {
                    id: id.clone(),
                    name: z.name.clone(),
                    records: z.records.values().cloned().collect(),
                })
                .collect(),
            next_record: s.next_record,
        }
    }

    /// Replaces everything this provider holds with `snap`.
    pub(crate) fn prepare_restore(&self, snap: DnsSnapshot) -> Result<State> {
        use crate::snapshot::corrupt;
        let mut zones = BTreeMap::new();
        for z in snap.zones {
            let mut records = BTreeMap::new();
            for r in z.records {
                let key = (r.name.clone(), r.record_type.clone());
                if records.insert(key, r).is_some() {
                    return Err(corrupt(format!("dns zone {} repeats a record", z.name)));
                }
            }
            let zone = ZoneState {
                name: z.name,
                records,
            };
            if zones.insert(z.id.clone(), zone).is_some() {
                return Err(corrupt(format!("dns zone id {} appears twice", z.id)));
            }
        }
        Ok(State {
            zones,
            next_record: snap.next_record,
        })
    }

    /// Installs a state made by [`MemoryDns::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryDns {
    type JsonCache = ();
    type Snapshot = DnsSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> DnsSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: DnsSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
}

/// Checks that `zone` exists with that id and name.
fn zone_mut<'a>(s: &'a mut State, zone: &Zone) -> Result<&'a mut ZoneState> {
    match s.zones.get_mut(&zone.id) {
        Some(z) if z.name == zone.name => Ok(z),
        _ => Err(
            Error::not_found(format!("zone {} ({}) does not exist", zone.name, zone.id))
                .with_resource(zone.name.clone()),
        ),
    }
}

pub(crate) fn in_zone(zone: &str, name: &str) -> Result<()> {
    if name == zone || name.ends_with(&format!(".{zone}")) {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "record name",
            format!("{name:?} is not inside zone {zone:?}"),
        ))
    }
}

fn lookup_name(zone: &Zone, name: &str) -> Result<String> {
    let name = validate::dns_name("record name", name)?;
    in_zone(&zone.name, &name)?;
    Ok(name)
}

impl Provider for MemoryDns {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl DnsProvider for MemoryDns {
    fn capabilities(&self) -> DnsCapabilities {
        DnsCapabilities {
            proxied: true,
            min_ttl: 60,
            automatic_ttl: true,
            waits_for_sync: false,
        }
    }

    async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
        self.base
            .run("dns.find_zone", name, async {
                let name = validate::dns_name("zone name", name)?;
                let s = self.lock();
                Ok(Read(s.zones.iter().find(|(_, z)| z.name == name).map(
                    |(id, z)| Zone {
                        id: id.clone(),
                        name: z.name.clone(),
                    },
                )))
            })
            .await
    }

    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
        self.base
            .run("dns.list_records", &zone.name, async {
                let mut s = self.lock();
                let z = zone_mut(&mut s, zone)?;
                // Key order: name, then type; the key is also the token.
                let items = z.records.values().map(|r| {
                    (
                        format!("{}\u{0}{}", r.name, r.record_type.as_str()),
                        r.clone(),
                    )
                });
                let mut items: Vec<(String, Record)> = items.collect();
                items.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Read(crate::paging::page(
                    items,
                    page,
                    DEFAULT_PAGE_SIZE,
                    MAX_PAGE_SIZE,
                )?))
            })
            .await
    }

    async fn get_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Option<Record>> {
        let resource = format!("{record_type} {name}");
        self.base
            .run("dns.get_record", &resource, async {
                let name = lookup_name(zone, name)?;
                let mut s = self.lock();
                let z = zone_mut(&mut s, zone)?;
                Ok(Read(z.records.get(&(name, record_type.clone())).cloned()))
            })
            .await
    }

    async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
        let resource = format!("{} {}", spec.record_type, spec.name);
        self.base
            .run_ensure("dns.ensure_record", &resource, async {
                let spec = spec.validated()?;
                in_zone(&zone.name, &spec.name)?;
                if spec.ttl != 1 && !(60..=86400).contains(&spec.ttl) {
                    return Err(Error::invalid_field(
                        "record ttl",
                        format!("must be 1 (automatic) or 60 to 86400, got {}", spec.ttl),
                    ));
                }
                if spec.proxied == Some(true) && spec.ttl != 1 {
                    return Err(Error::invalid_field(
                        "record ttl",
                        "proxied records always use the automatic TTL (1)",
                    ));
                }
                let mut s = self.lock();
                // The counter moves only when a record is created, so ensuring what exists
                // leaves the provider exactly as it was.
                let next_record = s.next_record + 1;
                let fresh_id = hex_id(
                    &[
                        &self.base.faults.seed().to_be_bytes(),
                        b"record",
                        zone.id.as_bytes(),
                        &next_record.to_be_bytes(),
                    ],
                    32,
                );
                let z = zone_mut(&mut s, zone)?;
                let key = (spec.name.clone(), spec.record_type.clone());
                // CNAME exclusivity (Cloudflare 81053 / 81054).
                let others: Vec<&RecordType> = z
                    .records
                    .keys()
                    .filter(|(n, t)| *n == spec.name && *t != spec.record_type)
                    .map(|(_, t)| t)
                    .collect();
                if spec.record_type == RecordType::Cname && !others.is_empty() {
                    return Err(Error::conflict(format!(
                        "a CNAME cannot share its name with other records: {} already has {} (81053)",
                        spec.name,
                        others
                            .iter()
                            .map(|t| t.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                if spec.record_type != RecordType::Cname && others.contains(&&RecordType::Cname) {
                    return Err(Error::conflict(format!(
                        "a CNAME record with the name {} already exists (81054)",
                        spec.name
                    )));
                }
                match z.records.get_mut(&key) {
                    Some(existing) if existing.matches(&spec) => {
                        Ok(Ensured::unchanged(existing.clone()))
                    }
                    Some(existing) => {
                        existing.content = spec.content.clone();
                        existing.ttl = spec.ttl;
                        if let Some(p) = spec.proxied {
                            existing.proxied = Some(p);
                        }
                        existing.priority = spec.priority;
                        Ok(Ensured::updated(existing.clone()))
                    }
                    None => {
                        let record = Record {
                            id: Some(fresh_id),
                            name: spec.name.clone(),
                            record_type: spec.record_type.clone(),
                            content: spec.content.clone(),
                            ttl: spec.ttl,
                            proxied: Some(spec.proxied.unwrap_or(false)),
                            priority: spec.priority,
                        };
                        z.records.insert(key, record.clone());
                        s.next_record = next_record;
                        Ok(Ensured::created(record))
                    }
                }
            })
            .await
    }

    async fn delete_record(
        &self,
        zone: &Zone,
        name: &str,
        record_type: &RecordType,
    ) -> Result<Deleted> {
        let resource = format!("{record_type} {name}");
        self.base
            .run("dns.delete_record", &resource, async {
                let name = lookup_name(zone, name)?;
                let mut s = self.lock();
                let z = zone_mut(&mut s, zone)?;
                Ok(match z.records.remove(&(name, record_type.clone())) {
                    Some(_) => Deleted::Deleted,
                    None => Deleted::AlreadyGone,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ErrorKind;

    fn a(name: &str, ip: &str) -> RecordSpec {
        RecordSpec::new(name, RecordType::A, ip, 300)
    }

    #[tokio::test]
    async fn ensure_is_create_or_match() {
        let dns = MemoryDns::new();
        let zone = dns.add_zone("Example.com.");
        assert_eq!(zone.name, "example.com");
        assert_eq!(zone.id.len(), 32);
        assert!(zone.id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(dns.add_zone("example.com"), zone);
        assert_eq!(
            dns.find_zone("example.com").await.unwrap(),
            Some(zone.clone())
        );
        assert_eq!(dns.find_zone("other.com").await.unwrap(), None);

        let spec = a("WWW.example.com", "192.0.2.1");
        let r = dns.ensure_record(&zone, &spec).await.unwrap();
        assert_eq!(r.outcome, provisio::Outcome::Created);
        assert_eq!(r.value.name, "www.example.com");
        assert_eq!(r.value.id.as_ref().unwrap().len(), 32);
        let again = dns.ensure_record(&zone, &spec).await.unwrap();
        assert_eq!(again.outcome, provisio::Outcome::Unchanged);
        assert_eq!(again.value, r.value);
        let upd = dns
            .ensure_record(&zone, &a("www.example.com", "192.0.2.2"))
            .await
            .unwrap();
        assert_eq!(upd.outcome, provisio::Outcome::Updated);
        assert_eq!(upd.value.id, r.value.id);
        let got = dns
            .get_record(&zone, "www.example.com", &RecordType::A)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.content, "192.0.2.2");
        assert_eq!(
            dns.get_record(&zone, "www.example.com", &RecordType::Txt)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            dns.delete_record(&zone, "www.example.com", &RecordType::A)
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            dns.delete_record(&zone, "www.example.com", &RecordType::A)
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(dns.inventory().count("dns.record"), 0);
    }

    #[tokio::test]
    async fn validation_and_zone_rules() {
        let dns = MemoryDns::new();
        let zone = dns.add_zone("example.com");
        let err = |r: Result<Ensured<Record>>| r.unwrap_err();
        let e = err(dns
            .ensure_record(&zone, &a("www.other.com", "192.0.2.1"))
            .await);
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        assert!(e.message().contains("record name"));
        assert_eq!(e.provider(), Some("memory"));
        assert_eq!(e.operation(), Some("dns.ensure_record"));
        let e = err(dns
            .ensure_record(&zone, &a("www.example.com", "not-ip"))
            .await);
        assert!(e.message().contains("record content"));
        let mut bad_ttl = a("www.example.com", "192.0.2.1");
        bad_ttl.ttl = 30;
        assert!(
            err(dns.ensure_record(&zone, &bad_ttl).await)
                .message()
                .contains("ttl")
        );
        bad_ttl.ttl = 1;
        assert!(dns.ensure_record(&zone, &bad_ttl).await.is_ok());
        let mut proxied = a("p.example.com", "192.0.2.1");
        proxied.proxied = Some(true);
        assert_eq!(
            err(dns.ensure_record(&zone, &proxied).await).kind(),
            &ErrorKind::InvalidInput
        );
        let other = Zone {
            id: "0".repeat(32),
            name: "example.com".into(),
        };
        assert_eq!(
            dns.list_records(&other, &PageRequest::first())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(
            dns.get_record(&zone, "x.other.org", &RecordType::A)
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
    }

    #[tokio::test]
    async fn cname_is_exclusive() {
        let dns = MemoryDns::new();
        let zone = dns.add_zone("example.com");
        dns.ensure_record(&zone, &a("www.example.com", "192.0.2.1"))
            .await
            .unwrap();
        let cname = RecordSpec::new("www.example.com", RecordType::Cname, "lb.example.net", 300);
        let e = dns.ensure_record(&zone, &cname).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        let cname2 = RecordSpec::new("app.example.com", RecordType::Cname, "lb.example.net", 300);
        dns.ensure_record(&zone, &cname2).await.unwrap();
        let txt = RecordSpec::new("app.example.com", RecordType::Txt, "hello", 300);
        assert_eq!(
            dns.ensure_record(&zone, &txt).await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        // Updating the CNAME itself is fine.
        let cname3 = RecordSpec::new("app.example.com", RecordType::Cname, "lb2.example.net", 300);
        assert_eq!(
            dns.ensure_record(&zone, &cname3).await.unwrap().outcome,
            provisio::Outcome::Updated
        );
    }

    #[tokio::test]
    async fn targets_read_back_as_written() {
        let dns = MemoryDns::new();
        let zone = dns.add_zone("example.test");
        let cname = RecordSpec::new(
            "acme.stg.example.test",
            RecordType::Cname,
            "staging.example.test",
            300,
        );
        let mut mx = RecordSpec::new("example.test", RecordType::Mx, "mail.example.test", 300);
        mx.priority = Some(10);
        for spec in [&cname, &mx] {
            dns.ensure_record(&zone, spec).await.unwrap();
            let got = dns
                .get_record(&zone, &spec.name, &spec.record_type)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.content, spec.content, "no trailing dot added");
            assert!(got.matches(spec));
            let listed = dns
                .list_records(&zone, &PageRequest::first())
                .await
                .unwrap();
            assert!(listed.items.iter().any(|r| r.content == spec.content));
            assert_eq!(
                dns.ensure_record(&zone, spec).await.unwrap().outcome,
                provisio::Outcome::Unchanged
            );
        }
        // A fully qualified target (trailing dot) is the same target: kept in the form without
        // the dot, so ensuring either spelling changes nothing.
        let mut dotted = cname.clone();
        dotted.content = "staging.example.test.".into();
        assert_eq!(
            dns.ensure_record(&zone, &dotted).await.unwrap().outcome,
            provisio::Outcome::Unchanged
        );
        // Types provisio does not manage (NS, SRV) are kept exactly as inserted.
        for (t, content) in [
            ("NS", "ns1.example.net."),
            ("SRV", "10 5 5060 sip.example.test"),
        ] {
            dns.insert_raw_record(
                &zone,
                Record {
                    id: None,
                    name: "example.test".into(),
                    record_type: RecordType::parse(t),
                    content: content.into(),
                    ttl: 3600,
                    proxied: None,
                    priority: None,
                },
            );
            let got = dns
                .get_record(&zone, "example.test", &RecordType::parse(t))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(got.content, content);
        }
    }

    #[tokio::test]
    async fn list_pages_and_raw_records() {
        let dns = MemoryDns::new();
        let zone = dns.add_zone("example.com");
        dns.insert_raw_record(
            &zone,
            Record {
                id: None,
                name: "example.com".into(),
                record_type: RecordType::parse("NS"),
                content: "ns1.example.net".into(),
                ttl: 86400,
                proxied: None,
                priority: None,
            },
        );
        for i in 0..150 {
            dns.ensure_record(&zone, &a(&format!("h{i:03}.example.com"), "192.0.2.1"))
                .await
                .unwrap();
        }
        let first = dns
            .list_records(&zone, &PageRequest::first())
            .await
            .unwrap();
        assert_eq!(first.items.len(), 100);
        let mut req = PageRequest::with_limit(40);
        let mut all = Vec::new();
        loop {
            let p = dns.list_records(&zone, &req).await.unwrap();
            assert!(p.items.len() <= 40);
            all.extend(p.items.clone());
            match req.next(&p) {
                Some(n) => req = n,
                None => break,
            }
        }
        assert_eq!(all.len(), 151);
        assert_eq!(all[0].record_type, RecordType::Other("NS".into()));
        assert_eq!(dns.inventory().count("dns.record"), 151);
        assert!(dns.inventory().contains("dns.record", "A h007.example.com"));
    }
}
