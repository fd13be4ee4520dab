#!/usr/bin/env bash
# The whole test suite: installs and starts what the tests need, runs every check, stops it all.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_PROFILE_DEV_DEBUG=0
export CARGO_PROFILE_TEST_DEBUG=0
export CARGO_INCREMENTAL=0

source scripts/services.sh
trap stop_services EXIT

step() { printf '\n=== %s (%ss)\n' "$*" "$SECONDS"; }

step "toolchain"
cargo --version
rustup component list --installed 2>/dev/null | grep -Eq '^(rustfmt|clippy)' || rustup component add rustfmt clippy

step "cargo fmt --check"
cargo fmt --all -- --check

# The Ruby binding (bindings/ruby) is a workspace member: clippy and the builds compile it against
# Ruby's headers, and rb-sys runs bindgen (libclang). Its tests need Minitest; the Rails example
# (examples/rails-automator) needs Rails 6.1, SQLite, Puma, Capybara and Selenium, and its system
# test Chromium and chromedriver. All from Debian (there is no gem server here).
if ! command -v ruby >/dev/null || ! ruby -e 'exit File.exist?(File.join(RbConfig::CONFIG["rubyhdrdir"], "ruby.h"))' ||
  ! compgen -G "/usr/lib/llvm-*/lib/libclang.so" >/dev/null ||
  ! ruby -e 'require "minitest"; require "rails"; require "sqlite3"; require "puma"; require "capybara"; require "selenium-webdriver"' 2>/dev/null ||
  ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  step "ruby-dev, libclang-dev, ruby-minitest, ruby-rails, chromium"
  apt_install ruby-dev libclang-dev ruby-minitest rake ruby-rails ruby-sqlite3 puma ruby-capybara \
    ruby-selenium-webdriver chromium chromium-driver
fi

# The CLI's `temporal` feature (`provisio worker`, `fleet ... --on temporal://`) is on in every
# cargo command below, so that they all unify features alike and build each crate once.
features=(--features provisio-cli/temporal)

step "cargo clippy"
cargo clippy --workspace --all-targets --locked "${features[@]}" -- -D warnings

# Build every test and binary first: some services (the contract fakes) are our own binaries.
step "cargo build (tests and binaries)"
cargo test --workspace --locked --no-run "${features[@]}"
# The fake servers and the two binding cdylibs (bindings/python, bindings/node), which `cargo test`
# does not build. `--examples` brings in the dev-dependencies, so the features match the test
# build above and only these five crates compile (without it, `--lib --bins` unifies features
# differently and compiles much of the tree again: 8 minutes cold on 2 cores).
# PYO3_BUILD_EXTENSION_MODULE: the Python extension does not link libpython (the interpreter
# provides it), as maturin builds it.
PYO3_BUILD_EXTENSION_MODULE=1 cargo build --workspace --lib --bins --examples --locked "${features[@]}"

step "services"
start_postgres
start_git_sshd
start_jenkins_fake
start_moto
start_cloudflare_fake_and_prism
start_azurite
start_temporal

step "cargo test"
cargo test --workspace --locked --no-fail-fast "${features[@]}" 2>&1 | tee "$PROVISIO_SERVICES_DIR/cargo-test.log"
summary=$(grep -E '^test result:' "$PROVISIO_SERVICES_DIR/cargo-test.log" |
  awk '{p+=$4; f+=$6} END {printf "%d passed, %d failed", p, f}')

# --- python binding (bindings/python): owned by the Python binding ---------------------------
# A venv in the tools cache with pytest and mypy. The extension is the dev-profile cdylib of the
# build step (built `--workspace`: `maturin develop` builds `-p provisio-python` alone, which
# unifies features differently and would compile most dependencies again), staged as a development
# package (the Python sources plus the module, put on the venv's path by a .pth file); then the
# pytest suite and mypy --strict.
step "python binding"
py_venv="${PROVISIO_TOOLS_DIR:-$HOME/.cache/provisio-tools}/python-venv"
if [ ! -x "$py_venv/bin/pytest" ] || [ ! -x "$py_venv/bin/mypy" ]; then
  mkdir -p "$(dirname "$py_venv")"
  if ! python3 -m venv "$py_venv" >/dev/null 2>&1; then
    rm -rf "$py_venv"
    apt_install python3-venv
    python3 -m venv "$py_venv"
  fi
  "$py_venv/bin/pip" install -q --disable-pip-version-check 'pytest>=8,<10' 'mypy>=1.10,<3'
fi
py_stage="$PROVISIO_SERVICES_DIR/python-package"
rm -rf "$py_stage" && mkdir -p "$py_stage"
cp -r bindings/python/python/provisio "$py_stage/"
cp "${CARGO_TARGET_DIR:-target}/debug/libprovisio_python.so" "$py_stage/provisio/_native.abi3.so"
echo "$py_stage" >"$("$py_venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/provisio-dev.pth"
export PYTHONDONTWRITEBYTECODE=1
(cd bindings/python && "$py_venv/bin/python" -m pytest -q -p no:cacheprovider tests) 2>&1 |
  tee "$PROVISIO_SERVICES_DIR/pytest.log"
(cd bindings/python && "$py_venv/bin/python" -m mypy --strict --cache-dir "$PROVISIO_SERVICES_DIR/mypy-cache" tests examples/launch.py)
py_result=$(tail -n 1 "$PROVISIO_SERVICES_DIR/pytest.log")
py_passed=$(grep -Eo '[0-9]+ passed' <<<"$py_result" | grep -Eo '[0-9]+' || echo 0)
py_failed=$(grep -Eo '[0-9]+ failed' <<<"$py_result" | grep -Eo '[0-9]+' || echo 0)
summary=$(awk -v s="$summary" -v p="$py_passed" -v f="$py_failed" \
  'BEGIN {split(s, a, " "); printf "%d passed, %d failed", a[1] + p, a[3] + f}')
# --- end of the python binding block ------------------------------------------------------------

# --- ruby binding (bindings/ruby): owned by the Ruby binding -------------------------------------
# The extension is the dev-profile provisio-ruby cdylib of the build step, staged with the gem's
# Ruby sources (lib/) as provisio/provisio.so, the name lib/provisio.rb requires; then the
# Minitest suite (bindings/ruby/test) against the staged copy.
step "ruby binding"
rb_stage="$PROVISIO_SERVICES_DIR/ruby-package"
rm -rf "$rb_stage" && mkdir -p "$rb_stage"
cp -r bindings/ruby/lib/. "$rb_stage/"
cp "${CARGO_TARGET_DIR:-target}/debug/libprovisio_ruby.so" "$rb_stage/provisio/provisio.so"
(cd bindings/ruby && RUST_BACKTRACE=0 ruby -I"$rb_stage" -Itest \
  -e 'Dir["test/*_test.rb"].sort.each { |f| require File.expand_path(f) }') 2>&1 |
  tee "$PROVISIO_SERVICES_DIR/minitest.log"
# minitest_result NAME LOG...: adds the Minitest summaries ("N runs, A assertions, F failures,
# E errors, S skips") of the logs to $summary; fails when a run failed or a log has no summary.
minitest_result() {
  local name=$1 log runs=0 failed=0 skips=0 counts r f e k
  shift
  for log in "$@"; do
    counts=$(grep -E '^[0-9]+ runs, ' "$log" | tail -n 1 | awk '{printf "%d %d %d %d", $1, $5, $7, $9}')
    if [ -z "$counts" ]; then
      echo "$name: no test summary in $log" >&2
      exit 1
    fi
    read -r r f e k <<<"$counts"
    runs=$((runs + r)) failed=$((failed + f + e)) skips=$((skips + k))
  done
  echo "$name: $((runs - failed - skips)) passed, $failed failed, $skips skipped"
  summary=$(awk -v s="$summary" -v p="$((runs - failed - skips))" -v f="$failed" \
    'BEGIN {split(s, a, " "); printf "%d passed, %d failed", a[1] + p, a[3] + f}')
  if [ "$failed" -ne 0 ]; then
    echo "$name: tests failed" >&2
    exit 1
  fi
}
minitest_result "ruby binding" "$PROVISIO_SERVICES_DIR/minitest.log"
# --- end of the ruby binding block ---------------------------------------------------------------

# --- rails automator (examples/rails-automator): owned by the Ruby binding -----------------------
# The example Rails app with the gem staged above (PROVISIO_RUBY_LIB): its Gemfile resolves
# against Debian's gems (`bundle install --local`), its SQLite test database is created from
# db/schema.rb, then its tests: models, jobs and controllers, and the system tests in headless
# Chromium (Capybara starts Puma on 127.0.0.1 inside the test process and stops it).
step "rails automator"
(
  cd examples/rails-automator
  export PROVISIO_RUBY_LIB="$rb_stage" RAILS_ENV=test BUNDLE_SILENCE_ROOT_WARNING=1 BUNDLE_SILENCE_DEPRECATIONS=1
  bundle install --local --quiet
  bin/rails db:prepare
  bin/rails test 2>&1 | tee "$PROVISIO_SERVICES_DIR/rails-test.log"
  bin/rails test:system 2>&1 | tee "$PROVISIO_SERVICES_DIR/rails-system.log"
)
minitest_result "rails automator" "$PROVISIO_SERVICES_DIR/rails-test.log" "$PROVISIO_SERVICES_DIR/rails-system.log"
# --- end of the rails automator block ------------------------------------------------------------

# --- node binding (bindings/node): owned by the Node binding -------------------------------------
# npm install from package-lock.json (not `npm ci`: npm 11 leaves the platform packages of the
# napi CLI's optional dependencies out of the lockfile, which `npm ci` then rejects), the addon
# (the dev-profile provisio-node cdylib of the build step) copied beside index.js, then
# `node --test` and `tsc --strict --noEmit`. The addon is not built with `napi build`: napi always
# passes --target, which makes cargo compile every dependency again under target/<triple>/.
step "node binding"
node_started=$SECONDS
(cd bindings/node && npm install --no-audit --no-fund --loglevel=error)
cp "${CARGO_TARGET_DIR:-target}/debug/libprovisio_node.so" bindings/node/provisio.linux-x64-gnu.node
(
  cd bindings/node
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$PROVISIO_SERVICES_DIR/node-test.tap" \
    test/*.test.mjs test/*.test.cjs
  npx --no-install tsc -p tsconfig.json
)
node_counts=$(awk '/^# (pass|fail|skipped) / {c[$2]=$3} END {printf "%d %d %d", c["pass"], c["fail"], c["skipped"]}' \
  "$PROVISIO_SERVICES_DIR/node-test.tap")
read -r node_passed node_failed node_skipped <<<"$node_counts"
echo "node binding: $node_passed passed, $node_failed failed, $node_skipped skipped; tsc ok ($((SECONDS - node_started))s)"
summary=$(awk -v s="$summary" -v p="$node_passed" -v f="$node_failed" \
  'BEGIN {split(s, a, " "); printf "%d passed, %d failed", a[1] + p, a[3] + f}')
# --- end of the node binding block -----------------------------------------------------------------

step "done"
echo "$summary"
