"""Offline checks of the harness's classification and parsing (no servers needed):

    ~/.cache/provisio-tools/bench-venv/bin/python -m unittest test_harness
"""

import unittest

import count_proxy
import counts
import endstate
import gen_blueprint
import tenant_shape as shape

PG_LOG = """\
2026-12-02 04:11:24.176 UTC [14197] [unknown]|postgres@postgres| LOG:  connection authorized: user=postgres database=postgres application_name=provisio
2026-12-02 04:11:24.190 UTC [14197] provisio|postgres@postgres| LOG:  execute s0: SELECT rolname
\tFROM pg_roles WHERE rolname = $1
2026-12-02 04:11:24.190 UTC [14197] provisio|postgres@postgres| DETAIL:  parameters: $1 = 'tenant-00'
2026-12-02 04:11:24.200 UTC [14197] provisio|postgres@postgres| LOG:  statement: CREATE ROLE "tenant-00" LOGIN
2026-12-02 04:11:24.210 UTC [14198] [unknown]|postgres@postgres| LOG:  connection authorized: user=postgres database=postgres application_name=bench-harness
2026-12-02 04:11:24.211 UTC [14198] bench-harness|postgres@postgres| LOG:  statement: SELECT 1
2026-12-02 04:11:24.220 UTC [14199] ops-script|tenant-00@tenant-00| LOG:  statement: BEGIN
2026-12-02 04:11:24.221 UTC [14199] ops-script|tenant-00@tenant-00| ERROR:  relation "x" does not exist
2026-12-02 04:11:24.222 UTC [14199] ops-script|tenant-00@tenant-00| LOG:  statement: REVOKE CONNECT, TEMPORARY ON DATABASE "t" FROM PUBLIC
"""


class ProxyClassification(unittest.TestCase):
    def test_service_comes_from_the_sigv4_scope(self):
        auth = ("AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/secretsmanager/aws4_request, "
                "SignedHeaders=host, Signature=abc")
        self.assertEqual(count_proxy.service_of({"Authorization": auth}, "/"), "secretsmanager")
        self.assertEqual(count_proxy.service_of({}, "/"), "unknown")

    def test_operations_per_protocol(self):
        op = count_proxy.operation_of
        self.assertEqual(op("secretsmanager", "POST", "/", {"X-Amz-Target": "secretsmanager.CreateSecret"}, b""),
                         "CreateSecret")
        form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        self.assertEqual(op("ec2", "POST", "/", form, b"Action=DescribeInstances&Version=2016-11-15"),
                         "DescribeInstances")
        self.assertEqual(op("s3", "GET", "/b?list-type=2&prefix=assets%2F", {}, b""), "GET bucket?list-type")
        self.assertEqual(op("s3", "PUT", "/b/assets/a.txt?x-id=PutObject", {}, b""), "PUT object")
        self.assertEqual(op("route53", "POST", "/2013-04-01/hostedzone/Z1ABC/rrset/", {}, b""),
                         "POST /hostedzone/{id}/rrset")

    def test_reads_and_writes(self):
        self.assertTrue(count_proxy.is_read("HEAD", "HEAD object"))
        self.assertTrue(count_proxy.is_read("POST", "DescribeSecret"))
        self.assertFalse(count_proxy.is_read("POST", "CreateSecret"))
        self.assertFalse(count_proxy.is_read("PUT", "PUT object"))


class ServerLogs(unittest.TestCase):
    def test_postgres_statements_and_connections_without_the_harness(self):
        c = counts.postgres_counts(PG_LOG, "bench-harness")
        self.assertEqual(c[("postgres", "connection", "connect")], 1)
        self.assertEqual(c[("postgres", "SELECT", "read")], 1)
        self.assertEqual(c[("postgres", "CREATE ROLE", "write")], 1)
        self.assertEqual(c[("postgres", "BEGIN", "control")], 1)
        self.assertEqual(c[("postgres", "REVOKE CONNECT", "write")], 1)
        self.assertEqual(sum(c.values()), 5)

    def test_git_transfers(self):
        log = ("1.0 git-upload-pack '/r.git'\n2.0 git-receive-pack '/r.git'\n"
               "3.0 git-upload-pack '/r.git'\n")
        c = counts.git_counts(log)
        self.assertEqual(c[("git", "git-upload-pack", "read")], 2)
        self.assertEqual(c[("git", "git-receive-pack", "write")], 1)


class Shape(unittest.TestCase):
    def test_assets_are_twenty_deterministic_2kb_objects(self):
        files = shape.asset_files()
        self.assertEqual(len(files), 20)
        self.assertTrue(all(len(v.encode()) == 2048 for v in files.values()))
        self.assertEqual(files, shape.asset_files())
        self.assertEqual(len(set(files.values())), 20)

    def test_the_committed_blueprint_is_generated_from_the_shape(self):
        self.assertEqual(gen_blueprint.TARGET.read_text(), gen_blueprint.render())


class EndState(unittest.TestCase):
    def test_differences_name_the_path_and_by_design_ones_are_known(self):
        a = {"t": {"database": {"seed_bookkeeping": [], "tables": [1]}}}
        b = {"t": {"database": {"seed_bookkeeping": [["provisio", "seeds"]], "tables": [1]}}}
        diffs = endstate.differences(a, b)
        self.assertEqual(len(diffs), 1)
        self.assertTrue(diffs[0].startswith("/t/database/seed_bookkeeping:"))
        self.assertIsNotNone(endstate.expected(diffs[0]))
        self.assertIsNone(endstate.expected("/t/storage/tags: 1 != 2"))


if __name__ == "__main__":
    unittest.main()
