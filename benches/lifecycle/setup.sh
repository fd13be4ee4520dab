#!/usr/bin/env bash
# The Python environments of the lifecycle benchmark, in the tools cache: the launch
# benchmark's (moto-venv, bench-venv: boto3, psycopg 3) and awscli-venv, the aws CLI (v1, from
# PyPI) the plain script streams the dump through.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tools="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}"
"$here/../launch-vs-script/setup.sh" >/dev/null
if [ ! -x "$tools/awscli-venv/bin/aws" ]; then
  python3 -m venv "$tools/awscli-venv"
  "$tools/awscli-venv/bin/pip" install -q --disable-pip-version-check 'awscli>=1.30,<2'
fi
command -v pg_dump >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_dump >/dev/null 2>&1 \
  || { echo "pg_dump is missing (apt-get install postgresql-client)" >&2; exit 1; }
echo "ready: $tools/bench-venv/bin/python $here/run.py --quick"
