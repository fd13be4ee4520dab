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
/// - `wait_for` (default `running`): the state to wait for after launch (`pending`,
///   `running`, `stopped`), or `none` to return at once.
/// - `wait_timeout_secs` (default 600): how long to wait.
///
/// Outputs: `id`, `name`, `state`, `public_ip`, `private_ip` (addresses are `null` until
/// assigned). Changing `image`, `size` or `user_data` replaces the instance.
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
    wait_for: Option<String>,
    wait_timeout_secs: Option<Int>,
}

struct Spec {
    name: String,
    image: String,
    size: String,
    user_data: Option<String>,
    tags: Tags,
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
        let wait_for = match self.wait_for.as_deref() {
            None => Some(InstanceState::Running),
            Some(s) if phase.unresolved(s) => None,
            Some("none") => None,
            Some(s) => {
                match serde_json::from_value::<InstanceState>(Value::String(s.to_string())) {
                    Ok(state) if !state.is_terminal() => Some(state),
                    _ => {
                        return Err(Error::invalid_field(
                            "wait_for",
                            format!("{s:?} is not one of pending, running, stopped, none"),
                        ));
                    }
                }
            }
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
        "public_ip": i.public_ip,
        "private_ip": i.private_ip,
    })
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
        &["id", "name", "state", "public_ip", "private_ip"]
    }

    fn volatile_outputs(&self) -> &[&str] {
        // an instance stops, starts and moves addresses in its normal life; a terminated one
        // reads as missing, which is drift
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
        Ok(found.as_ref().map(outputs))
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
                if spec.wait_for == Some(InstanceState::Running)
                    && matches!(
                        existing.state,
                        InstanceState::Stopped | InstanceState::Stopping
                    )
                {
                    // Waiting would only time out (and be retried): nobody is starting it.
                    return Err(Error::conflict(format!(
                        "instance {} is {:?}; start it, or set wait_for to stopped or none",
                        existing.id, existing.state
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
        let instance = match spec.wait_for {
            Some(state) if ensured.value.state != state => compute
                .wait_for_state(&ensured.value.id, state, spec.wait_timeout)
                .await
                .map_err(in_resource(ctx))?,
            _ => ensured.value,
        };
        Ok(Applied {
            outputs: outputs(&instance),
            outcome: ensured.outcome,
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
}
