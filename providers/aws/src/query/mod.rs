//! A small client of the AWS Query protocol, for EC2 and RDS.
//!
//! provisio calls three EC2 operations (`DescribeInstances`, `RunInstances`,
//! `TerminateInstances`) and five RDS ones. The SDK crates of those two services are 1.1 M and
//! 0.33 M generated lines: three quarters of all the AWS SDK code a full build compiled, and
//! most of the build time of every front end (see `docs/performance.md`). Both services speak
//! the same simple protocol, so provisio speaks it itself, as object_store does for S3:
//!
//! * a request is a form-encoded `POST` of `Action`, `Version` and the parameters, to the
//!   service's regional endpoint (or the configured `endpoint_url`, or the environment's
//!   `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL_RDS`, as the SDK reads them);
//! * it is signed with the SDK's own SigV4 signer (`aws-sigv4`), with credentials from the same
//!   SDK configuration every other service uses (environment, profile, SSO, web identity,
//!   instance metadata, an assumed role), cached until five minutes before they expire;
//! * every request is paced by the account's quota for the service and counted in the step's
//!   tally ([`provisio::requests::before_request`]), and a throttling answer pauses the
//!   account, exactly as the SDK clients' [`crate::paced`] wrapper does;
//! * an error answer's `Code` and HTTP status become provisio's kind
//!   ([`crate::error::kind_for`]), the same table as for every other AWS service;
//! * with [`AwsConfig::max_attempts`] above 1 the client retries retryable failures itself
//!   (the core's retry loop, full jitter from 1 s up to 20 s, as the SDK's standard mode).
//!
//! Neither the request body (it may hold an RDS master password) nor the answer is logged or
//! put in an error.

pub(crate) mod xml;

use crate::config::AwsConfig;
use crate::error::{
    NO_CREDENTIALS, PROVIDER, THROTTLE_PAUSE, kind_for, retry_after_secs, service_message,
};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use provisio::layer::Safety;
use provisio::layer::retry::{RetryPolicy, with_retries};
use provisio::{Error, ErrorKind, ProviderInfo, Result};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
pub(crate) use xml::Element;

/// The largest answer read (a page of 1,000 EC2 instances is a few megabytes).
const MAX_ANSWER: usize = 32 * 1024 * 1024;

/// Credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

/// One Query-protocol API: its signing name (also its endpoint prefix), its version and the
/// suffix of its service-specific endpoint variable.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Api {
    /// The SigV4 signing name and the first label of the endpoint host.
    pub service: &'static str,
    /// The API version sent with every request.
    pub version: &'static str,
    /// `AWS_ENDPOINT_URL_<env>` overrides the endpoint of this service.
    pub env: &'static str,
}

/// EC2's API.
#[cfg_attr(not(feature = "ec2"), allow(dead_code))] // the tests use both APIs
pub(crate) const EC2: Api = Api {
    service: "ec2",
    version: "2016-11-15",
    env: "EC2",
};

/// RDS's API.
#[cfg_attr(not(feature = "rds"), allow(dead_code))]
pub(crate) const RDS: Api = Api {
    service: "rds",
    version: "2014-10-31",
    env: "RDS",
};

/// The parameters of one request, in the order they are sent.
#[derive(Default, Clone)]
pub(crate) struct Params(Vec<(String, String)>);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds `key=value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Params {
        self.0.push((key.into(), value.into()));
        self
    }

    /// Adds `key=value`, builder style.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Params {
        self.set(key, value);
        self
    }
}

// The parameters may hold a password: only their names are shown.
impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// A signed-request client of one Query API for one account and region.
#[derive(Clone)]
pub(crate) struct QueryClient {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The HTTPS client, or why it could not be built (reported by every call).
    http: std::result::Result<reqwest::Client, String>,
    url: String,
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    info: ProviderInfo,
    retry: RetryPolicy,
}

impl std::fmt::Debug for QueryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryClient")
            .field("service", &self.inner.api.service)
            .field("url", &self.inner.url)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

/// The endpoint of `api`: the configured one, else `AWS_ENDPOINT_URL_<SERVICE>`, else the
/// SDK configuration's (which includes `AWS_ENDPOINT_URL`), else the regional endpoint.
fn endpoint(api: Api, sdk: &SdkConfig, config: &AwsConfig, region: &str) -> String {
    if let Some(url) = &config.endpoint_url {
        return url.clone();
    }
    if let Ok(url) = std::env::var(format!("AWS_ENDPOINT_URL_{}", api.env))
        && !url.trim().is_empty()
    {
        return url.trim().to_string();
    }
    if let Some(url) = sdk.endpoint_url() {
        return url.to_string();
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{}.{region}.{suffix}/", api.service)
}

impl QueryClient {
    /// A client of `api` with the region, endpoint and credentials of `sdk`, the timeouts and
    /// attempts of `config`, paced and counted as `info`.
    pub(crate) fn new(api: Api, sdk: &SdkConfig, config: &AwsConfig, info: ProviderInfo) -> Self {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .or_else(|| config.region.clone())
            .unwrap_or_else(|| "us-east-1".to_string());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.attempt_timeout_ms))
            .build()
            .map_err(|e| format!("the HTTPS client could not be built: {e}"));
        QueryClient {
            inner: Arc::new(Inner {
                api,
                http,
                url: endpoint(api, sdk, config, &region),
                region,
                credentials: sdk.credentials_provider(),
                cached: tokio::sync::Mutex::new(None),
                info,
                retry: RetryPolicy {
                    max_attempts: config.max_attempts.max(1),
                    initial_backoff_ms: 1_000,
                    max_backoff_ms: 20_000,
                },
            }),
        }
    }

    /// Calls `action` with `params` for provisio's `operation` on `resource` and returns the
    /// answer's root element. `safety` says whether a failed attempt may be retried whatever
    /// the failure ([`Safety::Idempotent`]) or only when the service refused it.
    pub(crate) async fn call(
        &self,
        action: &str,
        params: &Params,
        safety: Safety,
        operation: &str,
        resource: &str,
    ) -> Result<Element> {
        let inner = &self.inner;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", action)
            .append_pair("Version", inner.api.version)
            .extend_pairs(params.0.iter())
            .finish();
        with_retries(
            &inner.retry,
            safety,
            |attempt, delay, err| {
                tracing::debug!(
                    action,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    kind = err.kind().as_str(),
                    "retrying an AWS request"
                );
            },
            || self.attempt(action, &body),
        )
        .await
        .map_err(|e| {
            e.with_provider(PROVIDER)
                .with_operation(operation)
                .with_resource(resource)
        })
    }

    /// One signed request and its answer.
    async fn attempt(&self, action: &str, body: &str) -> Result<Element> {
        let inner = &self.inner;
        let http = inner.http.as_ref().map_err(Error::unexpected)?;
        let credentials = self.credentials().await?;
        let identity: Identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&inner.region)
            .name(inner.api.service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| Error::unexpected("the request could not be signed").with_source(e))?
            .into();
        const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
        let signable = SignableRequest::new(
            "POST",
            &inner.url,
            [("content-type", CONTENT_TYPE)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| {
            Error::invalid_field("endpoint_url", "is not a URL a request can be sent to")
                .with_source(e)
        })?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::unexpected("the request could not be signed").with_source(e))?
            .into_parts();
        let mut request = http
            .post(&inner.url)
            .header("content-type", CONTENT_TYPE)
            .body(body.to_string());
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }

        provisio::requests::before_request(&inner.info).await;
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_secs);
        let bytes = read_capped(response).await;
        if (200..300).contains(&status) {
            let bytes = bytes?;
            return xml::parse(&bytes).map_err(|why| {
                // A truncated or garbled answer: worth another try.
                Error::transient(format!("unreadable {action} answer (HTTP {status}): {why}"))
            });
        }
        let answer = bytes.ok().and_then(|b| xml::parse(&b).ok());
        let error = answer.as_ref().and_then(|root| root.find("Error"));
        let code = error.and_then(|e| e.text_at(&["Code"]));
        let message = error.and_then(|e| e.text_at(&["Message"]));
        let mut kind = kind_for(code, Some(status));
        if let ErrorKind::RateLimited { retry_after: hint } = &mut kind {
            *hint = retry_after;
            provisio::requests::rate_limited(&inner.info, retry_after.unwrap_or(THROTTLE_PAUSE));
        }
        Err(Error::new(kind, service_message(code, message, status)))
    }

    /// The credentials to sign with: the cached ones while they are valid for another five
    /// minutes, else fresh ones from the SDK configuration's provider chain.
    async fn credentials(&self) -> Result<Credentials> {
        let inner = &self.inner;
        let no_credentials = || Error::new(ErrorKind::Unauthenticated, NO_CREDENTIALS);
        let provider = inner.credentials.as_ref().ok_or_else(no_credentials)?;
        let mut cached = inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh = c
                .expiry()
                .is_none_or(|at| at > SystemTime::now() + RENEW_BEFORE);
            if fresh {
                return Ok(c.clone());
            }
        }
        let fresh = provider
            .provide_credentials()
            .await
            .map_err(|e| no_credentials().with_source(e))?;
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}

/// Reads the answer's body, refusing one over [`MAX_ANSWER`].
async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(Error::unexpected(format!(
                "the answer is larger than {} MiB",
                MAX_ANSWER / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failure before or while reading an answer.
fn transport_error(e: reqwest::Error) -> Error {
    let message = if e.is_timeout() {
        return Error::timeout("the request timed out").with_source(e);
    } else if e.is_connect() {
        "the request could not be sent (connection failed)"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else if e.is_builder() {
        return Error::invalid_input("the request could not be built").with_source(e);
    } else {
        "the request could not be sent (I/O error)"
    };
    Error::transient(message).with_source(e)
}

#[cfg(test)]
mod tests;
