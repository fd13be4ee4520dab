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

# PostgreSQL in a throw-away cluster on 127.0.0.1:$PROVISIO_PG_PORT, trust auth, user postgres.
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
  su postgres -s /bin/sh -c "'$bindir/initdb' -D '$data' -A trust -U postgres --no-sync" >/dev/null
  su postgres -s /bin/sh -c "'$bindir/pg_ctl' -D '$data' -w -t 60 -l '$PROVISIO_SERVICES_DIR/pg/postgres.log' \
      -o \"-p $port -k '$PROVISIO_SERVICES_DIR/pg' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start" >/dev/null
  echo "postgres $(head -n 1 "$data/postmaster.pid")" >>"$PROVISIO_SERVICES_DIR/pids"
  wait_for_port 127.0.0.1 "$port" 30
  export PROVISIO_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
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
