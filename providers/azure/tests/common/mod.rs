//! Shared set-up of the Azure tests: one in-process fake per test binary.
#![allow(dead_code)]

use provisio_azure::{Azure, AzureConfig, CredentialKind};
use provisio_fake_azure::FakeAzure;
use std::sync::OnceLock;

/// The zone the DNS cases work in.
pub const ZONE: &str = "provisio-test.example";

/// The fake of this test binary, started on first use (it serves from its own thread, so it
/// outlives the per-test runtimes).
pub fn fake() -> &'static FakeAzure {
    static FAKE: OnceLock<FakeAzure> = OnceLock::new();
    FAKE.get_or_init(|| {
        let f = FakeAzure::start().expect("start the Azure fake");
        f.add_zone(ZONE);
        f
    })
}

/// A configuration for the fake using the client-secret flow against its token endpoint.
pub fn config() -> AzureConfig {
    let mut c = AzureConfig::for_local_endpoint(fake().url(), "");
    c.static_token = None;
    c.credential = CredentialKind::ClientSecret;
    c.tenant_id = Some(provisio_fake_azure::TENANT.into());
    c.client_id = Some(provisio_fake_azure::CLIENT_ID.into());
    c.client_secret = Some(provisio_fake_azure::CLIENT_SECRET.into());
    c.subscription_id = Some(provisio_fake_azure::SUBSCRIPTION.into());
    c.resource_group = Some(provisio_fake_azure::RESOURCE_GROUP.into());
    c.poll_interval_ms = 20;
    c
}

pub fn azure() -> Azure {
    Azure::new(config()).expect("azure from the fake's config")
}

/// Azure on the fake plus Blob storage on Azurite at `blob_url`.
/// The lifecycle management policy (archive rules) goes to the fake's Resource Manager.
pub fn azure_with_azurite(blob_url: &str) -> Azure {
    let mut c = config().with_azurite(blob_url);
    c.storage_resource_group = Some(provisio_fake_azure::RESOURCE_GROUP.into());
    Azure::new(c).expect("azure with azurite")
}
