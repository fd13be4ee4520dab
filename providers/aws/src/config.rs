//! [`AwsConfig`]: which region and endpoint to talk to, and where the credentials come from.

use provisio::{Error, Result, SecretString};
use std::time::Duration;

/// The configuration of one AWS account/region for provisio.
///
/// It holds no credential read from a file: credentials come from the standard AWS chain
/// (environment variables, the shared config and credentials files with [`profile`],
/// web identity tokens, ECS and EC2 instance metadata), optionally exchanged for a role with
/// [`assume_role_arn`]. Rust callers (tests, tools with their own secret handling) may set
/// [`static_credentials`] directly; it is never read from a file and never printed.
///
/// [`profile`]: AwsConfig::profile
/// [`assume_role_arn`]: AwsConfig::assume_role_arn
/// [`static_credentials`]: AwsConfig::static_credentials
///
/// ```
/// let c: provisio_aws::AwsConfig = serde_json::from_value(serde_json::json!({
///     "region": "eu-west-1",
///     "assume_role_arn": "arn:aws:iam::123456789012:role/provisio",
/// })).unwrap();
/// assert_eq!(c.region.as_deref(), Some("eu-west-1"));
/// ```
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// The region (`eu-west-1`); `None` takes it from the standard chain (`AWS_REGION`, the
    /// profile, instance metadata).
    #[serde(default)]
    pub region: Option<String>,
    /// An endpoint URL for every service (moto, LocalStack, a VPC endpoint); `None` uses the
    /// real AWS endpoints.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// A named profile of the shared AWS config files; `None` uses `AWS_PROFILE` or `default`.
    #[serde(default)]
    pub profile: Option<String>,
    /// A role to assume (through STS) with the credentials of the chain.
    #[serde(default)]
    pub assume_role_arn: Option<String>,
    /// The session name when assuming a role (default `provisio`).
    #[serde(default)]
    pub assume_role_session_name: Option<String>,
    /// The external id the role's trust policy asks for, if any.
    #[serde(default)]
    pub assume_role_external_id: Option<String>,
    /// A label for the account in [`provisio::ProviderInfo::account`] (the engine keys its rate
    /// limits by it); default: `<profile or default>@<region>`, or the endpoint URL.
    #[serde(default)]
    pub account: Option<String>,
    /// Address S3 buckets in the path (`https://host/bucket/key`) rather than as a virtual host;
    /// `None` means "only with an `endpoint_url`", which is what moto needs.
    #[serde(default)]
    pub s3_force_path_style: Option<bool>,
    /// Connect timeout per request in milliseconds (default 3100).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Timeout of one attempt of one request in milliseconds (default 60000).
    #[serde(default = "default_attempt_timeout_ms")]
    pub attempt_timeout_ms: u64,
    /// How many attempts the SDK itself makes per call (default 1: no SDK retries). provisio's
    /// engine retries every step whose error is retryable, with backoff, jitter and the
    /// provider's rate limit; letting the SDK retry too would multiply the attempts (3 SDK
    /// attempts inside 5 engine attempts are 15 calls) and hide throttling from the engine's
    /// rate limiter. Raise it only when calling the providers without the engine.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// How often waits poll (an instance's state, a DNS change, a database server), in
    /// milliseconds (default 2000).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// How long `ensure_record` waits for Route 53 to report a change `INSYNC`, in seconds
    /// (default 120); past it the call fails with `Timeout` (the change itself stays applied).
    #[serde(default = "default_dns_sync_timeout_secs")]
    pub dns_sync_timeout_secs: u64,
    /// Credentials set in code (tests against moto, callers with their own secret store).
    /// Never read from a configuration file.
    #[serde(skip)]
    pub static_credentials: Option<StaticCredentials>,
}

/// An access key set in code; the secret part is a [`SecretString`].
#[derive(Clone, PartialEq, Eq)]
pub struct StaticCredentials {
    /// The access key id (not a secret by itself).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: SecretString,
    /// The session token of temporary credentials.
    pub session_token: Option<SecretString>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "***redacted***"),
            )
            .finish()
    }
}

fn default_connect_timeout_ms() -> u64 {
    3_100
}
fn default_attempt_timeout_ms() -> u64 {
    60_000
}
fn default_max_attempts() -> u32 {
    1
}
fn default_poll_interval_ms() -> u64 {
    2_000
}
fn default_dns_sync_timeout_secs() -> u64 {
    120
}

impl Default for AwsConfig {
    fn default() -> Self {
        AwsConfig {
            region: None,
            endpoint_url: None,
            profile: None,
            assume_role_arn: None,
            assume_role_session_name: None,
            assume_role_external_id: None,
            account: None,
            s3_force_path_style: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            attempt_timeout_ms: default_attempt_timeout_ms(),
            max_attempts: default_max_attempts(),
            poll_interval_ms: default_poll_interval_ms(),
            dns_sync_timeout_secs: default_dns_sync_timeout_secs(),
            static_credentials: None,
        }
    }
}

impl std::fmt::Debug for AwsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("profile", &self.profile)
            .field("assume_role_arn", &self.assume_role_arn)
            .field("assume_role_session_name", &self.assume_role_session_name)
            .field(
                "assume_role_external_id",
                &self.assume_role_external_id.as_ref().map(|_| "***"),
            )
            .field("account", &self.account)
            .field("s3_force_path_style", &self.s3_force_path_style)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("attempt_timeout_ms", &self.attempt_timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("dns_sync_timeout_secs", &self.dns_sync_timeout_secs)
            .field("static_credentials", &self.static_credentials)
            .finish()
    }
}

impl AwsConfig {
    /// The standard chain in `region`.
    pub fn new(region: impl Into<String>) -> Self {
        AwsConfig {
            region: Some(region.into()),
            ..AwsConfig::default()
        }
    }

    /// An emulator such as moto at `endpoint_url`, with fixed fake credentials set in code
    /// (`testing`/`testing`), so tests need no AWS environment variables.
    ///
    /// ```
    /// let c = provisio_aws::AwsConfig::for_emulator("http://127.0.0.1:5055");
    /// assert_eq!(c.region.as_deref(), Some("us-east-1"));
    /// assert!(format!("{c:?}").contains("redacted"));
    /// ```
    pub fn for_emulator(endpoint_url: impl Into<String>) -> Self {
        AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint_url.into()),
            poll_interval_ms: 100,
            dns_sync_timeout_secs: 10,
            static_credentials: Some(StaticCredentials {
                access_key_id: "testing".into(),
                secret_access_key: SecretString::new("testing"),
                session_token: None,
            }),
            ..AwsConfig::default()
        }
    }

    /// The same with a named profile.
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into());
        self
    }

    /// The same, assuming `role_arn` with the chain's credentials.
    pub fn with_assume_role(mut self, role_arn: impl Into<String>) -> Self {
        self.assume_role_arn = Some(role_arn.into());
        self
    }

    /// Reads the configuration from the environment (credentials stay with the AWS chain):
    ///
    /// | variable | field |
    /// |---|---|
    /// | `PROVISIO_AWS_REGION` | `region` (else the chain: `AWS_REGION`, the profile, ...) |
    /// | `PROVISIO_AWS_ENDPOINT_URL` | `endpoint_url` |
    /// | `PROVISIO_AWS_PROFILE` | `profile` (else `AWS_PROFILE`) |
    /// | `PROVISIO_AWS_ASSUME_ROLE_ARN` | `assume_role_arn` |
    /// | `PROVISIO_AWS_ASSUME_ROLE_SESSION_NAME` | `assume_role_session_name` |
    /// | `PROVISIO_AWS_ASSUME_ROLE_EXTERNAL_ID` | `assume_role_external_id` |
    /// | `PROVISIO_AWS_ACCOUNT` | `account` |
    /// | `PROVISIO_AWS_MAX_ATTEMPTS` | `max_attempts` |
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut c = AwsConfig {
            region: var("PROVISIO_AWS_REGION"),
            endpoint_url: var("PROVISIO_AWS_ENDPOINT_URL"),
            profile: var("PROVISIO_AWS_PROFILE"),
            assume_role_arn: var("PROVISIO_AWS_ASSUME_ROLE_ARN"),
            assume_role_session_name: var("PROVISIO_AWS_ASSUME_ROLE_SESSION_NAME"),
            assume_role_external_id: var("PROVISIO_AWS_ASSUME_ROLE_EXTERNAL_ID"),
            account: var("PROVISIO_AWS_ACCOUNT"),
            ..AwsConfig::default()
        };
        if let Some(n) = var("PROVISIO_AWS_MAX_ATTEMPTS") {
            c.max_attempts = n.parse().map_err(|_| {
                Error::invalid_field(
                    "PROVISIO_AWS_MAX_ATTEMPTS",
                    format!("{n:?} is not a number"),
                )
            })?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings that can be checked without calling AWS.
    pub fn validate(&self) -> Result<()> {
        if let Some(r) = &self.region
            && (r.is_empty()
                || !r
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(Error::invalid_field(
                "region",
                format!("{r:?} is not a region name such as eu-west-1"),
            ));
        }
        if let Some(u) = &self.endpoint_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(Error::invalid_field(
                "endpoint_url",
                format!("{u:?} must start with http:// or https://"),
            ));
        }
        if let Some(arn) = &self.assume_role_arn
            && !arn.starts_with("arn:")
        {
            return Err(Error::invalid_field(
                "assume_role_arn",
                format!("{arn:?} is not an ARN"),
            ));
        }
        if self.max_attempts == 0 {
            return Err(Error::invalid_field("max_attempts", "must be at least 1"));
        }
        if self.poll_interval_ms == 0 {
            return Err(Error::invalid_field(
                "poll_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The poll interval of waits.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// Whether S3 requests use path-style addressing.
    pub fn path_style(&self) -> bool {
        self.s3_force_path_style
            .unwrap_or(self.endpoint_url.is_some())
    }
}
