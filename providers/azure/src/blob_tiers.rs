//! Access tiers of [`AzureBlob`]: provisio's storage classes on Blob storage.
//!
//! `standard` is `Hot`, `infrequent_access` is `Cool` (a `Cold` blob reads as
//! `infrequent_access` too), `archive` is `Archive`; Azure has no `deep_archive`
//! (`Unsupported`). A tier change is one Set Blob Tier (`PUT ?comp=tier`,
//! `x-ms-access-tier`): between `Hot` and `Cool`, and to `Archive`, it takes effect at once
//! (200). Out of `Archive` it starts a rehydration (202) that Azure runs for hours: the blob
//! stays `Archive` with `x-ms-archive-status: rehydrate-pending-to-<tier>`, and
//! [`provisio::ObjectStorage::set_storage_class`] fails with
//! [`rehydration_pending`] until the tier has changed.
//!
//! Requests: `set_storage_class` one Get Blob Properties (`HEAD`), then one Set Blob Tier
//! unless the blob is in the tier already or rehydrating; `set_prefix_storage_class` one List
//! Blobs per 5000 (it carries `AccessTier` and `ArchiveStatus`), then one Set Blob Tier per
//! blob not in the tier (a `HEAD` first only for an archived blob).
//!
//! Expiry rules are lifecycle management policy rules, a Resource Manager API that neither
//! Azurite nor the Blob data plane has: `Unsupported` (`expiry_rules: false`).

use crate::blob::AzureBlob;
use provisio::storage::{ClassChange, ObjectMeta, StorageClass, list_all, rehydration_pending};
use provisio::{Error, ErrorKind, Result};

/// The error for a class Azure does not have.
pub(crate) fn no_tier(class: StorageClass) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "Azure Blob has no {class} tier (its tiers are Hot, Cool and Archive: standard, \
             infrequent_access and archive)"
        ),
    )
    .with_operation("storage.set_storage_class")
}

/// Whether `x-ms-archive-status` (Get Blob Properties, or `ArchiveStatus` in a listing)
/// says a rehydration out of `Archive` is running (`rehydrate-pending-to-hot`, `-to-cool`,
/// `-to-cold`).
fn rehydrating(archive_status: Option<&str>) -> bool {
    archive_status.is_some_and(|s| {
        s.trim()
            .to_ascii_lowercase()
            .starts_with("rehydrate-pending")
    })
}

impl AzureBlob {
    /// Set Blob Tier: `true` when the blob is now in the tier (200), `false` when a
    /// rehydration started (202).
    async fn set_tier(&self, bucket: &str, key: &str, tier: &str) -> Result<bool> {
        let mut url = self.url(bucket, Some(key));
        url.query_pairs_mut().append_pair("comp", "tier");
        let resp = self
            .send(|h| {
                h.put(url.clone())
                    .header("x-ms-access-tier", tier)
                    .header("content-length", "0")
            })
            .await?;
        match resp.status {
            200 => Ok(true),
            202 => Ok(false),
            _ => Err(resp.xml_error()),
        }
    }

    /// [`provisio::ObjectStorage::set_storage_class`]; `listed` is the blob as a listing just
    /// showed it in a readable tier (then no `HEAD` is needed).
    pub(crate) async fn change_tier(
        &self,
        bucket: &str,
        key: &str,
        class: StorageClass,
        listed: Option<&ObjectMeta>,
    ) -> Result<ObjectMeta> {
        let tier = class.azure_tier().ok_or_else(|| no_tier(class))?;
        let meta = match listed {
            Some(m) if m.storage_class.is_readable() => m.clone(),
            _ => {
                let url = self.url(bucket, Some(key));
                let resp = self.send(|h| h.head(url.clone())).await?;
                match resp.status {
                    200 => {}
                    404 => {
                        return Err(Error::not_found(format!(
                            "object {key} does not exist in {bucket} (BlobNotFound)"
                        )));
                    }
                    _ => return Err(resp.xml_error()),
                }
                let meta = Self::object_meta(key, &resp);
                if rehydrating(resp.header("x-ms-archive-status")) {
                    return Err(rehydration_pending(bucket, key, class));
                }
                if meta.storage_class == class {
                    return Ok(meta);
                }
                meta
            }
        };
        if self.set_tier(bucket, key, tier).await? {
            Ok(ObjectMeta {
                storage_class: class,
                ..meta
            })
        } else {
            Err(rehydration_pending(bucket, key, class))
        }
    }

    /// [`provisio::ObjectStorage::set_prefix_storage_class`]: blobs the listing shows in a
    /// readable tier get their Set Blob Tier without a `HEAD`.
    pub(crate) async fn change_prefix_tier(
        &self,
        bucket: &str,
        prefix: &str,
        class: StorageClass,
    ) -> Result<ClassChange> {
        class.azure_tier().ok_or_else(|| no_tier(class))?;
        let mut change = ClassChange::default();
        for obj in list_all(self, bucket, prefix).await? {
            if obj.storage_class == class {
                change.unchanged += 1;
                continue;
            }
            match self.change_tier(bucket, &obj.key, class, Some(&obj)).await {
                Ok(_) => change.changed += 1,
                Err(e) if provisio::storage::is_rehydration_pending(&e) => change.pending += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_status_and_tiers() {
        assert!(rehydrating(Some("rehydrate-pending-to-hot")));
        assert!(rehydrating(Some("Rehydrate-Pending-To-Cool")));
        assert!(!rehydrating(None));
        assert!(!rehydrating(Some("")));
        assert_eq!(
            no_tier(StorageClass::DeepArchive).kind(),
            &ErrorKind::Unsupported
        );
        assert_eq!(
            StorageClass::from_azure_tier(Some("Cold")),
            StorageClass::InfrequentAccess
        );
        assert_eq!(StorageClass::from_azure_tier(None), StorageClass::Standard);
    }
}
