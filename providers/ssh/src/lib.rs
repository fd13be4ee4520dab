//! The ssh provider of provisio: the [`Host`](provisio::Host) capability over the system
//! OpenSSH client (`ssh`), for steps that put files on a server and run a command there
//! (`host.stack`: a tenant's staging stack with docker compose).
//!
//! # Design
//!
//! * **One `ssh` process per request.** Every operation is one invocation of the client
//!   running one small POSIX `sh` script on the host; each counts as one request
//!   ([`provisio::requests::before_request`]: counted per step, paced by `rate_limit`).
//!   [`Host::inspect`](provisio::Host::inspect) reads a file and runs a status command in the
//!   same invocation, so "deployed and running?" costs one request.
//! * **Host keys are always verified.** `StrictHostKeyChecking=yes` against either the
//!   configured `known_hosts` file or a pinned `host_key`, which is written to a private
//!   (0600) temporary known_hosts file under a fixed alias (`HostKeyAlias`); the global
//!   known_hosts files are never consulted (`GlobalKnownHostsFile=/dev/null`) and nothing is
//!   ever added to a known_hosts file. A mismatch fails at once with `Unauthenticated`,
//!   naming the account and the file or the pinned key's fingerprint, before anything runs.
//! * **Key authentication only, never a prompt.** `BatchMode=yes` (no password or passphrase
//!   prompt, ever), password and keyboard-interactive authentication off; the key comes from
//!   the agent (`SSH_AUTH_SOCK`) or from `key_file` (`IdentitiesOnly=yes -i`). There is no
//!   password setting. No agent or X11 forwarding, no tty.
//! * **Nothing reaches the remote shell unquoted.** Directories, file names and every
//!   argument of a command are single-quoted words of the script (and were checked at the
//!   boundary by [`provisio::host`]); a command runs as an argument list, without a shell of
//!   its own. File contents travel on stdin as one tar stream, never on the command line.
//! * **Atomic, private files.** An upload unpacks into a private temporary directory inside
//!   the target (`umask 077`: directories 0700, files 0600), then renames each file into
//!   place. The temporary directory is removed however the script ends.
//! * **Bounded.** A command's stdout and stderr are kept up to
//!   [`MAX_OUTPUT_BYTES`](provisio::host::MAX_OUTPUT_BYTES) each (the rest is read and
//!   dropped); `read_file` reads at most 1 MiB; every invocation is killed after
//!   `command_timeout_secs` (`Timeout`), and `ConnectTimeout` / `ServerAliveInterval` keep a
//!   dead network from hanging it.
//! * **Errors** are classified from the client's stderr: host key mismatch and refused keys
//!   → `Unauthenticated`, unreachable hosts and dropped sessions → `Transient`, permission
//!   problems on the host → `PermissionDenied`.
//!
//! ```no_run
//! # async fn demo() -> provisio::Result<()> {
//! use provisio::Host;
//! use provisio::host::HostCommand;
//! use provisio_ssh::{SshConfig, SshHost};
//! let host = SshHost::new(
//!     SshConfig::new("staging.internal", "deploy")
//!         .with_key_file("/etc/provisio/staging_key")
//!         .with_known_hosts("/etc/provisio/known_hosts"),
//! )?;
//! let files = [("docker-compose.yml".to_string(), provisio::Bytes::from("services: {}\n"))].into();
//! host.write_files("/srv/tenants/acme", &files).await?;
//! let up = HostCommand::new("/srv/tenants/acme", ["docker", "compose", "up", "-d"]);
//! let out = host.run(&up).await?.expect("the directory exists");
//! assert!(out.success());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod client;
mod config;
mod error;
mod host;
mod script;
mod tar;

pub use config::SshConfig;
pub use host::{MAX_FILE_BYTES, PROVIDER, SshHost};
