//! In-memory secret store with Key Vault's soft delete.

use crate::faults::{Base, Changed, Faults, Read, Wrote, hex_id};
use crate::inventory::Inventory;
use provisio::secrets::{
    SecretMeta, SecretStore, SecretValue, SecretsCapabilities, check_recovery_days,
};
use provisio::{
    Confirm, Deleted, Ensured, Error, Page, PageRequest, Provider, ProviderInfo, Result,
    SecretString, Tags, async_trait, validate,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The default (and largest) page of [`SecretStore::list_secrets`] (Key Vault's `maxresults`).
pub const MAX_PAGE_SIZE: u32 = 25;
const DAY: Duration = Duration::from_secs(86_400);

struct Version {
    id: String,
    value: SecretString,
}

struct Deletion {
    /// When the recovery window ends and the secret is purged (Key Vault's
    /// `scheduledPurgeDate`).
    purge_at: Instant,
    recovery_days: u32,
}

struct SecretRec {
    versions: Vec<Version>,
    tags: Tags,
    deleted: Option<Deletion>,
}

impl SecretRec {
    fn current(&self) -> &Version {
        self.versions
            .last()
            .expect("a secret has at least one version")
    }
    fn meta(&self, name: &str) -> SecretMeta {
        SecretMeta {
            name: name.to_string(),
            version: self.current().id.clone(),
            tags: self.tags.clone(),
            deleted: self.deleted.is_some(),
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    secrets: BTreeMap<String, SecretRec>,
    versions_made: u64,
}

impl State {
    /// Purges soft-deleted secrets whose recovery window has passed (Key Vault's
    /// `scheduledPurgeDate`).
    fn sweep(&mut self, now: Instant) {
        self.secrets.retain(|_, r| match &r.deleted {
            Some(d) => now < d.purge_at,
            None => true,
        });
    }
}

/// An in-memory secret store with Key Vault's rules: versions with 32-hex ids, soft delete with
/// a recovery window, `Conflict` ("recover or purge") when writing a soft-deleted name, and a
/// purge that needs a [`Confirm`] naming the secret.
///
/// Values are held as [`SecretString`]s and never appear in `Debug`, errors or the inventory
/// (which shows a fingerprint).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use provisio::{SecretStore, SecretString, Tags, Outcome};
/// let kv = provisio_memory::MemorySecrets::new();
/// let pw = SecretString::new("s3cr3t");
/// assert_eq!(kv.put_secret("acme-db", &pw, &Tags::new()).await.unwrap().outcome, Outcome::Created);
/// assert_eq!(kv.put_secret("acme-db", &pw, &Tags::new()).await.unwrap().outcome, Outcome::Unchanged);
/// assert_eq!(kv.get_secret("acme-db").await.unwrap().value.expose(), "s3cr3t");
/// # });
/// ```
pub struct MemorySecrets {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl std::fmt::Debug for MemorySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        let names: Vec<&String> = s.secrets.keys().collect();
        f.debug_struct("MemorySecrets")
            .field("account", &self.base.account)
            .field("secrets", &names)
            .finish()
    }
}

impl Default for MemorySecrets {
    fn default() -> Self {
        Self::new()
    }
}

/// The store has paths, as AWS Secrets Manager (see [`crate::names::path_capable_secret`]).
fn secret_name(name: &str) -> Result<String> {
    crate::names::path_capable_secret("secret name", name)
}

impl MemorySecrets {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-secrets";

    /// An empty store with no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A store using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemorySecrets {
            base: Base::new(
                faults,
                Self::DEFAULT_ACCOUNT,
                crate::persist::Section::Secrets,
            ),
            state: Mutex::new(State::default()),
        }
    }

    /// The same store acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.sweep(Instant::now());
        s
    }

    /// The ids of every version of a secret, oldest first (also when soft-deleted).
    pub fn versions(&self, name: &str) -> Vec<String> {
        self.lock()
            .secrets
            .get(name)
            .map(|r| r.versions.iter().map(|v| v.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every live secret (`secrets.secret`): the fingerprint of its value and its tags.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, r) in s.secrets.iter().filter(|(_, r)| r.deleted.is_none()) {
            inv.insert(
                "secrets.secret",
                name.clone(),
                json!({ "fingerprint": r.current().value.fingerprint(), "tags": r.tags }),
            );
        }
        inv
    }

    /// Every soft-deleted secret (`secrets.deleted_secret`), with its recovery window.
    pub fn retired(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, r) in &s.secrets {
            if let Some(d) = &r.deleted {
                inv.insert(
                    "secrets.deleted_secret",
                    name.clone(),
                    json!({
                        "fingerprint": r.current().value.fingerprint(),
                        "tags": r.tags,
                        "recovery_days": d.recovery_days,
                    }),
                );
            }
        }
        inv
    }

    /// The `n`-th version this store makes (counting from 1).
    fn new_version(&self, n: u64, name: &str, value: &SecretString) -> Version {
        Version {
            id: hex_id(
                &[
                    &self.base.faults.seed().to_be_bytes(),
                    b"secret-version",
                    name.as_bytes(),
                    &n.to_be_bytes(),
                ],
                32,
            ),
            value: value.clone(),
        }
    }
}

/// The checks of a write: the name (returned normalised), the tags, a non-empty value.
fn checked_secret(name: &str, value: &SecretString, tags: &Tags) -> Result<String> {
    let name = secret_name(name)?;
    validate::tags("secret tags", tags)?;
    if value.is_empty() {
        return Err(Error::invalid_field("secret value", "must not be empty"));
    }
    Ok(name)
}

/// Stores a new secret with its first version.
fn insert_new(s: &mut State, name: String, first: Version, tags: &Tags) -> SecretMeta {
    s.versions_made += 1;
    let r = SecretRec {
        versions: vec![first],
        tags: tags.clone(),
        deleted: None,
    };
    let meta = r.meta(&name);
    s.secrets.insert(name, r);
    meta
}

fn deleted_conflict(name: &str) -> Error {
    Error::conflict(format!(
        "secret {name} is deleted but recoverable (ObjectIsDeletedButRecoverable): recover or purge it first"
    ))
}

/// The secret store's part of a [`crate::MemorySnapshot`]: every secret with every version's
/// value (this is the store's own storage, so the values are kept), its tags, and for a
/// soft-deleted secret its recovery window and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SecretsSnapshot {
    secrets: Vec<SecretSnapshot>,
    versions_made: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSnapshot {
    name: String,
    tags: Tags,
    /// Oldest first; the last one is current.
    versions: Vec<VersionSnapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<DeletionSnapshot>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct VersionSnapshot {
    id: String,
    value: crate::snapshot::StoredSecret,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeletionSnapshot {
    recovery_days: u32,
    /// How long until it is purged.
    purge_in: Duration,
}

impl MemorySecrets {
    /// Everything this store holds (after purging what is due).
    pub(crate) fn snapshot(&self) -> SecretsSnapshot {
        let now = Instant::now();
        let s = self.lock();
        SecretsSnapshot {
            secrets: s
                .secrets
                .iter()
                .map(|(name, r)| SecretSnapshot {
                    name: name.clone(),
                    tags: r.tags.clone(),
                    versions: r
                        .versions
                        .iter()
                        .map(|v| VersionSnapshot {
                            id: v.id.clone(),
                            value: crate::snapshot::StoredSecret(v.value.clone()),
                        })
                        .collect(),
                    deleted: r.deleted.as_ref().map(|d| DeletionSnapshot {
                        recovery_days: d.recovery_days,
                        purge_in: d.purge_at.saturating_duration_since(now),
                    }),
                })
                .collect(),
            versions_made: s.versions_made,
        }
    }

    /// Replaces everything this store holds with `snap`; recovery windows count from now.
    pub(crate) fn prepare_restore(&self, snap: SecretsSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        let now = Instant::now();
        let mut secrets = BTreeMap::new();
        for r in snap.secrets {
            if r.versions.is_empty() {
                return Err(corrupt(format!("secret {} has no version", r.name)));
            }
            let deleted = match r.deleted {
                Some(d) => Some(Deletion {
                    purge_at: now + bounded("secret purge_in", d.purge_in)?,
                    recovery_days: d.recovery_days,
                }),
                None => None,
            };
            let rec = SecretRec {
                versions: r
                    .versions
                    .into_iter()
                    .map(|v| Version {
                        id: v.id,
                        value: v.value.0,
                    })
                    .collect(),
                tags: r.tags,
                deleted,
            };
            if secrets.insert(r.name.clone(), rec).is_some() {
                return Err(corrupt(format!("secret {} appears twice", r.name)));
            }
        }
        Ok(State {
            secrets,
            versions_made: snap.versions_made,
        })
    }

    /// Installs a state made by [`MemorySecrets::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemorySecrets {
    type JsonCache = ();
    type Snapshot = SecretsSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> SecretsSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: SecretsSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut SecretsSnapshot, elapsed: Duration) {
        for d in snap.secrets.iter_mut().filter_map(|s| s.deleted.as_mut()) {
            d.purge_in = d.purge_in.saturating_sub(elapsed);
        }
    }
    fn longest_clock(snap: &SecretsSnapshot) -> Option<Duration> {
        snap.secrets
            .iter()
            .filter_map(|s| s.deleted.as_ref().map(|d| d.purge_in))
            .filter(|d| !d.is_zero())
            .max()
    }
}

impl Provider for MemorySecrets {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(&[provisio::validate::NameKind::Secret], kind, field, value)
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    fn capabilities(&self) -> SecretsCapabilities {
        SecretsCapabilities {
            soft_delete: true,
            custom_recovery_window: true,
            tags: true,
        }
    }

    async fn put_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Ensured<SecretMeta>> {
        self.base
            .run("secrets.put_secret", name, async {
                let name = checked_secret(name, value, tags)?;
                let mut s = self.lock();
                if s.secrets.get(&name).is_some_and(|r| r.deleted.is_some()) {
                    return Err(deleted_conflict(&name));
                }
                // The version counter moves only when a version is made, so putting what
                // exists leaves the store exactly as it was.
                let version = self.new_version(s.versions_made + 1, &name, value);
                match s.secrets.get_mut(&name) {
                    Some(r) => {
                        let same_value = r.current().value.expose() == value.expose();
                        let same_tags = provisio::types::tags_match(&r.tags, tags);
                        if same_value && same_tags {
                            return Ok(Ensured::unchanged(r.meta(&name)));
                        }
                        r.tags.extend(tags.clone());
                        if !same_value {
                            r.versions.push(version);
                        }
                        let meta = r.meta(&name);
                        if !same_value {
                            s.versions_made += 1;
                        }
                        Ok(Ensured::updated(meta))
                    }
                    None => Ok(Ensured::created(insert_new(&mut s, name, version, tags))),
                }
            })
            .await
    }

    /// Atomic, like Secrets Manager's `CreateSecret` (which refuses a name in use, live or
    /// soft-deleted); reports to the engine whether the secret was there.
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretString,
        tags: &Tags,
    ) -> Result<Option<SecretMeta>> {
        self.base
            .run("secrets.create_secret", name, async {
                let name = checked_secret(name, value, tags)?;
                let mut s = self.lock();
                let taken = s.secrets.contains_key(&name);
                provisio::existence::found(taken);
                if taken {
                    return Ok(Wrote(None));
                }
                let version = self.new_version(s.versions_made + 1, &name, value);
                Ok(Wrote(Some(insert_new(&mut s, name, version, tags))))
            })
            .await
    }

    async fn get_secret(&self, name: &str) -> Result<SecretValue> {
        self.base
            .run("secrets.get_secret", name, async {
                let name = secret_name(name)?;
                let s = self.lock();
                match s.secrets.get(&name) {
                    Some(r) if r.deleted.is_none() => Ok(Read(SecretValue {
                        value: r.current().value.clone(),
                        version: r.current().id.clone(),
                    })),
                    Some(_) => Err(Error::not_found(format!(
                        "secret {name} is soft-deleted: recover or purge it"
                    ))),
                    None => Err(Error::not_found(format!(
                        "secret {name} does not exist (SecretNotFound)"
                    ))),
                }
            })
            .await
    }

    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>> {
        self.base
            .run("secrets.describe_secret", name, async {
                let name = secret_name(name)?;
                Ok(Read(self.lock().secrets.get(&name).map(|r| r.meta(&name))))
            })
            .await
    }

    async fn list_secrets(&self, prefix: &str, page: &PageRequest) -> Result<Page<SecretMeta>> {
        self.base
            .run("secrets.list_secrets", prefix, async {
                let s = self.lock();
                let items = s
                    .secrets
                    .iter()
                    .filter(|(n, r)| r.deleted.is_none() && n.starts_with(prefix))
                    .map(|(n, r)| (n.clone(), r.meta(n)));
                Ok(Read(crate::paging::page(
                    items,
                    page,
                    MAX_PAGE_SIZE,
                    MAX_PAGE_SIZE,
                )?))
            })
            .await
    }

    async fn delete_secret(&self, name: &str, recovery_days: u32) -> Result<Deleted> {
        self.base
            .run("secrets.delete_secret", name, async {
                let name = secret_name(name)?;
                check_recovery_days(recovery_days)?;
                let mut s = self.lock();
                Ok(match s.secrets.get_mut(&name) {
                    Some(r) if r.deleted.is_none() => {
                        r.deleted = Some(Deletion {
                            purge_at: Instant::now() + DAY * recovery_days,
                            recovery_days,
                        });
                        Deleted::Deleted
                    }
                    _ => Deleted::AlreadyGone,
                })
            })
            .await
    }

    async fn recover_secret(&self, name: &str) -> Result<SecretMeta> {
        self.base
            .run("secrets.recover_secret", name, async {
                let name = secret_name(name)?;
                let mut s = self.lock();
                match s.secrets.get_mut(&name) {
                    Some(r) if r.deleted.is_some() => {
                        r.deleted = None;
                        Ok(Changed(r.meta(&name)))
                    }
                    Some(_) => Err(Error::not_found(format!(
                        "secret {name} is not deleted: nothing to recover"
                    ))),
                    None => Err(Error::not_found(format!(
                        "no deleted secret {name} to recover"
                    ))),
                }
            })
            .await
    }

    async fn purge_secret(&self, name: &str, confirm: &Confirm) -> Result<Deleted> {
        self.base
            .run("secrets.purge_secret", name, async {
                let name = secret_name(name)?;
                confirm.check("secret", &name)?;
                Ok(match self.lock().secrets.remove(&name) {
                    Some(_) => Deleted::Deleted,
                    None => Deleted::AlreadyGone,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome};

    #[tokio::test]
    async fn versions_and_values() {
        let kv = MemorySecrets::new();
        let a = kv
            .put_secret("acme-db", &SecretString::new("one"), &Tags::new())
            .await
            .unwrap();
        assert_eq!(a.outcome, Outcome::Created);
        assert_eq!(a.value.version.len(), 32);
        let same = kv
            .put_secret("acme-db", &SecretString::new("one"), &Tags::new())
            .await
            .unwrap();
        assert_eq!(same.outcome, Outcome::Unchanged);
        assert_eq!(same.value.version, a.value.version);
        let b = kv
            .put_secret("acme-db", &SecretString::new("two"), &Tags::new())
            .await
            .unwrap();
        assert_eq!(b.outcome, Outcome::Updated);
        assert_ne!(b.value.version, a.value.version);
        let v = kv.get_secret("acme-db").await.unwrap();
        assert_eq!(v.value.expose(), "two");
        assert_eq!(v.version, b.value.version);
        assert_eq!(kv.versions("acme-db").len(), 2);
        assert_eq!(
            kv.get_secret("nope").await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        assert_eq!(
            kv.put_secret("bad name", &SecretString::new("x"), &Tags::new())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
        let dbg = format!("{kv:?} {:?} {}", kv.inventory(), kv.inventory());
        assert!(!dbg.contains("two") && !dbg.contains("one"), "{dbg}");
        assert!(dbg.contains("acme-db"));
    }

    #[tokio::test]
    async fn soft_delete_recover_purge() {
        let kv = MemorySecrets::new();
        let pw = SecretString::new("pw");
        kv.put_secret("s1", &pw, &Tags::new()).await.unwrap();
        let before = kv.inventory();
        assert_eq!(
            kv.delete_secret("s1", 3).await.unwrap_err().kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(kv.delete_secret("s1", 7).await.unwrap(), Deleted::Deleted);
        assert_eq!(
            kv.delete_secret("s1", 7).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            kv.delete_secret("zz", 7).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(
            kv.get_secret("s1").await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        let e = kv.put_secret("s1", &pw, &Tags::new()).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.message().contains("recover or purge"));
        assert!(kv.describe_secret("s1").await.unwrap().unwrap().deleted);
        assert!(
            kv.list_secrets("", &PageRequest::first())
                .await
                .unwrap()
                .items
                .is_empty()
        );
        assert!(kv.inventory().is_empty());
        assert_eq!(kv.retired().count("secrets.deleted_secret"), 1);
        let r = kv.recover_secret("s1").await.unwrap();
        assert!(!r.deleted);
        assert_eq!(kv.inventory(), before);
        assert_eq!(
            kv.recover_secret("s1").await.unwrap_err().kind(),
            &ErrorKind::NotFound
        );
        // purge needs a confirmation naming it
        let e = kv
            .purge_secret("s1", &Confirm::named("s2"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Protected);
        assert_eq!(kv.get_secret("s1").await.unwrap().value.expose(), "pw");
        assert_eq!(
            kv.purge_secret("s1", &Confirm::named("s1")).await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            kv.purge_secret("s1", &Confirm::named("s1")).await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(kv.describe_secret("s1").await.unwrap(), None);
        assert!(kv.retired().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn window_expiry_purges_and_listing_pages() {
        let kv = MemorySecrets::new();
        for i in 0..30 {
            kv.put_secret(
                &format!("app-{i:02}"),
                &SecretString::new("v"),
                &Tags::new(),
            )
            .await
            .unwrap();
        }
        kv.put_secret("other", &SecretString::new("v"), &Tags::new())
            .await
            .unwrap();
        let p = kv
            .list_secrets("app-", &PageRequest::first())
            .await
            .unwrap();
        assert_eq!(p.items.len(), 25);
        let p2 = kv
            .list_secrets("app-", &PageRequest::first().next(&p).unwrap())
            .await
            .unwrap();
        assert_eq!(p2.items.len(), 5);
        assert!(p2.next.is_none());
        kv.delete_secret("other", 7).await.unwrap();
        tokio::time::advance(DAY * 7).await;
        assert_eq!(kv.describe_secret("other").await.unwrap(), None);
        kv.put_secret("other", &SecretString::new("v"), &Tags::new())
            .await
            .unwrap();
    }
}
