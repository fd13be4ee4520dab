//! Fault injection: every injected kind, determinism under a seed, the n-th call rule,
//! after-effect errors, latency under paused time, and rate-limit quotas.

use provisio::compute::InstanceSpec;
use provisio::dns::{RecordSpec, RecordType};
use provisio::storage::BucketSpec;
use provisio::types::ownership;
use provisio::{
    Compute, DnsProvider, ErrorKind, ObjectStorage, Outcome, Provider, Quota, SecretStore,
    SecretString, Tags,
};
use provisio_memory::{CallOutcome, Faults, MemoryCloud, MemoryDns, MemoryStorage};
use std::time::Duration;
use tokio::time::Instant;

fn all_kinds() -> Vec<ErrorKind> {
    vec![
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Conflict,
        ErrorKind::InvalidInput,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_millis(1500)),
        },
        ErrorKind::RateLimited { retry_after: None },
        ErrorKind::Transient,
        ErrorKind::Timeout,
        ErrorKind::Protected,
        ErrorKind::Unsupported,
        ErrorKind::Cancelled,
        ErrorKind::Unexpected,
    ]
}

#[tokio::test]
async fn every_injected_kind_surfaces_with_its_retryable_flag() {
    for kind in all_kinds() {
        let faults = Faults::new(1);
        faults.error_on_call("storage.ensure_bucket", 1, kind.clone());
        let s3 = MemoryStorage::with_faults(faults.clone());
        let err = s3
            .ensure_bucket(&BucketSpec::new("acme-assets"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), &kind);
        assert_eq!(err.retryable(), kind.is_retryable(), "{kind}");
        assert_eq!(err.provider(), Some("memory"));
        assert_eq!(err.operation(), Some("storage.ensure_bucket"));
        assert_eq!(err.resource(), Some("acme-assets"));
        if let ErrorKind::RateLimited { retry_after } = &kind {
            assert_eq!(err.retry_after(), *retry_after);
        }
        // A pre-effect fault changes nothing.
        assert!(s3.inventory().is_empty(), "{kind}");
        assert_eq!(faults.mutations("*"), 0);
        let log = faults.call_log();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].outcome, CallOutcome::Injected { kind: kind.clone() });
        // The next call goes through.
        let ok = s3
            .ensure_bucket(&BucketSpec::new("acme-assets"))
            .await
            .unwrap();
        assert_eq!(ok.outcome, Outcome::Created);
    }
}

async fn run_concurrent(seed: u64) -> (Vec<(String, u64)>, u64) {
    let cloud = MemoryCloud::new(seed);
    cloud
        .faults
        .error_rate("storage.put_object", 0.3, ErrorKind::Transient);
    cloud.faults.error_rate("dns.*", 0.2, ErrorKind::Timeout);
    cloud
        .storage
        .ensure_bucket(&BucketSpec::new("shared-bucket"))
        .await
        .unwrap();
    let zone = cloud.dns.add_zone("example.com");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let storage = cloud.storage.clone();
        let dns = cloud.dns.clone();
        let zone = zone.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            for i in 0..25 {
                if storage
                    .put_object("shared-bucket", &format!("t{t}/{i}"), "x".into(), None)
                    .await
                    .is_ok()
                {
                    ok += 1;
                }
                tokio::task::yield_now().await;
                let spec = RecordSpec::new(
                    format!("h{t}-{i}.example.com"),
                    RecordType::A,
                    "192.0.2.1",
                    300,
                );
                if dns.ensure_record(&zone, &spec).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    assert_eq!(cloud.faults.calls("storage.put_object"), 200);
    assert_eq!(cloud.faults.calls("dns.ensure_record"), 200);
    let injected: Vec<(String, u64)> = cloud
        .faults
        .injected()
        .into_iter()
        .map(|r| (r.operation, r.call))
        .collect();
    assert_eq!(ok + injected.len() as u64, 400);
    assert_eq!(
        cloud.inventory().count("storage.object") as u64,
        cloud.faults.mutations("storage.put_object")
    );
    (injected, ok)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_seed_same_failures_even_with_concurrent_tasks() {
    let (a, ok_a) = run_concurrent(7).await;
    let (b, ok_b) = run_concurrent(7).await;
    assert_eq!(a, b);
    assert_eq!(ok_a, ok_b);
    // roughly the configured rates (30% of 200 and 20% of 200)
    let puts = a
        .iter()
        .filter(|(op, _)| op == "storage.put_object")
        .count();
    let dns = a.iter().filter(|(op, _)| op == "dns.ensure_record").count();
    assert!((30..=90).contains(&puts), "{puts}");
    assert!((15..=70).contains(&dns), "{dns}");
    let (c, _) = run_concurrent(8).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn nth_call_rule_fires_once() {
    let faults = Faults::new(3);
    faults.error_on_call("dns.ensure_record", 3, ErrorKind::Conflict);
    let dns = MemoryDns::with_faults(faults.clone());
    let zone = dns.add_zone("example.com");
    let mut results = Vec::new();
    for i in 0..5 {
        let spec = RecordSpec::new(format!("h{i}.example.com"), RecordType::A, "192.0.2.1", 300);
        results.push(dns.ensure_record(&zone, &spec).await.map(|e| e.outcome));
    }
    assert!(results[0].is_ok() && results[1].is_ok());
    let e = results[2].as_ref().unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(!e.retryable());
    assert_eq!(e.resource(), Some("A h2.example.com"));
    assert!(results[3].is_ok() && results[4].is_ok());
    assert_eq!(dns.inventory().count("dns.record"), 4);
    assert_eq!(faults.calls("dns.ensure_record"), 5);
    assert_eq!(faults.mutations("dns.ensure_record"), 4);
    // "*" matches every operation (per-operation call index)
    faults.error_on_call("*", 1, ErrorKind::Unexpected);
    assert_eq!(
        dns.find_zone("example.com").await.unwrap_err().kind(),
        &ErrorKind::Unexpected
    );
    assert!(dns.find_zone("example.com").await.is_ok());
}

#[tokio::test]
async fn after_effect_error_applies_the_change_and_loses_the_response() {
    let cloud = MemoryCloud::new(5);
    cloud
        .faults
        .error_after_effect("secrets.put_secret", 1, ErrorKind::Transient);
    let pw = SecretString::new("hunter22");
    let err = cloud
        .secrets
        .put_secret("acme-db", &pw, &Tags::new())
        .await
        .unwrap_err();
    assert!(err.retryable());
    assert!(!err.to_string().contains("hunter22"));
    // The change happened.
    assert!(
        cloud
            .secrets
            .describe_secret("acme-db")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(cloud.faults.mutations("secrets.put_secret"), 1);
    assert!(matches!(
        cloud.faults.call_log()[0].outcome,
        CallOutcome::InjectedAfterEffect { changed: true, .. }
    ));
    // The retry finds it done.
    let again = cloud
        .secrets
        .put_secret("acme-db", &pw, &Tags::new())
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(cloud.faults.mutations("secrets.put_secret"), 1);

    // A lost launch response: the retry adopts the instance instead of launching another.
    cloud
        .faults
        .error_after_effect("compute.launch_instance", 1, ErrorKind::Timeout);
    let spec = InstanceSpec {
        name: "acme-web".into(),
        image: "ami-1".into(),
        size: "t3.small".into(),
        tags: ownership::tags("acme", "launch", "web"),
        user_data: None,
        idempotency_key: "acme-web-1".into(),
    };
    assert_eq!(
        cloud
            .compute
            .launch_instance(&spec)
            .await
            .unwrap_err()
            .kind(),
        &ErrorKind::Timeout
    );
    let adopted = cloud.compute.launch_instance(&spec).await.unwrap();
    assert_eq!(adopted.outcome, Outcome::Unchanged);
    assert_eq!(cloud.inventory().count("compute.instance"), 1);
    assert_eq!(cloud.faults.mutations("compute.launch_instance"), 1);
}

#[tokio::test(start_paused = true)]
async fn latency_uses_tokio_time() {
    let faults = Faults::new(9);
    faults.latency("dns.find_zone", Duration::from_secs(2));
    let dns = MemoryDns::with_faults(faults.clone());
    dns.add_zone("example.com");
    let t0 = Instant::now();
    dns.find_zone("example.com").await.unwrap();
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    // Other operations are not delayed.
    let t1 = Instant::now();
    let zone = dns.add_zone("example.com");
    dns.get_record(&zone, "www.example.com", &RecordType::A)
        .await
        .unwrap();
    assert_eq!(t1.elapsed(), Duration::ZERO);

    // Uniform latency: within bounds and the same for the same seed.
    let delays = |seed: u64| async move {
        let faults = Faults::new(seed);
        faults.latency_between("*", Duration::from_millis(10), Duration::from_millis(100));
        let dns = MemoryDns::with_faults(faults);
        let mut v = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            dns.find_zone("example.com").await.unwrap();
            v.push(t.elapsed());
        }
        v
    };
    let a = delays(1).await;
    assert!(
        a.iter()
            .all(|d| (Duration::from_millis(10)..=Duration::from_millis(100)).contains(d))
    );
    assert!(a.iter().any(|d| *d != a[0]), "latencies should vary");
    assert_eq!(a, delays(1).await);
    assert_ne!(a, delays(2).await);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_quota_per_account() {
    let cloud = MemoryCloud::new(11);
    let account = cloud.dns.info().account;
    assert_eq!(cloud.dns.info().name, "memory");
    assert_eq!(cloud.dns.info().quota, None);
    let quota = Quota::new(3, Duration::from_secs(10));
    // Undeclared: the client cannot pace for it, so the provider's own windows refuse.
    cloud.faults.undeclared_rate_limit(&account, quota);
    assert_eq!(cloud.dns.info().quota, None);
    assert_eq!(cloud.storage.info().quota, None);

    for _ in 0..3 {
        cloud.dns.find_zone("example.com").await.unwrap();
    }
    tokio::time::advance(Duration::from_secs(4)).await;
    let err = cloud.dns.find_zone("example.com").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }));
    assert!(err.retryable());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(6)));
    assert_eq!(err.provider(), Some("memory"));
    // Another account is not limited.
    cloud.storage.get_bucket("some-bucket").await.unwrap();
    // After the window, calls go through again.
    tokio::time::advance(err.retry_after().unwrap()).await;
    cloud.dns.find_zone("example.com").await.unwrap();
    assert_eq!(cloud.faults.calls("dns.*"), 5);
    assert_eq!(cloud.faults.injected().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_declared_quota_is_paced_by_the_client_and_never_refused() {
    let cloud = MemoryCloud::new(12);
    // an account of its own: the pacing bucket is process-wide
    let dns =
        provisio_memory::MemoryDns::with_faults(cloud.faults.clone()).with_account("paced-dns");
    let quota = Quota::new(3, Duration::from_secs(3));
    cloud.faults.rate_limit("paced-dns", quota);
    assert_eq!(dns.info().quota, Some(quota), "declared");
    let start = tokio::time::Instant::now();
    let tally = std::sync::Arc::new(provisio::requests::RequestTally::default());
    provisio::requests::counted(tally.clone(), async {
        for _ in 0..7 {
            dns.find_zone("example.com").await.unwrap();
        }
    })
    .await;
    // seven calls paced at one per second: the last one six seconds after the first
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    assert!(cloud.faults.injected().is_empty(), "none refused");
    assert_eq!(tally.total(), 7, "every call counted in the step");
    assert_eq!(tally.by_service()["memory"], 7);
}

#[tokio::test]
async fn rolled_back_apply_leaves_the_inventory_as_it_was() {
    use provisio::database::{DatabaseSpec, RoleSpec};
    use provisio::{Confirm, Database};
    let cloud = MemoryCloud::new(1);
    let zone = cloud.dns.add_zone("example.com");
    let before = cloud.inventory();
    let retired_before = cloud.retired();

    // apply
    cloud
        .dns
        .ensure_record(
            &zone,
            &RecordSpec::new("acme.example.com", RecordType::A, "192.0.2.7", 300),
        )
        .await
        .unwrap();
    cloud
        .storage
        .ensure_bucket(&BucketSpec::new("acme-assets"))
        .await
        .unwrap();
    cloud
        .database
        .ensure_role(&RoleSpec {
            name: "acme".into(),
            password: SecretString::new("pw"),
        })
        .await
        .unwrap();
    cloud
        .database
        .ensure_database(&DatabaseSpec {
            name: "acme".into(),
            owner: "acme".into(),
        })
        .await
        .unwrap();
    cloud
        .secrets
        .put_secret("acme-db", &SecretString::new("pw"), &Tags::new())
        .await
        .unwrap();
    let during = cloud.inventory();
    assert_eq!(during.len(), before.len() + 5);
    assert!(
        before
            .diff(&during)
            .contains("+ dns.record A acme.example.com")
    );

    // roll back
    cloud
        .dns
        .delete_record(&zone, "acme.example.com", &RecordType::A)
        .await
        .unwrap();
    cloud.storage.delete_bucket("acme-assets").await.unwrap();
    cloud
        .database
        .drop_database("acme", &Confirm::named("acme"))
        .await
        .unwrap();
    cloud
        .database
        .drop_role("acme", &Confirm::named("acme"))
        .await
        .unwrap();
    cloud.secrets.delete_secret("acme-db", 7).await.unwrap();

    assert_eq!(
        cloud.inventory(),
        before,
        "{}",
        before.diff(&cloud.inventory())
    );
    // The soft delete stays observable, and so does the purge.
    assert_ne!(cloud.retired(), retired_before);
    assert_eq!(cloud.retired().count("secrets.deleted_secret"), 1);
    cloud
        .secrets
        .purge_secret("acme-db", &Confirm::named("acme-db"))
        .await
        .unwrap();
    assert_eq!(cloud.retired(), retired_before);
}
