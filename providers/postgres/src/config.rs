//! [`PostgresConfig`]: which server to connect to, as whom, and how (TLS, timeouts).

use percent_encoding::percent_decode_str;
use provisio::{Error, Result, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// How the connection to the server is protected, named after libpq's `sslmode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    /// No TLS: only for a server on the same machine or a private network.
    Disable,
    /// TLS, but the server's certificate is not checked (encryption against passive
    /// eavesdroppers only; an active attacker can impersonate the server).
    Require,
    /// TLS with the server's certificate checked against the trusted roots
    /// ([`PostgresConfig::ca_file`], or the system's roots) and the host name checked against
    /// the certificate. The default.
    #[default]
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling: `disable`, `require`, `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(field: &str, value: &str) -> Result<Self> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "require" => Ok(SslMode::Require),
            "verify-full" | "verify_full" => Ok(SslMode::VerifyFull),
            other => Err(Error::invalid_field(
                field,
                format!("{other:?} is not one of disable, require, verify-full"),
            )),
        }
    }
}

/// The configuration of one [`PostgresDatabase`](crate::PostgresDatabase): an administrator
/// connection to one PostgreSQL server (local, Amazon RDS, Azure Database for PostgreSQL, ...).
///
/// The administrator's password is never part of the configuration file: it is read from the
/// environment variable named by [`password_env`](Self::password_env) (`PGPASSWORD` by
/// default) when a connection is made, or set directly by Rust callers in
/// [`password`](Self::password). A `url` must not contain a password either.
///
/// ```
/// use provisio_postgres::{PostgresConfig, SslMode};
/// let c = PostgresConfig::from_url("postgres://provisio_admin@db.example.com:5432/postgres?sslmode=verify-full")
///     .unwrap();
/// assert_eq!(c.host, "db.example.com");
/// assert_eq!(c.user, "provisio_admin");
/// assert_eq!(c.sslmode, SslMode::VerifyFull);
/// assert!(PostgresConfig::from_url("postgres://admin:hunter2@db/postgres").is_err());
///
/// // In a provider file (TOML):
/// let c: PostgresConfig = toml_like(r#"{"host": "127.0.0.1", "port": 5432, "sslmode": "disable"}"#);
/// # fn toml_like(s: &str) -> PostgresConfig { serde_json::from_str(s).unwrap() }
/// assert_eq!(c.password_env, "PGPASSWORD");
/// ```
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// A connection URL, `postgres://user@host:port/dbname?sslmode=...&sslrootcert=...`,
    /// without a password. When set, the parts it names (host, port, user, dbname, and the
    /// `sslmode`, `sslrootcert`, `connect_timeout` and `application_name` query parameters)
    /// take precedence over the separate fields.
    #[serde(default)]
    pub url: Option<String>,
    /// The server's host name or IP address, or a directory holding its Unix socket (a path
    /// starting with `/`). Default `localhost`.
    #[serde(default = "default_host")]
    pub host: String,
    /// The server's port. Default 5432.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The administrator role provisio connects as. It needs `CREATEROLE` and `CREATEDB`
    /// (see `docs/providers/postgres.md`). Default `postgres`.
    #[serde(default = "default_user")]
    pub user: String,
    /// The database administrative statements run in (roles and databases are server-wide;
    /// seeds connect to their own database). Default `postgres`.
    #[serde(default = "default_dbname")]
    pub dbname: String,
    /// TLS: `disable`, `require` or `verify-full` (the default).
    #[serde(default)]
    pub sslmode: SslMode,
    /// A PEM file of CA certificates to trust for `verify-full` (e.g. the RDS CA bundle);
    /// `None` trusts the operating system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The name of the environment variable holding the administrator's password. Default
    /// `PGPASSWORD`. An unset or empty variable means "no password" (trust or peer auth).
    #[serde(default = "default_password_env")]
    pub password_env: String,
    /// The administrator's password, for Rust callers; takes precedence over
    /// [`password_env`](Self::password_env). Never read from or written to a file.
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// How long to wait for a connection (TCP, TLS and authentication), in seconds.
    /// Default 10.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// The most connections this provider keeps open at the same time, idle ones in its pool
    /// included. Default 4.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// A limit every round trip to this server is paced by (`rate_limit = { requests = 50,
    /// per_secs = 1 }`). PostgreSQL documents no request limit (it limits connections, see
    /// [`max_connections`](Self::max_connections)), so `None`, the default, paces nothing and
    /// only counts.
    #[serde(default)]
    pub rate_limit: Option<provisio::ratelimit::RateLimit>,
    /// The `application_name` the sessions show in `pg_stat_activity`. Default `provisio`.
    #[serde(default = "default_application_name")]
    pub application_name: String,
    /// After creating a database, revoke `CONNECT` and `TEMPORARY` on it from `PUBLIC`, so
    /// that only its owner (and the administrator) can connect: tenants sharing a server
    /// cannot open each other's databases. Default `true`.
    #[serde(default = "default_true")]
    pub revoke_public_connect: bool,
    /// The directory holding `pg_dump` and `pg_restore`, for database dump and restore.
    /// `None` (the default) uses the newest `/usr/lib/postgresql/<version>/bin`, else the
    /// `PATH`. The client programs must be at least as new as the server.
    #[serde(default)]
    pub bin_dir: Option<PathBuf>,
}

fn default_host() -> String {
    "localhost".into()
}
fn default_port() -> u16 {
    5432
}
fn default_user() -> String {
    "postgres".into()
}
fn default_dbname() -> String {
    "postgres".into()
}
fn default_password_env() -> String {
    "PGPASSWORD".into()
}
fn default_connect_timeout() -> u64 {
    10
}
fn default_max_connections() -> usize {
    4
}
fn default_application_name() -> String {
    "provisio".into()
}
fn default_true() -> bool {
    true
}

impl Default for PostgresConfig {
    /// `postgres@localhost:5432/postgres` with `verify-full` TLS and the password in
    /// `PGPASSWORD`.
    fn default() -> Self {
        PostgresConfig {
            url: None,
            host: default_host(),
            port: default_port(),
            user: default_user(),
            dbname: default_dbname(),
            sslmode: SslMode::default(),
            ca_file: None,
            password_env: default_password_env(),
            password: None,
            connect_timeout_secs: default_connect_timeout(),
            max_connections: default_max_connections(),
            rate_limit: None,
            application_name: default_application_name(),
            revoke_public_connect: true,
            bin_dir: None,
        }
    }
}

impl PostgresConfig {
    /// A configuration from a URL (`postgres://` or `postgresql://`), which must not contain
    /// a password. The URL's parts are copied into the fields and `url` stays `None`.
    pub fn from_url(url: &str) -> Result<Self> {
        let mut c = PostgresConfig::default();
        apply_url(&mut c, url)?;
        Ok(c)
    }

    /// Reads the configuration from the environment: `PROVISIO_POSTGRES_URL` when set (a URL
    /// as for [`from_url`](Self::from_url)), else libpq's variables:
    ///
    /// | variable | field | default |
    /// |---|---|---|
    /// | `PGHOST` | `host` | `localhost` |
    /// | `PGPORT` | `port` | 5432 |
    /// | `PGUSER` | `user` | `postgres` |
    /// | `PGDATABASE` | `dbname` | `postgres` |
    /// | `PGSSLMODE` | `sslmode` | `verify-full` |
    /// | `PGSSLROOTCERT` | `ca_file` | system roots |
    /// | `PGCONNECT_TIMEOUT` | `connect_timeout_secs` | 10 |
    /// | `PROVISIO_POSTGRES_PASSWORD_ENV` | `password_env` | `PGPASSWORD` |
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut c = match var("PROVISIO_POSTGRES_URL") {
            Some(url) => Self::from_url(&url)?,
            None => {
                let mut c = PostgresConfig::default();
                if let Some(h) = var("PGHOST") {
                    c.host = h;
                }
                if let Some(p) = var("PGPORT") {
                    c.port = parse_port("PGPORT", &p)?;
                }
                if let Some(u) = var("PGUSER") {
                    c.user = u;
                }
                if let Some(d) = var("PGDATABASE") {
                    c.dbname = d;
                }
                if let Some(m) = var("PGSSLMODE") {
                    c.sslmode = SslMode::parse("PGSSLMODE", &m)?;
                }
                if let Some(f) = var("PGSSLROOTCERT") {
                    c.ca_file = Some(PathBuf::from(f));
                }
                if let Some(t) = var("PGCONNECT_TIMEOUT") {
                    c.connect_timeout_secs = parse_secs("PGCONNECT_TIMEOUT", &t)?;
                }
                c
            }
        };
        if let Some(env) = var("PROVISIO_POSTGRES_PASSWORD_ENV") {
            c.password_env = env;
        }
        Ok(c)
    }

    /// The same with the administrator's password set directly.
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self
    }

    /// The same with another TLS mode.
    pub fn with_sslmode(mut self, sslmode: SslMode) -> Self {
        self.sslmode = sslmode;
        self
    }

    /// The same with a CA file for `verify-full`.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The same connecting as another administrator role.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs.max(1))
    }

    /// This configuration with `url` folded into the fields, checked: what connections use.
    pub(crate) fn resolved(&self) -> Result<PostgresConfig> {
        let mut c = self.clone();
        if let Some(url) = c.url.take() {
            apply_url(&mut c, &url)?;
        }
        if c.host.is_empty() {
            return Err(Error::invalid_field("host", "must not be empty"));
        }
        if c.user.is_empty() || c.user.contains('\0') {
            return Err(Error::invalid_field(
                "user",
                "must be a non-empty role name without NUL",
            ));
        }
        if c.dbname.is_empty() || c.dbname.contains('\0') {
            return Err(Error::invalid_field(
                "dbname",
                "must be a non-empty database name without NUL",
            ));
        }
        if c.max_connections == 0 {
            return Err(Error::invalid_field(
                "max_connections",
                "must be at least 1",
            ));
        }
        if c.password_env.is_empty() {
            return Err(Error::invalid_field(
                "password_env",
                "must name an environment variable",
            ));
        }
        Ok(c)
    }

    /// The administrator's password: [`password`](Self::password), else the variable named by
    /// [`password_env`](Self::password_env); `None` when neither is set.
    pub(crate) fn admin_password(&self) -> Option<SecretString> {
        if let Some(p) = &self.password {
            return Some(p.clone());
        }
        std::env::var(&self.password_env)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::new)
    }

    /// `user@host:port/dbname`, for messages and `ProviderInfo::account`. Never a password.
    pub fn display_target(&self) -> String {
        let c = self.resolved().unwrap_or_else(|_| self.clone());
        format!("{}@{}:{}/{}", c.user, c.host, c.port, c.dbname)
    }
}

fn parse_port(field: &str, value: &str) -> Result<u16> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Error::invalid_field(field, format!("{value:?} is not a port number")))
}

fn parse_secs(field: &str, value: &str) -> Result<u64> {
    value
        .parse::<u64>()
        .map_err(|_| Error::invalid_field(field, format!("{value:?} is not a number of seconds")))
}

fn decode(field: &str, value: &str) -> Result<String> {
    percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| Error::invalid_field(field, "is not valid percent-encoded UTF-8"))
}

/// Copies the parts of `url` into `c`. Errors never repeat the URL (it might hold a password).
fn apply_url(c: &mut PostgresConfig, url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| {
            Error::invalid_field("url", "must start with postgres:// or postgresql://")
        })?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (rest, None),
    };
    let host_port = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            if userinfo.contains(':') {
                return Err(Error::invalid_field(
                    "url",
                    "must not contain a password; put it in the environment variable named by password_env (PGPASSWORD by default)",
                ));
            }
            if !userinfo.is_empty() {
                c.user = decode("url user", userinfo)?;
            }
            host_port
        }
        None => authority,
    };
    if host_port.contains(',') {
        return Err(Error::invalid_field(
            "url",
            "multiple hosts are not supported",
        ));
    }
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| Error::invalid_field("url", "has an unclosed '[' in the host"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((h, p)) => (decode("url host", h)?, Some(p)),
            None => (decode("url host", host_port)?, None),
        }
    };
    if !host.is_empty() {
        c.host = host;
    }
    if let Some(p) = port.filter(|p| !p.is_empty()) {
        c.port = parse_port("url port", p)?;
    }
    if let Some(db) = path.filter(|p| !p.is_empty()) {
        c.dbname = decode("url dbname", db)?;
    }
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode("url query", value)?;
        match key {
            "sslmode" => c.sslmode = SslMode::parse("url sslmode", &value)?,
            "sslrootcert" => c.ca_file = Some(PathBuf::from(value)),
            "connect_timeout" => {
                c.connect_timeout_secs = parse_secs("url connect_timeout", &value)?
            }
            "application_name" => c.application_name = value,
            "host" => c.host = value,
            "port" => c.port = parse_port("url port", &value)?,
            "user" => c.user = value,
            "dbname" => c.dbname = value,
            "password" => {
                return Err(Error::invalid_field(
                    "url",
                    "must not contain a password; put it in the environment variable named by password_env (PGPASSWORD by default)",
                ));
            }
            other => {
                return Err(Error::invalid_field(
                    "url",
                    format!(
                        "parameter {other:?} is not supported (sslmode, sslrootcert, connect_timeout, application_name, host, port, user, dbname)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = PostgresConfig::from_url("postgres://postgres@127.0.0.1:55439/postgres").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str(), c.dbname.as_str()),
            ("127.0.0.1", 55439, "postgres", "postgres")
        );
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        let c = PostgresConfig::from_url(
            "postgresql://app%40corp@[::1]:6432/my%20db?sslmode=require&sslrootcert=/etc/ca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(c.user, "app@corp");
        assert_eq!(c.host, "::1");
        assert_eq!(c.port, 6432);
        assert_eq!(c.dbname, "my db");
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(c.ca_file, Some(PathBuf::from("/etc/ca.pem")));
        assert_eq!(c.connect_timeout_secs, 3);
        let c = PostgresConfig::from_url(
            "postgres:///postgres?host=/var/run/postgresql&sslmode=disable",
        )
        .unwrap();
        assert_eq!(c.host, "/var/run/postgresql");
        assert_eq!(c.sslmode, SslMode::Disable);
    }

    #[test]
    fn url_passwords_are_refused_without_echo() {
        for url in [
            "postgres://admin:hunter2@db/postgres",
            "postgres://admin@db/postgres?password=hunter2",
        ] {
            let e = PostgresConfig::from_url(url).unwrap_err();
            assert_eq!(e.kind(), &provisio::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("invalid url"), "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
        assert!(PostgresConfig::from_url("mysql://x@y/z").is_err());
        assert!(PostgresConfig::from_url("postgres://x@y/z?sslmode=prefer").is_err());
        assert!(PostgresConfig::from_url("postgres://x@y:0/z").is_err());
    }

    #[test]
    fn serde_and_debug() {
        let c: PostgresConfig = serde_json::from_str(
            r#"{"url": "postgres://admin@db.example.com/postgres", "sslmode": "require", "password_env": "TENANT_PG_PASSWORD"}"#,
        )
        .unwrap();
        let r = c.resolved().unwrap();
        assert_eq!(r.host, "db.example.com");
        assert_eq!(r.sslmode, SslMode::Require);
        assert_eq!(r.password_env, "TENANT_PG_PASSWORD");
        assert!(serde_json::from_str::<PostgresConfig>(r#"{"password": "x"}"#).is_err());
        assert!(serde_json::from_str::<PostgresConfig>(r#"{"hots": "x"}"#).is_err());
        let c = c.with_password(SecretString::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.display_target(), "admin@db.example.com:5432/postgres");
    }
}
