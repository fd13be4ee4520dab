//! Classifying git failures into provisio error kinds.

use provisio::{Error, ErrorKind};

/// A libgit2 error as a provisio error: authentication → `Unauthenticated`, missing
/// repository or object → `NotFound`, network → `Transient`, a rejected non-fast-forward →
/// `Conflict`, a locked file → `Transient`, anything else → `Unexpected`.
pub(crate) fn from_git2(err: git2::Error, what: &str) -> Error {
    use git2::{ErrorClass, ErrorCode};
    let kind = match err.code() {
        ErrorCode::Auth | ErrorCode::Certificate => ErrorKind::Unauthenticated,
        ErrorCode::NotFound => ErrorKind::NotFound,
        ErrorCode::NotFastForward => ErrorKind::Conflict,
        ErrorCode::Locked => ErrorKind::Transient,
        _ => match err.class() {
            ErrorClass::Net | ErrorClass::Ssh | ErrorClass::Http | ErrorClass::Ssl => {
                ErrorKind::Transient
            }
            // libgit2 reports a local remote that does not exist as an OS error.
            ErrorClass::Os | ErrorClass::Repository
                if err.message().contains("could not find repository")
                    || err.message().contains("failed to resolve path") =>
            {
                ErrorKind::NotFound
            }
            _ => ErrorKind::Unexpected,
        },
    };
    Error::new(kind, what.to_string()).with_source(err)
}

/// A failed `git` command as a provisio error, from its (C-locale) stderr.
pub(crate) fn from_command(stderr: &str, what: &str) -> Error {
    let s = stderr.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| s.contains(n));
    let kind = if has(&[
        "permission denied (publickey",
        "authentication failed",
        "could not read username",
        "could not read password",
        "terminal prompts disabled",
        "invalid username or password",
        "host key verification failed",
        "returned error: 401",
    ]) {
        ErrorKind::Unauthenticated
    } else if has(&[
        "could not resolve host",
        "connection refused",
        "connection reset",
        "connection timed out",
        "timed out",
        "early eof",
        "the remote end hung up",
        "temporary failure",
        "network is unreachable",
        "broken pipe",
    ]) {
        ErrorKind::Transient
    } else if has(&["returned error: 403", "permission to", "access denied"]) {
        ErrorKind::PermissionDenied
    } else if has(&[
        "repository not found",
        "does not appear to be a git repository",
        "does not exist",
        "couldn't find remote ref",
        "returned error: 404",
    ]) {
        ErrorKind::NotFound
    } else if has(&["returned error: 5", "unable to access"]) {
        ErrorKind::Transient
    } else if has(&["returned error: 429"]) {
        ErrorKind::RateLimited { retry_after: None }
    } else {
        ErrorKind::Unexpected
    };
    // stderr of git never echoes a password; keep only its last lines, which say why.
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Error::new(kind, format!("{what}: {}", tail.join(" / ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_errors() {
        let k = |s: &str| from_command(s, "x").kind().clone();
        assert_eq!(
            k(
                "git@127.0.0.1: Permission denied (publickey).\nfatal: Could not read from remote repository."
            ),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            k("ERROR: Repository not found.\nfatal: Could not read from remote repository."),
            ErrorKind::NotFound
        );
        assert_eq!(
            k("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            ErrorKind::Transient
        );
        assert_eq!(
            k("fatal: unable to access 'https://x/': The requested URL returned error: 503"),
            ErrorKind::Transient
        );
        assert_eq!(k("something odd"), ErrorKind::Unexpected);
    }
}
