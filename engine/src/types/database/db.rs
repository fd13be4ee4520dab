//! `database.database`: a database inside a server, owned by a role.

use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{Phase, TypedParams};
use provisio::database::DatabaseSpec;
use provisio::validate::NameKind;
use provisio::{Confirm, Deleted, Result, validate};
use serde_json::{Value, json};

/// `database.database`: a database inside a server, owned by a role.
///
/// Parameters:
/// - `name` (required): the database name.
/// - `owner` (required): the owning role (usually `${db_user.name}`).
///
/// Outputs: `name`, `owner`. Changing `name` replaces the database (a new, empty one: protect
/// databases that hold data); changing `owner` is done in place.
///
/// Delete drops the database with a confirmation naming it. The engine only deletes a resource
/// when the caller asked to destroy it and it is not protected.
///
/// ```yaml
/// db:
///   type: database.database
///   provider: tenant_pg
///   protect: true
///   params:
///     name: ${tenant.name}
///     owner: ${db_user.name}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseDatabase;

/// The parameters of `database.database` (see [`DatabaseDatabase`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFields {
    name: String,
    owner: String,
}

impl TypedParams for DatabaseFields {
    const TYPE: &'static str = "database.database";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = DatabaseSpec;

    fn check(self, phase: Phase) -> Result<DatabaseSpec> {
        Ok(DatabaseSpec {
            name: phase.name("name", &self.name, validate::pg_identifier)?,
            owner: phase.name("owner", &self.owner, validate::pg_identifier)?,
        })
    }
}

#[provisio::async_trait]
impl ResourceType for DatabaseDatabase {
    fn name(&self) -> &str {
        "database.database"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        DatabaseFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        DatabaseFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "owner"]
    }

    fn check(&self, ctx: &StepContext<'_>, params: &Value) -> Result<()> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.check_name(NameKind::Database, "name", &spec.name)?;
        db.check_name(NameKind::Role, "owner", &spec.owner)
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "database {}",
            DatabaseFields::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let exists = db
            .database_exists(&spec.name)
            .await
            .map_err(in_resource(ctx))?;
        // The trait cannot read the owner back; report the declared one.
        Ok(exists.then(|| json!({ "name": spec.name, "owner": spec.owner })))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let ensured = db.ensure_database(&spec).await.map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: json!({ "name": ensured.value, "owner": spec.owner }),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.drop_database(&spec.name, &Confirm::named(&spec.name))
            .await
            .map_err(in_resource(ctx))
    }
}
