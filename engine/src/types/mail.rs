//! `mail.identity`: a sending identity (a domain or one address) for the tenant's outgoing mail.

use super::params::{Phase, TypedParams};
use super::{check_owner, in_resource};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::mail::{MailIdentity as Identity, identity_kind};
use provisio::{Deleted, Result};
use serde_json::{Value, json};

/// `mail.identity`: a domain or address that may send mail, tagged with the ownership tags.
///
/// Parameters:
/// - `name` (required): a domain (`acme.example.com`: verified by DKIM records) or an address
///   (`noreply@acme.example.com`: verified by a link sent to it).
///
/// Outputs: `name`, `kind` (`domain` or `email_address`), `status` (`pending`, `success`, ...),
/// `dkim_records` (a list of `{name, type, content}` to publish, e.g. with `dns.record`
/// resources). Changing `name` replaces the identity.
///
/// ```yaml
/// mail:
///   type: mail.identity
///   provider: ses
///   params:
///     name: ${tenant.name}.example.com
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MailIdentity;

/// The parameters of `mail.identity` (see [`MailIdentity`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityParams {
    name: String,
}

impl TypedParams for IdentityParams {
    const TYPE: &'static str = "mail.identity";
    const REPLACE: &'static [&'static str] = &["name"];
    /// The identity's canonical name.
    type Spec = String;

    fn check(self, phase: Phase) -> Result<String> {
        phase.name("name", &self.name, |field, value| {
            identity_kind(value).map_err(|e| {
                provisio::Error::invalid_field(
                    field,
                    e.message().trim_start_matches("invalid mail identity: "),
                )
            })?;
            // Domains are case-insensitive: keep one spelling so the identity is
            // deterministic.
            Ok(if value.contains('@') {
                value.to_string()
            } else {
                value.trim_end_matches('.').to_ascii_lowercase()
            })
        })
    }
}

fn outputs(i: &Identity) -> Value {
    let records: Vec<Value> = i
        .dns_records
        .iter()
        .map(|r| json!({ "name": r.name, "type": r.record_type.as_str(), "content": r.content }))
        .collect();
    json!({
        "name": i.name,
        "kind": i.kind,
        "status": i.status,
        "dkim_records": records,
    })
}

#[provisio::async_trait]
impl ResourceType for MailIdentity {
    fn name(&self) -> &str {
        "mail.identity"
    }

    fn capability(&self) -> Capability {
        Capability::Mail
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        IdentityParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        IdentityParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["name", "kind", "status", "dkim_records"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // verification moves on by itself
        &["status", "dkim_records"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "mail identity {}",
            IdentityParams::parse(params, Phase::Resolved)?
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let name = IdentityParams::parse(params, Phase::Resolved)?;
        let mail = ctx.providers.mail(ctx.provider)?;
        let found = mail.get_identity(&name).await.map_err(in_resource(ctx))?;
        Ok(found.as_ref().map(outputs))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        let name = IdentityParams::parse(params, Phase::Resolved)?;
        let mail = ctx.providers.mail(ctx.provider)?;
        let existing = mail.get_identity(&name).await.map_err(in_resource(ctx))?;
        provisio::existence::found(existing.is_some());
        if let Some(existing) = existing {
            check_owner(ctx, &existing.tags, &format!("mail identity {name:?}"))?;
        }
        let ensured = mail
            .ensure_identity(&name, &ctx.ownership)
            .await
            .map_err(in_resource(ctx))?;
        Ok(Applied {
            outputs: outputs(&ensured.value),
            outcome: ensured.outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        let name = IdentityParams::parse(params, Phase::Resolved)?;
        let mail = ctx.providers.mail(ctx.provider)?;
        match mail.get_identity(&name).await.map_err(in_resource(ctx))? {
            None => return Ok(Deleted::AlreadyGone),
            Some(i) => check_owner(ctx, &i.tags, &format!("mail identity {name:?}"))?,
        }
        mail.delete_identity(&name).await.map_err(in_resource(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};

    #[test]
    fn validates_params() {
        MailIdentity
            .validate(&json!({"name": "acme.example.com"}))
            .unwrap();
        MailIdentity
            .validate(&json!({"name": "noreply@acme.example.com"}))
            .unwrap();
        MailIdentity
            .validate(&json!({"name": "${tenant.name}.example.com"}))
            .unwrap();
        rejects(MailIdentity.validate(&json!({})), "name");
        rejects(MailIdentity.validate(&json!({"name": "a b.com"})), "name");
        rejects(MailIdentity.validate(&json!({"name": "@acme.com"})), "name");
        assert_eq!(
            IdentityParams::parse(&json!({"name": "Acme.Example.com."}), Phase::Resolved).unwrap(),
            "acme.example.com"
        );
    }

    #[tokio::test]
    async fn domain_lifecycle() {
        let h = Harness::new();
        let ctx = h.ctx("mail", "tok");
        let out = lifecycle(&MailIdentity, &ctx, &json!({"name": "acme.example.com"})).await;
        assert_eq!(out["name"], "acme.example.com");
        assert_eq!(out["kind"], "domain");
        let records = out["dkim_records"].as_array().unwrap();
        assert!(!records.is_empty());
        for r in records {
            assert_eq!(r["type"], "CNAME");
            assert!(r["name"].as_str().unwrap().ends_with("acme.example.com"));
        }
    }

    #[tokio::test]
    async fn address_lifecycle() {
        let h = Harness::new();
        let ctx = h.ctx("mail", "tok");
        let out = lifecycle(
            &MailIdentity,
            &ctx,
            &json!({"name": "noreply@acme.example.com"}),
        )
        .await;
        assert_eq!(out["kind"], "email_address");
        assert_eq!(out["dkim_records"], json!([]));
    }
}
