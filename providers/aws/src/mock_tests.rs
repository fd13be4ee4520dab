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
#[cfg(feature = "secretsmanager")]
use crate::SecretsManagerStore;
#[cfg(feature = "sesv2")]
use crate::SesMail;
#[cfg(feature = "route53")]
use provisio::DnsProvider;
#[cfg(feature = "sesv2")]
use provisio::Mail;
#[cfg(feature = "secretsmanager")]
use provisio::SecretStore;
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

/// The error answer of a Query-protocol service other than EC2 (RDS, STS, ...).
pub(crate) fn query_error(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

fn json_error(code: &str) -> String {
    format!("{{\"__type\":\"{code}\",\"message\":\"m\"}}")
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

#[cfg(feature = "secretsmanager")]
#[tokio::test]
async fn secrets_manager_codes() {
    let throttled = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_http_response(|| http(400, &json_error("ThrottlingException"), &[]));
    let internal = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_http_response(|| http(500, &json_error("InternalServiceError"), &[]));
    let denied = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_http_response(|| http(400, &json_error("AccessDeniedException"), &[]));
    let missing = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_http_response(|| http(400, &json_error("ResourceNotFoundException"), &[]));
    let expired = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .then_http_response(|| http(400, &json_error("ExpiredTokenException"), &[]));
    let sm = SecretsManagerStore::from_client(
        client!(
            aws_sdk_secretsmanager,
            &[&throttled, &internal, &denied, &missing, &expired]
        ),
        &config(),
        "acct",
    );
    let kinds = [
        ErrorKind::RateLimited { retry_after: None },
        ErrorKind::Transient,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::Unauthenticated,
    ];
    for want in kinds {
        let err = sm.get_secret("acme-db-password").await.unwrap_err();
        assert_eq!(err.kind(), &want, "{err}");
        assert_eq!(err.resource(), Some("acme-db-password"));
    }
}

#[cfg(feature = "secretsmanager")]
#[tokio::test]
async fn secrets_purge_needs_the_right_confirm_before_any_call() {
    let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
        .then_http_response(|| http(400, &json_error("ResourceNotFoundException"), &[]));
    let sm = SecretsManagerStore::from_client(
        client!(aws_sdk_secretsmanager, &[&describe]),
        &config(),
        "acct",
    );
    let err = sm
        .purge_secret("acme-db-password", &provisio::Confirm::named("other"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Protected);
    assert_eq!(describe.num_calls(), 0);
}

#[cfg(feature = "sesv2")]
#[tokio::test]
async fn ses_dkim_tokens_become_records_and_429_is_rate_limited() {
    use aws_sdk_sesv2::operation::get_email_identity::GetEmailIdentityOutput;
    use aws_sdk_sesv2::types::{DkimAttributes, IdentityType, VerificationStatus};
    let found = mock!(aws_sdk_sesv2::Client::get_email_identity).then_output(|| {
        GetEmailIdentityOutput::builder()
            .identity_type(IdentityType::Domain)
            .verification_status(VerificationStatus::Pending)
            .dkim_attributes(
                DkimAttributes::builder()
                    .tokens("tok1")
                    .tokens("tok2")
                    .tokens("tok3")
                    .build(),
            )
            .build()
    });
    let throttled = mock!(aws_sdk_sesv2::Client::get_email_identity).then_http_response(|| {
        http(
            429,
            "{\"message\":\"slow down\"}",
            &[("x-amzn-errortype", "TooManyRequestsException")],
        )
    });
    let missing = mock!(aws_sdk_sesv2::Client::get_email_identity).then_http_response(|| {
        http(
            404,
            "{\"message\":\"no\"}",
            &[("x-amzn-errortype", "NotFoundException")],
        )
    });
    let ses = SesMail::from_client(
        client!(aws_sdk_sesv2, &[&found, &throttled, &missing]),
        &config(),
        "acct",
    );
    let id = ses
        .get_identity("acme.example.com")
        .await
        .unwrap()
        .expect("identity");
    assert_eq!(id.status, provisio::mail::VerificationStatus::Pending);
    assert_eq!(id.dns_records.len(), 3);
    assert_eq!(id.dns_records[0].name, "tok1._domainkey.acme.example.com");
    let err = ses.get_identity("acme.example.com").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(ses.get_identity("acme.example.com").await.unwrap(), None);
}

#[cfg(feature = "secretsmanager")]
#[tokio::test]
async fn secret_values_never_reach_error_messages() {
    let create_denied = mock!(aws_sdk_secretsmanager::Client::create_secret)
        .then_http_response(|| http(400, &json_error("AccessDeniedException"), &[]));
    let sm = SecretsManagerStore::from_client(
        client!(aws_sdk_secretsmanager, &[&create_denied]),
        &config(),
        "acct",
    );
    let value = provisio::SecretString::new("very-secret-value-123");
    let err = sm
        .put_secret("acme-db-password", &value, &provisio::Tags::new())
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("very-secret-value-123"), "{shown}");
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
