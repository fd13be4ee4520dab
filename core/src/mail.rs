//! Outgoing mail: sending identities (a domain or an address) and their verification.

use crate::{Deleted, Ensured, Provider, Result, Tags};
use async_trait::async_trait;

/// Whether an identity is a whole domain or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// A domain: every address in it may send once DKIM records are published.
    Domain,
    /// One e-mail address, verified by a link sent to it.
    EmailAddress,
}

/// Verification status (SES's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationStatus {
    /// Verification has not started.
    NotStarted,
    /// Waiting for the DNS records or the click.
    Pending,
    /// Verified: mail can be sent.
    Success,
    /// Verification failed.
    Failed,
    /// A temporary problem; the provider will try again.
    TemporaryFailure,
}

/// A sending identity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailIdentity {
    /// The domain or address.
    pub name: String,
    /// Domain or address.
    pub kind: IdentityKind,
    /// Verification status.
    pub status: VerificationStatus,
    /// DNS records to publish to verify a domain (DKIM CNAMEs), as `RecordSpec`s.
    pub dns_records: Vec<crate::dns::RecordSpec>,
    /// Tags.
    pub tags: Tags,
}

/// What a mail provider can do.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailCapabilities {
    /// Domains can be verified.
    pub domains: bool,
    /// Single addresses can be verified.
    pub addresses: bool,
}

/// A mail-sending provider.
#[async_trait]
pub trait Mail: Provider {
    /// What this provider supports.
    fn capabilities(&self) -> MailCapabilities;

    /// Creates the identity unless it exists. The kind follows from the name: one with `@` is
    /// an address, otherwise a domain.
    async fn ensure_identity(&self, name: &str, tags: &Tags) -> Result<Ensured<MailIdentity>>;

    /// Reads an identity with its current verification status; `Ok(None)` when unknown.
    async fn get_identity(&self, name: &str) -> Result<Option<MailIdentity>>;

    /// Deletes an identity; [`Deleted::AlreadyGone`] when unknown.
    async fn delete_identity(&self, name: &str) -> Result<Deleted>;
}

/// Validates an identity name and says which kind it is.
pub fn identity_kind(name: &str) -> Result<IdentityKind> {
    match name.split_once('@') {
        Some((local, domain)) => {
            if local.is_empty()
                || local.len() > 64
                || local
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
            {
                return Err(crate::Error::invalid_field(
                    "mail identity",
                    format!("{name:?} has an invalid local part"),
                ));
            }
            crate::validate::hostname("mail identity", domain)?;
            Ok(IdentityKind::EmailAddress)
        }
        None => {
            crate::validate::hostname("mail identity", name)?;
            Ok(IdentityKind::Domain)
        }
    }
}
