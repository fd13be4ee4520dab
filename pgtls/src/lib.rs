//! TLS for provisio's PostgreSQL connections: the rustls client configuration for each way
//! libpq's `sslmode` checks the server, shared by the PostgreSQL provider
//! (`provisio-postgres`) and the PostgreSQL state store (`provisio-engine`).
//!
//! | `sslmode` | [`Verification`] | what is checked |
//! |---|---|---|
//! | `prefer`, `require` | [`Verification::None`] | nothing about the certificate: encryption against passive eavesdroppers only (the handshake's signatures are still checked, so the session keys belong to whoever holds the certificate's key) |
//! | `verify-ca` | [`Verification::Chain`] | the certificate chains to a trusted root |
//! | `verify-full` | [`Verification::Full`] | the chain, and the host name (or IP address) the client connected to is in the certificate |
//!
//! Trusted roots: the PEM file given (libpq's `sslrootcert`), else the operating system's.
//! Reading them happens when the configuration is built, so a bad file fails at once, naming
//! the field.
//!
//! ```
//! use provisio_pgtls::{Verification, client_config};
//! let config = client_config(Verification::None, None, "sslrootcert").unwrap();
//! assert!(config.alpn_protocols.is_empty());
//! ```

pub use rustls;

use provisio::{Error, ErrorKind, Result};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// How much of the server's certificate the client checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// Nothing (`sslmode=prefer` or `require`).
    None,
    /// The chain to a trusted root, not the name (`sslmode=verify-ca`).
    Chain,
    /// The chain and the name (`sslmode=verify-full`).
    Full,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration that checks the server as `verification` says, trusting
/// the CA certificates of `ca_file` (PEM) or, without one, the operating system's.
/// `ca_field` names the setting `ca_file` came from, for errors (`ca_file`, `sslrootcert`).
pub fn client_config(
    verification: Verification,
    ca_file: Option<&Path>,
    ca_field: &str,
) -> Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::unexpected(format!("TLS setup: {e}")))?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier(verification, ca_file, ca_field)?)
        .with_no_client_auth())
}

/// The certificate verifier of `verification` (for `Full`, webpki's own).
fn verifier(
    verification: Verification,
    ca_file: Option<&Path>,
    ca_field: &str,
) -> Result<Arc<dyn ServerCertVerifier>> {
    if verification == Verification::None {
        return Ok(Arc::new(AcceptAnyCertificate(provider())));
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots(ca_file, ca_field)?),
        provider(),
    )
    .build()
    .map_err(|e| Error::unexpected(format!("TLS setup: {e}")))?;
    Ok(match verification {
        Verification::Chain => Arc::new(ChainOnly(webpki)),
        _ => webpki,
    })
}

/// The kind of a connection error that TLS caused, found anywhere in `err`'s source chain
/// (directly or inside an I/O error): a certificate the client could not verify means the
/// *server* could not be authenticated (`Unauthenticated`, not worth retrying); any other TLS
/// failure is `Transient`. `None` when TLS was not the cause.
pub fn tls_error_kind(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut source = Some(err);
    while let Some(s) = source {
        let tls = s.downcast_ref::<rustls::Error>().or_else(|| {
            s.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return Some(match tls {
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::UnsupportedNameType => ErrorKind::Unauthenticated,
                _ => ErrorKind::Transient,
            });
        }
        source = s.source();
    }
    None
}

/// The trusted roots: `ca_file`'s certificates, else the system's.
fn roots(ca_file: Option<&Path>, ca_field: &str) -> Result<rustls::RootCertStore> {
    let mut store = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| {
                    Error::invalid_field(
                        ca_field,
                        format!("cannot read PEM certificates from {}: {e}", path.display()),
                    )
                })?;
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(Error::invalid_field(
                    ca_field,
                    format!("{} holds no usable CA certificate", path.display()),
                ));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(Error::invalid_field(
                    ca_field,
                    "a verifying sslmode found no system CA certificates; name a PEM bundle",
                ));
            }
        }
    }
    Ok(store)
}

/// `prefer`/`require`: the handshake's signatures are checked, the certificate is not.
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

/// `verify-ca`: webpki's whole check, except that a certificate valid for another name passes.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    fn ca() -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, name: &str) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.signed_by(&key, ca).unwrap().der().clone()
    }

    fn trusting(
        v: Verification,
        ca: &CertifiedIssuer<'static, KeyPair>,
    ) -> Arc<dyn ServerCertVerifier> {
        let file =
            std::env::temp_dir().join(format!("provisio-pgtls-{}-{:?}.pem", std::process::id(), v));
        std::fs::write(&file, ca.pem()).unwrap();
        let made = verifier(v, Some(&file), "sslrootcert").unwrap();
        std::fs::remove_file(&file).unwrap();
        made
    }

    fn check(v: &Arc<dyn ServerCertVerifier>, cert: &CertificateDer<'static>, host: &str) -> bool {
        let name = ServerName::try_from(host.to_string()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .is_ok()
    }

    #[test]
    fn each_verification_checks_what_libpq_s_sslmode_does() {
        let (trusted, stranger) = (ca(), ca());
        let good = leaf(&trusted, "db.example.test");
        let foreign = leaf(&stranger, "db.example.test");
        let full = trusting(Verification::Full, &trusted);
        assert!(check(&full, &good, "db.example.test"));
        assert!(
            !check(&full, &good, "other.example.test"),
            "verify-full checks the name"
        );
        assert!(
            !check(&full, &foreign, "db.example.test"),
            "verify-full checks the chain"
        );
        let chain = trusting(Verification::Chain, &trusted);
        assert!(check(&chain, &good, "db.example.test"));
        assert!(
            check(&chain, &good, "other.example.test"),
            "verify-ca ignores the name"
        );
        assert!(
            !check(&chain, &foreign, "db.example.test"),
            "verify-ca checks the chain"
        );
        let none = trusting(Verification::None, &trusted);
        assert!(
            check(&none, &foreign, "other.example.test"),
            "require checks nothing"
        );
    }

    #[test]
    fn certificate_failures_are_unauthenticated_wherever_they_are_wrapped() {
        let bad = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(tls_error_kind(&bad), Some(ErrorKind::Unauthenticated));
        let wrapped = std::io::Error::new(std::io::ErrorKind::InvalidData, bad);
        assert_eq!(tls_error_kind(&wrapped), Some(ErrorKind::Unauthenticated));
        let other = rustls::Error::HandshakeNotComplete;
        assert_eq!(tls_error_kind(&other), Some(ErrorKind::Transient));
        let plain = std::io::Error::other("connection reset");
        assert_eq!(tls_error_kind(&plain), None);
    }

    #[test]
    fn a_bad_ca_file_is_refused_naming_the_field() {
        let missing = Path::new("/nonexistent/provisio-ca.pem");
        let e = client_config(Verification::Full, Some(missing), "sslrootcert").unwrap_err();
        assert!(e.to_string().contains("sslrootcert"), "{e}");
        let empty =
            std::env::temp_dir().join(format!("provisio-pgtls-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Verification::Chain, Some(&empty), "ca_file").unwrap_err();
        std::fs::remove_file(&empty).unwrap();
        assert!(e.to_string().contains("ca_file"), "{e}");
    }
}
