//! The HTTP plumbing every capability shares: one reqwest client (rustls), bearer tokens per
//! scope with one retry after a 401, responses read whole, and Resource Manager URLs.

use crate::auth::Credential;
use crate::config::{AzureConfig, check_endpoint};
use crate::error::{PROVIDER, http_error, parse_json_error, remaining_quota, transport_error};
use provisio::Bytes;
use provisio::{Error, Result};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use std::sync::Arc;

/// What every capability of one configured Azure provider shares.
pub(crate) struct Core {
    pub config: AzureConfig,
    pub http: reqwest::Client,
    pub credential: Arc<Credential>,
}

/// A response read to the end.
pub(crate) struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::unexpected(format!(
                "unreadable response body (HTTP {}): {e}",
                self.status
            ))
            .with_provider(PROVIDER)
        })
    }
    /// The error of a failed JSON (Resource Manager, Key Vault) response.
    pub fn json_error(&self) -> Error {
        http_error(self.status, &self.headers, &parse_json_error(&self.body))
    }
    /// The error of a failed Blob (XML) response.
    pub fn xml_error(&self) -> Error {
        http_error(
            self.status,
            &self.headers,
            &crate::error::parse_xml_error(&self.headers, &self.body),
        )
    }
}

impl Core {
    pub fn new(config: AzureConfig, credential: Option<Arc<Credential>>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(config.request_timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("provisio-azure/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::unexpected("cannot build the HTTP client")
                    .with_provider(PROVIDER)
                    .with_source(e)
            })?;
        let credential = match credential {
            Some(c) => c,
            None => Arc::new(Credential::from_config(&config, http.clone())?),
        };
        Ok(Core {
            config,
            http,
            credential,
        })
    }

    /// Sends the request `build` makes, with a bearer token for `scope` when given. A 401
    /// drops the cached token and tries once more with a fresh one.
    ///
    /// Every attempt is paced and counted under `info` ([`provisio::requests::before_request`]);
    /// a 429 pauses `info`'s account for the answer's `Retry-After`.
    pub async fn send<F>(
        &self,
        info: &provisio::ProviderInfo,
        scope: Option<&str>,
        build: F,
    ) -> Result<Response>
    where
        F: Fn(&reqwest::Client) -> RequestBuilder,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = build(&self.http);
            if let Some(scope) = scope {
                let token = self.credential.token(scope).await?;
                req = req.bearer_auth(token.expose());
            }
            provisio::requests::before_request(info).await;
            let resp = req.send().await.map_err(transport_error)?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.bytes().await.map_err(transport_error)?;
            if status == 429 {
                let pause = crate::error::retry_after(&headers)
                    .unwrap_or(std::time::Duration::from_secs(1));
                provisio::requests::rate_limited(info, pause);
            }
            if let Some(left) = remaining_quota(&headers)
                && left < 10
            {
                tracing::debug!(left, "azure: Resource Manager quota nearly used up");
            }
            if status == 401
                && attempt == 1
                && let Some(scope) = scope
            {
                self.credential.invalidate(scope).await;
                continue;
            }
            return Ok(Response {
                status,
                headers,
                body,
            });
        }
    }
}

/// The Resource Manager side: a subscription and resource group on an endpoint.
pub(crate) struct Arm {
    pub core: Arc<Core>,
    /// The subscription as a provider: its requests are paced and counted under it.
    pub info: provisio::ProviderInfo,
    pub base: url::Url,
    pub subscription: String,
    pub resource_group: String,
}

impl Arm {
    pub fn new(core: Arc<Core>) -> Result<Self> {
        let c = &core.config;
        let base = check_endpoint("arm_endpoint", &c.arm_endpoint)?;
        let subscription = c
            .required(&c.subscription_id, "subscription_id")?
            .to_string();
        let resource_group = c.required(&c.resource_group, "resource_group")?.to_string();
        for (field, v) in [
            ("subscription_id", &subscription),
            ("resource_group", &resource_group),
        ] {
            if v.contains(['/', '?', '#']) {
                return Err(Error::invalid_field(
                    field,
                    format!("{v:?} contains / ? or #"),
                ));
            }
        }
        let info = provisio::ProviderInfo::new(PROVIDER, format!("subscription/{subscription}"))
            .with_quota(c.quota(crate::config::AzureService::Arm)?);
        Ok(Arm {
            core,
            info,
            base,
            subscription,
            resource_group,
        })
    }

    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{rest}`
    pub fn rg_path(&self, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{rest}",
            self.subscription, self.resource_group
        )
    }

    /// An absolute URL of a resource path with the api-version.
    pub fn url(&self, path: &str, api_version: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{base}{path}{sep}api-version={api_version}")
    }

    /// Checks that a `nextLink` or polling URL the service returned points at our endpoint,
    /// so a bearer token is never sent elsewhere.
    pub fn check_link(&self, link: &str) -> Result<String> {
        same_origin(&self.base, link, "Resource Manager")
    }

    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> Result<Response> {
        self.core
            .send(&self.info, Some(crate::auth::ARM_SCOPE), |http| {
                let mut r = http.request(method.clone(), url);
                for (k, v) in headers {
                    r = r.header(*k, *v);
                }
                if let Some(b) = body {
                    r = r.json(b);
                }
                r
            })
            .await
    }
}

/// `link` when it has the scheme, host and port of `base`.
pub(crate) fn same_origin(base: &url::Url, link: &str, what: &str) -> Result<String> {
    let parsed = url::Url::parse(link).map_err(|_| {
        Error::unexpected(format!("{what} returned an unreadable link")).with_provider(PROVIDER)
    })?;
    if parsed.scheme() != base.scheme()
        || parsed.host_str() != base.host_str()
        || parsed.port_or_known_default() != base.port_or_known_default()
    {
        return Err(Error::unexpected(format!(
            "{what} returned a link to another host ({}); not following it",
            parsed.host_str().unwrap_or("?")
        ))
        .with_provider(PROVIDER));
    }
    Ok(link.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_on_the_endpoint() {
        let base = url::Url::parse("https://management.azure.com").unwrap();
        assert!(
            same_origin(
                &base,
                "https://management.azure.com/subscriptions/x?$skipToken=1",
                "ARM"
            )
            .is_ok()
        );
        assert!(same_origin(&base, "https://evil.example/x", "ARM").is_err());
        assert!(same_origin(&base, "http://management.azure.com/x", "ARM").is_err());
        assert!(same_origin(&base, "https://management.azure.com:444/x", "ARM").is_err());
    }
}
