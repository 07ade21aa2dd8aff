# The static-server figures of bench/run.sh, which sources this file (it uses
# run.sh's functions: result, calc, quiet_check, stop_pid, cpu_ticks,
# wrk_summary, make_rpm, log). OCP's agents cannot follow a redirect, so the
# bytes of a package go through depot; this phase compares that path with
# nginx serving the very same file from the very same disk:
#
# - depot as embedded by default (SQLite, blobs in local files), nothing else
#   changed; nginx (Debian's nginx-light, its defaults: sendfile, an access
#   log) with its root at depot's blob directory;
# - a big RPM (BENCH_STATIC_MIB, 1 GiB) downloaded with curl, best of
#   BENCH_TRANSFER_RUNS each, alternating, from the page cache on both sides;
# - a 16 KiB file over one kept-alive connection (`wrk -t1 -c1`: what one agent
#   sees; a delayed ACK shows here as ~40 ms a request) and over 16;
# - each figure also against Pulp 3 (bench/pulp.sh: its content app serving
#   the same two files from its own local storage), depot's peer.

STATIC_MIB=${BENCH_STATIC_MIB:-1024}

if ! command -v nginx >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
    log "installing nginx-light from Debian"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
    # Debian starts it on port 80; this benchmark starts its own.
    systemctl stop nginx 2>/dev/null || service nginx stop 2>/dev/null || true
fi

stop_pid "$DEPOT_PID"
DEPOT_PID=""
LOCAL=$WORK/static-depot
mkdir -p "$LOCAL"
static_port=$(free_port)
STATIC_URL="http://127.0.0.1:$static_port"
env -u DEPOT_DATABASE_URL DEPOT_ADMIN_PASSWORD="$ADMIN_PW" "$DEPOT" serve \
    --listen "127.0.0.1:$static_port" --data-dir "$LOCAL" >>"$WORK/static-depot.log" 2>&1 &
DEPOT_PID=$!
wait_for depot 60 curl -fs "$STATIC_URL/readyz" || { tail -n 30 "$WORK/static-depot.log" >&2; exit 1; }
static_token=$(env -u DEPOT_DATABASE_URL "$DEPOT" token create bench-static --user admin --data-dir "$LOCAL" 2>/dev/null)
STATIC_BEARER="Authorization: Bearer $static_token"

STATIC_RPM=$(make_rpm "$STATIC_MIB")
static_bytes=$(stat -c %s "$STATIC_RPM")
curl -fsS -o /dev/null -H "$STATIC_BEARER" -X POST "$STATIC_URL/api/v2/software-packages" -F "file=@$STATIC_RPM"
head -c 16384 /dev/urandom | base64 -w 76 | head -c 16384 >"$WORK/static-small.sh"
curl -fsS -o /dev/null -H "$STATIC_BEARER" -X POST "$STATIC_URL/api/v2/software-packages" -F "file=@$WORK/static-small.sh"

# The same files as depot stores them (content-addressed), found by size.
blob_of() { find "$LOCAL/blobs" -type f -size "$1c" | head -1; }
big_blob=$(blob_of "$static_bytes")
small_blob=$(blob_of 16384)
[ -n "$big_blob" ] && [ -n "$small_blob" ] || { echo "cannot find depot's blobs under $LOCAL/blobs" >&2; exit 1; }

nginx_port=$(free_port)
mkdir -p "$WORK/nginx"
nginx_user=""
# As root, nginx would run its workers as nobody, who cannot read $WORK.
[ "$(id -u)" != 0 ] || nginx_user="user root;"
cat >"$WORK/nginx/nginx.conf" <<NGINX
$nginx_user
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
    sendfile on;
    tcp_nopush on;
    access_log $WORK/nginx/access.log;
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    server {
        listen 127.0.0.1:$nginx_port;
        root $LOCAL/blobs;
    }
}
NGINX
nginx -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
NGINX_URL="http://127.0.0.1:$nginx_port"
wait_for nginx 20 curl -fs -o /dev/null "$NGINX_URL/${small_blob#"$LOCAL"/blobs/}" || { cat "$WORK/nginx/error.log" >&2; exit 1; }

# Pulp 3 serving the same two files from its own storage (bench/pulp.sh).
# shellcheck source=bench/pulp.sh
. bench/pulp.sh
start_pulp "$STATIC_RPM" "$WORK/static-small.sh"

depot_big="$STATIC_URL/api/v2/files/sys-package/$(basename "$STATIC_RPM")"
nginx_big="$NGINX_URL/${big_blob#"$LOCAL"/blobs/}"
depot_small="$STATIC_URL/api/v2/files/sys-package/static-small.sh"
nginx_small="$NGINX_URL/${small_blob#"$LOCAL"/blobs/}"
pulp_big="$PULP_URL/pulp/content/bench/$(basename "$STATIC_RPM")"
pulp_small="$PULP_URL/pulp/content/bench/static-small.sh"

# seconds and the server's CPU ticks of one download
fetch_once() { # pid url [curl args…]
    local pid=$1 url=$2 t0 t1 out secs got
    shift 2
    t0=$(cpu_ticks "$pid")
    out=$(curl -fsS -o /dev/null -w '%{time_total} %{size_download}' "$@" "$url")
    t1=$(cpu_ticks "$pid")
    read -r secs got <<<"$out"
    [ "$got" = "$static_bytes" ] || { echo "got $got of $static_bytes bytes from $url" >&2; exit 1; }
    echo "$secs $((t1 - t0))"
}
# nginx's CPU is its workers'.
nginx_ticks() { local t=0 p; for p in $(pgrep -P "$NGINX_PID") "$NGINX_PID"; do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }

# seconds and CPU ticks of one download from nginx or Pulp (their CPU is their
# workers'): ticks_fn url
fetch_other() {
    local ticks_fn=$1 url=$2 t0 secs got
    t0=$($ticks_fn)
    read -r secs got <<<"$(curl -fsS -o /dev/null -w '%{time_total} %{size_download}' "$url")"
    [ "$got" = "$static_bytes" ] || { echo "got $got of $static_bytes bytes from $url" >&2; exit 1; }
    echo "$secs $(($($ticks_fn) - t0))"
}
quiet_check "download $STATIC_MIB MiB, depot (local files), nginx and Pulp"
fetch_once "$DEPOT_PID" "$depot_big" -H "$STATIC_BEARER" >/dev/null # both files into the page cache
declare -A s_secs s_ticks
for _ in $(seq "${BENCH_TRANSFER_RUNS:-3}"); do
    read -r secs ticks <<<"$(fetch_once "$DEPOT_PID" "$depot_big" -H "$STATIC_BEARER")"
    if [ -z "${s_secs[depot]:-}" ] || [ "$(calc "$secs < ${s_secs[depot]}")" = True ]; then s_secs[depot]=$secs s_ticks[depot]=$ticks; fi
    read -r secs ticks <<<"$(fetch_other nginx_ticks "$nginx_big")"
    if [ -z "${s_secs[nginx]:-}" ] || [ "$(calc "$secs < ${s_secs[nginx]}")" = True ]; then s_secs[nginx]=$secs s_ticks[nginx]=$ticks; fi
    read -r secs ticks <<<"$(fetch_other pulp_ticks "$pulp_big")"
    if [ -z "${s_secs[pulp]:-}" ] || [ "$(calc "$secs < ${s_secs[pulp]}")" = True ]; then s_secs[pulp]=$secs s_ticks[pulp]=$ticks; fi
done
static_gib=$(calc "$static_bytes / 1073741824")
s_rate() { calc "round($static_bytes / 1048576 / $1, 1)"; }
s_per_gib() { calc "round($1 / $TICKS / $static_gib, 2)"; }
log "download $STATIC_MIB MiB: depot ${s_secs[depot]} s, nginx ${s_secs[nginx]} s, Pulp ${s_secs[pulp]} s"
result "download $STATIC_MIB MiB RPM from local files, one curl, MiB/s (best of ${BENCH_TRANSFER_RUNS:-3}; server CPU s/GiB)" \
    "$(s_rate "${s_secs[depot]}") (proxied; depot $(s_per_gib "${s_ticks[depot]}"))" \
    "$(s_rate "${s_secs[nginx]}") (nginx, sendfile; $(s_per_gib "${s_ticks[nginx]}"))" \
    "$(calc "round(${s_secs[nginx]} / ${s_secs[depot]}, 2)")" "≥ 0.9" \
    "$([ "$(calc "${s_secs[nginx]} / ${s_secs[depot]} >= 0.9")" = True ] && echo yes || echo '**no**')"
result "&nbsp;&nbsp;the same against Pulp 3 (its content app, local storage)" \
    "$(s_rate "${s_secs[depot]}") (proxied; depot $(s_per_gib "${s_ticks[depot]}"))" \
    "$(s_rate "${s_secs[pulp]}") (Pulp, sendfile; $(s_per_gib "${s_ticks[pulp]}"))" \
    "$(calc "round(${s_secs[pulp]} / ${s_secs[depot]}, 2)")" "≥ 1.0" \
    "$([ "$(calc "${s_secs[pulp]} / ${s_secs[depot]} >= 1.0")" = True ] && echo yes || echo '**no**')"

# wrk on one connection (one thread) or many; prints "rps p50_ms p99_ms errors cpu_us".
wrk_static() { # name pid-or-nginx-or-pulp connections url [header]
    local name=$1 pid=$2 conns=$3 url=$4 threads=2 t0 t1
    shift 4
    local args=()
    if [ $# -gt 0 ]; then args=(-H "$1"); fi
    [ "$conns" -ge 2 ] || threads=1
    quiet_check "$name"
    wrk -t"$threads" -c"$conns" -d3s "${args[@]}" "$url" >/dev/null
    server_ticks() { case $pid in nginx) nginx_ticks ;; pulp) pulp_ticks ;; *) cpu_ticks "$pid" ;; esac; }
    t0=$(server_ticks)
    wrk -t"$threads" -c"$conns" -d"${SECONDS_EACH}s" --latency "${args[@]}" "$url" >"$WORK/wrk-$name.txt"
    t1=$(server_ticks)
    local summary p50
    summary=$(wrk_summary "$WORK/wrk-$name.txt" $((t1 - t0)))
    p50=$(python3 - "$WORK/wrk-$name.txt" <<'PY'
import re, sys
m = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", open(sys.argv[1]).read())
print(round(float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)], 3))
PY
)
    read -r rps p99 bad cpu <<<"$summary"
    log "$name: $rps/s, p50 $p50 ms, p99 $p99 ms, errors $bad, $cpu µs CPU/request"
    echo "$rps $p50 $p99 $bad $cpu"
}
for conns in 1 16; do
    read -r d_rps d_p50 d_p99 d_bad d_cpu <<<"$(wrk_static "static-depot-$conns" "$DEPOT_PID" "$conns" "$depot_small" "$STATIC_BEARER")"
    read -r n_rps n_p50 n_p99 n_bad n_cpu <<<"$(wrk_static "static-nginx-$conns" nginx "$conns" "$nginx_small")"
    what="one kept-alive connection"
    [ "$conns" = 1 ] || what="$conns kept-alive connections"
    result "16 KiB downloads/s from local files, $what (server CPU/req)" \
        "$d_rps (proxied; p50 $d_p50 ms, p99 $d_p99 ms; $d_cpu µs)" \
        "$n_rps (nginx; p50 $n_p50 ms, p99 $n_p99 ms; $n_cpu µs)" \
        "$(calc "round($d_rps / $n_rps, 2)")" "(informative)" \
        "$([ "$d_bad$n_bad" = 00 ] && echo — || echo errors)"
    read -r p_rps p_p50 p_p99 p_bad p_cpu <<<"$(wrk_static "static-pulp-$conns" pulp "$conns" "$pulp_small")"
    result "&nbsp;&nbsp;the same against Pulp 3" \
        "$d_rps (proxied; p50 $d_p50 ms, p99 $d_p99 ms; $d_cpu µs)" \
        "$p_rps (Pulp; p50 $p_p50 ms, p99 $p_p99 ms; $p_cpu µs)" \
        "$(calc "round($d_rps / $p_rps, 2)")" "(informative)" \
        "$([ "$d_bad$p_bad" = 00 ] && echo — || echo errors)"
done

stop_pulp

stop_pid "$NGINX_PID"
NGINX_PID=""
stop_pid "$DEPOT_PID"
DEPOT_PID=""
