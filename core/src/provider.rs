//! What every provider says about itself, whatever capability it implements.

use std::time::Duration;

/// A request quota a provider account is subject to, declared so the engine's rate limiter can
/// stay inside it instead of discovering it through 429s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Quota {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window length.
    #[serde(with = "duration_ms")]
    pub per: Duration,
}

impl Quota {
    /// `requests` per `per`.
    ///
    /// ```
    /// // Cloudflare's account limit
    /// let q = provisio::Quota::new(1200, std::time::Duration::from_secs(300));
    /// assert_eq!(q.per_second(), 4.0);
    /// ```
    pub fn new(requests: u32, per: Duration) -> Self {
        Quota { requests, per }
    }
    /// The sustained rate in requests per second.
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.per.as_secs_f64()
    }
}

/// Identity and limits of one configured provider instance.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProviderInfo {
    /// The provider's kind, e.g. `memory`, `cloudflare`, `aws`.
    pub name: String,
    /// The account (or endpoint) this instance acts on; requests to the same account share one
    /// rate limit in the engine. Never a credential.
    pub account: String,
    /// The account's request quota, when the provider documents one.
    pub quota: Option<Quota>,
}

impl ProviderInfo {
    /// A provider with no declared quota.
    pub fn new(name: impl Into<String>, account: impl Into<String>) -> Self {
        ProviderInfo {
            name: name.into(),
            account: account.into(),
            quota: None,
        }
    }
    /// The same with a declared quota.
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = Some(quota);
        self
    }
}

/// Implemented by every provider of every capability.
pub trait Provider: Send + Sync {
    /// Who this provider is and which account it acts on.
    fn info(&self) -> ProviderInfo;

    /// Checks a name of `kind` against this provider's own rules (AWS Secrets Manager allows
    /// `tenants/acme/db`, Key Vault does not; PostgreSQL refuses the role `postgres`, git the
    /// branch `HEAD`). The engine calls it when it plans, with every reference resolved, so a
    /// name the provider would refuse stops the run before the first side effect; providers
    /// call it at their boundary too. `field` names the input in the error
    /// (`invalid <field>: <rule>`).
    ///
    /// The default applies [`crate::validate::portable`]: the rules under which a name works
    /// with every provider provisio drives. Providers override it with their real rules.
    fn check_name(
        &self,
        kind: crate::validate::NameKind,
        field: &str,
        value: &str,
    ) -> crate::Result<()> {
        crate::validate::portable(kind, field, value).map(|_| ())
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
