//! `secrets.secret`: a credential kept in a secret store, generated or handed in by the caller.

use super::params::{Int, Phase, TypedParams};
use super::{check_owner, in_resource};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::secrets::{SecretMeta, check_recovery_days};
use provisio::types::tags_match;
use provisio::validate::NameKind;
use provisio::{Deleted, Error, Outcome, Result, SecretString, validate};
use serde_json::{Value, json};

/// `secrets.secret`: a secret in a secret store. Its value never appears in outputs, state,
/// events or errors; other resources refer to it by name or by `ref`.
///
/// Parameters:
/// - `name` (required): the secret's name (1 to 127 letters, digits and `-`: valid in every
///   store).
/// - exactly one of
///   - `generate`: `{length (default 32, 16..=4096), alphabet (optional; default letters and
///     digits)}`: a random value from the operating system's CSPRNG. It is generated once: when
///     the secret exists already it is left unchanged, so re-running never rotates it.
///   - `from_var`: the key of a tenant secret variable (`Tenant::secret`); the store is updated
///     when the caller hands in a new value.
/// - `recovery_days` (default 7, 7..=30): the recovery window used on delete (deletes are
///   always soft).
///
/// Outputs: `name`, `version`, `ref` (`secret://<provider>/<name>`).
///
/// A soft-deleted secret of this name that carries this resource's ownership tags (a tenant
/// being re-launched after a destroy) is recovered and reused; any other soft-deleted secret is
/// a `Conflict` to resolve by hand (recover or purge), and a live secret carrying another
/// tenant's tag is never adopted or deleted.
///
/// ```yaml
/// db_password:
///   type: secrets.secret
///   provider: aws
///   params:
///     name: ${tenant.name}-db-password
///     generate: { length: 40 }
/// smtp_password:
///   type: secrets.secret
///   params:
///     name: ${tenant.name}-smtp-password
///     from_var: smtp_password
///     recovery_days: 30
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretsSecret;

/// The default alphabet of generated secrets: safe in URLs, shells and connection strings.
pub const DEFAULT_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

enum Source {
    Generate { length: usize, alphabet: Vec<char> },
    FromVar(String),
}

struct Spec {
    name: String,
    source: Source,
    recovery_days: u32,
}

/// The parameters of `secrets.secret` (see [`SecretsSecret`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretParams {
    name: String,
    generate: Option<Generate>,
    from_var: Option<String>,
    recovery_days: Option<Int>,
}

/// `secrets.secret`'s `generate`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Generate {
    length: Option<Int>,
    alphabet: Option<String>,
}

impl TypedParams for SecretParams {
    const TYPE: &'static str = "secrets.secret";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = Spec;

    fn check(self, phase: Phase) -> Result<Spec> {
        let name = phase.name("name", &self.name, validate::lenient_secret_name)?;
        let source = match (self.generate, self.from_var) {
            (Some(g), None) => {
                let length = phase
                    .int("generate.length", g.length.as_ref(), 16, 4096)?
                    .unwrap_or(32) as usize;
                let alphabet: Vec<char> = match g.alphabet {
                    None => DEFAULT_ALPHABET.chars().collect(),
                    Some(a) => {
                        let mut chars: Vec<char> = a.chars().collect();
                        chars.sort_unstable();
                        chars.dedup();
                        if !phase.unresolved(&a)
                            && (chars.len() < 2 || chars.iter().any(|c| c.is_control()))
                        {
                            return Err(Error::invalid_field(
                                "generate.alphabet",
                                "must hold at least 2 distinct characters and no control characters",
                            ));
                        }
                        chars
                    }
                };
                Source::Generate { length, alphabet }
            }
            (None, Some(var)) => {
                if var.is_empty() {
                    return Err(Error::invalid_field("from_var", "must not be empty"));
                }
                Source::FromVar(var)
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field(
                    "generate",
                    "give either generate or from_var, not both",
                ));
            }
            (None, None) => {
                return Err(Error::invalid_field(
                    "generate",
                    "one of generate or from_var is required",
                ));
            }
        };
        let recovery_days = phase
            .int(
                "recovery_days",
                self.recovery_days.as_ref(),
                0,
                u32::MAX as u64,
            )?
            .unwrap_or(7) as u32;
        check_recovery_days(recovery_days)?;
        Ok(Spec {
            name,
            source,
            recovery_days,
        })
    }
}

/// A uniformly random string from the OS CSPRNG.
fn generate(length: usize, alphabet: &[char]) -> SecretString {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    SecretString::new(
        (0..length)
            .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
            .collect::<String>(),
    )
}

fn outputs(ctx: &StepContext<'_>, meta: &SecretMeta) -> Value {
    json!({
        "name": meta.name,
        "version": meta.version,
        "ref": format!("secret://{}/{}", ctx.provider, meta.name),
    })
}

#[provisio::async_trait]
impl ResourceType for SecretsSecret {
    fn name(&self) -> &str {
        "secrets.secret"
    }

    fn capability(&self) -> Capability {
        Capability::Secrets
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        SecretParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        SecretParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "version", "ref"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // a rotation outside provisio makes a new version, which is not drift of the
        // blueprint
        &["version"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = SecretParams::parse(params, Phase::Resolved)?;
        ctx.providers
            .secrets(ctx.provider)?
            .check_name(NameKind::Secret, "name", &spec.name)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "secret {}",
            SecretParams::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = SecretParams::parse(params, Phase::Resolved)?;
        let store = ctx.providers.secrets(ctx.provider)?;
        let meta = store
            .describe_secret(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        Ok(meta.filter(|m| !m.deleted).map(|m| outputs(ctx, &m)))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = SecretParams::parse(params, Phase::Resolved)?;
        let store = ctx.providers.secrets(ctx.provider)?;
        let what = format!("secret {:?}", spec.name);
        // Not in state yet: most likely it does not exist, so try to create it right away
        // (one request where the store refuses duplicates); a name that is taken goes the
        // long way below, which adopts it (ours) or refuses it (another tenant's).
        if prior.is_none() {
            let value = match &spec.source {
                Source::Generate { length, alphabet } => generate(*length, alphabet),
                Source::FromVar(var) => ctx.secret_var(var)?.clone(),
            };
            if let Some(meta) = store
                .create_secret(&spec.name, &value, &ctx.ownership)
                .await
                .map_err(in_resource(ctx))?
            {
                provisio::existence::found(false);
                ctx.written.remember(ctx.provider, &spec.name, &value);
                return Ok(Applied {
                    outputs: outputs(ctx, &meta),
                    outcome: Outcome::Created,
                });
            }
        }
        let mut existing = store
            .describe_secret(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        // a soft-deleted secret of ours is brought back: for this run it was not there
        provisio::existence::found(existing.as_ref().is_some_and(|m| !m.deleted));
        let mut recovered = false;
        if let Some(meta) = &existing
            && meta.deleted
        {
            if !tags_match(&meta.tags, &ctx.ownership) || ctx.ownership.is_empty() {
                return Err(Error::conflict(format!(
                    "{what} is soft-deleted and was not created by this resource; recover or \
                     purge it explicitly"
                ))
                .with_resource(ctx.resource));
            }
            // Ours, deleted by an earlier destroy of this tenant: bring it back rather than
            // minting a new credential.
            existing = Some(
                store
                    .recover_secret(&spec.name)
                    .await
                    .map_err(in_resource(ctx))?,
            );
            recovered = true;
        }
        if let Some(meta) = &existing {
            check_owner(ctx, &meta.tags, &what)?;
        }
        let (meta, outcome) = match (&spec.source, existing) {
            // Generated secrets are stable: the value that exists is the value (a retry after a
            // crash between the put and the state write lands here, too).
            (Source::Generate { .. }, Some(meta)) => (meta, Outcome::Unchanged),
            (Source::Generate { length, alphabet }, None) => {
                let value = generate(*length, alphabet);
                let e = store
                    .put_secret(&spec.name, &value, &ctx.ownership)
                    .await
                    .map_err(in_resource(ctx))?;
                ctx.written.remember(ctx.provider, &spec.name, &value);
                (e.value, Outcome::Created)
            }
            (Source::FromVar(var), existing) => {
                let value = ctx.secret_var(var)?;
                let e = store
                    .put_secret(&spec.name, value, &ctx.ownership)
                    .await
                    .map_err(in_resource(ctx))?;
                ctx.written.remember(ctx.provider, &spec.name, value);
                let outcome = match existing {
                    None => Outcome::Created,
                    Some(_) => e.outcome,
                };
                (e.value, outcome)
            }
        };
        Ok(Applied {
            outputs: outputs(ctx, &meta),
            outcome: if recovered && outcome == Outcome::Unchanged {
                Outcome::Updated
            } else {
                outcome
            },
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = SecretParams::parse(params, Phase::Resolved)?;
        let store = ctx.providers.secrets(ctx.provider)?;
        match store
            .describe_secret(&spec.name)
            .await
            .map_err(in_resource(ctx))?
        {
            None => return Ok(Deleted::AlreadyGone),
            Some(m) if m.deleted => return Ok(Deleted::AlreadyGone),
            Some(m) => check_owner(ctx, &m.tags, &format!("secret {:?}", spec.name))?,
        }
        // Always a soft delete: the value stays recoverable for the window.
        store
            .delete_secret(&spec.name, spec.recovery_days)
            .await
            .map_err(in_resource(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};
    use provisio::{ErrorKind, SecretStore};

    #[test]
    fn validates_params() {
        let t = SecretsSecret;
        t.validate(&json!({"name": "acme-db-password", "generate": {}}))
            .unwrap();
        t.validate(
            &json!({"name": "${tenant.name}-db", "generate": {"length": 64, "alphabet": "abc123"}}),
        )
        .unwrap();
        t.validate(&json!({"name": "acme-smtp", "from_var": "smtp_password", "recovery_days": 30}))
            .unwrap();
        rejects(
            t.validate(&json!({"name": "acme db", "generate": {}})),
            "name",
        );
        rejects(t.validate(&json!({"name": "acme-db"})), "generate");
        rejects(
            t.validate(&json!({"name": "acme-db", "generate": {}, "from_var": "x"})),
            "generate",
        );
        rejects(
            t.validate(&json!({"name": "acme-db", "generate": {"length": 4}})),
            "generate.length",
        );
        rejects(
            t.validate(&json!({"name": "acme-db", "generate": {"alphabet": "aaaa"}})),
            "generate.alphabet",
        );
        rejects(
            t.validate(&json!({"name": "acme-db", "generate": {}, "recovery_days": 3})),
            "recovery_days",
        );
    }

    #[test]
    fn generates_from_the_alphabet() {
        let s = generate(50, &['x', 'y']);
        assert_eq!(s.expose().len(), 50);
        assert!(s.expose().chars().all(|c| c == 'x' || c == 'y'));
        let a: Vec<char> = DEFAULT_ALPHABET.chars().collect();
        assert_ne!(generate(32, &a).expose(), generate(32, &a).expose());
    }

    #[tokio::test]
    async fn generated_lifecycle_keeps_the_value_stable() {
        let h = Harness::new();
        let ctx = h.ctx("db_password", "tok");
        let params = json!({"name": "acme-db-password", "generate": {"length": 24}});
        let first = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        let value = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        assert_eq!(value.value.expose().len(), 24);
        let out = first.outputs.to_string();
        assert!(
            !out.contains(value.value.expose()),
            "outputs leak the value: {out}"
        );
        assert_eq!(first.outputs["ref"], "secret://default/acme-db-password");
        let again = SecretsSecret
            .apply(&ctx, &params, Some(&first.outputs))
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(
            h.cloud
                .secrets
                .get_secret("acme-db-password")
                .await
                .unwrap()
                .value,
            value.value
        );
        SecretsSecret
            .delete(&ctx, &params, &first.outputs)
            .await
            .unwrap();

        let h = Harness::new();
        let ctx = h.ctx("db_password", "tok");
        lifecycle(&SecretsSecret, &ctx, &params).await;
    }

    #[tokio::test]
    async fn from_var_lifecycle_and_update() {
        let h = Harness::new();
        let ctx = h.ctx("smtp_password", "tok");
        let params = json!({"name": "acme-smtp-password", "from_var": "smtp_password"});
        let out = lifecycle(&SecretsSecret, &ctx, &params).await;
        assert_eq!(out["name"], "acme-smtp-password");
        // Recovered after the lifecycle's delete: same value, outcome Updated.
        let back = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        assert_eq!(back.outcome, Outcome::Updated);
        assert_eq!(
            h.cloud
                .secrets
                .get_secret("acme-smtp-password")
                .await
                .unwrap()
                .value
                .expose(),
            "s3cr3t-smtp"
        );
        // A new value from the caller rotates it.
        let mut h2 = Harness::new();
        h2.tenant = h2.tenant.clone().secret("smtp_password", "rotated");
        let ctx2 = StepContext {
            tenant: &h2.tenant,
            ..h.ctx("smtp_password", "tok")
        };
        let rotated = SecretsSecret.apply(&ctx2, &params, None).await.unwrap();
        assert_eq!(rotated.outcome, Outcome::Updated);
        assert_ne!(rotated.outputs["version"], back.outputs["version"]);
        // A missing variable names it.
        let bad = json!({"name": "acme-x", "from_var": "nope"});
        let e = SecretsSecret.apply(&ctx, &bad, None).await.unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }

    #[tokio::test]
    async fn interrupted_apply_adopts_instead_of_duplicating() {
        let h = Harness::new();
        let ctx = h.ctx("db_password", "tok");
        let params = json!({"name": "acme-db-password", "generate": {}});
        let first = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        let value = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        // Crash before the outputs were recorded: the resumed run has no prior outputs.
        let resumed = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        assert_eq!(resumed.outcome, Outcome::Unchanged);
        assert_eq!(resumed.outputs, first.outputs);
        let after = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        assert_eq!(after.value, value.value);
        assert_eq!(after.version, value.version);
    }

    #[tokio::test]
    async fn lost_put_response_is_adopted_on_retry() {
        let h = Harness::new();
        h.cloud
            .faults
            .error_after_effect("secrets.create_secret", 1, ErrorKind::Transient);
        let ctx = h.ctx("db_password", "tok");
        let params = json!({"name": "acme-db-password", "generate": {}});
        let e = SecretsSecret.apply(&ctx, &params, None).await.unwrap_err();
        assert!(e.retryable(), "{e}");
        let stored = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        let retried = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        assert_eq!(retried.outcome, Outcome::Unchanged);
        assert_eq!(retried.outputs["version"], stored.version.as_str());
        // The value generated by the lost call is the one kept: no second version.
        let after = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        assert_eq!(after.value, stored.value);
        assert_eq!(after.version, stored.version);
    }

    #[tokio::test]
    async fn recovers_its_own_soft_deleted_secret_but_not_others() {
        let h = Harness::new();
        let ctx = h.ctx("db_password", "tok");
        let params = json!({"name": "acme-db-password", "generate": {}});
        SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        let value = h
            .cloud
            .secrets
            .get_secret("acme-db-password")
            .await
            .unwrap();
        assert_eq!(
            SecretsSecret
                .delete(&ctx, &params, &Value::Null)
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert_eq!(SecretsSecret.read(&ctx, &params, None).await.unwrap(), None);
        let back = SecretsSecret.apply(&ctx, &params, None).await.unwrap();
        assert_eq!(back.outcome, Outcome::Updated);
        assert_eq!(
            h.cloud
                .secrets
                .get_secret("acme-db-password")
                .await
                .unwrap()
                .value,
            value.value
        );

        // A soft-deleted secret somebody else made is a Conflict.
        h.cloud
            .secrets
            .put_secret("foreign", &SecretString::new("x"), &Default::default())
            .await
            .unwrap();
        h.cloud.secrets.delete_secret("foreign", 7).await.unwrap();
        let e = SecretsSecret
            .apply(&ctx, &json!({"name": "foreign", "generate": {}}), None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");

        // A live secret of another tenant is neither adopted nor deleted.
        let other = Harness::for_tenant("globex");
        let other_ctx = StepContext {
            providers: &h.providers,
            ..other.ctx("db_password", "tok")
        };
        let e = SecretsSecret
            .apply(&other_ctx, &params, None)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
        let e = SecretsSecret
            .delete(&other_ctx, &params, &Value::Null)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    }
}
