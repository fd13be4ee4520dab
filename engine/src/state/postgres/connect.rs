//! How the PostgreSQL state store connects: the URL's TLS settings (`sslmode` and
//! `sslrootcert`, as libpq spells them) and its pool size, taken out of the URL before the
//! rest goes to tokio-postgres, and one connection opened with them.

use super::pg_error;
use provisio::{Error, ErrorKind, Result};
use std::path::PathBuf;
use tokio_postgres::Client;

/// The most connections one store keeps ([`Settings::pool_size`]).
pub const MAX_POOL_SIZE: usize = 32;
/// The pool size when the URL names none.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// How the connection is protected, as libpq's `sslmode` names it (`allow` is not supported:
/// it would fall back to plain text only after a failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, else plain text; the certificate is not checked.
    /// libpq's default, and this store's when the URL names no `sslmode`.
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, the certificate chained to a trusted root (`sslrootcert`, else the system's).
    VerifyCa,
    /// TLS, the chain checked and the host name (or address) in the certificate.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(Error::invalid_field(
                    "sslmode",
                    format!(
                        "{other:?} is not one of disable, prefer, require, verify-ca, verify-full"
                    ),
                ));
            }
        })
    }

    /// libpq's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// What the store's URL says, split into what provisio handles and what tokio-postgres does.
pub struct Settings {
    /// The URL (or `key=value` string) without `sslmode`, `sslrootcert` and `pool_size`.
    config: tokio_postgres::Config,
    /// `sslmode`.
    pub sslmode: SslMode,
    /// `sslrootcert`: a PEM file of trusted CA certificates for `verify-ca`/`verify-full`.
    pub root_cert: Option<PathBuf>,
    /// `pool_size` (provisio's own parameter, 1 to [`MAX_POOL_SIZE`]).
    pub pool_size: usize,
    /// The rustls configuration, unless `sslmode=disable`.
    tls: Option<provisio_pgtls::rustls::ClientConfig>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the tokio-postgres config: it may hold a password.
        f.debug_struct("Settings")
            .field("sslmode", &self.sslmode)
            .field("root_cert", &self.root_cert)
            .field("pool_size", &self.pool_size)
            .finish_non_exhaustive()
    }
}

/// One `key=value` pair of the parameters provisio takes out of the URL.
fn take(key: &str, value: String, s: &mut Found) -> bool {
    match key {
        "sslmode" => s.sslmode = Some(value),
        "sslrootcert" => s.root_cert = Some(value),
        "pool_size" => s.pool_size = Some(value),
        _ => return false,
    }
    true
}

#[derive(Default)]
struct Found {
    sslmode: Option<String>,
    root_cert: Option<String>,
    pool_size: Option<String>,
}

/// `postgres://...?a=b&sslmode=...`: the URL without provisio's parameters.
fn split_url(url: &str, found: &mut Found) -> Result<String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok(url.to_string());
    };
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(v).ok_or_else(|| {
            Error::invalid_field(
                "url",
                format!("parameter {k:?} is not valid percent-encoding"),
            )
        })?;
        if !take(k, value, found) {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `host=... sslmode=...` (libpq's key/value form, values bare or in single quotes with `\`
/// escapes): the string without provisio's parameters.
fn split_key_values(text: &str, found: &mut Found) -> Result<String> {
    let mut kept = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(Error::invalid_field(
                "url",
                format!("expected `=` after {key:?} in the key=value connection string"),
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(Error::invalid_field(
                            "url",
                            format!("the value of {key:?} has no closing quote"),
                        ));
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(c);
            }
        }
        let quoted = format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"));
        if !take(&key, value, found) {
            kept.push(format!("{key}={quoted}"));
        }
    }
    Ok(kept.join(" "))
}

impl Settings {
    /// Reads `url` (a `postgres://`/`postgresql://` URL or a `key=value` string). Errors name
    /// the field and never repeat the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Settings> {
        let mut found = Found::default();
        let rest = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_url(url, &mut found)?
        } else {
            split_key_values(url, &mut found)?
        };
        let config: tokio_postgres::Config = rest.parse().map_err(|e| {
            Error::invalid_field("url", format!("is not a PostgreSQL connection string: {e}"))
        })?;
        let sslmode = match found.sslmode.as_deref() {
            Some(m) => SslMode::parse(m)?,
            None => SslMode::Prefer,
        };
        let root_cert = found.root_cert.filter(|p| !p.is_empty()).map(PathBuf::from);
        let pool_size = match found.pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_POOL_SIZE).contains(n))
                .ok_or_else(|| {
                    Error::invalid_field(
                        "pool_size",
                        format!("{n:?} is not a number from 1 to {MAX_POOL_SIZE}"),
                    )
                })?,
        };
        let verification = match sslmode {
            SslMode::Disable => None,
            SslMode::Prefer | SslMode::Require => Some(provisio_pgtls::Verification::None),
            SslMode::VerifyCa => Some(provisio_pgtls::Verification::Chain),
            SslMode::VerifyFull => Some(provisio_pgtls::Verification::Full),
        };
        let tls = verification
            .map(|v| provisio_pgtls::client_config(v, root_cert.as_deref(), "sslrootcert"))
            .transpose()?;
        Ok(Settings {
            config,
            sslmode,
            root_cert,
            pool_size,
            tls,
        })
    }

    /// Opens one connection (its task spawned), TLS as `sslmode` says.
    pub async fn connect(&self, op: &str) -> Result<Client> {
        let mut config = self.config.clone();
        config.ssl_mode(match self.sslmode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let client = match &self.tls {
            None => {
                let (client, connection) = config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| connect_error(op, e))?;
                tokio::spawn(watch(connection));
                client
            }
            Some(tls) => {
                let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
                let (client, connection) = config
                    .connect(make)
                    .await
                    .map_err(|e| connect_error(op, e))?;
                tokio::spawn(watch(connection));
                client
            }
        };
        Ok(client)
    }
}

async fn watch<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "PostgreSQL state store connection ended");
    }
}

/// A failed connect: a certificate the store could not verify is `Unauthenticated` (no
/// retry helps); a server without TLS under `require` or stricter is `InvalidInput`.
fn connect_error(op: &str, e: tokio_postgres::Error) -> Error {
    match provisio_pgtls::tls_error_kind(&e) {
        Some(ErrorKind::Unauthenticated) => Error::new(
            ErrorKind::Unauthenticated,
            format!(
                "PostgreSQL state store: the server's certificate was refused ({}); check \
                 sslrootcert and the host name, or the sslmode",
                provisio::error::describe_chain(&e)
            ),
        )
        .with_provider("postgres")
        .with_operation(op),
        _ if e.to_string().contains("does not support TLS") => Error::invalid_field(
            "sslmode",
            "the server does not support TLS; use sslmode=prefer or disable only on a trusted network",
        ),
        _ => pg_error(op, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisio_s_parameters_leave_the_url_and_the_rest_goes_to_tokio_postgres() {
        let s = Settings::parse(
            "postgres://app:pw@db.example.test:6432/state?sslmode=verify-full&application_name=w1&sslrootcert=%2Fetc%2Fca.pem&pool_size=8",
        );
        // the CA file does not exist: refused, naming sslrootcert, without the URL
        let e = s.unwrap_err();
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        assert!(!e.to_string().contains("pw"), "{e}");
        let s = Settings::parse(
            "postgres://app@db.example.test/state?application_name=w1&pool_size=8&sslmode=require",
        )
        .unwrap();
        assert_eq!((s.sslmode, s.pool_size), (SslMode::Require, 8));
        assert_eq!(s.config.get_application_name(), Some("w1"));
        assert_eq!(s.config.get_dbname(), Some("state"));
        let s = Settings::parse("postgres://app@127.0.0.1/state").unwrap();
        assert_eq!(
            (s.sslmode, s.pool_size),
            (SslMode::Prefer, DEFAULT_POOL_SIZE)
        );
        assert!(s.tls.is_some(), "prefer tries TLS");
        let s = Settings::parse("postgres://app@127.0.0.1/state?sslmode=disable").unwrap();
        assert!(s.tls.is_none());
    }

    #[test]
    fn the_key_value_form_is_read_with_its_quotes() {
        let s = Settings::parse(
            "host=127.0.0.1 port=5432 user=app password='it''s' dbname = 'my db' sslmode=disable pool_size=2",
        );
        // `''` is not an escape in libpq's form: the value ends at the second quote
        assert!(s.is_err());
        let s = Settings::parse(
            r"host=127.0.0.1 port=5432 user=app password='it\'s a \\ secret' dbname = 'my db' sslmode=disable pool_size=2",
        )
        .unwrap();
        assert_eq!((s.sslmode, s.pool_size), (SslMode::Disable, 2));
        assert_eq!(s.config.get_dbname(), Some("my db"));
        assert_eq!(s.config.get_password(), Some(&b"it's a \\ secret"[..]));
        assert!(!format!("{s:?}").contains("secret"), "{s:?}");
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        for (url, field) in [
            ("postgres://a@h/d?sslmode=allow", "sslmode"),
            ("postgres://a@h/d?sslmode=verify_full", "sslmode"),
            ("postgres://a@h/d?pool_size=0", "pool_size"),
            ("postgres://a@h/d?pool_size=33", "pool_size"),
            ("postgres://a@h/d?pool_size=x", "pool_size"),
            ("host=h sslmode=bogus", "sslmode"),
            ("host=h dbname='open", "url"),
        ] {
            let e = Settings::parse(url).unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{url}: {e}");
            assert!(e.to_string().contains(field), "{url}: {e}");
        }
    }
}
