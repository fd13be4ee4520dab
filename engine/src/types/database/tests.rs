//! Tests of the `database.*` resource types.

use super::*;
use crate::resource::ResourceType;
use crate::types::testing::{Harness, check_outputs, lifecycle, rejects};
use provisio::database::SeedSpec;
use provisio::{Deleted, Outcome, SecretStore, SecretString};
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
