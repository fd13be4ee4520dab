#!/usr/bin/env bash
# Cold release build times of the CLI and the Python wheel, for docs/performance.md.
#
# Usage: bash benches/build-times/run.sh [TREE] [LABEL]
#   TREE   a checkout of provisio (default: this one); use `git worktree add --detach DIR REV`
#          for a "before" tree, so both are measured side by side on one machine
#   LABEL  names the results (default: the tree's short commit)
#
# Each build gets a fresh target directory (nothing shared between the CLI and the wheel, nothing
# from earlier builds) and the crates already downloaded (`cargo fetch` first, so the network is
# not measured). Prints wall, user and sys seconds per build; cargo's --timings HTML (per-crate
# times) lands in each target directory. Run it on an otherwise idle machine: user + sys is
# robust to other load, wall time is not.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
tree="$(cd "${1:-$here}" && pwd)"
label="${2:-$(git -C "$tree" rev-parse --short HEAD)}"
out="${BUILD_TIMES_DIR:-/tmp/provisio-build-times}/$label"
rm -rf "$out" && mkdir -p "$out"
venv="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}/maturin-venv"
if [ ! -x "$venv/bin/maturin" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'maturin>=1.9,<2'
fi
(cd "$tree" && cargo fetch --locked >/dev/null)

measure() { # name, directory, command...
  local name=$1 dir=$2
  shift 2
  (cd "$dir" && CARGO_TARGET_DIR="$out/target-$name" /usr/bin/time -f "%e %U %S" -o "$out/$name.time" "$@" \
    >"$out/$name.log" 2>&1)
  read -r wall user sys <"$out/$name.time"
  printf '%-6s %-12s wall %8.1f s   user %8.1f s   sys %6.1f s\n' "$label" "$name" "$wall" "$user" "$sys" |
    tee -a "$out/summary.txt"
}

measure cli "$tree" cargo build --release --locked --timings -p provisio-cli
measure wheel "$tree/bindings/python" "$venv/bin/maturin" build --release --locked --timings -o "$out/wheel"
echo "results: $out/summary.txt"
