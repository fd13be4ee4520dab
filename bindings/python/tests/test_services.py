"""The AWS and PostgreSQL parts of the launch against moto and a real PostgreSQL, through the
provider configuration a Python Automator writes. Skipped unless the services step of
scripts/test.sh exported PROVISIO_TEST_AWS_ENDPOINT / PROVISIO_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import urllib.request
import uuid
from typing import Any

import pytest

import provisio

from conftest import LAUNCH, SMTP

AWS_ENDPOINT = os.environ.get("PROVISIO_TEST_AWS_ENDPOINT")
POSTGRES_URL = os.environ.get("PROVISIO_TEST_POSTGRES_URL")
MOTO_AMI = "ami-12c6146b"


def postgres_entry() -> dict[str, Any]:
    assert POSTGRES_URL is not None
    entry: dict[str, Any] = {"kind": "postgres", "url": POSTGRES_URL}
    if "sslmode=" not in POSTGRES_URL:
        entry["sslmode"] = "disable"  # the test server is a local cluster without TLS
    return entry


@pytest.mark.skipif(POSTGRES_URL is None, reason="PROVISIO_TEST_POSTGRES_URL is not set")
def test_launch_database_on_postgres() -> None:
    run = uuid.uuid4().hex[:8]
    tenant = f"py{run}"
    providers = provisio.Providers(
        {
            "fallback": "memory",
            "memory": {"fixtures": str(LAUNCH / "memory-fixtures.yaml")},
            "providers": {"database": {"default": postgres_entry()}},
        }
    )
    engine = provisio.Engine(providers, POSTGRES_URL)
    report = engine.apply(LAUNCH, tenant, secrets=SMTP)
    assert report["success"]
    db = providers.database()
    assert db.database_exists(tenant) and db.role_exists(tenant)
    assert engine.plan(LAUNCH, tenant, secrets=SMTP)["has_changes"] is False
    engine.destroy(LAUNCH, tenant, allow=["database"])
    assert not db.database_exists(tenant) and not db.role_exists(tenant)


def create_hosted_zone(endpoint: str, name: str) -> None:
    """moto has no provisio operation to create a zone (operators own zones): one REST call."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CreateHostedZoneRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
        f"<Name>{name}</Name><CallerReference>provisio-py-{name}</CallerReference>"
        "</CreateHostedZoneRequest>"
    )
    request = urllib.request.Request(
        f"{endpoint}/2013-04-01/hostedzone",
        data=body.encode(),
        method="POST",
        headers={
            "Content-Type": "application/xml",
            # moto routes a request to a service by the credential scope of its signature
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/route53/aws4_request, "
            "SignedHeaders=host, Signature=0",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status in (200, 201)


@pytest.mark.skipif(
    AWS_ENDPOINT is None or POSTGRES_URL is None,
    reason="PROVISIO_TEST_AWS_ENDPOINT and PROVISIO_TEST_POSTGRES_URL are not both set",
)
def test_launch_on_moto_and_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AWS_ENDPOINT is not None
    assert "aws" in provisio.kinds(), "the aws kind is a default feature of provisio-config"
    # moto accepts any credentials; the aws kind reads the standard chain
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    run = uuid.uuid4().hex[:8]
    tenant, domain, bucket = f"py{run}", f"py-{run}.test", f"provisio-py-assets-{run}"
    create_hosted_zone(AWS_ENDPOINT, domain)
    aws = {"kind": "aws", "region": "us-east-1", "endpoint_url": AWS_ENDPOINT}
    providers = provisio.Providers(
        {
            "fallback": "memory",
            "memory": {"fixtures": str(LAUNCH / "memory-fixtures.yaml")},
            "providers": {
                "dns": {"default": aws},
                "storage": {"default": aws},
                "compute": {"default": aws},
                "secrets": {"default": aws},
                "mail": {"default": aws},
                "database": {"default": postgres_entry()},
            },
        }
    )
    storage = providers.storage()
    storage.ensure_bucket(bucket)
    storage.put_object(bucket, "initial/robots.txt", b"User-agent: *\n")
    engine = provisio.Engine(providers, "memory")
    tenant_vars = {"domain": domain, "image": MOTO_AMI, "size": "t3.micro", "assets_bucket": bucket}
    report = engine.apply(LAUNCH, tenant, vars=tenant_vars, secrets=SMTP)
    assert report["success"]
    record = providers.dns().get_record(domain, f"{tenant}.{domain}", "A")
    assert record is not None
    assert storage.head_object(bucket, f"tenants/{tenant}/robots.txt") is not None
    secret = providers.secrets().get_secret(f"{tenant}-smtp-password")
    assert secret["value"].reveal() == SMTP["smtp_password"]
    assert providers.database().database_exists(tenant)
    again = engine.apply(LAUNCH, tenant, vars=tenant_vars, secrets=SMTP)
    assert again["summary"]["created"] == 0
    engine.destroy(LAUNCH, tenant, allow=["database"])
    assert providers.dns().get_record(domain, f"{tenant}.{domain}", "A") is None
    assert not providers.database().database_exists(tenant)
