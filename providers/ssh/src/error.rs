//! Classifying a failed ssh invocation into a provisio error kind, from the client's stderr.

use provisio::{Error, ErrorKind};

/// How this provider verifies host keys, for the message of a mismatch.
#[derive(Debug, Clone)]
pub(crate) enum KeyCheck {
    /// Against a known_hosts file.
    KnownHosts(String),
    /// Against a pinned key: its type and fingerprint.
    Pinned { kind: String, fingerprint: String },
}

impl KeyCheck {
    fn describe(&self) -> String {
        match self {
            KeyCheck::KnownHosts(path) => format!("the known_hosts file {path}"),
            KeyCheck::Pinned { kind, fingerprint } => {
                format!("the pinned host_key ({kind} {fingerprint})")
            }
        }
    }
}

/// The last lines of stderr that say why (at most 3 lines, 400 characters).
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("@@@"))
        .collect();
    let t = lines[lines.len().saturating_sub(3)..].join(" | ");
    t.chars().take(400).collect()
}

/// The fingerprint of the key the host presented, from the client's warning
/// (`The fingerprint for the ED25519 key sent by the remote host is\nSHA256:...`).
fn presented_key(stderr: &str) -> Option<String> {
    let at = stderr.find("sent by the remote host is")?;
    let fp = stderr[at..]
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))?;
    Some(fp.trim_end_matches('.').to_string())
}

/// The error of an ssh invocation that ended with `status` (255: the client's own failure)
/// and `stderr`, for `what` (`upload to /srv/acme`) on `account` (`root@host:22`).
pub(crate) fn from_ssh(
    status: Option<i32>,
    stderr: &str,
    what: &str,
    account: &str,
    keys: &KeyCheck,
) -> Error {
    let s = stderr.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    if has(&[
        "host key verification failed",
        "remote host identification has changed",
        "host key is known for",
    ]) {
        let presented = presented_key(stderr)
            .map(|fp| format!("; the host presented {fp}"))
            .unwrap_or_default();
        return Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "{what}: the host key of {account} did not match {}{presented}; nothing was \
                 run (ssh: {})",
                keys.describe(),
                stderr
                    .lines()
                    .rev()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .unwrap_or("host key verification failed")
            ),
        );
    }
    let (kind, why) = if has(&["permission denied (", "too many authentication failures"]) {
        (
            ErrorKind::Unauthenticated,
            format!("{account} refused the key (check key_file or the agent)"),
        )
    } else if has(&[
        "connection refused",
        "connection timed out",
        "operation timed out",
        "no route to host",
        "network is unreachable",
        "connection reset",
        "connection closed",
        "broken pipe",
        "kex_exchange_identification",
        "temporary failure in name resolution",
        "timeout, server",
    ]) {
        (ErrorKind::Transient, format!("cannot reach {account}"))
    } else if has(&["could not resolve hostname"]) {
        (ErrorKind::Transient, format!("cannot resolve {account}"))
    } else if has(&[
        "permission denied",
        "read-only file system",
        "operation not permitted",
    ]) {
        (
            ErrorKind::PermissionDenied,
            format!("{account} does not allow it"),
        )
    } else if status == Some(255) {
        (
            ErrorKind::Transient,
            format!("the ssh session to {account} failed"),
        )
    } else {
        (
            ErrorKind::Unexpected,
            format!(
                "the remote side failed on {account} (exit status {})",
                status.map_or_else(|| "none".to_string(), |c| c.to_string())
            ),
        )
    };
    Error::new(kind, format!("{what}: {why}: {}", tail(stderr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: i32, stderr: &str) -> ErrorKind {
        let keys = KeyCheck::KnownHosts("/k".into());
        from_ssh(Some(status), stderr, "x", "u@h:22", &keys)
            .kind()
            .clone()
    }

    #[test]
    fn classifies_the_clients_complaints() {
        let mismatch = "@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:eFxccnvj0YQ8DBL+fQ2RP7Sa94xfjStuohcM8YTI/z4.\nPlease contact your system administrator.\nHost key verification failed.\n";
        let keys = KeyCheck::Pinned {
            kind: "ssh-ed25519".into(),
            fingerprint: "SHA256:abc".into(),
        };
        let e = from_ssh(Some(255), mismatch, "inspect /srv/a", "u@h:22", &keys);
        assert_eq!(e.kind(), &ErrorKind::Unauthenticated);
        assert!(
            e.message().contains(
                "host key of u@h:22 did not match the pinned host_key (ssh-ed25519 SHA256:abc)"
            ),
            "{e}"
        );
        assert!(
            e.message().ends_with(
                "the host presented SHA256:eFxccnvj0YQ8DBL+fQ2RP7Sa94xfjStuohcM8YTI/z4; nothing \
                 was run (ssh: Host key verification failed.)"
            ),
            "{e}"
        );
        assert_eq!(
            kind(255, "u@h: Permission denied (publickey).\n"),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(255, "ssh: connect to host h port 22: Connection refused\n"),
            ErrorKind::Transient
        );
        assert_eq!(
            kind(91, "tar: x: Cannot open: Permission denied\n"),
            ErrorKind::PermissionDenied
        );
        assert_eq!(kind(255, "something odd\n"), ErrorKind::Transient);
        assert_eq!(kind(93, "something odd\n"), ErrorKind::Unexpected);
    }
}
