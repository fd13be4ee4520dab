//! Layers: cross-cutting behaviour around any capability trait object.
//!
//! A [`Layer`] sees every call of a provider — its [`Call`] (operation, resource, provider, how
//! safe it is to repeat) — and decides how to run it: [`Retry`] retries transient failures with
//! backoff and jitter, [`Deadline`] bounds a call's time, [`Trace`] wraps it in a `tracing` span,
//! [`Pace`] holds it to a request quota of its own, and [`Faults`] injects failures (before or
//! after the call's effect) and latency, around any provider, a real one included.
//!
//! [`Layered`] puts one layer around one trait object and implements the same trait again, so
//! layers nest: `layered(layered(aws_dns, faults), retry)` retries what the fault layer fails.
//! [`Stack`] names a list of layers and wraps each capability with all of them, innermost first.
//! The engine, the CLI and every binding build their providers through the same stack
//! (`provisio-config` applies [`Stack::standard`]), so a Python script calling
//! `dns.ensure_record` directly is retried as a step of a run is.
//!
//! Inside a step of a run the engine owns retries (a step is retried as a whole, with its
//! events); [`Retry`] sees that through [`retry::caller_retries`] and lets the call through once,
//! so attempts never multiply.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! use provisio::layer::{Faults, FaultRule, Retry, RetryPolicy, Stack};
//! use provisio::{DnsProvider, ErrorKind, Provider, ProviderInfo};
//! # use provisio::dns::*; use provisio::*; use std::sync::Arc;
//! # struct Dns; impl Provider for Dns { fn info(&self) -> ProviderInfo { ProviderInfo::new("example", "acct") } }
//! # #[async_trait] impl DnsProvider for Dns {
//! #   fn capabilities(&self) -> DnsCapabilities { DnsCapabilities { proxied: false, min_ttl: 60, automatic_ttl: false, waits_for_sync: false } }
//! #   async fn find_zone(&self, name: &str) -> Result<Option<Zone>> { Ok(Some(Zone { id: "z1".into(), name: name.into() })) }
//! #   async fn list_records(&self, _: &Zone, _: &PageRequest) -> Result<Page<Record>> { Err(Error::unsupported("dns.list_records")) }
//! #   async fn get_record(&self, _: &Zone, _: &str, _: &RecordType) -> Result<Option<Record>> { Ok(None) }
//! #   async fn ensure_record(&self, _: &Zone, _: &RecordSpec) -> Result<Ensured<Record>> { Err(Error::unsupported("dns.ensure_record")) }
//! #   async fn delete_record(&self, _: &Zone, _: &str, _: &RecordType) -> Result<Deleted> { Ok(Deleted::AlreadyGone) }
//! # }
//! let faults = Faults::new(7);
//! faults.add(FaultRule::on_call("dns.find_zone", 1, ErrorKind::Transient));
//! let stack = Stack::new()
//!     .with(faults.clone())                      // innermost: fails the first call
//!     .with(Retry::new(RetryPolicy { initial_backoff_ms: 1, ..RetryPolicy::default() }));
//! let dns: Arc<dyn DnsProvider> = stack.dns(Arc::new(Dns));
//! assert!(dns.find_zone("example.com").await.unwrap().is_some());
//! assert_eq!(faults.calls("dns.find_zone"), 2);
//! # });
//! ```

use crate::{Error, ProviderInfo, Result};
use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

mod deadline;
mod faults;
pub(crate) mod pace;
pub mod retry;
mod trace;
mod wrap;

pub use deadline::Deadline;
pub use faults::{FaultRule, FaultTrigger, Faults};
pub use pace::Pace;
pub use retry::{Retry, RetryPolicy};
pub use trace::Trace;

/// A boxed future, as layers pass them around.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The value of a call, its type erased so that one layer serves every operation.
pub type Value = Box<dyn Any + Send>;

/// Whether a call may be sent again after it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Sending it twice has the effect of sending it once (every `ensure_*`, every read, every
    /// delete, puts of the same content): any retryable failure may be retried.
    Idempotent,
    /// A second send could do the work twice (queueing a build) or answer differently
    /// (`create_secret` says "already there" the second time), or the call waits for
    /// something on its own clock (`wait_for_state`): retried only when the service refused it
    /// outright (`RateLimited`), which guarantees it had no effect.
    OnlyIfRefused,
    /// The call consumes its input as it runs (a [`crate::stream::ByteStream`] body, read
    /// once): a layer never sends it again, whatever the failure. The caller retries by
    /// calling again with a new stream (the engine retries the whole step, which dumps or
    /// opens the source again).
    Never,
}

/// What a layer knows about one call.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The operation, `capability.method` (`dns.ensure_record`).
    pub operation: &'static str,
    /// The resource it acts on (a name, a key, an id), when there is one.
    pub resource: Option<&'a str>,
    /// The provider that serves it.
    pub provider: &'a ProviderInfo,
    /// Whether it may be sent again.
    pub safety: Safety,
    /// For a call that waits on its own clock (`wait_for_state`), how long it may wait.
    pub waits: Option<std::time::Duration>,
}

/// The rest of the chain: the next layer, or the provider itself. A layer may call it any
/// number of times (a retry), or not at all (an injected failure).
pub trait Next: Send + Sync {
    /// Runs the call once.
    fn run(&self) -> BoxFuture<'_, Result<Value>>;
}

struct NextFn<'a, F> {
    f: F,
    _borrows: PhantomData<&'a ()>,
}

impl<'a, F, Fut, T> Next for NextFn<'a, F>
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<T>> + Send + 'a,
    T: Send + 'static,
{
    fn run(&self) -> BoxFuture<'_, Result<Value>> {
        let fut = (self.f)();
        Box::pin(async move { fut.await.map(|v| Box::new(v) as Value) })
    }
}

/// Cross-cutting behaviour around every call of a provider.
///
/// A layer returns what `next` returned (or an error): [`Layered`] turns the [`Value`] back
/// into the operation's type, and a value of another type is an `Unexpected` error.
#[crate::async_trait]
pub trait Layer: Send + Sync + 'static {
    /// A short name for errors and `Debug` (`retry`, `deadline`).
    fn name(&self) -> &'static str;

    /// Runs `call` through the rest of the chain.
    async fn call(&self, call: &Call<'_>, next: &dyn Next) -> Result<Value>;
}

/// A trait object of capability `P` with one [`Layer`] around it; implements `P` again (see
/// the module docs). Build it with [`layered`] or a [`Stack`].
pub struct Layered<P: ?Sized> {
    inner: Arc<P>,
    layer: Arc<dyn Layer>,
    info: ProviderInfo,
}

impl<P: ?Sized> std::fmt::Debug for Layered<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered")
            .field("layer", &self.layer.name())
            .field("provider", &self.info.name)
            .finish()
    }
}

/// Puts `layer` around `inner`.
pub fn layered<P: ?Sized + crate::Provider>(inner: Arc<P>, layer: Arc<dyn Layer>) -> Layered<P> {
    let info = inner.info();
    Layered { inner, layer, info }
}

impl<P: ?Sized> Layered<P> {
    /// The provider (or layered provider) inside.
    pub fn inner(&self) -> &Arc<P> {
        &self.inner
    }

    async fn run<'a, T, F, Fut>(
        &'a self,
        operation: &'static str,
        resource: Option<&'a str>,
        (safety, waits): (Safety, Option<std::time::Duration>),
        f: F,
    ) -> Result<T>
    where
        T: Send + 'static,
        F: Fn() -> Fut + Send + Sync + 'a,
        Fut: Future<Output = Result<T>> + Send + 'a,
    {
        let call = Call {
            operation,
            resource,
            provider: &self.info,
            safety,
            waits,
        };
        let next = NextFn {
            f,
            _borrows: PhantomData,
        };
        let value = self.layer.call(&call, &next).await?;
        value.downcast::<T>().map(|v| *v).map_err(|_| {
            Error::unexpected(format!(
                "the {} layer answered {operation} with a value of another type",
                self.layer.name()
            ))
            .with_operation(operation)
        })
    }
}

/// Layers to put around providers, innermost first.
///
/// ```
/// use provisio::layer::{Deadline, Retry, RetryPolicy, Stack, Trace};
/// use std::time::Duration;
/// let stack = Stack::new()
///     .with(Retry::new(RetryPolicy::default()))
///     .with(Deadline::new(Duration::from_secs(60)))
///     .with(Trace);
/// assert_eq!(stack.names(), ["retry", "deadline", "trace"]);
/// ```
#[derive(Clone, Default)]
pub struct Stack {
    layers: Vec<Arc<dyn Layer>>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Stack {
    /// No layers: providers stay as they are.
    pub fn new() -> Self {
        Self::default()
    }

    /// What every front end puts around its providers: [`Retry`] with `policy` (the default
    /// policy retries up to 5 attempts, 100 ms to 5 s of full-jitter backoff), then a
    /// [`Deadline`] per call when `call_timeout` is set, then [`Trace`] outermost.
    pub fn standard(policy: RetryPolicy, call_timeout: Option<std::time::Duration>) -> Self {
        let mut stack = Stack::new().with(Retry::new(policy));
        if let Some(t) = call_timeout {
            stack = stack.with(Deadline::new(t));
        }
        stack.with(Trace)
    }

    /// The same with `layer` outside the ones already there.
    pub fn with(mut self, layer: impl Layer) -> Self {
        self.layers.push(Arc::new(layer));
        self
    }

    /// The same with a shared layer outside the ones already there.
    pub fn with_shared(mut self, layer: Arc<dyn Layer>) -> Self {
        self.layers.push(layer);
        self
    }

    /// The layers' names, innermost first.
    pub fn names(&self) -> Vec<&'static str> {
        self.layers.iter().map(|l| l.name()).collect()
    }

    /// Whether the stack has no layer.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }
}

macro_rules! stack_wrappers {
    ($($method:ident, $trait:path;)*) => {
        impl Stack {
            $(
                #[doc = concat!("Puts every layer around a `", stringify!($trait), "`.")]
                pub fn $method(&self, provider: Arc<dyn $trait>) -> Arc<dyn $trait> {
                    self.layers.iter().fold(provider, |p, layer| {
                        Arc::new(layered(p, layer.clone())) as Arc<dyn $trait>
                    })
                }
            )*
        }
    };
}

stack_wrappers! {
    dns, crate::DnsProvider;
    storage, crate::ObjectStorage;
    compute, crate::Compute;
    ci, crate::CiServer;
    secrets, crate::SecretStore;
    database, crate::Database;
    repo, crate::Repository;
    mail, crate::Mail;
    probe, crate::Probe;
    host, crate::Host;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{DnsCapabilities, Record, RecordSpec, RecordType, Zone};
    use crate::{Deleted, DnsProvider, Ensured, ErrorKind, Outcome, Page, PageRequest, Provider};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// Counts the calls that reach it; the first `fail` of them fail with `kind`.
    struct Flaky {
        calls: AtomicU64,
        fail: u64,
        kind: ErrorKind,
    }

    impl Provider for Flaky {
        fn info(&self) -> ProviderInfo {
            ProviderInfo::new("flaky", "acct")
        }
    }

    #[crate::async_trait]
    impl DnsProvider for Flaky {
        fn capabilities(&self) -> DnsCapabilities {
            DnsCapabilities {
                proxied: false,
                min_ttl: 60,
                automatic_ttl: false,
                waits_for_sync: false,
            }
        }
        async fn find_zone(&self, name: &str) -> Result<Option<Zone>> {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(Some(Zone {
                id: "z".into(),
                name: name.into(),
            }))
        }
        async fn list_records(&self, _: &Zone, _: &PageRequest) -> Result<Page<Record>> {
            Err(Error::unsupported("dns.list_records"))
        }
        async fn get_record(&self, _: &Zone, _: &str, _: &RecordType) -> Result<Option<Record>> {
            Ok(None)
        }
        async fn ensure_record(&self, _: &Zone, spec: &RecordSpec) -> Result<Ensured<Record>> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= self.fail {
                return Err(Error::new(self.kind.clone(), "flaky"));
            }
            Ok(Ensured {
                value: Record {
                    id: Some("r".into()),
                    name: spec.name.clone(),
                    record_type: spec.record_type.clone(),
                    content: spec.content.clone(),
                    ttl: spec.ttl,
                    proxied: None,
                    priority: None,
                },
                outcome: Outcome::Created,
            })
        }
        async fn delete_record(&self, _: &Zone, _: &str, _: &RecordType) -> Result<Deleted> {
            Ok(Deleted::AlreadyGone)
        }
    }

    fn flaky(fail: u64, kind: ErrorKind) -> Arc<Flaky> {
        Arc::new(Flaky {
            calls: AtomicU64::new(0),
            fail,
            kind,
        })
    }

    fn spec() -> RecordSpec {
        RecordSpec {
            name: "www.example.com".into(),
            record_type: RecordType::A,
            content: "192.0.2.1".into(),
            ttl: 300,
            proxied: None,
            priority: None,
        }
    }

    fn zone() -> Zone {
        Zone {
            id: "z".into(),
            name: "example.com".into(),
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy {
            initial_backoff_ms: 1,
            max_backoff_ms: 2,
            ..RetryPolicy::default()
        }
    }

    #[tokio::test]
    async fn retry_recovers_transient_failures() {
        let inner = flaky(2, ErrorKind::Transient);
        let dns = Stack::new().with(Retry::new(fast())).dns(inner.clone());
        let r = dns.ensure_record(&zone(), &spec()).await.unwrap();
        assert_eq!(r.value.name, "www.example.com");
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retry_gives_up_and_keeps_the_error() {
        let inner = flaky(10, ErrorKind::Transient);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..fast()
        };
        let dns = Stack::new().with(Retry::new(policy)).dns(inner.clone());
        let e = dns.ensure_record(&zone(), &spec()).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);
        // not retryable: one call
        let inner = flaky(1, ErrorKind::InvalidInput);
        let dns = Stack::new().with(Retry::new(fast())).dns(inner.clone());
        assert!(dns.ensure_record(&zone(), &spec()).await.is_err());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn inside_a_caller_that_retries_calls_go_through_once() {
        let inner = flaky(1, ErrorKind::Transient);
        let dns = Stack::new().with(Retry::new(fast())).dns(inner.clone());
        let r = retry::caller_retries(dns.ensure_record(&zone(), &spec())).await;
        assert!(r.is_err());
        assert_eq!(inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn faults_after_the_effect_are_retried_by_an_outer_retry() {
        let inner = flaky(0, ErrorKind::Transient);
        let faults = Faults::new(1);
        faults.add(FaultRule::on_call("dns.ensure_record", 1, ErrorKind::Transient).after_effect());
        let dns = Stack::new()
            .with(faults.clone())
            .with(Retry::new(fast()))
            .dns(inner.clone());
        dns.ensure_record(&zone(), &spec()).await.unwrap();
        // the lost answer's call reached the provider, then the retry did
        assert_eq!(inner.calls.load(Ordering::SeqCst), 2);
        assert_eq!(faults.calls("dns.ensure_record"), 2);
        assert_eq!(faults.injected(), 1);
    }

    #[tokio::test]
    async fn deadline_turns_a_hang_into_a_timeout() {
        let inner = flaky(0, ErrorKind::Transient);
        let faults = Faults::new(1);
        faults.add(FaultRule::latency(
            "dns.find_zone",
            Duration::from_millis(500),
        ));
        let dns = Stack::new()
            .with(faults)
            .with(Deadline::new(Duration::from_millis(20)))
            .dns(inner);
        let e = dns.find_zone("example.com").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert_eq!(e.operation(), Some("dns.find_zone"));
        assert_eq!(e.provider(), Some("flaky"));
    }

    #[tokio::test(start_paused = true)]
    async fn pace_holds_calls_to_its_quota() {
        let inner = flaky(0, ErrorKind::Transient);
        let dns = Stack::new()
            .with(Pace::new(crate::Quota::new(2, Duration::from_secs(1))))
            .dns(inner);
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            dns.get_record(&zone(), "a", &RecordType::A).await.unwrap();
        }
        // burst 1, then one every 500 ms
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
    }

    #[tokio::test]
    async fn layered_providers_keep_their_identity() {
        let dns = Stack::standard(fast(), Some(Duration::from_secs(5)))
            .dns(flaky(0, ErrorKind::Transient));
        assert_eq!(dns.info().name, "flaky");
        assert_eq!(dns.capabilities().min_ttl, 60);
    }
}
