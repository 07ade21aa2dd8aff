#!/usr/bin/env bash
# depot's test command. Provisions what the tests need on a fresh machine —
# PostgreSQL (the one on 127.0.0.1:5432, or a throwaway cluster) and Garage,
# a real S3 server, and Debian's dnf, createrepo-c, rpm and chromium (the repository
# and console tests) — runs `cargo fmt --check`, `cargo clippy` and the whole suite on
# both backend pairs, fuzzes the header parsers (cargo fuzz, a minute a
# target), then stops what it started.
#
#   scripts/test.sh                # everything
#   scripts/test.sh -E 'test(list)'  # extra arguments go to cargo nextest
#   scripts/test.sh --run CMD ARGS…  # only start the services, then run CMD
#                                    # (e.g. cargo nextest run -E 'test(resumable)')
set -euo pipefail
cd "$(dirname "$0")/.."

WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-test.XXXXXX")
# shellcheck source=scripts/services.sh
. scripts/services.sh

cleanup() {
    [ -z "$GARAGE_PID" ] || kill "$GARAGE_PID" 2>/dev/null || true
    if [ -n "$PG_STARTED" ]; then
        stop_postgres
    elif [ -n "${DEPOT_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
        # Drop the databases the tests created.
        psql "$DEPOT_TEST_DATABASE_URL" -At -c "select datname from pg_database where datname like 'depot\_test\_%'" 2>/dev/null |
            while read -r db; do psql "$DEPOT_TEST_DATABASE_URL" -q -c "drop database if exists $db" >/dev/null 2>&1 || true; done
    fi
    [ -z "$GARAGE_PID" ] || wait "$GARAGE_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- PostgreSQL -------------------------------------------------------------
if [ -z "${DEPOT_TEST_DATABASE_URL:-}" ]; then
    start_postgres
    export DEPOT_TEST_DATABASE_URL=$PG_ADMIN_URL
fi

# --- Garage (S3) ------------------------------------------------------------
install_garage
# Tests that stop and restart an S3 server start a Garage of their own.
export DEPOT_TEST_GARAGE="$GARAGE"
export DEPOT_TEST_S3_BUCKET=depot-test
start_garage "$WORK/garage" "$DEPOT_TEST_S3_BUCKET"
export DEPOT_TEST_S3_ENDPOINT=$S3_ENDPOINT

# --- dnf, createrepo_c and rpm (Debian's): the repository tests run the real ---
# --- dnf against depot and compare its metadata with createrepo_c's ----------
if ! command -v dnf >/dev/null || ! command -v createrepo_c >/dev/null || ! command -v rpm >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "dnf, createrepo-c and rpm are missing: apt-get install dnf createrepo-c rpm" >&2; exit 1; }
    log "installing dnf, createrepo-c and rpm (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnf createrepo-c rpm </dev/null >/dev/null
fi

# --- Python tools: a third-party tus client (the resumable-upload tests), ---
# --- schemathesis (fuzzes the API against its OpenAPI description) and ------
# --- requests (downloads as Python scripts make them) -----------------------
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/depot-test-venv"
PY_TOOLS=("tuspy==1.1.0" "schemathesis==4.32.5" "requests==2.32.5" "obshell==0.0.9")
missing=0
for tool in "${PY_TOOLS[@]}"; do
    "$VENV/bin/pip" freeze 2>/dev/null | grep -qxF -e "$tool" || missing=1
done
if [ "$missing" = 1 ]; then
    log "installing ${PY_TOOLS[*]} from PyPI into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi
export DEPOT_TEST_PYTHON="$VENV/bin/python"

# --- Debian's Chromium: the web console's end-to-end tests drive it ---------
if ! [ -x /usr/bin/chromium ]; then
    [ "$(id -u)" = 0 ] || { echo "chromium is missing: apt-get install chromium" >&2; exit 1; }
    log "installing chromium (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium </dev/null >/dev/null
fi
export DEPOT_TEST_CHROMIUM=/usr/bin/chromium

# --- tus-js-client (npm: the library of Uppy's tus uploads), driven by node, --
# --- playwright-core, which drives Chromium (never downloads a browser), -----
# --- and axe-core, the accessibility checks run on each console page ---------
NODE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/depot-test-node"
NODE_TOOLS=("tus-js-client@4.3.1" "playwright-core@1.65.1" "axe-core@4.14.1")
# Each at its version (`npm ls NAME@V` says nothing of a NAME not installed).
node_tools_missing() {
    local tool
    for tool in "${NODE_TOOLS[@]}"; do
        [ "$(node -p "require('$NODE_DIR/node_modules/${tool%@*}/package.json').version" 2>/dev/null)" = "${tool##*@}" ] ||
            return 0
    done
    return 1
}
if node_tools_missing; then
    log "installing ${NODE_TOOLS[*]} from npm into $NODE_DIR"
    mkdir -p "$NODE_DIR"
    (cd "$NODE_DIR" && npm install --silent --no-audit --no-fund "${NODE_TOOLS[@]}")
fi
export DEPOT_TEST_NODE_PATH="$NODE_DIR/node_modules"
export DEPOT_TEST_SCHEMATHESIS="$VENV/bin/st"

if [ "${1:-}" = "--run" ]; then
    shift
    "$@"
    exit $?
fi

# --- Checks and tests -------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked --quiet cargo-nextest
fi
log "tests (SQLite + local files, PostgreSQL + Garage S3)"
cargo nextest run --workspace --no-fail-fast "$@"

# --- Fuzzing: the parsers of what any client sends in headers, for a bounded --
# --- time (DEPOT_FUZZ_SECONDS per target) -------------------------------------
if [ $# -eq 0 ]; then
    if ! cargo fuzz --version >/dev/null 2>&1; then
        log "installing cargo-fuzz"
        cargo install --locked --quiet cargo-fuzz
    fi
    FUZZ_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/depot-fuzz-target"
    for target in authorization tus_headers; do
        log "fuzzing $target for ${DEPOT_FUZZ_SECONDS:-60}s"
        mkdir -p "$WORK/corpus/$target"
        # cargo fuzz passes nightly flags to rustc: RUSTC_BOOTSTRAP lets the
        # stable toolchain take them. No sanitizer: depot forbids unsafe
        # code, and an instrumented build of every dependency would double
        # the build for nothing the fuzzer could find in depot's parsers.
        (cd tests/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir . --sanitizer none \
            --target-dir "$FUZZ_TARGET_DIR" "$target" "$WORK/corpus/$target" "seeds/$target" \
            -- -max_total_time="${DEPOT_FUZZ_SECONDS:-60}" -max_len=8192 2>&1 | tail -n 25)
    done
fi
scripts/check-deploy.sh
