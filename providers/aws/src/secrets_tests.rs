//! Secrets Manager on a local scripted server: the JSON 1.1 requests provisio sends (target,
//! body, token), its reading of the answers, the error codes, and that a secret value never
//! reaches an error.

use crate::wire::tests::{Scripted, aws, serve_scripted};
use provisio::{Confirm, ErrorKind, PageRequest, SecretStore, SecretString, Tags};
use serde_json::Value;

fn json_error(code: &str) -> Scripted {
    Scripted::from((400, format!("{{\"__type\":\"{code}\",\"message\":\"m\"}}")))
        .with_header("content-type", "application/x-amz-json-1.1")
}

fn ok(body: &str) -> Scripted {
    Scripted::from((200, body)).with_header("content-type", "application/x-amz-json-1.1")
}

async fn store(
    answers: Vec<Scripted>,
    account: &str,
) -> (crate::SecretsManagerStore, crate::wire::tests::Log) {
    let (url, log) = serve_scripted(answers).await;
    let aws = aws(&url, 1, account).await;
    let sm = aws.secrets();
    (std::sync::Arc::unwrap_or_clone(sm), log)
}

fn body(log: &crate::wire::tests::Log, i: usize) -> Value {
    serde_json::from_str(&log.lock().unwrap()[i].body).unwrap()
}

#[tokio::test]
async fn error_codes_become_kinds() {
    let (sm, log) = store(
        vec![
            json_error("ThrottlingException"),
            Scripted::from((500, "{\"__type\":\"InternalServiceError\"}")),
            json_error("AccessDeniedException"),
            json_error("ResourceNotFoundException"),
            json_error("ExpiredTokenException"),
            json_error("InvalidRequestException"),
        ],
        "acct-sm-codes",
    )
    .await;
    let kinds = [
        ErrorKind::RateLimited { retry_after: None },
        ErrorKind::Transient,
        ErrorKind::PermissionDenied,
        ErrorKind::NotFound,
        ErrorKind::Unauthenticated,
        // a read of a secret scheduled for deletion: not there, to a caller
        ErrorKind::NotFound,
    ];
    for want in kinds {
        let err = sm.get_secret("acme-db-password").await.unwrap_err();
        assert_eq!(err.kind(), &want, "{err}");
        assert_eq!(err.resource(), Some("acme-db-password"));
        assert_eq!(err.operation(), Some("secrets.get_secret"));
    }
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!((seen.method.as_str(), seen.target.as_str()), ("POST", "/"));
    assert_eq!(
        seen.header("x-amz-target"),
        Some("secretsmanager.GetSecretValue")
    );
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.contains("/us-east-1/secretsmanager/aws4_request"),
        "{auth}"
    );
}

#[tokio::test]
async fn purge_needs_the_right_confirm_before_any_call() {
    let (sm, log) = store(vec![], "acct-sm-purge").await;
    let err = sm
        .purge_secret("acme-db-password", &Confirm::named("other"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Protected);
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn secret_values_never_reach_errors() {
    let (sm, log) = store(vec![json_error("AccessDeniedException")], "acct-sm-leak").await;
    let value = SecretString::new("very-secret-value-123");
    let err = sm
        .put_secret("acme-db-password", &value, &Tags::new())
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?} {sm:?}");
    assert!(!shown.contains("very-secret-value-123"), "{shown}");
    // The value did go to the service, in the body.
    assert_eq!(body(&log, 0)["SecretString"], "very-secret-value-123");
}

#[tokio::test]
async fn put_of_an_existing_secret_reads_then_writes_only_what_differs() {
    let described = r#"{"Name":"acme-db-password","Tags":[{"Key":"tenant","Value":"acme"}],
        "VersionIdsToStages":{"v-old":["AWSPREVIOUS"],"v-1":["AWSCURRENT"]}}"#;
    let (sm, log) = store(
        vec![
            json_error("ResourceExistsException"),
            ok(described),
            ok(r#"{"SecretString":"old","VersionId":"v-1"}"#),
            ok(r#"{"VersionId":"v-2"}"#),
        ],
        "acct-sm-put",
    )
    .await;
    let tags: Tags = [("tenant".to_string(), "acme".to_string())].into();
    let put = sm
        .put_secret("acme-db-password", &SecretString::new("new"), &tags)
        .await
        .unwrap();
    assert_eq!(put.outcome, provisio::Outcome::Updated, "{put:?}");
    assert_eq!(put.value.version, "v-2");
    let targets: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.header("x-amz-target").unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        targets,
        [
            "secretsmanager.CreateSecret",
            "secretsmanager.DescribeSecret",
            "secretsmanager.GetSecretValue",
            "secretsmanager.PutSecretValue"
        ]
    );
    let create = body(&log, 0);
    assert_eq!(create["Name"], "acme-db-password");
    assert_eq!(
        create["Tags"],
        serde_json::json!([{"Key": "tenant", "Value": "acme"}])
    );
    let token = create["ClientRequestToken"].as_str().unwrap();
    assert_eq!(token.len(), 36, "{token}");
    let put_token = body(&log, 3)["ClientRequestToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(put_token, token, "a token per call");
}

#[tokio::test]
async fn listing_filters_by_name_and_keeps_exact_live_prefixes() {
    let page = r#"{"SecretList":[
        {"Name":"acme/db","SecretVersionsToStages":{"v1":["AWSCURRENT"]},"Tags":[]},
        {"Name":"ACME/other"},
        {"Name":"acme/gone","DeletedDate":1767225600.0}
    ],"NextToken":"t2"}"#;
    let (sm, log) = store(vec![ok(page)], "acct-sm-list").await;
    let got = sm
        .list_secrets("acme/", &PageRequest::with_limit(50))
        .await
        .unwrap();
    let names: Vec<&str> = got.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["acme/db"]);
    assert_eq!(got.items[0].version, "v1");
    assert_eq!(got.next.as_deref(), Some("t2"));
    assert_eq!(
        body(&log, 0),
        serde_json::json!({"MaxResults": 50, "Filters": [{"Key": "name", "Values": ["acme/"]}]})
    );
}

#[tokio::test]
async fn delete_of_a_secret_already_scheduled_is_already_gone() {
    let (sm, log) = store(
        vec![
            json_error("InvalidRequestException"),
            ok(r#"{"Name":"acme-db-password","DeletedDate":1767225600.5}"#),
            json_error("ResourceNotFoundException"),
        ],
        "acct-sm-delete",
    )
    .await;
    assert_eq!(
        sm.delete_secret("acme-db-password", 7).await.unwrap(),
        provisio::Deleted::AlreadyGone
    );
    assert_eq!(body(&log, 0)["RecoveryWindowInDays"], 7);
    assert_eq!(
        sm.delete_secret("acme-db-password", 7).await.unwrap(),
        provisio::Deleted::AlreadyGone
    );
    assert_eq!(log.lock().unwrap().len(), 3);
}
