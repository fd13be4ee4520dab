//! The built-in resource types, one module per capability.
//!
//! | type | module | what it manages |
//! |---|---|---|
//! | `dns.record` | [`dns`] | one record (name + type) in a zone |
//! | `storage.bucket` | [`storage`] | a bucket / container |
//! | `storage.objects` | [`storage`] | objects under a prefix (initial assets, a tenant prefix) |
//! | `compute.instance` | [`compute`] | a virtual machine |
//! | `ci.folder`, `ci.job`, `ci.downstream` | [`ci`] | Jenkins folders, jobs, umbrella-job references |
//! | `secrets.secret` | [`secrets`] | a generated or handed-in secret |
//! | `database.server`, `database.role`, `database.database`, `database.seed` | [`database`] | managed servers and what lives inside them |
//! | `repo.branch`, `repo.files` | [`repo`] | git branches and files committed to them |
//! | `mail.identity` | [`mail`] | a sending domain or address |
//!
//! Every type follows the same rules:
//! - `validate` runs at load time, when string parameters may still hold unresolved `${...}`
//!   references: presence and JSON types are always checked, name rules only on resolved values.
//!   Errors are `InvalidInput` and name the field (`invalid copy_from.bucket: ...`).
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
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod ci;
pub mod compute;
pub mod database;
pub mod dns;
pub mod mail;
pub mod repo;
pub mod secrets;
pub mod storage;

/// A registry holding every built-in resource type.
pub fn builtin() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(dns::DnsRecord))
        .register(Arc::new(storage::StorageBucket))
        .register(Arc::new(storage::StorageObjects))
        .register(Arc::new(compute::ComputeInstance))
        .register(Arc::new(ci::CiFolder))
        .register(Arc::new(ci::CiJob))
        .register(Arc::new(ci::CiDownstream))
        .register(Arc::new(secrets::SecretsSecret))
        .register(Arc::new(database::DatabaseServer))
        .register(Arc::new(database::DatabaseRole))
        .register(Arc::new(database::DatabaseDatabase))
        .register(Arc::new(database::DatabaseSeed))
        .register(Arc::new(repo::RepoBranch))
        .register(Arc::new(repo::RepoFiles))
        .register(Arc::new(mail::MailIdentity));
    r
}

/// When parameters are read: at load time references may still be unresolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// `validate`: strings may hold `${...}`; name rules are skipped on those.
    Load,
    /// `identity`/`read`/`apply`/`delete`: every reference is resolved.
    Resolved,
}

/// Whether a string still holds a `${...}` reference.
pub(crate) fn is_unresolved(s: &str) -> bool {
    s.contains("${")
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A typed, field-naming reader over a resource's JSON parameters.
pub(crate) struct Params<'a> {
    map: &'a Map<String, Value>,
    phase: Phase,
    prefix: String,
}

impl<'a> Params<'a> {
    /// Reads `params` as an object whose keys are all in `allowed`.
    pub(crate) fn new(
        type_name: &str,
        params: &'a Value,
        phase: Phase,
        allowed: &[&str],
    ) -> Result<Self> {
        let map = params.as_object().ok_or_else(|| {
            Error::invalid_field(
                "params",
                format!(
                    "{type_name} takes an object of parameters, got {}",
                    json_kind(params)
                ),
            )
        })?;
        let p = Params {
            map,
            phase,
            prefix: String::new(),
        };
        p.only(type_name, allowed)?;
        Ok(p)
    }

    fn only(&self, what: &str, allowed: &[&str]) -> Result<()> {
        if let Some(k) = self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::invalid_field(
                &self.field(k),
                format!(
                    "unknown field for {what} (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The full name of a field, for error messages (`copy_from.bucket`).
    pub(crate) fn field(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// Whether the field is present (and not null).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the field is a string that still holds a reference (only at load time).
    pub(crate) fn unresolved(&self, name: &str) -> bool {
        self.phase == Phase::Load
            && self
                .get(name)
                .and_then(Value::as_str)
                .is_some_and(is_unresolved)
    }

    fn type_error(&self, name: &str, want: &str, got: &Value) -> Error {
        Error::invalid_field(
            &self.field(name),
            format!("must be {want}, got {}", json_kind(got)),
        )
    }

    /// A required string.
    pub(crate) fn req_str(&self, name: &str) -> Result<&'a str> {
        self.opt_str(name)?
            .ok_or_else(|| Error::invalid_field(&self.field(name), "is required"))
    }

    /// An optional string.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.type_error(name, "a string", v)),
        }
    }

    /// A required string that YAML may have typed as a number (`version: 16`).
    pub(crate) fn req_string_like(&self, name: &str) -> Result<String> {
        match self.get(name) {
            None => Err(Error::invalid_field(&self.field(name), "is required")),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(v) => Err(self.type_error(name, "a string", v)),
        }
    }

    /// A required name checked with `rule` once resolved; returns the canonical form (or the
    /// raw reference at load time).
    pub(crate) fn name(
        &self,
        name: &str,
        rule: impl Fn(&str, &str) -> Result<String>,
    ) -> Result<String> {
        let raw = self.req_str(name)?;
        self.check_name(name, raw, rule)
    }

    /// An optional name (see [`Params::name`]).
    pub(crate) fn opt_name(
        &self,
        name: &str,
        rule: impl Fn(&str, &str) -> Result<String>,
    ) -> Result<Option<String>> {
        self.opt_str(name)?
            .map(|raw| self.check_name(name, raw, rule))
            .transpose()
    }

    /// Checks `value` (of field `name`) with `rule` unless it is an unresolved reference.
    pub(crate) fn check_name(
        &self,
        name: &str,
        value: &str,
        rule: impl Fn(&str, &str) -> Result<String>,
    ) -> Result<String> {
        if self.phase == Phase::Load && is_unresolved(value) {
            return Ok(value.to_string());
        }
        rule(&self.field(name), value)
    }

    /// An optional whole number in `min..=max`. `Ok(None)` when absent, or when it is an
    /// unresolved reference at load time. Numeric strings are accepted (interpolation yields
    /// strings).
    pub(crate) fn opt_u64(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>> {
        let n = match self.get(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_u64().ok_or_else(|| {
                Error::invalid_field(
                    &self.field(name),
                    format!("must be a whole number from {min} to {max}, got {n}"),
                )
            })?,
            Some(Value::String(s)) if self.phase == Phase::Load && is_unresolved(s) => {
                return Ok(None);
            }
            Some(Value::String(s)) => s.trim().parse::<u64>().map_err(|_| {
                Error::invalid_field(
                    &self.field(name),
                    format!("must be a whole number from {min} to {max}, got {s:?}"),
                )
            })?,
            Some(v) => return Err(self.type_error(name, "a whole number", v)),
        };
        if n < min || n > max {
            return Err(Error::invalid_field(
                &self.field(name),
                format!("must be from {min} to {max}, got {n}"),
            ));
        }
        Ok(Some(n))
    }

    /// Like [`Params::opt_u64`] but for a field that must be present.
    pub(crate) fn req_u64(&self, name: &str, min: u64, max: u64) -> Result<Option<u64>> {
        if !self.has(name) {
            return Err(Error::invalid_field(&self.field(name), "is required"));
        }
        self.opt_u64(name, min, max)
    }

    /// An optional boolean (`"true"`/`"false"` strings are accepted).
    pub(crate) fn opt_bool(&self, name: &str) -> Result<Option<bool>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if self.phase == Phase::Load && is_unresolved(s) => Ok(None),
            Some(Value::String(s)) => match s.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                _ => Err(Error::invalid_field(
                    &self.field(name),
                    format!("must be true or false, got {s:?}"),
                )),
            },
            Some(v) => Err(self.type_error(name, "true or false", v)),
        }
    }

    /// An optional nested object whose keys are all in `allowed`.
    pub(crate) fn opt_object(&self, name: &str, allowed: &[&str]) -> Result<Option<Params<'a>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => {
                let p = Params {
                    map,
                    phase: self.phase,
                    prefix: format!("{}.", self.field(name)),
                };
                p.only(&self.field(name), allowed)?;
                Ok(Some(p))
            }
            Some(v) => Err(self.type_error(name, "an object", v)),
        }
    }

    /// An optional object of string values (`files: {path: text}`, `tags: {k: v}`).
    pub(crate) fn opt_str_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Err(Error::invalid_field(
                        &format!("{}[{k:?}]", self.field(name)),
                        format!("must be a string, got {}", json_kind(other)),
                    )),
                })
                .collect::<Result<BTreeMap<_, _>>>()
                .map(Some),
            Some(v) => Err(self.type_error(name, "an object of strings", v)),
        }
    }
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
                .with_mail("default", cloud.mail.clone());
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
    use serde_json::json;

    #[test]
    fn builtin_registers_every_type() {
        let r = builtin();
        let names: Vec<&str> = r.names().collect();
        for want in [
            "dns.record",
            "storage.bucket",
            "storage.objects",
            "compute.instance",
            "ci.folder",
            "ci.job",
            "ci.downstream",
            "secrets.secret",
            "database.server",
            "database.role",
            "database.database",
            "database.seed",
            "repo.branch",
            "repo.files",
            "mail.identity",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
            assert_eq!(r.get(want).unwrap().name(), want);
        }
        assert_eq!(names.len(), 15);
    }

    #[test]
    fn params_reader_names_fields() {
        let v = json!({"a": 1, "b": "x", "o": {"k": true}, "ref": "${web.ip}"});
        let p = Params::new("t", &v, Phase::Load, &["a", "b", "o", "ref"]).unwrap();
        assert_eq!(p.opt_u64("a", 0, 5).unwrap(), Some(1));
        assert!(
            p.opt_u64("b", 0, 5)
                .unwrap_err()
                .to_string()
                .contains("invalid b")
        );
        assert_eq!(p.opt_u64("ref", 0, 5).unwrap(), None);
        assert!(p.unresolved("ref"));
        let o = p.opt_object("o", &["k"]).unwrap().unwrap();
        assert_eq!(o.opt_bool("k").unwrap(), Some(true));
        assert!(
            o.req_str("k")
                .unwrap_err()
                .to_string()
                .contains("invalid o.k")
        );
        let e = Params::new("t", &v, Phase::Load, &["a"]).err().unwrap();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = Params::new("t", &json!([1]), Phase::Load, &[])
            .err()
            .unwrap();
        assert!(e.to_string().contains("invalid params"), "{e}");
        let resolved = Params::new("t", &v, Phase::Resolved, &["a", "b", "o", "ref"]).unwrap();
        assert!(resolved.opt_u64("ref", 0, 5).is_err());
    }
}
