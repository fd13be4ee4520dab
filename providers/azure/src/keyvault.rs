//! [`AzureKeyVault`]: Key Vault secrets through the data-plane REST API (api-version
//! 2025-07-01).
//!
//! REST rather than `azure_security_keyvault_secrets`: the crate needs `azure_identity`-style
//! credentials and https (its challenge handling checks the vault host), while the calls are
//! few and small; the behaviour provisio adds (compare before put, wait for the asynchronous
//! delete and recover, purge only by name) sits between calls anyway.
//!
//! Safety: the library never purges on its own. [`AzureKeyVault::purge_secret`] is the only
//! code path that sends `DELETE /deletedsecrets/{name}`, and it first checks a [`Confirm`]
//! naming the secret.

use crate::client::{Core, Response, same_origin};
use crate::config::check_endpoint;
use crate::error::PROVIDER;
use async_trait::async_trait;
use provisio::secrets::{SecretMeta, SecretValue, SecretsCapabilities, check_recovery_days};
use provisio::{
    Confirm, Deleted, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Result,
    SecretStore, SecretString, Tags, validate,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The Key Vault api-version.
pub const KEYVAULT_API_VERSION: &str = "2025-07-01";

/// What a soft delete left behind: how to recover the secret and when Azure purges it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeletedSecretInfo {
    /// The secret's name.
    pub name: String,
    /// The recovery id (`https://<vault>/deletedsecrets/<name>`).
    pub recovery_id: Option<String>,
    /// When the secret was deleted (unix seconds).
    pub deleted_date: Option<i64>,
    /// When Azure will purge it (unix seconds), unless recovered first.
    pub scheduled_purge_date: Option<i64>,
    /// The vault's recovery level (`Recoverable+Purgeable`, ...).
    pub recovery_level: Option<String>,
}

/// Azure Key Vault secrets as a [`SecretStore`].
pub struct AzureKeyVault {
    core: Arc<Core>,
    vault: url::Url,
    info: ProviderInfo,
}

struct Bundle {
    name: String,
    version: String,
    tags: Tags,
    value: Option<SecretString>,
    deleted: Option<DeletedSecretInfo>,
}

impl Bundle {
    fn parse(v: &Value, deleted: bool) -> Bundle {
        let id = v["id"].as_str().unwrap_or_default();
        // https://vault/secrets/{name}/{version}
        let mut parts = id.split("/secrets/").nth(1).unwrap_or_default().split('/');
        let name = parts.next().unwrap_or_default().to_string();
        let version = parts.next().unwrap_or_default().to_string();
        let tags = v["tags"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let value = v["value"].as_str().map(SecretString::new);
        let deleted = deleted.then(|| DeletedSecretInfo {
            name: name.clone(),
            recovery_id: v["recoveryId"].as_str().map(str::to_string),
            deleted_date: v["deletedDate"].as_i64(),
            scheduled_purge_date: v["scheduledPurgeDate"].as_i64(),
            recovery_level: v["attributes"]["recoveryLevel"]
                .as_str()
                .map(str::to_string),
        });
        Bundle {
            name,
            version,
            tags,
            value,
            deleted,
        }
    }

    fn meta(&self) -> SecretMeta {
        SecretMeta {
            name: self.name.clone(),
            version: self.version.clone(),
            tags: self.tags.clone(),
            deleted: self.deleted.is_some(),
        }
    }
}

impl AzureKeyVault {
    pub(crate) fn new(core: Arc<Core>) -> Result<Self> {
        let c = &core.config;
        let vault = check_endpoint("vault_url", c.required(&c.vault_url, "vault_url")?)?;
        let info = ProviderInfo::new(
            PROVIDER,
            format!("vault/{}", vault.host_str().unwrap_or_default()),
        )
        .with_quota(c.quota(crate::config::AzureService::KeyVault)?);
        Ok(AzureKeyVault { core, vault, info })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut u = self.vault.clone();
        let base = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base}{path}"));
        {
            let mut q = u.query_pairs_mut();
            q.append_pair("api-version", KEYVAULT_API_VERSION);
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u.to_string()
    }

    async fn call(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Response> {
        self.core
            .send(&self.info, Some(crate::auth::VAULT_SCOPE), |h| {
                let r = h.request(method.clone(), url);
                match body {
                    Some(b) => r.json(b),
                    None => r,
                }
            })
            .await
    }

    fn name(name: &str) -> Result<String> {
        validate::keyvault_secret_name("secret name", name)
    }

    fn err(e: Error, op: &str, name: &str) -> Error {
        e.in_context(PROVIDER, op).with_resource(name.to_string())
    }

    async fn live(&self, name: &str) -> Result<Option<Bundle>> {
        let resp = self
            .call(
                Method::GET,
                &self.url(&format!("/secrets/{name}/"), &[]),
                None,
            )
            .await?;
        match resp.status {
            200 => Ok(Some(Bundle::parse(&resp.json()?, false))),
            404 => Ok(None),
            _ => Err(resp.json_error()),
        }
    }

    async fn deleted(&self, name: &str) -> Result<Option<Bundle>> {
        let resp = self
            .call(
                Method::GET,
                &self.url(&format!("/deletedsecrets/{name}"), &[]),
                None,
            )
            .await?;
        match resp.status {
            200 => Ok(Some(Bundle::parse(&resp.json()?, true))),
            404 => Ok(None),
            _ => Err(resp.json_error()),
        }
    }

    /// Polls `check` until it is true: Key Vault deletes and recovers asynchronously.
    async fn settle<F, Fut>(&self, what: &str, mut check: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut pause = Duration::from_millis(20);
        loop {
            if check().await? {
                return Ok(());
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Err(Error::timeout(format!(
                    "{what} did not finish within 120 s"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.core.config.poll_interval().min(Duration::from_secs(2)));
        }
    }

    /// Soft-deletes the secret and returns its recovery data; `None` when there was no live
    /// secret of that name. Waits until the deletion is visible, so a recover or purge right
    /// after works.
    pub async fn delete_secret_with_recovery(
        &self,
        name: &str,
    ) -> Result<Option<DeletedSecretInfo>> {
        let op = "secrets.delete_secret";
        let run = async {
            let name = Self::name(name)?;
            let resp = self
                .call(
                    Method::DELETE,
                    &self.url(&format!("/secrets/{name}"), &[]),
                    None,
                )
                .await?;
            match resp.status {
                200 => {}
                404 => return Ok(None),
                _ => return Err(resp.json_error()),
            }
            let info = Bundle::parse(&resp.json()?, true).deleted;
            self.settle("the soft delete", || async {
                Ok(self.deleted(&name).await?.is_some())
            })
            .await?;
            Ok(info)
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    fn tags_json(tags: &Tags) -> Value {
        Value::Object(tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    }
}

impl std::fmt::Debug for AzureKeyVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AzureKeyVault")
            .field("vault", &self.vault.as_str())
            .finish()
    }
}

impl Provider for AzureKeyVault {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    /// Key Vault's rule for secret names (letters, digits and hyphens, at most 127); the
    /// portable rule for the rest.
    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        match kind {
            provisio::validate::NameKind::Secret => validate::keyvault_secret_name(field, value),
            other => validate::portable(other, field, value),
        }
        .map(|_| ())
    }
}

#[async_trait]
impl SecretStore for AzureKeyVault {
    fn capabilities(&self) -> SecretsCapabilities {
        SecretsCapabilities {
            soft_delete: true,
            // The retention period is a property of the vault, not of a delete.
            custom_recovery_window: false,
            tags: true,
        }
    }

    async fn put_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Ensured<SecretMeta>> {
        let op = "secrets.put_secret";
        let run = async {
            let name = Self::name(name)?;
            validate::tags("secret tags", tags)?;
            if tags.len() > 15 {
                return Err(Error::invalid_field(
                    "secret tags",
                    "Key Vault allows at most 15 tags",
                ));
            }
            if value.is_empty() {
                return Err(Error::invalid_field("secret value", "must not be empty"));
            }
            let current = self.live(&name).await?;
            let mut merged = tags.clone();
            if let Some(cur) = &current {
                let same_value = cur
                    .value
                    .as_ref()
                    .is_some_and(|v| v.expose() == value.expose());
                let same_tags = provisio::types::tags_match(&cur.tags, tags);
                if same_value && same_tags {
                    return Ok(Ensured::unchanged(cur.meta()));
                }
                merged = cur.tags.clone();
                merged.extend(tags.clone());
                if same_value {
                    // Only tags differ: PATCH the current version, no new version.
                    let url = self.url(&format!("/secrets/{name}/{}", cur.version), &[]);
                    let body = json!({ "tags": Self::tags_json(&merged) });
                    let resp = self.call(Method::PATCH, &url, Some(&body)).await?;
                    if !resp.ok() {
                        return Err(resp.json_error());
                    }
                    return Ok(Ensured::updated(Bundle::parse(&resp.json()?, false).meta()));
                }
            }
            let body = json!({ "value": value.expose(), "tags": Self::tags_json(&merged) });
            let resp = self
                .call(
                    Method::PUT,
                    &self.url(&format!("/secrets/{name}"), &[]),
                    Some(&body),
                )
                .await?;
            drop(body);
            if resp.status == 409 {
                let e = crate::error::parse_json_error(&resp.body);
                if e.inner_code.as_deref() == Some("ObjectIsDeletedButRecoverable")
                    || e.message.contains("deleted but recoverable")
                {
                    return Err(Error::conflict(format!(
                        "secret {name} is deleted but recoverable: recover it (recover_secret) or purge it by name (purge_secret with a Confirm naming it) before setting it again"
                    )));
                }
                return Err(resp.json_error());
            }
            if !resp.ok() {
                return Err(resp.json_error());
            }
            let meta = Bundle::parse(&resp.json()?, false).meta();
            Ok(if current.is_some() {
                Ensured::updated(meta)
            } else {
                Ensured::created(meta)
            })
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn get_secret(&self, name: &str) -> Result<SecretValue> {
        let op = "secrets.get_secret";
        let run = async {
            let name = Self::name(name)?;
            match self.live(&name).await? {
                Some(b) => Ok(SecretValue {
                    value: b.value.unwrap_or_default(),
                    version: b.version,
                }),
                None => Err(Error::not_found(format!(
                    "secret {name} does not exist or is deleted (SecretNotFound)"
                ))),
            }
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>> {
        let op = "secrets.describe_secret";
        let run = async {
            let name = Self::name(name)?;
            if let Some(b) = self.live(&name).await? {
                return Ok(Some(b.meta()));
            }
            Ok(self.deleted(&name).await?.map(|b| b.meta()))
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn list_secrets(&self, prefix: &str, page: &PageRequest) -> Result<Page<SecretMeta>> {
        let op = "secrets.list_secrets";
        let run = async {
            let url = match &page.token {
                Some(t) => same_origin(&self.vault, t, "Key Vault")?,
                None => {
                    let max = page.limit.unwrap_or(25).clamp(1, 25).to_string();
                    self.url("/secrets", &[("maxresults", &max)])
                }
            };
            let resp = self.call(Method::GET, &url, None).await?;
            if !resp.ok() {
                return Err(resp.json_error());
            }
            let v: Value = resp.json()?;
            // Key Vault has no server-side name filter: filter each page. Listings carry no
            // version (base ids only); describe_secret reads it.
            let items = v["value"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|i| Bundle::parse(i, false).meta())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.name.starts_with(prefix))
                .collect();
            let next = v["nextLink"]
                .as_str()
                .filter(|l| !l.is_empty())
                .map(str::to_string);
            Ok(Page { items, next })
        };
        run.await.map_err(|e| Self::err(e, op, prefix))
    }

    async fn delete_secret(&self, name: &str, recovery_days: u32) -> Result<Deleted> {
        check_recovery_days(recovery_days)
            .map_err(|e| Self::err(e, "secrets.delete_secret", name))?;
        Ok(match self.delete_secret_with_recovery(name).await? {
            Some(_) => Deleted::Deleted,
            None => Deleted::AlreadyGone,
        })
    }

    async fn recover_secret(&self, name: &str) -> Result<SecretMeta> {
        let op = "secrets.recover_secret";
        let run = async {
            let name = Self::name(name)?;
            let url = self.url(&format!("/deletedsecrets/{name}/recover"), &[]);
            let resp = self.call(Method::POST, &url, None).await?;
            if resp.status == 404 {
                return Err(Error::not_found(format!(
                    "secret {name} is not deleted: nothing to recover"
                )));
            }
            if !resp.ok() {
                return Err(resp.json_error());
            }
            self.settle("the recovery", || async {
                Ok(self.live(&name).await?.is_some())
            })
            .await?;
            let recovered = self.live(&name).await?.ok_or_else(|| {
                Error::transient(format!("secret {name} vanished right after its recovery"))
            })?;
            Ok(recovered.meta())
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }

    async fn purge_secret(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        let op = "secrets.purge_secret";
        let run = async {
            let name = Self::name(name)?;
            confirm.check("secret", &name)?;
            if self.deleted(&name).await?.is_none() {
                // A live secret is soft-deleted first: Key Vault purges deleted secrets only.
                if self.delete_secret_with_recovery(&name).await?.is_none() {
                    return Ok(Deleted::AlreadyGone);
                }
            }
            tracing::warn!(secret = %name, "azure: purging a Key Vault secret (irreversible), as confirmed by name");
            let url = self.url(&format!("/deletedsecrets/{name}"), &[]);
            let resp = self.call(Method::DELETE, &url, None).await?;
            match resp.status {
                200 | 204 => {}
                404 => return Ok(Deleted::AlreadyGone),
                _ => return Err(resp.json_error()),
            }
            self.settle("the purge", || async {
                Ok(self.deleted(&name).await?.is_none())
            })
            .await?;
            Ok(Deleted::Deleted)
        };
        run.await.map_err(|e| Self::err(e, op, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles() {
        let v = json!({
            "value": "s3cret",
            "id": "https://v.vault.azure.net/secrets/db-pass/0123456789abcdef0123456789abcdef",
            "tags": {"provisio:tenant": "acme"},
            "attributes": {"enabled": true, "recoveryLevel": "Recoverable+Purgeable"}
        });
        let b = Bundle::parse(&v, false);
        assert_eq!(b.name, "db-pass");
        assert_eq!(b.version, "0123456789abcdef0123456789abcdef");
        assert_eq!(b.tags["provisio:tenant"], "acme");
        assert!(!format!("{:?}", b.meta()).contains("s3cret"));
        let d = json!({
            "id": "https://v.vault.azure.net/secrets/db-pass/0123",
            "recoveryId": "https://v.vault.azure.net/deletedsecrets/db-pass",
            "deletedDate": 1_700_000_000, "scheduledPurgeDate": 1_707_776_000,
            "attributes": {"recoveryLevel": "Recoverable+Purgeable"}
        });
        let b = Bundle::parse(&d, true);
        let info = b.deleted.clone().unwrap();
        assert_eq!(info.scheduled_purge_date, Some(1_707_776_000));
        assert!(b.meta().deleted);
    }
}
