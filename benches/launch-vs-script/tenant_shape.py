"""The tenant shape of the launch benchmark, in one place.

Both sides read it: `gen_blueprint.py` writes provisio's blueprint from it and `script.py` (the
plain operator script) creates the same resources from it, so the two cannot drift apart in
names, contents or tags. `endstate.py` compares what each side left on the servers.

Per tenant: one S3 bucket with 20 objects of 2 KB, one EC2 instance found by its Name tag,
three Route 53 records (A, CNAME, TXT) in a shared hosted zone, three Secrets Manager secrets,
a PostgreSQL role + database + seed SQL, and two git branches (`<tenant>`, `dev-<tenant>`) with
three rendered files each in one bare repository.
"""

import hashlib
import json

BLUEPRINT_NAME = "launch-vs-script"
DOMAIN = "bench.example"
# Outside us-east-1, S3 answers CreateBucket of a bucket one already owns with
# BucketAlreadyOwnedByYou, so provisio creates a bucket with one request; in us-east-1 S3 answers
# 200 (and provisio looks first: one more request). Both sides run in the same region.
REGION = "eu-west-1"
INSTANCE_SIZE = "t3.micro"
BASE_BRANCH = "main"
ASSET_PREFIX = "assets/"
ASSET_COUNT = 20
ASSET_SIZE = 2048
# What provisio's S3 provider stores as the objects' Content-Type; the script sets the same.
ASSET_CONTENT_TYPE = "application/octet-stream"
RECORD_TTL = 300
# Secret resource name in the blueprint -> (secret name suffix, generated length).
SECRETS = {
    "db_password": ("db-password", 32),
    "api_key": ("api-key", 40),
    "session_secret": ("session-secret", 64),
}
# The alphabet provisio's `generate` uses by default (engine/src/types/secrets.rs).
SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
SEED_ID = "initial-data"
SEED_SQL = (
    "CREATE TABLE settings (key text PRIMARY KEY, value text); "
    "INSERT INTO settings VALUES ('plan', 'standard'), ('region', 'eu');"
)
COMMIT_AUTHOR = ("provisio", "provisio@localhost")


def tenant_names(count, prefix="tenant"):
    """`count` tenant names: `tenant-00`, `tenant-01`, ... (valid for every service)."""
    return [f"{prefix}-{i:02d}" for i in range(count)]


def asset_files():
    """The 20 objects' keys (relative to the prefix) and contents: 2,048 ASCII bytes each,
    derived from a SHA-256 chain so every run writes the same bytes."""
    files = {}
    for i in range(ASSET_COUNT):
        lines = [f"asset {i:02d} of the launch benchmark\n"]
        digest = hashlib.sha256(f"asset-{i}".encode()).hexdigest()
        while sum(len(line) for line in lines) < ASSET_SIZE:
            lines.append(digest + "\n")
            digest = hashlib.sha256(digest.encode()).hexdigest()
        text = "".join(lines)[: ASSET_SIZE - 1] + "\n"
        files[f"asset-{i:02d}.txt"] = text
    return files


def bucket_name(tenant):
    """The tenant's bucket."""
    return f"{tenant}-assets"


def instance_name(tenant):
    """The instance's Name tag."""
    return f"{tenant}-web"


def hostname(tenant):
    """The production hostname (A record)."""
    return f"{tenant}.{DOMAIN}"


def staging_hostname(tenant):
    """The staging hostname (CNAME to the production one)."""
    return f"{tenant}.stg.{DOMAIN}"


def txt_name(tenant):
    """The verification record's name (TXT)."""
    return f"_verify.{tenant}.{DOMAIN}"


def txt_value(tenant):
    """The verification record's text."""
    return f"tenant={tenant}"


def secret_name(tenant, resource):
    """The Secrets Manager name of one of the tenant's secrets."""
    return f"{tenant}-{SECRETS[resource][0]}"


def ownership_tags(tenant, resource):
    """The tags provisio puts on what it creates (core/src/types.rs, `ownership::tags`); the
    script puts the same ones so that both sides end in the same state."""
    return {
        "provisio:tenant": tenant,
        "provisio:blueprint": BLUEPRINT_NAME,
        "provisio:resource": resource,
    }


def _yaml(value):
    """A double-quoted YAML scalar, as provisio's template escaping writes it (plain ASCII
    values only, which is all this benchmark renders)."""
    return json.dumps(value)


def render_files(tenant, environment):
    """The three files of one branch, rendered with plain Python string formatting: what the
    operator script writes. provisio renders the same bytes from `blueprint/templates/config/`
    (checked by `endstate.py`)."""
    production = environment == "production"
    host = hostname(tenant) if production else staging_hostname(tenant)
    bucket = bucket_name(tenant)
    password = secret_name(tenant, "db_password")
    config = (
        # provisio's YAML escaping quotes every interpolated value, comments included.
        f"# Rendered for tenant {_yaml(tenant)}; edit the template, not this file.\n"
        f"tenant: {_yaml(tenant)}\n"
        f"environment: {_yaml(environment)}\n"
        f"hostname: {_yaml(host)}\n"
        "assets:\n"
        f"  bucket: {_yaml(bucket)}\n"
        f"  prefix: {_yaml(ASSET_PREFIX)}\n"
        "database:\n"
        f"  name: {_yaml(tenant)}\n"
        f"  user: {_yaml(tenant)}\n"
        "  # the passwords live in the secret store under these names, never in this file\n"
        f"  password_secret: {_yaml(password)}\n"
        f"  api_key_secret: {_yaml(secret_name(tenant, 'api_key'))}\n"
        f"  session_secret: {_yaml(secret_name(tenant, 'session_secret'))}\n"
    )
    nginx = (
        f"# Rendered for tenant {tenant}.\n"
        "server {\n"
        "    listen 80;\n"
        f"    server_name {host};\n"
        "\n"
        "    location /assets/ {\n"
        f"        proxy_pass http://127.0.0.1:9000/{bucket}/{ASSET_PREFIX};\n"
        "    }\n"
        "\n"
        "    location / {\n"
        "        proxy_pass http://127.0.0.1:3000;\n"
        "        proxy_set_header Host $host;\n"
        "    }\n"
        "}\n"
    )
    image_tag = "stable" if production else "staging"
    compose = (
        f"# Rendered for tenant {_yaml(tenant)}.\n"
        "services:\n"
        "  web:\n"
        f"    image: {_yaml('registry.local/web:' + image_tag)}\n"
        "    restart: unless-stopped\n"
        "    ports:\n"
        '      - "127.0.0.1:3000:3000"\n'
        "    environment:\n"
        f"      TENANT: {_yaml(tenant)}\n"
        f"      HOSTNAME: {_yaml(host)}\n"
        f"      DATABASE_NAME: {_yaml(tenant)}\n"
        "      # read at start-up from the secret store; never written here\n"
        f"      DATABASE_PASSWORD_SECRET: {_yaml(password)}\n"
    )
    return {"config.yml": config, "nginx.conf": nginx, "docker-compose.yml": compose}


def commit_message(tenant, environment):
    """The commit message of one branch's files (the same on both sides)."""
    return f"Configure {tenant}" + ("" if environment == "production" else " (staging)")
