//! The Jenkins provider's behaviour against the in-process fake: crumbs, redirects, queue
//! items, races, error kinds.

mod common;

use common::{PASSWORD, TOKEN, USER, config, fake, password_client, token_client};
use provisio::ci::{BuildRef, BuildResult};
use provisio::{CiServer, Deleted, ErrorKind, Outcome};
use provisio_fake_jenkins::{
    AnonymousAccess, AuthKind, FAKE_RESULT_PARAM, Fault, Permission, RequestRecord,
};
use provisio_jenkins::JenkinsCi;
use std::collections::BTreeMap;
use std::time::Duration;

const JOB: &str = "<?xml version='1.1' encoding='UTF-8'?>\n<project>\n  <description>one</description>\n  <builders/>\n</project>\n";

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn posts(log: &[RequestRecord]) -> Vec<&RequestRecord> {
    log.iter().filter(|r| r.method == "POST").collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_token_requests_need_no_crumb() {
    let fake = fake().await;
    let ci = token_client(&fake);
    ci.ensure_folder("tenants/acme").await.unwrap();
    ci.ensure_job("tenants/acme/build", JOB).await.unwrap();
    ci.delete_job("tenants/acme/build").await.unwrap();
    let log = fake.requests();
    assert!(
        log.iter().all(|r| !r.path.contains("crumbIssuer")),
        "{log:#?}"
    );
    let posts = posts(&log);
    assert_eq!(
        posts.len(),
        4,
        "two folders, one job, one delete: {posts:#?}"
    );
    for p in posts {
        assert_eq!(p.auth, AuthKind::ApiToken);
        assert!(!p.crumb, "{p:?}");
        assert!(p.status < 400, "{p:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sessions_send_the_crumb_of_their_session() {
    let fake = fake().await;
    let ci = password_client(&fake);
    assert_eq!(
        ci.ensure_folder("tenants").await.unwrap().outcome,
        Outcome::Created
    );
    assert_eq!(
        ci.ensure_job("tenants/build", JOB).await.unwrap().outcome,
        Outcome::Created
    );
    let log = fake.requests();
    let crumbs = log
        .iter()
        .filter(|r| r.path == "/crumbIssuer/api/json")
        .count();
    assert_eq!(crumbs, 1, "the crumb is fetched once and reused: {log:#?}");
    for p in posts(&log) {
        assert_eq!(p.auth, AuthKind::Password);
        assert!(
            p.crumb && p.session,
            "every POST carries the crumb and its session cookie: {p:?}"
        );
        assert!(p.status < 400, "{p:?}");
    }

    // The server forgets the session: the next POST is refused, the client fetches a new
    // crumb (and session) and succeeds.
    fake.expire_sessions();
    fake.clear_requests();
    let changed = JOB.replace("one", "two");
    assert_eq!(
        ci.ensure_job("tenants/build", &changed)
            .await
            .unwrap()
            .outcome,
        Outcome::Updated
    );
    assert_eq!(fake.config("tenants/build").as_deref(), Some(&*changed));
    let statuses: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("GET /job/tenants/job/build/config.xml".to_string(), 200),
            ("POST /job/tenants/job/build/config.xml".to_string(), 403),
            ("GET /crumbIssuer/api/json".to_string(), 200),
            ("POST /job/tenants/job/build/config.xml".to_string(), 200),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crumb_that_keeps_failing_is_permission_denied() {
    let fake = fake().await;
    let ci = password_client(&fake);
    ci.ensure_folder("x").await.unwrap();
    fake.inject(
        Fault::crumb_rejected()
            .on("POST", "/job/x/doDelete")
            .times(2),
    );
    fake.clear_requests();
    let err = ci.delete_job("x").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied, "{err}");
    assert!(err.message().contains("No valid crumb"), "{err}");
    assert_eq!(err.provider(), Some("jenkins"));
    assert_eq!(err.operation(), Some("ci.delete_job"));
    assert_eq!(err.resource(), Some("x"));
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/job/x/doDelete",
            "/crumbIssuer/api/json",
            "/job/x/doDelete"
        ],
        "one fresh crumb, one retry"
    );
    assert_eq!(fake.items(), vec!["x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_without_csrf_protection_sends_no_crumb() {
    let fake = fake().await;
    fake.set_csrf(false);
    let ci = password_client(&fake);
    ci.ensure_folder("plain").await.unwrap();
    let log = fake.requests();
    assert!(
        log.iter()
            .any(|r| r.path == "/crumbIssuer/api/json" && r.status == 404)
    );
    assert!(posts(&log).iter().all(|p| !p.crumb && p.status < 400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed() {
    let fake = fake().await;
    fake.set_anonymous(AnonymousAccess::RedirectToLogin);
    let anonymous = JenkinsCi::new(config(fake.url())).unwrap();
    let err = anonymous.get_job_config("anything").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(err.message().contains("/login?from="), "{err}");
    let err = anonymous.delete_job("anything").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    let log = fake.requests();
    assert!(
        log.iter().all(|r| !r.path.starts_with("/login")),
        "the redirect to the login page was followed: {log:#?}"
    );
    assert!(log.iter().all(|r| r.status == 302), "{log:#?}");

    // doDelete's own 302 (to the parent folder) is success, not followed either.
    let ci = token_client(&fake);
    ci.ensure_job("gone-soon", JOB).await.unwrap();
    fake.clear_requests();
    assert_eq!(ci.delete_job("gone-soon").await.unwrap(), Deleted::Deleted);
    let log = fake.requests();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0].status, 302);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures() {
    let fake = fake().await;
    let wrong = JenkinsCi::new(
        config(fake.url())
            .with_user(USER)
            .with_api_token("not-the-token"),
    )
    .unwrap();
    let err = wrong.get_job_config("x").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");
    assert!(!err.to_string().contains("not-the-token"));

    let anonymous = JenkinsCi::new(config(fake.url())).unwrap();
    let err = anonymous.get_job_config("x").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Unauthenticated, "{err}");

    fake.set_permissions(USER, &[Permission::Read]);
    let ci = token_client(&fake);
    let err = ci.ensure_job("x", JOB).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::PermissionDenied, "{err}");
    assert!(err.message().contains("hudson.model.Item.Create"), "{err}");
    let dbg = format!(
        "{ci:?} {:?}",
        config(fake.url())
            .with_api_token(TOKEN)
            .with_password(PASSWORD)
    );
    assert!(!dbg.contains(TOKEN) && !dbg.contains(PASSWORD), "{dbg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_map_to_kinds() {
    let fake = fake().await;
    let ci = token_client(&fake);
    fake.inject(Fault::rate_limited(3).on("GET", "config.xml"));
    let err = ci.get_job_config("x").await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    assert!(err.retryable());
    fake.inject(Fault::status(503).on("GET", "config.xml"));
    let err = ci.get_job_config("x").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Transient);
    assert_eq!(ci.get_job_config("x").await.unwrap(), None);

    let slow = JenkinsCi::new(
        config(fake.url())
            .with_user(USER)
            .with_api_token(TOKEN)
            .with_request_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    fake.inject(Fault::delay(Duration::from_secs(3)).on("GET", "config.xml"));
    let err = slow.get_job_config("x").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn already_exists_on_create_is_reconciled_into_an_update() {
    let fake = fake().await;
    let ci = token_client(&fake);
    // Hold our createItem back so another writer creates the job after our read.
    fake.inject(Fault::delay(Duration::from_millis(600)).on("POST", "/createItem"));
    let desired = JOB.replace("one", "ours");
    let task = {
        let desired = desired.clone();
        tokio::spawn(async move { ci.ensure_job("racy", &desired).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.seed_job("racy", &JOB.replace("one", "theirs"))
        .unwrap();
    let ensured = task.await.unwrap().unwrap();
    assert_eq!(ensured.outcome, Outcome::Updated);
    assert_eq!(fake.config("racy").as_deref(), Some(&*desired));
    let log = fake.requests();
    let create = log
        .iter()
        .find(|r| r.path == "/createItem")
        .expect("a createItem request");
    assert_eq!(create.status, 400);
    assert_eq!(
        log.last().map(|r| r.path.as_str()),
        Some("/job/racy/config.xml")
    );

    // The same race where the other writer made exactly our job: unchanged.
    let ci = token_client(&fake);
    fake.inject(Fault::delay(Duration::from_millis(600)).on("POST", "/createItem"));
    let task = tokio::spawn(async move { ci.ensure_job("twin", JOB).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.seed_job("twin", JOB).unwrap();
    assert_eq!(task.await.unwrap().unwrap().outcome, Outcome::Unchanged);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_read_back_byte_for_byte_and_equivalent_ones_are_unchanged() {
    let fake = fake().await;
    let ci = token_client(&fake);
    let stored = "<?xml version='1.1' encoding='UTF-8'?>\r\n<project>\r\n  <!-- kept -->\r\n  <description><![CDATA[a & b]]></description>\r\n  <scm class='hudson.scm.NullSCM' plugin=\"scm@1\"/>\r\n  <builders></builders>\r\n</project>";
    fake.seed_job("odd", stored).unwrap();
    assert_eq!(
        ci.get_job_config("odd").await.unwrap().as_deref(),
        Some(stored)
    );
    let mine = "<project>\n  <description>a &amp; b</description>\n  <scm class=\"hudson.scm.NullSCM\"/>\n  <builders/>\n</project>\n";
    assert_eq!(
        ci.ensure_job("odd", mine).await.unwrap().outcome,
        Outcome::Unchanged
    );
    assert_eq!(
        fake.config("odd").as_deref(),
        Some(stored),
        "nothing was written"
    );
    let err = ci
        .ensure_job("odd", "<flow-definition/>")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let err = ci.ensure_job("odd", "<project>").await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");
    assert!(err.message().contains("config_xml"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_folders_and_odd_names() {
    let fake = fake().await;
    let ci = token_client(&fake);
    assert_eq!(
        ci.ensure_folder("a/b c/d").await.unwrap().outcome,
        Outcome::Created
    );
    assert_eq!(fake.items(), vec!["a", "a/b c", "a/b c/d"]);
    let job = ci.ensure_job("a/b c/d/web build ü", JOB).await.unwrap();
    assert_eq!(
        job.value.url.as_deref(),
        Some(&*format!(
            "{}/job/a/job/b%20c/job/d/job/web%20build%20%C3%BC/",
            fake.url()
        ))
    );
    assert!(fake.config("a/b c/d/web build ü").is_some());
    // A job in the way of a folder.
    let err = ci
        .ensure_folder("a/b c/d/web build ü/sub")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    // Names Jenkins refuses never reach it.
    fake.clear_requests();
    for bad in ["a/x?", "a/x;y", "a/..", "a//b", "a/x."] {
        let err = ci.ensure_job(bad, JOB).await.unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{bad}");
    }
    assert!(fake.requests().is_empty());
    assert_eq!(ci.delete_job("a").await.unwrap(), Deleted::Deleted);
    assert!(fake.items().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_with_parameters_and_results() {
    let fake = fake().await;
    let ci = token_client(&fake);
    ci.ensure_job("plain", JOB).await.unwrap();
    ci.ensure_job("param", &provisio_testkit::ci::job_xml("p"))
        .await
        .unwrap();

    // A job without parameters, triggered without parameters, falls back to /build.
    let b = ci.trigger_build("plain", &BTreeMap::new()).await.unwrap();
    assert_eq!(b.number, 1);
    assert_eq!(
        ci.wait_for_build(&b, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Success
    );
    let err = ci
        .trigger_build("plain", &params(&[("TENANT", "acme")]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::InvalidInput, "{err}");

    let b = ci
        .trigger_build("param", &params(&[("TENANT", "acme")]))
        .await
        .unwrap();
    assert_eq!(
        fake.builds("param")[0].1,
        vec![("TENANT".into(), "acme".into())]
    );
    assert_eq!(
        ci.wait_for_build(&b, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Success
    );
    let b = ci
        .trigger_build("param", &params(&[(FAKE_RESULT_PARAM, "UNSTABLE")]))
        .await
        .unwrap();
    assert_eq!(b.number, 2);
    assert_eq!(
        fake.builds("param")[1].1,
        vec![("TENANT".into(), "none".into())]
    );
    assert_eq!(
        ci.wait_for_build(&b, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Unstable
    );
    fake.set_build_result("param", "FAILURE");
    let b = ci.trigger_build("param", &BTreeMap::new()).await.unwrap();
    assert_eq!(
        ci.wait_for_build(&b, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Failure
    );

    fake.set_build_duration(Duration::from_secs(60));
    let b = ci.trigger_build("param", &BTreeMap::new()).await.unwrap();
    let err = ci
        .wait_for_build(&b, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Timeout, "{err}");

    let missing = BuildRef {
        job: "param".into(),
        number: 99,
    };
    let err = ci
        .wait_for_build(&missing, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");

    // A disabled job is not buildable.
    ci.ensure_job("off", "<project><disabled>true</disabled></project>")
        .await
        .unwrap();
    let err = ci.trigger_build("off", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_queue_items_are_found_by_their_queue_id() {
    let fake = fake().await;
    // Left items vanish at once: the client never sees `executable`.
    fake.set_left_item_ttl(Duration::ZERO);
    let ci = token_client(&fake);
    ci.ensure_job("job", JOB).await.unwrap();
    let first = ci.trigger_build("job", &BTreeMap::new()).await.unwrap();
    let second = ci.trigger_build("job", &BTreeMap::new()).await.unwrap();
    assert_eq!((first.number, second.number), (1, 2));
    let log = fake.requests();
    assert!(
        log.iter()
            .any(|r| r.path.starts_with("/queue/item/") && r.status == 404),
        "{log:#?}"
    );
    assert!(log.iter().any(|r| r.query.contains("queueId")), "{log:#?}");
    assert_eq!(
        ci.wait_for_build(&second, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Success
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_queue_item_is_an_error() {
    let fake = fake().await;
    fake.set_queue_delay(Duration::from_secs(30));
    let ci = token_client(&fake);
    ci.ensure_job("job", JOB).await.unwrap();
    let task = tokio::spawn(async move { ci.trigger_build("job", &BTreeMap::new()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/queue/cancelItem?id=1", fake.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("cancelled"), "{err}");

    // Cancelled and expired: nothing to find.
    fake.set_left_item_ttl(Duration::ZERO);
    let ci = token_client(&fake);
    let task = tokio::spawn(async move { ci.trigger_build("job", &BTreeMap::new()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    http.post(format!("{}/queue/cancelItem?id=2", fake.url()))
        .basic_auth(USER, Some(TOKEN))
        .send()
        .await
        .unwrap();
    let err = task.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::NotFound, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_polling_waits_out_rate_limits() {
    let fake = fake().await;
    let ci = token_client(&fake);
    ci.ensure_job("job", JOB).await.unwrap();
    fake.inject(Fault::rate_limited(0).on("GET", "/queue/item/").times(3));
    let b = ci.trigger_build("job", &BTreeMap::new()).await.unwrap();
    assert_eq!(b.number, 1);
    fake.inject(Fault::status(502).on("GET", "/job/job/1/api/json").times(2));
    assert_eq!(
        ci.wait_for_build(&b, Duration::from_secs(10))
            .await
            .unwrap(),
        BuildResult::Success
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_names_the_server() {
    let fake = fake().await;
    let ci = token_client(&fake);
    let info = provisio::Provider::info(&ci);
    assert_eq!(info.name, "jenkins");
    assert_eq!(info.account, fake.url());
    assert_eq!(info.quota, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_edits_send_few_requests_and_keep_the_rest_of_the_xml() {
    use provisio::ci::Linked;
    use provisio_fake_jenkins::umbrella_config;
    let fake = fake().await;
    let ci = token_client(&fake);
    fake.seed_job("umbrella", &umbrella_config(&["other"]))
        .unwrap();
    fake.clear_requests();
    // Listed already: one read.
    assert_eq!(
        ci.add_downstream("umbrella", "other").await.unwrap(),
        Some(Linked {
            was_listed: true,
            changed: false
        })
    );
    let methods = |log: &[RequestRecord]| -> Vec<String> {
        log.iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };
    assert_eq!(methods(&fake.requests()), ["GET /job/umbrella/config.xml"]);
    // Not listed: read, write, read to verify.
    fake.clear_requests();
    assert_eq!(
        ci.add_downstream("umbrella", "tenants/acme/build")
            .await
            .unwrap(),
        Some(Linked {
            was_listed: false,
            changed: true
        })
    );
    assert_eq!(
        methods(&fake.requests()),
        [
            "GET /job/umbrella/config.xml",
            "POST /job/umbrella/config.xml",
            "GET /job/umbrella/config.xml"
        ]
    );
    assert_eq!(
        fake.config("umbrella").unwrap(),
        umbrella_config(&["other,tenants/acme/build"])
    );
    assert_eq!(
        ci.remove_downstream("umbrella", "tenants/acme/build")
            .await
            .unwrap()
            .map(|l| l.changed),
        Some(true)
    );
    assert_eq!(
        fake.config("umbrella").unwrap(),
        umbrella_config(&["other"])
    );
    // A pipeline job has no publishers: adding is Unsupported, removing finds nothing.
    fake.seed_job(
        "pipeline",
        "<flow-definition plugin=\"workflow-job@2.40\"><definition/></flow-definition>",
    )
    .unwrap();
    let e = ci.add_downstream("pipeline", "x").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Unsupported, "{e}");
    assert_eq!(e.operation(), Some("ci.add_downstream"));
    assert_eq!(
        ci.remove_downstream("pipeline", "x").await.unwrap(),
        Some(Linked {
            was_listed: false,
            changed: false
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downstream_edit_is_redone_when_a_concurrent_writer_drops_it() {
    use provisio::ci::Linked;
    use provisio_fake_jenkins::umbrella_config;
    let fake = fake().await;
    let original = umbrella_config(&["other"]);
    fake.seed_job("umbrella", &original).unwrap();
    let ci = token_client(&fake);
    fake.clear_requests();
    // Slow reads, so that another writer (who read before our write) can write in between
    // our write and our second read.
    fake.inject(
        Fault::delay(Duration::from_millis(300))
            .on("GET", "/job/umbrella/config.xml")
            .times(2),
    );
    let add =
        tokio::spawn(async move { ci.add_downstream("umbrella", "tenants/acme/build").await });
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while posts(&fake.requests()).is_empty() {
        assert!(std::time::Instant::now() < deadline, "our write never came");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The other writer puts back what it read: our reference is gone.
    fake.seed_job("umbrella", &original).unwrap();
    let linked = add.await.unwrap().unwrap();
    assert_eq!(
        linked,
        Some(Linked {
            was_listed: false,
            changed: true
        })
    );
    assert_eq!(
        fake.config("umbrella").unwrap(),
        umbrella_config(&["other,tenants/acme/build"]),
        "the edit was redone"
    );
    assert_eq!(posts(&fake.requests()).len(), 2, "{:#?}", fake.requests());
}
