//! `database.role`: a login role inside a server.

use super::secret_value;
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{Phase, TypedParams};
use provisio::database::RoleSpec;
use provisio::validate::NameKind;
use provisio::{Confirm, Deleted, Result, validate};
use serde_json::{Value, json};

/// `database.role`: a login role inside a server.
///
/// Parameters:
/// - `name` (required): the role name (any PostgreSQL identifier; always quoted).
/// - `password_secret` (required): the name of the secret holding the password, read from the
///   secret store `secrets_provider` (default `default`).
///
/// Outputs: `name`. Changing `name` replaces the role. Delete drops the role.
///
/// ```yaml
/// db_user:
///   type: database.role
///   provider: tenant_pg
///   params:
///     name: ${tenant.name}
///     password_secret: ${db_password.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseRole;

struct RoleParams {
    name: String,
    password_secret: String,
    secrets_provider: String,
}

/// The parameters of `database.role` (see [`DatabaseRole`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFields {
    name: String,
    password_secret: String,
    secrets_provider: Option<String>,
}

impl TypedParams for RoleFields {
    const TYPE: &'static str = "database.role";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = RoleParams;

    fn check(self, phase: Phase) -> Result<RoleParams> {
        Ok(RoleParams {
            name: phase.name("name", &self.name, validate::pg_identifier)?,
            password_secret: phase.name(
                "password_secret",
                &self.password_secret,
                validate::lenient_secret_name,
            )?,
            secrets_provider: self
                .secrets_provider
                .unwrap_or_else(|| crate::providers::DEFAULT_PROVIDER.to_string()),
        })
    }
}

#[provisio::async_trait]
impl ResourceType for DatabaseRole {
    fn name(&self) -> &str {
        "database.role"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        RoleFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        RoleFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let role = RoleFields::parse(params, Phase::Resolved)?;
        ctx.providers
            .database(ctx.provider)?
            .check_name(NameKind::Role, "name", &role.name)?;
        ctx.providers.secrets(&role.secrets_provider)?.check_name(
            NameKind::Secret,
            "password_secret",
            &role.password_secret,
        )
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "role {}",
            RoleFields::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let exists = db.role_exists(&p.name).await.map_err(in_resource(ctx))?;
        Ok(exists.then(|| json!({ "name": p.name })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let password = secret_value(
            ctx,
            &p.secrets_provider,
            &p.password_secret,
            "password_secret",
        )
        .await?;
        let ensured = db
            .ensure_role(&RoleSpec {
                name: p.name.clone(),
                password,
            })
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "name": ensured.value }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let p = RoleFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.drop_role(&p.name, &Confirm::named(&p.name))
            .await
            .map_err(in_resource(ctx))
    }
}
