//! In-memory mail sending identities with SES's verification.

use crate::faults::{Base, Faults, Read, hash_bytes};
use crate::inventory::Inventory;
use provisio::dns::{RecordSpec, RecordType};
use provisio::mail::{
    IdentityKind, Mail, MailCapabilities, MailIdentity, VerificationStatus, identity_kind,
};
use provisio::{Deleted, Ensured, Provider, ProviderInfo, Result, Tags, async_trait, validate};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a new identity stays `pending` unless configured otherwise.
pub const DEFAULT_VERIFICATION_DELAY: Duration = Duration::from_millis(50);
/// The TTL of the DKIM records (what SES suggests).
pub const DKIM_TTL: u32 = 1800;

#[derive(Debug, Clone)]
struct IdentityRec {
    kind: IdentityKind,
    tags: Tags,
    created: Instant,
    delay: Option<Duration>,
    forced: Option<VerificationStatus>,
    dns_records: Vec<RecordSpec>,
}

impl IdentityRec {
    fn status(&self, now: Instant) -> VerificationStatus {
        if let Some(s) = self.forced {
            return s;
        }
        match self.delay {
            Some(d) if now >= self.created + d => VerificationStatus::Success,
            _ => VerificationStatus::Pending,
        }
    }
    fn view(&self, name: &str, now: Instant) -> MailIdentity {
        MailIdentity {
            name: name.to_string(),
            kind: self.kind,
            status: self.status(now),
            dns_records: self.dns_records.clone(),
            tags: self.tags.clone(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct State {
    identities: BTreeMap<String, IdentityRec>,
    delay: Option<Duration>,
}

/// In-memory sending identities with SES's rules: a name with `@` is an address, otherwise a
/// domain; a domain gets three DKIM CNAME records to publish; an identity is `pending` until the
/// verification delay passes (or [`MemoryMail::verify`] marks it verified).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use provisio::Mail;
/// use provisio::mail::VerificationStatus;
/// let ses = provisio_memory::MemoryMail::new();
/// let id = ses.ensure_identity("acme.example.com", &Default::default()).await.unwrap().value;
/// assert_eq!(id.dns_records.len(), 3);
/// assert_eq!(id.status, VerificationStatus::Pending);
/// ses.verify("acme.example.com");
/// let id = ses.get_identity("acme.example.com").await.unwrap().unwrap();
/// assert_eq!(id.status, VerificationStatus::Success);
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryMail {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryMail {
    fn default() -> Self {
        Self::new()
    }
}

/// The canonical form of an identity name: domains (and the domain part of addresses) in
/// lower-case punycode.
pub(crate) fn canonical(name: &str) -> Result<(String, IdentityKind)> {
    let kind = identity_kind(name)?;
    let name = match name.split_once('@') {
        Some((local, domain)) => {
            format!("{local}@{}", validate::hostname("mail identity", domain)?)
        }
        None => validate::hostname("mail identity", name)?,
    };
    Ok((name, kind))
}

impl MemoryMail {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-mail";

    /// A provider with no identities and no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A provider using the shared `faults`.
    pub fn with_faults(faults: Faults) -> Self {
        MemoryMail {
            base: Base::new(faults, Self::DEFAULT_ACCOUNT, crate::persist::Section::Mail),
            state: Mutex::new(State {
                identities: BTreeMap::new(),
                delay: Some(DEFAULT_VERIFICATION_DELAY),
            }),
        }
    }

    /// The same provider acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets how long identities created from now on stay `pending`; `None`: until
    /// [`MemoryMail::verify`].
    pub fn set_verification_delay(&self, delay: Option<Duration>) {
        self.lock().delay = delay;
    }

    /// Marks an identity verified now (as if its DNS records were seen or its link clicked).
    /// Returns whether the identity exists.
    pub fn verify(&self, name: &str) -> bool {
        self.set_status(name, VerificationStatus::Success)
    }

    /// Forces an identity's verification status (e.g. `Failed`). Returns whether it exists.
    pub fn set_status(&self, name: &str, status: VerificationStatus) -> bool {
        let Ok((name, _)) = canonical(name) else {
            return false;
        };
        match self.lock().identities.get_mut(&name) {
            Some(r) => {
                r.forced = Some(status);
                true
            }
            None => false,
        }
    }

    /// Every identity (`mail.identity`) with its kind and tags.
    pub fn inventory(&self) -> Inventory {
        let s = self.lock();
        let mut inv = Inventory::new();
        for (name, r) in &s.identities {
            inv.insert(
                "mail.identity",
                name.clone(),
                json!({ "kind": r.kind, "tags": r.tags }),
            );
        }
        inv
    }

    /// Nothing is retired in mail.
    pub fn retired(&self) -> Inventory {
        Inventory::new()
    }

    fn dkim_records(&self, domain: &str) -> Vec<RecordSpec> {
        (0..3u8)
            .map(|i| {
                let h = hash_bytes(&[
                    &self.base.faults.seed().to_be_bytes(),
                    b"dkim",
                    domain.as_bytes(),
                    &[i],
                ]);
                // 32 characters of [a-z2-7], like SES's DKIM tokens.
                let token: String = h
                    .iter()
                    .map(|b| b"abcdefghijklmnopqrstuvwxyz234567"[(b & 31) as usize] as char)
                    .collect();
                RecordSpec::new(
                    format!("{token}._domainkey.{domain}"),
                    RecordType::Cname,
                    format!("{token}.dkim.amazonses.com"),
                    DKIM_TTL,
                )
            })
            .collect()
    }
}

/// Mail's part of a [`crate::MemorySnapshot`]: every identity with its DKIM records, forced
/// status and what is left of its verification delay, and the delay for new identities.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MailSnapshot {
    identities: Vec<IdentitySnapshot>,
    verification_delay: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitySnapshot {
    name: String,
    kind: IdentityKind,
    tags: Tags,
    dns_records: Vec<RecordSpec>,
    /// How much longer it stays pending; `None`: until verified explicitly.
    verification_remaining: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    forced_status: Option<VerificationStatus>,
}

impl MemoryMail {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> MailSnapshot {
        let now = Instant::now();
        let s = self.lock();
        MailSnapshot {
            identities: s
                .identities
                .iter()
                .map(|(name, r)| IdentitySnapshot {
                    name: name.clone(),
                    kind: r.kind,
                    tags: r.tags.clone(),
                    dns_records: r.dns_records.clone(),
                    verification_remaining: r
                        .delay
                        .map(|d| (r.created + d).saturating_duration_since(now)),
                    forced_status: r.forced,
                })
                .collect(),
            verification_delay: s.delay,
        }
    }

    /// Replaces everything this provider holds with `snap`; remaining delays count from now.
    pub(crate) fn prepare_restore(&self, snap: MailSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        let now = Instant::now();
        if let Some(d) = snap.verification_delay {
            bounded("mail verification_delay", d)?;
        }
        let mut identities = BTreeMap::new();
        for i in snap.identities {
            if let Some(d) = i.verification_remaining {
                bounded("identity verification_remaining", d)?;
            }
            let rec = IdentityRec {
                kind: i.kind,
                tags: i.tags,
                created: now,
                delay: i.verification_remaining,
                forced: i.forced_status,
                dns_records: i.dns_records,
            };
            if identities.insert(i.name.clone(), rec).is_some() {
                return Err(corrupt(format!("mail identity {} appears twice", i.name)));
            }
        }
        Ok(State {
            identities,
            delay: snap.verification_delay,
        })
    }

    /// Installs a state made by [`MemoryMail::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryMail {
    type JsonCache = ();
    type Snapshot = MailSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> MailSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: MailSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut MailSnapshot, elapsed: Duration) {
        for i in &mut snap.identities {
            if let Some(d) = &mut i.verification_remaining {
                *d = d.saturating_sub(elapsed);
            }
        }
    }
    fn longest_clock(snap: &MailSnapshot) -> Option<Duration> {
        snap.identities
            .iter()
            .filter_map(|i| i.verification_remaining)
            .filter(|d| !d.is_zero())
            .max()
    }
}

impl Provider for MemoryMail {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl Mail for MemoryMail {
    fn capabilities(&self) -> MailCapabilities {
        MailCapabilities {
            domains: true,
            addresses: true,
        }
    }

    async fn ensure_identity(&self, name: &str, tags: &Tags) -> Result<Ensured<MailIdentity>> {
        self.base
            .run_ensure("mail.ensure_identity", name, async {
                let (name, kind) = canonical(name)?;
                validate::tags("identity tags", tags)?;
                let now = Instant::now();
                let records = match kind {
                    IdentityKind::Domain => self.dkim_records(&name),
                    IdentityKind::EmailAddress => Vec::new(),
                };
                let mut s = self.lock();
                let delay = s.delay;
                match s.identities.get_mut(&name) {
                    Some(r) if provisio::types::tags_match(&r.tags, tags) => {
                        Ok(Ensured::unchanged(r.view(&name, now)))
                    }
                    Some(r) => {
                        r.tags.extend(tags.clone());
                        Ok(Ensured::updated(r.view(&name, now)))
                    }
                    None => {
                        let r = IdentityRec {
                            kind,
                            tags: tags.clone(),
                            created: now,
                            delay,
                            forced: None,
                            dns_records: records,
                        };
                        let view = r.view(&name, now);
                        s.identities.insert(name, r);
                        Ok(Ensured::created(view))
                    }
                }
            })
            .await
    }

    async fn get_identity(&self, name: &str) -> Result<Option<MailIdentity>> {
        self.base
            .run("mail.get_identity", name, async {
                let (name, _) = canonical(name)?;
                let now = Instant::now();
                Ok(Read(
                    self.lock()
                        .identities
                        .get(&name)
                        .map(|r| r.view(&name, now)),
                ))
            })
            .await
    }

    async fn delete_identity(&self, name: &str) -> Result<Deleted> {
        self.base
            .run("mail.delete_identity", name, async {
                let (name, _) = canonical(name)?;
                Ok(match self.lock().identities.remove(&name) {
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

    #[tokio::test(start_paused = true)]
    async fn domains_and_addresses() {
        let ses = MemoryMail::new();
        let d = ses
            .ensure_identity("Acme.Example.com", &Tags::new())
            .await
            .unwrap();
        assert_eq!(d.outcome, Outcome::Created);
        assert_eq!(d.value.name, "acme.example.com");
        assert_eq!(d.value.kind, IdentityKind::Domain);
        assert_eq!(d.value.dns_records.len(), 3);
        for r in &d.value.dns_records {
            assert_eq!(r.record_type, RecordType::Cname);
            assert!(r.name.ends_with("._domainkey.acme.example.com"));
            r.validated().unwrap();
        }
        assert_eq!(d.value.status, VerificationStatus::Pending);
        let again = ses
            .ensure_identity("acme.example.com", &Tags::new())
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.value.dns_records, d.value.dns_records);
        tokio::time::advance(DEFAULT_VERIFICATION_DELAY).await;
        assert_eq!(
            ses.get_identity("acme.example.com")
                .await
                .unwrap()
                .unwrap()
                .status,
            VerificationStatus::Success
        );

        ses.set_verification_delay(None);
        let a = ses
            .ensure_identity("ops@acme.example.com", &Tags::new())
            .await
            .unwrap()
            .value;
        assert_eq!(a.kind, IdentityKind::EmailAddress);
        assert!(a.dns_records.is_empty());
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(
            ses.get_identity("ops@acme.example.com")
                .await
                .unwrap()
                .unwrap()
                .status,
            VerificationStatus::Pending
        );
        assert!(ses.verify("ops@acme.example.com"));
        assert_eq!(
            ses.get_identity("ops@acme.example.com")
                .await
                .unwrap()
                .unwrap()
                .status,
            VerificationStatus::Success
        );
        assert_eq!(
            ses.ensure_identity("bad@@x", &Tags::new())
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(ses.get_identity("other.com").await.unwrap(), None);
        assert_eq!(
            ses.delete_identity("acme.example.com").await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            ses.delete_identity("acme.example.com").await.unwrap(),
            Deleted::AlreadyGone
        );
        assert_eq!(ses.inventory().count("mail.identity"), 1);
    }
}
