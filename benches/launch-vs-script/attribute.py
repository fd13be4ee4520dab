#!/usr/bin/env python3
"""Where provisio's requests go, per resource: one tenant on fresh servers, one step at a time
(`--step-concurrency 1`), each server-side request attributed to the step that was running
when the server saw it (by time: the proxy's, PostgreSQL's and sshd's logs against the engine's
`step_started` / `step_succeeded` events).

    ~/.cache/provisio-tools/bench-venv/bin/python attribute.py            # launch + refresh

Two runs on the same servers: the first launch (`fleet apply` of the one tenant, the path the
benchmark measures) and then `provisio refresh`, which reads every recorded resource exactly as
a refresh plan does. Requests outside any step (engine start-up, the plan) are listed as
`(outside steps)`. Prints a markdown table per run.
"""

import argparse
import bisect
import collections
import datetime
import json
import subprocess
import sys
import time

import counts
from run import HERE, Side, default_provisio
from servers import HARNESS_APP, Ports, render_providers


RW = {"read": "reads", "write": "writes", "control": "BEGIN/COMMIT/SET", "connect": "connections"}


def step_windows(ndjson):
    """[(start, end, resource)] in Unix seconds from the CLI's NDJSON events."""
    started, windows = {}, []
    for line in ndjson.splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind, res = ev.get("type"), ev.get("resource")
        if kind == "step_started":
            started[res] = ev["at_ms"] / 1000
        elif kind in ("step_succeeded", "step_failed") and res in started:
            windows.append((started.pop(res), ev["at_ms"] / 1000, res))
    return sorted(windows)


def owner(windows, t, whole_ms=False):
    """The resource of the last step started before `t` that had not finished by then. Steps
    run one at a time, so the latest start settles it (`refresh` reports every step's end at
    its very end). Event times are whole milliseconds; so are PostgreSQL's log times
    (`whole_ms`), and a statement logged in the millisecond a step started belongs to the step
    before (a new step's first statement follows a new connection); 1 ms of slack at the end."""
    starts = [w[0] for w in windows]
    i = (bisect.bisect_left(starts, t) if whole_ms else bisect.bisect_right(starts, t)) - 1
    if i >= 0 and t <= windows[i][1] + 0.001:
        return windows[i][2]
    return "(outside steps)"


def requests(servers, since):
    """(t, service, op, rw) of every counted request since Unix time `since`."""
    out = []
    for line in open(servers.work / "proxy.jsonl"):
        r = json.loads(line)
        if r["t"] >= since:
            out.append((r["t"], r["service"], r["op"], r["rw"]))
    apps = {}
    for line in servers.pg_log.read_text().splitlines():
        m = counts.PG_LINE.match(line)
        if not m:
            continue
        t = datetime.datetime.strptime(m.group(1).rsplit(" ", 1)[0], "%Y-%m-%d %H:%M:%S.%f")
        t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
        pid, app, message = m.group(2), m.group(3), m.group(7)
        if message.startswith("connection authorized"):
            a = counts.PG_APP.search(message)
            apps[pid] = a.group(1) if a else app
            if t >= since and apps[pid] != HARNESS_APP:
                out.append((t, "postgres", "connection", "connect"))
            continue
        s = counts.PG_STATEMENT.match(message)
        if t >= since and s and m.group(6) == "LOG" and (app or apps.get(pid)) != HARNESS_APP:
            op, rw = counts.pg_operation(s.group(1))
            out.append((t, "postgres", op, rw))
    for line in servers.transfers_log.read_text().splitlines():
        stamp, command = line.split(None, 2)[:2]
        if float(stamp) >= since:
            rw = "read" if command == "git-upload-pack" else "write"
            out.append((float(stamp), "git", command, rw))
    return sorted(out)


def table(title, windows, reqs):
    per = collections.defaultdict(collections.Counter)
    ops = collections.defaultdict(collections.Counter)
    for t, service, op, rw in reqs:
        res = owner(windows, t, whole_ms=service == "postgres")
        per[res][(service, rw)] += 1
        ops[res][f"{service} {op}"] += 1
    lines = [f"### {title}", "", "| resource | requests | by service | operations |",
             "|---|---|---|---|"]
    order = [w[2] for w in windows] + ["(outside steps)"]
    for res in order:
        if res not in per:
            continue
        c = per[res]
        services = ", ".join(f"{s} {n} {RW[rw]}" for (s, rw), n in sorted(c.items()))
        opnames = ", ".join(f"{o} ×{n}" for o, n in sorted(ops[res].items()))
        lines.append(f"| {res} | {sum(c.values())} | {services} | {opnames} |")
    lines.append(f"| **total** | **{len(reqs)}** | | |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provisio", default=default_provisio())
    parser.add_argument("--work", default="/tmp/provisio-bench-attribute")
    parser.add_argument("--ports", default="5701,5702,55701,22701")
    args = parser.parse_args()
    args.ports = Ports(*(int(p) for p in args.ports.split(",")))
    args.compare, args.no_reapply, args.fleet_has_refresh = 0, True, False
    side = Side(args, "provisio", 0)
    servers = side.servers
    ami = servers.start()
    try:
        env = side.env()
        providers = side.work / "providers.toml"
        render_providers(servers, providers)
        tenant = "tenant-00"
        (side.work / "tenants.json").write_text(json.dumps([{"name": tenant}]))
        base = [args.provisio, "--providers", str(providers), "--state", str(side.work / "state.db"),
                "--json", "--step-concurrency", "1"]
        blueprint = str(HERE / "blueprint")
        servers.set_phase("launch")
        since = time.time()
        launch = subprocess.run(base + ["fleet", "apply", blueprint, "--tenants",
                                        str(side.work / "tenants.json"), "--concurrency", "1",
                                        "--var", f"image={ami}", "--fleet-id", "attribute"],
                                env=env, capture_output=True, text=True)
        if launch.returncode != 0:
            sys.exit(f"fleet apply failed: {launch.stderr[-2000:]}")
        servers.set_phase("refresh")
        middle = time.time()
        refresh = subprocess.run(base + ["refresh", blueprint, "--tenant", tenant,
                                         "--var", f"image={ami}"],
                                 env=env, capture_output=True, text=True)
        if refresh.returncode != 0:
            sys.exit(f"refresh failed: {refresh.stderr[-2000:]}")
        servers.set_phase("harness")
        end = time.time()
        (side.work / "launch.ndjson").write_text(launch.stdout)
        (side.work / "refresh.ndjson").write_text(refresh.stdout)
        all_reqs = requests(servers, since)
        first = [r for r in all_reqs if r[0] < middle]
        second = [r for r in all_reqs if middle <= r[0] < end]
        print(table("First launch (`fleet apply`, one tenant, one step at a time)",
                    step_windows(launch.stdout), first))
        print()
        print(table("`provisio refresh` of the launched tenant", step_windows(refresh.stdout), second))
    finally:
        servers.stop()


if __name__ == "__main__":
    main()
