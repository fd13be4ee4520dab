//! A stateful fake of the Azure services provisio drives where no emulator exists: Resource
//! Manager DNS zones and record sets, Resource Manager virtual machines (with long-running
//! operations, NICs and public IPs), Key Vault secrets (versions, soft delete, recover,
//! purge), and the Entra ID token endpoints (client credentials and managed identity).
//!
//! It follows `shared/contracts/azure/NOTES.md`: status codes, both Resource Manager error
//! shapes (record-set 404s are unwrapped `{"code","message"}`, everything else is wrapped
//! `{"error":{...}}`), etags with `If-Match` / `If-None-Match`, `nextLink` paging, Key Vault's
//! asynchronous delete and recover, 429 injection with `Retry-After`, and bearer token checks
//! per audience (an ARM token does not open the vault).
//!
//! ```
//! let fake = provisio_fake_azure::FakeAzure::start().unwrap();
//! fake.add_zone("example.com");
//! assert!(fake.url().starts_with("http://127.0.0.1:"));
//! assert_eq!(fake.count("DELETE", "/deletedsecrets/"), 0);
//! ```
#![deny(missing_docs)]

mod arm;
mod keyvault;
mod server;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The subscription the fake serves.
pub const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
/// The resource group the fake serves (any other name works as well).
pub const RESOURCE_GROUP: &str = "provisio-test";
/// The Entra tenant the token endpoint accepts.
pub const TENANT: &str = "11111111-1111-1111-1111-111111111111";
/// The client id the token endpoint accepts.
pub const CLIENT_ID: &str = "22222222-2222-2222-2222-222222222222";
/// The client secret the token endpoint accepts (a test value, not a credential).
pub const CLIENT_SECRET: &str = "fake-client-secret";
/// A token every endpoint accepts, for static-token tests.
pub const STATIC_TOKEN: &str = "fake-static-token";

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// `GET`, `PUT`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The status the fake answered.
    pub status: u16,
}

/// Tunables of the fake.
#[derive(Debug, Clone)]
pub struct FakeOptions {
    /// How long a VM create or delete runs.
    pub vm_operation: Duration,
    /// How long a Key Vault delete or recover takes to become visible.
    pub keyvault_settle: Duration,
    /// Lifetime of issued tokens, in seconds.
    pub token_lifetime_secs: u64,
    /// Items per page of VM listings (small, to exercise `nextLink`).
    pub vm_page_size: usize,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            vm_operation: Duration::from_millis(150),
            keyvault_settle: Duration::from_millis(40),
            token_lifetime_secs: 3599,
            vm_page_size: 2,
        }
    }
}

pub(crate) struct Throttle {
    pub path_contains: String,
    pub remaining: u32,
    pub retry_after_secs: u64,
}

#[derive(Default)]
pub(crate) struct State {
    pub tokens: HashMap<String, &'static str>,
    pub token_requests: u32,
    pub zones: BTreeMap<String, arm::DnsZone>,
    pub vms: BTreeMap<String, arm::Vm>,
    pub ops: HashMap<String, arm::Operation>,
    pub network: BTreeMap<String, Value>,
    pub secrets: BTreeMap<String, keyvault::Secret>,
    pub log: Vec<LogEntry>,
    pub throttles: Vec<Throttle>,
    pub counter: u64,
}

impl State {
    pub fn next_id(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }
    /// A 32-hex id, like Key Vault versions and operation ids.
    pub fn hex_id(&mut self) -> String {
        let n = self.next_id();
        let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995;
        let mut out = String::new();
        for _ in 0..2 {
            x ^= x >> 29;
            x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            out.push_str(&format!("{x:016x}"));
        }
        out
    }
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub options: FakeOptions,
    pub base: String,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake on 127.0.0.1; stops when dropped.
pub struct FakeAzure {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeAzure {
    /// Starts a fake on a free port of 127.0.0.1 with default options, serving from its own
    /// thread (so it outlives the runtime of the test that started it).
    pub fn start() -> std::io::Result<FakeAzure> {
        Self::start_with(0, FakeOptions::default())
    }

    /// Starts a fake on `port` (0: any free port).
    pub fn start_with(port: u16, options: FakeOptions) -> std::io::Result<FakeAzure> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            options,
            base: format!("http://{addr}"),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("provisio-fake-azure".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("fake azure runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("fake azure listener");
                    let app = server::router(s);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(FakeAzure {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The base URL (`http://127.0.0.1:<port>`): Resource Manager, Key Vault and the token
    /// authority all live here.
    pub fn url(&self) -> &str {
        &self.shared.base
    }

    /// Creates a DNS zone (with its SOA and NS record sets) in [`SUBSCRIPTION`] /
    /// [`RESOURCE_GROUP`]; does nothing when it exists.
    pub fn add_zone(&self, zone: &str) {
        self.add_zone_in(SUBSCRIPTION, RESOURCE_GROUP, zone)
    }

    /// Creates a DNS zone in any subscription and resource group.
    pub fn add_zone_in(&self, subscription: &str, resource_group: &str, zone: &str) {
        let mut s = self.shared.lock();
        arm::ensure_zone(&mut s, subscription, resource_group, zone);
    }

    /// Every request answered so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.lock().log.clone()
    }

    /// How many requests with this method had a path starting with `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|e| e.method == method && e.path.starts_with(path_prefix))
            .count()
    }

    /// How many tokens the token endpoints issued.
    pub fn token_requests(&self) -> u32 {
        self.shared.lock().token_requests
    }

    /// Answers the next `times` requests whose path contains `path_contains` with 429 and
    /// `Retry-After: retry_after_secs`.
    pub fn throttle(&self, path_contains: &str, times: u32, retry_after_secs: u64) {
        self.shared.lock().throttles.push(Throttle {
            path_contains: path_contains.to_string(),
            remaining: times,
            retry_after_secs,
        });
    }

    /// How many versions a secret has (0 when unknown or purged).
    pub fn secret_versions(&self, name: &str) -> usize {
        self.shared
            .lock()
            .secrets
            .get(&name.to_ascii_lowercase())
            .map(|s| s.versions.len())
            .unwrap_or(0)
    }
}

impl Drop for FakeAzure {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
