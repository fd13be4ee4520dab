//! Behaviour beyond the conformance suite, against dedicated in-process fakes: purge safety
//! (through the engine too), token caching per scope, the credential kinds, throttling, and
//! VM long-running operations.

use provisio::{Confirm, DnsProvider, ErrorKind, Provider, SecretStore, SecretString, Tags};
use provisio_azure::{Azure, AzureConfig, CredentialKind};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{ApplyOptions, Blueprint, DestroyOptions, Engine, Providers, Tenant, types};
use provisio_fake_azure::FakeAzure;
use std::sync::Arc;
use std::time::Duration;

fn config(fake: &FakeAzure) -> AzureConfig {
    let mut c = AzureConfig::for_local_endpoint(fake.url(), "");
    c.static_token = None;
    c.credential = CredentialKind::ClientSecret;
    c.tenant_id = Some(provisio_fake_azure::TENANT.into());
    c.client_id = Some(provisio_fake_azure::CLIENT_ID.into());
    c.client_secret = Some(provisio_fake_azure::CLIENT_SECRET.into());
    c.poll_interval_ms = 20;
    c
}

const SECRETS_BLUEPRINT: &str = r#"
name: secrets-only
variables:
  smtp_password: { secret: true }
resources:
  db_password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-password", generate: { length: 32 } }
  smtp_credentials:
    type: secrets.secret
    params: { name: "${tenant.name}-smtp-password", from_var: smtp_password }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_never_purges_unless_named() {
    let fake = FakeAzure::start().unwrap();
    let azure = Azure::new(config(&fake)).unwrap();
    let kv = azure.key_vault().unwrap();
    let tenant_name = "acme";

    // Through the engine: apply, destroy, apply again (recovers), destroy again.
    let engine = Engine::builder()
        .providers(Providers::new().with_secrets("default", kv.clone()))
        .registry(types::builtin())
        .state(Arc::new(MemoryStateStore::new()))
        .build()
        .unwrap();
    let blueprint = Blueprint::from_yaml(SECRETS_BLUEPRINT).unwrap();
    let tenant = Tenant::new(tenant_name).secret("smtp_password", "smtp-value-1");
    for round in 0..2 {
        engine
            .apply(&blueprint, &tenant, ApplyOptions::default())
            .await
            .unwrap()
            .into_result()
            .unwrap_or_else(|e| panic!("apply round {round}: {e}"));
        assert!(kv.get_secret("acme-db-password").await.is_ok());
        engine
            .destroy(&blueprint, &tenant, DestroyOptions::default())
            .await
            .unwrap()
            .into_result()
            .unwrap_or_else(|e| panic!("destroy round {round}: {e}"));
        let d = kv
            .describe_secret("acme-db-password")
            .await
            .unwrap()
            .unwrap();
        assert!(d.deleted, "destroy soft-deletes");
    }

    // Directly: delete, a put on the deleted name, recover, delete again.
    let err = kv
        .put_secret(
            "acme-smtp-password",
            &SecretString::new("new-value"),
            &Tags::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert!(
        err.message().contains("recover") && err.message().contains("purge"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("new-value"));
    kv.recover_secret("acme-smtp-password").await.unwrap();
    let info = kv
        .delete_secret_with_recovery("acme-smtp-password")
        .await
        .unwrap()
        .expect("a live secret was deleted");
    assert!(
        info.recovery_id
            .unwrap()
            .ends_with("/deletedsecrets/acme-smtp-password")
    );
    assert!(info.scheduled_purge_date > info.deleted_date);
    // A purge naming another secret is refused before any request.
    let err = kv
        .purge_secret("acme-smtp-password", &Confirm::named("acme-db-password"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Protected);

    assert_eq!(
        fake.count("DELETE", "/deletedsecrets/"),
        0,
        "nothing purged without being named: {:?}",
        fake.log()
            .iter()
            .filter(|e| e.method == "DELETE")
            .collect::<Vec<_>>()
    );
    assert!(
        fake.count("DELETE", "/secrets/") >= 4,
        "soft deletes happened"
    );

    kv.purge_secret("acme-smtp-password", &Confirm::named("acme-smtp-password"))
        .await
        .unwrap();
    assert_eq!(fake.count("DELETE", "/deletedsecrets/"), 1);
    assert_eq!(
        fake.count("DELETE", "/deletedsecrets/acme-smtp-password"),
        1
    );
    assert!(
        kv.describe_secret("acme-db-password")
            .await
            .unwrap()
            .unwrap()
            .deleted
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_per_scope_is_reused() {
    let fake = FakeAzure::start().unwrap();
    fake.add_zone("example.com");
    let azure = Azure::new(config(&fake)).unwrap();
    let dns = azure.dns().unwrap();
    let kv = azure.key_vault().unwrap();
    for _ in 0..5 {
        assert!(dns.find_zone("example.com").await.unwrap().is_some());
        assert!(kv.describe_secret("nope").await.unwrap().is_none());
    }
    // One ARM token and one vault token; a vault token does not open ARM and vice versa
    // (the fake checks the audience), so both scopes were really used.
    assert_eq!(fake.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_kinds() {
    let fake = FakeAzure::start().unwrap();
    fake.add_zone("example.com");

    let mut bad = config(&fake);
    bad.client_secret = Some("wrong".into());
    let err = Azure::new(bad)
        .unwrap()
        .dns()
        .unwrap()
        .find_zone("example.com")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(err.message().contains("AADSTS7000215"), "{err}");
    assert!(!format!("{err:?}").contains("wrong"));

    let mut mi = config(&fake);
    mi.credential = CredentialKind::ManagedIdentity;
    let dns = Azure::new(mi).unwrap().dns().unwrap();
    assert!(dns.find_zone("example.com").await.unwrap().is_some());

    let fixed = AzureConfig::for_local_endpoint(fake.url(), provisio_fake_azure::STATIC_TOKEN);
    let dns = Azure::new(fixed).unwrap().dns().unwrap();
    assert!(dns.find_zone("example.com").await.unwrap().is_some());

    let wrong = AzureConfig::for_local_endpoint(fake.url(), "not-a-token");
    let err = Azure::new(wrong)
        .unwrap()
        .dns()
        .unwrap()
        .find_zone("example.com")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");

    let mut http = config(&fake);
    http.arm_endpoint = "http://management.example.invalid".into();
    let err = Azure::new(http).unwrap().dns().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.message().contains("https"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_rate_limited_with_the_hint() {
    let fake = FakeAzure::start().unwrap();
    fake.add_zone("example.com");
    let azure = Azure::new(config(&fake)).unwrap();
    let dns = azure.dns().unwrap();
    fake.throttle("/dnsZones/example.com", 1, 7);
    let err = dns.find_zone("example.com").await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)), "{err}");
    assert!(err.retryable());
    assert_eq!(err.operation(), Some("dns.find_zone"));
    assert!(dns.find_zone("example.com").await.unwrap().is_some());

    let kv = azure.key_vault().unwrap();
    fake.throttle("/secrets/", 1, 2);
    let err = kv.get_secret("x").await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::RateLimited { .. }), "{err}");
    assert_eq!(kv.info().quota.unwrap().requests, 4000);
    assert_eq!(dns.info().quota.unwrap().per_second(), 10.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_create_and_delete_are_polled_operations() {
    use provisio::Compute;
    use provisio::compute::{InstanceSpec, InstanceState};
    let fake = FakeAzure::start().unwrap();
    let compute = Azure::new(config(&fake)).unwrap().compute().unwrap();
    let spec = InstanceSpec {
        name: "acme-web".into(),
        image: "Canonical:ubuntu-24_04-lts:server:latest".into(),
        size: "Standard_B1s".into(),
        tags: provisio::types::ownership::tags("acme", "launch", "web"),
        user_data: Some("#cloud-config\n".into()),
        idempotency_key: "k1".into(),
    };
    let made = compute.launch_instance(&spec).await.unwrap();
    assert_eq!(made.outcome, provisio::Outcome::Created);
    assert_eq!(
        made.value.state,
        InstanceState::Running,
        "launch waits for the LRO"
    );
    assert!(made.value.public_ip.is_some() && made.value.private_ip.is_some());
    assert!(fake.count("GET", "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Compute/locations/westeurope/operations/") >= 1);
    let again = compute.launch_instance(&spec).await.unwrap();
    assert_eq!(again.outcome, provisio::Outcome::Unchanged);
    assert_eq!(
        fake.count("PUT", "/subscriptions/"),
        1,
        "found by tag before create"
    );
    // A bare name is accepted as an id.
    assert!(compute.get_instance("acme-web").await.unwrap().is_some());
    assert_eq!(
        compute.terminate_instance(&made.value.id).await.unwrap(),
        provisio::Deleted::Deleted
    );
    assert!(fake.count("GET", "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Compute/locations/westeurope/operationResults/") >= 1);
    assert!(
        compute
            .get_instance(&made.value.id)
            .await
            .unwrap()
            .is_none()
    );
    let gone = compute
        .wait_for_state(
            &made.value.id,
            InstanceState::Terminated,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(gone.state, InstanceState::Terminated);
    assert_eq!(
        compute.terminate_instance(&made.value.id).await.unwrap(),
        provisio::Deleted::AlreadyGone
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_rules_live_in_the_lifecycle_policy() {
    use provisio::ObjectStorage;
    use provisio::storage::BucketSpec;
    let Some(blob_url) = provisio_testkit::endpoint_from_env("AZURITE_BLOB_URL") else {
        provisio_testkit::skip(
            "archive_rules_live_in_the_lifecycle_policy",
            "AZURITE_BLOB_URL",
        );
        return;
    };
    let fake = FakeAzure::start().unwrap();
    let mut spec = BucketSpec::new(provisio_testkit::unique("arch"));
    spec.archive_after_days = Some(30);

    // Without the storage account's resource group there is nowhere to write the rule.
    let plain = Azure::new(config(&fake).with_azurite(&blob_url))
        .unwrap()
        .blob()
        .unwrap();
    assert!(!plain.capabilities().archive_lifecycle);
    let err = plain.ensure_bucket(&spec).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unsupported, "{err}");
    assert!(plain.get_bucket(&spec.name).await.unwrap().is_none());

    let mut c = config(&fake).with_azurite(&blob_url);
    c.storage_resource_group = Some("storage-rg".into());
    let blob = Azure::new(c).unwrap().blob().unwrap();
    let made = blob.ensure_bucket(&spec).await.unwrap();
    assert_eq!(made.value.archive_after_days, Some(30));
    let policy = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/storage-rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1/managementPolicies/default";
    assert_eq!(fake.count("PUT", policy), 1);
    assert_eq!(
        blob.get_bucket(&spec.name)
            .await
            .unwrap()
            .unwrap()
            .archive_after_days,
        Some(30)
    );
    assert_eq!(
        blob.ensure_bucket(&spec).await.unwrap().outcome,
        provisio::Outcome::Unchanged
    );
    spec.archive_after_days = Some(90);
    assert_eq!(
        blob.ensure_bucket(&spec).await.unwrap().outcome,
        provisio::Outcome::Updated
    );
    assert_eq!(
        blob.get_bucket(&spec.name)
            .await
            .unwrap()
            .unwrap()
            .archive_after_days,
        Some(90)
    );
    blob.delete_bucket(&spec.name).await.unwrap();
    // The last rule gone, the policy is deleted (a policy cannot be empty).
    assert_eq!(fake.count("DELETE", policy), 1);
}

/// A CNAME written with or without the trailing dot reads back as the caller's canonical form,
/// and every request to Resource Manager is counted in the step's tally (`azure`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cname_targets_read_back_as_written_and_requests_are_counted() {
    use provisio::dns::{RecordSpec, RecordType};
    use provisio::requests::{RequestTally, counted};
    let fake = FakeAzure::start().unwrap();
    fake.add_zone("example.com");
    let dns = Azure::new(config(&fake)).unwrap().dns().unwrap();
    let zone = dns.find_zone("example.com").await.unwrap().unwrap();
    for (name, target) in [
        ("staging.example.com", "web.example.net"),
        ("dotted.example.com", "Web.Example.NET."),
    ] {
        let spec = RecordSpec::new(name, RecordType::Cname, target, 300);
        let tally = Arc::new(RequestTally::default());
        let made = counted(tally.clone(), dns.ensure_record(&zone, &spec))
            .await
            .unwrap();
        assert!(tally.by_service()["azure"] >= 1);
        assert_eq!(made.value.content, "web.example.net", "{target}");
        let read = dns
            .get_record(&zone, name, &RecordType::Cname)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read.content, "web.example.net", "{target}");
        assert!(read.matches(&spec.validated().unwrap()));
    }
    let q = dns
        .info()
        .quota
        .expect("Resource Manager's documented quota");
    assert_eq!((q.requests, q.per), (10, Duration::from_secs(1)));
}

/// Access tiers on Azurite, with the requests of each operation counted and every tier read
/// back by anonymous HTTP on the public blobs (a witness that shares nothing with provisio's
/// signed client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tiers_change_on_azurite() {
    use provisio::ObjectStorage;
    use provisio::requests::{RequestTally, counted};
    use provisio::storage::{BucketSpec, StorageClass, is_rehydration_pending};
    let Some(blob_url) = provisio_testkit::endpoint_from_env("AZURITE_BLOB_URL") else {
        provisio_testkit::skip("access_tiers_change_on_azurite", "AZURITE_BLOB_URL");
        return;
    };
    let fake = FakeAzure::start().unwrap();
    let blob = Azure::new(config(&fake).with_azurite(&blob_url))
        .unwrap()
        .blob()
        .unwrap();
    let mut spec = BucketSpec::new(provisio_testkit::unique("tier"));
    spec.block_public_access = false;
    let name = spec.name.clone();
    blob.ensure_bucket(&spec).await.unwrap();
    for k in ["t/acme/1", "t/acme/2", "t/globex/1"] {
        blob.put_object(&name, k, format!("body {k}").into(), None)
            .await
            .unwrap();
    }
    let requests = |tally: &RequestTally| tally.by_service().values().sum::<u64>();
    let witness = reqwest::Client::new();
    let url = |k: &str| format!("{}/{name}/{k}", blob_url.trim_end_matches('/'));
    let tier_of = |k: &'static str| {
        let (witness, u) = (witness.clone(), url(k));
        async move {
            let r = witness.head(u).send().await.unwrap();
            assert_eq!(r.status(), 200, "anonymous HEAD of {k}");
            r.headers()
                .get("x-ms-access-tier")
                .map(|v| v.to_str().unwrap().to_string())
        }
    };

    let tally = Arc::new(RequestTally::default());
    let c = counted(
        tally.clone(),
        blob.set_prefix_storage_class(&name, "t/acme/", StorageClass::InfrequentAccess),
    )
    .await
    .unwrap();
    assert_eq!((c.changed, c.unchanged, c.pending), (2, 0, 0));
    // one List Blobs, one Set Blob Tier per blob
    assert_eq!(requests(&tally), 1 + 2);
    assert_eq!(tier_of("t/acme/1").await.as_deref(), Some("Cool"));
    assert_eq!(tier_of("t/acme/2").await.as_deref(), Some("Cool"));
    assert_ne!(tier_of("t/globex/1").await.as_deref(), Some("Cool"));
    let tally = Arc::new(RequestTally::default());
    let c = counted(
        tally.clone(),
        blob.set_prefix_storage_class(&name, "t/acme/", StorageClass::InfrequentAccess),
    )
    .await
    .unwrap();
    assert_eq!(c.unchanged, 2);
    assert_eq!(
        requests(&tally),
        1,
        "only the listing when every blob is in the tier"
    );

    let tally = Arc::new(RequestTally::default());
    counted(
        tally.clone(),
        blob.set_storage_class(&name, "t/acme/1", StorageClass::Archive),
    )
    .await
    .unwrap();
    assert_eq!(requests(&tally), 2, "HEAD + Set Blob Tier");
    assert_eq!(tier_of("t/acme/1").await.as_deref(), Some("Archive"));
    let archived = witness.get(url("t/acme/1")).send().await.unwrap();
    assert_eq!(archived.status(), 409);
    assert_eq!(
        archived
            .headers()
            .get("x-ms-error-code")
            .and_then(|v| v.to_str().ok()),
        Some("BlobArchived")
    );
    let e = blob.get_object(&name, "t/acme/1").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.message().contains("BlobArchived"), "{e}");
    let e = blob
        .set_storage_class(&name, "t/acme/1", StorageClass::DeepArchive)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");

    // back to Hot: Azurite rehydrates at once or after a pending answer; poll as a step does
    let mut attempts = 0;
    loop {
        attempts += 1;
        match blob
            .set_storage_class(&name, "t/acme/1", StorageClass::Standard)
            .await
        {
            Ok(m) => {
                assert_eq!(m.storage_class, StorageClass::Standard);
                break;
            }
            Err(e) if is_rehydration_pending(&e) && attempts < 100 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    eprintln!("Azurite rehydrated after {attempts} call(s)");
    assert_eq!(tier_of("t/acme/1").await.as_deref(), Some("Hot"));
    let (body, _) = blob.get_object(&name, "t/acme/1").await.unwrap();
    assert_eq!(&body[..], b"body t/acme/1");

    let e = blob
        .ensure_expiry_rule(&name, "t/acme/", 30)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");
    assert!(!blob.capabilities().expiry_rules);
    blob.delete_prefix(&name, "").await.unwrap();
    blob.delete_bucket(&name).await.unwrap();
}
