//! provisio's own AWS client: signed HTTPS requests in the four protocols its six services
//! speak, without the SDK's generated service crates.
//!
//! provisio calls 43 operations of six services. The SDK crates of those services are about
//! 2 M generated lines and were most of the build time of every front end (see
//! `docs/performance.md`, "Build times"). The protocols under them are small, so provisio speaks
//! them itself, as object_store does for S3:
//!
//! * **Query** (EC2, RDS): a form-encoded `POST` of `Action`, `Version` and the parameters;
//!   XML answers ([`query`]).
//! * **JSON 1.1** (Secrets Manager): a `POST` of a JSON document with `X-Amz-Target:
//!   <prefix>.<Operation>`; JSON answers ([`json`]).
//! * **REST-XML** (S3, Route 53) and **REST-JSON** (SES v2): the operation is the method and
//!   the path; XML or JSON bodies ([`Request`], [`Client::send`]).
//!
//! Every request, whatever the protocol:
//!
//! * goes to the service's regional endpoint (Route 53's global one), or the configured
//!   `endpoint_url`, or the environment's `AWS_ENDPOINT_URL_<SERVICE>` as the SDK reads it;
//!   S3 addresses a bucket by host (`bucket.s3.<region>.amazonaws.com`) unless path style is
//!   configured or the name has a dot;
//! * is signed with the SDK's own SigV4 signer (`aws-sigv4`), with credentials from the same
//!   SDK configuration (environment, profile, SSO, web identity, instance metadata, an assumed
//!   role), cached until five minutes before they expire;
//! * is paced by the account's quota for the service and counted in the step's tally
//!   ([`provisio::requests::before_request`]), or only counted when its sender already took
//!   the account's token ([`with_token_taken`]); a throttling answer pauses the account;
//! * fails with provisio's kind from the answer's error code and HTTP status
//!   ([`crate::error::kind_for`], one table for every service), unless the caller said it
//!   expects that code or status ([`Request::expect_code`]): then it is an [`Answer`] the caller
//!   reads (`NoSuchKey` of a lookup, `PreconditionFailed` of a conditional put);
//! * is retried by the client itself for retryable failures when [`AwsConfig::max_attempts`] is
//!   above 1 (the core's retry loop, full jitter from 1 s up to 20 s, as the SDK's standard mode).
//!
//! Neither a request body (it may hold a password or a secret value) nor an answer body is
//! logged or put in an error; only an answer's error code and message are.

pub(crate) mod json;
pub(crate) mod query;
pub(crate) mod xml;

use crate::config::AwsConfig;
use crate::error::{
    NO_CREDENTIALS, PROVIDER, THROTTLE_PAUSE, kind_for, retry_after_secs, service_message,
};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use aws_types::SdkConfig;
use provisio::layer::Safety;
use provisio::layer::retry::{RetryPolicy, with_retries};
use provisio::{Bytes, Error, ErrorKind, ProviderInfo, Result};
pub(crate) use query::Params;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
pub(crate) use xml::Element;

/// The largest answer read by default (a page of 1,000 EC2 instances is a few megabytes);
/// an object's body is read up to [`Request::answer_limit`].
const MAX_ANSWER: usize = 32 * 1024 * 1024;

/// Credentials are renewed this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(300);

tokio::task_local! {
    /// Whether the task holds a rate-limit token taken for the next request it sends.
    static TOKEN_TAKEN: std::cell::Cell<bool>;
}

/// Runs `fut`, whose caller has already waited for one token of the service's account in
/// [`provisio::requests::limiter`] (Route 53's change batches fill up while they wait for it):
/// the first request `fut` sends uses that token (it is counted, not paced again); any further
/// one (a retry) is paced as usual.
#[cfg_attr(not(feature = "route53"), allow(dead_code))]
pub(crate) async fn with_token_taken<F: Future>(fut: F) -> F::Output {
    TOKEN_TAKEN.scope(std::cell::Cell::new(true), fut).await
}

/// Uses up the token taken by [`with_token_taken`], if the running task holds one.
fn take_token() -> bool {
    TOKEN_TAKEN.try_with(|t| t.replace(false)).unwrap_or(false)
}

/// How a service encodes its requests and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Form-encoded `Action` requests of the given API version; XML answers and errors.
    Query(&'static str),
    /// JSON 1.1 documents, the target `<prefix>.<Operation>`; JSON errors.
    Json(&'static str),
    /// Method and path; XML bodies and errors.
    RestXml,
    /// Method and path; JSON bodies and errors.
    RestJson,
}

impl Protocol {
    fn json_errors(self) -> bool {
        matches!(self, Protocol::Json(_) | Protocol::RestJson)
    }
}

/// One AWS API.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Api {
    /// The SigV4 signing name.
    pub service: &'static str,
    /// The first label of the endpoint host.
    pub host: &'static str,
    /// `AWS_ENDPOINT_URL_<env>` overrides the endpoint of this service.
    pub env: &'static str,
    /// How requests and errors are encoded.
    pub protocol: Protocol,
    /// One endpoint for every region (Route 53), signed for the partition's first region.
    pub global: bool,
}

impl Api {
    fn is_s3(&self) -> bool {
        self.service == "s3"
    }
}

/// EC2's API.
#[cfg_attr(not(feature = "ec2"), allow(dead_code))] // the tests use every API
pub(crate) const EC2: Api = Api {
    service: "ec2",
    host: "ec2",
    env: "EC2",
    protocol: Protocol::Query("2016-11-15"),
    global: false,
};

/// RDS's API.
#[cfg_attr(not(feature = "rds"), allow(dead_code))]
pub(crate) const RDS: Api = Api {
    service: "rds",
    host: "rds",
    env: "RDS",
    protocol: Protocol::Query("2014-10-31"),
    global: false,
};

/// Secrets Manager's API.
#[cfg_attr(not(feature = "secretsmanager"), allow(dead_code))]
pub(crate) const SECRETS_MANAGER: Api = Api {
    service: "secretsmanager",
    host: "secretsmanager",
    env: "SECRETS_MANAGER",
    protocol: Protocol::Json("secretsmanager"),
    global: false,
};

/// SES v2's API.
#[cfg_attr(not(feature = "sesv2"), allow(dead_code))]
pub(crate) const SESV2: Api = Api {
    service: "ses",
    host: "email",
    env: "SESV2",
    protocol: Protocol::RestJson,
    global: false,
};

/// S3's API.
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) const S3: Api = Api {
    service: "s3",
    host: "s3",
    env: "S3",
    protocol: Protocol::RestXml,
    global: false,
};

/// Route 53's API.
#[cfg_attr(not(feature = "route53"), allow(dead_code))]
pub(crate) const ROUTE53: Api = Api {
    service: "route53",
    host: "route53",
    env: "ROUTE_53",
    protocol: Protocol::RestXml,
    global: true,
};

/// An answer the caller is prepared to read even though it is an error.
#[derive(Debug, Clone, Copy)]
enum Expected {
    Code(&'static str),
    Status(u16),
}

/// One REST request: method, path, query, headers and body, and what the caller expects back.
#[derive(Clone)]
pub(crate) struct Request {
    method: reqwest::Method,
    bucket: Option<String>,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Bytes,
    expected: Vec<Expected>,
    safety: Safety,
    answer_limit: usize,
}

// The body may hold a secret: only its length is shown.
impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("bucket", &self.bucket)
            .field("path", &self.path)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// Percent-encodes `s` for a URL: everything but the unreserved characters, and `/` too unless
/// `keep_slash`.
pub(crate) fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Request {
    /// A request of `method` to `path`, already encoded and starting with `/` (use
    /// [`encode`] for the parts that come from names). Idempotent unless said otherwise.
    pub fn new(method: reqwest::Method, path: impl Into<String>) -> Request {
        Request {
            method,
            bucket: None,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: Bytes::new(),
            expected: Vec::new(),
            safety: Safety::Idempotent,
            answer_limit: MAX_ANSWER,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Request {
        Request::new(reqwest::Method::GET, path)
    }

    /// An S3 request on `bucket`: the path is the key's (`/` for the bucket itself); the client
    /// puts the bucket in the host or in front of the path.
    pub fn on_bucket(mut self, bucket: &str) -> Request {
        self.bucket = Some(bucket.to_string());
        self
    }

    /// Adds the query parameter `key=value` (encoded by the client; an empty value is sent as
    /// `key=`).
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Request {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Request {
        self.body = body.into();
        self
    }

    /// Sets an XML body with its `Content-Type` and the `Content-MD5` S3 asks of its XML
    /// documents.
    pub fn xml_body(self, xml: String) -> Request {
        use base64::Engine as _;
        use md5::Digest;
        let md5 =
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(xml.as_bytes()));
        self.header("content-type", "application/xml")
            .header("content-md5", md5)
            .body(xml)
    }

    /// An answer with this error code is handed back instead of failing.
    pub fn expect_code(mut self, code: &'static str) -> Request {
        self.expected.push(Expected::Code(code));
        self
    }

    /// An answer with this HTTP status is handed back instead of failing.
    pub fn expect_status(mut self, status: u16) -> Request {
        self.expected.push(Expected::Status(status));
        self
    }

    /// Whether a failed attempt may be sent again whatever the failure
    /// ([`Safety::Idempotent`], the default) or only when the service refused it.
    pub fn safety(mut self, safety: Safety) -> Request {
        self.safety = safety;
        self
    }

    /// Reads answers up to `bytes` long instead of 32 MiB (an object's body).
    pub fn answer_limit(mut self, bytes: usize) -> Request {
        self.answer_limit = bytes;
        self
    }
}

/// A successful answer whose body is read as a stream ([`Client::send_streaming`]).
#[cfg_attr(not(feature = "s3"), allow(dead_code))]
pub(crate) struct Streamed {
    /// The answer's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as it arrives.
    pub body: provisio::ByteStream,
}

impl Streamed {
    /// A header's value, if it is there and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An answer: a success, or an error the request said it expected.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The answer's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Bytes,
    /// The error code of an expected error answer.
    pub code: Option<String>,
}

impl Answer {
    /// Whether the service did what was asked (a 2xx status).
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, if it is there and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as an XML tree; a broken one is a transient failure.
    pub fn xml(&self) -> Result<Element> {
        xml::parse(&self.body).map_err(|why| {
            Error::transient(format!("unreadable answer (HTTP {}): {why}", self.status))
        })
    }

    /// The body as JSON; a broken one is a transient failure.
    pub fn json(&self) -> Result<serde_json::Value> {
        if self.body.is_empty() {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::transient(format!(
                "unreadable answer (HTTP {}): not JSON ({})",
                self.status,
                e.classify_name()
            ))
        })
    }
}

/// The name of a serde_json error's category (never the text around it).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut off",
        }
    }
}

/// A signed-request client of one API for one account and region.
#[derive(Clone)]
pub(crate) struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    api: Api,
    /// The HTTPS client, or why it could not be built (reported by every call).
    http: std::result::Result<reqwest::Client, String>,
    /// The endpoint, without a trailing `/`.
    url: String,
    /// Whether the endpoint was configured (then S3 addresses buckets by path, as the SDK
    /// does for endpoints that are IP addresses or `localhost`, unless told otherwise).
    path_style: bool,
    /// The region requests are signed for.
    region: String,
    credentials: Option<SharedCredentialsProvider>,
    cached: tokio::sync::Mutex<Option<Credentials>>,
    info: ProviderInfo,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("wire::Client")
            .field("service", &self.inner.api.service)
            .field("url", &self.inner.url)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

/// The endpoint of `api`: the configured one, else `AWS_ENDPOINT_URL_<SERVICE>`, else the
/// SDK configuration's (which includes `AWS_ENDPOINT_URL`), else the regional (or global)
/// endpoint. Also whether it is a configured one.
fn endpoint(api: Api, sdk: &SdkConfig, config: &AwsConfig, region: &str) -> (String, bool) {
    let configured = config
        .endpoint_url
        .clone()
        .or_else(|| {
            std::env::var(format!("AWS_ENDPOINT_URL_{}", api.env))
                .ok()
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
        })
        .or_else(|| sdk.endpoint_url().map(str::to_string));
    if let Some(url) = configured {
        return (url.trim_end_matches('/').to_string(), true);
    }
    let china = region.starts_with("cn-");
    let suffix = if china {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let url = if api.global {
        format!("https://{}.{suffix}", api.host)
    } else {
        format!("https://{}.{region}.{suffix}", api.host)
    };
    (url, false)
}

impl Client {
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
        let (url, configured) = endpoint(api, sdk, config, &region);
        let signing_region = match (api.global, region.starts_with("cn-")) {
            (true, true) => "cn-northwest-1".to_string(),
            (true, false) => "us-east-1".to_string(),
            (false, _) => region,
        };
        Client {
            inner: Arc::new(Inner {
                api,
                http,
                url,
                path_style: config.s3_force_path_style.unwrap_or(configured),
                region: signing_region,
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

    /// The region requests are signed for.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) fn region(&self) -> &str {
        &self.inner.region
    }

    /// Sends `request` for provisio's `operation` on `resource`, with retries as the request's
    /// safety allows, and returns the answer: a success or an expected error.
    pub(crate) async fn send(
        &self,
        request: &Request,
        operation: &str,
        resource: &str,
    ) -> Result<Answer> {
        let url = self.url_of(request)?;
        with_retries(
            &self.inner.retry,
            request.safety,
            |attempt, delay, err| {
                tracing::debug!(
                    service = self.inner.api.service,
                    operation,
                    attempt,
                    delay_ms = delay.as_millis() as u64,
                    kind = err.kind().as_str(),
                    "retrying an AWS request"
                );
            },
            || self.attempt(request, &url),
        )
        .await
        .map_err(|e| {
            e.with_provider(PROVIDER)
                .with_operation(operation)
                .with_resource(resource)
        })
    }

    /// The request's URL: endpoint, bucket, path and encoded query.
    fn url_of(&self, request: &Request) -> Result<String> {
        let inner = &self.inner;
        let mut url = match &request.bucket {
            // A dotted name cannot be a TLS host label: by path, as the SDK does.
            Some(bucket) if !inner.path_style && !bucket.contains('.') => {
                let (scheme, host) = inner.url.split_once("://").ok_or_else(|| {
                    Error::invalid_field("endpoint_url", "must start with http:// or https://")
                })?;
                format!("{scheme}://{bucket}.{host}{}", request.path)
            }
            Some(bucket) => format!("{}/{}{}", inner.url, encode(bucket, false), request.path),
            None => format!("{}{}", inner.url, request.path),
        };
        for (i, (k, v)) in request.query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&encode(k, false));
            url.push('=');
            url.push_str(&encode(v, false));
        }
        Ok(url)
    }

    /// Sends `request` (a `GET` of an object) with retries until an answer's headers arrive,
    /// and hands out its body as a stream as it arrives, without reading it whole: a failure
    /// while reading is an `Err` item of the stream and is not retried (the reader decides).
    /// An error answer fails the call as [`Client::send`] does; expected errors are not
    /// supported here.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    pub(crate) async fn send_streaming(
        &self,
        request: &Request,
        operation: &str,
        resource: &str,
    ) -> Result<Streamed> {
        let url = self.url_of(request)?;
        with_retries(
            &self.inner.retry,
            request.safety,
            |_, _, _| {},
            || async {
                let response = self.respond(request, &url).await?;
                if response.status().is_success() {
                    let headers = response.headers().clone();
                    let body = futures::stream::unfold(Some(response), |r| async move {
                        let mut r = r?;
                        match r.chunk().await {
                            Ok(Some(chunk)) => Some((Ok(chunk), Some(r))),
                            Ok(None) => None,
                            Err(e) => Some((Err(transport_error(e)), None)),
                        }
                    });
                    return Ok(Streamed {
                        headers,
                        body: Box::pin(body),
                    });
                }
                // an error answer: read and classified as every other
                let answer = self.answer_of(request, response).await?;
                Err(Error::unexpected(format!(
                    "HTTP {} answered a streamed request",
                    answer.status
                )))
            },
        )
        .await
        .map_err(|e| {
            e.with_provider(PROVIDER)
                .with_operation(operation)
                .with_resource(resource)
        })
    }

    /// One signed request and its answer.
    async fn attempt(&self, request: &Request, url: &str) -> Result<Answer> {
        let response = self.respond(request, url).await?;
        self.answer_of(request, response).await
    }

    /// Signs and sends one request (paced and counted); the answer's body is not read yet.
    async fn respond(&self, request: &Request, url: &str) -> Result<reqwest::Response> {
        let inner = &self.inner;
        let http = inner.http.as_ref().map_err(Error::unexpected)?;
        let credentials = self.credentials().await?;
        let identity: Identity = credentials.into();
        let mut settings = SigningSettings::default();
        if inner.api.is_s3() {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&inner.region)
            .name(inner.api.service)
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| Error::unexpected("the request could not be signed").with_source(e))?
            .into();
        let signable = SignableRequest::new(
            request.method.as_str(),
            url,
            request
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(&request.body),
        )
        .map_err(|e| {
            Error::invalid_field("endpoint_url", "is not a URL a request can be sent to")
                .with_source(e)
        })?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::unexpected("the request could not be signed").with_source(e))?
            .into_parts();
        let mut builder = http.request(request.method.clone(), url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        for (name, value) in instructions.headers() {
            builder = builder.header(name, value);
        }
        builder = builder.body(request.body.clone());

        if take_token() {
            provisio::requests::record(&inner.info.name);
        } else {
            provisio::requests::before_request(&inner.info).await;
        }
        builder.send().await.map_err(transport_error)
    }

    /// Reads an answer: a success, an expected error, or the error it is.
    async fn answer_of(&self, request: &Request, response: reqwest::Response) -> Result<Answer> {
        let inner = &self.inner;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let retry_after = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(retry_after_secs);
        let body = read_capped(response, request.answer_limit).await;
        if (200..300).contains(&status) {
            return Ok(Answer {
                status,
                headers,
                body: body?,
                code: None,
            });
        }
        let body = body.unwrap_or_default();
        let (code, message) = if inner.api.protocol.json_errors() {
            json::error_of(&headers, &body)
        } else {
            xml_error_of(&body)
        };
        let expected = request.expected.iter().any(|e| match e {
            Expected::Code(c) => code.as_deref() == Some(*c),
            Expected::Status(s) => *s == status,
        });
        if expected {
            return Ok(Answer {
                status,
                headers,
                body,
                code,
            });
        }
        let mut kind = kind_for(code.as_deref(), Some(status));
        if let ErrorKind::RateLimited { retry_after: hint } = &mut kind {
            *hint = retry_after;
            provisio::requests::rate_limited(&inner.info, retry_after.unwrap_or(THROTTLE_PAUSE));
        }
        Err(Error::new(
            kind,
            service_message(code.as_deref(), message.as_deref(), status),
        ))
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

/// The code and message of an XML error answer: `<Error>` anywhere in it (S3 answers with it
/// as the root; Query services and Route 53 wrap it), or Route 53's `<InvalidChangeBatch>`
/// with its `<Messages>`. Anything else (an HTML page from a proxy) has neither.
pub(crate) fn xml_error_of(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(root) = xml::parse(body) else {
        return (None, None);
    };
    if let Some(error) = root.find("Error") {
        return (
            error.text_at(&["Code"]).map(str::to_string),
            error.text_at(&["Message"]).map(str::to_string),
        );
    }
    if root.name != "InvalidChangeBatch" {
        return (None, None);
    }
    let messages: Vec<&str> = root
        .list(&["Messages"], "Message")
        .map(|m| m.text.trim())
        .collect();
    let message = (!messages.is_empty())
        .then(|| messages.join("; "))
        .or_else(|| root.text_at(&["Message"]).map(str::to_string));
    (Some(root.name.clone()), message)
}

/// Reads the answer's body, refusing one over `limit` bytes.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Bytes> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > limit {
            return Err(Error::unexpected(format!(
                "the answer is larger than {} MiB",
                limit / (1024 * 1024)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
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
pub(crate) mod tests;
