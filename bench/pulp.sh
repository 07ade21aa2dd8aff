# shellcheck shell=bash
# Pulp 3 serving the static phase's files, for bench/static.sh, which sources
# this file (it uses run.sh's log, wait_for, free_port, cpu_ticks, WORK, CACHE
# and PG_ADMIN_URL). The caller's EXIT trap should call stop_pulp.
#
#   start_pulp FILE...  Pulp with FILE... in a file repository, published and
#                       distributed at $PULP_URL/pulp/content/bench/<basename>
#   pulp_ticks          CPU ticks of the content app and its workers, summed
#   stop_pulp           stops every Pulp process, drops Pulp's database
#
# pulpcore with its bundled pulp_file plugin, installed from PyPI into a cached
# venv; nothing tuned. The content app (pulpcore-content: gunicorn running
# aiohttp workers) serves a file from local storage as an aiohttp FileResponse
# (sendfile), no redirect. It runs 2 workers, PULP_CONTENT_WORKERS' default in
# Pulp's container images (pulpcore-content alone would start gunicorn's 1),
# and logs each request as those images do; nginx runs one worker a CPU too.
# The issue's Pulp had pulp_rpm as well: its downloads go through the same
# content app and handler.

PULP_REQUIREMENTS=(pulpcore==3.123.0 gunicorn==26.2.0 aiohttp==3.14.5)
PULP_CONTENT_WORKERS=2
PULP_DB=depot_bench_pulp
PULP_PIDS=()
PULP_DB_CREATED=""
PULP_URL=""          # the content app
PULP_CONTENT_PID=""  # its gunicorn master
PULP_API=""          # the REST API, as admin with PULP_ADMIN_PW

# Installs Pulp into $CACHE/pulp-venv unless the venv holds these very pins.
install_pulp() {
    PULP_VENV=$CACHE/pulp-venv
    local stamp=$PULP_VENV/depot-bench-requirements
    if [ -x "$PULP_VENV/bin/pulpcore-content" ] && [ "$(cat "$stamp" 2>/dev/null)" = "${PULP_REQUIREMENTS[*]}" ]; then
        return
    fi
    log "installing ${PULP_REQUIREMENTS[*]} (PyPI) into $PULP_VENV"
    rm -rf "$PULP_VENV"
    python3 -m venv "$PULP_VENV"
    "$PULP_VENV/bin/pip" install --quiet --disable-pip-version-check "${PULP_REQUIREMENTS[@]}"
    echo "${PULP_REQUIREMENTS[*]}" >"$stamp"
}

# Starts one Pulp program in its own session (so that stopping it stops its
# children too), in $WORK/pulp (where gunicorn looks for a gunicorn.conf.py).
pulp_spawn() { # log-name program [args…]
    local name=$1
    shift
    (
        cd "$WORK/pulp" || exit
        export PULP_SETTINGS=$WORK/pulp/settings.py DJANGO_SETTINGS_MODULE=pulpcore.app.settings
        exec setsid "$PULP_VENV/bin/$1" "${@:2}"
    ) >>"$WORK/pulp/$name.log" 2>&1 &
    PULP_PIDS+=($!)
}

# One call to Pulp's REST API; prints the response body.
pulp_api() { # method path [curl args…]
    local method=$1 path=$2 body
    shift 2
    if body=$(curl -sS --fail-with-body -u "admin:$PULP_ADMIN_PW" -X "$method" "$@" "$PULP_API$path"); then
        printf '%s\n' "$body"
        return
    fi
    echo "Pulp's API: $method $path: $body" >&2
    return 1
}

pulp_json() { # key: that key of the JSON object on stdin (none: pulp_api said why)
    python3 -c 'import json, sys; s = sys.stdin.read(); s or sys.exit(1); print(json.loads(s)[sys.argv[1]])' "$1"
}

# Waits for a task; prints the first resource it created.
pulp_task() { # task href
    local out
    for _ in $(seq 3000); do
        out=$(pulp_api GET "$1" | python3 -c '
import json, sys
t = json.load(sys.stdin)
if t["state"] in ("failed", "canceled"):
    sys.exit("Pulp task %s %s: %s" % (t["name"], t["state"], t.get("error")))
print(" ".join([t["state"]] + t["created_resources"]))')
        case $out in
            completed*) echo "$out" | awk '{print $2}'; return ;;
        esac
        sleep 0.2
    done
    echo "timed out waiting for Pulp task $1" >&2
    return 1
}

start_pulp() { # file…
    install_pulp
    mkdir -p "$WORK/pulp/media" "$WORK/pulp/tmp"
    local content_port api_port pg_host pg_port key
    content_port=$(free_port)
    api_port=$(free_port)
    PULP_URL="http://127.0.0.1:$content_port"
    PULP_API="http://127.0.0.1:$api_port"
    PULP_ADMIN_PW=$(openssl rand -hex 16)
    read -r pg_host pg_port <<<"$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(p.hostname, p.port or 5432)' "$PG_ADMIN_URL")"
    psql "$PG_ADMIN_URL" -q -c "set client_min_messages = warning" \
        -c "drop database if exists $PULP_DB with (force)" -c "create database $PULP_DB"
    PULP_DB_CREATED=1
    openssl rand -base64 32 >"$WORK/pulp/db.key"
    key=$(openssl rand -hex 32)
    # $WORK/pulp holds what a packaged Pulp keeps in /var/lib/pulp and
    # /etc/pulp. Analytics off: a throwaway instance has nothing to report.
    cat >"$WORK/pulp/settings.py" <<SETTINGS
SECRET_KEY = "$key"
CONTENT_ORIGIN = "$PULP_URL"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "$PULP_DB",
                         "USER": "postgres", "HOST": "$pg_host", "PORT": $pg_port}}
MEDIA_ROOT = "$WORK/pulp/media"
STATIC_ROOT = "$WORK/pulp/assets"
WORKING_DIRECTORY = "$WORK/pulp/tmp"
FILE_UPLOAD_TEMP_DIR = "$WORK/pulp/tmp"
DB_ENCRYPTION_KEY = "$WORK/pulp/db.key"
ANALYTICS = False
SETTINGS
    log "pulpcore-manager migrate (Pulp's database: $PULP_DB)"
    local manager=(env PULP_SETTINGS="$WORK/pulp/settings.py" "$PULP_VENV/bin/pulpcore-manager")
    "${manager[@]}" migrate --noinput >>"$WORK/pulp/migrate.log" 2>&1 || { tail -n 30 "$WORK/pulp/migrate.log" >&2; exit 1; }
    "${manager[@]}" reset-admin-password --password "$PULP_ADMIN_PW" >>"$WORK/pulp/migrate.log" 2>&1

    # The API's timeout is raised because a file is uploaded in one request
    # (1 GiB is hashed four ways); it plays no part in downloads.
    pulp_spawn api pulpcore-api --bind "127.0.0.1:$api_port" --timeout 600 --no-control-socket
    # One task worker is plenty for four tasks; it also runs Pulp's scheduled
    # orphan cleanup (a fraction of a second, soon after it starts).
    pulp_spawn worker pulpcore-worker
    pulp_spawn content pulpcore-content --bind "127.0.0.1:$content_port" \
        --workers "$PULP_CONTENT_WORKERS" --access-logfile - --no-control-socket
    PULP_CONTENT_PID=${PULP_PIDS[-1]}
    wait_for pulp-api 120 curl -fs "$PULP_API/pulp/api/v3/status/" || { tail -n 30 "$WORK/pulp/api.log" >&2; exit 1; }
    wait_for pulp-content 120 curl -fs -o /dev/null "$PULP_URL/pulp/content/" || { tail -n 30 "$WORK/pulp/content.log" >&2; exit 1; }

    local repo f task pub
    repo=$(pulp_api POST /pulp/api/v3/repositories/file/file/ -H 'Content-Type: application/json' -d '{"name": "bench"}' | pulp_json pulp_href)
    for f in "$@"; do
        task=$(pulp_api POST /pulp/api/v3/content/file/files/ -F "file=@$f" -F "relative_path=$(basename "$f")" -F "repository=$repo" | pulp_json task)
        pulp_task "$task" >/dev/null
    done
    task=$(pulp_api POST /pulp/api/v3/publications/file/file/ -H 'Content-Type: application/json' -d "{\"repository\": \"$repo\"}" | pulp_json task)
    pub=$(pulp_task "$task")
    task=$(pulp_api POST /pulp/api/v3/distributions/file/file/ -H 'Content-Type: application/json' \
        -d "{\"name\": \"bench\", \"base_path\": \"bench\", \"publication\": \"$pub\"}" | pulp_json task)
    pulp_task "$task" >/dev/null
}

# The content app's CPU is its gunicorn master's and workers' (its session).
pulp_ticks() {
    local t=0 p c
    for p in $(pgrep -s "$PULP_CONTENT_PID"); do
        c=$(cpu_ticks "$p" 2>/dev/null) || continue
        t=$((t + c))
    done
    echo "$t"
}

# TERM each session, then KILL what is left of it after 30 s.
stop_pulp() {
    local pid
    for pid in "${PULP_PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${PULP_PIDS[@]}"; do
        for _ in $(seq 300); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PULP_PIDS=()
    PULP_CONTENT_PID=""
    if [ -n "$PULP_DB_CREATED" ]; then
        psql "$PG_ADMIN_URL" -q -c "drop database if exists $PULP_DB with (force)" >/dev/null 2>&1 || true
        PULP_DB_CREATED=""
    fi
}
