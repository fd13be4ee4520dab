//! `database.database`: a database inside a server, owned by a role.

use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use crate::types::in_resource;
use crate::types::params::{Phase, TypedParams};
use provisio::database::{Database, DatabaseSpec};
use provisio::validate::NameKind;
use provisio::{Confirm, Deleted, Error, Outcome, Result, validate};
use serde_json::{Value, json};

/// `database.database`: a database inside a server, owned by a role.
///
/// Parameters:
/// - `name` (required): the database name.
/// - `owner` (required): the owning role (usually `${db_user.name}`).
/// - `restore_from` (optional): a dump to create the database from, `{bucket, key,
///   storage_provider, size, sha256}` — usually a `database.dump`'s whole `location` output
///   (`restore_from: ${db_archive.location}`); `storage_provider` defaults to `default`,
///   `size` and `sha256` are checked when given. `null` is the same as absent.
///
/// With `restore_from`, apply first looks whether the database exists (one request) and
/// whether the dump object exists (one `head_object`). The database is restored
/// ([`provisio::Database::restore_database`], streamed from `get_object_stream`) when the
/// dump exists and either the database does not exist, or no outputs are recorded for this
/// resource (a create: an existing *empty* database is restored into, one holding any table
/// is refused with `Conflict` — **a restore never overwrites a live database**). A dump whose
/// size or SHA-256 differs from the recorded one fails the restore before its last chunk
/// reaches the database (`Conflict`; PostgreSQL rolls the restore back). Without a dump
/// object, or with recorded outputs and a live database, apply is the plain ensure.
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
///     restore_from: ${db_archive.location}
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DatabaseDatabase;

/// The parameters of `database.database` (see [`DatabaseDatabase`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseFields {
    name: String,
    owner: String,
    #[serde(default)]
    restore_from: Option<RestoreFromField>,
}

/// `restore_from`: a dump's location, or (at load time) a reference to one.
enum RestoreFromField {
    Reference(String),
    Location(LocationFields),
}

// By hand rather than `untagged`, so that an error inside the object names its field
// (`restore_from.key: is required`).
impl<'de> serde::Deserialize<'de> for RestoreFromField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RestoreFromField;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object {bucket, key, storage_provider, size, sha256}")
            }
            fn visit_str<E: serde::de::Error>(
                self,
                s: &str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(RestoreFromField::Reference(s.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                use serde::Deserialize as _;
                LocationFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RestoreFromField::Location)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LocationFields {
    bucket: String,
    key: String,
    storage_provider: Option<String>,
    size: Option<u64>,
    sha256: Option<String>,
}

/// Where a dump to restore from is.
struct RestoreFrom {
    bucket: String,
    key: String,
    storage_provider: String,
    size: Option<u64>,
    sha256: Option<String>,
}

struct DatabaseParams {
    spec: DatabaseSpec,
    restore_from: Option<RestoreFrom>,
}

impl TypedParams for DatabaseFields {
    const TYPE: &'static str = "database.database";
    const REPLACE: &'static [&'static str] = &["name"];
    type Spec = DatabaseParams;

    fn check(self, phase: Phase) -> Result<DatabaseParams> {
        let restore_from = match self.restore_from {
            None => None,
            Some(RestoreFromField::Reference(r)) if phase.unresolved(&r) => None,
            Some(RestoreFromField::Reference(r)) => {
                return Err(Error::invalid_field(
                    "restore_from",
                    format!(
                        "expected an object {{bucket, key, storage_provider, size, sha256}} (a \
                         database.dump's location output), found the string {r:?}"
                    ),
                ));
            }
            Some(RestoreFromField::Location(l)) => Some(RestoreFrom {
                bucket: phase.name(
                    "restore_from.bucket",
                    &l.bucket,
                    crate::types::storage::bucket_name,
                )?,
                key: phase.name("restore_from.key", &l.key, validate::object_key)?,
                storage_provider: l
                    .storage_provider
                    .unwrap_or_else(|| crate::providers::DEFAULT_PROVIDER.to_string()),
                size: l.size,
                sha256: match l.sha256 {
                    Some(s) if phase.unresolved(&s) => None,
                    Some(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                        Some(s.to_ascii_lowercase())
                    }
                    Some(s) => {
                        return Err(Error::invalid_field(
                            "restore_from.sha256",
                            format!("must be 64 hexadecimal digits, got {s:?}"),
                        ));
                    }
                    None => None,
                },
            }),
        };
        Ok(DatabaseParams {
            spec: DatabaseSpec {
                name: phase.name("name", &self.name, validate::pg_identifier)?,
                owner: phase.name("owner", &self.owner, validate::pg_identifier)?,
            },
            restore_from,
        })
    }
}

/// Apply with `restore_from` (see [`DatabaseDatabase`]): `None` when the plain ensure is what
/// is to be done.
async fn restore(
    ctx: &StepContext<'_>,
    db: &dyn Database,
    spec: &DatabaseSpec,
    from: &RestoreFrom,
    prior: Option<&Value>,
) -> Result<Option<Applied>> {
    let exists = db
        .database_exists(&spec.name)
        .await
        .map_err(in_resource(ctx))?;
    // what was there before this step: a refused restore did not make the database it found
    provisio::existence::found(exists);
    if exists && prior.is_some() {
        return Ok(None);
    }
    let storage = super::dump::storage_of(ctx, &from.storage_provider)?;
    let dump = storage
        .head_object(&from.bucket, &from.key)
        .await
        .map_err(in_resource(ctx))?;
    if dump.is_none() {
        // `restore` is the one run that must not make an empty database of a missing archive
        if ctx.transition == Some(crate::lifecycle::Transition::Restore) {
            return Err(Error::not_found(format!(
                "restore_from: the archive {}/{} (storage provider {:?}) is missing, so database {:?} was not restored; put the dump back (or remove restore_from to start empty) and run restore again",
                from.bucket, from.key, from.storage_provider, spec.name
            ))
            .with_resource(ctx.resource));
        }
        return Ok(None);
    }
    let expected = provisio::archive::Expected {
        size: from.size,
        sha256: from.sha256.clone(),
    };
    let restored = provisio::archive::restore_from_storage(
        db,
        storage.as_ref(),
        spec,
        &from.bucket,
        &from.key,
        &expected,
    )
    .await
    .map_err(in_resource(ctx))?;
    Ok(Some(Applied {
        outputs: json!({ "name": restored.database, "owner": spec.owner }),
        outcome: if restored.created {
            Outcome::Created
        } else {
            Outcome::Updated
        },
    }))
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
        let p = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        db.check_name(NameKind::Database, "name", &p.spec.name)?;
        db.check_name(NameKind::Role, "owner", &p.spec.owner)?;
        if let Some(from) = &p.restore_from {
            super::dump::storage_of(ctx, &from.storage_provider)?.check_name(
                NameKind::Bucket,
                "restore_from.bucket",
                &from.bucket,
            )?;
        }
        Ok(())
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "database {}",
            DatabaseFields::parse(params, Phase::Resolved)?.spec.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = DatabaseFields::parse(params, Phase::Resolved)?.spec;
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
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let DatabaseParams { spec, restore_from } = DatabaseFields::parse(params, Phase::Resolved)?;
        let db = ctx.providers.database(ctx.provider)?;
        if let Some(from) = &restore_from
            && let Some(applied) = restore(ctx, db.as_ref(), &spec, from, prior).await?
        {
            return Ok(applied);
        }
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
        let spec = DatabaseFields::parse(params, Phase::Resolved)?.spec;
        let db = ctx.providers.database(ctx.provider)?;
        db.drop_database(&spec.name, &Confirm::named(&spec.name))
            .await
            .map_err(in_resource(ctx))
    }
}
