//! The system `git` command, for remotes libgit2 cannot reach here (ssh, https): one process
//! per network session, run against the cache repository (`--git-dir`).
//!
//! Three sessions, each serving a whole batch of branches:
//! - `git ls-remote` lists heads;
//! - `git fetch-pack` fetches the heads of existing branches and prints them (unlike
//!   `git fetch`, it fetches what exists when some named branches do not, and it writes no
//!   ref and no `FETCH_HEAD`, so concurrent fetches into one cache never meet on a lock);
//! - `git push` applies several ref updates, each a compare-and-swap
//!   (`--force-with-lease=<ref>:<expected>`), each accepted or rejected on its own.
//!
//! Credentials never reach the disk or the command line: ssh uses the agent or the key file
//! named in `GIT_SSH_COMMAND`; an https token is read from the configured environment variable
//! and handed to `git` in the child's environment, from which a fixed askpass script (which
//! contains no secret) prints it when git asks for the password. Credential helpers are
//! disabled (`-c credential.helper=`) so that no helper stores the token.

use crate::config::GitConfig;
use crate::error::from_command;
use crate::transport::{Pushed, Update};
use git2::Oid;
use provisio::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// How to run `git` for one remote.
pub(crate) struct GitCommand {
    url: String,
    display_url: String,
    git_dir: PathBuf,
    ssh_key: Option<PathBuf>,
    known_hosts: Option<PathBuf>,
    token_env: Option<String>,
    askpass: PathBuf,
}

/// The askpass program: answers git's user-name prompt from `PROVISIO_GIT_USERNAME` (default
/// `x-access-token`) and the password prompt from `PROVISIO_GIT_TOKEN`, both set only in the
/// environment of the `git` child.
const ASKPASS: &str = "#!/bin/sh\n# provisio: prints the https credential from the environment; holds no secret.\ncase \"$1\" in\n  Username*) printf '%s\\n' \"${PROVISIO_GIT_USERNAME:-x-access-token}\" ;;\n  *) printf '%s\\n' \"$PROVISIO_GIT_TOKEN\" ;;\nesac\n";

/// `value` quoted for `sh` (GIT_SSH_COMMAND is run by the shell).
fn sh_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

/// Settings for every `git` this provider runs: no credential helper or prompt, and no
/// automatic housekeeping in the shared cache (a `gc` started by one process would rewrite
/// `packed-refs` under the feet of the others).
const QUIET_CONFIG: [&str; 8] = [
    "-c",
    "credential.helper=",
    "-c",
    "core.askPass=",
    "-c",
    "gc.auto=0",
    "-c",
    "maintenance.auto=false",
];

impl GitCommand {
    pub(crate) fn new(config: &GitConfig, git_dir: PathBuf) -> GitCommand {
        GitCommand {
            url: config.url.clone(),
            display_url: config.redacted_url(),
            git_dir,
            ssh_key: config.ssh_key_path.clone(),
            known_hosts: config.ssh_known_hosts_path.clone(),
            token_env: config.https_token_env.clone(),
            askpass: config.cache_dir.join("provisio-askpass.sh"),
        }
    }

    fn command(&self) -> Result<Command> {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir")
            .arg(&self.git_dir)
            .args(QUIET_CONFIG)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env_remove("GIT_ASKPASS")
            .env_remove("SSH_ASKPASS")
            .env_remove("PROVISIO_GIT_TOKEN");
        if self.ssh_key.is_some() || self.known_hosts.is_some() {
            let mut ssh = String::from("ssh -o BatchMode=yes");
            if let Some(key) = &self.ssh_key {
                ssh.push_str(" -o IdentitiesOnly=yes -i ");
                ssh.push_str(&sh_quote(&key.to_string_lossy()));
            }
            if let Some(hosts) = &self.known_hosts {
                ssh.push_str(" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=");
                ssh.push_str(&sh_quote(&hosts.to_string_lossy()));
            }
            cmd.env("GIT_SSH_COMMAND", ssh);
        } else {
            cmd.env("GIT_SSH_VARIANT", "auto");
        }
        if let Some(var) = &self.token_env {
            let token = std::env::var(var).map_err(|_| {
                Error::new(
                    provisio::ErrorKind::Unauthenticated,
                    format!("the https token variable {var} is not set"),
                )
            })?;
            self.write_askpass()?;
            cmd.env("GIT_ASKPASS", &self.askpass)
                .env("PROVISIO_GIT_TOKEN", token);
            if let Some(user) = url_user(&self.url) {
                cmd.env("PROVISIO_GIT_USERNAME", user);
            }
        }
        Ok(cmd)
    }

    /// Writes the askpass script unless it is there: to a file of its own, renamed into place,
    /// so concurrent writers (threads or processes) never see a half-written script.
    fn write_askpass(&self) -> Result<()> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        if std::fs::read_to_string(&self.askpass).is_ok_and(|s| s == ASKPASS) {
            return Ok(());
        }
        let fail = |e: std::io::Error| {
            Error::unexpected("cannot write the git askpass helper").with_source(e)
        };
        let tmp = self.askpass.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, ASKPASS).map_err(fail)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
        std::fs::rename(&tmp, &self.askpass).map_err(fail)
    }

    fn run(&self, what: &str, args: &[&str], stdin: Option<&str>) -> Result<std::process::Output> {
        let mut cmd = self.command()?;
        cmd.args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        tracing::debug!(url = %self.display_url, ?args, "running git");
        let cannot =
            |e| Error::unexpected(format!("{what}: cannot run the git command")).with_source(e);
        let mut child = cmd.spawn().map_err(cannot)?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // git reads all of its input before it talks to the remote; a write error means it
            // exited early, and its stderr says why.
            let _ = pipe.write_all(input.as_bytes());
        }
        child.wait_with_output().map_err(cannot)
    }

    /// The heads of `branches` (absent from the map: no such branch).
    pub(crate) fn ls_remote(&self, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
        let refs: Vec<String> = branches.iter().map(|b| format!("refs/heads/{b}")).collect();
        let mut args = vec!["ls-remote", "--heads", "--", self.url.as_str()];
        args.extend(refs.iter().map(String::as_str));
        let out = self.run("ls-remote", &args, None)?;
        if !out.status.success() {
            return Err(from_command(
                &String::from_utf8_lossy(&out.stderr),
                &format!("cannot list the branches of {}", self.display_url),
            ));
        }
        parse_heads(&String::from_utf8_lossy(&out.stdout), '\t', branches)
    }

    /// Fetches the heads of those of `branches` that exist into the cache's object database
    /// and returns them (absent from the map: no such branch). Writes no ref.
    pub(crate) fn fetch_pack(&self, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
        let stdin: String = branches
            .iter()
            .map(|b| format!("refs/heads/{b}\n"))
            .collect();
        let out = self.run(
            "fetch",
            // fetch-pack takes no `--`; a URL cannot start with '-' (checked at construction).
            &["fetch-pack", "--stdin", "--no-progress", &self.url],
            Some(&stdin),
        )?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        // fetch-pack fetches what exists and then fails on each named ref that does not:
        // that is an answer ("no such branch"), any other complaint is a failure.
        let unexpected = stderr.lines().any(|l| {
            let l = l.trim();
            (l.starts_with("error:") || l.starts_with("fatal:"))
                && !l.starts_with("error: no such remote ref ")
        });
        if !out.status.success() && unexpected {
            return Err(from_command(
                &stderr,
                &format!("cannot fetch from {}", self.display_url),
            ));
        }
        parse_heads(&String::from_utf8_lossy(&out.stdout), ' ', branches)
    }

    /// Applies `updates` in one push; one answer per update, in order.
    pub(crate) fn push(&self, updates: &[Update]) -> Result<Vec<Result<Pushed>>> {
        let mut args: Vec<String> = vec!["push".into(), "--porcelain".into()];
        for u in updates {
            args.push(format!(
                "--force-with-lease=refs/heads/{}:{}",
                u.branch,
                u.expected.map(|o| o.to_string()).unwrap_or_default()
            ));
        }
        args.push("--".into());
        args.push(self.url.clone());
        for u in updates {
            args.push(match u.new {
                Some(oid) => format!("{oid}:refs/heads/{}", u.branch),
                None => format!(":refs/heads/{}", u.branch),
            });
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.run("push", &args, None)?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let statuses = parse_push_statuses(&stdout);
        if statuses.is_empty() && !out.status.success() {
            // Nothing was pushed: the remote could not be reached, or refused us as a whole.
            return Err(from_command(
                &String::from_utf8_lossy(&out.stderr),
                &format!("cannot push to {}", self.display_url),
            ));
        }
        Ok(updates
            .iter()
            .map(|u| {
                statuses
                    .get(&format!("refs/heads/{}", u.branch))
                    .cloned()
                    .ok_or_else(|| {
                        from_command(
                            &String::from_utf8_lossy(&out.stderr),
                            &format!(
                                "git push to {} reported nothing for branch {}",
                                self.display_url, u.branch
                            ),
                        )
                    })
            })
            .collect())
    }
}

/// `<oid><sep><refname>` lines, kept for the wanted branches only (ls-remote's patterns also
/// match refs that merely end with the name).
fn parse_heads(out: &str, sep: char, branches: &[&str]) -> Result<BTreeMap<String, Oid>> {
    let mut heads = BTreeMap::new();
    for line in out.lines() {
        let Some((oid, name)) = line.split_once(sep) else {
            continue;
        };
        let Some(branch) = name.trim().strip_prefix("refs/heads/") else {
            continue;
        };
        if !branches.contains(&branch) {
            continue;
        }
        let oid = Oid::from_str(oid.trim())
            .map_err(|e| Error::unexpected("git printed an invalid object id").with_source(e))?;
        heads.insert(branch.to_string(), oid);
    }
    Ok(heads)
}

/// The porcelain status lines of `git push` (`<flag>\t<from>:<to>\t<summary>`) by target ref.
fn parse_push_statuses(stdout: &str) -> BTreeMap<String, Pushed> {
    let mut statuses = BTreeMap::new();
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(flag), Some(refs), summary) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some((_, to)) = refs.split_once(':') else {
            continue;
        };
        let status = match flag {
            // fast-forward, forced (a lease-checked move to a non-descendant), deleted, created
            " " | "+" | "-" | "*" => Pushed::Accepted,
            "=" => Pushed::UpToDate,
            "!" => Pushed::Rejected(summary.unwrap_or("rejected").trim().to_string()),
            _ => continue,
        };
        statuses.insert(to.to_string(), status);
    }
    statuses
}

/// The user name in an https URL (`https://user@host/...`), if any.
fn url_user(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(userinfo.split(':').next()?.to_string()).filter(|u| !u.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_users() {
        assert_eq!(sh_quote("/k/it's"), "'/k/it'\\''s'");
        assert_eq!(url_user("https://bot@h/x").as_deref(), Some("bot"));
        assert_eq!(url_user("https://h/x"), None);
    }

    #[test]
    fn push_statuses_by_ref() {
        let out = "To ssh://h/t.git\n\
            *\t4c96:refs/heads/new\t[new branch]\n\
            !\t4c96:refs/heads/taken\t[rejected] (stale info)\n\
            =\t8a55:refs/heads/same\t[up to date]\n\
            -\t:refs/heads/gone\t[deleted]\n\
            Done\n";
        let s = parse_push_statuses(out);
        assert_eq!(s["refs/heads/new"], Pushed::Accepted);
        assert_eq!(
            s["refs/heads/taken"],
            Pushed::Rejected("[rejected] (stale info)".into())
        );
        assert_eq!(s["refs/heads/same"], Pushed::UpToDate);
        assert_eq!(s["refs/heads/gone"], Pushed::Accepted);
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn heads_of_wanted_branches_only() {
        let oid = "8a55b8419a85cd303fb14ad3f6b7674466dfb154";
        let out = format!("{oid}\trefs/heads/acme\n{oid}\trefs/heads/x/refs/heads/acme\n");
        let heads = parse_heads(&out, '\t', &["acme", "other"]).unwrap();
        assert_eq!(heads.len(), 1);
        assert_eq!(heads["acme"].to_string(), oid);
    }
}
