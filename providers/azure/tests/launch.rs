//! The reference job on Azure: `examples/launch-tenant/blueprint.yaml` (loaded from the file
//! with its templates, unchanged) with Azure DNS (fake), Blob storage (Azurite) and Key Vault (fake) as the
//! `default` dns/storage/secrets providers and memory providers for the rest: apply, re-apply
//! with no changes, destroy. Needs `PROVISIO_TEST_AZURITE_BLOB_URL` (set by `start_azurite`).

use provisio::storage::BucketSpec;
use provisio::{Bytes, CiServer, DnsProvider, ObjectStorage, PageRequest, SecretStore};
use provisio_azure::{Azure, AzureConfig, CredentialKind};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, DestroyOptions, Engine, PlanOptions, Providers, Tenant, types,
};
use provisio_fake_azure::FakeAzure;
use provisio_memory::MemoryCloud;
use std::sync::Arc;

const UMBRELLA_JOB_XML: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>Builds every tenant</description>\n  <builders/>\n  <publishers/>\n</project>\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_tenant_on_azure() {
    let Some(blob_url) = provisio_testkit::endpoint_from_env("AZURITE_BLOB_URL") else {
        provisio_testkit::skip("launch_tenant_on_azure", "AZURITE_BLOB_URL");
        return;
    };
    // The blueprint file and the templates/ beside it, unchanged.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/launch-tenant");
    let blueprint = Blueprint::load(dir).expect("load the launch blueprint");

    // Azure, prepared as an operator's account would be: the zone, the shared assets
    // container with the initial assets.
    let fake = FakeAzure::start().unwrap();
    fake.add_zone("example.com");
    let mut config = AzureConfig::for_local_endpoint(fake.url(), "").with_azurite(&blob_url);
    config.static_token = None;
    config.credential = CredentialKind::ClientSecret;
    config.tenant_id = Some(provisio_fake_azure::TENANT.into());
    config.client_id = Some(provisio_fake_azure::CLIENT_ID.into());
    config.client_secret = Some(provisio_fake_azure::CLIENT_SECRET.into());
    config.poll_interval_ms = 20;
    let azure = Azure::new(config).unwrap();
    let (dns, blob, kv) = (
        azure.dns().unwrap(),
        azure.blob().unwrap(),
        azure.key_vault().unwrap(),
    );

    // Each run gets its own container (Azurite may be shared by parallel test binaries);
    // the blueprint's default bucket name is valid in Azure too, but is passed explicitly.
    let tenant_name = provisio_testkit::unique("tn");
    let assets = format!("assets-{}", provisio_testkit::run_id());
    blob.ensure_bucket(&BucketSpec::new(&assets)).await.unwrap();
    for (key, body) in [
        (
            "initial/logo.svg",
            "<svg xmlns='http://www.w3.org/2000/svg'/>",
        ),
        ("initial/robots.txt", "User-agent: *\nDisallow:\n"),
        ("initial/templates/welcome.html", "<h1>Welcome</h1>"),
    ] {
        blob.put_object(&assets, key, Bytes::from(body), None)
            .await
            .unwrap();
    }

    let cloud = MemoryCloud::new(7);
    for job in ["core_build-stg", "web_build-stg"] {
        cloud.ci.ensure_job(job, UMBRELLA_JOB_XML).await.unwrap();
    }
    let providers = Providers::new()
        .with_dns("default", dns.clone() as Arc<dyn DnsProvider>)
        .with_storage("default", blob.clone())
        .with_secrets("default", kv.clone())
        .with_compute("default", cloud.compute.clone())
        .with_ci("default", cloud.ci.clone())
        .with_database("default", cloud.database.clone())
        .with_repo("default", cloud.repo.clone())
        .with_mail("default", cloud.mail.clone())
        .with_host("default", cloud.host.clone())
        .with_probe("default", cloud.probe.clone());
    let engine = Engine::builder()
        .providers(providers)
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap();
    let tenant = Tenant::new(&tenant_name)
        .var("assets_bucket", assets.clone())
        .secret("smtp_password", "example-smtp-credential");

    let report = engine
        .apply(&blueprint, &tenant, ApplyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap_or_else(|e| panic!("apply: {e}"));
    assert!(report.summary.created > 0);
    assert_eq!(report.summary.failed, 0);

    // What landed in Azure.
    let zone = dns.find_zone("example.com").await.unwrap().unwrap();
    let prod = format!("{tenant_name}.example.com");
    let rec = dns
        .get_record(&zone, &prod, &provisio::dns::RecordType::A)
        .await
        .unwrap();
    assert!(rec.is_some(), "the production A record");
    let stg = format!("{tenant_name}.stg.example.com");
    let cname = dns
        .get_record(&zone, &stg, &provisio::dns::RecordType::Cname)
        .await
        .unwrap();
    assert_eq!(cname.unwrap().content, prod);
    let copied = blob
        .list_objects(
            &assets,
            &format!("tenants/{tenant_name}/"),
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert_eq!(copied.items.len(), 3, "the initial assets were copied");
    let pw = kv
        .get_secret(&format!("{tenant_name}-db-password"))
        .await
        .unwrap();
    assert_eq!(pw.value.expose().len(), 32);
    let smtp = kv
        .get_secret(&format!("{tenant_name}-smtp-password"))
        .await
        .unwrap();
    assert_eq!(smtp.value.expose(), "example-smtp-credential");

    // Re-apply: nothing to change.
    let plan = engine
        .plan(
            &blueprint,
            &tenant,
            &PlanOptions {
                refresh: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        !plan.has_changes(),
        "a re-plan after apply has changes:\n{plan}"
    );
    let again = engine
        .apply(&blueprint, &tenant, ApplyOptions::default().refresh())
        .await
        .unwrap()
        .into_result()
        .unwrap_or_else(|e| panic!("re-apply: {e}"));
    assert_eq!(
        (again.summary.created, again.summary.updated),
        (0, 0),
        "re-apply changed something"
    );
    let secret_puts = fake.count("PUT", "/secrets/");
    assert_eq!(secret_puts, 2, "the re-apply wrote no secret version");

    // Destroy: records and copied assets gone, secrets soft-deleted, never purged.
    let destroyed = engine
        .destroy(&blueprint, &tenant, DestroyOptions::default())
        .await
        .unwrap()
        .into_result()
        .unwrap_or_else(|e| panic!("destroy: {e}"));
    assert!(destroyed.summary.deleted > 0);
    assert!(
        dns.get_record(&zone, &prod, &provisio::dns::RecordType::A)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        dns.get_record(&zone, &stg, &provisio::dns::RecordType::Cname)
            .await
            .unwrap()
            .is_none()
    );
    let left = blob
        .list_objects(
            &assets,
            &format!("tenants/{tenant_name}/"),
            &PageRequest::first(),
        )
        .await
        .unwrap();
    assert!(left.items.is_empty(), "destroy left {:?}", left.items);
    // The protected database keeps what it depends on (its role and that role's password).
    assert!(
        destroyed.kept_protected.contains(&"database".to_string()),
        "{:?}",
        destroyed.kept_protected
    );
    let d = kv
        .describe_secret(&format!("{tenant_name}-smtp-password"))
        .await
        .unwrap()
        .unwrap();
    assert!(d.deleted, "the secret is soft-deleted, recoverable");
    assert_eq!(
        fake.count("DELETE", "/deletedsecrets/"),
        0,
        "destroy purged a secret"
    );

    // Clean up Azurite.
    blob.delete_prefix(&assets, "").await.unwrap();
    blob.delete_bucket(&assets).await.unwrap();
}
