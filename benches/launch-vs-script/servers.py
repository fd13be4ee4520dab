"""Fresh local servers for one side of one round: moto behind the counting proxy, a PostgreSQL
cluster that logs every statement and connection, and an sshd that serves one bare git
repository through a logging forced command.

Every process is started here, its PID written to `<work>/pids`, and stopped by that PID
(never by name). Nothing listens anywhere but 127.0.0.1.
"""

import json
import os
import pathlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import tenant_shape as shape

HERE = pathlib.Path(__file__).resolve().parent
TOOLS = pathlib.Path(os.environ.get("PROVISIO_TOOLS_DIR", pathlib.Path.home() / ".cache/provisio-tools"))
MOTO_SERVER = TOOLS / "moto-venv" / "bin" / "moto_server"
# What the harness sets as application_name, so its own statements are left out of the counts.
HARNESS_APP = "bench-harness"


class Ports:
    """The loopback ports of one run (see README.md: proxy, moto, PostgreSQL, sshd)."""

    def __init__(self, proxy=5701, moto=5702, postgres=55701, sshd=22701):
        self.proxy, self.moto, self.postgres, self.sshd = proxy, moto, postgres, sshd


def wait_for_port(port, seconds, what):
    """Waits until something accepts connections on 127.0.0.1:`port`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what}: nothing listens on 127.0.0.1:{port} after {seconds} s")


def port_is_free(port):
    """Whether nothing listens on 127.0.0.1:`port`."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def pg_bindir():
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return found[-1].parent


def cpu_seconds(pid):
    """CPU seconds of `pid` and of its children it has reaped (utime+stime+cutime+cstime from
    /proc/<pid>/stat): for the postmaster and the listening sshd this includes every finished
    backend and ssh session."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / os.sysconf("SC_CLK_TCK")


class Servers:
    """The servers of one side of one round, under the work directory `work`."""

    def __init__(self, work, ports, python):
        self.work = pathlib.Path(work)
        self.ports = ports
        self.python = python
        self.pids = {}
        self.children = {}
        self.user = pwd.getpwuid(os.getuid()).pw_name

    # -- bookkeeping ---------------------------------------------------------------------------

    def record(self, name, pid):
        self.pids[name] = pid
        with open(self.work / "pids", "a") as f:
            f.write(f"{name} {pid}\n")

    def stop(self):
        """Stops every recorded process by PID: TERM (INT for PostgreSQL: fast shutdown), then
        KILL after 10 s."""
        for name, pid in reversed(list(self.pids.items())):
            sig = signal.SIGINT if name == "postgres" else signal.SIGTERM
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                if name in self.children:
                    self.children[name].poll()
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        for child in self.children.values():
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.pids.clear()
        (self.work / "pids").unlink(missing_ok=True)

    # -- start ---------------------------------------------------------------------------------

    def start(self):
        """Starts everything and prepares the world both sides expect: the hosted zone, the
        AMI, and the repository's `main` branch. Returns the AMI id."""
        self.work.mkdir(parents=True, exist_ok=True)
        for port in (self.ports.proxy, self.ports.moto, self.ports.postgres, self.ports.sshd):
            if not port_is_free(port):
                raise RuntimeError(f"127.0.0.1:{port} is taken: stop what listens there first")
        try:
            self.start_moto()
            self.start_postgres()
            self.start_sshd()
            return self.prepare_aws()
        except BaseException:
            self.stop()
            raise

    def spawn(self, name, argv, log, **kw):
        out = open(self.work / log, "ab")
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kw)
        self.children[name] = child
        self.record(name, child.pid)
        return child

    def start_moto(self):
        if not MOTO_SERVER.exists():
            raise RuntimeError(f"{MOTO_SERVER} is missing: run setup.sh first")
        self.spawn("moto", [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.ports.moto)], "moto.log")
        self.spawn(
            "proxy",
            [self.python, str(HERE / "count_proxy.py"), "--listen", f"127.0.0.1:{self.ports.proxy}",
             "--upstream", f"127.0.0.1:{self.ports.moto}", "--log", str(self.work / "proxy.jsonl")],
            "proxy.log",
        )
        wait_for_port(self.ports.moto, 60, "moto")
        wait_for_port(self.ports.proxy, 10, "counting proxy")

    def start_postgres(self):
        bindir = pg_bindir()
        pg = self.work / "pg"
        if pg.exists():
            shutil.rmtree(pg)
        pg.mkdir()
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            subprocess.run(["useradd", "--system", "--create-home", "postgres"], check=True)
        shutil.chown(pg, "postgres")
        as_postgres = ["su", "postgres", "-s", "/bin/sh", "-c"]
        subprocess.run(
            as_postgres + [f"'{bindir}/initdb' -D '{pg}/data' -A trust -U postgres --no-sync"],
            check=True, stdout=subprocess.DEVNULL,
        )
        options = " ".join([
            f"-p {self.ports.postgres}", f"-k '{pg}'", "-c listen_addresses=127.0.0.1",
            "-c fsync=off", "-c max_connections=200",
            # Every statement and every connection, with the application name to tell the
            # sides and the harness apart.
            "-c log_statement=all", "-c log_connections=on",
            "-c log_line_prefix='%m [%p] %a|%u@%d| '",
        ])
        subprocess.run(
            as_postgres + [f"'{bindir}/pg_ctl' -D '{pg}/data' -w -t 60 -l '{pg}/postgres.log' "
                           f"-o \"{options}\" start"],
            check=True, stdout=subprocess.DEVNULL,
        )
        pid = int((pg / "data" / "postmaster.pid").read_text().split()[0])
        self.record("postgres", pid)
        wait_for_port(self.ports.postgres, 30, "PostgreSQL")

    def start_sshd(self):
        sshd = shutil.which("sshd") or "/usr/sbin/sshd"
        if not os.path.exists(sshd):
            raise RuntimeError("sshd is not installed (Debian: apt-get install openssh-server)")
        d = self.work / "ssh"
        d.mkdir(exist_ok=True)
        for key in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)],
                           check=True)
        shutil.copy(d / "client_key.pub", d / "authorized_keys")
        os.chmod(d / "authorized_keys", 0o600)
        host_pub = " ".join((d / "host_key.pub").read_text().split()[:2])
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.ports.sshd} {host_pub}\n")
        # The forced command logs each git transfer (upload-pack = a read: ls-remote or fetch;
        # receive-pack = a write: push) before running it: counted on the server's side.
        wrapper = d / "git-transfer.sh"
        wrapper.write_text(
            "#!/bin/sh\n"
            "# Logs the git transfer this ssh session runs, then runs it.\n"
            f"printf '%s %s\\n' \"$(date +%s.%N)\" \"$SSH_ORIGINAL_COMMAND\" >> '{d}/transfers.log'\n"
            "exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"
        )
        wrapper.chmod(0o755)
        (d / "sshd_config").write_text(
            f"ListenAddress 127.0.0.1\nPort {self.ports.sshd}\nHostKey {d}/host_key\n"
            f"AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            "PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n"
            f"PidFile {d}/sshd.pid\nForceCommand {wrapper}\nMaxStartups 100:30:200\n"
        )
        (d / "transfers.log").touch()
        os.makedirs("/run/sshd", exist_ok=True)
        subprocess.run([sshd, "-f", str(d / "sshd_config"), "-E", str(d / "sshd.log")], check=True)
        for _ in range(50):
            if (d / "sshd.pid").exists() and (d / "sshd.pid").read_text().strip():
                break
            time.sleep(0.1)
        self.record("sshd", int((d / "sshd.pid").read_text()))
        wait_for_port(self.ports.sshd, 10, "sshd")
        repo = self.repo_path
        if repo.exists():
            shutil.rmtree(repo)
        subprocess.run(["git", "init", "--quiet", "--bare", "-b", shape.BASE_BRANCH, str(repo)], check=True)
        seed = self.work / "git-seed"
        if seed.exists():
            shutil.rmtree(seed)
        subprocess.run(["git", "init", "--quiet", "-b", shape.BASE_BRANCH, str(seed)], check=True)
        (seed / "README.md").write_text("# Tenant configuration\n\nOne branch per tenant.\n")
        git = ["git", "-C", str(seed), "-c", "user.name=Seeder", "-c", "user.email=seed@example.test"]
        subprocess.run(git + ["add", "README.md"], check=True)
        subprocess.run(git + ["commit", "--quiet", "-m", "initial"], check=True)
        subprocess.run(git + ["push", "--quiet", str(repo), shape.BASE_BRANCH], check=True)
        shutil.rmtree(seed)

    def prepare_aws(self):
        """The hosted zone and the AMI, created directly on moto (not through the proxy, so
        they are not counted). Returns the AMI id."""
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=shape.REGION)
        endpoint = f"http://127.0.0.1:{self.ports.moto}"
        route53 = session.client("route53", endpoint_url=endpoint)
        route53.create_hosted_zone(Name=shape.DOMAIN, CallerReference=f"bench-{time.time()}")
        ec2 = session.client("ec2", endpoint_url=endpoint)
        image = ec2.register_image(
            Name="bench-web-image", RootDeviceName="/dev/sda1", Architecture="x86_64",
            VirtualizationType="hvm",
            BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
        )
        return image["ImageId"]

    # -- what the sides connect to ------------------------------------------------------------

    @property
    def repo_path(self):
        return self.work / "git" / "tenants.git"

    @property
    def git_url(self):
        return f"ssh://{self.user}@127.0.0.1:{self.ports.sshd}{self.repo_path}"

    @property
    def pg_log(self):
        return self.work / "pg" / "postgres.log"

    @property
    def transfers_log(self):
        return self.work / "ssh" / "transfers.log"

    def ssh_command(self):
        """The ssh command both sides' git uses (the same key, known_hosts and options)."""
        d = self.work / "ssh"
        return (f"ssh -o BatchMode=yes -o IdentitiesOnly=yes -i '{d}/client_key' "
                f"-o StrictHostKeyChecking=yes -o UserKnownHostsFile='{d}/known_hosts'")

    def proxy(self, path, method="GET"):
        req = urllib.request.Request(f"http://127.0.0.1:{self.ports.proxy}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def set_phase(self, name):
        """Switches the phase under which the proxy counts, and returns the byte offsets of the
        PostgreSQL and git logs (where this phase starts in them)."""
        self.proxy(f"/__bench/phase?name={name}", method="POST")
        time.sleep(0.2)  # let PostgreSQL finish writing the previous phase's lines
        return {"pg": self.pg_log.stat().st_size, "git": self.transfers_log.stat().st_size}

    def cpu(self):
        """CPU seconds so far of moto, PostgreSQL (with its finished backends) and sshd (with
        its finished sessions, git included)."""
        return {name: cpu_seconds(self.pids[name]) for name in ("moto", "postgres", "sshd")}


def render_providers(servers, path):
    """Writes the provider file for this side from `providers.toml.in`."""
    text = (HERE / "providers.toml.in").read_text()
    for key, value in {
        "@PROXY_PORT@": str(servers.ports.proxy),
        "@REGION@": shape.REGION,
        "@PG_PORT@": str(servers.ports.postgres),
        "@GIT_URL@": servers.git_url,
        "@GIT_CACHE@": str(servers.work / "provisio-git-cache"),
        "@SSH_KEY@": str(servers.work / "ssh" / "client_key"),
        "@KNOWN_HOSTS@": str(servers.work / "ssh" / "known_hosts"),
    }.items():
        text = text.replace(key, value)
    pathlib.Path(path).write_text(text)


if __name__ == "__main__":
    print("servers.py is a module of run.py", file=sys.stderr)
    sys.exit(2)
