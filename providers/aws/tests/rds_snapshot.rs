//! RDS snapshots against moto: the requests each snapshot operation sends (counted in the
//! step's tally, which every request passes), and a tenant's server taken through launch →
//! archive → restore → retire by the engine, checked after each step on moto itself with
//! plain Query requests (`DescribeDBInstances`, `DescribeDBSnapshots`) written here on a bare
//! TCP connection: a witness that shares nothing with provisio's client.
//!
//! ```sh
//! PROVISIO_TEST_AWS_ENDPOINT=http://127.0.0.1:5055 cargo test -p provisio-aws --test rds_snapshot -- --nocapture
//! ```
//!
//! Without `PROVISIO_TEST_AWS_ENDPOINT` every test prints `skipped` and passes.

mod common;

use provisio::database::{DeleteServer, ServerSpec};
use provisio::requests::{RequestTally, counted};
use provisio::{Database, Deleted, ErrorKind, Outcome, SecretString};
use provisio_engine::state::memory::MemoryStateStore;
use provisio_engine::{
    ApplyOptions, Blueprint, Engine, Phase, Providers, Tenant, Transition, types,
};
use provisio_memory::MemoryCloud;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SVC: &str = "aws-rds";

fn endpoint(case: &str) -> Option<String> {
    let e = provisio_testkit::endpoint_from_env("AWS_ENDPOINT");
    if e.is_none() {
        provisio_testkit::skip(case, "AWS_ENDPOINT");
    }
    e
}

/// Runs `fut` as one step and returns its output with the requests it sent, per service.
async fn count<F: Future>(fut: F) -> (F::Output, BTreeMap<String, u64>) {
    let tally = Arc::new(RequestTally::default());
    let out = counted(tally.clone(), fut).await;
    (out, tally.by_service())
}

fn assert_sent(what: &str, got: &BTreeMap<String, u64>, expected: u64) {
    let want: BTreeMap<String, u64> = [(SVC.to_string(), expected)].into();
    assert_eq!(got, &want, "{what}");
    eprintln!("{what}: {expected} request(s)");
}

/// One RDS Query request to moto, written by hand on a fresh connection: the status and the
/// XML body. moto picks the service from the credential scope of the `Authorization` header
/// and does not check signatures.
async fn witness(endpoint: &str, action: &str, params: &[(&str, &str)]) -> (u16, String) {
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut body = format!("Action={action}&Version=2014-10-31");
    for (k, v) in params {
        // identifiers are letters, digits, hyphens and (moto's automated backups) a colon:
        // nothing a form parser needs escaped
        body.push_str(&format!("&{k}={v}"));
    }
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=0\r\n\
         X-Amz-Date: 20260101T000000Z\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host)
        .await
        .expect("moto answers");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// What moto holds for a server and its snapshot, read with witness requests.
#[derive(Debug, PartialEq, Eq)]
struct OnMoto {
    /// The instance's status, if it exists.
    instance: Option<String>,
    /// The snapshot's (instance it was taken of, status), if it exists.
    snapshot: Option<(String, String)>,
}

/// The text of the first `<tag>` in `xml`.
fn text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(&xml[start..end])
}

async fn on_moto(endpoint: &str, server: &str, snapshot: &str) -> OnMoto {
    let (status, body) = witness(
        endpoint,
        "DescribeDBInstances",
        &[("DBInstanceIdentifier", server)],
    )
    .await;
    let instance = match status {
        200 => {
            assert_eq!(text(&body, "DBInstanceIdentifier"), Some(server), "{body}");
            text(&body, "DBInstanceStatus").map(str::to_string)
        }
        404 => None,
        _ => panic!("DescribeDBInstances answered {status}: {body}"),
    };
    let (status, body) = witness(
        endpoint,
        "DescribeDBSnapshots",
        &[("DBSnapshotIdentifier", snapshot)],
    )
    .await;
    let snapshot = match status {
        200 if text(&body, "DBSnapshotIdentifier") == Some(snapshot) => Some((
            text(&body, "DBInstanceIdentifier")
                .unwrap_or_default()
                .to_string(),
            text(&body, "Status").unwrap_or_default().to_string(),
        )),
        200 => None,
        404 => None,
        _ => panic!("DescribeDBSnapshots answered {status}: {body}"),
    };
    OnMoto { instance, snapshot }
}

/// Deletes moto's automated backups of `server`. moto takes one when an instance is created,
/// named by the minute (`rds:<server>-<yyyy-mm-dd-hh-mm>`), and keeps it after the instance's
/// delete (provisio asks to keep automated backups), so a server created again under the same
/// name within the same minute fails with `DBSnapshotAlreadyExists`. RDS names automated
/// backups otherwise; this is moto's gap, cleared by hand (moto lets `DeleteDBSnapshot`
/// remove an automated snapshot, RDS does not).
async fn drop_automated_backups(endpoint: &str, server: &str) {
    let (status, body) = witness(
        endpoint,
        "DescribeDBSnapshots",
        &[
            ("DBInstanceIdentifier", server),
            ("SnapshotType", "automated"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = body
        .split("<DBSnapshotIdentifier>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</DBSnapshotIdentifier>"))
        .map(|(id, _)| id.to_string())
        .collect();
    for id in ids {
        let (status, body) = witness(
            endpoint,
            "DeleteDBSnapshot",
            &[("DBSnapshotIdentifier", &id)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn spec(name: &str) -> ServerSpec {
    ServerSpec {
        name: name.to_string(),
        engine: "postgres".into(),
        version: "16".into(),
        size: "db.t3.micro".into(),
        storage_gb: 20,
        admin_user: "provisio_admin".into(),
        admin_password: SecretString::new(format!("pw-{}-Aa1", provisio_testkit::run_id())),
        deletion_protection: false,
        tags: provisio::types::ownership::tags(name, "rds-snapshot", "db_server"),
        restore_from_snapshot: None,
    }
}

#[test]
fn rds_snapshot_requests_per_operation() {
    let Some(endpoint) = endpoint("rds_snapshot_requests_per_operation") else {
        return;
    };
    provisio_testkit::run_case("rds_snapshot_requests_per_operation", async move {
        let db = common::aws(&endpoint).await?.database();
        let server = provisio_testkit::unique("srv");
        let other = provisio_testkit::unique("srv");
        let id = provisio_testkit::unique("snap");
        let tags = spec(&server).tags;
        db.ensure_server(&spec(&server)).await?;
        db.ensure_server(&spec(&other)).await?;
        db.wait_for_server(&server, std::time::Duration::from_secs(60))
            .await?;

        let (r, n) = count(db.ensure_snapshot(&server, &id, &tags)).await;
        assert_eq!(r?.outcome, Outcome::Created);
        assert_sent("ensure_snapshot, new", &n, 1);
        let (r, n) = count(db.ensure_snapshot(&server, &id, &tags)).await;
        assert_eq!(r?.outcome, Outcome::Unchanged);
        assert_sent("ensure_snapshot, taken before", &n, 2);
        let (r, n) = count(db.ensure_snapshot(&other, &id, &tags)).await;
        assert_eq!(r.unwrap_err().kind(), &ErrorKind::Conflict);
        assert_sent("ensure_snapshot, taken of another server", &n, 2);
        let (r, n) = count(db.get_snapshot(&id)).await;
        let snap = r?.expect("the snapshot");
        assert_eq!(
            (snap.server.as_str(), snap.status.as_str()),
            (server.as_str(), "available")
        );
        assert!(
            provisio::types::tags_match(&snap.tags, &tags),
            "{:?}",
            snap.tags
        );
        assert_sent("get_snapshot", &n, 1);

        let skip = DeleteServer {
            skip_final_snapshot: true,
            override_protection: None,
            final_snapshot: None,
        };
        db.delete_server(&server, &skip).await?;
        let (r, n) = count(db.ensure_snapshot(&server, &id, &tags)).await;
        assert_eq!(r?.outcome, Outcome::Unchanged);
        assert_sent("ensure_snapshot once its server is gone", &n, 2);
        // under a new name: see `drop_automated_backups`
        let restored = provisio_testkit::unique("srv");
        let restore = ServerSpec {
            restore_from_snapshot: Some(id.clone()),
            ..spec(&restored)
        };
        let (r, n) = count(db.ensure_server(&restore)).await;
        assert_eq!(r?.outcome, Outcome::Created);
        assert_sent("ensure_server restoring from a snapshot", &n, 2);
        let lost = ServerSpec {
            restore_from_snapshot: Some(provisio_testkit::unique("snap")),
            ..spec(&provisio_testkit::unique("srv"))
        };
        let (r, n) = count(db.ensure_server(&lost)).await;
        assert_eq!(r.unwrap_err().kind(), &ErrorKind::NotFound);
        assert_sent("ensure_server restoring from a missing snapshot", &n, 2);

        let (r, n) = count(db.delete_snapshot(&id)).await;
        assert_eq!(r?, Deleted::Deleted);
        assert_sent("delete_snapshot", &n, 1);
        let (r, n) = count(db.delete_snapshot(&id)).await;
        assert_eq!(r?, Deleted::AlreadyGone);
        assert_sent("delete_snapshot, already gone", &n, 1);
        assert_eq!(
            on_moto(&endpoint, &restored, &id).await,
            OnMoto {
                instance: Some("available".into()),
                snapshot: None
            }
        );
        for name in [&restored, &other] {
            db.delete_server(name, &skip).await?;
        }
        Ok(())
    });
}

/// Runs transition `t` and asserts it succeeded.
async fn transition(
    engine: &Engine,
    bp: &Blueprint,
    tenant: &Tenant,
    t: Transition,
) -> provisio::Result<provisio_engine::RunReport> {
    let r = engine
        .transition(bp, tenant, t, ApplyOptions::default())
        .await?;
    assert!(r.is_success(), "{t}: {:?}", r.errors);
    Ok(r)
}

/// The blueprint of docs/lifecycle.md ("Managed database servers: RDS snapshots").
const BLUEPRINT: &str = r#"
name: rds-snapshot
resources:
  db_admin_password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-admin", generate: { length: 24 } }
  db_server:
    type: database.server
    params:
      name: "${tenant.name}-db"
      version: "16"
      size: db.t3.micro
      storage_gb: 20
      admin_user: provisio_admin
      admin_password_secret: "${db_admin_password.name}"
      deletion_protection: false
      skip_final_snapshot: true
      restore_from_snapshot: "${db_snapshot.snapshot}"
      wait_timeout_secs: 60
    phases: { archived: absent }
  db_snapshot:
    type: database.snapshot
    only_in: [archived, retired]
    params: { server: "${tenant.name}-db", name: "${tenant.name}-db-archive", keep_on_delete: true, wait_timeout_secs: 60 }
"#;

#[test]
fn archive_and_restore_a_server_through_its_snapshot() {
    let Some(endpoint) = endpoint("archive_and_restore_a_server_through_its_snapshot") else {
        return;
    };
    provisio_testkit::run_case(
        "archive_and_restore_a_server_through_its_snapshot",
        async move {
            let rds = common::aws(&endpoint).await?.database();
            let memory = MemoryCloud::new(11);
            let providers = Providers::new()
                .with_secrets("default", memory.secrets.clone())
                .with_database("default", rds.clone());
            let engine = Engine::builder()
                .providers(providers)
                .registry(types::builtin())
                .state(Arc::new(MemoryStateStore::new()))
                .build()?;
            let bp = Blueprint::from_yaml(BLUEPRINT)?;
            let name = provisio_testkit::unique("tn");
            let tenant = Tenant::new(&name);
            let server = format!("{name}-db");
            let snapshot = format!("{name}-db-archive");
            let run = |t: Transition| transition(&engine, &bp, &tenant, t);

            engine
                .apply(&bp, &tenant, ApplyOptions::default())
                .await?
                .into_result()?;
            assert_eq!(
                on_moto(&endpoint, &server, &snapshot).await,
                OnMoto {
                    instance: Some("available".into()),
                    snapshot: None
                },
                "after launch"
            );

            run(Transition::Archive).await?;
            assert_eq!(
                on_moto(&endpoint, &server, &snapshot).await,
                OnMoto {
                    instance: None,
                    snapshot: Some((server.clone(), "available".into()))
                },
                "after archive: the snapshot, then no server"
            );
            let again = run(Transition::Archive).await?;
            assert_eq!(
                (again.summary.created, again.summary.deleted),
                (0, 0),
                "archive again"
            );

            drop_automated_backups(&endpoint, &server).await;
            run(Transition::Restore).await?;
            assert_eq!(
                on_moto(&endpoint, &server, &snapshot).await,
                OnMoto {
                    instance: Some("available".into()),
                    snapshot: Some((server.clone(), "available".into()))
                },
                "after restore: the server is back, the snapshot kept"
            );
            // restored, not created: moto's instance carries the snapshot's storage and user
            let (_, body) = witness(
                &endpoint,
                "DescribeDBInstances",
                &[("DBInstanceIdentifier", &server)],
            )
            .await;
            assert_eq!(
                text(&body, "MasterUsername"),
                Some("provisio_admin"),
                "{body}"
            );
            assert_eq!(text(&body, "PubliclyAccessible"), Some("false"), "{body}");
            assert_eq!(
                engine.phase(&name).await?.map(|p| p.phase),
                Some(Phase::Launched)
            );
            let r = engine
                .apply(&bp, &tenant, ApplyOptions::default())
                .await?
                .into_result()?;
            let s = &r.summary;
            assert_eq!((s.created, s.updated, s.deleted), (0, 0, 0), "{s:?}");

            // retire would take a snapshot too, but the archive's is still there (kept): it is
            // refused before anything is deleted; once it is gone, retire takes a fresh one
            // (twice: the refused step must not have recorded the old snapshot as taken, or
            // the second run would delete the server with only that one left)
            for _ in 0..2 {
                let refused = engine
                    .transition(&bp, &tenant, Transition::Retire, ApplyOptions::default())
                    .await?;
                assert!(!refused.is_success());
                assert_eq!(
                    refused.errors.first().map(|(_, e)| e.kind().clone()),
                    Some(ErrorKind::Conflict)
                );
            }
            assert_eq!(
                on_moto(&endpoint, &server, &snapshot).await.instance,
                Some("available".into()),
                "the server outlives the refused retire"
            );
            assert_eq!(rds.delete_snapshot(&snapshot).await?, Deleted::Deleted);
            run(Transition::Retire).await?;
            assert_eq!(
                on_moto(&endpoint, &server, &snapshot).await,
                OnMoto {
                    instance: None,
                    snapshot: Some((server.clone(), "available".into()))
                },
                "after retire: only the snapshot"
            );
            // clean up moto: the snapshot outlives the tenant by design
            assert_eq!(rds.delete_snapshot(&snapshot).await?, Deleted::Deleted);
            Ok(())
        },
    );
}
