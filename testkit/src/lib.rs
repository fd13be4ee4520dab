//! provisio's conformance suite: one library of test cases per capability trait, written once
//! over `&dyn Trait` and run against every provider: the in-memory providers today, Cloudflare,
//! Route 53 (moto), the Azure fakes, the Jenkins fake, PostgreSQL and git later.
//!
//! | module | trait | context | macro |
//! |---|---|---|---|
//! | [`dns`] | [`DnsProvider`](provisio::DnsProvider) | [`DnsContext`](dns::DnsContext) | [`dns_conformance!`] |
//! | [`storage`] | [`ObjectStorage`](provisio::ObjectStorage) | [`StorageContext`](storage::StorageContext) | [`storage_conformance!`] |
//! | [`compute`] | [`Compute`](provisio::Compute) | [`ComputeContext`](compute::ComputeContext) | [`compute_conformance!`] |
//! | [`ci`] | [`CiServer`](provisio::CiServer) | [`CiContext`](ci::CiContext) | [`ci_conformance!`] |
//! | [`secrets`] | [`SecretStore`](provisio::SecretStore) | [`SecretsContext`](secrets::SecretsContext) | [`secrets_conformance!`] |
//! | [`database`] | [`Database`](provisio::Database) | [`DatabaseContext`](database::DatabaseContext) | [`database_conformance!`] |
//! | [`repo`] | [`Repository`](provisio::Repository) | [`RepoContext`](repo::RepoContext) | [`repo_conformance!`] |
//! | [`mail`] | [`Mail`](provisio::Mail) | [`MailContext`](mail::MailContext) | [`mail_conformance!`] |
//! | [`probe`] | [`Probe`](provisio::Probe) | [`ProbeContext`](probe::ProbeContext) | [`probe_conformance!`] |
//! | [`host`] | [`Host`](provisio::Host) | [`HostContext`](host::HostContext) | [`host_conformance!`] |
//!
//! # The pieces of each module
//!
//! * a **context** struct: what the suite needs from the environment it cannot create itself
//!   (an existing DNS zone, a CI folder to work in, an image and size to launch, ...);
//! * one `pub async fn <case>(provider: &dyn Trait, ctx: &Context) -> provisio::Result<()>` per
//!   **case**. A case returns the provider's error when a call fails unexpectedly and panics with
//!   an assertion message when the provider answers wrongly. Every case creates its resources
//!   under fresh names from [`unique`] and removes them again, on success and (best effort) on
//!   failure or panic, so cases run in parallel and against shared real servers;
//! * `pub const CASES: &[Case<dyn Trait, Context>]`: every case by name, for custom runners;
//! * an exported macro (`dns_conformance!`, ...) that expands to one `#[test]` per case.
//!
//! What a provider does not support, according to the `capabilities()` it reports, is checked
//! the other way round: the operation must fail with
//! [`provisio::ErrorKind::Unsupported`] ("capability honesty").
//!
//! # Wiring a provider crate
//!
//! The macros take the provider and the context as expressions. Both are evaluated inside the
//! async body of every generated test, so they may `.await` and use `?` on a
//! `provisio::Result`. The provider expression must give an `Arc`, a `Box` (or another smart
//! pointer) of the provider; each test evaluates it anew, so each test gets a fresh in-memory
//! provider. Put each invocation in its own module: the case names (`not_found`,
//! `invalid_names`, ...) repeat across traits.
//!
//! ```ignore
//! // testkit/tests/memory.rs (abridged)
//! mod dns {
//!     provisio_testkit::dns_conformance! {
//!         provider: {
//!             let cloud = provisio_memory::MemoryCloud::new(7);
//!             cloud.dns.add_zone("example.test");
//!             cloud.dns // Arc<MemoryDns>
//!         },
//!         context: provisio_testkit::dns::DnsContext::new("example.test"),
//!     }
//! }
//! mod storage {
//!     provisio_testkit::storage_conformance! {
//!         provider: provisio_memory::MemoryCloud::new(7).storage,
//!         context: provisio_testkit::storage::StorageContext::new("provisio-test-"),
//!     }
//! }
//! ```
//!
//! `cargo test dns::` then runs `dns::happy_path`, `dns::pagination`, ... one test each.
//!
//! A real provider's tests name the environment variable that points them at a server with
//! `env: <binding> = "<PROVIDER>"`: when `PROVISIO_TEST_<PROVIDER>` is unset or empty, every
//! generated test prints `skipped` and passes; when it is set, its value (the endpoint) is bound
//! to `<binding>` for both expressions.
//!
//! ```ignore
//! // providers/cloudflare/tests/conformance.rs
//! // PROVISIO_TEST_CLOUDFLARE=http://127.0.0.1:4010 cargo test -p provisio-cloudflare
//! mod dns {
//!     provisio_testkit::dns_conformance! {
//!         env: endpoint = "CLOUDFLARE",
//!         provider: std::sync::Arc::new(
//!             provisio_cloudflare::CloudflareDns::new(
//!                 provisio_cloudflare::Config::for_endpoint(&endpoint, "test-token"),
//!             )?,
//!         ),
//!         context: provisio_testkit::dns::DnsContext::new("provisio-test.example"),
//!     }
//! }
//! ```
//!
//! The macro expands to, for each case (here `dns::happy_path`):
//!
//! ```ignore
//! #[test]
//! fn happy_path() {
//!     let Some(endpoint) = provisio_testkit::endpoint_from_env("CLOUDFLARE") else {
//!         provisio_testkit::skip("dns::happy_path", "CLOUDFLARE");
//!         return;
//!     };
//!     provisio_testkit::run_case("dns::happy_path", async move {
//!         let provider = /* provider expression */;
//!         let context = /* context expression */;
//!         provisio_testkit::dns::happy_path(&*provider, &context).await
//!     });
//! }
//! ```
//!
//! Each test is a plain `#[test]` that runs its case on a fresh multi-threaded tokio runtime
//! owned by this crate ([`run_case`]), the same as `#[tokio::test(flavor = "multi_thread")]`,
//! so a provider crate needs no tokio dev-dependency of its own to use the macros.
//!
//! To run a subset, or the same cases against several accounts, iterate a module's `CASES`:
//!
//! ```
//! # use provisio_testkit::dns;
//! let names: Vec<&str> = dns::CASES.iter().map(|c| c.name).collect();
//! assert!(names.contains(&"happy_path"));
//! ```
//!
//! # Shared real servers
//!
//! * Names come from [`unique`]: a per-process run id plus a counter, valid in every name rule
//!   provisio knows (DNS labels, S3 and Azure container names, Jenkins items, git branches,
//!   PostgreSQL identifiers, Key Vault and Secrets Manager names, RDS identifiers).
//! * Pagination cases only count the items they created; they list with a small page limit.
//!   A provider whose continuation tokens are offsets may skip or repeat items when another
//!   test adds records to the same zone at the same time: run those suites with
//!   `--test-threads=1` or give each run its own zone.
//! * Secrets are purged (with a `Confirm` naming them) at the end of every secrets case so the
//!   names do not stay blocked in soft-deleted state.
#![deny(missing_docs)]

pub mod ci;
pub mod compute;
pub mod database;
pub mod dns;
pub mod host;
pub mod mail;
pub mod probe;
pub mod repo;
pub mod secrets;
pub mod storage;

use futures::FutureExt;
use provisio::{Error, ErrorKind, Page, PageRequest, Result};
use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The future a [`Case`] returns.
pub type CaseFuture<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// One conformance case of a trait `P` with context `C`, by name.
///
/// The table's trait objects are `'static` (`dyn DnsProvider + 'static`), which an `Arc` or a
/// reference to a concrete provider gives:
///
/// ```
/// # async fn demo(dns: std::sync::Arc<dyn provisio::DnsProvider>) -> provisio::Result<()> {
/// let ctx = provisio_testkit::dns::DnsContext::new("example.test");
/// for case in provisio_testkit::dns::CASES {
///     eprintln!("running dns::{}", case.name);
///     (case.run)(&*dns, &ctx).await?;
/// }
/// # Ok(()) }
/// ```
pub struct Case<P: ?Sized, C> {
    /// The case's name, the same as its function's.
    pub name: &'static str,
    /// Runs the case.
    pub run: for<'a> fn(&'a P, &'a C) -> CaseFuture<'a>,
}

impl<P: ?Sized, C> Debug for Case<P, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

/// The environment variable that points a provider's conformance tests at a server:
/// `PROVISIO_TEST_<PROVIDER>`, upper-cased, with every character other than letters and digits
/// turned into `_`.
///
/// ```
/// assert_eq!(provisio_testkit::env_var_name("cloudflare"), "PROVISIO_TEST_CLOUDFLARE");
/// assert_eq!(provisio_testkit::env_var_name("azure-keyvault"), "PROVISIO_TEST_AZURE_KEYVAULT");
/// ```
pub fn env_var_name(provider: &str) -> String {
    let suffix: String = provider
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("PROVISIO_TEST_{suffix}")
}

/// The endpoint a provider's conformance tests should use, from `PROVISIO_TEST_<PROVIDER>`
/// (see [`env_var_name`]); `None` when the variable is unset or blank, which means "skip the
/// real-provider tests".
///
/// ```
/// // e.g. PROVISIO_TEST_CLOUDFLARE=http://127.0.0.1:4010
/// if let Some(endpoint) = provisio_testkit::endpoint_from_env("cloudflare") {
///     assert!(!endpoint.is_empty());
/// }
/// ```
pub fn endpoint_from_env(provider: &str) -> Option<String> {
    std::env::var(env_var_name(provider))
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Reports a case skipped because its provider's environment variable is unset. Used by the
/// conformance macros.
pub fn skip(case: &str, provider: &str) {
    eprintln!(
        "skipped {case}: {} is not set (see provisio_testkit::endpoint_from_env)",
        env_var_name(provider)
    );
}

/// Runs one case to completion on a fresh multi-threaded tokio runtime and panics with the
/// case's name and the error when it fails. Used by the conformance macros.
pub fn run_case<F>(name: &str, case: F)
where
    F: Future<Output = Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("conformance: cannot build a tokio runtime");
    if let Err(err) = runtime.block_on(case) {
        panic!("conformance case {name} failed: {err}\n{err:?}");
    }
}

/// A fresh name for one resource of one run: `pt-<kind>-<run><n>`, where `<run>` is eight
/// base-36 characters derived from the start time and process id (the same for the whole
/// process) and `<n>` a counter.
///
/// `kind` should be a few lower-case letters (`rec`, `bkt`, `db`); the result is then lower-case
/// letters, digits and single hyphens, starts with a letter, ends with a digit and is at most 32
/// characters long, which every name rule of provisio accepts (DNS labels, buckets and Azure
/// containers, Jenkins items, git branches, PostgreSQL identifiers, Key Vault and Secrets
/// Manager names, tenant names).
///
/// ```
/// let a = provisio_testkit::unique("rec");
/// let b = provisio_testkit::unique("rec");
/// assert_ne!(a, b);
/// assert!(a.starts_with("pt-rec-"));
/// provisio::validate::tenant_name("n", &a).unwrap();
/// provisio::validate::aws_secret_name("n", &a).unwrap();
/// provisio::validate::s3_bucket_name("n", &a).unwrap();
/// provisio::validate::azure_container_name("n", &a).unwrap();
/// ```
pub fn unique(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let kind: String = kind
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(8)
        .collect();
    let kind = if kind.is_empty() {
        "x".to_string()
    } else {
        kind
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("pt-{kind}-{}{n}", run_id())
}

/// The run id of this process: eight base-36 characters from the start time and process id.
pub fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Mix micro-seconds and the pid so two processes started together still differ.
        let mut x = (now.as_micros() as u64) ^ (u64::from(std::process::id()) << 40);
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
        (0..8)
            .map(|_| {
                let d = DIGITS[(x % 36) as usize] as char;
                x /= 36;
                d
            })
            .collect()
    })
}

/// Asserts that `result` failed with `kind` and returns the error.
///
/// ```should_panic
/// provisio_testkit::expect_kind(Ok::<_, provisio::Error>(1), provisio::ErrorKind::NotFound, "reading x");
/// ```
#[track_caller]
pub fn expect_kind<T: Debug>(result: Result<T>, kind: ErrorKind, what: &str) -> Error {
    match result {
        Ok(value) => panic!("{what}: expected a {kind} error, got Ok({value:?})"),
        Err(err) => {
            assert_eq!(
                err.kind(),
                &kind,
                "{what}: expected a {kind} error, got {err}"
            );
            err
        }
    }
}

/// Asserts that `result` failed with one of `kinds` and returns the error.
#[track_caller]
pub fn expect_one_of<T: Debug>(result: Result<T>, kinds: &[ErrorKind], what: &str) -> Error {
    let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
    match result {
        Ok(value) => panic!("{what}: expected one of {names:?}, got Ok({value:?})"),
        Err(err) => {
            assert!(
                kinds.contains(err.kind()),
                "{what}: expected one of {names:?}, got {err}"
            );
            err
        }
    }
}

/// Asserts that `result` is an `InvalidInput` error whose message names `field` (compared
/// case-insensitively), and returns the error.
#[track_caller]
pub fn expect_invalid<T: Debug>(result: Result<T>, field: &str, what: &str) -> Error {
    let err = expect_kind(result, ErrorKind::InvalidInput, what);
    assert!(
        err.message()
            .to_ascii_lowercase()
            .contains(&field.to_ascii_lowercase()),
        "{what}: the InvalidInput message should name the field {field:?}, got {:?}",
        err.message()
    );
    err
}

/// Asserts that `result` is an `Unsupported` error (capability honesty).
#[track_caller]
pub fn expect_unsupported<T: Debug>(result: Result<T>, what: &str) -> Error {
    expect_kind(
        result,
        ErrorKind::Unsupported,
        &format!("{what} (the provider's capabilities say it is unsupported)"),
    )
}

/// Walks every page of a listing with `limit` items per page and returns all items, asserting
/// that no page is larger than the limit and that the walk ends.
pub async fn walk_pages<T, F, Fut>(limit: u32, mut list: F) -> Result<(Vec<T>, usize)>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>>>,
{
    let mut req = PageRequest::with_limit(limit);
    let mut items = Vec::new();
    let mut pages = 0usize;
    loop {
        let page = list(req.clone()).await?;
        pages += 1;
        assert!(
            page.items.len() <= limit as usize,
            "a page asked with limit {limit} has {} items",
            page.items.len()
        );
        assert!(
            pages <= 10_000,
            "pagination did not end after 10000 pages (the continuation token never ends)"
        );
        let empty = page.items.is_empty();
        let next = req.next(&page);
        items.extend(page.items);
        match next {
            Some(n) => {
                assert!(
                    !(empty && n.token == req.token),
                    "an empty page returned the same continuation token {:?}: endless listing",
                    n.token
                );
                req = n;
            }
            None => return Ok((items, pages)),
        }
    }
}

/// Runs `body`, then `cleanup`, whatever happened in `body` (an error or a panic). On success
/// a failing cleanup fails the case; after a failure the cleanup is best effort and its error
/// is only printed.
pub(crate) async fn guarded<B, C>(body: B, cleanup: C) -> Result<()>
where
    B: Future<Output = Result<()>>,
    C: Future<Output = Result<()>>,
{
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let cleaned = cleanup.await;
    match outcome {
        Ok(Ok(())) => cleaned,
        Ok(Err(err)) => {
            if let Err(c) = cleaned {
                eprintln!("conformance: cleanup after a failed case also failed: {c}");
            }
            Err(err)
        }
        Err(panic) => {
            if let Err(c) = cleaned {
                eprintln!("conformance: cleanup after a failed case also failed: {c}");
            }
            std::panic::resume_unwind(panic)
        }
    }
}

/// Runs every cleanup step, keeps going after failures, and returns the first error.
pub(crate) fn first_error(results: impl IntoIterator<Item = Result<()>>) -> Result<()> {
    let mut first = None;
    for r in results {
        if let Err(e) = r
            && first.is_none()
        {
            first = Some(e);
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance {
    (@table $module:ident [$($case:ident),* $(,)?]) => {
        &[$(
            $crate::Case {
                name: ::core::stringify!($case),
                run: |p, c| ::std::boxed::Box::pin($crate::$module::$case(p, c)),
            }
        ),*]
    };
    (@tests $setup:tt $module:ident [$($case:ident),* $(,)?]) => {
        $( $crate::__conformance!(@one $module $case $setup); )*
    };
    (@one $module:ident $case:ident {
        $(env: $endpoint:ident = $provider_name:literal,)?
        provider: $provider:expr,
        context: $context:expr $(,)?
    }) => {
        #[test]
        fn $case() {
            const NAME: &str = ::core::concat!(
                ::core::stringify!($module), "::", ::core::stringify!($case)
            );
            $(
                let ::core::option::Option::Some($endpoint) =
                    $crate::endpoint_from_env($provider_name)
                else {
                    $crate::skip(NAME, $provider_name);
                    return;
                };
            )?
            $crate::run_case(NAME, async move {
                let provider = $provider;
                let context = $context;
                $crate::$module::$case(&*provider, &context).await
            });
        }
    };
    (@one $module:ident $case:ident { $($other:tt)* }) => {
        ::core::compile_error!(::core::concat!(
            "expected `", ::core::stringify!($module), "_conformance! { [env: <binding> = \"<PROVIDER>\",] ",
            "provider: <expr>, context: <expr> }`"
        ));
    };
}

/// Names or ids a case created, recorded as it goes so the cleanup can remove them even when
/// the case panics half-way.
#[derive(Debug, Default)]
pub(crate) struct Tracker(std::sync::Mutex<Vec<String>>);

impl Tracker {
    pub(crate) fn add(&self, item: impl Into<String>) {
        let item = item.into();
        let mut items = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !items.contains(&item) {
            items.push(item);
        }
    }
    pub(crate) fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
