#!/usr/bin/env python3
"""The plain launch script an ops team would write: boto3, psycopg and the git CLI, one tenant
after another, one step after another. It is the yardstick provisio is measured against.

For each tenant: create the bucket (public access blocked, tagged), put the 20 objects, find
the instance by its Name tag or run it (tagged) and wait until it runs, look up the zone and
UPSERT the three records in one change batch and wait for it, create the three secrets
(tagged), CREATE ROLE / CREATE DATABASE / REVOKE CONNECT FROM PUBLIC, run the seed SQL as the
tenant's role, and commit the three rendered files to two new branches and push them.

    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
    GIT_SSH_COMMAND="ssh -i ... -o UserKnownHostsFile=..." \\
    python3 script.py --aws-endpoint http://127.0.0.1:5701 \\
        --postgres postgres://postgres@127.0.0.1:55701/postgres \\
        --git-url ssh://root@127.0.0.1:22701/.../tenants.git --image ami-... \\
        --workdir /tmp/ops-script tenant-00 tenant-01 ...

The resources end in the same state as provisio's (checked by endstate.py); the differences
that remain are listed in README.md.
"""

import argparse
import pathlib
import secrets
import shutil
import subprocess

import boto3
import psycopg
from psycopg import sql

import tenant_shape as shape


def tag_list(tenant, resource):
    """Ownership tags as AWS `[{Key, Value}]`."""
    return [{"Key": k, "Value": v} for k, v in shape.ownership_tags(tenant, resource).items()]


def generate_secret(length):
    """A random secret from provisio's default alphabet."""
    return "".join(secrets.choice(shape.SECRET_ALPHABET) for _ in range(length))


class Launcher:
    """The clients the script opens once, and one method per step of a launch."""

    def __init__(self, args):
        session = boto3.session.Session(region_name=shape.REGION)
        self.s3 = session.client("s3", endpoint_url=args.aws_endpoint)
        self.ec2 = session.client("ec2", endpoint_url=args.aws_endpoint)
        self.route53 = session.client("route53", endpoint_url=args.aws_endpoint)
        self.secrets = session.client("secretsmanager", endpoint_url=args.aws_endpoint)
        self.pg_url = args.postgres
        self.admin = psycopg.connect(args.postgres, autocommit=True, application_name="ops-script")
        self.image = args.image
        self.checkout = pathlib.Path(args.workdir) / "tenants"
        if self.checkout.exists():
            shutil.rmtree(self.checkout)
        self.git("clone", "--quiet", args.git_url, str(self.checkout), cwd=None)
        name, email = shape.COMMIT_AUTHOR
        self.git("config", "user.name", name)
        self.git("config", "user.email", email)

    def git(self, *args, cwd=True):
        subprocess.run(["git", *args], cwd=self.checkout if cwd else None, check=True)

    def launch(self, tenant):
        self.bucket(tenant)
        ip = self.instance(tenant)
        self.records(tenant, ip)
        passwords = self.create_secrets(tenant)
        self.database(tenant, passwords["db_password"])
        self.branches(tenant)

    def bucket(self, tenant):
        bucket = shape.bucket_name(tenant)
        if shape.REGION == "us-east-1":
            self.s3.create_bucket(Bucket=bucket)
        else:
            self.s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": shape.REGION})
        self.s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True, "IgnorePublicAcls": True,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
            },
        )
        self.s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tag_list(tenant, "bucket")})
        for key, text in shape.asset_files().items():
            self.s3.put_object(Bucket=bucket, Key=shape.ASSET_PREFIX + key, Body=text.encode(),
                               ContentType=shape.ASSET_CONTENT_TYPE)

    def instance(self, tenant):
        name = shape.instance_name(tenant)
        found = self.ec2.describe_instances(Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ])
        instances = [i for r in found["Reservations"] for i in r["Instances"]]
        if instances:
            instance_id = instances[0]["InstanceId"]
        else:
            tags = [{"Key": "Name", "Value": name}] + tag_list(tenant, "web")
            started = self.ec2.run_instances(
                ImageId=self.image, InstanceType=shape.INSTANCE_SIZE, MinCount=1, MaxCount=1,
                TagSpecifications=[
                    {"ResourceType": "instance", "Tags": tags},
                    {"ResourceType": "volume", "Tags": tags},
                ],
            )
            instance_id = started["Instances"][0]["InstanceId"]
        self.ec2.get_waiter("instance_running").wait(InstanceIds=[instance_id])
        described = self.ec2.describe_instances(InstanceIds=[instance_id])
        return described["Reservations"][0]["Instances"][0]["PublicIpAddress"]

    def records(self, tenant, ip):
        zones = self.route53.list_hosted_zones_by_name(DNSName=shape.DOMAIN, MaxItems="1")
        zone_id = zones["HostedZones"][0]["Id"]
        wanted = [
            (shape.hostname(tenant), "A", ip),
            (shape.staging_hostname(tenant), "CNAME", shape.hostname(tenant) + "."),
            (shape.txt_name(tenant), "TXT", f'"{shape.txt_value(tenant)}"'),
        ]
        change = self.route53.change_resource_record_sets(
            HostedZoneId=zone_id,
            ChangeBatch={"Changes": [
                {"Action": "UPSERT", "ResourceRecordSet": {
                    "Name": name, "Type": rtype, "TTL": shape.RECORD_TTL,
                    "ResourceRecords": [{"Value": value}],
                }}
                for name, rtype, value in wanted
            ]},
        )
        self.route53.get_waiter("resource_record_sets_changed").wait(Id=change["ChangeInfo"]["Id"])

    def create_secrets(self, tenant):
        values = {}
        for resource, (_, length) in shape.SECRETS.items():
            values[resource] = generate_secret(length)
            self.secrets.create_secret(
                Name=shape.secret_name(tenant, resource), SecretString=values[resource],
                Tags=tag_list(tenant, resource),
            )
        return values

    def database(self, tenant, password):
        # The password goes over as a SCRAM verifier computed here (libpq's
        # PQencryptPasswordConn), so it is never in the statement text or the server's log.
        verifier = self.admin.pgconn.encrypt_password(
            password.encode(), tenant.encode(), b"scram-sha-256").decode()
        self.admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(tenant), sql.Literal(verifier)))
        self.admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(tenant), sql.Identifier(tenant)))
        self.admin.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(
            sql.Identifier(tenant)))
        # The seed runs as the tenant's role in its own database, so its tables are the tenant's.
        with psycopg.connect(self.pg_url, dbname=tenant, user=tenant, password=password,
                             application_name="ops-script") as seed:
            seed.execute(shape.SEED_SQL)

    def branches(self, tenant):
        for branch, environment in ((tenant, "production"), (f"dev-{tenant}", "staging")):
            self.git("checkout", "--quiet", "-B", branch, f"origin/{shape.BASE_BRANCH}")
            for path, text in shape.render_files(tenant, environment).items():
                (self.checkout / path).write_text(text)
            self.git("add", "--all")
            self.git("commit", "--quiet", "-m", shape.commit_message(tenant, environment))
            self.git("push", "--quiet", "origin", branch)

    def close(self):
        self.admin.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--postgres", required=True, help="postgres://user@host:port/postgres")
    parser.add_argument("--git-url", required=True)
    parser.add_argument("--image", required=True, help="the AMI id")
    parser.add_argument("--workdir", required=True, help="where the git checkout goes")
    parser.add_argument("tenants", nargs="+")
    args = parser.parse_args()
    launcher = Launcher(args)
    try:
        for tenant in args.tenants:
            launcher.launch(tenant)
    finally:
        launcher.close()


if __name__ == "__main__":
    main()
