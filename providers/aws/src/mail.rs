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
use crate::error::{PROVIDER, located};
use crate::wire::json::{tag_list, tags_of};
use crate::wire::{Client, Request, encode};
use provisio::dns::{RecordSpec, RecordType};
use provisio::mail::{
    IdentityKind, MailCapabilities, MailIdentity, VerificationStatus, identity_kind,
};
use provisio::{Deleted, Ensured, Error, Mail, Provider, ProviderInfo, Result, Tags, validate};
use serde_json::{Value, json};

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

/// The verification state of a `GetEmailIdentity` answer.
fn status_of(out: &Value) -> VerificationStatus {
    match out.get("VerificationStatus").and_then(Value::as_str) {
        Some("SUCCESS") => VerificationStatus::Success,
        Some("PENDING") => VerificationStatus::Pending,
        Some("FAILED") => VerificationStatus::Failed,
        Some("TEMPORARY_FAILURE") => VerificationStatus::TemporaryFailure,
        Some("NOT_STARTED") => VerificationStatus::NotStarted,
        _ if verified(out) => VerificationStatus::Success,
        _ => VerificationStatus::Pending,
    }
}

/// `VerifiedForSendingStatus` of an answer.
fn verified(out: &Value) -> bool {
    out.get("VerifiedForSendingStatus")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The DKIM tokens of an answer.
fn tokens_of(out: &Value) -> Vec<String> {
    out.pointer("/DkimAttributes/Tokens")
        .and_then(Value::as_array)
        .map(|tokens| {
            tokens
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The DNS records that verify an identity: the DKIM CNAMEs of a domain, none for an address.
fn records_of(name: &str, kind: IdentityKind, out: &Value) -> Vec<RecordSpec> {
    match kind {
        IdentityKind::Domain => dkim_records(name, &tokens_of(out)),
        IdentityKind::EmailAddress => Vec::new(),
    }
}

fn to_identity(name: &str, kind: IdentityKind, out: &Value) -> MailIdentity {
    MailIdentity {
        name: name.to_string(),
        kind,
        status: status_of(out),
        dns_records: records_of(name, kind, out),
        tags: tags_of(out),
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

/// The path of one identity.
fn identity_path(name: &str) -> String {
    format!("/v2/email/identities/{}", encode(name, false))
}

impl SesMail {
    /// An SES v2 provider on `client` (built by [`crate::Aws::mail`]).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        SesMail {
            client,
            info: config.provider_info(crate::config::Service::SesV2, account),
        }
    }

    /// One `GetEmailIdentity`; `NotFoundException` is `None`.
    async fn read(&self, name: &str, kind: IdentityKind, op: &str) -> Result<Option<MailIdentity>> {
        let request = Request::get(identity_path(name)).expect_code("NotFoundException");
        let answer = self.client.send(&request, op, name).await?;
        if !answer.ok() {
            return Ok(None);
        }
        let out = answer.json().map_err(|e| located(e, op, name))?;
        Ok(Some(to_identity(name, kind, &out)))
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
        // Read first: moto answers a second CreateEmailIdentity with success (SES refuses it
        // with AlreadyExistsException), so a create-first ensure could not tell "unchanged"
        // there. The create's answer carries what a read would (the DKIM tokens, the
        // verification state): no read after it.
        if let Some(existing) = self.read(&name, kind, op).await? {
            return Ok(Ensured::unchanged(existing));
        }
        let mut input = json!({ "EmailIdentity": name });
        if !tags.is_empty() {
            input["Tags"] = tag_list(tags);
        }
        let request = Request::new(reqwest::Method::POST, "/v2/email/identities")
            .header("content-type", "application/json")
            .body(input.to_string())
            .expect_code("AlreadyExistsException");
        let answer = self.client.send(&request, op, &name).await?;
        if answer.ok() {
            let out = answer.json().map_err(|e| located(e, op, &name))?;
            return Ok(Ensured::created(MailIdentity {
                name: name.clone(),
                kind,
                status: if verified(&out) {
                    VerificationStatus::Success
                } else {
                    VerificationStatus::Pending
                },
                dns_records: records_of(&name, kind, &out),
                tags: tags.clone(),
            }));
        }
        // AlreadyExistsException: created since the read (a concurrent ensure).
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
        let request = Request::new(reqwest::Method::DELETE, identity_path(&name))
            .expect_code("NotFoundException");
        let answer = self.client.send(&request, op, &name).await?;
        Ok(if answer.ok() {
            Deleted::Deleted
        } else {
            Deleted::AlreadyGone
        })
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
