//! Offline tests of the error boundary: real SDK clients, real response parsing, canned HTTP
//! answers from `aws-smithy-mocks`.
//!
//! Each test needs the cargo feature of its service; the helpers are shared.
// A build without every service leaves some helpers unused; the full build lints them all.
#![cfg_attr(
    not(all(
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

#[cfg(feature = "s3")]
use crate::S3Storage;
#[cfg(feature = "secretsmanager")]
use crate::SecretsManagerStore;
#[cfg(feature = "sesv2")]
use crate::SesMail;
#[cfg(feature = "sesv2")]
use provisio::Mail;
#[cfg(feature = "s3")]
use provisio::ObjectStorage;
#[cfg(feature = "secretsmanager")]
use provisio::SecretStore;

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

fn json_error(code: &str) -> String {
    format!("{{\"__type\":\"{code}\",\"message\":\"m\"}}")
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
