//! Conformance cases for [`Compute`].
//!
//! Every case launches instances with fresh ownership tags (tenant = [`unique`](crate::unique))
//! and terminates them at the end.

use crate::{Tracker, expect_invalid, expect_kind, expect_unsupported, first_error, guarded};
use provisio::compute::{Instance, InstanceSpec, InstanceState};
use provisio::{Compute, Deleted, ErrorKind, Outcome, Result, Tags};
use std::time::Duration;

/// What the compute cases need from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputeContext {
    /// The image to launch (an AMI id such as moto's `ami-12c6146b`, an Azure image reference).
    pub image: String,
    /// The size (`t3.micro`, `Standard_B1s`).
    pub size: String,
    /// How long to wait for an instance to reach a state.
    pub wait_timeout: Duration,
}

impl ComputeContext {
    /// Launch `image` at `size`, waiting up to two minutes for state changes.
    pub fn new(image: impl Into<String>, size: impl Into<String>) -> Self {
        ComputeContext {
            image: image.into(),
            size: size.into(),
            wait_timeout: Duration::from_secs(120),
        }
    }
    /// The same with another wait timeout.
    pub fn with_wait_timeout(mut self, wait_timeout: Duration) -> Self {
        self.wait_timeout = wait_timeout;
        self
    }
}

/// Every compute case by name.
pub const CASES: &[crate::Case<dyn Compute, ComputeContext>] = crate::compute_conformance!(@table);

/// Generates one `#[test]` per compute case; see the [crate documentation](crate).
///
/// ```ignore
/// provisio_testkit::compute_conformance! {
///     provider: my_compute(),
///     context: provisio_testkit::compute::ComputeContext::new("ami-12c6146b", "t3.micro"),
/// }
/// ```
#[macro_export]
macro_rules! compute_conformance {
    (@table) => { $crate::compute_conformance!(@cases @table) };
    (@cases $($how:tt)*) => {
        $crate::__conformance! { $($how)* compute [
            launch_wait_terminate,
            relaunch_is_unchanged,
            wait_semantics,
            not_found,
            invalid_input,
            capability_honesty,
            stop_and_start,
            stop_start_refusals,
        ] }
    };
    ($($setup:tt)*) => { $crate::compute_conformance!(@cases @tests { $($setup)* }); };
}

/// A spec with fresh ownership tags, and those tags.
fn spec(c: &dyn Compute, ctx: &ComputeContext, role: &str) -> (InstanceSpec, Tags) {
    let tenant = crate::unique("tn");
    let tags = if c.capabilities().tags {
        provisio::types::ownership::tags(&tenant, "conformance", role)
    } else {
        Tags::new()
    };
    let spec = InstanceSpec {
        name: format!("{tenant}-{role}"),
        image: ctx.image.clone(),
        size: ctx.size.clone(),
        tags: tags.clone(),
        user_data: None,
        idempotency_key: crate::unique("key"),
    };
    (spec, tags)
}

fn assert_instance_is(i: &Instance, spec: &InstanceSpec, what: &str) {
    assert!(!i.id.is_empty(), "{what}: the instance has no id");
    assert_eq!(i.name, spec.name, "{what}: name");
    assert_eq!(i.image, spec.image, "{what}: image");
    assert_eq!(i.size, spec.size, "{what}: size");
    assert!(
        provisio::types::tags_match(&i.tags, &spec.tags),
        "{what}: the tags {:?} lack some of {:?}",
        i.tags,
        spec.tags
    );
}

/// Terminates every live instance carrying `tags` (and the ids given), best effort.
async fn terminate_all(c: &dyn Compute, tags: &Tags, ids: &[String]) -> Result<()> {
    let mut results = Vec::new();
    if !tags.is_empty() {
        match c.find_instances(tags).await {
            Ok(found) => {
                for i in found {
                    results.push(c.terminate_instance(&i.id).await.map(|_| ()));
                }
            }
            Err(e) => results.push(Err(e)),
        }
    }
    for id in ids {
        results.push(c.terminate_instance(id).await.map(|_| ()));
    }
    first_error(results)
}

/// Launches an instance, waits for `Running`, finds it by tags, terminates it, and sees
/// `find_instances` forget it; terminating again is `AlreadyGone`.
pub async fn launch_wait_terminate(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    let (spec, tags) = spec(c, ctx, "web");
    let ids = Tracker::default();
    guarded(
        async {
            let launched = c.launch_instance(&spec).await?;
            ids.add(launched.value.id.clone());
            assert_eq!(
                launched.outcome,
                Outcome::Created,
                "launch_instance of a new spec"
            );
            let inst = launched.value;
            assert_instance_is(&inst, &spec, "launch_instance");
            assert!(
                matches!(inst.state, InstanceState::Pending | InstanceState::Running),
                "a new instance should be pending or running, is {:?}",
                inst.state
            );
            let running = c
                .wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
                .await?;
            assert_eq!(
                running.state,
                InstanceState::Running,
                "wait_for_state(Running)"
            );
            assert_eq!(
                running.id, inst.id,
                "wait_for_state returned another instance"
            );
            let read = c.get_instance(&inst.id).await?;
            let read = read.expect("get_instance returned None for a running instance");
            assert_eq!(
                read.state,
                InstanceState::Running,
                "get_instance state after the wait"
            );
            assert_instance_is(&read, &spec, "get_instance");
            if !tags.is_empty() {
                let found = c.find_instances(&tags).await?;
                let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
                assert_eq!(
                    ids,
                    vec![inst.id.as_str()],
                    "find_instances by the ownership tags"
                );
            }
            assert_eq!(
                c.terminate_instance(&inst.id).await?,
                Deleted::Deleted,
                "terminate_instance of a running instance"
            );
            if !tags.is_empty() {
                let found = c.find_instances(&tags).await?;
                assert!(
                    found.is_empty(),
                    "find_instances still returns a terminated instance: {found:?}"
                );
            }
            match c.get_instance(&inst.id).await? {
                None => {}
                Some(i) => assert!(
                    i.state.is_terminal(),
                    "get_instance after terminate shows state {:?}",
                    i.state
                ),
            }
            assert_eq!(
                c.terminate_instance(&inst.id).await?,
                Deleted::AlreadyGone,
                "second terminate_instance"
            );
            Ok(())
        },
        async { terminate_all(c, &tags, &ids.all()).await },
    )
    .await
}

/// Launching the same spec again returns the live instance as `Unchanged`, with the same id,
/// and does not start a second one.
pub async fn relaunch_is_unchanged(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    let (spec, tags) = spec(c, ctx, "app");
    let ids = Tracker::default();
    let body = async {
        let first = c.launch_instance(&spec).await?;
        ids.add(first.value.id.clone());
        assert_eq!(first.outcome, Outcome::Created, "first launch_instance");
        let second = c.launch_instance(&spec).await?;
        ids.add(second.value.id.clone());
        assert_eq!(
            second.outcome,
            Outcome::Unchanged,
            "second launch_instance with the same spec"
        );
        assert_eq!(
            second.value.id, first.value.id,
            "the relaunch returned another instance"
        );
        c.wait_for_state(&first.value.id, InstanceState::Running, ctx.wait_timeout)
            .await?;
        let third = c.launch_instance(&spec).await?;
        ids.add(third.value.id.clone());
        assert_eq!(
            third.outcome,
            Outcome::Unchanged,
            "launch_instance of a running instance"
        );
        assert_eq!(
            third.value.id, first.value.id,
            "the relaunch returned another instance"
        );
        if !tags.is_empty() {
            let found = c.find_instances(&tags).await?;
            assert_eq!(
                found.len(),
                1,
                "relaunching started more instances: {found:?}"
            );
        }
        Ok(())
    };
    guarded(body, async { terminate_all(c, &tags, &ids.all()).await }).await
}

/// `wait_for_state` times out with `Timeout` when the state is not reached, and is a `Conflict`
/// when waiting for `Running` on a terminated instance.
pub async fn wait_semantics(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    let (spec, tags) = spec(c, ctx, "wait");
    let ids = Tracker::default();
    let body = async {
        let inst = c.launch_instance(&spec).await?.value;
        ids.add(inst.id.clone());
        c.wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
            .await?;
        let started = std::time::Instant::now();
        let err = c
            .wait_for_state(&inst.id, InstanceState::Stopped, Duration::from_secs(2))
            .await;
        expect_kind(
            err,
            ErrorKind::Timeout,
            "wait_for_state(Stopped) on a running instance",
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "a 2 s wait_for_state took {:?}",
            started.elapsed()
        );
        c.terminate_instance(&inst.id).await?;
        let err = c
            .wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
            .await;
        // Some providers forget terminated instances at once: then the id is unknown.
        let err = crate::expect_one_of(
            err,
            &[ErrorKind::Conflict, ErrorKind::NotFound],
            "wait_for_state(Running) on a terminated instance",
        );
        assert!(
            !err.retryable(),
            "waiting on a terminated instance must not be retryable"
        );
        Ok(())
    };
    guarded(body, async { terminate_all(c, &tags, &ids.all()).await }).await
}

/// Unknown ids: `get_instance` is `None`, `terminate_instance` is `AlreadyGone`, and
/// `find_instances` with tags nobody carries is empty.
pub async fn not_found(c: &dyn Compute, _ctx: &ComputeContext) -> Result<()> {
    let id = unknown_id();
    let read = c.get_instance(&id).await?;
    assert!(
        read.is_none(),
        "get_instance of an unknown id returned {read:?}"
    );
    assert_eq!(
        c.terminate_instance(&id).await?,
        Deleted::AlreadyGone,
        "terminate_instance of an unknown id"
    );
    if c.capabilities().tags {
        let tags = provisio::types::ownership::tags(&crate::unique("nobody"), "conformance", "x");
        let found = c.find_instances(&tags).await?;
        assert!(
            found.is_empty(),
            "find_instances with fresh tags returned {found:?}"
        );
    }
    Ok(())
}

/// An idempotency key over 64 characters and an empty name are `InvalidInput` naming the
/// field, and launch nothing.
pub async fn invalid_input(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    let (mut long_key, tags) = spec(c, ctx, "bad");
    long_key.idempotency_key = "k".repeat(65);
    let (mut no_name, _) = spec(c, ctx, "bad");
    no_name.tags = tags.clone();
    no_name.name = String::new();
    let body = async {
        let err = c.launch_instance(&long_key).await;
        expect_invalid(
            err,
            "idempotency",
            "launch_instance with a 65-character idempotency key",
        );
        let err = c.launch_instance(&no_name).await;
        expect_invalid(err, "name", "launch_instance with an empty name");
        if !tags.is_empty() {
            let found = c.find_instances(&tags).await?;
            assert!(
                found.is_empty(),
                "a refused launch_instance started {found:?}"
            );
        }
        Ok(())
    };
    guarded(body, terminate_all(c, &tags, &[])).await
}

/// User data on a provider without it is `Unsupported`; where supported the launch works.
pub async fn capability_honesty(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    let caps = c.capabilities();
    let (mut spec, tags) = spec(c, ctx, "ud");
    spec.user_data = Some("#cloud-config\nruncmd: [echo provisio]\n".into());
    let ids = Tracker::default();
    let body = async {
        if caps.user_data {
            let made = c.launch_instance(&spec).await?;
            ids.add(made.value.id.clone());
            assert_eq!(
                made.outcome,
                Outcome::Created,
                "launch_instance with user data"
            );
        } else {
            let err = c.launch_instance(&spec).await;
            expect_unsupported(err, "launch_instance with user data");
            if !tags.is_empty() {
                let found = c.find_instances(&tags).await?;
                assert!(
                    found.is_empty(),
                    "a refused launch_instance started {found:?}"
                );
            }
        }
        if !caps.tags {
            let wanted = provisio::types::ownership::tags("t", "b", "r");
            let err = c.find_instances(&wanted).await;
            expect_unsupported(err, "find_instances by tags");
        }
        Ok(())
    };
    guarded(body, async { terminate_all(c, &tags, &ids.all()).await }).await
}

/// An id shaped like an EC2 id (`i-` and 17 hex digits) that no instance has, so that
/// providers which check the format answer "unknown" rather than "malformed".
fn unknown_id() -> String {
    let hex: String = crate::unique("id")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
        .to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("i-0{hex}")
}

/// Stops a running instance and starts it again: each call returns the instance on its way
/// (`Stopping`/`Stopped`, `Pending`/`Running`), a repeated call returns it unchanged, and
/// [`Compute::wait_for_state`] sees it arrive; a stopped instance is still found by its tags.
/// A provider whose capabilities say it cannot answers `Unsupported` to both.
pub async fn stop_and_start(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    if !c.capabilities().stop_start {
        let id = unknown_id();
        expect_unsupported(c.stop_instance(&id).await, "stop_instance");
        expect_unsupported(c.start_instance(&id).await, "start_instance");
        return Ok(());
    }
    let (spec, tags) = spec(c, ctx, "power");
    let ids = Tracker::default();
    let body = async {
        let inst = c.launch_instance(&spec).await?.value;
        ids.add(inst.id.clone());
        c.wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
            .await?;
        let stopping = c.stop_instance(&inst.id).await?;
        assert_eq!(
            stopping.id, inst.id,
            "stop_instance returned another instance"
        );
        assert!(
            matches!(
                stopping.state,
                InstanceState::Stopping | InstanceState::Stopped
            ),
            "stop_instance of a running instance returned state {:?}",
            stopping.state
        );
        assert_instance_is(&stopping, &spec, "stop_instance");
        let again = c.stop_instance(&inst.id).await?;
        assert!(
            matches!(
                again.state,
                InstanceState::Stopping | InstanceState::Stopped
            ),
            "a second stop_instance returned state {:?}",
            again.state
        );
        let stopped = c
            .wait_for_state(&inst.id, InstanceState::Stopped, ctx.wait_timeout)
            .await?;
        assert_eq!(
            stopped.state,
            InstanceState::Stopped,
            "wait_for_state(Stopped)"
        );
        let same = c.stop_instance(&inst.id).await?;
        assert_eq!(
            same.state,
            InstanceState::Stopped,
            "stop_instance of a stopped instance"
        );
        let read = c
            .get_instance(&inst.id)
            .await?
            .expect("get_instance returned None for a stopped instance");
        assert_eq!(
            read.state,
            InstanceState::Stopped,
            "get_instance when stopped"
        );
        if !tags.is_empty() {
            let found = c.find_instances(&tags).await?;
            let ids: Vec<&str> = found.iter().map(|i| i.id.as_str()).collect();
            assert_eq!(
                ids,
                vec![inst.id.as_str()],
                "find_instances of a stopped instance"
            );
        }
        let starting = c.start_instance(&inst.id).await?;
        assert_eq!(
            starting.id, inst.id,
            "start_instance returned another instance"
        );
        assert!(
            matches!(
                starting.state,
                InstanceState::Pending | InstanceState::Running
            ),
            "start_instance of a stopped instance returned state {:?}",
            starting.state
        );
        let again = c.start_instance(&inst.id).await?;
        assert!(
            matches!(again.state, InstanceState::Pending | InstanceState::Running),
            "a second start_instance returned state {:?}",
            again.state
        );
        let running = c
            .wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
            .await?;
        assert_eq!(
            running.state,
            InstanceState::Running,
            "wait_for_state(Running)"
        );
        let same = c.start_instance(&inst.id).await?;
        assert_eq!(
            same.state,
            InstanceState::Running,
            "start_instance of a running instance"
        );
        Ok(())
    };
    guarded(body, async { terminate_all(c, &tags, &ids.all()).await }).await
}

/// Stop and start of an unknown id are `NotFound` naming it; of a terminated instance a
/// `Conflict` (or `NotFound`, for providers that forget terminated instances at once), never
/// retryable. Skipped when the provider cannot stop instances.
pub async fn stop_start_refusals(c: &dyn Compute, ctx: &ComputeContext) -> Result<()> {
    if !c.capabilities().stop_start {
        return Ok(());
    }
    let unknown = unknown_id();
    for (what, result) in [
        ("stop_instance", c.stop_instance(&unknown).await),
        ("start_instance", c.start_instance(&unknown).await),
    ] {
        let err = expect_kind(
            result,
            ErrorKind::NotFound,
            &format!("{what} of an unknown id"),
        );
        assert!(
            err.to_string().contains(&unknown),
            "{what} of an unknown id: the error does not name it: {err}"
        );
    }
    let (spec, tags) = spec(c, ctx, "gone");
    let ids = Tracker::default();
    let body = async {
        let inst = c.launch_instance(&spec).await?.value;
        ids.add(inst.id.clone());
        c.wait_for_state(&inst.id, InstanceState::Running, ctx.wait_timeout)
            .await?;
        c.terminate_instance(&inst.id).await?;
        for (what, result) in [
            ("stop_instance", c.stop_instance(&inst.id).await),
            ("start_instance", c.start_instance(&inst.id).await),
        ] {
            let err = crate::expect_one_of(
                result,
                &[ErrorKind::Conflict, ErrorKind::NotFound],
                &format!("{what} of a terminated instance"),
            );
            assert!(
                !err.retryable(),
                "{what} of a terminated instance must not be retryable: {err}"
            );
        }
        Ok(())
    };
    guarded(body, async { terminate_all(c, &tags, &ids.all()).await }).await
}
