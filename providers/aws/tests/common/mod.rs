//! Shared helpers of the moto-backed tests.
#![allow(dead_code)]

pub mod wire_log;

use provisio::Result;
use provisio_aws::{Aws, AwsConfig};

/// The AMI moto ships that the compute tests launch.
pub const MOTO_AMI: &str = "ami-12c6146b";

/// Connects to moto at `endpoint` with the fake credentials set in code.
pub async fn aws(endpoint: &str) -> Result<Aws> {
    Aws::connect(AwsConfig::for_emulator(endpoint)).await
}

/// Finds or creates the public hosted zone `name` in moto, directly through the SDK (moto does
/// not honour a repeated CallerReference, so the zone is looked up first; tests of one binary
/// share one zone through [`tokio::sync::OnceCell`]s of their own).
#[cfg(feature = "route53")]
pub async fn ensure_zone(aws: &Aws, name: &str) -> Result<String> {
    let client = aws_sdk_route53::Client::new(aws.sdk_config());
    let list = client
        .list_hosted_zones_by_name()
        .dns_name(format!("{name}."))
        .send()
        .await
        .map_err(|e| provisio::Error::unexpected(format!("list zones: {e:?}")))?;
    if let Some(z) = list
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == name)
    {
        return Ok(z.id().trim_start_matches("/hostedzone/").to_string());
    }
    let made = client
        .create_hosted_zone()
        .name(name)
        .caller_reference(format!("provisio-test-{name}"))
        .send()
        .await
        .map_err(|e| provisio::Error::unexpected(format!("create zone: {e:?}")))?;
    Ok(made
        .hosted_zone()
        .map(|z| z.id().trim_start_matches("/hostedzone/").to_string())
        .unwrap_or_default())
}

/// The ids of the pending or running instances tagged as `tenant`'s, read on the server through
/// the SDK (what is left on moto, not what provisio recorded).
#[cfg(feature = "ec2")]
pub async fn live_ids_by_tenant(ec2: &aws_sdk_ec2::Client, tenant: &str) -> Vec<String> {
    let out = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("tag:provisio:tenant")
                .values(tenant)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .expect("describe instances");
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}
