use super::*;
use crate::state::conformance::{self, unique};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);
impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("provisio-sqlite-test"));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_sqlite_file() {
    let dir = TempDir::new();
    let store = SqliteStateStore::open(dir.0.join("state.db"))
        .await
        .unwrap();
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sqlite_in_memory() {
    let store = SqliteStateStore::open_in_memory().unwrap();
    assert_eq!(store.path(), None);
    conformance::run_all(Arc::new(store)).await;
}

#[tokio::test]
async fn open_creates_parent_dirs_and_migrations_are_idempotent() {
    let dir = TempDir::new();
    let path = dir.0.join("a/b/c/state.db");
    let store = SqliteStateStore::open(&path).await.unwrap();
    assert!(path.exists());
    assert_eq!(store.schema_version().await.unwrap(), 2);
    store
        .put_resource(&conformance::sample_record("acme", "web"))
        .await
        .unwrap();
    drop(store);

    let again = SqliteStateStore::open(&path).await.unwrap();
    let third = SqliteStateStore::open(&path).await.unwrap();
    assert_eq!(third.schema_version().await.unwrap(), 2);
    let rows: i64 = again
        .read("test", |c| {
            Ok(c.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    assert_eq!(
        rows,
        MIGRATIONS.len() as i64,
        "each migration recorded once"
    );
    let mode: String = again
        .read("test", |c| {
            Ok(c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let sync: i64 = again
        .write("test", |c| {
            Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?)
        })
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL on the writer");
    assert!(
        third.get_resource("acme", "web").await.unwrap().is_some(),
        "data survives reopening"
    );
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = TempDir::new();
    let path = dir.0.join("state.db");
    let store = SqliteStateStore::open(&path).await.unwrap();
    store
        .write("test", |c| {
            c.execute(
                "INSERT INTO schema_migrations VALUES (999, 'future', 0)",
                [],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let err = SqliteStateStore::open(&path).await.unwrap_err();
    assert!(err.to_string().contains("newer"), "{err}");
}

// ---- multi-process tests: the test binary re-runs itself as the child process ----

const CHILD_MODE: &str = "PROVISIO_SQLITE_TEST_CHILD";
const CHILD_TEST: &str = "state::sqlite::tests::child_process_entry";
const ROUNDS: u64 = 15;

fn child(mode: &str, db: &Path, extra: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_MODE, mode)
        .env("PROVISIO_SQLITE_TEST_DB", db)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd
}

/// Does nothing in a normal test run; in a child process it plays the part `CHILD_MODE`
/// names.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let db = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_DB").unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match mode.as_str() {
            "lease" => child_contend_for_lease(&db).await,
            "append" => child_append_then_hang(&db).await,
            other => panic!("unknown child mode {other}"),
        }
    });
}

async fn child_contend_for_lease(db: &Path) {
    let owner = std::env::var("PROVISIO_SQLITE_TEST_OWNER").unwrap();
    let go = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_GO").unwrap());
    let log = PathBuf::from(std::env::var("PROVISIO_SQLITE_TEST_LOG").unwrap());
    // Start together: both processes also race on creating the file and migrating it.
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let store = SqliteStateStore::open(db).await.unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .unwrap();
    let mut conflicts = 0u64;
    for _ in 0..ROUNDS {
        let lease = loop {
            match store
                .acquire_lease("shared", &owner, Duration::from_secs(30))
                .await
            {
                Ok(lease) => break lease,
                Err(e) => {
                    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        };
        // One write(2) per line: O_APPEND keeps lines whole between the processes.
        log.write_all(format!("enter {owner}\n").as_bytes())
            .unwrap();
        // A read-modify-write that loses updates unless the lease excludes the other.
        let mut counter = store
            .get_resource("shared", "counter")
            .await
            .unwrap()
            .unwrap_or_else(|| conformance::sample_record("shared", "counter"));
        let n = counter.outputs["n"].as_u64().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(3)).await;
        counter.outputs = serde_json::json!({ "n": n + 1 });
        store.put_resource(&counter).await.unwrap();
        log.write_all(format!("exit {owner}\n").as_bytes()).unwrap();
        store.release_lease(&lease).await.unwrap();
        // Give the other process a chance to win the next round.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("CHILD-DONE conflicts={conflicts}");
}

async fn child_append_then_hang(db: &Path) {
    let store = SqliteStateStore::open(db).await.unwrap();
    let entry = conformance::sample_entry("crash", "web", "tok-crash", JournalPhase::Intent);
    let seq = store.append_journal(&entry).await.unwrap();
    println!("APPENDED {seq}");
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[test]
fn two_processes_contend_for_one_lease() {
    let dir = TempDir::new();
    let db = dir.0.join("shared.db");
    let go = dir.0.join("go");
    let log = dir.0.join("log");
    let children: Vec<_> = ["proc-a", "proc-b"]
        .into_iter()
        .map(|owner| {
            child(
                "lease",
                &db,
                &[
                    ("PROVISIO_SQLITE_TEST_OWNER", owner.to_string()),
                    ("PROVISIO_SQLITE_TEST_GO", go.display().to_string()),
                    ("PROVISIO_SQLITE_TEST_LOG", log.display().to_string()),
                ],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    std::fs::write(&go, b"go").unwrap();
    let mut conflicts = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}");
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("CHILD-DONE conflicts=").map(|(_, n)| n))
            .unwrap_or_else(|| panic!("child did not report: {stdout}"));
        conflicts += line.trim().parse::<u64>().unwrap();
    }

    // Critical sections never overlap: enter/exit pairs of one owner, strictly alternating.
    let log = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len() as u64, 4 * ROUNDS, "{log}");
    for pair in lines.chunks(2) {
        let enter = pair[0].strip_prefix("enter ").expect(&log);
        let exit = pair[1].strip_prefix("exit ").expect(&log);
        assert_eq!(enter, exit, "overlapping critical sections:\n{log}");
    }
    // No lost update.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStateStore::open(&db).await.unwrap();
        let counter = store
            .get_resource("shared", "counter")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(counter.outputs["n"], serde_json::json!(2 * ROUNDS));
        assert_eq!(store.get_lease("shared").await.unwrap(), None);
    });
    assert!(conflicts > 0, "the two processes never contended");
    println!("two processes: {} lease conflicts seen", conflicts);
}

#[test]
fn appended_intent_survives_kill_9() {
    let dir = TempDir::new();
    let db = dir.0.join("crash.db");
    let mut c = child("append", &db, &[]).spawn().unwrap();
    let mut stdout = BufReader::new(c.stdout.take().unwrap());
    let mut seq = None;
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 {
        // libtest prints the test name on the same line.
        if let Some((_, s)) = line.trim().split_once("APPENDED ") {
            seq = Some(s.parse::<u64>().unwrap());
            break;
        }
        line.clear();
    }
    // SIGKILL right after append_journal returned.
    c.kill().unwrap();
    let _ = c.wait();
    let seq = seq.expect("the child never appended");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = SqliteStateStore::open(&db).await.unwrap();
        let pending = store.pending_intents("crash").await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].seq, seq);
        assert_eq!(pending[0].token, "tok-crash");
    });
}
