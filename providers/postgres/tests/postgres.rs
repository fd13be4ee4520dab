//! The PostgreSQL provider against a real server (`PROVISIO_TEST_POSTGRES_URL`, a superuser;
//! skipped when unset): SQL injection through names, the password never reaching the server
//! in plaintext, idempotency of roles, seeds applied once, concurrency, forced drops and
//! connection errors.

mod common;

use common::{cleanup, superuser};
use provisio::database::{DatabaseSpec, RoleSpec, SeedSpec};
use provisio::{Confirm, Database, Deleted, ErrorKind, Outcome, SecretString};
use provisio_postgres::{PostgresDatabase, SslMode};
use std::sync::Arc;

fn role(name: &str, pw: &str) -> RoleSpec {
    RoleSpec {
        name: name.to_string(),
        password: SecretString::new(pw),
    }
}

fn database(name: &str, owner: &str) -> DatabaseSpec {
    DatabaseSpec {
        name: name.to_string(),
        owner: owner.to_string(),
    }
}

fn seed(db: &str, id: &str, sql: &str) -> SeedSpec {
    SeedSpec {
        database: db.to_string(),
        id: id.to_string(),
        sql: sql.to_string(),
    }
}

macro_rules! with_url {
    ($name:literal) => {
        match common::url($name) {
            Some(u) => u,
            None => return,
        }
    };
}

async fn table_exists(client: &tokio_postgres::Client, table: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_are_created_exactly_as_named_and_inject_nothing() {
    let url = with_url!("hostile_names");
    let db = common::provider(&url).unwrap();
    let admin_db = common::admin_db(&url);
    let su = superuser(&url, &admin_db).await;
    let canary = format!("canary_{}", provisio_testkit::run_id());
    su.batch_execute(&format!("CREATE TABLE public.{canary} (x int)"))
        .await
        .unwrap();
    let prefix = common::name("inj");
    let payloads = [
        format!("x\"; DROP TABLE {canary}; --"),
        format!("x'); DROP TABLE {canary};--"),
        format!("\"\"; DROP TABLE public.{canary}"),
        "ünïcödé \"ロール\"; --".to_string(),
        "back\\slash $$ $x$ ; ".to_string(),
    ];
    for payload in &payloads {
        let name = format!("{prefix}{payload}");
        assert!(name.len() <= 63, "{name}");
        let r = db.ensure_role(&role(&name, "pw-hostile")).await.unwrap();
        assert_eq!(r.outcome, Outcome::Created, "{name}");
        assert_eq!(r.value, name);
        let d = db.ensure_database(&database(&name, &name)).await.unwrap();
        assert_eq!(d.outcome, Outcome::Created, "{name}");
        // Exactly this name, byte for byte, in the catalogs.
        let row = su
            .query_one(
                "SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
                 WHERE d.datname = $1 AND r.rolname = $1",
                &[&name],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 1, "{name}");
        assert!(db.role_exists(&name).await.unwrap());
        assert!(db.database_exists(&name).await.unwrap());
        let s = db
            .apply_seed(&seed(
                &name,
                "initial",
                "CREATE TABLE t (id int); INSERT INTO t VALUES (1);",
            ))
            .await
            .unwrap();
        assert_eq!(s.outcome, Outcome::Created);
        assert_eq!(
            db.ensure_database(&database(&name, &name))
                .await
                .unwrap()
                .outcome,
            Outcome::Unchanged
        );
        assert!(
            table_exists(&su, &format!("public.{canary}")).await,
            "{name} dropped the canary"
        );
        assert_eq!(
            db.drop_database(&name, &Confirm::named(&name))
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            db.drop_role(&name, &Confirm::named(&name)).await.unwrap(),
            Deleted::Deleted
        );
    }
    assert!(table_exists(&su, &format!("public.{canary}")).await);

    // What pg_identifier refuses is refused with the field and the rule, and creates nothing.
    for (bad, rule) in [
        ("pg_evil\"; DROP TABLE x; --".to_string(), "reserved prefix"),
        ("nul\0byte".to_string(), "NUL"),
        ("é".repeat(32), "1 to 63 bytes"),
        (String::new(), "1 to 63 bytes"),
    ] {
        let e = db.ensure_role(&role(&bad, "pw")).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{bad:?}");
        assert!(e.message().contains("invalid role name"), "{e}");
        assert!(
            e.message().contains(rule),
            "{e} should name the rule {rule}"
        );
        assert_eq!(e.provider(), Some("postgres"));
        assert_eq!(e.operation(), Some("database.ensure_role"));
        let e = db
            .ensure_database(&database(&bad, "postgres"))
            .await
            .unwrap_err();
        assert!(e.message().contains("invalid database name"), "{e}");
        let e = db
            .ensure_database(&database("fine", &bad))
            .await
            .unwrap_err();
        assert!(e.message().contains("invalid database owner"), "{e}");
    }
    su.batch_execute(&format!("DROP TABLE public.{canary}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_reaches_the_server_only_as_a_scram_verifier() {
    let url = with_url!("password_scram");
    let admin_db = common::admin_db(&url);
    let su = superuser(&url, &admin_db).await;
    // A non-superuser admin whose every statement the server logs.
    let admin = common::create_limited_admin(&su).await;
    su.batch_execute(&format!("ALTER ROLE \"{admin}\" SET log_statement = 'all'"))
        .await
        .unwrap();
    let db = PostgresDatabase::new(common::config(&url).with_user(admin.clone())).unwrap();
    let name = common::name("pw");
    let plaintext = format!("Plaintext-Secret-{}-Zz9", provisio_testkit::run_id());
    let spec = role(&name, &plaintext);
    assert!(!format!("{spec:?}").contains(&plaintext));

    assert_eq!(
        db.ensure_role(&spec).await.unwrap().outcome,
        Outcome::Created
    );
    // The administrator cannot read pg_authid, so the password is set again: Updated.
    assert_eq!(
        db.ensure_role(&spec).await.unwrap().outcome,
        Outcome::Updated
    );

    let stored: String = su
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains(&plaintext));
    // The superuser provider can check the verifier: it matches the password.
    let su_db = common::provider(&url).unwrap();
    assert_eq!(
        su_db.ensure_role(&spec).await.unwrap().outcome,
        Outcome::Unchanged
    );

    let activity = su
        .query("SELECT coalesce(query, '') FROM pg_stat_activity", &[])
        .await
        .unwrap();
    for row in activity {
        let q: String = row.get(0);
        assert!(
            !q.contains(&plaintext),
            "pg_stat_activity shows the password: {q}"
        );
    }

    // The server log (scripts/services.sh writes it here) has the statements, not the password.
    let log = std::env::var("PROVISIO_SERVICES_DIR")
        .map(|d| std::path::PathBuf::from(d).join("pg/postgres.log"))
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok());
    match log {
        Some(log) => {
            assert!(
                log.contains(&format!("CREATE ROLE \"{name}\"")),
                "log_statement=all did not log the CREATE ROLE of {name}"
            );
            assert!(log.contains("PASSWORD 'SCRAM-SHA-256$4096:"));
            assert!(
                !log.contains(&plaintext),
                "the server log holds the plaintext password"
            );
        }
        None => {
            eprintln!("server log not readable (PROVISIO_SERVICES_DIR unset?): log check skipped")
        }
    }

    // Errors never carry the password.
    let e = db.ensure_role(&role(&admin, &plaintext)).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(!e.to_string().contains(&plaintext) && !format!("{e:?}").contains(&plaintext));

    cleanup(&su_db, &[], &[&name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_idempotent_and_privileged_roles_are_left_alone() {
    let url = with_url!("role_idempotency");
    let db = common::provider(&url).unwrap();
    let su = superuser(&url, &common::admin_db(&url)).await;
    let name = common::name("idem");
    let pw1 = role(&name, "first-password");
    let pw2 = role(&name, "second-password");
    assert_eq!(
        db.ensure_role(&pw1).await.unwrap().outcome,
        Outcome::Created
    );
    assert_eq!(
        db.ensure_role(&pw1).await.unwrap().outcome,
        Outcome::Unchanged
    );
    assert_eq!(
        db.ensure_role(&pw2).await.unwrap().outcome,
        Outcome::Updated
    );
    assert_eq!(
        db.ensure_role(&pw2).await.unwrap().outcome,
        Outcome::Unchanged
    );
    // Drifted attributes are put back.
    su.batch_execute(&format!("ALTER ROLE \"{name}\" NOLOGIN CREATEDB"))
        .await
        .unwrap();
    assert_eq!(
        db.ensure_role(&pw2).await.unwrap().outcome,
        Outcome::Updated
    );
    let row = su
        .query_one(
            "SELECT rolcanlogin, rolcreatedb, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            row.get::<_, bool>(0),
            row.get::<_, bool>(1),
            row.get::<_, bool>(2),
            row.get::<_, bool>(3)
        ),
        (true, false, false, false)
    );

    // Roles with more than a login are never touched, nor is the administrator itself.
    let privileged = common::name("priv");
    su.batch_execute(&format!("CREATE ROLE \"{privileged}\" LOGIN CREATEROLE"))
        .await
        .unwrap();
    let e = db.ensure_role(&role(&privileged, "x")).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.message().contains("CREATEROLE"), "{e}");
    let e = db
        .drop_role(&privileged, &Confirm::named(&privileged))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    let me = common::config(&url).user;
    let e = db.ensure_role(&role(&me, "x")).await.unwrap_err();
    if me == "postgres" {
        // the bootstrap superuser's name is reserved: refused by the name rule, before any SQL
        assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
        assert!(e.message().contains("reserved"), "{e}");
    } else {
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        assert!(e.message().contains("administrator"), "{e}");
    }
    for reserved in ["postgres", "pg_monitor", "public"] {
        let e = db.ensure_role(&role(reserved, "x")).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{reserved}: {e}");
        assert!(e.message().contains("invalid role name"), "{e}");
    }

    su.batch_execute(&format!("DROP ROLE \"{privileged}\""))
        .await
        .unwrap();
    cleanup(&db, &[], &[&name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_run_once_as_the_owner_and_are_recorded_with_their_checksum() {
    let url = with_url!("seeds");
    let db = common::provider(&url).unwrap();
    let name = common::name("seed");
    db.ensure_role(&role(&name, "pw")).await.unwrap();
    db.ensure_database(&database(&name, &name)).await.unwrap();
    let tenant = superuser(&url, &name).await;

    let first = seed(
        &name,
        "initial-data",
        "CREATE TABLE settings (key text PRIMARY KEY, value text); \
         INSERT INTO settings VALUES ('plan', 'standard');",
    );
    let applied = db.apply_seed(&first).await.unwrap();
    assert_eq!(applied.outcome, Outcome::Created);
    assert_eq!(applied.value.checksum, first.checksum());
    // Recorded in provisio.seeds with the SHA-256, run as the database owner.
    let row = tenant
        .query_one(
            "SELECT checksum, run_as, applied_by FROM provisio.seeds WHERE id = 'initial-data'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), first.checksum());
    assert_eq!(row.get::<_, String>(1), name);
    assert_eq!(row.get::<_, String>(2), common::config(&url).user);
    let owner: String = tenant
        .query_one(
            "SELECT tableowner::text FROM pg_tables WHERE tablename = 'settings'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        owner, name,
        "the seed's table belongs to the database owner"
    );

    // Again: Unchanged, nothing re-run (the INSERT would fail on the primary key).
    assert_eq!(
        db.apply_seed(&first).await.unwrap().outcome,
        Outcome::Unchanged
    );

    // Changed SQL under the same id: Conflict with a clear message, nothing run.
    let changed = seed(
        &name,
        "initial-data",
        "INSERT INTO settings VALUES ('x', 'y');",
    );
    let e = db.apply_seed(&changed).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(
        e.message().contains("initial-data") && e.message().contains("new id"),
        "{e}"
    );
    assert!(e.message().contains(&first.checksum()), "{e}");
    let n: i64 = tenant
        .query_one("SELECT count(*) FROM settings", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    // A failing seed leaves nothing behind and is not recorded.
    let broken = seed(&name, "broken", "CREATE TABLE half (x int); SELEC 1;");
    let e = db.apply_seed(&broken).await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("42601"), "{e}");
    assert!(!table_exists(&tenant, "public.half").await);
    let n: i64 = tenant
        .query_one(
            "SELECT count(*) FROM provisio.seeds WHERE id = 'broken'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // A seed that commits provisio's transaction is reported and not recorded.
    let sneaky = seed(
        &name,
        "sneaky",
        "CREATE TABLE sneaky (x int); COMMIT; SELECT 1;",
    );
    let e = db.apply_seed(&sneaky).await.unwrap_err();
    assert!(e.message().contains("ended provisio's transaction"), "{e}");
    let n: i64 = tenant
        .query_one(
            "SELECT count(*) FROM provisio.seeds WHERE id = 'sneaky'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);

    // Eight concurrent applications of a new seed: one runs, the others find it applied.
    let db = Arc::new(db);
    let counter = seed(
        &name,
        "counter",
        "CREATE TABLE counter (n int); INSERT INTO counter VALUES (1);",
    );
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (db, s) = (db.clone(), counter.clone());
            tokio::spawn(async move { db.apply_seed(&s).await })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap().unwrap().outcome {
            Outcome::Created => created += 1,
            Outcome::Unchanged => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    let n: i64 = tenant
        .query_one("SELECT count(*) FROM counter", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);

    drop(tenant);
    cleanup(&*db, &[&name], &[&name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ensures_of_the_same_database_and_role_both_succeed() {
    let url = with_url!("concurrent_ensure");
    let name = common::name("conc");
    let a = Arc::new(common::provider(&url).unwrap());
    let b = Arc::new(common::provider(&url).unwrap());
    let spawn_role = |db: Arc<PostgresDatabase>, n: String| {
        tokio::spawn(async move { db.ensure_role(&role(&n, "same-pw")).await })
    };
    let (ra, rb) = (
        spawn_role(a.clone(), name.clone()),
        spawn_role(b.clone(), name.clone()),
    );
    let outcomes = [
        ra.await.unwrap().unwrap().outcome,
        rb.await.unwrap().unwrap().outcome,
    ];
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Created).count(),
        1,
        "{outcomes:?}"
    );
    for round in 0..8 {
        let db_name = format!("{name}-{round}");
        let spawn_db = |db: Arc<PostgresDatabase>, n: String, owner: String| {
            tokio::spawn(async move { db.ensure_database(&database(&n, &owner)).await })
        };
        let ta = spawn_db(a.clone(), db_name.clone(), name.clone());
        let tb = spawn_db(b.clone(), db_name.clone(), name.clone());
        let outcomes = [
            ta.await.unwrap().unwrap().outcome,
            tb.await.unwrap().unwrap().outcome,
        ];
        assert_eq!(
            outcomes.iter().filter(|o| **o == Outcome::Created).count(),
            1,
            "{outcomes:?}"
        );
        // (The other one is Unchanged, or Updated when it found the database between the
        // creator's CREATE DATABASE and REVOKE and revoked PUBLIC's access itself.)
        assert_eq!(
            a.drop_database(&db_name, &Confirm::named(&db_name))
                .await
                .unwrap(),
            Deleted::Deleted
        );
    }
    cleanup(&*a, &[], &[&name]).await;
}

/// A database that still lets PUBLIC connect (made by hand here; by a run killed between
/// `CREATE DATABASE` and the `REVOKE` in life) is revoked by the next ensure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_open_to_public_is_closed_by_the_next_ensure() {
    let url = with_url!("public_connect");
    let name = common::name("pubc");
    let db = common::provider(&url).unwrap();
    let su = superuser(&url, &common::admin_db(&url)).await;
    db.ensure_role(&role(&name, "pw-of-the-owner"))
        .await
        .unwrap();
    su.batch_execute(&format!("CREATE DATABASE \"{name}\" OWNER \"{name}\""))
        .await
        .unwrap();
    let public_connect = || async {
        let row = su
            .query_one(
                "SELECT has_database_privilege('public', oid, 'CONNECT') FROM pg_database \
                 WHERE datname = $1",
                &[&name],
            )
            .await
            .unwrap();
        row.get::<_, bool>(0)
    };
    assert!(public_connect().await, "a new database lets PUBLIC connect");
    let first = db.ensure_database(&database(&name, &name)).await.unwrap();
    assert_eq!(first.outcome, Outcome::Updated);
    assert!(!public_connect().await, "PUBLIC may still connect");
    let again = db.ensure_database(&database(&name, &name)).await.unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    cleanup(&db, &[&name], &[&name]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drops_end_other_sessions_and_need_a_matching_confirm() {
    let url = with_url!("forced_drop");
    let db = common::provider(&url).unwrap();
    let name = common::name("drop");
    db.ensure_role(&role(&name, "pw")).await.unwrap();
    db.ensure_database(&database(&name, &name)).await.unwrap();
    // A session sits in the database.
    let busy = superuser(&url, &name).await;
    busy.batch_execute("SELECT 1").await.unwrap();
    let e = db
        .drop_database(&name, &Confirm::named("something-else"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Protected);
    assert!(db.database_exists(&name).await.unwrap());
    // The owner cannot go while it owns the database.
    let e = db
        .drop_role(&name, &Confirm::named(&name))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    assert!(e.message().contains("owns databases"), "{e}");
    assert_eq!(
        db.drop_database(&name, &Confirm::named(&name))
            .await
            .unwrap(),
        Deleted::Deleted
    );
    assert!(
        busy.batch_execute("SELECT 1").await.is_err(),
        "the session was ended"
    );
    assert_eq!(
        db.drop_database(&name, &Confirm::named(&name))
            .await
            .unwrap(),
        Deleted::AlreadyGone
    );
    // Template databases and the admin database are never dropped: the system databases'
    // names are refused by the name rule (InvalidInput), another admin database by a check.
    for special in ["template1", common::admin_db(&url).as_str()] {
        let e = db
            .drop_database(special, &Confirm::named(special))
            .await
            .unwrap_err();
        if provisio::validate::PG_SYSTEM_DATABASES.contains(&special) {
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
            assert!(e.message().contains("system database"), "{e}");
        } else {
            assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        }
    }
    assert_eq!(
        db.drop_role(&name, &Confirm::named(&name)).await.unwrap(),
        Deleted::Deleted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_failures_are_classified() {
    let url = with_url!("connection_failures");
    // Nothing listens on port 1: Transient, with provider, operation and resource.
    let mut c = common::config(&url);
    c.port = 1;
    c.connect_timeout_secs = 2;
    let db = PostgresDatabase::new(c).unwrap();
    let e = db.role_exists("acme").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert_eq!(e.provider(), Some("postgres"));
    assert_eq!(e.operation(), Some("database.role_exists"));
    assert_eq!(e.resource(), Some("acme"));

    // A missing admin database: NotFound.
    let mut c = common::config(&url);
    c.dbname = common::name("nodb");
    let db = PostgresDatabase::new(c).unwrap();
    let e = db.role_exists("acme").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::NotFound, "{e}");

    match std::env::var("PROVISIO_TEST_POSTGRES_CA")
        .ok()
        .filter(|v| !v.is_empty())
    {
        // The test cluster offers TLS with a certificate for 127.0.0.1 from a throw-away CA
        // (scripts/services.sh): require and verify-full (with that CA) connect; verify-full
        // with the system's roots refuses the server.
        Some(ca) => {
            let c = common::config(&url).with_sslmode(SslMode::Require);
            PostgresDatabase::new(c)
                .unwrap()
                .role_exists("acme")
                .await
                .unwrap();
            let c = common::config(&url)
                .with_sslmode(SslMode::VerifyFull)
                .with_ca_file(&ca);
            PostgresDatabase::new(c)
                .unwrap()
                .role_exists("acme")
                .await
                .unwrap();
            let c = common::config(&url).with_sslmode(SslMode::VerifyFull);
            let e = PostgresDatabase::new(c)
                .unwrap()
                .role_exists("acme")
                .await
                .unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
        }
        // TLS required by the client, but the server has none: a configuration error, not a
        // silent fallback to plaintext.
        None => {
            let c = common::config(&url).with_sslmode(SslMode::Require);
            let db = PostgresDatabase::new(c).unwrap();
            let e = db.role_exists("acme").await.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
            assert!(e.message().contains("does not support TLS"), "{e}");
        }
    }

    // A CA file that is not one fails at construction.
    let c = common::config(&url)
        .with_sslmode(SslMode::VerifyFull)
        .with_ca_file("/nonexistent/ca.pem");
    let e = PostgresDatabase::new(c).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput);
    assert!(e.message().contains("ca_file"), "{e}");

    // Server operations are not this provider's business.
    let db = common::provider(&url).unwrap();
    assert_eq!(
        db.get_server("x").await.unwrap_err().kind(),
        &ErrorKind::Unsupported
    );
}
