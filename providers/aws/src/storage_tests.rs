//! S3 against a local HTTP server that records each request and answers from a script
//! ([`crate::wire::tests::serve_scripted`]): the shape of every request (method, path and
//! query, key encoding, signed payload, conditional and copy headers, XML bodies with their
//! `Content-MD5`), and how each answer, error or partial failure becomes provisio's result.

use crate::S3Storage;
use crate::config::AwsConfig;
use crate::wire::tests::{Log, Scripted, Seen, aws, serve_scripted};
use provisio::storage::BucketSpec;
use provisio::{Deleted, ErrorKind, ObjectStorage, Outcome, PageRequest, ProviderInfo};
use std::sync::Arc;
use std::time::Duration;

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// The SHA-256 of an empty payload, as `x-amz-content-sha256` carries it.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// S3's error answer.
fn s3_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>m</Message><RequestId>r</RequestId></Error>"
    )
}

/// A `ListObjectsV2` page of `(key, etag)`, cut off with `next` when given.
fn listing(objects: &[(&str, &str)], next: Option<&str>) -> String {
    let contents: String = objects
        .iter()
        .map(|(key, etag)| {
            format!(
                "<Contents><Key>{}</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified>\
                 <ETag>&quot;{etag}&quot;</ETag><Size>5</Size><StorageClass>STANDARD</StorageClass></Contents>",
                crate::wire::xml::escape(key)
            )
        })
        .collect();
    let tail = match next {
        Some(token) => format!(
            "<IsTruncated>true</IsTruncated><NextContinuationToken>{token}</NextContinuationToken>"
        ),
        None => "<IsTruncated>false</IsTruncated>".to_string(),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"{XMLNS}\"><Name>assets</Name>\
         {tail}{contents}<KeyCount>{}</KeyCount></ListBucketResult>",
        objects.len()
    )
}

/// S3 for `account` (us-east-1, path style, provisio's default of one attempt per call)
/// behind a server answering `answers`.
async fn storage(answers: Vec<Scripted>, account: &str) -> (Arc<S3Storage>, Log) {
    let (url, log) = serve_scripted(answers).await;
    let attempts = AwsConfig::default().max_attempts;
    (aws(&url, attempts, account).await.storage(), log)
}

/// The same in `region`.
async fn storage_in(region: &str, answers: Vec<Scripted>, account: &str) -> (Arc<S3Storage>, Log) {
    let (url, log) = serve_scripted(answers).await;
    let mut config = AwsConfig::for_emulator(&url);
    config.region = Some(region.to_string());
    config.account = Some(account.to_string());
    let aws = crate::Aws::connect(config).await.unwrap();
    (aws.storage(), log)
}

fn ok(body: &str) -> Scripted {
    Scripted::from((200, body))
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

/// `(method, target)` of each request.
fn requests(log: &Log) -> Vec<(String, String)> {
    seen(log)
        .into_iter()
        .map(|s| (s.method, s.target))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(m, t)| (m.to_string(), t.to_string()))
        .collect()
}

/// Signed for S3 in `region`, with the payload's SHA-256 in `x-amz-content-sha256`.
fn assert_signed_for_s3(seen: &Seen, region: &str) {
    let auth = seen.header("authorization").unwrap_or_default();
    assert!(
        auth.contains(&format!("/{region}/s3/aws4_request")),
        "{auth}"
    );
    assert!(auth.contains("x-amz-content-sha256"), "{auth}");
    let sha = seen.header("x-amz-content-sha256").unwrap_or_default();
    assert!(
        sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()),
        "{sha:?}"
    );
    if seen.body.is_empty() {
        assert_eq!(sha, EMPTY_SHA256);
    } else {
        assert_ne!(sha, EMPTY_SHA256);
    }
}

/// An XML body with the `Content-Type` and `Content-MD5` S3 asks for.
fn assert_xml_body(seen: &Seen, want: &str) {
    use base64::Engine as _;
    use md5::Digest;
    assert_eq!(seen.body, want);
    assert_eq!(seen.header("content-type"), Some("application/xml"));
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(want.as_bytes()));
    assert_eq!(seen.header("content-md5"), Some(md5.as_str()));
}

#[tokio::test]
async fn s3_slow_down_is_rate_limited_and_not_retried() {
    let account = "acct-s3-slow-down";
    let (s3, log) = storage(vec![Scripted::from((503, s3_error("SlowDown")))], account).await;
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert!(err.retryable());
    assert_eq!(err.provider(), Some("aws"));
    assert_eq!(err.operation(), Some("storage.get_object"));
    assert_eq!(err.resource(), Some("assets/a.txt"));
    assert!(err.message().starts_with("SlowDown (HTTP 503)"), "{err}");
    // One attempt only: the engine owns retries.
    assert_eq!(requests(&log), pairs(&[("GET", "/assets/a.txt")]));
    // The whole account pauses before its next S3 request.
    let info = ProviderInfo::new("aws-s3", account);
    assert!(provisio::requests::limiter().reserve(&info) > Duration::from_millis(500));
}

#[tokio::test]
async fn s3_500_is_transient_and_missing_key_not_found() {
    let (s3, log) = storage(
        vec![
            Scripted::from((500, s3_error("InternalError"))),
            Scripted::from((404, s3_error("NoSuchKey"))),
        ],
        "acct-s3-500",
    )
    .await;
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(err.retryable());
    let err = s3.get_object("assets", "a.txt").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(!err.retryable());
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn s3_access_denied_and_non_empty_bucket() {
    let (s3, log) = storage(
        vec![
            Scripted::from((403, s3_error("AccessDenied"))),
            Scripted::from((409, s3_error("BucketNotEmpty"))),
        ],
        "acct-s3-denied",
    )
    .await;
    let err = s3
        .list_objects("assets", "", &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    let err = s3.delete_bucket("assets").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert_eq!(err.resource(), Some("assets"));
    assert_eq!(
        requests(&log),
        pairs(&[
            ("GET", "/assets/?list-type=2&max-keys=1000"),
            ("DELETE", "/assets/"),
        ])
    );
}

#[tokio::test]
async fn invalid_names_make_no_call() {
    let (s3, log) = storage(vec![ok("")], "acct-s3-invalid").await;
    let err = s3
        .ensure_bucket(&BucketSpec::new("Bad_Bucket"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let err = s3
        .put_object("assets", "", "x".into(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let err = s3
        .list_objects("assets", "a\nb", &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    let err = s3
        .copy_prefix("assets", "a/", "Bad_Bucket", "b/")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn etags_are_quoted_md5() {
    let (s3, log) = storage(Vec::new(), "acct-s3-etag").await;
    // boto3 against moto: put_object(Body=b"hello") answers this ETag
    assert_eq!(
        s3.etag_of(b"hello").as_deref(),
        Some("\"5d41402abc4b2a76b9719d911017c592\"")
    );
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn objects_travel_with_encoded_keys_signed_payloads_and_their_headers() {
    let etag = "\"5d41402abc4b2a76b9719d911017c592\"";
    let (s3, log) = storage(
        vec![
            ok("").with_header("etag", etag),
            ok("hello")
                .with_header("etag", etag)
                .with_header("content-type", "text/plain"),
            ok("hello")
                .with_header("etag", etag)
                .with_header("content-type", "text/plain"),
            Scripted::from((404, "")),
            ok("hello").with_header("etag", etag),
            Scripted::from((204, "")),
            Scripted::from((404, "")),
        ],
        "acct-s3-objects",
    )
    .await;
    let key = "a b/c+d.txt";
    let put = s3
        .put_object("assets", key, "hello".into(), Some("text/plain"))
        .await
        .unwrap();
    assert_eq!(
        (put.key.as_str(), put.size, put.etag.as_str()),
        (key, 5, etag)
    );
    assert_eq!(put.content_type.as_deref(), Some("text/plain"));
    let (body, meta) = s3.get_object("assets", key).await.unwrap();
    assert_eq!(&body[..], b"hello");
    assert_eq!((meta.size, meta.etag.as_str()), (5, etag));
    assert_eq!(meta.content_type.as_deref(), Some("text/plain"));
    let head = s3.head_object("assets", key).await.unwrap().unwrap();
    assert_eq!(
        (head.key.as_str(), head.size, head.etag.as_str()),
        (key, 5, etag)
    );
    assert_eq!(head.content_type.as_deref(), Some("text/plain"));
    // A HEAD 404 has no body, so no code: the status says NotFound.
    assert_eq!(s3.head_object("assets", key).await.unwrap(), None);
    assert_eq!(
        s3.delete_object("assets", key).await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        s3.delete_object("assets", key).await.unwrap(),
        Deleted::AlreadyGone
    );

    let path = "/assets/a%20b/c%2Bd.txt";
    assert_eq!(
        requests(&log),
        pairs(&[
            ("PUT", path),
            ("GET", path),
            ("HEAD", path),
            ("HEAD", path),
            ("HEAD", path),
            ("DELETE", path),
            ("HEAD", path),
        ])
    );
    let seen = seen(&log);
    for s in &seen {
        assert_signed_for_s3(s, "us-east-1");
    }
    assert_eq!(seen[0].body, "hello");
    assert_eq!(seen[0].header("content-type"), Some("text/plain"));
    assert_eq!(seen[0].header("if-none-match"), None);
}

#[tokio::test]
async fn put_if_absent_is_none_when_taken_and_sent_once() {
    let etag = "\"5d41402abc4b2a76b9719d911017c592\"";
    let (url, log) = serve_scripted(vec![
        ok("").with_header("etag", etag),
        Scripted::from((412, s3_error("PreconditionFailed"))),
        Scripted::from((500, s3_error("InternalError"))),
        Scripted::from((500, s3_error("InternalError"))),
        ok("").with_header("etag", etag),
    ])
    .await;
    // Three attempts per call: the conditional put still goes once on a server error (its
    // first attempt may have written the object), the unconditional one is sent again.
    let s3 = aws(&url, 3, "acct-s3-if-absent").await.storage();
    let put = s3
        .put_object_if_absent("assets", "lock", "hello".into(), None)
        .await
        .unwrap()
        .expect("written");
    assert_eq!(put.etag, etag);
    assert_eq!(
        s3.put_object_if_absent("assets", "lock", "hello".into(), None)
            .await
            .unwrap(),
        None
    );
    let err = s3
        .put_object_if_absent("assets", "lock", "hello".into(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(err.operation(), Some("storage.put_object_if_absent"));
    assert_eq!(log.lock().unwrap().len(), 3);
    let put = s3
        .put_object("assets", "lock", "hello".into(), None)
        .await
        .unwrap();
    assert_eq!(put.etag, etag);
    let seen = seen(&log);
    assert_eq!(seen.len(), 5);
    for s in &seen[..3] {
        assert_eq!(
            (s.method.as_str(), s.target.as_str()),
            ("PUT", "/assets/lock")
        );
        assert_eq!(s.header("if-none-match"), Some("*"));
        assert!(
            s.header("authorization")
                .unwrap_or_default()
                .contains("if-none-match"),
            "the condition is signed"
        );
    }
    assert_eq!(seen[4].header("if-none-match"), None);
    assert_eq!(seen[4].header("content-type"), None);
}

#[tokio::test]
async fn listing_pages_follow_the_continuation_token() {
    let (s3, log) = storage(
        vec![
            ok(&listing(
                &[("logs/ 2026/a", "e1"), ("logs/ 2026/b", "e2")],
                Some("1/a+b="),
            )),
            ok(&listing(&[("logs/ 2026/c", "e3")], None)),
        ],
        "acct-s3-pages",
    )
    .await;
    let first = PageRequest::with_limit(2);
    let page = s3
        .list_objects("assets", "logs/ 2026", &first)
        .await
        .unwrap();
    let keys: Vec<_> = page.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["logs/ 2026/a", "logs/ 2026/b"]);
    assert_eq!(page.items[0].etag, "\"e1\"");
    assert_eq!(page.items[0].size, 5);
    assert_eq!(page.next.as_deref(), Some("1/a+b="));
    let second = first.next(&page).expect("a next page");
    let page = s3
        .list_objects("assets", "logs/ 2026", &second)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next, None);
    assert_eq!(
        requests(&log),
        pairs(&[
            (
                "GET",
                "/assets/?list-type=2&max-keys=2&prefix=logs%2F%202026"
            ),
            (
                "GET",
                "/assets/?list-type=2&max-keys=2&prefix=logs%2F%202026&continuation-token=1%2Fa%2Bb%3D"
            ),
        ])
    );
    for s in seen(&log) {
        assert_signed_for_s3(&s, "us-east-1");
    }
}

#[tokio::test]
async fn a_key_with_spaces_at_its_ends_round_trips_through_a_listing() {
    let (s3, log) = storage(
        vec![
            ok(&listing(&[(" lead.txt", "e1"), ("trail.txt ", "e2")], None)),
            ok("x"),
            ok(&listing(&[(" lead.txt", "e1")], None)),
            ok("<DeleteResult/>"),
        ],
        "acct-s3-spaces",
    )
    .await;
    let page = s3
        .list_objects("assets", "", &PageRequest::first())
        .await
        .unwrap();
    let keys: Vec<_> = page.items.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, [" lead.txt", "trail.txt "]);
    let (body, meta) = s3.get_object("assets", &page.items[0].key).await.unwrap();
    assert_eq!((&body[..], meta.key.as_str()), (&b"x"[..], " lead.txt"));
    assert_eq!(s3.delete_prefix("assets", "").await.unwrap(), 1);
    let seen = seen(&log);
    assert_eq!(seen[1].target, "/assets/%20lead.txt");
    assert_eq!(seen[3].target, "/assets/?delete=");
    assert!(
        seen[3]
            .body
            .contains("<Object><Key> lead.txt</Key></Object>"),
        "{}",
        seen[3].body
    );
}

#[tokio::test]
async fn copy_prefix_copies_what_differs_and_a_200_error_answer_fails() {
    let (s3, log) = storage(
        vec![
            ok(&listing(
                &[("src/a b.txt", "e1"), ("src/c.txt", "e3"), ("src/same.txt", "e2")],
                None,
            )),
            ok(&listing(&[("dst/same.txt", "e2"), ("dst/c.txt", "old")], None)),
            ok("<CopyObjectResult><ETag>&quot;e1&quot;</ETag></CopyObjectResult>"),
            // S3 may fail a copy after its 200 status has left: the error is in the body.
            ok("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"),
            ok(&listing(&[("src/c.txt", "e3")], None)),
            ok(&listing(&[], None)),
            ok("<CopyObjectResult><ETag>&quot;e3&quot;</ETag></CopyObjectResult>"),
        ],
        "acct-s3-copy",
    )
    .await;
    let err = s3
        .copy_prefix("assets", "src/", "assets", "dst/")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(err.operation(), Some("storage.copy_prefix"));
    assert_eq!(err.resource(), Some("assets/dst/c.txt"));
    assert!(
        err.message().starts_with("InternalError (HTTP 200)"),
        "{err}"
    );
    assert_eq!(
        s3.copy_prefix("assets", "src/", "assets", "dst/")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        requests(&log),
        pairs(&[
            ("GET", "/assets/?list-type=2&max-keys=1000&prefix=src%2F"),
            ("GET", "/assets/?list-type=2&max-keys=1000&prefix=dst%2F"),
            ("PUT", "/assets/dst/a%20b.txt"),
            ("PUT", "/assets/dst/c.txt"),
            ("GET", "/assets/?list-type=2&max-keys=1000&prefix=src%2F"),
            ("GET", "/assets/?list-type=2&max-keys=1000&prefix=dst%2F"),
            ("PUT", "/assets/dst/c.txt"),
        ])
    );
    let seen = seen(&log);
    assert_eq!(
        seen[2].header("x-amz-copy-source"),
        Some("assets/src/a%20b.txt")
    );
    assert_eq!(
        seen[3].header("x-amz-copy-source"),
        Some("assets/src/c.txt")
    );
    assert!(seen[2].body.is_empty());
    assert!(
        seen[2]
            .header("authorization")
            .unwrap_or_default()
            .contains("x-amz-copy-source"),
        "the copy source is signed"
    );
}

#[tokio::test]
async fn delete_prefix_sends_quiet_batches_and_reports_partial_failures() {
    let (s3, log) = storage(
        vec![
            ok(&listing(&[("a&b.txt", "e1"), ("b.txt", "e2"), ("c.txt", "e3")], None)),
            ok("<DeleteResult><Deleted><Key>b.txt</Key></Deleted>\
                <Error><Key>a&amp;b.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>\
                <Error><Key>c.txt</Key><Code>InternalError</Code><Message>m</Message></Error></DeleteResult>"),
            // A cut-off listing: after its batch the listing starts again from the start.
            ok(&listing(&[("a&b.txt", "e1")], Some("t1"))),
            ok("<DeleteResult/>"),
            ok(&listing(&[("c.txt", "e3")], None)),
            ok("<DeleteResult/>"),
            // A missing bucket has nothing to delete.
            Scripted::from((404, s3_error("NoSuchBucket"))),
        ],
        "acct-s3-delete",
    )
    .await;
    let err = s3.delete_prefix("assets", "").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    assert_eq!(
        err.message(),
        "2 of 3 objects were not deleted; first: a&b.txt AccessDenied"
    );
    assert_eq!(
        (err.operation(), err.resource()),
        (Some("storage.delete_prefix"), Some("assets/"))
    );
    assert_eq!(s3.delete_prefix("assets", "").await.unwrap(), 2);
    assert_eq!(s3.delete_prefix("assets", "").await.unwrap(), 0);
    let list = "/assets/?list-type=2&max-keys=1000";
    assert_eq!(
        requests(&log),
        pairs(&[
            ("GET", list),
            ("POST", "/assets/?delete="),
            ("GET", list),
            ("POST", "/assets/?delete="),
            ("GET", list),
            ("POST", "/assets/?delete="),
            ("GET", list),
        ])
    );
    let seen = seen(&log);
    assert_xml_body(
        &seen[1],
        &format!(
            "<Delete xmlns=\"{XMLNS}\"><Quiet>true</Quiet><Object><Key>a&amp;b.txt</Key></Object>\
             <Object><Key>b.txt</Key></Object><Object><Key>c.txt</Key></Object></Delete>"
        ),
    );
    assert_signed_for_s3(&seen[1], "us-east-1");
    assert!(
        seen[1]
            .header("authorization")
            .unwrap_or_default()
            .contains("content-md5")
    );
}

#[tokio::test]
async fn delete_errors_without_a_known_code_are_unexpected() {
    let (s3, _log) = storage(
        vec![
            ok(&listing(&[("a.txt", "e1")], None)),
            ok("<DeleteResult><Error><Key>a.txt</Key><Code>InternalError</Code><Message>m</Message></Error></DeleteResult>"),
        ],
        "acct-s3-delete-unexpected",
    )
    .await;
    let err = s3.delete_prefix("assets", "").await.unwrap_err();
    // A per-key failure inside a 200 answer is not retried as a transient server error.
    assert_eq!(err.kind(), &ErrorKind::Unexpected);
    assert_eq!(
        err.message(),
        "1 of 1 objects were not deleted; first: a.txt InternalError"
    );
}

#[tokio::test]
async fn a_new_bucket_outside_us_east_1_is_created_then_set_in_schema_order() {
    let (s3, log) = storage_in(
        "eu-west-1",
        vec![ok(""), ok(""), ok(""), ok(""), ok("")],
        "acct-s3-create-eu",
    )
    .await;
    let mut spec = BucketSpec::new("tenant-acme");
    spec.versioning = true;
    spec.archive_after_days = Some(30);
    spec.tags.insert("team".into(), "a&b".into());
    let made = s3.ensure_bucket(&spec).await.unwrap();
    assert_eq!(made.outcome, Outcome::Created);
    assert!(made.value.matches(&spec));
    assert_eq!(
        requests(&log),
        pairs(&[
            ("PUT", "/tenant-acme/"),
            ("PUT", "/tenant-acme/?publicAccessBlock="),
            ("PUT", "/tenant-acme/?versioning="),
            ("PUT", "/tenant-acme/?lifecycle="),
            ("PUT", "/tenant-acme/?tagging="),
        ])
    );
    let seen = seen(&log);
    let bodies = [
        format!(
            "<CreateBucketConfiguration xmlns=\"{XMLNS}\"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
        ),
        format!(
            "<PublicAccessBlockConfiguration xmlns=\"{XMLNS}\"><BlockPublicAcls>true</BlockPublicAcls>\
             <IgnorePublicAcls>true</IgnorePublicAcls><BlockPublicPolicy>true</BlockPublicPolicy>\
             <RestrictPublicBuckets>true</RestrictPublicBuckets></PublicAccessBlockConfiguration>"
        ),
        format!(
            "<VersioningConfiguration xmlns=\"{XMLNS}\"><Status>Enabled</Status></VersioningConfiguration>"
        ),
        format!(
            "<LifecycleConfiguration xmlns=\"{XMLNS}\"><Rule><ID>provisio-archive</ID><Filter><Prefix></Prefix></Filter>\
             <Status>Enabled</Status><Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition>\
             </Rule></LifecycleConfiguration>"
        ),
        format!(
            "<Tagging xmlns=\"{XMLNS}\"><TagSet><Tag><Key>team</Key><Value>a&amp;b</Value></Tag></TagSet></Tagging>"
        ),
    ];
    for (s, want) in seen.iter().zip(&bodies) {
        assert_xml_body(s, want);
        assert_signed_for_s3(s, "eu-west-1");
    }
}

#[tokio::test]
async fn a_new_bucket_in_us_east_1_is_looked_for_first_and_created_without_a_constraint() {
    let (s3, log) = storage(
        vec![
            Scripted::from((404, s3_error("NoSuchBucket"))),
            ok(""),
            ok(""),
        ],
        "acct-s3-create-us",
    )
    .await;
    let made = s3
        .ensure_bucket(&BucketSpec::new("tenant-acme"))
        .await
        .unwrap();
    assert_eq!(made.outcome, Outcome::Created);
    assert_eq!(
        requests(&log),
        pairs(&[
            ("GET", "/tenant-acme/?versioning="),
            ("PUT", "/tenant-acme/"),
            ("PUT", "/tenant-acme/?publicAccessBlock="),
        ])
    );
    let create = &seen(&log)[1];
    assert!(create.body.is_empty());
    assert_eq!(create.header("content-md5"), None);
    assert_signed_for_s3(create, "us-east-1");
}

#[tokio::test]
async fn bucket_names_taken_elsewhere_and_buckets_not_yet_readable() {
    let (s3, log) = storage_in(
        "eu-west-1",
        vec![
            Scripted::from((409, s3_error("BucketAlreadyExists"))),
            Scripted::from((409, s3_error("BucketAlreadyOwnedByYou"))),
            Scripted::from((404, s3_error("NoSuchBucket"))),
        ],
        "acct-s3-taken",
    )
    .await;
    let spec = BucketSpec::new("tenant-acme");
    let err = s3.ensure_bucket(&spec).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);
    assert!(err.message().contains("taken by another account"), "{err}");
    // Ours, says CreateBucket, but not readable yet: worth another try.
    let err = s3.ensure_bucket(&spec).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(err.message().contains("cannot be read yet"), "{err}");
    assert_eq!(log.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn bucket_exists_is_one_head_and_another_accounts_bucket_is_not_ours() {
    let (s3, log) = storage(
        vec![
            ok(""),
            Scripted::from((404, "")),
            Scripted::from((403, "")),
            Scripted::from((500, "")),
        ],
        "acct-s3-exists",
    )
    .await;
    assert!(s3.bucket_exists("assets").await.unwrap());
    assert!(!s3.bucket_exists("assets").await.unwrap());
    assert!(!s3.bucket_exists("assets").await.unwrap());
    let err = s3.bucket_exists("assets").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(
        requests(&log),
        pairs(&[
            ("HEAD", "/assets/"),
            ("HEAD", "/assets/"),
            ("HEAD", "/assets/"),
            ("HEAD", "/assets/"),
        ])
    );
}

#[tokio::test]
async fn on_aws_requests_are_signed_for_the_sdk_region_and_new_buckets_are_blocked() {
    let sdk = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("eu-west-1"))
        .build();
    let config = AwsConfig::new("eu-west-1");
    let client = crate::wire::Client::new(
        crate::wire::S3,
        &sdk,
        &config,
        ProviderInfo::new("aws-s3", "x"),
    );
    let s3 = S3Storage::new(client, &config, "x");
    assert_eq!(s3.client.region(), "eu-west-1");
    // AWS blocks public access on new buckets: nothing to write for it.
    assert!(s3.new_bucket_defaults("tenant-acme").block_public_access);
}

/// What moto never shows (its restores finish at once): a restore still running answers
/// pending after the `HeadObject` alone; an archived object without a restore gets one
/// `RestoreObject` (`RestoreAlreadyInProgress` is fine too); a finished restore is copied in
/// place with the new class and `MetadataDirective: COPY`.
#[tokio::test]
async fn restores_are_started_waited_for_and_finished_by_a_copy() {
    use provisio::storage::{StorageClass, is_rehydration_pending};
    let glacier = |restore: Option<&str>| {
        let s = Scripted::from((200, ""))
            .with_header("x-amz-storage-class", "GLACIER")
            .with_header("etag", "\"abc\"")
            .with_header("content-length", "5");
        match restore {
            Some(r) => s.with_header("x-amz-restore", r),
            None => s,
        }
    };
    let (s3, log) = storage(
        vec![
            glacier(Some("ongoing-request=\"true\"")),
            glacier(None),
            Scripted::from((202, "")),
            glacier(None),
            Scripted::from((409, s3_error("RestoreAlreadyInProgress"))),
            glacier(Some(
                "ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\"",
            )),
            Scripted::from((
                200,
                "<CopyObjectResult><ETag>&quot;abc&quot;</ETag></CopyObjectResult>",
            )),
        ],
        "acct-s3-restore",
    )
    .await;
    for _ in 0..3 {
        let e = s3
            .set_storage_class("assets", "t/a b", StorageClass::Standard)
            .await
            .unwrap_err();
        assert!(is_rehydration_pending(&e) && e.retryable(), "{e}");
    }
    let m = s3
        .set_storage_class("assets", "t/a b", StorageClass::Standard)
        .await
        .unwrap();
    assert_eq!(
        (m.storage_class, m.etag.as_str()),
        (StorageClass::Standard, "\"abc\"")
    );
    let seen: Vec<Seen> = log.lock().unwrap().clone();
    let shape: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            ("HEAD", "/assets/t/a%20b"),
            ("HEAD", "/assets/t/a%20b"),
            ("POST", "/assets/t/a%20b?restore="),
            ("HEAD", "/assets/t/a%20b"),
            ("POST", "/assets/t/a%20b?restore="),
            ("HEAD", "/assets/t/a%20b"),
            ("PUT", "/assets/t/a%20b"),
        ]
    );
    assert!(seen[2].body.contains("<Days>1</Days>"), "{}", seen[2].body);
    assert!(seen[2].header("content-md5").is_some());
    let copy = &seen[6];
    assert_eq!(copy.header("x-amz-copy-source"), Some("assets/t/a%20b"));
    assert_eq!(copy.header("x-amz-metadata-directive"), Some("COPY"));
    assert_eq!(copy.header("x-amz-storage-class"), Some("STANDARD"));
}
