//! Runnable examples of provisio. See `examples/launch_tenant.rs`.
#![deny(missing_docs)]

use provisio::dns::{RecordType, Zone};
use provisio::{Bytes, CiServer, DnsProvider, ObjectStorage, Result, storage::BucketSpec};
use provisio_engine::Providers;
use provisio_memory::MemoryCloud;
use std::sync::Arc;

/// The directory of the launch blueprint: `blueprint.yaml` and its `templates/`.
pub const LAUNCH_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/launch-tenant");

/// The launch blueprint shipped in `examples/launch-tenant/`, with its templates.
pub fn launch_blueprint() -> Result<provisio_engine::Blueprint> {
    provisio_engine::Blueprint::load(LAUNCH_DIR)
}

/// The shared bucket holding every tenant's assets (`initial/` is copied per tenant).
pub const ASSETS_BUCKET: &str = "provisio-shared-assets";

/// A Jenkins-style job config with a build step; the umbrella jobs start from it.
pub const UMBRELLA_JOB_XML: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>Builds every tenant</description>\n  <builders/>\n  <publishers/>\n</project>\n";

/// Memory providers prepared as an operator's accounts would be before the first launch:
/// the DNS zone, the shared assets bucket with the initial assets, the umbrella CI jobs, and
/// the config repository's `main` branch.
pub async fn prepared_memory_cloud(domain: &str) -> Result<(MemoryCloud, Zone)> {
    let cloud = MemoryCloud::new(7);
    let zone = cloud.dns.add_zone(domain);
    // The apex record every zone already has, so listings are never empty.
    cloud
        .dns
        .ensure_record(
            &zone,
            &provisio::dns::RecordSpec::new(domain, RecordType::Txt, "v=spf1 -all", 300),
        )
        .await?;
    cloud
        .storage
        .ensure_bucket(&BucketSpec::new(ASSETS_BUCKET))
        .await?;
    for (key, body) in [
        (
            "initial/logo.svg",
            "<svg xmlns='http://www.w3.org/2000/svg'/>",
        ),
        ("initial/robots.txt", "User-agent: *\nDisallow:\n"),
        ("initial/templates/welcome.html", "<h1>Welcome</h1>"),
    ] {
        cloud
            .storage
            .put_object(ASSETS_BUCKET, key, Bytes::from(body), None)
            .await?;
    }
    for job in ["core_build-stg", "web_build-stg"] {
        cloud.ci.ensure_job(job, UMBRELLA_JOB_XML).await?;
    }
    Ok((cloud, zone))
}

/// Registers every memory provider of `cloud` as the `default` provider of its capability.
pub fn providers(cloud: &MemoryCloud) -> Providers {
    Providers::new()
        .with_dns("default", cloud.dns.clone() as Arc<dyn DnsProvider>)
        .with_storage("default", cloud.storage.clone())
        .with_compute("default", cloud.compute.clone())
        .with_ci("default", cloud.ci.clone())
        .with_secrets("default", cloud.secrets.clone())
        .with_database("default", cloud.database.clone())
        .with_repo("default", cloud.repo.clone())
        .with_mail("default", cloud.mail.clone())
        .with_host("default", cloud.host.clone())
        .with_probe("default", cloud.probe.clone())
}
