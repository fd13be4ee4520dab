//! Shared helpers of the Cloudflare tests: one in-process fake per test binary.

#![allow(dead_code)]

use provisio_cloudflare::{CloudflareConfig, CloudflareDns};
use provisio_fake_cloudflare::{FakeCloudflare, FakeOptions};
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

pub const TOKEN: &str = "fake-token-for-tests";

/// The fake shared by every test of this binary (it runs on its own thread, like a server).
pub fn fake() -> &'static FakeCloudflare {
    static FAKE: OnceLock<FakeCloudflare> = OnceLock::new();
    FAKE.get_or_init(|| {
        FakeCloudflare::start(FakeOptions::default().token(TOKEN)).expect("start the fake")
    })
}

/// A configuration for the fake with pacing effectively off.
pub fn config() -> CloudflareConfig {
    CloudflareConfig::for_endpoint(fake().url(), TOKEN).with_quota(100_000, 1)
}

/// A fresh zone of its own on the shared fake.
pub fn fresh_zone() -> String {
    let zone = format!("{}.example", provisio_testkit::unique("zone"));
    fake().add_zone(&zone);
    zone
}

thread_local! {
    static LAST_ZONE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// For the conformance macro: a provider whose test gets a zone of its own (so the offset
/// pagination of one case is not disturbed by the records of the others). The zone is handed
/// to [`context_in_last_zone`], which the macro evaluates next on the same thread.
pub fn provider_in_fresh_zone() -> Arc<CloudflareDns> {
    let zone = fresh_zone();
    LAST_ZONE.with(|z| *z.borrow_mut() = Some(zone));
    Arc::new(CloudflareDns::new(config()).expect("provider"))
}

/// The context for the zone [`provider_in_fresh_zone`] just made.
pub fn context_in_last_zone() -> provisio_testkit::dns::DnsContext {
    let zone = LAST_ZONE
        .with(|z| z.borrow_mut().take())
        .expect("provider_in_fresh_zone runs first");
    provisio_testkit::dns::DnsContext::new(zone)
}
