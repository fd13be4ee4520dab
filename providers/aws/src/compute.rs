//! EC2 as [`Compute`], on provisio's Query-protocol client ([`crate::query`]).
//!
//! A launch is idempotent twice over. First, **adoption by tag**: before any `RunInstances`,
//! `DescribeInstances` filtered by the `Name` tag and every ownership tag of the spec
//! (`provisio:tenant`, `provisio:blueprint`, `provisio:resource`), excluding terminated and
//! shutting-down instances, finds an instance a previous attempt started, and that one is
//! returned as `Unchanged`. Second, the spec's idempotency key is sent as EC2's `ClientToken`,
//! so a retried `RunInstances` whose first answer was lost returns the first instance on real
//! EC2. The tags go on the instance in the `RunInstances` call itself (`TagSpecifications`),
//! so there is no moment when an instance exists without its ownership tags.
//!
//! Waits poll `DescribeInstances` every [`AwsConfig::poll_interval_ms`], bounded by the
//! caller's timeout.
//!
//! Stop and start read the instance first (`DescribeInstances`) and send `StopInstances` /
//! `StartInstances` only when its state asks for it: a stop of a stopping or stopped instance
//! (a start of a pending or running one) is answered from the read, one request in all; a
//! change is two. EC2 refuses to stop a pending instance and to start a stopping one
//! (`IncorrectInstanceState`); both are refused as `Conflict` before any change request.
//! The instance returned is the one read, with the state EC2's answer reports
//! (`currentState`); addresses are as read before the request (EC2 releases the public
//! address of an instance without an elastic IP when it stops, and assigns a new one when it
//! starts: read them again after [`Compute::wait_for_state`]).

use crate::config::AwsConfig;
use crate::error::{PROVIDER, located};
use crate::wire::{Client, Element, Params};
use provisio::compute::{ComputeCapabilities, Instance, InstanceSpec, InstanceState};
use provisio::layer::Safety;
use provisio::types::ownership;
use provisio::{
    Compute, Deleted, Ensured, Error, ErrorKind, Provider, ProviderInfo, Result, Tags, validate,
};
use std::time::Duration;

/// The largest user data EC2 accepts (before base64).
const MAX_USER_DATA: usize = 16 * 1024;

/// The states that count as "live" when adopting or finding instances.
const LIVE_STATES: &[&str] = &["pending", "running", "stopping", "stopped"];

/// EC2 instances.
#[derive(Debug, Clone)]
pub struct Ec2Compute {
    client: Client,
    info: ProviderInfo,
    poll: Duration,
}

fn state_of(name: Option<&str>) -> InstanceState {
    match name {
        Some("running") => InstanceState::Running,
        Some("stopping") => InstanceState::Stopping,
        Some("stopped") => InstanceState::Stopped,
        Some("shutting-down") => InstanceState::ShuttingDown,
        Some("terminated") => InstanceState::Terminated,
        // "pending", a missing state, or one EC2 adds later.
        _ => InstanceState::Pending,
    }
}

/// An instance of a `DescribeInstances` or `RunInstances` answer (an `item` of an
/// `instancesSet`), with its launch time as EC2 wrote it (ISO 8601 in UTC, so that text order
/// is time order).
fn to_instance(i: &Element) -> (Option<String>, Instance) {
    let tags: Tags = i
        .list(&["tagSet"], "item")
        .filter_map(|t| {
            Some((
                t.text_at(&["key"])?.to_string(),
                t.text_at(&["value"]).unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let text = |path: &[&str]| i.text_at(path).unwrap_or_default().to_string();
    let instance = Instance {
        id: text(&["instanceId"]),
        name: tags.get("Name").cloned().unwrap_or_default(),
        image: text(&["imageId"]),
        size: text(&["instanceType"]),
        state: state_of(i.text_at(&["instanceState", "name"])),
        public_ip: i.text_at(&["ipAddress"]).map(str::to_string),
        private_ip: i.text_at(&["privateIpAddress"]).map(str::to_string),
        tags,
    };
    (i.text_at(&["launchTime"]).map(str::to_string), instance)
}

/// The instances of a `DescribeInstances` answer.
fn described(root: &Element) -> impl Iterator<Item = &Element> {
    root.list(&["reservationSet"], "item")
        .flat_map(|r| r.list(&["instancesSet"], "item"))
}

fn check_id(id: &str) -> Result<()> {
    let ok = id.strip_prefix("i-").is_some_and(|h| {
        !h.is_empty() && h.len() <= 17 && h.chars().all(|c| c.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_field(
            "instance id",
            format!("{id:?} is not an EC2 instance id (i- and 8 or 17 hex digits)"),
        ))
    }
}

fn check_spec(spec: &InstanceSpec) -> Result<()> {
    let text = |field: &str, v: &str, max: usize| {
        if v.trim().is_empty() || v.len() > max || v.chars().any(char::is_control) {
            Err(Error::invalid_field(
                field,
                format!("must be 1 to {max} characters without control characters"),
            ))
        } else {
            Ok(())
        }
    };
    text("instance name", &spec.name, 255)?;
    validate::tag("instance name", "Name", &spec.name)?;
    text("instance image", &spec.image, 255)?;
    text("instance size", &spec.size, 64)?;
    if spec.idempotency_key.is_empty()
        || spec.idempotency_key.len() > 64
        || !spec.idempotency_key.is_ascii()
    {
        return Err(Error::invalid_field(
            "idempotency_key",
            "must be 1 to 64 ASCII characters (EC2 ClientToken)",
        ));
    }
    validate::tags("instance tags", &spec.tags)?;
    if spec.tags.contains_key("Name") && spec.tags["Name"] != spec.name {
        return Err(Error::invalid_field(
            "instance tags",
            "the Name tag is the instance name; set `name` instead",
        ));
    }
    if spec
        .user_data
        .as_ref()
        .is_some_and(|u| u.len() > MAX_USER_DATA)
    {
        return Err(Error::invalid_field("user_data", "must be at most 16 KiB"));
    }
    Ok(())
}

impl Ec2Compute {
    /// EC2 on provisio's own client (built by [`crate::Aws::compute`]).
    pub(crate) fn new(client: Client, config: &AwsConfig, account: &str) -> Self {
        Ec2Compute {
            client,
            info: config.provider_info(crate::config::Service::Ec2, account),
            poll: config.poll_interval(),
        }
    }

    /// Live instances carrying every one of `tags`, oldest first.
    async fn find(&self, tags: &Tags, op: &str, resource: &str) -> Result<Vec<Instance>> {
        let mut filters = Params::new();
        filters.set("Filter.1.Name", "instance-state-name");
        for (n, state) in LIVE_STATES.iter().enumerate() {
            filters.set(format!("Filter.1.Value.{}", n + 1), *state);
        }
        for (n, (k, v)) in tags.iter().enumerate() {
            filters
                .set(format!("Filter.{}.Name", n + 2), format!("tag:{k}"))
                .set(format!("Filter.{}.Value.1", n + 2), v);
        }
        let mut found: Vec<(Option<String>, Instance)> = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params = filters.clone();
            if let Some(t) = token.take() {
                params.set("NextToken", t);
            }
            let root = self
                .client
                .query(
                    "DescribeInstances",
                    &params,
                    Safety::Idempotent,
                    op,
                    resource,
                )
                .await?;
            for i in described(&root) {
                let (launched, inst) = to_instance(i);
                // Filters are applied by EC2; checked again so an emulator that ignores
                // one cannot make us adopt a stranger's instance.
                if !inst.state.is_terminal() && provisio::types::tags_match(&inst.tags, tags) {
                    found.push((launched, inst));
                }
            }
            match root.text_at(&["nextToken"]) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        Ok(found.into_iter().map(|(_, i)| i).collect())
    }

    async fn describe(&self, id: &str, op: &str) -> Result<Option<Instance>> {
        let params = Params::new().with("InstanceId.1", id);
        match self
            .client
            .query("DescribeInstances", &params, Safety::Idempotent, op, id)
            .await
        {
            Ok(root) => Ok(described(&root)
                .map(to_instance)
                .map(|(_, i)| i)
                .find(|i| i.id == id)),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(None),
            Err(err) => Err(err),
        }
    }
}

impl Provider for Ec2Compute {
    fn info(&self) -> ProviderInfo {
        self.info.clone()
    }

    fn check_name(
        &self,
        kind: provisio::validate::NameKind,
        field: &str,
        value: &str,
    ) -> Result<()> {
        crate::names::check(kind, field, value)
    }
}

/// The tags adoption looks for: the `Name` tag and the spec's ownership tags.
fn adoption_tags(spec: &InstanceSpec) -> Tags {
    let mut tags: Tags = spec
        .tags
        .iter()
        .filter(|(k, _)| {
            [ownership::TENANT, ownership::BLUEPRINT, ownership::RESOURCE].contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags.insert("Name".to_string(), spec.name.clone());
    tags
}

#[provisio::async_trait]
impl Compute for Ec2Compute {
    fn capabilities(&self) -> ComputeCapabilities {
        ComputeCapabilities {
            native_idempotency: true,
            tags: true,
            user_data: true,
            stop_start: true,
        }
    }

    async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>> {
        let op = "compute.launch_instance";
        check_spec(spec).map_err(|e| located(e, op, &spec.name))?;
        // Adoption before any create: a previous attempt (whose answer was lost, or which
        // crashed) may have started the instance already.
        let owned = self.find(&adoption_tags(spec), op, &spec.name).await?;
        if let Some(first) = owned.into_iter().next() {
            tracing::debug!(instance = %first.id, name = %spec.name, "adopting the instance found by its tags");
            return Ok(Ensured::unchanged(first));
        }
        let mut all = spec.tags.clone();
        all.insert("Name".to_string(), spec.name.clone());
        let mut params = Params::new()
            .with("ImageId", &spec.image)
            .with("InstanceType", &spec.size)
            .with("MinCount", "1")
            .with("MaxCount", "1")
            .with("ClientToken", &spec.idempotency_key);
        for (n, resource_type) in ["instance", "volume"].into_iter().enumerate() {
            let prefix = format!("TagSpecification.{}", n + 1);
            params.set(format!("{prefix}.ResourceType"), resource_type);
            for (m, (k, v)) in all.iter().enumerate() {
                params
                    .set(format!("{prefix}.Tag.{}.Key", m + 1), k)
                    .set(format!("{prefix}.Tag.{}.Value", m + 1), v);
            }
        }
        if let Some(ud) = &spec.user_data {
            params.set("UserData", {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(ud.as_bytes())
            });
        }
        // The ClientToken makes a repeated RunInstances return the first instance.
        let root = self
            .client
            .query("RunInstances", &params, Safety::Idempotent, op, &spec.name)
            .await?;
        let inst = root
            .list(&["instancesSet"], "item")
            .next()
            .map(|i| to_instance(i).1)
            .ok_or_else(|| {
                Error::unexpected("RunInstances answered without an instance")
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(&spec.name)
            })?;
        Ok(Ensured::created(inst))
    }

    async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
        let op = "compute.get_instance";
        check_id(id).map_err(|e| located(e, op, id))?;
        self.describe(id, op).await
    }

    async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>> {
        let op = "compute.find_instances";
        validate::tags("instance tags", tags).map_err(|e| located(e, op, "tags"))?;
        let resource = tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        self.find(tags, op, &resource).await
    }

    async fn wait_for_state(
        &self,
        id: &str,
        state: InstanceState,
        timeout: Duration,
    ) -> Result<Instance> {
        let op = "compute.wait_for_state";
        check_id(id).map_err(|e| located(e, op, id))?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let Some(inst) = self.describe(id, op).await? else {
                return Err(Error::not_found(format!("instance {id} does not exist"))
                    .with_provider(PROVIDER)
                    .with_operation(op)
                    .with_resource(id));
            };
            if inst.state == state {
                return Ok(inst);
            }
            if inst.state.is_terminal() {
                return Err(Error::conflict(format!(
                    "instance {id} is {:?} and will never be {state:?}",
                    inst.state
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(id));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::timeout(format!(
                    "instance {id} is still {:?} after {} s (waiting for {state:?})",
                    inst.state,
                    timeout.as_secs_f64()
                ))
                .with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(id));
            }
            tokio::time::sleep(self.poll.min(deadline - now)).await;
        }
    }

    async fn terminate_instance(&self, id: &str) -> Result<Deleted> {
        let op = "compute.terminate_instance";
        check_id(id).map_err(|e| located(e, op, id))?;
        match self.describe(id, op).await? {
            None => return Ok(Deleted::AlreadyGone),
            Some(i) if i.state.is_terminal() => return Ok(Deleted::AlreadyGone),
            Some(_) => {}
        }
        let params = Params::new().with("InstanceId.1", id);
        match self
            .client
            .query("TerminateInstances", &params, Safety::Idempotent, op, id)
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(err) if err.kind() == &ErrorKind::NotFound => Ok(Deleted::AlreadyGone),
            Err(err) => Err(err),
        }
    }

    async fn stop_instance(&self, id: &str) -> Result<Instance> {
        self.change_power(id, Power::Stop).await
    }

    async fn start_instance(&self, id: &str) -> Result<Instance> {
        self.change_power(id, Power::Start).await
    }
}

/// A power change: `StopInstances` or `StartInstances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Stop,
    Start,
}

impl Power {
    fn operation(self) -> &'static str {
        match self {
            Power::Stop => "compute.stop_instance",
            Power::Start => "compute.start_instance",
        }
    }
    fn action(self) -> &'static str {
        match self {
            Power::Stop => "StopInstances",
            Power::Start => "StartInstances",
        }
    }
    /// The states in which the request would change nothing.
    fn done_in(self, state: InstanceState) -> bool {
        match self {
            Power::Stop => matches!(state, InstanceState::Stopping | InstanceState::Stopped),
            Power::Start => matches!(state, InstanceState::Pending | InstanceState::Running),
        }
    }
}

impl Ec2Compute {
    /// Stops or starts `id` unless its state says it is done already.
    async fn change_power(&self, id: &str, power: Power) -> Result<Instance> {
        let op = power.operation();
        check_id(id).map_err(|e| located(e, op, id))?;
        let located = |e: Error| {
            e.with_provider(PROVIDER)
                .with_operation(op)
                .with_resource(id)
        };
        let Some(mut inst) = self.describe(id, op).await? else {
            return Err(located(Error::not_found(format!(
                "instance {id} does not exist"
            ))));
        };
        let verb = match power {
            Power::Stop => "stopped",
            Power::Start => "started",
        };
        if inst.state.is_terminal() {
            return Err(located(Error::conflict(format!(
                "instance {id} is {:?} and cannot be {verb}",
                inst.state
            ))));
        }
        if power.done_in(inst.state) {
            return Ok(inst);
        }
        let wait_for = match (power, inst.state) {
            (Power::Stop, InstanceState::Pending) => Some(InstanceState::Running),
            (Power::Start, InstanceState::Stopping) => Some(InstanceState::Stopped),
            _ => None,
        };
        if let Some(w) = wait_for {
            return Err(located(Error::conflict(format!(
                "instance {id} is {:?} and cannot be {verb} until it is {w:?} \
                 (EC2 IncorrectInstanceState); wait for {w:?} first",
                inst.state
            ))));
        }
        let params = Params::new().with("InstanceId.1", id);
        // Repeating either request changes nothing more: EC2 answers a stop of a stopped
        // instance (a start of a running one) with its current state.
        let root = self
            .client
            .query(power.action(), &params, Safety::Idempotent, op, id)
            .await?;
        let current = root
            .list(&["instancesSet"], "item")
            .find(|i| i.text_at(&["instanceId"]) == Some(id))
            .and_then(|i| i.text_at(&["currentState", "name"]));
        inst.state = match current {
            Some(name) => state_of(Some(name)),
            None => match power {
                Power::Stop => InstanceState::Stopping,
                Power::Start => InstanceState::Pending,
            },
        };
        Ok(inst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("i-0123456789abcdef0").is_ok());
        assert!(check_id("i-12345678").is_ok());
        assert!(check_id("vol-1234").is_err());
        assert!(check_id("i-").is_err());
    }

    #[test]
    fn adoption_uses_name_and_ownership_tags_only() {
        let mut tags = ownership::tags("acme", "launch", "web");
        tags.insert("team".into(), "platform".into());
        let spec = InstanceSpec {
            name: "acme-web".into(),
            image: "ami-1".into(),
            size: "t3.micro".into(),
            tags,
            user_data: None,
            idempotency_key: "k".into(),
        };
        let t = adoption_tags(&spec);
        assert_eq!(t.len(), 4);
        assert_eq!(t["Name"], "acme-web");
        assert!(!t.contains_key("team"));
    }
}
