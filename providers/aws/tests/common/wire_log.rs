//! A proxy in front of moto that notes every HTTP request passing it: where the tests count
//! and time the requests that leave a provider, whichever client sent them (an SDK client or
//! provisio's own).

use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One request that passed the proxy.
#[derive(Debug, Clone)]
pub struct Passed {
    /// When its head arrived.
    pub at: Instant,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query.
    pub target: String,
}

impl Passed {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// The requests that passed a proxy, in order.
pub type Log = Arc<Mutex<Vec<Passed>>>;

/// Starts a proxy forwarding to `upstream` (`http://host:port`) and returns its URL and its log.
/// Requests are read one by one on each connection (their bodies by `Content-Length`, as both
/// clients send them); answers go back untouched.
pub async fn start(upstream: &str) -> (String, Log) {
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (upstream, seen) = (upstream.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    let _ = client_write.shutdown().await;
                });
                let mut buf = Vec::new();
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 8192];
                        match client_read.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let mut line = head.lines().next().unwrap_or_default().split(' ');
                    let method = line.next().unwrap_or_default().to_string();
                    let target = line.next().unwrap_or_default().to_string();
                    let length: usize = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse().ok())
                        .unwrap_or(0);
                    seen.lock().unwrap().push(Passed {
                        at: Instant::now(),
                        method,
                        target,
                    });
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 8192];
                        match client_read.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let request: Vec<u8> = buf.drain(..head_end + length).collect();
                    if server_write.write_all(&request).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, log)
}
