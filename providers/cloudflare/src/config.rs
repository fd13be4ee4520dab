//! [`CloudflareConfig`]: where the API is, which token to use, and the account's limits.

use provisio::ratelimit::RateLimit;
use provisio::{Error, Quota, Result, SecretString};

/// The real API's base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";
/// The environment variable the API token is read from by default.
pub const DEFAULT_TOKEN_ENV: &str = "CLOUDFLARE_API_TOKEN";
/// Cloudflare's documented account limit: 1200 requests ...
pub const DEFAULT_REQUESTS_PER_WINDOW: u32 = 1200;
/// ... per 5 minutes.
pub const DEFAULT_WINDOW_SECS: u64 = 300;
/// The comment written on every record this provider creates.
pub const DEFAULT_RECORD_COMMENT: &str = "managed by provisio";

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_string()
}
fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_string()
}
fn default_rate_limit() -> Option<RateLimit> {
    Some(RateLimit::new(
        DEFAULT_REQUESTS_PER_WINDOW,
        DEFAULT_WINDOW_SECS as f64,
    ))
}
fn default_timeout() -> u64 {
    30
}
fn default_min_ttl() -> u32 {
    60
}
fn default_comment() -> Option<String> {
    Some(DEFAULT_RECORD_COMMENT.to_string())
}

/// The configuration of one [`CloudflareDns`](crate::CloudflareDns).
///
/// Written in a provider file (TOML, YAML, JSON); every key is optional. The API token is never
/// written there: `api_token_env` names the environment variable that holds it (read when the
/// provider is built and again before every request, so a rotated token is picked up), and Rust
/// callers may set [`api_token`](Self::api_token) directly.
///
/// ```
/// let c: provisio_cloudflare::CloudflareConfig = serde_json::from_str(
///     r#"{"api_token_env": "CF_TOKEN_PROD", "account_id": "0123456789abcdef0123456789abcdef"}"#,
/// ).unwrap();
/// assert_eq!(c.base_url, "https://api.cloudflare.com/client/v4");
/// let limit = c.rate_limit.unwrap();
/// assert_eq!((limit.requests, limit.per_secs), (1200, 300.0));
/// assert!(serde_json::from_str::<provisio_cloudflare::CloudflareConfig>(r#"{"token": "x"}"#).is_err());
/// ```
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// The API base URL, with its path (`https://api.cloudflare.com/client/v4`); tests point it
    /// at the fake or at Prism.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The environment variable holding the API token (default `CLOUDFLARE_API_TOKEN`).
    #[serde(default = "default_token_env")]
    pub api_token_env: String,
    /// The API token itself, for Rust callers; takes precedence over `api_token_env`. Never
    /// read from a file.
    #[serde(skip)]
    pub api_token: Option<SecretString>,
    /// The account id (32 hex): restricts zone lookups to this account and names the account
    /// in [`ProviderInfo::account`](provisio::ProviderInfo::account). Without it the account is
    /// named after the token's fingerprint.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The account's request limit, `rate_limit = { requests = 1200, per_secs = 300 }` by
    /// default (Cloudflare's documented global limit). Every HTTP request is paced to stay
    /// inside it; `null` (YAML, JSON) turns the pacing off.
    #[serde(default = "default_rate_limit")]
    pub rate_limit: Option<RateLimit>,
    /// The timeout of one HTTP request, in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// The smallest TTL other than 1 (automatic): 60, or 30 on Enterprise zones.
    #[serde(default = "default_min_ttl")]
    pub min_ttl: u32,
    /// The comment written on records this provider creates (at most 100 characters, the free
    /// plan's limit), so people can tell them apart in the dashboard; `null` writes none.
    #[serde(default = "default_comment")]
    pub record_comment: Option<String>,
}

impl Default for CloudflareConfig {
    fn default() -> Self {
        CloudflareConfig {
            base_url: default_base_url(),
            api_token_env: default_token_env(),
            api_token: None,
            account_id: None,
            rate_limit: default_rate_limit(),
            timeout_secs: default_timeout(),
            min_ttl: default_min_ttl(),
            record_comment: default_comment(),
        }
    }
}

impl CloudflareConfig {
    /// The real API with the token from `CLOUDFLARE_API_TOKEN` and the documented quota.
    pub fn new() -> Self {
        Self::default()
    }

    /// Another API base URL (a fake, Prism) with a token given directly.
    ///
    /// ```
    /// let c = provisio_cloudflare::CloudflareConfig::for_endpoint("http://127.0.0.1:4010", "t0k");
    /// assert_eq!(c.base_url, "http://127.0.0.1:4010");
    /// assert!(!format!("{c:?}").contains("t0k"));
    /// ```
    pub fn for_endpoint(base_url: impl Into<String>, token: impl Into<SecretString>) -> Self {
        CloudflareConfig {
            base_url: base_url.into(),
            api_token: Some(token.into()),
            ..Self::default()
        }
    }

    /// The same with the token given directly.
    pub fn with_token(mut self, token: impl Into<SecretString>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// The same with another quota: `requests` per `window_secs` seconds; 0 requests turns
    /// the pacing off.
    pub fn with_quota(mut self, requests: u32, window_secs: u64) -> Self {
        self.rate_limit = (requests > 0).then(|| RateLimit::new(requests, window_secs as f64));
        self
    }

    /// The quota requests are paced at: the configured limit less one request per window
    /// (at least one), as headroom for network jitter against Cloudflare's fixed windows
    /// (pacing at exactly the limit lets `requests + 1` land in one window when one request
    /// is delayed on the way); `None` when pacing is off.
    pub fn paced_quota(&self) -> Result<Option<Quota>> {
        let Some(limit) = &self.rate_limit else {
            return Ok(None);
        };
        let quota = limit.quota("rate_limit")?;
        Ok(Some(Quota::new(
            quota.requests.saturating_sub(1).max(1),
            quota.per,
        )))
    }

    /// The same restricted to one account.
    pub fn with_account(mut self, account_id: impl Into<String>) -> Self {
        self.account_id = Some(account_id.into());
        self
    }

    /// Reads the configuration from the environment:
    ///
    /// | variable | field | default |
    /// |---|---|---|
    /// | `PROVISIO_CLOUDFLARE_BASE_URL` | `base_url` | the real API |
    /// | `PROVISIO_CLOUDFLARE_TOKEN_ENV` | `api_token_env` | `CLOUDFLARE_API_TOKEN` |
    /// | `PROVISIO_CLOUDFLARE_ACCOUNT_ID` | `account_id` | none |
    /// | `PROVISIO_CLOUDFLARE_REQUESTS_PER_WINDOW` | `rate_limit.requests` (0: no pacing) | 1200 |
    /// | `PROVISIO_CLOUDFLARE_WINDOW_SECS` | `rate_limit.per_secs` | 300 |
    /// | `PROVISIO_CLOUDFLARE_TIMEOUT_SECS` | `timeout_secs` | 30 |
    /// | `PROVISIO_CLOUDFLARE_MIN_TTL` | `min_ttl` | 60 |
    ///
    /// The token itself stays in the variable `api_token_env` names; it is checked when the
    /// provider is built.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        fn number<T: std::str::FromStr>(
            name: &str,
            value: Option<String>,
            default: T,
        ) -> Result<T> {
            match value {
                None => Ok(default),
                Some(v) => v
                    .parse()
                    .map_err(|_| Error::invalid_field(name, format!("{v:?} is not a number"))),
            }
        }
        let requests: u32 = number(
            "PROVISIO_CLOUDFLARE_REQUESTS_PER_WINDOW",
            var("PROVISIO_CLOUDFLARE_REQUESTS_PER_WINDOW"),
            DEFAULT_REQUESTS_PER_WINDOW,
        )?;
        let per_secs: f64 = number(
            "PROVISIO_CLOUDFLARE_WINDOW_SECS",
            var("PROVISIO_CLOUDFLARE_WINDOW_SECS"),
            DEFAULT_WINDOW_SECS as f64,
        )?;
        let c = CloudflareConfig {
            base_url: var("PROVISIO_CLOUDFLARE_BASE_URL").unwrap_or_else(default_base_url),
            api_token_env: var("PROVISIO_CLOUDFLARE_TOKEN_ENV").unwrap_or_else(default_token_env),
            api_token: None,
            account_id: var("PROVISIO_CLOUDFLARE_ACCOUNT_ID"),
            rate_limit: (requests > 0).then(|| RateLimit::new(requests, per_secs)),
            timeout_secs: number(
                "PROVISIO_CLOUDFLARE_TIMEOUT_SECS",
                var("PROVISIO_CLOUDFLARE_TIMEOUT_SECS"),
                default_timeout(),
            )?,
            min_ttl: number(
                "PROVISIO_CLOUDFLARE_MIN_TTL",
                var("PROVISIO_CLOUDFLARE_MIN_TTL"),
                default_min_ttl(),
            )?,
            record_comment: default_comment(),
        };
        c.check()?;
        Ok(c)
    }

    /// Checks the settings (not the token): a http(s) base URL, a valid rate limit, a timeout
    /// of at least one second, `min_ttl` 30 or 60..., an account id of 32 hex digits, and a
    /// comment of at most 100 characters.
    pub fn check(&self) -> Result<()> {
        let url = self.base_url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(Error::invalid_field(
                "base_url",
                format!("{url:?} must start with https:// (or http:// for a local fake)"),
            ));
        }
        if let Some(limit) = &self.rate_limit {
            limit.quota("rate_limit")?;
        }
        if self.timeout_secs == 0 {
            return Err(Error::invalid_field("timeout_secs", "must be at least 1"));
        }
        if !(30..=86_400).contains(&self.min_ttl) {
            return Err(Error::invalid_field(
                "min_ttl",
                "must be 30 to 86400 (60 on most plans, 30 on Enterprise)",
            ));
        }
        if let Some(a) = &self.account_id
            && !(a.len() == 32 && a.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(Error::invalid_field(
                "account_id",
                format!("{a:?} is not a 32-hex account id"),
            ));
        }
        if let Some(c) = &self.record_comment
            && c.chars().count() > crate::dns::MAX_COMMENT
        {
            return Err(Error::invalid_field(
                "record_comment",
                format!("must be at most {} characters", crate::dns::MAX_COMMENT),
            ));
        }
        if self.api_token_env.trim().is_empty() {
            return Err(Error::invalid_field(
                "api_token_env",
                "must name a variable",
            ));
        }
        Ok(())
    }

    /// The token: [`api_token`](Self::api_token) if set, else the variable `api_token_env`.
    pub(crate) fn token(&self) -> Result<SecretString> {
        if let Some(t) = &self.api_token
            && !t.is_empty()
        {
            return Ok(t.clone());
        }
        match std::env::var(&self.api_token_env) {
            Ok(v) if !v.trim().is_empty() => Ok(SecretString::new(v.trim().to_string())),
            _ => Err(Error::new(
                provisio::ErrorKind::Unauthenticated,
                format!(
                    "no Cloudflare API token: set the environment variable {}",
                    self.api_token_env
                ),
            )
            .with_provider("cloudflare")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let c = CloudflareConfig::default();
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.api_token_env, "CLOUDFLARE_API_TOKEN");
        assert_eq!(c.record_comment.as_deref(), Some("managed by provisio"));
        c.check().unwrap();
        let bad = |f: fn(&mut CloudflareConfig)| {
            let mut c = CloudflareConfig::default();
            f(&mut c);
            c.check().unwrap_err()
        };
        assert!(
            bad(|c| c.base_url = "ftp://x".into())
                .message()
                .contains("base_url")
        );
        assert!(
            bad(|c| c.rate_limit = Some(RateLimit::new(10, 0.0)))
                .message()
                .contains("rate_limit.per_secs")
        );
        assert!(bad(|c| c.min_ttl = 10).message().contains("min_ttl"));
        assert!(
            bad(|c| c.account_id = Some("nope".into()))
                .message()
                .contains("account_id")
        );
        assert!(
            bad(|c| c.record_comment = Some("x".repeat(101)))
                .message()
                .contains("record_comment")
        );
    }

    #[test]
    fn file_form() {
        let c: CloudflareConfig = serde_json::from_str(
            r#"{"base_url":"http://127.0.0.1:1/client/v4","rate_limit":{"requests":20,"per_secs":2},"record_comment":null}"#,
        )
        .unwrap();
        assert_eq!(c.rate_limit, Some(RateLimit::new(20, 2.0)));
        assert_eq!(
            c.paced_quota().unwrap(),
            Some(Quota::new(19, std::time::Duration::from_secs(2)))
        );
        let off: CloudflareConfig = serde_json::from_str(r#"{"rate_limit":null}"#).unwrap();
        assert_eq!(off.paced_quota().unwrap(), None);
        assert_eq!(c.record_comment, None);
        assert!(c.api_token.is_none());
        // The token cannot come from a file.
        assert!(serde_json::from_str::<CloudflareConfig>(r#"{"api_token":"x"}"#).is_err());
    }

    #[test]
    fn token_sources() {
        let c = CloudflareConfig::default().with_token("direct");
        assert_eq!(c.token().unwrap().expose(), "direct");
        let c = CloudflareConfig {
            api_token_env: "PROVISIO_CLOUDFLARE_TEST_SURELY_UNSET_VAR".into(),
            ..CloudflareConfig::default()
        };
        let e = c.token().unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Unauthenticated);
        assert!(
            e.message()
                .contains("PROVISIO_CLOUDFLARE_TEST_SURELY_UNSET_VAR")
        );
    }
}
