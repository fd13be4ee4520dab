//! Connections: opened on demand through a small per-database [`Pool`] (see
//! [`crate::pool`] for why and how it stays bounded and clean), at most
//! [`PostgresConfig::max_connections`] open at a time, over TLS (rustls) unless disabled.
//! What the provider needs to know about its session (superuser? server version?) comes from
//! the startup handshake's `ParameterStatus` messages, so it costs no statement.

use crate::config::{PostgresConfig, SslMode};
use crate::error::from_pg;
use crate::pool::{Pool, PooledConn};
use provisio::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::NoTls;

/// Opens connections for one configured server.
pub(crate) struct Connector {
    config: PostgresConfig,
    /// The server as a provider: every round trip is paced and counted under it.
    info: provisio::ProviderInfo,
    tls: Option<rustls::ClientConfig>,
    pool: Arc<Pool>,
}

/// What the provider needs to know about its own session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Session {
    /// The administrator is a superuser (`is_superuser`).
    pub(crate) superuser: bool,
    /// `server_version_num`, e.g. 160004.
    pub(crate) version: i32,
}

/// An open connection; closed when dropped (the connection task ends with the client). Its
/// statements are sent through the counted methods of [`crate::statements`], which keep
/// track of whether it may be reused ([`Conn::reusable`]).
pub(crate) struct Conn {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) info: provisio::ProviderInfo,
    pub(crate) session: Session,
    dbname: String,
    /// A request was sent and its answer not (yet) read: dropped mid-way, or in flight.
    pub(crate) busy: AtomicBool,
    /// The connection failed below SQL (I/O, protocol): never reused.
    pub(crate) broken: AtomicBool,
    /// A transaction was opened and not yet ended by this provider.
    pub(crate) in_transaction: AtomicBool,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// The database this connection is to.
    pub(crate) fn dbname(&self) -> &str {
        &self.dbname
    }

    /// Whether the pool may hand this connection to the next operation: its last request
    /// answered, nothing broke below SQL, no transaction is open.
    pub(crate) fn reusable(&self) -> bool {
        !self.busy.load(Ordering::SeqCst)
            && !self.broken.load(Ordering::SeqCst)
            && !self.in_transaction.load(Ordering::SeqCst)
    }

    /// Marks a transaction opened (`true`) or ended (`false`) by a statement this provider sent.
    pub(crate) fn set_in_transaction(&self, open: bool) {
        self.in_transaction.store(open, Ordering::SeqCst);
    }

    /// Never reuse this connection (its state is unknown after an error mid-transaction).
    pub(crate) fn discard(&self) {
        self.broken.store(true, Ordering::SeqCst);
    }
}

/// The session attributes the server reported at startup, `None` when it reported too little
/// (a proxy that filters `ParameterStatus`; the caller then asks with a query).
fn session_from(is_superuser: Option<&str>, server_version: Option<&str>) -> Option<Session> {
    let superuser = match is_superuser? {
        "on" => true,
        "off" => false,
        _ => return None,
    };
    Some(Session {
        superuser,
        version: version_num(server_version?)?,
    })
}

/// `server_version` ("16.4 (Debian ...)", "9.6.24", "17beta1") as `server_version_num`.
fn version_num(text: &str) -> Option<i32> {
    let head = text.split_whitespace().next()?;
    let mut parts = head.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<i32>().ok()
    });
    let major = parts.next()??;
    let second = parts.next().flatten().unwrap_or(0);
    if major >= 10 {
        Some(major * 10_000 + second)
    } else {
        let third = parts.next().flatten().unwrap_or(0);
        Some(major * 10_000 + second * 100 + third)
    }
}

/// Reads the reported session attributes off a connection before it is spawned.
fn reported<S, T>(connection: &tokio_postgres::Connection<S, T>) -> Option<Session>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    session_from(
        connection.parameter("is_superuser"),
        connection.parameter("server_version"),
    )
}

impl Connector {
    /// Checks `config` and prepares TLS (reading the CA file or the system's roots now, so
    /// a bad file fails at construction, not at the first operation).
    pub(crate) fn new(config: &PostgresConfig) -> Result<Self> {
        let config = config.resolved()?;
        let unix = config.host.starts_with('/');
        let tls = match config.sslmode {
            SslMode::Disable => None,
            _ if unix => None,
            mode => Some(tls_config(mode, config.ca_file.as_deref())?),
        };
        let quota = provisio::ratelimit::RateLimit::effective(
            config.rate_limit.as_ref(),
            None,
            "rate_limit",
        )?;
        let mut info = provisio::ProviderInfo::new("postgres", config.display_target());
        info.quota = quota;
        let permits = Arc::new(Semaphore::new(config.max_connections));
        Ok(Connector {
            pool: Arc::new(Pool::new(config.dbname.clone(), permits)),
            config,
            info,
            tls,
        })
    }

    /// The server's identity and request quota.
    pub(crate) fn info(&self) -> &provisio::ProviderInfo {
        &self.info
    }

    /// The resolved configuration.
    pub(crate) fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// A connection to `dbname` as the administrator: for the administrator database the
    /// shared one (opened when there is none or it broke), for another database an idle one
    /// from the pool, else a new one (see [`crate::pool`]).
    pub(crate) async fn connect(&self, dbname: &str) -> Result<PooledConn> {
        if dbname == self.pool.admin_db {
            let mut slot = self.pool.shared.lock().await;
            if let Some(conn) = Pool::shared_usable(&mut slot) {
                return Ok(PooledConn::Shared(conn));
            }
            // Let the unusable one go first: its permit is freed when its users finish.
            *slot = None;
            let conn = self.open(dbname, self.permit(false).await?).await?;
            return Ok(PooledConn::Shared(Pool::share(&mut slot, conn)));
        }
        if let Some(conn) = self.pool.take(dbname) {
            return Ok(PooledConn::own(conn, self.pool.clone()));
        }
        let conn = self.open(dbname, self.permit(true).await?).await?;
        Ok(PooledConn::own(conn, self.pool.clone()))
    }

    /// A connection permit: a free one, else one freed by closing an idle connection (or,
    /// when `may_release_shared`, by letting the shared administrator connection go), else
    /// the next one released.
    async fn permit(&self, may_release_shared: bool) -> Result<OwnedSemaphorePermit> {
        loop {
            match self.pool.permits.clone().try_acquire_owned() {
                Ok(permit) => return Ok(permit),
                Err(tokio::sync::TryAcquireError::NoPermits)
                    if self.pool.evict_one(may_release_shared) => {}
                Err(_) => {
                    return self
                        .pool
                        .permits
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|_| Error::unexpected("the connection limiter was closed"));
                }
            }
        }
    }

    /// Closes the idle connections to `dbname` (before it is dropped).
    pub(crate) fn forget(&self, dbname: &str) {
        self.pool.forget(dbname);
    }

    async fn open(&self, dbname: &str, permit: OwnedSemaphorePermit) -> Result<Conn> {
        let c = &self.config;
        let mut pg = tokio_postgres::Config::new();
        pg.user(&c.user)
            .dbname(dbname)
            .application_name(&c.application_name)
            .connect_timeout(c.connect_timeout());
        if c.host.starts_with('/') {
            #[cfg(unix)]
            pg.host_path(&c.host);
            #[cfg(not(unix))]
            return Err(Error::invalid_field(
                "host",
                "Unix socket directories are only supported on Unix",
            ));
        } else {
            pg.host(&c.host);
        }
        pg.port(c.port);
        if let Some(password) = c.admin_password() {
            pg.password(password.expose());
        }
        let what = format!("connecting to {} (database {dbname:?})", self.target());
        // The whole handshake (TCP, TLS, authentication) gets the connect timeout, plus a
        // little for the server's answer to the startup message.
        let deadline = c.connect_timeout() + std::time::Duration::from_secs(2);
        // The handshake is a round trip (several, with TLS and SCRAM): one request.
        provisio::requests::before_request(&self.info).await;
        let connecting = async {
            match &self.tls {
                None => {
                    pg.ssl_mode(tokio_postgres::config::SslMode::Disable);
                    let (client, connection) = pg.connect(NoTls).await?;
                    let session = reported(&connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "postgres connection ended with an error");
                        }
                    });
                    Ok((client, session))
                }
                Some(tls) => {
                    pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                    let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
                    let (client, connection) = pg.connect(make).await?;
                    let session = reported(&connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "postgres connection ended with an error");
                        }
                    });
                    Ok((client, session))
                }
            }
        };
        let (client, session) = match tokio::time::timeout(deadline, connecting).await {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => return Err(from_pg(e, &what)),
            Err(_) => {
                return Err(Error::timeout(format!(
                    "{what}: no connection after {} s",
                    deadline.as_secs()
                )));
            }
        };
        let session = match session {
            Some(session) => session,
            None => {
                // The server (or a proxy in front of it) did not report them: one query.
                provisio::requests::before_request(&self.info).await;
                let row = client
                    .query_one(
                        "SELECT r.rolsuper, current_setting('server_version_num')::int4 \
                         FROM pg_roles r WHERE r.rolname = session_user",
                        &[],
                    )
                    .await
                    .map_err(|e| from_pg(e, "reading the administrator's attributes"))?;
                Session {
                    superuser: row.get(0),
                    version: row.get(1),
                }
            }
        };
        Ok(Conn {
            client,
            info: self.info.clone(),
            session,
            dbname: dbname.to_string(),
            busy: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            in_transaction: AtomicBool::new(false),
            _permit: permit,
        })
    }

    /// `user@host:port`, for messages.
    pub(crate) fn target(&self) -> String {
        format!(
            "{}@{}:{}",
            self.config.user, self.config.host, self.config.port
        )
    }
}

/// The rustls client configuration for `require` (encrypt, accept any certificate) or
/// `verify-full` (the given CA file's roots or the system's, host name checked).
pub(crate) fn tls_config(
    mode: SslMode,
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig> {
    let verification = match mode {
        SslMode::Disable => unreachable!("no TLS configuration for sslmode=disable"),
        SslMode::Require => provisio_pgtls::Verification::None,
        SslMode::VerifyFull => provisio_pgtls::Verification::Full,
    };
    provisio_pgtls::client_config(verification, ca_file, "ca_file")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_versions_are_read_like_server_version_num() {
        assert_eq!(version_num("16.4 (Debian 16.4-1.pgdg120+1)"), Some(160_004));
        assert_eq!(version_num("13.0"), Some(130_000));
        assert_eq!(version_num("17beta1"), Some(170_000));
        assert_eq!(version_num("9.6.24"), Some(90_624));
        assert_eq!(version_num("x"), None);
        let s = session_from(Some("on"), Some("15.18")).unwrap();
        assert!(s.superuser);
        assert_eq!(s.version, 150_018);
        assert!(session_from(Some("maybe"), Some("15.18")).is_none());
        assert!(session_from(Some("off"), None).is_none());
    }
}
