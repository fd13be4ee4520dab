//! One tenant of the launch example through its whole lifecycle on real local servers, with
//! the Rust API and providers built from a provider file as the CLI builds them (one process:
//! moto's Route 53 duplicates a record set when a process that never saw it sends `CREATE`,
//! see `docs/providers/aws.md`): launch → suspend → resume → archive → restore → retire.
//!
//! - DNS, S3, EC2, Secrets Manager and SES on moto (`PROVISIO_TEST_AWS_ENDPOINT`);
//! - the database, its role and seed on PostgreSQL (`PROVISIO_TEST_POSTGRES_URL`), the dump
//!   streamed into S3;
//! - the config branches in a bare git repository;
//! - the staging stack over SSH on the test sshd (`PROVISIO_TEST_GIT_SSH`, its key and
//!   known_hosts), with a stand-in `docker` that records what it is asked to do;
//! - the health check against a small HTTP server started here;
//! - CI on the memory provider (the Jenkins fake has its own launch test).
//!
//! After every command the servers themselves are asked (not provisio's state): the
//! instance's state on EC2, the A record on Route 53, the storage class of every object on S3,
//! the database and a checksum of its rows on PostgreSQL, the staging directory on the host,
//! the branches in the repository. Skipped (and passing) when the servers are not there.
//!
//! The example's blueprint is used as it is, with three edits for the local servers: the
//! health check asks the local HTTP server, the staging directory is under the test's
//! directory, and the check's deadline is 15 s (a check that never passes is part of it).

mod common;
use common::{config_repository, git};
use provisio::{CiServer, Compute, DnsProvider, ObjectStorage};
use provisio_aws::{Aws, AwsConfig};
use provisio_engine::state::sqlite::SqliteStateStore;
use provisio_engine::{ApplyOptions, Blueprint, Engine, Phase, Tenant, Transition, types};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

const MOTO_AMI: &str = "ami-12c6146b";

fn launch_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/launch-tenant")
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A health endpoint on 127.0.0.1: `200 ok` while `healthy`, else `503`; counts requests.
struct Health {
    port: u16,
    healthy: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
}

fn health_server() -> Health {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let healthy = Arc::new(AtomicBool::new(true));
    let requests = Arc::new(AtomicUsize::new(0));
    let (h, r) = (healthy.clone(), requests.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            r.fetch_add(1, Ordering::SeqCst);
            let answer = if h.load(Ordering::SeqCst) {
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            } else {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\ndown"
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    Health {
        port,
        healthy,
        requests,
    }
}

/// The stand-in `docker` on the host's PATH: logs `<project> <args>` and keeps a "running"
/// file per compose project, so `ps --status running --quiet` answers like the real one.
fn stand_in_docker(work: &Path) -> (PathBuf, PathBuf) {
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = work.join("docker.log");
    let script = format!(
        "#!/bin/sh\n\
         printf '%s\\n' \"$*\" >> '{log}'\n\
         project=$3\n\
         case \"$4\" in\n\
         up) touch '{work}/running-'\"$project\" ;;\n\
         down) rm -f '{work}/running-'\"$project\" ;;\n\
         ps) [ -f '{work}/running-'\"$project\" ] && echo 0123456789ab ;;\n\
         esac\n\
         exit 0\n",
        log = log.display(),
        work = work.display()
    );
    let docker = bin.join("docker");
    std::fs::write(&docker, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

struct Servers {
    aws: Aws,
    zone: provisio::dns::Zone,
    pg_url: String,
    repo: PathBuf,
    tenant: String,
    bucket: String,
    stacks: PathBuf,
    docker_log: PathBuf,
}

impl Servers {
    /// (state, public ip) of the tenant's live instances on EC2.
    async fn instances(&self) -> Vec<(String, Option<String>)> {
        let tags = provisio::types::ownership::tags(&self.tenant, "launch-tenant", "web");
        self.aws
            .compute()
            .find_instances(&tags)
            .await
            .unwrap()
            .into_iter()
            .filter(|i| !i.state.is_terminal())
            .map(|i| {
                (
                    serde_json::to_value(i.state)
                        .unwrap()
                        .as_str()
                        .unwrap()
                        .to_string(),
                    i.public_ip,
                )
            })
            .collect()
    }
    /// The A record of the tenant's hostname on Route 53.
    async fn www(&self) -> Option<String> {
        self.aws
            .dns()
            .get_record(
                &self.zone,
                &format!("{}.{}", self.tenant, self.zone.name),
                &provisio::dns::RecordType::A,
            )
            .await
            .unwrap()
            .map(|r| r.content)
    }
    /// The storage class of every object under `prefix` on S3, deduplicated.
    async fn classes(&self, prefix: &str) -> Vec<String> {
        let objects =
            provisio::storage::list_all(self.aws.storage().as_ref(), &self.bucket, prefix)
                .await
                .unwrap();
        let mut c: Vec<String> = objects
            .iter()
            .map(|o| {
                serde_json::to_value(o.storage_class)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        c.sort();
        c.dedup();
        c
    }
    async fn keys(&self, prefix: &str) -> Vec<String> {
        provisio::storage::list_all(self.aws.storage().as_ref(), &self.bucket, prefix)
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    }
    async fn pg(&self, db: &str) -> tokio_postgres::Client {
        let url = match self.pg_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{db}"),
            None => unreachable!(),
        };
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }
    /// Whether the tenant's database exists on PostgreSQL.
    async fn has_database(&self) -> bool {
        let c = self.pg("postgres").await;
        c.query_opt(
            "SELECT 1 FROM pg_database WHERE datname = $1",
            &[&self.tenant],
        )
        .await
        .unwrap()
        .is_some()
    }
    /// Row count and MD5 over every row of the tenant's `settings` table, in key order.
    async fn checksum(&self) -> (i64, String) {
        let c = self.pg(&self.tenant).await;
        let row = c
            .query_one(
                "SELECT count(*), md5(string_agg(key || '=' || value, ',' ORDER BY key)) FROM settings",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
    fn stack_dir(&self) -> PathBuf {
        self.stacks.join(format!("{}-stg", self.tenant))
    }
    fn docker_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.docker_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
    fn branches(&self) -> String {
        git(&["--git-dir", self.repo.to_str().unwrap(), "branch", "--list"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_through_launch_suspend_resume_archive_restore_retire_on_real_servers() {
    let (Some(endpoint), Some(pg_url), Some(ssh_url), Some(key), Some(known_hosts)) = (
        env("PROVISIO_TEST_AWS_ENDPOINT"),
        env("PROVISIO_TEST_POSTGRES_URL"),
        env("PROVISIO_TEST_GIT_SSH"),
        env("PROVISIO_TEST_GIT_SSH_KEY"),
        env("PROVISIO_TEST_GIT_SSH_KNOWN_HOSTS"),
    ) else {
        eprintln!("skipped: moto, PostgreSQL and the test sshd are not all there");
        return;
    };
    // ssh://user@127.0.0.1:port/path
    let rest = ssh_url.trim_start_matches("ssh://");
    let (auth, _) = rest.split_once('/').unwrap();
    let (ssh_user, hostport) = auth.split_once('@').unwrap();
    let (ssh_host, ssh_port) = hostport.rsplit_once(':').unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().to_path_buf();
    let run = std::process::id();
    let tenant = format!("lc{run}");
    let domain = format!("lifecycle-{run}.test");
    let bucket = format!("lifecycle-{run}-assets");

    // moto: the zone and the shared bucket with the initial assets an operator has
    let aws = Aws::connect(AwsConfig::for_emulator(&endpoint))
        .await
        .unwrap();
    let r53 = aws_sdk_route53::Client::new(aws.sdk_config());
    r53.create_hosted_zone()
        .name(&domain)
        .caller_reference(format!("provisio-lifecycle-{run}"))
        .send()
        .await
        .unwrap();
    let zone = aws.dns().find_zone(&domain).await.unwrap().unwrap();
    let storage = aws.storage();
    storage
        .ensure_bucket(&provisio::storage::BucketSpec::new(&bucket))
        .await
        .unwrap();
    for (k, v) in [
        (
            "initial/logo.svg",
            "<svg xmlns='http://www.w3.org/2000/svg'/>",
        ),
        ("initial/robots.txt", "User-agent: *\nDisallow:\n"),
    ] {
        storage
            .put_object(&bucket, k, provisio::Bytes::from(v), None)
            .await
            .unwrap();
    }

    // the tenant configuration repository, with its main branch
    let repo = config_repository(&work);

    let health = health_server();
    let (bin, docker_log) = stand_in_docker(&work);
    let stacks = work.join("stacks");

    // the example, edited for the local servers
    let bp = work.join("launch-tenant");
    copy_dir(&launch_dir(), &bp);
    let text = std::fs::read_to_string(bp.join("blueprint.yaml")).unwrap();
    let edits = [
        (
            r#"url: "https://${dns_prod.fqdn}/health", timeout_secs: 600"#,
            format!(
                r#"url: "http://127.0.0.1:{}/health/${{tenant.name}}", timeout_secs: 15, interval_secs: 1, max_interval_secs: 2"#,
                health.port
            ),
        ),
        (
            r#"dir: "/srv/tenants/${tenant.name}-stg""#,
            format!(r#"dir: "{}/${{tenant.name}}-stg""#, stacks.display()),
        ),
    ];
    let mut edited = text.clone();
    for (from, to) in &edits {
        assert!(edited.contains(from), "the example no longer holds {from}");
        edited = edited.replace(from, to);
    }
    std::fs::write(bp.join("blueprint.yaml"), edited).unwrap();

    let aws_kind = |cap: &str| {
        format!(
            "[providers.{cap}.default]\nkind = \"aws\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n"
        )
    };
    let providers = format!(
        "fallback = \"memory\"\n{}{}{}{}{}\
         [providers.database.default]\nkind = \"postgres\"\nurl = \"{pg_url}?sslmode=disable\"\n\
         [providers.repo.default]\nkind = \"git\"\nurl = \"{}\"\ncache_dir = \"{}/git-cache\"\n\
         [providers.host.default]\nkind = \"ssh\"\nhost = \"{ssh_host}\"\nport = {ssh_port}\nuser = \"{ssh_user}\"\n\
         key_file = \"{key}\"\nknown_hosts = \"{known_hosts}\"\npath_prefix = \"{}\"\n\
         [providers.probe.default]\nkind = \"http\"\n",
        aws_kind("dns"),
        aws_kind("storage"),
        aws_kind("compute"),
        aws_kind("secrets"),
        aws_kind("mail"),
        repo.display(),
        work.display(),
        bin.display(),
    );
    std::fs::write(work.join("providers.toml"), providers).unwrap();

    // the AWS kind takes its credentials from the environment, as the CLI does
    // SAFETY: set before this test starts any thread that reads the environment; the test
    // binary runs this one test.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let config = provisio_config::ProviderConfig::from_file(work.join("providers.toml")).unwrap();
    let conn = config.connect().await.unwrap();
    let cloud = conn.memory.clone().expect("memory for CI");
    for job in ["core_build-stg", "web_build-stg"] {
        cloud
            .ci
            .ensure_job(job, "<?xml version='1.1' encoding='UTF-8'?>\n<project/>\n")
            .await
            .unwrap();
    }
    let state = SqliteStateStore::open(work.join("state.db")).await.unwrap();
    let engine = Engine::builder()
        .providers(conn.providers.clone())
        .registry(types::builtin())
        .state(Arc::new(state))
        .build()
        .unwrap();
    let blueprint = Blueprint::load(&bp).unwrap();
    let who = Tenant::new(&tenant)
        .var("domain", domain.clone())
        .var("image", MOTO_AMI)
        .var("size", "t3.micro")
        .var("assets_bucket", bucket.clone())
        .secret("smtp_password", "smtp-credential-for-tests");
    let run = |t: Option<Transition>, allow: &'static [&'static str]| {
        let (engine, blueprint, who) = (&engine, &blueprint, &who);
        async move {
            let mut options = ApplyOptions::default();
            for a in allow {
                options = options.allow(*a);
            }
            match t {
                None => engine.apply(blueprint, who, options).await,
                Some(t) => engine.transition(blueprint, who, t, options).await,
            }
        }
    };
    let ok = |t: Option<Transition>, allow: &'static [&'static str]| {
        let run = &run;
        async move {
            let report = run(t, allow).await.unwrap();
            assert!(report.is_success(), "{t:?}: {:?}", report.errors);
            report
        }
    };
    let phase = || async { engine.phase(&tenant).await.unwrap().unwrap() };
    let srv = Servers {
        aws,
        zone,
        pg_url,
        repo,
        tenant: tenant.clone(),
        bucket: bucket.clone(),
        stacks,
        docker_log,
    };
    let assets = format!("tenants/{tenant}/");
    let archive = format!("archives/{tenant}/");

    // launch
    let report = ok(None, &[]).await;
    assert_eq!(report.summary.created, 24, "{:?}", report.summary);
    let live = srv.instances().await;
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].0, "running");
    let ip = live[0].1.clone().expect("a public address");
    assert_eq!(srv.www().await.as_deref(), Some(ip.as_str()));
    assert_eq!(srv.classes(&assets).await, ["standard"]);
    assert!(srv.has_database().await);
    assert!(srv.stack_dir().join("docker-compose.yml").is_file());
    assert!(srv.branches().contains(&tenant));
    assert!(
        health.requests.load(Ordering::SeqCst) >= 1,
        "the health check asked"
    );
    // the application writes data
    srv.pg(&tenant)
        .await
        .batch_execute(
            "INSERT INTO settings SELECT 'k' || g, md5(g::text) FROM generate_series(1, 5000) g",
        )
        .await
        .unwrap();
    let rows = srv.checksum().await;
    assert_eq!(rows.0, 5001);

    // suspend: stopped, the hostname at the maintenance host, staging down, data kept
    ok(Some(Transition::Suspend), &[]).await;
    assert_eq!(srv.instances().await[0].0, "stopped");
    assert_eq!(srv.www().await.as_deref(), Some("192.0.2.250"));
    assert!(
        !srv.stack_dir().exists(),
        "the staging directory is removed"
    );
    assert!(
        srv.docker_calls().iter().any(|c| c.ends_with("down")),
        "{:?}",
        srv.docker_calls()
    );
    assert_eq!(srv.checksum().await, rows);

    // resume while the site does not answer: the check fails at its deadline, the tenant
    // stays "resuming", and the same command finishes once the site is up
    health.healthy.store(false, Ordering::SeqCst);
    let report = run(Some(Transition::Resume), &[]).await.unwrap();
    assert!(!report.is_success());
    let (step, error) = &report.errors[0];
    assert_eq!(step, "health");
    assert!(error.message().contains("503"), "{error}");
    assert_eq!(
        phase().await.transition,
        Some(Transition::Resume),
        "still resuming"
    );
    health.healthy.store(true, Ordering::SeqCst);
    ok(Some(Transition::Resume), &[]).await;
    let live = srv.instances().await;
    assert_eq!(live[0].0, "running");
    assert_eq!(
        srv.www().await,
        live[0].1,
        "the hostname follows the new address"
    );
    assert!(srv.stack_dir().join("docker-compose.yml").is_file());

    // archive: the dump in S3 before the database goes, the files in the archive class
    ok(Some(Transition::Archive), &[]).await;
    assert!(
        srv.instances().await.is_empty(),
        "the instance is terminated"
    );
    assert_eq!(srv.www().await.as_deref(), Some("192.0.2.250"));
    assert_eq!(srv.classes(&assets).await, ["archive"]);
    assert!(!srv.has_database().await);
    assert_eq!(srv.keys(&archive).await, [format!("{archive}db.dump")]);

    // a restore never overwrites a live database: one made behind provisio's back stops it
    srv.pg("postgres")
        .await
        .batch_execute(&format!("CREATE DATABASE \"{tenant}\"; "))
        .await
        .unwrap();
    srv.pg(&tenant)
        .await
        .batch_execute("CREATE TABLE intruder (x int)")
        .await
        .unwrap();
    let report = run(Some(Transition::Restore), &[]).await.unwrap();
    assert!(!report.is_success());
    let (step, error) = &report.errors[0];
    assert_eq!(step, "database");
    assert_eq!(error.kind(), &provisio::ErrorKind::Conflict, "{error}");
    assert_eq!(
        phase().await.transition,
        Some(Transition::Restore),
        "still restoring"
    );
    srv.pg("postgres")
        .await
        .batch_execute(&format!("DROP DATABASE \"{tenant}\" WITH (FORCE)"))
        .await
        .unwrap();

    // a missing archive: restore stops at the database, naming the archive, and the same
    // command finishes once it is back
    let dump_key = format!("{archive}db.dump");
    let aside = format!("aside/{tenant}.dump");
    storage
        .copy_object(&bucket, &dump_key, &bucket, &aside)
        .await
        .unwrap();
    storage.delete_object(&bucket, &dump_key).await.unwrap();
    let report = run(Some(Transition::Restore), &[]).await.unwrap();
    assert!(!report.is_success());
    let (step, error) = &report.errors[0];
    assert_eq!(step, "database", "{:?}", report.errors);
    assert_eq!(error.kind(), &provisio::ErrorKind::NotFound, "{error}");
    assert!(error.message().contains(&dump_key), "{error}");
    assert!(
        !srv.has_database().await,
        "no empty database instead of the archive"
    );
    assert_eq!(
        phase().await.transition,
        Some(Transition::Restore),
        "still restoring"
    );
    storage
        .copy_object(&bucket, &aside, &bucket, &dump_key)
        .await
        .unwrap();
    storage.delete_object(&bucket, &aside).await.unwrap();

    // restore: identical rows, files back in the standard class, an instance again
    ok(Some(Transition::Restore), &[]).await;
    assert_eq!(
        srv.checksum().await,
        rows,
        "the database came back row for row"
    );
    assert_eq!(srv.classes(&assets).await, ["standard"]);
    assert_eq!(srv.instances().await.len(), 1);
    assert!(srv.stack_dir().join("docker-compose.yml").is_file());

    // retire: everything goes but the archive, which expires
    let e = run(Some(Transition::Retire), &[]).await.unwrap_err();
    assert_eq!(e.kind(), &provisio::ErrorKind::Protected, "{e}");
    ok(Some(Transition::Retire), &["database"]).await;
    assert_eq!(phase().await.phase, Phase::Retired);
    assert!(srv.instances().await.is_empty());
    assert_eq!(srv.www().await, None);
    assert!(srv.keys(&assets).await.is_empty());
    assert!(!srv.has_database().await);
    assert!(!srv.stack_dir().exists());
    assert!(!srv.branches().contains(&tenant), "{}", srv.branches());
    assert_eq!(srv.keys(&archive).await, [format!("{archive}db.dump")]);
    let rule = storage.get_expiry_rule(&bucket, &archive).await.unwrap();
    assert_eq!(rule.map(|r| r.days), Some(30), "the archive expires");
}
