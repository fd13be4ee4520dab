//! The shared database conformance suite against a real PostgreSQL server:
//! `PROVISIO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:55439/postgres` (a superuser,
//! trust or `PGPASSWORD` auth); skipped (and passing) when unset. The server cases check that
//! this provider reports them `Unsupported` (it manages roles and databases only).

mod common;

mod database {
    provisio_testkit::database_conformance! {
        env: url = "POSTGRES_URL",
        provider: std::sync::Arc::new(super::common::provider(&url)?),
        context: provisio_testkit::database::DatabaseContext::default(),
    }
}

/// The same suite through a non-superuser administrator with CREATEROLE and CREATEDB, the
/// privileges a managed service (RDS, Azure) gives its admin user.
mod limited_admin {
    provisio_testkit::database_conformance! {
        env: url = "POSTGRES_URL",
        provider: {
            let su = super::common::superuser(&url, &super::common::admin_db(&url)).await;
            let admin = super::common::create_limited_admin(&su).await;
            let config = super::common::config(&url).with_user(admin);
            std::sync::Arc::new(provisio_postgres::PostgresDatabase::new(config)?)
        },
        context: provisio_testkit::database::DatabaseContext::default(),
    }
}
