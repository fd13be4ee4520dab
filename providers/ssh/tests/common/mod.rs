//! The sshd the test command starts (`scripts/services.sh` `start_git_sshd`, written by
//! `providers/git/tests/sshd.sh`): a throw-away server on 127.0.0.1 that accepts one key, for
//! the user running the tests. Its environment: `PROVISIO_TEST_GIT_SSH`
//! (`ssh://<user>@127.0.0.1:<port>/<repo>`), `PROVISIO_TEST_GIT_SSH_KEY` and
//! `PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS`. Without them the tests print `skipped` and pass.
#![allow(dead_code)]

use provisio_ssh::SshConfig;

/// Where the test sshd is and how to log in.
#[derive(Debug, Clone)]
pub struct Sshd {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub key: String,
    pub known_hosts: String,
}

impl Sshd {
    /// The sshd described by `url` (`ssh://user@host:port/...`) and the key variables.
    pub fn from_url(url: &str) -> Sshd {
        let rest = url.strip_prefix("ssh://").expect("an ssh:// URL");
        let (auth, _path) = rest.split_once('/').expect("a path after the host");
        let (user, hostport) = auth.split_once('@').expect("user@host");
        let (host, port) = hostport.rsplit_once(':').expect("host:port");
        let var = |name: &str| {
            std::env::var(name)
                .unwrap_or_else(|_| panic!("{name} is set with PROVISIO_TEST_GIT_SSH"))
        };
        Sshd {
            host: host.to_string(),
            port: port.parse().expect("a port"),
            user: user.to_string(),
            key: var("PROVISIO_TEST_GIT_SSH_KEY"),
            known_hosts: var("PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS"),
        }
    }

    /// The test sshd, or `None` (after printing why) when the test command did not start it.
    pub fn from_env(test: &str) -> Option<Sshd> {
        match std::env::var("PROVISIO_TEST_GIT_SSH") {
            Ok(url) if !url.trim().is_empty() => Some(Sshd::from_url(url.trim())),
            _ => {
                eprintln!("skipped {test}: PROVISIO_TEST_GIT_SSH is not set (no test sshd)");
                None
            }
        }
    }

    /// Key authentication with the test key, host key checked against its known_hosts file.
    pub fn config(&self) -> SshConfig {
        SshConfig::new(&self.host, &self.user)
            .with_port(self.port)
            .with_key_file(&self.key)
            .with_known_hosts(&self.known_hosts)
    }

    /// The same with the host key pinned instead (read from the known_hosts file).
    pub fn pinned(&self) -> SshConfig {
        SshConfig::new(&self.host, &self.user)
            .with_port(self.port)
            .with_key_file(&self.key)
            .with_host_key(self.host_key())
    }

    /// The server's public key, `ssh-ed25519 AAAA...`.
    pub fn host_key(&self) -> String {
        let text = std::fs::read_to_string(&self.known_hosts).expect("the known_hosts file");
        let line = text.lines().next().expect("one line");
        line.split_whitespace()
            .skip(1)
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A fresh local directory for a test's work (the test sshd serves this machine, so the
/// test reads what a command did on the host straight from the disk).
pub fn workdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "provisio-ssh-{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Another ed25519 key than the server's (what a pinned key of the wrong host looks like).
pub const WRONG_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJQaeh2/OpAPuasYHoELZxi2MeNO7VL6fx3k51OceChz";
