//! Entra ID tokens: where they come from ([`TokenSource`]) and how they are kept
//! ([`Credential`]: one cached token per scope, refreshed before it expires, one refresh at a
//! time per scope).
//!
//! Why hand-written OAuth2 rather than the `azure_identity` crate: `azure_identity` refuses a
//! non-https authority (so it cannot be pointed at the local fake without a test CA), brings
//! `azure_core` and its HTTP stack on top of the reqwest client this crate already has, and the
//! flows provisio needs are three small, documented requests (client credentials, IMDS, App
//! Service identity). See `docs/providers/azure.md`.

use crate::config::{AzureConfig, CredentialKind, check_endpoint};
use crate::error::{PROVIDER, http_error, parse_json_error, transport_error};
use async_trait::async_trait;
use provisio::{Error, ErrorKind, Result, SecretString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The Resource Manager scope.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";
/// The Key Vault scope.
pub const VAULT_SCOPE: &str = "https://vault.azure.net/.default";
/// The Storage scope.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// An access token and how long it stays valid.
#[derive(Clone, Debug)]
pub struct AccessToken {
    /// The bearer token (redacted in every output).
    pub token: SecretString,
    /// How long from now it is valid; `None` for a token that never expires (tests).
    pub expires_in: Option<Duration>,
}

/// Fetches a fresh token for one scope. Implemented by the built-in flows; implement it to
/// plug in another (a workload identity federation, a token broker).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A fresh token for `scope` (`https://management.azure.com/.default`, ...).
    async fn fetch(&self, scope: &str) -> Result<AccessToken>;
    /// A short description for `Debug` output (never a credential).
    fn describe(&self) -> String;
}

struct Cached {
    token: SecretString,
    refresh_at: Option<Instant>,
}

/// One token per scope, cached and refreshed before expiry.
///
/// A token is refreshed when less than five minutes (or half its lifetime, for short-lived
/// tokens) remain; concurrent callers of one scope wait for a single refresh instead of each
/// asking the authority ("single flight").
pub struct Credential {
    source: Arc<dyn TokenSource>,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Cached>>>>>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("source", &self.source.describe())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// A cache in front of `source`.
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Credential {
            source,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// A credential that always presents `token` (tests, or a token obtained elsewhere).
    pub fn fixed(token: SecretString) -> Self {
        Credential::new(Arc::new(StaticToken(token)))
    }

    /// The credential a configuration asks for.
    pub fn from_config(config: &AzureConfig, http: reqwest::Client) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let client_secret = |tenant_env: &str, client_env: &str, secret_env: &str| {
            let tenant = config.tenant_id.clone().or_else(|| env(tenant_env));
            let client = config.client_id.clone().or_else(|| env(client_env));
            let secret = config
                .client_secret
                .clone()
                .or_else(|| env(secret_env).map(SecretString::new));
            match (tenant, client, secret) {
                (Some(tenant), Some(client_id), Some(secret)) => Ok(ClientSecretFlow {
                    http: http.clone(),
                    authority: check_endpoint("authority", &config.authority)?,
                    tenant,
                    client_id,
                    secret,
                }),
                (t, c, s) => {
                    let missing: Vec<&str> = [
                        (t.is_none(), tenant_env),
                        (c.is_none(), client_env),
                        (s.is_none(), secret_env),
                    ]
                    .into_iter()
                    .filter_map(|(m, n)| m.then_some(n))
                    .collect();
                    Err(Error::new(
                        ErrorKind::Unauthenticated,
                        format!("client secret credential: {} not set", missing.join(", ")),
                    )
                    .with_provider(PROVIDER))
                }
            }
        };
        let source: Arc<dyn TokenSource> = match config.credential {
            CredentialKind::ClientSecret => Arc::new(client_secret(
                &config.tenant_id_env,
                &config.client_id_env,
                &config.client_secret_env,
            )?),
            CredentialKind::ManagedIdentity => Arc::new(ManagedIdentityFlow::new(config, http)?),
            CredentialKind::Env => {
                match client_secret("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET") {
                    Ok(flow) => Arc::new(flow),
                    Err(_) => Arc::new(ManagedIdentityFlow::new(config, http)?),
                }
            }
            CredentialKind::Static => {
                let token = config
                    .static_token
                    .clone()
                    .or_else(|| env(&config.static_token_env).map(SecretString::new))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::Unauthenticated,
                            format!(
                                "static credential: no token configured and {} is not set",
                                config.static_token_env
                            ),
                        )
                        .with_provider(PROVIDER)
                    })?;
                Arc::new(StaticToken(token))
            }
        };
        Ok(Credential::new(source))
    }

    /// A valid token for `scope`, from the cache or freshly fetched.
    pub async fn token(&self, scope: &str) -> Result<SecretString> {
        let slot = {
            let mut slots = self.slots.lock().expect("credential cache poisoned");
            slots.entry(scope.to_string()).or_default().clone()
        };
        // Holding the per-scope lock across the fetch is the single flight: callers queue
        // behind one refresh and then find the fresh token.
        let mut cached = slot.lock().await;
        if let Some(c) = cached.as_ref()
            && c.refresh_at.is_none_or(|at| Instant::now() < at)
        {
            return Ok(c.token.clone());
        }
        let fresh = self
            .source
            .fetch(scope)
            .await
            .map_err(|e| e.in_context(PROVIDER, "auth.token"))?;
        let refresh_at = fresh.expires_in.map(|life| {
            let margin = Duration::from_secs(300).min(life / 2);
            Instant::now() + (life - margin)
        });
        *cached = Some(Cached {
            token: fresh.token.clone(),
            refresh_at,
        });
        Ok(fresh.token)
    }

    /// Forgets the cached token of `scope`, e.g. after the service answered 401.
    pub async fn invalidate(&self, scope: &str) {
        let slot = self
            .slots
            .lock()
            .expect("credential cache poisoned")
            .get(scope)
            .cloned();
        if let Some(slot) = slot {
            *slot.lock().await = None;
        }
    }
}

struct StaticToken(SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    async fn fetch(&self, _scope: &str) -> Result<AccessToken> {
        Ok(AccessToken {
            token: self.0.clone(),
            expires_in: None,
        })
    }
    fn describe(&self) -> String {
        "static token".into()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    expires_on: Option<serde_json::Value>,
}

impl TokenResponse {
    fn into_token(self) -> AccessToken {
        let num = |v: &serde_json::Value| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let expires_in = self
            .expires_in
            .as_ref()
            .and_then(num)
            .or_else(|| {
                let on = self.expires_on.as_ref().and_then(num)?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()?
                    .as_secs();
                Some(on.saturating_sub(now))
            })
            .unwrap_or(300);
        AccessToken {
            token: SecretString::new(self.access_token),
            expires_in: Some(Duration::from_secs(expires_in)),
        }
    }
}

async fn token_request(req: reqwest::RequestBuilder) -> Result<AccessToken> {
    let resp = req.send().await.map_err(transport_error)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(transport_error)?;
    if !(200..300).contains(&status) {
        return Err(http_error(status, &headers, &parse_json_error(&body)));
    }
    let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
        Error::unexpected("the token endpoint answered an unreadable body")
            .with_provider(PROVIDER)
            .with_source(e)
    })?;
    Ok(parsed.into_token())
}

/// OAuth2 client credentials with a client secret (`POST {authority}/{tenant}/oauth2/v2.0/token`).
struct ClientSecretFlow {
    http: reqwest::Client,
    authority: url::Url,
    tenant: String,
    client_id: String,
    secret: SecretString,
}

#[async_trait]
impl TokenSource for ClientSecretFlow {
    async fn fetch(&self, scope: &str) -> Result<AccessToken> {
        let mut url = self.authority.clone();
        url.path_segments_mut()
            .map_err(|_| Error::invalid_field("authority", "cannot be a base URL"))?
            .pop_if_empty()
            .extend([self.tenant.as_str(), "oauth2", "v2.0", "token"]);
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
            ("grant_type", "client_credentials"),
            ("scope", scope),
        ];
        token_request(self.http.post(url).form(&form)).await
    }
    fn describe(&self) -> String {
        format!("client secret (client id {})", self.client_id)
    }
}

/// A managed identity: App Service (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`) or IMDS.
struct ManagedIdentityFlow {
    http: reqwest::Client,
    endpoint: url::Url,
    app_service_header: Option<SecretString>,
    client_id: Option<String>,
}

impl ManagedIdentityFlow {
    fn new(config: &AzureConfig, http: reqwest::Client) -> Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (endpoint, header) = match (env("IDENTITY_ENDPOINT"), env("IDENTITY_HEADER")) {
            (Some(ep), Some(h)) => (ep, Some(SecretString::new(h))),
            _ => (config.imds_endpoint.clone(), None),
        };
        Ok(ManagedIdentityFlow {
            http,
            endpoint: check_endpoint("imds_endpoint", &endpoint)?,
            app_service_header: header,
            client_id: config.managed_identity_client_id.clone(),
        })
    }
}

#[async_trait]
impl TokenSource for ManagedIdentityFlow {
    async fn fetch(&self, scope: &str) -> Result<AccessToken> {
        // Managed identity endpoints take the resource, not the v2 scope.
        let resource = scope.trim_end_matches("/.default");
        let mut url = self.endpoint.clone();
        {
            let mut q = url.query_pairs_mut();
            match &self.app_service_header {
                Some(_) => q.append_pair("api-version", "2019-08-01"),
                None => q.append_pair("api-version", "2018-02-01"),
            };
            q.append_pair("resource", resource);
            if let Some(id) = &self.client_id {
                q.append_pair("client_id", id);
            }
        }
        let req = match &self.app_service_header {
            Some(h) => self.http.get(url).header("X-IDENTITY-HEADER", h.expose()),
            None => self.http.get(url).header("Metadata", "true"),
        };
        token_request(req).await
    }
    fn describe(&self) -> String {
        match &self.app_service_header {
            Some(_) => "managed identity (App Service endpoint)".into(),
            None => "managed identity (IMDS)".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        calls: AtomicU32,
        life: Duration,
    }

    #[async_trait]
    impl TokenSource for Counting {
        async fn fetch(&self, scope: &str) -> Result<AccessToken> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            // A slow authority: concurrent callers must wait for this one fetch.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(AccessToken {
                token: SecretString::new(format!("{scope}#{n}")),
                expires_in: Some(self.life),
            })
        }
        fn describe(&self) -> String {
            "counting".into()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn one_token_per_scope_single_flight_and_refresh_before_expiry() {
        let src = Arc::new(Counting {
            calls: AtomicU32::new(0),
            life: Duration::from_secs(3600),
        });
        let cred = Arc::new(Credential::new(src.clone()));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let c = cred.clone();
                tokio::spawn(async move { c.token(ARM_SCOPE).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().expose(), format!("{ARM_SCOPE}#1"));
        }
        assert_eq!(src.calls.load(Ordering::SeqCst), 1, "single flight");

        // Another scope gets its own token.
        let kv = cred.token(VAULT_SCOPE).await.unwrap();
        assert_eq!(kv.expose(), format!("{VAULT_SCOPE}#2"));

        // 54 minutes later the ARM token is still fresh; 56 minutes later (less than the
        // 5 minute margin left) it is refreshed.
        tokio::time::advance(Duration::from_secs(54 * 60)).await;
        assert_eq!(
            cred.token(ARM_SCOPE).await.unwrap().expose(),
            format!("{ARM_SCOPE}#1")
        );
        tokio::time::advance(Duration::from_secs(2 * 60)).await;
        assert_eq!(
            cred.token(ARM_SCOPE).await.unwrap().expose(),
            format!("{ARM_SCOPE}#3")
        );
        assert_eq!(src.calls.load(Ordering::SeqCst), 3);

        cred.invalidate(ARM_SCOPE).await;
        assert_eq!(
            cred.token(ARM_SCOPE).await.unwrap().expose(),
            format!("{ARM_SCOPE}#4")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn short_lived_tokens_refresh_at_half_life() {
        let src = Arc::new(Counting {
            calls: AtomicU32::new(0),
            life: Duration::from_secs(120),
        });
        let cred = Credential::new(src.clone());
        cred.token(STORAGE_SCOPE).await.unwrap();
        tokio::time::advance(Duration::from_secs(50)).await;
        cred.token(STORAGE_SCOPE).await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(15)).await;
        cred.token(STORAGE_SCOPE).await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn token_response_forms() {
        let t: TokenResponse =
            serde_json::from_str(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"x"}"#)
                .unwrap();
        assert_eq!(t.into_token().expires_in, Some(Duration::from_secs(3599)));
        // IMDS sends strings.
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"x","expires_in":"86399","expires_on":"1"}"#)
                .unwrap();
        assert_eq!(t.into_token().expires_in, Some(Duration::from_secs(86399)));
        let t: TokenResponse =
            serde_json::from_str(r#"{"access_token":"x","expires_on":1}"#).unwrap();
        assert_eq!(t.into_token().expires_in, Some(Duration::ZERO));
    }
}
