//! SES v2 as [`Mail`]: email-address and domain identities.
//!
//! A domain identity uses Easy DKIM: SES hands out three tokens, and the domain is verified
//! once `<token>._domainkey.<domain>` CNAMEs to `<token>.dkim.amazonses.com` are published.
//! [`MailIdentity::dns_records`] lists exactly those records, ready for a `dns.record`
//! resource. An address identity is verified by the link SES mails to it.
//!
//! Tags are set when the identity is created. SES v2 tags an existing identity only through its
//! ARN, which needs the account id; provisio does not look that up, so an existing identity's
//! tags are left as they are (documented in `docs/providers/aws.md`).

use crate::config::AwsConfig;
use crate::error::{PROVIDER, classify, code, located};
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityOutput;
use aws_sdk_sesv2::types::{Tag, VerificationStatus as SesStatus};
use provisio::dns::{RecordSpec, RecordType};
use provisio::mail::{
    IdentityKind, MailCapabilities, MailIdentity, VerificationStatus, identity_kind,
};
use provisio::{Deleted, Ensured, Error, Mail, Provider, ProviderInfo, Result, Tags, validate};

/// The TTL of the DKIM records provisio proposes.
const DKIM_TTL: u32 = 1800;

/// SES v2 sending identities.
#[derive(Debug, Clone)]
pub struct SesMail {
    client: Client,
    info: ProviderInfo,
}

/// The DKIM CNAMEs that verify `domain`, from SES's tokens.
pub fn dkim_records(domain: &str, tokens: &[String]) -> Vec<RecordSpec> {
    tokens
        .iter()
        .map(|t| {
            let t = t.to_ascii_lowercase();
            RecordSpec::new(
                format!("{t}._domainkey.{domain}"),
                RecordType::Cname,
                format!("{t}.dkim.amazonses.com"),
                DKIM_TTL,
            )
        })
        .collect()
}

fn status_of(out: &GetEmailIdentityOutput) -> VerificationStatus {
    match out.verification_status() {
        Some(SesStatus::Success) => VerificationStatus::Success,
        Some(SesStatus::Pending) => VerificationStatus::Pending,
        Some(SesStatus::Failed) => VerificationStatus::Failed,
        Some(SesStatus::TemporaryFailure) => VerificationStatus::TemporaryFailure,
        Some(SesStatus::NotStarted) => VerificationStatus::NotStarted,
        _ if out.verified_for_sending_status() => VerificationStatus::Success,
        _ => VerificationStatus::Pending,
    }
}

fn to_identity(name: &str, kind: IdentityKind, out: &GetEmailIdentityOutput) -> MailIdentity {
    let tokens = out
        .dkim_attributes()
        .map(|d| d.tokens().to_vec())
        .unwrap_or_default();
    MailIdentity {
        name: name.to_string(),
        kind,
        status: status_of(out),
        dns_records: match kind {
            IdentityKind::Domain => dkim_records(name, &tokens),
            IdentityKind::EmailAddress => Vec::new(),
        },
        tags: out
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }
}

/// Checks an identity name; domains come back in canonical (lower-case, punycode) form.
fn identity_name(name: &str) -> Result<(String, IdentityKind)> {
    let kind = identity_kind(name)?;
    let name = match kind {
        IdentityKind::Domain => validate::hostname("mail identity", name)?,
        IdentityKind::EmailAddress => {
            let (local, domain) = name.split_once('@').unwrap_or((name, ""));
            format!("{local}@{}", validate::hostname("mail identity", domain)?)
        }
    };
    Ok((name, kind))
}

impl SesMail {
    /// Wraps an SES v2 client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        SesMail {
            client,
            info: config.provider_info(crate::config::Service::SesV2, &account.into()),
        }
    }

    async fn read(&self, name: &str, kind: IdentityKind, op: &str) -> Result<Option<MailIdentity>> {
        match self
            .client
            .get_email_identity()
            .email_identity(name)
            .send()
            .await
        {
            Ok(out) => Ok(Some(to_identity(name, kind, &out))),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(None),
            Err(e) => Err(classify(e, op, name)),
        }
    }
}

impl Provider for SesMail {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

#[provisio::async_trait]
impl Mail for SesMail {
    fn capabilities(&self) -> MailCapabilities {
        MailCapabilities {
            domains: true,
            addresses: true,
        }
    }

    async fn ensure_identity(&self, name: &str, tags: &Tags) -> Result<Ensured<MailIdentity>> {
        let op = "mail.ensure_identity";
        let (name, kind) = identity_name(name).map_err(|e| located(e, op, name))?;
        validate::tags("mail identity tags", tags).map_err(|e| located(e, op, &name))?;
        let sdk_tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder().key(k).value(v).build().map_err(|e| {
                    Error::unexpected("cannot build a tag")
                        .with_provider(PROVIDER)
                        .with_source(e)
                })
            })
            .collect::<Result<_>>()?;
        // Read first: moto answers a second CreateEmailIdentity with success (SES refuses it
        // with AlreadyExistsException), so a create-first ensure could not tell "unchanged"
        // there. The create's answer carries what a read would (the DKIM tokens, the
        // verification state): no read after it.
        if let Some(existing) = self.read(&name, kind, op).await? {
            return Ok(Ensured::unchanged(existing));
        }
        match self
            .client
            .create_email_identity()
            .email_identity(&name)
            .set_tags((!sdk_tags.is_empty()).then_some(sdk_tags))
            .send()
            .await
        {
            Ok(out) => {
                let tokens = out
                    .dkim_attributes()
                    .map(|d| d.tokens().to_vec())
                    .unwrap_or_default();
                Ok(Ensured::created(MailIdentity {
                    name: name.clone(),
                    kind,
                    status: if out.verified_for_sending_status() {
                        VerificationStatus::Success
                    } else {
                        VerificationStatus::Pending
                    },
                    dns_records: match kind {
                        IdentityKind::Domain => dkim_records(&name, &tokens),
                        IdentityKind::EmailAddress => Vec::new(),
                    },
                    tags: tags.clone(),
                }))
            }
            Err(e) if code(&e) == Some("AlreadyExistsException") => {
                match self.read(&name, kind, op).await? {
                    Some(existing) => Ok(Ensured::unchanged(existing)),
                    None => Err(Error::transient(format!(
                        "identity {name:?} exists but cannot be read yet"
                    ))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(&name)),
                }
            }
            Err(e) => Err(classify(e, op, &name)),
        }
    }

    async fn get_identity(&self, name: &str) -> Result<Option<MailIdentity>> {
        let op = "mail.get_identity";
        let (name, kind) = identity_name(name).map_err(|e| located(e, op, name))?;
        self.read(&name, kind, op).await
    }

    async fn delete_identity(&self, name: &str) -> Result<Deleted> {
        let op = "mail.delete_identity";
        let (name, kind) = identity_name(name).map_err(|e| located(e, op, name))?;
        // SES answers NotFoundException for an unknown identity, moto answers success: read
        // first so both report AlreadyGone.
        if self.read(&name, kind, op).await?.is_none() {
            return Ok(Deleted::AlreadyGone);
        }
        match self
            .client
            .delete_email_identity()
            .email_identity(&name)
            .send()
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if code(&e) == Some("NotFoundException") => Ok(Deleted::AlreadyGone),
            Err(e) => Err(classify(e, op, &name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_records_are_valid_cnames_inside_the_domain() {
        let recs = dkim_records("acme.example.com", &["AbC123".to_string()]);
        assert_eq!(recs.len(), 1);
        let r = recs[0].validated().unwrap();
        assert_eq!(r.name, "abc123._domainkey.acme.example.com");
        assert_eq!(r.content, "abc123.dkim.amazonses.com");
    }
}
