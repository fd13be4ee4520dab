//! Shared helpers: the server from `PROVISIO_TEST_POSTGRES_URL`, a superuser client to check
//! what the provider did behind its back, and fresh names.
#![allow(dead_code)]

use provisio::{Confirm, Database};
use provisio_postgres::{PostgresConfig, PostgresDatabase, SslMode};

/// The test server's URL, or `None` (and a "skipped" line) when unset.
pub fn url(test: &str) -> Option<String> {
    let url = provisio_testkit::endpoint_from_env("POSTGRES_URL");
    if url.is_none() {
        provisio_testkit::skip(test, "POSTGRES_URL");
    }
    url
}

/// The configuration for the test server: its URL, `sslmode=disable` unless the URL says
/// otherwise (the local test server has no TLS).
pub fn config(url: &str) -> PostgresConfig {
    let mut c = PostgresConfig::from_url(url).expect("PROVISIO_TEST_POSTGRES_URL");
    if !url.contains("sslmode=") {
        c.sslmode = SslMode::Disable;
    }
    c
}

/// The provider as the URL's (superuser) administrator.
pub fn provider(url: &str) -> provisio::Result<PostgresDatabase> {
    PostgresDatabase::new(config(url))
}

/// A plain superuser connection to `dbname`, for assertions and setup.
pub async fn superuser(url: &str, dbname: &str) -> tokio_postgres::Client {
    let c = config(url);
    let mut pg = tokio_postgres::Config::new();
    pg.host(&c.host).port(c.port).user(&c.user).dbname(dbname);
    if let Ok(pw) = std::env::var(&c.password_env) {
        pg.password(pw);
    }
    let (client, conn) = pg
        .connect(tokio_postgres::NoTls)
        .await
        .expect("superuser connection");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// The admin database of the test URL.
pub fn admin_db(url: &str) -> String {
    config(url).dbname
}

/// A fresh lower-case name for this run.
pub fn name(kind: &str) -> String {
    provisio_testkit::unique(kind)
}

/// A non-superuser administrator with CREATEROLE and CREATEDB (what RDS and Azure give),
/// created by the superuser once per test process (`pt-adm-<run id>`); returns its name.
pub async fn create_limited_admin(su: &tokio_postgres::Client) -> String {
    let admin = format!("pt-adm-{}", provisio_testkit::run_id());
    match su
        .batch_execute(&format!(
            "CREATE ROLE \"{admin}\" LOGIN CREATEROLE CREATEDB NOSUPERUSER"
        ))
        .await
    {
        Ok(()) => {}
        Err(e) if e.code().map(|c| c.code()) == Some("42710") => {}
        Err(e) if e.code().map(|c| c.code()) == Some("23505") => {}
        Err(e) => panic!("create the limited admin: {e}"),
    }
    admin
}

/// Drops what a test made, ignoring errors (best effort cleanup).
pub async fn cleanup(db: &dyn Database, databases: &[&str], roles: &[&str]) {
    for d in databases {
        let _ = db.drop_database(d, &Confirm::named(*d)).await;
    }
    for r in roles {
        let _ = db.drop_role(r, &Confirm::named(*r)).await;
    }
}
