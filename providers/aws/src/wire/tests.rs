//! provisio's AWS client against a local HTTP server that records each request and answers from a
//! script: the request's shape and signature, error classification, pacing, retries, and the
//! EC2 and RDS providers' handling of the answers.

use super::*;
use crate::{Aws, AwsConfig};
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path and query as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.body.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

pub(crate) type Log = Arc<Mutex<Vec<Seen>>>;

/// One scripted answer: status, extra headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Scripted {
    /// An answer with this extra header.
    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Scripted {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

impl From<(u16, String)> for Scripted {
    fn from((status, body): (u16, String)) -> Scripted {
        Scripted {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

impl From<(u16, &str)> for Scripted {
    fn from((status, body): (u16, &str)) -> Scripted {
        Scripted::from((status, body.to_string()))
    }
}

/// Serves the scripted answers (status, body), one per request, in order; then 500s.
async fn serve(answers: Vec<(u16, String)>) -> (String, Log) {
    serve_scripted(answers.into_iter().map(Scripted::from).collect()).await
}

/// Serves the scripted answers, one per request, in order; then 500s. Returns the server's URL
/// (with a trailing `/`) and the log of what it was sent.
pub(crate) async fn serve_scripted(answers: Vec<Scripted>) -> (String, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let log: Log = Arc::default();
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    let seen = log.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (seen, answers) = (seen.clone(), answers.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Headers, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let mut request_line = head.lines().next().unwrap_or("").split(' ');
                    let method = request_line.next().unwrap_or("").to_string();
                    let target = request_line.next().unwrap_or("").to_string();
                    let headers: Vec<(String, String)> = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let length: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body =
                        String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
                    buf.drain(..head_end + length);
                    let head_only = method == "HEAD";
                    seen.lock().unwrap().push(Seen {
                        method,
                        target,
                        headers,
                        body,
                    });
                    let answer = answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| Scripted::from((500, "out of script")));
                    let mut extra = String::new();
                    let mut typed = false;
                    for (k, v) in &answer.headers {
                        typed |= k.eq_ignore_ascii_case("content-type");
                        extra.push_str(&format!("{k}: {v}\r\n"));
                    }
                    if !typed {
                        extra.push_str("content-type: text/xml\r\n");
                    }
                    // A HEAD answer has no body, but says how long the object is.
                    let length = answer.body.len();
                    let body = if head_only { "" } else { answer.body.as_str() };
                    let reply = format!(
                        "HTTP/1.1 {} X\r\n{extra}content-length: {length}\r\n\r\n{body}",
                        answer.status
                    );
                    if socket.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, log)
}

/// The error answer of a Query-protocol service other than EC2 (RDS, STS, ...) and of Route 53.
pub(crate) fn query_error(code: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

fn ec2_error(code: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code><Message>m</Message></Error></Errors><RequestID>r</RequestID></Response>"
    )
}

const NO_INSTANCES: &str = "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>";

/// `action` without parameters, for operation `op` on `resource`.
async fn bare(client: &Client, action: &str, safety: Safety, resource: &str) -> Result<Element> {
    client
        .query(action, &Params::new(), safety, "op", resource)
        .await
}

/// The account `account` behind the emulator at `url`, with `attempts` attempts per call.
pub(crate) async fn aws(url: &str, attempts: u32, account: &str) -> Aws {
    let mut config = AwsConfig::for_emulator(url);
    config.max_attempts = attempts;
    config.account = Some(account.to_string());
    Aws::connect(config).await.unwrap()
}

/// A client of `api` for `url`, as `Aws` builds one, with `attempts` attempts per call.
pub(crate) async fn client(api: Api, url: &str, attempts: u32, account: &str) -> Client {
    let aws = aws(url, attempts, account).await;
    let info = ProviderInfo::new(format!("aws-{}", api.service), account);
    Client::new(api, aws.sdk_config(), aws.config(), info)
}

#[tokio::test]
async fn requests_are_form_posts_signed_for_the_service_and_region() {
    let (url, log) = serve(vec![(200, NO_INSTANCES.to_string())]).await;
    let ec2 = client(EC2, &url, 1, "acct-shape").await;
    let mut params = Params::new();
    params
        .set("Filter.1.Name", "tag:Name")
        .set("Filter.1.Value.1", "a b&c=d");
    let root = ec2
        .query("DescribeInstances", &params, Safety::Idempotent, "op", "r")
        .await
        .unwrap();
    assert_eq!(root.name, "DescribeInstancesResponse");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.param("Action").as_deref(), Some("DescribeInstances"));
    assert_eq!(seen.param("Version").as_deref(), Some("2016-11-15"));
    assert_eq!(seen.param("Filter.1.Value.1").as_deref(), Some("a b&c=d"));
    assert!(
        seen.header("content-type")
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=testing/"),
        "{auth}"
    );
    assert!(auth.contains("/us-east-1/ec2/aws4_request"), "{auth}");
    assert!(auth.contains("SignedHeaders=content-type;host;x-amz-date"));
    assert!(seen.header("x-amz-date").is_some());
    // The signing secret never travels.
    assert!(!format!("{:?}", seen.headers).contains("testing\""));
    assert_eq!(
        format!("{params:?}"),
        r#"["Filter.1.Name", "Filter.1.Value.1"]"#
    );
}

#[tokio::test]
async fn error_codes_and_statuses_become_kinds_and_throttling_pauses_the_account() {
    let (url, _log) = serve(vec![
        (503, ec2_error("RequestLimitExceeded")),
        (403, ec2_error("UnauthorizedOperation")),
        (400, ec2_error("InvalidInstanceID.NotFound")),
        (401, ec2_error("AuthFailure")),
        (502, "<html>bad gateway</html>".to_string()),
        (200, "<DescribeInstancesResponse><broken>".to_string()),
    ])
    .await;
    let account = "acct-errors";
    let ec2 = client(EC2, &url, 1, account).await;
    let none = Params::new();
    let call = || {
        ec2.query(
            "DescribeInstances",
            &none,
            Safety::Idempotent,
            "compute.x",
            "i-1",
        )
    };
    let err = call().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(
        (err.provider(), err.operation(), err.resource()),
        (Some("aws"), Some("compute.x"), Some("i-1"))
    );
    assert!(err.message().starts_with("RequestLimitExceeded (HTTP 503)"));
    // The whole account waits before its next request.
    let info = ProviderInfo::new("aws-ec2", account);
    assert!(provisio::requests::limiter().reserve(&info) > Duration::from_millis(500));
    tokio::time::sleep(THROTTLE_PAUSE).await;
    assert_eq!(
        call().await.unwrap_err().kind(),
        &ErrorKind::PermissionDenied
    );
    assert_eq!(call().await.unwrap_err().kind(), &ErrorKind::NotFound);
    assert_eq!(
        call().await.unwrap_err().kind(),
        &ErrorKind::Unauthenticated
    );
    let err = call().await.unwrap_err();
    assert_eq!(
        (err.kind(), err.message()),
        (&ErrorKind::Transient, "HTTP 502")
    );
    let err = call().await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert!(
        err.message()
            .contains("DescribeInstances: unreadable answer")
    );
}

#[tokio::test]
async fn retries_follow_max_attempts_and_the_call_s_safety() {
    let (url, log) = serve(vec![
        (500, query_error("InternalFailure")),
        (200, "<DescribeDBInstancesResponse/>".to_string()),
        (500, query_error("InternalFailure")),
    ])
    .await;
    let rds = client(RDS, &url, 3, "acct-retries").await;
    let ok = bare(&rds, "DescribeDBInstances", Safety::Idempotent, "db")
        .await
        .unwrap();
    assert_eq!(ok.name, "DescribeDBInstancesResponse");
    assert_eq!(log.lock().unwrap().len(), 2);
    // A create that may have happened is not sent twice on a server error.
    let err = bare(&rds, "CreateDBInstance", Safety::OnlyIfRefused, "db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(log.lock().unwrap().len(), 3);
    assert_eq!(
        log.lock().unwrap()[2].param("Version").as_deref(),
        Some("2014-10-31")
    );
}

#[tokio::test]
async fn nothing_listening_is_transient_and_no_credentials_is_unauthenticated() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let ec2 = client(EC2, &url, 1, "acct-down").await;
    let err = bare(&ec2, "DescribeInstances", Safety::Idempotent, "r")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);

    let sdk = aws_types::SdkConfig::builder()
        .region(aws_types::region::Region::new("eu-west-1"))
        .build();
    let config = AwsConfig::new("eu-west-1");
    let anonymous = Client::new(EC2, &sdk, &config, ProviderInfo::new("aws-ec2", "x"));
    assert_eq!(anonymous.inner.url, "https://ec2.eu-west-1.amazonaws.com");
    let err = bare(&anonymous, "DescribeInstances", Safety::Idempotent, "r")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated);
    let china = Client::new(
        RDS,
        &aws_types::SdkConfig::builder()
            .region(aws_types::region::Region::new("cn-north-1"))
            .build(),
        &AwsConfig::new("cn-north-1"),
        ProviderInfo::new("aws-rds", "x"),
    );
    assert_eq!(china.inner.url, "https://rds.cn-north-1.amazonaws.com.cn");
}

#[test]
fn endpoints_hosts_and_signing_regions_follow_the_service() {
    let sdk = |region: &str| {
        aws_types::SdkConfig::builder()
            .region(aws_types::region::Region::new(region.to_string()))
            .build()
    };
    let info = || ProviderInfo::new("aws", "x");
    let at = |api, region: &str| Client::new(api, &sdk(region), &AwsConfig::new(region), info());
    let route53 = at(ROUTE53, "eu-west-1");
    assert_eq!(
        (route53.inner.url.as_str(), route53.region()),
        ("https://route53.amazonaws.com", "us-east-1")
    );
    assert_eq!(at(ROUTE53, "cn-north-1").region(), "cn-northwest-1");
    assert_eq!(
        at(SESV2, "eu-west-1").inner.url,
        "https://email.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        at(SECRETS_MANAGER, "eu-west-1").inner.url,
        "https://secretsmanager.eu-west-1.amazonaws.com"
    );
    // S3: the bucket in the host, unless its name has a dot or path style is configured.
    let s3 = at(S3, "eu-west-1");
    let req = Request::get("/a%20b/c")
        .on_bucket("tenant-acme")
        .param("list-type", "2");
    assert_eq!(
        s3.url_of(&req).unwrap(),
        "https://tenant-acme.s3.eu-west-1.amazonaws.com/a%20b/c?list-type=2"
    );
    let dotted = Request::get("/")
        .on_bucket("acme.example")
        .param("prefix", "a b/+");
    assert_eq!(
        s3.url_of(&dotted).unwrap(),
        "https://s3.eu-west-1.amazonaws.com/acme.example/?prefix=a%20b%2F%2B"
    );
    let emulator = Client::new(
        S3,
        &sdk("eu-west-1"),
        &AwsConfig::for_emulator("http://127.0.0.1:5055/"),
        info(),
    );
    assert_eq!(
        emulator.url_of(&req).unwrap(),
        "http://127.0.0.1:5055/tenant-acme/a%20b/c?list-type=2"
    );
}

#[cfg(feature = "ec2")]
#[tokio::test]
async fn ec2_answers_become_instances_and_errors() {
    use provisio::Compute;
    let instance = "<item><instanceId>i-0123456789abcdef0</instanceId><imageId>ami-1</imageId>\
        <instanceState><code>16</code><name>running</name></instanceState>\
        <privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>203.0.113.9</ipAddress>\
        <instanceType>t3.micro</instanceType><launchTime>2026-12-02T10:00:00.000Z</launchTime>\
        <tagSet><item><key>Name</key><value>acme-web</value></item>\
        <item><key>team</key><value>a&amp;b</value></item></tagSet></item>";
    let described = format!(
        "<DescribeInstancesResponse><reservationSet><item><instancesSet>{instance}</instancesSet></item></reservationSet></DescribeInstancesResponse>"
    );
    let (url, log) = serve(vec![
        (200, described),
        (503, ec2_error("RequestLimitExceeded")),
        (403, ec2_error("UnauthorizedOperation")),
        (400, ec2_error("InvalidInstanceID.NotFound")),
        (401, ec2_error("AuthFailure")),
    ])
    .await;
    let ec2 = aws(&url, 1, "acct-ec2-answers").await.compute();
    let id = "i-0123456789abcdef0";
    let got = ec2.get_instance(id).await.unwrap().unwrap();
    assert_eq!(got.id, id);
    assert_eq!(got.name, "acme-web");
    assert_eq!(got.state, provisio::compute::InstanceState::Running);
    assert_eq!(got.size, "t3.micro");
    assert_eq!(got.public_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(got.private_ip.as_deref(), Some("10.0.0.5"));
    assert_eq!(got.tags["team"], "a&b");
    assert_eq!(
        log.lock().unwrap()[0].param("InstanceId.1").as_deref(),
        Some(id)
    );
    let err = ec2.get_instance(id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(err.resource(), Some(id));
    tokio::time::sleep(THROTTLE_PAUSE).await;
    let err = ec2.get_instance(id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied);
    assert_eq!(ec2.get_instance(id).await.unwrap(), None);
    let err = ec2.get_instance(id).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated);
    // A malformed id is refused before any request.
    let sent = log.lock().unwrap().len();
    assert!(ec2.get_instance("vol-1").await.is_err());
    assert_eq!(log.lock().unwrap().len(), sent);
}

#[cfg(feature = "rds")]
#[tokio::test]
async fn rds_missing_instance_is_none_and_throttling_rate_limited() {
    use provisio::Database;
    let (url, log) = serve(vec![
        (404, query_error("DBInstanceNotFound")),
        (400, query_error("Throttling")),
    ])
    .await;
    let rds = aws(&url, 1, "acct-rds-answers").await.database();
    assert_eq!(rds.get_server("acme-db").await.unwrap(), None);
    assert_eq!(
        log.lock().unwrap()[0]
            .param("DBInstanceIdentifier")
            .as_deref(),
        Some("acme-db")
    );
    let err = rds.get_server("acme-db").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    let err = rds
        .ensure_role(&provisio::database::RoleSpec {
            name: "acme".into(),
            password: provisio::SecretString::new("pw"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unsupported);
    assert_eq!(log.lock().unwrap().len(), 2);
}
