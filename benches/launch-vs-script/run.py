#!/usr/bin/env python3
"""The launch benchmark: provisio's `fleet apply` next to the plain operator script, on fresh
local servers, alternating, round after round; then provisio's no-change re-applies.

    ~/.cache/provisio-tools/bench-venv/bin/python run.py --quick          # 3 tenants, 1 round
    ~/.cache/provisio-tools/bench-venv/bin/python run.py                  # 20 tenants, 3 rounds

Per round and side: start fresh servers (moto behind the counting proxy, PostgreSQL logging
every statement, sshd + a new bare repository), create the hosted zone and the AMI, run the
side for every tenant, read the counts and CPU seconds, dump the end state, stop the servers.
Rounds alternate which side goes first. The markdown report goes to stdout and `report.md`,
the raw numbers to `results.json` (both in the work directory). See README.md.
"""

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import time

import counts
import endstate
import report
import tenant_shape as shape
from servers import HARNESS_APP, Ports, Servers, render_providers

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent


def default_provisio():
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO_ROOT / "target")
    return str(pathlib.Path(target) / "debug" / "provisio")


def child_cpu():
    """CPU seconds of every child process this harness has waited for (the side's process and
    everything it ran: git, ssh)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Side:
    """One side of one round on its own fresh servers."""

    def __init__(self, args, name, round_no):
        self.args, self.name, self.round_no = args, name, round_no
        self.work = pathlib.Path(args.work) / f"round{round_no}-{name}"
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.servers = Servers(self.work, args.ports, sys.executable)
        self.phases = {}
        self.failures = []

    def env(self):
        env = dict(os.environ)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PROVISIO_PROVIDERS", "PROVISIO_STATE"):
            env.pop(k, None)
        env.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": shape.REGION, "AWS_EC2_METADATA_DISABLED": "true", "NO_COLOR": "1",
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        })
        return env

    def measure(self, phase, commands, env):
        """Runs `commands` one after another as the phase `phase` and records wall time, CPU
        seconds and the servers' counts."""
        offsets = self.servers.set_phase(phase)
        cpu0, client0 = self.servers.cpu(), child_cpu()
        log = open(self.work / f"{phase}.log", "wb")
        started = time.monotonic()
        for argv in commands:
            rc = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
            if rc != 0:
                self.failures.append(f"{phase}: `{' '.join(argv[:6])} ...` exited {rc} "
                                     f"(see {self.work / (phase + '.log')})")
        wall = time.monotonic() - started
        ends = self.servers.set_phase(f"after-{phase}")
        cpu1, client1 = self.servers.cpu(), child_cpu()
        c = counts.aws_counts(self.servers.proxy("/__bench/counts"), phase)
        c += counts.postgres_counts(
            counts.read_slice(self.servers.pg_log, offsets["pg"], ends["pg"]), HARNESS_APP)
        c += counts.git_counts(
            counts.read_slice(self.servers.transfers_log, offsets["git"], ends["git"]))
        cpu = {k: round(cpu1[k] - cpu0[k], 2) for k in cpu0}
        cpu["client"] = round(client1 - client0, 2)
        self.phases[phase] = {"wall_s": round(wall, 3), "cpu_s": cpu, "commands": len(commands),
                              "counts": counts.to_rows(c)}
        print(f"  {self.name} {phase}: {wall:.1f} s", file=sys.stderr, flush=True)

    def run(self, tenants):
        print(f"round {self.round_no}: {self.name} ({len(tenants)} tenants)", file=sys.stderr)
        ami = self.servers.start()
        try:
            env = self.env()
            if self.name == "script":
                self.run_script(tenants, ami, env)
            else:
                self.run_provisio(tenants, ami, env)
            self.servers.set_phase("harness")
            self.endstate = endstate.dump(self.servers, tenants[: self.args.compare])
        finally:
            self.servers.stop()
        return {"round": self.round_no, "side": self.name, "phases": self.phases,
                "failures": self.failures}

    def run_script(self, tenants, ami, env):
        env = dict(env, GIT_SSH_COMMAND=self.servers.ssh_command())
        argv = [sys.executable, str(HERE / "script.py"),
                "--aws-endpoint", f"http://127.0.0.1:{self.args.ports.proxy}",
                "--postgres", f"postgres://postgres@127.0.0.1:{self.args.ports.postgres}/postgres",
                "--git-url", self.servers.git_url, "--image", ami,
                "--workdir", str(self.work / "script")]
        (self.work / "script").mkdir()
        self.measure("launch", [argv + tenants], env)

    def run_provisio(self, tenants, ami, env):
        providers = self.work / "providers.toml"
        render_providers(self.servers, providers)
        (self.work / "tenants.json").write_text(json.dumps([{"name": t} for t in tenants]))
        base = [self.args.provisio, "--providers", str(providers),
                "--state", str(self.work / "state.db"), "--no-color"]
        blueprint = str(HERE / "blueprint")

        def fleet(fleet_id, *extra):
            return base + ["fleet", "apply", blueprint, "--tenants", str(self.work / "tenants.json"),
                           "--concurrency", str(self.args.concurrency), "--var", f"image={ami}",
                           "--fleet-id", fleet_id, *extra]

        self.measure("launch", [fleet("launch")], env)
        if self.args.no_reapply:
            return
        if self.args.fleet_has_refresh:
            self.measure("reapply-refresh", [fleet("reapply-refresh", "--refresh")], env)
        else:
            # `fleet apply` has no refresh option: a no-change fleet re-apply (new fleet id, so
            # no tenant is skipped) trusts the state store, and `apply` per tenant refreshes.
            self.measure("reapply-fleet", [fleet("reapply")], env)
            self.measure("reapply-refresh", [
                base + ["apply", blueprint, "--tenant", t, "--var", f"image={ami}"] for t in tenants
            ], env)


def fleet_has_refresh(provisio):
    out = subprocess.run([provisio, "fleet", "apply", "--help"], capture_output=True, text=True)
    return "--refresh" in out.stdout


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 tenants, 1 round (smoke test)")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="fleet apply --concurrency")
    parser.add_argument("--first", choices=["script", "provisio"], default="script",
                        help="which side goes first in round 0 (then they alternate)")
    parser.add_argument("--provisio", default=default_provisio(), help="the provisio binary")
    parser.add_argument("--work", default="/tmp/provisio-bench", help="work directory")
    parser.add_argument("--only", choices=["script", "provisio"],
                        help="run one side only (debugging; no ratio, no end-state comparison)")
    parser.add_argument("--no-reapply", action="store_true", help="skip the re-apply phases")
    parser.add_argument("--compare", type=int, default=2,
                        help="tenants whose end state is compared between the sides")
    parser.add_argument("--ports", default="5701,5702,55701,22701",
                        help="proxy,moto,postgres,sshd ports on 127.0.0.1")
    args = parser.parse_args()
    if args.quick:
        args.tenants, args.rounds = 3, 1
    args.ports = Ports(*(int(p) for p in args.ports.split(",")))
    if args.only != "script" and not os.access(args.provisio, os.X_OK):
        parser.error(f"{args.provisio} is not executable: cargo build -p provisio-cli first")
    args.fleet_has_refresh = args.only != "script" and fleet_has_refresh(args.provisio)
    return args


def main():
    args = parse_args()
    pathlib.Path(args.work).mkdir(parents=True, exist_ok=True)
    tenants = shape.tenant_names(args.tenants)
    sides = ["script", "provisio"] if args.first == "script" else ["provisio", "script"]
    if args.only:
        sides = [args.only]
    results = {"tenants": args.tenants, "rounds": [], "endstate": [], "concurrency": args.concurrency,
               "provisio": args.provisio, "fleet_has_refresh": args.fleet_has_refresh,
               "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        dumps = {}
        for name in order:
            side = Side(args, name, r)
            results["rounds"].append(dict(side.run(tenants), order=order.index(name)))
            dumps[name] = side.endstate
        if len(dumps) == 2:
            results["endstate"].append({"round": r, "tenants": args.compare,
                                        "differences": endstate.differences(dumps["script"], dumps["provisio"])})
        (pathlib.Path(args.work) / f"endstate-round{r}.json").write_text(
            json.dumps(dumps, indent=1, sort_keys=True))
    results["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    (pathlib.Path(args.work) / "results.json").write_text(json.dumps(results, indent=1))
    text = report.markdown(results)
    (pathlib.Path(args.work) / "report.md").write_text(text)
    print(text)
    failed = [f for r in results["rounds"] for f in r["failures"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
