//! What a tenant's role, database and seed cost on a real server
//! (`PROVISIO_TEST_POSTGRES_URL`; skipped when unset): the messages each operation sends (the
//! step's request tally, one per message), the connections the server sees (backends with the
//! provider's own `application_name` in `pg_stat_activity`), and the existence each reports.
//! The numbers are the ones `docs/providers/postgres.md` lists.

mod common;

use provisio::database::{DatabaseSpec, RoleSpec, SeedSpec};
use provisio::existence::{Existence, watched};
use provisio::requests::{RequestTally, counted};
use provisio::{Confirm, Database, Outcome, SecretString};
use provisio_postgres::PostgresDatabase;
use std::sync::Arc;

/// Runs `fut` as an engine step would: returns its output, the messages it sent to the
/// server and the existence it reported.
async fn step<F: std::future::Future>(fut: F) -> (F::Output, u64, Option<bool>) {
    let tally = Arc::new(RequestTally::default());
    let seen = Arc::new(Existence::default());
    let out = counted(tally.clone(), watched(seen.clone(), fut)).await;
    let sent = tally.by_service().get("postgres").copied().unwrap_or(0);
    (out, sent, seen.get())
}

/// The provider's backends on the server, by database.
async fn backends(su: &tokio_postgres::Client, app: &str) -> Vec<(String, i64)> {
    su.query(
        "SELECT datname::text, count(*) FROM pg_stat_activity WHERE application_name = $1 \
         GROUP BY 1 ORDER BY 1",
        &[&app],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_costs_what_a_script_sends_and_reuses_connections() {
    let Some(url) = common::url("a_tenant_costs_what_a_script_sends_and_reuses_connections") else {
        return;
    };
    let su = common::superuser(&url, &common::admin_db(&url)).await;
    let app = common::name("rt-app");
    let mut config = common::config(&url);
    config.application_name = app.clone();
    let db = Arc::new(PostgresDatabase::new(config).unwrap());
    let (a, b) = (common::name("rt-a"), common::name("rt-b"));

    for (i, tenant) in [&a, &b].into_iter().enumerate() {
        let role = RoleSpec {
            name: tenant.clone(),
            password: SecretString::new("a-password"),
        };
        let database = DatabaseSpec {
            name: tenant.clone(),
            owner: tenant.clone(),
        };
        let seed = SeedSpec {
            database: tenant.clone(),
            id: "initial-data".into(),
            sql: "CREATE TABLE settings (key text PRIMARY KEY, value text); \
                  INSERT INTO settings VALUES ('plan', 'standard');"
                .into(),
        };
        // The first tenant opens the administrator connection; the second reuses it.
        let connect = if i == 0 { 1 } else { 0 };

        // CREATE ROLE.
        let (made, sent, existed) = step(db.ensure_role(&role)).await;
        assert_eq!(made.unwrap().outcome, Outcome::Created);
        assert_eq!((sent, existed), (connect + 1, Some(false)));
        // CREATE DATABASE, REVOKE.
        let (made, sent, existed) = step(db.ensure_database(&database)).await;
        assert_eq!(made.unwrap().outcome, Outcome::Created);
        assert_eq!((sent, existed), (2, Some(false)));
        // A connection to the tenant database; BEGIN...; the seed; RESET ROLE...COMMIT.
        let (made, sent, existed) = step(db.apply_seed(&seed)).await;
        assert_eq!(made.unwrap().outcome, Outcome::Created);
        assert_eq!((sent, existed), (1 + 3, Some(false)));

        // Again, unchanged: the failed CREATE and one read each; the seed's BEGIN... and
        // ROLLBACK on the connection kept from its first application.
        let (same, sent, existed) = step(db.ensure_role(&role)).await;
        assert_eq!(same.unwrap().outcome, Outcome::Unchanged);
        assert_eq!((sent, existed), (2, Some(true)));
        let (same, sent, existed) = step(db.ensure_database(&database)).await;
        assert_eq!(same.unwrap().outcome, Outcome::Unchanged);
        assert_eq!((sent, existed), (2, Some(true)));
        let (same, sent, existed) = step(db.apply_seed(&seed)).await;
        assert_eq!(same.unwrap().outcome, Outcome::Unchanged);
        assert_eq!((sent, existed), (2, Some(true)));

        // A refresh: one read per resource, no connection.
        for exists in [
            db.role_exists(tenant).await,
            db.database_exists(tenant).await,
        ] {
            assert!(exists.unwrap());
        }
        let (exists, sent, _) = step(db.database_exists(tenant)).await;
        assert!(exists.unwrap());
        assert_eq!(sent, 1);
        let (exists, sent, _) = step(db.role_exists(tenant)).await;
        assert!(exists.unwrap());
        assert_eq!(sent, 1);
    }

    // Concurrent operations share the administrator connection (pipelined on it).
    let reads: Vec<_> = (0..8)
        .map(|i| {
            let (db, t) = (db.clone(), if i % 2 == 0 { a.clone() } else { b.clone() });
            tokio::spawn(async move {
                db.role_exists(&t).await.unwrap() && db.database_exists(&t).await.unwrap()
            })
        })
        .collect();
    for read in reads {
        assert!(read.await.unwrap());
    }

    // Two tenants, six operations each plus the reads: one administrator connection and one
    // idle connection per seeded database, all still open for the next operation.
    let admin = common::admin_db(&url);
    let mut expected = vec![(admin, 1), (a.clone(), 1), (b.clone(), 1)];
    expected.sort();
    assert_eq!(backends(&su, &app).await, expected);

    // Dropping a database first closes the pool's idle connections to it.
    for tenant in [&a, &b] {
        db.drop_database(tenant, &Confirm::named(tenant))
            .await
            .unwrap();
        db.drop_role(tenant, &Confirm::named(tenant)).await.unwrap();
    }
    // The closed backends take a moment to leave pg_stat_activity.
    for _ in 0..50 {
        if backends(&su, &app).await.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(backends(&su, &app).await, vec![(common::admin_db(&url), 1)]);
}

/// With a single connection allowed, the administrator's shared connection and a seed's
/// connection to the tenant database take turns instead of waiting on each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_is_enough() {
    let Some(url) = common::url("one_connection_is_enough") else {
        return;
    };
    let mut config = common::config(&url);
    config.max_connections = 1;
    let db = PostgresDatabase::new(config).unwrap();
    let t = common::name("rt-one");
    let work = async {
        db.ensure_role(&RoleSpec {
            name: t.clone(),
            password: SecretString::new("pw"),
        })
        .await
        .unwrap();
        db.ensure_database(&DatabaseSpec {
            name: t.clone(),
            owner: t.clone(),
        })
        .await
        .unwrap();
        let seed = SeedSpec {
            database: t.clone(),
            id: "one".into(),
            sql: "CREATE TABLE one (n int);".into(),
        };
        assert_eq!(
            db.apply_seed(&seed).await.unwrap().outcome,
            Outcome::Created
        );
        assert!(db.database_exists(&t).await.unwrap());
        assert_eq!(
            db.apply_seed(&seed).await.unwrap().outcome,
            Outcome::Unchanged
        );
        db.drop_database(&t, &Confirm::named(&t)).await.unwrap();
        db.drop_role(&t, &Confirm::named(&t)).await.unwrap();
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), work)
        .await
        .expect("no deadlock between the shared and the seed connection");
}
