//! Validation of names at the library's boundary.
//!
//! Every function takes the name of the *field* being checked (so the error can say which input
//! was wrong) and the value, and returns either the value in canonical form or an
//! [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error of the form
//! `invalid <field>: <rule>`.
//!
//! ```
//! use provisio::validate;
//! assert_eq!(validate::dns_name("record", "Bücher.Example.com.").unwrap(), "xn--bcher-kva.example.com");
//! let err = validate::s3_bucket_name("bucket", "My_Bucket").unwrap_err();
//! assert!(err.to_string().contains("invalid bucket"));
//! ```

use crate::{Error, Result};

mod xml;
pub use xml::xml_document;

fn fail<T>(field: &str, rule: impl std::fmt::Display) -> Result<T> {
    Err(Error::invalid_field(field, rule))
}

fn check_len(field: &str, value: &str, min: usize, max: usize, unit: &str) -> Result<()> {
    let n = if unit == "bytes" {
        value.len()
    } else {
        value.chars().count()
    };
    if n < min || n > max {
        return fail(
            field,
            format!("must be {min} to {max} {unit} long, got {n} ({value:?})"),
        );
    }
    Ok(())
}

/// The kinds of names whose rules differ between providers (see
/// [`crate::Provider::check_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NameKind {
    /// A DNS record or zone name.
    DnsName,
    /// A bucket or container.
    Bucket,
    /// An object key.
    ObjectKey,
    /// A secret's name.
    Secret,
    /// A database.
    Database,
    /// A database role (user).
    Role,
    /// A git branch.
    Branch,
    /// A file path inside a repository.
    RepoPath,
    /// A CI job or folder path (`tenants/acme/build`).
    JobPath,
}

impl NameKind {
    /// The kind as a word for messages (`secret name`, `branch`).
    pub fn as_str(self) -> &'static str {
        match self {
            NameKind::DnsName => "DNS name",
            NameKind::Bucket => "bucket",
            NameKind::ObjectKey => "object key",
            NameKind::Secret => "secret name",
            NameKind::Database => "database name",
            NameKind::Role => "role name",
            NameKind::Branch => "branch",
            NameKind::RepoPath => "repository path",
            NameKind::JobPath => "job path",
        }
    }
}

/// The portable rule of `kind`: a name that passes works with every provider provisio drives
/// (for a bucket, S3's rule or Azure's; for a secret, Key Vault's, the strictest). Returns the
/// canonical form. This is [`crate::Provider::check_name`]'s default.
///
/// ```
/// use provisio::validate::{NameKind, portable};
/// assert!(portable(NameKind::Secret, "secret", "acme-db").is_ok());
/// assert!(portable(NameKind::Secret, "secret", "tenants/acme/db").is_err()); // Key Vault refuses '/'
/// assert!(portable(NameKind::Branch, "branch", "dev-acme").is_ok());
/// ```
pub fn portable(kind: NameKind, field: &str, value: &str) -> Result<String> {
    match kind {
        NameKind::DnsName => dns_name(field, value),
        NameKind::Bucket => s3_bucket_name(field, value)
            .or_else(|e| azure_container_name(field, value).map_err(|_| e)),
        NameKind::ObjectKey => object_key(field, value),
        NameKind::Secret => secret_name(field, value),
        NameKind::Database => pg_database_name(field, value),
        NameKind::Role => pg_role_name(field, value),
        NameKind::Branch => git_branch_name(field, value),
        NameKind::RepoPath => repo_file_path(field, value),
        NameKind::JobPath => jenkins_job_path(field, value),
    }
}

/// A DNS name as used for records and zones: IDN converted to punycode, lower-cased, trailing
/// dot removed; labels of 1 to 63 octets of letters, digits, hyphens (not at either end) and
/// underscores (for `_dmarc`-style names); a leading `*` label is allowed; 253 octets at most.
pub fn dns_name(field: &str, value: &str) -> Result<String> {
    dns_name_inner(field, value, true)
}

/// A host name (RFC 1123): like [`dns_name`] but without underscores or wildcards.
pub fn hostname(field: &str, value: &str) -> Result<String> {
    dns_name_inner(field, value, false)
}

fn dns_name_inner(field: &str, value: &str, record: bool) -> Result<String> {
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if trimmed.is_empty() {
        return fail(field, "must not be empty");
    }
    // Punycode each label ourselves: idna's UTS-46 mapping rejects `_` and `*`, which are legal
    // in record names.
    let mut labels = Vec::new();
    for (i, label) in trimmed.split('.').enumerate() {
        if label.is_empty() {
            return fail(field, format!("{value:?} has an empty label"));
        }
        let ascii = if label.is_ascii() {
            label.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii(label).map_err(|_| {
                Error::invalid_field(field, format!("label {label:?} is not a valid IDN label"))
            })?
        };
        if record && i == 0 && ascii == "*" {
            labels.push(ascii);
            continue;
        }
        if ascii.len() > 63 {
            return fail(
                field,
                format!("label {label:?} is {} octets; at most 63", ascii.len()),
            );
        }
        let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || (record && c == '_');
        if let Some(c) = ascii.chars().find(|c| !ok_char(*c)) {
            let allowed = if record {
                "letters, digits, '-' and '_'"
            } else {
                "letters, digits and '-'"
            };
            return fail(
                field,
                format!("label {label:?} contains {c:?}; only {allowed} are allowed"),
            );
        }
        if ascii.starts_with('-') || ascii.ends_with('-') {
            return fail(
                field,
                format!("label {label:?} must not start or end with '-'"),
            );
        }
        labels.push(ascii);
    }
    let name = labels.join(".");
    if name.len() > 253 {
        return fail(field, format!("is {} octets long; at most 253", name.len()));
    }
    Ok(name)
}

/// An S3 bucket name (general purpose buckets): 3 to 63 characters of lower-case letters,
/// digits, dots and hyphens, starting and ending with a letter or digit, no `..`, not an IPv4
/// address, and none of the prefixes and suffixes AWS reserves.
pub fn s3_bucket_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 3, 63, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return fail(
            field,
            format!(
                "{value:?} contains {c:?}; only lower-case letters, digits, '.' and '-' are allowed"
            ),
        );
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !edge_ok(value.chars().next()) || !edge_ok(value.chars().last()) {
        return fail(
            field,
            format!("{value:?} must start and end with a letter or digit"),
        );
    }
    if value.contains("..") {
        return fail(
            field,
            format!("{value:?} must not contain two adjacent periods"),
        );
    }
    if value.parse::<std::net::Ipv4Addr>().is_ok() {
        return fail(
            field,
            format!("{value:?} must not be formatted as an IP address"),
        );
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if value.starts_with(prefix) {
            return fail(
                field,
                format!("{value:?} must not start with the reserved prefix {prefix:?}"),
            );
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if value.ends_with(suffix) {
            return fail(
                field,
                format!("{value:?} must not end with the reserved suffix {suffix:?}"),
            );
        }
    }
    Ok(value.to_string())
}

/// An Azure Blob container name: 3 to 63 characters of lower-case letters, digits and single
/// hyphens, starting with a letter or digit and not ending with a hyphen; `$root`, `$web` and
/// `$logs` are accepted as the special containers they are.
pub fn azure_container_name(field: &str, value: &str) -> Result<String> {
    if matches!(value, "$root" | "$web" | "$logs") {
        return Ok(value.to_string());
    }
    check_len(field, value, 3, 63, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return fail(
            field,
            format!(
                "{value:?} contains {c:?}; only lower-case letters, digits and '-' are allowed"
            ),
        );
    }
    if value.starts_with('-') || value.ends_with('-') {
        return fail(field, format!("{value:?} must not start or end with '-'"));
    }
    if value.contains("--") {
        return fail(
            field,
            format!("{value:?} must not contain consecutive hyphens"),
        );
    }
    Ok(value.to_string())
}

/// Characters Jenkins refuses in item names (`Jenkins.checkGoodName`).
pub const JENKINS_UNSAFE_CHARS: &str = "?*/\\%!@#$^&|<>[]:;";

/// One Jenkins item name (a job or folder, not a path): not empty, not `.` or `..`, no
/// characters from [`JENKINS_UNSAFE_CHARS`], no control characters, no leading or trailing
/// whitespace, no trailing `.`, at most 255 characters.
pub fn jenkins_item_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 255, "characters")?;
    if value == "." || value == ".." {
        return fail(field, format!("{value:?} is not a valid item name"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| JENKINS_UNSAFE_CHARS.contains(*c) || c.is_control())
    {
        return fail(
            field,
            format!(
                "{value:?} contains the unsafe character {c:?} (unsafe: {JENKINS_UNSAFE_CHARS} and control characters)"
            ),
        );
    }
    if value.trim() != value {
        return fail(
            field,
            format!("{value:?} must not start or end with whitespace"),
        );
    }
    if value.ends_with('.') {
        return fail(field, format!("{value:?} must not end with '.'"));
    }
    Ok(value.to_string())
}

/// A Jenkins job path `folder/sub/job`: each `/`-separated segment a valid item name.
pub fn jenkins_job_path(field: &str, value: &str) -> Result<String> {
    if value.is_empty() {
        return fail(field, "must not be empty");
    }
    for segment in value.split('/') {
        jenkins_item_name(field, segment)?;
    }
    Ok(value.to_string())
}

/// A PostgreSQL identifier (role or database name). provisio always quotes identifiers, so any
/// character is allowed except NUL; the length is 1 to 63 bytes (NAMEDATALEN - 1), and names
/// starting with `pg_` are reserved by PostgreSQL.
pub fn pg_identifier(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 63, "bytes")?;
    if value.contains('\0') {
        return fail(field, "must not contain a NUL character");
    }
    if value.to_ascii_lowercase().starts_with("pg_") {
        return fail(
            field,
            format!("{value:?} must not start with the reserved prefix \"pg_\""),
        );
    }
    Ok(value.to_string())
}

/// Role names PostgreSQL reserves (`CREATE ROLE` refuses them), compared case-sensitively as
/// provisio quotes identifiers.
pub const PG_RESERVED_ROLES: &[&str] = &[
    "public",
    "none",
    "current_role",
    "current_user",
    "session_user",
];

/// A PostgreSQL role provisio may create: a [`pg_identifier`] that is not a reserved role name
/// ([`PG_RESERVED_ROLES`]) and not `postgres`, the bootstrap superuser every cluster has.
///
/// ```
/// use provisio::validate::pg_role_name;
/// assert!(pg_role_name("role", "acme_app").is_ok());
/// assert!(pg_role_name("role", "postgres").is_err());
/// assert!(pg_role_name("role", "pg_monitor").is_err());
/// assert!(pg_role_name("role", "public").is_err());
/// ```
pub fn pg_role_name(field: &str, value: &str) -> Result<String> {
    let value = pg_identifier(field, value)?;
    if value == "postgres" || PG_RESERVED_ROLES.contains(&value.as_str()) {
        return fail(
            field,
            format!("{value:?} is reserved by PostgreSQL and cannot be created or dropped"),
        );
    }
    Ok(value)
}

/// Databases every PostgreSQL cluster is created with.
pub const PG_SYSTEM_DATABASES: &[&str] = &["postgres", "template0", "template1"];

/// A PostgreSQL database provisio may create: a [`pg_identifier`] other than the system
/// databases ([`PG_SYSTEM_DATABASES`]).
///
/// ```
/// use provisio::validate::pg_database_name;
/// assert!(pg_database_name("database", "acme").is_ok());
/// assert!(pg_database_name("database", "template1").is_err());
/// ```
pub fn pg_database_name(field: &str, value: &str) -> Result<String> {
    let value = pg_identifier(field, value)?;
    if PG_SYSTEM_DATABASES.contains(&value.as_str()) {
        return fail(
            field,
            format!(
                "{value:?} is a system database of every cluster; provisio does not create or drop it"
            ),
        );
    }
    Ok(value)
}

/// A Key Vault secret name: 1 to 127 characters of ASCII letters, digits and hyphens.
pub fn keyvault_secret_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 127, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return fail(
            field,
            format!("{value:?} contains {c:?}; only letters, digits and '-' are allowed"),
        );
    }
    Ok(value.to_string())
}

/// An AWS Secrets Manager secret name: 1 to 512 characters of ASCII letters, digits and
/// `/_+=.@-`. (AWS advises against ending a name with a hyphen and six characters, which looks
/// like the random suffix of a secret's ARN to a lookup by partial ARN; it accepts such names,
/// and provisio addresses secrets by name, so they are accepted here too.)
pub fn aws_secret_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 512, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return fail(
            field,
            format!("{value:?} contains {c:?}; only letters, digits and /_+=.@- are allowed"),
        );
    }
    Ok(value.to_string())
}

/// A secret name that at least one secret store provisio drives accepts (AWS Secrets
/// Manager's characters and length, path-style names included): what a blueprint may say
/// before it is known which store gets the name. The store then applies its own rule
/// ([`crate::Provider::check_name`]; Key Vault refuses `/`).
///
/// ```
/// use provisio::validate::lenient_secret_name;
/// assert!(lenient_secret_name("name", "tenants/acme/db-password").is_ok());
/// assert!(lenient_secret_name("name", "acme db").is_err());
/// ```
pub fn lenient_secret_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 512, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        return fail(
            field,
            format!("{value:?} contains {c:?}; only letters, digits and /_+=.@- are allowed"),
        );
    }
    Ok(value.to_string())
}

/// A portable secret name, valid in every secret store provisio drives (Key Vault is the
/// strictest): 1 to 127 letters, digits and hyphens.
pub fn secret_name(field: &str, value: &str) -> Result<String> {
    keyvault_secret_name(field, value)
}

/// A git branch name, following `git check-ref-format --branch`: no `..`, `@{`, control
/// characters, space, `~^:?*[\`; no component starting with `.` or ending with `.lock`; not
/// starting or ending with `/`, no `//`, not ending with `.`, not `@` or `HEAD`, not starting
/// with `-`.
pub fn git_branch_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 255, "bytes")?;
    let bad = |rule: &str| fail::<String>(field, format!("{value:?} {rule}"));
    if value == "@" || value == "HEAD" {
        return bad("is not a valid branch name (git reserves it)");
    }
    if value.starts_with('-') {
        return bad("must not start with '-'");
    }
    if value.contains("..") || value.contains("@{") || value.contains("//") {
        return bad("must not contain '..', '@{' or '//'");
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_control() || " ~^:?*[\\".contains(*c))
    {
        return bad(&format!("must not contain {c:?}"));
    }
    if value.starts_with('/') || value.ends_with('/') || value.ends_with('.') {
        return bad("must not start or end with '/' or end with '.'");
    }
    for component in value.split('/') {
        if component.starts_with('.') || component.ends_with(".lock") {
            return bad("has a component starting with '.' or ending with '.lock'");
        }
    }
    Ok(value.to_string())
}

/// A path of a file inside a repository: relative, `/`-separated, no empty, `.` or `..`
/// components, no NUL, and nothing under `.git`.
pub fn repo_file_path(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 4096, "bytes")?;
    if value.contains('\0') || value.contains('\\') {
        return fail(field, format!("{value:?} must not contain NUL or '\\'"));
    }
    for component in value.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return fail(
                field,
                format!("{value:?} must be relative with no empty, '.' or '..' components"),
            );
        }
    }
    if value.split('/').next() == Some(".git") {
        return fail(field, format!("{value:?} must not write inside .git"));
    }
    Ok(value.to_string())
}

/// An object key: 1 to 1024 bytes, no NUL or other control characters.
pub fn object_key(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 1, 1024, "bytes")?;
    if value.chars().any(|c| c.is_control()) {
        return fail(
            field,
            format!("{value:?} must not contain control characters"),
        );
    }
    Ok(value.to_string())
}

/// A tenant name. Tenant names end up in DNS labels, bucket names, Jenkins job names, git
/// branches and database identifiers, so the rule is the intersection of all of those: 2 to 32
/// characters of lower-case ASCII letters, digits and single hyphens, starting with a letter and
/// ending with a letter or digit.
pub fn tenant_name(field: &str, value: &str) -> Result<String> {
    check_len(field, value, 2, 32, "characters")?;
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return fail(
            field,
            format!(
                "{value:?} contains {c:?}; only lower-case letters, digits and '-' are allowed"
            ),
        );
    }
    if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
        return fail(
            field,
            format!("{value:?} must start with a lower-case letter"),
        );
    }
    if value.ends_with('-') || value.contains("--") {
        return fail(
            field,
            format!("{value:?} must not end with '-' or contain consecutive hyphens"),
        );
    }
    Ok(value.to_string())
}

/// A tag key or value as the strictest supported provider (AWS) accepts it: keys 1 to 128
/// characters, values up to 256, no control characters, keys not starting with `aws:`.
pub fn tag(field: &str, key: &str, value: &str) -> Result<()> {
    check_len(field, key, 1, 128, "characters")?;
    if value.chars().count() > 256 {
        return fail(
            field,
            format!("value of tag {key:?} is longer than 256 characters"),
        );
    }
    if key.chars().chain(value.chars()).any(|c| c.is_control()) {
        return fail(
            field,
            format!("tag {key:?} must not contain control characters"),
        );
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return fail(
            field,
            format!("tag key {key:?} must not start with the reserved prefix aws:"),
        );
    }
    Ok(())
}

/// Every tag of a tag set; see [`tag`].
pub fn tags(field: &str, tags: &crate::Tags) -> Result<()> {
    if tags.len() > 50 {
        return fail(field, format!("has {} tags; at most 50", tags.len()));
    }
    tags.iter().try_for_each(|(k, v)| tag(field, k, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn rejects(r: Result<String>, field: &str, needle: &str) {
        let e = r.expect_err("should be rejected");
        assert_eq!(e.kind(), &ErrorKind::InvalidInput);
        let msg = e.to_string();
        assert!(msg.contains(&format!("invalid {field}")), "{msg}");
        assert!(msg.contains(needle), "{msg} should mention {needle}");
    }

    #[test]
    fn reserved_postgres_and_git_names() {
        rejects(pg_role_name("role", "postgres"), "role", "reserved");
        rejects(pg_role_name("role", "pg_read_all_data"), "role", "pg_");
        rejects(pg_role_name("role", "current_user"), "role", "reserved");
        assert!(
            pg_role_name("role", "Postgres").is_ok(),
            "quoted: another name"
        );
        rejects(pg_database_name("db", "template0"), "db", "system database");
        rejects(pg_database_name("db", "postgres"), "db", "system database");
        assert!(pg_database_name("db", "acme").is_ok());
        rejects(git_branch_name("branch", "HEAD"), "branch", "reserves");
        assert!(git_branch_name("branch", "head").is_ok());
        assert!(git_branch_name("branch", "feature/HEAD-fix").is_ok());
        rejects(
            portable(NameKind::Role, "role", "postgres"),
            "role",
            "reserved",
        );
        rejects(
            portable(NameKind::Database, "db", "template1"),
            "db",
            "system database",
        );
    }

    #[test]
    fn dns_names() {
        assert_eq!(
            dns_name("n", "WWW.Example.COM.").unwrap(),
            "www.example.com"
        );
        assert_eq!(dns_name("n", "münchen.de").unwrap(), "xn--mnchen-3ya.de");
        assert_eq!(
            dns_name("n", "_dmarc.example.com").unwrap(),
            "_dmarc.example.com"
        );
        assert_eq!(dns_name("n", "*.example.com").unwrap(), "*.example.com");
        rejects(hostname("host", "_dmarc.example.com"), "host", "'_'");
        rejects(dns_name("n", "a..b"), "n", "empty label");
        rejects(dns_name("n", "-a.b"), "n", "must not start or end");
        rejects(
            dns_name("n", &format!("{}.com", "a".repeat(64))),
            "n",
            "at most 63",
        );
        let long = vec!["a".repeat(60); 5].join(".");
        rejects(dns_name("n", &long), "n", "at most 253");
        rejects(dns_name("n", "a b.com"), "n", "' '");
        rejects(dns_name("n", ""), "n", "empty");
    }

    #[test]
    fn bucket_names() {
        assert!(s3_bucket_name("b", "acme-assets.prod").is_ok());
        rejects(s3_bucket_name("b", "ab"), "b", "3 to 63");
        rejects(s3_bucket_name("b", "Acme"), "b", "'A'");
        rejects(s3_bucket_name("b", "acme..x"), "b", "adjacent");
        rejects(s3_bucket_name("b", "192.168.1.1"), "b", "IP address");
        rejects(s3_bucket_name("b", "xn--abc"), "b", "reserved prefix");
        rejects(s3_bucket_name("b", "abc-s3alias"), "b", "reserved suffix");
        rejects(s3_bucket_name("b", "-abc"), "b", "start and end");
        assert!(azure_container_name("c", "acme-assets").is_ok());
        assert!(azure_container_name("c", "$web").is_ok());
        rejects(
            azure_container_name("c", "acme--assets"),
            "c",
            "consecutive",
        );
        rejects(azure_container_name("c", "acme.assets"), "c", "'.'");
    }

    #[test]
    fn jenkins_names() {
        assert!(jenkins_item_name("job", "web_build-acme").is_ok());
        for bad in ["a/b", "a?", "x<y", "a;b", "ends.", "..", " lead", "tab\t"] {
            assert!(jenkins_item_name("job", bad).is_err(), "{bad:?}");
        }
        assert!(jenkins_job_path("job", "tenants/web_build-acme").is_ok());
        rejects(jenkins_job_path("job", "tenants//x"), "job", "1 to 255");
    }

    #[test]
    fn pg_identifiers() {
        assert!(pg_identifier("role", "acme \"quoted\"; drop").is_ok());
        assert!(pg_identifier("role", "ünïcode").is_ok());
        rejects(
            pg_identifier("role", &"é".repeat(32)),
            "role",
            "1 to 63 bytes",
        );
        rejects(pg_identifier("role", "a\0b"), "role", "NUL");
        rejects(pg_identifier("role", "pg_admin"), "role", "reserved");
    }

    #[test]
    fn secret_names() {
        assert!(keyvault_secret_name("secret", "acme-db-password").is_ok());
        rejects(keyvault_secret_name("secret", "acme/db"), "secret", "'/'");
        assert!(aws_secret_name("secret", "tenants/acme/db_password").is_ok());
        // AWS only advises against a name that ends like an ARN suffix
        assert!(aws_secret_name("secret", "tenant-00-session-secret").is_ok());
        rejects(aws_secret_name("secret", "a b"), "secret", "' '");
    }

    #[test]
    fn git_branches() {
        for ok in ["acme", "dev-acme", "feature/x.y", "tenants/acme"] {
            assert!(git_branch_name("branch", ok).is_ok(), "{ok}");
        }
        for bad in [
            "a..b", "a b", "a~1", "a^", "a:b", "/a", "a/", "a.", "a.lock", ".a", "@", "a@{1}",
            "-a", "a//b", "a*",
        ] {
            assert!(git_branch_name("branch", bad).is_err(), "{bad:?}");
        }
        assert!(repo_file_path("path", "config/nginx.conf").is_ok());
        for bad in ["/etc/passwd", "a/../b", ".git/config", "a//b", ""] {
            assert!(repo_file_path("path", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tenants() {
        assert!(tenant_name("tenant", "acme").is_ok());
        assert!(tenant_name("tenant", "acme-2").is_ok());
        rejects(tenant_name("tenant", "Acme"), "tenant", "'A'");
        rejects(tenant_name("tenant", "2acme"), "tenant", "start with");
        rejects(tenant_name("tenant", "acme-"), "tenant", "end with");
        rejects(tenant_name("tenant", "a--b"), "tenant", "consecutive");
        rejects(tenant_name("tenant", "a_b"), "tenant", "'_'");
        rejects(tenant_name("tenant", &"a".repeat(33)), "tenant", "2 to 32");
    }

    #[test]
    fn tag_rules() {
        let mut t = crate::Tags::new();
        t.insert("aws:x".into(), "y".into());
        assert!(tags("tags", &t).is_err());
        t.clear();
        t.insert("k".into(), "v".repeat(257));
        assert!(tags("tags", &t).is_err());
    }

    proptest::proptest! {
        #[test]
        fn valid_tenant_names_are_valid_everywhere(name in "[a-z][a-z0-9]{0,14}(-[a-z0-9]{1,8}){0,2}") {
            proptest::prop_assume!(name.len() >= 2 && name.len() <= 32);
            tenant_name("tenant", &name).unwrap();
            hostname("host", &format!("{name}.example.com")).unwrap();
            s3_bucket_name("bucket", &format!("{name}-assets")).unwrap();
            azure_container_name("container", &format!("{name}-assets")).unwrap();
            jenkins_item_name("job", &format!("web_build-{name}")).unwrap();
            pg_identifier("role", &name).unwrap();
            git_branch_name("branch", &format!("dev-{name}")).unwrap();
            keyvault_secret_name("secret", &format!("{name}-db-password")).unwrap();
        }

        #[test]
        fn dns_name_never_panics(s in "\\PC{0,80}") {
            let _ = dns_name("n", &s);
        }
    }
}
