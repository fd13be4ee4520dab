//! Offline tests of the error boundary: real SDK clients, real response parsing, canned HTTP
//! answers from `aws-smithy-mocks`.
//!
//! Each test needs the cargo feature of its service; the helpers are shared.
// A build without every service leaves some helpers unused; the full build lints them all.
#![cfg_attr(
    not(all(
        feature = "route53",
        feature = "s3",
        feature = "ec2",
        feature = "secretsmanager",
        feature = "rds",
        feature = "sesv2"
    )),
    allow(dead_code, unused_imports, unused_macros)
)]

use crate::AwsConfig;
use crate::client::retry_config;
use aws_credential_types::Credentials;
use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use provisio::{ErrorKind, PageRequest};

#[cfg(feature = "route53")]
use crate::Route53Dns;
#[cfg(feature = "s3")]
use crate::S3Storage;
#[cfg(feature = "route53")]
use provisio::DnsProvider;
#[cfg(feature = "s3")]
use provisio::ObjectStorage;
#[cfg(feature = "route53")]
use provisio::dns::Zone;

const REGION: &str = "eu-west-1";

fn config() -> AwsConfig {
    AwsConfig::new(REGION)
}

fn interceptor(rules: &[&Rule]) -> MockResponseInterceptor {
    let mut i = MockResponseInterceptor::new().rule_mode(RuleMode::Sequential);
    for r in rules {
        i = i.with_rule(r);
    }
    i
}

fn creds() -> Credentials {
    Credentials::new("AKIDTEST", "secret-test", None, None, "mock")
}

/// A client of service `$svc` answering with `$rules`, with provisio's retry settings.
macro_rules! client {
    ($svc:ident, $rules:expr) => {
        $svc::Client::from_conf(
            $svc::config::Builder::new()
                .behavior_version($svc::config::BehaviorVersion::latest())
                .region($svc::config::Region::new(REGION))
                .credentials_provider(creds())
                .retry_config(retry_config(&config()))
                .http_client(create_mock_http_client())
                .interceptor(interceptor($rules))
                .build(),
        )
    };
}

fn http(status: u16, body: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut r = HttpResponse::new(
        StatusCode::try_from(status).expect("a status"),
        SdkBody::from(body.to_string()),
    );
    for (k, v) in headers {
        r.headers_mut().insert(k.to_string(), v.to_string());
    }
    r
}

fn s3_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>m</Message><RequestId>r</RequestId></Error>"
    )
}

/// The error answer of a Query-protocol service other than EC2 (RDS, STS, ...).
pub(crate) fn query_error(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_slow_down_is_rate_limited_and_not_retried_by_the_sdk() {
    let rule = mock!(aws_sdk_s3::Client::get_object)
        .then_http_response(|| http(503, &s3_error("SlowDown"), &[]));
    let s3 = S3Storage::from_client(client!(aws_sdk_s3, &[&rule]), &config(), "acct");
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert!(err.retryable());
    assert_eq!(err.provider(), Some("aws"));
    assert_eq!(err.operation(), Some("storage.get_object"));
    assert_eq!(err.resource(), Some("assets/a.txt"));
    // One attempt only: the engine owns retries.
    assert_eq!(rule.num_calls(), 1);
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_500_is_transient_and_missing_key_not_found() {
    let e500 = mock!(aws_sdk_s3::Client::get_object)
        .then_http_response(|| http(500, &s3_error("InternalError"), &[]));
    let missing = mock!(aws_sdk_s3::Client::get_object)
        .then_http_response(|| http(404, &s3_error("NoSuchKey"), &[]));
    let s3 = S3Storage::from_client(client!(aws_sdk_s3, &[&e500, &missing]), &config(), "acct");
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(err.retryable());
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(!err.retryable());
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn s3_access_denied_and_non_empty_bucket() {
    let denied = mock!(aws_sdk_s3::Client::list_objects_v2)
        .then_http_response(|| http(403, &s3_error("AccessDenied"), &[]));
    let not_empty = mock!(aws_sdk_s3::Client::delete_bucket)
        .then_http_response(|| http(409, &s3_error("BucketNotEmpty"), &[]));
    let s3 = S3Storage::from_client(
        client!(aws_sdk_s3, &[&denied, &not_empty]),
        &config(),
        "acct",
    );
    let err = s3
        .list_objects("assets", "", &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    let err = s3.delete_bucket("assets").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
}

#[cfg(feature = "s3")]
#[tokio::test]
async fn invalid_names_make_no_call() {
    let rule = mock!(aws_sdk_s3::Client::create_bucket).then_http_response(|| http(200, "", &[]));
    let s3 = S3Storage::from_client(client!(aws_sdk_s3, &[&rule]), &config(), "acct");
    let err = s3
        .ensure_bucket(&provisio::storage::BucketSpec::new("Bad_Bucket"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert_eq!(rule.num_calls(), 0);
}

#[cfg(feature = "route53")]
#[tokio::test]
async fn route53_throttling_and_missing_zone() {
    let throttled = mock!(aws_sdk_route53::Client::list_resource_record_sets)
        .then_http_response(|| http(400, &query_error("Throttling"), &[]));
    let missing = mock!(aws_sdk_route53::Client::list_resource_record_sets)
        .then_http_response(|| http(404, &query_error("NoSuchHostedZone"), &[]));
    let r53 = Route53Dns::from_client(
        client!(aws_sdk_route53, &[&throttled, &missing]),
        &config(),
        "acct",
    );
    let zone = Zone {
        id: "Z1".into(),
        name: "example.com".into(),
    };
    let err = r53
        .list_records(&zone, &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(err.operation(), Some("dns.list_records"));
    let err = r53
        .list_records(&zone, &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
}

#[cfg(feature = "route53")]
/// Three `ensure_record` calls made while the zone waits for the account's token: they leave
/// in one batch, answered by `answers` in turn. Returns each caller's result.
async fn three_batched_creates(
    rule: &Rule,
    account: &str,
) -> Vec<provisio::Result<provisio::Ensured<provisio::dns::Record>>> {
    use provisio::dns::{RecordSpec, RecordType};
    let r53 = std::sync::Arc::new(Route53Dns::from_client(
        client!(aws_sdk_route53, &[rule]),
        &config(),
        account,
    ));
    let zone = Zone {
        id: "Z1".into(),
        name: "example.com".into(),
    };
    // take the account's token: the first change waits for the next, the others join it
    provisio::requests::limiter()
        .acquire(&provisio::Provider::info(&*r53))
        .await;
    let tasks: Vec<_> = [
        RecordSpec::new("a.example.com", RecordType::A, "192.0.2.1", 300),
        RecordSpec::new("a.example.com", RecordType::Cname, "b.example.com", 300),
        RecordSpec::new("c.example.com", RecordType::Txt, "v=1", 300),
    ]
    .into_iter()
    .map(|spec| {
        let (r53, zone) = (r53.clone(), zone.clone());
        tokio::spawn(async move { r53.ensure_record(&zone, &spec).await })
    })
    .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("the caller's task"));
    }
    out
}

#[cfg(feature = "route53")]
fn change_accepted()
-> aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput {
    use aws_sdk_route53::types::{ChangeInfo, ChangeStatus};
    aws_sdk_route53::operation::change_resource_record_sets::ChangeResourceRecordSetsOutput::builder()
        .change_info(
            ChangeInfo::builder()
                .id("C1")
                .status(ChangeStatus::Insync)
                .submitted_at(aws_smithy_types::DateTime::from_secs(0))
                .build()
                .expect("a change info"),
        )
        .build()
}

#[cfg(feature = "route53")]
#[tokio::test]
async fn route53_batch_refused_without_naming_a_change_is_split() {
    // Route 53's answer to a CNAME beside another change of the batch names no change.
    let refused = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code>\
        <Message>[RRSet of type CNAME with DNS name a.example.com. is not permitted because a \
        conflicting RRSet of type A with the same DNS name already exists in zone example.com.]\
        </Message></Error><RequestId>r</RequestId></ErrorResponse>";
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .sequence()
        .http_response(|| http(400, refused, &[]))
        .output(change_accepted)
        .times(3)
        .build();
    let results = three_batched_creates(&rule, "acct-batch-split").await;
    // one refused batch of three, then each change alone
    assert_eq!(rule.num_calls(), 4);
    for r in results {
        assert_eq!(r.expect("created").outcome, provisio::Outcome::Created);
    }
}

#[cfg(feature = "route53")]
#[tokio::test]
async fn route53_batch_throttled_is_every_callers_error() {
    let rule = mock!(aws_sdk_route53::Client::change_resource_record_sets)
        .then_http_response(|| http(400, &query_error("Throttling"), &[]));
    let results = three_batched_creates(&rule, "acct-batch-throttled").await;
    assert_eq!(rule.num_calls(), 1, "one request for the three changes");
    for r in results {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
        assert_eq!(err.operation(), Some("dns.ensure_record"));
    }
}
