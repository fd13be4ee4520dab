use super::*;
use crate::state::conformance;

const URL_VAR: &str = "PROVISIO_TEST_POSTGRES_URL";

/// The test database URL, or `None` after printing why the test is skipped.
fn url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            println!("skipped: {URL_VAR} not set");
            None
        }
    }
}

/// `url` with more query parameters.
fn with_params(url: &str, params: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{params}")
}

/// A fresh schema name for one test, dropped by [`drop_schema`].
fn fresh_schema() -> String {
    conformance::unique("provisio_test").replace('-', "_")
}

async fn drop_schema(url: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_postgres() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let store = PostgresStateStore::connect_with_schema(&url, &schema)
        .await
        .unwrap();
    assert_eq!(store.schema(), schema);
    conformance::run_all(Arc::new(store)).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_connects_migrate_once_and_one_worker_wins_the_lease() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    // Eight workers start at once on a fresh schema.
    let connects = (0..8).map(|_| PostgresStateStore::connect_with_schema(&url, &schema));
    let stores: Vec<PostgresStateStore> = futures::future::join_all(connects)
        .await
        .into_iter()
        .collect::<Result<_>>()
        .unwrap();
    assert_eq!(stores[0].schema_version().await.unwrap(), 3);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let applied: i64 = client
        .query_one(
            &format!("SELECT COUNT(*) FROM \"{schema}\".schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, MIGRATIONS.len() as i64);

    // Each worker has its own connection: exactly one gets the lease.
    let ttl = Duration::from_secs(30);
    let attempts = stores
        .iter()
        .enumerate()
        .map(|(i, s)| async move { s.acquire_lease("contended", &format!("w{i}"), ttl).await });
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<&Lease> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert_eq!(e.kind(), &ErrorKind::Conflict);
            assert!(e.to_string().contains(&winners[0].owner), "{e}");
        }
    }

    // Appends from every worker at once keep per-tenant order.
    let appends = stores.iter().flat_map(|s| {
        (0..10).map(move |i| async move {
            let e = conformance::sample_entry("t", "r", &format!("k{i}"), JournalPhase::Intent);
            s.append_journal(&e).await.unwrap()
        })
    });
    let mut seqs = futures::future::join_all(appends).await;
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 80);
    let journal = stores[0].journal("t", 0).await.unwrap();
    assert_eq!(journal.iter().map(|e| e.seq).collect::<Vec<_>>(), seqs);
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_the_connection_drops() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    // one connection, so the next call is the one that finds it dropped
    let store = PostgresStateStore::connect_with_schema(&with_params(&url, "pool_size=1"), &schema)
        .await
        .unwrap();
    let pid: i32 = store
        .conn()
        .await
        .unwrap()
        .client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .await
        .unwrap();
    // The call in flight may fail (transient); a later one reconnects.
    let mut ok = false;
    for _ in 0..50 {
        match store.list_tenants().await {
            Ok(_) => {
                ok = true;
                break;
            }
            Err(e) => {
                assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(ok, "the store never reconnected");
    drop_schema(&url, &schema).await;
}

/// The backends the server shows for `application_name`.
async fn backends(url: &str, app: &str) -> Vec<i32> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid",
            &[&app],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_pool_opens_at_most_pool_size_connections_and_reopens_the_dropped_ones() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let app = schema.clone();
    let store_url = with_params(&url, &format!("pool_size=3&application_name={app}"));
    let store = PostgresStateStore::connect_with_schema(&store_url, &schema)
        .await
        .unwrap();
    assert_eq!((store.pool_size(), store.open_connections()), (3, 1));
    let calls = (0..60).map(|i| {
        let store = &store;
        async move {
            let e = conformance::sample_entry("t", "r", &format!("k{i}"), JournalPhase::Intent);
            store.append_journal(&e).await.unwrap();
            store.list_tenants().await.unwrap();
        }
    });
    futures::future::join_all(calls).await;
    assert_eq!(store.open_connections(), 3);
    let pids = backends(&url, &app).await;
    assert_eq!(pids.len(), 3, "the server sees the pool: {pids:?}");
    assert_eq!(store.journal("t", 0).await.unwrap().len(), 60);

    // every connection dropped: the calls that find one dropped fail (transient) or open it again
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for pid in &pids {
        client
            .execute("SELECT pg_terminate_backend($1)", &[pid])
            .await
            .unwrap();
    }
    let mut ok = 0;
    for _ in 0..100 {
        match store.list_tenants().await {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind(), &ErrorKind::Transient, "{e}"),
        }
        if ok >= 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ok >= 6, "the pool never recovered");
    let again = backends(&url, &app).await;
    assert_eq!(again.len(), 3, "{again:?}");
    assert!(
        again.iter().all(|p| !pids.contains(p)),
        "new backends: {again:?} after {pids:?}"
    );
    drop_schema(&url, &schema).await;
}

/// Whether the store's connection is encrypted, as the server sees it.
async fn encrypted(store: &PostgresStateStore) -> bool {
    store
        .conn()
        .await
        .unwrap()
        .client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_follows_sslmode_as_libpq_spells_it() {
    let Some(url) = url() else { return };
    let Some(ca) = std::env::var("PROVISIO_TEST_POSTGRES_CA")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        println!("skipped: PROVISIO_TEST_POSTGRES_CA not set (a cluster offering TLS)");
        return;
    };
    let schema = fresh_schema();
    let root = format!("sslrootcert={ca}");
    for (params, tls) in [
        ("sslmode=disable".to_string(), false),
        (String::new(), true), // prefer, libpq's default: the server offers TLS
        ("sslmode=require".to_string(), true),
        (format!("sslmode=verify-ca&{root}"), true),
        (format!("sslmode=verify-full&{root}"), true),
    ] {
        let store_url = if params.is_empty() {
            url.clone()
        } else {
            with_params(&url, &params)
        };
        let store = PostgresStateStore::connect_with_schema(&store_url, &schema)
            .await
            .unwrap_or_else(|e| panic!("{params}: {e}"));
        assert_eq!(encrypted(&store).await, tls, "{params}");
        store.list_tenants().await.unwrap();
    }
    // The test certificate names 127.0.0.1 only: by the name `localhost`, verify-full refuses
    // it and verify-ca (chain only) takes it.
    let by_name = url.replacen("127.0.0.1", "localhost", 1);
    let e = PostgresStateStore::connect_with_schema(
        &with_params(&by_name, &format!("sslmode=verify-full&{root}")),
        &schema,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(e.to_string().contains("certificate"), "{e}");
    let store = PostgresStateStore::connect_with_schema(
        &with_params(&by_name, &format!("sslmode=verify-ca&{root}")),
        &schema,
    )
    .await
    .unwrap();
    assert!(encrypted(&store).await);
    // The system's roots do not hold the test CA.
    let e =
        PostgresStateStore::connect_with_schema(&with_params(&url, "sslmode=verify-full"), &schema)
            .await
            .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    // A CA file that is not there is refused before connecting, naming the field.
    let e = PostgresStateStore::connect_with_schema(
        &with_params(&url, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
        &schema,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("sslrootcert"), "{e}");
    drop_schema(&url, &schema).await;
}

/// How many of `times` fall in the busiest window of `window`.
fn busiest(times: &[std::time::Instant], window: Duration) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end].duration_since(sorted[start]) >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Three workers (each its own store connections and its own limiter, as three processes
/// would have) send requests to one account as fast as their limiter lets them for `secs`
/// seconds; the times of all their requests.
async fn three_workers(
    stores: &[PostgresStateStore],
    shared: bool,
    secs: u64,
) -> Vec<std::time::Instant> {
    use provisio::ratelimit::{RateLimiter, SharedBuckets};
    let info = provisio::ProviderInfo::new("bench-api", format!("acct-{}", stores[0].schema()))
        .with_quota(provisio::Quota::new(20, Duration::from_secs(1)));
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let workers = stores.iter().map(|store| {
        let info = info.clone();
        async move {
            let limiter = RateLimiter::new();
            if shared {
                let buckets: Arc<dyn SharedBuckets> = Arc::new(
                    PostgresStateStore::connect_with_schema(
                        &std::env::var(URL_VAR).unwrap(),
                        store.schema(),
                    )
                    .await
                    .unwrap(),
                );
                limiter.share(Some(buckets));
            }
            let mut sent = Vec::new();
            while std::time::Instant::now() < deadline {
                limiter.acquire(&info).await;
                sent.push(std::time::Instant::now());
            }
            sent
        }
    });
    futures::future::join_all(workers).await.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_sharing_the_store_keep_one_account_within_its_quota_together() {
    let Some(url) = url() else { return };
    let schema = fresh_schema();
    let stores = vec![
        PostgresStateStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
        PostgresStateStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
        PostgresStateStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    ];
    // Each alone keeps 20 per second: the three together send three times that.
    let alone = three_workers(&stores, false, 1).await;
    assert!(
        alone.len() >= 54,
        "three unshared workers sent {}",
        alone.len()
    );
    // Sharing the bucket in PostgreSQL, they keep it together: 20 per second plus the
    // bucket's capacity (4) and what each may hold unspent (3 each).
    let together = three_workers(&stores, true, 3).await;
    let n = together.len();
    assert!(
        (45..=60 + 4 + 9).contains(&n),
        "three shared workers sent {n} in 3 s"
    );
    let peak = busiest(&together, Duration::from_secs(1));
    assert!(peak <= 20 + 4 + 9, "{peak} requests in one second");
    println!(
        "unshared: {} requests in 1 s; shared: {n} in 3 s, {peak} in the busiest second",
        alone.len()
    );
    drop_schema(&url, &schema).await;
}

#[test]
fn schema_names_are_checked() {
    assert!(check_schema("provisio").is_ok());
    assert!(check_schema("tenant_2").is_ok());
    for bad in [
        "",
        "Provisio",
        "a-b",
        "1abc",
        "x\"; DROP TABLE y; --",
        &"a".repeat(64),
    ] {
        assert!(check_schema(bad).is_err(), "{bad}");
    }
}
