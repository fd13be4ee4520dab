//! Secrets Manager as a [`SecretStore`].
//!
//! * `put_secret` of a new secret is one `CreateSecret` carrying the tags (and the
//!   `ClientRequestToken` the SDK generates per call and keeps across its own retry attempts).
//!   An existing secret (`ResourceExistsException`) is described and its value read;
//!   `TagResource` and `PutSecretValue` follow only for what differs, and the same value is
//!   `Unchanged` and keeps the version. A create retried by the engine after a lost answer
//!   therefore finds the secret and reports it `Unchanged`. The token is deliberately not
//!   derived from the name: Secrets Manager answers a `CreateSecret` repeated with the same
//!   token and value with success, so a second put of the same value would look `Created`.
//! * `delete_secret` always schedules the deletion with a recovery window (7 to 30 days);
//!   `recover_secret` is `RestoreSecret`.
//! * `purge_secret` is the only way to `ForceDeleteWithoutRecovery`, and only with a
//!   [`Confirm`] naming the secret.
//! * Names follow Secrets Manager's own rule ([`validate::aws_secret_name`]): path-style names
//!   such as `tenants/acme/db-password` are fine here, though Key Vault would refuse them.

use crate::config::AwsConfig;
use crate::error::{PROVIDER, classify, code, located};
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use provisio::secrets::{SecretMeta, SecretValue, SecretsCapabilities, check_recovery_days};
use provisio::validate::NameKind;
use provisio::{
    Confirm, Deleted, Ensured, Error, ErrorKind, Page, PageRequest, Provider, ProviderInfo, Result,
    SecretStore, SecretString, Tags, validate,
};
use std::collections::HashMap;

/// Secrets Manager secrets.
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
    info: ProviderInfo,
}

fn secret_name(name: &str) -> Result<String> {
    validate::aws_secret_name("secret name", name)
}

fn tags_of(tags: &[Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

fn current_version(map: Option<&HashMap<String, Vec<String>>>) -> String {
    map.and_then(|m| {
        m.iter()
            .find(|(_, stages)| stages.iter().any(|s| s == "AWSCURRENT"))
            .map(|(v, _)| v.clone())
    })
    .unwrap_or_default()
}

fn sdk_tags(tags: &Tags) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn err(kind: ErrorKind, msg: String, op: &str, name: &str) -> Error {
    Error::new(kind, msg)
        .with_provider(PROVIDER)
        .with_operation(op)
        .with_resource(name)
}

impl SecretsManagerStore {
    /// Wraps a Secrets Manager client (built by [`crate::Aws`], or a mock in tests).
    pub fn from_client(client: Client, config: &AwsConfig, account: impl Into<String>) -> Self {
        SecretsManagerStore {
            client,
            info: config.provider_info(crate::config::Service::SecretsManager, &account.into()),
        }
    }

    /// Validates and sends one `CreateSecret`; "already exists" (live, or scheduled for
    /// deletion: AWS says `InvalidRequestException` then, moto `ResourceExistsException`) is
    /// `None`.
    async fn try_create(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
        op: &str,
    ) -> Result<Option<SecretMeta>> {
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        validate::tags("secret tags", tags).map_err(|e| located(e, op, &name))?;
        if value.is_empty() {
            return Err(located(
                Error::invalid_field("secret value", "must not be empty"),
                op,
                &name,
            ));
        }
        let created = self
            .client
            .create_secret()
            .name(&name)
            .secret_string(value.expose())
            .set_tags(if tags.is_empty() {
                None
            } else {
                Some(sdk_tags(tags))
            })
            .send()
            .await;
        match created {
            Ok(out) => Ok(Some(SecretMeta {
                version: out.version_id().unwrap_or_default().to_string(),
                name,
                tags: tags.clone(),
                deleted: false,
            })),
            Err(e)
                if matches!(
                    code(&e),
                    Some("ResourceExistsException" | "InvalidRequestException")
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify(e, op, &name)),
        }
    }

    async fn describe(&self, name: &str, op: &str) -> Result<Option<SecretMeta>> {
        match self.client.describe_secret().secret_id(name).send().await {
            Ok(out) => Ok(Some(SecretMeta {
                name: out.name().unwrap_or(name).to_string(),
                version: current_version(out.version_ids_to_stages()),
                tags: tags_of(out.tags()),
                deleted: out.deleted_date().is_some(),
            })),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(classify(e, op, name)),
        }
    }

    async fn force_delete(&self, name: &str, op: &str) -> Result<()> {
        self.client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| classify(e, op, name))?;
        Ok(())
    }
}

impl Provider for SecretsManagerStore {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn check_name(&self, kind: NameKind, field: &str, value: &str) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

#[provisio::async_trait]
impl SecretStore for SecretsManagerStore {
    fn capabilities(&self) -> SecretsCapabilities {
        SecretsCapabilities {
            soft_delete: true,
            custom_recovery_window: true,
            tags: true,
        }
    }

    /// One `CreateSecret`; "already exists" (live or scheduled for deletion) is `None`.
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Option<SecretMeta>> {
        let op = "secrets.create_secret";
        let created = self.try_create(name, value, tags, op).await?;
        if created.is_some() {
            provisio::existence::found(false);
        }
        Ok(created)
    }

    async fn put_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Ensured<SecretMeta>> {
        let op = "secrets.put_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        let meta = match self.try_create(&name, value, tags, op).await? {
            Some(created) => return Ok(Ensured::created(created)),
            // It exists (live, or scheduled for deletion): continue as an update of it.
            None => self.describe(&name, op).await?.ok_or_else(|| {
                err(
                    ErrorKind::Transient,
                    format!("secret {name:?} exists but cannot be described yet"),
                    op,
                    &name,
                )
            })?,
        };
        if meta.deleted {
            return Err(err(
                ErrorKind::Conflict,
                format!(
                    "secret {name:?} is scheduled for deletion; recover it (recover_secret) or purge it first"
                ),
                op,
                &name,
            ));
        }
        let mut changed = false;
        if !provisio::types::tags_match(&meta.tags, tags) {
            self.client
                .tag_resource()
                .secret_id(&name)
                .set_tags(Some(sdk_tags(tags)))
                .send()
                .await
                .map_err(|e| classify(e, op, &name))?;
            changed = true;
        }
        let current = self
            .client
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| classify(e, op, &name))?;
        let same = current.secret_string() == Some(value.expose());
        let mut merged = meta.tags.clone();
        merged.extend(tags.clone());
        if same {
            let meta = SecretMeta {
                version: current.version_id().unwrap_or(&meta.version).to_string(),
                tags: merged,
                ..meta
            };
            return Ok(if changed {
                Ensured::updated(meta)
            } else {
                Ensured::unchanged(meta)
            });
        }
        let out = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(value.expose())
            .send()
            .await
            .map_err(|e| classify(e, op, &name))?;
        Ok(Ensured::updated(SecretMeta {
            name: name.clone(),
            version: out.version_id().unwrap_or_default().to_string(),
            tags: merged,
            deleted: false,
        }))
    }

    async fn get_secret(&self, name: &str) -> Result<SecretValue> {
        let op = "secrets.get_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        match self.client.get_secret_value().secret_id(&name).send().await {
            Ok(out) => Ok(SecretValue {
                value: SecretString::new(out.secret_string().unwrap_or_default()),
                version: out.version_id().unwrap_or_default().to_string(),
            }),
            // Secrets Manager refuses reads of a secret scheduled for deletion with
            // InvalidRequestException; to a caller it is not there.
            Err(e) if code(&e) == Some("InvalidRequestException") => Err(err(
                ErrorKind::NotFound,
                format!("secret {name:?} is scheduled for deletion"),
                op,
                &name,
            )),
            Err(e) => Err(classify(e, op, &name)),
        }
    }

    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>> {
        let op = "secrets.describe_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        self.describe(&name, op).await
    }

    async fn list_secrets(&self, prefix: &str, page: &PageRequest) -> Result<Page<SecretMeta>> {
        let op = "secrets.list_secrets";
        if let Some(c) = prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
        {
            // A prefix is the start of a name: the name's characters, no other rule.
            return Err(located(
                Error::invalid_field(
                    "prefix",
                    format!(
                        "{prefix:?} contains {c:?}; secret names use letters, digits and /_+=.@-"
                    ),
                ),
                op,
                prefix,
            ));
        }
        let limit = page.limit.unwrap_or(100).clamp(1, 100);
        let mut req = self
            .client
            .list_secrets()
            .max_results(limit as i32)
            .set_next_token(page.token.clone());
        if !prefix.is_empty() {
            req = req.filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(prefix)
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| classify(e, op, prefix))?;
        // The name filter is a case-insensitive prefix match: keep exact prefixes only.
        let items = out
            .secret_list()
            .iter()
            .filter(|s| s.deleted_date().is_none())
            .filter_map(|s| {
                let name = s.name()?;
                name.starts_with(prefix).then(|| SecretMeta {
                    name: name.to_string(),
                    version: current_version(s.secret_versions_to_stages()),
                    tags: tags_of(s.tags()),
                    deleted: false,
                })
            })
            .take(limit as usize)
            .collect();
        Ok(Page {
            items,
            next: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }

    async fn delete_secret(&self, name: &str, recovery_days: u32) -> Result<Deleted> {
        let op = "secrets.delete_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        check_recovery_days(recovery_days).map_err(|e| located(e, op, &name))?;
        // One DeleteSecret: an unknown name answers ResourceNotFoundException; one already
        // scheduled for deletion InvalidRequestException, told apart by a describe.
        match self
            .client
            .delete_secret()
            .secret_id(&name)
            .recovery_window_in_days(i64::from(recovery_days))
            .send()
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(e) if code(&e) == Some("ResourceNotFoundException") => Ok(Deleted::AlreadyGone),
            Err(e) if code(&e) == Some("InvalidRequestException") => {
                match self.describe(&name, op).await? {
                    None => Ok(Deleted::AlreadyGone),
                    Some(m) if m.deleted => Ok(Deleted::AlreadyGone),
                    Some(_) => Err(classify(e, op, &name)),
                }
            }
            Err(e) => Err(classify(e, op, &name)),
        }
    }

    async fn recover_secret(&self, name: &str) -> Result<SecretMeta> {
        let op = "secrets.recover_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        let meta = match self.describe(&name, op).await? {
            Some(m) if m.deleted => m,
            Some(_) => {
                return Err(err(
                    ErrorKind::NotFound,
                    format!("secret {name:?} is not deleted: nothing to recover"),
                    op,
                    &name,
                ));
            }
            None => {
                return Err(err(
                    ErrorKind::NotFound,
                    format!("secret {name:?} does not exist"),
                    op,
                    &name,
                ));
            }
        };
        self.client
            .restore_secret()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| classify(e, op, &name))?;
        // Restoring changes nothing but the deletion mark: no need to describe it again.
        Ok(SecretMeta {
            deleted: false,
            ..meta
        })
    }

    async fn purge_secret(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        let op = "secrets.purge_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        confirm
            .check("secret", &name)
            .map_err(|e| located(e, op, &name))?;
        if self.describe(&name, op).await?.is_none() {
            return Ok(Deleted::AlreadyGone);
        }
        tracing::warn!(secret = %name, "purging a secret without recovery, as confirmed by name");
        match self.force_delete(&name, op).await {
            Ok(()) => Ok(Deleted::Deleted),
            Err(e) if e.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            // Some endpoints refuse a forced delete of a secret already scheduled for
            // deletion: restore it, then delete it for good.
            Err(e) if e.kind() == &ErrorKind::Conflict => {
                self.client
                    .restore_secret()
                    .secret_id(&name)
                    .send()
                    .await
                    .map_err(|e| classify(e, op, &name))?;
                self.force_delete(&name, op).await?;
                Ok(Deleted::Deleted)
            }
            Err(e) => Err(e),
        }
    }
}
