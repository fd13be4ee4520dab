//! Fixtures: what a memory world holds before anything is provisioned, written as a document.
//!
//! A real account already has things a blueprint relies on: the DNS zone, a shared assets
//! bucket with its initial objects, the umbrella CI jobs, a repository with a `main` branch.
//! [`MemoryFixtures`] describes them in YAML, JSON or TOML, and
//! [`MemoryCloud::apply_fixtures`] ensures them through the providers' ordinary trait methods,
//! so applying the same fixtures twice changes nothing.
//! [`MemoryCloud::apply_missing_fixtures`] only creates what is missing and never touches what
//! exists, so it can run at the start of every command over a world that provisioning has
//! changed since (a launch adds its jobs to the umbrella jobs the fixtures created; applying
//! the fixtures again with `apply_fixtures` would undo that).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use provisio_memory::{MemoryCloud, MemoryFixtures};
//! let fixtures = MemoryFixtures::from_yaml(r##"
//! dns:
//!   zones:
//!     - name: example.com
//!       records:
//!         - { name: "@", type: TXT, content: "v=spf1 -all", ttl: 300 }
//! storage:
//!   buckets:
//!     - name: provisio-shared-assets
//!       objects:
//!         initial/robots.txt: "User-agent: *\n"
//!         initial/logo.png: { base64: "iVBORw0KGgo=", content_type: image/png }
//! ci:
//!   jobs:
//!     umbrella/core_build-stg: "<project/>"
//! repo:
//!   branches:
//!     main: { README.md: "# configs\n" }
//! secrets:
//!   shared-smtp-password: "not-a-real-one"
//! "##).unwrap();
//! let cloud = MemoryCloud::new(7);
//! cloud.apply_fixtures(&fixtures).await.unwrap();
//! let inv = cloud.inventory();
//! assert_eq!(inv.count("storage.object"), 2);
//! assert!(inv.contains("ci.folder", "umbrella"));
//! cloud.apply_fixtures(&fixtures).await.unwrap(); // again: nothing changes
//! assert_eq!(cloud.inventory(), inv);
//! # });
//! ```
//!
//! The format, section by section (every section and every field with a default is optional;
//! unknown fields are errors):
//!
//! | section | shape |
//! |---|---|
//! | `dns.zones[]` | `name`, `records[]`: `name` (fully qualified, or `@` for the apex), `type`, `content`, `ttl` (default 1 = automatic), `proxied`, `priority`. Types provisio does not manage (NS, CAA, ...) are stored as they are. |
//! | `storage.buckets[]` | `name`, `versioning`, `archive_after_days`, `block_public_access` (default true), `tags`, `objects`: key -> text, or `{ text \| base64, content_type }` |
//! | `storage.foreign_buckets[]` | bucket names another account owns (creating them is `AlreadyExists`) |
//! | `compute.instances[]` | `name`, `image`, `size`, `tags`, `user_data`, `idempotency_key` (default: the name) |
//! | `ci.folders[]`, `ci.jobs` | folder paths; job path -> config XML (parent folders are created) |
//! | `secrets` | name -> value |
//! | `database.servers[]` | `name`, `admin_password`, `engine` (postgres), `version` (16), `size` (db.t3.micro), `storage_gb` (20), `admin_user` (provisio_admin), `deletion_protection` (true), `tags` |
//! | `database.roles`, `database.databases` | role -> `{ password }`; database -> `{ owner }` |
//! | `repo.branches` | branch -> files (path -> text or `{ base64 }`); `main` is written first and other branches start from it |
//! | `mail.identities[]` | `name` (domain or address), `tags`, `verified` |
//! | `probe.urls` | URL -> one answer or a list answered in turn (the last repeats): `status` (200), `body` (`ok`), `fails` (`refused` \| `hangs`), `certificate` (`trusted` \| `untrusted`), `ca_file` (the CA file that verifies an untrusted certificate) |
//! | `probe.default` | the answer of every other URL (default `{ status: 200, body: ok }`) |
//! | `host.dirs`, `host.answers` | directory -> files (name -> text or `{ base64 }`); command line -> `{ exit_code, stdout, stderr }` |

use crate::content::content_map;
use crate::{Content, MemoryCloud};
use provisio::compute::InstanceSpec;
use provisio::database::{DatabaseSpec, RoleSpec, ServerSpec};
use provisio::dns::{Record, RecordSpec, RecordType};
use provisio::repo::{Author, CommitSpec};
use provisio::storage::{BucketSpec, content_etag};
use provisio::{
    Bytes, CiServer, Compute, Database, DnsProvider, Error, Host, Mail, ObjectStorage, Repository,
    Result, SecretStore, SecretString, Tags, validate,
};
use provisio_loader::{Format, Limits};
use serde::de::{self, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Everything a memory world should hold before provisioning. See [`crate::fixtures`] for the
/// format; every section defaults to empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MemoryFixtures {
    /// Zones and their records.
    pub dns: DnsFixtures,
    /// Buckets with objects, and bucket names owned by other accounts.
    pub storage: StorageFixtures,
    /// Instances that already run.
    pub compute: ComputeFixtures,
    /// CI folders and jobs.
    pub ci: CiFixtures,
    /// Secrets that already exist: name -> value.
    pub secrets: BTreeMap<String, SecretString>,
    /// Database servers, roles and databases.
    pub database: DatabaseFixtures,
    /// Repository branches and files.
    pub repo: RepoFixtures,
    /// Mail sending identities.
    pub mail: MailFixtures,
    /// What URLs answer the memory probe.
    pub probe: ProbeFixtures,
    /// The host's directories and scripted command answers.
    pub host: HostFixtures,
}

/// The `dns` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DnsFixtures {
    /// The zones, each with its records.
    pub zones: Vec<ZoneFixture>,
}

/// A zone of the `dns` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFixture {
    /// The zone's name.
    pub name: String,
    /// Its records.
    #[serde(default)]
    pub records: Vec<RecordFixture>,
}

fn automatic_ttl() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A record of a [`ZoneFixture`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFixture {
    /// The fully qualified name, or `@` for the zone's apex.
    pub name: String,
    /// The type (`A`, `TXT`, ...; other types such as `NS` are stored without validation).
    #[serde(rename = "type")]
    pub record_type: RecordType,
    /// The value.
    pub content: String,
    /// TTL in seconds; 1 (the default) is automatic.
    #[serde(default = "automatic_ttl")]
    pub ttl: u32,
    /// The proxy flag.
    #[serde(default)]
    pub proxied: Option<bool>,
    /// MX preference.
    #[serde(default)]
    pub priority: Option<u16>,
}

/// The `storage` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageFixtures {
    /// Buckets of this account, with their objects.
    pub buckets: Vec<BucketFixture>,
    /// Bucket names another account owns.
    pub foreign_buckets: Vec<String>,
}

/// A bucket of the `storage` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketFixture {
    /// The bucket's name.
    pub name: String,
    /// Keep every version of every object.
    #[serde(default)]
    pub versioning: bool,
    /// Archive objects after this many days.
    #[serde(default)]
    pub archive_after_days: Option<u32>,
    /// Block public access (default true).
    #[serde(default = "yes")]
    pub block_public_access: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
    /// Objects: key -> content.
    #[serde(default)]
    pub objects: BTreeMap<String, ObjectFixture>,
}

/// An object of a [`BucketFixture`]: a string (its UTF-8 text), or a map with `text` or
/// `base64` and an optional `content_type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFixture {
    /// The body.
    pub body: Content,
    /// The content type, if any.
    pub content_type: Option<String>,
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ObjectFixture;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, or { text | base64, content_type }")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<ObjectFixture, E> {
        Ok(ObjectFixture {
            body: Content::from(v),
            content_type: None,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<ObjectFixture, A::Error> {
        let (body, content_type) = content_map(map, true)?;
        Ok(ObjectFixture {
            body: Content(body),
            content_type,
        })
    }
}

impl<'de> serde::Deserialize<'de> for ObjectFixture {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor)
    }
}

/// The `compute` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeFixtures {
    /// Instances to launch.
    pub instances: Vec<InstanceFixture>,
}

/// An instance of the `compute` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceFixture {
    /// The name.
    pub name: String,
    /// The image.
    pub image: String,
    /// The size.
    pub size: String,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
    /// User data.
    #[serde(default)]
    pub user_data: Option<String>,
    /// The launch's idempotency key; the name when absent.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// The `ci` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CiFixtures {
    /// Folder paths (parents are created).
    pub folders: Vec<String>,
    /// Job path -> config XML (parent folders are created).
    pub jobs: BTreeMap<String, String>,
}

/// The `database` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseFixtures {
    /// Managed servers.
    pub servers: Vec<ServerFixture>,
    /// Role name -> role.
    pub roles: BTreeMap<String, RoleFixture>,
    /// Database name -> database.
    pub databases: BTreeMap<String, DatabaseFixture>,
}

fn postgres() -> String {
    "postgres".into()
}
fn postgres_version() -> String {
    "16".into()
}
fn small() -> String {
    "db.t3.micro".into()
}
fn twenty() -> u32 {
    20
}
fn admin() -> String {
    "provisio_admin".into()
}

/// A server of the `database` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFixture {
    /// The instance identifier.
    pub name: String,
    /// The administrator's password.
    pub admin_password: SecretString,
    /// The engine (default `postgres`).
    #[serde(default = "postgres")]
    pub engine: String,
    /// The engine version (default `16`).
    #[serde(default = "postgres_version")]
    pub version: String,
    /// The size (default `db.t3.micro`).
    #[serde(default = "small")]
    pub size: String,
    /// Storage in GiB (default 20).
    #[serde(default = "twenty")]
    pub storage_gb: u32,
    /// The administrator's user name (default `provisio_admin`).
    #[serde(default = "admin")]
    pub admin_user: String,
    /// Deletion protection (default true).
    #[serde(default = "yes")]
    pub deletion_protection: bool,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
}

/// A role of the `database` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleFixture {
    /// The role's password.
    pub password: SecretString,
}

/// A database of the `database` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFixture {
    /// The owning role (a role of the fixtures or one that already exists).
    pub owner: String,
}

/// The `repo` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepoFixtures {
    /// Branch -> files (path -> content). Branches other than `main` start from `main`.
    pub branches: BTreeMap<String, BTreeMap<String, Content>>,
}

/// The `mail` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailFixtures {
    /// Sending identities.
    pub identities: Vec<IdentityFixture>,
}

/// An identity of the `mail` section.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFixture {
    /// A domain or an e-mail address.
    pub name: String,
    /// Tags.
    #[serde(default)]
    pub tags: Tags,
    /// Mark it verified at once (otherwise it verifies after the provider's delay).
    #[serde(default)]
    pub verified: bool,
}

/// The `probe` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeFixtures {
    /// URL -> its answers, given in turn (the last one repeats).
    pub urls: BTreeMap<String, ProbeAnswers>,
    /// The answer of every URL not in `urls` (when absent: `200 ok`, or what the world has).
    pub default: Option<crate::probe::MemoryAnswer>,
}

/// The answers of one URL of the `probe` section: one answer, or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswers(pub Vec<crate::probe::MemoryAnswer>);

impl<'de> serde::Deserialize<'de> for ProbeAnswers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ProbeAnswers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "an answer { status, body, fails, certificate, ca_file } or a list of them",
                )
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<ProbeAnswers, A::Error> {
                let one =
                    serde::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(ProbeAnswers(vec![one]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<ProbeAnswers, A::Error> {
                let many =
                    serde::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(ProbeAnswers(many))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `host` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HostFixtures {
    /// Directory (absolute) -> files in it (name -> content); a directory may be empty.
    pub dirs: BTreeMap<String, BTreeMap<String, Content>>,
    /// Command line (as `HostCommand::display` writes it) -> its scripted answer.
    pub answers: BTreeMap<String, crate::host::CommandAnswer>,
}

/// The commit message of files written by fixtures.
pub const FIXTURES_COMMIT_MESSAGE: &str = "provisio fixtures";

fn fixtures_author() -> Author {
    Author {
        name: "provisio".into(),
        email: "provisio@memory.invalid".into(),
    }
}

/// An error about the fixture at `at` (e.g. `storage.buckets[0].name`): the same kind, the
/// message prefixed with the field.
fn at(field: &str, e: Error) -> Error {
    Error::new(
        e.kind().clone(),
        format!("fixtures {field}: {}", e.message()),
    )
    .with_resource(field.to_string())
}

fn at_res<T>(field: impl FnOnce() -> String, r: Result<T>) -> Result<T> {
    r.map_err(|e| at(&field(), e))
}

/// Parses fixtures text; errors name `<memory fixtures>`.
fn parse_text(text: &str, format: Format) -> Result<MemoryFixtures> {
    provisio_loader::parse_str(text, format, "<memory fixtures>", &Limits::default())
}

fn record_name(zone: &str, name: &str) -> String {
    if name == "@" {
        zone.to_string()
    } else {
        name.to_string()
    }
}

impl RecordFixture {
    fn spec(&self, zone: &str) -> RecordSpec {
        RecordSpec {
            name: record_name(zone, &self.name),
            record_type: self.record_type.clone(),
            content: self.content.clone(),
            ttl: self.ttl,
            proxied: self.proxied,
            priority: self.priority,
        }
    }
}

impl BucketFixture {
    fn spec(&self) -> BucketSpec {
        BucketSpec {
            name: self.name.clone(),
            versioning: self.versioning,
            archive_after_days: self.archive_after_days,
            block_public_access: self.block_public_access,
            tags: self.tags.clone(),
        }
    }
}

impl InstanceFixture {
    fn spec(&self) -> InstanceSpec {
        InstanceSpec {
            name: self.name.clone(),
            image: self.image.clone(),
            size: self.size.clone(),
            tags: self.tags.clone(),
            user_data: self.user_data.clone(),
            idempotency_key: self
                .idempotency_key
                .clone()
                .unwrap_or_else(|| self.name.clone()),
        }
    }
}

impl ServerFixture {
    fn spec(&self) -> ServerSpec {
        ServerSpec {
            name: self.name.clone(),
            engine: self.engine.clone(),
            version: self.version.clone(),
            size: self.size.clone(),
            storage_gb: self.storage_gb,
            admin_user: self.admin_user.clone(),
            admin_password: self.admin_password.clone(),
            deletion_protection: self.deletion_protection,
            tags: self.tags.clone(),
            restore_from_snapshot: None,
        }
    }
}

/// Branches in the order fixtures write them: `main` first.
fn branch_order(branches: &BTreeMap<String, BTreeMap<String, Content>>) -> Vec<&String> {
    let main = crate::repo::DEFAULT_BRANCH;
    let mut order: Vec<&String> = branches.keys().filter(|b| *b == main).collect();
    order.extend(branches.keys().filter(|b| *b != main));
    order
}

impl MemoryFixtures {
    /// Parses fixtures from YAML (an empty document is empty fixtures). Errors name the line,
    /// column and field: `<memory fixtures>:4:7: dns.zones[0].recrods: unknown field ...`.
    pub fn from_yaml(text: &str) -> Result<MemoryFixtures> {
        if text.trim().is_empty() {
            return Ok(MemoryFixtures::default());
        }
        parse_text(text, Format::Yaml)
    }

    /// Parses fixtures from JSON. Errors name the line, column and field.
    pub fn from_json(text: &str) -> Result<MemoryFixtures> {
        parse_text(text, Format::Json)
    }

    /// Parses fixtures from TOML. Errors name the line, column and field.
    pub fn from_toml(text: &str) -> Result<MemoryFixtures> {
        parse_text(text, Format::Toml)
    }

    /// Reads fixtures from a file, by its extension: `.yaml`/`.yml`, `.json` or `.toml` (by
    /// content without extension), within the default [`Limits`], and validates them. Errors
    /// name the path.
    pub fn from_path(path: impl AsRef<Path>) -> Result<MemoryFixtures> {
        let path = path.as_ref();
        let fixtures: MemoryFixtures = provisio_loader::load_file(path, &Limits::default())
            .map_err(|e| e.with_resource(path.display().to_string()))?;
        let in_file = |e: Error| {
            Error::new(
                e.kind().clone(),
                format!("memory fixtures file {}: {}", path.display(), e.message()),
            )
            .with_resource(path.display().to_string())
        };
        fixtures.validate().map_err(in_file)?;
        Ok(fixtures)
    }

    /// Checks every name, value and document against the rules the providers apply, without
    /// touching any provider. Errors are `InvalidInput` naming the field, e.g.
    /// `fixtures storage.buckets[0].name: invalid bucket: ...`.
    pub fn validate(&self) -> Result<()> {
        for (i, z) in self.dns.zones.iter().enumerate() {
            let f = |rest: &str| format!("dns.zones[{i}]{rest}");
            let zone = at_res(|| f(".name"), validate::dns_name("zone name", &z.name))?;
            for (j, r) in z.records.iter().enumerate() {
                let field = || f(&format!(".records[{j}]"));
                let spec = r.spec(&zone);
                if r.record_type.is_managed() {
                    let spec = at_res(field, spec.validated())?;
                    at_res(field, crate::dns::in_zone(&zone, &spec.name))?;
                    if spec.ttl != 1 && !(60..=86400).contains(&spec.ttl) {
                        return Err(at(
                            &field(),
                            Error::invalid_field("ttl", "must be 1 (automatic) or 60 to 86400"),
                        ));
                    }
                    if spec.proxied == Some(true) && spec.ttl != 1 {
                        return Err(at(
                            &field(),
                            Error::invalid_field("ttl", "proxied records must use 1 (automatic)"),
                        ));
                    }
                } else {
                    let name = at_res(field, validate::dns_name("record name", &spec.name))?;
                    at_res(field, crate::dns::in_zone(&zone, &name))?;
                }
            }
        }
        for (i, b) in self.storage.buckets.iter().enumerate() {
            let f = |rest: &str| format!("storage.buckets[{i}]{rest}");
            at_res(|| f(".name"), validate::s3_bucket_name("bucket", &b.name))?;
            at_res(|| f(".tags"), validate::tags("bucket tags", &b.tags))?;
            if b.archive_after_days == Some(0) {
                return Err(at(
                    &f(".archive_after_days"),
                    Error::invalid_field("archive_after_days", "must be at least 1"),
                ));
            }
            if self.storage.foreign_buckets.contains(&b.name) {
                return Err(at(
                    &f(".name"),
                    Error::invalid_input(format!(
                        "{} is also listed in storage.foreign_buckets",
                        b.name
                    )),
                ));
            }
            for key in b.objects.keys() {
                at_res(
                    || f(&format!(".objects[{key:?}]")),
                    validate::object_key("object key", key),
                )?;
            }
        }
        for (i, name) in self.storage.foreign_buckets.iter().enumerate() {
            at_res(
                || format!("storage.foreign_buckets[{i}]"),
                validate::s3_bucket_name("bucket", name),
            )?;
        }
        for (i, inst) in self.compute.instances.iter().enumerate() {
            at_res(
                || format!("compute.instances[{i}]"),
                crate::MemoryCompute::check_spec(&inst.spec()),
            )?;
        }
        for (i, path) in self.ci.folders.iter().enumerate() {
            at_res(
                || format!("ci.folders[{i}]"),
                validate::jenkins_job_path("folder path", path),
            )?;
        }
        for (path, xml) in &self.ci.jobs {
            let field = || format!("ci.jobs[{path:?}]");
            at_res(field, validate::jenkins_job_path("job path", path))?;
            at_res(field, crate::ci::check_xml(xml))?;
        }
        for (name, value) in &self.secrets {
            let field = || format!("secrets[{name:?}]");
            at_res(field, validate::secret_name("secret name", name))?;
            if value.is_empty() {
                return Err(at(
                    &field(),
                    Error::invalid_field("secret value", "must not be empty"),
                ));
            }
        }
        for (i, s) in self.database.servers.iter().enumerate() {
            let f = |rest: &str| format!("database.servers[{i}]{rest}");
            at_res(
                || f(".name"),
                crate::database::rds_identifier("server name", &s.name),
            )?;
            at_res(
                || f(".admin_user"),
                validate::pg_identifier("admin user", &s.admin_user),
            )?;
            at_res(
                || f(".admin_password"),
                crate::database::check_password("admin password", &s.admin_password),
            )?;
            if !(20..=65536).contains(&s.storage_gb) {
                return Err(at(
                    &f(".storage_gb"),
                    Error::invalid_field("storage_gb", "must be 20 to 65536 GiB"),
                ));
            }
            at_res(|| f(".tags"), validate::tags("server tags", &s.tags))?;
        }
        for (name, r) in &self.database.roles {
            let field = || format!("database.roles[{name:?}]");
            at_res(field, validate::pg_identifier("role name", name))?;
            if r.password.is_empty() {
                return Err(at(
                    &field(),
                    Error::invalid_field("role password", "must not be empty"),
                ));
            }
        }
        for (name, d) in &self.database.databases {
            let field = || format!("database.databases[{name:?}]");
            at_res(field, validate::pg_identifier("database name", name))?;
            at_res(field, validate::pg_identifier("database owner", &d.owner))?;
        }
        for (branch, files) in &self.repo.branches {
            let field = || format!("repo.branches[{branch:?}]");
            at_res(field, validate::git_branch_name("branch", branch))?;
            for path in files.keys() {
                at_res(
                    || format!("repo.branches[{branch:?}][{path:?}]"),
                    validate::repo_file_path("file path", path),
                )?;
            }
        }
        for (i, id) in self.mail.identities.iter().enumerate() {
            let field = || format!("mail.identities[{i}]");
            at_res(field, crate::mail::canonical(&id.name))?;
            at_res(field, validate::tags("identity tags", &id.tags))?;
        }
        for (url, answers) in &self.probe.urls {
            let field = || format!("probe.urls[{url:?}]");
            at_res(field, provisio::probe::probe_url("url", url))?;
            if answers.0.is_empty() {
                return Err(at(
                    &field(),
                    Error::invalid_field("answers", "must list at least one answer"),
                ));
            }
            // the probe checks each answer as it takes them (statuses)
            at_res(
                field,
                crate::MemoryProbe::new().set_answers(url, answers.0.clone()),
            )?;
        }
        if let Some(d) = &self.probe.default {
            at_res(
                || "probe.default".to_string(),
                crate::MemoryProbe::new().set_default(d.clone()),
            )?;
        }
        for (dir, files) in &self.host.dirs {
            let field = || format!("host.dirs[{dir:?}]");
            at_res(field, provisio::host::dir_path("host dir", dir))?;
            for name in files.keys() {
                at_res(
                    || format!("host.dirs[{dir:?}][{name:?}]"),
                    provisio::host::file_name("file name", name),
                )?;
            }
        }
        Ok(())
    }
}

/// What [`MemoryCloud`] does with a fixture item that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Bring it to what the fixtures say.
    Update,
    /// Leave it as it is.
    Keep,
}

impl MemoryCloud {
    /// Ensures everything `fixtures` describes (see [`crate::fixtures`]) through the
    /// providers' ordinary trait methods, after [`MemoryFixtures::validate`]: what is missing
    /// is created and what differs is brought to what the fixtures say. Idempotent: applying
    /// the same fixtures again changes nothing (objects and raw records are compared before
    /// they are written). Errors keep the provider's kind and name the fixture field.
    ///
    /// Because it overwrites, do not run it over a world that provisioning has since changed
    /// where the fixtures are concerned (e.g. umbrella jobs a launch added its jobs to): use
    /// [`MemoryCloud::apply_missing_fixtures`] for that, or apply fixtures only to a new world.
    ///
    /// The calls go through [`crate::Faults`] like any other: apply fixtures before setting
    /// fault rules (or call [`crate::Faults::reset_counters`] after) when counting calls.
    pub async fn apply_fixtures(&self, fixtures: &MemoryFixtures) -> Result<()> {
        self.apply_fixtures_with(fixtures, Existing::Update).await
    }

    /// Creates what `fixtures` describes and the world does not hold yet, and leaves
    /// everything that exists as it is: a record, bucket, object, job, secret (also a
    /// soft-deleted one), server, role, database, repository file or mail identity that is
    /// already there is not compared or changed, and a branch that exists gets only the files
    /// it lacks. Safe to run at the start of every command over a world that provisioning has
    /// changed since. Validation and errors as for [`MemoryCloud::apply_fixtures`].
    pub async fn apply_missing_fixtures(&self, fixtures: &MemoryFixtures) -> Result<()> {
        self.apply_fixtures_with(fixtures, Existing::Keep).await
    }

    async fn apply_fixtures_with(
        &self,
        fixtures: &MemoryFixtures,
        existing: Existing,
    ) -> Result<()> {
        let keep = existing == Existing::Keep;
        fixtures.validate()?;
        for (i, z) in fixtures.dns.zones.iter().enumerate() {
            let zone_name = validate::dns_name("zone name", &z.name)?;
            let zone = self.dns.add_zone(&zone_name);
            for (j, r) in z.records.iter().enumerate() {
                let field = || format!("dns.zones[{i}].records[{j}]");
                let spec = r.spec(&zone.name);
                let name = at_res(field, validate::dns_name("record name", &spec.name))?;
                let have = if keep || !r.record_type.is_managed() {
                    at_res(
                        field,
                        self.dns.get_record(&zone, &name, &r.record_type).await,
                    )?
                } else {
                    None
                };
                if keep && have.is_some() {
                    continue;
                }
                if r.record_type.is_managed() {
                    at_res(field, self.dns.ensure_record(&zone, &spec).await)?;
                    continue;
                }
                let same = have.as_ref().is_some_and(|h| {
                    h.content == spec.content
                        && h.ttl == spec.ttl
                        && h.proxied == spec.proxied
                        && h.priority == spec.priority
                });
                if !same {
                    self.dns.insert_raw_record(
                        &zone,
                        Record {
                            id: have.and_then(|h| h.id),
                            name,
                            record_type: spec.record_type,
                            content: spec.content,
                            ttl: spec.ttl,
                            proxied: spec.proxied,
                            priority: spec.priority,
                        },
                    );
                }
            }
        }

        for name in &fixtures.storage.foreign_buckets {
            self.storage.add_foreign_bucket(name);
        }
        for (i, b) in fixtures.storage.buckets.iter().enumerate() {
            let f = |rest: &str| format!("storage.buckets[{i}]{rest}");
            let exists =
                keep && at_res(|| f(""), self.storage.get_bucket(&b.name).await)?.is_some();
            if !exists {
                at_res(|| f(""), self.storage.ensure_bucket(&b.spec()).await)?;
            }
            for (key, o) in &b.objects {
                let field = || f(&format!(".objects[{key:?}]"));
                let have = at_res(field, self.storage.head_object(&b.name, key).await)?;
                let body: Bytes = o.body.0.clone();
                let skip = match have {
                    Some(_) if keep => true,
                    Some(m) => m.etag == content_etag(&body) && m.content_type == o.content_type,
                    None => false,
                };
                if !skip {
                    at_res(
                        field,
                        self.storage
                            .put_object(&b.name, key, body, o.content_type.as_deref())
                            .await,
                    )?;
                }
            }
        }

        // A launch is create-only already: the same idempotency key finds the instance.
        for (i, inst) in fixtures.compute.instances.iter().enumerate() {
            at_res(
                || format!("compute.instances[{i}]"),
                self.compute.launch_instance(&inst.spec()).await,
            )?;
        }

        // Folders are create-only already.
        for (i, path) in fixtures.ci.folders.iter().enumerate() {
            at_res(
                || format!("ci.folders[{i}]"),
                self.ci.ensure_folder(path).await,
            )?;
        }
        for (path, xml) in &fixtures.ci.jobs {
            let field = || format!("ci.jobs[{path:?}]");
            if keep && at_res(field, self.ci.get_job_config(path).await)?.is_some() {
                continue;
            }
            if let Some(parent) = crate::ci::parent(path) {
                at_res(field, self.ci.ensure_folder(parent).await)?;
            }
            at_res(field, self.ci.ensure_job(path, xml).await)?;
        }

        for (name, value) in &fixtures.secrets {
            let field = || format!("secrets[{name:?}]");
            if keep && at_res(field, self.secrets.describe_secret(name).await)?.is_some() {
                continue;
            }
            at_res(
                field,
                self.secrets.put_secret(name, value, &Tags::new()).await,
            )?;
        }

        for (i, s) in fixtures.database.servers.iter().enumerate() {
            let field = || format!("database.servers[{i}]");
            if keep && at_res(field, self.database.get_server(&s.name).await)?.is_some() {
                continue;
            }
            at_res(field, self.database.ensure_server(&s.spec()).await)?;
        }
        for (name, r) in &fixtures.database.roles {
            let field = || format!("database.roles[{name:?}]");
            if keep && at_res(field, self.database.role_exists(name).await)? {
                continue;
            }
            let spec = RoleSpec {
                name: name.clone(),
                password: r.password.clone(),
            };
            at_res(field, self.database.ensure_role(&spec).await)?;
        }
        for (name, d) in &fixtures.database.databases {
            let field = || format!("database.databases[{name:?}]");
            if keep && at_res(field, self.database.database_exists(name).await)? {
                continue;
            }
            let spec = DatabaseSpec {
                name: name.clone(),
                owner: d.owner.clone(),
            };
            at_res(field, self.database.ensure_database(&spec).await)?;
        }

        for branch in branch_order(&fixtures.repo.branches) {
            let field = || format!("repo.branches[{branch:?}]");
            // Create-only already: an existing branch keeps its head.
            at_res(
                field,
                self.repo
                    .ensure_branch(branch, crate::repo::DEFAULT_BRANCH)
                    .await,
            )?;
            let mut files: BTreeMap<String, Bytes> = BTreeMap::new();
            for (path, content) in &fixtures.repo.branches[branch] {
                if keep && at_res(field, self.repo.read_file(branch, path).await)?.is_some() {
                    continue;
                }
                files.insert(path.clone(), content.0.clone());
            }
            if files.is_empty() {
                continue;
            }
            let spec = CommitSpec {
                branch: branch.clone(),
                files,
                message: FIXTURES_COMMIT_MESSAGE.into(),
                author: fixtures_author(),
            };
            at_res(field, self.repo.write_files(&spec).await)?;
        }

        for (i, id) in fixtures.mail.identities.iter().enumerate() {
            let field = || format!("mail.identities[{i}]");
            if keep && at_res(field, self.mail.get_identity(&id.name).await)?.is_some() {
                continue;
            }
            at_res(field, self.mail.ensure_identity(&id.name, &id.tags).await)?;
            if id.verified {
                self.mail.verify(&id.name);
            }
        }

        for (url, answers) in &fixtures.probe.urls {
            if keep && self.probe.answers(url).is_some() {
                continue;
            }
            at_res(
                || format!("probe.urls[{url:?}]"),
                self.probe.set_answers(url, answers.0.clone()),
            )?;
        }
        // keep: only a world still on the built-in default gets the fixtures' one
        if let Some(d) = &fixtures.probe.default
            && (!keep || self.probe.default_answer() == crate::probe::MemoryAnswer::default())
        {
            at_res(
                || "probe.default".to_string(),
                self.probe.set_default(d.clone()),
            )?;
        }

        for (dir, files) in &fixtures.host.dirs {
            let field = || format!("host.dirs[{dir:?}]");
            self.host.add_dir(dir);
            let mut wanted: BTreeMap<String, Bytes> = BTreeMap::new();
            for (name, content) in files {
                if keep && self.host.file(&format!("{dir}/{name}")).is_some() {
                    continue;
                }
                wanted.insert(name.clone(), content.0.clone());
            }
            if !wanted.is_empty() {
                at_res(field, self.host.write_files(dir, &wanted).await)?;
            }
        }
        for (command, answer) in &fixtures.host.answers {
            if keep && self.host.has_answer(command) {
                continue;
            }
            self.host.answer(command.clone(), answer.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::ErrorKind;
    use provisio::mail::VerificationStatus;

    const UMBRELLA: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project><builders/></project>";

    const YAML: &str = r##"
dns:
  zones:
    - name: example.com
      records:
        - { name: "@", type: TXT, content: "v=spf1 -all", ttl: 300 }
        - { name: example.com, type: NS, content: ns1.example.net, ttl: 86400 }
        - { name: www.example.com, type: A, content: 192.0.2.1 }
storage:
  buckets:
    - name: provisio-shared-assets
      tags: { team: web }
      objects:
        initial/logo.svg: "<svg xmlns='http://www.w3.org/2000/svg'/>"
        initial/robots.txt: "User-agent: *\nDisallow:\n"
        initial/blob.bin: { base64: "AJ+SlP8=", content_type: application/octet-stream }
        initial/page.html: { text: "<h1>Welcome</h1>", content_type: text/html }
  foreign_buckets: [taken-elsewhere]
compute:
  instances:
    - { name: staging-host, image: ami-1, size: t3.large }
ci:
  folders: [tenants]
  jobs:
    core_build-stg: "<?xml version='1.1' encoding='UTF-8'?>\n<project><builders/></project>"
    umbrella/web_build-stg: "<project/>"
secrets:
  shared-smtp-password: hunter2-but-longer
database:
  servers:
    - { name: shared-db, admin_password: correct-horse-battery }
  roles:
    app: { password: app-password }
  databases:
    app_db: { owner: app }
repo:
  branches:
    main: { README.md: "# tenant configs\n" }
    template: { config.yml: "tenant: template\n", logo.bin: { base64: "AP8=" } }
mail:
  identities:
    - { name: example.com, verified: true }
    - { name: ops@example.com }
probe:
  urls:
    https://acme.example.com/health:
      - { status: 503, body: starting }
      - { status: 200, body: ready }
    http://down.example.com/: { fails: refused }
  default: { status: 404, body: "" }
"##;

    #[tokio::test(start_paused = true)]
    async fn applies_everything_and_twice_changes_nothing() {
        let fixtures = MemoryFixtures::from_yaml(YAML).unwrap();
        let cloud = MemoryCloud::new(7);
        cloud.apply_fixtures(&fixtures).await.unwrap();
        let inv = cloud.inventory();
        assert_eq!(inv.count("dns.zone"), 1);
        assert_eq!(inv.count("dns.record"), 3);
        assert!(inv.contains("dns.record", "TXT example.com"));
        assert!(inv.contains("dns.record", "NS example.com"));
        assert_eq!(
            inv.get("dns.record", "A www.example.com").unwrap()["ttl"],
            1
        );
        assert_eq!(inv.count("storage.object"), 4);
        let (body, meta) = cloud
            .storage
            .get_object("provisio-shared-assets", "initial/blob.bin")
            .await
            .unwrap();
        assert_eq!(&body[..], &[0, 159, 146, 148, 255]);
        assert_eq!(
            meta.content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            cloud
                .storage
                .ensure_bucket(&BucketSpec::new("taken-elsewhere"))
                .await
                .unwrap_err()
                .kind(),
            &ErrorKind::AlreadyExists
        );
        assert_eq!(inv.count("compute.instance"), 1);
        assert!(inv.contains("ci.folder", "tenants"));
        assert!(inv.contains("ci.folder", "umbrella"));
        assert_eq!(
            cloud
                .ci
                .get_job_config("core_build-stg")
                .await
                .unwrap()
                .as_deref(),
            Some(UMBRELLA)
        );
        assert_eq!(
            cloud
                .secrets
                .get_secret("shared-smtp-password")
                .await
                .unwrap()
                .value
                .expose(),
            "hunter2-but-longer"
        );
        assert!(inv.contains("database.server", "shared-db"));
        assert!(cloud.database.database_exists("app_db").await.unwrap());
        assert_eq!(
            cloud
                .repo
                .read_file("template", "README.md")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"# tenant configs\n"[..]),
            "other branches start from main"
        );
        assert_eq!(
            cloud
                .repo
                .read_file("template", "logo.bin")
                .await
                .unwrap()
                .as_deref(),
            Some(&[0u8, 255][..])
        );
        assert_eq!(
            cloud.repo.history("main")[0].message,
            FIXTURES_COMMIT_MESSAGE
        );
        let d = cloud
            .mail
            .get_identity("example.com")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.status, VerificationStatus::Success);
        assert_eq!(
            cloud
                .probe
                .answers("https://acme.example.com/health")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            cloud.probe.answers("http://down.example.com/").unwrap()[0].fails,
            Some(crate::probe::ProbeFailure::Refused)
        );

        // Again: no call changes anything, and the world is exactly the same.
        let before = cloud.snapshot();
        cloud.faults.reset_counters();
        cloud.apply_fixtures(&fixtures).await.unwrap();
        assert_eq!(
            cloud.faults.mutations("*"),
            0,
            "{:?}",
            cloud.faults.call_log()
        );
        assert!(cloud.faults.calls("*") > 0);
        assert_eq!(cloud.snapshot(), before);

        // And on a world restored from a snapshot of it.
        let restored = MemoryCloud::from_snapshot(7, before.clone()).unwrap();
        restored.apply_fixtures(&fixtures).await.unwrap();
        assert_eq!(restored.faults.mutations("*"), 0);
        assert_eq!(restored.snapshot(), before);
    }

    #[tokio::test(start_paused = true)]
    async fn missing_only_keeps_what_provisioning_changed() {
        let fixtures = MemoryFixtures::from_yaml(YAML).unwrap();
        let cloud = MemoryCloud::new(7);
        cloud.apply_missing_fixtures(&fixtures).await.unwrap();
        let fresh = MemoryCloud::new(7);
        fresh.apply_fixtures(&fixtures).await.unwrap();
        assert_eq!(
            cloud.snapshot(),
            fresh.snapshot(),
            "same result on an empty world"
        );

        // Provisioning changes fixture items: an umbrella job, an object, a secret, a file,
        // a record; and deletes an object.
        let zone = cloud.dns.find_zone("example.com").await.unwrap().unwrap();
        let www = RecordSpec::new("www.example.com", RecordType::A, "192.0.2.77", 300);
        cloud.dns.ensure_record(&zone, &www).await.unwrap();
        cloud
            .ci
            .ensure_job("core_build-stg", "<project><acme/></project>")
            .await
            .unwrap();
        cloud
            .storage
            .put_object(
                "provisio-shared-assets",
                "initial/robots.txt",
                "changed".into(),
                None,
            )
            .await
            .unwrap();
        cloud
            .storage
            .delete_object("provisio-shared-assets", "initial/logo.svg")
            .await
            .unwrap();
        cloud
            .secrets
            .put_secret(
                "shared-smtp-password",
                &SecretString::new("rotated"),
                &Tags::new(),
            )
            .await
            .unwrap();
        let readme = CommitSpec {
            branch: "main".into(),
            files: [("README.md".to_string(), Bytes::from("edited\n"))].into(),
            message: "edit".into(),
            author: fixtures_author(),
        };
        cloud.repo.write_files(&readme).await.unwrap();
        cloud
            .mail
            .set_status("ops@example.com", VerificationStatus::Failed);
        let changed = cloud.snapshot();

        cloud.faults.reset_counters();
        cloud.apply_missing_fixtures(&fixtures).await.unwrap();
        // Only the deleted object came back.
        assert_eq!(
            cloud.faults.mutations("*"),
            1,
            "{:?}",
            cloud.faults.call_log()
        );
        assert!(
            cloud
                .storage
                .head_object("provisio-shared-assets", "initial/logo.svg")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(
            cloud
                .ci
                .get_job_config("core_build-stg")
                .await
                .unwrap()
                .as_deref(),
            Some("<project><acme/></project>")
        );
        assert_eq!(
            cloud
                .secrets
                .get_secret("shared-smtp-password")
                .await
                .unwrap()
                .value
                .expose(),
            "rotated"
        );
        assert_eq!(
            cloud
                .repo
                .read_file("main", "README.md")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"edited\n"[..])
        );
        assert_ne!(cloud.snapshot(), changed);
        let again = cloud.snapshot();
        cloud.faults.reset_counters();
        cloud.apply_missing_fixtures(&fixtures).await.unwrap();
        assert_eq!(cloud.faults.mutations("*"), 0);
        assert_eq!(cloud.snapshot(), again);

        // apply_fixtures brings everything back to the fixtures.
        cloud.apply_fixtures(&fixtures).await.unwrap();
        assert_eq!(
            cloud
                .ci
                .get_job_config("core_build-stg")
                .await
                .unwrap()
                .as_deref(),
            Some(UMBRELLA)
        );
        assert_eq!(
            cloud
                .inventory()
                .get("dns.record", "A www.example.com")
                .unwrap()["content"],
            "192.0.2.1"
        );
    }

    #[test]
    fn yaml_json_and_toml_read_the_same() {
        let yaml = MemoryFixtures::from_yaml(
            "ci:\n  jobs:\n    a/b: \"<project/>\"\nsecrets:\n  s-1: v\nstorage:\n  buckets:\n    - name: b-one\n      objects: { k: { base64: AP8= } }\n",
        )
        .unwrap();
        let json = MemoryFixtures::from_json(
            r#"{"ci": {"jobs": {"a/b": "<project/>"}}, "secrets": {"s-1": "v"},
                "storage": {"buckets": [{"name": "b-one", "objects": {"k": {"base64": "AP8="}}}]}}"#,
        )
        .unwrap();
        let toml = MemoryFixtures::from_toml(
            "[ci.jobs]\n\"a/b\" = \"<project/>\"\n[secrets]\ns-1 = \"v\"\n[[storage.buckets]]\nname = \"b-one\"\nobjects = { k = { base64 = \"AP8=\" } }\n",
        )
        .unwrap();
        assert_eq!(yaml, json);
        assert_eq!(yaml, toml);
        assert_eq!(
            MemoryFixtures::from_yaml("  \n").unwrap(),
            MemoryFixtures::default()
        );
        // Debug never shows secret values.
        let dbg = format!("{yaml:?}");
        assert!(!dbg.contains("\"v\""), "{dbg}");
    }

    #[test]
    fn parse_errors_name_the_field() {
        for (text, wants) in [
            (
                "dns:\n  zones:\n    - name: a.com\n      recrods: []\n",
                &["recrods", "dns.zones[0]"][..],
            ),
            (
                "storage:\n  buckets:\n    - name: b-one\n      objects: { k: { bas64: AA== } }\n",
                &["bas64"][..],
            ),
            (
                "storage:\n  buckets:\n    - name: b-one\n      objects: { k: { base64: \"!!\" } }\n",
                &["base64"][..],
            ),
            (
                "storage:\n  buckets:\n    - name: b-one\n      objects: { k: { text: a, base64: AA== } }\n",
                &["exactly one"][..],
            ),
            ("secret: {}\n", &["unknown field `secret`"][..]),
            (
                "dns:\n  zones:\n    - records: []\n",
                &["missing field `name`"][..],
            ),
        ] {
            let e = MemoryFixtures::from_yaml(text).unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput);
            for want in wants {
                assert!(e.message().contains(want), "{want:?} not in {e}");
            }
        }
        let e = MemoryFixtures::from_json(r#"{"ci": {"jobz": {}}}"#).unwrap_err();
        assert!(
            e.message()
                .starts_with("<memory fixtures>:1:14: ci.jobz: unknown field `jobz`"),
            "{e}"
        );
        let e = MemoryFixtures::from_toml("[repo]\nbranch = 1\n").unwrap_err();
        assert!(e.message().contains("branch"), "{e}");
    }

    #[tokio::test]
    async fn validation_errors_name_the_field_and_change_nothing() {
        for (text, field) in [
            (
                "storage:\n  buckets:\n    - name: Bad_Bucket\n",
                "storage.buckets[0].name",
            ),
            (
                "dns:\n  zones:\n    - name: a.com\n      records: [{ name: www.b.com, type: A, content: 192.0.2.1 }]\n",
                "dns.zones[0].records[0]",
            ),
            (
                "dns:\n  zones:\n    - name: a.com\n      records: [{ name: a.com, type: A, content: 192.0.2.1, ttl: 5 }]\n",
                "dns.zones[0].records[0]",
            ),
            (
                "ci:\n  jobs:\n    broken: \"<project>\"\n",
                "ci.jobs[\"broken\"]",
            ),
            ("secrets:\n  bad_name: v\n", "secrets[\"bad_name\"]"),
            (
                "database:\n  servers: [{ name: db-1, admin_password: short }]\n",
                "database.servers[0].admin_password",
            ),
            (
                "repo:\n  branches:\n    main: { ../x: a }\n",
                "repo.branches[\"main\"][\"../x\"]",
            ),
            (
                "mail:\n  identities: [{ name: \"bad@@x\" }]\n",
                "mail.identities[0]",
            ),
            (
                "compute:\n  instances: [{ name: \"\", image: i, size: s }]\n",
                "compute.instances[0]",
            ),
            (
                "probe:\n  urls:\n    ftp://x/: { status: 200 }\n",
                "probe.urls[\"ftp://x/\"]",
            ),
            (
                "probe:\n  urls:\n    http://x/: [{ status: 200 }, { status: 7 }]\n",
                "probe.urls[\"http://x/\"]",
            ),
            (
                "probe:\n  urls:\n    http://x/: []\n",
                "probe.urls[\"http://x/\"]",
            ),
            (
                "storage:\n  buckets: [{ name: b-one }]\n  foreign_buckets: [b-one]\n",
                "storage.buckets[0].name",
            ),
        ] {
            // A valid section first: nothing of it may be applied when a later one is invalid.
            let text = format!("dns:\n  zones: [{{ name: ok.com }}]\n{text}");
            let text = text.replacen("dns:\n  zones: [{ name: ok.com }]\ndns:\n", "dns:\n", 1);
            let fixtures = MemoryFixtures::from_yaml(&text).unwrap();
            let cloud = MemoryCloud::new(1);
            let e = cloud.apply_fixtures(&fixtures).await.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}");
            assert!(
                e.message().contains(&format!("fixtures {field}")),
                "{field} not in {e}"
            );
            assert_eq!(e.resource(), Some(field));
            assert_eq!(cloud.inventory(), MemoryCloud::new(1).inventory(), "{text}");
        }
    }

    #[tokio::test]
    async fn provider_errors_keep_their_kind_and_name_the_field() {
        let cloud = MemoryCloud::new(1);
        let f = MemoryFixtures::from_yaml("database:\n  databases: { app_db: { owner: ghost } }\n")
            .unwrap();
        let e = cloud.apply_fixtures(&f).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(
            e.message().contains("database.databases[\"app_db\"]"),
            "{e}"
        );

        let f = MemoryFixtures::from_yaml("secrets: { s-1: v }\n").unwrap();
        cloud.apply_fixtures(&f).await.unwrap();
        cloud.secrets.delete_secret("s-1", 7).await.unwrap();
        let e = cloud.apply_fixtures(&f).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.message().contains("secrets[\"s-1\"]"), "{e}");
        assert!(!e.to_string().contains(": v"), "{e}");
    }

    #[test]
    fn from_path_picks_the_format() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("fixtures.yml");
        std::fs::write(&yaml, "secrets: { s-1: v }\n").unwrap();
        let json = dir.path().join("fixtures.json");
        std::fs::write(&json, r#"{"secrets": {"s-1": "v"}}"#).unwrap();
        let toml = dir.path().join("fixtures.toml");
        std::fs::write(&toml, "[secrets]\ns-1 = \"v\"\n").unwrap();
        let a = MemoryFixtures::from_path(&yaml).unwrap();
        assert_eq!(a, MemoryFixtures::from_path(&json).unwrap());
        assert_eq!(a, MemoryFixtures::from_path(&toml).unwrap());
        let other = dir.path().join("fixtures.txt");
        std::fs::write(&other, "").unwrap();
        let e = MemoryFixtures::from_path(&other).unwrap_err();
        assert!(
            e.message().contains("fixtures.txt") && e.message().contains(".yaml"),
            "{e}"
        );
        let e = MemoryFixtures::from_path(dir.path().join("missing.yaml")).unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        std::fs::write(&yaml, "secrets: { bad_name: v }\n").unwrap();
        let e = MemoryFixtures::from_path(&yaml).unwrap_err();
        assert!(
            e.message().contains("fixtures.yml") && e.message().contains("secrets[\"bad_name\"]"),
            "{e}"
        );
    }
}
