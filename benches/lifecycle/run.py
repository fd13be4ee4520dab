#!/usr/bin/env python3
"""The lifecycle benchmark: `provisio archive` and `provisio restore` of one tenant with 1 GiB
of objects and a 100 MB database, next to the plain script (script.py), on fresh local servers;
then the dump stream alone next to `pg_dump | aws s3 cp -` (README.md).

    ~/.cache/provisio-tools/bench-venv/bin/python run.py --provisio target/release/provisio
    ~/.cache/provisio-tools/bench-venv/bin/python run.py --quick      # 64 MiB + 10 MB, 1 round

Per round and side: fresh servers (moto behind the counting proxy, PostgreSQL logging every
statement; the launch benchmark's servers.py), the bucket and the objects uploaded directly to
moto (not counted), the side's launch, the database filled by the harness (not counted), then
the side's archive and restore, each timed and counted on the servers' side, each followed by
checks on the servers themselves (instance state, every object's storage class, the database's
presence and a checksum of its rows, the dump object). The report goes to stdout and
`report.md`, the raw numbers to `results.json` in the work directory.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "launch-vs-script"))

import boto3  # noqa: E402
import psycopg  # noqa: E402

import counts  # noqa: E402
from servers import HARNESS_APP, Ports, Servers, pg_bindir  # noqa: E402

REPO_ROOT = HERE.parent.parent
TOOLS = pathlib.Path(os.environ.get("PROVISIO_TOOLS_DIR", pathlib.Path.home() / ".cache/provisio-tools"))
AWS_CLI = TOOLS / "awscli-venv" / "bin" / "aws"
REGION = "eu-west-1"
BUCKET = "bench-assets"
TENANT = "acme"
MIB = 1024 * 1024
PROCEDURES = ("launch", "suspend", "resume", "archive", "restore")

PROVIDERS = """# written by benches/lifecycle/run.py
[providers.storage.default]
kind = "aws"
region = "{region}"
endpoint_url = "{endpoint}"

[providers.compute.default]
kind = "aws"
region = "{region}"
endpoint_url = "{endpoint}"

[providers.secrets.default]
kind = "aws"
region = "{region}"
endpoint_url = "{endpoint}"

[providers.database.default]
kind = "postgres"
url = "postgres://postgres@127.0.0.1:{pg_port}/postgres"
sslmode = "disable"
"""


def side_env():
    env = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "PROVISIO_PROVIDERS", "PROVISIO_STATE"):
        env.pop(k, None)
    env.update({
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
        "NO_COLOR": "1", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "PATH": f"{pg_bindir()}:{env.get('PATH', '')}",
    })
    return env


class Round:
    """One side of one round on its own fresh servers."""

    def __init__(self, args, side, round_no):
        self.args, self.side, self.round_no = args, side, round_no
        self.work = pathlib.Path(args.work) / f"round{round_no}-{side}"
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.servers = Servers(self.work, args.ports, sys.executable)
        self.env = side_env()
        self.phases, self.checks, self.failures = {}, {}, []
        self.db_bytes = None

    # -- direct clients (not through the proxy: not counted) ---------------------------------

    def aws(self, service):
        return boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION,
        ).client(service, endpoint_url=f"http://127.0.0.1:{self.args.ports.moto}")

    def pg(self, database="postgres"):
        return psycopg.connect(
            f"postgres://postgres@127.0.0.1:{self.args.ports.postgres}/{database}",
            autocommit=True, application_name=HARNESS_APP)

    # -- preparation --------------------------------------------------------------------------

    def upload_objects(self):
        """`objects` objects of `object_mib` MiB of random bytes under the tenant's prefix."""
        s3 = self.aws("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        size = int(self.args.object_mib * MIB)

        def put(i):
            s3.put_object(Bucket=BUCKET, Key=f"tenants/{TENANT}/assets/{i:05d}.bin",
                          Body=os.urandom(size))

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(put, range(self.args.objects)))

    def fill_database(self):
        """A table owned by the tenant's role, filled until the database is `db_mb` MB: random
        hex text (dumps compress it to about half, as real data)."""
        target = self.args.db_mb * 1_000_000
        with self.pg(TENANT) as db:
            db.execute(f'SET ROLE "{TENANT}"')
            db.execute("CREATE TABLE payload (id bigint PRIMARY KEY, body text NOT NULL)")
            start = 0
            while db.execute("SELECT pg_database_size(current_database())").fetchone()[0] < target:
                db.execute(
                    "INSERT INTO payload SELECT g, md5(random()::text) || md5(random()::text) "
                    "|| md5(random()::text) FROM generate_series(%s, %s) g", (start, start + 99_999))
                start += 100_000
            db.execute("ANALYZE payload")
            return db.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def checksum(self):
        with self.pg(TENANT) as db:
            return list(db.execute(
                "SELECT count(*), md5(string_agg(id::text || ':' || body, ',' ORDER BY id)) "
                "FROM payload").fetchone())

    # -- what the servers hold ----------------------------------------------------------------

    def inventory(self):
        s3, ec2 = self.aws("s3"), self.aws("ec2")
        classes = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"tenants/{TENANT}/"):
            for o in page.get("Contents", []):
                classes[o.get("StorageClass", "STANDARD")] = classes.get(o.get("StorageClass", "STANDARD"), 0) + 1
        states = {}
        for r in ec2.describe_instances()["Reservations"]:
            for i in r["Instances"]:
                states[i["State"]["Name"]] = states.get(i["State"]["Name"], 0) + 1
        try:
            dump = s3.head_object(Bucket=BUCKET, Key=f"archives/{TENANT}/db.dump")["ContentLength"]
        except s3.exceptions.ClientError:
            dump = None
        with self.pg() as db:
            has_db = db.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (TENANT,)).fetchone()[0] == 1
            has_role = db.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (TENANT,)).fetchone()[0] == 1
        return {"object_classes": classes, "instances": states, "dump_bytes": dump,
                "database": has_db, "role": has_role}

    def expect(self, phase, ok, what):
        if not ok:
            self.failures.append(f"{phase}: {what}")

    # -- measuring ----------------------------------------------------------------------------

    def measure(self, phase, argv):
        offsets = self.servers.set_phase(phase)
        cpu0 = self.servers.cpu()
        started = time.monotonic()
        with open(self.work / f"{phase}.log", "wb") as log:
            rc = subprocess.run(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.monotonic() - started
        ends = self.servers.set_phase(f"after-{phase}")
        cpu1 = self.servers.cpu()
        if rc != 0:
            self.failures.append(f"{phase}: exited {rc} (see {self.work / (phase + '.log')})")
        c = counts.aws_counts(self.servers.proxy("/__bench/counts"), phase)
        c += counts.postgres_counts(
            counts.read_slice(self.servers.pg_log, offsets["pg"], ends["pg"]), HARNESS_APP)
        self.phases[phase] = {"wall_s": round(wall, 3),
                              "cpu_s": {k: round(cpu1[k] - cpu0[k], 2) for k in ("moto", "postgres")},
                              "counts": counts.to_rows(c)}
        print(f"  {self.side} {phase}: {wall:.1f} s", file=sys.stderr, flush=True)

    def commands(self, ami):
        proxy = f"http://127.0.0.1:{self.args.ports.proxy}"
        admin = f"postgres://postgres@127.0.0.1:{self.args.ports.postgres}/postgres"
        if self.side == "script":
            base = [sys.executable, str(HERE / "script.py"), "--aws-endpoint", proxy,
                    "--postgres", admin, "--image", ami, "--aws-cli", str(AWS_CLI)]
            return {p: base + [p, TENANT] for p in PROCEDURES}
        providers = self.work / "providers.toml"
        providers.write_text(PROVIDERS.format(region=REGION, endpoint=proxy,
                                              pg_port=self.args.ports.postgres))
        base = [self.args.provisio, "--providers", str(providers), "--state",
                str(self.work / "state.db"), "--no-color"]
        tail = [str(HERE / "blueprint"), "--tenant", TENANT, "--var", f"image={ami}"]
        return {p: base + ["apply" if p == "launch" else p] + tail for p in PROCEDURES}

    def run(self):
        print(f"round {self.round_no}: {self.side}", file=sys.stderr, flush=True)
        ami = self.servers.start()
        try:
            self.upload_objects()
            cmds = self.commands(ami)
            self.measure("launch", cmds["launch"])
            self.db_bytes = self.fill_database()
            before = self.checksum()
            self.checks["launched"] = self.inventory()
            self.measure("suspend", cmds["suspend"])
            inv = self.checks["suspended"] = self.inventory()
            self.expect("suspend", inv["instances"] == {"stopped": 1}, f"instances {inv['instances']}")
            self.measure("resume", cmds["resume"])
            inv = self.checks["resumed"] = self.inventory()
            self.expect("resume", inv["instances"] == {"running": 1}, f"instances {inv['instances']}")
            self.measure("archive", cmds["archive"])
            inv = self.checks["archived"] = self.inventory()
            n = self.args.objects
            self.expect("archive", inv["object_classes"] == {"GLACIER": n}, f"classes {inv['object_classes']}")
            self.expect("archive", not inv["database"] and not inv["role"], "database or role left")
            self.expect("archive", inv["dump_bytes"], "no dump object")
            self.expect("archive", set(inv["instances"]) <= {"terminated"}, f"instances {inv['instances']}")
            self.measure("restore", cmds["restore"])
            inv = self.checks["restored"] = self.inventory()
            after = self.checksum() if inv["database"] else None
            self.checks["checksum"] = {"before": before, "after": after}
            self.expect("restore", inv["object_classes"] == {"STANDARD": n}, f"classes {inv['object_classes']}")
            self.expect("restore", after == before, f"checksum {after} != {before}")
            self.expect("restore", inv["instances"].get("running") == 1, f"instances {inv['instances']}")
            if self.args.throughput and not self.failures:
                self.throughput()
        finally:
            self.servers.stop()
        return {"round": self.round_no, "side": self.side, "phases": self.phases,
                "checks": self.checks, "db_bytes": self.db_bytes, "failures": self.failures,
                "throughput": getattr(self, "stream", None)}

    # -- the dump stream alone ----------------------------------------------------------------

    def throughput(self):
        """The restored database dumped `throughput` times each way, alternating, straight to
        moto (no proxy): `pg_dump > /dev/null` (the floor), `pg_dump | aws s3 cp -`, and
        provisio's `database.dump` (a one-resource blueprint, a fresh state each time)."""
        moto = f"http://127.0.0.1:{self.args.ports.moto}"
        db = f"postgres://postgres@127.0.0.1:{self.args.ports.postgres}/{TENANT}"
        providers = self.work / "providers-direct.toml"
        providers.write_text(PROVIDERS.format(region=REGION, endpoint=moto,
                                              pg_port=self.args.ports.postgres))
        runs = {"pg_dump > /dev/null": [], "pg_dump | aws s3 cp -": [], "provisio database.dump": []}
        sizes = {}
        for i in range(self.args.throughput):
            shell = {
                "pg_dump > /dev/null":
                    f"pg_dump --format=custom --no-owner --dbname='{db}' > /dev/null",
                "pg_dump | aws s3 cp -":
                    f"set -o pipefail; pg_dump --format=custom --no-owner --dbname='{db}' | "
                    f"'{AWS_CLI}' --endpoint-url {moto} --region {REGION} s3 cp - "
                    f"s3://{BUCKET}/throughput/peer-{i}.dump --only-show-errors",
            }
            for name, command in shell.items():
                t = time.monotonic()
                subprocess.run(["bash", "-c", command], env=self.env, check=True)
                runs[name].append(time.monotonic() - t)
            state = self.work / f"dump-state-{i}.db"
            t = time.monotonic()
            subprocess.run([self.args.provisio, "--providers", str(providers), "--state", str(state),
                            "--no-color", "apply", str(HERE / "dump-blueprint"), "--tenant", TENANT,
                            "--var", f"key=throughput/provisio-{i}.dump"],
                           env=self.env, check=True, stdout=subprocess.DEVNULL)
            runs["provisio database.dump"].append(time.monotonic() - t)
        s3 = self.aws("s3")
        sizes["peer"] = s3.head_object(Bucket=BUCKET, Key="throughput/peer-0.dump")["ContentLength"]
        sizes["provisio"] = s3.head_object(Bucket=BUCKET, Key="throughput/provisio-0.dump")["ContentLength"]
        self.stream = {"runs_s": {k: [round(x, 3) for x in v] for k, v in runs.items()},
                       "median_s": {k: round(statistics.median(v), 3) for k, v in runs.items()},
                       "dump_bytes": sizes, "db_bytes": self.db_bytes}
        print(f"  throughput: {self.stream['median_s']}", file=sys.stderr, flush=True)


def by_service(rows):
    out = {}
    for r in rows:
        key = f"{r['service']} {r['rw']}"
        out[key] = out.get(key, 0) + r["count"]
    return out


def markdown(results):
    lines = [f"# Lifecycle benchmark ({results['objects']} objects x {results['object_mib']} MiB, "
             f"{results['db_mb']} MB database)", "",
             "| round | side | launch (s) | suspend (s) | resume (s) | archive (s) | restore (s) "
             "| moto CPU archive / restore (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results["rounds"]:
        p = r["phases"]
        lines.append(f"| {r['round']} | {r['side']} | {p['launch']['wall_s']} | {p['suspend']['wall_s']} | "
                     f"{p['resume']['wall_s']} | {p['archive']['wall_s']} | "
                     f"{p['restore']['wall_s']} | {p['archive']['cpu_s']['moto']} / {p['restore']['cpu_s']['moto']} |")
    lines += ["", "Requests (counted on the servers; first round of each side):", ""]
    for side in ("script", "provisio"):
        first = next((r for r in results["rounds"] if r["side"] == side), None)
        if not first:
            continue
        for phase in ("suspend", "resume", "archive", "restore"):
            lines.append(f"- {side} {phase}: " + ", ".join(
                f"{k} {v}" for k, v in sorted(by_service(first["phases"][phase]["counts"]).items())))
            ops = {f"{r['service']} {r['op']}": r["count"] for r in first["phases"][phase]["counts"]
                   if r["rw"] != "control"}
            lines.append("  - " + ", ".join(f"{k}: {v}" for k, v in sorted(ops.items())))
    for r in results["rounds"]:
        if r.get("throughput"):
            t = r["throughput"]
            lines += ["", f"Dump stream, round {r['round']} ({r['side']} servers), database "
                      f"{t['db_bytes'] / 1e6:.1f} MB, dump {t['dump_bytes']['provisio'] / 1e6:.1f} MB "
                      f"(peer {t['dump_bytes']['peer'] / 1e6:.1f} MB):", ""]
            for k, v in t["median_s"].items():
                lines.append(f"- {k}: median {v} s of {t['runs_s'][k]} "
                             f"({t['dump_bytes']['provisio'] / 1e6 / v:.1f} MB/s of dump)")
    failures = [f for r in results["rounds"] for f in r["failures"]]
    lines += ["", "Failures: " + ("; ".join(failures) if failures else "none")]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provisio", default=str(REPO_ROOT / "target" / "release" / "provisio"))
    parser.add_argument("--objects", type=int, default=1024)
    parser.add_argument("--object-mib", type=float, default=1.0)
    parser.add_argument("--db-mb", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--throughput", type=int, default=3,
                        help="dump stream runs of each kind after provisio's restore (0: none)")
    parser.add_argument("--quick", action="store_true", help="64 x 1 MiB, 10 MB, 1 round")
    parser.add_argument("--only", choices=["script", "provisio"])
    parser.add_argument("--work", default="/tmp/provisio-lifecycle-bench")
    parser.add_argument("--ports", default="5711,5712,55711,22711",
                        help="proxy,moto,postgres,sshd ports on 127.0.0.1")
    args = parser.parse_args()
    if args.quick:
        args.objects, args.db_mb, args.rounds, args.throughput = 64, 10, 1, 1
    args.ports = Ports(*(int(p) for p in args.ports.split(",")))
    if not AWS_CLI.exists():
        parser.error(f"{AWS_CLI} is missing: run setup.sh first")
    if args.only != "script" and not os.access(args.provisio, os.X_OK):
        parser.error(f"{args.provisio} is not executable: cargo build --release -p provisio-cli")
    pathlib.Path(args.work).mkdir(parents=True, exist_ok=True)
    sides = [args.only] if args.only else ["script", "provisio"]
    results = {"objects": args.objects, "object_mib": args.object_mib, "db_mb": args.db_mb,
               "rounds": [], "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "loadavg_before": open("/proc/loadavg").read().split()[:3]}
    for r in range(args.rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        for side in order:
            rnd = Round(args, side, r)
            if side == "script":
                rnd.args = argparse.Namespace(**{**vars(args), "throughput": 0})
            results["rounds"].append(rnd.run())
    results["loadavg_after"] = open("/proc/loadavg").read().split()[:3]
    (pathlib.Path(args.work) / "results.json").write_text(json.dumps(results, indent=1))
    text = markdown(results)
    (pathlib.Path(args.work) / "report.md").write_text(text)
    print(text)
    return 1 if any(r["failures"] for r in results["rounds"]) else 0


if __name__ == "__main__":
    sys.exit(main())
