//! Route 53 against a local HTTP server that answers from a script ([`serve_scripted`]): the
//! requests the provider sends (method, path, query, the XML of a change batch), how it reads
//! the answers (zones, pages of record sets, change info) and Route 53's refusals, and the
//! change batches of concurrent callers (`dns_batch.rs`).

use crate::wire::tests::{Log, Scripted, Seen, aws, serve_scripted};
use crate::{Aws, AwsConfig, Route53Dns};
use provisio::dns::{Record, RecordSpec, RecordType, Zone};
use provisio::{Deleted, DnsProvider, Ensured, ErrorKind, Outcome, PageRequest, Provider};
use std::sync::Arc;

const NS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

fn zone() -> Zone {
    Zone {
        id: "Z1".into(),
        name: "example.com".into(),
    }
}

/// A Route 53 provider on `account` (an account of its own per test: the rate limiter and its
/// throttling pauses are process-wide), answered by `answers`.
async fn route53(answers: Vec<Scripted>, account: &str) -> (Arc<Route53Dns>, Log) {
    let (url, log) = serve_scripted(answers).await;
    (aws(&url, 1, account).await.dns(), log)
}

/// What the server was sent so far.
fn sent(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

/// Route 53's error answer.
fn r53_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"{NS}\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId>\
         </ErrorResponse>"
    )
}

/// Route 53's answer to a change batch it refused, one `<Message>` per problem.
fn invalid_change_batch(messages: &[&str]) -> String {
    let messages: String = messages
        .iter()
        .map(|m| format!("<Message>{m}</Message>"))
        .collect();
    format!(
        "<?xml version=\"1.0\"?>\n<InvalidChangeBatch xmlns=\"{NS}\"><Messages>{messages}\
         </Messages><RequestId>r</RequestId></InvalidChangeBatch>"
    )
}

/// The `ChangeInfo` of an accepted change.
fn change_info(id: &str, status: &str) -> String {
    format!(
        "<ChangeInfo><Id>/change/{id}</Id><Status>{status}</Status>\
         <SubmittedAt>2026-12-02T10:00:00.000Z</SubmittedAt></ChangeInfo>"
    )
}

/// Route 53's answer to an accepted change batch.
fn accepted(id: &str, status: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ChangeResourceRecordSetsResponse \
         xmlns=\"{NS}\">{}</ChangeResourceRecordSetsResponse>",
        change_info(id, status)
    )
}

/// A simple record set as `ListResourceRecordSets` has it.
fn rrset(name: &str, rtype: &str, ttl: u32, values: &[&str]) -> String {
    let values: String = values
        .iter()
        .map(|v| format!("<ResourceRecord><Value>{v}</Value></ResourceRecord>"))
        .collect();
    format!(
        "<ResourceRecordSet><Name>{name}</Name><Type>{rtype}</Type><TTL>{ttl}</TTL>\
         <ResourceRecords>{values}</ResourceRecords></ResourceRecordSet>"
    )
}

/// The inside of a `ListResourceRecordSetsResponse`: `sets`, then what follows them.
fn listing_of(sets: &[String], next: Option<(&str, &str, Option<&str>)>) -> String {
    let more = match next {
        Some((name, rtype, id)) => format!(
            "<IsTruncated>true</IsTruncated><NextRecordName>{name}</NextRecordName>\
             <NextRecordType>{rtype}</NextRecordType>{}",
            id.map(|i| format!("<NextRecordIdentifier>{i}</NextRecordIdentifier>"))
                .unwrap_or_default()
        ),
        None => "<IsTruncated>false</IsTruncated>".to_string(),
    };
    format!(
        "<ResourceRecordSets>{}</ResourceRecordSets>{more}<MaxItems>20</MaxItems>",
        sets.concat()
    )
}

/// A `ListResourceRecordSets` answer.
fn listing(sets: &[String], next: Option<(&str, &str, Option<&str>)>) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListResourceRecordSetsResponse \
         xmlns=\"{NS}\">{}</ListResourceRecordSetsResponse>",
        listing_of(sets, next)
    )
}

/// A `ListHostedZonesByName` answer of `(id, name, private)` zones.
fn zones(list: &[(&str, &str, bool)]) -> String {
    let zones: String = list
        .iter()
        .map(|(id, name, private)| {
            format!(
                "<HostedZone><Id>/hostedzone/{id}</Id><Name>{name}</Name>\
                 <CallerReference>ref-{id}</CallerReference><Config><Comment>c</Comment>\
                 <PrivateZone>{private}</PrivateZone></Config>\
                 <ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListHostedZonesByNameResponse \
         xmlns=\"{NS}\"><HostedZones>{zones}</HostedZones><IsTruncated>false</IsTruncated>\
         <MaxItems>20</MaxItems></ListHostedZonesByNameResponse>"
    )
}

/// The (action, name, type, values) of each change of a change batch's body.
fn changes_in(body: &str) -> Vec<(String, String, String, Vec<String>)> {
    let root = crate::wire::xml::parse(body.as_bytes()).expect("a change batch is XML");
    assert_eq!(root.name, "ChangeResourceRecordSetsRequest");
    assert_eq!(root.text_at(&["ChangeBatch", "Comment"]), Some("provisio"));
    root.list(&["ChangeBatch", "Changes"], "Change")
        .map(|c| {
            let set = c.child("ResourceRecordSet").expect("a record set");
            (
                c.text_at(&["Action"]).unwrap_or_default().to_string(),
                set.text_at(&["Name"]).unwrap_or_default().to_string(),
                set.text_at(&["Type"]).unwrap_or_default().to_string(),
                set.list(&["ResourceRecords"], "ResourceRecord")
                    .map(|r| r.raw_at(&["Value"]).unwrap_or_default().to_string())
                    .collect(),
            )
        })
        .collect()
}

/// Whether `seen` is a change batch: `POST` of an XML document to the zone's record sets,
/// with its MD5, signed for Route 53 in us-east-1.
fn assert_change_request(seen: &Seen) {
    use base64::Engine as _;
    use md5::Digest;
    assert_eq!(
        (seen.method.as_str(), seen.target.as_str()),
        ("POST", "/2013-04-01/hostedzone/Z1/rrset/")
    );
    assert_eq!(seen.header("content-type"), Some("application/xml"));
    let md5 =
        base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(seen.body.as_bytes()));
    assert_eq!(seen.header("content-md5"), Some(md5.as_str()));
    let auth = seen.header("authorization").expect("signed");
    assert!(auth.contains("/us-east-1/route53/aws4_request"), "{auth}");
}

#[tokio::test]
async fn find_zone_asks_once_and_prefers_the_public_zone() {
    let (r53, log) = route53(
        vec![
            Scripted::from((
                200,
                zones(&[
                    ("ZPRIVATE", "example.com.", true),
                    ("ZPUBLIC", "example.com.", false),
                    ("ZSUB", "sub.example.com.", false),
                ]),
            )),
            Scripted::from((200, zones(&[("ZOTHER", "other.test.", false)]))),
        ],
        "acct-r53-zones",
    )
    .await;
    let found = r53.find_zone("Example.COM.").await.unwrap();
    assert_eq!(
        found,
        Some(Zone {
            id: "ZPUBLIC".into(),
            name: "example.com".into(),
        })
    );
    let seen = sent(&log);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(
        seen[0].target,
        "/2013-04-01/hostedzonesbyname?dnsname=example.com.&maxitems=20"
    );
    assert_eq!(seen[0].body, "");
    let auth = seen[0].header("authorization").expect("signed");
    assert!(auth.contains("/us-east-1/route53/aws4_request"), "{auth}");
    // remembered: no second request
    assert_eq!(r53.find_zone("example.com").await.unwrap(), found);
    assert_eq!(sent(&log).len(), 1);
    // a name Route 53 has no zone of
    assert_eq!(r53.find_zone("nothing.test").await.unwrap(), None);
    assert_eq!(
        sent(&log)[1].target,
        "/2013-04-01/hostedzonesbyname?dnsname=nothing.test.&maxitems=20"
    );
}

#[tokio::test]
async fn route53_throttling_and_missing_zone() {
    let (r53, log) = route53(
        vec![
            Scripted::from((200, zones(&[("Z1", "example.com.", false)]))),
            Scripted::from((400, r53_error("Throttling", "Rate exceeded"))),
            Scripted::from((404, r53_error("NoSuchHostedZone", "No hosted zone found"))),
            Scripted::from((200, zones(&[("Z2", "example.com.", false)]))),
        ],
        "acct-r53-errors",
    )
    .await;
    let zone = r53.find_zone("example.com").await.unwrap().expect("a zone");
    assert_eq!(zone, self::zone());
    let err = r53
        .list_records(&zone, &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
    assert_eq!(
        (err.provider(), err.operation(), err.resource()),
        (Some("aws"), Some("dns.list_records"), Some("example.com"))
    );
    assert!(
        err.message()
            .starts_with("Throttling (HTTP 400): Rate exceeded")
    );
    let err = r53
        .list_records(&zone, &PageRequest::first())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert_eq!(err.operation(), Some("dns.list_records"));
    let seen = sent(&log);
    assert_eq!(
        (seen[1].method.as_str(), seen[1].target.as_str()),
        ("GET", "/2013-04-01/hostedzone/Z1/rrset?maxitems=100")
    );
    // the zone is gone: its id is forgotten and looked up again
    assert_eq!(
        r53.find_zone("example.com").await.unwrap().map(|z| z.id),
        Some("Z2".to_string())
    );
    assert_eq!(sent(&log).len(), 4);
}

#[tokio::test]
async fn record_sets_are_read_page_by_page() {
    let weighted = "<ResourceRecordSet><Name>c.example.com.</Name><Type>A</Type>\
        <SetIdentifier>blue</SetIdentifier><Weight>10</Weight><TTL>60</TTL><ResourceRecords>\
        <ResourceRecord><Value>192.0.2.3</Value></ResourceRecord></ResourceRecords>\
        </ResourceRecordSet>";
    let (r53, log) = route53(
        vec![
            // list_records, two pages
            Scripted::from((
                200,
                listing(
                    &[
                        rrset("a.example.com.", "A", 300, &["192.0.2.1"]),
                        rrset("b.example.com.", "TXT", 60, &["\"v=1\""]),
                    ],
                    Some(("c.example.com.", "A", Some("blue"))),
                ),
            )),
            Scripted::from((200, listing(&[weighted.to_string()], None))),
            // get_record of a name whose sets span two pages
            Scripted::from((
                200,
                listing(
                    &[
                        rrset("a.example.com.", "A", 300, &["192.0.2.1"]),
                        weighted.replace("c.example.com.", "a.example.com."),
                    ],
                    Some(("a.example.com.", "TXT", None)),
                ),
            )),
            Scripted::from((
                200,
                listing(
                    &[
                        rrset("a.example.com.", "TXT", 60, &["\"part &amp; \" \"parcel\""]),
                        rrset("b.example.com.", "A", 300, &["192.0.2.2"]),
                    ],
                    Some(("b.example.com.", "TXT", None)),
                ),
            )),
        ],
        "acct-r53-pages",
    )
    .await;
    let zone = zone();
    let request = PageRequest::with_limit(2);
    let first = r53.list_records(&zone, &request).await.unwrap();
    let names: Vec<(&str, &str)> = first
        .items
        .iter()
        .map(|r| (r.name.as_str(), r.content.as_str()))
        .collect();
    assert_eq!(
        names,
        [("a.example.com", "192.0.2.1"), ("b.example.com", "v=1")]
    );
    let next = request.next(&first).expect("a next page");
    let second = r53.list_records(&zone, &next).await.unwrap();
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].name, "c.example.com");
    assert_eq!(second.items[0].ttl, 60);
    assert_eq!(second.next, None);
    let seen = sent(&log);
    assert_eq!(seen[0].target, "/2013-04-01/hostedzone/Z1/rrset?maxitems=2");
    assert_eq!(
        seen[1].target,
        "/2013-04-01/hostedzone/Z1/rrset?name=c.example.com.&type=A&identifier=blue&maxitems=2"
    );

    // get_record reads on while the name goes on, and only simple sets
    let txt = r53
        .get_record(&zone, "a.example.com", &RecordType::Txt)
        .await
        .unwrap()
        .expect("the TXT record");
    assert_eq!(txt.content, "part & parcel");
    let seen = sent(&log);
    assert_eq!(seen.len(), 4);
    assert_eq!(
        seen[2].target,
        "/2013-04-01/hostedzone/Z1/rrset?name=a.example.com.&maxitems=20"
    );
    assert_eq!(
        seen[3].target,
        "/2013-04-01/hostedzone/Z1/rrset?name=a.example.com.&type=TXT&maxitems=20"
    );

    // a token list_records did not hand out is refused before any request
    let err = r53
        .list_records(
            &zone,
            &PageRequest {
                token: Some("garbage".into()),
                limit: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert_eq!(sent(&log).len(), 4);
}

#[tokio::test]
async fn a_change_batch_is_escaped_xml() {
    let (r53, log) = route53(
        vec![
            Scripted::from((200, accepted("C1", "PENDING"))),
            Scripted::from((200, accepted("C2", "PENDING"))),
        ],
        "acct-r53-escaped",
    )
    .await;
    let zone = zone();
    let spec = RecordSpec::new("t.example.com", RecordType::Txt, "a&b <c> \"q\" 'd'", 300);
    let made = r53.ensure_record(&zone, &spec).await.unwrap();
    assert_eq!(made.outcome, Outcome::Created);
    assert_eq!(made.value.content, spec.content);
    let seen = sent(&log);
    assert_change_request(&seen[0]);
    assert_eq!(
        seen[0].body,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ChangeResourceRecordSetsRequest \
         xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><ChangeBatch>\
         <Comment>provisio</Comment><Changes><Change><Action>CREATE</Action>\
         <ResourceRecordSet><Name>t.example.com.</Name><Type>TXT</Type><TTL>300</TTL>\
         <ResourceRecords><ResourceRecord><Value>&quot;a&amp;b &lt;c&gt; \\&quot;q\\&quot; \
         &apos;d&apos;&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet>\
         </Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
    );
    // what Route 53 reads is the TXT value, quoted and escaped as DNS wants it
    let value = r#""a&b <c> \"q\" 'd'""#;
    assert_eq!(
        changes_in(&seen[0].body),
        [(
            "CREATE".to_string(),
            "t.example.com.".to_string(),
            "TXT".to_string(),
            vec![value.to_string()]
        )]
    );

    // the DELETE carries the values last written, without reading them first
    let gone = r53
        .delete_record(&zone, "t.example.com", &RecordType::Txt)
        .await
        .unwrap();
    assert_eq!(gone, Deleted::Deleted);
    let seen = sent(&log);
    assert_eq!(seen.len(), 2);
    assert_change_request(&seen[1]);
    assert_eq!(
        changes_in(&seen[1].body),
        [(
            "DELETE".to_string(),
            "t.example.com.".to_string(),
            "TXT".to_string(),
            vec![value.to_string()]
        )]
    );
    assert_eq!(
        seen[1]
            .body
            .replace("<Action>DELETE</Action>", "<Action>CREATE</Action>"),
        seen[0].body
    );
}

#[tokio::test]
async fn invalid_change_batch_answers_become_provisio_errors() {
    let exists = "Tried to create resource record set [name='www.example.com.', type='A'] \
        but it already exists";
    let (r53, log) = route53(
        vec![
            // a CREATE of a set that exists: read, and equal
            Scripted::from((400, invalid_change_batch(&[exists]))),
            Scripted::from((
                200,
                listing(&[rrset("www.example.com.", "A", 300, &["192.0.2.1"])], None),
            )),
            // refused for other reasons: every message in the error
            Scripted::from((
                400,
                invalid_change_batch(&[
                    "RRSet with DNS name bad.example.com. is not permitted in zone example.com.",
                    "Invalid Resource Record: &apos;FATAL problem&apos;",
                ]),
            )),
            // a DELETE of values that are no longer there: read, and gone
            Scripted::from((
                400,
                invalid_change_batch(&[
                    "Tried to delete resource record set [name='www.example.com.', type='A'] \
                     but it was not found",
                ]),
            )),
            Scripted::from((200, listing(&[], None))),
            // moto's refusal of a DELETE
            Scripted::from((
                400,
                r53_error(
                    "InvalidInput",
                    "Invalid request: Expected exactly one of ...",
                ),
            )),
        ],
        "acct-r53-refused",
    )
    .await;
    let zone = zone();
    let www = RecordSpec::new("www.example.com", RecordType::A, "192.0.2.1", 300);
    let same = r53.ensure_record(&zone, &www).await.unwrap();
    assert_eq!(same.outcome, Outcome::Unchanged);
    let seen = sent(&log);
    assert_eq!(changes_in(&seen[0].body)[0].0, "CREATE");
    assert_eq!(
        seen[1].target,
        "/2013-04-01/hostedzone/Z1/rrset?name=www.example.com.&maxitems=20"
    );

    let bad = RecordSpec::new("bad.example.com", RecordType::A, "192.0.2.9", 300);
    let err = r53.ensure_record(&zone, &bad).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert_eq!(
        err.message(),
        "InvalidChangeBatch (HTTP 400): RRSet with DNS name bad.example.com. is not permitted \
         in zone example.com.; Invalid Resource Record: 'FATAL problem'"
    );
    assert_eq!(
        (err.provider(), err.operation(), err.resource()),
        (
            Some("aws"),
            Some("dns.ensure_record"),
            Some("bad.example.com")
        )
    );
    assert_eq!(
        sent(&log).len(),
        3,
        "no read after a refusal of another kind"
    );

    // www is known from the read: DELETE with its values, refused, read, gone
    let gone = r53
        .delete_record(&zone, "www.example.com", &RecordType::A)
        .await
        .unwrap();
    assert_eq!(gone, Deleted::AlreadyGone);
    let seen = sent(&log);
    assert_eq!(seen.len(), 5);
    assert_eq!(
        changes_in(&seen[3].body),
        [(
            "DELETE".to_string(),
            "www.example.com.".to_string(),
            "A".to_string(),
            vec!["192.0.2.1".to_string()]
        )]
    );
    assert_eq!(seen[4].method, "GET");

    // InvalidInput refuses a CREATE as invalid input, without a read
    let err = r53
        .ensure_record(
            &zone,
            &RecordSpec::new("x.example.com", RecordType::A, "192.0.2.4", 300),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput);
    assert!(err.message().starts_with("InvalidInput (HTTP 400): "));
    assert_eq!(sent(&log).len(), 6);
}

#[tokio::test]
async fn waiting_for_sync_polls_get_change() {
    let (url, log) = serve_scripted(vec![
        Scripted::from((200, accepted("C7", "PENDING"))),
        Scripted::from((
            200,
            format!(
                "<GetChangeResponse xmlns=\"{NS}\">{}</GetChangeResponse>",
                change_info("C7", "PENDING")
            ),
        )),
        Scripted::from((
            200,
            format!(
                "<GetChangeResponse xmlns=\"{NS}\">{}</GetChangeResponse>",
                change_info("C7", "INSYNC")
            ),
        )),
    ])
    .await;
    let mut config = AwsConfig::for_emulator(&url);
    config.max_attempts = 1;
    config.account = Some("acct-r53-sync".into());
    config.dns_wait_for_sync = true;
    config.poll_interval_ms = 10;
    let r53 = Aws::connect(config).await.unwrap().dns();
    assert!(r53.capabilities().waits_for_sync);
    let spec = RecordSpec::new("s.example.com", RecordType::A, "192.0.2.5", 60);
    let made = r53.ensure_record(&zone(), &spec).await.unwrap();
    assert_eq!(made.outcome, Outcome::Created);
    let seen = sent(&log);
    let targets: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.target.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("POST", "/2013-04-01/hostedzone/Z1/rrset/"),
            ("GET", "/2013-04-01/change/C7"),
            ("GET", "/2013-04-01/change/C7"),
        ]
    );
}

/// Three `ensure_record` calls made while the zone waits for the account's token: they leave
/// in one batch, answered by `answers` in turn. Returns each caller's result and the log.
async fn three_batched_creates(
    specs: [RecordSpec; 3],
    answers: Vec<Scripted>,
    account: &str,
) -> (Vec<provisio::Result<Ensured<Record>>>, Log) {
    let (r53, log) = route53(answers, account).await;
    let zone = zone();
    // take the account's token: the first change waits for the next, the others join it
    provisio::requests::limiter().acquire(&r53.info()).await;
    let tasks: Vec<_> = specs
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
    (out, log)
}

fn mixed_specs() -> [RecordSpec; 3] {
    [
        RecordSpec::new("a.example.com", RecordType::A, "192.0.2.1", 300),
        RecordSpec::new("a.example.com", RecordType::Cname, "b.example.com", 300),
        RecordSpec::new("c.example.com", RecordType::Txt, "v=1", 300),
    ]
}

/// The (name, type) of each change of a change batch's body, sorted.
fn keys_in(body: &str) -> Vec<(String, String)> {
    let mut keys: Vec<_> = changes_in(body)
        .into_iter()
        .map(|(action, name, rtype, _)| {
            assert_eq!(action, "CREATE");
            (name, rtype)
        })
        .collect();
    keys.sort();
    keys
}

fn key(name: &str, rtype: &str) -> (String, String) {
    (name.to_string(), rtype.to_string())
}

#[tokio::test]
async fn route53_batch_refused_without_naming_a_change_is_split() {
    // Route 53's answer to a CNAME beside another change of the batch names no change.
    let refused = r53_error(
        "InvalidChangeBatch",
        "[RRSet of type CNAME with DNS name a.example.com. is not permitted because a \
         conflicting RRSet of type A with the same DNS name already exists in zone example.com.]",
    );
    let mut answers = vec![Scripted::from((400, refused))];
    for id in ["C1", "C2", "C3"] {
        answers.push(Scripted::from((200, accepted(id, "INSYNC"))));
    }
    let (results, log) = three_batched_creates(mixed_specs(), answers, "acct-batch-split").await;
    for r in results {
        assert_eq!(r.expect("created").outcome, Outcome::Created);
    }
    // one refused batch of three, then each change alone
    let seen = sent(&log);
    assert_eq!(seen.len(), 4);
    for s in &seen {
        assert_change_request(s);
    }
    let all = vec![
        key("a.example.com.", "A"),
        key("a.example.com.", "CNAME"),
        key("c.example.com.", "TXT"),
    ];
    assert_eq!(keys_in(&seen[0].body), all);
    let mut alone: Vec<_> = seen[1..].iter().flat_map(|s| keys_in(&s.body)).collect();
    alone.sort();
    assert_eq!(alone, all);
    assert!(seen[1..].iter().all(|s| changes_in(&s.body).len() == 1));
}

#[tokio::test]
async fn route53_batch_throttled_is_every_callers_error() {
    let (results, log) = three_batched_creates(
        mixed_specs(),
        vec![Scripted::from((
            400,
            r53_error("Throttling", "Rate exceeded"),
        ))],
        "acct-batch-throttled",
    )
    .await;
    assert_eq!(sent(&log).len(), 1, "one request for the three changes");
    assert_eq!(changes_in(&sent(&log)[0].body).len(), 3);
    for r in results {
        let err = r.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::RateLimited { retry_after: None });
        assert_eq!(err.operation(), Some("dns.ensure_record"));
    }
}

#[tokio::test]
async fn a_change_the_refusal_names_fails_alone_and_the_others_are_sent_again() {
    let exists = "Tried to create resource record set [name='a.example.com.', type='A'] but \
        it already exists";
    // After the refusal the named caller reads its name while the batch leaves again without
    // it; which request comes first is the scheduler's choice, so one answer serves both
    // (the read takes the record sets, the change batch the change info).
    let both = format!(
        "<Answer>{}{}</Answer>",
        change_info("C2", "PENDING"),
        listing_of(&[rrset("a.example.com.", "A", 300, &["192.0.2.1"])], None)
    );
    let (results, log) = three_batched_creates(
        [
            RecordSpec::new("a.example.com", RecordType::A, "192.0.2.1", 300),
            RecordSpec::new("b.example.com", RecordType::A, "192.0.2.2", 300),
            RecordSpec::new("c.example.com", RecordType::Txt, "v=1", 300),
        ],
        vec![
            Scripted::from((400, invalid_change_batch(&[exists]))),
            Scripted::from((200, both.clone())),
            Scripted::from((200, both)),
        ],
        "acct-batch-named",
    )
    .await;
    let outcomes: Vec<Outcome> = results
        .into_iter()
        .map(|r| r.expect("ensured").outcome)
        .collect();
    assert_eq!(
        outcomes,
        [Outcome::Unchanged, Outcome::Created, Outcome::Created]
    );
    let seen = sent(&log);
    assert_eq!(seen.len(), 3, "the batch, the read and the batch again");
    assert_eq!(keys_in(&seen[0].body).len(), 3);
    let (posts, reads): (Vec<&Seen>, Vec<&Seen>) =
        seen[1..].iter().partition(|s| s.method == "POST");
    assert_eq!(reads.len(), 1);
    assert_eq!(
        reads[0].target,
        "/2013-04-01/hostedzone/Z1/rrset?name=a.example.com.&maxitems=20"
    );
    assert_eq!(
        keys_in(&posts[0].body),
        [key("b.example.com.", "A"), key("c.example.com.", "TXT")]
    );
}
