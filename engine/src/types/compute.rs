//! `compute.instance`: a virtual machine started from a prepared image.

use super::params::{Int, Phase, TypedParams};
use super::{check_owner, in_resource};
use crate::providers::Capability;
use crate::resource::{Applied, ResourceType, StepContext};
use provisio::compute::{Instance, InstanceSpec, InstanceState};
use provisio::{Compute, Deleted, Ensured, Error, Result, Tags, validate};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// `compute.instance`: a virtual machine, found again by its ownership tags.
///
/// Parameters:
/// - `name` (required): the instance name (also its `Name` tag), e.g. `${tenant.name}-web`.
/// - `image` (required): the image (AMI id, Azure image reference).
/// - `size` (required): the instance type / VM size.
/// - `user_data` (optional): cloud-init or a script. Never put secret values here; pass
///   secret references (`${db_password.ref}`) and read them on the machine.
/// - `tags` (optional): extra tags; keys starting with `provisio:` are reserved.
/// - `power` (default `running`): `running` or `stopped`. Changing it is an update in place:
///   `apply` stops or starts the instance (the provider's
///   [`stop_instance`](provisio::Compute::stop_instance) /
///   [`start_instance`](provisio::Compute::start_instance)) and waits until it is there. A
///   launch with `power: stopped` launches, waits until the instance runs (EC2 cannot stop a
///   pending instance), then stops it. A tenant's `suspended` phase sets `power: stopped`;
///   `resume` brings the default back. Providers without stop/start
///   ([`ComputeCapabilities::stop_start`](provisio::compute::ComputeCapabilities)) refuse
///   `stopped` with `Unsupported` (Azure for now).
/// - `wait_for` (default: the `power` state): the state to wait for (`pending` or `running`
///   with `power: running`, `stopped` with `power: stopped`), or `none` to return as soon as
///   the change is asked for.
/// - `wait_timeout_secs` (default 600): how long the step may wait in all (for the launch,
///   and for a stop or start).
///
/// Outputs: `id`, `name`, `state`, `power`, `public_ip`, `private_ip` (addresses are `null`
/// until assigned; EC2 and the memory provider give an instance a new public address each
/// time it starts, and none while it is stopped). `power` is `running` for a pending or
/// running instance and `stopped` for a stopping or stopped one; unlike `state` it is not
/// volatile, so an instance stopped or started outside provisio shows as drift
/// (`power: running -> stopped`) in a refresh or a plan with refresh, and an apply with
/// refresh puts it back. While an instance is stopped its `public_ip` is `null`: a resource
/// fed by `${web.public_ip}` (a DNS record) needs its own value for that phase (the
/// maintenance host). Changing `image`, `size` or `user_data` replaces the instance.
///
/// Requests: an apply of an unchanged instance reads it once (`get_instance`) and sends no
/// stop or start; a power change adds one `stop_instance` or `start_instance` and the
/// `wait_for_state` polls.
///
/// Launches are made idempotent twice over: the provider gets the step's idempotency token
/// (EC2's ClientToken), and before launching, `apply` looks for a live instance with this
/// resource's ownership tags and adopts it. Delete terminates the instance recorded in the
/// outputs, or, when a resumed run has no outputs, every live instance found by the tags.
///
/// ```yaml
/// web:
///   type: compute.instance
///   provider: aws
///   params:
///     name: ${tenant.name}-web
///     image: ami-0abc1234
///     size: t3.small
///     tags: { team: platform }
///     wait_for: running
/// # the same instance in a tenant's suspended phase (docs/design/lifecycle.md):
/// #   phases: { suspended: { params: { power: stopped } } }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ComputeInstance;

/// The parameters of `compute.instance` (see [`ComputeInstance`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceParams {
    name: String,
    image: String,
    size: String,
    user_data: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    power: Option<String>,
    wait_for: Option<String>,
    wait_timeout_secs: Option<Int>,
}

/// The power state a blueprint asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Power {
    Running,
    Stopped,
}

impl Power {
    /// The power an instance in `state` has (or is on its way to).
    fn of(state: InstanceState) -> Power {
        match state {
            InstanceState::Stopping | InstanceState::Stopped => Power::Stopped,
            _ => Power::Running,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Power::Running => "running",
            Power::Stopped => "stopped",
        }
    }
}

/// A state's name as blueprints write it (`running`).
fn state_name(state: InstanceState) -> String {
    serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

struct Spec {
    name: String,
    image: String,
    size: String,
    user_data: Option<String>,
    tags: Tags,
    /// `None` at load time when `power` is a reference.
    power: Option<Power>,
    wait_for: Option<InstanceState>,
    wait_timeout: Duration,
}

fn instance_name(field: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() {
        return Err(Error::invalid_field(field, "must not be empty"));
    }
    // The name is also the Name tag: the tag rules apply.
    validate::tag(field, "Name", value)?;
    Ok(value.to_string())
}

fn non_empty(field: &str, value: &str) -> Result<String> {
    if value.trim().is_empty() || value.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            field,
            "must be non-empty, without control characters",
        ));
    }
    Ok(value.to_string())
}

impl TypedParams for InstanceParams {
    const TYPE: &'static str = "compute.instance";
    const REPLACE: &'static [&'static str] = &["image", "size", "user_data"];
    type Spec = Spec;

    fn check(self, phase: Phase) -> Result<Spec> {
        let name = phase.name("name", &self.name, instance_name)?;
        let image = phase.name("image", &self.image, non_empty)?;
        let size = phase.name("size", &self.size, non_empty)?;
        let tags: Tags = self.tags;
        if let Some(k) = tags.keys().find(|k| k.starts_with("provisio:")) {
            return Err(Error::invalid_field(
                "tags",
                format!("{k:?}: the provisio: prefix is reserved for ownership tags"),
            ));
        }
        if !tags
            .iter()
            .any(|(k, v)| phase.unresolved(k) || phase.unresolved(v))
        {
            validate::tags("tags", &tags)?;
        }
        let power = match self.power.as_deref() {
            None | Some("running") => Some(Power::Running),
            Some("stopped") => Some(Power::Stopped),
            Some(s) if phase.unresolved(s) => None,
            Some(s) => {
                return Err(Error::invalid_field(
                    "power",
                    format!("{s:?} is not one of running, stopped"),
                ));
            }
        };
        // `None`: absent (the power state); `Some(None)`: `none`.
        let asked: Option<Option<InstanceState>> = match self.wait_for.as_deref() {
            None => None,
            Some(s) if phase.unresolved(s) => Some(None),
            Some("none") => Some(None),
            Some(s) => {
                match serde_json::from_value::<InstanceState>(Value::String(s.to_string())) {
                    Ok(state) if !state.is_terminal() && state != InstanceState::Stopping => {
                        Some(Some(state))
                    }
                    _ => {
                        return Err(Error::invalid_field(
                            "wait_for",
                            format!("{s:?} is not one of pending, running, stopped, none"),
                        ));
                    }
                }
            }
        };
        let wait_for = match (asked, power) {
            (Some(Some(state)), Some(p)) if Power::of(state) != p => {
                return Err(Error::invalid_field(
                    "wait_for",
                    format!(
                        "{w} contradicts power {p} (an instance that is to be {p} never \
                         becomes {w}); set power: {q} or another wait_for",
                        w = state_name(state),
                        p = p.name(),
                        q = Power::of(state).name()
                    ),
                ));
            }
            (Some(w), _) => w,
            (None, Some(Power::Stopped)) => Some(InstanceState::Stopped),
            (None, _) => Some(InstanceState::Running),
        };
        let wait_timeout = Duration::from_secs(
            phase
                .int(
                    "wait_timeout_secs",
                    self.wait_timeout_secs.as_ref(),
                    1,
                    86_400,
                )?
                .unwrap_or(600),
        );
        Ok(Spec {
            name,
            image,
            size,
            user_data: self.user_data,
            tags,
            power,
            wait_for,
            wait_timeout,
        })
    }
}

/// An idempotency key the providers accept (at most 64 ASCII characters): the step's token
/// itself, or its SHA-256 when it is longer.
fn idempotency_key(token: &str) -> String {
    if token.len() <= 64 && token.is_ascii() {
        token.to_string()
    } else {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(token.as_bytes()))
    }
}

fn outputs(i: &Instance) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "state": i.state,
        "power": Power::of(i.state).name(),
        "public_ip": i.public_ip,
        "private_ip": i.private_ip,
    })
}

/// What is left of the step's wait budget, for one more wait.
fn left(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}

/// Brings `instance` to `power` and waits for `wait_for`, all within `spec.wait_timeout`;
/// returns the instance as last read and whether a stop or start was sent.
async fn converge(
    compute: &dyn Compute,
    spec: &Spec,
    power: Power,
    mut instance: Instance,
) -> Result<(Instance, bool)> {
    let deadline = tokio::time::Instant::now() + spec.wait_timeout;
    let id = instance.id.clone();
    let mut changed = false;
    if Power::of(instance.state) != power {
        if !compute.capabilities().stop_start {
            return Err(Error::new(
                provisio::ErrorKind::Unsupported,
                format!(
                    "power: {} needs stop/start, which the {} compute provider does not support \
                     (instance {id} is {:?})",
                    power.name(),
                    compute.info().name,
                    instance.state
                ),
            ));
        }
        // EC2 refuses to stop a pending instance and to start a stopping one: let the
        // transition under way finish first.
        let settled = match instance.state {
            InstanceState::Pending => Some(InstanceState::Running),
            InstanceState::Stopping => Some(InstanceState::Stopped),
            _ => None,
        };
        if let Some(state) = settled {
            compute.wait_for_state(&id, state, left(deadline)).await?;
        }
        instance = match power {
            Power::Stopped => compute.stop_instance(&id).await?,
            Power::Running => compute.start_instance(&id).await?,
        };
        changed = true;
    }
    if let Some(state) = spec.wait_for
        && instance.state != state
    {
        instance = compute.wait_for_state(&id, state, left(deadline)).await?;
    }
    Ok((instance, changed))
}

fn prior_id(prior: Option<&Value>) -> Option<&str> {
    prior.and_then(|p| p.get("id")).and_then(Value::as_str)
}

/// The live instances this resource owns: by the ownership tags (which name the tenant,
/// blueprint and resource) and the instance name.
async fn find_owned(
    compute: &dyn Compute,
    ctx: &StepContext<'_>,
    name: &str,
) -> Result<Vec<Instance>> {
    if !compute.capabilities().tags || ctx.ownership.is_empty() {
        return Ok(Vec::new());
    }
    let mut found: Vec<Instance> = compute
        .find_instances(&ctx.ownership)
        .await?
        .into_iter()
        .filter(|i| i.name == name && !i.state.is_terminal())
        .collect();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(found)
}

/// The instance this resource manages now: the one recorded in state if it is still alive,
/// else the one found by tags.
async fn current(
    compute: &dyn Compute,
    ctx: &StepContext<'_>,
    spec: &Spec,
    prior: Option<&Value>,
) -> Result<Option<Instance>> {
    if let Some(id) = prior_id(prior)
        && let Some(i) = compute.get_instance(id).await?
        && !i.state.is_terminal()
    {
        return Ok(Some(i));
    }
    let mut found = find_owned(compute, ctx, &spec.name).await?;
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(Error::conflict(format!(
            "{} live instances carry the ownership tags of {:?} ({}); terminate the extra ones",
            found.len(),
            spec.name,
            found
                .iter()
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with_resource(ctx.resource)),
    }
}

#[provisio::async_trait]
impl ResourceType for ComputeInstance {
    fn name(&self) -> &str {
        "compute.instance"
    }

    fn capability(&self) -> Capability {
        Capability::Compute
    }

    fn reports_existence(&self) -> bool {
        // `apply`'s outcome is `Created` exactly when the resource was not there
        true
    }

    fn validate(&self, params: &Value) -> Result<()> {
        InstanceParams::parse(params, Phase::Load).map(|_| ())
    }

    fn replace_fields(&self) -> &[&str] {
        InstanceParams::REPLACE
    }

    fn outputs(&self) -> &[&str] {
        &["id", "name", "state", "power", "public_ip", "private_ip"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // an instance passes through pending and stopping and moves addresses in its normal
        // life; `power` (running or stopped) is what the blueprint asks for, so a change of
        // it is drift, as is a terminated instance, which reads as missing
        &["state", "public_ip", "private_ip"]
    }

    fn identity(&self, _ctx: &StepContext<'_>, params: &Value) -> Result<String> {
        Ok(format!(
            "instance {}",
            InstanceParams::parse(params, Phase::Resolved)?.name
        ))
    }

    async fn read(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Option<Value>> {
        let spec = InstanceParams::parse(params, Phase::Resolved)?;
        let compute = ctx.providers.compute(ctx.provider)?;
        let found = current(compute.as_ref(), ctx, &spec, prior)
            .await
            .map_err(in_resource(ctx))?;
        Ok(found.as_ref().map(|i| {
            let mut out = outputs(i);
            // Outputs recorded before `power` existed lack it: reading it would show every
            // such instance as drifted. It is recorded by the next apply.
            if let (Some(p), Some(o)) = (prior, out.as_object_mut())
                && p.get("power").is_none()
            {
                o.remove("power");
            }
            out
        }))
    }

    async fn apply(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        prior: Option<&Value>,
    ) -> Result<Applied> {
        let spec = InstanceParams::parse(params, Phase::Resolved)?;
        let compute = ctx.providers.compute(ctx.provider)?;
        // Not in state yet: the launch itself finds an instance carrying our ownership tags
        // (or idempotency key) and adopts it, so nothing is looked up first.
        let found = match prior {
            None => None,
            Some(_) => current(compute.as_ref(), ctx, &spec, prior)
                .await
                .map_err(in_resource(ctx))?,
        };
        if prior.is_some() {
            provisio::existence::found(found.is_some());
        }
        let ensured = match found {
            Some(existing) => {
                check_owner(ctx, &existing.tags, &format!("instance {:?}", existing.id))?;
                if existing.image != spec.image || existing.size != spec.size {
                    // image and size are replace fields: the plan deletes the old instance
                    // before applying; finding it alive here means the plan was bypassed.
                    return Err(Error::conflict(format!(
                        "instance {} runs image {} / size {}, but {} / {} is wanted; plan a replace",
                        existing.id, existing.image, existing.size, spec.image, spec.size
                    ))
                    .with_resource(ctx.resource));
                }
                Ensured::unchanged(existing)
            }
            None => {
                let mut tags = spec.tags.clone();
                tags.insert("Name".to_string(), spec.name.clone());
                tags.extend(ctx.ownership.clone());
                let launch = InstanceSpec {
                    name: spec.name.clone(),
                    image: spec.image.clone(),
                    size: spec.size.clone(),
                    tags,
                    user_data: spec.user_data.clone(),
                    idempotency_key: idempotency_key(ctx.idempotency_token),
                };
                compute
                    .launch_instance(&launch)
                    .await
                    .map_err(in_resource(ctx))?
            }
        };
        if ensured.outcome != provisio::Outcome::Created
            && (ensured.value.image != spec.image || ensured.value.size != spec.size)
        {
            // adopted by the launch (it carries our ownership tags), but not what is wanted
            return Err(Error::conflict(format!(
                "instance {} runs image {} / size {}, but {} / {} is wanted; plan a replace",
                ensured.value.id, ensured.value.image, ensured.value.size, spec.image, spec.size
            ))
            .with_resource(ctx.resource));
        }
        let power = spec.power.unwrap_or(Power::Running);
        let (instance, changed) = converge(compute.as_ref(), &spec, power, ensured.value)
            .await
            .map_err(in_resource(ctx))?;
        let outcome = match ensured.outcome {
            provisio::Outcome::Unchanged if changed => provisio::Outcome::Updated,
            o => o,
        };
        Ok(Applied {
            outputs: outputs(&instance),
            outcome,
        })
    }

    async fn delete(
        &self,
        ctx: &StepContext<'_>,
        params: &Value,
        outputs: &Value,
    ) -> Result<Deleted> {
        let spec = InstanceParams::parse(params, Phase::Resolved)?;
        let compute = ctx.providers.compute(ctx.provider)?;
        let ids: Vec<String> = match outputs.get("id").and_then(Value::as_str) {
            Some(id) => vec![id.to_string()],
            // A resumed run deleting an in-doubt instance: whatever carries our tags.
            None => find_owned(compute.as_ref(), ctx, &spec.name)
                .await
                .map_err(in_resource(ctx))?
                .into_iter()
                .map(|i| i.id)
                .collect(),
        };
        let mut result = Deleted::AlreadyGone;
        for id in ids {
            if compute
                .terminate_instance(&id)
                .await
                .map_err(in_resource(ctx))?
                == Deleted::Deleted
            {
                result = Deleted::Deleted;
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::testing::{Harness, lifecycle, rejects};
    use provisio::Outcome;

    fn params() -> Value {
        json!({"name": "acme-web", "image": "ami-web-3", "size": "t3.small",
            "user_data": "#!/bin/sh\necho hi", "tags": {"team": "platform"}})
    }

    #[test]
    fn validates_params() {
        let t = ComputeInstance;
        t.validate(&params()).unwrap();
        t.validate(
            &json!({"name": "${tenant.name}-web", "image": "${tenant.image}", "size": "t3.small",
            "wait_timeout_secs": "${tenant.t}"}),
        )
        .unwrap();
        rejects(t.validate(&json!({"image": "a", "size": "b"})), "name");
        rejects(
            t.validate(&json!({"name": "w", "image": "", "size": "b"})),
            "image",
        );
        rejects(
            t.validate(&json!({"name": "w", "image": "a", "size": 3})),
            "size",
        );
        rejects(
            t.validate(&json!({"name": "w", "image": "a", "size": "b", "wait_for": "terminated"})),
            "wait_for",
        );
        rejects(
            t.validate(
                &json!({"name": "w", "image": "a", "size": "b", "tags": {"provisio:tenant": "x"}}),
            ),
            "tags",
        );
        rejects(
            t.validate(&json!({"name": "w", "image": "a", "size": "b", "wait_timeout_secs": 0})),
            "wait_timeout_secs",
        );
        assert_eq!(idempotency_key("short"), "short");
        assert_eq!(idempotency_key(&"x".repeat(100)).len(), 64);
    }

    #[tokio::test]
    async fn lifecycle_against_memory() {
        let h = Harness::new();
        let ctx = h.ctx("web", "launch-acme-web-1");
        let out = lifecycle(&ComputeInstance, &ctx, &params()).await;
        assert_eq!(out["name"], "acme-web");
        assert_eq!(out["state"], "running");
        assert!(out["id"].is_string());
        assert!(
            h.cloud
                .compute
                .find_instances(&ctx.ownership)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn interrupted_apply_adopts_instead_of_duplicating() {
        let h = Harness::new();
        let ctx = h.ctx("web", "launch-acme-web-1");
        let first = ComputeInstance.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(first.outcome, Outcome::Created);
        // The run crashed before recording outputs: apply again with no prior outputs, and
        // with a different idempotency token, so only the ownership tags can find it.
        let resumed_ctx = h.ctx("web", "another-token");
        let again = ComputeInstance
            .apply(&resumed_ctx, &params(), None)
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(again.outputs["id"], first.outputs["id"]);
        assert_eq!(
            h.cloud
                .compute
                .find_instances(&ctx.ownership)
                .await
                .unwrap()
                .len(),
            1
        );
        // A resumed destroy without outputs finds it by tags.
        assert_eq!(
            ComputeInstance
                .delete(&ctx, &params(), &Value::Null)
                .await
                .unwrap(),
            Deleted::Deleted
        );
        assert!(
            h.cloud
                .compute
                .find_instances(&ctx.ownership)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ComputeInstance
                .delete(&ctx, &params(), &Value::Null)
                .await
                .unwrap(),
            Deleted::AlreadyGone
        );
    }

    #[tokio::test]
    async fn lost_launch_response_is_adopted_on_retry() {
        let h = Harness::new();
        // The launch takes effect but its response is lost (connection dropped).
        h.cloud.faults.error_after_effect(
            "compute.launch_instance",
            1,
            provisio::ErrorKind::Transient,
        );
        let ctx = h.ctx("web", "launch-acme-web-1");
        let e = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap_err();
        assert!(e.retryable(), "{e}");
        // The engine retries with no outputs recorded.
        let retried = ComputeInstance.apply(&ctx, &params(), None).await.unwrap();
        assert_eq!(retried.outcome, Outcome::Unchanged);
        let live = h
            .cloud
            .compute
            .find_instances(&ctx.ownership)
            .await
            .unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(retried.outputs["id"], live[0].id.as_str());
        assert_eq!(h.cloud.faults.mutations("compute.launch_instance"), 1);
    }

    #[tokio::test]
    async fn instance_is_tagged_and_changed_image_is_a_conflict() {
        let h = Harness::new();
        let ctx = h.ctx("web", "tok");
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        let id = out["id"].as_str().unwrap();
        let i = h.cloud.compute.get_instance(id).await.unwrap().unwrap();
        assert_eq!(i.tags["provisio:tenant"], "acme");
        assert_eq!(i.tags["team"], "platform");
        let mut changed = params();
        changed["image"] = json!("ami-web-4");
        let e = ComputeInstance
            .apply(&ctx, &changed, Some(&out))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Conflict);
    }

    #[test]
    fn validates_power() {
        let t = ComputeInstance;
        let base = |extra: Value| {
            let mut p = json!({"name": "w", "image": "a", "size": "b"});
            p.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            p
        };
        t.validate(&base(json!({"power": "stopped"}))).unwrap();
        t.validate(&base(json!({"power": "running", "wait_for": "pending"})))
            .unwrap();
        t.validate(&base(json!({"power": "stopped", "wait_for": "none"})))
            .unwrap();
        t.validate(&base(
            json!({"power": "${tenant.power}", "wait_for": "stopped"}),
        ))
        .unwrap();
        rejects(t.validate(&base(json!({"power": "paused"}))), "power");
        rejects(
            t.validate(&base(json!({"power": "stopped", "wait_for": "running"}))),
            "wait_for",
        );
        // the default power is running
        rejects(
            t.validate(&base(json!({"wait_for": "stopped"}))),
            "wait_for",
        );
        rejects(
            t.validate(&base(json!({"wait_for": "stopping"}))),
            "wait_for",
        );
        assert!(!t.replace_fields().contains(&"power"), "power is in place");
    }

    fn with_power(power: &str) -> Value {
        let mut p = params();
        p["power"] = json!(power);
        p
    }

    fn counts(h: &Harness) -> (u64, u64, u64) {
        let f = &h.cloud.faults;
        (
            f.calls("compute.stop_instance"),
            f.calls("compute.start_instance"),
            f.calls("compute.get_instance"),
        )
    }

    #[tokio::test]
    async fn a_launch_with_power_stopped_launches_then_stops() {
        let h = Harness::new();
        let ctx = h.ctx("web", "tok");
        let applied = ComputeInstance
            .apply(&ctx, &with_power("stopped"), None)
            .await
            .unwrap();
        assert_eq!(applied.outcome, Outcome::Created);
        let out = applied.outputs;
        assert_eq!(out["state"], "stopped");
        assert_eq!(out["power"], "stopped");
        assert_eq!(out["public_ip"], Value::Null);
        let id = out["id"].as_str().unwrap();
        let i = h.cloud.compute.get_instance(id).await.unwrap().unwrap();
        assert_eq!(i.state, InstanceState::Stopped);
        assert_eq!(h.cloud.faults.mutations("compute.stop_instance"), 1);
        assert_eq!(h.cloud.faults.calls("compute.start_instance"), 0);
        // applying it again changes nothing and sends no stop
        let before = counts(&h);
        let again = ComputeInstance
            .apply(&ctx, &with_power("stopped"), Some(&out))
            .await
            .unwrap();
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert_eq!(counts(&h), (before.0, before.1, before.2 + 1));
        // destroy terminates a stopped instance
        assert_eq!(
            ComputeInstance
                .delete(&ctx, &with_power("stopped"), &out)
                .await
                .unwrap(),
            Deleted::Deleted
        );
    }

    #[tokio::test]
    async fn power_changes_in_place_and_an_unchanged_apply_sends_no_stop_or_start() {
        let h = Harness::new();
        let ctx = h.ctx("web", "tok");
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        assert_eq!(out["power"], "running");
        let first_ip = out["public_ip"].clone();
        assert!(first_ip.is_string());

        // power unchanged: one read, no stop, no start
        let before = counts(&h);
        let same = ComputeInstance
            .apply(&ctx, &with_power("running"), Some(&out))
            .await
            .unwrap();
        assert_eq!(same.outcome, Outcome::Unchanged);
        assert_eq!(counts(&h), (before.0, before.1, before.2 + 1));

        // suspend: stop in place, same instance
        let stopped = ComputeInstance
            .apply(&ctx, &with_power("stopped"), Some(&out))
            .await
            .unwrap();
        assert_eq!(stopped.outcome, Outcome::Updated);
        assert_eq!(stopped.outputs["id"], out["id"]);
        assert_eq!(stopped.outputs["state"], "stopped");
        assert_eq!(stopped.outputs["public_ip"], Value::Null);
        assert_eq!(counts(&h).0, before.0 + 1);

        // resume: start in place; a new public address, as on EC2
        let running = ComputeInstance
            .apply(&ctx, &params(), Some(&stopped.outputs))
            .await
            .unwrap();
        assert_eq!(running.outcome, Outcome::Updated);
        assert_eq!(running.outputs["id"], out["id"]);
        assert_eq!(running.outputs["state"], "running");
        assert_eq!(running.outputs["power"], "running");
        assert!(running.outputs["public_ip"].is_string());
        assert_ne!(running.outputs["public_ip"], first_ip);
        assert_eq!(counts(&h).1, before.1 + 1);
        assert_eq!(
            h.cloud
                .compute
                .find_instances(&ctx.ownership)
                .await
                .unwrap()
                .len(),
            1,
            "stop and start never launch another instance"
        );
    }

    #[tokio::test]
    async fn read_reports_power_drift() {
        let h = Harness::new();
        let ctx = h.ctx("web", "tok");
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        let read = ComputeInstance
            .read(&ctx, &params(), Some(&out))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            crate::plan::drift_of(&ComputeInstance, &out, &read),
            crate::plan::Drift::InSync
        );
        // someone stops it by hand
        let id = out["id"].as_str().unwrap();
        h.cloud.compute.stop_instance(id).await.unwrap();
        let read = ComputeInstance
            .read(&ctx, &params(), Some(&out))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(read["power"], "stopped");
        match crate::plan::drift_of(&ComputeInstance, &out, &read) {
            crate::plan::Drift::Changed { diff } => {
                let fields: Vec<&str> = diff.iter().map(|d| d.field.as_str()).collect();
                assert_eq!(fields, vec!["power"], "{diff:?}");
            }
            other => panic!("expected power drift, got {other:?}"),
        }
        // outputs recorded before `power` existed: no drift from its absence
        let mut legacy = out.clone();
        legacy.as_object_mut().unwrap().remove("power");
        let read = ComputeInstance
            .read(&ctx, &params(), Some(&legacy))
            .await
            .unwrap()
            .unwrap();
        assert!(read.get("power").is_none());
        // the next apply puts it back (it waits for the stop to finish, then starts it)
        let fixed = ComputeInstance
            .apply(&ctx, &params(), Some(&out))
            .await
            .unwrap();
        assert_eq!(fixed.outcome, Outcome::Updated);
        assert_eq!(fixed.outputs["state"], "running");
    }

    #[tokio::test]
    async fn a_stop_that_does_not_finish_in_time_is_a_timeout() {
        let h = Harness::new();
        h.cloud.compute.set_stop_time(Duration::from_secs(30));
        let ctx = h.ctx("web", "tok");
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        let mut p = with_power("stopped");
        p["wait_timeout_secs"] = json!(1);
        let e = ComputeInstance
            .apply(&ctx, &p, Some(&out))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Timeout, "{e}");
        // the retry finds it stopping: no second stop, and it waits again
        p["wait_for"] = json!("none");
        let again = ComputeInstance.apply(&ctx, &p, Some(&out)).await.unwrap();
        assert_eq!(again.outputs["state"], "stopping");
        assert_eq!(again.outputs["power"], "stopped");
        assert_eq!(h.cloud.faults.calls("compute.stop_instance"), 1);
    }

    /// Memory compute that says it cannot stop instances (as Azure's says today).
    #[derive(Debug)]
    struct NoStopStart(std::sync::Arc<provisio_memory::MemoryCompute>);

    impl provisio::Provider for NoStopStart {
        fn info(&self) -> provisio::ProviderInfo {
            self.0.info()
        }
    }

    #[provisio::async_trait]
    impl Compute for NoStopStart {
        fn capabilities(&self) -> provisio::compute::ComputeCapabilities {
            provisio::compute::ComputeCapabilities {
                stop_start: false,
                ..self.0.capabilities()
            }
        }
        async fn launch_instance(&self, spec: &InstanceSpec) -> Result<Ensured<Instance>> {
            self.0.launch_instance(spec).await
        }
        async fn get_instance(&self, id: &str) -> Result<Option<Instance>> {
            self.0.get_instance(id).await
        }
        async fn find_instances(&self, tags: &Tags) -> Result<Vec<Instance>> {
            self.0.find_instances(tags).await
        }
        async fn wait_for_state(
            &self,
            id: &str,
            state: InstanceState,
            timeout: Duration,
        ) -> Result<Instance> {
            self.0.wait_for_state(id, state, timeout).await
        }
        async fn terminate_instance(&self, id: &str) -> Result<Deleted> {
            self.0.terminate_instance(id).await
        }
        async fn stop_instance(&self, _id: &str) -> Result<Instance> {
            Err(Error::unsupported("compute.stop_instance"))
        }
        async fn start_instance(&self, _id: &str) -> Result<Instance> {
            Err(Error::unsupported("compute.start_instance"))
        }
    }

    #[tokio::test]
    async fn power_stopped_on_a_provider_without_stop_start_is_unsupported() {
        let mut h = Harness::new();
        h.providers = crate::Providers::new().with_compute(
            "default",
            std::sync::Arc::new(NoStopStart(h.cloud.compute.clone())),
        );
        let ctx = h.ctx("web", "tok");
        // running (the default) needs no stop/start: it works
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        assert_eq!(out["power"], "running");
        let e = ComputeInstance
            .apply(&ctx, &with_power("stopped"), Some(&out))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), &provisio::ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("power: stopped"), "{e}");
        assert!(e.to_string().contains("web"), "names the resource: {e}");
        assert_eq!(h.cloud.faults.calls("compute.stop_instance"), 0);
    }

    #[tokio::test]
    async fn a_stop_whose_answer_was_lost_is_not_sent_again() {
        let h = Harness::new();
        let ctx = h.ctx("web", "tok");
        let out = ComputeInstance
            .apply(&ctx, &params(), None)
            .await
            .unwrap()
            .outputs;
        h.cloud.faults.error_after_effect(
            "compute.stop_instance",
            1,
            provisio::ErrorKind::Transient,
        );
        let e = ComputeInstance
            .apply(&ctx, &with_power("stopped"), Some(&out))
            .await
            .unwrap_err();
        assert!(e.retryable(), "{e}");
        // the engine retries: the instance is stopping already, nothing is sent again
        let retried = ComputeInstance
            .apply(&ctx, &with_power("stopped"), Some(&out))
            .await
            .unwrap();
        assert_eq!(retried.outputs["state"], "stopped");
        assert_eq!(h.cloud.faults.calls("compute.stop_instance"), 1);
        assert_eq!(h.cloud.faults.mutations("compute.stop_instance"), 1);
    }
}
