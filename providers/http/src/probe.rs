//! [`HttpProbe`]: the [`Probe`] capability over reqwest with rustls.

use crate::config::HttpConfig;
use crate::error::transport_error;
use provisio::probe::{
    MAX_BODY_BYTES, Probe, ProbeAnswer, ProbeCapabilities, ProbeMethod, ProbeRequest, Scheme,
};
use provisio::{Error, Provider, ProviderInfo, Result, async_trait};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The provider name requests are counted under and errors carry.
pub const PROVIDER: &str = "http";

const OPERATION: &str = "probe.fetch";

/// Which client a request needs: verification on or off, and the CA file (as it was when read:
/// a file changed since is read again).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    tls_verify: bool,
    ca_file: Option<(PathBuf, Option<SystemTime>, u64)>,
}

/// Probes over HTTP/1.1, with TLS by rustls (the Mozilla roots of `webpki-roots`, plus the
/// request's `ca_file`).
///
/// Each [`Probe::fetch`] is one request on a fresh connection (no connection is kept between
/// probes, so every probe shows whether the service takes new connections), without proxies
/// and without following redirects; it reads at most [`MAX_BODY_BYTES`] of the body. It is
/// counted and paced as one request ([`provisio::requests::before_request`]) under the
/// provider name `http`.
///
/// ```
/// # async fn demo() -> provisio::Result<()> {
/// use provisio::Probe;
/// use provisio::probe::ProbeRequest;
/// let probe = provisio_http::HttpProbe::new(provisio_http::HttpConfig::new())?;
/// let answer = probe.fetch(&ProbeRequest::get("https://acme.example.com/health")).await?;
/// println!("{} {}", answer.status, answer.text());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct HttpProbe {
    config: HttpConfig,
    info: ProviderInfo,
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
}

impl HttpProbe {
    /// A probe with `config` (checked: a provider-wide `tls_verify` or `ca_file` is refused).
    pub fn new(config: HttpConfig) -> Result<HttpProbe> {
        config.check()?;
        let mut info = ProviderInfo::new(PROVIDER, config.account.clone());
        info.quota = provisio::ratelimit::RateLimit::effective(
            config.rate_limit.as_ref(),
            None,
            "rate_limit",
        )?;
        Ok(HttpProbe {
            config,
            info,
            clients: Mutex::new(HashMap::new()),
        })
    }

    fn key(tls_verify: bool, ca_file: Option<&Path>) -> Result<ClientKey> {
        let ca_file = match ca_file {
            None => None,
            Some(path) => {
                let meta = std::fs::metadata(path).map_err(|e| {
                    Error::invalid_field("ca_file", format!("cannot read {}: {e}", path.display()))
                })?;
                Some((path.to_path_buf(), meta.modified().ok(), meta.len()))
            }
        };
        Ok(ClientKey {
            tls_verify,
            ca_file,
        })
    }

    /// The client for this verification setting and CA file, built once.
    fn client(&self, tls_verify: bool, ca_file: Option<&Path>) -> Result<reqwest::Client> {
        let key = Self::key(tls_verify, ca_file)?;
        if let Some(c) = self
            .clients
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(c.clone());
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .pool_max_idle_per_host(0)
            .user_agent(self.config.user_agent.clone());
        if !tls_verify {
            builder = builder.danger_accept_invalid_certs(true);
        }
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::invalid_field("ca_file", format!("cannot read {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::invalid_field(
                    "ca_file",
                    format!("{} is not a PEM bundle: {e}", path.display()),
                )
            })?;
            if certs.is_empty() {
                return Err(Error::invalid_field(
                    "ca_file",
                    format!("{} holds no PEM certificate", path.display()),
                ));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let client = builder
            .build()
            .map_err(|e| Error::unexpected("cannot build the HTTP client").with_source(e))?;
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        // a CA file that changed leaves its old client behind: drop clients of other versions
        // of the same file
        clients.retain(|k, _| {
            k.ca_file.as_ref().map(|c| &c.0) != key.ca_file.as_ref().map(|c| &c.0)
                || k.tls_verify != key.tls_verify
        });
        clients.insert(key, client.clone());
        Ok(client)
    }

    async fn send(&self, request: &ProbeRequest) -> Result<ProbeAnswer> {
        let url = request.validated()?;
        let client = self.client(request.tls_verify, request.ca_file.as_deref())?;
        let method = request.method.as_str();
        provisio::requests::before_request(&self.info).await;
        let mut req = client
            .request(
                match request.method {
                    ProbeMethod::Get => reqwest::Method::GET,
                    ProbeMethod::Head => reqwest::Method::HEAD,
                },
                &request.url,
            )
            .timeout(request.timeout);
        if let Some(host) = &request.host_header {
            req = req.header(reqwest::header::HOST, host);
        }
        let mut resp = req
            .send()
            .await
            .map_err(|e| transport_error(method, &request.url, e))?;
        let status = resp.status().as_u16();
        if status == 429 {
            tracing::debug!(url = %request.url, "the checked service answered 429");
        }
        let mut body: Vec<u8> = Vec::new();
        let mut body_truncated = false;
        if request.method == ProbeMethod::Get {
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| transport_error(method, &request.url, e))?
            {
                let room = MAX_BODY_BYTES - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    body_truncated = true;
                    break; // the rest is not read; the connection is dropped
                }
                body.extend_from_slice(&chunk);
            }
        }
        tracing::debug!(%method, url = %request.url, status, "probe");
        Ok(ProbeAnswer {
            status,
            body: body.into(),
            body_truncated,
            tls_verified: url.scheme == Scheme::Https && request.tls_verify,
        })
    }
}

impl Provider for HttpProbe {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }
}

#[async_trait]
impl Probe for HttpProbe {
    fn capabilities(&self) -> ProbeCapabilities {
        ProbeCapabilities {
            https: true,
            custom_ca: true,
            host_header: true,
        }
    }

    async fn fetch(&self, request: &ProbeRequest) -> Result<ProbeAnswer> {
        self.send(request).await.map_err(|e| {
            let e = e.in_context(PROVIDER, OPERATION);
            if e.resource().is_none() {
                e.with_resource(&request.url)
            } else {
                e
            }
        })
    }
}
