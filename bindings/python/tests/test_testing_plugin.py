"""What an application's own test suite does with provisio.testing: hand the fixtures to its
code, then assert on what it provisioned."""

from __future__ import annotations

from typing import Any

import pytest

import provisio

from conftest import FIXTURES, LAUNCH, SMTP


def onboard_customer(engine: provisio.Engine, name: str, smtp_password: str) -> dict[str, Any]:
    """Application code under test: launches a tenant."""
    return engine.apply(LAUNCH, name, secrets={"smtp_password": smtp_password})


@pytest.mark.provisio_fixtures(str(FIXTURES))
def test_the_application_provisioned_a_tenant(
    provisio_engine: provisio.Engine, provisio_cloud: provisio.MemoryCloud
) -> None:
    onboard_customer(provisio_engine, "globex", SMTP["smtp_password"])
    inventory = provisio_cloud.inventory()
    assert "A globex.example.com" in inventory["dns.record"]
    assert "globex" in inventory["database.database"]
    assert any(key.startswith("provisio-shared-assets/tenants/globex/") for key in inventory["storage.object"])


@pytest.mark.provisio_seed(42)
def test_fresh_world_per_test(provisio_cloud: provisio.MemoryCloud, provisio_state: provisio.StateStore) -> None:
    assert provisio_cloud.seed == 42
    assert provisio_cloud.inventory().get("dns.record") is None
    assert repr(provisio_state) == "StateStore(memory)"


@pytest.mark.provisio_fixtures({"dns": {"zones": [{"name": "example.org"}]}})
def test_fixtures_as_data(provisio_providers: provisio.Providers) -> None:
    assert provisio_providers.dns().find_zone("example.org") is not None
