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

/// A fresh schema name for one test, dropped by [`drop_schema`].
fn fresh_schema() -> String {
    conformance::unique("provisio_test").replace('-', "_")
}

async fn drop_schema(url: &str, schema: &str) {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
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
    assert_eq!(stores[0].schema_version().await.unwrap(), 2);
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
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
    let store = PostgresStateStore::connect_with_schema(&url, &schema)
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
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
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
