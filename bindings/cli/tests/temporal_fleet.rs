//! Fleets on Temporal through the `provisio` binary: three `provisio worker` processes and
//! `provisio fleet ... --on temporal://`, against real local servers (moto for Route 53, S3
//! and Secrets Manager, PostgreSQL for the tenants' databases and the shared state, a bare git
//! repository for their branches) and the Temporal dev server.
//!
//! Every check of what was provisioned asks the servers themselves (Route 53's record sets,
//! S3's keys, Secrets Manager's secrets, PostgreSQL's catalogs, the repository's branches),
//! not provisio's state.
//!
//! Needs `PROVISIO_TEST_TEMPORAL_ADDRESS`, `PROVISIO_TEST_POSTGRES_URL` and
//! `PROVISIO_TEST_AWS_ENDPOINT` (`scripts/test.sh` starts them); skipped (and passing) without.
//! Built with the CLI's `temporal` feature only.

mod common;
use common::{config_repository, git};
use provisio::{DnsProvider, ObjectStorage, PageRequest, SecretStore};
use provisio_aws::{Aws, AwsConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BLUEPRINT: &str = r#"
name: fleet-on-temporal
variables:
  zone: { description: "the hosted zone (exists)" }
  bucket: { description: "the shared bucket with initial/ assets (exists)" }
  smtp_password: { secret: true, description: "read by each worker from its environment" }
resources:
  dns:
    type: dns.record
    params: { zone: "${tenant.zone}", name: "${tenant.name}.${tenant.zone}", type: A, content: 192.0.2.10, ttl: 300 }
  assets:
    type: storage.objects
    params: { bucket: "${tenant.bucket}", prefix: "tenants/${tenant.name}/", copy_from: { bucket: "${tenant.bucket}", prefix: "initial/" } }
  db_password:
    type: secrets.secret
    params: { name: "${tenant.name}-db-password", generate: { length: 24 } }
  smtp:
    type: secrets.secret
    params: { name: "${tenant.name}-smtp-password", from_var: smtp_password }
  db_role:
    type: database.role
    params: { name: "${tenant.name}", password_secret: "${db_password.name}" }
  database:
    type: database.database
    params: { name: "${tenant.name}", owner: "${db_role.name}" }
  branch:
    type: repo.branch
    params: { name: "${tenant.name}", base: main }
"#;

/// Only Secrets Manager, for the shared rate limit (its calls are one request per secret and
/// step; Route 53's record changes are batched, too few requests to see a rate).
const SECRETS_ONLY: &str = r#"
name: fleet-on-temporal-secrets
resources:
  one:
    type: secrets.secret
    params: { name: "${tenant.name}-one", generate: { length: 16 } }
  two:
    type: secrets.secret
    params: { name: "${tenant.name}-two", generate: { length: 16 } }
"#;

const SMTP_PASSWORD: &str = "smtp-credential-from-the-worker-env";

struct Servers {
    temporal: String,
    postgres: String,
    aws: String,
}

fn servers() -> Option<Servers> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    match (
        get("PROVISIO_TEST_TEMPORAL_ADDRESS"),
        get("PROVISIO_TEST_POSTGRES_URL"),
        get("PROVISIO_TEST_AWS_ENDPOINT"),
    ) {
        (Some(temporal), Some(postgres), Some(aws)) => Some(Servers {
            temporal,
            postgres,
            aws,
        }),
        _ => {
            println!(
                "skipped: set PROVISIO_TEST_TEMPORAL_ADDRESS, PROVISIO_TEST_POSTGRES_URL and \
                 PROVISIO_TEST_AWS_ENDPOINT"
            );
            None
        }
    }
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{:x}{:04x}", std::process::id() % 0xfff, nanos % 0xffff)
}

/// `url` with another database name.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{db}{query}")
}

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// One test's world: a state database of its own on the PostgreSQL server, a hosted zone and
/// a bucket on moto, a bare repository, a providers file and a working directory.
struct World {
    servers: Servers,
    dir: tempfile::TempDir,
    run: String,
    state_url: String,
    state_db: String,
    zone: String,
    bucket: String,
    repo: PathBuf,
    aws: Aws,
    workers: Vec<(String, Child)>,
}

impl World {
    async fn new(
        servers: Servers,
        secrets_proxy: Option<&str>,
        secrets_quota: Option<u32>,
    ) -> World {
        let run = run_id();
        let dir = tempfile::tempdir().unwrap();
        let state_db = format!("tmp_fleet_state_{run}");
        let admin = pg(&servers.postgres).await;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{state_db}\""))
            .await
            .unwrap();
        let state_url = with_db(&servers.postgres, &state_db);
        // moto: the zone and the shared bucket an operator has
        let aws = Aws::connect(AwsConfig::for_emulator(&servers.aws))
            .await
            .unwrap();
        let zone = format!("fleet-{run}.test");
        let bucket = format!("fleet-{run}-assets");
        aws_sdk_route53::Client::new(aws.sdk_config())
            .create_hosted_zone()
            .name(&zone)
            .caller_reference(format!("provisio-fleet-{run}"))
            .send()
            .await
            .unwrap();
        let storage = aws.storage();
        storage
            .ensure_bucket(&provisio::storage::BucketSpec::new(&bucket))
            .await
            .unwrap();
        for (k, v) in [("initial/logo.svg", "<svg/>"), ("initial/robots.txt", "")] {
            storage
                .put_object(&bucket, k, provisio::Bytes::from(v), None)
                .await
                .unwrap();
        }
        let repo = config_repository(dir.path());
        let aws_entry = |cap: &str, endpoint: &str, extra: &str| {
            format!(
                "[providers.{cap}.default]\nkind = \"aws\"\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n{extra}"
            )
        };
        let quota = secrets_quota
            .map(|q| format!("rate_limits.secretsmanager = {{ requests = {q}, per_secs = 1 }}\n"))
            .unwrap_or_default();
        let tenant_db = format!("{}?sslmode=disable", with_db(&servers.postgres, "postgres"));
        let providers = format!(
            "{}{}{}[providers.database.default]\nkind = \"postgres\"\nurl = \"{}\"\n\
             [providers.repo.default]\nkind = \"git\"\nurl = \"{}\"\ncache_dir = \"git-cache\"\n",
            aws_entry("dns", &servers.aws, ""),
            aws_entry("storage", &servers.aws, ""),
            aws_entry("secrets", secrets_proxy.unwrap_or(&servers.aws), &quota),
            tenant_db,
            repo.display(),
        );
        std::fs::write(dir.path().join("providers.toml"), providers).unwrap();
        std::fs::write(dir.path().join("blueprint.yaml"), BLUEPRINT).unwrap();
        std::fs::write(dir.path().join("secrets-only.yaml"), SECRETS_ONLY).unwrap();
        World {
            servers,
            dir,
            run,
            state_url,
            state_db,
            zone,
            bucket,
            repo,
            aws,
            workers: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn tenant(&self, i: usize) -> String {
        format!("f{}-{i:02}", self.run)
    }

    fn on(&self) -> String {
        format!("temporal://{}", self.servers.temporal)
    }

    fn queue(&self) -> String {
        format!("fleet-{}", self.run)
    }

    /// `provisio` in the test's directory with the providers file and the shared state.
    fn provisio(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_provisio"));
        cmd.current_dir(self.path())
            .args(["--providers", "providers.toml", "--state", &self.state_url])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("PROVISIO_FLEET_ON")
            .env_remove("PROVISIO_PROVIDERS")
            .env_remove("PROVISIO_STATE")
            .env_remove("PROVISIO_SECRET_SMTP_PASSWORD")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Starts worker `name` and waits until it polls.
    fn start_worker(&mut self, name: &str, max_tenants: usize) {
        let mut child = self
            .provisio()
            .args(["--json", "worker", "--temporal", &self.servers.temporal])
            .args(["--task-queue", &self.queue(), "--identity", name])
            .args([
                "--max-tenants",
                &max_tenants.to_string(),
                "--lease-ttl",
                "4",
            ])
            .env("PROVISIO_SECRET_SMTP_PASSWORD", SMTP_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the worker says it is ready").unwrap();
        let ready: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(ready["type"], "worker_ready", "{first}");
        // keep reading (its event lines) so the pipe never fills
        std::thread::spawn(move || for _ in lines {});
        self.workers.push((name.to_string(), child));
    }

    /// Runs `provisio` with `args` and returns its JSON lines; asserts it exited with `code`
    /// (any of 0 and 1 with `None`).
    fn json(&self, args: &[&str], code: impl Into<Option<i32>>) -> Vec<Value> {
        let out = self.provisio().arg("--json").args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let code = code.into();
        assert!(
            code.map_or(matches!(out.status.code(), Some(0 | 1)), |c| out
                .status
                .code()
                == Some(c)),
            "provisio {args:?}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn status(&self, id: &str) -> Value {
        self.json(&["fleet", "status", id, "--on", &self.on()], None)
            .pop()
            .unwrap()
    }

    async fn wait(&self, id: &str, what: &str, until: impl Fn(&Value) -> bool) -> Value {
        let t0 = Instant::now();
        loop {
            let s = self.status(id);
            if until(&s) {
                return s;
            }
            let state = &s["state"]["state"];
            assert!(state == "running" || state == "paused", "{what}: ended {s}");
            assert!(t0.elapsed() < Duration::from_secs(180), "{what}: {s}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn write_tenants(&self, file: &str, n: usize) {
        let mut csv = String::from("name\n");
        for i in 0..n {
            csv.push_str(&self.tenant(i));
            csv.push('\n');
        }
        std::fs::write(self.path().join(file), csv).unwrap();
    }

    /// Drops the tenants' databases and roles and the state database.
    async fn cleanup(&mut self) {
        self.stop_workers();
        let (dbs, roles) = self.databases_and_roles().await;
        let admin = pg(&self.servers.postgres).await;
        for db in dbs {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE \"{db}\" WITH (FORCE)"))
                .await;
        }
        for role in roles {
            let _ = admin.batch_execute(&format!("DROP ROLE \"{role}\"")).await;
        }
        let _ = admin
            .batch_execute(&format!("DROP DATABASE \"{}\" WITH (FORCE)", self.state_db))
            .await;
    }

    /// The tenants' databases and roles on the PostgreSQL server (names starting with this
    /// run's tenant prefix).
    async fn databases_and_roles(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let admin = pg(&self.servers.postgres).await;
        let prefix = format!("f{}-", self.run);
        let mut out = [BTreeSet::new(), BTreeSet::new()];
        for (i, sql) in [
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
            "SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)",
        ]
        .into_iter()
        .enumerate()
        {
            for row in admin.query(sql, &[&prefix]).await.unwrap() {
                out[i].insert(row.get::<_, String>(0));
            }
        }
        let [dbs, roles] = out;
        (dbs, roles)
    }

    /// Route 53's record sets in the zone: (name, type) → how many sets.
    async fn record_sets(&self) -> BTreeMap<(String, String), usize> {
        let r53 = aws_sdk_route53::Client::new(self.aws.sdk_config());
        let zone = self.aws.dns().find_zone(&self.zone).await.unwrap().unwrap();
        let mut out = BTreeMap::new();
        let (mut name, mut kind) = (None::<String>, None);
        loop {
            let page = r53
                .list_resource_record_sets()
                .hosted_zone_id(&zone.id)
                .set_start_record_name(name.clone())
                .set_start_record_type(kind.clone())
                .send()
                .await
                .unwrap();
            for rs in page.resource_record_sets() {
                *out.entry((
                    rs.name().trim_end_matches('.').to_string(),
                    rs.r#type().as_str().to_string(),
                ))
                .or_insert(0) += 1;
            }
            if !page.is_truncated() {
                return out;
            }
            name = page.next_record_name().map(str::to_string);
            kind = page.next_record_type().cloned();
        }
    }
}

impl World {
    fn stop_workers(&mut self) {
        for (_, w) in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        self.workers.clear();
    }
}

/// A failed test stops its workers too.
impl Drop for World {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

/// Sends SIGKILL to `child` (kill -9).
fn kill_9(child: &mut Child) {
    let status = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tenants_over_three_worker_processes_survive_a_kill_9() {
    let Some(servers) = servers() else { return };
    let mut w = World::new(servers, None, None).await;
    const N: usize = 50;
    w.write_tenants("tenants.csv", N);
    for name in ["w1", "w2", "w3"] {
        w.start_worker(name, 4);
    }
    let fleet_id = format!("fifty-{}", w.run);
    let (zone, bucket) = (format!("zone={}", w.zone), format!("bucket={}", w.bucket));
    let started = w.json(
        &[
            "fleet",
            "apply",
            "blueprint.yaml",
            "--tenants",
            "tenants.csv",
            "--var",
            &zone,
            "--var",
            &bucket,
            "--on",
            &w.on(),
            "--task-queue",
            &w.queue(),
            "--fleet-id",
            &fleet_id,
            "--concurrency",
            "9",
            "--canary",
            "3",
            "--heartbeat-timeout",
            "4",
        ],
        0,
    );
    assert_eq!(started[0]["type"], "fleet_started", "{started:?}");
    assert_eq!(started[0]["fleet_id"], fleet_id.as_str());

    // pause once the canaries are through: running tenants finish, nothing new starts
    w.wait(&fleet_id, "canaries done", |s| {
        s["done"].as_u64() >= Some(3)
    })
    .await;
    w.json(&["fleet", "pause", &fleet_id, "--on", &w.on()], 0);
    let quiet = w
        .wait(&fleet_id, "running tenants finish while paused", |s| {
            s["running"].as_array().is_some_and(|r| r.is_empty())
        })
        .await;
    assert_eq!(quiet["state"]["state"], "paused", "{quiet}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = w.status(&fleet_id);
    assert_eq!(
        still["pending"], quiet["pending"],
        "nothing started while paused"
    );
    assert_eq!(still["done"], quiet["done"]);
    assert!(still["pending"].as_u64().unwrap() > 0);
    w.json(&["fleet", "resume", &fleet_id, "--on", &w.on()], 0);

    // kill -9 worker w1 while it holds a tenant (its lease in the shared state)
    let state = pg(&w.state_url).await;
    let t0 = Instant::now();
    loop {
        let held: i64 = state
            .query_one(
                "SELECT count(*) FROM provisio.leases WHERE owner LIKE 'temporal-w1/%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if held > 0 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "w1 never ran a tenant"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held: Vec<String> = state
        .query(
            "SELECT tenant FROM provisio.leases WHERE owner LIKE 'temporal-w1/%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (_, mut victim) = w.workers.remove(0);
    kill_9(&mut victim);
    println!("killed w1 (kill -9) while it held {held:?}");

    let end = w
        .wait(&fleet_id, "the rollout completes", |s| {
            s["state"]["state"] != "running" && s["state"]["state"] != "paused"
        })
        .await;
    assert_eq!(end["state"]["state"], "completed", "{end}");
    assert_eq!(end["done"], N as u64, "{end}");
    assert_eq!(end["failed"], 0, "{end}");
    let results = end["results"].as_array().unwrap();
    assert_eq!(results.len(), N);
    // the tenants w1 held ran again on another worker, as a later attempt
    let moved: Vec<&Value> = results
        .iter()
        .filter(|r| held.iter().any(|t| r["tenant"] == t.as_str()))
        .collect();
    assert!(!moved.is_empty(), "{held:?} in {end}");
    for r in &moved {
        assert!(r["attempt"].as_u64().unwrap() >= 2, "{r}");
        assert_ne!(r["worker"], "w1", "{r}");
    }
    let workers: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r["worker"].as_str())
        .collect();
    assert!(
        workers.contains("w2") && workers.contains("w3"),
        "{workers:?}"
    );

    // --- the servers' inventories: every tenant exactly once, nothing else -----------------
    let names: BTreeSet<String> = (0..N).map(|i| w.tenant(i)).collect();
    // Route 53: one A record set per tenant (a duplicate would be a second set)
    let sets = w.record_sets().await;
    let a_records: BTreeMap<&String, usize> = sets
        .iter()
        .filter(|((_, t), _)| t == "A")
        .map(|((n, _), c)| (n, *c))
        .collect();
    assert_eq!(a_records.len(), N, "{a_records:?}");
    for t in &names {
        assert_eq!(
            a_records.get(&format!("{t}.{}", w.zone)),
            Some(&1),
            "{t}: {a_records:?}"
        );
    }
    // S3: each tenant's prefix holds the two initial assets, and nothing else is there
    let keys: BTreeSet<String> =
        provisio::storage::list_all(&*w.aws.storage(), &w.bucket, "tenants/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|t| {
            [
                format!("tenants/{t}/logo.svg"),
                format!("tenants/{t}/robots.txt"),
            ]
        })
        .collect();
    assert_eq!(keys, expected);
    // Secrets Manager: two secrets per tenant; the SMTP one holds what the workers read from
    // their environment
    let secrets = w.aws.secrets();
    let prefix = format!("f{}-", w.run);
    let listed = list_secrets(&w, &prefix).await;
    let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(listed.len(), listed_set.len(), "duplicates: {listed:?}");
    let expected: BTreeSet<String> = names
        .iter()
        .flat_map(|t| [format!("{t}-db-password"), format!("{t}-smtp-password")])
        .collect();
    assert_eq!(listed_set, expected);
    for t in names.iter().take(5) {
        let v = secrets
            .get_secret(&format!("{t}-smtp-password"))
            .await
            .unwrap();
        assert_eq!(v.value.expose(), SMTP_PASSWORD);
    }
    // PostgreSQL: one database and one role per tenant
    let (dbs, roles) = w.databases_and_roles().await;
    assert_eq!(dbs, names);
    assert_eq!(roles, names);
    // git: one branch per tenant beside main
    let heads: BTreeSet<String> = git(&["ls-remote", "--heads", w.repo.to_str().unwrap()])
        .lines()
        .filter_map(|l| l.split('\t').nth(1))
        .map(|r| r.trim_start_matches("refs/heads/").to_string())
        .filter(|b| b != "main")
        .collect();
    assert_eq!(heads, names);
    // and the state agrees: 7 resources per tenant, no lease held, no intent left open
    let recorded: i64 = state
        .query_one("SELECT count(*) FROM provisio.resources", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, (N * 7) as i64);
    let held: i64 = state
        .query_one(
            "SELECT count(*) FROM provisio.leases WHERE owner IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0);
    drop(state);
    w.cleanup().await;
}

/// A TCP proxy in front of moto that notes when each Secrets Manager request passes.
fn counting_proxy(upstream: &str) -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 16384];
                loop {
                    let n = match c_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // Secrets Manager's JSON protocol: every request is a POST to /
                    let text = String::from_utf8_lossy(&buf[..n]);
                    let requests = text.matches("POST / HTTP/1.1\r\n").count();
                    if requests > 0 {
                        let now = Instant::now();
                        log.lock()
                            .unwrap()
                            .extend(std::iter::repeat_n(now, requests));
                    }
                    if s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// Three workers on one Secrets Manager account with a quota of 4 requests per second:
/// together they stay within it (each alone would send 4 per second, the three 12).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_keep_one_account_quota_together() {
    let Some(servers) = servers() else { return };
    const QUOTA: usize = 4;
    const N: usize = 18;
    let (proxy, seen) = counting_proxy(&servers.aws);
    let mut w = World::new(servers, Some(&proxy), Some(QUOTA as u32)).await;
    w.write_tenants("quota-tenants.csv", N);
    for name in ["r1", "r2", "r3"] {
        w.start_worker(name, 6);
    }
    seen.lock().unwrap().clear();
    let fleet_id = format!("quota-{}", w.run);
    w.json(
        &[
            "fleet",
            "apply",
            "secrets-only.yaml",
            "--tenants",
            "quota-tenants.csv",
            "--on",
            &w.on(),
            "--task-queue",
            &w.queue(),
            "--fleet-id",
            &fleet_id,
            "--concurrency",
            "18",
        ],
        0,
    );
    let end = w
        .wait(&fleet_id, "the rollout completes", |s| {
            s["state"]["state"] != "running"
        })
        .await;
    assert_eq!(end["state"]["state"], "completed", "{end}");
    assert_eq!(end["done"], N as u64);
    let workers: BTreeSet<&str> = end["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["worker"].as_str())
        .collect();
    assert_eq!(workers.len(), 3, "every worker ran tenants: {workers:?}");
    let times = seen.lock().unwrap().clone();
    // every secret is on Secrets Manager once
    let listed = list_secrets(&w, &format!("f{}-", w.run)).await;
    assert_eq!(listed.len(), 2 * N, "{listed:?}");
    assert_eq!(listed.iter().collect::<BTreeSet<_>>().len(), 2 * N);
    // what the server saw, in windows: most in any one second, and the rate over the run
    let first = *times.first().unwrap();
    let span = times.last().unwrap().duration_since(first).as_secs_f64();
    let max_1s = times
        .iter()
        .map(|t| {
            times
                .iter()
                .filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    println!(
        "{} Secrets Manager requests from 3 workers in {span:.1} s: {:.2} per second, at most \
         {max_1s} in any second (quota {QUOTA} per second)",
        times.len(),
        times.len() as f64 / span.max(0.001)
    );
    assert!(times.len() >= 2 * N, "{}", times.len());
    // the quota, plus the bucket's capacity and what workers stashed at the start
    assert!(max_1s <= 2 * QUOTA, "{max_1s} in one second");
    assert!(
        (times.len() - 2 * QUOTA) as f64 / span <= QUOTA as f64 * 1.1,
        "{} requests in {span:.1} s",
        times.len()
    );
    w.cleanup().await;
}

/// Every secret whose name starts with `prefix`, on the server.
async fn list_secrets(w: &World, prefix: &str) -> Vec<String> {
    let secrets = w.aws.secrets();
    let mut listed = Vec::new();
    let mut req = PageRequest::first();
    loop {
        let page = secrets.list_secrets(prefix, &req).await.unwrap();
        let next = req.next(&page);
        listed.extend(page.items.into_iter().map(|s| s.name));
        match next {
            Some(n) => req = n,
            None => return listed,
        }
    }
}
