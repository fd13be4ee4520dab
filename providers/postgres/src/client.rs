//! Connections: one short-lived connection per operation, at most
//! [`PostgresConfig::max_connections`] at a time, over TLS (rustls) unless disabled.
//!
//! Why no pool: provisioning operations are few and far between (a handful per tenant
//! launch), most of them run in the administrator database but seeds connect to each tenant's
//! own database, and a pooled connection would keep that database busy (`DROP DATABASE` waits
//! for it) and go stale across server restarts and managed-service failovers. A fresh
//! connection costs one round of TCP, TLS and SCRAM — milliseconds against the seconds a launch
//! takes — and always sees the current server. The semaphore keeps a fleet run from exhausting
//! the server's `max_connections`.

use crate::config::{PostgresConfig, SslMode};
use crate::error::from_pg;
use provisio::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::NoTls;

/// Opens connections for one configured server.
pub(crate) struct Connector {
    config: PostgresConfig,
    /// The server as a provider: every round trip is paced and counted under it.
    info: provisio::ProviderInfo,
    tls: Option<rustls::ClientConfig>,
    permits: Arc<Semaphore>,
}

/// An open connection; closed when dropped (the connection task ends with the client). Its
/// statements are sent through the counted methods of [`crate::statements`].
pub(crate) struct Conn {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) info: provisio::ProviderInfo,
    _permit: OwnedSemaphorePermit,
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
        Ok(Connector {
            permits: Arc::new(Semaphore::new(config.max_connections)),
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

    /// Connects to `dbname` as the administrator.
    pub(crate) async fn connect(&self, dbname: &str) -> Result<Conn> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::unexpected("the connection limiter was closed"))?;
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
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "postgres connection ended with an error");
                        }
                    });
                    Ok(client)
                }
                Some(tls) => {
                    pg.ssl_mode(tokio_postgres::config::SslMode::Require);
                    let make = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
                    let (client, connection) = pg.connect(make).await?;
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            tracing::debug!(error = %e, "postgres connection ended with an error");
                        }
                    });
                    Ok(client)
                }
            }
        };
        let client = match tokio::time::timeout(deadline, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => return Err(from_pg(e, &what)),
            Err(_) => {
                return Err(Error::timeout(format!(
                    "{what}: no connection after {} s",
                    deadline.as_secs()
                )));
            }
        };
        Ok(Conn {
            client,
            info: self.info.clone(),
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

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration for `require` (encrypt, accept any certificate) or
/// `verify-full` (the given CA file's roots or the system's, host name checked).
pub(crate) fn tls_config(
    mode: SslMode,
    ca_file: Option<&std::path::Path>,
) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::unexpected(format!("TLS setup: {e}")))?;
    let config = match mode {
        SslMode::Disable => unreachable!("no TLS configuration for sslmode=disable"),
        SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(ca_file)?)
            .with_no_client_auth(),
    };
    Ok(config)
}

fn roots(ca_file: Option<&std::path::Path>) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::invalid_field(
                        "ca_file",
                        format!("cannot read PEM certificates from {}: {e}", path.display()),
                    )
                })?;
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::invalid_field(
                    "ca_file",
                    format!("{} holds no usable CA certificate", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::invalid_field(
                    "ca_file",
                    "sslmode verify-full found no system CA certificates; set ca_file to a PEM bundle",
                ));
            }
        }
    }
    Ok(store)
}

/// `sslmode=require`: the handshake's signatures are still checked (so the session keys belong
/// to whoever holds the certificate's key), but the certificate itself is not.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
