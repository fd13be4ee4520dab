#!/usr/bin/env bash
# The Python environments of the launch benchmark, in the tools cache:
#   moto-venv  — moto[server] 5.x, exactly as scripts/services.sh's start_moto installs it;
#   bench-venv — the harness and the operator script: boto3, psycopg 3 (binary), PyYAML.
# Also checks for the system tools run.py starts: PostgreSQL, sshd, git.
set -euo pipefail
tools="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}"
mkdir -p "$tools"
if [ ! -x "$tools/moto-venv/bin/moto_server" ]; then
  python3 -m venv "$tools/moto-venv"
  "$tools/moto-venv/bin/pip" install -q --disable-pip-version-check 'moto[server]>=5,<6'
fi
if [ ! -x "$tools/bench-venv/bin/python" ] || ! "$tools/bench-venv/bin/python" -c 'import boto3, psycopg, yaml' 2>/dev/null; then
  python3 -m venv "$tools/bench-venv"
  "$tools/bench-venv/bin/pip" install -q --disable-pip-version-check \
    'boto3>=1.34' 'psycopg[binary]>=3.1,<4' 'PyYAML>=6'
fi
missing=""
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$missing postgresql"
{ command -v sshd || [ -x /usr/sbin/sshd ]; } >/dev/null 2>&1 || missing="$missing openssh-server"
command -v git >/dev/null 2>&1 || missing="$missing git"
if [ -n "$missing" ]; then
  echo "missing Debian packages:$missing (apt-get install$missing)" >&2
  exit 1
fi
echo "ready: $tools/bench-venv/bin/python run.py --quick"
