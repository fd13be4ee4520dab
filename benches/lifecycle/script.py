#!/usr/bin/env python3
"""The plain archive and restore script an ops team would write for one tenant: boto3,
psycopg, and `pg_dump | aws s3 cp -` / `aws s3 cp - | pg_restore` for the database. It is the
yardstick `provisio archive` and `provisio restore` are measured against (README.md).

    suspend: stop the instance and wait; resume: start it and wait.
    launch:  run the instance (Name tag) and wait until it runs; create the secret, the role
             and the database (owned by the role, CONNECT revoked from PUBLIC).
    archive: terminate the instance and wait; stream the dump to the archive object; copy
             every object under the tenant's prefix onto itself in GLACIER; drop the
             database and the role.
    restore: create the role (password from the secret) and the database; stream the dump
             back into it as the role; restore every object (RestoreObject), wait until each
             is restored, copy it onto itself in STANDARD; run the instance again.

    AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
    python3 script.py --aws-endpoint http://127.0.0.1:5711 \\
        --postgres postgres://postgres@127.0.0.1:55711/postgres --image ami-... \\
        --aws-cli ~/.cache/provisio-tools/awscli-venv/bin/aws archive acme

One step after another, as such a script is written; the same end state as provisio's
(run.py checks both sides on the servers).
"""

import argparse
import os
import subprocess
import time

import boto3
import psycopg
from psycopg import sql

REGION = "eu-west-1"
BUCKET = "bench-assets"


def prefix(tenant):
    return f"tenants/{tenant}/"


def dump_key(tenant):
    return f"archives/{tenant}/db.dump"


def db_url(admin_url, database):
    """The administrator's URL with another database."""
    return admin_url.rsplit("/", 1)[0] + "/" + database


class Ops:
    def __init__(self, args):
        session = boto3.session.Session(region_name=REGION)
        self.s3 = session.client("s3", endpoint_url=args.aws_endpoint)
        self.ec2 = session.client("ec2", endpoint_url=args.aws_endpoint)
        self.secrets = session.client("secretsmanager", endpoint_url=args.aws_endpoint)
        self.args = args

    def admin(self):
        return psycopg.connect(self.args.postgres, autocommit=True, application_name="ops-script")

    def aws_cli(self, *argv):
        return [self.args.aws_cli, "--endpoint-url", self.args.aws_endpoint, "--region", REGION,
                *argv]

    # -- compute -----------------------------------------------------------------------------

    def instance_ids(self, tenant, states):
        found = self.ec2.describe_instances(Filters=[
            {"Name": "tag:Name", "Values": [f"{tenant}-web"]},
            {"Name": "instance-state-name", "Values": states},
        ])
        return [i["InstanceId"] for r in found["Reservations"] for i in r["Instances"]]

    def run_instance(self, tenant):
        if self.instance_ids(tenant, ["pending", "running"]):
            return
        out = self.ec2.run_instances(
            ImageId=self.args.image, InstanceType="t3.small", MinCount=1, MaxCount=1,
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": [{"Key": "Name", "Value": f"{tenant}-web"}]}])
        ids = [i["InstanceId"] for i in out["Instances"]]
        self.ec2.get_waiter("instance_running").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 600})

    def stop_instance(self, tenant):
        ids = self.instance_ids(tenant, ["pending", "running"])
        if ids:
            self.ec2.stop_instances(InstanceIds=ids)
            self.ec2.get_waiter("instance_stopped").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 600})

    def start_instance(self, tenant):
        ids = self.instance_ids(tenant, ["stopping", "stopped"])
        if ids:
            self.ec2.start_instances(InstanceIds=ids)
            self.ec2.get_waiter("instance_running").wait(
                InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 600})

    def terminate_instance(self, tenant):
        ids = self.instance_ids(tenant, ["pending", "running", "stopping", "stopped"])
        if not ids:
            return
        self.ec2.terminate_instances(InstanceIds=ids)
        self.ec2.get_waiter("instance_terminated").wait(
            InstanceIds=ids, WaiterConfig={"Delay": 1, "MaxAttempts": 600})

    # -- database ----------------------------------------------------------------------------

    def password(self, tenant):
        return self.secrets.get_secret_value(SecretId=f"{tenant}-db-password")["SecretString"]

    def create_role_and_database(self, tenant, password):
        with self.admin() as db:
            db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(tenant), sql.Literal(password)))
            db.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(tenant), sql.Identifier(tenant)))
            db.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(
                sql.Identifier(tenant)))

    def drop_role_and_database(self, tenant):
        with self.admin() as db:
            db.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(tenant)))
            db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(tenant)))

    def dump_to_s3(self, tenant):
        """`pg_dump -Fc --no-owner | aws s3 cp - s3://...`: both exit codes checked."""
        pg_dump = subprocess.Popen(
            ["pg_dump", "--format=custom", "--no-owner", "--no-password",
             f"--dbname={db_url(self.args.postgres, tenant)}"], stdout=subprocess.PIPE)
        upload = subprocess.Popen(
            self.aws_cli("s3", "cp", "-", f"s3://{BUCKET}/{dump_key(tenant)}", "--only-show-errors"),
            stdin=pg_dump.stdout)
        pg_dump.stdout.close()
        if upload.wait() != 0 or pg_dump.wait() != 0:
            raise SystemExit(f"dump of {tenant} failed: pg_dump {pg_dump.returncode}, "
                             f"aws s3 cp {upload.returncode}")

    def restore_from_s3(self, tenant):
        """`aws s3 cp s3://... - | pg_restore` into the new database, as the tenant's role."""
        download = subprocess.Popen(
            self.aws_cli("s3", "cp", f"s3://{BUCKET}/{dump_key(tenant)}", "-", "--only-show-errors"),
            stdout=subprocess.PIPE)
        pg_restore = subprocess.Popen(
            ["pg_restore", "--no-owner", f"--role={tenant}", "--single-transaction",
             "--exit-on-error", "--no-password", f"--dbname={db_url(self.args.postgres, tenant)}"],
            stdin=download.stdout)
        download.stdout.close()
        if pg_restore.wait() != 0 or download.wait() != 0:
            raise SystemExit(f"restore of {tenant} failed: pg_restore {pg_restore.returncode}, "
                             f"aws s3 cp {download.returncode}")

    # -- objects -----------------------------------------------------------------------------

    def objects(self, tenant):
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix(tenant))
        return [o for page in pages for o in page.get("Contents", [])]

    def copy_in_place(self, key, storage_class):
        self.s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": key},
                            StorageClass=storage_class, MetadataDirective="COPY")

    def objects_to_glacier(self, tenant):
        for obj in self.objects(tenant):
            if obj.get("StorageClass", "STANDARD") != "GLACIER":
                self.copy_in_place(obj["Key"], "GLACIER")

    def objects_to_standard(self, tenant):
        archived = [o["Key"] for o in self.objects(tenant)
                    if o.get("StorageClass", "STANDARD") in ("GLACIER", "DEEP_ARCHIVE")]
        for key in archived:
            try:
                self.s3.restore_object(Bucket=BUCKET, Key=key, RestoreRequest={
                    "Days": 1, "GlacierJobParameters": {"Tier": "Standard"}})
            except self.s3.exceptions.ClientError as e:
                if e.response["Error"]["Code"] != "RestoreAlreadyInProgress":
                    raise
        waiting = list(archived)
        while waiting:
            still = []
            for key in waiting:
                restore = self.s3.head_object(Bucket=BUCKET, Key=key).get("Restore", "")
                if 'ongoing-request="false"' in restore:
                    self.copy_in_place(key, "STANDARD")
                else:
                    still.append(key)
            waiting = still
            if waiting:
                time.sleep(1)

    # -- the three procedures ----------------------------------------------------------------

    def launch(self, tenant):
        self.run_instance(tenant)
        password = os.urandom(24).hex()
        self.secrets.create_secret(Name=f"{tenant}-db-password", SecretString=password)
        self.create_role_and_database(tenant, password)

    def suspend(self, tenant):
        self.stop_instance(tenant)

    def resume(self, tenant):
        self.start_instance(tenant)

    def archive(self, tenant):
        self.terminate_instance(tenant)
        self.dump_to_s3(tenant)
        self.objects_to_glacier(tenant)
        self.drop_role_and_database(tenant)

    def restore(self, tenant):
        self.create_role_and_database(tenant, self.password(tenant))
        self.restore_from_s3(tenant)
        self.objects_to_standard(tenant)
        self.run_instance(tenant)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aws-endpoint", required=True)
    parser.add_argument("--postgres", required=True, help="the administrator's URL")
    parser.add_argument("--image", required=True)
    parser.add_argument("--aws-cli", required=True, help="the aws CLI (v1, from PyPI)")
    parser.add_argument("procedure", choices=["launch", "suspend", "resume", "archive", "restore"])
    parser.add_argument("tenant")
    args = parser.parse_args()
    getattr(Ops(args), args.procedure)(args.tenant)


if __name__ == "__main__":
    main()
