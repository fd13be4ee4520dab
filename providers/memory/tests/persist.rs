//! Persisted worlds: the lock / reload / write protocol, restore in place, group commit.
//! Two handles opened on one file behave as two processes (each has its own lock file
//! handle, and `flock` locks of two handles exclude each other even in one process); the
//! CLI tests (`bindings/cli/tests/world.rs`) do the same with real processes and kill -9.

use provisio::dns::{RecordSpec, RecordType};
use provisio::storage::BucketSpec;
use provisio::{Bytes, DnsProvider, ErrorKind, ObjectStorage, SecretStore, Tags};
use provisio_memory::MemoryCloud;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

async fn open(path: &Path) -> MemoryCloud {
    MemoryCloud::open(7, path, |c| async move {
        c.dns.add_zone("example.com");
        c.storage.ensure_bucket(&BucketSpec::new("shared")).await?;
        Ok(())
    })
    .await
    .unwrap()
}

/// The world on disk, read the way another process would.
fn on_disk(path: &Path) -> MemoryCloud {
    MemoryCloud::load(7, path).unwrap().expect("a world file")
}

fn a_record(name: &str) -> RecordSpec {
    RecordSpec::new(name, RecordType::A, "192.0.2.1", 300)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_on_disk_when_the_call_returns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let w = open(&path).await;
    assert_eq!(w.persist_path(), Some(path.as_path()));
    // prepared and written by open
    assert_eq!(on_disk(&path).inventory().count("dns.zone"), 1);
    let zone = w.dns.find_zone("example.com").await.unwrap().unwrap();
    for i in 0..5 {
        w.dns
            .ensure_record(&zone, &a_record(&format!("h{i}.example.com")))
            .await
            .unwrap();
        // no save: the call itself wrote it
        assert_eq!(on_disk(&path).inventory().count("dns.record"), i + 1);
    }
    w.secrets
        .put_secret(
            "acme-db-password",
            &provisio::SecretString::new("pw"),
            &Tags::new(),
        )
        .await
        .unwrap();
    assert_eq!(on_disk(&path).inventory().count("secrets.secret"), 1);
    assert_eq!(on_disk(&path).snapshot(), w.snapshot());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [path.clone(), dir.path().join("memory.json.lock")] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    // reads write nothing
    let commits = w.persist_stats().unwrap().commits;
    w.dns.find_zone("example.com").await.unwrap();
    w.storage.get_bucket("shared").await.unwrap();
    assert_eq!(w.persist_stats().unwrap().commits, commits);
    // an effect whose response is lost is on disk too
    w.faults
        .error_after_effect("dns.ensure_record", 6, ErrorKind::Transient);
    let e = w
        .dns
        .ensure_record(&zone, &a_record("lost.example.com"))
        .await
        .unwrap_err();
    assert!(e.retryable());
    assert!(
        on_disk(&path)
            .inventory()
            .contains("dns.record", "A lost.example.com")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_handle_sees_every_write_and_providers_are_reloaded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let a = open(&path).await;
    let b = open(&path).await;
    // What an engine holds: trait objects of a's providers, taken before b writes.
    let a_dns: Arc<dyn DnsProvider> = a.dns.clone();
    let a_storage: Arc<dyn ObjectStorage> = a.storage.clone();
    let zone = b.dns.find_zone("example.com").await.unwrap().unwrap();
    b.dns
        .ensure_record(&zone, &a_record("from-b.example.com"))
        .await
        .unwrap();
    let got = a_dns
        .get_record(&zone, "from-b.example.com", &RecordType::A)
        .await
        .unwrap();
    assert!(got.is_some(), "a reloaded b's write into the same provider");
    a_storage
        .put_object("shared", "from-a", Bytes::from_static(b"a"), None)
        .await
        .unwrap();
    assert!(
        b.storage
            .head_object("shared", "from-a")
            .await
            .unwrap()
            .is_some()
    );
    assert!(a.persist_stats().unwrap().reloads >= 1);
    assert!(b.persist_stats().unwrap().reloads >= 1);
    // the handles agree with each other and with the file
    a.dns.find_zone("example.com").await.unwrap();
    b.dns.find_zone("example.com").await.unwrap();
    assert_eq!(a.inventory(), b.inventory());
    assert_eq!(on_disk(&path).inventory(), a.inventory());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_two_handles_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let a = open(&path).await;
    let b = open(&path).await;
    let mut tasks = Vec::new();
    for (h, cloud) in [("a", &a), ("b", &b)] {
        for i in 0..60 {
            let storage = cloud.storage.clone();
            let key = format!("{h}/{i}");
            tasks.push(tokio::spawn(async move {
                storage
                    .put_object("shared", &key, Bytes::from(key.clone()), None)
                    .await
                    .unwrap();
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let disk = on_disk(&path).inventory();
    assert_eq!(disk.count("storage.object"), 120, "no update lost");
    let (sa, sb) = (a.persist_stats().unwrap(), b.persist_stats().unwrap());
    // group commit: far fewer writes than calls
    assert!(
        sa.commits + sb.commits < 120,
        "{} + {} writes for 120 puts",
        sa.commits,
        sb.commits
    );
    eprintln!("two handles, 120 concurrent puts: writes a={sa:?} b={sb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_world_is_prepared_once_however_many_open_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("memory.json");
    let prepared = Arc::new(AtomicUsize::new(0));
    let mut opens = Vec::new();
    for _ in 0..6 {
        let path = path.clone();
        let prepared = prepared.clone();
        opens.push(tokio::spawn(async move {
            MemoryCloud::open(7, &path, move |c| async move {
                prepared.fetch_add(1, Ordering::SeqCst);
                c.dns.add_zone("example.com");
                Ok(())
            })
            .await
            .unwrap()
        }));
    }
    let mut clouds = Vec::new();
    for o in opens {
        clouds.push(o.await.unwrap());
    }
    assert_eq!(prepared.load(Ordering::SeqCst), 1);
    for c in &clouds {
        assert_eq!(c.inventory().count("dns.zone"), 1);
    }
    // A failing prepare writes nothing.
    let other = dir.path().join("other.json");
    let e = MemoryCloud::open(7, &other, |_| async {
        Err(provisio::Error::invalid_input("bad fixtures"))
    })
    .await
    .err()
    .unwrap();
    assert!(e.message().contains("bad fixtures"));
    assert!(!other.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_file_fails_calls_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let w = open(&path).await;
    let before = w.inventory();
    // another writer leaves garbage (and bumps the generation, as writers do)
    std::fs::write(&path, "{ not json").unwrap();
    std::fs::write(
        dir.path().join("memory.json.lock"),
        "00000000000000000099\n",
    )
    .unwrap();
    let e = w.dns.find_zone("example.com").await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidInput);
    assert!(
        e.message().contains(&path.display().to_string())
            && e.message().contains("not a valid memory snapshot"),
        "{e}"
    );
    assert_eq!(w.inventory(), before, "nothing was installed");
    // The file is repaired (here: by writing the world back as a snapshot): calls work again.
    w.save(&path).unwrap();
    assert!(w.dns.find_zone("example.com").await.unwrap().is_some());
    // A world file that cannot be replaced fails the call that changed something.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir_all(path.join("in-the-way")).unwrap();
    let e = w
        .storage
        .put_object("shared", "k", Bytes::from_static(b"v"), None)
        .await
        .unwrap_err();
    assert!(e.message().contains("memory world file"), "{e}");
    std::fs::remove_dir_all(&path).unwrap();
    w.storage
        .put_object("shared", "k2", Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert!(
        on_disk(&path)
            .inventory()
            .contains("storage.object", "shared/k2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_helpers_are_durable_inside_change_and_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let a = open(&path).await;
    let b = open(&path).await;
    a.change(|c| {
        c.dns.add_zone("changed.example");
    })
    .await
    .unwrap();
    assert!(
        on_disk(&path)
            .inventory()
            .contains("dns.zone", "changed.example")
    );
    assert!(b.dns.find_zone("changed.example").await.unwrap().is_some());
    // outside `change`: written by flush
    b.dns.add_zone("flushed.example");
    b.flush().unwrap();
    assert!(a.dns.find_zone("flushed.example").await.unwrap().is_some());
    // an in-process world: no file, no lock, no stats
    let mem = MemoryCloud::new(7);
    assert_eq!(mem.persist_path(), None);
    assert_eq!(mem.persist_stats(), None);
    mem.change(|c| c.dns.add_zone("x.example")).await.unwrap();
    mem.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_calls_leave_the_protocol_working() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let a = open(&path).await;
    let b = open(&path).await;
    let mut tasks = Vec::new();
    for i in 0..80u64 {
        let storage = if i % 2 == 0 {
            a.storage.clone()
        } else {
            b.storage.clone()
        };
        tasks.push(tokio::spawn(async move {
            let key = format!("k{i}");
            let put = storage.put_object("shared", &key, Bytes::from_static(b"v"), None);
            // some give up while waiting for the lock, some while their write is on its way
            let _ = tokio::time::timeout(Duration::from_micros(i * 50), put).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        a.storage
            .put_object("shared", "after-a", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
        b.storage
            .put_object("shared", "after-b", Bytes::from_static(b"v"), None)
            .await
            .unwrap();
    })
    .await;
    assert!(done.is_ok(), "the protocol is stuck after cancellations");
    let disk = on_disk(&path).inventory();
    assert!(disk.contains("storage.object", "shared/after-a"));
    assert!(disk.contains("storage.object", "shared/after-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_waits_do_not_hold_the_lock() {
    use provisio::Compute;
    use provisio::compute::{InstanceSpec, InstanceState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let a = open(&path).await;
    let b = open(&path).await;
    a.change(|c| c.compute.set_boot_time(Duration::from_millis(400)))
        .await
        .unwrap();
    let i = a
        .compute
        .launch_instance(&InstanceSpec {
            name: "web".into(),
            image: "ami-1".into(),
            size: "t3.small".into(),
            tags: Tags::new(),
            user_data: None,
            idempotency_key: "k".into(),
        })
        .await
        .unwrap()
        .value;
    let waiting = {
        let compute = a.compute.clone();
        let id = i.id.clone();
        tokio::spawn(async move {
            compute
                .wait_for_state(&id, InstanceState::Running, Duration::from_secs(5))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    // while a polls, b writes without waiting for a's poll to end
    let t0 = std::time::Instant::now();
    b.dns.add_zone("while-polling.example");
    b.flush().unwrap();
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(
        waiting.await.unwrap().unwrap().state,
        InstanceState::Running
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_keep_running_while_no_process_holds_the_world() {
    use provisio::Compute;
    use provisio::compute::{InstanceSpec, InstanceState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let id = {
        let a = open(&path).await;
        a.change(|c| c.compute.set_boot_time(Duration::from_millis(300)))
            .await
            .unwrap();
        let i = a
            .compute
            .launch_instance(&InstanceSpec {
                name: "web".into(),
                image: "ami-1".into(),
                size: "t3.small".into(),
                tags: Tags::new(),
                user_data: None,
                idempotency_key: "k".into(),
            })
            .await
            .unwrap()
            .value;
        assert_eq!(i.state, InstanceState::Pending);
        i.id
        // the process "dies" with the instance booting
    };
    tokio::time::sleep(Duration::from_millis(400)).await;
    let b = open(&path).await;
    let got = b.compute.get_instance(&id).await.unwrap().unwrap();
    assert_eq!(
        got.state,
        InstanceState::Running,
        "booted while nobody held the world"
    );
    // A snapshot read with `load` keeps the clock where it was written instead.
    let loaded = MemoryCloud::load(7, &path).unwrap().unwrap();
    let frozen = loaded.compute.get_instance(&id).await.unwrap().unwrap();
    assert_eq!(frozen.state, InstanceState::Pending);
}

/// The probe's table is part of the world: a sequence used up by one process is used up for
/// the next, and a file written before the probe had a section opens with the default probe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_table_persists_and_old_files_open() {
    use provisio::Probe;
    use provisio::probe::ProbeRequest;
    use provisio_memory::probe::MemoryAnswer;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memory.json");
    let url = "https://acme.example.com/health";
    let w = MemoryCloud::open(7, &path, |c| async move {
        c.probe.set_answers(
            url,
            [
                MemoryAnswer::status(503, "starting"),
                MemoryAnswer::status(200, "ready"),
            ],
        )
    })
    .await
    .unwrap();
    assert_eq!(on_disk(&path).probe.answers(url).unwrap().len(), 2);
    // the first answer is used up by a provider call, written before it returns
    assert_eq!(
        w.probe.fetch(&ProbeRequest::get(url)).await.unwrap().status,
        503
    );
    let other = on_disk(&path);
    assert_eq!(other.probe.answers(url).unwrap().len(), 1);
    assert_eq!(
        other
            .probe
            .fetch(&ProbeRequest::get(url))
            .await
            .unwrap()
            .status,
        200
    );

    // a file without the probe section (written by an earlier build)
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("probe");
    let old = dir.path().join("old.json");
    std::fs::write(&old, v.to_string()).unwrap();
    let reopened = MemoryCloud::open(7, &old, |_| async { Ok(()) })
        .await
        .unwrap();
    assert_eq!(reopened.probe.answers(url), None);
    assert_eq!(
        reopened
            .probe
            .fetch(&ProbeRequest::get(url))
            .await
            .unwrap()
            .status,
        200
    );
    let loaded = MemoryCloud::load(7, &old).unwrap().unwrap();
    assert_eq!(loaded.probe.answers(url), None);
}
