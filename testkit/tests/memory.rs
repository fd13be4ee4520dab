//! The conformance suite against the in-memory providers (`provisio-memory`).
//!
//! Every generated test builds a fresh [`MemoryCloud`](provisio_memory::MemoryCloud), so cases
//! never see each other's resources.

use provisio_memory::MemoryCloud;

/// A fresh set of memory providers, deterministic under one seed.
fn cloud() -> MemoryCloud {
    MemoryCloud::new(7)
}

mod dns {
    provisio_testkit::dns_conformance! {
        provider: {
            let cloud = super::cloud();
            cloud.dns.add_zone("example.test");
            cloud.dns
        },
        context: provisio_testkit::dns::DnsContext::new("example.test"),
    }
}

mod storage {
    provisio_testkit::storage_conformance! {
        provider: super::cloud().storage,
        context: provisio_testkit::storage::StorageContext::new("provisio-test-"),
    }
}

mod compute {
    provisio_testkit::compute_conformance! {
        provider: super::cloud().compute,
        context: provisio_testkit::compute::ComputeContext::new("ami-12c6146b", "t3.micro")
            .with_wait_timeout(std::time::Duration::from_secs(30)),
    }
}

mod ci {
    provisio_testkit::ci_conformance! {
        provider: super::cloud().ci,
        context: provisio_testkit::ci::CiContext::new("provisio-tests")
            .with_build_timeout(std::time::Duration::from_secs(30)),
    }
}

mod secrets {
    provisio_testkit::secrets_conformance! {
        provider: super::cloud().secrets,
        context: provisio_testkit::secrets::SecretsContext::new("provisio-test-"),
    }
}

mod database {
    provisio_testkit::database_conformance! {
        provider: super::cloud().database,
        context: provisio_testkit::database::DatabaseContext::default(),
    }
}

mod repo {
    provisio_testkit::repo_conformance! {
        provider: super::cloud().repo,
        context: provisio_testkit::repo::RepoContext::new("main"),
    }
}

mod mail {
    provisio_testkit::mail_conformance! {
        provider: super::cloud().mail,
        context: provisio_testkit::mail::MailContext::new("example.test"),
    }
}

/// The memory probe with the URLs the probe cases fetch (see `probe_context`).
fn probe_cloud() -> MemoryCloud {
    use provisio_memory::probe::{MemoryAnswer, ProbeFailure};
    let cloud = cloud();
    let p = &cloud.probe;
    p.set_answer("http://probe.test/down", MemoryAnswer::status(503, "down"))
        .unwrap();
    p.set_answer(
        "http://probe.test/refused",
        MemoryAnswer::failing(ProbeFailure::Refused),
    )
    .unwrap();
    p.set_answer(
        "http://probe.test/hangs",
        MemoryAnswer::failing(ProbeFailure::Hangs),
    )
    .unwrap();
    p.set_answer(
        "http://probe.test/large",
        MemoryAnswer::status(200, "x".repeat(100_000)),
    )
    .unwrap();
    p.set_answer(
        "https://self-signed.probe.test/",
        MemoryAnswer::status(200, "hi").untrusted(Some("/memory/ca.pem".into())),
    )
    .unwrap();
    cloud
}

fn probe_context() -> provisio_testkit::probe::ProbeContext {
    let mut ctx = provisio_testkit::probe::ProbeContext::new(
        "https://probe.test/health",
        "ok",
        "http://probe.test/down",
        503,
        "http://probe.test/refused",
    );
    ctx.hanging_url = Some("http://probe.test/hangs".into());
    ctx.large_url = Some("http://probe.test/large".into());
    ctx.untrusted_tls = Some((
        "https://self-signed.probe.test/".into(),
        "/memory/ca.pem".into(),
    ));
    ctx
}

mod probe {
    provisio_testkit::probe_conformance! {
        provider: super::probe_cloud().probe,
        context: super::probe_context(),
    }
}

mod host {
    provisio_testkit::host_conformance! {
        provider: super::cloud().host,
        context: provisio_testkit::host::HostContext::new("/srv/conformance").scripted(),
    }
}

/// `CASES` lists what the macros generate, so custom runners see the same cases.
#[test]
fn case_tables_are_complete() {
    assert_eq!(provisio_testkit::dns::CASES.len(), 12);
    assert_eq!(provisio_testkit::storage::CASES.len(), 16);
    assert_eq!(provisio_testkit::compute::CASES.len(), 8);
    assert_eq!(provisio_testkit::ci::CASES.len(), 13);
    assert_eq!(provisio_testkit::secrets::CASES.len(), 12);
    assert_eq!(provisio_testkit::database::CASES.len(), 11);
    assert_eq!(provisio_testkit::repo::CASES.len(), 7);
    assert_eq!(provisio_testkit::mail::CASES.len(), 7);
    assert_eq!(provisio_testkit::probe::CASES.len(), 9);
    assert_eq!(provisio_testkit::host::CASES.len(), 9);
}

/// Every case of every trait driven through `CASES` on one shared set of providers: names from
/// `unique` keep the cases apart (as they must against a shared real server), and together they
/// leave nothing behind.
#[test]
fn every_case_cleans_up_on_a_shared_provider() {
    use provisio::CiServer;
    use provisio_testkit as tk;
    let cloud = cloud();
    cloud.dns.add_zone("shared.test");
    let dns = tk::dns::DnsContext::new("shared.test");
    let storage = tk::storage::StorageContext::new("shared-");
    let compute = tk::compute::ComputeContext::new("ami-12c6146b", "t3.micro");
    let ci = tk::ci::CiContext::new("shared");
    let secrets = tk::secrets::SecretsContext::new("shared-");
    let database = tk::database::DatabaseContext::default();
    let repo = tk::repo::RepoContext::default();
    let mail = tk::mail::MailContext::new("shared.test");
    let host = tk::host::HostContext::new("/srv/shared").scripted();
    tk::run_case("all cases via CASES", async {
        // The CI context folder is the shared parent the cases work in; it stays.
        cloud.ci.ensure_folder(&ci.folder).await?;
        let before = cloud.inventory();
        for case in tk::dns::CASES {
            (case.run)(&*cloud.dns, &dns).await?;
        }
        for case in tk::storage::CASES {
            (case.run)(&*cloud.storage, &storage).await?;
        }
        for case in tk::compute::CASES {
            (case.run)(&*cloud.compute, &compute).await?;
        }
        for case in tk::ci::CASES {
            (case.run)(&*cloud.ci, &ci).await?;
        }
        for case in tk::secrets::CASES {
            (case.run)(&*cloud.secrets, &secrets).await?;
        }
        for case in tk::database::CASES {
            (case.run)(&*cloud.database, &database).await?;
        }
        for case in tk::repo::CASES {
            (case.run)(&*cloud.repo, &repo).await?;
        }
        for case in tk::mail::CASES {
            (case.run)(&*cloud.mail, &mail).await?;
        }
        let probe = probe_context();
        let probes = probe_cloud().probe;
        for case in tk::probe::CASES {
            (case.run)(&*probes, &probe).await?;
        }
        for case in tk::host::CASES {
            (case.run)(&*cloud.host, &host).await?;
        }
        let after = cloud.inventory();
        assert!(
            before.diff(&after).is_empty(),
            "the cases left resources behind:\n{}",
            before.diff(&after)
        );
        let retired = cloud.retired();
        assert_eq!(
            retired.count("secrets.deleted_secret"),
            0,
            "the secrets cases left soft-deleted secrets behind"
        );
        Ok(())
    });
}

/// With the variable unset the `env:` form skips (and passes); with it set, the endpoint is
/// bound for the provider expression.
mod env_selected {
    provisio_testkit::repo_conformance! {
        env: endpoint = "TESTKIT-SELF-CHECK",
        provider: {
            assert!(!endpoint.is_empty());
            super::cloud().repo
        },
        context: provisio_testkit::repo::RepoContext::default(),
    }
}

/// Providers that implement only part of a trait, to run the "unsupported" side of the
/// capability checks (every memory provider supports everything), and a provider with a bug the
/// suite must catch.
mod restricted {
    use provisio::database::{
        AppliedSeed, DatabaseCapabilities, DatabaseSpec, DeleteServer, RoleSpec, SeedSpec, Server,
        ServerSpec,
    };
    use provisio::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
    use provisio::{
        Confirm, Database, Deleted, DnsProvider, Ensured, Error, Page, PageRequest, Provider,
        ProviderInfo, Result,
    };
    use provisio_memory::{MemoryDatabase, MemoryDns};
    use std::sync::Arc;

    /// A PostgreSQL-like provider: roles and databases, no managed servers.
    pub struct RolesOnly(pub Arc<MemoryDatabase>);

    impl Provider for RolesOnly {
        fn info(&self) -> ProviderInfo {
            self.0.info()
        }
    }

    #[provisio::async_trait]
    impl Database for RolesOnly {
        fn capabilities(&self) -> DatabaseCapabilities {
            DatabaseCapabilities {
                servers: false,
                roles_and_databases: true,
                dump_restore: false,
                snapshots: false,
            }
        }
        async fn ensure_server(&self, _: &ServerSpec) -> Result<Ensured<Server>> {
            Err(Error::unsupported("database.ensure_server"))
        }
        async fn get_server(&self, _: &str) -> Result<Option<Server>> {
            Err(Error::unsupported("database.get_server"))
        }
        async fn delete_server(&self, _: &str, _: &DeleteServer) -> Result<Deleted> {
            Err(Error::unsupported("database.delete_server"))
        }
        async fn ensure_role(&self, spec: &RoleSpec) -> Result<Ensured<String>> {
            self.0.ensure_role(spec).await
        }
        async fn ensure_database(&self, spec: &DatabaseSpec) -> Result<Ensured<String>> {
            self.0.ensure_database(spec).await
        }
        async fn apply_seed(&self, spec: &SeedSpec) -> Result<Ensured<AppliedSeed>> {
            self.0.apply_seed(spec).await
        }
        async fn database_exists(&self, name: &str) -> Result<bool> {
            self.0.database_exists(name).await
        }
        async fn role_exists(&self, name: &str) -> Result<bool> {
            self.0.role_exists(name).await
        }
        async fn drop_database(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
            self.0.drop_database(name, confirm).await
        }
        async fn drop_role(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
            self.0.drop_role(name, confirm).await
        }
    }

    /// A DNS provider whose delete never says `AlreadyGone`: a bug the suite must report.
    pub struct ForgetfulDelete(pub Arc<MemoryDns>);

    impl Provider for ForgetfulDelete {
        fn info(&self) -> ProviderInfo {
            self.0.info()
        }
    }

    #[provisio::async_trait]
    impl DnsProvider for ForgetfulDelete {
        fn capabilities(&self) -> DnsCapabilities {
            self.0.capabilities()
        }
        async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
            self.0.find_zone(name).await
        }
        async fn list_records(&self, zone: &Zone, page: &PageRequest) -> Result<Page<Record>> {
            self.0.list_records(zone, page).await
        }
        async fn get_record(
            &self,
            zone: &Zone,
            name: &str,
            t: &RecordType,
        ) -> Result<Option<Record>> {
            self.0.get_record(zone, name, t).await
        }
        async fn ensure_record(&self, zone: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
            self.0.ensure_record(zone, spec).await
        }
        async fn delete_record(&self, zone: &Zone, name: &str, t: &RecordType) -> Result<Deleted> {
            self.0.delete_record(zone, name, t).await?;
            Ok(Deleted::Deleted)
        }
    }
}

/// The brief's example of capability honesty: a roles-only provider runs every database case;
/// the server cases check that server operations are `Unsupported`.
mod database_roles_only {
    provisio_testkit::database_conformance! {
        provider: std::sync::Arc::new(super::restricted::RolesOnly(super::cloud().database)),
        context: provisio_testkit::database::DatabaseContext::default(),
    }
}

/// The suite notices a provider that breaks the trait's contract.
#[test]
#[should_panic(expected = "second delete_record of the same record")]
fn suite_catches_a_non_idempotent_delete() {
    let cloud = cloud();
    cloud.dns.add_zone("example.test");
    let dns = restricted::ForgetfulDelete(cloud.dns.clone());
    let ctx = provisio_testkit::dns::DnsContext::new("example.test");
    provisio_testkit::run_case(
        "dns::delete_is_idempotent",
        provisio_testkit::dns::delete_is_idempotent(&dns, &ctx),
    );
}
