//! Route 53 as a [`DnsProvider`].
//!
//! provisio manages one record per (name, type); in Route 53 that is one simple record set
//! (no set identifier) with one value. Each operation sends as few requests as Route 53 allows
//! (the counts are measured against moto in `docs/providers/aws.md`):
//!
//! * `find_zone`: one `ListHostedZonesByName`, then none: the zone id is remembered per
//!   provider instance (forgotten when Route 53 answers `NoSuchHostedZone`).
//! * `get_record`: one `ListResourceRecordSets` starting at the name.
//! * `ensure_record` of a new record: one `CREATE` change. Route 53 refuses a `CREATE` of a set
//!   that exists, and a CNAME beside other records, by itself; only then is the name read, and
//!   an `UPSERT` sent when the set differs. A name this instance knows to hold the type is read
//!   first instead (read + `UPSERT` when it differs).
//! * `delete_record`: one `DELETE` with the values this instance last read or wrote; without
//!   them, or when Route 53 says they are stale, one read first.
//!
//! Every change goes through the zone's change queue ([`crate::dns_batch`]): changes that
//! concurrent callers make in one zone while a change request is in flight or waits for the
//! account's rate-limit token leave together in one `ChangeResourceRecordSets`; a lone change
//! leaves at once. The counts above are per caller alone; a batch is one request, counted in
//! the step of its first caller.
//!
//! Changes are not polled until `INSYNC` unless [`AwsConfig::dns_wait_for_sync`] asks for it:
//! an accepted change is durable and visible to every API read at once.
//!
//! Route 53 is spoken to by provisio's own signed client ([`crate::wire`]), in its REST-XML API
//! of version 2013-04-01: `GET /2013-04-01/hostedzonesbyname`, `GET .../hostedzone/{Id}/rrset`,
//! `POST .../hostedzone/{Id}/rrset/` (a change batch) and `GET /2013-04-01/change/{Id}`.

use crate::config::AwsConfig;
use crate::dns_batch::{Answer, Change, ChangeAction, ChangeBatcher, ChangeInfo, Refusal};
use crate::dns_known::Known;
use crate::dns_sets::{
    RecordSet, check_in_zone, decode_name, decode_token, encode_token, record_name, to_record,
    to_record_set, zone_id,
};
use crate::error::{PROVIDER, located};
use crate::wire::{Client, Element, Request, encode};
use provisio::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
use provisio::validate::NameKind;
use provisio::{
    Deleted, DnsProvider, Ensured, Error, ErrorKind, Page, PageRequest, Provider, ProviderInfo,
    Result, validate,
};
use std::sync::Arc;
use std::time::Duration;

/// The most record sets one `ListResourceRecordSets` call returns.
const MAX_PAGE: u32 = 300;

/// The status of a change every Route 53 server has.
const INSYNC: &str = "INSYNC";

/// The path of the record sets of hosted zone `id` (with or without its `/hostedzone/`).
fn rrset_path(id: &str) -> String {
    format!(
        "/2013-04-01/hostedzone/{}/rrset",
        encode(&zone_id(id), false)
    )
}

/// One page of a `ListResourceRecordSets` answer.
struct Listed {
    sets: Vec<RecordSet>,
    /// `IsTruncated`: more sets follow, from the `Next...` ones on.
    truncated: bool,
    next_name: Option<String>,
    next_type: Option<String>,
    next_identifier: Option<String>,
}

/// Route 53 hosted zones and record sets.
#[derive(Debug, Clone)]
pub struct Route53Dns {
    client: Client,
    info: ProviderInfo,
    poll: Duration,
    wait_for_sync: bool,
    sync_timeout: Duration,
    known: Arc<Known>,
    /// The change queues of this instance and its clones, one per zone.
    batcher: Arc<ChangeBatcher>,
}

impl Route53Dns {
    /// Route 53 through `client` (built by [`crate::Aws::dns`], or aimed at a test server).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        let info = config.provider_info(crate::config::Service::Route53, account);
        Route53Dns {
            batcher: Arc::new(ChangeBatcher::new(client.clone(), info.clone())),
            client,
            info,
            poll: config.poll_interval(),
            wait_for_sync: config.dns_wait_for_sync,
            sync_timeout: Duration::from_secs(config.dns_sync_timeout_secs),
            known: Arc::new(Known::default()),
        }
    }

    /// Sends `request` for `op` on `resource` and reads the answer of `action`.
    async fn call(
        &self,
        request: Request,
        action: &str,
        op: &str,
        resource: &str,
    ) -> Result<Element> {
        let answer = self.client.send(&request, op, resource).await?;
        // A truncated or garbled answer: worth another try (the retry layer decides).
        answer
            .xml()
            .map_err(|e| located(e.context(action), op, resource))
    }

    /// One `ListResourceRecordSets` page of `zone` of at most `max` sets, from the set
    /// `start` names (name, type, identifier) on.
    async fn list_sets(
        &self,
        zone: &Zone,
        start: Option<(&str, Option<&str>, Option<&str>)>,
        max: u32,
        op: &str,
        resource: &str,
    ) -> Result<Listed> {
        let mut request = Request::get(rrset_path(&zone.id));
        if let Some((name, rtype, identifier)) = start {
            request = request.param("name", name);
            if let Some(rtype) = rtype {
                request = request.param("type", rtype);
            }
            if let Some(identifier) = identifier {
                request = request.param("identifier", identifier);
            }
        }
        let request = request.param("maxitems", max.to_string());
        let root = match self
            .call(request, "ListResourceRecordSets", op, resource)
            .await
        {
            Ok(root) => root,
            Err(e) => return Err(self.zone_failure(zone, e)),
        };
        let next = |field: &str| root.text_at(&[field]).map(str::to_string);
        Ok(Listed {
            sets: root
                .list(&["ResourceRecordSets"], "ResourceRecordSet")
                .map(RecordSet::from_xml)
                .collect(),
            truncated: root.text_at(&["IsTruncated"]) == Some("true"),
            next_name: next("NextRecordName"),
            next_type: next("NextRecordType"),
            next_identifier: next("NextRecordIdentifier"),
        })
    }

    /// Every simple record set at `fqdn` (canonical name, no trailing dot), as read now; one
    /// request unless a name holds more than 20 sets.
    async fn read_name(&self, zone: &Zone, fqdn: &str, op: &str) -> Result<Vec<RecordSet>> {
        let start = format!("{fqdn}.");
        let mut out = Vec::new();
        let mut start_type: Option<String> = None;
        loop {
            let page = self
                .list_sets(
                    zone,
                    Some((&start, start_type.as_deref(), None)),
                    20,
                    op,
                    fqdn,
                )
                .await?;
            let mut past = false;
            for set in page.sets {
                if decode_name(&set.name) == fqdn {
                    if set.set_identifier.is_none() {
                        out.push(set);
                    }
                } else {
                    past = true;
                }
            }
            // (a truncated page without a next type would start the same page again)
            let more = page.truncated
                && !past
                && page.next_name.as_deref().map(decode_name).as_deref() == Some(fqdn)
                && page.next_type.is_some();
            if !more {
                self.known.read_at(zone, fqdn, &out);
                return Ok(out);
            }
            start_type = page.next_type;
        }
    }

    /// A `NotFound` on a zone-scoped call means the hosted zone is gone: forget its id.
    fn zone_failure(&self, zone: &Zone, err: Error) -> Error {
        if err.kind() == &ErrorKind::NotFound {
            self.known.forget_zone(zone);
        }
        err
    }

    /// Applies one change, in the zone's next change batch (see [`crate::dns_batch`]); waits
    /// for `INSYNC` only when configured to. A `CREATE` of a set that exists is
    /// `AlreadyExists`; other refused changes are `Conflict` or `InvalidInput`.
    async fn change(
        &self,
        zone: &Zone,
        action: ChangeAction,
        set: RecordSet,
        op: &str,
    ) -> Result<()> {
        let resource = decode_name(&set.name);
        let create = action == ChangeAction::Create;
        let refused = |refusal: Refusal| {
            let exists = create
                && refusal.code.as_deref() == Some("InvalidChangeBatch")
                && refusal.message.contains("already exists");
            let err = located(Error::new(refusal.kind, refusal.message), op, &resource);
            if exists {
                Error::already_exists(err.to_string())
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(&resource)
            } else {
                self.zone_failure(zone, err)
            }
        };
        let info = match self.batcher.submit(&zone.id, Change { action, set }).await {
            Answer::Applied(info) => info,
            Answer::Refused(refusal) => return Err(refused(refusal)),
            Answer::Failed(err) => {
                let err = err.with_operation(op).with_resource(&resource);
                return Err(self.zone_failure(zone, err));
            }
            Answer::Abandoned => {
                return Err(located(
                    Error::transient(
                        "the change batch was abandoned before Route 53 answered \
                         (whether the change was applied is unknown)",
                    ),
                    op,
                    &resource,
                ));
            }
        };
        if !self.wait_for_sync {
            return Ok(());
        }
        let Some(info) = info else {
            return Ok(());
        };
        self.wait_in_sync(info, op, &resource).await
    }

    /// Polls `GetChange` until the change is `INSYNC` (opt-in: [`AwsConfig::dns_wait_for_sync`]).
    async fn wait_in_sync(&self, info: ChangeInfo, op: &str, resource: &str) -> Result<()> {
        let ChangeInfo { id, mut status } = info;
        let path = format!(
            "/2013-04-01/change/{}",
            encode(id.trim_start_matches("/change/"), false)
        );
        let deadline = tokio::time::Instant::now() + self.sync_timeout;
        while status != INSYNC {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::timeout(format!(
                    "change {id} is still {status} after {} s (it stays applied; Route 53 is propagating it)",
                    self.sync_timeout.as_secs()
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(resource));
            }
            tokio::time::sleep(self.poll).await;
            let root = self
                .call(Request::get(path.as_str()), "GetChange", op, resource)
                .await?;
            status = ChangeInfo::of(&root)
                .map(|i| i.status)
                .unwrap_or_else(|| INSYNC.to_string());
        }
        Ok(())
    }

    /// The set of `spec`'s type among `sets` (a fresh read), brought to `spec`: unchanged when
    /// it matches, an `UPSERT` when it differs, an `UPSERT` creating it when it is missing
    /// (Route 53 said it exists, the read says it does not: deleted in between, or moto's
    /// change journal; `UPSERT` is right either way).
    async fn converge(
        &self,
        zone: &Zone,
        spec: &RecordSpec,
        sets: &[RecordSet],
        op: &str,
    ) -> Result<Ensured<Record>> {
        check_cname_rule(spec, sets, op)?;
        let set = to_record_set(spec);
        let current = sets.iter().find(|s| s.rtype == spec.record_type.as_str());
        match current {
            Some(current) if to_record(current).matches(spec) => {
                Ok(Ensured::unchanged(to_record(current)))
            }
            Some(_) => {
                self.change(zone, ChangeAction::Upsert, set.clone(), op)
                    .await?;
                self.known.wrote(zone, &spec.name, &set);
                Ok(Ensured::updated(to_record(&set)))
            }
            None => {
                self.change(zone, ChangeAction::Upsert, set.clone(), op)
                    .await?;
                self.known.wrote(zone, &spec.name, &set);
                Ok(Ensured::created(to_record(&set)))
            }
        }
    }
}

/// DNS forbids a CNAME beside any other record at one name. Route 53 refuses it on write;
/// this check gives the same error where the sets are known (and where an emulator is lax).
fn check_cname_rule(spec: &RecordSpec, sets: &[RecordSet], op: &str) -> Result<()> {
    let clash = sets.iter().map(|s| s.rtype.as_str()).find(|t| {
        *t != spec.record_type.as_str() && (*t == "CNAME" || spec.record_type == RecordType::Cname)
    });
    match clash {
        Some(other) => Err(Error::conflict(format!(
            "{} already has a {other} record; a CNAME cannot share its name with another record",
            spec.name
        ))
        .with_provider(PROVIDER)
        .with_operation(op)
        .with_resource(&spec.name)),
        None => Ok(()),
    }
}

impl Provider for Route53Dns {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn check_name(&self, kind: NameKind, field: &str, value: &str) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

#[provisio::async_trait]
impl DnsProvider for Route53Dns {
    fn capabilities(&self) -> DnsCapabilities {
        DnsCapabilities {
            proxied: false,
            min_ttl: 1,
            automatic_ttl: false,
            waits_for_sync: self.wait_for_sync,
        }
    }

    async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
        let op = "dns.find_zone";
        let name = validate::dns_name("zone", name).map_err(|e| located(e, op, name))?;
        if let Some(zone) = self.known.zone(&name) {
            return Ok(Some(zone));
        }
        let _turn = self.known.lookup_turn().await;
        if let Some(zone) = self.known.zone(&name) {
            return Ok(Some(zone));
        }
        let request = Request::get("/2013-04-01/hostedzonesbyname")
            .param("dnsname", format!("{name}."))
            .param("maxitems", "20");
        let root = self
            .call(request, "ListHostedZonesByName", op, &name)
            .await?;
        let mut matching: Vec<&Element> = root
            .list(&["HostedZones"], "HostedZone")
            .filter(|z| decode_name(z.text_at(&["Name"]).unwrap_or_default()) == name)
            .collect();
        // A public zone and private zones may share a name; records for the world go public.
        matching.sort_by_key(|z| z.text_at(&["Config", "PrivateZone"]) == Some("true"));
        let zone = matching.first().map(|z| Zone {
            id: zone_id(z.text_at(&["Id"]).unwrap_or_default()),
            name: name.clone(),
        });
        if let Some(zone) = &zone {
            self.known.remember_zone(zone);
        }
        Ok(zone)
    }

    async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
        let op = "dns.list_records";
        let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let token = match &page.token {
            Some(token) => Some(decode_token(token).map_err(|e| located(e, op, &zone.name))?),
            None => None,
        };
        let start = token
            .as_ref()
            .map(|(name, t, id)| (name.as_str(), Some(t.as_str()), id.as_deref()));
        let listed = self.list_sets(zone, start, limit, op, &zone.name).await?;
        let items = listed
            .sets
            .iter()
            .take(limit as usize)
            .map(to_record)
            .collect();
        let next = match (listed.truncated, listed.next_name, listed.next_type) {
            (true, Some(name), Some(t)) => {
                Some(encode_token(&name, &t, listed.next_identifier.as_deref()))
            }
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
        let sets = self.read_name(zone, &name, op).await?;
        Ok(sets
            .iter()
            .find(|s| s.rtype == record_type.as_str())
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
        let known: Vec<RecordSet> = self.known.sets_at(zone, &spec.name).into_values().collect();
        // A name known to hold this type, or a type that would clash: read it now (the
        // knowledge may be stale) and converge from what is there.
        let holds_type = known.iter().any(|s| s.rtype == spec.record_type.as_str());
        if holds_type || check_cname_rule(&spec, &known, op).is_err() {
            let sets = self.read_name(zone, &spec.name, op).await?;
            provisio::existence::found(sets.iter().any(|s| s.rtype == spec.record_type.as_str()));
            return self.converge(zone, &spec, &sets, op).await;
        }
        // Otherwise one CREATE: Route 53 itself refuses it when the set exists or would clash.
        // The change may leave in a batch sent from another caller's task; what it found is
        // reported here, in this caller's task (and step).
        let set = to_record_set(&spec);
        match self
            .change(zone, ChangeAction::Create, set.clone(), op)
            .await
        {
            Ok(()) => {
                provisio::existence::found(false);
                self.known.wrote(zone, &spec.name, &set);
                Ok(Ensured::created(to_record(&set)))
            }
            Err(e) if e.kind() == &ErrorKind::AlreadyExists => {
                provisio::existence::found(true);
                let sets = self.read_name(zone, &spec.name, op).await?;
                self.converge(zone, &spec, &sets, op).await
            }
            Err(e) => Err(e),
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
        let find =
            |sets: Vec<RecordSet>| sets.into_iter().find(|s| s.rtype == record_type.as_str());
        // A DELETE must carry the set's exact values: the ones last seen, else read them.
        let (set, fresh) = match self.known.sets_at(zone, &name).remove(record_type.as_str()) {
            Some(set) => (set, false),
            None => match find(self.read_name(zone, &name, op).await?) {
                Some(set) => (set, true),
                None => return Ok(Deleted::AlreadyGone),
            },
        };
        let err = match self.change(zone, ChangeAction::Delete, set, op).await {
            Ok(()) => {
                self.known.deleted(zone, &name, record_type.as_str());
                return Ok(Deleted::Deleted);
            }
            Err(e) => e,
        };
        // Refused: the set is gone, or its values are not the ones sent (Route 53 says
        // InvalidChangeBatch, moto InvalidInput). Read what is there now.
        if !matches!(err.kind(), ErrorKind::Conflict | ErrorKind::InvalidInput) {
            return Err(err);
        }
        match find(self.read_name(zone, &name, op).await?) {
            None => Ok(Deleted::AlreadyGone),
            Some(_) if fresh => Err(err),
            Some(current) => {
                self.change(zone, ChangeAction::Delete, current, op).await?;
                self.known.deleted(zone, &name, record_type.as_str());
                Ok(Deleted::Deleted)
            }
        }
    }
}
