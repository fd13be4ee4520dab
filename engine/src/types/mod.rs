//! The built-in resource types, one module per capability.
//!
//! | type | module | what it manages |
//! |---|---|---|
//! | `dns.record` | [`dns`] | one record (name + type) in a zone |
//! | `storage.bucket` | [`storage`] | a bucket / container |
//! | `storage.objects` | [`storage`] | objects under a prefix (initial assets, a tenant prefix) |
//! | `storage.prefix` | [`storage`] | the storage class and expiry rule of every object under a prefix (archive, restore, retire) |
//! | `compute.instance` | [`compute`] | a virtual machine |
//! | `ci.folder`, `ci.job`, `ci.downstream` | [`ci`] | Jenkins folders, jobs, umbrella-job references |
//! | `secrets.secret` | [`secrets`] | a generated or handed-in secret |
//! | `database.server`, `database.role`, `database.database`, `database.seed` | [`database`] | managed servers and what lives inside them |
//! | `database.dump` | [`database`] | a database's dump streamed into object storage (archive; `restore_from` reads it back) |
//! | `database.snapshot` | [`database`] | a snapshot of a managed server (archive; `database.server`'s `restore_from_snapshot` restores it) |
//! | `repo.branch`, `repo.files` | [`repo`] | git branches and files committed to them |
//! | `mail.identity` | [`mail`] | a sending domain or address |
//! | `http.check` | [`http`] | waits until a URL answers as expected (a health check) |
//! | `host.stack` | [`host`] | files in a directory of a remote host, started by a command |
//!
//! Every type follows the same rules:
//! - Its parameters are a `#[derive(Deserialize)] #[serde(deny_unknown_fields)]` struct read
//!   once per call through `types/params/` (`<Struct>::parse(params, phase)`), which also names the
//!   fields whose change replaces the resource (its `REPLACE`, returned by `replace_fields`). No
//!   type reads JSON by hand.
//! - `validate` runs at load time, when string parameters may still hold unresolved `${...}`
//!   references: presence, JSON types and unknown fields are always checked (by the struct),
//!   name rules and ranges only on resolved values (integer and boolean fields holding a
//!   reference are checked once resolved). Errors are `InvalidInput` and name the field path and
//!   the rule (`invalid copy_from.bucket: is required`, `invalid ttl: expected an integer,
//!   found "abc"`), which the blueprint shows as `resources.<name>.params.<path>: <rule>`.
//! - `check`, `identity`, `read`, `apply` and `delete` parse the resolved parameters with the
//!   same struct: identity inputs and the values sent to the provider come from it.
//! - `apply` is an "ensure": it finds what exists by deterministic name or by ownership tags and
//!   adopts it, so a retried step or a run resumed after a crash never creates a duplicate.
//! - `delete` succeeds with [`Deleted::AlreadyGone`](provisio::Deleted::AlreadyGone) when there is
//!   nothing to delete.
//! - Outputs are plain JSON and never contain a secret value.
//!
//! ```
//! let registry = provisio_engine::types::builtin();
//! assert!(registry.get("dns.record").is_some());
//! assert!(registry.get("ci.downstream").is_some());
//! ```

use crate::resource::{Registry, StepContext};
use provisio::types::ownership;
use provisio::{Error, Result, Tags};
use std::sync::Arc;

pub mod ci;
pub mod compute;
pub mod database;
pub mod dns;
pub mod host;
pub mod http;
pub mod mail;
pub(crate) mod params;
pub mod repo;
pub mod secrets;
pub mod storage;

/// A registry holding every built-in resource type.
pub fn builtin() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(dns::DnsRecord))
        .register(Arc::new(storage::StorageBucket))
        .register(Arc::new(storage::StorageObjects))
        .register(Arc::new(storage::StoragePrefix))
        .register(Arc::new(compute::ComputeInstance))
        .register(Arc::new(ci::CiFolder))
        .register(Arc::new(ci::CiJob))
        .register(Arc::new(ci::CiDownstream))
        .register(Arc::new(secrets::SecretsSecret))
        .register(Arc::new(database::DatabaseServer))
        .register(Arc::new(database::DatabaseRole))
        .register(Arc::new(database::DatabaseDatabase))
        .register(Arc::new(database::DatabaseSeed))
        .register(Arc::new(database::DatabaseDump))
        .register(Arc::new(database::DatabaseSnapshot))
        .register(Arc::new(repo::RepoBranch))
        .register(Arc::new(repo::RepoFiles))
        .register(Arc::new(mail::MailIdentity))
        .register(Arc::new(http::HttpCheck))
        .register(Arc::new(host::HostStack));
    r
}

/// Fails with `Conflict` when `tags` say the resource belongs to another tenant: adopting (and
/// later deleting) another tenant's resource is exactly the "wrong environment" accident the
/// ownership tags exist to prevent.
pub(crate) fn check_owner(ctx: &StepContext<'_>, tags: &Tags, what: &str) -> Result<()> {
    let ours = ctx
        .ownership
        .get(ownership::TENANT)
        .map(String::as_str)
        .unwrap_or(ctx.tenant.name.as_str());
    match tags.get(ownership::TENANT) {
        Some(theirs) if theirs != ours => Err(Error::conflict(format!(
            "{what} exists but belongs to tenant {theirs:?}, not {ours:?}; refusing to adopt it"
        ))
        .with_resource(ctx.resource)),
        _ => Ok(()),
    }
}

/// Adds the blueprint resource name to an error raised by a provider.
pub(crate) fn in_resource<'a>(ctx: &'a StepContext<'_>) -> impl Fn(Error) -> Error + 'a {
    move |e| {
        if e.resource().is_some() {
            e
        } else {
            e.with_resource(ctx.resource)
        }
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A harness shared by the per-type tests: memory providers registered under `default`.

    use crate::providers::Providers;
    use crate::resource::{Applied, ResourceType, StepContext, Tenant};
    use provisio::{Deleted, Outcome};
    use provisio_memory::MemoryCloud;
    use serde_json::Value;

    /// A memory cloud with every provider registered as `default`.
    pub(crate) struct Harness {
        pub cloud: MemoryCloud,
        pub providers: Providers,
        pub tenant: Tenant,
        pub written: crate::resource::WrittenSecrets,
    }

    impl Harness {
        pub(crate) fn new() -> Self {
            Self::for_tenant("acme")
        }

        pub(crate) fn for_tenant(name: &str) -> Self {
            let cloud = MemoryCloud::new(7);
            let providers = Providers::new()
                .with_dns("default", cloud.dns.clone())
                .with_storage("default", cloud.storage.clone())
                .with_compute("default", cloud.compute.clone())
                .with_ci("default", cloud.ci.clone())
                .with_secrets("default", cloud.secrets.clone())
                .with_database("default", cloud.database.clone())
                .with_repo("default", cloud.repo.clone())
                .with_mail("default", cloud.mail.clone())
                .with_probe("default", cloud.probe.clone())
                .with_host("default", cloud.host.clone());
            Harness {
                cloud,
                providers,
                tenant: Tenant::new(name).secret("smtp_password", "s3cr3t-smtp"),
                written: Default::default(),
            }
        }

        /// A context for blueprint resource `resource`.
        pub(crate) fn ctx<'a>(&'a self, resource: &'a str, token: &'a str) -> StepContext<'a> {
            StepContext {
                tenant: &self.tenant,
                blueprint: "launch",
                resource,
                provider: "default",
                providers: &self.providers,
                ownership: provisio::types::ownership::tags(&self.tenant.name, "launch", resource),
                idempotency_token: token,
                written: &self.written,
                transition: None,
            }
        }
    }

    /// validate -> apply (Created) -> apply (Unchanged) -> read -> delete -> delete
    /// (AlreadyGone) -> read (None). Returns the outputs of the first apply.
    pub(crate) async fn lifecycle(
        t: &dyn ResourceType,
        ctx: &StepContext<'_>,
        params: &Value,
    ) -> Value {
        t.validate(params).expect("validate");
        t.identity(ctx, params).expect("identity");
        assert_eq!(t.read(ctx, params, None).await.expect("read before"), None);
        let Applied { outputs, outcome } = t.apply(ctx, params, None).await.expect("apply");
        assert_eq!(outcome, Outcome::Created, "first apply of {}", t.name());
        check_outputs(t, &outputs);
        let again = t
            .apply(ctx, params, Some(&outputs))
            .await
            .expect("apply again");
        assert_eq!(
            again.outcome,
            Outcome::Unchanged,
            "second apply of {}",
            t.name()
        );
        check_outputs(t, &again.outputs);
        let read = t.read(ctx, params, Some(&outputs)).await.expect("read");
        assert!(read.is_some(), "read after apply of {}", t.name());
        assert_eq!(
            t.delete(ctx, params, &outputs).await.expect("delete"),
            Deleted::Deleted
        );
        assert_eq!(
            t.delete(ctx, params, &outputs).await.expect("delete again"),
            Deleted::AlreadyGone
        );
        outputs
    }

    /// Every declared output key is present and nothing else.
    pub(crate) fn check_outputs(t: &dyn ResourceType, outputs: &Value) {
        let obj = outputs.as_object().expect("outputs are an object");
        let mut have: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = t.outputs().to_vec();
        have.sort_unstable();
        want.sort_unstable();
        assert_eq!(have, want, "outputs of {}", t.name());
    }

    /// Asserts `r` is an `InvalidInput` error whose message names `field`.
    pub(crate) fn rejects(r: provisio::Result<()>, field: &str) {
        let e = r.expect_err("should be rejected");
        assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput, "{e}");
        assert!(
            e.to_string().contains(&format!("invalid {field}")),
            "{e} should name {field}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registers_every_type() {
        let r = builtin();
        let names: Vec<&str> = r.names().collect();
        for want in [
            "dns.record",
            "storage.bucket",
            "storage.objects",
            "storage.prefix",
            "compute.instance",
            "ci.folder",
            "ci.job",
            "ci.downstream",
            "secrets.secret",
            "database.server",
            "database.role",
            "database.database",
            "database.seed",
            "database.dump",
            "database.snapshot",
            "repo.branch",
            "repo.files",
            "mail.identity",
            "http.check",
            "host.stack",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
            assert_eq!(r.get(want).unwrap().name(), want);
        }
        assert_eq!(names.len(), 20);
    }

    /// Every replace field is a parameter its type declares (a typo there would never show a
    /// replace in a plan).
    #[test]
    fn replace_fields_are_declared_parameters() {
        let r = builtin();
        for name in r.names() {
            let t = r.get(name).unwrap();
            assert!(!t.replace_fields().is_empty(), "{name} replaces on nothing");
            for field in t.replace_fields() {
                // a list fits no built-in parameter: a declared field is refused by its type,
                // an undeclared one as unknown
                let e = t
                    .validate(&serde_json::json!({ *field: [] }))
                    .expect_err("a list is no parameter value");
                assert!(
                    e.message()
                        .starts_with(&format!("invalid {field}: expected ")),
                    "{name}.{field}: {e}"
                );
            }
        }
    }
}
