#!/usr/bin/env python3
"""A counting reverse proxy in front of moto: every AWS request of both sides goes through it.

Each request is forwarded unchanged (method, path, headers — SigV4 signs the Host header, so it
is kept — and body) to the upstream, and counted by *phase* (set by the harness), AWS service
and operation, as a read or a write:

- service: the SigV4 credential scope (`Credential=<key>/<date>/<region>/<service>/aws4_request`);
- operation: `X-Amz-Target` (JSON protocols: Secrets Manager), `Action=` (query protocols: EC2),
  or, for REST protocols (S3, Route 53), the method and the path with ids and keys folded
  (`GET bucket?versioning`, `POST hostedzone/{id}/rrset`);
- read: a GET or HEAD, or an operation named `List*`, `Describe*`, `Get*`, `BatchGet*`;
  everything else is a write.

Control endpoints (not forwarded, not counted): `POST /__bench/phase?name=<phase>` switches the
phase, `GET /__bench/counts` returns every count as JSON, `GET /__bench/health` answers 200.
With `--log FILE` each request is also written as one JSON line (Unix time, phase, service, op,
rw, status, milliseconds).

    python3 count_proxy.py --listen 127.0.0.1:5701 --upstream 127.0.0.1:5702 --log proxy.jsonl

Python standard library only; one thread per client connection, one upstream connection per
thread (keep-alive on both sides).
"""

import argparse
import collections
import http.client
import http.server
import json
import re
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade",
}
# Not forwarded either: the proxy answers `Expect: 100-continue` itself and sends the whole body.
NOT_FORWARDED = HOP_BY_HOP | {"expect"}
READ_PREFIXES = ("List", "Describe", "Get", "BatchGet", "Head")
SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
QUERY_SCOPE = re.compile(r"X-Amz-Credential=[^&]*?%2F([a-z0-9-]+)%2Faws4_request", re.I)
ROUTE53_ID = re.compile(r"/(hostedzone|change|delegationset|healthcheck)/[^/?]+")


class Counts:
    """Thread-safe counters: phase -> (service, operation, rw) -> n."""

    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.phase = "default"
        self.by_phase = collections.defaultdict(collections.Counter)
        self.log = open(log_path, "a", buffering=1) if log_path else None

    def set_phase(self, name):
        with self.lock:
            self.phase = name

    def add(self, service, op, rw, status, millis, at):
        with self.lock:
            self.by_phase[self.phase][(service, op, rw)] += 1
            if self.log:
                self.log.write(json.dumps({
                    "t": round(at, 4), "phase": self.phase, "service": service, "op": op, "rw": rw,
                    "status": status, "ms": round(millis, 1),
                }) + "\n")

    def snapshot(self):
        with self.lock:
            return {
                phase: [
                    {"service": s, "op": o, "rw": rw, "count": n}
                    for (s, o, rw), n in sorted(counter.items())
                ]
                for phase, counter in self.by_phase.items()
            }


def service_of(headers, path):
    """The AWS service from the SigV4 scope (header or presigned query), else `unknown`."""
    auth = headers.get("Authorization", "")
    m = SCOPE.search(auth)
    if m:
        return m.group(1)
    m = QUERY_SCOPE.search(path)
    return m.group(1) if m else "unknown"


def s3_operation(method, path):
    """`METHOD bucket[/key][?subresources]` with the names folded, e.g. `PUT object`,
    `GET bucket?list-type`, `PUT bucket?tagging`."""
    parsed = urllib.parse.urlsplit(path)
    parts = [p for p in parsed.path.split("/") if p]
    target = "service" if not parts else ("bucket" if len(parts) == 1 else "object")
    keys = sorted(k for k, _ in urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
                  if k not in {"prefix", "max-keys", "continuation-token", "start-after",
                               "delimiter", "encoding-type", "fetch-owner", "x-id"})
    return f"{method} {target}" + (f"?{'&'.join(keys)}" if keys else "")


def rest_operation(method, path):
    """A REST request (Route 53 and others): method and path with ids folded."""
    parsed = urllib.parse.urlsplit(path)
    folded = ROUTE53_ID.sub(lambda m: f"/{m.group(1)}/{{id}}", parsed.path)
    folded = re.sub(r"^/\d{4}-\d{2}-\d{2}", "", folded).rstrip("/")
    return f"{method} {folded}"


def operation_of(service, method, path, headers, body):
    """The operation's name (see the module docs)."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    ctype = headers.get("Content-Type", "")
    if method == "POST" and "x-www-form-urlencoded" in ctype:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
    if "Action" in query:
        return query["Action"][0]
    if service == "s3":
        return s3_operation(method, path)
    return rest_operation(method, path)


def is_read(method, op):
    """GET/HEAD, or a List/Describe/Get operation."""
    if method in ("GET", "HEAD"):
        return True
    return op.startswith(READ_PREFIXES)


class Handler(http.server.BaseHTTPRequestHandler):
    """Forwards one request and counts it."""

    protocol_version = "HTTP/1.1"
    server_version = "count-proxy"

    def log_message(self, fmt, *args):  # the JSON log replaces the access log
        pass

    def upstream(self):
        conn = getattr(self, "_upstream", None)
        if conn is None:
            host, port = self.server.upstream
            conn = http.client.HTTPConnection(host, port, timeout=120)
            self._upstream = conn
        return conn

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def control(self):
        parsed = urllib.parse.urlsplit(self.path)
        counts = self.server.counts
        if parsed.path == "/__bench/phase":
            name = urllib.parse.parse_qs(parsed.query).get("name", ["default"])[0]
            counts.set_phase(name)
            payload = {"phase": name}
        elif parsed.path == "/__bench/counts":
            payload = counts.snapshot()
        else:
            payload = {"ok": True}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self):
        if self.path.startswith("/__bench/"):
            self.read_body()
            return self.control()
        started, at = time.monotonic(), time.time()
        body = self.read_body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in NOT_FORWARDED}
        if body or self.command in ("PUT", "POST"):
            headers["Content-Length"] = str(len(body))
        service = service_of(self.headers, self.path)
        op = operation_of(service, self.command, self.path, self.headers, body)
        for attempt in (1, 2):
            conn = self.upstream()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                # A keep-alive connection the upstream closed: reconnect once.
                conn.close()
                self._upstream = None
                if attempt == 2:
                    self.send_error(502, "upstream unreachable")
                    return
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if self.command == "HEAD":
            length = resp.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        rw = "read" if is_read(self.command, op) else "write"
        self.server.counts.add(service, op, rw, resp.status, (time.monotonic() - started) * 1000, at)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = forward


class Server(http.server.ThreadingHTTPServer):
    """The listening server, holding the upstream address and the counters."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, listen, upstream, counts):
        super().__init__(listen, Handler)
        self.upstream = upstream
        self.counts = counts


def address(text):
    """`host:port` -> (host, port)."""
    host, port = text.rsplit(":", 1)
    return host, int(port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="host:port to listen on")
    parser.add_argument("--upstream", required=True, help="host:port of moto")
    parser.add_argument("--log", help="append one JSON line per request here")
    args = parser.parse_args()
    server = Server(address(args.listen), address(args.upstream), Counts(args.log))
    print(f"counting proxy on {args.listen} -> {args.upstream}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
