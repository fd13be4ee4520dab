"""Request counts on the servers' side, per phase: AWS from the counting proxy, PostgreSQL from
its statement log, git from the ssh forced command's transfer log.

Every count is a `Counter` keyed by `(service, operation, rw)` with `rw` one of `read`, `write`
(and, for PostgreSQL, `control` for BEGIN/COMMIT/SET and `connect` for new connections), so the
three sources add up in one table.
"""

import collections
import re

# `%m [%p] %a|%u@%d| ` (servers.py), then the severity and the message.
PG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \S+) \[(\d+)\] (.*?)\|(.*?)@(.*?)\| (\w+):  (.*)$")
PG_STATEMENT = re.compile(r"^(?:statement|execute [^:]*): (.*)$", re.S)
PG_APP = re.compile(r"application_name=(\S+)")
PG_READS = ("SELECT", "SHOW", "VALUES", "TABLE")
PG_CONTROL = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SET", "RESET", "SAVEPOINT",
              "RELEASE", "DISCARD", "DEALLOCATE")


def first_word(statement):
    """The statement's first keyword, upper-case, after comments and whitespace."""
    text = statement.lstrip()
    while text.startswith("--") or text.startswith("/*"):
        text = text.split("\n", 1)[1] if text.startswith("--") else text.split("*/", 1)[1]
        text = text.lstrip()
    return (text.split(None, 1) or [""])[0].rstrip(";").upper()


def pg_operation(statement):
    """(operation, rw) of one logged statement: the first keyword(s) and read/write/control."""
    word = first_word(statement)
    if word in PG_READS:
        return word, "read"
    if word in PG_CONTROL:
        return word, "control"
    words = statement.split()
    op = " ".join(w.upper().rstrip(",;") for w in words[:2]) if word in ("CREATE", "ALTER", "DROP", "GRANT",
                                                           "REVOKE", "INSERT") else word
    return op, "write"


def pg_entries(text):
    """(pid, app, severity, message) per log entry; continuation lines join their entry."""
    entry = None
    for line in text.splitlines():
        m = PG_LINE.match(line)
        if m:
            if entry:
                yield entry
            entry = [m.group(2), m.group(3), m.group(6), m.group(7)]
        elif entry:
            entry[3] += "\n" + line
    if entry:
        yield entry


def postgres_counts(log_text, exclude_app):
    """Statements and connections in a slice of the PostgreSQL log, without those of the
    application `exclude_app` (the harness)."""
    counts = collections.Counter()
    apps = {}
    for pid, app, severity, message in pg_entries(log_text):
        if message.startswith("connection authorized"):
            m = PG_APP.search(message)
            apps[pid] = m.group(1) if m else app
            if apps[pid] != exclude_app:
                counts[("postgres", "connection", "connect")] += 1
            continue
        if severity != "LOG":
            continue
        m = PG_STATEMENT.match(message)
        if not m:
            continue
        if (app or apps.get(pid)) == exclude_app:
            continue
        op, rw = pg_operation(m.group(1))
        counts[("postgres", op, rw)] += 1
    return counts


def git_counts(log_text):
    """Transfers in a slice of the ssh transfer log: upload-pack (ls-remote, fetch, clone) is a
    read, receive-pack (push) a write."""
    counts = collections.Counter()
    for line in log_text.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 2:
            continue
        command = parts[1]
        if command in ("git-upload-pack", "git-receive-pack"):
            rw = "read" if command == "git-upload-pack" else "write"
            counts[("git", command, rw)] += 1
        else:
            counts[("git", command, "other")] += 1
    return counts


def aws_counts(proxy_snapshot, phase):
    """The proxy's counts of one phase."""
    counts = collections.Counter()
    for row in proxy_snapshot.get(phase, []):
        counts[(row["service"], row["op"], row["rw"])] += row["count"]
    return counts


def read_slice(path, start, end):
    """The text of `path` between two byte offsets."""
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(end - start).decode("utf-8", "replace")


def by_service(counts):
    """service -> rw -> n."""
    out = collections.defaultdict(collections.Counter)
    for (service, _, rw), n in counts.items():
        out[service][rw] += n
    return out


def to_rows(counts):
    """JSON-friendly rows."""
    return [{"service": s, "op": o, "rw": rw, "count": n} for (s, o, rw), n in sorted(counts.items())]


def from_rows(rows):
    """The inverse of `to_rows`."""
    return collections.Counter({(r["service"], r["op"], r["rw"]): r["count"] for r in rows})
