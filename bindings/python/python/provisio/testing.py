"""pytest fixtures for applications that provision with provisio.

Enable them in your ``conftest.py``::

    pytest_plugins = ["provisio.testing"]

Fixtures (each test gets fresh ones):

- ``provisio_providers``: memory providers for every capability (seed 7). Mark a test with
  ``@pytest.mark.provisio_fixtures("path/to/memory-fixtures.yaml")`` (or a dict) to start from
  fixtures, and ``@pytest.mark.provisio_seed(42)`` for another seed.
- ``provisio_cloud``: their memory world: ``inventory()``, ``faults``, ``retired()``.
- ``provisio_state``: an in-memory state store.
- ``provisio_engine``: an engine over the two (synchronous; ``.aio`` for asyncio).

Hand ``provisio_providers`` (or ``provisio_engine``) to the code under test, run it, then assert
on ``provisio_cloud.inventory()``.
"""

from __future__ import annotations

from typing import Any

import pytest

from ._native import Engine, MemoryCloud, Providers, StateStore

__all__ = ["provisio_cloud", "provisio_engine", "provisio_providers", "provisio_state"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "provisio_fixtures(fixtures): memory fixtures (path or dict) for provisio_providers"
    )
    config.addinivalue_line("markers", "provisio_seed(seed): the memory providers' seed")


@pytest.fixture
def provisio_providers(request: pytest.FixtureRequest) -> Providers:
    """Memory providers for every capability."""
    fixtures_marker = request.node.get_closest_marker("provisio_fixtures")
    seed_marker = request.node.get_closest_marker("provisio_seed")
    fixtures: Any = fixtures_marker.args[0] if fixtures_marker else None
    seed: int = seed_marker.args[0] if seed_marker else 7
    return Providers.memory(seed=seed, fixtures=fixtures)


@pytest.fixture
def provisio_cloud(provisio_providers: Providers) -> MemoryCloud:
    """The memory world behind ``provisio_providers``."""
    cloud = provisio_providers.cloud
    assert cloud is not None
    return cloud


@pytest.fixture
def provisio_state() -> StateStore:
    """An in-memory state store."""
    return StateStore.memory()


@pytest.fixture
def provisio_engine(provisio_providers: Providers, provisio_state: StateStore) -> Engine:
    """An engine over ``provisio_providers`` and ``provisio_state``."""
    return Engine(provisio_providers, provisio_state)
