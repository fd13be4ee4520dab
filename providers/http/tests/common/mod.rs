//! A small HTTP/1.1 server on 127.0.0.1 for the tests, on std threads (it outlives the tokio
//! runtime of any one test), optionally behind TLS with a certificate from a test CA. It
//! counts the connections it accepts and the requests it reads, per path.

#![allow(dead_code)]

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answers `status` with `body`.
    Status(u16, String),
    /// Reads the request and never answers (the connection is held for a while).
    Hang,
}

/// Decides the reply to the `n`-th request (from 1) of `path`.
pub type Handler = dyn Fn(&str, u64) -> Reply + Send + Sync;

/// A running server.
pub struct Server {
    pub port: u16,
    pub tls: bool,
    connections: Arc<AtomicU64>,
    requests: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl Server {
    /// The URL of `path` (starting with `/`).
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}{path}", self.port)
    }

    /// Requests read so far for `path`.
    pub fn requests(&self, path: &str) -> u64 {
        self.requests
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Connections accepted so far (a TLS handshake the client refused is one, with no
    /// request).
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Starts a server answering with `handler`, behind TLS with `tls` when given.
pub fn start(
    tls: Option<Arc<rustls::ServerConfig>>,
    handler: impl Fn(&str, u64) -> Reply + Send + Sync + 'static,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicU64::new(0));
    let requests: Arc<Mutex<BTreeMap<String, u64>>> = Default::default();
    let handler: Arc<Handler> = Arc::new(handler);
    let server = Server {
        port,
        tls: tls.is_some(),
        connections: connections.clone(),
        requests: requests.clone(),
    };
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            connections.fetch_add(1, Ordering::SeqCst);
            let (tls, handler, requests) = (tls.clone(), handler.clone(), requests.clone());
            std::thread::spawn(move || {
                let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
                match tls {
                    None => serve(tcp, &*handler, &requests),
                    Some(config) => {
                        let Ok(conn) = rustls::ServerConnection::new(config) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(conn, tcp), &*handler, &requests)
                    }
                }
            });
        }
    });
    server
}

/// Serves one request on one connection (the client opens a new connection per probe).
fn serve(
    mut stream: impl Read + Write,
    handler: &Handler,
    requests: &Mutex<BTreeMap<String, u64>>,
) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return, // closed, or a TLS handshake the client refused
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("/").to_string();
    let n = {
        let mut r = requests.lock().unwrap();
        let n = r.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    };
    match handler(&path, n) {
        Reply::Hang => std::thread::sleep(Duration::from_secs(8)),
        Reply::Status(status, body) => {
            let mut out = format!(
                "HTTP/1.1 {status} Test\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            if method != "HEAD" {
                out.extend_from_slice(body.as_bytes());
            }
            let _ = stream.write_all(&out);
            let _ = stream.flush();
        }
    }
}

/// A port nothing listens on (bound, then closed).
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    // make sure it is closed
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    port
}

/// A test CA, its PEM file (in cargo's temporary directory for tests) and a server config
/// for 127.0.0.1 signed by it.
pub struct TestCa {
    pub pem_file: PathBuf,
    pub server_config: Arc<rustls::ServerConfig>,
}

/// Makes a CA and a certificate for 127.0.0.1 and `localhost`.
pub fn test_ca(name: &str) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let cert: CertificateDer<'static> = cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let pem_file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "provisio-http-{name}-{}-ca.pem",
        std::process::id()
    ));
    std::fs::write(&pem_file, issuer.pem()).unwrap();
    TestCa {
        pem_file,
        server_config: Arc::new(config),
    }
}

/// The replies of the shared servers of the conformance suite: `/health` 200 `ok`, `/down`
/// 503, `/hang` never, `/large` 100 KB.
pub fn routes(path: &str, _n: u64) -> Reply {
    match path {
        "/health" => Reply::Status(200, "ok: all systems go".into()),
        "/down" => Reply::Status(503, "down for maintenance".into()),
        "/hang" => Reply::Hang,
        "/large" => Reply::Status(200, "x".repeat(100_000)),
        _ => Reply::Status(404, "no such page".into()),
    }
}

/// The plain server of the conformance suite, started once per test binary.
pub fn shared_plain() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| start(None, routes))
}

/// The TLS server (certificate from a test CA) of the conformance suite and the CA's PEM file.
pub fn shared_tls() -> &'static (Server, PathBuf) {
    static S: OnceLock<(Server, PathBuf)> = OnceLock::new();
    S.get_or_init(|| {
        let ca = test_ca("shared");
        (start(Some(ca.server_config), routes), ca.pem_file)
    })
}
