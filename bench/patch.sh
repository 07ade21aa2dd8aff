#!/usr/bin/env bash
# depot's memory and local disk while it takes a StarlingX patch of several
# GiB: one depot on PostgreSQL and Garage, a patch of two incompressible RPMs
# (BENCH_PATCH_MIB each, 2 GiB by default: a 4 GiB software.tar) signed with
# a throwaway key whose certificate depot trusts (--patch-trust-cert),
# uploaded with `depot patch upload`. depot's peak RSS (VmHWM, reset before
# the upload), the most its data and temporary directories held while the
# upload ran (sampled with du; Garage's data directory is the store, and not
# counted) and the bytes depot itself wrote to local files anywhere
# (write_bytes of /proc/PID/io) are printed as one line for BENCHMARKS.md.
#
#   bench/patch.sh                          # 2 × 2 GiB, release build
#   BENCH_PATCH_MIB=256 bench/patch.sh
#   DEPOT_BIN=target/debug/depot bench/patch.sh   # skip the release build
#
# Needs what bench/replicate.sh needs, plus openssl and GNU tar. The RPMs,
# the patch file and its key are cached beside bench/run.sh's
# (DEPOT_BENCH_CACHE).
set -euo pipefail
{
cd "$(dirname "$0")/.."

MIB=${BENCH_PATCH_MIB:-2048}
CACHE=${DEPOT_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/depot-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/depot-bench-target}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-patch.XXXXXX")
# shellcheck source=scripts/services.sh
. scripts/services.sh
DEPOT_PID="" GARAGE_PID="" SAMPLER_PID="" DB_CREATED=""

stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    set +e
    stop_pid "$SAMPLER_PID"
    stop_pid "$DEPOT_PID"
    stop_pid "$GARAGE_PID"
    [ -z "$DB_CREATED" ] || psql "$PG_ADMIN_URL" -q -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
written() { awk '$1 == "write_bytes:" {print $2}' "/proc/$1/io"; }

# --- depot ----------------------------------------------------------------------
if [ -n "${DEPOT_BIN:-}" ]; then
    DEPOT=$DEPOT_BIN
else
    log "building depot (release) in $CARGO_TARGET_DIR"
    cargo build --release --locked --quiet
    DEPOT=$CARGO_TARGET_DIR/release/depot
fi

# --- the patch: metadata.tar, software.tar (two RPMs), both signatures ---------
# shellcheck source=bench/rpm.sh
. bench/rpm.sh
ID=BENCH_19.12_PATCH_$MIB
DIR=$CACHE/patch
PATCH=$DIR/$ID.patch
# Each patch has its key: a patch is cached with the certificate that verifies it.
KEY=$DIR/$ID.key.pem CERT=$DIR/$ID.cert.pem
if [ ! -s "$PATCH" ] || [ ! -s "$CERT" ]; then
    RPM_A=$(make_rpm "$MIB" patchbench-a)
    RPM_B=$(make_rpm "$MIB" patchbench-b)
    log "building $ID.patch (cached in $DIR)"
    mkdir -p "$DIR" "$WORK/build"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=depot patch bench" \
        -keyout "$KEY" -out "$CERT" 2>/dev/null
    (
        cd "$WORK/build"
        a=$(basename "$RPM_A") b=$(basename "$RPM_B")
        cat >metadata.xml <<XML
<patch>
  <id>$ID</id>
  <sw_version>19.12</sw_version>
  <summary>depot benchmark patch</summary>
  <description>Two incompressible RPMs of $MIB MiB</description>
  <install_instructions/>
  <warnings/>
  <status>REL</status>
  <unremovable>N</unremovable>
  <reboot_required>N</reboot_required>
  <apply_active_release_only/>
  <personality type="controller"><package>patchbench-a</package><package>patchbench-b</package></personality>
  <contents><rpm>$a</rpm><rpm>$b</rpm></contents>
  <requires/>
  <semantics/>
</patch>
XML
        tar -cf metadata.tar metadata.xml
        tar -cf software.tar -C "$(dirname "$RPM_A")" "$a" "$b"
        # StarlingX's signature: all ones XOR each inner tar's MD5, in "%x".
        python3 - metadata.tar software.tar >signature <<'PY'
import hashlib, sys
v = (1 << 128) - 1
for path in sys.argv[1:]:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    v ^= int(h.hexdigest(), 16)
sys.stdout.write("%x" % v)
PY
        # signature.v2: RSA-PSS over SHA-256 of the inner tars, in order.
        cat metadata.tar software.tar | openssl dgst -sha256 -sign "$KEY" \
            -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out signature.v2
        tar -cf - metadata.tar software.tar signature signature.v2 | gzip -1 >"$PATCH.tmp"
        mv "$PATCH.tmp" "$PATCH"
    )
    rm -rf "$WORK/build"
fi
BYTES=$(stat -c %s "$PATCH")

# --- services -------------------------------------------------------------------
start_postgres
DB_NAME=depot_patch_$$
psql "$PG_ADMIN_URL" -q -c "create database $DB_NAME"
DB_CREATED=1
export DEPOT_DATABASE_URL=${PG_ADMIN_URL%/postgres}/$DB_NAME

install_garage
start_garage "$WORK/garage" depot-patch # exports AWS_* for depot
export DEPOT_STORAGE_URL=s3://depot-patch DEPOT_S3_ENDPOINT=$S3_ENDPOINT
export DEPOT_DATA_DIR=$WORK/depot-data DEPOT_PATCH_TRUST_CERT=$CERT
export DEPOT_MAX_UPLOAD_SIZE=$(((2 * MIB + 64) << 20))
mkdir -p "$WORK/depot-tmp"
ADMIN_PW=$(random_hex 12)
PORT=$(free_port)
export DEPOT_URL=http://127.0.0.1:$PORT DEPOT_USER=admin DEPOT_PASSWORD=$ADMIN_PW
"$DEPOT" migrate >/dev/null
TMPDIR=$WORK/depot-tmp DEPOT_ADMIN_PASSWORD=$ADMIN_PW "$DEPOT" serve --listen "127.0.0.1:$PORT" >>"$WORK/depot.log" 2>&1 &
DEPOT_PID=$!
wait_for depot 60 curl -fs "$DEPOT_URL/readyz" || { tail -n 30 "$WORK/depot.log" >&2; exit 1; }
"$DEPOT" patch release add 19.12 --base el7 >/dev/null

# --- the upload -------------------------------------------------------------------
# The most depot's own directories hold, every half second while it runs.
(
    max=0
    while :; do
        now=$(du -sb "$WORK/depot-data" "$WORK/depot-tmp" 2>/dev/null | awk '{s += $1} END {print s + 0}')
        [ "$now" -le "$max" ] || { max=$now; echo "$max" >"$WORK/disk-max"; }
        sleep 0.5
    done
) &
SAMPLER_PID=$!
sleep 2 # startup's buffers settle
echo 5 >"/proc/$DEPOT_PID/clear_refs" # resets VmHWM to the current RSS
IDLE=$(status_kib "$DEPOT_PID" VmRSS)
WRITTEN0=$(written "$DEPOT_PID")
log "uploading $ID.patch ($((BYTES >> 20)) MiB; idle RSS $((IDLE / 1024)) MiB)"
started=$(date +%s.%N)
"$DEPOT" patch upload "$PATCH" >"$WORK/upload.txt" 2>&1 || { cat "$WORK/upload.txt" >&2; tail -n 30 "$WORK/depot.log" >&2; exit 1; }
SECS=$(python3 -c "import time; print(round(time.time() - $started, 1))")
PEAK=$(status_kib "$DEPOT_PID" VmHWM)
WROTE=$(($(written "$DEPOT_PID") - WRITTEN0))
sleep 1
stop_pid "$SAMPLER_PID"
SAMPLER_PID=""
DISK=$(cat "$WORK/disk-max" 2>/dev/null || echo 0)
grep -q "$ID is now available" "$WORK/upload.txt" || { cat "$WORK/upload.txt" >&2; exit 1; }
"$DEPOT" patch query >"$WORK/query.txt"
grep -q "$ID" "$WORK/query.txt" || { cat "$WORK/query.txt" >&2; exit 1; }

MIBS=$(python3 -c "print(round($BYTES / 1048576 / $SECS, 1))")
printf '| upload of a %s MiB patch (2 RPMs of %s MiB), verified and stored on Garage | peak RSS %s MiB (idle %s MiB) | local disk: at most %s KiB in its directories, %s KiB written by depot | %s s, %s MiB/s |\n' \
    "$((BYTES >> 20))" "$MIB" "$((PEAK / 1024))" "$((IDLE / 1024))" "$((DISK >> 10))" "$((WROTE >> 10))" "$SECS" "$MIBS"
}
