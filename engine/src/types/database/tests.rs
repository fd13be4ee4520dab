//! Tests of the `database.*` resource types.

use super::*;
use crate::resource::ResourceType;
use crate::types::testing::{Harness, check_outputs, lifecycle, rejects};
use provisio::database::SeedSpec;
use provisio::{Database as _, Deleted, Outcome, SecretStore, SecretString};
use serde_json::{Value, json};

fn server_params() -> Value {
    json!({"name": "acme-db", "version": 16, "size": "db.t3.micro", "storage_gb": 20,
            "admin_user": "provisio_admin", "admin_password_secret": "acme-db-admin",
            "deletion_protection": false})
}

async fn with_secret(h: &Harness, name: &str, value: &str) {
    h.cloud
        .secrets
        .put_secret(name, &SecretString::new(value), &Default::default())
        .await
        .unwrap();
}

#[test]
fn validates_params() {
    DatabaseServer.validate(&server_params()).unwrap();
    let mut p = server_params();
    p["storage_gb"] = json!("${tenant.storage}");
    p["admin_password_secret"] = json!("${db_admin.name}");
    DatabaseServer.validate(&p).unwrap();
    for (field, bad) in [
        ("name", json!("1db")),
        ("name", json!("a--b")),
        ("storage_gb", json!(0)),
        ("admin_user", json!("pg_admin")),
        ("admin_password_secret", json!("a b")),
        ("deletion_protection", json!("maybe")),
        ("version", json!(true)),
    ] {
        let mut p = server_params();
        p[field] = bad;
        rejects(DatabaseServer.validate(&p), field);
    }
    let mut p = server_params();
    p.as_object_mut().unwrap().remove("size");
    rejects(DatabaseServer.validate(&p), "size");

    DatabaseRole
        .validate(&json!({"name": "acme", "password_secret": "acme-db-password"}))
        .unwrap();
    rejects(
        DatabaseRole.validate(&json!({"name": "acme"})),
        "password_secret",
    );
    rejects(
        DatabaseRole.validate(&json!({"name": "pg_x", "password_secret": "p"})),
        "name",
    );
    DatabaseDatabase
        .validate(&json!({"name": "acme", "owner": "${db_user.name}"}))
        .unwrap();
    rejects(DatabaseDatabase.validate(&json!({"name": "acme"})), "owner");
    DatabaseSeed
        .validate(&json!({"database": "acme", "id": "initial-data", "sql": "select 1"}))
        .unwrap();
    rejects(
        DatabaseSeed.validate(&json!({"database": "acme", "id": "a b", "sql": "select 1"})),
        "id",
    );
    rejects(
        DatabaseSeed.validate(&json!({"database": "acme", "id": "x", "sql": " "})),
        "sql",
    );
}

#[tokio::test]
async fn server_lifecycle() {
    let h = Harness::new();
    with_secret(&h, "acme-db-admin", "admin-pw").await;
    let ctx = h.ctx("db_server", "tok");
    let out = lifecycle(&DatabaseServer, &ctx, &server_params()).await;
    assert_eq!(out["name"], "acme-db");
    assert_eq!(out["status"], "available");
    assert!(out["host"].is_string());
    assert!(out["port"].is_number());
    assert!(!out.to_string().contains("admin-pw"));
}

#[tokio::test]
async fn protected_server_is_not_deleted() {
    let h = Harness::new();
    with_secret(&h, "acme-db-admin", "admin-pw").await;
    let ctx = h.ctx("db_server", "tok");
    let mut params = server_params();
    params["deletion_protection"] = json!(true);
    let a = DatabaseServer.apply(&ctx, &params, None).await.unwrap();
    let e = DatabaseServer
        .delete(&ctx, &params, &a.outputs)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Protected, "{e}");
    assert!(
        DatabaseServer
            .read(&ctx, &params, None)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn missing_password_secret_is_reported() {
    let h = Harness::new();
    let ctx = h.ctx("db_server", "tok");
    let e = DatabaseServer
        .apply(&ctx, &server_params(), None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::NotFound, "{e}");
    let mut p = server_params();
    p["secrets_provider"] = json!("vault");
    let e = DatabaseServer.apply(&ctx, &p, None).await.unwrap_err();
    assert!(e.to_string().contains("invalid secrets_provider"), "{e}");
}

#[tokio::test]
async fn role_database_seed_lifecycles() {
    let h = Harness::new();
    with_secret(&h, "acme-db-password", "role-pw").await;
    let ctx = h.ctx("db_user", "tok");
    let role = json!({"name": "acme", "password_secret": "acme-db-password"});
    let out = lifecycle(&DatabaseRole, &ctx, &role).await;
    assert_eq!(out, json!({"name": "acme"}));

    DatabaseRole.apply(&ctx, &role, None).await.unwrap();
    let ctx = h.ctx("db", "tok");
    let db = json!({"name": "acme", "owner": "acme"});
    let out = lifecycle(&DatabaseDatabase, &ctx, &db).await;
    assert_eq!(out, json!({"name": "acme", "owner": "acme"}));

    DatabaseDatabase.apply(&ctx, &db, None).await.unwrap();
    let ctx = h.ctx("initial_data", "tok");
    let seed = json!({"database": "acme", "id": "initial-data", "sql": "insert into t values (1)"});
    let t = DatabaseSeed;
    t.validate(&seed).unwrap();
    assert_eq!(t.read(&ctx, &seed, None).await.unwrap(), None);
    let a = t.apply(&ctx, &seed, None).await.unwrap();
    assert_eq!(a.outcome, Outcome::Created);
    check_outputs(&t, &a.outputs);
    assert_eq!(
        a.outputs["checksum"],
        SeedSpec {
            database: "acme".into(),
            id: "initial-data".into(),
            sql: "insert into t values (1)".into()
        }
        .checksum()
    );
    assert_eq!(
        t.apply(&ctx, &seed, Some(&a.outputs))
            .await
            .unwrap()
            .outcome,
        Outcome::Unchanged
    );
    assert_eq!(
        t.read(&ctx, &seed, Some(&a.outputs)).await.unwrap(),
        Some(a.outputs.clone())
    );
    let mut changed = seed.clone();
    changed["sql"] = json!("insert into t values (2)");
    let e = t.apply(&ctx, &changed, Some(&a.outputs)).await.unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert_eq!(
        t.delete(&ctx, &seed, &a.outputs).await.unwrap(),
        Deleted::AlreadyGone
    );
    assert_eq!(
        t.delete(&ctx, &seed, &a.outputs).await.unwrap(),
        Deleted::AlreadyGone
    );
}

/// A role, a database `acme` owned by it with two seeds, and a bucket `archive`.
async fn seeded_tenant(h: &Harness) {
    use provisio::database::{DatabaseSpec, RoleSpec};
    use provisio::{Database, ObjectStorage};
    let db = &h.cloud.database;
    db.ensure_role(&RoleSpec {
        name: "acme".into(),
        password: SecretString::new("pw"),
    })
    .await
    .unwrap();
    db.ensure_database(&DatabaseSpec {
        name: "acme".into(),
        owner: "acme".into(),
    })
    .await
    .unwrap();
    for id in ["schema", "initial-data"] {
        db.apply_seed(&SeedSpec {
            database: "acme".into(),
            id: id.into(),
            sql: format!("-- {id}"),
        })
        .await
        .unwrap();
    }
    h.cloud
        .storage
        .ensure_bucket(&provisio::storage::BucketSpec::new("archive"))
        .await
        .unwrap();
}

fn dump_params() -> Value {
    json!({"database": "acme", "bucket": "archive", "key": "acme/db.dump"})
}

#[test]
fn dump_validates_params() {
    DatabaseDump.validate(&dump_params()).unwrap();
    let mut p = dump_params();
    p["keep_on_delete"] = json!("${tenant.keep}");
    p["database"] = json!("${database.name}");
    DatabaseDump.validate(&p).unwrap();
    for (field, bad) in [
        ("database", json!("pg_x")),
        ("bucket", json!("Not A Bucket")),
        ("key", json!("")),
        ("keep_on_delete", json!("maybe")),
    ] {
        let mut p = dump_params();
        p[field] = bad;
        rejects(DatabaseDump.validate(&p), field);
    }
    rejects(
        DatabaseDatabase.validate(&json!({"name": "acme", "owner": "acme",
            "restore_from": {"bucket": "archive"}})),
        "restore_from.key",
    );
    rejects(
        DatabaseDatabase.validate(&json!({"name": "acme", "owner": "acme",
            "restore_from": {"bucket": "archive", "key": "k", "sha256": "abc"}})),
        "restore_from.sha256",
    );
    DatabaseDatabase
        .validate(&json!({"name": "acme", "owner": "acme", "restore_from": "${dump.location}"}))
        .unwrap();
    DatabaseDatabase
        .validate(&json!({"name": "acme", "owner": "acme", "restore_from": null}))
        .unwrap();
}

#[tokio::test]
async fn dump_lifecycle_and_no_op_when_recorded() {
    use provisio::Database;
    let h = Harness::new();
    seeded_tenant(&h).await;
    let ctx = h.ctx("db_archive", "tok");
    let out = lifecycle(&DatabaseDump, &ctx, &dump_params()).await;
    assert_eq!(out["database"], "acme");
    assert_eq!(out["location"]["key"], "acme/db.dump");
    assert_eq!(out["location"]["storage_provider"], "default");
    assert_eq!(out["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(out["size"], out["location"]["size"]);

    // recorded and still there: one head_object, no dump, even with the database gone
    let a = DatabaseDump
        .apply(&ctx, &dump_params(), None)
        .await
        .unwrap();
    h.cloud
        .database
        .drop_database("acme", &provisio::Confirm::named("acme"))
        .await
        .unwrap();
    let faults = h.cloud.database.faults().clone();
    let dumps = faults.calls("database.dump_database");
    let again = DatabaseDump
        .apply(&ctx, &dump_params(), Some(&a.outputs))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(again.outputs, a.outputs);
    assert_eq!(faults.calls("database.dump_database"), dumps);
    assert_eq!(
        DatabaseDump
            .read(&ctx, &dump_params(), Some(&a.outputs))
            .await
            .unwrap(),
        Some(a.outputs.clone())
    );

    // kept on delete: the object stays
    let mut keep = dump_params();
    keep["keep_on_delete"] = json!(true);
    assert_eq!(
        DatabaseDump.delete(&ctx, &keep, &a.outputs).await.unwrap(),
        Deleted::Deleted
    );
    assert!(
        DatabaseDump
            .read(&ctx, &keep, None)
            .await
            .unwrap()
            .is_some()
    );
    // the object gone and the database gone: the dump cannot be made again
    DatabaseDump
        .delete(&ctx, &dump_params(), &a.outputs)
        .await
        .unwrap();
    let e = DatabaseDump
        .apply(&ctx, &dump_params(), Some(&a.outputs))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::NotFound, "{e}");
}

#[tokio::test]
async fn restore_from_a_dump_never_over_a_live_database() {
    use provisio::Database;
    let h = Harness::new();
    seeded_tenant(&h).await;
    let before = h.cloud.database.inventory();
    let dump = DatabaseDump
        .apply(&h.ctx("db_archive", "tok"), &dump_params(), None)
        .await
        .unwrap();
    let ctx = h.ctx("database", "tok");
    let params = json!({"name": "acme", "owner": "acme", "restore_from": dump.outputs["location"]});

    // a live database with data, no outputs recorded: refused, nothing changed
    let e = DatabaseDatabase
        .apply(&ctx, &params, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("acme"), "{e}");
    assert_eq!(h.cloud.database.inventory(), before);
    // with outputs recorded and the database live: the plain ensure
    let recorded = json!({"name": "acme", "owner": "acme"});
    let a = DatabaseDatabase
        .apply(&ctx, &params, Some(&recorded))
        .await
        .unwrap();
    assert_eq!(a.outcome, Outcome::Unchanged);

    // archived: dropped; restore brings it back with the same seeds
    h.cloud
        .database
        .drop_database("acme", &provisio::Confirm::named("acme"))
        .await
        .unwrap();
    let a = DatabaseDatabase
        .apply(&ctx, &params, Some(&recorded))
        .await
        .unwrap();
    assert_eq!(a.outcome, Outcome::Created);
    assert_eq!(a.outputs, recorded);
    assert_eq!(h.cloud.database.inventory(), before);

    // a dump whose checksum is not the recorded one is not restored
    h.cloud
        .database
        .drop_database("acme", &provisio::Confirm::named("acme"))
        .await
        .unwrap();
    let mut tampered = params.clone();
    tampered["restore_from"]["sha256"] = json!("0".repeat(64));
    let e = DatabaseDatabase
        .apply(&ctx, &tampered, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("SHA-256"), "{e}");
    assert!(!h.cloud.database.database_exists("acme").await.unwrap());
    let mut wrong_size = params.clone();
    wrong_size["restore_from"]["size"] = json!(1);
    let e = DatabaseDatabase
        .apply(&ctx, &wrong_size, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("recorded"), "{e}");

    // no dump object: created empty
    let mut missing = params.clone();
    missing["restore_from"]["key"] = json!("acme/none.dump");
    let a = DatabaseDatabase.apply(&ctx, &missing, None).await.unwrap();
    assert_eq!(a.outcome, Outcome::Created);
    assert!(h.cloud.database.seeds("acme").is_empty());
    // an existing empty database is restored into
    let a = DatabaseDatabase.apply(&ctx, &params, None).await.unwrap();
    assert_eq!(a.outcome, Outcome::Updated);
    assert_eq!(h.cloud.database.inventory(), before);

    // an unknown storage provider is named
    let mut other = params.clone();
    other["restore_from"]["storage_provider"] = json!("nowhere");
    h.cloud
        .database
        .drop_database("acme", &provisio::Confirm::named("acme"))
        .await
        .unwrap();
    let e = DatabaseDatabase
        .apply(&ctx, &other, None)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("storage_provider"), "{e}");
}

#[test]
fn validates_snapshot_params() {
    let ok = json!({"server": "acme-db", "name": "acme-db-archive", "keep_on_delete": true});
    DatabaseSnapshot.validate(&ok).unwrap();
    DatabaseSnapshot
        .validate(&json!({"server": "${tenant.name}-db", "name": "${tenant.name}-db-archive"}))
        .unwrap();
    for (field, bad) in [
        ("server", json!("1db")),
        ("name", json!("a--b")),
        ("name", json!("Bad_Name!")),
        ("keep_on_delete", json!("maybe")),
        ("wait_timeout_secs", json!(0)),
    ] {
        let mut p = ok.clone();
        p[field] = bad;
        rejects(DatabaseSnapshot.validate(&p), field);
    }
    rejects(
        DatabaseSnapshot.validate(&json!({"server": "acme-db"})),
        "name",
    );
    // the server's restore: a snapshot identifier, a reference, or null
    let mut p = server_params();
    for fine in [
        json!("acme-db-archive"),
        json!("${db_snapshot.snapshot}"),
        Value::Null,
    ] {
        p["restore_from_snapshot"] = fine;
        DatabaseServer.validate(&p).unwrap();
    }
    p["restore_from_snapshot"] = json!("bad--snapshot");
    rejects(DatabaseServer.validate(&p), "restore_from_snapshot");
    p["restore_from_snapshot"] = json!(7);
    rejects(DatabaseServer.validate(&p), "restore_from_snapshot");
}

#[tokio::test]
async fn snapshot_lifecycle_and_restore() {
    let h = Harness::new();
    with_secret(&h, "acme-db-admin", "admin-pw").await;
    let server_ctx = h.ctx("db_server", "tok");
    DatabaseServer
        .apply(&server_ctx, &server_params(), None)
        .await
        .unwrap();
    let ctx = h.ctx("db_snapshot", "tok");
    let params = json!({"server": "acme-db", "name": "acme-db-archive"});
    let out = lifecycle(&DatabaseSnapshot, &ctx, &params).await;
    assert_eq!(
        out,
        json!({"name": "acme-db-archive", "server": "acme-db", "status": "available",
               "snapshot": "acme-db-archive"})
    );
    assert!(
        h.cloud.database.snapshots().is_empty(),
        "deleted with the resource"
    );

    // keep_on_delete: the snapshot outlives the resource and its server
    let keep = json!({"server": "acme-db", "name": "acme-db-archive", "keep_on_delete": true});
    let a = DatabaseSnapshot.apply(&ctx, &keep, None).await.unwrap();
    assert_eq!(a.outcome, Outcome::Created);
    DatabaseServer
        .delete(&server_ctx, &server_params(), &Value::Null)
        .await
        .unwrap();
    // resumed after the server is gone: still there, unchanged, one read
    h.cloud.faults.reset_counters();
    let again = DatabaseSnapshot
        .apply(&ctx, &keep, Some(&a.outputs))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Unchanged);
    assert_eq!(h.cloud.faults.calls("database.*"), 1);
    assert_eq!(
        DatabaseSnapshot
            .delete(&ctx, &keep, &a.outputs)
            .await
            .unwrap(),
        Deleted::Deleted
    );
    // (and the server's own final snapshot)
    assert_eq!(
        h.cloud.database.snapshots(),
        ["acme-db-archive", "acme-db-final"]
    );

    // another server may not take the identifier
    let mut other = server_params();
    other["name"] = json!("other-db");
    DatabaseServer
        .apply(&server_ctx, &other, None)
        .await
        .unwrap();
    let e = DatabaseSnapshot
        .apply(
            &ctx,
            &json!({"server": "other-db", "name": "acme-db-archive"}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("other-db"), "{e}");

    // the server comes back from the snapshot, once
    let mut restore = server_params();
    restore["restore_from_snapshot"] = json!("acme-db-archive");
    let r = DatabaseServer
        .apply(&server_ctx, &restore, None)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Created);
    assert_eq!(r.outputs["status"], "available");
    let inv = h.cloud.database.inventory();
    assert_eq!(
        inv.get("database.server", "acme-db").unwrap()["restored_from"],
        "acme-db-archive"
    );
    let r = DatabaseServer
        .apply(&server_ctx, &restore, Some(&r.outputs))
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Unchanged);

    // a missing snapshot is NotFound naming it: no empty server in its place
    let mut lost = server_params();
    lost["name"] = json!("lost-db");
    lost["restore_from_snapshot"] = json!("never-taken");
    let e = DatabaseServer
        .apply(&server_ctx, &lost, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::NotFound, "{e}");
    assert!(e.message().contains("never-taken"), "{e}");
    assert!(
        !h.cloud
            .database
            .inventory()
            .contains("database.server", "lost-db")
    );
}

#[tokio::test]
async fn another_tenants_snapshot_is_not_adopted_nor_deleted() {
    let h = Harness::new();
    with_secret(&h, "acme-db-admin", "admin-pw").await;
    DatabaseServer
        .apply(&h.ctx("db_server", "tok"), &server_params(), None)
        .await
        .unwrap();
    let theirs = provisio::types::ownership::tags("globex", "launch", "db_snapshot");
    h.cloud
        .database
        .ensure_snapshot("acme-db", "acme-db-archive", &theirs)
        .await
        .unwrap();
    let ctx = h.ctx("db_snapshot", "tok");
    let params = json!({"server": "acme-db", "name": "acme-db-archive"});
    let e = DatabaseSnapshot
        .apply(&ctx, &params, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("globex"), "{e}");
    let e = DatabaseSnapshot
        .delete(&ctx, &params, &Value::Null)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert_eq!(h.cloud.database.snapshots(), ["acme-db-archive"]);
}

#[tokio::test]
async fn a_snapshot_left_by_an_earlier_archive_is_not_taken_for_a_new_one() {
    let h = Harness::new();
    with_secret(&h, "acme-db-admin", "admin-pw").await;
    DatabaseServer
        .apply(&h.ctx("db_server", "tok"), &server_params(), None)
        .await
        .unwrap();
    let params = json!({"server": "acme-db", "name": "acme-db-archive"});
    // the first archive's step (generation 0) took it, and its record is gone since
    let first = h.ctx("db_snapshot", "gen-0");
    let a = DatabaseSnapshot.apply(&first, &params, None).await.unwrap();
    assert_eq!(a.outcome, Outcome::Created);
    let snap = h
        .cloud
        .database
        .get_snapshot("acme-db-archive")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(snap.tags[SNAPSHOT_TOKEN_TAG], "gen-0");
    // a resumed run of that same step adopts it
    let resumed = DatabaseSnapshot.apply(&first, &params, None).await.unwrap();
    assert_eq!(resumed.outcome, Outcome::Unchanged);
    // the next archive's step refuses it, naming it, and changes nothing
    let next = h.ctx("db_snapshot", "gen-1");
    let e = DatabaseSnapshot
        .apply(&next, &params, None)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
    assert!(
        e.message().contains("\"acme-db-archive\"") && e.message().contains("earlier archive"),
        "{e}"
    );
    assert_eq!(h.cloud.database.snapshots(), ["acme-db-archive"]);
    // once it is deleted, the next archive takes a fresh one
    h.cloud
        .database
        .delete_snapshot("acme-db-archive")
        .await
        .unwrap();
    let b = DatabaseSnapshot.apply(&next, &params, None).await.unwrap();
    assert_eq!(b.outcome, Outcome::Created);
}
