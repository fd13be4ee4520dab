//! A database dump kept in object storage: [`dump_to_storage`] streams
//! [`Database::dump_database`] into [`ObjectStorage::put_object_stream`] while computing its
//! size and SHA-256; [`restore_from_storage`] streams it back into
//! [`Database::restore_database`], checked against what was recorded before the restore can
//! commit. Neither holds the dump in memory nor writes it to a file. What the engine's
//! `database.dump` type and `database.database`'s `restore_from` do, for direct callers.
//!
//! ```no_run
//! # async fn demo(db: &dyn provisio::Database, s3: &dyn provisio::ObjectStorage) -> provisio::Result<()> {
//! use provisio::archive::{Expected, dump_to_storage, restore_from_storage};
//! use provisio::database::DatabaseSpec;
//! let dump = dump_to_storage(db, s3, "acme", "archive", "acme/db.dump").await?;
//! // ... the database is dropped; later, on request:
//! let spec = DatabaseSpec { name: "acme".into(), owner: "acme".into() };
//! let expected = Expected { size: Some(dump.size), sha256: Some(dump.sha256) };
//! restore_from_storage(db, s3, &spec, "archive", "acme/db.dump", &expected).await?;
//! # Ok(()) }
//! ```

use crate::database::{DatabaseSpec, RestoredDatabase};
use crate::{Database, Error, ObjectStorage, Result};

/// The content type dumps are stored with.
pub const DUMP_CONTENT_TYPE: &str = "application/octet-stream";

/// What [`dump_to_storage`] stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DumpRecord {
    /// The database dumped.
    pub database: String,
    /// The bucket holding the dump.
    pub bucket: String,
    /// The dump's key.
    pub key: String,
    /// The dump's size in bytes.
    pub size: u64,
    /// The SHA-256 of the dump (hex), computed while it streamed through.
    pub sha256: String,
    /// The storage provider's etag of the object.
    pub etag: String,
}

/// Dumps `database` into `bucket`/`key` (replacing the object), streamed: see the
/// [module docs](self). Requests: those of `dump_database` and one `put_object_stream`.
pub async fn dump_to_storage(
    db: &dyn Database,
    storage: &dyn ObjectStorage,
    database: &str,
    bucket: &str,
    key: &str,
) -> Result<DumpRecord> {
    let dump = db.dump_database(database).await?;
    let (dump, digest) = crate::stream::digesting(dump);
    let meta = storage
        .put_object_stream(bucket, key, dump, Some(DUMP_CONTENT_TYPE))
        .await?;
    let (size, sha256) = digest.result().ok_or_else(|| {
        Error::unexpected(format!(
            "the upload of the dump of {database} to {bucket}/{key} ended before the dump did"
        ))
    })?;
    if size != meta.size {
        return Err(Error::unexpected(format!(
            "the dump of {database} had {size} bytes but {} were stored at {bucket}/{key}",
            meta.size
        )));
    }
    Ok(DumpRecord {
        database: database.to_string(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        size,
        sha256,
        etag: meta.etag,
    })
}

/// What a dump is expected to be, as [`DumpRecord`] recorded it; `None` fields are not checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    /// The size in bytes.
    pub size: Option<u64>,
    /// The SHA-256, hex.
    pub sha256: Option<String>,
}

/// Restores `spec.name` (owned by `spec.owner`) from the dump at `bucket`/`key`, streamed
/// ([`ObjectStorage::get_object_stream`] into [`Database::restore_database`]). A size that
/// differs from `expected` is refused before the restore starts; a SHA-256 that differs fails
/// the stream before its last chunk reaches the database (`Conflict`;
/// [`crate::stream::verifying`]). A live database is refused by the provider (`Conflict`).
/// `NotFound` when the dump does not exist. Requests: one `get_object_stream` (and what
/// reading it takes), and those of `restore_database`.
pub async fn restore_from_storage(
    db: &dyn Database,
    storage: &dyn ObjectStorage,
    spec: &DatabaseSpec,
    bucket: &str,
    key: &str,
    expected: &Expected,
) -> Result<RestoredDatabase> {
    let (body, meta) = storage.get_object_stream(bucket, key).await?;
    if let Some(size) = expected.size
        && size != meta.size
    {
        return Err(Error::conflict(format!(
            "the dump {bucket}/{key} has {} bytes, not the {size} recorded for it; not restoring",
            meta.size
        )));
    }
    let body = crate::stream::verifying(body, expected.size, expected.sha256.clone());
    db.restore_database(spec, body).await.map_err(|e| {
        e.context(format_args!(
            "restoring database {} from {bucket}/{key}",
            spec.name
        ))
    })
}
