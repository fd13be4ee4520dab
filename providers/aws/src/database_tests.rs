//! RDS snapshots on a local scripted server: the Query requests provisio sends for
//! `ensure_snapshot`, `get_snapshot`, `delete_snapshot` and a restore, how many, and its
//! reading of the answers and error codes.

use crate::wire::tests::{Log, Scripted, aws, query_error, serve_scripted};
use provisio::database::{ServerSpec, Snapshot};
use provisio::{Database, Deleted, ErrorKind, Outcome, SecretString, Tags};

const NS: &str = "http://rds.amazonaws.com/doc/2014-10-31/";

fn snapshot_xml(id: &str, server: &str, status: &str) -> String {
    format!(
        "<DBSnapshot><DBSnapshotIdentifier>{id}</DBSnapshotIdentifier>\
         <DBInstanceIdentifier>{server}</DBInstanceIdentifier><Status>{status}</Status>\
         <SnapshotCreateTime>2026-12-03T07:00:00Z</SnapshotCreateTime>\
         <AllocatedStorage>20</AllocatedStorage>\
         <TagList><Tag><Key>provisio:tenant</Key><Value>acme</Value></Tag></TagList></DBSnapshot>"
    )
}

fn created(id: &str, server: &str) -> Scripted {
    Scripted::from((
        200,
        format!(
            "<CreateDBSnapshotResponse xmlns=\"{NS}\"><CreateDBSnapshotResult>{}</CreateDBSnapshotResult></CreateDBSnapshotResponse>",
            snapshot_xml(id, server, "creating")
        ),
    ))
}

fn described(id: &str, server: &str, status: &str) -> Scripted {
    Scripted::from((
        200,
        format!(
            "<DescribeDBSnapshotsResponse xmlns=\"{NS}\"><DescribeDBSnapshotsResult><DBSnapshots>{}</DBSnapshots></DescribeDBSnapshotsResult></DescribeDBSnapshotsResponse>",
            snapshot_xml(id, server, status)
        ),
    ))
}

fn refused(status: u16, code: &str) -> Scripted {
    Scripted::from((status, query_error(code)))
}

fn actions(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|s| s.param("Action").unwrap_or_default())
        .collect()
}

fn tags() -> Tags {
    [("provisio:tenant".to_string(), "acme".to_string())].into()
}

async fn rds(answers: Vec<Scripted>, account: &str) -> (std::sync::Arc<crate::RdsDatabase>, Log) {
    let (url, log) = serve_scripted(answers).await;
    (aws(&url, 1, account).await.database(), log)
}

#[tokio::test]
async fn ensure_snapshot_creates_with_one_request_and_reads_the_answer() {
    let (db, log) = rds(vec![created("acme-db-archive", "acme-db")], "acct-snap-new").await;
    assert!(db.capabilities().snapshots);
    let e = db
        .ensure_snapshot("acme-db", "Acme-DB-Archive", &tags())
        .await
        .unwrap();
    assert_eq!(e.outcome, Outcome::Created);
    assert_eq!(
        e.value,
        Snapshot {
            id: "acme-db-archive".into(),
            server: "acme-db".into(),
            status: "creating".into(),
            created: Some("2026-12-03T07:00:00Z".into()),
            storage_gb: Some(20),
            tags: tags(),
        }
    );
    assert_eq!(actions(&log), ["CreateDBSnapshot"]);
    let sent = &log.lock().unwrap()[0];
    assert_eq!(
        sent.param("DBInstanceIdentifier").as_deref(),
        Some("acme-db")
    );
    // identifiers go out in RDS's canonical lower case
    assert_eq!(
        sent.param("DBSnapshotIdentifier").as_deref(),
        Some("acme-db-archive")
    );
    assert_eq!(
        sent.param("Tags.Tag.1.Key").as_deref(),
        Some("provisio:tenant")
    );
    assert_eq!(sent.param("Tags.Tag.1.Value").as_deref(), Some("acme"));
}

#[tokio::test]
async fn ensure_snapshot_taken_before_is_unchanged_and_of_another_server_a_conflict() {
    let (db, log) = rds(
        vec![
            refused(400, "DBSnapshotAlreadyExists"),
            described("acme-db-archive", "acme-db", "available"),
            refused(400, "DBSnapshotAlreadyExists"),
            described("acme-db-archive", "other-db", "available"),
            // the server is gone, the snapshot of it stays: a resumed archive
            refused(404, "DBInstanceNotFound"),
            described("acme-db-archive", "acme-db", "available"),
            // neither is there
            refused(404, "DBInstanceNotFound"),
            refused(404, "DBSnapshotNotFound"),
        ],
        "acct-snap-again",
    )
    .await;
    let e = db
        .ensure_snapshot("acme-db", "acme-db-archive", &tags())
        .await
        .unwrap();
    assert_eq!(e.outcome, Outcome::Unchanged);
    assert_eq!(e.value.status, "available");
    let err = db
        .ensure_snapshot("acme-db", "acme-db-archive", &tags())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    assert!(
        err.message().contains("\"acme-db-archive\"")
            && err.message().contains("\"other-db\"")
            && err.message().contains("\"acme-db\""),
        "{err}"
    );
    let e = db
        .ensure_snapshot("acme-db", "acme-db-archive", &tags())
        .await
        .unwrap();
    assert_eq!(e.outcome, Outcome::Unchanged);
    let err = db
        .ensure_snapshot("acme-db", "acme-db-archive", &tags())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(err.message().contains("server \"acme-db\""), "{err}");
    assert_eq!(
        actions(&log),
        [
            "CreateDBSnapshot",
            "DescribeDBSnapshots",
            "CreateDBSnapshot",
            "DescribeDBSnapshots",
            "CreateDBSnapshot",
            "DescribeDBSnapshots",
            "CreateDBSnapshot",
            "DescribeDBSnapshots"
        ]
    );
}

#[tokio::test]
async fn get_and_delete_snapshot_one_request_each() {
    let (db, log) = rds(
        vec![
            described("acme-db-archive", "acme-db", "available"),
            refused(404, "DBSnapshotNotFound"),
            Scripted::from((
                200,
                format!(
                    "<DeleteDBSnapshotResponse xmlns=\"{NS}\"><DeleteDBSnapshotResult>{}</DeleteDBSnapshotResult></DeleteDBSnapshotResponse>",
                    snapshot_xml("acme-db-archive", "acme-db", "deleted")
                ),
            )),
            refused(404, "DBSnapshotNotFound"),
            refused(400, "InvalidDBSnapshotState"),
        ],
        "acct-snap-get-delete",
    )
    .await;
    let got = db.get_snapshot("acme-db-archive").await.unwrap().unwrap();
    assert_eq!(
        (got.server.as_str(), got.status.as_str()),
        ("acme-db", "available")
    );
    assert_eq!(db.get_snapshot("acme-db-archive").await.unwrap(), None);
    assert_eq!(
        db.delete_snapshot("acme-db-archive").await.unwrap(),
        Deleted::Deleted
    );
    assert_eq!(
        db.delete_snapshot("acme-db-archive").await.unwrap(),
        Deleted::AlreadyGone
    );
    let err = db.delete_snapshot("acme-db-archive").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "a snapshot being taken");
    assert_eq!(
        actions(&log),
        [
            "DescribeDBSnapshots",
            "DescribeDBSnapshots",
            "DeleteDBSnapshot",
            "DeleteDBSnapshot",
            "DeleteDBSnapshot"
        ]
    );
}

#[tokio::test]
async fn bad_snapshot_identifiers_are_refused_before_any_request() {
    let (db, log) = rds(vec![], "acct-snap-names").await;
    for bad in ["", "1abc", "a--b", "a-", "Bad_Name!"] {
        let err = db.get_snapshot(bad).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{bad:?}");
        assert!(err.message().contains("snapshot name"), "{err}");
        let err = db.delete_snapshot(bad).await.unwrap_err();
        assert!(err.message().contains("snapshot name"), "{err}");
        let err = db
            .ensure_snapshot("acme-db", bad, &tags())
            .await
            .unwrap_err();
        assert!(err.message().contains("snapshot name"), "{err}");
        let err = db
            .ensure_server(&ServerSpec {
                restore_from_snapshot: Some(bad.to_string()),
                ..spec()
            })
            .await
            .unwrap_err();
        assert!(
            err.message().contains("restore_from_snapshot"),
            "{bad:?}: {err}"
        );
    }
    let err = db
        .ensure_snapshot("bad_server", "acme-db-archive", &tags())
        .await
        .unwrap_err();
    assert!(err.message().contains("server name"), "{err}");
    assert!(log.lock().unwrap().is_empty());
}

fn spec() -> ServerSpec {
    ServerSpec {
        name: "acme-db".into(),
        engine: "postgres".into(),
        version: "16".into(),
        size: "db.t3.micro".into(),
        storage_gb: 20,
        admin_user: "provisio_admin".into(),
        admin_password: SecretString::new("correct-horse-1"),
        deletion_protection: false,
        tags: tags(),
        restore_from_snapshot: Some("acme-db-archive".into()),
    }
}

#[tokio::test]
async fn a_missing_server_is_restored_from_its_snapshot() {
    let restored = format!(
        "<RestoreDBInstanceFromDBSnapshotResponse xmlns=\"{NS}\"><RestoreDBInstanceFromDBSnapshotResult><DBInstance>\
         <DBInstanceIdentifier>acme-db</DBInstanceIdentifier><Engine>postgres</Engine>\
         <DBInstanceStatus>creating</DBInstanceStatus><DeletionProtection>false</DeletionProtection>\
         </DBInstance></RestoreDBInstanceFromDBSnapshotResult></RestoreDBInstanceFromDBSnapshotResponse>"
    );
    let (db, log) = rds(
        vec![
            refused(404, "DBInstanceNotFound"),
            Scripted::from((200, restored)),
            refused(404, "DBInstanceNotFound"),
            refused(404, "DBSnapshotNotFound"),
        ],
        "acct-snap-restore",
    )
    .await;
    let e = db.ensure_server(&spec()).await.unwrap();
    assert_eq!(e.outcome, Outcome::Created);
    assert_eq!(e.value.status, "creating");
    {
        let log = log.lock().unwrap();
        let sent = &log[1];
        assert_eq!(
            sent.param("Action").as_deref(),
            Some("RestoreDBInstanceFromDBSnapshot")
        );
        for (k, v) in [
            ("DBInstanceIdentifier", "acme-db"),
            ("DBSnapshotIdentifier", "acme-db-archive"),
            ("DBInstanceClass", "db.t3.micro"),
            ("DeletionProtection", "false"),
            ("PubliclyAccessible", "false"),
            ("CopyTagsToSnapshot", "true"),
            ("Tags.Tag.1.Key", "provisio:tenant"),
        ] {
            assert_eq!(sent.param(k).as_deref(), Some(v), "{k}");
        }
        // the password and engine are the snapshot's
        assert_eq!(sent.param("MasterUserPassword"), None);
        assert_eq!(sent.param("Engine"), None);
    }
    let err = db.ensure_server(&spec()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound);
    assert!(
        err.message().contains("snapshot \"acme-db-archive\""),
        "{err}"
    );
    assert_eq!(err.resource(), Some("acme-db-archive"));
    assert_eq!(
        actions(&log),
        [
            "DescribeDBInstances",
            "RestoreDBInstanceFromDBSnapshot",
            "DescribeDBInstances",
            "RestoreDBInstanceFromDBSnapshot"
        ]
    );
}
