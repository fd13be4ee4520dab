//! The naming rules of the services the memory providers model, exactly as those services
//! apply them, for [`provisio::Provider::check_name`]: a memory provider refuses what the
//! real server would refuse, and nothing more.
//!
//! | kind | memory provider | rule |
//! |---|---|---|
//! | database | [`crate::MemoryDatabase`] | [`postgres_database`] |
//! | role | [`crate::MemoryDatabase`] | [`postgres_role`] |
//! | branch | [`crate::MemoryRepo`] | [`git_branch`] |
//! | secret name | [`crate::MemorySecrets`] | [`path_capable_secret`] |
//! | bucket | [`crate::MemoryStorage`] | S3's ([`validate::s3_bucket_name`]) |
//!
//! Every other kind uses the portable rule ([`validate::portable`]).

use provisio::validate::{self, NameKind};
use provisio::{Error, Result};

/// The databases every PostgreSQL server has from `initdb` on: `CREATE DATABASE` of one of
/// them fails (it exists), and the templates cannot be dropped.
pub const POSTGRES_BUILTIN_DATABASES: [&str; 3] = ["postgres", "template0", "template1"];

/// The role every PostgreSQL server is initialised with (the bootstrap superuser).
pub const POSTGRES_BOOTSTRAP_ROLE: &str = "postgres";

fn fail(field: &str, rule: String) -> Result<String> {
    Err(Error::invalid_field(field, rule))
}

/// A PostgreSQL identifier as provisio's PostgreSQL provider takes it
/// ([`validate::pg_identifier`]: 1 to 63 bytes, as the server truncates longer names; no NUL;
/// no `pg_` prefix, which the server reserves for roles and provisio for databases too).
/// What a name the server may already have (a built-in database, the bootstrap role) must
/// satisfy to be looked up.
pub fn postgres_identifier(field: &str, value: &str) -> Result<String> {
    validate::pg_identifier(field, value)
}

/// A database provisio may create on a PostgreSQL server: a [`postgres_identifier`] that is
/// not one of [`POSTGRES_BUILTIN_DATABASES`] (they exist on every server, so `CREATE
/// DATABASE` of one fails, and a template cannot be dropped).
///
/// ```
/// use provisio_memory::names::postgres_database;
/// assert!(postgres_database("database", "acme").is_ok());
/// assert!(postgres_database("database", "template1").is_err());
/// assert!(postgres_database("database", "postgres").is_err());
/// ```
pub fn postgres_database(field: &str, value: &str) -> Result<String> {
    let name = postgres_identifier(field, value)?;
    if POSTGRES_BUILTIN_DATABASES.contains(&value) {
        return fail(
            field,
            format!(
                "{value:?} already exists on every PostgreSQL server ({})",
                if value == "postgres" {
                    "the maintenance database"
                } else {
                    "a template database"
                }
            ),
        );
    }
    Ok(name)
}

/// A role provisio may create on a PostgreSQL server: a [`postgres_identifier`] (so not
/// starting with `pg_`, the server's reserved prefix); not `public` or `none` (reserved role
/// names); not [`POSTGRES_BOOTSTRAP_ROLE`] (it exists on every server).
///
/// ```
/// use provisio_memory::names::postgres_role;
/// assert!(postgres_role("role", "acme").is_ok());
/// assert!(postgres_role("role", "pg_monitor").is_err());
/// assert!(postgres_role("role", "postgres").is_err());
/// ```
pub fn postgres_role(field: &str, value: &str) -> Result<String> {
    let name = postgres_identifier(field, value)?;
    if value == "public" || value == "none" {
        return fail(field, format!("{value:?} is a reserved role name"));
    }
    if value == POSTGRES_BOOTSTRAP_ROLE {
        return fail(
            field,
            format!(
                "{value:?} already exists on every PostgreSQL server (the bootstrap superuser)"
            ),
        );
    }
    Ok(name)
}

/// A branch name as `git check-ref-format --branch` accepts it: the ref-format rules (see
/// [`validate::git_branch_name`]) and not `HEAD`.
///
/// ```
/// use provisio_memory::names::git_branch;
/// assert!(git_branch("branch", "dev-acme").is_ok());
/// assert!(git_branch("branch", "HEAD").is_err());
/// assert!(git_branch("branch", "feature/HEAD").is_ok());
/// ```
pub fn git_branch(field: &str, value: &str) -> Result<String> {
    if value == "HEAD" {
        return fail(field, "\"HEAD\" is not a valid branch name".to_string());
    }
    validate::git_branch_name(field, value)
}

/// A secret name in a store with paths (AWS Secrets Manager's rule, which also accepts every
/// Key Vault name): what [`validate::aws_secret_name`] or [`validate::keyvault_secret_name`]
/// accepts, so `tenants/acme/db-password` and `acme-db-passwd` both pass.
///
/// ```
/// use provisio_memory::names::path_capable_secret;
/// assert!(path_capable_secret("secret", "tenants/acme/db-password").is_ok());
/// assert!(path_capable_secret("secret", "acme db").is_err());
/// ```
pub fn path_capable_secret(field: &str, value: &str) -> Result<String> {
    validate::aws_secret_name(field, value)
        .or_else(|e| validate::keyvault_secret_name(field, value).map_err(|_| e))
}

/// The memory providers' [`provisio::Provider::check_name`]: the rule above for the kinds a
/// provider models, the portable rule for the others.
pub(crate) fn check(own: &[NameKind], kind: NameKind, field: &str, value: &str) -> Result<()> {
    let owned = own.contains(&kind);
    match kind {
        NameKind::Database if owned => postgres_database(field, value),
        NameKind::Role if owned => postgres_role(field, value),
        NameKind::Branch if owned => git_branch(field, value),
        NameKind::Secret if owned => path_capable_secret(field, value),
        NameKind::Bucket if owned => validate::s3_bucket_name(field, value),
        _ => validate::portable(kind, field, value),
    }
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(r: Result<String>, needle: &str) {
        let e = r.expect_err(needle);
        assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput);
        assert!(e.message().contains(needle), "{needle}: {}", e.message());
    }

    #[test]
    fn databases() {
        for ok in [
            "acme",
            "Acme DB",
            "x",
            &"a".repeat(63),
            "Postgres",
            "template2",
        ] {
            assert_eq!(postgres_database("database", ok).unwrap(), ok);
        }
        refused(
            postgres_database("database", "template0"),
            "template database",
        );
        refused(
            postgres_database("database", "template1"),
            "template database",
        );
        refused(
            postgres_database("database", "postgres"),
            "maintenance database",
        );
        refused(
            postgres_database("database", "pg_catalog2"),
            "reserved prefix",
        );
        refused(postgres_database("database", ""), "database");
        refused(postgres_database("database", &"a".repeat(64)), "database");
        refused(postgres_database("database", "a\0b"), "NUL");
        refused(postgres_database("database", "template1"), "database:");
    }

    #[test]
    fn roles() {
        for ok in ["acme", "current_user", "Postgres", "my pg_role"] {
            assert_eq!(postgres_role("role", ok).unwrap(), ok);
        }
        refused(postgres_role("role", "postgres"), "bootstrap superuser");
        refused(postgres_role("role", "pg_monitor"), "reserved prefix");
        refused(postgres_role("role", "PG_Monitor"), "reserved prefix");
        refused(postgres_role("role", "public"), "reserved role name");
        refused(postgres_role("role", "none"), "reserved role name");
        refused(postgres_role("role", &"r".repeat(64)), "role");
    }

    #[test]
    fn branches() {
        for ok in ["main", "dev-acme", "feature/HEAD", "HEADS", "head", "a/b.c"] {
            assert_eq!(git_branch("branch", ok).unwrap(), ok);
        }
        refused(git_branch("branch", "HEAD"), "not a valid branch name");
        for bad in [
            "-x",
            "a..b",
            "a b",
            "a~b",
            "a^b",
            "a:b",
            "a?b",
            "a*b",
            "a[b",
            "a\\b",
            "a@{b",
            "@",
            "/a",
            "a/",
            "a//b",
            "a.",
            ".a",
            "a/.b",
            "a.lock",
            "a/b.lock/c",
            "a\u{7f}b",
        ] {
            assert!(git_branch("branch", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secrets() {
        for ok in [
            "acme-db",
            "tenants/acme/db-password",
            "a_b+c=d.e@f",
            // Key Vault accepts it; AWS would take "-passwd" for an ARN suffix
            "acme-db-passwd",
        ] {
            assert_eq!(path_capable_secret("secret", ok).unwrap(), ok);
        }
        refused(path_capable_secret("secret", "acme db"), "contains ' '");
        refused(path_capable_secret("secret", ""), "secret");
        refused(path_capable_secret("secret", &"s".repeat(513)), "secret");
    }

    #[test]
    fn providers_check_their_own_kinds_and_the_portable_rule_for_the_rest() {
        let db = [NameKind::Database, NameKind::Role];
        assert!(check(&db, NameKind::Database, "d", "template1").is_err());
        // not the database provider's kind: the portable rule refuses them too (PostgreSQL
        // makes them on every server, so no provider can create them)
        assert!(check(&[], NameKind::Database, "d", "template1").is_err());
        assert!(check(&[], NameKind::Database, "d", "tenant_db").is_ok());
        assert!(check(&db, NameKind::Role, "r", "postgres").is_err());
        assert!(check(&[], NameKind::Secret, "s", "tenants/acme/db").is_err());
        assert!(
            check(
                &[NameKind::Secret],
                NameKind::Secret,
                "s",
                "tenants/acme/db"
            )
            .is_ok()
        );
        // S3 only: an Azure-only container name ($web) is refused by the S3 model
        assert!(check(&[], NameKind::Bucket, "b", "$web").is_ok());
        assert!(check(&[NameKind::Bucket], NameKind::Bucket, "b", "$web").is_err());
        assert!(check(&[NameKind::Branch], NameKind::Branch, "b", "HEAD").is_err());
        assert!(check(&[NameKind::Branch], NameKind::DnsName, "n", "a..b").is_err());
    }

    #[tokio::test]
    async fn the_memory_providers_refuse_at_their_boundary() {
        use provisio::database::{DatabaseSpec, RoleSpec};
        use provisio::{Confirm, Database, Provider, Repository, SecretStore, SecretString};
        let c = crate::MemoryCloud::new(1);
        let role = |name: &str| RoleSpec {
            name: name.into(),
            password: SecretString::new("pw"),
        };
        let db = |name: &str, owner: &str| DatabaseSpec {
            name: name.into(),
            owner: owner.into(),
        };
        let invalid = |e: provisio::Error| {
            assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
            e.message().to_string()
        };
        for name in ["postgres", "pg_monitor", "public"] {
            invalid(c.database.ensure_role(&role(name)).await.unwrap_err());
        }
        for name in ["template0", "template1", "postgres"] {
            let m = invalid(
                c.database
                    .ensure_database(&db(name, "postgres"))
                    .await
                    .unwrap_err(),
            );
            assert!(
                m.contains("already exists on every PostgreSQL server"),
                "{m}"
            );
            assert!(
                c.database.database_exists(name).await.unwrap(),
                "{name} exists"
            );
            let e = c
                .database
                .drop_database(name, &Confirm::named(name))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
            assert!(e.message().contains("refusing to drop"), "{e}");
        }
        assert!(c.database.role_exists("postgres").await.unwrap());
        let e = c
            .database
            .drop_role("postgres", &Confirm::named("postgres"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Conflict, "{e}");
        // the bootstrap superuser may own a database
        c.database
            .ensure_database(&db("acme", "postgres"))
            .await
            .unwrap();
        assert_eq!(c.inventory().count("database.database"), 1);
        assert_eq!(c.inventory().count("database.role"), 0);

        let m = invalid(c.repo.ensure_branch("HEAD", "main").await.unwrap_err());
        assert!(m.contains("HEAD"), "{m}");
        c.repo.ensure_branch("feature/HEAD", "main").await.unwrap();

        c.secrets
            .put_secret(
                "tenants/acme/db-password",
                &SecretString::new("pw"),
                &Default::default(),
            )
            .await
            .unwrap();
        invalid(
            c.secrets
                .put_secret("acme db", &SecretString::new("pw"), &Default::default())
                .await
                .unwrap_err(),
        );

        // what the engine asks at plan time, through the trait
        let database: &dyn Provider = c.database.as_ref();
        assert!(
            database
                .check_name(NameKind::Role, "role", "postgres")
                .is_err()
        );
        assert!(
            database
                .check_name(NameKind::Database, "db", "template0")
                .is_err()
        );
        assert!(
            database
                .check_name(NameKind::Database, "db", "acme")
                .is_ok()
        );
        let repo: &dyn Provider = c.repo.as_ref();
        assert!(repo.check_name(NameKind::Branch, "branch", "HEAD").is_err());
        let secrets: &dyn Provider = c.secrets.as_ref();
        assert!(
            secrets
                .check_name(NameKind::Secret, "s", "tenants/acme/db")
                .is_ok()
        );
        let storage: &dyn Provider = c.storage.as_ref();
        assert!(
            storage
                .check_name(NameKind::Bucket, "b", "My_Bucket")
                .is_err()
        );
        let dns: &dyn Provider = c.dns.as_ref();
        assert!(
            dns.check_name(NameKind::DnsName, "n", "www.example.com")
                .is_ok()
        );
    }
}
