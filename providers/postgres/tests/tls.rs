//! TLS without a TLS-enabled PostgreSQL: a tiny fake server answers PostgreSQL's `SSLRequest`,
//! completes a rustls handshake with a certificate from a test CA, then rejects the startup
//! message with SQLSTATE 28P01. A `28P01` error therefore proves the handshake succeeded; a
//! certificate error proves the client refused the server. Runs without any environment.

use provisio::{Database, ErrorKind};
use provisio_postgres::{PostgresConfig, PostgresDatabase, SslMode};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    files: std::sync::Mutex<Vec<PathBuf>>,
}

impl Drop for Ca {
    fn drop(&mut self) {
        for f in self.files.lock().unwrap().drain(..) {
            let _ = std::fs::remove_file(f);
        }
    }
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
            files: Default::default(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    fn server_cert(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }

    /// The CA certificate in a PEM file.
    fn pem_file(&self) -> PathBuf {
        let path = std::env::temp_dir().join(format!(
            "provisio-pg-ca-{}-{}.pem",
            std::process::id(),
            provisio_testkit::unique("ca")
        ));
        std::fs::write(&path, self.issuer.pem()).unwrap();
        self.files.lock().unwrap().push(path.clone());
        path
    }
}

/// Starts the fake server with this certificate; returns its port.
async fn fake_server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> u16 {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // SSLRequest: length 8, code 80877103.
                let mut request = [0u8; 8];
                if tcp.read_exact(&mut request).await.is_err() {
                    return;
                }
                assert_eq!(&request[4..], &80877103u32.to_be_bytes());
                tcp.write_all(b"S").await.unwrap();
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // the client refused our certificate
                };
                let mut len = [0u8; 4];
                if tls.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
                if tls.read_exact(&mut startup).await.is_err() {
                    return;
                }
                let mut fields = Vec::new();
                for (tag, value) in [
                    (b'S', "FATAL"),
                    (b'V', "FATAL"),
                    (b'C', "28P01"),
                    (b'M', "password authentication failed (fake server)"),
                ] {
                    fields.push(tag);
                    fields.extend_from_slice(value.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut msg = vec![b'E'];
                msg.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                msg.extend_from_slice(&fields);
                let _ = tls.write_all(&msg).await;
                let _ = tls.flush().await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn config(port: u16, host: &str, mode: SslMode) -> PostgresConfig {
    let mut c = PostgresConfig::default().with_sslmode(mode);
    c.host = host.to_string();
    c.port = port;
    c.connect_timeout_secs = 5;
    c
}

/// The error of one operation against the fake server.
async fn attempt(config: PostgresConfig) -> provisio::Error {
    let db = PostgresDatabase::new(config).unwrap();
    db.role_exists("acme").await.unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_accepts_a_server_certified_by_the_configured_ca() {
    let ca = Ca::new();
    let (cert, key) = ca.server_cert(&["127.0.0.1", "localhost"]);
    let port = fake_server(cert, key).await;
    let e =
        attempt(config(port, "127.0.0.1", SslMode::VerifyFull).with_ca_file(ca.pem_file())).await;
    // The handshake succeeded: the fake server's authentication failure came through it.
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(e.message().contains("28P01"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_refuses_an_unknown_ca_and_a_wrong_host_name() {
    let ca = Ca::new();
    let other = Ca::new();
    let (cert, key) = ca.server_cert(&["127.0.0.1"]);
    let port = fake_server(cert, key).await;
    let e = attempt(config(port, "127.0.0.1", SslMode::VerifyFull).with_ca_file(other.pem_file()))
        .await;
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(
        !e.message().contains("28P01"),
        "the handshake must fail: {e}"
    );
    assert!(e.message().to_lowercase().contains("certificate"), "{e}");

    // The right CA, but the certificate is for another name.
    let (cert, key) = ca.server_cert(&["db.example.com"]);
    let port = fake_server(cert, key).await;
    let e =
        attempt(config(port, "127.0.0.1", SslMode::VerifyFull).with_ca_file(ca.pem_file())).await;
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(
        !e.message().contains("28P01"),
        "the handshake must fail: {e}"
    );

    // The system roots do not know the test CA either (or there are none at all, which is a
    // configuration error at construction).
    let (cert, key) = ca.server_cert(&["127.0.0.1"]);
    let port = fake_server(cert, key).await;
    match PostgresDatabase::new(config(port, "127.0.0.1", SslMode::VerifyFull)) {
        Ok(db) => {
            let e = db.role_exists("acme").await.unwrap_err();
            assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
            assert!(!e.message().contains("28P01"), "{e}");
        }
        Err(e) => assert_eq!(e.kind(), &ErrorKind::InvalidInput, "{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_checking_the_certificate() {
    let ca = Ca::new();
    let (cert, key) = ca.server_cert(&["db.example.com"]);
    let port = fake_server(cert, key).await;
    let e = attempt(config(port, "127.0.0.1", SslMode::Require)).await;
    assert_eq!(e.kind(), &ErrorKind::Unauthenticated, "{e}");
    assert!(e.message().contains("28P01"), "{e}");
}
