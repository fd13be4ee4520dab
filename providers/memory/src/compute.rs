//! In-memory compute with EC2's instance life cycle.

use crate::faults::{Base, Faults, Read};
use crate::inventory::Inventory;
use provisio::compute::{Compute, ComputeCapabilities, Instance, InstanceSpec, InstanceState};
use provisio::types::{ownership, tags_match};
use provisio::{
    Deleted, Ensured, Error, Provider, ProviderInfo, Result, Tags, async_trait, validate,
};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a new instance stays `pending` unless configured otherwise.
pub const DEFAULT_BOOT_TIME: Duration = Duration::from_millis(20);
/// How long a terminated instance stays `shutting_down` unless configured otherwise.
pub const DEFAULT_SHUTDOWN_TIME: Duration = Duration::from_millis(10);
/// How often [`Compute::wait_for_state`] looks at the instance.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The largest user data EC2 accepts (16 KiB).
pub const MAX_USER_DATA: usize = 16 * 1024;

#[derive(Debug, Clone)]
struct InstanceRec {
    id: String,
    spec: InstanceSpec,
    launched_at: Instant,
    boot: Duration,
    terminated_at: Option<Instant>,
    shutdown: Duration,
    private_ip: String,
    public_ip: String,
}

impl InstanceRec {
    fn state(&self, now: Instant) -> InstanceState {
        match self.terminated_at {
            Some(t) if now >= t + self.shutdown => InstanceState::Terminated,
            Some(_) => InstanceState::ShuttingDown,
            None if now >= self.launched_at + self.boot => InstanceState::Running,
            None => InstanceState::Pending,
        }
    }

    fn view(&self, now: Instant) -> Instance {
        let state = self.state(now);
        Instance {
            id: self.id.clone(),
            name: self.spec.name.clone(),
            image: self.spec.image.clone(),
            size: self.spec.size.clone(),
            state,
            public_ip: (state == InstanceState::Running).then(|| self.public_ip.clone()),
            private_ip: (state != InstanceState::Terminated).then(|| self.private_ip.clone()),
            tags: self.spec.tags.clone(),
        }
    }

    fn detail(&self) -> serde_json::Value {
        json!({
            "name": self.spec.name,
            "image": self.spec.image,
            "size": self.spec.size,
            "tags": self.spec.tags,
            "private_ip": self.private_ip,
            "public_ip": self.public_ip,
        })
    }
}

#[derive(Debug)]
pub(crate) struct State {
    instances: BTreeMap<String, InstanceRec>,
    rng: SmallRng,
    /// How many ids `rng` has drawn (to rebuild it at the same point after a restore).
    draws: u64,
    launched: u32,
    boot: Duration,
    shutdown: Duration,
}

/// In-memory compute with EC2's life cycle: instances start `pending` and turn `running` after
/// the boot time, `terminate` moves them through `shutting_down` to `terminated`, and terminated
/// instances stay visible to [`Compute::get_instance`] (not to [`Compute::find_instances`]).
///
/// Times are measured with `tokio::time::Instant`, so tests can pause and advance time.
/// Addresses are deterministic: the n-th launch gets private `10.0.x.y` and public addresses
/// from the documentation ranges (203.0.113.0/24, then 198.51.100.0/24, then 192.0.2.0/24).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use provisio::Compute;
/// use provisio::compute::{InstanceSpec, InstanceState};
/// let ec2 = provisio_memory::MemoryCompute::new();
/// let spec = InstanceSpec {
///     name: "acme-web".into(), image: "ami-1".into(), size: "t3.small".into(),
///     tags: provisio::types::ownership::tags("acme", "launch", "web"),
///     user_data: None, idempotency_key: "acme-web-1".into(),
/// };
/// let i = ec2.launch_instance(&spec).await.unwrap().value;
/// assert_eq!(i.state, InstanceState::Pending);
/// let i = ec2.wait_for_state(&i.id, InstanceState::Running, std::time::Duration::from_secs(1)).await.unwrap();
/// assert_eq!(i.public_ip.as_deref(), Some("203.0.113.1"));
/// # });
/// ```
#[derive(Debug)]
pub struct MemoryCompute {
    pub(crate) base: Base,
    state: Mutex<State>,
}

impl Default for MemoryCompute {
    fn default() -> Self {
        Self::new()
    }
}

fn public_ip(n: u32) -> String {
    let nets = ["203.0.113", "198.51.100", "192.0.2"];
    let i = (n - 1) as usize;
    format!("{}.{}", nets[(i / 254) % nets.len()], i % 254 + 1)
}

fn private_ip(n: u32) -> String {
    let k = n + 9;
    format!("10.0.{}.{}", (k >> 8) & 0xff, k & 0xff)
}

fn ownership_tags(tags: &Tags) -> Tags {
    tags.iter()
        .filter(|(k, _)| {
            [ownership::TENANT, ownership::BLUEPRINT, ownership::RESOURCE].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The generator of instance ids for `seed`, after `draws` ids have been drawn from it.
fn id_rng(seed: u64, draws: u64) -> SmallRng {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xc0_4d_u64);
    for _ in 0..draws {
        let _: u128 = rng.r#gen();
    }
    rng
}

/// The most id draws a snapshot may claim (rebuilding the generator replays them).
const MAX_DRAWS: u64 = 10_000_000;

/// Compute's part of a [`crate::MemorySnapshot`]. Times are stored as what is left of them:
/// a pending instance keeps the rest of its boot time, a shutting-down one the rest of its
/// shutdown time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComputeSnapshot {
    instances: Vec<InstanceSnapshot>,
    launched: u32,
    id_draws: u64,
    boot_time: Duration,
    shutdown_time: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceSnapshot {
    id: String,
    spec: InstanceSpec,
    private_ip: String,
    public_ip: String,
    /// How much longer it stays `pending` (zero once running).
    boot_remaining: Duration,
    /// Set once terminated: how much longer it stays `shutting_down`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shutdown_remaining: Option<Duration>,
}

fn check_id(id: &str) -> Result<()> {
    let ok = id
        .strip_prefix("i-")
        .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "instance id",
            format!("{id:?} is not an instance id (InvalidInstanceID.Malformed)"),
        ))
    }
}

impl MemoryCompute {
    /// The default account name.
    pub const DEFAULT_ACCOUNT: &'static str = "memory-compute";

    /// A provider with no instances and no faults.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// A provider using the shared `faults`; instance ids derive from its seed.
    pub fn with_faults(faults: Faults) -> Self {
        let rng = id_rng(faults.seed(), 0);
        MemoryCompute {
            base: Base::new(
                faults,
                Self::DEFAULT_ACCOUNT,
                crate::persist::Section::Compute,
            ),
            state: Mutex::new(State {
                instances: BTreeMap::new(),
                rng,
                draws: 0,
                launched: 0,
                boot: DEFAULT_BOOT_TIME,
                shutdown: DEFAULT_SHUTDOWN_TIME,
            }),
        }
    }

    /// The same provider acting on account `account`.
    pub fn with_account(mut self, account: impl Into<String>) -> Self {
        self.base.account = account.into();
        self
    }

    /// The shared fault settings.
    pub fn faults(&self) -> &Faults {
        &self.base.faults
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets how long instances launched from now on stay `pending`.
    pub fn set_boot_time(&self, boot: Duration) {
        self.lock().boot = boot;
    }

    /// Sets how long instances terminated from now on stay `shutting_down`.
    pub fn set_shutdown_time(&self, shutdown: Duration) {
        self.lock().shutdown = shutdown;
    }

    /// Every live (not shutting down or terminated) instance, by id.
    pub fn inventory(&self) -> Inventory {
        let now = Instant::now();
        let s = self.lock();
        let mut inv = Inventory::new();
        for r in s.instances.values() {
            if !r.state(now).is_terminal() {
                inv.insert("compute.instance", r.id.clone(), r.detail());
            }
        }
        inv
    }

    /// Instances that are shutting down or terminated (`compute.terminated_instance`).
    pub fn retired(&self) -> Inventory {
        let now = Instant::now();
        let s = self.lock();
        let mut inv = Inventory::new();
        for r in s.instances.values() {
            if r.state(now).is_terminal() {
                inv.insert("compute.terminated_instance", r.id.clone(), r.detail());
            }
        }
        inv
    }

    pub(crate) fn check_spec(spec: &InstanceSpec) -> Result<()> {
        let nonempty = |field: &str, v: &str, max: usize| {
            if v.is_empty() || v.len() > max || v.chars().any(char::is_control) {
                Err(Error::invalid_field(
                    field,
                    format!("must be 1 to {max} characters without control characters"),
                ))
            } else {
                Ok(())
            }
        };
        nonempty("instance name", &spec.name, 255)?;
        nonempty("instance image", &spec.image, 255)?;
        nonempty("instance size", &spec.size, 64)?;
        if spec.idempotency_key.is_empty()
            || spec.idempotency_key.len() > 64
            || !spec.idempotency_key.is_ascii()
        {
            return Err(Error::invalid_field(
                "idempotency_key",
                "must be 1 to 64 ASCII characters",
            ));
        }
        validate::tags("instance tags", &spec.tags)?;
        if spec
            .user_data
            .as_ref()
            .is_some_and(|u| u.len() > MAX_USER_DATA)
        {
            return Err(Error::invalid_field("user_data", "must be at most 16 KiB"));
        }
        Ok(())
    }
}

impl MemoryCompute {
    /// Everything this provider holds.
    pub(crate) fn snapshot(&self) -> ComputeSnapshot {
        let now = Instant::now();
        let s = self.lock();
        ComputeSnapshot {
            instances: s
                .instances
                .values()
                .map(|r| InstanceSnapshot {
                    id: r.id.clone(),
                    spec: r.spec.clone(),
                    private_ip: r.private_ip.clone(),
                    public_ip: r.public_ip.clone(),
                    boot_remaining: (r.launched_at + r.boot).saturating_duration_since(now),
                    shutdown_remaining: r
                        .terminated_at
                        .map(|t| (t + r.shutdown).saturating_duration_since(now)),
                })
                .collect(),
            launched: s.launched,
            id_draws: s.draws,
            boot_time: s.boot,
            shutdown_time: s.shutdown,
        }
    }

    /// Replaces everything this provider holds with `snap`; remaining times count from now, and
    /// the id generator continues where it stopped (for the same seed).
    pub(crate) fn prepare_restore(&self, snap: ComputeSnapshot) -> Result<State> {
        use crate::snapshot::{bounded, corrupt};
        if snap.id_draws > MAX_DRAWS {
            return Err(corrupt(format!(
                "compute claims {} instance id draws (at most {MAX_DRAWS})",
                snap.id_draws
            )));
        }
        let now = Instant::now();
        bounded("compute boot_time", snap.boot_time)?;
        bounded("compute shutdown_time", snap.shutdown_time)?;
        let mut instances = BTreeMap::new();
        for i in snap.instances {
            check_id(&i.id).map_err(|e| corrupt(e.message()))?;
            bounded("instance boot_remaining", i.boot_remaining)?;
            if let Some(d) = i.shutdown_remaining {
                bounded("instance shutdown_remaining", d)?;
            }
            let rec = InstanceRec {
                id: i.id.clone(),
                spec: i.spec,
                launched_at: now,
                boot: i.boot_remaining,
                terminated_at: i.shutdown_remaining.map(|_| now),
                shutdown: i.shutdown_remaining.unwrap_or(snap.shutdown_time),
                private_ip: i.private_ip,
                public_ip: i.public_ip,
            };
            if instances.insert(i.id.clone(), rec).is_some() {
                return Err(corrupt(format!("compute instance {} appears twice", i.id)));
            }
        }
        Ok(State {
            instances,
            rng: id_rng(self.base.faults.seed(), snap.id_draws),
            draws: snap.id_draws,
            launched: snap.launched,
            boot: snap.boot_time,
            shutdown: snap.shutdown_time,
        })
    }

    /// Installs a state made by [`MemoryCompute::prepare_restore`].
    pub(crate) fn install(&self, state: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = state;
    }
}

impl crate::snapshot::SnapshotSection for MemoryCompute {
    type JsonCache = ();
    type Snapshot = ComputeSnapshot;
    type Prepared = State;
    fn snapshot_section(&self) -> ComputeSnapshot {
        self.snapshot()
    }
    fn prepare_section(&self, snap: ComputeSnapshot) -> Result<State> {
        self.prepare_restore(snap)
    }
    fn install_section(&self, state: State) {
        self.install(state)
    }
    fn age(snap: &mut ComputeSnapshot, elapsed: std::time::Duration) {
        for i in &mut snap.instances {
            i.boot_remaining = i.boot_remaining.saturating_sub(elapsed);
            if let Some(d) = &mut i.shutdown_remaining {
                *d = d.saturating_sub(elapsed);
            }
        }
    }
    fn longest_clock(snap: &ComputeSnapshot) -> Option<std::time::Duration> {
        snap.instances
            .iter()
            .flat_map(|i| [Some(i.boot_remaining), i.shutdown_remaining])
            .flatten()
            .filter(|d| !d.is_zero())
            .max()
    }
}

impl Provider for MemoryCompute {
    fn info(&self) -> ProviderInfo {
        self.base.info()
    }
}

#[async_trait]
impl Compute for MemoryCompute {
    fn capabilities(&self) -> ComputeCapabilities {
        ComputeCapabilities {
            native_idempotency: true,
            tags: true,
            user_data: true,
        }
    }

    async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>> {
        self.base
            .run_ensure("compute.launch_instance", &spec.name, async {
                Self::check_spec(spec)?;
                let now = Instant::now();
                let mut s = self.lock();
                let owner = ownership_tags(&spec.tags);
                // EC2 ClientToken: the same key returns the same launch; different parameters
                // under the same key are IdempotentParameterMismatch.
                if let Some(r) = s.instances.values().find(|r| {
                    r.spec.idempotency_key == spec.idempotency_key && !r.state(now).is_terminal()
                }) {
                    if r.spec.name != spec.name
                        || r.spec.image != spec.image
                        || r.spec.size != spec.size
                    {
                        return Err(Error::conflict(format!(
                            "idempotency key {:?} was used for another launch ({}) with other parameters (IdempotentParameterMismatch)",
                            spec.idempotency_key, r.id
                        )));
                    }
                    return Ok(Ensured::unchanged(r.view(now)));
                }
                if let Some(r) = s.instances.values().find(|r| {
                    r.spec.name == spec.name
                        && !r.state(now).is_terminal()
                        && tags_match(&r.spec.tags, &owner)
                }) {
                    return Ok(Ensured::unchanged(r.view(now)));
                }
                let id = loop {
                    let n: u128 = s.rng.r#gen();
                    s.draws += 1;
                    let id = format!("i-{:017x}", n & ((1u128 << 68) - 1));
                    if !s.instances.contains_key(&id) {
                        break id;
                    }
                };
                s.launched += 1;
                let n = s.launched;
                let rec = InstanceRec {
                    id: id.clone(),
                    spec: spec.clone(),
                    launched_at: now,
                    boot: s.boot,
                    terminated_at: None,
                    shutdown: s.shutdown,
                    private_ip: private_ip(n),
                    public_ip: public_ip(n),
                };
                let view = rec.view(now);
                s.instances.insert(id, rec);
                Ok(Ensured::created(view))
            })
            .await
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        self.base
            .run("compute.get_instance", id, async {
                check_id(id)?;
                let now = Instant::now();
                Ok(Read(self.lock().instances.get(id).map(|r| r.view(now))))
            })
            .await
    }

    async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>> {
        self.base
            .run("compute.find_instances", "", async {
                validate::tags("tags", tags)?;
                let now = Instant::now();
                Ok(Read(
                    self.lock()
                        .instances
                        .values()
                        .filter(|r| !r.state(now).is_terminal() && tags_match(&r.spec.tags, tags))
                        .map(|r| r.view(now))
                        .collect(),
                ))
            })
            .await
    }

    async fn wait_for_state(
        &self,
        id: &str,
        state: InstanceState,
        timeout: Duration,
    ) -> Result<Instance> {
        self.base
            .run_polling("compute.wait_for_state", id, async {
                check_id(id)?;
                let deadline = Instant::now() + timeout;
                loop {
                    let now = Instant::now();
                    let current = self
                        .lock()
                        .instances
                        .get(id)
                        .map(|r| r.view(now))
                        .ok_or_else(|| Error::not_found(format!("instance {id} does not exist")))?;
                    if current.state == state {
                        return Ok(Read(current));
                    }
                    let reachable = match current.state {
                        InstanceState::Terminated => false,
                        InstanceState::ShuttingDown => state == InstanceState::Terminated,
                        _ => true,
                    };
                    if !reachable {
                        return Err(Error::conflict(format!(
                            "instance {id} is {:?} and will never be {:?}",
                            current.state, state
                        )));
                    }
                    if now >= deadline {
                        return Err(Error::timeout(format!(
                            "instance {id} still {:?} after {timeout:?} waiting for {state:?}",
                            current.state
                        )));
                    }
                    tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
                }
            })
            .await
    }

    async fn terminate_instance(&self, id: &str) -> Result<Deleted> {
        self.base
            .run("compute.terminate_instance", id, async {
                check_id(id)?;
                let now = Instant::now();
                let mut s = self.lock();
                let shutdown = s.shutdown;
                Ok(match s.instances.get_mut(id) {
                    Some(r) if r.terminated_at.is_none() => {
                        r.terminated_at = Some(now);
                        r.shutdown = shutdown;
                        Deleted::Deleted
                    }
                    _ => Deleted::AlreadyGone,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisio::{ErrorKind, Outcome};

    fn spec(name: &str, key: &str) -> InstanceSpec {
        InstanceSpec {
            name: name.into(),
            image: "ami-123".into(),
            size: "t3.small".into(),
            tags: ownership::tags("acme", "launch", name),
            user_data: None,
            idempotency_key: key.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn life_cycle() {
        let ec2 = MemoryCompute::new();
        let i = ec2.launch_instance(&spec("web", "k1")).await.unwrap();
        assert_eq!(i.outcome, Outcome::Created);
        let i = i.value;
        assert!(i.id.starts_with("i-") && i.id.len() == 19, "{}", i.id);
        assert_eq!(i.state, InstanceState::Pending);
        assert_eq!(i.public_ip, None);
        assert_eq!(i.private_ip.as_deref(), Some("10.0.0.10"));
        tokio::time::advance(DEFAULT_BOOT_TIME).await;
        let r = ec2.get_instance(&i.id).await.unwrap().unwrap();
        assert_eq!(r.state, InstanceState::Running);
        assert_eq!(r.public_ip.as_deref(), Some("203.0.113.1"));
        assert_eq!(ec2.inventory().count("compute.instance"), 1);

        assert_eq!(
            ec2.terminate_instance(&i.id).await.unwrap(),
            Deleted::Deleted
        );
        assert_eq!(
            ec2.terminate_instance(&i.id).await.unwrap(),
            Deleted::AlreadyGone
        );
        let r = ec2.get_instance(&i.id).await.unwrap().unwrap();
        assert_eq!(r.state, InstanceState::ShuttingDown);
        let e = ec2
            .wait_for_state(&i.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        let t = ec2
            .wait_for_state(&i.id, InstanceState::Terminated, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(t.state, InstanceState::Terminated);
        assert!(ec2.find_instances(&Tags::new()).await.unwrap().is_empty());
        assert!(ec2.inventory().is_empty());
        assert_eq!(ec2.retired().count("compute.terminated_instance"), 1);
        assert_eq!(ec2.get_instance("i-0123456789abcdef0").await.unwrap(), None);
        assert_eq!(
            ec2.get_instance("bogus").await.unwrap_err().kind(),
            &ErrorKind::InvalidInput
        );
        assert_eq!(
            ec2.terminate_instance("i-0123456789abcdef0").await.unwrap(),
            Deleted::AlreadyGone
        );
    }

    #[tokio::test(start_paused = true)]
    async fn adoption_by_name_tags_or_key() {
        let ec2 = MemoryCompute::new();
        let a = ec2.launch_instance(&spec("web", "k1")).await.unwrap().value;
        // same name + ownership tags, new key: adopted
        let b = ec2.launch_instance(&spec("web", "k2")).await.unwrap();
        assert_eq!(b.outcome, Outcome::Unchanged);
        assert_eq!(b.value.id, a.id);
        // same key: adopted
        let mut other_tags = spec("web", "k1");
        other_tags.tags = ownership::tags("other", "x", "y");
        assert_eq!(
            ec2.launch_instance(&other_tags).await.unwrap().value.id,
            a.id
        );
        // same key, other parameters: conflict
        let mut mismatch = spec("web", "k1");
        mismatch.image = "ami-999".into();
        assert_eq!(
            ec2.launch_instance(&mismatch).await.unwrap_err().kind(),
            &ErrorKind::Conflict
        );
        // same name, other owner: a new instance
        let mut foreign = spec("web", "k3");
        foreign.tags = ownership::tags("globex", "launch", "web");
        let c = ec2.launch_instance(&foreign).await.unwrap();
        assert_eq!(c.outcome, Outcome::Created);
        assert_ne!(c.value.id, a.id);
        let found = ec2
            .find_instances(&ownership::tags("acme", "launch", "web"))
            .await
            .unwrap();
        assert_eq!(found.len(), 1);
        // after termination, a launch creates a new instance
        ec2.terminate_instance(&a.id).await.unwrap();
        let d = ec2.launch_instance(&spec("web", "k1")).await.unwrap();
        assert_eq!(d.outcome, Outcome::Created);
        let bad = InstanceSpec {
            idempotency_key: "x".repeat(65),
            ..spec("web", "")
        };
        assert_eq!(
            ec2.launch_instance(&bad).await.unwrap_err().kind(),
            &ErrorKind::InvalidInput
        );
    }

    #[tokio::test(start_paused = true)]
    async fn wait_times_out_and_ids_are_seeded() {
        let ec2 = MemoryCompute::with_faults(Faults::new(42));
        ec2.set_boot_time(Duration::from_secs(60));
        let a = ec2.launch_instance(&spec("web", "k1")).await.unwrap().value;
        let e = ec2
            .wait_for_state(&a.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert!(e.retryable());
        let again = MemoryCompute::with_faults(Faults::new(42));
        let b = again
            .launch_instance(&spec("web", "k1"))
            .await
            .unwrap()
            .value;
        assert_eq!(a.id, b.id);
        let other = MemoryCompute::with_faults(Faults::new(43));
        let c = other
            .launch_instance(&spec("web", "k1"))
            .await
            .unwrap()
            .value;
        assert_ne!(a.id, c.id);
        assert_eq!(
            ec2.wait_for_state(
                "i-00000000000000000",
                InstanceState::Running,
                Duration::ZERO
            )
            .await
            .unwrap_err()
            .kind(),
            &ErrorKind::NotFound
        );
    }
}
