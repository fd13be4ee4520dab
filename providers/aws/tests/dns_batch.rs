//! Route 53 changes of concurrent callers in one zone share `ChangeResourceRecordSets`
//! requests (`src/dns_batch.rs`), and each caller still gets its own answer, its own
//! existence report and its own request count.
//!
//! The requests are counted where they leave for moto, in a proxy in front of it
//! (`common::wire_log`: every `POST .../rrset/` is one `ChangeResourceRecordSets`), and in each
//! caller's [`RequestTally`]. To make a batch form deterministically, a test first takes the
//! account's only rate-limit token (a quota of 2 per second on an account of its own): the
//! first change then waits half a second for the next token, and every change made meanwhile
//! joins it.
//!
//! ```sh
//! PROVISIO_TEST_AWS_ENDPOINT=http://127.0.0.1:5055 cargo test -p provisio-aws --test dns_batch -- --nocapture
//! ```

mod common;

use provisio::dns::Record;
use provisio::dns::{RecordSpec, RecordType, Zone};
use provisio::existence::{Existence, watched};
use provisio::requests::{RequestTally, counted};
use provisio::{Deleted, DnsProvider, Ensured, Outcome, PageRequest, Provider, Result};
use provisio_aws::Route53Dns;
use std::sync::Arc;
use std::time::Duration;

const SERVICE: &str = "aws-route53";

/// A Route 53 provider on an account of its own, paced at 2 requests per second, with the
/// change requests it sends counted on the wire; and a zone of its own.
struct Setup {
    dns: Arc<Route53Dns>,
    /// Another instance (another process): it knows nothing of what `dns` wrote.
    other: Arc<Route53Dns>,
    /// Every request that left for moto.
    wire: common::wire_log::Log,
    zone: Zone,
}

impl Setup {
    async fn new(endpoint: &str) -> Result<Setup> {
        Setup::paced(endpoint, 2).await
    }

    /// [`Setup::new`] at `per_second` requests per second (Route 53's own limit is 5).
    async fn paced(endpoint: &str, per_second: u32) -> Result<Setup> {
        let (proxy, wire) = common::wire_log::start(endpoint).await;
        let mut config: provisio_aws::AwsConfig = serde_json::from_value(serde_json::json!({
            "region": "us-east-1",
            "endpoint_url": proxy,
            "account": provisio_testkit::unique("acct"),
            "rate_limits": { "route53": { "requests": per_second, "per_secs": 1 } },
        }))
        .map_err(|e| provisio::Error::unexpected(e.to_string()))?;
        config.static_credentials =
            provisio_aws::AwsConfig::for_emulator(endpoint).static_credentials;
        let aws = provisio_aws::Aws::connect(config).await?;
        let zone_name = format!("{}.batch.test", provisio_testkit::unique("zone"));
        common::ensure_zone(&aws, &zone_name).await?;
        let dns = aws.dns();
        let zone = dns.find_zone(&zone_name).await?.expect("the zone");
        let other = aws.dns();
        other.find_zone(&zone_name).await?;
        Ok(Setup {
            dns,
            other,
            wire,
            zone,
        })
    }

    /// A record name of its own in the zone (moto cannot re-create a deleted CNAME).
    fn name(&self, label: &str) -> String {
        format!("{}.{}", provisio_testkit::unique(label), self.zone.name)
    }

    /// Change requests sent so far.
    fn sent(&self) -> usize {
        self.wire
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.method == "POST" && p.path().trim_end_matches('/').ends_with("/rrset"))
            .count()
    }

    /// Takes the account's only token: the next request waits half a second for one.
    async fn make_busy(&self) {
        provisio::requests::limiter()
            .acquire(&self.dns.info())
            .await;
    }
}

/// What one step saw: its result, the requests it counted, what it reported as found.
struct Step<T> {
    result: Result<T>,
    requests: u64,
    found: Option<bool>,
}

/// Starts `fut` as one engine step would: in a task of its own (started now), counted and
/// watched.
fn step<T, F>(fut: F) -> impl std::future::Future<Output = Step<T>> + use<T, F>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let tally = Arc::new(RequestTally::default());
    let seen = Arc::new(Existence::default());
    let task = tokio::spawn(counted(tally.clone(), watched(seen.clone(), fut)));
    async move {
        let result = task.await.expect("the step's task");
        Step {
            result,
            requests: tally.by_service().get(SERVICE).copied().unwrap_or(0),
            found: seen.get(),
        }
    }
}

fn ensure(
    dns: &Arc<Route53Dns>,
    zone: &Zone,
    spec: RecordSpec,
) -> impl std::future::Future<Output = Step<Ensured<Record>>> + use<> {
    let (dns, zone) = (dns.clone(), zone.clone());
    step(async move { dns.ensure_record(&zone, &spec).await })
}

fn delete(
    dns: &Arc<Route53Dns>,
    zone: &Zone,
    name: &str,
    record_type: RecordType,
) -> impl std::future::Future<Output = Step<Deleted>> + use<> {
    let (dns, zone, name) = (dns.clone(), zone.clone(), name.to_string());
    step(async move { dns.delete_record(&zone, &name, &record_type).await })
}

fn endpoint(case: &str) -> Option<String> {
    let e = provisio_testkit::endpoint_from_env("AWS_ENDPOINT");
    if e.is_none() {
        provisio_testkit::skip(case, "AWS_ENDPOINT");
    }
    e
}

#[test]
fn concurrent_creates_share_one_request() {
    let Some(endpoint) = endpoint("concurrent_creates_share_one_request") else {
        return;
    };
    provisio_testkit::run_case("concurrent_creates_share_one_request", async move {
        let s = Setup::new(&endpoint).await?;
        let n = 12;
        let specs: Vec<RecordSpec> = (0..n)
            .map(|i| match i % 3 {
                0 => RecordSpec::new(s.name("a"), RecordType::A, format!("192.0.2.{i}"), 300),
                1 => RecordSpec::new(s.name("www"), RecordType::Cname, "web.example.test", 300),
                _ => RecordSpec::new(s.name("txt"), RecordType::Txt, format!("v=batch{i}"), 300),
            })
            .collect();
        s.make_busy().await;
        let before = s.sent();
        let steps = futures_join(
            specs
                .iter()
                .map(|spec| ensure(&s.dns, &s.zone, spec.clone())),
        )
        .await;
        let sent = s.sent() - before;
        assert_eq!(
            sent, 1,
            "{n} concurrent CREATEs while the zone is busy: one request"
        );
        let mut counted = 0;
        for (spec, step) in specs.iter().zip(&steps) {
            let made = step.result.as_ref().expect("created");
            assert_eq!(made.outcome, Outcome::Created, "{}", spec.name);
            assert_eq!(step.found, Some(false), "{}: reported absent", spec.name);
            counted += step.requests;
        }
        assert_eq!(
            counted, 1,
            "the batch is counted once, in one caller's step"
        );
        let listed = s
            .other
            .list_records(&s.zone, &PageRequest::default())
            .await?
            .items;
        for spec in &specs {
            let read = listed
                .iter()
                .find(|r| r.name == spec.name && r.record_type == spec.record_type);
            assert!(read.expect("the record").matches(spec), "{}", spec.name);
        }
        eprintln!("{n} concurrent ensure_record calls: {sent} ChangeResourceRecordSets");

        // Without the token taken first, they still share requests: the first leaves at
        // once, the others join the next one(s).
        let specs: Vec<RecordSpec> = (0..n)
            .map(|i| RecordSpec::new(s.name("b"), RecordType::A, format!("192.0.2.{i}"), 300))
            .collect();
        let before = s.sent();
        let steps = futures_join(
            specs
                .iter()
                .map(|spec| ensure(&s.dns, &s.zone, spec.clone())),
        )
        .await;
        let sent = s.sent() - before;
        assert!(sent <= 3, "{n} concurrent CREATEs took {sent} requests");
        assert!(steps.iter().all(|st| {
            st.result
                .as_ref()
                .is_ok_and(|e| e.outcome == Outcome::Created)
        }));
        assert_eq!(steps.iter().map(|st| st.requests).sum::<u64>(), sent as u64);
        eprintln!(
            "{n} concurrent ensure_record calls, zone idle at first: {sent} ChangeResourceRecordSets"
        );
        Ok(())
    });
}

/// The benchmark's fleet: 20 tenants of 3 records each (A, CNAME, TXT) in one shared zone,
/// every record its own step, at Route 53's 5 requests per second. One request per record
/// was 60 requests (12 s of the account's quota); batched they share a few.
#[test]
fn a_fleet_of_tenants_shares_change_requests() {
    let Some(endpoint) = endpoint("a_fleet_of_tenants_shares_change_requests") else {
        return;
    };
    provisio_testkit::run_case("a_fleet_of_tenants_shares_change_requests", async move {
        let s = Setup::paced(&endpoint, 5).await?;
        let tenants = 20;
        let mut specs = Vec::new();
        for _ in 0..tenants {
            let host = s.name("tn");
            specs.push(RecordSpec::new(&host, RecordType::A, "192.0.2.80", 300));
            specs.push(RecordSpec::new(
                format!("staging.{host}"),
                RecordType::Cname,
                host.clone(),
                300,
            ));
            specs.push(RecordSpec::new(&host, RecordType::Txt, "v=spf1 -all", 300));
        }
        let before = s.sent();
        let started = std::time::Instant::now();
        let steps = futures_join(
            specs
                .iter()
                .map(|spec| ensure(&s.dns, &s.zone, spec.clone())),
        )
        .await;
        let took = started.elapsed();
        let sent = s.sent() - before;
        for (spec, st) in specs.iter().zip(&steps) {
            let made = st.result.as_ref().expect("created");
            assert_eq!(made.outcome, Outcome::Created, "{}", spec.name);
        }
        assert_eq!(steps.iter().map(|st| st.requests).sum::<u64>(), sent as u64);
        // at most: the first change alone, the rest while it is in flight or waits for the
        // token (here the zone lookup of `other` just took it, so all 60 wait together)
        assert!(sent <= 4, "{} records took {sent} requests", specs.len());
        eprintln!(
            "{tenants} tenants x 3 records: {sent} ChangeResourceRecordSets ({:.2} per tenant, was 3), {took:?}",
            sent as f64 / tenants as f64
        );
        Ok(())
    });
}

#[test]
fn a_lone_change_is_one_request_sent_at_once() {
    let Some(endpoint) = endpoint("a_lone_change_is_one_request_sent_at_once") else {
        return;
    };
    provisio_testkit::run_case("a_lone_change_is_one_request_sent_at_once", async move {
        let s = Setup::new(&endpoint).await?;
        // a fresh token: nothing to wait for
        tokio::time::sleep(Duration::from_millis(600)).await;
        let spec = RecordSpec::new(s.name("lone"), RecordType::A, "192.0.2.7", 300);
        let before = s.sent();
        let started = std::time::Instant::now();
        let made = ensure(&s.dns, &s.zone, spec.clone()).await;
        let took = started.elapsed();
        assert_eq!(made.result?.outcome, Outcome::Created);
        assert_eq!((s.sent() - before, made.requests), (1, 1));
        assert!(
            took < Duration::from_millis(400),
            "a lone change waited {took:?}"
        );
        let gone = delete(&s.dns, &s.zone, &spec.name, RecordType::A).await;
        assert_eq!(gone.result?, Deleted::Deleted);
        assert_eq!((s.sent() - before, gone.requests), (2, 1));
        Ok(())
    });
}

#[test]
fn an_existing_record_in_a_batch_does_not_fail_the_others() {
    let Some(endpoint) = endpoint("an_existing_record_in_a_batch_does_not_fail_the_others") else {
        return;
    };
    provisio_testkit::run_case(
        "an_existing_record_in_a_batch_does_not_fail_the_others",
        async move {
            let s = Setup::new(&endpoint).await?;
            // Written by another instance: `dns` knows nothing of it and sends a CREATE.
            let existing = RecordSpec::new(s.name("old"), RecordType::A, "192.0.2.1", 300);
            s.other.ensure_record(&s.zone, &existing).await?;
            let new: Vec<RecordSpec> = (0..4)
                .map(|i| RecordSpec::new(s.name("new"), RecordType::Txt, format!("n{i}"), 300))
                .collect();
            s.make_busy().await;
            let before = s.sent();
            let all = std::iter::once(existing.clone()).chain(new.iter().cloned());
            let steps = futures_join(all.map(|spec| ensure(&s.dns, &s.zone, spec))).await;
            let kept = &steps[0];
            assert_eq!(
                kept.result.as_ref().expect("ensured").outcome,
                Outcome::Unchanged
            );
            assert_eq!(
                kept.found,
                Some(true),
                "the existing record is reported found"
            );
            for (spec, st) in new.iter().zip(&steps[1..]) {
                assert_eq!(
                    st.result.as_ref().expect("created").outcome,
                    Outcome::Created
                );
                assert_eq!(st.found, Some(false), "{}", spec.name);
                let read = s
                    .other
                    .get_record(&s.zone, &spec.name, &RecordType::Txt)
                    .await?;
                assert!(read.is_some_and(|r| r.matches(spec)), "{}", spec.name);
            }
            // the refused batch, then the others again
            let sent = s.sent() - before;
            assert_eq!(
                sent, 2,
                "a refused batch of 5 and its retry without the existing record"
            );
            let counted: u64 = steps.iter().map(|st| st.requests).sum();
            // the two change requests and the existing record's read
            assert_eq!(counted, 3);
            eprintln!("5 CREATEs, one of an existing record: {sent} ChangeResourceRecordSets");
            Ok(())
        },
    );
}

#[test]
fn creates_and_deletes_mix_in_one_batch() {
    let Some(endpoint) = endpoint("creates_and_deletes_mix_in_one_batch") else {
        return;
    };
    provisio_testkit::run_case("creates_and_deletes_mix_in_one_batch", async move {
        let s = Setup::new(&endpoint).await?;
        let old: Vec<RecordSpec> = (0..3)
            .map(|i| RecordSpec::new(s.name("del"), RecordType::A, format!("192.0.2.{i}"), 300))
            .collect();
        for spec in &old {
            s.dns.ensure_record(&s.zone, spec).await?;
        }
        let new: Vec<RecordSpec> = (0..3)
            .map(|i| RecordSpec::new(s.name("add"), RecordType::Txt, format!("a{i}"), 300))
            .collect();
        let missing = s.name("missing");
        s.make_busy().await;
        let before = s.sent();
        let (deleted, created, gone) = tokio::join!(
            futures_join(
                old.iter()
                    .map(|spec| delete(&s.dns, &s.zone, &spec.name, RecordType::A))
            ),
            futures_join(new.iter().map(|spec| ensure(&s.dns, &s.zone, spec.clone()))),
            delete(&s.dns, &s.zone, &missing, RecordType::A),
        );
        assert_eq!(s.sent() - before, 1, "3 DELETEs and 3 CREATEs: one request");
        for st in &deleted {
            assert_eq!(st.result.as_ref().ok(), Some(&Deleted::Deleted));
        }
        for st in &created {
            assert_eq!(
                st.result.as_ref().expect("created").outcome,
                Outcome::Created
            );
        }
        // a record that is not there is read, never changed
        assert_eq!(gone.result?, Deleted::AlreadyGone);
        assert_eq!(gone.requests, 1);
        for spec in &old {
            assert!(
                s.other
                    .get_record(&s.zone, &spec.name, &RecordType::A)
                    .await?
                    .is_none()
            );
        }
        for spec in &new {
            assert!(
                s.other
                    .get_record(&s.zone, &spec.name, &RecordType::Txt)
                    .await?
                    .is_some()
            );
        }
        Ok(())
    });
}

#[test]
fn a_dropped_caller_does_not_break_the_batch() {
    let Some(endpoint) = endpoint("a_dropped_caller_does_not_break_the_batch") else {
        return;
    };
    provisio_testkit::run_case("a_dropped_caller_does_not_break_the_batch", async move {
        let s = Setup::new(&endpoint).await?;
        let kept: Vec<RecordSpec> = (0..2)
            .map(|i| RecordSpec::new(s.name("kept"), RecordType::A, format!("192.0.2.{i}"), 300))
            .collect();
        let dropped = RecordSpec::new(s.name("dropped"), RecordType::A, "192.0.2.9", 300);
        s.make_busy().await;
        let before = s.sent();
        // The first caller (whose change started the zone's sender) and a later one give up
        // before the token comes; the change of the first never leaves.
        let (dns, zone, spec) = (s.dns.clone(), s.zone.clone(), dropped.clone());
        let gave_up = tokio::time::timeout(Duration::from_millis(100), async move {
            dns.ensure_record(&zone, &spec).await
        });
        let (gave_up, steps) = tokio::join!(
            gave_up,
            futures_join(
                kept.iter()
                    .map(|spec| ensure(&s.dns, &s.zone, spec.clone()))
            ),
        );
        assert!(gave_up.is_err(), "the dropped caller timed out");
        for st in &steps {
            assert_eq!(
                st.result.as_ref().expect("created").outcome,
                Outcome::Created
            );
        }
        assert_eq!(s.sent() - before, 1);
        let read = s
            .other
            .get_record(&s.zone, &dropped.name, &RecordType::A)
            .await?;
        assert!(read.is_none(), "the dropped caller's change was not sent");
        for spec in &kept {
            assert!(
                s.other
                    .get_record(&s.zone, &spec.name, &RecordType::A)
                    .await?
                    .is_some()
            );
        }
        // the zone's queue works on: a lone change afterwards
        let later = RecordSpec::new(s.name("later"), RecordType::A, "192.0.2.10", 300);
        assert_eq!(
            ensure(&s.dns, &s.zone, later).await.result?.outcome,
            Outcome::Created
        );
        Ok(())
    });
}

/// Every step of `steps` (each already started in a task of its own), in order.
async fn futures_join<F: std::future::Future>(steps: impl Iterator<Item = F>) -> Vec<F::Output> {
    let started: Vec<F> = steps.collect();
    let mut out = Vec::with_capacity(started.len());
    for step in started {
        out.push(step.await);
    }
    out
}
