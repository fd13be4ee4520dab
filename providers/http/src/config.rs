//! [`HttpConfig`]: the few settings of the `http` provider kind.

use provisio::ratelimit::RateLimit;
use provisio::{Error, Result};

fn default_account() -> String {
    "http".to_string()
}

fn default_user_agent() -> String {
    concat!("provisio-http/", env!("CARGO_PKG_VERSION")).to_string()
}

/// The configuration of one [`HttpProbe`](crate::HttpProbe), from a provider file
/// (`[providers.probe.default] kind = "http"`); every key is optional.
///
/// There is deliberately no setting that turns TLS verification off or adds a CA for every
/// check: `tls_verify: false` and `ca_file` are parameters of the one `http.check` that needs
/// them, where the plan shows them. A provider file that tries (`tls_verify = false`) is
/// refused with an error saying so.
///
/// ```
/// let c: provisio_http::HttpConfig = serde_json::from_str(r#"{"account": "tenant-checks"}"#).unwrap();
/// assert_eq!(c.account, "tenant-checks");
/// assert!(c.rate_limit.is_none());
/// let e = provisio_http::HttpProbe::new(
///     serde_json::from_str(r#"{"tls_verify": false}"#).unwrap(),
/// ).unwrap_err();
/// assert!(e.message().contains("tls_verify: false on the http.check"), "{e}");
/// assert!(serde_json::from_str::<provisio_http::HttpConfig>(r#"{"verify": false}"#).is_err());
/// ```
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The name requests are paced under ([`ProviderInfo::account`](provisio::ProviderInfo::account));
    /// default `http`.
    #[serde(default = "default_account")]
    pub account: String,
    /// A request limit for every probe of this provider (`rate_limit = { requests = 10,
    /// per_secs = 1 }`); none by default: the checked services are the tenant's own.
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// The `User-Agent` header (default `provisio-http/<version>`).
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Refused when present: see the type's docs.
    #[serde(default)]
    pub tls_verify: Option<serde_json::Value>,
    /// Refused when present: see the type's docs.
    #[serde(default)]
    pub ca_file: Option<serde_json::Value>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            account: default_account(),
            rate_limit: None,
            user_agent: default_user_agent(),
            tls_verify: None,
            ca_file: None,
        }
    }
}

impl HttpConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the settings; errors name the setting.
    pub fn check(&self) -> Result<()> {
        if self.tls_verify.is_some() {
            return Err(Error::invalid_field(
                "tls_verify",
                "TLS verification cannot be turned off for a whole provider: set \
                 tls_verify: false on the http.check that needs it, where the plan shows it",
            ));
        }
        if self.ca_file.is_some() {
            return Err(Error::invalid_field(
                "ca_file",
                "an extra CA is trusted per check, not per provider: set ca_file on the \
                 http.check that needs it",
            ));
        }
        if self.account.trim().is_empty() {
            return Err(Error::invalid_field("account", "must not be empty"));
        }
        if self.user_agent.is_empty()
            || self
                .user_agent
                .chars()
                .any(|c| c.is_control() || !c.is_ascii())
        {
            return Err(Error::invalid_field(
                "user_agent",
                "must be non-empty printable ASCII",
            ));
        }
        if let Some(r) = &self.rate_limit {
            r.quota("rate_limit")?;
        }
        Ok(())
    }
}
