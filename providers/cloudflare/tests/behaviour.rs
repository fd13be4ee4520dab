//! The client against the in-process fake: request patterns, error mapping end to end,
//! pagination, unknown record types, rate limiting.

mod common;

use common::{TOKEN, config, fake, fresh_zone};
use provisio::dns::{Record, RecordSpec, RecordType, Zone};
use provisio::{Deleted, DnsProvider, ErrorKind, Outcome, PageRequest, Provider};
use provisio_cloudflare::{CloudflareConfig, CloudflareDns};
use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions, Fault, LoggedRequest};
use std::time::{Duration, Instant};

async fn setup() -> (CloudflareDns, Zone) {
    let name = fresh_zone();
    let dns = CloudflareDns::new(config()).unwrap();
    let zone = dns.find_zone(&name).await.unwrap().expect("zone");
    (dns, zone)
}

/// Where the shared fake's request log is now (the log is never cleared: tests run in
/// parallel).
fn mark() -> usize {
    fake().requests().len()
}

/// The requests since `mark` that touched `zone` (by id) or looked it up (by name), as
/// "METHOD kind".
fn calls(zone: &Zone, mark: usize) -> Vec<String> {
    fake().requests()[mark..]
        .iter()
        .filter(|r| r.path.contains(&zone.id) || r.path.contains(&zone.name))
        .map(|r: &LoggedRequest| {
            let kind = if r.path.starts_with("/zones?") {
                "zones"
            } else if r.path.contains("/dns_records/") {
                "record"
            } else {
                "records"
            };
            format!("{} {kind}", r.method)
        })
        .collect()
}

#[tokio::test]
async fn ensure_reads_first_and_writes_only_what_differs() {
    let (dns, zone) = setup().await;
    let name = format!("www.{}", zone.name);
    let spec = RecordSpec::new(&name, RecordType::A, "192.0.2.1", 300);
    let m = mark();
    let made = dns.ensure_record(&zone, &spec).await.unwrap();
    assert_eq!(made.outcome, Outcome::Created);
    assert_eq!(calls(&zone, m), ["GET records", "POST records"]);

    let stored = fake().records(&zone.name);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].comment.as_deref(), Some("managed by provisio"));
    assert!(!stored[0].proxied);

    let m = mark();
    let same = dns.ensure_record(&zone, &spec).await.unwrap();
    assert_eq!(same.outcome, Outcome::Unchanged);
    assert_eq!(same.value, made.value);
    assert_eq!(
        calls(&zone, m),
        ["GET records"],
        "an unchanged record is not written"
    );

    let m = mark();
    let mut changed = spec.clone();
    changed.content = "192.0.2.2".into();
    let upd = dns.ensure_record(&zone, &changed).await.unwrap();
    assert_eq!(upd.outcome, Outcome::Updated);
    assert_eq!(upd.value.id, made.value.id);
    assert_eq!(calls(&zone, m), ["GET records", "PATCH record"]);
    // PATCH keeps what provisio does not manage (the comment).
    assert_eq!(
        fake().records(&zone.name)[0].comment.as_deref(),
        Some("managed by provisio")
    );

    let m = mark();
    assert_eq!(
        dns.delete_record(&zone, &name, &RecordType::A)
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert_eq!(calls(&zone, m), ["GET records", "DELETE record"]);
    let m = mark();
    assert_eq!(
        dns.delete_record(&zone, &name, &RecordType::A)
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
    assert_eq!(calls(&zone, m), ["GET records"]);
}

#[tokio::test]
async fn invalid_specs_send_nothing() {
    let (dns, zone) = setup().await;
    let name = format!("bad.{}", zone.name);
    let mut specs = vec![
        RecordSpec::new(&name, RecordType::A, "192.0.2.1", 30),
        RecordSpec::new(&name, RecordType::A, "192.0.2.1", 90_000),
        RecordSpec::new(&name, RecordType::Txt, "x".repeat(2049), 300),
        RecordSpec::new("www.elsewhere.example", RecordType::A, "192.0.2.1", 300),
    ];
    let mut proxied_ttl = RecordSpec::new(&name, RecordType::A, "192.0.2.1", 300);
    proxied_ttl.proxied = Some(true);
    specs.push(proxied_ttl);
    let mut proxied_txt = RecordSpec::new(&name, RecordType::Txt, "hello", 1);
    proxied_txt.proxied = Some(true);
    specs.push(proxied_txt);
    let m = mark();
    for spec in &specs {
        let e = dns.ensure_record(&zone, spec).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{spec:?}: {e}");
        assert_eq!(e.provider(), Some("cloudflare"));
        assert_eq!(e.operation(), Some("dns.ensure_record"));
        assert!(e.resource().is_some());
    }
    assert!(
        calls(&zone, m).is_empty(),
        "requests were sent: {:?}",
        calls(&zone, m)
    );
}

#[tokio::test]
async fn api_errors_are_classified() {
    let (dns, zone) = setup().await;
    let name = format!("err.{}", zone.name);
    let spec = RecordSpec::new(&name, RecordType::A, "192.0.2.1", 300);
    let cases = [
        (
            Fault::error(503, 10000, "unavailable"),
            ErrorKind::Transient,
        ),
        (Fault::error(500, 10000, "internal"), ErrorKind::Transient),
        (
            Fault::error(403, 10000, "Authentication error"),
            ErrorKind::PermissionDenied,
        ),
        (
            Fault::error(400, 1004, "DNS Validation Error"),
            ErrorKind::InvalidInput,
        ),
        (
            Fault::error(400, 81057, "Record already exists."),
            ErrorKind::AlreadyExists,
        ),
        (Fault::error(400, 81053, "host exists"), ErrorKind::Conflict),
    ];
    for (fault, kind) in cases {
        fake().inject(fault.on("POST", &zone.id));
        let e = dns.ensure_record(&zone, &spec).await.unwrap_err();
        assert_eq!(e.kind(), &kind, "{e}");
        assert_eq!(e.retryable(), kind.is_retryable());
        assert!(e.message().contains("Cloudflare API HTTP"), "{e}");
    }
    // A wrong token is Unauthenticated (the fake answers 403 with 9109).
    let wrong =
        CloudflareDns::new(CloudflareConfig::for_endpoint(fake().url(), "wrong").with_quota(0, 1))
            .unwrap();
    let e = wrong.find_zone(&zone.name).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(!e.to_string().contains(TOKEN));
    assert!(!e.to_string().contains("wrong"), "{e}");
    // A record deleted between lookup and delete (81044) is already gone.
    dns.ensure_record(&zone, &spec).await.unwrap();
    fake().inject(Fault::error(404, 81044, "Record does not exist.").on("DELETE", &zone.id));
    assert_eq!(
        dns.delete_record(&zone, &name, &RecordType::A)
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
    // An unknown zone id is NotFound.
    let ghost = Zone {
        id: "f".repeat(32),
        name: zone.name.clone(),
    };
    let e = dns
        .list_records(&ghost, &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn timeouts_are_timeouts() {
    let (_, zone) = setup().await;
    let mut c = config();
    c.timeout_secs = 1;
    let dns = CloudflareDns::new(c).unwrap();
    fake().inject(Fault::delay(Duration::from_millis(2500)).on("GET", &zone.id));
    let e = dns
        .get_record(&zone, &format!("slow.{}", zone.name), &RecordType::A)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Timeout, "{e}");
    assert!(e.retryable());
}

#[tokio::test]
async fn cloudflare_conflicts_map_to_conflict() {
    let (dns, zone) = setup().await;
    let name = format!("c.{}", zone.name);
    dns.ensure_record(
        &zone,
        &RecordSpec::new(&name, RecordType::Cname, "lb.example.net", 300),
    )
    .await
    .unwrap();
    let e = dns
        .ensure_record(&zone, &RecordSpec::new(&name, RecordType::Txt, "x", 300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.message().contains("81054"), "{e}");
}

#[tokio::test]
async fn several_records_of_one_name_and_type_are_a_conflict() {
    let (dns, zone) = setup().await;
    let name = format!("multi.{}", zone.name);
    fake().insert_record(&zone.name, "A", &name, "192.0.2.1", None);
    fake().insert_record(&zone.name, "A", &name, "192.0.2.2", None);
    let spec = RecordSpec::new(&name, RecordType::A, "192.0.2.1", 300);
    for e in [
        dns.ensure_record(&zone, &spec).await.unwrap_err(),
        dns.get_record(&zone, &name, &RecordType::A)
            .await
            .unwrap_err(),
        dns.delete_record(&zone, &name, &RecordType::A)
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    }
    assert_eq!(fake().records(&zone.name).len(), 2, "nothing was touched");
}

#[tokio::test]
async fn every_record_type_lists_and_pages_are_followed() {
    let (dns, zone) = setup().await;
    let z = zone.name.clone();
    fake().insert_record(&z, "NS", &z, "ns1.example.net", None);
    fake().insert_record(
        &z,
        "SRV",
        &format!("_sip._tcp.{z}"),
        "10 5 5060 sip.example.net",
        Some(serde_json::json!({"priority": 10, "weight": 5, "port": 5060, "target": "sip.example.net"})),
    );
    fake().insert_record(
        &z,
        "CAA",
        &z,
        "0 issue \"ca.example.net\"",
        Some(serde_json::json!({"flags": 0, "tag": "issue", "value": "ca.example.net"})),
    );
    for i in 0..247 {
        fake().insert_record(&z, "A", &format!("h{i:03}.{z}"), "192.0.2.9", None);
    }
    let m = mark();
    let all: Vec<Record> = dns.list_all_records(&zone).await.unwrap();
    assert_eq!(all.len(), 250);
    assert_eq!(
        calls(&zone, m).len(),
        3,
        "250 records come in 3 pages of 100"
    );
    for t in ["NS", "SRV", "CAA"] {
        assert!(
            all.iter()
                .any(|r| r.record_type == RecordType::Other(t.to_string())),
            "{t} is listed as Other"
        );
    }
    let ns = dns
        .get_record(&zone, &z, &RecordType::Other("NS".into()))
        .await
        .unwrap()
        .expect("the NS record");
    assert_eq!(ns.content, "ns1.example.net");

    // The trait's paging: page numbers as tokens.
    let mut req = PageRequest::with_limit(120);
    let mut seen = 0;
    let mut pages = 0;
    loop {
        let page = dns.list_records(&zone, &req).await.unwrap();
        assert!(page.items.len() <= 120);
        seen += page.items.len();
        pages += 1;
        match req.next(&page) {
            Some(n) => req = n,
            None => break,
        }
    }
    assert_eq!((seen, pages), (250, 3));
    let e = dns
        .list_records(
            &zone,
            &PageRequest {
                token: Some("zero".into()),
                limit: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput);
}

#[tokio::test]
async fn rate_limited_answers_pause_the_account() {
    // A fake of its own: the pause must not slow down the other tests.
    let fake = FakeCloudflare::start(FakeOptions::default().token("t").zone("rl.example")).unwrap();
    let dns =
        CloudflareDns::new(CloudflareConfig::for_endpoint(fake.url(), "t").with_quota(1000, 1))
            .unwrap();
    fake.inject(Fault::rate_limited(1));
    let e = dns.find_zone("rl.example").await.unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(e.retryable());
    let start = Instant::now();
    assert!(dns.find_zone("rl.example").await.unwrap().is_some());
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "the next request waited for retry-after: {:?}",
        start.elapsed()
    );

    // The fake's own quota answers 429 with retry-after once a window is full.
    fake.set_quota(Some(provisio_fake_cloudflare::Quota {
        requests: 2,
        window: Duration::from_secs(30),
    }));
    let unpaced =
        CloudflareDns::new(CloudflareConfig::for_endpoint(fake.url(), "t").with_quota(0, 1))
            .unwrap();
    unpaced.find_zone("rl.example").await.unwrap();
    unpaced.find_zone("rl.example").await.unwrap();
    let e = unpaced.find_zone("rl.example").await.unwrap_err();
    match e.kind() {
        ErrorKind::RateLimited {
            retry_after: Some(d),
        } => assert!(*d >= Duration::from_secs(1) && *d <= Duration::from_secs(30)),
        other => panic!("expected RateLimited with a hint, got {other}"),
    }
}

#[tokio::test]
async fn info_declares_the_quota() {
    let dns = CloudflareDns::new(CloudflareConfig::for_endpoint(fake().url(), TOKEN)).unwrap();
    let info = dns.info();
    assert_eq!(info.name, "cloudflare");
    assert!(info.account.starts_with("token-"));
    assert!(!info.account.contains(TOKEN));
    // paced at the documented 1200 per 5 minutes less one request of headroom per window
    let q = info.quota.expect("quota");
    assert_eq!((q.requests, q.per), (1199, Duration::from_secs(300)));
    let dns = CloudflareDns::new(
        CloudflareConfig::for_endpoint(fake().url(), TOKEN)
            .with_account("0123456789abcdef0123456789abcdef")
            .with_quota(20, 2),
    )
    .unwrap();
    // the account, and the endpoint when it is not Cloudflare's own
    assert_eq!(
        dns.info().account,
        format!("0123456789abcdef0123456789abcdef@{}", fake().url())
    );
    assert_eq!(dns.info().quota.unwrap().requests, 19);
    let caps = dns.capabilities();
    assert!(caps.proxied && caps.automatic_ttl && !caps.waits_for_sync);
    assert_eq!(caps.min_ttl, 60);
    // No token at all: Unauthenticated before anything is sent.
    let e = CloudflareDns::new(CloudflareConfig {
        api_token_env: "PROVISIO_CLOUDFLARE_SURELY_UNSET".into(),
        ..CloudflareConfig::default()
    })
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_paced_inside_the_quota() {
    let fake = FakeCloudflare::start(
        FakeOptions::default()
            .token("t")
            .zone("paced.example")
            .quota(10, Duration::from_secs(1)),
    )
    .unwrap();
    let dns = std::sync::Arc::new(
        CloudflareDns::new(CloudflareConfig::for_endpoint(fake.url(), "t").with_quota(10, 1))
            .unwrap(),
    );
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let dns = dns.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                dns.find_zone("paced.example").await.unwrap().unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let log = fake.requests();
    assert_eq!(log.len(), 20);
    assert!(log.iter().all(|r| r.status == 200), "no 429: {log:?}");
    let peak = provisio_fake_cloudflare::max_in_window(&log, Duration::from_secs(1));
    assert!(peak <= 10, "{peak} requests within one second");
    // 20 requests at 9 per second take about two seconds.
    assert!(
        start.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
}

/// A CNAME written with or without the trailing dot reads back as the caller's canonical form,
/// and each request is counted in the step's tally under `cloudflare`.
#[tokio::test]
async fn cname_targets_read_back_as_written_and_requests_are_counted() {
    use provisio::requests::{RequestTally, counted};
    let (dns, zone) = setup().await;
    for (label, target) in [("plain", "web.example.net"), ("dotted", "Web.Example.NET.")] {
        let name = format!("{label}.{}", zone.name);
        let spec = RecordSpec::new(&name, RecordType::Cname, target, 300);
        let tally = std::sync::Arc::new(RequestTally::default());
        let made = counted(tally.clone(), dns.ensure_record(&zone, &spec))
            .await
            .unwrap();
        // lookup + POST
        assert_eq!(tally.by_service()["cloudflare"], 2, "{target}");
        assert_eq!(made.value.content, "web.example.net", "{target}");
        let read = dns
            .get_record(&zone, &name, &RecordType::Cname)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.content, "web.example.net", "{target}");
        assert!(read.matches(&spec.validated().unwrap()));
    }
}
