//! The behaviour suite every [`StateStore`] must pass, written once and run against the
//! memory, SQLite and PostgreSQL stores (and any store a user writes).
//!
//! Each function panics with a message saying which rule broke. Every function works on
//! tenants and fleet ids with a fresh random suffix, so the suite can run against a store that
//! already holds data (a shared PostgreSQL database) and several runs can share one store.
//!
//! Compiled for tests and with the `testing` feature:
//!
//! ```ignore
//! use std::sync::Arc;
//! use provisio_engine::state::{StateStore, conformance, memory::MemoryStateStore};
//! let store: Arc<dyn StateStore> = Arc::new(MemoryStateStore::new());
//! conformance::run_all(store).await;
//! ```

use super::{
    FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore, TenantPhase, now_ms,
};
use crate::lifecycle::{Phase, Transition};
use provisio::{ErrorKind, Tags};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// A long TTL: the lease does not expire while a test runs.
const LONG: Duration = Duration::from_secs(60);

/// A name that no other run of the suite uses: `prefix-<time>-<random>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:x}-{:08x}", now_ms(), rand::random::<u32>())
}

/// A resource record with recognisable, JSON-rich params and outputs.
pub fn sample_record(tenant: &str, name: &str) -> ResourceRecord {
    ResourceRecord {
        tenant: tenant.to_string(),
        name: name.to_string(),
        resource_type: "dns.record".to_string(),
        provider: "memory".to_string(),
        identity: format!("{tenant}/{name}"),
        params: json!({
            "zone": "example.com",
            "ttl": 300,
            "values": ["192.0.2.1", "192.0.2.2"],
            "nested": {"b": [1.5, -2, null, true], "a": "ü ✓ \u{0} \"quoted\""},
            "big": u64::MAX,
            "neg": i64::MIN,
        }),
        outputs: json!({"fqdn": format!("{name}.example.com"), "id": 42}),
        protect: false,
        depends_on: vec!["zone".to_string(), "cert".to_string()],
        updated_at_ms: 1_700_000_000_123,
    }
}

/// A journal entry of `tenant` with the given token and phase.
pub fn sample_entry(
    tenant: &str,
    resource: &str,
    token: &str,
    phase: JournalPhase,
) -> JournalEntry {
    let mut tags = Tags::new();
    tags.insert("provisio:tenant".to_string(), tenant.to_string());
    tags.insert("provisio:resource".to_string(), resource.to_string());
    JournalEntry {
        seq: 0,
        run_id: "run-1".to_string(),
        tenant: tenant.to_string(),
        resource: resource.to_string(),
        resource_type: "dns.record".to_string(),
        action: "create".to_string(),
        phase,
        identity: format!("{tenant}/{resource}"),
        tags,
        token: token.to_string(),
        detail: json!({"phase": format!("{phase:?}"), "n": [1, 2, 3]}),
        at_ms: 1_700_000_000_456,
    }
}

/// Runs every check of the suite, one after the other.
pub async fn run_all(store: Arc<dyn StateStore>) {
    let s = store.as_ref();
    resources_crud(s).await;
    resources_list_order(s).await;
    tenants_list(s).await;
    journal_append_and_read(s).await;
    pending_intents(s).await;
    lease_acquire_renew_release(s).await;
    lease_conflict_names_holder(s).await;
    lease_expiry_and_takeover(s).await;
    lease_break(s).await;
    lease_stale_generation(s).await;
    fleet_cursor_roundtrip(s).await;
    phase_roundtrip(s).await;
    concurrent_appends(store.clone()).await;
    concurrent_lease_acquire(store).await;
}

/// Get, put (insert and replace), delete, and JSON fidelity of resource records.
pub async fn resources_crud(store: &dyn StateStore) {
    let tenant = unique("crud");
    assert_eq!(store.get_resource(&tenant, "web").await.unwrap(), None);
    assert!(store.list_resources(&tenant).await.unwrap().is_empty());
    // Deleting what is missing succeeds.
    store.delete_resource(&tenant, "web").await.unwrap();

    let mut web = sample_record(&tenant, "web");
    store.put_resource(&web).await.unwrap();
    assert_eq!(
        store.get_resource(&tenant, "web").await.unwrap().as_ref(),
        Some(&web),
        "a record reads back exactly as written (JSON included)"
    );

    web.params = json!({"ttl": 60});
    web.outputs = json!(null);
    web.protect = true;
    web.depends_on = vec![];
    web.updated_at_ms += 1;
    store.put_resource(&web).await.unwrap();
    assert_eq!(
        store.get_resource(&tenant, "web").await.unwrap().as_ref(),
        Some(&web),
        "put replaces the whole record"
    );
    assert_eq!(
        store.list_resources(&tenant).await.unwrap(),
        vec![web.clone()]
    );

    // Another tenant's resource of the same name is separate.
    let other = unique("crud-other");
    store
        .put_resource(&sample_record(&other, "web"))
        .await
        .unwrap();
    assert_eq!(store.get_resource(&tenant, "web").await.unwrap(), Some(web));

    store.delete_resource(&tenant, "web").await.unwrap();
    assert_eq!(store.get_resource(&tenant, "web").await.unwrap(), None);
    assert!(store.list_resources(&tenant).await.unwrap().is_empty());
    assert!(store.get_resource(&other, "web").await.unwrap().is_some());
    store.delete_resource(&tenant, "web").await.unwrap();
}

/// `list_resources` returns a tenant's records in byte order of their names.
pub async fn resources_list_order(store: &dyn StateStore) {
    let tenant = unique("order");
    // Byte order differs from most locale collations on case and punctuation.
    let names = ["b", "a_b", "B", "ab", "a-b", "A", "a", "z9", "z10"];
    for name in names {
        store
            .put_resource(&sample_record(&tenant, name))
            .await
            .unwrap();
    }
    let mut expected: Vec<&str> = names.to_vec();
    expected.sort_unstable();
    let listed = store.list_resources(&tenant).await.unwrap();
    let got: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(got, expected, "list_resources is in byte order of names");
    assert!(listed.iter().all(|r| r.tenant == tenant));
}

/// `list_tenants` names the tenants with resources or journal entries, sorted.
pub async fn tenants_list(store: &dyn StateStore) {
    let prefix = unique("tenants");
    let with_resource = format!("{prefix}-b");
    let with_journal = format!("{prefix}-A");
    let with_lease_only = format!("{prefix}-c");
    let emptied = format!("{prefix}-d");
    store
        .put_resource(&sample_record(&with_resource, "web"))
        .await
        .unwrap();
    store
        .append_journal(&sample_entry(
            &with_journal,
            "web",
            "t",
            JournalPhase::Intent,
        ))
        .await
        .unwrap();
    store
        .acquire_lease(&with_lease_only, "owner", LONG)
        .await
        .unwrap();
    store
        .put_resource(&sample_record(&emptied, "web"))
        .await
        .unwrap();
    store.delete_resource(&emptied, "web").await.unwrap();

    let all = store.list_tenants().await.unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted, "list_tenants is sorted");
    let ours: Vec<&String> = all.iter().filter(|t| t.starts_with(&prefix)).collect();
    assert_eq!(
        ours,
        vec![&with_journal, &with_resource],
        "tenants with resources or journal entries only"
    );
    store.break_lease(&with_lease_only).await.unwrap();
}

/// Appending assigns increasing sequence numbers; `journal(after)` filters and keeps order.
pub async fn journal_append_and_read(store: &dyn StateStore) {
    let tenant = unique("journal");
    let other = unique("journal-other");
    assert!(store.journal(&tenant, 0).await.unwrap().is_empty());

    let mut written = Vec::new();
    for (i, phase) in [
        JournalPhase::Intent,
        JournalPhase::Succeeded,
        JournalPhase::Intent,
        JournalPhase::Failed,
    ]
    .into_iter()
    .enumerate()
    {
        let mut entry = sample_entry(&tenant, "web", &format!("tok-{}", i / 2), phase);
        entry.seq = 999_999_999; // ignored by the store
        let seq = store.append_journal(&entry).await.unwrap();
        entry.seq = seq;
        written.push(entry);
        // Interleave another tenant's entries.
        store
            .append_journal(&sample_entry(&other, "x", "o", JournalPhase::Intent))
            .await
            .unwrap();
    }
    for pair in written.windows(2) {
        assert!(pair[0].seq < pair[1].seq, "sequence numbers increase");
    }
    assert!(written[0].seq > 0, "sequence numbers start above 0");

    let all = store.journal(&tenant, 0).await.unwrap();
    assert_eq!(
        all, written,
        "journal reads back every entry of the tenant, in order"
    );
    let after = store.journal(&tenant, written[1].seq).await.unwrap();
    assert_eq!(
        after,
        written[2..].to_vec(),
        "journal(after) returns seq > after"
    );
    let none = store.journal(&tenant, written[3].seq).await.unwrap();
    assert!(none.is_empty(), "nothing after the last entry");
    assert_eq!(store.journal(&other, 0).await.unwrap().len(), 4);
}

/// Pending intents: intents whose token has no later `Succeeded` or `Failed` entry.
pub async fn pending_intents(store: &dyn StateStore) {
    let tenant = unique("pending");
    let other = unique("pending-other");
    assert!(store.pending_intents(&tenant).await.unwrap().is_empty());

    let append = async |tenant: &str, token: &str, phase| {
        let mut e = sample_entry(tenant, token, token, phase);
        e.seq = store.append_journal(&e).await.unwrap();
        e
    };
    use JournalPhase::*;
    let _ok = append(&tenant, "ok", Intent).await;
    append(&tenant, "ok", Succeeded).await;
    let _failed = append(&tenant, "failed", Intent).await;
    append(&tenant, "failed", Failed).await;
    let in_doubt = append(&tenant, "in-doubt", Intent).await;
    // A result written before the intent does not settle it.
    append(&tenant, "early", Succeeded).await;
    let early = append(&tenant, "early", Intent).await;
    // A retried token: the first intent is settled, the second is not.
    append(&tenant, "retried", Intent).await;
    append(&tenant, "retried", Succeeded).await;
    let retried = append(&tenant, "retried", Intent).await;
    // Another tenant's result with the same token settles nothing here.
    append(&other, "in-doubt", Succeeded).await;
    let settled_later = append(&tenant, "later", Intent).await;

    let pending = store.pending_intents(&tenant).await.unwrap();
    assert_eq!(
        pending,
        vec![
            in_doubt.clone(),
            early.clone(),
            retried.clone(),
            settled_later.clone()
        ],
        "pending intents, in order"
    );

    append(&tenant, "later", Failed).await;
    let pending = store.pending_intents(&tenant).await.unwrap();
    assert_eq!(pending, vec![in_doubt, early, retried]);
    assert!(store.pending_intents(&other).await.unwrap().is_empty());
}

/// Acquire, renew by the same owner (keeps the generation), renew, release.
pub async fn lease_acquire_renew_release(store: &dyn StateStore) {
    let tenant = unique("lease");
    assert_eq!(store.get_lease(&tenant).await.unwrap(), None);
    let before = now_ms();
    let lease = store
        .acquire_lease(&tenant, "worker-a", LONG)
        .await
        .unwrap();
    assert_eq!(lease.tenant, tenant);
    assert_eq!(lease.owner, "worker-a");
    assert!(lease.generation >= 1, "generations start at 1");
    assert!(lease.expires_at_ms >= before + 60_000 && lease.expires_at_ms <= now_ms() + 60_000);
    assert_eq!(store.get_lease(&tenant).await.unwrap(), Some(lease.clone()));

    // The same owner acquiring again renews: same generation, later or equal expiry.
    let again = store
        .acquire_lease(&tenant, "worker-a", LONG * 2)
        .await
        .unwrap();
    assert_eq!(
        again.generation, lease.generation,
        "re-acquire keeps the generation"
    );
    assert!(again.expires_at_ms > lease.expires_at_ms);

    // The earlier Lease value still renews (same owner, same generation).
    let renewed = store.renew_lease(&lease, LONG).await.unwrap();
    assert_eq!(renewed.generation, lease.generation);
    assert_eq!(renewed.owner, "worker-a");
    assert!(renewed.expires_at_ms >= lease.expires_at_ms);
    assert_eq!(
        store.get_lease(&tenant).await.unwrap(),
        Some(renewed.clone())
    );

    store.release_lease(&renewed).await.unwrap();
    assert_eq!(store.get_lease(&tenant).await.unwrap(), None, "released");
    // Releasing twice, or a lease on a tenant never leased, is fine.
    store.release_lease(&renewed).await.unwrap();
    let never = Lease {
        tenant: unique("never"),
        owner: "x".into(),
        expires_at_ms: 0,
        generation: 1,
    };
    store.release_lease(&never).await.unwrap();
    assert_eq!(store.get_lease(&never.tenant).await.unwrap(), None);
    let err = store.renew_lease(&renewed, LONG).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Conflict,
        "renewing a released lease: {err}"
    );

    // A new acquire after release gets a new generation.
    let next = store
        .acquire_lease(&tenant, "worker-a", LONG)
        .await
        .unwrap();
    assert!(
        next.generation > lease.generation,
        "generation grows after release"
    );
    store.release_lease(&next).await.unwrap();
}

/// Another owner gets `Conflict` naming the holder and its expiry; nothing changes.
pub async fn lease_conflict_names_holder(store: &dyn StateStore) {
    let tenant = unique("conflict");
    let held = store
        .acquire_lease(&tenant, "host-1/pid-7/run-abc", LONG)
        .await
        .unwrap();
    let err = store
        .acquire_lease(&tenant, "host-2/pid-9/run-def", LONG)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("host-1/pid-7/run-abc"),
        "names the holder: {msg}"
    );
    assert!(
        msg.contains(&held.expires_at_ms.to_string()),
        "names the expiry: {msg}"
    );
    assert!(msg.contains(&tenant), "names the tenant: {msg}");
    assert_eq!(store.get_lease(&tenant).await.unwrap(), Some(held.clone()));
    store.release_lease(&held).await.unwrap();
}

/// An expired lease is taken over by another owner with a bumped generation; the old holder
/// can then neither renew nor release it. An expired lease nobody took still renews.
pub async fn lease_expiry_and_takeover(store: &dyn StateStore) {
    let tenant = unique("expiry");
    let short = store
        .acquire_lease(&tenant, "old", Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        store.get_lease(&tenant).await.unwrap(),
        Some(short.clone()),
        "get_lease returns expired leases too"
    );
    // Nobody took it: the holder may still renew, and re-acquire keeps the generation.
    let renewed = store.renew_lease(&short, Duration::ZERO).await.unwrap();
    assert_eq!(renewed.generation, short.generation);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let reacquired = store
        .acquire_lease(&tenant, "old", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(reacquired.generation, short.generation);
    tokio::time::sleep(Duration::from_millis(5)).await;

    let new = store.acquire_lease(&tenant, "new", LONG).await.unwrap();
    assert_eq!(new.owner, "new");
    assert_eq!(
        new.generation,
        short.generation + 1,
        "takeover bumps the generation"
    );
    let err = store.renew_lease(&short, LONG).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(
        err.to_string().contains("new"),
        "names the new holder: {err}"
    );
    store.release_lease(&short).await.unwrap();
    assert_eq!(
        store.get_lease(&tenant).await.unwrap(),
        Some(new.clone()),
        "a stale release is a no-op"
    );
    let err = store.acquire_lease(&tenant, "old", LONG).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict);
    store.release_lease(&new).await.unwrap();
}

/// `break_lease` removes whatever is there and returns it; generations keep growing.
pub async fn lease_break(store: &dyn StateStore) {
    let tenant = unique("break");
    assert_eq!(
        store.break_lease(&tenant).await.unwrap(),
        None,
        "nothing to break"
    );
    let held = store.acquire_lease(&tenant, "stuck", LONG).await.unwrap();
    assert_eq!(
        store.break_lease(&tenant).await.unwrap(),
        Some(held.clone())
    );
    assert_eq!(store.get_lease(&tenant).await.unwrap(), None);
    assert_eq!(store.break_lease(&tenant).await.unwrap(), None);
    let err = store.renew_lease(&held, LONG).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Conflict,
        "renewing a broken lease: {err}"
    );
    store.release_lease(&held).await.unwrap();

    let next = store
        .acquire_lease(&tenant, "operator", LONG)
        .await
        .unwrap();
    assert!(
        next.generation > held.generation,
        "generations never repeat, even after a break"
    );
    // Breaking an expired lease returns it too.
    store.release_lease(&next).await.unwrap();
    let expired = store
        .acquire_lease(&tenant, "gone", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(store.break_lease(&tenant).await.unwrap(), Some(expired));
}

/// Renew and release with a stale generation (same owner, older lease).
pub async fn lease_stale_generation(store: &dyn StateStore) {
    let tenant = unique("stale");
    let first = store.acquire_lease(&tenant, "w", LONG).await.unwrap();
    store.break_lease(&tenant).await.unwrap();
    let second = store.acquire_lease(&tenant, "w", LONG).await.unwrap();
    assert!(second.generation > first.generation);

    let err = store.renew_lease(&first, LONG).await.unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Conflict,
        "stale generation renew: {err}"
    );
    store.release_lease(&first).await.unwrap();
    assert_eq!(
        store.get_lease(&tenant).await.unwrap(),
        Some(second.clone()),
        "a release with a stale generation does nothing"
    );
    // A forged lease with a future generation is stale too.
    let forged = Lease {
        generation: second.generation + 1,
        ..second.clone()
    };
    assert_eq!(
        store.renew_lease(&forged, LONG).await.unwrap_err().kind(),
        &ErrorKind::Conflict
    );
    store.release_lease(&second).await.unwrap();
    assert_eq!(store.get_lease(&tenant).await.unwrap(), None);
}

/// Fleet cursors save and load whole.
pub async fn fleet_cursor_roundtrip(store: &dyn StateStore) {
    let id = unique("fleet");
    assert_eq!(store.get_fleet_cursor(&id).await.unwrap(), None);
    let mut cursor = FleetCursor {
        fleet_id: id.clone(),
        succeeded: vec!["acme".into(), "globex".into()],
        failed: vec![("initech".into(), "dns.record web: conflict".into())],
        halted: false,
        detail: json!({"wave": 2, "counts": {"ok": 2, "failed": 1}}),
    };
    store.put_fleet_cursor(&cursor).await.unwrap();
    assert_eq!(
        store.get_fleet_cursor(&id).await.unwrap(),
        Some(cursor.clone())
    );

    cursor.succeeded.push("umbrella".into());
    cursor.halted = true;
    cursor.detail = json!(null);
    store.put_fleet_cursor(&cursor).await.unwrap();
    assert_eq!(store.get_fleet_cursor(&id).await.unwrap(), Some(cursor));
    assert_eq!(
        store.get_fleet_cursor(&unique("fleet-none")).await.unwrap(),
        None
    );
}

/// Lifecycle records save, load, replace and delete whole, per tenant.
pub async fn phase_roundtrip(store: &dyn StateStore) {
    let tenant = unique("phase");
    let other = unique("phase-other");
    assert_eq!(store.get_phase(&tenant).await.unwrap(), None);
    let mut record = TenantPhase {
        tenant: tenant.clone(),
        phase: Phase::Launched,
        transition: Some(Transition::Archive),
        last: None,
        run_id: "run-1".into(),
        updated_at_ms: now_ms(),
    };
    store.put_phase(&record).await.unwrap();
    assert_eq!(
        store.get_phase(&tenant).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(store.get_phase(&other).await.unwrap(), None);

    record.phase = Phase::Archived;
    record.transition = None;
    record.last = Some(Transition::Archive);
    record.run_id = "run-2".into();
    store.put_phase(&record).await.unwrap();
    assert_eq!(store.get_phase(&tenant).await.unwrap(), Some(record));

    store.delete_phase(&tenant).await.unwrap();
    assert_eq!(store.get_phase(&tenant).await.unwrap(), None);
    // deleting what is not there is not an error
    store.delete_phase(&tenant).await.unwrap();
}

/// Many tasks appending at once get unique sequence numbers, increasing per task and in the
/// tenant's journal order.
pub async fn concurrent_appends(store: Arc<dyn StateStore>) {
    const TASKS: usize = 16;
    const EACH: usize = 25;
    let tenant = unique("concurrent");
    let second = unique("concurrent-2");
    let mut handles = Vec::new();
    for task in 0..TASKS {
        let store = store.clone();
        // A quarter of the tasks write to a second tenant, interleaving with the first.
        let tenant = if task % 4 == 3 {
            second.clone()
        } else {
            tenant.clone()
        };
        handles.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let token = format!("t{task}-{i}");
                let entry = sample_entry(&tenant, "web", &token, JournalPhase::Intent);
                seqs.push(store.append_journal(&entry).await.unwrap());
            }
            seqs
        }));
    }
    let mut all = BTreeSet::new();
    for handle in handles {
        let seqs = handle.await.expect("append task panicked");
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "a task's appends get increasing seqs"
        );
        for seq in seqs {
            assert!(all.insert(seq), "seq {seq} handed out twice");
        }
    }
    assert_eq!(all.len(), TASKS * EACH);

    let mut read = BTreeSet::new();
    for t in [&tenant, &second] {
        let journal = store.journal(t, 0).await.unwrap();
        assert!(
            journal.windows(2).all(|w| w[0].seq < w[1].seq),
            "journal order is seq order"
        );
        read.extend(journal.iter().map(|e| e.seq));
        assert_eq!(
            store.pending_intents(t).await.unwrap().len(),
            journal.len(),
            "every intent is pending"
        );
    }
    assert_eq!(read, all, "the journals hold exactly the appended entries");
}

/// Many owners racing for one tenant: exactly one wins, the others get `Conflict`.
pub async fn concurrent_lease_acquire(store: Arc<dyn StateStore>) {
    const OWNERS: usize = 12;
    let tenant = unique("race");
    let mut handles = Vec::new();
    for i in 0..OWNERS {
        let store = store.clone();
        let tenant = tenant.clone();
        handles.push(tokio::spawn(async move {
            store
                .acquire_lease(&tenant, &format!("owner-{i}"), LONG)
                .await
        }));
    }
    let mut winners = Vec::new();
    for handle in handles {
        match handle.await.expect("lease task panicked") {
            Ok(lease) => winners.push(lease),
            Err(e) => assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one owner wins: {winners:?}");
    assert_eq!(
        store.get_lease(&tenant).await.unwrap(),
        Some(winners[0].clone())
    );
    store.release_lease(&winners[0]).await.unwrap();
}
