//! The HTTP client: bearer auth, pacing of every request inside the account's quota, and the
//! response envelope.

use crate::config::CloudflareConfig;
use crate::error::{ApiError, api_error, retry_after, transport_error};
use provisio::ratelimit::RateLimiter;
use provisio::{Error, ProviderInfo, Quota, Result};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::OnceLock;
use std::time::Duration;

/// `result_info` of a listing.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct ResultInfo {
    #[serde(default)]
    pub total_pages: Option<f64>,
    #[serde(default)]
    pub total_count: Option<f64>,
}

/// The envelope every answer comes in.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Envelope<T> {
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<ApiError>,
    #[serde(default = "Option::default")]
    pub result: Option<T>,
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// The answer of a successful call: the result and, for listings, `result_info`.
pub(crate) struct Answer<T> {
    pub result: T,
    pub info: Option<ResultInfo>,
}

/// Every provider instance paces its HTTP requests in this process-wide limiter, keyed by base
/// URL, account and quota: instances built from the same configuration share one bucket, as
/// they share one account quota at Cloudflare.
fn limiter() -> &'static RateLimiter {
    static LIMITER: OnceLock<RateLimiter> = OnceLock::new();
    LIMITER.get_or_init(RateLimiter::new)
}

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    config: CloudflareConfig,
    /// The key of this account's bucket in [`limiter`]; `None`: pacing is off.
    pacing: Option<ProviderInfo>,
}

impl Client {
    pub(crate) fn new(config: CloudflareConfig, account: &str) -> Result<Client> {
        config.check()?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(Duration::from_secs(config.timeout_secs))
            .connect_timeout(Duration::from_secs(config.timeout_secs.min(10)))
            .user_agent(concat!("provisio-cloudflare/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::unexpected("cannot build the HTTP client").with_source(e))?;
        let base = config.base_url.trim().trim_end_matches('/').to_string();
        let pacing = (config.requests_per_window > 0).then(|| {
            // One request of headroom per window: requests leave at most one interval apart in
            // the worst case, so jitter on the way never pushes a window over the quota.
            let paced = config.requests_per_window.saturating_sub(1).max(1);
            ProviderInfo::new(
                "cloudflare-http",
                format!(
                    "{base}#{account}#{}/{}",
                    config.requests_per_window, config.window_secs
                ),
            )
            .with_quota(Quota::new(paced, Duration::from_secs(config.window_secs)))
        });
        Ok(Client {
            http,
            base,
            config,
            pacing,
        })
    }

    pub(crate) fn config(&self) -> &CloudflareConfig {
        &self.config
    }

    /// Sends one request (after waiting for the account's pacing) and returns the envelope's
    /// result, or the classified error.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer<T>> {
        let token = self.config.token()?;
        if let Some(key) = &self.pacing {
            limiter().acquire(key).await;
        }
        let url = format!("{}{}", self.base, path);
        let mut req = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let hint = retry_after(resp.headers());
        let bytes = resp.bytes().await.map_err(transport_error)?;
        tracing::debug!(%method, path, status, "cloudflare request");
        if status == 429
            && let Some(key) = &self.pacing
        {
            limiter().penalize(key, hint.unwrap_or(Duration::from_secs(1)));
        }
        let envelope: Option<Envelope<T>> = serde_json::from_slice(&bytes).ok();
        let ok = (200..300).contains(&status);
        match envelope {
            Some(env) if ok && env.success => match env.result {
                Some(result) => Ok(Answer {
                    result,
                    info: env.result_info,
                }),
                None => Err(Error::unexpected(format!(
                    "Cloudflare API HTTP {status}: a successful answer without result"
                ))),
            },
            Some(env) if !env.errors.is_empty() => Err(api_error(status, &env.errors, hint, "")),
            _ => {
                // No usable envelope: an error page, or a success the schema does not allow.
                let errors: Vec<ApiError> = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("errors").cloned())
                    .and_then(|e| serde_json::from_value(e).ok())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                let snippet: String = text.chars().take(300).collect();
                if ok {
                    Err(Error::unexpected(format!(
                        "Cloudflare API HTTP {status}: cannot read the answer: {snippet}"
                    )))
                } else {
                    Err(api_error(status, &errors, hint, &snippet))
                }
            }
        }
    }
}
