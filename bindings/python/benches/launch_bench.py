"""The Python side of the Python overhead benchmark (docs/performance.md, "Python binding"):
launches the example tenant N times (default 100, one after another) on memory providers and an
in-memory state store, like benches/launch_bench.rs does in Rust. Run by hand against a release
build (`maturin develop --release`):

    python bindings/python/benches/launch_bench.py 100
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any

import provisio

ROOT = pathlib.Path(__file__).resolve().parents[3] / "examples" / "launch-tenant"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for label, with_events in (("python", False), ("python+events", True)):
        for round_ in range(3):
            providers = provisio.Providers.memory(fixtures=ROOT / "memory-fixtures.yaml")
            engine = provisio.Engine(providers, "memory")
            blueprint = provisio.Blueprint.load(ROOT)
            events: list[dict[str, Any]] = []
            on_event = events.append if with_events else None
            started = time.perf_counter()
            for i in range(n):
                engine.apply(blueprint, f"t{i}", secrets={"smtp_password": "smtp-credential-0123"}, on_event=on_event)
            secs = time.perf_counter() - started
            print(f"{label} round {round_}: {n} launches in {secs:.3f} s ({secs * 1000 / n:.2f} ms/launch)"
                  + (f", {len(events)} events" if with_events else ""))


if __name__ == "__main__":
    main()
