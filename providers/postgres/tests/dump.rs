//! Dump and restore against a real server (`PROVISIO_TEST_POSTGRES_URL`; skipped when unset):
//! `pg_dump` streamed into object storage and `pg_restore` fed back from it, identical rows by
//! checksum, a live database never overwritten, a broken stream restoring nothing, and the
//! requests each operation sends.

mod common;

use common::superuser;
use provisio::database::{DatabaseSpec, RoleSpec, SeedSpec};
use provisio::layer::{RetryPolicy, Stack};
use provisio::requests::{RequestTally, counted};
use provisio::storage::BucketSpec;
use provisio::{Bytes, Confirm, Database, ErrorKind, ObjectStorage, SecretString};
use std::sync::Arc;

macro_rules! with_url {
    ($name:literal) => {
        match common::url($name) {
            Some(u) => u,
            None => return,
        }
    };
}

const CHECKSUM: &str =
    "SELECT count(*)::text || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM t";

async fn checksum(url: &str, db: &str) -> String {
    superuser(url, db)
        .await
        .query_one(CHECKSUM, &[])
        .await
        .unwrap()
        .get(0)
}

async fn table_count(url: &str, db: &str) -> i64 {
    superuser(url, db)
        .await
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// A role and a database holding table `t` with 20,000 rows (a few hundred kB of dump).
async fn tenant(db: &dyn Database, role: &str, name: &str) -> DatabaseSpec {
    db.ensure_role(&RoleSpec {
        name: role.into(),
        password: SecretString::new("dump-test-pw"),
    })
    .await
    .unwrap();
    let spec = DatabaseSpec {
        name: name.into(),
        owner: role.into(),
    };
    db.ensure_database(&spec).await.unwrap();
    db.apply_seed(&SeedSpec {
        database: name.into(),
        id: "rows".into(),
        sql: "CREATE TABLE t (id int PRIMARY KEY, name text, payload bytea); \
              INSERT INTO t SELECT g, 'row ' || g, decode(md5(g::text), 'hex') \
              FROM generate_series(1, 20000) g;"
            .into(),
    })
    .await
    .unwrap();
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_to_storage_drop_restore_identical_rows() {
    let url = with_url!("dump_restore_round_trip");
    let pg = Arc::new(common::provider(&url).unwrap());
    // through the standard layers, as every front end builds it
    let db: Arc<dyn Database> = Stack::standard(RetryPolicy::default(), None).database(pg);
    let storage = provisio_memory::MemoryStorage::new();
    storage
        .ensure_bucket(&BucketSpec::new("archive"))
        .await
        .unwrap();
    let role = common::name("pt-dump-role");
    // a name that needs quoting in SQL and in a conninfo string
    let name = format!("{} it's", common::name("pt-dump"));
    let spec = tenant(db.as_ref(), &role, &name).await;
    let before = checksum(&url, &name).await;
    assert!(before.starts_with("20000:"), "{before}");
    assert!(db.capabilities().dump_restore);

    let stream = db.dump_database(&name).await.unwrap();
    let meta = storage
        .put_object_stream(
            "archive",
            "acme/db.dump",
            stream,
            Some("application/octet-stream"),
        )
        .await
        .unwrap();
    assert!(
        meta.size > 100_000,
        "a dump of 20,000 rows: {} bytes",
        meta.size
    );
    let (dump, _) = storage.get_object("archive", "acme/db.dump").await.unwrap();
    assert_eq!(&dump[..5], b"PGDMP", "pg_dump's custom format");

    // a live database is never overwritten: refused, nothing changed
    let (body, _) = storage
        .get_object_stream("archive", "acme/db.dump")
        .await
        .unwrap();
    let e = db.restore_database(&spec, body).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    assert_eq!(checksum(&url, &name).await, before);

    db.drop_database(&name, &Confirm::named(&name))
        .await
        .unwrap();
    assert!(!db.database_exists(&name).await.unwrap());
    let (body, _) = storage
        .get_object_stream("archive", "acme/db.dump")
        .await
        .unwrap();
    let restored = db.restore_database(&spec, body).await.unwrap();
    assert!(restored.created);
    assert_eq!(restored.bytes, meta.size);
    assert_eq!(checksum(&url, &name).await, before);
    // the restored objects belong to the owner
    let owner: String = superuser(&url, &name)
        .await
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 't'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(owner, role);
    // the seed bookkeeping came back too: the seed is not applied again
    let again = db
        .apply_seed(&SeedSpec {
            database: name.clone(),
            id: "rows".into(),
            sql: "CREATE TABLE t (id int PRIMARY KEY, name text, payload bytea); \
                  INSERT INTO t SELECT g, 'row ' || g, decode(md5(g::text), 'hex') \
                  FROM generate_series(1, 20000) g;"
                .into(),
        })
        .await
        .unwrap();
    assert_eq!(again.outcome, provisio::Outcome::Unchanged);

    // an existing empty database is restored into
    db.drop_database(&name, &Confirm::named(&name))
        .await
        .unwrap();
    db.ensure_database(&spec).await.unwrap();
    let restored = db
        .restore_database(&spec, provisio::stream::chunked(dump.clone(), 1000))
        .await
        .unwrap();
    assert!(!restored.created);
    assert_eq!(checksum(&url, &name).await, before);

    common::cleanup(db.as_ref(), &[&name], &[&role]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_database_broken_stream_and_garbage() {
    let url = with_url!("dump_restore_failures");
    let db = common::provider(&url).unwrap();
    let e = db
        .dump_database(&common::name("pt-no-such-db"))
        .await
        .err()
        .unwrap();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");

    let role = common::name("pt-dump-role");
    let name = common::name("pt-dump-src");
    tenant(&db, &role, &name).await;
    let dump = provisio::stream::collect(db.dump_database(&name).await.unwrap(), 1 << 30, "dump")
        .await
        .unwrap();

    // the stream breaks off half-way: one transaction, so the new database stays empty
    let target = DatabaseSpec {
        name: common::name("pt-dump-dst"),
        owner: role.clone(),
    };
    let half = dump.slice(..dump.len() / 2);
    let broken = provisio::stream::from_results(vec![
        Ok(half),
        Err(provisio::Error::transient(
            "connection reset while reading the dump",
        )),
    ]);
    let e = db.restore_database(&target, broken).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert_eq!(table_count(&url, &target.name).await, 0);

    // not a dump: pg_restore's own error, with its exit status; still empty
    let garbage = provisio::stream::once(Bytes::from_static(b"this is not a dump"));
    let e = db.restore_database(&target, garbage).await.unwrap_err();
    assert!(e.to_string().contains("pg_restore"), "{e}");
    assert!(e.to_string().contains("exit status"), "{e}");
    assert_eq!(table_count(&url, &target.name).await, 0);

    // a missing owner is refused before anything is created
    let nobody = DatabaseSpec {
        name: common::name("pt-dump-orphan"),
        owner: common::name("pt-no-such-role"),
    };
    let e = db
        .restore_database(&nobody, provisio::stream::once(dump.clone()))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");
    assert!(!db.database_exists(&nobody.name).await.unwrap());

    // and the empty one can then be restored into
    db.restore_database(&target, provisio::stream::once(dump))
        .await
        .unwrap();
    assert_eq!(
        checksum(&url, &target.name).await,
        checksum(&url, &name).await
    );
    common::cleanup(&db, &[&name, &target.name], &[&role]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_dump_and_restore() {
    let url = with_url!("dump_restore_requests");
    let db = common::provider(&url).unwrap();
    let role = common::name("pt-dump-role");
    let name = common::name("pt-dump-req");
    let spec = tenant(&db, &role, &name).await;
    let tally = Arc::new(RequestTally::default());
    let dump = counted(tally.clone(), async {
        provisio::stream::collect(db.dump_database(&name).await.unwrap(), 1 << 30, "dump")
            .await
            .unwrap()
    })
    .await;
    // the database looked up, pg_dump started (its own queries are its own)
    assert_eq!(tally.total(), 2, "dump: {:?}", tally.by_service());
    db.drop_database(&name, &Confirm::named(&name))
        .await
        .unwrap();
    let tally = Arc::new(RequestTally::default());
    counted(tally.clone(), async {
        db.restore_database(&spec, provisio::stream::once(dump))
            .await
            .unwrap()
    })
    .await;
    // lookup, CREATE DATABASE, REVOKE, pg_restore
    assert_eq!(tally.total(), 4, "restore: {:?}", tally.by_service());
    common::cleanup(&db, &[&name], &[&role]).await;
}
