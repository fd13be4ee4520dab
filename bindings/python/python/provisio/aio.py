"""The asyncio API: the same engine and providers, with coroutine methods.

    engine = provisio.aio.Engine(providers, state="memory")
    report = await engine.apply("examples/launch-tenant", "acme", secrets={...})

Every native object also has an ``.aio`` twin (``provisio.Engine(...).aio``,
``providers.dns().aio``) sharing the same providers, state and rate limits. Cancelling the
awaiting task cancels the run through the engine's cancellation token; the coroutine waits for
the run to stop cleanly, then raises ``asyncio.CancelledError``.
"""

from __future__ import annotations

from ._native import (
    AsyncCi as Ci,
    AsyncCompute as Compute,
    AsyncDatabase as Database,
    AsyncDns as Dns,
    AsyncEngine as Engine,
    AsyncMail as Mail,
    AsyncRepo as Repo,
    AsyncSecrets as Secrets,
    AsyncStorage as Storage,
)

__all__ = ["Ci", "Compute", "Database", "Dns", "Engine", "Mail", "Repo", "Secrets", "Storage"]
