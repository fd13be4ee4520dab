"""The engine from Python: the launch blueprint end to end, events, custom steps, asyncio
concurrency and cancellation, fleets and state stores."""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from typing import Any, Mapping, Optional

import pytest

import provisio

from conftest import FIXTURES, LAUNCH, SMTP


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_launch_plan_apply_noop_destroy(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    before = provisio_cloud.inventory()
    plan = provisio_engine.plan(launch, "acme", secrets=SMTP)
    declared = provisio.Blueprint.load(launch).to_dict()["resources"]
    # the launched ones: the archive resources exist only while archived or retired
    resources = [n for n, r in declared.items() if "launched" in r.get("only_in", ["launched"])]
    assert len(resources) == 24 and len(declared) == 26
    assert plan["counts"]["create"] == len(resources) and plan["has_changes"]

    report = provisio_engine.apply(launch, "acme", secrets=SMTP)
    assert report["success"] and report["errors"] == []
    assert report["summary"]["created"] + report["summary"]["updated"] == len(resources)
    inventory = provisio_cloud.inventory()
    assert "A acme.example.com" in inventory["dns.record"]
    assert "acme-smtp-password" in inventory["secrets.secret"]
    assert "smtp-credential" not in repr(inventory)
    outputs = provisio_engine.outputs("acme")
    assert outputs["dns_prod"]["fqdn"] == "acme.example.com"

    again = provisio_engine.plan(launch, "acme", secrets=SMTP)
    assert not again["has_changes"] and again["counts"]["no_op"] == len(resources)
    noop = provisio_engine.apply(launch, "acme", secrets=SMTP)
    assert noop["summary"]["unchanged"] == len(resources) and noop["summary"]["created"] == 0

    kept = provisio_engine.destroy(launch, "acme")
    assert kept["kept_protected"] == ["database"]
    gone = provisio_engine.destroy(launch, "acme", allow=["database"])
    assert gone["success"]
    assert provisio_engine.outputs("acme") == {}
    after = provisio_cloud.inventory()
    assert after.get("dns.record") == before.get("dns.record")
    assert "acme-smtp-password" in provisio_cloud.retired().get("secrets.deleted_secret", {})


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_events_arrive_while_the_run_proceeds(provisio_engine: provisio.Engine, launch: pathlib.Path) -> None:
    events: list[dict[str, Any]] = []
    caller = threading.get_ident()
    threads: set[int] = set()

    def on_event(event: dict[str, Any]) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    provisio_engine.apply(launch, "acme", secrets=SMTP, on_event=on_event)
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    assert types.count("step_started") == types.count("step_succeeded") == len(events[0]["resources"])
    assert threads == {caller}
    succeeded = [e for e in events if e["type"] == "step_succeeded"]
    assert all(e["tenant"] == "acme" and e["run_id"] == events[0]["run_id"] for e in events)
    assert {"resource", "action", "outcome", "outputs", "duration_ms"} <= set(succeeded[0])
    assert "smtp-credential" not in repr(events)
    assert events[-1]["summary"]["created"] >= 1


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_retries_show_as_events(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    provisio_cloud.faults.reset_counters()  # the fixtures made calls too
    provisio_cloud.faults.error_on_call("dns.ensure_record", 1, "transient")
    events: list[dict[str, Any]] = []
    provisio_engine.apply(launch, "acme", secrets=SMTP, on_event=events.append)
    retrying = [e for e in events if e["type"] == "step_retrying"]
    assert len(retrying) == 1 and "transient" in retrying[0]["reason"]


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_a_failed_run_raises_with_its_report(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    provisio_cloud.faults.error_rate("mail.ensure_identity", 1.0, "permission_denied")
    with pytest.raises(provisio.PermissionDeniedError) as info:
        provisio_engine.apply(launch, "acme", secrets=SMTP)
    report: dict[str, Any] = getattr(info.value, "report")
    assert not report["success"] and report["errors"][0]["resource"] == "mail"
    assert report["summary"]["rolled_back"] > 0
    unchecked = provisio_engine.apply(launch, "acme", secrets=SMTP, check=False)
    assert unchecked["errors"][0]["kind"] == "permission_denied"


def test_missing_secret_is_invalid_input(provisio_engine: provisio.Engine, launch: pathlib.Path) -> None:
    with pytest.raises(provisio.InvalidInputError):
        provisio_engine.apply(launch, "acme")


class WelcomeMail(provisio.Step):
    """A custom step: records the mails it "sent" so the test can look."""

    name = "acme.welcome_mail"
    outputs = ("message_id",)

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.deleted: list[str] = []

    def apply(self, ctx: provisio.StepContext, params: Mapping[str, Any], prior: Optional[dict[str, Any]]) -> Any:
        if prior is not None:
            return prior
        assert ctx.secrets["smtp_password"].reveal() == SMTP["smtp_password"]
        self.sent.append(f"{params['to']} ({ctx.tenant})")
        return {"message_id": f"msg-{ctx.tenant}-{len(self.sent)}"}

    def delete(self, ctx: provisio.StepContext, params: Mapping[str, Any], outputs: Any) -> Any:
        self.deleted.append(str(outputs["message_id"]))
        return True


CUSTOM = {
    "name": "custom",
    "variables": {"smtp_password": {"secret": True}},
    "resources": {
        "mail": {"type": "mail.identity", "params": {"name": "${tenant.name}.example.com"}},
        "welcome": {"type": "acme.welcome_mail", "params": {"to": "admin@${mail.name}"}},
        "audit": {"type": "acme.audit", "params": {"about": "${welcome.message_id}"}},
    },
}


def test_custom_python_steps(provisio_providers: provisio.Providers) -> None:
    welcome = WelcomeMail()

    @provisio.step("acme.audit", outputs=["entry"])
    async def audit(ctx: provisio.StepContext, params: Mapping[str, Any], prior: Any) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"entry": f"audit of {params['about']}"}

    engine = provisio.Engine(provisio_providers, steps=[welcome, audit])
    report = engine.apply(CUSTOM, "acme", secrets=SMTP)
    assert report["success"], report["errors"]
    assert welcome.sent == ["admin@acme.example.com (acme)"]
    assert engine.outputs("acme")["audit"] == {"entry": "audit of msg-acme-1"}
    assert engine.apply(CUSTOM, "acme", secrets=SMTP)["summary"]["unchanged"] == 3
    assert welcome.sent == ["admin@acme.example.com (acme)"]

    async def run_async() -> dict[str, Any]:
        return await engine.aio.apply(CUSTOM, "beta", secrets=SMTP)

    assert asyncio.run(run_async())["success"]
    engine.destroy(CUSTOM, "acme")
    assert welcome.deleted == ["msg-acme-1"]


def test_a_failing_python_step_keeps_its_error_kind(provisio_providers: provisio.Providers) -> None:
    calls: list[int] = []

    @provisio.step("acme.flaky", outputs=["ok"])
    def flaky(ctx: provisio.StepContext, params: Mapping[str, Any], prior: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise provisio.TransientError("the mail relay hiccuped")
        return {"ok": True}

    @provisio.step("acme.broken")
    def broken(ctx: provisio.StepContext, params: Mapping[str, Any], prior: Any) -> dict[str, Any]:
        raise ValueError("bad template")

    engine = provisio.Engine(provisio_providers, steps=[flaky, broken], retry={"max_attempts": 3, "initial_backoff_ms": 1})
    bp = {"name": "f", "resources": {"f": {"type": "acme.flaky", "params": {}}}}
    assert engine.apply(bp, "acme")["success"] and len(calls) == 2
    with pytest.raises(provisio.UnexpectedError, match="ValueError: bad template"):
        engine.apply({"name": "b", "resources": {"b": {"type": "acme.broken", "params": {}}}}, "acme")


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_many_tenants_at_once_from_one_event_loop(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    provisio_cloud.faults.latency("compute.*", 0.05)
    blueprint = provisio.Blueprint.load(launch)
    tenants = [f"t{i}" for i in range(8)]
    seen: dict[str, int] = {t: 0 for t in tenants}

    async def main() -> list[dict[str, Any]]:
        engine = provisio_engine.aio

        def count(event: dict[str, Any]) -> None:
            seen[event["tenant"]] += 1

        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        tick = asyncio.ensure_future(ticker())
        started = time.monotonic()
        reports = await asyncio.gather(
            *(engine.apply(blueprint, t, secrets=SMTP, on_event=count) for t in tenants)
        )
        elapsed = time.monotonic() - started
        tick.cancel()
        # the loop kept running while Rust worked, and the tenants overlapped
        assert ticks > 5
        assert elapsed < 0.05 * 3 * len(tenants)
        return reports

    reports = asyncio.run(main())
    assert all(r["success"] for r in reports)
    assert all(n > 10 for n in seen.values())
    inventory = provisio_cloud.inventory()
    assert all(f"A {t}.example.com" in inventory["dns.record"] for t in tenants)


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_cancelling_the_asyncio_task_cancels_the_run(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    provisio_cloud.faults.latency("ci.*", 2.0)
    events: list[dict[str, Any]] = []

    async def main() -> None:
        task = asyncio.ensure_future(provisio_engine.aio.apply(launch, "acme", secrets=SMTP, on_event=events.append))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 10
    assert events[-1]["type"] == "run_finished"
    # the run stopped cleanly: steps not run are skipped, the lease is released
    summary = events[-1]["summary"]
    assert summary["skipped"] + summary["failed"] > 0
    provisio_cloud.faults.clear()
    assert provisio_engine.apply(launch, "acme", secrets=SMTP)["success"]


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_an_exception_in_on_event_cancels_the_run(provisio_engine: provisio.Engine, launch: pathlib.Path) -> None:
    def explode(event: dict[str, Any]) -> None:
        if event["type"] == "step_succeeded":
            raise RuntimeError("dashboard down")

    with pytest.raises(RuntimeError, match="dashboard down"):
        provisio_engine.apply(launch, "acme", secrets=SMTP, on_event=explode)
    assert provisio_engine.apply(launch, "acme", secrets=SMTP)["success"]


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_fleet_runs_and_refresh(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    tenants: list[Any] = [{"name": f"f{i}", "secrets": SMTP} for i in range(4)]
    events: list[dict[str, Any]] = []
    report = provisio_engine.fleet(launch, tenants, fleet_id="rollout-1", canary=1, on_event=events.append)
    assert report["success"] and report["counts"]["succeeded"] == 4
    kinds = {e["type"] for e in events}
    assert {"fleet_started", "canary_passed", "fleet_finished", "run_started"} <= kinds
    resumed = provisio_engine.fleet(launch, tenants, fleet_id="rollout-1")
    assert resumed["counts"]["already_succeeded"] == 4

    fresh = provisio_engine.refresh(launch, "f0", secrets=SMTP)
    status = {r["resource"]: r["drift"]["status"] for r in fresh["resources"]}
    assert status["dns_prod"] == "in_sync"
    provisio_cloud.dns.delete_record("example.com", "f0.example.com", "A")
    drifted = provisio_engine.refresh(launch, "f0", secrets=SMTP)
    assert drifted["has_drift"]
    missing = [r["resource"] for r in drifted["resources"] if r["drift"]["status"] == "missing"]
    assert missing == ["dns_prod"]

    gone = provisio_engine.fleet(launch, tenants, fleet_id="teardown-1", destroy=True, max_failures=None)
    assert gone["counts"]["succeeded"] == 4


def test_state_stores_and_blueprint_forms(tmp_path: pathlib.Path) -> None:
    providers = provisio.Providers.memory(fixtures=FIXTURES)
    path = tmp_path / "state" / "provisio.db"
    engine = provisio.Engine(providers, path)
    text = (LAUNCH / "blueprint.yaml").read_text()
    bp = {"name": "small", "resources": {"zone_txt": {"type": "dns.record", "params": {
        "zone": "example.com", "name": "${tenant.name}.example.com", "type": "TXT", "content": "hello", "ttl": 60}}}}
    assert engine.apply(bp, "acme")["success"]
    # a second engine on the same SQLite file sees the state
    other = provisio.Engine(providers, provisio.StateStore.sqlite(path))
    assert other.outputs("acme")["zone_txt"]["fqdn"] == "acme.example.com"
    assert provisio.Blueprint.from_yaml(text).name == "launch-tenant"
    assert provisio.Blueprint.from_dict(bp).resources == ["zone_txt"]
    assert "smtp_password" in provisio.Blueprint.load(LAUNCH / "blueprint.yaml").variables
    assert repr(provisio.StateStore.memory()) == "StateStore(memory)"
    with pytest.raises(provisio.InvalidInputError):
        provisio.Blueprint.from_yaml("name: x\nresources:\n  a: {type: nope}\nbogus: 1\n")


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_keyboard_interrupt_cancels_a_synchronous_run(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    import _thread

    provisio_cloud.faults.latency("ci.*", 2.0)
    events: list[dict[str, Any]] = []
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        provisio_engine.apply(launch, "acme", secrets=SMTP, on_event=events.append)
    timer.join()
    assert time.monotonic() - started < 10
    # the run was cancelled and finished before the interrupt was raised
    assert events[-1]["type"] == "run_finished"
    provisio_cloud.faults.clear()
    assert provisio_engine.apply(launch, "acme", secrets=SMTP)["success"]


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_lifecycle_transitions(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud, launch: pathlib.Path
) -> None:
    with pytest.raises(provisio.NotFoundError, match="no resources and no lifecycle phase"):
        provisio_engine.transition(launch, "acme", "archive", secrets=SMTP)
    assert provisio_engine.phase("acme") is None

    def phase() -> Any:
        current = provisio_engine.phase("acme")
        assert current is not None
        return current["phase"]

    provisio_engine.apply(launch, "acme", secrets=SMTP)
    assert phase() == "launched"

    def www() -> Any:
        return provisio_cloud.inventory()["dns.record"]["A acme.example.com"]["content"]

    report = provisio_engine.transition(launch, "acme", "suspend", secrets=SMTP)
    assert report["operation"] == "suspend" and report["summary"]["updated"] == 2 and report["summary"]["deleted"] == 2
    assert www() == "192.0.2.250"
    assert phase() == "suspended"
    with pytest.raises(provisio.ConflictError, match="run `resume` first"):
        provisio_engine.apply(launch, "acme", secrets=SMTP)
    with pytest.raises(provisio.ConflictError, match="from suspended: resume, archive, retire"):
        provisio_engine.transition(launch, "acme", "restore", secrets=SMTP)

    plan = provisio_engine.plan_transition(launch, "acme", "archive", secrets=SMTP)
    actions = {r["name"]: r["action"] for r in plan["resources"]}
    assert actions["web"] == "delete" and plan["has_changes"]
    provisio_engine.transition(launch, "acme", "archive", secrets=SMTP)
    assert provisio_cloud.inventory().get("compute.instance", {}) == {}
    assert phase() == "archived"
    provisio_engine.transition(launch, "acme", "restore", secrets=SMTP)
    assert len(provisio_cloud.inventory()["compute.instance"]) == 1
    assert www() != "192.0.2.250"

    with pytest.raises(provisio.ProtectedError):
        provisio_engine.transition(launch, "acme", "retire", secrets=SMTP)
    provisio_engine.transition(launch, "acme", "retire", secrets=SMTP, allow=["database"])
    assert phase() == "retired"
    with pytest.raises(provisio.InvalidInputError, match="hibernate"):
        provisio_engine.transition(launch, "acme", "hibernate", secrets=SMTP)  # type: ignore[arg-type]
