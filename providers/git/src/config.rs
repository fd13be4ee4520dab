//! [`GitConfig`]: where the repository is, where its cache lives, and how to authenticate.

use provisio::{Error, Result};
use std::path::PathBuf;

/// How fetches and pushes reach the remote.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum GitTransport {
    /// libgit2 for local paths and `file://` URLs, the `git` command for everything else
    /// (ssh, scp-like `user@host:path`, https). The default.
    #[default]
    Auto,
    /// Always libgit2 (local paths and `file://` only: this build of libgit2 has no network
    /// transports).
    Libgit2,
    /// Always the system `git` command (any URL `git` understands).
    Command,
}

/// The configuration of one [`GitRepository`](crate::GitRepository).
///
/// It holds no credential: `ssh_key_path` is a path to a key file (or `None` for ssh-agent and
/// the user's ssh configuration), and `https_token_env` is the *name* of an environment
/// variable that holds an https token, read at each fetch or push.
///
/// ```
/// use provisio_git::GitConfig;
/// let c = GitConfig::new("git@git.example.com:tenants/config.git", "/var/cache/provisio/git")
///     .with_ssh_key("/etc/provisio/deploy_key");
/// assert_eq!(c.ssh_key_path.as_deref(), Some(std::path::Path::new("/etc/provisio/deploy_key")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitConfig {
    /// The remote: a local path, `file://...`, `ssh://...`, scp-like `user@host:path`, or
    /// `https://...`.
    pub url: String,
    /// The directory holding the local bare cache clones, one per remote URL.
    pub cache_dir: PathBuf,
    /// An ssh private key file for ssh remotes; `None` uses ssh-agent and `~/.ssh`.
    #[serde(default)]
    pub ssh_key_path: Option<PathBuf>,
    /// A `known_hosts` file to check ssh host keys against (strictly); `None` uses ssh's
    /// default files and settings.
    #[serde(default)]
    pub ssh_known_hosts_path: Option<PathBuf>,
    /// The name of an environment variable holding an https access token (used as the
    /// password, with the user name from the URL or `x-access-token`).
    #[serde(default)]
    pub https_token_env: Option<String>,
    /// How fetches and pushes reach the remote.
    #[serde(default)]
    pub transport: GitTransport,
    /// A limit every network operation on the remote (`ls-remote`, `fetch`, `push`) is paced
    /// by: `rate_limit = { requests = 10, per_secs = 60 }`. Git hosts document no common
    /// limit, so `None`, the default, paces nothing and only counts.
    #[serde(default)]
    pub rate_limit: Option<provisio::ratelimit::RateLimit>,
}

impl GitConfig {
    /// A remote and a cache directory, with default authentication and transport.
    pub fn new(url: impl Into<String>, cache_dir: impl Into<PathBuf>) -> Self {
        GitConfig {
            url: url.into(),
            cache_dir: cache_dir.into(),
            ssh_key_path: None,
            ssh_known_hosts_path: None,
            https_token_env: None,
            transport: GitTransport::Auto,
            rate_limit: None,
        }
    }

    /// Reads the configuration from the environment:
    ///
    /// | variable | field | default |
    /// |---|---|---|
    /// | `PROVISIO_GIT_URL` | `url` | required |
    /// | `PROVISIO_GIT_CACHE_DIR` | `cache_dir` | `<temp dir>/provisio-git-cache` |
    /// | `PROVISIO_GIT_SSH_KEY` | `ssh_key_path` | none |
    /// | `PROVISIO_GIT_SSH_KNOWN_HOSTS` | `ssh_known_hosts_path` | none |
    /// | `PROVISIO_GIT_TOKEN_ENV` | `https_token_env` | none |
    /// | `PROVISIO_GIT_TRANSPORT` | `transport` (`auto`, `libgit2`, `command`) | `auto` |
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let url = var("PROVISIO_GIT_URL").ok_or_else(|| {
            Error::invalid_field("PROVISIO_GIT_URL", "must be set to the repository's URL")
        })?;
        let cache_dir = var("PROVISIO_GIT_CACHE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("provisio-git-cache"));
        let transport = match var("PROVISIO_GIT_TRANSPORT").as_deref() {
            None | Some("auto") => GitTransport::Auto,
            Some("libgit2") => GitTransport::Libgit2,
            Some("command") => GitTransport::Command,
            Some(other) => {
                return Err(Error::invalid_field(
                    "PROVISIO_GIT_TRANSPORT",
                    format!("{other:?} is not one of auto, libgit2, command"),
                ));
            }
        };
        Ok(GitConfig {
            url,
            cache_dir,
            ssh_key_path: var("PROVISIO_GIT_SSH_KEY").map(PathBuf::from),
            ssh_known_hosts_path: var("PROVISIO_GIT_SSH_KNOWN_HOSTS").map(PathBuf::from),
            https_token_env: var("PROVISIO_GIT_TOKEN_ENV"),
            transport,
            rate_limit: None,
        })
    }

    /// The same with an ssh key file.
    pub fn with_ssh_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_key_path = Some(path.into());
        self
    }

    /// The same with a strict `known_hosts` file.
    pub fn with_ssh_known_hosts(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssh_known_hosts_path = Some(path.into());
        self
    }

    /// The same with the name of the environment variable holding an https token.
    pub fn with_https_token_env(mut self, var: impl Into<String>) -> Self {
        self.https_token_env = Some(var.into());
        self
    }

    /// The same with another transport.
    pub fn with_transport(mut self, transport: GitTransport) -> Self {
        self.transport = transport;
        self
    }

    /// Whether fetches and pushes go through the `git` command (see [`GitTransport`]).
    pub fn uses_command(&self) -> bool {
        match self.transport {
            GitTransport::Libgit2 => false,
            GitTransport::Command => true,
            GitTransport::Auto => !is_local(&self.url),
        }
    }

    /// The URL without any password or token embedded in it, for messages and
    /// [`ProviderInfo::account`](provisio::ProviderInfo::account).
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

/// Whether `url` is a local path or a `file://` URL (which libgit2 handles itself).
pub(crate) fn is_local(url: &str) -> bool {
    if url.starts_with("file://") {
        return true;
    }
    if url.contains("://") {
        return false;
    }
    // scp-like syntax: a ':' before the first '/' (git's own rule; `./a:b` is a path).
    match (url.find(':'), url.find('/')) {
        (Some(colon), Some(slash)) => colon > slash,
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let user = authority[..at].split(':').next().unwrap_or("");
            format!("{}{}@{}", &url[..scheme_end + 3], user, &rest[at + 1..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_or_remote() {
        assert!(is_local("/srv/git/tenants.git"));
        assert!(is_local("relative/repo.git"));
        assert!(is_local("file:///srv/git/tenants.git"));
        assert!(is_local("./a:b"));
        assert!(!is_local("git@github.com:acme/tenants.git"));
        assert!(!is_local("ssh://git@127.0.0.1:2222/srv/t.git"));
        assert!(!is_local("https://git.example.com/t.git"));
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("https://bot:s3cret@git.example.com/t.git"),
            "https://bot@git.example.com/t.git"
        );
        assert_eq!(redact("ssh://git@h/x"), "ssh://git@h/x");
        assert_eq!(redact("/srv/x"), "/srv/x");
    }
}
