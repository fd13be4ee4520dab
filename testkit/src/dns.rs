//! Conformance cases for [`DnsProvider`].
//!
//! Every case works inside one existing zone ([`DnsContext::zone`]) and only touches records
//! whose names it made with [`unique`](crate::unique).

use crate::{expect_invalid, expect_one_of, expect_unsupported, first_error, guarded, walk_pages};
use provisio::dns::{Record, RecordSpec, RecordType, Zone};
use provisio::{Deleted, DnsProvider, ErrorKind, Outcome, Result};

/// What the DNS cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsContext {
    /// An existing zone the provider can write to, e.g. `provisio-test.example`.
    pub zone: String,
}

impl DnsContext {
    /// Cases run in the existing zone `zone`.
    pub fn new(zone: impl Into<String>) -> Self {
        DnsContext { zone: zone.into() }
    }
}

/// Every DNS case by name.
pub const CASES: &[crate::Case<dyn DnsProvider, DnsContext>] = crate::dns_conformance!(@table);

/// Generates one `#[test]` per DNS case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::dns_conformance! {
///     provider: my_dns_provider(),      // an Arc/Box of a DnsProvider; may .await and use ?
///     context: provisio_testkit::dns::DnsContext::new("example.test"),
/// }
/// ```
#[macro_export]
macro_rules! dns_conformance {
    (@table) => { $crate::dns_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* dns [
            happy_path,
            record_types_round_trip,
            names_are_canonical,
            types_coexist_at_one_name,
            ensure_is_idempotent,
            update_changes_record,
            delete_is_idempotent,
            not_found,
            cname_conflicts_with_other_types,
            pagination,
            invalid_names,
            capability_honesty,
        ] }
    };
    ($($setup:tt)*) => { $crate::dns_conformance!(@cases @tests { $($setup)* }); };
}

async fn zone(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<Zone> {
    let zone = dns.find_zone(&ctx.zone).await?;
    let zone = zone.unwrap_or_else(|| {
        panic!(
            "the context zone {:?} does not exist: the DNS cases need an existing zone",
            ctx.zone
        )
    });
    assert_eq!(
        zone.name, ctx.zone,
        "find_zone({:?}) returned another zone",
        ctx.zone
    );
    assert!(!zone.id.is_empty(), "find_zone returned a zone without id");
    Ok(zone)
}

fn name_in(zone: &Zone, kind: &str) -> String {
    format!("{}.{}", crate::unique(kind), zone.name)
}

/// A TTL every provider accepts and that is not "automatic".
fn ttl(dns: &dyn DnsProvider, at_least: u32) -> u32 {
    at_least.max(dns.capabilities().min_ttl).max(60)
}

fn assert_record_is(record: &Record, spec: &RecordSpec, what: &str) {
    assert!(
        record.matches(spec),
        "{what}: the record {record:?} does not match what was asked: {spec:?}"
    );
}

async fn delete_quietly(
    dns: &dyn DnsProvider,
    zone: &Zone,
    name: &str,
    t: RecordType,
) -> Result<()> {
    dns.delete_record(zone, name, &t).await.map(|_| ())
}

/// All records of the zone, walked with the provider's default page size.
async fn all_records(dns: &dyn DnsProvider, zone: &Zone) -> Result<Vec<Record>> {
    let mut req = provisio::PageRequest::first();
    let mut out = Vec::new();
    loop {
        let page = dns.list_records(zone, &req).await?;
        let next = req.next(&page);
        out.extend(page.items);
        match next {
            Some(n) => req = n,
            None => return Ok(out),
        }
    }
}

fn count(records: &[Record], name: &str, t: &RecordType) -> usize {
    records
        .iter()
        .filter(|r| r.name == name && &r.record_type == t)
        .count()
}

/// Creates an A record, reads it back with `get_record` and `list_records`, deletes it and sees
/// it gone.
pub async fn happy_path(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let name = name_in(&zone, "rec");
    let spec = RecordSpec::new(&name, RecordType::A, "192.0.2.10", ttl(dns, 300));
    guarded(
        async {
            let created = dns.ensure_record(&zone, &spec).await?;
            assert_eq!(
                created.outcome,
                Outcome::Created,
                "ensure_record of a new name"
            );
            assert_record_is(&created.value, &spec, "ensure_record");

            let read = dns.get_record(&zone, &name, &RecordType::A).await?;
            let read = read.expect("get_record returned None for the record just created");
            assert_record_is(&read, &spec, "get_record");
            assert_eq!(
                read, created.value,
                "get_record differs from what ensure_record returned"
            );

            let listed = all_records(dns, &zone).await?;
            assert_eq!(
                count(&listed, &name, &RecordType::A),
                1,
                "list_records should show the new record exactly once"
            );

            let gone = dns.delete_record(&zone, &name, &RecordType::A).await?;
            assert_eq!(
                gone,
                Deleted::Deleted,
                "delete_record of an existing record"
            );
            let read = dns.get_record(&zone, &name, &RecordType::A).await?;
            assert!(read.is_none(), "get_record after delete returned {read:?}");
            Ok(())
        },
        delete_quietly(dns, &zone, &name, RecordType::A),
    )
    .await
}

/// Creates one record of each managed type (A, AAAA, CNAME, TXT, MX) and reads each back.
pub async fn record_types_round_trip(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let t = ttl(dns, 300);
    let target = format!("target.{}", zone.name);
    let mut mx = RecordSpec::new(
        name_in(&zone, "mx"),
        RecordType::Mx,
        format!("mail.{}", zone.name),
        t,
    );
    mx.priority = Some(10);
    let specs = vec![
        RecordSpec::new(name_in(&zone, "a"), RecordType::A, "192.0.2.1", t),
        RecordSpec::new(name_in(&zone, "aaaa"), RecordType::Aaaa, "2001:db8::1", t),
        RecordSpec::new(name_in(&zone, "cname"), RecordType::Cname, target, t),
        RecordSpec::new(
            name_in(&zone, "txt"),
            RecordType::Txt,
            "v=provisio conformance",
            t,
        ),
        mx,
    ];
    guarded(
        async {
            for spec in &specs {
                let made = dns.ensure_record(&zone, spec).await?;
                assert_eq!(made.outcome, Outcome::Created, "ensure_record {spec:?}");
                assert_record_is(&made.value, spec, "ensure_record");
                let read = dns.get_record(&zone, &spec.name, &spec.record_type).await?;
                let read = read.unwrap_or_else(|| {
                    panic!(
                        "get_record({}, {}) returned None after ensure_record",
                        spec.name, spec.record_type
                    )
                });
                assert_record_is(&read, spec, "get_record");
            }
            Ok(())
        },
        async {
            let mut results = Vec::new();
            for spec in &specs {
                results
                    .push(delete_quietly(dns, &zone, &spec.name, spec.record_type.clone()).await);
            }
            first_error(results)
        },
    )
    .await
}

/// Names are stored in canonical form (lower case, no trailing dot): a record ensured as
/// `Mixed-Case.<zone>.` reads back as `mixed-case.<zone>`, is found under either spelling, and
/// ensuring the canonical spelling again is `Unchanged`.
pub async fn names_are_canonical(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let canonical = name_in(&zone, "case");
    let (label, rest) = canonical
        .split_once('.')
        .expect("a name inside the zone has a dot");
    let spelled = format!("{}.{rest}.", label.to_ascii_uppercase());
    let t = ttl(dns, 300);
    guarded(
        async {
            let made = dns
                .ensure_record(
                    &zone,
                    &RecordSpec::new(&spelled, RecordType::A, "192.0.2.70", t),
                )
                .await?;
            assert_eq!(made.outcome, Outcome::Created, "ensure_record({spelled:?})");
            assert_eq!(
                made.value.name, canonical,
                "the stored name must be lower case without trailing dot"
            );
            let read = dns.get_record(&zone, &canonical, &RecordType::A).await?;
            assert_eq!(
                read.as_ref(),
                Some(&made.value),
                "get_record by the canonical name"
            );
            let read = dns.get_record(&zone, &spelled, &RecordType::A).await?;
            assert_eq!(
                read.as_ref(),
                Some(&made.value),
                "get_record by the mixed-case name with a trailing dot"
            );
            let again = dns
                .ensure_record(
                    &zone,
                    &RecordSpec::new(&canonical, RecordType::A, "192.0.2.70", t),
                )
                .await?;
            assert_eq!(
                again.outcome,
                Outcome::Unchanged,
                "ensure_record of the same record spelled canonically"
            );
            Ok(())
        },
        delete_quietly(dns, &zone, &canonical, RecordType::A),
    )
    .await
}

/// A record is identified by name and type: an A, a TXT and an MX record live side by side at
/// one name, and deleting one leaves the others.
pub async fn types_coexist_at_one_name(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let name = name_in(&zone, "multi");
    let t = ttl(dns, 300);
    let mut mx = RecordSpec::new(&name, RecordType::Mx, format!("mx.{}", zone.name), t);
    mx.priority = Some(5);
    let specs = [
        RecordSpec::new(&name, RecordType::A, "192.0.2.80", t),
        RecordSpec::new(&name, RecordType::Txt, "v=spf1 -all", t),
        mx,
    ];
    guarded(
        async {
            for spec in &specs {
                let made = dns.ensure_record(&zone, spec).await?;
                assert_eq!(
                    made.outcome,
                    Outcome::Created,
                    "ensure_record {} at a shared name",
                    spec.record_type
                );
            }
            for spec in &specs {
                let read = dns.get_record(&zone, &name, &spec.record_type).await?;
                let read = read.unwrap_or_else(|| {
                    panic!(
                        "the {} record at a shared name is missing",
                        spec.record_type
                    )
                });
                assert_record_is(&read, spec, "get_record at a shared name");
            }
            assert_eq!(
                dns.delete_record(&zone, &name, &RecordType::A).await?,
                Deleted::Deleted,
                "delete the A record"
            );
            for spec in &specs[1..] {
                let read = dns.get_record(&zone, &name, &spec.record_type).await?;
                assert!(
                    read.is_some(),
                    "deleting the A record also removed the {} record",
                    spec.record_type
                );
            }
            Ok(())
        },
        async {
            let mut results = Vec::new();
            for spec in &specs {
                results.push(delete_quietly(dns, &zone, &name, spec.record_type.clone()).await);
            }
            first_error(results)
        },
    )
    .await
}

/// Ensuring the same record twice: the second call is `Unchanged` and nothing changes.
pub async fn ensure_is_idempotent(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let name = name_in(&zone, "idem");
    let spec = RecordSpec::new(&name, RecordType::Txt, "hello conformance", ttl(dns, 300));
    guarded(
        async {
            let first = dns.ensure_record(&zone, &spec).await?;
            assert_eq!(first.outcome, Outcome::Created, "first ensure_record");
            let second = dns.ensure_record(&zone, &spec).await?;
            assert_eq!(
                second.outcome,
                Outcome::Unchanged,
                "second ensure_record with the same spec"
            );
            assert_eq!(
                second.value, first.value,
                "the unchanged record differs from the created one"
            );
            let listed = all_records(dns, &zone).await?;
            assert_eq!(
                count(&listed, &name, &RecordType::Txt),
                1,
                "after two identical ensures the zone must hold exactly one TXT record at {name}"
            );
            let read = dns.get_record(&zone, &name, &RecordType::Txt).await?;
            assert_eq!(
                read.as_ref(),
                Some(&first.value),
                "get_record after the second ensure"
            );
            Ok(())
        },
        delete_quietly(dns, &zone, &name, RecordType::Txt),
    )
    .await
}

/// Ensuring a record with changed content and TTL updates it in place.
pub async fn update_changes_record(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let name = name_in(&zone, "upd");
    let before = RecordSpec::new(&name, RecordType::A, "192.0.2.20", ttl(dns, 300));
    let after = RecordSpec::new(&name, RecordType::A, "192.0.2.21", ttl(dns, 600));
    guarded(
        async {
            let created = dns.ensure_record(&zone, &before).await?;
            assert_eq!(created.outcome, Outcome::Created, "first ensure_record");
            let updated = dns.ensure_record(&zone, &after).await?;
            assert_eq!(
                updated.outcome,
                Outcome::Updated,
                "ensure_record with new content and TTL"
            );
            assert_record_is(&updated.value, &after, "the updated record");
            let read = dns.get_record(&zone, &name, &RecordType::A).await?;
            let read = read.expect("get_record returned None after an update");
            assert_record_is(&read, &after, "get_record after the update");
            let listed = all_records(dns, &zone).await?;
            assert_eq!(
                count(&listed, &name, &RecordType::A),
                1,
                "an update must replace the record, not add a second A record at {name}"
            );
            Ok(())
        },
        delete_quietly(dns, &zone, &name, RecordType::A),
    )
    .await
}

/// Deleting twice: `Deleted`, then `AlreadyGone`; deleting a name that never existed is
/// `AlreadyGone`.
pub async fn delete_is_idempotent(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let name = name_in(&zone, "del");
    let spec = RecordSpec::new(&name, RecordType::A, "192.0.2.30", ttl(dns, 300));
    guarded(
        async {
            dns.ensure_record(&zone, &spec).await?;
            let first = dns.delete_record(&zone, &name, &RecordType::A).await?;
            assert_eq!(first, Deleted::Deleted, "first delete_record");
            let second = dns.delete_record(&zone, &name, &RecordType::A).await?;
            assert_eq!(
                second,
                Deleted::AlreadyGone,
                "second delete_record of the same record"
            );
            let never = name_in(&zone, "never");
            let missing = dns.delete_record(&zone, &never, &RecordType::Cname).await?;
            assert_eq!(
                missing,
                Deleted::AlreadyGone,
                "delete_record of a name that never existed"
            );
            Ok(())
        },
        delete_quietly(dns, &zone, &name, RecordType::A),
    )
    .await
}

/// Reads of missing things: `get_record` and `find_zone` return `Ok(None)`; another type at an
/// existing name is also `None`.
pub async fn not_found(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let missing_zone = format!("{}.invalid", crate::unique("zone"));
    let found = dns.find_zone(&missing_zone).await?;
    assert!(
        found.is_none(),
        "find_zone({missing_zone:?}) returned {found:?}"
    );
    let name = name_in(&zone, "nf");
    let read = dns.get_record(&zone, &name, &RecordType::A).await?;
    assert!(
        read.is_none(),
        "get_record of a missing name returned {read:?}"
    );
    let spec = RecordSpec::new(&name, RecordType::Txt, "only txt here", ttl(dns, 300));
    guarded(
        async {
            dns.ensure_record(&zone, &spec).await?;
            let other = dns.get_record(&zone, &name, &RecordType::A).await?;
            assert!(
                other.is_none(),
                "get_record of type A at a name holding only TXT returned {other:?}"
            );
            Ok(())
        },
        delete_quietly(dns, &zone, &name, RecordType::Txt),
    )
    .await
}

/// A CNAME cannot share its name with another record: CNAME over an A record, and A over a
/// CNAME, are `Conflict` (or `AlreadyExists`) and leave the existing record as it was.
pub async fn cname_conflicts_with_other_types(
    dns: &dyn DnsProvider,
    ctx: &DnsContext,
) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let t = ttl(dns, 300);
    let a_name = name_in(&zone, "cfa");
    let c_name = name_in(&zone, "cfc");
    let target = format!("target.{}", zone.name);
    let a = RecordSpec::new(&a_name, RecordType::A, "192.0.2.40", t);
    let cname_over_a = RecordSpec::new(&a_name, RecordType::Cname, target.clone(), t);
    let cname = RecordSpec::new(&c_name, RecordType::Cname, target, t);
    let a_over_cname = RecordSpec::new(&c_name, RecordType::A, "192.0.2.41", t);
    let conflict = [ErrorKind::Conflict, ErrorKind::AlreadyExists];
    guarded(
        async {
            let made = dns.ensure_record(&zone, &a).await?;
            let err = dns.ensure_record(&zone, &cname_over_a).await;
            expect_one_of(
                err,
                &conflict,
                "ensure_record CNAME at a name holding an A record",
            );
            let read = dns.get_record(&zone, &a_name, &RecordType::A).await?;
            assert_eq!(
                read.as_ref(),
                Some(&made.value),
                "the A record must survive the refused CNAME"
            );
            let c = dns.get_record(&zone, &a_name, &RecordType::Cname).await?;
            assert!(c.is_none(), "the refused CNAME exists: {c:?}");

            let made = dns.ensure_record(&zone, &cname).await?;
            let err = dns.ensure_record(&zone, &a_over_cname).await;
            expect_one_of(err, &conflict, "ensure_record A at a name holding a CNAME");
            let read = dns.get_record(&zone, &c_name, &RecordType::Cname).await?;
            assert_eq!(
                read.as_ref(),
                Some(&made.value),
                "the CNAME must survive the refused A record"
            );
            let a2 = dns.get_record(&zone, &c_name, &RecordType::A).await?;
            assert!(a2.is_none(), "the refused A record exists: {a2:?}");
            let txt = RecordSpec::new(&c_name, RecordType::Txt, "beside a cname", t);
            let err = dns.ensure_record(&zone, &txt).await;
            expect_one_of(
                err,
                &conflict,
                "ensure_record TXT at a name holding a CNAME",
            );
            Ok(())
        },
        async {
            first_error([
                delete_quietly(dns, &zone, &a_name, RecordType::A).await,
                delete_quietly(dns, &zone, &a_name, RecordType::Cname).await,
                delete_quietly(dns, &zone, &c_name, RecordType::Cname).await,
                delete_quietly(dns, &zone, &c_name, RecordType::A).await,
                delete_quietly(dns, &zone, &c_name, RecordType::Txt).await,
            ])
        },
    )
    .await
}

/// Seven records listed three at a time: every page has at most three items, the walk takes at
/// least three pages, and each record appears exactly once.
pub async fn pagination(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let base = crate::unique("page");
    let names: Vec<String> = (0..7)
        .map(|i| format!("{base}-{i}.{}", zone.name))
        .collect();
    guarded(
        async {
            for (i, name) in names.iter().enumerate() {
                let spec = RecordSpec::new(
                    name,
                    RecordType::A,
                    format!("192.0.2.{}", 100 + i),
                    ttl(dns, 300),
                );
                dns.ensure_record(&zone, &spec).await?;
            }
            let (items, pages) = walk_pages(3, |req| {
                let zone = &zone;
                async move { dns.list_records(zone, &req).await }
            })
            .await?;
            assert!(pages >= 3, "7 records with limit 3 came in {pages} page(s)");
            for name in &names {
                let n = count(&items, name, &RecordType::A);
                assert_eq!(
                    n, 1,
                    "record {name} appeared {n} times over all pages (want exactly once)"
                );
            }
            Ok(())
        },
        async {
            let mut results = Vec::new();
            for name in &names {
                results.push(delete_quietly(dns, &zone, name, RecordType::A).await);
            }
            first_error(results)
        },
    )
    .await
}

/// Bad record names and contents are `InvalidInput` naming the field, and create nothing.
pub async fn invalid_names(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let t = ttl(dns, 300);
    let label = crate::unique("bad");
    let bad_name = RecordSpec::new(
        format!("{label} x!.{}", zone.name),
        RecordType::A,
        "192.0.2.50",
        t,
    );
    let err = dns.ensure_record(&zone, &bad_name).await;
    expect_invalid(
        err,
        "name",
        "ensure_record with a name containing ' ' and '!'",
    );

    let good = name_in(&zone, "badc");
    let bad_content = RecordSpec::new(&good, RecordType::A, "not-an-address", t);
    let err = dns.ensure_record(&zone, &bad_content).await;
    expect_invalid(
        err,
        "content",
        "ensure_record of an A record whose content is not an IPv4 address",
    );

    let mut bad_mx = RecordSpec::new(&good, RecordType::Mx, format!("mail.{}", zone.name), t);
    bad_mx.priority = None;
    let err = dns.ensure_record(&zone, &bad_mx).await;
    expect_invalid(
        err,
        "priority",
        "ensure_record of an MX record without priority",
    );

    let unmanaged = RecordSpec::new(
        &good,
        RecordType::Other("SRV".into()),
        "0 5 5060 sip.example.com",
        t,
    );
    let err = dns.ensure_record(&zone, &unmanaged).await;
    expect_invalid(err, "type", "ensure_record of an unmanaged record type");

    guarded(
        async {
            for t in [RecordType::A, RecordType::Mx] {
                let read = dns.get_record(&zone, &good, &t).await?;
                assert!(
                    read.is_none(),
                    "a refused ensure_record left a record behind: {read:?}"
                );
            }
            let listed = all_records(dns, &zone).await?;
            assert!(
                !listed.iter().any(|r| r.name.contains(&label)),
                "a refused ensure_record with an invalid name left a record behind"
            );
            Ok(())
        },
        async {
            first_error([
                delete_quietly(dns, &zone, &good, RecordType::A).await,
                delete_quietly(dns, &zone, &good, RecordType::Mx).await,
            ])
        },
    )
    .await
}

/// What the capabilities promise works, and what they deny is `Unsupported`: the proxy flag,
/// and TTL 1 ("automatic").
pub async fn capability_honesty(dns: &dyn DnsProvider, ctx: &DnsContext) -> Result<()> {
    let zone = zone(dns, ctx).await?;
    let caps = dns.capabilities();
    let proxied_name = name_in(&zone, "prx");
    let auto_name = name_in(&zone, "auto");
    guarded(
        async {
            let mut spec =
                RecordSpec::new(&proxied_name, RecordType::A, "192.0.2.60", ttl(dns, 300));
            spec.proxied = Some(true);
            if caps.proxied {
                if caps.automatic_ttl {
                    // Proxied records always use automatic TTL (Cloudflare).
                    spec.ttl = 1;
                }
                let made = dns.ensure_record(&zone, &spec).await?;
                assert_eq!(
                    made.value.proxied,
                    Some(true),
                    "a proxied record reads back unproxied"
                );
                let read = dns.get_record(&zone, &proxied_name, &RecordType::A).await?;
                assert_eq!(
                    read.and_then(|r| r.proxied),
                    Some(true),
                    "get_record of a proxied record"
                );
            } else {
                let err = dns.ensure_record(&zone, &spec).await;
                expect_unsupported(err, "ensure_record with proxied = true");
                let read = dns.get_record(&zone, &proxied_name, &RecordType::A).await?;
                assert!(
                    read.is_none(),
                    "a refused proxied record was created: {read:?}"
                );
            }
            if caps.automatic_ttl {
                let spec = RecordSpec::new(&auto_name, RecordType::Txt, "automatic ttl", 1);
                let made = dns.ensure_record(&zone, &spec).await?;
                assert_eq!(
                    made.value.ttl, 1,
                    "TTL 1 (automatic) reads back as {}",
                    made.value.ttl
                );
            }
            Ok(())
        },
        async {
            first_error([
                delete_quietly(dns, &zone, &proxied_name, RecordType::A).await,
                delete_quietly(dns, &zone, &auto_name, RecordType::Txt).await,
            ])
        },
    )
    .await
}
