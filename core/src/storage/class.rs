//! Storage classes: how an object is stored, and whether it can be read right away.
//!
//! provisio names four classes; each provider maps them to its own spelling:
//!
//! | [`StorageClass`] | S3 (`x-amz-storage-class`) | Azure Blob (access tier) | readable at once |
//! |---|---|---|---|
//! | `standard` | `STANDARD` (also read: `REDUCED_REDUNDANCY`, `INTELLIGENT_TIERING`) | `Hot` | yes |
//! | `infrequent_access` | `STANDARD_IA` (also read: `ONEZONE_IA`, `GLACIER_IR`) | `Cool` (also read: `Cold`) | yes |
//! | `archive` | `GLACIER` | `Archive` | no: restore first |
//! | `deep_archive` | `DEEP_ARCHIVE` | none (unsupported) | no: restore first |
//!
//! An object in an archive class cannot be read: S3 answers `InvalidObjectState`, Azure
//! `BlobArchived`, and provisio's providers report both as `Conflict`. Bringing it back
//! ([`crate::ObjectStorage::set_storage_class`] to a readable class) takes a rehydration that
//! the service runs on its own clock (hours on S3 and Azure): see
//! [`rehydration_pending`].

use crate::{Error, ErrorKind, Result};
use std::fmt;
use std::str::FromStr;

/// How an object is stored (see the [module docs](self) for each provider's spelling).
///
/// Serialized in snake_case (`deep_archive`); parsed from that or from any provider's
/// spelling, case-insensitively (`GLACIER`, `Archive`, `STANDARD_IA`, `Hot`):
///
/// ```
/// use provisio::storage::StorageClass;
/// assert_eq!("GLACIER".parse::<StorageClass>().unwrap(), StorageClass::Archive);
/// assert_eq!("Hot".parse::<StorageClass>().unwrap(), StorageClass::Standard);
/// assert_eq!("deep_archive".parse::<StorageClass>().unwrap(), StorageClass::DeepArchive);
/// assert_eq!(StorageClass::InfrequentAccess.to_string(), "infrequent_access");
/// assert_eq!(StorageClass::Archive.s3_name(), "GLACIER");
/// assert!(!StorageClass::Archive.is_readable());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageClass {
    /// Frequently read data (S3 `STANDARD`, Azure `Hot`): the default of every new object.
    #[default]
    Standard,
    /// Rarely read data, cheaper to keep and dearer to read (S3 `STANDARD_IA`, Azure `Cool`).
    InfrequentAccess,
    /// Archived: not readable until restored (S3 `GLACIER`, Azure `Archive`).
    Archive,
    /// Archived for the long term, slowest to restore (S3 `DEEP_ARCHIVE`; Azure has none).
    DeepArchive,
}

impl StorageClass {
    /// Every class, in order.
    pub const ALL: [StorageClass; 4] = [
        StorageClass::Standard,
        StorageClass::InfrequentAccess,
        StorageClass::Archive,
        StorageClass::DeepArchive,
    ];

    /// The snake_case name (`infrequent_access`).
    pub fn as_str(self) -> &'static str {
        match self {
            StorageClass::Standard => "standard",
            StorageClass::InfrequentAccess => "infrequent_access",
            StorageClass::Archive => "archive",
            StorageClass::DeepArchive => "deep_archive",
        }
    }

    /// Whether an object of this class can be read without a restore first.
    pub fn is_readable(self) -> bool {
        matches!(
            self,
            StorageClass::Standard | StorageClass::InfrequentAccess
        )
    }

    /// S3's name for the class, as sent in `x-amz-storage-class`.
    pub fn s3_name(self) -> &'static str {
        match self {
            StorageClass::Standard => "STANDARD",
            StorageClass::InfrequentAccess => "STANDARD_IA",
            StorageClass::Archive => "GLACIER",
            StorageClass::DeepArchive => "DEEP_ARCHIVE",
        }
    }

    /// The class of an S3 storage class name (`None`: S3 omits the header and the listing
    /// element for `STANDARD`). An unknown name reads as `Standard`; the mapping is in the
    /// [module docs](self).
    pub fn from_s3(name: Option<&str>) -> StorageClass {
        match name.map(str::trim) {
            Some("STANDARD_IA" | "ONEZONE_IA" | "GLACIER_IR") => StorageClass::InfrequentAccess,
            Some("GLACIER") => StorageClass::Archive,
            Some("DEEP_ARCHIVE") => StorageClass::DeepArchive,
            _ => StorageClass::Standard,
        }
    }

    /// Azure Blob's access tier for the class; `None` for `DeepArchive`, which Azure lacks.
    pub fn azure_tier(self) -> Option<&'static str> {
        match self {
            StorageClass::Standard => Some("Hot"),
            StorageClass::InfrequentAccess => Some("Cool"),
            StorageClass::Archive => Some("Archive"),
            StorageClass::DeepArchive => None,
        }
    }

    /// The class of an Azure access tier (`x-ms-access-tier`, `AccessTier` in listings); an
    /// absent or unknown tier reads as `Standard` (the account's default tier, Hot).
    pub fn from_azure_tier(tier: Option<&str>) -> StorageClass {
        match tier.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
            Some("cool" | "cold") => StorageClass::InfrequentAccess,
            Some("archive") => StorageClass::Archive,
            _ => StorageClass::Standard,
        }
    }

    /// Parses a class from its snake_case name or a provider's spelling, case-insensitively;
    /// an unknown name is `InvalidInput` naming `field` and the accepted names.
    pub fn parse(field: &str, value: &str) -> Result<StorageClass> {
        let norm = value.trim().to_ascii_lowercase().replace('-', "_");
        match norm.as_str() {
            "standard" | "hot" => Ok(StorageClass::Standard),
            "infrequent_access" | "standard_ia" | "cool" => Ok(StorageClass::InfrequentAccess),
            "archive" | "glacier" => Ok(StorageClass::Archive),
            "deep_archive" => Ok(StorageClass::DeepArchive),
            _ => Err(Error::invalid_field(
                field,
                format!(
                    "unknown storage class {value:?}: expected standard, infrequent_access, \
                     archive or deep_archive (or STANDARD, STANDARD_IA, GLACIER, DEEP_ARCHIVE, \
                     Hot, Cool, Archive)"
                ),
            )),
        }
    }
}

impl fmt::Display for StorageClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StorageClass {
    type Err = Error;
    fn from_str(s: &str) -> Result<StorageClass> {
        StorageClass::parse("storage_class", s)
    }
}

impl<'de> serde::Deserialize<'de> for StorageClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StorageClass::parse("storage_class", &s).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

/// What [`crate::ObjectStorage::set_prefix_storage_class`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClassChange {
    /// Objects moved to the class by this call.
    pub changed: u64,
    /// Objects that already were in the class (nothing sent for them).
    pub unchanged: u64,
    /// Objects still being restored from an archive class: call again later to finish them.
    pub pending: u64,
}

impl ClassChange {
    /// Every object under the prefix, whatever happened to it.
    pub fn objects(&self) -> u64 {
        self.changed + self.unchanged + self.pending
    }
}

/// The error [`crate::ObjectStorage::set_storage_class`] returns while an object is being
/// restored from an archive class: `Transient` (retryable, so a polling step waits for it),
/// naming the object and the class it is waiting for. [`is_rehydration_pending`] tells it
/// from other transient failures.
pub fn rehydration_pending(bucket: &str, key: &str, to: StorageClass) -> Error {
    Error::transient(format!(
        "{REHYDRATING}: object {key} in {bucket} is being restored from its archive class \
         before it moves to {to}; call again later"
    ))
    .with_resource(format!("{bucket}/{key}"))
}

const REHYDRATING: &str = "rehydration pending";

/// Whether `err` is a [`rehydration_pending`] error.
pub fn is_rehydration_pending(err: &Error) -> bool {
    err.kind() == &ErrorKind::Transient && err.message().starts_with(REHYDRATING)
}

/// The error of reading an object in an archive class (S3 `InvalidObjectState`, Azure
/// `BlobArchived`): `Conflict`, naming the object and its class.
pub fn archived_object(bucket: &str, key: &str, class: StorageClass, code: &str) -> Error {
    Error::conflict(format!(
        "object {key} in {bucket} is in the {class} storage class and cannot be read ({code}): \
         restore it first (set its storage class to standard)"
    ))
    .with_resource(format!("{bucket}/{key}"))
}

/// The deterministic id of the expiry rule for `prefix`: `provisio-expire-` and the first 16
/// hex characters of the SHA-256 of the prefix (alphanumeric apart from the dashes, short
/// enough for every provider's rule names).
///
/// ```
/// let id = provisio::storage::expiry_rule_id("tenants/acme/");
/// assert!(id.starts_with("provisio-expire-"));
/// assert_eq!(id, provisio::storage::expiry_rule_id("tenants/acme/"));
/// assert_ne!(id, provisio::storage::expiry_rule_id("tenants/acme2/"));
/// ```
pub fn expiry_rule_id(prefix: &str) -> String {
    use sha2::Digest;
    format!(
        "provisio-expire-{}",
        &hex::encode(sha2::Sha256::digest(prefix.as_bytes()))[..16]
    )
}

/// Checks the arguments of an expiry rule: `days` at least 1 (S3's rule); the prefix is
/// checked as an object key prefix (no control characters). Errors name the field.
pub fn check_expiry(prefix: &str, days: u32) -> Result<()> {
    if days == 0 {
        return Err(Error::invalid_field("days", "must be at least 1"));
    }
    if prefix.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "prefix",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An expiry rule as a provider holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExpiryRule {
    /// The rule's id ([`expiry_rule_id`] of the prefix).
    pub id: String,
    /// The key prefix it applies to.
    pub prefix: String,
    /// Objects expire this many days after they were written.
    pub days: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_spellings_parse() {
        for (s, c) in [
            ("STANDARD", StorageClass::Standard),
            ("standard_ia", StorageClass::InfrequentAccess),
            ("Cool", StorageClass::InfrequentAccess),
            ("GLACIER", StorageClass::Archive),
            ("Archive", StorageClass::Archive),
            ("DEEP_ARCHIVE", StorageClass::DeepArchive),
            ("deep-archive", StorageClass::DeepArchive),
            ("Hot", StorageClass::Standard),
        ] {
            assert_eq!(s.parse::<StorageClass>().unwrap(), c, "{s}");
        }
        let e = StorageClass::parse("storage_class", "frozen").unwrap_err();
        assert!(e.message().starts_with("invalid storage_class: unknown"));
        for c in StorageClass::ALL {
            assert_eq!(c.as_str().parse::<StorageClass>().unwrap(), c);
            assert_eq!(StorageClass::from_s3(Some(c.s3_name())), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<StorageClass>(&json).unwrap(), c);
            if let Some(t) = c.azure_tier() {
                assert_eq!(StorageClass::from_azure_tier(Some(t)), c);
            }
        }
        assert_eq!(StorageClass::from_s3(None), StorageClass::Standard);
        assert_eq!(
            serde_json::from_str::<StorageClass>("\"GLACIER\"").unwrap(),
            StorageClass::Archive
        );
    }

    #[test]
    fn pending_is_retryable_and_recognised() {
        let e = rehydration_pending("b", "k", StorageClass::Standard);
        assert!(e.retryable());
        assert!(is_rehydration_pending(&e));
        assert!(!is_rehydration_pending(&Error::transient("503")));
        let e = archived_object("b", "k", StorageClass::Archive, "InvalidObjectState");
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.message().contains("archive storage class"));
        assert!(check_expiry("p/", 0).is_err());
        assert!(check_expiry("p/", 1).is_ok());
    }
}
