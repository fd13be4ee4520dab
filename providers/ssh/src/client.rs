//! One invocation of the system `ssh` client per request.

use crate::config::{SshConfig, fingerprint, parse_host_key};
use crate::error::{KeyCheck, from_ssh};
use provisio::host::shell_quote;
use provisio::{Error, ProviderInfo, Result};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// The host alias a pinned key is written under in its private known_hosts file.
const PINNED_ALIAS: &str = "provisio-pinned-host";

/// How many of the last bytes of stdout are kept besides its first ones (the exit status
/// trailer of a command whose output was cut).
const TAIL_BYTES: usize = 64;

/// What one invocation printed and how it ended.
#[derive(Debug)]
pub(crate) struct Raw {
    /// The exit status of the client (`None`: killed by a signal).
    pub(crate) status: Option<i32>,
    /// The first bytes of stdout, up to the invocation's limit.
    pub(crate) head: Vec<u8>,
    /// The last [`TAIL_BYTES`] of stdout.
    pub(crate) tail: Vec<u8>,
    /// Whether `head` holds all of stdout.
    pub(crate) complete: bool,
    /// The first bytes of stderr, up to the limit.
    pub(crate) stderr: Vec<u8>,
    /// Whether stderr was longer.
    pub(crate) stderr_cut: bool,
}

/// How to run `ssh` for one host.
pub(crate) struct SshClient {
    program: PathBuf,
    args: Vec<OsString>,
    host: String,
    pub(crate) account: String,
    pub(crate) keys: KeyCheck,
    pub(crate) preamble: String,
    timeout: Duration,
    pub(crate) info: ProviderInfo,
    /// The private known_hosts file of a pinned key, removed when the provider is dropped.
    _pinned: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for SshClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshClient")
            .field("account", &self.account)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl SshClient {
    pub(crate) fn new(config: &SshConfig, info: ProviderInfo) -> Result<SshClient> {
        config.check()?;
        let opt = |args: &mut Vec<OsString>, o: String| {
            args.push("-o".into());
            args.push(o.into());
        };
        // no tty, no agent or X11 forwarding
        let mut args: Vec<OsString> = vec!["-T".into(), "-a".into(), "-x".into()];
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            "GlobalKnownHostsFile=/dev/null",
            "UpdateHostKeys=no",
            "CheckHostIP=no",
            "PasswordAuthentication=no",
            "KbdInteractiveAuthentication=no",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=3",
            "LogLevel=ERROR",
        ] {
            opt(&mut args, o.to_string());
        }
        opt(
            &mut args,
            format!("ConnectTimeout={}", config.connect_timeout_secs),
        );
        let (keys, pinned) = match (&config.known_hosts, &config.host_key) {
            (Some(path), _) => {
                opt(
                    &mut args,
                    format!("UserKnownHostsFile={}", path.to_string_lossy()),
                );
                (KeyCheck::KnownHosts(path.display().to_string()), None)
            }
            (None, Some(key)) => {
                let (kind, blob) = parse_host_key(key)?;
                let file = pinned_known_hosts(&kind, &blob)?;
                opt(
                    &mut args,
                    format!("UserKnownHostsFile={}", file.path().to_string_lossy()),
                );
                opt(&mut args, format!("HostKeyAlias={PINNED_ALIAS}"));
                let fp = fingerprint(&blob);
                (
                    KeyCheck::Pinned {
                        kind,
                        fingerprint: fp,
                    },
                    Some(file),
                )
            }
            (None, None) => unreachable!("checked by SshConfig::check"),
        };
        if let Some(key) = &config.key_file {
            opt(&mut args, "IdentitiesOnly=yes".into());
            args.push("-i".into());
            args.push(key.clone().into());
        }
        args.push("-p".into());
        args.push(config.port.to_string().into());
        args.push("-l".into());
        args.push(config.user.clone().into());
        Ok(SshClient {
            program: config
                .ssh_program
                .clone()
                .unwrap_or_else(|| PathBuf::from("ssh")),
            args,
            host: config.host.clone(),
            account: config.account(),
            keys,
            preamble: crate::script::preamble(config.path_prefix.as_deref()),
            timeout: Duration::from_secs(config.command_timeout_secs),
            info,
            _pinned: pinned,
        })
    }

    /// Runs `script` on the host with `stdin` as its input: one request. Keeps the first
    /// `stdout_limit` bytes of stdout (and its last few) and the first `stderr_limit` of
    /// stderr.
    pub(crate) async fn call(
        &self,
        what: &str,
        script: &str,
        stdin: Option<Vec<u8>>,
        stdout_limit: usize,
        stderr_limit: usize,
    ) -> Result<Raw> {
        provisio::requests::before_request(&self.info).await;
        let remote = format!(
            "exec sh -c {}",
            shell_quote(&format!("{}{script}", self.preamble))
        );
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(&self.args)
            .arg("--")
            .arg(&self.host)
            .arg(remote)
            .env_remove("SSH_ASKPASS")
            .env("SSH_ASKPASS_REQUIRE", "never")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(account = %self.account, what, "running ssh");
        let mut child = cmd.spawn().map_err(|e| {
            Error::unexpected(format!(
                "{what}: cannot run the ssh client {:?} (is openssh-client installed?)",
                self.program
            ))
            .with_source(e)
        })?;
        let input = child.stdin.take();
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let run = async {
            let write = async {
                if let (Some(mut pipe), Some(data)) = (input, stdin) {
                    // a write error means the remote side stopped reading: its answer says why
                    let _ = pipe.write_all(&data).await;
                    let _ = pipe.shutdown().await;
                }
            };
            let ((), (head, tail, complete), (stderr, stderr_cut)) =
                tokio::join!(write, capture(stdout, stdout_limit), async {
                    let (h, _, complete) = capture(stderr, stderr_limit).await;
                    (h, !complete)
                });
            let status = child.wait().await;
            (status, head, tail, complete, stderr, stderr_cut)
        };
        match tokio::time::timeout(self.timeout, run).await {
            Err(_) => Err(Error::timeout(format!(
                "{what}: no answer from {} within {} s; the ssh client was stopped",
                self.account,
                self.timeout.as_secs()
            ))),
            Ok((Err(e), ..)) => {
                Err(Error::unexpected(format!("{what}: cannot wait for ssh")).with_source(e))
            }
            Ok((Ok(status), head, tail, complete, stderr, stderr_cut)) => Ok(Raw {
                status: status.code(),
                head,
                tail,
                complete,
                stderr,
                stderr_cut,
            }),
        }
    }

    /// The error of an invocation that did not end as its script does.
    pub(crate) fn failure(&self, raw: &Raw, what: &str) -> Error {
        from_ssh(
            raw.status,
            &String::from_utf8_lossy(&raw.stderr),
            what,
            &self.account,
            &self.keys,
        )
    }
}

/// Reads `r` to its end: its first `limit` bytes, its last [`TAIL_BYTES`], and whether the
/// first part is all of it.
async fn capture<R: AsyncRead + Unpin>(mut r: R, limit: usize) -> (Vec<u8>, Vec<u8>, bool) {
    let mut head = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    let mut total = 0usize;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n;
        let chunk = &buf[..n];
        if head.len() < limit {
            let take = (limit - head.len()).min(n);
            head.extend_from_slice(&chunk[..take]);
        }
        tail.extend_from_slice(chunk);
        if tail.len() > TAIL_BYTES {
            tail.drain(..tail.len() - TAIL_BYTES);
        }
    }
    let complete = total == head.len();
    (head, tail, complete)
}

/// A private (0600) temporary known_hosts file holding the pinned key under
/// [`PINNED_ALIAS`].
fn pinned_known_hosts(kind: &str, blob: &str) -> Result<tempfile::NamedTempFile> {
    let fail = |e: std::io::Error| {
        Error::unexpected("cannot write the pinned host key's known_hosts file").with_source(e)
    };
    let mut file = tempfile::Builder::new()
        .prefix("provisio-known-hosts-")
        .tempfile()
        .map_err(fail)?;
    writeln!(file, "{PINNED_ALIAS} {kind} {blob}").map_err(fail)?;
    file.flush().map_err(fail)?;
    Ok(file)
}
