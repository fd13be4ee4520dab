//! Test-only resource types and a tiny state store, so the engine's unit tests do not depend
//! on the built-in types or the real stores.

use crate::providers::Capability;
use crate::resource::{Applied, Registry, ResourceType, StepContext, Tenant};
use crate::state::{FleetCursor, JournalEntry, JournalPhase, Lease, ResourceRecord, StateStore};
use provisio::{Deleted, Error, Outcome, Result};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A fake cloud the test types act on, with fault injection and call accounting.
#[derive(Default)]
pub struct TestCloud {
    /// Live objects by identity.
    pub objects: Mutex<BTreeMap<String, Value>>,
    /// Every call: `apply web`, `delete web`, `read web`.
    pub calls: Mutex<Vec<String>>,
    /// Errors to return from the next calls on a resource, in order.
    pub faults: Mutex<HashMap<String, VecDeque<Error>>>,
    /// Resources whose every call fails with a clone of this error.
    pub always_fail: Mutex<HashMap<String, Error>>,
    /// Delay of every apply on a resource.
    pub delays: Mutex<HashMap<String, Duration>>,
    /// Default delay of every apply.
    pub delay: Mutex<Duration>,
    /// Steps in flight now and at most.
    pub in_flight: AtomicUsize,
    /// Highest number of applies in flight at once.
    pub max_in_flight: AtomicUsize,
    /// Idempotency tokens seen per resource.
    pub tokens: Mutex<Vec<(String, String)>>,
    /// Secret values seen by types that read them.
    pub secret_reads: AtomicUsize,
    next_id: AtomicUsize,
}

impl TestCloud {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn fail_next(&self, resource: &str, e: Error) {
        self.faults
            .lock()
            .unwrap()
            .entry(resource.to_string())
            .or_default()
            .push_back(e);
    }
    pub fn fail_always(&self, resource: &str, e: Error) {
        self.always_fail
            .lock()
            .unwrap()
            .insert(resource.to_string(), e);
    }
    pub fn set_delay(&self, resource: &str, d: Duration) {
        self.delays.lock().unwrap().insert(resource.to_string(), d);
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.calls()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
    fn fault(&self, resource: &str) -> Result<()> {
        if let Some(e) = self.always_fail.lock().unwrap().get(resource) {
            return Err(e.clone());
        }
        if let Some(q) = self.faults.lock().unwrap().get_mut(resource)
            && let Some(e) = q.pop_front()
        {
            return Err(e);
        }
        Ok(())
    }
    fn log(&self, what: &str, resource: &str) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{what} {resource}"));
    }
}

/// `test.server`: params `name` (required), `size` (replace field), anything else; outputs
/// `id`, `public_ip`, `size`, `port`.
pub struct Server(pub Arc<TestCloud>);
/// `test.record`: params `name` (required), `zone` (replace field), `content`; outputs `fqdn`,
/// `id`. Reads the tenant's `smtp_password` secret when `uses_secret` is true.
pub struct Record(pub Arc<TestCloud>);

fn require_name(params: &Value) -> Result<()> {
    match params.get("name") {
        Some(Value::String(_)) => Ok(()),
        _ => Err(Error::invalid_field("name", "is required")),
    }
}

async fn generic_apply(
    cloud: &TestCloud,
    ctx: &StepContext<'_>,
    kind: &str,
    params: &Value,
    outputs: impl Fn(usize, &Value) -> Value,
) -> Result<Applied> {
    cloud.log("apply", ctx.resource);
    cloud
        .tokens
        .lock()
        .unwrap()
        .push((ctx.resource.to_string(), ctx.idempotency_token.to_string()));
    let now = cloud.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    cloud.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let delay = cloud
        .delays
        .lock()
        .unwrap()
        .get(ctx.resource)
        .copied()
        .unwrap_or(*cloud.delay.lock().unwrap());
    struct Dec<'a>(&'a AtomicUsize);
    impl Drop for Dec<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _dec = Dec(&cloud.in_flight);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    cloud.fault(ctx.resource)?;
    let identity = format!("{kind}:{}", params["name"].as_str().unwrap_or_default());
    let mut objects = cloud.objects.lock().unwrap();
    match objects.get(&identity) {
        Some(existing) if existing["params"] == *params => Ok(Applied {
            outputs: existing["outputs"].clone(),
            outcome: Outcome::Unchanged,
        }),
        Some(existing) => {
            let outs = existing["outputs"].clone();
            objects.insert(
                identity,
                json!({"params": params, "outputs": outs, "tags": ctx.ownership}),
            );
            Ok(Applied {
                outputs: outs,
                outcome: Outcome::Updated,
            })
        }
        None => {
            let n = cloud.next_id.fetch_add(1, Ordering::SeqCst) + 1;
            let outs = outputs(n, params);
            objects.insert(
                identity,
                json!({"params": params, "outputs": outs, "tags": ctx.ownership}),
            );
            Ok(Applied {
                outputs: outs,
                outcome: Outcome::Created,
            })
        }
    }
}

#[provisio::async_trait]
impl ResourceType for Server {
    fn name(&self) -> &str {
        "test.server"
    }
    fn capability(&self) -> Capability {
        Capability::None
    }
    fn validate(&self, params: &Value) -> Result<()> {
        require_name(params)
    }
    fn replace_fields(&self) -> &[&str] {
        &["size"]
    }
    fn outputs(&self) -> &[&str] {
        &["id", "public_ip", "size", "port"]
    }
    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "server:{}",
            params["name"].as_str().unwrap_or_default()
        ))
    }
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        self.0.log("read", ctx.resource);
        let id = format!("server:{}", params["name"].as_str().unwrap_or_default());
        Ok(self
            .0
            .objects
            .lock()
            .unwrap()
            .get(&id)
            .map(|o| o["outputs"].clone()))
    }
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        generic_apply(&self.0, ctx, "server", params, |n, p| {
            json!({"id": format!("srv-{n}"), "public_ip": format!("10.0.0.{n}"), "size": p.get("size").cloned().unwrap_or(Value::Null), "port": 8080})
        })
        .await
    }
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        self.0.log("delete", ctx.resource);
        self.0.fault(ctx.resource)?;
        let id = format!("server:{}", params["name"].as_str().unwrap_or_default());
        Ok(match self.0.objects.lock().unwrap().remove(&id) {
            Some(_) => Deleted::Deleted,
            None => Deleted::AlreadyGone,
        })
    }
}

#[provisio::async_trait]
impl ResourceType for Record {
    fn name(&self) -> &str {
        "test.record"
    }
    fn capability(&self) -> Capability {
        Capability::None
    }
    fn validate(&self, params: &Value) -> Result<()> {
        require_name(params)
    }
    fn replace_fields(&self) -> &[&str] {
        &["zone"]
    }
    fn outputs(&self) -> &[&str] {
        &["fqdn", "id"]
    }
    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "record:{}",
            params["name"].as_str().unwrap_or_default()
        ))
    }
    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        self.0.log("read", ctx.resource);
        let id = format!("record:{}", params["name"].as_str().unwrap_or_default());
        Ok(self
            .0
            .objects
            .lock()
            .unwrap()
            .get(&id)
            .map(|o| o["outputs"].clone()))
    }
    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _prior: Option<&Value>,
    ) -> Result<Applied> {
        if params.get("uses_secret") == Some(&Value::Bool(true)) {
            let s = ctx.secret_var("smtp_password")?;
            assert!(!s.expose().is_empty());
            self.0.secret_reads.fetch_add(1, Ordering::SeqCst);
        }
        generic_apply(
            &self.0,
            ctx,
            "record",
            params,
            |n, p| json!({"fqdn": p["name"].clone(), "id": format!("rec-{n}")}),
        )
        .await
    }
    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        _outputs: &Value,
    ) -> Result<Deleted> {
        self.0.log("delete", ctx.resource);
        self.0.fault(ctx.resource)?;
        let id = format!("record:{}", params["name"].as_str().unwrap_or_default());
        Ok(match self.0.objects.lock().unwrap().remove(&id) {
            Some(_) => Deleted::Deleted,
            None => Deleted::AlreadyGone,
        })
    }
}

pub fn registry_with(cloud: Arc<TestCloud>) -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Server(cloud.clone())));
    r.register(Arc::new(Record(cloud)));
    r
}

pub fn registry() -> Registry {
    registry_with(TestCloud::new())
}

pub fn tenant(name: &str) -> Tenant {
    Tenant::new(name)
}

/// A minimal in-memory [`StateStore`].
#[derive(Default)]
pub struct TestStore {
    inner: Mutex<TestStoreInner>,
}

#[derive(Default)]
struct TestStoreInner {
    resources: BTreeMap<(String, String), ResourceRecord>,
    journal: Vec<JournalEntry>,
    leases: BTreeMap<String, Lease>,
    cursors: BTreeMap<String, FleetCursor>,
    phases: BTreeMap<String, crate::state::TenantPhase>,
}

impl TestStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn all_journal(&self) -> Vec<JournalEntry> {
        self.inner.lock().unwrap().journal.clone()
    }
}

#[provisio::async_trait]
impl StateStore for TestStore {
    async fn get_resource(&self, tenant: &str, name: &str) -> Result<Option<ResourceRecord>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .resources
            .get(&(tenant.to_string(), name.to_string()))
            .cloned())
    }
    async fn list_resources(&self, tenant: &str) -> Result<Vec<ResourceRecord>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .resources
            .values()
            .filter(|r| r.tenant == tenant)
            .cloned()
            .collect())
    }
    async fn put_resource(&self, record: &ResourceRecord) -> Result<()> {
        self.inner
            .lock()
            .unwrap()
            .resources
            .insert((record.tenant.clone(), record.name.clone()), record.clone());
        Ok(())
    }
    async fn delete_resource(&self, tenant: &str, name: &str) -> Result<()> {
        self.inner
            .lock()
            .unwrap()
            .resources
            .remove(&(tenant.to_string(), name.to_string()));
        Ok(())
    }
    async fn list_tenants(&self) -> Result<Vec<String>> {
        let i = self.inner.lock().unwrap();
        let mut t: Vec<String> = i.resources.keys().map(|k| k.0.clone()).collect();
        t.extend(i.journal.iter().map(|j| j.tenant.clone()));
        t.sort();
        t.dedup();
        Ok(t)
    }
    async fn append_journal(&self, entry: &JournalEntry) -> Result<u64> {
        let mut i = self.inner.lock().unwrap();
        let seq = i.journal.len() as u64 + 1;
        let mut e = entry.clone();
        e.seq = seq;
        i.journal.push(e);
        Ok(seq)
    }
    async fn journal(&self, tenant: &str, after: u64) -> Result<Vec<JournalEntry>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .journal
            .iter()
            .filter(|e| e.tenant == tenant && e.seq > after)
            .cloned()
            .collect())
    }
    async fn pending_intents(&self, tenant: &str) -> Result<Vec<JournalEntry>> {
        let i = self.inner.lock().unwrap();
        let j: Vec<&JournalEntry> = i.journal.iter().filter(|e| e.tenant == tenant).collect();
        Ok(j.iter()
            .filter(|e| e.phase == JournalPhase::Intent)
            .filter(|e| {
                !j.iter()
                    .any(|r| r.phase != JournalPhase::Intent && r.token == e.token && r.seq > e.seq)
            })
            .map(|e| (*e).clone())
            .collect())
    }
    async fn acquire_lease(&self, tenant: &str, owner: &str, ttl: Duration) -> Result<Lease> {
        let mut i = self.inner.lock().unwrap();
        let now = crate::state::now_ms();
        if let Some(l) = i.leases.get(tenant)
            && l.owner != owner
            && l.expires_at_ms > now
        {
            return Err(Error::conflict(format!(
                "tenant {tenant:?} is locked by {:?} until {}",
                l.owner, l.expires_at_ms
            )));
        }
        let generation = i.leases.get(tenant).map(|l| l.generation).unwrap_or(0) + 1;
        let l = Lease {
            tenant: tenant.to_string(),
            owner: owner.to_string(),
            expires_at_ms: now + ttl.as_millis() as i64,
            generation,
        };
        i.leases.insert(tenant.to_string(), l.clone());
        Ok(l)
    }
    async fn renew_lease(&self, lease: &Lease, ttl: Duration) -> Result<Lease> {
        let mut i = self.inner.lock().unwrap();
        match i.leases.get_mut(&lease.tenant) {
            Some(l) if l.owner == lease.owner && l.generation == lease.generation => {
                l.expires_at_ms = crate::state::now_ms() + ttl.as_millis() as i64;
                Ok(l.clone())
            }
            _ => Err(Error::conflict("lease lost")),
        }
    }
    async fn release_lease(&self, lease: &Lease) -> Result<()> {
        let mut i = self.inner.lock().unwrap();
        if i.leases
            .get(&lease.tenant)
            .is_some_and(|l| l.owner == lease.owner && l.generation == lease.generation)
        {
            i.leases.remove(&lease.tenant);
        }
        Ok(())
    }
    async fn get_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self.inner.lock().unwrap().leases.get(tenant).cloned())
    }
    async fn break_lease(&self, tenant: &str) -> Result<Option<Lease>> {
        Ok(self.inner.lock().unwrap().leases.remove(tenant))
    }
    async fn put_fleet_cursor(&self, cursor: &FleetCursor) -> Result<()> {
        self.inner
            .lock()
            .unwrap()
            .cursors
            .insert(cursor.fleet_id.clone(), cursor.clone());
        Ok(())
    }
    async fn get_fleet_cursor(&self, fleet_id: &str) -> Result<Option<FleetCursor>> {
        Ok(self.inner.lock().unwrap().cursors.get(fleet_id).cloned())
    }
    async fn get_phase(&self, tenant: &str) -> Result<Option<crate::state::TenantPhase>> {
        Ok(self.inner.lock().unwrap().phases.get(tenant).cloned())
    }
    async fn put_phase(&self, record: &crate::state::TenantPhase) -> Result<()> {
        self.inner
            .lock()
            .unwrap()
            .phases
            .insert(record.tenant.clone(), record.clone());
        Ok(())
    }
    async fn delete_phase(&self, tenant: &str) -> Result<()> {
        self.inner.lock().unwrap().phases.remove(tenant);
        Ok(())
    }
}
