//! Secrets Manager as a [`SecretStore`].
//!
//! * `put_secret` of a new secret is one `CreateSecret` carrying the tags (and a random
//!   `ClientRequestToken` per call, kept across the client's own retry attempts, as the SDKs do).
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
use crate::error::{PROVIDER, located};
use crate::wire::Client;
use crate::wire::json::{Reply, tag_list, tags_of};
use provisio::layer::Safety;
use provisio::secrets::{SecretMeta, SecretValue, SecretsCapabilities, check_recovery_days};
use provisio::validate::NameKind;
use provisio::{
    Confirm, Deleted, Ensured, Error, ErrorKind, Page, PageRequest, Provider, ProviderInfo, Result,
    SecretStore, SecretString, Tags, validate,
};
use serde_json::{Value, json};

/// Secrets Manager secrets.
#[derive(Debug, Clone)]
pub struct SecretsManagerStore {
    client: Client,
    info: ProviderInfo,
}

fn secret_name(name: &str) -> Result<String> {
    validate::aws_secret_name("secret name", name)
}

/// The version labelled `AWSCURRENT` in a version-to-stages map (`field` of `out`).
fn current_version(out: &Value, field: &str) -> String {
    out.get(field)
        .and_then(Value::as_object)
        .and_then(|m| {
            m.iter()
                .find(|(_, stages)| {
                    stages
                        .as_array()
                        .is_some_and(|s| s.iter().any(|s| s == "AWSCURRENT"))
                })
                .map(|(v, _)| v.clone())
        })
        .unwrap_or_default()
}

/// A string field of an answer, or "".
fn text<'a>(out: &'a Value, field: &str) -> &'a str {
    out.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// A fresh `ClientRequestToken` (a random UUID, as the SDKs make one per call): the version id
/// of the value written, the same across the client's own retries of that call.
fn request_token() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

fn err(kind: ErrorKind, msg: String, op: &str, name: &str) -> Error {
    Error::new(kind, msg)
        .with_provider(PROVIDER)
        .with_operation(op)
        .with_resource(name)
}

/// The output of a call that must succeed.
fn done(reply: Reply, op: &str, name: &str) -> Result<Value> {
    match reply {
        Reply::Done(out) => Ok(out),
        Reply::Refused(code) => Err(err(
            crate::error::kind_for(Some(&code), Some(400)),
            code,
            op,
            name,
        )),
    }
}

impl SecretsManagerStore {
    /// A Secrets Manager provider on `client` (built by [`crate::Aws::secrets`]).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        SecretsManagerStore {
            client,
            info: config.provider_info(crate::config::Service::SecretsManager, account),
        }
    }

    /// Calls `target` with `input`; the answers with a code in `expected` come back refused.
    async fn call(
        &self,
        target: &str,
        input: Value,
        expected: &[&'static str],
        op: &str,
        name: &str,
    ) -> Result<Reply> {
        self.client
            .json(target, &input, Safety::Idempotent, expected, op, name)
            .await
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
        let mut input = json!({
            "Name": name,
            "SecretString": value.expose(),
            "ClientRequestToken": request_token(),
        });
        if !tags.is_empty() {
            input["Tags"] = tag_list(tags);
        }
        let expected = ["ResourceExistsException", "InvalidRequestException"];
        match self
            .call("CreateSecret", input, &expected, op, &name)
            .await?
        {
            Reply::Done(out) => Ok(Some(SecretMeta {
                version: text(&out, "VersionId").to_string(),
                name,
                tags: tags.clone(),
                deleted: false,
            })),
            Reply::Refused(_) => Ok(None),
        }
    }

    async fn describe(&self, name: &str, op: &str) -> Result<Option<SecretMeta>> {
        let input = json!({ "SecretId": name });
        let expected = ["ResourceNotFoundException"];
        match self
            .call("DescribeSecret", input, &expected, op, name)
            .await?
        {
            Reply::Done(out) => Ok(Some(SecretMeta {
                name: out
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or(name)
                    .to_string(),
                version: current_version(&out, "VersionIdsToStages"),
                tags: tags_of(&out),
                deleted: out.get("DeletedDate").is_some_and(|d| !d.is_null()),
            })),
            Reply::Refused(_) => Ok(None),
        }
    }

    async fn force_delete(&self, name: &str, op: &str) -> Result<()> {
        let input = json!({ "SecretId": name, "ForceDeleteWithoutRecovery": true });
        done(
            self.call("DeleteSecret", input, &[], op, name).await?,
            op,
            name,
        )?;
        Ok(())
    }

    async fn restore(&self, name: &str, op: &str) -> Result<()> {
        let input = json!({ "SecretId": name });
        done(
            self.call("RestoreSecret", input, &[], op, name).await?,
            op,
            name,
        )?;
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
            let input = json!({ "SecretId": name, "Tags": tag_list(tags) });
            done(
                self.call("TagResource", input, &[], op, &name).await?,
                op,
                &name,
            )?;
            changed = true;
        }
        let input = json!({ "SecretId": name });
        let current = done(
            self.call("GetSecretValue", input, &[], op, &name).await?,
            op,
            &name,
        )?;
        let same = current.get("SecretString").and_then(Value::as_str) == Some(value.expose());
        let mut merged = meta.tags.clone();
        merged.extend(tags.clone());
        if same {
            let meta = SecretMeta {
                version: current
                    .get("VersionId")
                    .and_then(Value::as_str)
                    .unwrap_or(&meta.version)
                    .to_string(),
                tags: merged,
                ..meta
            };
            return Ok(if changed {
                Ensured::updated(meta)
            } else {
                Ensured::unchanged(meta)
            });
        }
        let input = json!({
            "SecretId": name,
            "SecretString": value.expose(),
            "ClientRequestToken": request_token(),
        });
        let out = done(
            self.call("PutSecretValue", input, &[], op, &name).await?,
            op,
            &name,
        )?;
        Ok(Ensured::updated(SecretMeta {
            name: name.clone(),
            version: text(&out, "VersionId").to_string(),
            tags: merged,
            deleted: false,
        }))
    }

    async fn get_secret(&self, name: &str) -> Result<SecretValue> {
        let op = "secrets.get_secret";
        let name = secret_name(name).map_err(|e| located(e, op, name))?;
        let input = json!({ "SecretId": name });
        let expected = ["InvalidRequestException"];
        match self
            .call("GetSecretValue", input, &expected, op, &name)
            .await?
        {
            Reply::Done(out) => Ok(SecretValue {
                value: SecretString::new(text(&out, "SecretString")),
                version: text(&out, "VersionId").to_string(),
            }),
            // Secrets Manager refuses reads of a secret scheduled for deletion with
            // InvalidRequestException; to a caller it is not there.
            Reply::Refused(_) => Err(err(
                ErrorKind::NotFound,
                format!("secret {name:?} is scheduled for deletion"),
                op,
                &name,
            )),
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
        let mut input = json!({ "MaxResults": limit });
        if let Some(token) = &page.token {
            input["NextToken"] = json!(token);
        }
        if !prefix.is_empty() {
            input["Filters"] = json!([{ "Key": "name", "Values": [prefix] }]);
        }
        let out = done(
            self.call("ListSecrets", input, &[], op, prefix).await?,
            op,
            prefix,
        )?;
        // The name filter is a case-insensitive prefix match: keep exact prefixes only.
        let items = out
            .get("SecretList")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|s| s.get("DeletedDate").is_none_or(Value::is_null))
            .filter_map(|s| {
                let name = s.get("Name")?.as_str()?;
                name.starts_with(prefix).then(|| SecretMeta {
                    name: name.to_string(),
                    version: current_version(s, "SecretVersionsToStages"),
                    tags: tags_of(s),
                    deleted: false,
                })
            })
            .take(limit as usize)
            .collect();
        Ok(Page {
            items,
            next: out
                .get("NextToken")
                .and_then(Value::as_str)
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
        let input = json!({ "SecretId": name, "RecoveryWindowInDays": recovery_days });
        let expected = ["ResourceNotFoundException", "InvalidRequestException"];
        match self
            .call("DeleteSecret", input, &expected, op, &name)
            .await?
        {
            Reply::Done(_) => Ok(Deleted::Deleted),
            Reply::Refused(code) if code == "ResourceNotFoundException" => Ok(Deleted::AlreadyGone),
            Reply::Refused(code) => match self.describe(&name, op).await? {
                None => Ok(Deleted::AlreadyGone),
                Some(m) if m.deleted => Ok(Deleted::AlreadyGone),
                Some(_) => Err(err(
                    crate::error::kind_for(Some(&code), Some(400)),
                    code,
                    op,
                    &name,
                )),
            },
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
        self.restore(&name, op).await?;
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
                self.restore(&name, op).await?;
                self.force_delete(&name, op).await?;
                Ok(Deleted::Deleted)
            }
            Err(e) => Err(e),
        }
    }
}
