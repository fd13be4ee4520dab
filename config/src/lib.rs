//! Builds the providers a run uses from a provider configuration file — the facade the CLI and
//! the language bindings share, so one file means the same thing everywhere.
//!
//! A blueprint resource names a provider by capability and name (`provider: default` unless it
//! says otherwise); the configuration maps each such pair to a provider *kind* and its
//! settings. Credentials are never written here: each kind reads them from the environment
//! (see its `docs/providers/<kind>.md`).
//!
//! ```toml
//! # providers.toml
//! fallback = "memory"          # capabilities not listed below get memory providers
//!
//! [memory]
//! seed = 7
//! persist = ".provisio/memory.json"   # keep the memory world between runs
//! fixtures = "memory-fixtures.yaml"   # what exists before the first run
//!
//! [providers.repo.default]
//! kind = "git"
//! url = "ssh://git@git.internal/ops/tenant-config.git"
//! cache_dir = ".provisio/git-cache"
//! ```
//!
//! The same in YAML (`providers: { repo: { default: { kind: git, url: ... } } }`) or JSON.
//! Relative paths are relative to the configuration file's directory.
//!
//! Without a file ([`ProviderConfig::memory`]) every capability's `default` provider is a
//! memory provider. With a file, only what it lists is configured, unless `fallback = "memory"`:
//! a real launch never silently lands in memory.
//!
//! Kinds available in this build: see [`ProviderConfig::kinds`]. Providers of one kind with
//! identical settings are built once and shared by every capability and name that uses them
//! (one AWS SDK configuration, one memory world).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use provisio_config::ProviderConfig;
//! use provisio::providers::Capability;
//! let config = ProviderConfig::from_toml(r#"
//!     [providers.dns.default]
//!     kind = "memory"
//! "#)?;
//! let connection = config.connect().await?;
//! assert!(connection.providers.has(Capability::Dns, "default"));
//! assert!(!connection.providers.has(Capability::Storage, "default"));
//! # Ok::<(), provisio::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]

mod kinds;
mod memory;

pub use kinds::KINDS;
pub use memory::MemorySettings;

use provisio::providers::{Capability, Providers};
use provisio::{Error, Result};
use provisio_loader::{Format, Limits};
use provisio_memory::MemoryCloud;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Every capability a configuration can name.
pub const CAPABILITIES: [Capability; 10] = [
    Capability::Dns,
    Capability::Storage,
    Capability::Compute,
    Capability::Ci,
    Capability::Secrets,
    Capability::Database,
    Capability::Repo,
    Capability::Mail,
    Capability::Probe,
    Capability::Host,
];

/// One configured provider: its kind and the kind's own settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProviderEntry {
    /// The provider kind: `memory`, `git`, `aws`, `cloudflare`, ... (see [`KINDS`]).
    pub kind: String,
    /// The kind's settings (checked by the kind when the provider is built).
    #[serde(flatten)]
    pub settings: Map<String, Value>,
}

impl ProviderEntry {
    /// An entry of `kind` with no settings.
    pub fn new(kind: impl Into<String>) -> Self {
        ProviderEntry {
            kind: kind.into(),
            settings: Map::new(),
        }
    }

    /// The same with one more setting.
    pub fn setting(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.settings.insert(key.into(), value.into());
        self
    }
}

/// What serves a capability nobody configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Nothing: a resource using it fails validation naming the missing provider.
    #[default]
    None,
    /// The memory provider of that capability, as `default`.
    Memory,
}

/// A provider configuration: which kind serves each capability and name.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// What serves a capability with no `default` entry.
    #[serde(default)]
    pub fallback: Fallback,
    /// Settings of the memory world (used by every `memory` entry).
    #[serde(default)]
    pub memory: MemorySettings,
    /// Capability -> provider name -> entry.
    #[serde(default)]
    pub providers: BTreeMap<Capability, BTreeMap<String, ProviderEntry>>,
    /// How every call of these providers is retried and bounded (`[calls]`).
    #[serde(default)]
    pub calls: CallSettings,
}

/// The layers every provider of a configuration gets (see [`provisio::layer`]): a direct call
/// from Rust, Python or Node retries transient failures as boto3 and the AWS JS SDK do, and a
/// call that hangs fails with `Timeout`. Steps of a run are retried by the engine instead, with
/// the blueprint's policy.
///
/// ```toml
/// [calls]
/// retry = { max_attempts = 3, initial_backoff_ms = 200, max_backoff_ms = 10000 }
/// timeout_ms = 30000      # per attempt; no limit when absent
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSettings {
    /// Retries of a failed call: retryable errors only (`Transient`, `Timeout`,
    /// `RateLimited`); calls that could do their work twice only when refused. The default
    /// makes up to 5 attempts with 100 ms to 5 s of full-jitter backoff; `max_attempts = 1`
    /// turns retries off.
    #[serde(default)]
    pub retry: provisio::layer::RetryPolicy,
    /// A deadline for each attempt, in milliseconds (calls that wait on their own clock, such
    /// as `wait_for_state`, get their own timeout on top).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl CallSettings {
    /// The layers these settings describe: [`provisio::layer::Stack::standard`].
    pub fn stack(&self) -> Result<provisio::layer::Stack> {
        self.retry.check("calls.retry")?;
        if self.timeout_ms == Some(0) {
            return Err(Error::invalid_field(
                "calls.timeout_ms",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        Ok(provisio::layer::Stack::standard(
            self.retry,
            self.timeout_ms.map(std::time::Duration::from_millis),
        ))
    }
}

impl ProviderConfig {
    /// Every capability's `default` provider is a memory provider (the embedded default).
    pub fn memory() -> Self {
        ProviderConfig {
            fallback: Fallback::Memory,
            ..Default::default()
        }
    }

    /// The kinds this build can construct.
    pub fn kinds() -> &'static [&'static str] {
        KINDS
    }

    /// Parses a TOML document. Errors name the line, column and field
    /// (`<provider config>:2:1: providers.dnss: unknown variant ...`); the document is held to
    /// the default [`Limits`].
    pub fn from_toml(text: &str) -> Result<Self> {
        parse_text(text, Format::Toml)
    }

    /// Parses a YAML document.
    pub fn from_yaml(text: &str) -> Result<Self> {
        parse_text(text, Format::Yaml)
    }

    /// Parses a JSON document.
    pub fn from_json(text: &str) -> Result<Self> {
        parse_text(text, Format::Json)
    }

    /// Builds a configuration from a JSON-like value (what the bindings pass: a dict, an
    /// object).
    pub fn from_value(value: Value) -> Result<Self> {
        serde_json::from_value(value).map_err(|e| parse_error("provider", e))
    }

    /// Reads a file (`.toml`, `.yaml`/`.yml` or `.json`; by content when it has no extension)
    /// within the default [`Limits`]; relative paths inside it become relative to the file's
    /// directory. Errors name the file, line, column and field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let config: Self = provisio_loader::load_file(path, &Limits::default())?;
        let base = path.parent().unwrap_or(Path::new("."));
        Ok(config.relative_to(base))
    }

    /// Makes the relative paths of the memory settings relative to `base`.
    pub fn relative_to(mut self, base: &Path) -> Self {
        self.memory = self.memory.relative_to(base);
        self
    }

    /// Adds (or replaces) the provider `name` of `capability`.
    pub fn with(
        mut self,
        capability: Capability,
        name: impl Into<String>,
        entry: ProviderEntry,
    ) -> Self {
        self.providers
            .entry(capability)
            .or_default()
            .insert(name.into(), entry);
        self
    }

    /// Every (capability, name, kind) this configuration serves, fallbacks included.
    pub fn summary(&self) -> Vec<(Capability, String, String)> {
        let mut out = Vec::new();
        for cap in CAPABILITIES {
            let entries = self.providers.get(&cap);
            for (name, entry) in entries.into_iter().flatten() {
                out.push((cap, name.clone(), entry.kind.clone()));
            }
            let has_default =
                entries.is_some_and(|e| e.contains_key(provisio::providers::DEFAULT_PROVIDER));
            if !has_default && self.fallback == Fallback::Memory {
                out.push((
                    cap,
                    provisio::providers::DEFAULT_PROVIDER.to_string(),
                    "memory".to_string(),
                ));
            }
        }
        out
    }

    /// Whether any capability is served by the memory providers.
    pub fn uses_memory(&self) -> bool {
        self.summary().iter().any(|(_, _, kind)| kind == "memory")
    }

    /// Builds every configured provider (and the memory world, kept in
    /// [`MemorySettings::persist`] and prepared with [`MemorySettings::fixtures`] when set).
    ///
    /// Errors name the capability, the provider name and the setting at fault.
    pub async fn connect(&self) -> Result<Connection> {
        let stack = self.calls.stack()?;
        let memory = if self.uses_memory() {
            Some(self.memory.open().await?)
        } else {
            None
        };
        let mut builder = kinds::Builder::new(memory.clone());
        let mut providers = Providers::new();
        for (cap, name, kind) in self.summary() {
            let entry = self
                .providers
                .get(&cap)
                .and_then(|e| e.get(&name))
                .cloned()
                .unwrap_or_else(|| ProviderEntry::new(kind));
            providers = builder
                .register(providers, cap, &name, &entry)
                .await
                .map_err(|e| {
                    e.context(format_args!(
                        "providers.{}.{name} (kind {:?})",
                        cap.as_str(),
                        entry.kind
                    ))
                })?;
        }
        Ok(Connection {
            providers: providers.layered(&stack),
            memory,
            persist: self.memory.persist.clone(),
            summary: self.summary(),
        })
    }
}

/// Parses provider configuration text; errors name `<provider config>`.
fn parse_text(text: &str, format: Format) -> Result<ProviderConfig> {
    provisio_loader::parse_str(text, format, "<provider config>", &Limits::default())
}

fn parse_error(format: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid_input(format!("malformed {format} provider config: {e}"))
}

/// The providers built from a [`ProviderConfig`].
#[derive(Clone)]
pub struct Connection {
    /// The registry to hand to `provisio_engine::Engine::builder`.
    pub providers: Providers,
    /// The memory world, when any capability uses memory providers (for inventory and fault
    /// injection).
    pub memory: Option<MemoryCloud>,
    persist: Option<PathBuf>,
    /// What serves each (capability, name): the kind.
    pub summary: Vec<(Capability, String, String)>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("summary", &self.summary)
            .field("persist", &self.persist)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Writes the memory world to [`MemorySettings::persist`] (a no-op without memory
    /// providers or without a persist path). A persisted world already wrote every provider
    /// call before it returned; this also writes what setup helpers that are not provider
    /// calls (`dns.add_zone`, ...) changed. Blocks the thread: do not call it from async code
    /// while calls of this world are in flight on the same thread.
    pub fn save(&self) -> Result<()> {
        match (&self.memory, &self.persist) {
            (Some(cloud), Some(path)) => memory::save(cloud, path),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_a_fallback_only_listed_capabilities_are_served() {
        let c =
            ProviderConfig::from_yaml("providers: { dns: { default: { kind: memory } } }").unwrap();
        let conn = c.connect().await.unwrap();
        assert!(conn.providers.has(Capability::Dns, "default"));
        assert!(!conn.providers.has(Capability::Database, "default"));
        let all = ProviderConfig::memory().connect().await.unwrap();
        for cap in CAPABILITIES {
            assert!(all.providers.has(cap, "default"), "{cap:?}");
        }
    }

    #[tokio::test]
    async fn errors_name_the_capability_provider_and_setting() {
        let cases = [
            (
                "[providers.dns.default]\nkind = \"nope\"\n",
                "providers.dns.default",
            ),
            (
                "[providers.dns.default]\nkind = \"postgres\"\n",
                "does not serve the dns",
            ),
            (
                "[providers.database.default]\nkind = \"postgres\"\nurl = \"postgres://a@h/d\"\ncolour = 1\n",
                "colour",
            ),
            (
                "[providers.dns.main]\nkind = \"memory\"\nseed = 1\n",
                "[memory] table",
            ),
        ];
        for (text, needle) in cases {
            if text.contains("postgres") && !cfg!(feature = "postgres") {
                continue; // a build without the kind (see kinds::tests for that error)
            }
            let err = ProviderConfig::from_toml(text)
                .unwrap()
                .connect()
                .await
                .unwrap_err();
            assert!(
                err.message().contains(needle),
                "{needle}: {}",
                err.message()
            );
        }
        let err =
            ProviderConfig::from_toml("[providers.dnss.default]\nkind = \"memory\"\n").unwrap_err();
        assert!(err.message().contains("dnss"), "{}", err.message());
    }

    #[tokio::test]
    async fn one_memory_world_behind_every_memory_entry() {
        let conn = ProviderConfig::memory()
            .with(Capability::Dns, "second", ProviderEntry::new("memory"))
            .connect()
            .await
            .unwrap();
        let cloud = conn.memory.clone().unwrap();
        cloud.dns.add_zone("example.com");
        let second = conn.providers.dns("second").unwrap();
        assert!(second.find_zone("example.com").await.unwrap().is_some());
        assert!(
            conn.summary
                .iter()
                .any(|(c, n, k)| *c == Capability::Dns && n == "second" && k == "memory")
        );
    }

    #[tokio::test]
    async fn direct_calls_retry_transient_failures_as_the_file_says() {
        use provisio::ErrorKind;
        // default: retried
        let conn = ProviderConfig::from_toml(
            "fallback = \"memory\"\n[calls]\nretry = { initial_backoff_ms = 1, max_backoff_ms = 5 }\n",
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
        let cloud = conn.memory.clone().unwrap();
        cloud.dns.add_zone("example.com");
        let faults = cloud.dns.faults().clone();
        faults.error_on_call("dns.find_zone", 1, ErrorKind::Transient);
        faults.error_on_call("dns.find_zone", 2, ErrorKind::Transient);
        let dns = conn.providers.dns("default").unwrap();
        assert!(dns.find_zone("example.com").await.unwrap().is_some());
        assert_eq!(faults.calls("dns.find_zone"), 3);

        // max_attempts = 1: the first failure is the caller's
        let conn = ProviderConfig::from_toml(
            "fallback = \"memory\"\n[calls]\nretry = { max_attempts = 1 }\n",
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
        let cloud = conn.memory.clone().unwrap();
        cloud.dns.add_zone("example.com");
        cloud
            .dns
            .faults()
            .error_on_call("dns.find_zone", 1, ErrorKind::Transient);
        let dns = conn.providers.dns("default").unwrap();
        let e = dns.find_zone("example.com").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
    }

    #[tokio::test]
    async fn bad_call_settings_name_the_field() {
        for (toml, field) in [
            (
                "[calls]\nretry = { max_attempts = 0 }\n",
                "calls.retry.max_attempts",
            ),
            ("[calls]\ntimeout_ms = 0\n", "calls.timeout_ms"),
            (
                "[calls]\nretry = { initial_backoff_ms = 9000, max_backoff_ms = 10 }\n",
                "calls.retry.initial_backoff_ms",
            ),
        ] {
            let e = ProviderConfig::from_toml(toml)
                .unwrap()
                .connect()
                .await
                .unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
        let e = ProviderConfig::from_toml("[calls]\nretries = 3\n").unwrap_err();
        assert!(e.to_string().contains("retries"), "{e}");
    }

    #[tokio::test]
    async fn the_memory_world_persists_and_fixtures_only_seed_a_new_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("fixtures.yaml"),
            "dns: { zones: [ { name: example.com } ] }\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("providers.toml"),
            "fallback = \"memory\"\n[memory]\npersist = \"world.json\"\nfixtures = \"fixtures.yaml\"\n",
        )
        .unwrap();
        let config = ProviderConfig::from_file(dir.path().join("providers.toml")).unwrap();
        let conn = config.connect().await.unwrap();
        let cloud = conn.memory.clone().unwrap();
        assert_eq!(cloud.inventory().count("dns.zone"), 1);
        cloud.dns.add_zone("other.example");
        conn.save().unwrap();
        let again = config.connect().await.unwrap();
        assert_eq!(again.memory.unwrap().inventory().count("dns.zone"), 2);
    }

    /// `rate_limit` / `rate_limits.<service>` in a provider file become the quota each provider
    /// declares and paces its requests by (`tests/requests.rs` of provisio-aws times them).
    #[cfg(all(feature = "aws", feature = "postgres"))]
    #[tokio::test]
    async fn rate_limits_in_the_file_are_the_providers_quotas() {
        use std::time::Duration;
        let config = ProviderConfig::from_toml(
            r#"
            [providers.dns.default]
            kind = "aws"
            region = "eu-west-1"
            rate_limits.route53 = { requests = 2, per_secs = 1 }

            [providers.secrets.default]
            kind = "aws"
            region = "eu-west-1"

            [providers.database.default]
            kind = "postgres"
            url = "postgres://admin@db.internal/postgres"
            rate_limit = { requests = 7, per_secs = 2 }
            "#,
        )
        .unwrap();
        let conn = config.connect().await.unwrap();
        let quota = |info: provisio::ProviderInfo| info.quota.map(|q| (q.requests, q.per));
        let dns = conn.providers.dns("default").unwrap();
        assert_eq!(quota(dns.info()), Some((2, Duration::from_secs(1))));
        // not configured: the documented default (Secrets Manager, 50 per second)
        let secrets = conn.providers.secrets("default").unwrap();
        assert_eq!(quota(secrets.info()), Some((50, Duration::from_secs(1))));
        let db = conn.providers.database("default").unwrap();
        assert_eq!(quota(db.info()), Some((7, Duration::from_secs(2))));

        for (text, needle) in [
            (
                "[providers.dns.default]\nkind = \"aws\"\nregion = \"eu-west-1\"\nrate_limits.route53 = { requests = 0 }\n",
                "rate_limits.route53.requests",
            ),
            (
                "[providers.database.default]\nkind = \"postgres\"\nurl = \"postgres://a@h/d\"\nrate_limit = { requests = 5, per_secs = 0 }\n",
                "rate_limit.per_secs",
            ),
            (
                "[providers.dns.default]\nkind = \"aws\"\nregion = \"eu-west-1\"\nrate_limits.route53 = { requests = 5, window = 1 }\n",
                "window",
            ),
        ] {
            let err = ProviderConfig::from_toml(text)
                .unwrap()
                .connect()
                .await
                .unwrap_err();
            assert!(
                err.message().contains(needle),
                "{needle}: {}",
                err.message()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_on_one_persisted_world_see_each_others_calls_at_once() {
        use provisio::storage::BucketSpec;
        let dir = tempfile::tempdir().unwrap();
        let mut config = ProviderConfig::memory();
        config.memory.persist = Some(dir.path().join("world.json"));
        let (a, b) = (
            config.connect().await.unwrap(),
            config.connect().await.unwrap(),
        );
        let (sa, sb) = (
            a.providers.storage("default").unwrap(),
            b.providers.storage("default").unwrap(),
        );
        sa.ensure_bucket(&BucketSpec::new("from-a")).await.unwrap();
        // no save in between: the call was written before it returned
        assert!(sb.get_bucket("from-a").await.unwrap().is_some());
        sb.ensure_bucket(&BucketSpec::new("from-b")).await.unwrap();
        assert!(sa.get_bucket("from-b").await.unwrap().is_some());
        let on_disk = provisio_memory::MemoryCloud::load(7, dir.path().join("world.json"))
            .unwrap()
            .unwrap();
        assert_eq!(on_disk.inventory().count("storage.bucket"), 2);
    }
}
