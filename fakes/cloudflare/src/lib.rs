//! A stateful fake of Cloudflare's API v4, zones and DNS records, for provisio's tests.
//!
//! It follows `shared/contracts/cloudflare/NOTES.md` and answers what the official OpenAPI
//! subset (`dns.openapi.yaml`) describes, so that Prism (`prism proxy --errors`) in front of it
//! finds no violation:
//!
//! * **Envelope**: every answer is `{"success", "errors": [{"code", "message"}], "messages",
//!   "result", "result_info"?}`; failures have `success: false` and `result: null`.
//! * **Auth**: `Authorization: Bearer <token>`. A missing or malformed header is HTTP 400 with
//!   error 6003 (and an `error_chain` with 6111); another token is HTTP 403 with 9109.
//! * **Zones**: `GET /zones?name=&status=&account.id=&page=&per_page=` (per page 5..=50,
//!   default 20) and `GET /zones/{id}`. Zones exist before a test starts ([`FakeCloudflare::add_zone`],
//!   `--zone` on the command line), as in a real account.
//! * **DNS records**: list (`type`, `name`, `content`, `proxied` filters, `match=all|any`,
//!   `order`, `direction`, `page`, `per_page` default 100, at most 5000), create, get,
//!   overwrite (`PUT`), patch and delete, with the checks the real API applies: content per
//!   type (9005), TTL 1 (automatic) or `min_ttl..=86400` (1004), proxying only for
//!   A/AAAA/CNAME (1004), proxied records get the automatic TTL, MX needs a priority (1004),
//!   TXT content at most 2048 characters, comments at most 100 characters, CNAME exclusivity
//!   (81053 for a CNAME at a taken name, 81054 for a record at a CNAME's name), NS exclusivity
//!   (81056, a code this fake chose: NOTES names none), identical records (81058 for
//!   A/AAAA/CNAME, 81057 otherwise). Several A records with different content at one name are
//!   legal. A missing record is HTTP 404 with 81044; a malformed id is HTTP 400 with 7003; an
//!   unknown zone is HTTP 404 with 7003.
//! * **Rate limits**: an optional quota of `requests` per fixed `window` (counted from the
//!   fake's start); a request over it gets HTTP 429 with `retry-after` (seconds to the end of
//!   the window). Every answer carries `Ratelimit` and `Ratelimit-Policy` headers when a quota
//!   is set.
//! * **Faults** ([`Fault`]): injected errors (any status and code, e.g. 429 with
//!   `retry-after`, 5xx), delays, and deliberately malformed answers (to check that Prism really
//!   rejects what breaks the schema).
//! * **Request log** ([`FakeCloudflare::requests`]): every API request with its time since the
//!   fake started and the status it got.
//!
//! The API is served at the root (`/zones`, what Prism forwards) and under `/client/v4` (the
//! real API's base path). Test helpers live under `/__fake/` (not part of the API, never
//! counted against the quota): `POST /__fake/zones {"name"}`, `POST /__fake/faults` (a
//! [`Fault`] as JSON), `POST /__fake/quota {"requests", "window_secs"}` (or `null`),
//! `GET /__fake/requests`.
//!
//! ```
//! use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions, Fault};
//! let fake = FakeCloudflare::start(FakeOptions::default().token("t0k")).unwrap();
//! let zone_id = fake.add_zone("example.com");
//! assert_eq!(zone_id.len(), 32);
//! fake.inject(Fault::rate_limited(2).times(1));
//! assert!(fake.url().ends_with("/client/v4"));
//! ```
#![deny(missing_docs)]

mod records;
mod server;
mod time;

pub use records::FakeRecord;
use server::serve;

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a fake starts.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The API token every request must carry as `Authorization: Bearer <token>`.
    pub token: String,
    /// Zones that exist from the start.
    pub zones: Vec<String>,
    /// The request quota, if any.
    pub quota: Option<Quota>,
    /// The smallest TTL other than 1 (60; 30 for Enterprise zones).
    pub min_ttl: u32,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            port: 0,
            token: "test-token".to_string(),
            zones: Vec::new(),
            quota: None,
            min_ttl: 60,
        }
    }
}

impl FakeOptions {
    /// The same with another token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = token.into();
        self
    }
    /// The same with one more zone.
    pub fn zone(mut self, name: impl Into<String>) -> Self {
        self.zones.push(name.into());
        self
    }
    /// The same with a quota of `requests` per `window`.
    pub fn quota(mut self, requests: u32, window: Duration) -> Self {
        self.quota = Some(Quota { requests, window });
        self
    }
    /// The same on a fixed port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A request quota: at most `requests` per fixed `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests allowed per window.
    pub requests: u32,
    /// The window length.
    pub window: Duration,
}

/// A fault to inject into the next matching requests.
///
/// ```
/// use provisio_fake_cloudflare::Fault;
/// let f = Fault::error(503, 10000, "service unavailable").on("GET", "/dns_records").times(2);
/// assert_eq!(f.status, 503);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Only requests with this method (upper case); `None`: any.
    #[serde(default)]
    pub method: Option<String>,
    /// Only requests whose path and query contain this text; `None`: any.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// The HTTP status to answer with (0: answer normally, after `delay_ms`).
    #[serde(default)]
    pub status: u16,
    /// The Cloudflare error code in the envelope.
    #[serde(default)]
    pub code: u32,
    /// The error message.
    #[serde(default)]
    pub message: String,
    /// The `retry-after` header value in seconds.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// How long to wait before answering, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
    /// Answer normally but break the envelope (drop `errors` and `messages`): a schema
    /// violation for the contract check.
    #[serde(default)]
    pub malformed: bool,
    /// How many matching requests it applies to.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    fn base() -> Fault {
        Fault {
            method: None,
            path_contains: None,
            status: 0,
            code: 0,
            message: String::new(),
            retry_after: None,
            delay_ms: 0,
            malformed: false,
            times: 1,
        }
    }
    /// HTTP 429 with `retry-after: <secs>` and error 10000 ("Rate limited").
    pub fn rate_limited(retry_after_secs: u64) -> Fault {
        Fault {
            status: 429,
            code: 10000,
            message: "Rate limited. Please wait and consider throttling your request speed"
                .to_string(),
            retry_after: Some(retry_after_secs),
            ..Fault::base()
        }
    }
    /// Any error: HTTP `status` with one error `code` and `message`.
    pub fn error(status: u16, code: u32, message: impl Into<String>) -> Fault {
        Fault {
            status,
            code,
            message: message.into(),
            ..Fault::base()
        }
    }
    /// A normal answer after `delay`.
    pub fn delay(delay: Duration) -> Fault {
        Fault {
            delay_ms: delay.as_millis() as u64,
            ..Fault::base()
        }
    }
    /// A normal answer whose envelope breaks the schema.
    pub fn malformed() -> Fault {
        Fault {
            malformed: true,
            ..Fault::base()
        }
    }
    /// Only for requests with `method` whose path and query contain `path_contains`.
    pub fn on(mut self, method: &str, path_contains: &str) -> Fault {
        self.method = Some(method.to_ascii_uppercase());
        self.path_contains = Some(path_contains.to_string());
        self
    }
    /// For the next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }
}

/// One API request the fake received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedRequest {
    /// When it arrived, since the fake started.
    #[serde(with = "millis")]
    pub at: Duration,
    /// The method.
    pub method: String,
    /// The path and query, without the `/client/v4` prefix.
    pub path: String,
    /// The HTTP status it got.
    pub status: u16,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(
            f64::deserialize(d)?.max(0.0) / 1000.0,
        ))
    }
}

/// The largest number of requests in any span of `window` (sliding, starting at a request),
/// counting only requests that were not answered 429.
///
/// ```
/// use provisio_fake_cloudflare::{LoggedRequest, max_in_window};
/// use std::time::Duration;
/// let at = |ms| LoggedRequest { at: Duration::from_millis(ms), method: "GET".into(), path: "/zones".into(), status: 200 };
/// let log = [at(0), at(500), at(999), at(1000)];
/// assert_eq!(max_in_window(&log, Duration::from_secs(1)), 3);
/// ```
pub fn max_in_window(log: &[LoggedRequest], window: Duration) -> usize {
    let mut times: Vec<Duration> = log
        .iter()
        .filter(|r| r.status != 429)
        .map(|r| r.at)
        .collect();
    times.sort();
    let mut best = 0;
    let mut j = 0;
    for i in 0..times.len() {
        while j < times.len() && times[j] < times[i] + window {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

/// A running fake on 127.0.0.1, served by its own thread (so it works from plain `#[test]`s
/// and from any tokio runtime). Dropping it stops the server.
#[derive(Debug)]
pub struct FakeCloudflare {
    state: Arc<server::Shared>,
    port: u16,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl FakeCloudflare {
    /// Starts a fake (in-process, on its own thread) and returns once it listens.
    pub fn start(options: FakeOptions) -> std::io::Result<FakeCloudflare> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(server::Shared::new(&options));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name(format!("fake-cloudflare-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("fake cloudflare: {e}");
                            return;
                        }
                    };
                    let shutdown = async {
                        let _ = rx.await;
                    };
                    if let Err(e) = serve(listener, served, shutdown).await {
                        eprintln!("fake cloudflare: {e}");
                    }
                })
            })?;
        Ok(FakeCloudflare {
            state,
            port,
            stop: Mutex::new(Some(tx)),
        })
    }

    /// The API base URL, `http://127.0.0.1:<port>/client/v4`, like the real API's.
    pub fn url(&self) -> String {
        format!("{}/client/v4", self.root_url())
    }

    /// The server's root, `http://127.0.0.1:<port>` (the API is served here too; Prism
    /// forwards to it).
    pub fn root_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The token requests must carry.
    pub fn token(&self) -> String {
        self.state.token.clone()
    }

    /// Creates a zone (or returns the id of the existing zone of that name): a 32-hex id derived
    /// from the name.
    pub fn add_zone(&self, name: &str) -> String {
        self.state.add_zone(name)
    }

    /// Sets (or with `None` removes) the request quota; the window count restarts now.
    pub fn set_quota(&self, quota: Option<Quota>) {
        self.state.set_quota(quota);
    }

    /// Queues a fault for the next matching requests.
    pub fn inject(&self, fault: Fault) {
        self.state.inject(fault);
    }

    /// Every API request received so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.requests()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// The records of a zone (by name), in creation order.
    pub fn records(&self, zone: &str) -> Vec<FakeRecord> {
        self.state.records(zone)
    }

    /// Puts a record into a zone without the API's checks (types provisio does not manage: NS,
    /// SRV, CAA, ...) and returns its id. `name` is fully qualified.
    ///
    /// # Panics
    /// When the zone does not exist: this is a test setup helper.
    pub fn insert_record(
        &self,
        zone: &str,
        record_type: &str,
        name: &str,
        content: &str,
        data: Option<serde_json::Value>,
    ) -> String {
        self.state
            .insert_raw(zone, record_type, name, content, data)
            .expect("insert_record: unknown zone")
    }
}

impl Drop for FakeCloudflare {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(());
        }
    }
}
