"""What one side left on the servers for some tenants, normalized so that the two sides can be
compared: ids, addresses, timestamps, random salts and secret values are replaced by what they
must satisfy (the A record holds *the instance's* address; a secret has the declared length and
alphabet; a password is stored as a SCRAM verifier). Read directly from moto, PostgreSQL and
the bare repository, never through the proxy or sshd, so it is not counted.
"""

import hashlib
import subprocess

import boto3
import psycopg

import tenant_shape as shape
from servers import HARNESS_APP


def _aws(servers, service):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=shape.REGION)
    return session.client(service, endpoint_url=f"http://127.0.0.1:{servers.ports.moto}")


def _tags(tag_list):
    return {t["Key"]: t["Value"] for t in tag_list or []}


def storage(s3, tenant):
    bucket = shape.bucket_name(tenant)
    try:
        tags = _tags(s3.get_bucket_tagging(Bucket=bucket)["TagSet"])
    except s3.exceptions.ClientError as e:
        tags = f"error {e.response['Error']['Code']}"
    try:
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError as e:
        block = f"error {e.response['Error']['Code']}"
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=obj["Key"])
            objects[obj["Key"]] = {"size": obj["Size"], "etag": obj["ETag"],
                                   "content_type": head.get("ContentType")}
    expected = {shape.ASSET_PREFIX + k: hashlib.md5(v.encode()).hexdigest()
                for k, v in shape.asset_files().items()}
    content_ok = all(objects.get(k, {}).get("etag", "").strip('"') == md5
                     for k, md5 in expected.items())
    return {"tags": tags, "public_access_block": block, "versioning": versioning,
            "objects": {k: {"size": v["size"], "content_type": v["content_type"]}
                        for k, v in objects.items()},
            "objects_hold_the_declared_bytes": content_ok}


def compute(ec2, tenant):
    found = ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": [shape.instance_name(tenant)]}])
    instances = [i for r in found["Reservations"] for i in r["Instances"]]
    out = []
    for i in instances:
        volumes = ec2.describe_volumes(Filters=[{"Name": "attachment.instance-id",
                                                 "Values": [i["InstanceId"]]}])["Volumes"]
        out.append({"state": i["State"]["Name"], "type": i["InstanceType"],
                    "tags": _tags(i.get("Tags")),
                    "volume_tags": [_tags(v.get("Tags")) for v in volumes]})
    ips = [i.get("PublicIpAddress") for i in instances]
    return out, ips


def dns(route53, tenant, instance_ips):
    zone = route53.list_hosted_zones_by_name(DNSName=shape.DOMAIN, MaxItems="1")["HostedZones"][0]
    names = {shape.hostname(tenant), shape.staging_hostname(tenant), shape.txt_name(tenant)}
    out = {}
    for page in route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone["Id"]):
        for rs in page["ResourceRecordSets"]:
            name = rs["Name"].rstrip(".")
            if name not in names:
                continue
            values = [r["Value"] for r in rs.get("ResourceRecords", [])]
            if rs["Type"] == "A":
                values = ["<the instance's public address>" if v in instance_ips else v for v in values]
            out.setdefault(f"{name} {rs['Type']}", []).append({"ttl": rs.get("TTL"), "values": values})
    return out


def secret_store(sm, tenant):
    out = {}
    for resource, (_, length) in shape.SECRETS.items():
        name = shape.secret_name(tenant, resource)
        try:
            meta = sm.describe_secret(SecretId=name)
            value = sm.get_secret_value(SecretId=name)["SecretString"]
        except sm.exceptions.ResourceNotFoundException:
            out[name] = "missing"
            continue
        out[name] = {"tags": _tags(meta.get("Tags")),
                     "versions": len(meta.get("VersionIdsToStages", {})),
                     "value_has_declared_length": len(value) == length,
                     "value_in_alphabet": set(value) <= set(shape.SECRET_ALPHABET)}
    return out


def database(pg_url, tenant):
    with psycopg.connect(pg_url, autocommit=True, application_name=HARNESS_APP) as admin:
        role = admin.execute(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls, rolinherit, left(rolpassword, 14) FROM pg_authid WHERE rolname = %s",
            (tenant,)).fetchone()
        db = admin.execute(
            "SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
            (tenant,)).fetchone()
    out = {"role": list(role) if role else "missing",
           "database": list(db) if db else "missing"}
    if db:
        with psycopg.connect(pg_url, dbname=tenant, autocommit=True,
                             application_name=HARNESS_APP) as conn:
            tables = [list(r) for r in conn.execute(
                "SELECT schemaname, tablename, tableowner FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")]
            out["tables"] = [t for t in tables if t[0] != "provisio"]
            out["seed_bookkeeping"] = [t for t in tables if t[0] == "provisio"]
            out["settings"] = [list(r) for r in conn.execute("SELECT * FROM settings ORDER BY 1")]
    return out


def repository(repo, tenant):
    def git(*args):
        return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True,
                              text=True, check=False).stdout.strip()

    main = git("rev-parse", f"refs/heads/{shape.BASE_BRANCH}")
    out = {}
    for branch in (tenant, f"dev-{tenant}"):
        head = git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
        if not head:
            out[branch] = "missing"
            continue
        files = {}
        for line in git("ls-tree", "-r", head).splitlines():
            meta, path = line.split("\t", 1)
            files[path] = meta.split()[0] + " " + hashlib.sha256(
                git("cat-file", "blob", meta.split()[2]).encode()).hexdigest()[:16]
        out[branch] = {
            "commits_on_main": int(git("rev-list", "--count", f"{main}..{head}") or 0),
            "based_on_main": git("merge-base", main, head) == main,
            "message": git("log", "-1", "--format=%s", head),
            "author": git("log", "-1", "--format=%an <%ae>", head),
            "files": files,
        }
    return out


def dump(servers, tenants):
    """The normalized end state of `tenants` on `servers`."""
    s3, ec2 = _aws(servers, "s3"), _aws(servers, "ec2")
    route53, sm = _aws(servers, "route53"), _aws(servers, "secretsmanager")
    pg_url = f"postgres://postgres@127.0.0.1:{servers.ports.postgres}/postgres"
    out = {}
    for tenant in tenants:
        instances, ips = compute(ec2, tenant)
        out[tenant] = {
            "storage": storage(s3, tenant),
            "compute": instances,
            "dns": dns(route53, tenant, ips),
            "secrets": secret_store(sm, tenant),
            "database": database(pg_url, tenant),
            "repo": repository(servers.repo_path, tenant),
        }
    return out


# Differences that are by design, with the reason (README.md, "Known differences").
EXPECTED = {
    "seed_bookkeeping": "provisio records applied seeds in provisio.seeds (owned by the admin); "
                        "the script keeps no bookkeeping",
}


def expected(difference):
    """Why a difference line is by design, or None."""
    key = difference.split(":", 1)[0].rsplit("/", 1)[-1]
    return EXPECTED.get(key)


def differences(a, b, path=""):
    """Paths where two dumps differ, as `path: a != b` lines."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            out += differences(a.get(k, "<absent>"), b.get(k, "<absent>"), f"{path}/{k}")
        return out
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]
