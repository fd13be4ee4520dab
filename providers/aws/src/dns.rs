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

use crate::config::AwsConfig;
use crate::dns_batch::{Answer, ChangeBatcher};
use crate::dns_known::Known;
use crate::dns_sets::{
    check_in_zone, decode_name, decode_token, encode_token, record_name, to_record, to_record_set,
    zone_id,
};
use crate::error::{PROVIDER, classify, code, located};
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{Change, ChangeAction, ChangeStatus, ResourceRecordSet, RrType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
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
    /// Wraps a Route 53 client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        let info = config.provider_info(crate::config::Service::Route53, &account.into());
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

    /// Every simple record set at `fqdn` (canonical name, no trailing dot), as read now; one
    /// request unless a name holds more than 20 sets.
    async fn read_name(&self, zone: &Zone, fqdn: &str, op: &str) -> Result<Vec<ResourceRecordSet>> {
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
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(e) => return Err(self.zone_failure(zone, classify(e, op, fqdn))),
            };
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
                self.known.read_at(zone, fqdn, &out);
                return Ok(out);
            }
            start_type = resp.next_record_type().cloned();
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
        set: ResourceRecordSet,
        op: &str,
    ) -> Result<()> {
        let resource = decode_name(set.name());
        let change = Change::builder()
            .action(action.clone())
            .resource_record_set(set)
            .build()
            .map_err(|e| Error::unexpected("cannot build the change").with_source(e))?;
        let create = action == ChangeAction::Create;
        let already_exists = |err: Error| {
            Error::already_exists(err.to_string())
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(&resource)
        };
        let info = match self.batcher.submit(&zone.id, change).await {
            Answer::Alone(sent) => match *sent {
                Ok(resp) => resp.change_info().cloned(),
                Err(e) => {
                    let exists = create
                        && code(&e) == Some("InvalidChangeBatch")
                        && e.message().is_some_and(|m| m.contains("already exists"));
                    let err = classify(e, op, &resource);
                    return Err(if exists {
                        already_exists(err)
                    } else {
                        self.zone_failure(zone, err)
                    });
                }
            },
            Answer::Applied(info) => info,
            Answer::Refused(refusal) => {
                let exists = create
                    && refusal.code.as_deref() == Some("InvalidChangeBatch")
                    && refusal.message.contains("already exists");
                let err = located(Error::new(refusal.kind, refusal.message), op, &resource);
                return Err(if exists {
                    already_exists(err)
                } else {
                    self.zone_failure(zone, err)
                });
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
        self.wait_in_sync(info.id(), info.status().clone(), op, &resource)
            .await
    }

    /// Polls `GetChange` until the change is `INSYNC` (opt-in: [`AwsConfig::dns_wait_for_sync`]).
    async fn wait_in_sync(
        &self,
        id: &str,
        mut status: ChangeStatus,
        op: &str,
        resource: &str,
    ) -> Result<()> {
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
                .id(id)
                .send()
                .await
                .map_err(|e| classify(e, op, resource))?;
            status = resp
                .change_info()
                .map(|i| i.status().clone())
                .unwrap_or(ChangeStatus::Insync);
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
        sets: &[ResourceRecordSet],
        op: &str,
    ) -> Result<Ensured<Record>> {
        check_cname_rule(spec, sets, op)?;
        let set = to_record_set(spec).map_err(|e| located(e, op, &spec.name))?;
        let current = sets
            .iter()
            .find(|s| s.r#type().as_str() == spec.record_type.as_str());
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
fn check_cname_rule(spec: &RecordSpec, sets: &[ResourceRecordSet], op: &str) -> Result<()> {
    let clash = sets.iter().map(|s| s.r#type().as_str()).find(|t| {
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
        let zone = matching.first().map(|z| Zone {
            id: zone_id(z.id()),
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
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return Err(self.zone_failure(zone, classify(e, op, &zone.name))),
        };
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
        let sets = self.read_name(zone, &name, op).await?;
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
        let known: Vec<ResourceRecordSet> =
            self.known.sets_at(zone, &spec.name).into_values().collect();
        // A name known to hold this type, or a type that would clash: read it now (the
        // knowledge may be stale) and converge from what is there.
        let holds_type = known
            .iter()
            .any(|s| s.r#type().as_str() == spec.record_type.as_str());
        if holds_type || check_cname_rule(&spec, &known, op).is_err() {
            let sets = self.read_name(zone, &spec.name, op).await?;
            provisio::existence::found(
                sets.iter()
                    .any(|s| s.r#type().as_str() == spec.record_type.as_str()),
            );
            return self.converge(zone, &spec, &sets, op).await;
        }
        // Otherwise one CREATE: Route 53 itself refuses it when the set exists or would clash.
        // The change may leave in a batch sent from another caller's task; what it found is
        // reported here, in this caller's task (and step).
        let set = to_record_set(&spec).map_err(|e| located(e, op, &spec.name))?;
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
        let find = |sets: Vec<ResourceRecordSet>| {
            sets.into_iter()
                .find(|s| s.r#type().as_str() == record_type.as_str())
        };
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
