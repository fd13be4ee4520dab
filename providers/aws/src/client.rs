//! Building the SDK's shared configuration from an [`AwsConfig`].

use crate::config::AwsConfig;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_types::SdkConfig;
use aws_types::region::Region;
use provisio::{Error, Result};
use std::time::Duration;

/// The HTTPS client every service client shares: hyper 1 with rustls on *ring*.
///
/// The SDK's `default-https-client` feature would bring rustls with aws-lc-rs, whose C build
/// dominates a cold compile on a small machine; *ring* gives the same TLS at a fraction of the
/// build time. There is no OpenSSL anywhere.
pub(crate) fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK's retries: `max_attempts` attempts per call, 1 by default. provisio's engine owns
/// retrying (from the error kind, with backoff, jitter and the per-account rate limit), so the
/// SDK must not retry the same call a second time over.
pub(crate) fn retry_config(config: &AwsConfig) -> RetryConfig {
    if config.max_attempts <= 1 {
        RetryConfig::disabled()
    } else {
        RetryConfig::standard().with_max_attempts(config.max_attempts)
    }
}

/// Loads the SDK configuration: region, endpoint, credentials (static, or the standard chain
/// with an optional profile, then an optional role), HTTP client, retries and timeouts.
pub(crate) async fn load(config: &AwsConfig) -> Result<SdkConfig> {
    config.validate()?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(retry_config(config))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
                .operation_attempt_timeout(Duration::from_millis(config.attempt_timeout_ms))
                .build(),
        );
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(url) = &config.endpoint_url {
        loader = loader.endpoint_url(url.clone());
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile.clone());
    }
    if let Some(c) = &config.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.expose().to_string(),
            c.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "provisio-static",
        ));
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(Error::invalid_field(
            "region",
            "no region configured: set `region` in the provider config, AWS_REGION, or the profile's region",
        )
        .with_provider(crate::error::PROVIDER));
    }
    if let Some(arn) = &config.assume_role_arn {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(arn.clone())
            .session_name(
                config
                    .assume_role_session_name
                    .clone()
                    .unwrap_or_else(|| "provisio".to_string()),
            )
            .configure(&sdk);
        if let Some(id) = &config.assume_role_external_id {
            builder = builder.external_id(id.clone());
        }
        let provider = builder.build().await;
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    Ok(sdk)
}

/// The account label of [`provisio::ProviderInfo`]: the configured one, else the endpoint, else
/// `<profile>@<region>`.
pub(crate) fn account_label(config: &AwsConfig, sdk: &SdkConfig) -> String {
    if let Some(a) = &config.account {
        return a.clone();
    }
    if let Some(u) = &config.endpoint_url {
        return u.clone();
    }
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let profile = config.profile.as_deref().unwrap_or("default");
    match &config.assume_role_arn {
        Some(arn) => format!("{arn}@{region}"),
        None => format!("{profile}@{region}"),
    }
}
