//! `database.seed`: SQL applied exactly once to a database.

use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{Phase, TypedParams};
use provisio::database::SeedSpec;
use provisio::{Deleted, Error, Result, validate};
use serde_json::{Value, json};

/// `database.seed`: SQL applied exactly once to a database (initial data).
///
/// Parameters:
/// - `database` (required): the database, usually `${db.name}`.
/// - `id` (required): a stable id for this seed, e.g. `initial-data` (letters, digits, `.`,
///   `_`, `-`; at most 128).
/// - `sql` (required): the script, applied in one transaction.
///
/// Outputs: `database`, `id`, `checksum` (SHA-256 of the SQL). Applying a seed whose id was
/// applied with other SQL is a `Conflict`: add a new seed with a new id instead. Delete does
/// nothing (the data goes with its database).
///
/// ```yaml
/// initial_data:
///   type: database.seed
///   provider: tenant_pg
///   params:
///     database: ${db.name}
///     id: initial-data
///     sql: |
///       INSERT INTO settings (key, value) VALUES ('tenant', '${tenant.name}');
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseSeed;

fn seed_id(field: &str, value: &str) -> Result<String> {
    if value.is_empty()
        || value.len() > 128
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::invalid_field(
            field,
            format!("{value:?} must be 1 to 128 letters, digits, '.', '_' and '-'"),
        ));
    }
    Ok(value.to_string())
}

/// The parameters of `database.seed` (see [`DatabaseSeed`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFields {
    database: String,
    id: String,
    sql: String,
}

impl TypedParams for SeedFields {
    const TYPE: &'static str = "database.seed";
    const REPLACE: &'static [&'static str] = &["database", "id"];
    type Spec = SeedSpec;

    fn check(self, phase: Phase) -> Result<SeedSpec> {
        let spec = SeedSpec {
            database: phase.name("database", &self.database, validate::pg_identifier)?,
            id: phase.name("id", &self.id, seed_id)?,
            sql: self.sql,
        };
        if spec.sql.trim().is_empty() {
            return Err(Error::invalid_field("sql", "must not be empty"));
        }
        Ok(spec)
    }
}

fn seed_outputs(spec: &SeedSpec, checksum: &str) -> Value {
    json!({ "database": spec.database, "id": spec.id, "checksum": checksum })
}

#[provisio::async_trait]
impl ResourceType for DatabaseSeed {
    fn name(&self) -> &str {
        "database.seed"
    }

    fn capability(&self) -> Capability {
        Capability::Database
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        SeedFields::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        SeedFields::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["database", "id", "checksum"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        let s = SeedFields::parse(params, Phase::Resolved)?;
        Ok(format!("seed {}/{}", s.database, s.id))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = SeedFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        // The trait cannot list applied seeds. A seed lives as long as its database: with a
        // recorded application and the database still there, it is applied; otherwise report
        // it missing, which is harmless because applying an applied seed is a no-op.
        if prior.is_none()
            || !db
                .database_exists(&spec.database)
                .await
                .map_err(in_resource(ctx))?
        {
            return Ok(None);
        }
        Ok(prior.cloned())
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = SeedFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        let ensured = db.apply_seed(&spec).await.map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: seed_outputs(&spec, &ensured.value.checksum),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        _ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        SeedFields::parse(params, Phase::Resolved)?;
        // Nothing to undo: seed data cannot be "unapplied" in general, and it is removed with
        // its database (`database.database`'s delete). Reporting AlreadyGone keeps destroy
        // idempotent without touching data.
        Ok(Deleted::AlreadyGone)
    }
}
