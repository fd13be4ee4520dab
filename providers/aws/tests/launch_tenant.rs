//! The AWS parts of `examples/launch-tenant/blueprint.yaml` against moto, through the engine.
//!
//! AWS providers are the `default` dns, storage, compute, secrets and mail providers; memory
//! providers stand in for CI, the git repository and the database (roles, databases and seeds
//! are the PostgreSQL provider's job). The test applies the blueprint, re-applies it (no
//! changes), and destroys it, and after each step asks moto itself, through the SDK and not
//! through provisio, what exists.
//!
//! ```sh
//! PROVISIO_TEST_AWS_ENDPOINT=http://127.0.0.1:5055 cargo test -p provisio-aws --test launch_tenant
//! ```

mod common;

use aws_sdk_ec2::types::Filter;
use provisio::{Bytes, CiServer};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Providers, Tenant, types,
};
use provisio_memory::MemoryCloud;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The example blueprint's directory (`blueprint.yaml` and its `templates/`), loaded from the
/// files, not copied.
const LAUNCH_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/launch-tenant");

const UMBRELLA_JOB_XML: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>Builds every tenant</description>\n  <builders/>\n  <publishers/>\n</project>\n";

const INITIAL_ASSETS: &[(&str, &str)] = &[
    (
        "initial/logo.svg",
        "<svg xmlns='http://www.w3.org/2000/svg'/>",
    ),
    ("initial/robots.txt", "User-agent: *\nDisallow:\n"),
    ("initial/templates/welcome.html", "<h1>Welcome</h1>"),
];

fn err(what: &str, e: impl std::fmt::Debug) -> provisio::Error {
    provisio::Error::unexpected(format!("{what}: {e:?}"))
}

/// What moto holds for one tenant, read with the SDK directly.
#[derive(Debug, Default)]
struct Inventory {
    /// Live (not terminated) instances carrying the tenant's ownership tag: (id, Name).
    instances: Vec<(String, String)>,
    /// Record sets of the zone at the tenant's names: (name, type, values).
    records: Vec<(String, String, Vec<String>)>,
    /// Object keys under the tenant's prefix of the shared bucket.
    objects: Vec<String>,
    /// Object keys under `initial/` (never touched by the tenant).
    initial: Vec<String>,
    /// Live secrets of the tenant: (name, tenant tag).
    secrets: Vec<(String, Option<String>)>,
    /// Secrets of the tenant scheduled for deletion.
    deleted_secrets: Vec<String>,
    /// Whether the tenant's mail identity exists.
    mail_identity: bool,
}

async fn inventory(
    aws: &provisio_aws::Aws,
    tenant: &str,
    domain: &str,
    zone_id: &str,
    bucket: &str,
) -> provisio::Result<Inventory> {
    let sdk = aws.sdk_config();
    let mut inv = Inventory::default();

    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:provisio:tenant")
                .values(tenant)
                .build(),
        )
        .send()
        .await
        .map_err(|e| err("describe instances", e))?;
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        let state = i
            .state()
            .and_then(|s| s.name())
            .map(|n| n.as_str().to_string())
            .unwrap_or_default();
        if state == "terminated" || state == "shutting-down" {
            continue;
        }
        let name = i
            .tags()
            .iter()
            .find(|t| t.key() == Some("Name"))
            .and_then(|t| t.value())
            .unwrap_or_default();
        inv.instances.push((
            i.instance_id().unwrap_or_default().to_string(),
            name.to_string(),
        ));
    }

    let r53 = aws_sdk_route53::Client::new(sdk);
    let out = r53
        .list_resource_record_sets()
        .hosted_zone_id(zone_id)
        .send()
        .await
        .map_err(|e| err("list record sets", e))?;
    for set in out.resource_record_sets() {
        let name = set.name().trim_end_matches('.').to_string();
        if name == format!("{tenant}.{domain}") || name == format!("{tenant}.stg.{domain}") {
            inv.records.push((
                name,
                set.r#type().as_str().to_string(),
                set.resource_records()
                    .iter()
                    .map(|r| r.value().to_string())
                    .collect(),
            ));
        }
    }
    inv.records.sort();

    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    );
    for (prefix, into) in [
        (format!("tenants/{tenant}/"), &mut inv.objects),
        ("initial/".to_string(), &mut inv.initial),
    ] {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| err("list objects", e))?;
        into.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }

    let sm = aws_sdk_secretsmanager::Client::new(sdk);
    for name in [
        format!("{tenant}-db-password"),
        format!("{tenant}-smtp-password"),
    ] {
        match sm.describe_secret().secret_id(&name).send().await {
            Ok(d) if d.deleted_date().is_some() => inv.deleted_secrets.push(name),
            Ok(d) => {
                let tag = d
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("provisio:tenant"))
                    .and_then(|t| t.value())
                    .map(str::to_string);
                inv.secrets.push((name, tag));
            }
            Err(e) if provisio_aws_code(&e) == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(err("describe secret", e)),
        }
    }

    let ses = aws_sdk_sesv2::Client::new(sdk);
    inv.mail_identity = ses
        .get_email_identity()
        .email_identity(format!("{tenant}.{domain}"))
        .send()
        .await
        .is_ok();
    Ok(inv)
}

fn provisio_aws_code<E, R>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> Option<&str>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata,
{
    use aws_smithy_types::error::metadata::ProvideErrorMetadata;
    e.code()
}

/// The shared assets bucket with its `initial/` prefix, as an operator prepares it once.
async fn prepare_assets(aws: &provisio_aws::Aws, bucket: &str) -> provisio::Result<()> {
    let storage = aws.storage();
    use provisio::ObjectStorage;
    storage
        .ensure_bucket(&provisio::storage::BucketSpec::new(bucket))
        .await?;
    for (key, body) in INITIAL_ASSETS {
        storage
            .put_object(bucket, key, Bytes::from(*body), None)
            .await?;
    }
    Ok(())
}

#[test]
fn launch_tenant_apply_reapply_destroy() {
    let Some(endpoint) = provisio_testkit::endpoint_from_env("AWS_ENDPOINT") else {
        provisio_testkit::skip("launch_tenant_apply_reapply_destroy", "AWS_ENDPOINT");
        return;
    };
    provisio_testkit::run_case("launch_tenant_apply_reapply_destroy", async move {
        let run = provisio_testkit::run_id();
        let tenant_name = format!("acme-{run}");
        // Fresh zone and bucket per run: moto may hold earlier runs' resources.
        let domain = format!("launch-{run}.test");
        let bucket = format!("provisio-shared-assets-{run}");
        let aws = common::aws(&endpoint).await?;
        let zone_id = common::ensure_zone(&aws, &domain).await?;
        prepare_assets(&aws, &bucket).await?;

        let cloud = MemoryCloud::new(7);
        for job in ["core_build-stg", "web_build-stg"] {
            cloud.ci.ensure_job(job, UMBRELLA_JOB_XML).await?;
        }
        let providers = Providers::new()
            .with_dns("default", aws.dns())
            .with_storage("default", aws.storage())
            .with_compute("default", aws.compute())
            .with_secrets("default", aws.secrets())
            .with_mail("default", aws.mail())
            .with_ci("default", cloud.ci.clone())
            .with_repo("default", cloud.repo.clone())
            .with_database("default", cloud.database.clone())
            .with_host("default", cloud.host.clone())
            .with_probe("default", cloud.probe.clone());
        let engine = Engine::builder()
            .providers(providers)
            .registry(types::builtin())
            .state(Arc::new(MemoryStateStore::new()))
            .build()?;
        let blueprint = Blueprint::load(LAUNCH_DIR)?;
        let tenant = Tenant::new(&tenant_name)
            .var("domain", domain.clone())
            .var("image", common::MOTO_AMI)
            .var("size", "t3.micro")
            .var("assets_bucket", bucket.clone())
            .secret("smtp_password", "smtp-credential-for-the-test");

        // 1. apply
        let report = engine
            .apply(&blueprint, &tenant, ApplyOptions::default())
            .await?;
        assert!(report.is_success(), "apply failed: {:?}", report.errors);
        assert_eq!(
            report.summary.created,
            blueprint
                .in_phase(provisio_engine::Phase::Launched)
                .resources
                .len(),
            "{:?}",
            report.summary
        );

        let inv = inventory(&aws, &tenant_name, &domain, &zone_id, &bucket).await?;
        assert_eq!(
            inv.instances.len(),
            1,
            "exactly one instance: {:?}",
            inv.instances
        );
        assert_eq!(inv.instances[0].1, format!("{tenant_name}-web"));
        let outputs = engine.outputs(&tenant_name).await?;
        let public_ip = outputs["web"]["public_ip"]
            .as_str()
            .expect("the web instance has a public address")
            .to_string();
        assert_eq!(
            inv.records,
            vec![
                (
                    format!("{tenant_name}.{domain}"),
                    "A".to_string(),
                    vec![public_ip.clone()]
                ),
                (
                    format!("{tenant_name}.stg.{domain}"),
                    "CNAME".to_string(),
                    vec![format!("{tenant_name}.{domain}.")]
                ),
            ]
        );
        let want_objects: BTreeSet<String> = INITIAL_ASSETS
            .iter()
            .map(|(k, _)| k.replacen("initial/", &format!("tenants/{tenant_name}/"), 1))
            .collect();
        assert_eq!(
            inv.objects.iter().cloned().collect::<BTreeSet<_>>(),
            want_objects
        );
        assert_eq!(inv.initial.len(), INITIAL_ASSETS.len());
        assert_eq!(
            inv.secrets,
            vec![
                (
                    format!("{tenant_name}-db-password"),
                    Some(tenant_name.clone())
                ),
                (
                    format!("{tenant_name}-smtp-password"),
                    Some(tenant_name.clone())
                ),
            ]
        );
        assert!(inv.mail_identity, "the tenant's mail identity exists");

        // 2. re-apply: nothing to do, nothing created
        let plan = engine
            .plan(
                &blueprint,
                &tenant,
                &PlanOptions {
                    refresh: true,
                    ..Default::default()
                },
            )
            .await?;
        assert!(!plan.has_changes(), "a second plan has changes:\n{plan}");
        let again = engine
            .apply(&blueprint, &tenant, ApplyOptions::default().refresh())
            .await?;
        assert!(again.is_success(), "re-apply failed: {:?}", again.errors);
        assert_eq!(again.summary.created, 0, "{:?}", again.summary);
        assert_eq!(again.summary.updated, 0, "{:?}", again.summary);
        let inv2 = inventory(&aws, &tenant_name, &domain, &zone_id, &bucket).await?;
        assert_eq!(
            inv2.instances, inv.instances,
            "re-apply changed the instances"
        );
        assert_eq!(inv2.records, inv.records);
        assert_eq!(inv2.objects, inv.objects);
        assert_eq!(inv2.secrets, inv.secrets);

        // 3. destroy: everything goes but the protected database (a memory resource here)
        //    and what it depends on: its role (memory) and, through the role, the
        //    db_password secret. Other secrets are only scheduled for deletion (recoverable),
        //    never purged.
        let destroyed = engine
            .destroy(&blueprint, &tenant, DestroyOptions::default())
            .await?;
        assert!(
            destroyed.is_success(),
            "destroy failed: {:?}",
            destroyed.errors
        );
        assert_eq!(destroyed.kept_protected, vec!["database".to_string()]);
        let after = inventory(&aws, &tenant_name, &domain, &zone_id, &bucket).await?;
        assert!(after.instances.is_empty(), "{:?}", after.instances);
        assert!(after.records.is_empty(), "{:?}", after.records);
        assert!(after.objects.is_empty(), "{:?}", after.objects);
        assert_eq!(
            after.initial.len(),
            INITIAL_ASSETS.len(),
            "the shared initial assets must stay"
        );
        assert_eq!(
            after.secrets,
            vec![(
                format!("{tenant_name}-db-password"),
                Some(tenant_name.clone())
            )],
            "only the secret the protected database depends on stays live"
        );
        assert_eq!(
            after.deleted_secrets,
            vec![format!("{tenant_name}-smtp-password")],
            "deleted secrets stay recoverable"
        );
        assert!(!after.mail_identity, "the mail identity is deleted");

        // Clean up what this run prepared and what destroy keeps recoverable.
        use provisio::SecretStore;
        let secrets = aws.secrets();
        for name in after
            .deleted_secrets
            .iter()
            .chain(after.secrets.iter().map(|(n, _)| n))
        {
            secrets
                .purge_secret(name, &provisio::Confirm::named(name))
                .await?;
        }
        use provisio::ObjectStorage;
        let storage = aws.storage();
        storage.delete_prefix(&bucket, "").await?;
        storage.delete_bucket(&bucket).await?;
        Ok(())
    });
}
