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
use std::future::Future;
use std::time::Duration;

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

/// `first` (what the create or ensure call answered) when it is `available` already, else
/// polls `read` until what it reads is, backing off from 50 ms to 15 s between reads: a
/// managed server being created, a snapshot being taken. `what` names it in errors
/// (`server "acme-db"`); a status `failed` says it will not get there on its own
/// (`Conflict`); gone is `NotFound`; still not there after `timeout` is `Timeout`.
async fn wait_available<T, F, Fut>(
    what: &str,
    first: T,
    mut read: F,
    status: impl Fn(&T) -> &str,
    failed: impl Fn(&str) -> bool,
    timeout: Duration,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    if status(&first) == "available" {
        return Ok(first);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        let current = read()
            .await?
            .ok_or_else(|| Error::not_found(format!("{what} disappeared while waiting for it")))?;
        let state = status(&current);
        if state == "available" {
            return Ok(current);
        }
        if failed(state) {
            return Err(Error::conflict(format!(
                "{what} is {state:?}; it will not become available on its own"
            )));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(Error::timeout(format!(
                "{what} is still {state:?} after {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}
