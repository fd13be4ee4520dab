"""Launch one tenant from a Python Automator, the way a back office would.

    python examples/launch.py acme                     # memory providers, in-memory state
    python examples/launch.py acme --providers providers.toml --state .provisio/state.db
    python examples/launch.py acme --destroy
    python examples/launch.py acme globex initech --concurrent   # asyncio, several at once

The SMTP password is read from $PROVISIO_SECRET_SMTP_PASSWORD (never from the command line).
Ctrl-C cancels the run cleanly: steps not yet run are skipped, the lease is released.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import sys
from typing import Any, Optional

import provisio

BLUEPRINT = pathlib.Path(__file__).resolve().parents[3] / "examples" / "launch-tenant"


def show(event: dict[str, Any]) -> None:
    """Prints run events as they arrive."""
    kind = event["type"]
    if kind == "step_succeeded":
        print(f"  {event['tenant']}: {event['resource']:<22} {event['outcome']} ({event['duration_ms']} ms)")
    elif kind == "step_retrying":
        print(f"  {event['tenant']}: {event['resource']:<22} retrying in {event['delay_ms']} ms: {event['reason']}")
    elif kind == "step_failed":
        print(f"  {event['tenant']}: {event['resource']:<22} FAILED: {event['error']['message']}")
    elif kind == "run_finished":
        print(f"  {event['tenant']}: done {event['summary']}")


def providers_for(path: Optional[str]) -> provisio.Providers:
    if path is not None:
        return provisio.Providers(path)
    return provisio.Providers.memory(fixtures=BLUEPRINT / "memory-fixtures.yaml")


def launch(engine: provisio.Engine, tenant: str, smtp_password: provisio.Secret) -> None:
    plan = engine.plan(BLUEPRINT, tenant, secrets={"smtp_password": smtp_password})
    print(f"{tenant}: plan {plan['counts']}")
    if not plan["has_changes"]:
        return
    try:
        engine.apply(BLUEPRINT, tenant, secrets={"smtp_password": smtp_password}, on_event=show)
    except provisio.Error as e:
        print(f"{tenant}: launch failed ({e.kind}, retryable={e.retryable}): {e}", file=sys.stderr)
        raise
    for name, outputs in sorted(engine.outputs(tenant).items()):
        if name in ("dns_prod", "dns_stg", "web"):
            print(f"  {name}: {outputs}")


async def launch_many(engine: provisio.aio.Engine, tenants: list[str], smtp_password: provisio.Secret) -> None:
    reports = await asyncio.gather(
        *(engine.apply(BLUEPRINT, t, secrets={"smtp_password": smtp_password}, on_event=show) for t in tenants),
        return_exceptions=True,
    )
    for tenant, report in zip(tenants, reports):
        status = "ok" if isinstance(report, dict) else f"failed: {report}"
        print(f"{tenant}: {status}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tenants", nargs="+")
    parser.add_argument("--providers", help="provider configuration file (default: memory providers)")
    parser.add_argument("--state", default="memory", help="memory, a SQLite path or a PostgreSQL URL")
    parser.add_argument("--destroy", action="store_true", help="tear the tenants down instead")
    parser.add_argument("--concurrent", action="store_true", help="launch the tenants at once (asyncio)")
    args = parser.parse_args(argv)

    smtp_password = provisio.Secret(os.environ.get("PROVISIO_SECRET_SMTP_PASSWORD", "example-smtp-password"))
    engine = provisio.Engine(providers_for(args.providers), args.state)
    try:
        if args.destroy:
            for tenant in args.tenants:
                report = engine.destroy(BLUEPRINT, tenant, on_event=show)
                print(f"{tenant}: destroyed, kept {report['kept_protected']}")
        elif args.concurrent:
            asyncio.run(launch_many(engine.aio, args.tenants, smtp_password))
        else:
            for tenant in args.tenants:
                launch(engine, tenant, smtp_password)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except provisio.Error:
        return 1
    finally:
        engine.providers.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
