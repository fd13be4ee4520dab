//! `storage.bucket`, `storage.objects` and `storage.prefix`: buckets, the objects under a
//! prefix, and the storage class and expiry of a prefix, one file each (`bucket.rs`,
//! `objects.rs`, `prefix.rs`); this module holds the bucket name rule they share.

mod bucket;
mod objects;
mod prefix;
#[cfg(test)]
mod tests;

pub use bucket::StorageBucket;
pub use objects::StorageObjects;
pub use prefix::{DEFAULT_POLL_INTERVAL_SECS, DEFAULT_WAIT_TIMEOUT_SECS, StoragePrefix};

use provisio::{Result, validate};

/// A bucket or container name: valid for S3 or for Azure Blob (the provider applies its own
/// rule as well). The S3 message is reported because it is the more detailed one.
pub(crate) fn bucket_name(field: &str, value: &str) -> Result<String> {
    match validate::s3_bucket_name(field, value) {
        Ok(v) => Ok(v),
        Err(e) => validate::azure_container_name(field, value).map_err(|_| e),
    }
}
