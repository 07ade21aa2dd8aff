#!/usr/bin/env bash
# depot's test command. Provisions what the tests need on a fresh machine —
# PostgreSQL (the one on 127.0.0.1:5432, or a throwaway cluster) and Garage,
# a real S3 server — runs `cargo fmt --check`, `cargo clippy` and the whole
# suite on both backend pairs, then stops what it started.
#
#   scripts/test.sh                # everything
#   scripts/test.sh -E 'test(list)'  # extra arguments go to cargo nextest
#   scripts/test.sh --run CMD ARGS…  # only start the services, then run CMD
#                                    # (e.g. cargo nextest run -E 'test(resumable)')
set -euo pipefail
cd "$(dirname "$0")/.."

GARAGE_VERSION=2.5.0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-test.XXXXXX")
PIDS=()
PG_STARTED=""

log() { echo "==> $*" >&2; }

cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "$PG_STARTED" ]; then
        su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg -m immediate stop" >/dev/null 2>&1 || true
    elif [ -n "${DEPOT_TEST_DATABASE_URL:-}" ] && command -v psql >/dev/null; then
        # Drop the databases the tests created.
        psql "$DEPOT_TEST_DATABASE_URL" -At -c "select datname from pg_database where datname like 'depot\_test\_%'" 2>/dev/null |
            while read -r db; do psql "$DEPOT_TEST_DATABASE_URL" -q -c "drop database if exists $db" >/dev/null 2>&1 || true; done
    fi
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # description, seconds, command...
    local what=$1 secs=$2
    shift 2
    for _ in $(seq $((secs * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "timed out waiting for $what" >&2
    return 1
}

# --- PostgreSQL -------------------------------------------------------------
if [ -z "${DEPOT_TEST_DATABASE_URL:-}" ]; then
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        export DEPOT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
        log "using the PostgreSQL on 127.0.0.1:5432"
    else
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
        if [ -z "$PG_BIN" ]; then
            log "installing PostgreSQL"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
            PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
        fi
        PG_PORT=$(free_port)
        log "starting a throwaway PostgreSQL on 127.0.0.1:$PG_PORT"
        mkdir -p "$WORK/pg" "$WORK/pgsock" && chown postgres "$WORK/pg" "$WORK/pgsock" && chmod 755 "$WORK"
        su postgres -c "$PG_BIN/initdb -D $WORK/pg -A trust -U postgres" >/dev/null
        su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg -l $WORK/pg/log -o '-h 127.0.0.1 -p $PG_PORT -k $WORK/pgsock' start" >/dev/null
        PG_STARTED=1
        export DEPOT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
        wait_for PostgreSQL 30 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
    fi
fi

# --- Garage (S3) ------------------------------------------------------------
GARAGE=$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")
if ! "$GARAGE" --version 2>/dev/null | grep -qE "[v:]$GARAGE_VERSION( |$)"; then
    log "installing Garage $GARAGE_VERSION (once per machine; ~10 minutes on 2 cores)"
    cargo install --locked --quiet "garage@$GARAGE_VERSION"
fi
S3_PORT=$(free_port)
RPC_PORT=$(free_port)
mkdir -p "$WORK/garage/meta" "$WORK/garage/data"
cat >"$WORK/garage/garage.toml" <<TOML
metadata_dir = "$WORK/garage/meta"
data_dir = "$WORK/garage/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.localhost"
TOML
export AWS_ACCESS_KEY_ID="GK$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
export AWS_SECRET_ACCESS_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export DEPOT_TEST_S3_BUCKET=depot-test
export DEPOT_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
# Tests that stop and restart an S3 server start a Garage of their own.
export DEPOT_TEST_GARAGE="$GARAGE"
log "starting Garage on $DEPOT_TEST_S3_ENDPOINT"
GARAGE_DEFAULT_ACCESS_KEY=$AWS_ACCESS_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
    GARAGE_DEFAULT_BUCKET=$DEPOT_TEST_S3_BUCKET RUST_LOG=warn \
    "$GARAGE" -c "$WORK/garage/garage.toml" server --single-node --default-bucket >"$WORK/garage.log" 2>&1 &
PIDS+=($!)
# Ready when an unsigned request is refused (403) rather than not answered.
garage_ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$DEPOT_TEST_S3_ENDPOINT/$DEPOT_TEST_S3_BUCKET")" = 403 ]; }
wait_for Garage 60 garage_ready || { cat "$WORK/garage.log" >&2; exit 1; }

# --- Python tools: a third-party tus client (the resumable-upload tests) and ---
# --- schemathesis (fuzzes the API against its OpenAPI description) -----------
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/depot-test-venv"
PY_TOOLS=("tuspy==1.1.0" "schemathesis==4.32.5")
if ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qxF -e "${PY_TOOLS[0]}" ||
    ! "$VENV/bin/pip" freeze 2>/dev/null | grep -qxF -e "${PY_TOOLS[1]}"; then
    log "installing ${PY_TOOLS[*]} from PyPI into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}"
fi
export DEPOT_TEST_PYTHON="$VENV/bin/python"
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
scripts/check-deploy.sh
