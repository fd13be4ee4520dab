"""provisio: launch, upgrade and retire SaaS tenants from Python.

The synchronous API lives here; ``provisio.aio`` has the asyncio twins. See ``docs/python.md``.

    import provisio

    providers = provisio.Providers.memory(fixtures="examples/launch-tenant/memory-fixtures.yaml")
    engine = provisio.Engine(providers, state="memory")
    report = engine.apply("examples/launch-tenant", "acme", secrets={"smtp_password": "s3cret"})
"""

from __future__ import annotations

from typing import Any

from . import aio, errors
from ._native import (
    Blueprint,
    Ci,
    Compute,
    Database,
    Dns,
    Engine,
    Faults,
    Mail,
    MemoryCloud,
    Providers,
    Repo,
    Secrets,
    StateStore,
    Storage,
    __version__,
    kinds,
    reset_logging,
)
from ._support import Secret, Step, StepContext, step
from .errors import (
    AlreadyExistsError,
    CancelledError,
    ConflictError,
    Error,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    ProtectedError,
    ProvisioTimeoutError,
    RateLimitedError,
    TransientError,
    UnauthenticatedError,
    UnexpectedError,
    UnsupportedError,
)

TimeoutError = ProvisioTimeoutError
"""``provisio.TimeoutError`` is ``ProvisioTimeoutError`` (a subclass of both ``provisio.Error``
and the built-in ``TimeoutError``); not exported by ``from provisio import *``."""

__all__ = [
    "AlreadyExistsError",
    "Blueprint",
    "CancelledError",
    "Ci",
    "Compute",
    "ConflictError",
    "Database",
    "Dns",
    "Engine",
    "Error",
    "Faults",
    "InvalidInputError",
    "Mail",
    "MemoryCloud",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtectedError",
    "Providers",
    "ProvisioTimeoutError",
    "RateLimitedError",
    "Repo",
    "Secret",
    "Secrets",
    "StateStore",
    "Step",
    "StepContext",
    "Storage",
    "TransientError",
    "UnauthenticatedError",
    "UnexpectedError",
    "UnsupportedError",
    "__version__",
    "aio",
    "ci",
    "compute",
    "database",
    "dns",
    "errors",
    "kinds",
    "reset_logging",
    "mail",
    "repo",
    "secrets",
    "step",
    "storage",
]


def _single(capability: str, kind: str, settings: dict[str, Any]) -> Providers:
    return Providers({"providers": {capability: {"default": {"kind": kind, **settings}}}})


def dns(kind: str = "memory", **settings: Any) -> Dns:
    """One DNS provider of ``kind`` with the kind's provider-config settings, e.g.
    ``provisio.dns(kind="cloudflare", zone_id=...)``."""
    return _single("dns", kind, settings).dns()


def storage(kind: str = "memory", **settings: Any) -> Storage:
    """One object storage provider (``provisio.storage(kind="aws", region="eu-west-1")``)."""
    return _single("storage", kind, settings).storage()


def compute(kind: str = "memory", **settings: Any) -> Compute:
    """One compute provider."""
    return _single("compute", kind, settings).compute()


def ci(kind: str = "memory", **settings: Any) -> Ci:
    """One CI server (``provisio.ci(kind="jenkins", url=...)``)."""
    return _single("ci", kind, settings).ci()


def secrets(kind: str = "memory", **settings: Any) -> Secrets:
    """One secret store."""
    return _single("secrets", kind, settings).secrets()


def database(kind: str = "memory", **settings: Any) -> Database:
    """One database provider (``provisio.database(kind="postgres", url=...)``)."""
    return _single("database", kind, settings).database()


def repo(kind: str = "memory", **settings: Any) -> Repo:
    """One git repository (``provisio.repo(kind="git", url=...)``)."""
    return _single("repo", kind, settings).repo()


def mail(kind: str = "memory", **settings: Any) -> Mail:
    """One mail-sending provider."""
    return _single("mail", kind, settings).mail()
