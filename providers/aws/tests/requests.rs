//! How many requests each AWS operation sends, counted where they leave: every request passes
//! the pacing of its service client (the SDK clients' paced HTTP client, or provisio's own
//! client before each send), which counts it in the running step's [`RequestTally`]. The
//! counts are the ones `docs/providers/aws.md` lists; a change that adds a request to an
//! operation fails here.
//!
//! ```sh
//! PROVISIO_TEST_AWS_ENDPOINT=http://127.0.0.1:5055 cargo test -p provisio-aws --test requests -- --nocapture
//! ```
//!
//! Also: a quota set in a provider file (`rate_limits.route53`) is what paces the requests, timed
//! in a proxy in front of moto (`common::wire_log`).

mod common;

use provisio::compute::{InstanceSpec, InstanceState};
use provisio::dns::{RecordSpec, RecordType};
use provisio::requests::{RequestTally, counted};
use provisio::storage::BucketSpec;
use provisio::{
    Bytes, Compute, Deleted, DnsProvider, Mail, ObjectStorage, Outcome, SecretStore, SecretString,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `fut` as one step and returns its output with the requests it sent, per service.
async fn count<F: Future>(fut: F) -> (F::Output, BTreeMap<String, u64>) {
    let tally = Arc::new(RequestTally::default());
    let out = counted(tally.clone(), fut).await;
    (out, tally.by_service())
}

/// `expected` requests, all to `service`.
fn assert_sent(what: &str, got: &BTreeMap<String, u64>, service: &str, expected: u64) {
    let want: BTreeMap<String, u64> = if expected == 0 {
        BTreeMap::new()
    } else {
        [(service.to_string(), expected)].into()
    };
    assert_eq!(got, &want, "{what}");
    eprintln!("{what}: {expected} request(s)");
}

fn endpoint(case: &str) -> Option<String> {
    let e = provisio_testkit::endpoint_from_env("AWS_ENDPOINT");
    if e.is_none() {
        provisio_testkit::skip(case, "AWS_ENDPOINT");
    }
    e
}

#[test]
fn route53_requests_per_operation() {
    let Some(endpoint) = endpoint("route53_requests_per_operation") else {
        return;
    };
    provisio_testkit::run_case("route53_requests_per_operation", async move {
        let aws = common::aws(&endpoint).await?;
        let zone_name = format!("{}.requests.test", provisio_testkit::unique("zone"));
        common::ensure_zone(&aws, &zone_name).await?;
        let dns = aws.dns();
        let svc = "aws-route53";

        let (zone, n) = count(dns.find_zone(&zone_name)).await;
        let zone = zone?.expect("the zone exists");
        assert_sent("find_zone", &n, svc, 1);
        let (_, n) = count(dns.find_zone(&zone_name)).await;
        assert_sent("find_zone again (remembered)", &n, svc, 0);
        // Steps that start together (a fleet's first wave) share one lookup.
        let fresh = aws.dns();
        let ((a, b, c, d), n) = count(async {
            tokio::join!(
                fresh.find_zone(&zone_name),
                fresh.find_zone(&zone_name),
                fresh.find_zone(&zone_name),
                fresh.find_zone(&zone_name)
            )
        })
        .await;
        for found in [a, b, c, d] {
            assert_eq!(found?.map(|z| z.id), Some(zone.id.clone()));
        }
        assert_sent("4 concurrent find_zone of a new instance", &n, svc, 1);

        let name = format!("www.{zone_name}");
        let spec = RecordSpec::new(&name, RecordType::Cname, "staging.example.test", 300);
        let (made, n) = count(dns.ensure_record(&zone, &spec)).await;
        assert_eq!(made?.outcome, Outcome::Created);
        assert_sent("ensure_record of a new record", &n, svc, 1);

        let (read, n) = count(dns.get_record(&zone, &name, &RecordType::Cname)).await;
        // the target reads back as written, without Route 53's trailing dot
        assert_eq!(read?.expect("the record").content, "staging.example.test");
        assert_sent("get_record", &n, svc, 1);

        let (same, n) = count(dns.ensure_record(&zone, &spec)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent("ensure_record, unchanged", &n, svc, 1);

        let changed = RecordSpec::new(&name, RecordType::Cname, "prod.example.test.", 600);
        let (upd, n) = count(dns.ensure_record(&zone, &changed)).await;
        let upd = upd?;
        assert_eq!(upd.outcome, Outcome::Updated);
        assert_eq!(upd.value.content, "prod.example.test");
        assert_sent("ensure_record, changed", &n, svc, 2);

        // Another instance (another process) knows nothing: CREATE is refused, read, equal.
        let fresh = aws.dns();
        let txt_name = format!("txt.{zone_name}");
        let txt = RecordSpec::new(&txt_name, RecordType::Txt, "v=provisio", 300);
        dns.ensure_record(&zone, &txt).await?;
        let (same, n) = count(fresh.ensure_record(&zone, &txt)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent(
            "ensure_record, unchanged, unknown to the instance",
            &n,
            svc,
            2,
        );

        let (gone, n) = count(dns.delete_record(&zone, &name, &RecordType::Cname)).await;
        assert_eq!(gone?, Deleted::Deleted);
        assert_sent("delete_record of a record the instance knows", &n, svc, 1);
        let (gone, n) = count(dns.delete_record(&zone, &name, &RecordType::Cname)).await;
        assert_eq!(gone?, Deleted::AlreadyGone);
        assert_sent("delete_record of a missing record", &n, svc, 1);
        let (gone, n) = count(aws.dns().delete_record(&zone, &txt_name, &RecordType::Txt)).await;
        assert_eq!(gone?, Deleted::Deleted);
        assert_sent("delete_record, unknown to the instance", &n, svc, 2);
        Ok(())
    });
}

#[test]
fn s3_requests_per_operation() {
    let Some(endpoint) = endpoint("s3_requests_per_operation") else {
        return;
    };
    provisio_testkit::run_case("s3_requests_per_operation", async move {
        let aws = common::aws(&endpoint).await?;
        let s3 = aws.storage();
        let svc = "aws-s3";
        let name = provisio_testkit::unique("bkt");
        let mut spec = BucketSpec::new(&name);
        spec.tags = provisio::types::ownership::tags("acme", "requests", "assets");

        // us-east-1 (moto's region here): one read (NoSuchBucket), CreateBucket, then the
        // public access block (moto's new buckets have none) and the ownership tags.
        let (made, n) = count(s3.ensure_bucket(&spec)).await;
        assert_eq!(made?.outcome, Outcome::Created);
        assert_sent(
            "ensure_bucket of a new bucket (us-east-1, moto)",
            &n,
            svc,
            4,
        );

        let (got, n) = count(s3.get_bucket(&name)).await;
        assert!(got?.expect("the bucket").matches(&spec));
        assert_sent("get_bucket", &n, svc, 4);

        let (same, n) = count(s3.ensure_bucket(&spec)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent("ensure_bucket, unchanged", &n, svc, 4);

        let body = Bytes::from(vec![b'x'; 2048]);
        let (put, n) = count(s3.put_object(&name, "src/a.txt", body.clone(), None)).await;
        assert_eq!(
            Some(put?.etag),
            s3.etag_of(&body),
            "etag_of predicts S3's etag"
        );
        assert_sent("put_object", &n, svc, 1);
        for i in 0..4 {
            s3.put_object(&name, &format!("src/{i}.txt"), body.clone(), None)
                .await?;
        }
        let (copied, n) = count(s3.copy_prefix(&name, "src/", &name, "dst/")).await;
        assert_eq!(copied?, 5);
        assert_sent("copy_prefix of 5 objects", &n, svc, 2 + 5);
        let (copied, n) = count(s3.copy_prefix(&name, "src/", &name, "dst/")).await;
        assert_eq!(copied?, 0);
        assert_sent("copy_prefix, all present", &n, svc, 2);

        let (deleted, n) = count(s3.delete_prefix(&name, "")).await;
        assert_eq!(deleted?, 10);
        assert_sent(
            "delete_prefix of 10 objects (one listing, one DeleteObjects)",
            &n,
            svc,
            2,
        );
        s3.delete_bucket(&name).await?;

        // Outside us-east-1 the create is optimistic: BucketAlreadyOwnedByYou means "exists".
        let mut eu = provisio_aws::AwsConfig::for_emulator(&endpoint);
        eu.region = Some("eu-west-1".into());
        let s3_eu = provisio_aws::Aws::connect(eu).await?.storage();
        let name = provisio_testkit::unique("bkt");
        let spec = BucketSpec::new(&name);
        let (made, n) = count(s3_eu.ensure_bucket(&spec)).await;
        assert_eq!(made?.outcome, Outcome::Created);
        assert_sent(
            "ensure_bucket of a new bucket (eu-west-1, moto)",
            &n,
            svc,
            2,
        );
        let (same, n) = count(s3_eu.ensure_bucket(&spec)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent("ensure_bucket, unchanged (eu-west-1)", &n, svc, 1 + 4);
        s3_eu.delete_bucket(&name).await?;
        Ok(())
    });
}

#[test]
fn ec2_secrets_and_ses_requests_per_operation() {
    let Some(endpoint) = endpoint("ec2_secrets_and_ses_requests_per_operation") else {
        return;
    };
    provisio_testkit::run_case("ec2_secrets_and_ses_requests_per_operation", async move {
        let aws = common::aws(&endpoint).await?;

        let ec2 = aws.compute();
        let tenant = provisio_testkit::unique("tn");
        let spec = InstanceSpec {
            name: format!("{tenant}-web"),
            image: common::MOTO_AMI.into(),
            size: "t3.micro".into(),
            tags: provisio::types::ownership::tags(&tenant, "requests", "web"),
            user_data: None,
            idempotency_key: provisio_testkit::unique("key"),
        };
        let (made, n) = count(ec2.launch_instance(&spec)).await;
        let made = made?;
        assert_eq!(made.outcome, Outcome::Created);
        assert_sent(
            "launch_instance (describe by tag + RunInstances)",
            &n,
            "aws-ec2",
            2,
        );
        let (again, n) = count(ec2.launch_instance(&spec)).await;
        assert_eq!(again?.outcome, Outcome::Unchanged);
        assert_sent("launch_instance, adopted", &n, "aws-ec2", 1);
        let (_, n) = count(ec2.get_instance(&made.value.id)).await;
        assert_sent("get_instance", &n, "aws-ec2", 1);
        let id = &made.value.id;
        let wait = Duration::from_secs(30);
        ec2.wait_for_state(id, InstanceState::Running, wait).await?;
        let (stopped, n) = count(ec2.stop_instance(id)).await;
        stopped?;
        assert_sent(
            "stop_instance of a running instance (describe + StopInstances)",
            &n,
            "aws-ec2",
            2,
        );
        ec2.wait_for_state(id, InstanceState::Stopped, wait).await?;
        let (_, n) = count(ec2.stop_instance(id)).await;
        assert_sent("stop_instance, already stopped", &n, "aws-ec2", 1);
        let (started, n) = count(ec2.start_instance(id)).await;
        started?;
        assert_sent(
            "start_instance of a stopped instance (describe + StartInstances)",
            &n,
            "aws-ec2",
            2,
        );
        ec2.wait_for_state(id, InstanceState::Running, wait).await?;
        let (_, n) = count(ec2.start_instance(id)).await;
        assert_sent("start_instance, already running", &n, "aws-ec2", 1);
        ec2.terminate_instance(&made.value.id).await?;

        let sm = aws.secrets();
        let svc = "aws-secretsmanager";
        // a path-style name, as Secrets Manager allows
        let name = format!("tenants/{}/db-password", provisio_testkit::unique("tn"));
        let tags = provisio::types::ownership::tags("acme", "requests", "db");
        let v1 = SecretString::new("correct horse battery staple");
        let (made, n) = count(sm.put_secret(&name, &v1, &tags)).await;
        assert_eq!(made?.outcome, Outcome::Created);
        assert_sent("put_secret of a new secret", &n, svc, 1);
        let (same, n) = count(sm.put_secret(&name, &v1, &tags)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent("put_secret, same value", &n, svc, 3);
        let (upd, n) = count(sm.put_secret(&name, &SecretString::new("another"), &tags)).await;
        assert_eq!(upd?.outcome, Outcome::Updated);
        assert_sent("put_secret, new value", &n, svc, 4);
        let (_, n) = count(sm.describe_secret(&name)).await;
        assert_sent("describe_secret", &n, svc, 1);
        let (gone, n) = count(sm.delete_secret(&name, 7)).await;
        assert_eq!(gone?, Deleted::Deleted);
        assert_sent("delete_secret", &n, svc, 1);
        let (gone, n) = count(sm.delete_secret(&name, 7)).await;
        assert_eq!(gone?, Deleted::AlreadyGone);
        assert_sent("delete_secret, already deleted", &n, svc, 2);
        sm.purge_secret(&name, &provisio::Confirm::named(&name))
            .await?;

        let ses = aws.mail();
        let identity = format!("{}.requests.test", provisio_testkit::unique("mail"));
        let (made, n) = count(ses.ensure_identity(&identity, &tags)).await;
        assert_eq!(made?.outcome, Outcome::Created);
        assert_sent("ensure_identity of a new identity", &n, "aws-sesv2", 2);
        let (same, n) = count(ses.ensure_identity(&identity, &tags)).await;
        assert_eq!(same?.outcome, Outcome::Unchanged);
        assert_sent("ensure_identity, existing", &n, "aws-sesv2", 1);
        ses.delete_identity(&identity).await?;
        Ok(())
    });
}

#[test]
fn a_configured_quota_paces_the_requests() {
    let Some(endpoint) = endpoint("a_configured_quota_paces_the_requests") else {
        return;
    };
    provisio_testkit::run_case("a_configured_quota_paces_the_requests", async move {
        // The provider file's form of the setting, on an account of its own, behind a proxy
        // that notes when each request leaves.
        let (proxy, sent) = common::wire_log::start(&endpoint).await;
        let mut config: provisio_aws::AwsConfig = serde_json::from_value(serde_json::json!({
            "region": "us-east-1",
            "endpoint_url": proxy,
            "account": provisio_testkit::unique("acct"),
            "rate_limits": { "route53": { "requests": 2, "per_secs": 1 } },
        }))
        .map_err(|e| provisio::Error::unexpected(e.to_string()))?;
        config.static_credentials =
            provisio_aws::AwsConfig::for_emulator(&endpoint).static_credentials;
        let aws = provisio_aws::Aws::connect(config).await?;
        let dns = aws.dns();
        let q = provisio::Provider::info(&*dns).quota.expect("a quota");
        assert_eq!((q.requests, q.per), (2, Duration::from_secs(1)));

        let zone_name = format!("{}.paced.test", provisio_testkit::unique("zone"));
        common::ensure_zone(&aws, &zone_name).await?;
        let zone = dns.find_zone(&zone_name).await?.expect("the zone");
        sent.lock().unwrap().clear();
        for _ in 0..6 {
            dns.get_record(&zone, &format!("x.{zone_name}"), &RecordType::A)
                .await?;
        }
        let at: Vec<Instant> = sent.lock().unwrap().iter().map(|p| p.at).collect();
        assert_eq!(at.len(), 6, "one request per get_record");
        // two per second, paced: never three within one second, six take 2.5 s
        for w in at.windows(3) {
            let span = w[2] - w[0];
            assert!(
                span >= Duration::from_millis(950),
                "three requests within {span:?}"
            );
        }
        let total = at[5] - at[0];
        assert!(
            total >= Duration::from_millis(2400),
            "six requests in {total:?}"
        );
        eprintln!("6 requests at 2/s took {total:?}");
        Ok(())
    });
}

/// Storage classes and expiry rules: the requests of each operation, and what moto holds
/// afterwards, read with the SDK's S3 client (a witness that shares nothing with provisio's
/// client).
#[test]
fn s3_storage_class_and_expiry_requests() {
    use provisio::storage::StorageClass;
    let Some(endpoint) = endpoint("s3_storage_class_and_expiry_requests") else {
        return;
    };
    provisio_testkit::run_case("s3_storage_class_and_expiry_requests", async move {
        let aws = common::aws(&endpoint).await?;
        let s3 = aws.storage();
        let witness = aws_sdk_s3::Client::new(aws.sdk_config());
        let svc = "aws-s3";
        let name = provisio_testkit::unique("cls");
        let mut spec = BucketSpec::new(&name);
        spec.archive_after_days = Some(90);
        s3.ensure_bucket(&spec).await?;
        for k in ["t/acme/1", "t/acme/2", "t/acme/3", "t/globex/1"] {
            s3.put_object(
                &name,
                k,
                Bytes::from(format!("body {k}")),
                Some("text/plain"),
            )
            .await?;
        }
        // what moto says the class of each key is
        let classes = || async {
            let listed = witness
                .list_objects_v2()
                .bucket(&name)
                .send()
                .await
                .map_err(|e| provisio::Error::unexpected(format!("list: {e:?}")))?;
            Ok::<_, provisio::Error>(
                listed
                    .contents()
                    .iter()
                    .map(|o| {
                        (
                            o.key().unwrap_or_default().to_string(),
                            o.storage_class().map(|c| c.as_str().to_string()),
                        )
                    })
                    .collect::<BTreeMap<_, _>>(),
            )
        };

        let (one, n) =
            count(s3.set_storage_class(&name, "t/acme/1", StorageClass::InfrequentAccess)).await;
        assert_eq!(one?.storage_class, StorageClass::InfrequentAccess);
        assert_sent("set_storage_class (HeadObject + CopyObject)", &n, svc, 2);
        let (_, n) =
            count(s3.set_storage_class(&name, "t/acme/1", StorageClass::InfrequentAccess)).await;
        assert_sent("set_storage_class, already in the class", &n, svc, 1);

        let (c, n) =
            count(s3.set_prefix_storage_class(&name, "t/acme/", StorageClass::Archive)).await;
        let c = c?;
        assert_eq!((c.changed, c.unchanged, c.pending), (3, 0, 0));
        assert_sent(
            "set_prefix_storage_class of 3 readable objects",
            &n,
            svc,
            1 + 3,
        );
        let (c, n) =
            count(s3.set_prefix_storage_class(&name, "t/acme/", StorageClass::Archive)).await;
        assert_eq!(c?.unchanged, 3);
        assert_sent("set_prefix_storage_class, all in the class", &n, svc, 1);
        let on_moto = classes().await?;
        for k in ["t/acme/1", "t/acme/2", "t/acme/3"] {
            assert_eq!(on_moto[k].as_deref(), Some("GLACIER"), "{k} on moto");
        }
        assert!(
            on_moto["t/globex/1"]
                .as_deref()
                .is_none_or(|c| c == "STANDARD"),
            "another prefix is left alone: {on_moto:?}"
        );
        // moto refuses the read, as S3 does
        let refused = witness
            .get_object()
            .bucket(&name)
            .key("t/acme/2")
            .send()
            .await;
        assert!(
            format!("{refused:?}").contains("InvalidObjectState"),
            "{refused:?}"
        );
        let (read, n) = count(s3.get_object(&name, "t/acme/2")).await;
        let err = read.expect_err("archived");
        assert_eq!(err.kind(), &provisio::ErrorKind::Conflict, "{err}");
        assert_sent("get_object of an archived object", &n, svc, 1);

        // back: a RestoreObject per object first (202: started), then the copies
        let (c, n) =
            count(s3.set_prefix_storage_class(&name, "t/acme/", StorageClass::Standard)).await;
        let c = c?;
        assert_eq!((c.changed, c.pending), (0, 3));
        assert_sent("set_prefix_storage_class, restores started", &n, svc, 1 + 3);
        let restore = witness
            .head_object()
            .bucket(&name)
            .key("t/acme/3")
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("head: {e:?}")))?;
        assert!(restore.restore().is_some(), "RestoreObject reached moto");
        // moto restores at once: the next call copies
        let (c, n) =
            count(s3.set_prefix_storage_class(&name, "t/acme/", StorageClass::Standard)).await;
        let c = c?;
        assert_eq!((c.changed, c.pending), (3, 0));
        assert_sent(
            "set_prefix_storage_class, restored (RestoreObject answering 200 + CopyObject each)",
            &n,
            svc,
            1 + 3 * 2,
        );
        let on_moto = classes().await?;
        for k in ["t/acme/1", "t/acme/2", "t/acme/3"] {
            assert!(
                on_moto[k].as_deref().is_none_or(|c| c == "STANDARD"),
                "{k} is back in STANDARD on moto: {on_moto:?}"
            );
        }
        let (body, _) = s3.get_object(&name, "t/acme/2").await?;
        assert_eq!(&body[..], b"body t/acme/2");

        // expiry rules, beside the bucket's archive rule
        let (r, n) = count(s3.ensure_expiry_rule(&name, "t/acme/", 30)).await;
        assert_eq!(r?.outcome, Outcome::Created);
        assert_sent(
            "ensure_expiry_rule, new (Get + PutBucketLifecycle)",
            &n,
            svc,
            2,
        );
        let (r, n) = count(s3.ensure_expiry_rule(&name, "t/acme/", 30)).await;
        assert_eq!(r?.outcome, Outcome::Unchanged);
        assert_sent("ensure_expiry_rule, unchanged", &n, svc, 1);
        let (r, n) = count(s3.get_expiry_rule(&name, "t/acme/")).await;
        assert_eq!(r?.map(|r| r.days), Some(30));
        assert_sent("get_expiry_rule", &n, svc, 1);
        let lifecycle = witness
            .get_bucket_lifecycle_configuration()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| provisio::Error::unexpected(format!("lifecycle: {e:?}")))?;
        let ids: Vec<(String, Option<i32>)> = lifecycle
            .rules()
            .iter()
            .map(|r| {
                (
                    r.id().unwrap_or_default().to_string(),
                    r.expiration().and_then(|e| e.days()),
                )
            })
            .collect();
        assert!(
            ids.contains(&(provisio_aws::ARCHIVE_RULE_ID.to_string(), None)),
            "{ids:?}"
        );
        assert!(
            ids.contains(&(provisio::storage::expiry_rule_id("t/acme/"), Some(30))),
            "{ids:?}"
        );
        assert_eq!(
            s3.get_bucket(&name)
                .await?
                .expect("bucket")
                .archive_after_days,
            Some(90),
            "the archive rule is kept"
        );
        let (d, n) = count(s3.delete_expiry_rule(&name, "t/acme/")).await;
        assert_eq!(d?, Deleted::Deleted);
        assert_sent("delete_expiry_rule (Get + PutBucketLifecycle)", &n, svc, 2);
        let (d, n) = count(s3.delete_expiry_rule(&name, "t/acme/")).await;
        assert_eq!(d?, Deleted::AlreadyGone);
        assert_sent("delete_expiry_rule, gone", &n, svc, 1);

        s3.delete_prefix(&name, "").await?;
        s3.delete_bucket(&name).await?;
        Ok(())
    });
}
