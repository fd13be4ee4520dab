//! The HTTP client: bearer auth, pacing and counting of every request in the process-wide
//! [`provisio::requests`] limiter, and the response envelope.

use crate::config::CloudflareConfig;
use crate::error::{ApiError, api_error, retry_after, transport_error};
use provisio::{Error, ProviderInfo, Result};
use reqwest::Method;
use serde::de::DeserializeOwned;
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

#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: String,
    config: CloudflareConfig,
    /// The provider's identity and paced quota: the key of its account's bucket in
    /// [`provisio::requests::limiter`] and the name its requests are counted under.
    info: ProviderInfo,
}

/// The account as [`ProviderInfo::account`] names it: the account id or token fingerprint, and
/// the API's URL when it is not Cloudflare's own (a fake, Prism), so that accounts of different
/// endpoints in one process do not share a rate limit.
fn account_label(base: &str, account: &str) -> String {
    if base == crate::config::DEFAULT_BASE_URL {
        account.to_string()
    } else {
        format!("{account}@{base}")
    }
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
        let mut info = ProviderInfo::new(crate::dns::PROVIDER, account_label(&base, account));
        info.quota = config.paced_quota()?;
        Ok(Client {
            http,
            base,
            config,
            info,
        })
    }

    pub(crate) fn info(&self) -> &ProviderInfo {
        &self.info
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
        provisio::requests::before_request(&self.info).await;
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
        if status == 429 {
            provisio::requests::rate_limited(&self.info, hint.unwrap_or(Duration::from_secs(1)));
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
