//! `database.server`, `database.role`, `database.database`, `database.seed`,
//! `database.dump` and `database.snapshot`, one file each (`server.rs`, `role.rs`, `db.rs`,
//! `seed.rs`, `dump.rs`, `snapshot.rs`); this module holds what they share.

mod db;
mod dump;
mod role;
mod seed;
mod server;
mod snapshot;
#[cfg(test)]
mod tests;

pub use db::DatabaseDatabase;
pub use dump::{DUMP_CONTENT_TYPE, DatabaseDump};
pub use role::DatabaseRole;
pub use seed::DatabaseSeed;
pub use server::DatabaseServer;
pub use snapshot::{DatabaseSnapshot, SNAPSHOT_TOKEN_TAG};

use super::in_resource;
use crate::resource::StepContext;
use provisio::{Error, Result, SecretString};

/// A secret's current value from the secret store registered as `provider`: the value this
/// run wrote itself when it did (no request), else read from the store.
async fn secret_value(
    ctx: &StepContext<'_>,
    provider: &str,
    name: &str,
    field: &str,
) -> Result<SecretString> {
    if let Some(value) = ctx.written.get(provider, name) {
        return Ok(value);
    }
    let store = ctx.providers.secrets(provider).map_err(|e| {
        Error::invalid_field(
            "secrets_provider",
            format!("{} (needed to read {field} {name:?})", e.message()),
        )
    })?;
    store
        .get_secret(name)
        .await
        .map(|v| v.value)
        .map_err(in_resource(ctx))
}
