#!/usr/bin/env bash
# depot's memory while it replicates a large package between two regions:
# two Garage servers (hz, depot's own store, and sh), one depot on
# PostgreSQL. The package is uploaded to hz, then region sh is added (which
# queues the copy); depot's peak RSS (VmHWM, reset before the copy) is read
# once sh holds the blob, and the copy is verified by digest. Prints one line
# for BENCHMARKS.md.
#
#   bench/replicate.sh                      # 2 GiB, release build
#   BENCH_REPLICATE_MIB=256 bench/replicate.sh
#   DEPOT_BIN=target/debug/depot bench/replicate.sh   # skip the release build
#
# Needs what bench/run.sh needs (PostgreSQL or Debian's package, Garage in
# ~/.cargo/bin or installed with cargo, rpmbuild, python3, curl) and root for
# /proc/PID/clear_refs when depot runs as another user. The generated RPM is
# cached beside bench/run.sh's (DEPOT_BENCH_CACHE).
set -euo pipefail
{
cd "$(dirname "$0")/.."

MIB=${BENCH_REPLICATE_MIB:-2048}
CACHE=${DEPOT_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/depot-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/depot-bench-target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-replicate.XXXXXX")
# shellcheck source=scripts/services.sh
. scripts/services.sh
DEPOT_PID="" HZ_PID="" SH_PID="" DB_CREATED=""

stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    set +e
    stop_pid "$DEPOT_PID"
    stop_pid "$HZ_PID"
    stop_pid "$SH_PID"
    [ -z "$DB_CREATED" ] || psql "$PG_ADMIN_URL" -q -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# --- depot ----------------------------------------------------------------------
if [ -n "${DEPOT_BIN:-}" ]; then
    DEPOT=$DEPOT_BIN
else
    log "building depot (release) in $CARGO_TARGET_DIR"
    cargo build --release --locked --quiet
    DEPOT=$CARGO_TARGET_DIR/release/depot
fi

# --- the package: an RPM of MIB mebibytes of /dev/urandom, uncompressed --------
# shellcheck source=bench/rpm.sh
. bench/rpm.sh
RPM=$(make_rpm "$MIB")
BYTES=$(stat -c %s "$RPM")

# --- services -------------------------------------------------------------------
start_postgres
DB_NAME=depot_replicate_$$
psql "$PG_ADMIN_URL" -q -c "create database $DB_NAME"
DB_CREATED=1
export DEPOT_DATABASE_URL=${PG_ADMIN_URL%/postgres}/$DB_NAME

install_garage
start_garage "$WORK/sh" depot-sh
SH_PID=$GARAGE_PID SH_ENDPOINT=$S3_ENDPOINT
# sh's keys reach depot through its environment, not the database.
export DEPOT_REGION_SH_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID DEPOT_REGION_SH_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
start_garage "$WORK/hz" depot-hz # exports AWS_* for depot's own store
HZ_PID=$GARAGE_PID HZ_ENDPOINT=$S3_ENDPOINT
GARAGE_PID=""

export DEPOT_STORAGE_URL=s3://depot-hz DEPOT_S3_ENDPOINT=$HZ_ENDPOINT DEPOT_DATA_DIR=$WORK/depot-data
ADMIN_PW=$(random_hex 12)
PORT=$(free_port)
URL=http://127.0.0.1:$PORT
"$DEPOT" migrate >/dev/null
DEPOT_ADMIN_PASSWORD=$ADMIN_PW "$DEPOT" serve --listen "127.0.0.1:$PORT" >>"$WORK/depot.log" 2>&1 &
DEPOT_PID=$!
wait_for depot 60 curl -fs "$URL/readyz" || { tail -n 30 "$WORK/depot.log" >&2; exit 1; }
"$DEPOT" region add hz --storage-url s3://depot-hz --s3-endpoint "$HZ_ENDPOINT" --home >/dev/null

log "uploading the $MIB MiB RPM to hz"
code=$(curl -sS -o "$WORK/upload.json" -w '%{http_code}' -u "admin:$ADMIN_PW" \
    -X POST "$URL/api/v2/software-packages" -F "file=@$RPM")
[ "$code" = 200 ] || { echo "upload answered $code: $(head -c 500 "$WORK/upload.json")" >&2; exit 1; }

region_field() { # region field
    curl -fsS -u "admin:$ADMIN_PW" "$URL/api/v2/regions" |
        python3 -c "import json,sys; r=[r for r in json.load(sys.stdin)['data'] if r['name']=='$1']; print(r[0].get('$2', '') if r else '')"
}

# --- the copy ---------------------------------------------------------------------
sleep 2 # the upload's own buffers settle
echo 5 >"/proc/$DEPOT_PID/clear_refs" # resets VmHWM to the current RSS
IDLE=$(status_kib "$DEPOT_PID" VmRSS)
log "adding region sh: depot copies the blob there (idle RSS $((IDLE / 1024)) MiB)"
started=$(date +%s.%N)
"$DEPOT" region add sh --storage-url s3://depot-sh --s3-endpoint "$SH_ENDPOINT" >/dev/null
while [ "$(region_field sh present)" != 1 ]; do
    if [ "$(region_field sh failed)" != 0 ]; then
        echo "the copy failed: $(region_field sh lastError)" >&2
        exit 1
    fi
    sleep 0.2
done
SECS=$(python3 -c "import time; print(round(time.time() - $started, 1))")
PEAK=$(status_kib "$DEPOT_PID" VmHWM)
log "verifying every copy's digest (depot region sync --verify)"
"$DEPOT" region sync --verify >"$WORK/sync.txt"
grep -q "drifted 0" "$WORK/sync.txt" || { cat "$WORK/sync.txt" >&2; exit 1; }

MIBS=$(python3 -c "print(round($BYTES / 1048576 / $SECS, 1))")
printf '| replication of a %s MiB package, hz → sh (Garage to Garage) | peak RSS %s MiB (idle %s MiB) | %s s, %s MiB/s (incl. up to 2 s until the replica reads the new region) |\n' \
    "$MIB" "$((PEAK / 1024))" "$((IDLE / 1024))" "$SECS" "$MIBS"
}
