#!/usr/bin/env bash
# depot's benchmark. Starts depot against PostgreSQL and Garage (a real S3
# server) on this machine, measures each figure of BENCHMARKS.md against its
# baseline in the same run, prints a table, and stops what it started.
#
#   bench/run.sh
#
# Needs: PostgreSQL on 127.0.0.1:5432 with trust auth (else a throwaway
# cluster is started, as scripts/test.sh does), Garage in ~/.cargo/bin (else
# installed with cargo), and wrk, rpmbuild, pgbench, python3-venv (wrk and rpm
# are apt-installed when missing, which needs root). Built binaries, the
# generated RPMs and a boto3 venv are cached, so a rerun takes about 6 minutes.
#
# Settings (environment):
#   BENCH_SECONDS=15            length of each wrk and pgbench run
#   BENCH_UPLOAD_SIZES="200 2048"  upload sizes in MiB
#   BENCH_UPLOAD_RUNS=2         uploads per size and side; the best of each side counts
#   BENCH_UPLOAD_STORES="garage s3s-fs"  the S3 servers uploads go to (s3s-fs, whose
#                               copies rewrite bytes, is cargo-installed when missing)
#   BENCH_UPLOAD_PIN=1          depot on CPU 0, the S3 server on CPU 1 (upload phase)
#   BENCH_ROWS=100000           packages seeded for the list figures (1000000 for
#                               BENCHMARKS.md's "Lists at 1 M packages")
#   BENCH_DOWNLOAD_CONNECTIONS=64, BENCH_LIST_CONNECTIONS=16
#   BENCH_SKIP="…"              any of: upload download transfer static list route repos
#   BENCH_REPO_SIZES="1000 10000 100000"  repository sizes (packages) of the repos phase
#   BENCH_REPO_TRIALS=3         uploads measured at each size; the median counts
#   BENCH_TRANSFER_RUNS=3       downloads of the big RPM per side (proxy, redirect; depot, nginx); the best counts
#   BENCH_STATIC_MIB=1024       the big RPM of the static phase (depot on local files against nginx and Pulp 3)
#   BENCH_QUIET_WAIT=60         seconds to wait for an idle CPU before each measurement
#   DEPOT_BENCH_CACHE           default ~/.cache/depot-bench (RPMs, venv, results)
#   CARGO_TARGET_DIR            default ~/.cache/depot-bench-target
#   DEPOT_*                     reach depot as they are: DEPOT_S3_UNSIGNED_PAYLOAD=true
#                               has it sign as over HTTPS (as the direct PUT's
#                               presigned URL does), not each body's SHA-256
set -euo pipefail
# The whole script is one block, read before it runs: editing this file while
# a benchmark runs does not change the run.
{
cd "$(dirname "$0")/.."
ROOT=$PWD

SECONDS_EACH=${BENCH_SECONDS:-15}
UPLOAD_SIZES=${BENCH_UPLOAD_SIZES:-"200 2048"}
UPLOAD_RUNS=${BENCH_UPLOAD_RUNS:-2}
UPLOAD_STORES=${BENCH_UPLOAD_STORES:-"garage s3s-fs"}
UPLOAD_PIN=${BENCH_UPLOAD_PIN:-}
ROWS=${BENCH_ROWS:-100000}
DL_CONNS=${BENCH_DOWNLOAD_CONNECTIONS:-64}
LIST_CONNS=${BENCH_LIST_CONNECTIONS:-16}
SKIP=" ${BENCH_SKIP:-} "
CACHE=${DEPOT_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/depot-bench}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/depot-bench-target}
BUCKET=depot-bench
# The list requests measured: filtered (OCP's own view), sorted by another
# column, and a keyword as the console's search box sends it.
LIST_QUERY="type=OB_SERVER_INSTALL_PACKAGE&operatingSystem=el7&sort=createTime,desc&page=3&size=20"
LIST_REQUESTS=(
    "filtered|$LIST_QUERY"
    "sorted|sort=name,asc&page=50&size=20"
    "keyword|keyword=proxy&sort=createTime,desc&page=1&size=20"
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-bench.XXXXXX")
# shellcheck source=scripts/services.sh
. scripts/services.sh
RESULTS=$WORK/results.tsv
: >"$RESULTS"
DB_CREATED=""
REPO_DB_CREATED=""
DEPOT_PID=""
BASELINE_PID=""
NGINX_PID=""

skipped() { [[ $SKIP == *" $1 "* ]]; }

stop_pid() { # pid: TERM, then wait for it
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    set +e
    stop_pid "$DEPOT_PID"
    stop_pid "$BASELINE_PID"
    stop_pid "$NGINX_PID"
    stop_pid "$GARAGE_PID"
    stop_pid "$S3S_PID"
    ! declare -F stop_pulp >/dev/null || stop_pulp # bench/pulp.sh, when the static phase ran
    if [ -n "$DB_CREATED" ]; then
        psql "$PG_ADMIN_URL" -q -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    fi
    if [ -n "$REPO_DB_CREATED" ]; then
        psql "$PG_ADMIN_URL" -q -c "drop database if exists $REPO_DB_CREATED" >/dev/null 2>&1
    fi
    stop_postgres
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# name, depot, baseline, ratio, target, ok
result() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

calc() { python3 -c "print($1)"; }

# The machine should be quiet before a measurement (2 cores are easily shared
# with a build or a test run): wait up to BENCH_QUIET_WAIT seconds (default 60)
# for the CPUs to be less than 15% busy; otherwise measure anyway, say so, and
# keep the phase for the table's warning.
cpu_busy() { # percent busy over one second
    local a b
    a=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu / {print $2+$3+$4+$7+$8, $5+$6}' /proc/stat)
    python3 -c "a=[int(x) for x in '$a'.split()]; b=[int(x) for x in '$b'.split()]; d=b[0]-a[0]; print(round(100*d/max(1, d+b[1]-a[1])))"
}
quiet_check() { # phase
    local busy waited=0
    busy=$(cpu_busy)
    while [ "$busy" -gt 15 ] && [ "$waited" -lt "${BENCH_QUIET_WAIT:-60}" ]; do
        [ "$waited" = 0 ] && log "the machine is ${busy}% busy ($(ps -eo comm --sort=-pcpu | sed -n 2,4p | tr '\n' ' ')); waiting for quiet before '$1'"
        sleep 4
        waited=$((waited + 5))
        busy=$(cpu_busy)
    done
    if [ "$busy" -gt 15 ]; then
        log "warning: measuring '$1' on a ${busy}% busy machine"
        echo -n " $1 (${busy}%)" >>"$WORK/noisy" # from subshells too
    fi
}

# --- Tools --------------------------------------------------------------------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v rpmbuild >/dev/null || need_apt+=(rpm)
command -v pgbench >/dev/null || need_apt+=(postgresql-client)
command -v createrepo_c >/dev/null || need_apt+=(createrepo-c)
if [ ${#need_apt[@]} -gt 0 ]; then
    log "installing ${need_apt[*]} from Debian"
    if [ "$(id -u)" != 0 ]; then
        echo "need root to apt-get install ${need_apt[*]} (or install them yourself)" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
mkdir -p "$CACHE"
VENV=$CACHE/venv
if ! "$VENV/bin/python" -c 'import boto3, blake3' 2>/dev/null; then
    log "installing boto3 and blake3 (PyPI) into $VENV, to presign the direct PUT and announce a digest"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "boto3==1.35.99" "blake3==1.0.11"
fi

# --- Builds ---------------------------------------------------------------------
log "building depot (release) in $CARGO_TARGET_DIR"
cargo build --release --locked --quiet
DEPOT=$CARGO_TARGET_DIR/release/depot
log "building the baseline 302 server (bench/baseline-302)"
cargo build --release --locked --quiet --manifest-path bench/baseline-302/Cargo.toml
BASELINE=$CARGO_TARGET_DIR/release/baseline-302

# --- Route planning (no services needed: runs first, on a quiet machine) -------
if ! skipped route; then
    quiet_check route
    log "cargo bench --bench route_planner"
    cargo bench --locked --quiet --bench route_planner | tee "$WORK/route.txt" >&2
    # | versions | nodes | edges | YAML KiB | parse ms | plans | routes | deprecated | no route | plans/s | p50 | p99 | max | hops |
    row=$(awk -F'|' '$2 ~ /^ *5000 *$/' "$WORK/route.txt")
    if [ -n "$row" ]; then
        plans=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$11); print $11}')
        p50=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$12); print $12}')
        p99=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$13); print $13}')
        parse=$(echo "$row" | awk -F'|' '{gsub(/ /,"",$6); print $6}')
        result "route plans, 5,000-version graph" "${plans} plans/s (p50 ${p50} µs, p99 ${p99} µs; YAML parse ${parse} ms)" "—" "—" "reported" "—"
    else
        result "route plans, 5,000-version graph" "no 5000 row in the bench output" "—" "—" "reported" "FAIL"
    fi
fi

# --- PostgreSQL -------------------------------------------------------------------
start_postgres
DB_NAME=depot_bench_$$
psql "$PG_ADMIN_URL" -q -c "create database $DB_NAME"
DB_CREATED=1
DATABASE_URL=${PG_ADMIN_URL%/postgres}/$DB_NAME
export DEPOT_DATABASE_URL=$DATABASE_URL

# The log the server writes statements to, for capturing the list SQL.
pg_log_file() {
    if [ -n "$PG_STARTED" ]; then echo "$WORK/pg.log"; return; fi
    local f
    f=$(psql "$PG_ADMIN_URL" -Atc "select pg_current_logfile()" 2>/dev/null || true)
    if [ -n "$f" ]; then
        case $f in /*) ;; *) f="$(psql "$PG_ADMIN_URL" -Atc 'show data_directory')/$f" ;; esac
        echo "$f"
        return
    fi
    local major
    major=$(($(psql "$PG_ADMIN_URL" -Atc 'show server_version_num') / 10000))
    echo "/var/log/postgresql/postgresql-$major-main.log"
}

# --- Garage (S3) ------------------------------------------------------------------
install_garage

# A fresh Garage (empty data directory, new ports, new keys) each time: Garage
# stores content-addressed blocks and skips writing a block it already holds,
# so uploading the same file twice into one instance would flatter the second.
fresh_garage() { fresh_store garage; }

# fresh_store garage|s3s-fs: that S3 server, fresh, in place of any other.
# Sets STORE_PID.
fresh_store() {
    stop_pid "$GARAGE_PID"
    stop_pid "$S3S_PID"
    GARAGE_PID="" S3S_PID=""
    case $1 in
        garage) start_garage "$WORK/garage" "$BUCKET" && STORE_PID=$GARAGE_PID ;;
        s3s-fs) start_s3s_fs "$WORK/s3s" "$BUCKET" && STORE_PID=$S3S_PID ;;
        *) echo "unknown store $1 (garage, s3s-fs)" >&2 && exit 2 ;;
    esac
    export S3_ENDPOINT
}

# --- depot ------------------------------------------------------------------------
ADMIN_PW=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
start_depot() {
    stop_pid "$DEPOT_PID"
    DEPOT_PID=""
    DEPOT_PORT=$(free_port)
    DEPOT_URL="http://127.0.0.1:$DEPOT_PORT"
    # The defaults otherwise, logging included (one line per request, at info).
    DEPOT_ADMIN_PASSWORD=$ADMIN_PW "$DEPOT" serve --listen "127.0.0.1:$DEPOT_PORT" \
        --data-dir "$WORK/depot-data" --storage-url "s3://$BUCKET" --s3-endpoint "$S3_ENDPOINT" \
        --download-redirect on-request >>"$WORK/depot.log" 2>&1 &
    DEPOT_PID=$!
    wait_for depot 60 curl -fs "$DEPOT_URL/readyz" || { tail -n 30 "$WORK/depot.log" >&2; exit 1; }
}

log "depot migrate; seeding $ROWS packages (bench/seed.sql)"
"$DEPOT" migrate >/dev/null
started=$(date +%s.%N)
psql "$DATABASE_URL" -q -v rows="$ROWS" -f bench/seed.sql
log "seeded in $(calc "round($(date +%s.%N) - $started, 1)") s"
fresh_garage
start_depot
TOKEN=$("$DEPOT" token create bench --user admin 2>/dev/null)
BEARER="Authorization: Bearer $TOKEN"
BASIC="Authorization: Basic $(printf 'admin:%s' "$ADMIN_PW" | base64 -w0)"

# --- RPMs (cached) ----------------------------------------------------------------
# shellcheck source=bench/rpm.sh
. bench/rpm.sh

status_kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
# CPU time (user + system) a process has used, in clock ticks.
cpu_ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
TICKS=$(getconf CLK_TCK)

# POST the file to depot, with QUERY (`?blake3=…`) when given; prints
# "seconds peak_rss_kib id".
depot_upload() {
    local file=$1 query=${2:-}
    echo 5 >"/proc/$DEPOT_PID/clear_refs" # resets VmHWM to the current RSS
    local out code secs
    out=$(curl -sS -o "$WORK/upload.json" -w '%{http_code} %{time_total}' -H "$BEARER" \
        -X POST "$DEPOT_URL/api/v2/software-packages$query" -F "file=@$file")
    read -r code secs <<<"$out"
    if [ "$code" != 200 ]; then
        echo "depot upload answered $code: $(head -c 500 "$WORK/upload.json")" >&2
        exit 1
    fi
    local id
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["id"])' "$WORK/upload.json")
    echo "$secs $(status_kib "$DEPOT_PID" VmHWM) $id"
}

# PUT the file to the S3 server with a presigned URL; prints seconds.
direct_put() {
    local file=$1 key out code secs
    key=direct/$(basename "$file")
    local url
    url=$("$VENV/bin/python" bench/s3.py presign-put "$BUCKET" "$key")
    out=$(curl -sS -o "$WORK/put.out" -w '%{http_code} %{time_total}' -T "$file" "$url")
    read -r code secs <<<"$out"
    if [ "$code" != 200 ]; then
        echo "direct PUT answered $code: $(head -c 500 "$WORK/put.out")" >&2
        exit 1
    fi
    echo "$secs"
}

# --- Upload throughput and memory -------------------------------------------------
# The file's BLAKE3, cached beside it: what a client announces (`depot push` does).
blake3_of() {
    [ -s "$1.b3" ] || "$VENV/bin/python" -c '
import sys, blake3
h = blake3.blake3(max_threads=blake3.blake3.AUTO)
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 22):
        h.update(chunk)
print(h.hexdigest())' "$1" >"$1.b3"
    cat "$1.b3"
}

# pin PID CPU: the process and all its threads on one CPU (BENCH_UPLOAD_PIN).
pin() { [ -z "$UPLOAD_PIN" ] || taskset -a -p -c "$2" "$1" >/dev/null; }

# One side of the upload figure, into a fresh STORE and a fresh depot:
# direct (a presigned PUT), staged (depot, no digest announced) or announced
# (depot, `?blake3=`). Run in this shell, not a subshell (it starts the
# servers): sets SECS, STORE_CPU and DEPOT_CPU (s/GiB), PEAK and IDLE (KiB),
# and ID (the package, for depot's sides).
upload_side() { # store side file
    local store=$1 side=$2 file=$3 bytes gib s0 d0
    bytes=$(stat -c %s "$file")
    gib=$(calc "$bytes / 1073741824")
    fresh_store "$store" >&2
    start_depot >&2
    pin "$STORE_PID" 1
    pin "$DEPOT_PID" 0
    # depot hands freed heap back every 10 s (allocator::trim): idle, and the
    # baseline of the peak, are read once the first trim has run.
    sleep 11
    quiet_check "upload $((bytes >> 20)) MiB into $store ($side)"
    IDLE=$(status_kib "$DEPOT_PID" VmRSS)
    s0=$(cpu_ticks "$STORE_PID") d0=$(cpu_ticks "$DEPOT_PID")
    case $side in
        direct) SECS=$(direct_put "$file") PEAK=0 ID="" ;;
        staged) read -r SECS PEAK ID <<<"$(depot_upload "$file")" ;;
        announced) read -r SECS PEAK ID <<<"$(depot_upload "$file" "?blake3=$(blake3_of "$file")")" ;;
    esac
    STORE_CPU=$(calc "round(($(cpu_ticks "$STORE_PID") - $s0) / $TICKS / $gib, 1)")
    DEPOT_CPU=$(calc "round(($(cpu_ticks "$DEPOT_PID") - $d0) / $TICKS / $gib, 1)")
}

if ! skipped upload; then
    for store in $UPLOAD_STORES; do
        for mib in $UPLOAD_SIZES; do
            rpm=$(make_rpm "$mib")
            bytes=$(stat -c %s "$rpm")
            blake3_of "$rpm" >/dev/null
            cat "$rpm" >/dev/null # every side reads it from the page cache
            declare -A best=() cpu=()
            peak_max=0 idle_max=0
            for run in $(seq "$UPLOAD_RUNS"); do
                for side in direct staged announced; do
                    upload_side "$store" "$side" "$rpm"
                    log "$mib MiB into $store, $side, run $run: $SECS s ($(calc "round($bytes / 1048576 / $SECS, 1)") MiB/s), CPU s/GiB: $store $STORE_CPU, depot $DEPOT_CPU; depot peak RSS $((PEAK / 1024)) MiB (idle $((IDLE / 1024)) MiB)"
                    if [ -z "${best[$side]:-}" ] || [ "$(calc "int($SECS < ${best[$side]})")" = 1 ]; then
                        best[$side]=$SECS
                        if [ "$side" = direct ]; then cpu[$side]="$store $STORE_CPU"; else cpu[$side]="depot $DEPOT_CPU + $store $STORE_CPU"; fi
                    fi
                    if [ "$side" != direct ]; then
                        peak_max=$((PEAK > peak_max ? PEAK : peak_max))
                        idle_max=$((IDLE > idle_max ? IDLE : idle_max))
                        curl -fsS -o /dev/null -H "$BEARER" -X DELETE "$DEPOT_URL/api/v2/software-packages/$ID"
                    fi
                done
            done
            pinned=${UPLOAD_PIN:+", pinned"}
            direct_rate=$(calc "round($bytes / 1048576 / ${best[direct]}, 1)")
            for side in announced staged; do
                case $side in
                    announced) what="BLAKE3 announced" target=0.9 ;;
                    staged) what="no digest" target=0.8 ;;
                esac
                ratio=$(calc "round(${best[direct]} / ${best[$side]}, 2)")
                ok=$(calc "'yes' if ${best[direct]} / ${best[$side]} >= $target else 'NO'")
                result "upload $mib MiB RPM into $store, $what, MiB/s (best of $UPLOAD_RUNS; CPU s/GiB$pinned)" \
                    "$(calc "round($bytes / 1048576 / ${best[$side]}, 1)") (${cpu[$side]})" \
                    "$direct_rate (direct PUT; ${cpu[direct]})" "$ratio" "≥ $target" "$ok"
            done
            peak_mib=$(calc "round($peak_max / 1024, 1)")
            ok=$(calc "'yes' if $peak_max <= 64 * 1024 else 'NO'")
            result "depot peak RSS during the $mib MiB uploads into $store" "$peak_mib MiB (idle $((idle_max / 1024)) MiB)" \
                "$(calc "round($bytes / 1048576, 1)") MiB (file)" "$(calc "round($peak_max * 1024 / $bytes, 3)")" "≤ 64 MiB" "$ok"
            unset best cpu
        done
    done
fi

# --- Helpers of the request-rate figures ------------------------------------------
# wrk's summary -> "requests_per_second p99_ms bad cpu_us", bad = non-2xx/3xx
# answers (and "+socket-errors" when wrk saw any), cpu_us = CPU microseconds
# per request of the server process (from its CPU ticks during the run).
wrk_summary() { # wrk-output cpu-ticks
    python3 - "$1" "$2" "$TICKS" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
cpu_us = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(1, requests)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(f"{rps:.0f} {p99:.2f} {int(bad.group(1)) if bad else 0}{'+socket-errors' if errors else ''} {cpu_us:.0f}")
PY
}

run_wrk() { # name server-pid connections url [header] -> summary line
    local name=$1 pid=$2 conns=$3 url=$4
    shift 4
    local args=()
    if [ $# -gt 0 ]; then args=(-H "$1"); fi
    quiet_check "$name"
    wrk -t2 -c"$conns" -d3s "${args[@]}" "$url" >/dev/null # warm-up (and caches filled)
    local t0 t1 summary
    t0=$(cpu_ticks "$pid")
    wrk -t2 -c"$conns" -d"${SECONDS_EACH}s" --latency "${args[@]}" "$url" >"$WORK/wrk-$name.txt"
    t1=$(cpu_ticks "$pid")
    summary=$(wrk_summary "$WORK/wrk-$name.txt" $((t1 - t0)))
    log "$name: $summary (requests/s, p99 ms, non-2xx/3xx, server CPU µs/request)"
    echo "$summary"
}

run_pgbench() { # name clients script -> "tps p50_ms p99_ms"
    local name=$1 clients=$2 script=$3
    rm -f "$WORK/pgbench_$name".*
    quiet_check "pgbench $name"
    (cd "$WORK" && pgbench -n -M prepared -c "$clients" -j 2 -T 3 -f "$script" "$DATABASE_URL" >/dev/null 2>&1)
    (cd "$WORK" && pgbench -n -M prepared -c "$clients" -j 2 -T "$SECONDS_EACH" -f "$script" \
        -l --log-prefix="pgbench_$name" "$DATABASE_URL" >"$WORK/pgbench-$name.txt" 2>&1) ||
        { cat "$WORK/pgbench-$name.txt" >&2; exit 1; }
    local tps pct
    tps=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/pgbench-$name.txt")
    pct=$(python3 bench/pgtools.py percentiles "$WORK/pgbench_$name".*)
    log "pgbench $name ($script): $tps tps, count p50 p99 = $pct"
    echo "$tps $(echo "$pct" | awk '{print $2, $3}')"
}

if ! skipped download || ! skipped list; then
    fresh_garage
    start_depot
    DL_RPM=$(make_rpm "$(echo "$UPLOAD_SIZES" | awk '{print $1}')")
    DL_NAME=$(basename "$DL_RPM")
    curl -fsS -o /dev/null -H "$BEARER" -X POST "$DEPOT_URL/api/v2/software-packages" -F "file=@$DL_RPM"

    # The SQL depot runs for one download and one list request, captured from
    # PostgreSQL's log (statements of this database only, logged by a depot
    # whose connections are new), for the pgbench baselines.
    PG_LOG=$(pg_log_file)
    SQL_SOURCE=captured
    if [ -r "$PG_LOG" ]; then
        psql "$PG_ADMIN_URL" -q -c "alter database $DB_NAME set log_statement = 'all'"
        start_depot
        list_url="$DEPOT_URL/api/v2/software-packages?$LIST_QUERY"
        dl_url="$DEPOT_URL/api/v2/files/sys-package/$DL_NAME?redirect=1"
        curl -fsS -o /dev/null -H "$BEARER" "$list_url" # warms the connections up
        sleep 0.3
        offset=$(stat -c %s "$PG_LOG")
        curl -fsS -o /dev/null -H "$BEARER" "$dl_url"
        sleep 0.3
        log "SQL of one download (from $PG_LOG):"
        python3 bench/pgtools.py capture "$PG_LOG" "$offset" "$WORK/download.sql"
        for request in "${LIST_REQUESTS[@]}"; do
            name=${request%%|*}
            offset=$(stat -c %s "$PG_LOG")
            curl -fsS -o /dev/null -H "$BEARER" "$DEPOT_URL/api/v2/software-packages?${request#*|}"
            sleep 0.3
            log "SQL of one list page ($name):"
            # The list's own statements: those naming packages or their summaries.
            python3 bench/pgtools.py capture "$PG_LOG" "$offset" "$WORK/list-all-$name.sql" "$WORK/list-$name.sql" '"package'
            cp "$WORK/list-$name.sql" "$WORK/list-all-$name.sql" "$CACHE/"
        done
        cp "$WORK/list-filtered.sql" "$WORK/list.sql"
        cp "$WORK/list-all-filtered.sql" "$WORK/list-all.sql"
        psql "$PG_ADMIN_URL" -q -c "alter database $DB_NAME reset log_statement"
        cp "$WORK/download.sql" "$CACHE/"
    else
        log "cannot read PostgreSQL's log ($PG_LOG): using bench/list-query.sql, as captured earlier"
        cp bench/list-query.sql "$WORK/list.sql"
        cp bench/list-query.sql "$WORK/list-filtered.sql"
        SQL_SOURCE="bench/list-query.sql"
    fi
    start_depot # new connections, without statement logging
fi

# --- Downloads (redirects) --------------------------------------------------------
if ! skipped download; then
    url="$DEPOT_URL/api/v2/files/sys-package/$DL_NAME?redirect=1"
    location=$(curl -fsS -o /dev/null -w '%{redirect_url}' -H "$BEARER" "$url" || true)
    if [ -z "$location" ]; then
        echo "depot did not redirect $url" >&2
        exit 1
    fi
    # The baseline answers the same Location, so both responses weigh the same.
    BASE_PORT=$(free_port)
    "$BASELINE" "127.0.0.1:$BASE_PORT" "$location" >"$WORK/baseline.log" 2>&1 &
    BASELINE_PID=$!
    wait_for baseline-302 10 curl -s -o /dev/null "http://127.0.0.1:$BASE_PORT/"

    out=$(run_wrk baseline "$BASELINE_PID" "$DL_CONNS" "http://127.0.0.1:$BASE_PORT/api/v2/files/sys-package/$DL_NAME")
    read -r base_rps base_p99 base_bad base_cpu <<<"$out"
    stop_pid "$BASELINE_PID"
    BASELINE_PID=""
    base_cell="$base_rps (p99 $base_p99 ms; $base_cpu µs CPU/req; axum 302)"
    out=$(run_wrk download-bearer "$DEPOT_PID" "$DL_CONNS" "$url" "$BEARER")
    read -r rps p99 bad cpu <<<"$out"
    ok=$(calc "'yes' if $rps / $base_rps >= 0.5 and '$bad' == '0' else 'NO'")
    result "downloads/s, Bearer token, $DL_CONNS connections" "$rps (p99 $p99 ms; $cpu µs CPU/req)" "$base_cell" \
        "$(calc "round($rps / $base_rps, 2)")" "≥ 0.5, p99 reported" "$ok"
    bearer_rps=$rps
    out=$(run_wrk download-basic "$DEPOT_PID" "$DL_CONNS" "$url" "$BASIC")
    read -r rps p99 bad cpu <<<"$out"
    ok=$(calc "'yes' if $rps / $base_rps >= 0.5 and '$bad' == '0' else 'NO'")
    result "downloads/s, Basic auth (cached), $DL_CONNS connections" "$rps (p99 $p99 ms; $cpu µs CPU/req)" "$base_cell" \
        "$(calc "round($rps / $base_rps, 2)")" "≥ 0.5, p99 reported" "$ok"
    # depot's HTTP stack alone: a route that reads neither database nor store.
    out=$(run_wrk healthz "$DEPOT_PID" "$DL_CONNS" "$DEPOT_URL/healthz")
    read -r rps p99 bad cpu <<<"$out"
    result "  depot without database: GET /healthz" "$rps (p99 $p99 ms; $cpu µs CPU/req)" "$base_cell" \
        "$(calc "round($rps / $base_rps, 2)")" "(informative)" "—"
    if [ -s "$WORK/download.sql" ]; then
        # How fast PostgreSQL alone runs a download's statements (uncached),
        # at the concurrency depot's pool allows (16): a reference, no longer
        # a ceiling, since depot reuses a recent package row and token.
        out=$(run_pgbench download 16 download.sql)
        read -r tps _ pp99 <<<"$out"
        result "  a download's SQL (uncached), pgbench, 16 clients" "$bearer_rps" "$tps (p99 $pp99 ms)" \
            "$(calc "round($bearer_rps / $tps, 2)")" "(informative)" "—"
    fi
fi

# --- Proxy vs redirect --------------------------------------------------------------
# What streaming a download through depot (every client's default) costs beside
# redirecting it to the store (the opt-in fast path), end to end as a client
# sees it: a big RPM fetched whole by curl, and many small files under wrk.
download_once() { # url [curl options] -> "seconds depot_cpu_ticks bytes"
    local url=$1 t0 t1 out
    shift
    t0=$(cpu_ticks "$DEPOT_PID")
    out=$(curl -fsS -o /dev/null -w '%{time_total} %{size_download}' -H "$BEARER" "$@" "$url")
    t1=$(cpu_ticks "$DEPOT_PID")
    read -r secs got <<<"$out"
    echo "$secs $((t1 - t0)) $got"
}
if ! skipped transfer; then
    fresh_garage
    start_depot
    BIG_RPM=$(make_rpm "$(echo "$UPLOAD_SIZES" | awk '{print $1}')")
    curl -fsS -o /dev/null -H "$BEARER" -X POST "$DEPOT_URL/api/v2/software-packages" -F "file=@$BIG_RPM"
    big_url="$DEPOT_URL/api/v2/files/sys-package/$(basename "$BIG_RPM")"
    big_bytes=$(stat -c %s "$BIG_RPM")
    big_mib=$((big_bytes >> 20))
    declare -A best_secs best_ticks
    for side in proxy redirect; do
        quiet_check "download $big_mib MiB, $side"
        for _ in $(seq "${BENCH_TRANSFER_RUNS:-3}"); do
            case $side in
                proxy) read -r secs ticks got <<<"$(download_once "$big_url")" ;;
                redirect) read -r secs ticks got <<<"$(download_once "$big_url?redirect=1" -L)" ;;
            esac
            [ "$got" = "$big_bytes" ] || { echo "$side download got $got of $big_bytes bytes" >&2; exit 1; }
            if [ -z "${best_secs[$side]:-}" ] || [ "$(calc "$secs < ${best_secs[$side]}")" = True ]; then
                best_secs[$side]=$secs best_ticks[$side]=$ticks
            fi
        done
        log "download $big_mib MiB, $side: best ${best_secs[$side]} s, depot ${best_ticks[$side]} CPU ticks"
    done
    gib=$(calc "$big_bytes / 1073741824")
    rate() { calc "round($big_bytes / 1048576 / $1, 1)"; }
    per_gib() { calc "round($1 / $TICKS / $gib, 2)"; }
    result "download $big_mib MiB RPM, MiB/s (best of ${BENCH_TRANSFER_RUNS:-3}; depot CPU s/GiB)" \
        "$(rate "${best_secs[proxy]}") (proxied; depot $(per_gib "${best_ticks[proxy]}"))" \
        "$(rate "${best_secs[redirect]}") (curl -L, ?redirect=1; depot $(per_gib "${best_ticks[redirect]}"))" \
        "$(calc "round(${best_secs[redirect]} / ${best_secs[proxy]}, 2)")" "(informative)" "—"

    # Many small files: a 16 KiB script, 64 connections. wrk follows no
    # redirect, so the redirected side is its two legs measured apart.
    head -c 16384 /dev/urandom | base64 -w 76 | head -c 16384 >"$WORK/small.sh"
    curl -fsS -o /dev/null -H "$BEARER" -X POST "$DEPOT_URL/api/v2/software-packages" -F "file=@$WORK/small.sh"
    small_url="$DEPOT_URL/api/v2/files/sys-package/small.sh"
    out=$(run_wrk small-proxy "$DEPOT_PID" "$DL_CONNS" "$small_url" "$BEARER")
    read -r p_rps p_p99 p_bad p_cpu <<<"$out"
    out=$(run_wrk small-302 "$DEPOT_PID" "$DL_CONNS" "$small_url?redirect=1" "$BEARER")
    read -r r_rps r_p99 r_bad r_cpu <<<"$out"
    location=$(curl -fsS -o /dev/null -w '%{redirect_url}' -H "$BEARER" "$small_url?redirect=1")
    out=$(run_wrk small-store "$GARAGE_PID" "$DL_CONNS" "$location")
    read -r s_rps s_p99 s_bad s_cpu <<<"$out"
    # A client pays both legs one after the other.
    both=$(calc "round(1 / (1 / $r_rps + 1 / $s_rps))")
    result "16 KiB downloads/s, $DL_CONNS connections (depot CPU/req)" \
        "$p_rps (proxied; p99 $p_p99 ms; $p_cpu µs)" \
        "$both (302: $r_rps/s, p99 $r_p99 ms, $r_cpu µs; then Garage: $s_rps/s, p99 $s_p99 ms)" \
        "$(calc "round($p_rps / $both, 2)")" "(informative)" "$([ "$p_bad$r_bad$s_bad" = 000 ] && echo — || echo "errors")"
fi

# --- List pages -------------------------------------------------------------------
# Each request under wrk against pgbench running the SQL depot ran for it
# (captured above), p50 and p99 of both.
wrk_p50() { # wrk-output -> ms
    python3 - "$1" <<'PY'
import re, sys
m = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", open(sys.argv[1]).read())
print(f'{float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]:.2f}')
PY
}
if ! skipped list; then
    for request in "${LIST_REQUESTS[@]}"; do
        name=${request%%|*} query=${request#*|}
        url="$DEPOT_URL/api/v2/software-packages?$query"
        total=$(curl -fsS -H "$BEARER" "$url" | python3 -c 'import json,sys; d = json.load(sys.stdin)["data"]; print(d.get("page", {}).get("totalElements", "?"))' || echo "?")
        log "list $name ($query) matches $total of $ROWS packages"
        out=$(run_wrk "list-$name" "$DEPOT_PID" "$LIST_CONNS" "$url" "$BEARER")
        read -r rps p99 bad cpu <<<"$out"
        p50=$(wrk_p50 "$WORK/wrk-list-$name.txt")
        if [ -s "$WORK/list-$name.sql" ]; then
            out=$(run_pgbench "list-$name" "$LIST_CONNS" "list-$name.sql")
            read -r pg_tps pg_p50 pg_p99 <<<"$out"
            ok=$(calc "'yes' if $rps / $pg_tps >= 0.5 and $p99 < 10 and '$bad' == '0' else 'NO'")
            result "list $name ($query: $total), $ROWS packages, $LIST_CONNS connections, pages/s" \
                "$rps (p50 $p50 ms, p99 $p99 ms; $cpu µs CPU/req)" "$pg_tps (p50 $pg_p50 ms, p99 $pg_p99 ms, pgbench, SQL $SQL_SOURCE)" \
                "$(calc "round($rps / $pg_tps, 2)")" "≥ 0.5, p99 < 10 ms" "$ok"
        else
            ok=$(calc "'yes' if $p99 < 10 and '$bad' == '0' else 'NO'")
            result "list $name ($query: $total), $ROWS packages, $LIST_CONNS connections, pages/s" \
                "$rps (p50 $p50 ms, p99 $p99 ms; $cpu µs CPU/req)" "— (SQL not captured)" "—" "p99 < 10 ms" "$ok"
        fi
    done
    if [ -s "$WORK/list-all.sql" ]; then
        read -r rps p99 _ <<<"$(wrk_summary "$WORK/wrk-list-filtered.txt" 0)"
        out=$(run_pgbench list-all "$LIST_CONNS" list-all.sql)
        read -r all_tps _ all_p99 <<<"$out"
        result "  list filtered, vs the request's SQL with the token check" "$rps (p99 $p99 ms)" "$all_tps (p99 $all_p99 ms, pgbench)" \
            "$(calc "round($rps / $all_tps, 2)")" "(informative)" "—"
    fi
fi

# --- Downloads from local files: depot against nginx (bench/static.sh) -----------
if ! skipped static; then
    # shellcheck source=bench/static.sh
    . bench/static.sh
fi

# --- Repositories: publication as a repository grows (bench/repos.sh) -------------
if ! skipped repos; then
    # shellcheck source=bench/repos.sh
    . bench/repos.sh
fi

# --- The table --------------------------------------------------------------------
mem_gib=$(awk '/MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
echo
rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
if [ -n "$(git -C "$ROOT" status --porcelain -- src entity migration Cargo.toml Cargo.lock 2>/dev/null)" ]; then
    rev="$rev + uncommitted changes"
fi
echo "depot $rev — $(date -u '+%Y-%m-%d %H:%M UTC') — $(nproc) CPUs ($cpu), $mem_gib GiB RAM, Linux $(uname -r)"
echo "PostgreSQL $(psql "$PG_ADMIN_URL" -Atc 'show server_version'), Garage $GARAGE_VERSION, ${SECONDS_EACH}s per wrk/pgbench run"
if [ -s "$WORK/noisy" ]; then echo "warning: other processes used the CPU before:$(cat "$WORK/noisy") — numbers are not clean"; fi
echo
echo "| figure | depot | baseline | ratio | target | ok |"
echo "| --- | --- | --- | --- | --- | --- |"
while IFS=$'\t' read -r a b c d e f; do
    echo "| $a | $b | $c | $d | $e | $f |"
done <"$RESULTS"
cp "$RESULTS" "$CACHE/last-results.tsv"
exit
}
