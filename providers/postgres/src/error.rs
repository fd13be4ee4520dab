//! Classifying PostgreSQL failures into provisio error kinds.
//!
//! Server errors carry a SQLSTATE; [`kind_for_sqlstate`] maps it. Client-side failures
//! (connection refused or reset, timeouts, TLS) are classified from the error itself. Messages
//! are built from the server's message and names only: no statement text (a `PASSWORD`
//! clause holds a verifier) and never a password.

use provisio::{Error, ErrorKind};

/// The provider name in errors and [`ProviderInfo`](provisio::ProviderInfo).
pub(crate) const PROVIDER: &str = "postgres";

/// The provisio error kind for a SQLSTATE.
///
/// | SQLSTATE | meaning | kind |
/// |---|---|---|
/// | `42710`, `42P04`, `42P06`, `42P07`, `23505` | duplicate object / database / schema / table, unique violation | `AlreadyExists` |
/// | `42501` | insufficient privilege | `PermissionDenied` |
/// | `28000`, `28P01` | invalid authorization, wrong password | `Unauthenticated` |
/// | class `08`, `53xxx`, `57P01`..`57P05`, `58xxx`, `55P03`, `55006` | connection, resources, shutdown, lock, object in use | `Transient` |
/// | class `40` (`40001`, `40P01`) | serialization failure, deadlock | `Transient` |
/// | `57014` | statement cancelled (e.g. `statement_timeout`) | `Timeout` |
/// | `3D000`, `3F000`, `42704`, `42P01`, `42883`, `42703` | missing database / schema / object / table / function / column | `NotFound` |
/// | `2BP01`, class `23` (but `23505`) | dependent objects exist, constraint violations | `Conflict` |
/// | `0A000` | feature not supported | `Unsupported` |
/// | class `22`, `42601`, other class `42`, class `25`, `54xxx`, `2F`, `P0` | bad data, syntax, transaction state, limits, routines | `InvalidInput` |
/// | anything else | | `Unexpected` |
pub(crate) fn kind_for_sqlstate(code: &str) -> ErrorKind {
    match code {
        "42710" | "42P04" | "42P06" | "42P07" | "23505" => ErrorKind::AlreadyExists,
        "42501" => ErrorKind::PermissionDenied,
        "28000" | "28P01" => ErrorKind::Unauthenticated,
        "57014" => ErrorKind::Timeout,
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "55P03" | "55006" => ErrorKind::Transient,
        "3D000" | "3F000" | "42704" | "42P01" | "42883" | "42703" => ErrorKind::NotFound,
        "2BP01" => ErrorKind::Conflict,
        "0A000" => ErrorKind::Unsupported,
        "42601" => ErrorKind::InvalidInput,
        _ => match code.get(..2) {
            Some("08" | "53" | "58" | "40") => ErrorKind::Transient,
            Some("23") => ErrorKind::Conflict,
            Some("22" | "42" | "25" | "54" | "2F" | "P0" | "0L" | "0P" | "44") => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Unexpected,
        },
    }
}

/// A tokio-postgres error as a provisio error; `what` says what was being done (names only).
pub(crate) fn from_pg(err: tokio_postgres::Error, what: &str) -> Error {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        let mut message = format!("{what}: {} (SQLSTATE {code})", db.message());
        if let Some(hint) = db.hint() {
            message.push_str("; hint: ");
            message.push_str(hint);
        }
        return Error::new(kind_for_sqlstate(code), message);
    }
    // The message holds the whole source chain (tokio-postgres' top-level text alone is often
    // just "error connecting to server"); the source is not attached again, which would repeat
    // it in Display.
    let text = provisio::error::describe_chain(&err);
    Error::new(client_side_kind(&err, &text), format!("{what}: {text}"))
}

fn client_side_kind(err: &tokio_postgres::Error, text: &str) -> ErrorKind {
    if err.is_closed() {
        return ErrorKind::Transient;
    }
    if let Some(kind) = provisio_pgtls::tls_error_kind(err) {
        return kind;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return io_kind(io.kind());
        }
        source = s.source();
    }
    if text.contains("timeout") || text.contains("timed out") {
        ErrorKind::Timeout
    } else if text.contains("does not support TLS") {
        // sslmode require/verify-full against a server without TLS: a configuration problem.
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Unexpected
    }
}

fn io_kind(kind: std::io::ErrorKind) -> ErrorKind {
    use std::io::ErrorKind as K;
    match kind {
        K::TimedOut => ErrorKind::Timeout,
        K::InvalidInput => ErrorKind::InvalidInput,
        K::PermissionDenied => ErrorKind::PermissionDenied,
        K::InvalidData => ErrorKind::Unexpected,
        _ => ErrorKind::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        let cases = [
            ("42710", ErrorKind::AlreadyExists),
            ("42P04", ErrorKind::AlreadyExists),
            ("23505", ErrorKind::AlreadyExists),
            ("42501", ErrorKind::PermissionDenied),
            ("28P01", ErrorKind::Unauthenticated),
            ("28000", ErrorKind::Unauthenticated),
            ("53300", ErrorKind::Transient),
            ("57P03", ErrorKind::Transient),
            ("08006", ErrorKind::Transient),
            ("08001", ErrorKind::Transient),
            ("40001", ErrorKind::Transient),
            ("40P01", ErrorKind::Transient),
            ("55006", ErrorKind::Transient),
            ("57014", ErrorKind::Timeout),
            ("3D000", ErrorKind::NotFound),
            ("42704", ErrorKind::NotFound),
            ("42P01", ErrorKind::NotFound),
            ("22P02", ErrorKind::InvalidInput),
            ("22001", ErrorKind::InvalidInput),
            ("42601", ErrorKind::InvalidInput),
            ("42P16", ErrorKind::InvalidInput),
            ("25001", ErrorKind::InvalidInput),
            ("2BP01", ErrorKind::Conflict),
            ("23503", ErrorKind::Conflict),
            ("0A000", ErrorKind::Unsupported),
            ("XX000", ErrorKind::Unexpected),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_for_sqlstate(code), kind, "{code}");
        }
        for code in ["53300", "57P03", "08006", "40001", "40P01"] {
            assert!(kind_for_sqlstate(code).is_retryable(), "{code}");
        }
        for code in ["42P04", "42501", "28P01", "3D000", "42601"] {
            assert!(!kind_for_sqlstate(code).is_retryable(), "{code}");
        }
    }

    #[test]
    fn io_errors() {
        assert_eq!(
            io_kind(std::io::ErrorKind::ConnectionRefused),
            ErrorKind::Transient
        );
        assert_eq!(io_kind(std::io::ErrorKind::TimedOut), ErrorKind::Timeout);
    }
}
