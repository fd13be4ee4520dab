//! The world file section by section: which provider each section belongs to, reading a file
//! into the live providers in place, and writing a file where only changed sections are
//! serialized again.

use crate::snapshot::{SNAPSHOT_VERSION, SnapshotSection, check_version};
use crate::{
    MemoryCi, MemoryCloud, MemoryCompute, MemoryDatabase, MemoryDns, MemoryHost, MemoryMail,
    MemoryProbe, MemoryRepo, MemorySecrets, MemoryStorage,
};
use provisio::{Error, Result};
use serde_json::value::RawValue;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// One provider's part of the world file, named as in [`crate::MemorySnapshot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Dns,
    Storage,
    Compute,
    Ci,
    Secrets,
    Database,
    Repo,
    Mail,
    Probe,
    Host,
}

/// How many sections the world file has.
pub(crate) const COUNT: usize = 10;

impl Section {
    /// Every section, in file order.
    pub(crate) const ALL: [Section; COUNT] = [
        Section::Dns,
        Section::Storage,
        Section::Compute,
        Section::Ci,
        Section::Secrets,
        Section::Database,
        Section::Repo,
        Section::Mail,
        Section::Probe,
        Section::Host,
    ];

    /// The section's key in the file.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Section::Dns => "dns",
            Section::Storage => "storage",
            Section::Compute => "compute",
            Section::Ci => "ci",
            Section::Secrets => "secrets",
            Section::Database => "database",
            Section::Repo => "repo",
            Section::Mail => "mail",
            Section::Probe => "probe",
            Section::Host => "host",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The bit set of `sections`.
    pub(crate) fn mask(sections: &[Section]) -> Mask {
        sections.iter().fold(0, |m, s| m | (1 << s.index()))
    }
}

/// A bit set of sections.
pub(crate) type Mask = u16;

/// How old the remaining times of a running clock (a booting instance, a running build, a
/// secret's recovery window...) in a written section may get before a write serializes the
/// section again although it did not change: other processes see those clocks at most this
/// far behind. A section is also written again once all its clocks have run out, so that the
/// file shows it settled.
pub(crate) const CLOCK_STALENESS: Duration = Duration::from_secs(1);

/// A section as last written or read: its JSON, and until when its running clocks run (their
/// remaining times are only right at the moment it was serialized).
#[derive(Debug, Clone)]
pub(crate) struct SectionJson {
    pub(crate) json: String,
    serialized_at: Instant,
    settles_at: Option<Instant>,
}

impl SectionJson {
    fn new(json: String, longest_clock: Option<Duration>) -> SectionJson {
        let now = Instant::now();
        SectionJson {
            json,
            serialized_at: now,
            settles_at: longest_clock.map(|d| now + d),
        }
    }

    /// Whether a write should serialize the section again although it did not change: its
    /// clocks have run out since, or it was serialized [`CLOCK_STALENESS`] ago.
    pub(crate) fn clocks_stale(&self) -> bool {
        let now = Instant::now();
        self.settles_at
            .is_some_and(|t| now >= t || now >= self.serialized_at + CLOCK_STALENESS)
    }
}

/// The providers of a persisted world, held weakly: the providers hold the world file's
/// handle, so strong references here would keep a dropped world alive forever. A provider
/// that is gone can no longer change, and its section is written as last serialized.
#[derive(Debug)]
pub(crate) struct LiveWorld {
    dns: Weak<MemoryDns>,
    storage: Weak<MemoryStorage>,
    compute: Weak<MemoryCompute>,
    ci: Weak<MemoryCi>,
    secrets: Weak<MemorySecrets>,
    database: Weak<MemoryDatabase>,
    repo: Weak<MemoryRepo>,
    mail: Weak<MemoryMail>,
    probe: Weak<MemoryProbe>,
    host: Weak<MemoryHost>,
    seed: u64,
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What the large sections keep between writes to serialize only what changed (see
/// [`SnapshotSection::section_json`]).
#[derive(Debug, Default)]
pub(crate) struct JsonCaches {
    ci: <MemoryCi as SnapshotSection>::JsonCache,
    repo: <MemoryRepo as SnapshotSection>::JsonCache,
}

/// Serializes a live provider's section.
fn serialize<P: SnapshotSection>(
    p: &Weak<P>,
    cache: &mut P::JsonCache,
) -> Option<Result<SectionJson>> {
    let p = p.upgrade()?;
    let snap = p.snapshot_section();
    let longest_clock = P::longest_clock(&snap);
    Some(
        P::section_json(snap, cache)
            .map(|json| SectionJson::new(json, longest_clock))
            .map_err(|e| Error::unexpected("cannot serialize the memory world").with_source(e)),
    )
}

/// A section parsed and checked, ready to be installed in its provider.
struct Prepared<P: SnapshotSection> {
    provider: Option<std::sync::Arc<P>>,
    state: Option<P::Prepared>,
    longest_clock: Option<Duration>,
}

/// Parses a section, moves its clocks `elapsed` forward and checks it.
fn prepare<P: SnapshotSection>(
    p: &Weak<P>,
    raw: &RawValue,
    section: Section,
    elapsed: Duration,
) -> Result<Prepared<P>> {
    let mut snap: P::Snapshot = serde_json::from_str(raw.get()).map_err(|e| {
        Error::invalid_input(format!(
            "not a valid memory snapshot: section {}: {e}",
            section.key()
        ))
    })?;
    // The JSON as read holds the clocks before aging: it is written again at the next write.
    let longest_clock = P::longest_clock(&snap).map(|_| Duration::ZERO);
    P::age(&mut snap, elapsed);
    match p.upgrade() {
        Some(provider) => {
            let state = provider.prepare_section(snap)?;
            Ok(Prepared {
                provider: Some(provider),
                state: Some(state),
                longest_clock,
            })
        }
        None => Ok(Prepared {
            provider: None,
            state: None,
            longest_clock,
        }),
    }
}

impl<P: SnapshotSection> Prepared<P> {
    /// Installs the state in the provider; `Some(ZERO)` when the section read had running
    /// clocks (its JSON as read is stale at once).
    fn install(self) -> Option<Duration> {
        if let (Some(p), Some(s)) = (self.provider, self.state) {
            p.install_section(s);
        }
        self.longest_clock
    }
}

/// The world file's layout, with each section left as raw JSON.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile<'a> {
    version: u64,
    #[allow(dead_code)]
    seed: u64,
    #[serde(default)]
    written_at_ms: Option<u64>,
    #[serde(borrow)]
    dns: &'a RawValue,
    #[serde(borrow)]
    storage: &'a RawValue,
    #[serde(borrow)]
    compute: &'a RawValue,
    #[serde(borrow)]
    ci: &'a RawValue,
    #[serde(borrow)]
    secrets: &'a RawValue,
    #[serde(borrow)]
    database: &'a RawValue,
    #[serde(borrow)]
    repo: &'a RawValue,
    #[serde(borrow)]
    mail: &'a RawValue,
    /// Absent in files written before the probe had a section: the default probe.
    #[serde(borrow, default)]
    probe: Option<&'a RawValue>,
    /// Absent in files written before the host had a section: an empty host.
    #[serde(borrow, default)]
    host: Option<&'a RawValue>,
}

/// The probe section of a file that has none.
fn default_probe() -> &'static RawValue {
    static DEFAULT: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| {
        let json = serde_json::to_string(&crate::probe::ProbeSnapshot::default())
            .expect("the default probe section serializes");
        RawValue::from_string(json).expect("serde_json writes valid JSON")
    })
}

/// The host section of a file that has none.
fn empty_host() -> &'static RawValue {
    static EMPTY: std::sync::OnceLock<Box<RawValue>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| {
        let json = serde_json::to_string(&crate::host::HostSnapshot::default())
            .expect("the empty host section serializes");
        RawValue::from_string(json).expect("serde_json writes valid JSON")
    })
}

impl<'a> RawFile<'a> {
    fn section(&self, s: Section) -> &'a RawValue {
        match s {
            Section::Dns => self.dns,
            Section::Storage => self.storage,
            Section::Compute => self.compute,
            Section::Ci => self.ci,
            Section::Secrets => self.secrets,
            Section::Database => self.database,
            Section::Repo => self.repo,
            Section::Mail => self.mail,
            Section::Probe => self.probe.unwrap_or(default_probe()),
            Section::Host => self.host.unwrap_or(empty_host()),
        }
    }
}

impl LiveWorld {
    pub(crate) fn of(cloud: &MemoryCloud) -> LiveWorld {
        LiveWorld {
            dns: std::sync::Arc::downgrade(&cloud.dns),
            storage: std::sync::Arc::downgrade(&cloud.storage),
            compute: std::sync::Arc::downgrade(&cloud.compute),
            ci: std::sync::Arc::downgrade(&cloud.ci),
            secrets: std::sync::Arc::downgrade(&cloud.secrets),
            database: std::sync::Arc::downgrade(&cloud.database),
            repo: std::sync::Arc::downgrade(&cloud.repo),
            mail: std::sync::Arc::downgrade(&cloud.mail),
            probe: std::sync::Arc::downgrade(&cloud.probe),
            host: std::sync::Arc::downgrade(&cloud.host),
            seed: cloud.faults.seed(),
        }
    }

    /// Serializes section `s` of its live provider; `None` when the provider is gone.
    pub(crate) fn serialize(
        &self,
        s: Section,
        caches: &mut JsonCaches,
    ) -> Option<Result<SectionJson>> {
        match s {
            Section::Dns => serialize(&self.dns, &mut ()),
            Section::Storage => serialize(&self.storage, &mut ()),
            Section::Compute => serialize(&self.compute, &mut ()),
            Section::Ci => serialize(&self.ci, &mut caches.ci),
            Section::Secrets => serialize(&self.secrets, &mut ()),
            Section::Database => serialize(&self.database, &mut ()),
            Section::Repo => serialize(&self.repo, &mut caches.repo),
            Section::Mail => serialize(&self.mail, &mut ()),
            Section::Probe => serialize(&self.probe, &mut ()),
            Section::Host => serialize(&self.host, &mut ()),
        }
    }

    /// Replaces what the live providers hold with the world in `text`, in place: every
    /// section is parsed and checked first, and only when all are good is any installed, so
    /// a bad file leaves the providers as they were. Returns each section's JSON.
    pub(crate) fn restore(&self, text: &str) -> Result<[SectionJson; COUNT]> {
        let bad = |e: serde_json::Error| {
            Error::invalid_input(format!("not a valid memory snapshot: {e}"))
        };
        let head: crate::snapshot::VersionOnly = serde_json::from_str(text).map_err(bad)?;
        let version = head
            .version
            .ok_or_else(|| Error::invalid_input("not a valid memory snapshot: no version"))?;
        check_version(version)?;
        let raw: RawFile<'_> = serde_json::from_str(text).map_err(bad)?;
        check_version(raw.version)?;
        // A persisted world's clocks run while no process holds it, as a real service's do.
        let elapsed = raw
            .written_at_ms
            .map(|w| Duration::from_millis(unix_ms().saturating_sub(w)))
            .unwrap_or_default();
        let dns = prepare(&self.dns, raw.dns, Section::Dns, elapsed)?;
        let storage = prepare(&self.storage, raw.storage, Section::Storage, elapsed)?;
        let compute = prepare(&self.compute, raw.compute, Section::Compute, elapsed)?;
        let ci = prepare(&self.ci, raw.ci, Section::Ci, elapsed)?;
        let secrets = prepare(&self.secrets, raw.secrets, Section::Secrets, elapsed)?;
        let database = prepare(&self.database, raw.database, Section::Database, elapsed)?;
        let repo = prepare(&self.repo, raw.repo, Section::Repo, elapsed)?;
        let mail = prepare(&self.mail, raw.mail, Section::Mail, elapsed)?;
        let probe = prepare(
            &self.probe,
            raw.section(Section::Probe),
            Section::Probe,
            elapsed,
        )?;
        let host = prepare(
            &self.host,
            raw.section(Section::Host),
            Section::Host,
            elapsed,
        )?;
        let clocks = [
            dns.install(),
            storage.install(),
            compute.install(),
            ci.install(),
            secrets.install(),
            database.install(),
            repo.install(),
            mail.install(),
            probe.install(),
            host.install(),
        ];
        Ok(Section::ALL
            .map(|s| SectionJson::new(raw.section(s).get().to_string(), clocks[s.index()])))
    }

    /// The world file made of `sections` (each one's JSON as [`crate::MemorySnapshot`] writes
    /// it, in file order), compact.
    pub(crate) fn assemble(&self, sections: &[&str; COUNT]) -> String {
        let len: usize = sections.iter().map(|s| s.len() + 16).sum();
        let mut out = String::with_capacity(len + 64);
        out.push_str(&format!(
            "{{\"version\":{SNAPSHOT_VERSION},\"seed\":{},\"written_at_ms\":{}",
            self.seed,
            unix_ms()
        ));
        for (s, json) in Section::ALL.iter().zip(sections) {
            out.push_str(",\"");
            out.push_str(s.key());
            out.push_str("\":");
            out.push_str(json);
        }
        out.push_str("}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemorySnapshot;

    #[test]
    fn the_assembled_file_is_a_snapshot_and_restores_in_place() {
        let c = MemoryCloud::new(3);
        c.dns.add_zone("example.com");
        c.storage.add_foreign_bucket("taken-name");
        let live = LiveWorld::of(&c);
        let mut caches = JsonCaches::default();
        let sections: Vec<String> = Section::ALL
            .iter()
            .map(|s| live.serialize(*s, &mut caches).unwrap().unwrap().json)
            .collect();
        let refs: [&str; COUNT] = std::array::from_fn(|i| sections[i].as_str());
        let text = live.assemble(&refs);
        let mut snap = MemorySnapshot::from_json(&text).unwrap();
        assert!(snap.written_at_ms.is_some_and(|t| t > 0));
        snap.written_at_ms = None;
        assert_eq!(snap, c.snapshot());

        // Restore into another cloud's providers, in place: the Arcs stay the same.
        let other = MemoryCloud::new(3);
        let dns_before = std::sync::Arc::as_ptr(&other.dns);
        let read = LiveWorld::of(&other).restore(&text).unwrap();
        assert_eq!(std::sync::Arc::as_ptr(&other.dns), dns_before);
        assert_eq!(other.inventory(), c.inventory());
        assert_eq!(read[Section::Dns.index()].json, sections[0]);
    }

    #[tokio::test(start_paused = true)]
    async fn cached_sections_are_what_serde_writes() {
        use provisio::repo::{Author, CommitSpec};
        use provisio::{Bytes, CiServer, Repository};
        let c = MemoryCloud::new(3);
        let live = LiveWorld::of(&c);
        let mut caches = JsonCaches::default();
        let check = |caches: &mut JsonCaches| {
            for s in [Section::Ci, Section::Repo] {
                let cached = live.serialize(s, caches).unwrap().unwrap().json;
                let whole: serde_json::Value =
                    serde_json::from_str(&c.snapshot().to_json().unwrap()).unwrap();
                let plain = serde_json::to_string(&whole[s.key()]).unwrap();
                let cached: serde_json::Value = serde_json::from_str(&cached).unwrap();
                assert_eq!(serde_json::to_string(&cached).unwrap(), plain, "{s:?}");
            }
        };
        check(&mut caches);
        c.ci.ensure_folder("tenants").await.unwrap();
        c.ci.ensure_job("tenants/a", "<project>\"a\"\n</project>")
            .await
            .unwrap();
        c.ci.ensure_job("b", "<project/>").await.unwrap();
        let commit = |branch: &str, body: &'static [u8]| CommitSpec {
            branch: branch.into(),
            files: [("f.txt".to_string(), Bytes::from_static(body))].into(),
            message: "m".into(),
            author: Author {
                name: "a".into(),
                email: "a@example.com".into(),
            },
        };
        c.repo.ensure_branch("dev", "main").await.unwrap();
        c.repo.write_files(&commit("dev", b"one")).await.unwrap();
        check(&mut caches);
        // warm: reused parts, one of them changed since
        c.ci.ensure_job("b", "<project>changed</project>")
            .await
            .unwrap();
        c.ci.trigger_build("b", &Default::default()).await.unwrap();
        c.repo.write_files(&commit("dev", b"two")).await.unwrap();
        check(&mut caches);
        check(&mut caches);
    }

    #[test]
    fn a_bad_section_changes_nothing() {
        let c = MemoryCloud::new(3);
        c.dns.add_zone("example.com");
        let mut v: serde_json::Value =
            serde_json::from_str(&c.snapshot().to_json().unwrap()).unwrap();
        v["repo"]["branches"]["main"] = serde_json::json!("0000");
        let target = MemoryCloud::new(3);
        target.dns.add_zone("kept.example");
        let before = target.inventory();
        let e = LiveWorld::of(&target).restore(&v.to_string()).unwrap_err();
        assert!(e.message().contains("missing commit"), "{e}");
        assert_eq!(
            target.inventory(),
            before,
            "the DNS section was not installed"
        );
        let e = LiveWorld::of(&target)
            .restore(r#"{"version": 9}"#)
            .unwrap_err();
        assert!(e.message().contains("version 9"), "{e}");
    }
}
