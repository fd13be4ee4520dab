//! SES v2 on a local scripted server: the REST-JSON requests provisio sends, its reading of
//! the answers (DKIM tokens, verification state) and the error codes of the `x-amzn-errortype`
//! header.

use crate::wire::tests::{Scripted, aws, serve_scripted};
use provisio::mail::VerificationStatus;
use provisio::{Deleted, ErrorKind, Mail, Tags};

fn json(status: u16, body: &str) -> Scripted {
    Scripted::from((status, body)).with_header("content-type", "application/json")
}

fn error(status: u16, code: &str) -> Scripted {
    json(status, "{\"message\":\"m\"}")
        .with_header("x-amzn-errortype", &format!("{code}:http://x/"))
}

const PENDING_DOMAIN: &str = r#"{"IdentityType":"DOMAIN","VerificationStatus":"PENDING",
    "VerifiedForSendingStatus":false,"DkimAttributes":{"Tokens":["Tok1","tok2","tok3"]},
    "Tags":[{"Key":"tenant","Value":"acme"}]}"#;

#[tokio::test]
async fn dkim_tokens_become_records_and_codes_become_kinds() {
    let (url, log) = serve_scripted(vec![
        json(200, PENDING_DOMAIN),
        error(429, "TooManyRequestsException"),
        error(404, "NotFoundException"),
        error(403, "AccessDeniedException"),
    ])
    .await;
    let ses = aws(&url, 1, "acct-ses-read").await.mail();
    let id = ses
        .get_identity("Acme.Example.com")
        .await
        .unwrap()
        .expect("identity");
    assert_eq!(id.name, "acme.example.com");
    assert_eq!(id.status, VerificationStatus::Pending);
    assert_eq!(id.dns_records.len(), 3);
    assert_eq!(id.dns_records[0].name, "tok1._domainkey.acme.example.com");
    assert_eq!(id.tags.get("tenant").map(String::as_str), Some("acme"));
    let err = ses.get_identity("acme.example.com").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(ses.get_identity("acme.example.com").await.unwrap(), None);
    let err = ses.get_identity("acme.example.com").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    assert_eq!(err.operation(), Some("mail.get_identity"));
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("GET", "/v2/email/identities/acme.example.com")
    );
    let auth = seen.header("authorization").unwrap();
    assert!(auth.contains("/us-east-1/ses/aws4_request"), "{auth}");
}

#[tokio::test]
async fn ensure_creates_with_tags_after_one_read_and_delete_tolerates_gone() {
    let (url, log) = serve_scripted(vec![
        error(404, "NotFoundException"),
        json(
            200,
            r#"{"IdentityType":"EMAIL_ADDRESS","VerifiedForSendingStatus":false}"#,
        ),
        json(
            200,
            r#"{"IdentityType":"EMAIL_ADDRESS","VerificationStatus":"SUCCESS"}"#,
        ),
        json(200, "{}"),
        error(404, "NotFoundException"),
    ])
    .await;
    let ses = aws(&url, 1, "acct-ses-write").await.mail();
    let tags: Tags = [("tenant".to_string(), "a&b".to_string())].into();
    let made = ses
        .ensure_identity("ops+acme@Example.com", &tags)
        .await
        .unwrap();
    assert_eq!(made.outcome, provisio::Outcome::Created);
    assert_eq!(made.value.name, "ops+acme@example.com");
    assert_eq!(made.value.status, VerificationStatus::Pending);
    assert_eq!(
        ses.delete_identity("ops+acme@example.com").await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        ses.delete_identity("ops+acme@example.com").await.unwrap(),
        Deleted::AlreadyGone
    );
    let log = log.lock().unwrap();
    let calls: Vec<(&str, &str)> = log
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET", "/v2/email/identities/ops%2Bacme%40example.com"),
            ("POST", "/v2/email/identities"),
            ("GET", "/v2/email/identities/ops%2Bacme%40example.com"),
            ("DELETE", "/v2/email/identities/ops%2Bacme%40example.com"),
            ("GET", "/v2/email/identities/ops%2Bacme%40example.com"),
        ]
    );
    let created: serde_json::Value = serde_json::from_str(&log[1].body).unwrap();
    assert_eq!(
        created,
        serde_json::json!({"EmailIdentity": "ops+acme@example.com",
            "Tags": [{"Key": "tenant", "Value": "a&b"}]})
    );
}
