//! [`AwsConfig`]: which region and endpoint to talk to, and where the credentials come from.

use provisio::ratelimit::RateLimit;
use provisio::{Error, ProviderInfo, Quota, Result, SecretString};
use std::time::Duration;

/// The request limits of the AWS services provisio drives, one per service, each overriding
/// that service's documented default (see `docs/providers/aws.md` for the sources):
///
/// ```toml
/// [providers.dns.default]
/// kind = "aws"
/// region = "eu-west-1"
/// rate_limits.route53 = { requests = 3, per_secs = 1 }   # leave room for another tool
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsRateLimits {
    /// Route 53 (default 5 requests per second per account).
    #[serde(default)]
    pub route53: Option<RateLimit>,
    /// S3 (default 3500 per second: the per-prefix write rate).
    #[serde(default)]
    pub s3: Option<RateLimit>,
    /// EC2 (default 20 per second: the non-mutating request bucket's refill rate).
    #[serde(default)]
    pub ec2: Option<RateLimit>,
    /// Secrets Manager (default 50 per second: the rate of its write operations).
    #[serde(default)]
    pub secretsmanager: Option<RateLimit>,
    /// RDS (default 12 per second: the sustained API rate).
    #[serde(default)]
    pub rds: Option<RateLimit>,
    /// SES v2 (default 1 per second).
    #[serde(default)]
    pub sesv2: Option<RateLimit>,
}

/// An AWS service provisio drives, with its documented default request quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    Route53,
    S3,
    Ec2,
    SecretsManager,
    Rds,
    SesV2,
}

impl Service {
    /// The provider name in [`provisio::ProviderInfo::name`] and in request tallies.
    pub(crate) fn provider_name(self) -> &'static str {
        match self {
            Service::Route53 => "aws-route53",
            Service::S3 => "aws-s3",
            Service::Ec2 => "aws-ec2",
            Service::SecretsManager => "aws-secretsmanager",
            Service::Rds => "aws-rds",
            Service::SesV2 => "aws-sesv2",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Service::Route53 => "route53",
            Service::S3 => "s3",
            Service::Ec2 => "ec2",
            Service::SecretsManager => "secretsmanager",
            Service::Rds => "rds",
            Service::SesV2 => "sesv2",
        }
    }

    /// The documented default quota (cited in `docs/providers/aws.md`).
    pub(crate) fn default_quota(self) -> Quota {
        let per_second = |n| Quota::new(n, Duration::from_secs(1));
        match self {
            // Route 53 Developer Guide, "Quotas on API requests": five per second per account.
            Service::Route53 => per_second(5),
            // S3 User Guide, "Best practices design patterns": 3,500 PUT/COPY/POST/DELETE and
            // 5,500 GET/HEAD per second per prefix; the lower of the two.
            Service::S3 => per_second(3_500),
            // EC2 API reference, "Request throttling": non-mutating actions refill at 20 per
            // second (mutating at 5, from a bucket of 200 that a launch wave does not empty).
            Service::Ec2 => per_second(20),
            // Secrets Manager User Guide, "Quotas": 50 per second for the write operations
            // (CreateSecret, PutSecretValue, TagResource, ...), 10,000 for reads.
            Service::SecretsManager => per_second(50),
            // RDS User Guide, "Request throttling for the Amazon RDS API": a burst of 300 and
            // a sustained 12 per second.
            Service::Rds => per_second(12),
            // SES: one request per second for the account's non-sending operations.
            Service::SesV2 => per_second(1),
        }
    }
}

impl AwsRateLimits {
    fn configured(&self, service: Service) -> Option<&RateLimit> {
        match service {
            Service::Route53 => self.route53.as_ref(),
            Service::S3 => self.s3.as_ref(),
            Service::Ec2 => self.ec2.as_ref(),
            Service::SecretsManager => self.secretsmanager.as_ref(),
            Service::Rds => self.rds.as_ref(),
            Service::SesV2 => self.sesv2.as_ref(),
        }
    }

    /// The quota `service` runs with: the configured one, else its documented default.
    pub(crate) fn quota(&self, service: Service) -> Result<Quota> {
        let field = format!("rate_limits.{}", service.key());
        RateLimit::effective(
            self.configured(service),
            Some(service.default_quota()),
            &field,
        )
        .map(|q| q.unwrap_or(service.default_quota()))
    }
}

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
#[derive(Clone, PartialEq, serde::Deserialize)]
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
    /// Whether S3 blocks public access on a bucket it has just created. `None` means "yes on
    /// AWS, no on an emulator" (`endpoint_url` set): AWS does so for every new bucket since
    /// April 2023, moto does not. `ensure_bucket` only writes the settings that differ from a
    /// new bucket's, so this decides whether creating a bucket that blocks public access sends
    /// a `PutPublicAccessBlock`.
    #[serde(default)]
    pub s3_new_buckets_block_public_access: Option<bool>,
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
    /// Whether DNS changes wait until Route 53 reports them `INSYNC` (default `false`).
    ///
    /// A change Route 53 accepted is durable and visible to every API read at once; `INSYNC`
    /// only says that all of Route 53's authoritative servers answer with it (usually within
    /// 60 seconds). Waiting polls `GetChange` every [`poll_interval_ms`](Self::poll_interval_ms)
    /// against the account's five requests per second, so it is opt-in, for callers that
    /// resolve the name right after the step (a certificate validation, for instance).
    #[serde(default)]
    pub dns_wait_for_sync: bool,
    /// How long a change waits for `INSYNC` when [`dns_wait_for_sync`](Self::dns_wait_for_sync)
    /// is on, in seconds (default 120); past it the call fails with `Timeout` (the change
    /// itself stays applied).
    #[serde(default = "default_dns_sync_timeout_secs")]
    pub dns_sync_timeout_secs: u64,
    /// Per-service request limits overriding the documented defaults ([`AwsRateLimits`]).
    #[serde(default)]
    pub rate_limits: AwsRateLimits,
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
            s3_new_buckets_block_public_access: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            attempt_timeout_ms: default_attempt_timeout_ms(),
            max_attempts: default_max_attempts(),
            poll_interval_ms: default_poll_interval_ms(),
            dns_wait_for_sync: false,
            dns_sync_timeout_secs: default_dns_sync_timeout_secs(),
            rate_limits: AwsRateLimits::default(),
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
            .field(
                "s3_new_buckets_block_public_access",
                &self.s3_new_buckets_block_public_access,
            )
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("attempt_timeout_ms", &self.attempt_timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("poll_interval_ms", &self.poll_interval_ms)
            .field("dns_wait_for_sync", &self.dns_wait_for_sync)
            .field("dns_sync_timeout_secs", &self.dns_sync_timeout_secs)
            .field("rate_limits", &self.rate_limits)
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
        for service in [
            Service::Route53,
            Service::S3,
            Service::Ec2,
            Service::SecretsManager,
            Service::Rds,
            Service::SesV2,
        ] {
            self.rate_limits.quota(service)?;
        }
        if self.poll_interval_ms == 0 {
            return Err(Error::invalid_field(
                "poll_interval_ms",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The identity and request quota of `service` for the account labelled `account`.
    pub(crate) fn provider_info(&self, service: Service, account: &str) -> ProviderInfo {
        // validate() has checked the limits; a caller who skipped it gets the default.
        let quota = self
            .rate_limits
            .quota(service)
            .unwrap_or(service.default_quota());
        ProviderInfo::new(service.provider_name(), account).with_quota(quota)
    }

    /// The poll interval of waits.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    /// Whether S3 blocks public access on new buckets (see
    /// [`s3_new_buckets_block_public_access`](Self::s3_new_buckets_block_public_access)).
    pub fn new_buckets_block_public_access(&self) -> bool {
        self.s3_new_buckets_block_public_access
            .unwrap_or(self.endpoint_url.is_none())
    }

    /// Whether S3 requests use path-style addressing.
    pub fn path_style(&self) -> bool {
        self.s3_force_path_style
            .unwrap_or(self.endpoint_url.is_some())
    }
}
