//! In-memory compute with EC2's instance life cycle.

use crate::faults::{Base, Faults, MaybeChanged, Read};
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
/// How long a stopped instance stays `stopping` unless configured otherwise.
pub const DEFAULT_STOP_TIME: Duration = Duration::from_millis(10);
/// How often [`Compute::wait_for_state`] looks at the instance.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// The largest user data EC2 accepts (16 KiB).
pub const MAX_USER_DATA: usize = 16 * 1024;

/// The power state an instance was last asked for: it is on its way there (`pending`,
/// `stopping`) until its transition time has passed, then there (`running`, `stopped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Power {
    /// Launched or started: `pending`, then `running`.
    #[default]
    Running,
    /// Stopped: `stopping`, then `stopped`.
    Stopped,
}

impl Power {
    fn is_running(&self) -> bool {
        *self == Power::Running
    }
}

#[derive(Debug, Clone)]
struct InstanceRec {
    id: String,
    spec: InstanceSpec,
    /// The power state last asked for (by the launch, a stop or a start).
    power: Power,
    /// When it was asked for.
    power_at: Instant,
    /// How long the transition to it takes (the boot time, or the stop time).
    transition: Duration,
    terminated_at: Option<Instant>,
    shutdown: Duration,
    private_ip: String,
    /// The public address of the current run; `None` once stopped (released, as EC2 does
    /// for an instance without an elastic IP).
    public_ip: Option<String>,
}

impl InstanceRec {
    fn state(&self, now: Instant) -> InstanceState {
        let arrived = now >= self.power_at + self.transition;
        match (self.terminated_at, self.power, arrived) {
            (Some(t), _, _) if now >= t + self.shutdown => InstanceState::Terminated,
            (Some(_), _, _) => InstanceState::ShuttingDown,
            (None, Power::Running, true) => InstanceState::Running,
            (None, Power::Running, false) => InstanceState::Pending,
            (None, Power::Stopped, true) => InstanceState::Stopped,
            (None, Power::Stopped, false) => InstanceState::Stopping,
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
            public_ip: self
                .public_ip
                .clone()
                .filter(|_| state == InstanceState::Running),
            private_ip: (state != InstanceState::Terminated).then(|| self.private_ip.clone()),
            tags: self.spec.tags.clone(),
        }
    }

    fn detail(&self, now: Instant) -> serde_json::Value {
        json!({
            "name": self.spec.name,
            "image": self.spec.image,
            "size": self.spec.size,
            "tags": self.spec.tags,
            "state": self.state(now),
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
    /// How many public addresses have been handed out (one per launch and per start).
    addresses: u32,
    boot: Duration,
    shutdown: Duration,
    stop: Duration,
}

impl State {
    /// The next public address (launches and starts draw from the same sequence).
    fn next_public_ip(&mut self) -> String {
        self.addresses += 1;
        public_ip(self.addresses)
    }
}

/// In-memory compute with EC2's life cycle: instances start `pending` and turn `running` after
/// the boot time, `terminate` moves them through `shutting_down` to `terminated`, and terminated
/// instances stay visible to [`Compute::get_instance`] (not to [`Compute::find_instances`]).
///
/// Stop and start follow EC2 too: [`Compute::stop_instance`] turns a running instance
/// `stopping`, then `stopped` after the stop time ([`MemoryCompute::set_stop_time`]);
/// [`Compute::start_instance`] turns a stopped one `pending`, then `running` after the boot
/// time. Stopping a `pending` instance or starting a `stopping` one is refused with
/// `Conflict` (EC2's `IncorrectInstanceState`), as is either on a terminated instance; a stop
/// of a stopping or stopped instance (a start of a pending or running one) changes nothing
/// and counts no mutation. The private address is kept; the public one is released on stop
/// and a new one is handed out on start, as EC2 does for an instance without an elastic IP.
///
/// Times are measured with `tokio::time::Instant`, so tests can pause and advance time.
/// Addresses are deterministic: the n-th launch gets private `10.0.x.y`; public addresses come
/// from the documentation ranges (203.0.113.0/24, then 198.51.100.0/24, then 192.0.2.0/24), one
/// per launch and per start, in order.
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
/// a pending instance keeps the rest of its boot time, a stopping one the rest of its stop
/// time, a shutting-down one the rest of its shutdown time.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComputeSnapshot {
    instances: Vec<InstanceSnapshot>,
    launched: u32,
    /// Public addresses handed out; absent in snapshots from before stop/start, where it was
    /// the number of launches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    addresses: Option<u32>,
    id_draws: u64,
    boot_time: Duration,
    shutdown_time: Duration,
    #[serde(default = "default_stop_time")]
    stop_time: Duration,
}

fn default_stop_time() -> Duration {
    DEFAULT_STOP_TIME
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceSnapshot {
    id: String,
    spec: InstanceSpec,
    private_ip: String,
    /// The public address of the current run; `null` while stopped.
    #[serde(default)]
    public_ip: Option<String>,
    /// The power state last asked for (`running` when absent).
    #[serde(default, skip_serializing_if = "Power::is_running")]
    power: Power,
    /// How much longer it stays `pending` or `stopping` (zero once running or stopped).
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
                addresses: 0,
                boot: DEFAULT_BOOT_TIME,
                shutdown: DEFAULT_SHUTDOWN_TIME,
                stop: DEFAULT_STOP_TIME,
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

    /// Sets how long instances stopped from now on stay `stopping`.
    pub fn set_stop_time(&self, stop: Duration) {
        self.lock().stop = stop;
    }

    /// Every live (not shutting down or terminated, stopped ones included) instance, by id;
    /// each detail carries its `state`.
    pub fn inventory(&self) -> Inventory {
        let now = Instant::now();
        let s = self.lock();
        let mut inv = Inventory::new();
        for r in s.instances.values() {
            if !r.state(now).is_terminal() {
                inv.insert("compute.instance", r.id.clone(), r.detail(now));
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
                inv.insert("compute.terminated_instance", r.id.clone(), r.detail(now));
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
                    power: r.power,
                    boot_remaining: (r.power_at + r.transition).saturating_duration_since(now),
                    shutdown_remaining: r
                        .terminated_at
                        .map(|t| (t + r.shutdown).saturating_duration_since(now)),
                })
                .collect(),
            launched: s.launched,
            addresses: Some(s.addresses),
            id_draws: s.draws,
            boot_time: s.boot,
            shutdown_time: s.shutdown,
            stop_time: s.stop,
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
        bounded("compute stop_time", snap.stop_time)?;
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
                power: i.power,
                power_at: now,
                transition: i.boot_remaining,
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
            addresses: snap.addresses.unwrap_or(snap.launched),
            boot: snap.boot_time,
            shutdown: snap.shutdown_time,
            stop: snap.stop_time,
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
            stop_start: true,
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
                    power: Power::Running,
                    power_at: now,
                    transition: s.boot,
                    terminated_at: None,
                    shutdown: s.shutdown,
                    private_ip: private_ip(n),
                    public_ip: Some(s.next_public_ip()),
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

    async fn stop_instance(&self, id: &str) -> Result<Instance> {
        self.base
            .run("compute.stop_instance", id, async {
                self.change_power(id, Power::Stopped)
            })
            .await
    }

    async fn start_instance(&self, id: &str) -> Result<Instance> {
        self.base
            .run("compute.start_instance", id, async {
                self.change_power(id, Power::Running)
            })
            .await
    }
}

impl MemoryCompute {
    /// Moves instance `id` towards `power` the way EC2's `StopInstances` / `StartInstances`
    /// do; a request for the power state it is in or on its way to changes nothing.
    fn change_power(&self, id: &str, power: Power) -> Result<MaybeChanged<Instance>> {
        check_id(id)?;
        let now = Instant::now();
        let mut s = self.lock();
        let State {
            instances,
            boot,
            stop,
            ..
        } = &mut *s;
        let (boot, stop) = (*boot, *stop);
        let rec = instances
            .get_mut(id)
            .ok_or_else(|| Error::not_found(format!("instance {id} does not exist")))?;
        let state = rec.state(now);
        let verb = match power {
            Power::Running => "started",
            Power::Stopped => "stopped",
        };
        if state.is_terminal() {
            return Err(Error::conflict(format!(
                "instance {id} is {state:?} and cannot be {verb} (IncorrectInstanceState)"
            )));
        }
        if rec.power == power {
            return Ok(MaybeChanged {
                value: rec.view(now),
                changed: false,
            });
        }
        match power {
            Power::Stopped if state == InstanceState::Pending => {
                return Err(Error::conflict(format!(
                    "instance {id} is Pending and cannot be stopped until it is Running \
                     (IncorrectInstanceState); wait for Running first"
                )));
            }
            Power::Running if state == InstanceState::Stopping => {
                return Err(Error::conflict(format!(
                    "instance {id} is Stopping and cannot be started until it is Stopped \
                     (IncorrectInstanceState); wait for Stopped first"
                )));
            }
            _ => {}
        }
        rec.power = power;
        rec.power_at = now;
        match power {
            Power::Stopped => {
                rec.transition = stop;
                // Released: the next start gets another address.
                rec.public_ip = None;
            }
            Power::Running => rec.transition = boot,
        }
        if power == Power::Running {
            let ip = s.next_public_ip();
            let rec = s.instances.get_mut(id).expect("found above");
            rec.public_ip = Some(ip);
        }
        let value = s.instances[id].view(now);
        Ok(MaybeChanged {
            value,
            changed: true,
        })
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
    async fn stop_and_start_follow_ec2() {
        let ec2 = MemoryCompute::new();
        ec2.set_stop_time(Duration::from_millis(30));
        let i = ec2.launch_instance(&spec("web", "k1")).await.unwrap().value;
        // pending: not yet stoppable (EC2 IncorrectInstanceState)
        let e = ec2.stop_instance(&i.id).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict);
        assert!(e.message().contains("Pending"), "{e}");
        // starting a pending instance is a no-op
        let same = ec2.start_instance(&i.id).await.unwrap();
        assert_eq!(same.state, InstanceState::Pending);
        assert_eq!(ec2.faults().mutations("compute.start_instance"), 0);
        let running = ec2
            .wait_for_state(&i.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(running.public_ip.as_deref(), Some("203.0.113.1"));

        let stopping = ec2.stop_instance(&i.id).await.unwrap();
        assert_eq!(stopping.state, InstanceState::Stopping);
        assert_eq!(stopping.public_ip, None, "released on stop");
        assert_eq!(stopping.private_ip, running.private_ip, "kept on stop");
        // again while stopping, and once stopped: unchanged, no second state change
        assert_eq!(
            ec2.stop_instance(&i.id).await.unwrap().state,
            InstanceState::Stopping
        );
        let e = ec2.start_instance(&i.id).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Conflict, "start while stopping");
        tokio::time::advance(Duration::from_millis(30)).await;
        let stopped = ec2.get_instance(&i.id).await.unwrap().unwrap();
        assert_eq!(stopped.state, InstanceState::Stopped);
        assert_eq!(
            ec2.stop_instance(&i.id).await.unwrap().state,
            InstanceState::Stopped
        );
        assert_eq!(ec2.faults().calls("compute.stop_instance"), 4);
        assert_eq!(ec2.faults().mutations("compute.stop_instance"), 1);
        // a stopped instance is still live: found by tags, in the inventory with its state
        assert_eq!(
            ec2.find_instances(&ownership::tags("acme", "launch", "web"))
                .await
                .unwrap()
                .len(),
            1
        );
        let inv = ec2.inventory();
        assert_eq!(inv.count("compute.instance"), 1);
        assert_eq!(
            inv.get("compute.instance", &i.id).unwrap()["state"],
            "stopped"
        );

        let pending = ec2.start_instance(&i.id).await.unwrap();
        assert_eq!(pending.state, InstanceState::Pending);
        assert_eq!(
            ec2.start_instance(&i.id).await.unwrap().state,
            InstanceState::Pending
        );
        assert_eq!(ec2.faults().mutations("compute.start_instance"), 1);
        let again = ec2
            .wait_for_state(&i.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(
            again.public_ip.as_deref(),
            Some("203.0.113.2"),
            "a new public address on start"
        );
        assert_eq!(again.private_ip, running.private_ip);

        // unknown, malformed and terminated ids
        let e = ec2.stop_instance("i-0123456789abcdef0").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert!(e.to_string().contains("i-0123456789abcdef0"), "{e}");
        let e = ec2.start_instance("i-0123456789abcdef0").await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::NotFound);
        assert_eq!(
            ec2.start_instance("bogus").await.unwrap_err().kind(),
            &ErrorKind::InvalidInput
        );
        ec2.terminate_instance(&i.id).await.unwrap();
        for e in [
            ec2.stop_instance(&i.id).await.unwrap_err(),
            ec2.start_instance(&i.id).await.unwrap_err(),
        ] {
            assert_eq!(e.kind(), &ErrorKind::Conflict);
            assert!(e.message().contains("ShuttingDown"), "{e}");
        }
        // a stopped instance can be terminated
        let j = ec2.launch_instance(&spec("db", "k2")).await.unwrap().value;
        tokio::time::advance(DEFAULT_BOOT_TIME).await;
        ec2.stop_instance(&j.id).await.unwrap();
        assert_eq!(
            ec2.terminate_instance(&j.id).await.unwrap(),
            Deleted::Deleted
        );
        ec2.wait_for_state(&j.id, InstanceState::Terminated, Duration::from_secs(1))
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn stop_and_start_take_injected_faults() {
        let ec2 = MemoryCompute::new();
        let i = ec2.launch_instance(&spec("web", "k1")).await.unwrap().value;
        tokio::time::advance(DEFAULT_BOOT_TIME).await;
        ec2.faults()
            .error_on_call("compute.stop_instance", 1, ErrorKind::Transient);
        let e = ec2.stop_instance(&i.id).await.unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Transient);
        assert_eq!(
            ec2.get_instance(&i.id).await.unwrap().unwrap().state,
            InstanceState::Running,
            "a fault before the effect changes nothing"
        );
        // lost answer: the stop happened; the retry finds it stopping and changes nothing
        ec2.faults()
            .error_after_effect("compute.stop_instance", 2, ErrorKind::Transient);
        assert!(ec2.stop_instance(&i.id).await.is_err());
        assert_eq!(
            ec2.stop_instance(&i.id).await.unwrap().state,
            InstanceState::Stopping
        );
        assert_eq!(ec2.faults().mutations("compute.stop_instance"), 1);
        tokio::time::advance(DEFAULT_STOP_TIME).await;
        ec2.faults()
            .error_on_call("compute.start_instance", 1, ErrorKind::PermissionDenied);
        assert_eq!(
            ec2.start_instance(&i.id).await.unwrap_err().kind(),
            &ErrorKind::PermissionDenied
        );
        assert_eq!(
            ec2.start_instance(&i.id).await.unwrap().state,
            InstanceState::Pending
        );
    }

    #[tokio::test(start_paused = true)]
    async fn snapshots_keep_the_power_state() {
        let ec2 = MemoryCompute::new();
        ec2.set_stop_time(Duration::from_millis(40));
        let i = ec2.launch_instance(&spec("web", "k1")).await.unwrap().value;
        tokio::time::advance(DEFAULT_BOOT_TIME).await;
        ec2.stop_instance(&i.id).await.unwrap();
        tokio::time::advance(Duration::from_millis(10)).await;
        let snap = ec2.snapshot();
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["instances"][0]["power"], "stopped");
        assert_eq!(json["instances"][0]["public_ip"], serde_json::Value::Null);
        let back: ComputeSnapshot = serde_json::from_value(json).unwrap();
        let other = MemoryCompute::new();
        other.install(other.prepare_restore(back).unwrap());
        assert_eq!(
            other.get_instance(&i.id).await.unwrap().unwrap().state,
            InstanceState::Stopping
        );
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(
            other.get_instance(&i.id).await.unwrap().unwrap().state,
            InstanceState::Stopped
        );
        // the address sequence continues: the start gets the second address
        other.start_instance(&i.id).await.unwrap();
        let up = other
            .wait_for_state(&i.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(up.public_ip.as_deref(), Some("203.0.113.2"));
        // a snapshot from before stop/start (no power, addresses, stop_time) still loads
        let old = serde_json::json!({
            "instances": [{
                "id": "i-00000000000000001",
                "spec": spec("old", "k9"),
                "private_ip": "10.0.0.10",
                "public_ip": "203.0.113.1",
                "boot_remaining": { "secs": 0, "nanos": 0 }
            }],
            "launched": 1,
            "id_draws": 1,
            "boot_time": { "secs": 0, "nanos": 20_000_000 },
            "shutdown_time": { "secs": 0, "nanos": 10_000_000 }
        });
        let old: ComputeSnapshot = serde_json::from_value(old).unwrap();
        let restored = MemoryCompute::new();
        restored.install(restored.prepare_restore(old).unwrap());
        let r = restored
            .get_instance("i-00000000000000001")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.state, InstanceState::Running);
        assert_eq!(r.public_ip.as_deref(), Some("203.0.113.1"));
        let l = restored
            .launch_instance(&spec("new", "k10"))
            .await
            .unwrap()
            .value;
        let l = restored
            .wait_for_state(&l.id, InstanceState::Running, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(l.public_ip.as_deref(), Some("203.0.113.2"));
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
