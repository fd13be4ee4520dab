"""Every capability through the memory providers, called directly with plain Python values."""

from __future__ import annotations

import asyncio
import logging

import pytest

import provisio

from conftest import FIXTURES


def test_dns_records(provisio_providers: provisio.Providers) -> None:
    dns = provisio_providers.dns()
    assert dns.find_zone("example.com") is None
    cloud = provisio_providers.cloud
    assert cloud is not None
    cloud.apply_fixtures({"dns": {"zones": [{"name": "example.com"}]}})
    zone = dns.find_zone("example.com")
    assert zone is not None and zone["name"] == "example.com"
    made = dns.ensure_record(zone="example.com", name="acme.example.com", type="A", content="192.0.2.1")
    assert made["outcome"] == "created"
    assert made["value"]["content"] == "192.0.2.1"
    again = dns.ensure_record(zone=zone, name="acme.example.com", type="A", content="192.0.2.1")
    assert again["outcome"] == "unchanged"
    changed = dns.ensure_record(zone="example.com", name="acme.example.com", type="A", content="192.0.2.2", ttl=60)
    assert changed["outcome"] == "updated"
    mx = dns.ensure_record(zone="example.com", name="example.com", type="MX", content="mail.example.com", priority=10)
    assert mx["value"]["priority"] == 10
    record = dns.get_record("example.com", "acme.example.com", "A")
    assert record is not None and record["ttl"] == 60
    page = dns.list_records("example.com", limit=1)
    assert len(page["items"]) == 1 and page["next"] is not None
    assert dns.delete_record("example.com", "acme.example.com", "A") == "deleted"
    assert dns.delete_record("example.com", "acme.example.com", "A") == "already_gone"
    assert dns.info()["name"] == "memory"
    assert "proxied" in dns.capabilities()
    with pytest.raises(provisio.InvalidInputError):
        dns.ensure_record(zone="example.com", name="bad.example.com", type="A", content="not-an-ip")


def test_storage_objects_are_bytes(provisio_providers: provisio.Providers) -> None:
    storage = provisio_providers.storage()
    assert storage.ensure_bucket("acme-assets", tags={"team": "ops"})["outcome"] == "created"
    bucket = storage.get_bucket("acme-assets")
    assert bucket is not None and bucket["tags"] == {"team": "ops"}
    meta = storage.put_object("acme-assets", "a/logo.svg", b"<svg/>", content_type="image/svg+xml")
    assert meta["size"] == 6
    storage.put_object("acme-assets", "a/readme.txt", "hello")
    body, meta2 = storage.get_object("acme-assets", "a/logo.svg")
    assert body == b"<svg/>" and meta2["content_type"] == "image/svg+xml"
    head = storage.head_object("acme-assets", "a/readme.txt")
    assert head is not None and head["size"] == 5
    assert storage.copy_prefix("acme-assets", "a/", "acme-assets", "b/") == 2
    keys = [o["key"] for o in storage.list_objects("acme-assets", "b/")["items"]]
    assert keys == ["b/logo.svg", "b/readme.txt"]
    with pytest.raises(provisio.ConflictError):
        storage.delete_bucket("acme-assets")
    assert storage.delete_object("acme-assets", "b/logo.svg") == "deleted"
    assert storage.delete_prefix("acme-assets", "") == 3
    assert storage.delete_bucket("acme-assets") == "deleted"
    with pytest.raises(provisio.NotFoundError):
        storage.get_object("acme-assets", "a/logo.svg")


def test_storage_classes_and_expiry_rules(provisio_providers: provisio.Providers) -> None:
    import time

    storage = provisio_providers.storage()
    storage.ensure_bucket("acme-archive")
    for key in ["t/acme/a", "t/acme/b"]:
        storage.put_object("acme-archive", key, "x")
    assert "deep_archive" in storage.capabilities()["storage_classes"]
    change = storage.set_prefix_storage_class("acme-archive", "t/acme/", "GLACIER")
    assert change == {"changed": 2, "unchanged": 0, "pending": 0}
    head = storage.head_object("acme-archive", "t/acme/a")
    assert head is not None and head["storage_class"] == "archive"
    with pytest.raises(provisio.ConflictError):
        storage.get_object("acme-archive", "t/acme/a")
    with pytest.raises(provisio.InvalidInputError):
        storage.set_storage_class("acme-archive", "t/acme/a", "frozen")
    # back: pending (TransientError, retryable) until the memory restore (20 ms) is done
    for _ in range(100):
        try:
            meta = storage.set_storage_class("acme-archive", "t/acme/a", "standard")
            break
        except provisio.TransientError as e:
            assert e.retryable
            time.sleep(0.02)
    assert meta["storage_class"] == "standard"
    made = storage.ensure_expiry_rule("acme-archive", "t/acme/", 30)
    assert made["outcome"] == "created" and made["value"]["days"] == 30
    rule = storage.get_expiry_rule("acme-archive", "t/acme/")
    assert rule is not None and rule["prefix"] == "t/acme/"
    assert storage.delete_expiry_rule("acme-archive", "t/acme/") == "deleted"
    assert storage.get_expiry_rule("acme-archive", "t/acme/") is None


def test_compute_instances(provisio_providers: provisio.Providers) -> None:
    compute = provisio_providers.compute()
    launched = compute.launch_instance("acme-web", "img-1", "small", "token-1", tags={"tenant": "acme"})
    assert launched["outcome"] == "created"
    instance_id = launched["value"]["id"]
    running = compute.wait_for_state(instance_id, "running", timeout=30)
    assert running["state"] == "running"
    assert [i["id"] for i in compute.find_instances({"tenant": "acme"})] == [instance_id]
    again = compute.launch_instance("acme-web", "img-1", "small", "token-1", tags={"tenant": "acme"})
    assert again["outcome"] == "unchanged"
    assert compute.capabilities()["stop_start"] is True
    assert compute.stop_instance(instance_id)["state"] == "stopping"
    stopped = compute.wait_for_state(instance_id, "stopped", timeout=30)
    assert stopped["public_ip"] is None
    assert compute.stop_instance(instance_id)["state"] == "stopped"
    assert compute.start_instance(instance_id)["state"] == "pending"
    assert compute.wait_for_state(instance_id, "running", timeout=30)["public_ip"] is not None
    with pytest.raises(provisio.NotFoundError):
        compute.stop_instance("i-0123456789abcdef0")
    assert compute.terminate_instance(instance_id) == "deleted"
    with pytest.raises(provisio.ConflictError):
        compute.start_instance(instance_id)
    assert compute.terminate_instance(instance_id) == "already_gone"


def test_ci_jobs_and_builds(provisio_providers: provisio.Providers) -> None:
    ci = provisio_providers.ci()
    xml = "<?xml version='1.1' encoding='UTF-8'?>\n<project><builders/></project>\n"
    assert ci.ensure_folder("tenants/acme")["outcome"] == "created"
    assert ci.ensure_job("tenants/acme/build", xml)["outcome"] == "created"
    assert ci.get_job_config("tenants/acme/build") == xml
    build = ci.trigger_build("tenants/acme/build", {"BRANCH": "acme"})
    assert build["number"] == 1
    assert ci.wait_for_build(build, timeout=30) == "SUCCESS"
    assert ci.capabilities()["downstream"] is True
    assert ci.downstream_jobs("tenants/acme/build") == []
    assert ci.add_downstream("tenants/acme/build", "tenants/acme/deploy") == {"was_listed": False, "changed": True}
    assert ci.add_downstream("tenants/acme/build", "tenants/acme/deploy") == {"was_listed": True, "changed": False}
    assert ci.downstream_jobs("tenants/acme/build") == ["tenants/acme/deploy"]
    assert ci.remove_downstream("tenants/acme/build", "tenants/acme/deploy") == {"was_listed": True, "changed": True}
    assert ci.add_downstream("tenants/acme/nope", "tenants/acme/deploy") is None
    assert ci.delete_job("tenants/acme/build") == "deleted"
    assert ci.get_job_config("tenants/acme/build") is None
    assert ci.downstream_jobs("tenants/acme/build") is None


def test_secrets_come_back_redacted(provisio_providers: provisio.Providers) -> None:
    secrets = provisio_providers.secrets()
    put = secrets.put_secret("acme-db-password", "p@ss-0123456789", tags={"tenant": "acme"})
    assert put["outcome"] == "created"
    assert "p@ss" not in repr(put)
    got = secrets.get_secret("acme-db-password")
    assert isinstance(got["value"], provisio.Secret)
    assert got["value"].reveal() == "p@ss-0123456789"
    assert "p@ss" not in repr(got) and "p@ss" not in str(got["value"]) and "p@ss" not in f"{got['value']}"
    assert secrets.put_secret("acme-db-password", provisio.Secret("p@ss-0123456789"))["outcome"] == "unchanged"
    assert [m["name"] for m in secrets.list_secrets("acme-")["items"]] == ["acme-db-password"]
    assert secrets.delete_secret("acme-db-password", recovery_days=7) == "deleted"
    described = secrets.describe_secret("acme-db-password")
    assert described is not None and described["deleted"] is True
    with pytest.raises(provisio.NotFoundError):
        secrets.get_secret("acme-db-password")
    assert secrets.recover_secret("acme-db-password")["deleted"] is False
    with pytest.raises(provisio.ProtectedError):
        secrets.purge_secret("acme-db-password", confirm="other")
    assert secrets.purge_secret("acme-db-password", confirm="acme-db-password") == "deleted"


def test_database_roles_databases_seeds(provisio_providers: provisio.Providers) -> None:
    db = provisio_providers.database()
    server = db.ensure_server(
        "acme-db", engine="postgres", version="16", size="db.t3.micro", storage_gb=20,
        admin_user="admin", admin_password=provisio.Secret("admin-pass-123"),
    )
    assert server["outcome"] == "created"
    assert db.wait_for_server("acme-db", timeout=30)["status"] == "available"
    assert db.ensure_role("acme", "role-pass-123")["outcome"] == "created"
    assert db.ensure_database("acme", "acme")["outcome"] == "created"
    seed = db.apply_seed("acme", "initial", "CREATE TABLE t (x int);")
    assert seed["outcome"] == "created" and len(seed["value"]["checksum"]) == 64
    with pytest.raises(provisio.ConflictError):
        db.apply_seed("acme", "initial", "CREATE TABLE other (x int);")
    assert db.database_exists("acme") and db.role_exists("acme")
    with pytest.raises(provisio.ProtectedError):
        db.drop_database("acme", confirm="wrong")
    assert db.drop_database("acme", confirm="acme") == "deleted"
    assert db.drop_role("acme", confirm="acme") == "deleted"
    with pytest.raises(provisio.ProtectedError):
        db.delete_server("acme-db")
    assert db.delete_server("acme-db", override_protection="acme-db") == "deleted"


def test_database_dump_and_restore_through_storage(provisio_providers: provisio.Providers) -> None:
    db = provisio_providers.database()
    storage = provisio_providers.storage()
    storage.ensure_bucket("acme-archive")
    db.ensure_role("acme", "role-pass-123")
    db.ensure_database("acme", "acme")
    db.apply_seed("acme", "initial", "CREATE TABLE t (x int);")
    dump = db.dump_to_storage("acme", storage=storage, bucket="acme-archive", key="acme/db.dump")
    assert dump["size"] > 0 and len(dump["sha256"]) == 64
    assert storage.head_object("acme-archive", "acme/db.dump") is not None
    with pytest.raises(provisio.ConflictError):
        db.restore_from_storage("acme", owner="acme", storage=storage, bucket="acme-archive", key="acme/db.dump")
    assert db.drop_database("acme", confirm="acme") == "deleted"
    with pytest.raises(provisio.ConflictError):
        db.restore_from_storage(
            "acme", owner="acme", storage=storage, bucket="acme-archive", key="acme/db.dump", sha256="0" * 64
        )
    restored = db.restore_from_storage(
        "acme", owner="acme", storage=storage, bucket="acme-archive", key="acme/db.dump",
        size=dump["size"], sha256=dump["sha256"],
    )
    assert restored == {"database": "acme", "created": True, "bytes": dump["size"]}
    assert db.apply_seed("acme", "initial", "CREATE TABLE t (x int);")["outcome"] == "unchanged"
    again = asyncio.run(
        db.aio.dump_to_storage("acme", storage=storage.aio, bucket="acme-archive", key="acme/db2.dump")
    )
    assert again["sha256"] == dump["sha256"]
    with pytest.raises(TypeError):
        db.dump_to_storage("acme", storage=db, bucket="acme-archive", key="k")  # type: ignore[arg-type]


def test_repo_branches_and_files(provisio_providers: provisio.Providers) -> None:
    repo = provisio_providers.repo()
    assert repo.ensure_branch("acme")["outcome"] == "created"
    wrote = repo.write_files("acme", {"config.yml": "a: 1\n", "logo.bin": b"\x00\x01"}, message="Configure acme")
    assert wrote["outcome"] == "created" or wrote["outcome"] == "updated"
    assert repo.read_file("acme", "logo.bin") == b"\x00\x01"
    assert repo.write_files("acme", {"config.yml": "a: 1\n"}, message="again")["outcome"] == "unchanged"
    branch = repo.get_branch("acme")
    assert branch is not None and branch["head"] == wrote["value"]["head"]
    assert repo.delete_branch("acme") == "deleted"
    assert repo.read_file("main", "missing.txt") is None


def test_mail_identities(provisio_providers: provisio.Providers) -> None:
    mail = provisio_providers.mail()
    made = mail.ensure_identity("acme.example.com", tags={"tenant": "acme"})
    assert made["outcome"] == "created" and made["value"]["kind"] == "domain"
    ident = mail.get_identity("acme.example.com")
    assert ident is not None and ident["name"] == "acme.example.com"
    assert mail.delete_identity("acme.example.com") == "deleted"
    assert mail.get_identity("acme.example.com") is None


def test_single_provider_from_kind_and_settings() -> None:
    dns = provisio.dns(kind="memory")
    assert dns.info()["name"] == "memory"
    with pytest.raises(provisio.InvalidInputError):
        provisio.dns(kind="no-such-kind")
    with pytest.raises(provisio.InvalidInputError):
        provisio.Providers({"providers": {"dns": {"default": {"kind": "memory", "bogus": 1}}}})
    providers = provisio.Providers({"fallback": "memory", "memory": {"seed": 3}})
    assert ("dns", "default", "memory") in providers.summary
    assert "memory" in provisio.kinds()


def test_faults_and_inventory() -> None:
    # retries off: each injected failure reaches the caller
    providers = provisio.Providers.memory(seed=7, calls={"retry": {"max_attempts": 1}})
    cloud = providers.cloud
    assert cloud is not None
    cloud.apply_fixtures(str(FIXTURES))
    storage = providers.storage()
    cloud.faults.reset_counters()  # the fixtures made calls too
    cloud.faults.error_on_call("storage.put_object", 1, "transient")
    with pytest.raises(provisio.TransientError) as info:
        storage.put_object("provisio-shared-assets", "x.txt", b"x")
    assert info.value.retryable and info.value.operation == "storage.put_object"
    storage.put_object("provisio-shared-assets", "x.txt", b"x")
    assert cloud.faults.calls("storage.put_object") == 2
    assert cloud.faults.mutations("storage.*") == 1
    assert [c["operation"] for c in cloud.faults.injected()] == ["storage.put_object"]
    inventory = cloud.inventory()
    assert "provisio-shared-assets/x.txt" in inventory["storage.object"]
    assert set(inventory["dns.zone"]) == {"example.com"}
    cloud.faults.rate_limit(storage.info()["account"], 1, 60.0)
    storage.head_object("provisio-shared-assets", "x.txt")
    with pytest.raises(provisio.RateLimitedError) as limited:
        storage.head_object("provisio-shared-assets", "x.txt")
    assert limited.value.retryable and limited.value.retry_after is not None and limited.value.retry_after > 0
    cloud.faults.clear()
    assert storage.head_object("provisio-shared-assets", "x.txt") is not None


def test_direct_calls_retry_transient_failures(provisio_providers: provisio.Providers, provisio_cloud: provisio.MemoryCloud) -> None:
    """A direct ensure_record is retried through an injected transient fault, as boto3 would."""
    dns = provisio_providers.dns()
    provisio_cloud.apply_fixtures({"dns": {"zones": [{"name": "example.com"}]}})
    provisio_cloud.faults.reset_counters()
    provisio_cloud.faults.error_on_call("dns.ensure_record", 1, "transient")
    record = dns.ensure_record("example.com", "www.example.com", "A", "192.0.2.10")
    assert record["outcome"] == "created" and record["value"]["content"] == "192.0.2.10"
    assert provisio_cloud.faults.calls("dns.ensure_record") == 2
    assert [c["operation"] for c in provisio_cloud.faults.injected()] == ["dns.ensure_record"]
    assert "A www.example.com" in provisio_cloud.inventory()["dns.record"]

    # a non-retryable failure is not retried; a call that keeps failing gives up after max_attempts
    provisio_cloud.faults.clear()
    provisio_cloud.faults.reset_counters()
    provisio_cloud.faults.error_on_call("dns.ensure_record", 1, "permission_denied")
    with pytest.raises(provisio.PermissionDeniedError):
        dns.ensure_record("example.com", "api.example.com", "A", "192.0.2.11")
    assert provisio_cloud.faults.calls("dns.ensure_record") == 1
    few = provisio.Providers.memory(calls={"retry": {"max_attempts": 3, "initial_backoff_ms": 1, "max_backoff_ms": 2}})
    assert few.cloud is not None
    few.cloud.apply_fixtures({"dns": {"zones": [{"name": "example.com"}]}})
    few.cloud.faults.error_rate("dns.find_zone", 1.0, "transient")
    with pytest.raises(provisio.TransientError):
        few.dns().find_zone("example.com")
    assert few.cloud.faults.calls("dns.find_zone") == 3


def test_logs_reach_python_logging(
    caplog: pytest.LogCaptureFixture, provisio_providers: provisio.Providers, provisio_cloud: provisio.MemoryCloud
) -> None:
    caplog.set_level(logging.DEBUG, logger="provisio")
    provisio.reset_logging()
    provisio_cloud.apply_fixtures({"dns": {"zones": [{"name": "example.com"}]}})
    provisio_cloud.faults.error_on_call("dns.find_zone", 1, "transient")
    assert provisio_providers.dns().find_zone("example.com") is not None
    retried = [r.getMessage() for r in caplog.records if r.name == "provisio.layer.retry"]
    assert retried and "retrying" in retried[0] and "dns.find_zone" in retried[0], retried
    traced = [r for r in caplog.records if r.name == "provisio.layer.trace"]
    assert traced and all(r.levelno == logging.DEBUG for r in traced)


def test_provider_operations_are_awaitable(provisio_providers: provisio.Providers) -> None:
    async def main() -> list[str]:
        dns = provisio_providers.dns().aio
        storage = provisio_providers.storage().aio
        await storage.ensure_bucket("async-bucket")
        puts = [storage.put_object("async-bucket", f"k{i}", b"v") for i in range(10)]
        await asyncio.gather(*puts)
        assert await dns.find_zone("missing.example") is None
        page = await storage.list_objects("async-bucket")
        return [o["key"] for o in page["items"]]

    keys = asyncio.run(main())
    assert len(keys) == 10
