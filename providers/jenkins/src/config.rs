//! [`JenkinsConfig`]: where the server is and how to authenticate.

use provisio::{Error, Result, SecretString};
use std::time::Duration;

/// The default environment variable holding the API token.
pub const DEFAULT_API_TOKEN_ENV: &str = "JENKINS_API_TOKEN";
/// The default environment variable holding the user name.
pub const DEFAULT_USER_ENV: &str = "JENKINS_USER";
/// The default environment variable holding a password (used only when no API token is set).
pub const DEFAULT_PASSWORD_ENV: &str = "JENKINS_PASSWORD";
/// The default environment variable holding the server URL (for [`JenkinsConfig::from_env`]).
pub const DEFAULT_URL_ENV: &str = "JENKINS_URL";

fn default_api_token_env() -> String {
    DEFAULT_API_TOKEN_ENV.to_string()
}
fn default_user_env() -> String {
    DEFAULT_USER_ENV.to_string()
}
fn default_password_env() -> String {
    DEFAULT_PASSWORD_ENV.to_string()
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_queue_timeout_secs() -> u64 {
    600
}

/// The configuration of one Jenkins server.
///
/// Credentials are never written in a provider file: `api_token_env` (default
/// `JENKINS_API_TOKEN`) and `password_env` (default `JENKINS_PASSWORD`) name the environment
/// variables they are read from when the client is built; Rust callers may set
/// [`api_token`](Self::api_token) or [`password`](Self::password) directly instead. The user
/// is `user`, or else the variable named by `user_env` (default `JENKINS_USER`).
///
/// With an API token, requests use HTTP Basic `user:token` and need no CSRF crumb. With a
/// password (only when no token is found), the client fetches a crumb from
/// `crumbIssuer/api/json` and keeps the session cookie it was issued for.
///
/// ```
/// let toml_like = serde_json::json!({
///     "url": "https://ci.example.com/",
///     "user": "provisio-bot",
///     "build_delay_secs": 0
/// });
/// let c: provisio_jenkins::JenkinsConfig = serde_json::from_value(toml_like).unwrap();
/// assert_eq!(c.api_token_env, "JENKINS_API_TOKEN");
/// // In code, a token may be given directly; it never shows in Debug output.
/// let c = c.with_api_token("s3cr3t-t0ken");
/// assert!(!format!("{c:?}").contains("s3cr3t-t0ken"));
/// // Credentials cannot be written in the file.
/// let bad = serde_json::json!({ "url": "https://ci.example.com/", "api_token": "x" });
/// assert!(serde_json::from_value::<provisio_jenkins::JenkinsConfig>(bad).is_err());
/// ```
#[derive(Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JenkinsConfig {
    /// The server's base URL, e.g. `https://ci.example.com/` or `https://example.com/jenkins/`.
    pub url: String,
    /// The user to authenticate as; `None` reads the variable named by `user_env`.
    #[serde(default)]
    pub user: Option<String>,
    /// The environment variable holding the user name when `user` is not set.
    #[serde(default = "default_user_env")]
    pub user_env: String,
    /// The environment variable holding the API token.
    #[serde(default = "default_api_token_env")]
    pub api_token_env: String,
    /// The environment variable holding a password, used only when no API token is found.
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// The API token, set by Rust callers (overrides `api_token_env`).
    #[serde(skip)]
    pub api_token: Option<SecretString>,
    /// The password, set by Rust callers (overrides `password_env`).
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// The timeout of each HTTP request, in seconds.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// How often to poll queue items and running builds, in milliseconds.
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How long `trigger_build` waits for a queued build to get a number, in seconds.
    #[serde(default = "default_queue_timeout_secs")]
    pub queue_timeout_secs: u64,
    /// The quiet period to ask for when triggering builds (`delay=<n>sec`); `None` keeps the
    /// job's own quiet period.
    #[serde(default)]
    pub build_delay_secs: Option<u64>,
    /// A limit every HTTP request to this server is paced by, in the process-wide limiter
    /// ([`provisio::requests`]): `rate_limit = { requests = 10, per_secs = 1 }`. Jenkins
    /// documents no API rate limit, so `None` (the default) paces nothing and only counts.
    #[serde(default)]
    pub rate_limit: Option<provisio::ratelimit::RateLimit>,
}

impl std::fmt::Debug for JenkinsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JenkinsConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("user_env", &self.user_env)
            .field("api_token_env", &self.api_token_env)
            .field("password_env", &self.password_env)
            .field("api_token", &self.api_token.as_ref().map(|_| "<redacted>"))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("queue_timeout_secs", &self.queue_timeout_secs)
            .field("build_delay_secs", &self.build_delay_secs)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// The credentials resolved from a configuration.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// No credentials: anonymous requests (crumbs fetched when needed).
    Anonymous,
    /// Basic auth with an API token: no crumb needed.
    ApiToken { user: String, token: SecretString },
    /// Basic auth with a password: a crumb bound to the session on every POST.
    Password {
        user: String,
        password: SecretString,
    },
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl JenkinsConfig {
    /// A configuration for `url` with the defaults: credentials from `JENKINS_USER` and
    /// `JENKINS_API_TOKEN` (or `JENKINS_PASSWORD`).
    pub fn new(url: impl Into<String>) -> Self {
        JenkinsConfig {
            url: url.into(),
            user: None,
            user_env: default_user_env(),
            api_token_env: default_api_token_env(),
            password_env: default_password_env(),
            api_token: None,
            password: None,
            request_timeout_secs: default_request_timeout_secs(),
            poll_interval_ms: default_poll_interval_ms(),
            queue_timeout_secs: default_queue_timeout_secs(),
            build_delay_secs: None,
            rate_limit: None,
        }
    }

    /// Reads the configuration from the environment: `JENKINS_URL` (required),
    /// `JENKINS_USER`, and `JENKINS_API_TOKEN` or `JENKINS_PASSWORD` (read when the client is
    /// built).
    pub fn from_env() -> Result<Self> {
        let url = env_var(DEFAULT_URL_ENV).ok_or_else(|| {
            Error::invalid_field(DEFAULT_URL_ENV, "must be set to the Jenkins server's URL")
        })?;
        Ok(Self::new(url.trim()))
    }

    /// The same with a user name.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// The same with an API token (instead of reading `api_token_env`).
    pub fn with_api_token(mut self, token: impl Into<SecretString>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// The same with a password (instead of reading `password_env`); used only when no API
    /// token is configured.
    pub fn with_password(mut self, password: impl Into<SecretString>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The same with another poll interval for queue items and builds.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval_ms = interval.as_millis().max(1) as u64;
        self
    }

    /// The same with another limit on how long a build may wait in the queue.
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout_secs = timeout.as_secs().max(1);
        self
    }

    /// The same with another per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout_secs = timeout.as_secs().max(1);
        self
    }

    /// The base URL without its trailing slashes.
    pub(crate) fn base_url(&self) -> Result<String> {
        let url = self.url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::invalid_field(
                "url",
                format!("{url:?} must start with http:// or https://"),
            ));
        }
        if url.contains('?') || url.contains('#') {
            return Err(Error::invalid_field(
                "url",
                "must not contain a query or fragment",
            ));
        }
        let authority = url.split("://").nth(1).unwrap_or("").split('/').next();
        if authority.is_none_or(|a| a.is_empty() || a.contains('@')) {
            return Err(Error::invalid_field(
                "url",
                "must name a host and hold no credentials (use api_token_env)",
            ));
        }
        Ok(url)
    }

    /// The credentials: an API token wins over a password; the user is required with either.
    pub(crate) fn credentials(&self) -> Result<Credentials> {
        let token = self
            .api_token
            .clone()
            .or_else(|| env_var(&self.api_token_env).map(SecretString::new));
        let password = self
            .password
            .clone()
            .or_else(|| env_var(&self.password_env).map(SecretString::new));
        if token.is_none() && password.is_none() {
            return Ok(Credentials::Anonymous);
        }
        let user = self
            .user
            .clone()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| env_var(&self.user_env))
            .ok_or_else(|| {
                Error::invalid_field(
                    "user",
                    format!(
                        "a Jenkins credential is set but no user: set `user` or {}",
                        self.user_env
                    ),
                )
            })?;
        if user.contains(':') {
            return Err(Error::invalid_field(
                "user",
                "must not contain ':' (HTTP Basic authentication)",
            ));
        }
        Ok(match (token, password) {
            (Some(token), _) => Credentials::ApiToken { user, token },
            (None, Some(password)) => Credentials::Password { user, password },
            (None, None) => Credentials::Anonymous,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_checks() {
        let ok = JenkinsConfig::new("https://ci.example.com/jenkins/");
        assert_eq!(ok.base_url().unwrap(), "https://ci.example.com/jenkins");
        for bad in [
            "ci.example.com",
            "https://u:p@ci.example.com",
            "http://h/?x",
            "https://",
        ] {
            let e = JenkinsConfig::new(bad).base_url().unwrap_err();
            assert!(e.message().contains("url"), "{bad}: {e}");
        }
    }

    #[test]
    fn credentials_prefer_the_token() {
        let c = JenkinsConfig {
            user_env: "PROVISIO_JENKINS_TEST_UNSET_USER".into(),
            api_token_env: "PROVISIO_JENKINS_TEST_UNSET_TOKEN".into(),
            password_env: "PROVISIO_JENKINS_TEST_UNSET_PASSWORD".into(),
            ..JenkinsConfig::new("http://127.0.0.1:1")
        };
        assert!(matches!(c.credentials().unwrap(), Credentials::Anonymous));
        let c = c.with_password("pw");
        assert!(c.credentials().is_err(), "a password without a user");
        let c = c.with_user("bot");
        assert!(matches!(
            c.credentials().unwrap(),
            Credentials::Password { .. }
        ));
        let c = c.with_api_token("tok");
        assert!(matches!(
            c.credentials().unwrap(),
            Credentials::ApiToken { .. }
        ));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("tok\"") && !dbg.contains("pw"), "{dbg}");
    }
}
