//! [`SshConfig`]: which host, which user, which key, and how its host key is verified.

use provisio::{Error, Result};
use std::path::PathBuf;

/// The configuration of one [`SshHost`](crate::SshHost).
///
/// It holds no secret: `key_file` is a path to a private key (or `None` for the ssh agent),
/// and there is no password setting at all: `BatchMode` keeps ssh from ever asking for one.
/// The host key is always verified, against exactly one of `known_hosts` (a file) or
/// `host_key` (a pinned public key).
///
/// ```
/// use provisio_ssh::SshConfig;
/// let c = SshConfig::new("staging.internal", "deploy")
///     .with_key_file("/etc/provisio/staging_key")
///     .with_host_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQaeh2/OpAPuasYHoELZxi2MeNO7VL6fx3k51OceChz");
/// assert!(c.check().is_ok());
/// assert!(SshConfig::new("staging.internal", "deploy").check().is_err()); // no host key
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// The host name or address.
    pub host: String,
    /// The port (default 22).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The user to log in as.
    pub user: String,
    /// A private key file (`-i`, with `IdentitiesOnly=yes`); `None` uses the ssh agent
    /// (`SSH_AUTH_SOCK`) and ssh's default identities.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// A `known_hosts` file the host's key must be in (checked strictly; the global
    /// known_hosts files are not consulted).
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// The host's public key, pinned: `ssh-ed25519 AAAA...` as in a `.pub` file or
    /// `ssh-keyscan` output (without the host name). Written to a private temporary
    /// known_hosts file.
    #[serde(default)]
    pub host_key: Option<String>,
    /// Directories put in front of the remote `PATH` for every command
    /// (`/opt/tools/bin:/usr/local/bin`).
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// How long to wait for the connection, in seconds (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// How long one request (an upload, a command) may take, in seconds (default 600); then
    /// the ssh client is killed and the call fails with `Timeout`.
    #[serde(default = "default_command_timeout")]
    pub command_timeout_secs: u64,
    /// The ssh client to run (default `ssh`, found on `PATH`).
    #[serde(default)]
    pub ssh_program: Option<PathBuf>,
    /// A limit every request to this host is paced by: `rate_limit = { requests = 5,
    /// per_secs = 1 }`. `None`, the default, paces nothing and only counts.
    #[serde(default)]
    pub rate_limit: Option<provisio::ratelimit::RateLimit>,
}

fn default_port() -> u16 {
    22
}

fn default_connect_timeout() -> u64 {
    10
}

fn default_command_timeout() -> u64 {
    600
}

impl SshConfig {
    /// `user@host:22`, with no host key yet (see [`SshConfig::with_known_hosts`] and
    /// [`SshConfig::with_host_key`]): agent authentication, default timeouts.
    pub fn new(host: impl Into<String>, user: impl Into<String>) -> Self {
        SshConfig {
            host: host.into(),
            port: default_port(),
            user: user.into(),
            key_file: None,
            known_hosts: None,
            host_key: None,
            path_prefix: None,
            connect_timeout_secs: default_connect_timeout(),
            command_timeout_secs: default_command_timeout(),
            ssh_program: None,
            rate_limit: None,
        }
    }

    /// Reads the configuration from the environment:
    ///
    /// | variable | field | default |
    /// |---|---|---|
    /// | `PROVISIO_SSH_HOST` | `host` | required |
    /// | `PROVISIO_SSH_PORT` | `port` | 22 |
    /// | `PROVISIO_SSH_USER` | `user` | required |
    /// | `PROVISIO_SSH_KEY_FILE` | `key_file` | the agent |
    /// | `PROVISIO_SSH_KNOWN_HOSTS` | `known_hosts` | one of these two |
    /// | `PROVISIO_SSH_HOST_KEY` | `host_key` | one of these two |
    /// | `PROVISIO_SSH_PATH_PREFIX` | `path_prefix` | none |
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required =
            |name: &str| var(name).ok_or_else(|| Error::invalid_field(name, "must be set"));
        let mut c = SshConfig::new(
            required("PROVISIO_SSH_HOST")?,
            required("PROVISIO_SSH_USER")?,
        );
        if let Some(p) = var("PROVISIO_SSH_PORT") {
            c.port = p.parse().map_err(|_| {
                Error::invalid_field("PROVISIO_SSH_PORT", format!("{p:?} is not a port"))
            })?;
        }
        c.key_file = var("PROVISIO_SSH_KEY_FILE").map(PathBuf::from);
        c.known_hosts = var("PROVISIO_SSH_KNOWN_HOSTS").map(PathBuf::from);
        c.host_key = var("PROVISIO_SSH_HOST_KEY");
        c.path_prefix = var("PROVISIO_SSH_PATH_PREFIX");
        c.check()?;
        Ok(c)
    }

    /// The same on another port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The same with a private key file.
    pub fn with_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    /// The same verifying the host key against a `known_hosts` file.
    pub fn with_known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.known_hosts = Some(path.into());
        self
    }

    /// The same verifying the host key against a pinned key (`ssh-ed25519 AAAA...`).
    pub fn with_host_key(mut self, key: impl Into<String>) -> Self {
        self.host_key = Some(key.into());
        self
    }

    /// The same with directories put in front of the remote `PATH`.
    pub fn with_path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = Some(prefix.into());
        self
    }

    /// The same with another command timeout.
    pub fn with_command_timeout_secs(mut self, secs: u64) -> Self {
        self.command_timeout_secs = secs;
        self
    }

    /// `user@host:port`: the account this provider acts on (no secret).
    pub fn account(&self) -> String {
        format!("{}@{}:{}", self.user, self.host, self.port)
    }

    /// Checks every setting; errors name the setting and the rule.
    pub fn check(&self) -> Result<()> {
        let h = &self.host;
        if h.is_empty()
            || h.len() > 253
            || h.starts_with('-')
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c))
        {
            return Err(Error::invalid_field(
                "host",
                format!(
                    "{h:?} is not a host name or address (letters, digits, '.', '-', ':', '_'; not starting with '-')"
                ),
            ));
        }
        let u = &self.user;
        if u.is_empty()
            || u.len() > 64
            || u.starts_with('-')
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(Error::invalid_field(
                "user",
                format!(
                    "{u:?} is not a user name (letters, digits, '.', '_', '-'; not starting with '-')"
                ),
            ));
        }
        if self.port == 0 {
            return Err(Error::invalid_field("port", "must be 1 to 65535"));
        }
        for (field, path) in [
            ("key_file", &self.key_file),
            ("known_hosts", &self.known_hosts),
            ("ssh_program", &self.ssh_program),
        ] {
            if let Some(p) = path {
                let s = p.to_string_lossy();
                if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(Error::invalid_field(
                        field,
                        format!("{s:?} must be a path without spaces or control characters"),
                    ));
                }
            }
        }
        match (&self.known_hosts, &self.host_key) {
            (None, None) => {
                return Err(Error::invalid_field(
                    "known_hosts",
                    "host keys are always verified: set `known_hosts` (a file) or `host_key` \
                     (the host's public key, `ssh-ed25519 AAAA...`)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid_field(
                    "host_key",
                    "set `known_hosts` or `host_key`, not both",
                ));
            }
            (None, Some(key)) => {
                parse_host_key(key)?;
            }
            (Some(_), None) => {}
        }
        if let Some(prefix) = &self.path_prefix {
            for dir in prefix.split(':') {
                provisio::host::dir_path("path_prefix", dir)?;
            }
        }
        for (field, secs) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("command_timeout_secs", self.command_timeout_secs),
        ] {
            if secs == 0 || secs > 86_400 {
                return Err(Error::invalid_field(
                    field,
                    format!("must be 1 to 86400 seconds, got {secs}"),
                ));
            }
        }
        if let Some(limit) = &self.rate_limit {
            limit.quota("rate_limit")?;
        }
        Ok(())
    }
}

/// A pinned host key: its type and its base64 blob (a comment after them is dropped).
pub(crate) fn parse_host_key(key: &str) -> Result<(String, String)> {
    let bad = |rule: &str| Error::invalid_field("host_key", format!("{rule}: {key:?}"));
    if key.contains(['\n', '\r']) {
        return Err(bad("must be one line"));
    }
    let mut parts = key.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return Err(bad(
            "must be `<type> <base64 key>`, e.g. `ssh-ed25519 AAAA...`",
        ));
    };
    let known = ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-", "sk-"];
    if !known.iter().any(|k| kind.starts_with(k)) {
        return Err(bad(
            "has an unknown key type (ssh-ed25519, ecdsa-sha2-..., ssh-rsa)",
        ));
    }
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(blob) {
        Ok(b) if b.len() >= 16 => {}
        _ => return Err(bad("has no valid base64 key after its type")),
    }
    Ok((kind.to_string(), blob.to_string()))
}

/// The SHA-256 fingerprint of a public key blob, as `ssh-keygen -l` shows it
/// (`SHA256:...`, base64 without padding).
pub(crate) fn fingerprint(blob: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .unwrap_or_default();
    let digest = sha2::Sha256::digest(&raw);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQaeh2/OpAPuasYHoELZxi2MeNO7VL6fx3k51OceChz";

    #[test]
    fn settings_are_checked_and_name_their_field() {
        let ok = SshConfig::new("127.0.0.1", "deploy").with_host_key(KEY);
        ok.check().unwrap();
        assert_eq!(ok.account(), "deploy@127.0.0.1:22");
        let cases: Vec<(SshConfig, &str)> = vec![
            (SshConfig::new("127.0.0.1", "deploy"), "invalid known_hosts"),
            (ok.clone().with_known_hosts("/k"), "not both"),
            (
                SshConfig {
                    host: "-oProxyCommand=x".into(),
                    ..ok.clone()
                },
                "invalid host",
            ),
            (
                SshConfig {
                    host: "a b".into(),
                    ..ok.clone()
                },
                "invalid host",
            ),
            (
                SshConfig {
                    user: "-l".into(),
                    ..ok.clone()
                },
                "invalid user",
            ),
            (
                SshConfig {
                    port: 0,
                    ..ok.clone()
                },
                "invalid port",
            ),
            (ok.clone().with_key_file("/a key"), "invalid key_file"),
            (
                ok.clone().with_path_prefix("/opt/bin:relative"),
                "invalid path_prefix",
            ),
            (
                ok.clone().with_command_timeout_secs(0),
                "invalid command_timeout_secs",
            ),
            (ok.clone().with_host_key("ssh-ed25519"), "invalid host_key"),
            (ok.clone().with_host_key("ssh-dss AAAA"), "invalid host_key"),
            (
                ok.clone().with_host_key("ssh-ed25519 not-base64!"),
                "invalid host_key",
            ),
        ];
        for (c, want) in cases {
            let e = c.check().unwrap_err();
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
        let from_toml: Result<SshConfig, _> =
            serde_json::from_str(r#"{"host": "h", "user": "u", "password": "x"}"#);
        assert!(from_toml.unwrap_err().to_string().contains("password"));
    }

    #[test]
    fn fingerprints_are_ssh_keygens() {
        let (_, blob) = parse_host_key(&format!("{KEY} comment@host")).unwrap();
        // what `ssh-keygen -lf` prints for this key
        assert_eq!(
            fingerprint(&blob),
            "SHA256:VGpwKiyzs2u9GgXcF/LaO+FuBMji9XebtcruoCx9GfI"
        );
    }
}
