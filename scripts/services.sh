# shellcheck shell=bash
# The services depot's tests (scripts/test.sh) and benchmark (bench/run.sh)
# run against, started the same way for both. Sourced, not run: the caller
# sets WORK (a scratch directory it removes) and calls stop_postgres and
# stops GARAGE_PID on exit.

GARAGE_VERSION=2.5.0
S3S_FS_VERSION=0.14.1
PG_STARTED=""
GARAGE_PID=""
S3S_PID=""

log() { echo "==> $*" >&2; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_hex() { # bytes
    python3 -c "import secrets; print(secrets.token_hex($1))"
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

# PostgreSQL: the one on 127.0.0.1:5432 (trust auth), else a throwaway cluster
# in $WORK/pg, logging to $WORK/pg.log (Debian's package is installed when
# missing, which needs root). Sets PG_ADMIN_URL, and PG_STARTED when it
# started one.
start_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        PG_ADMIN_URL="postgres://postgres@127.0.0.1:5432/postgres"
        log "using the PostgreSQL on 127.0.0.1:5432"
        return
    fi
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$PG_BIN" ]; then
        log "installing PostgreSQL"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    local port
    port=$(free_port)
    log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
    mkdir -p "$WORK/pg" "$WORK/pgsock" && chown postgres "$WORK/pg" "$WORK/pgsock" && chmod 755 "$WORK"
    touch "$WORK/pg.log" && chown postgres "$WORK/pg.log"
    su postgres -c "$PG_BIN/initdb -D $WORK/pg -A trust -U postgres" >/dev/null
    su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg -l $WORK/pg.log -o '-h 127.0.0.1 -p $port -k $WORK/pgsock' start" >/dev/null
    PG_STARTED=1
    PG_ADMIN_URL="postgres://postgres@127.0.0.1:$port/postgres"
    wait_for PostgreSQL 30 "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"
}

stop_postgres() {
    if [ -n "$PG_STARTED" ]; then
        su postgres -c "$PG_BIN/pg_ctl -D $WORK/pg -m immediate stop" >/dev/null 2>&1 || true
        PG_STARTED=""
    fi
}

# Garage, a real S3 server, installed with cargo when missing (once per
# machine; about ten minutes on two cores). Sets GARAGE.
install_garage() {
    GARAGE=$(command -v garage || echo "${CARGO_HOME:-$HOME/.cargo}/bin/garage")
    if ! "$GARAGE" --version 2>/dev/null | grep -qE "[v:]$GARAGE_VERSION( |$)"; then
        log "installing Garage $GARAGE_VERSION (once per machine; ~10 minutes on 2 cores)"
        cargo install --locked --quiet "garage@$GARAGE_VERSION"
    fi
}

# start_garage DIR BUCKET: a fresh single-node Garage with its data in DIR
# (emptied first) and its log in DIR.log, on free ports, with BUCKET and new
# keys, exported as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for depot and
# the tests. Sets S3_ENDPOINT and GARAGE_PID.
start_garage() {
    local dir=$1 bucket=$2 s3_port rpc_port
    [ -n "${GARAGE:-}" ] || install_garage
    AWS_ACCESS_KEY_ID="GK$(random_hex 12)"
    AWS_SECRET_ACCESS_KEY=$(random_hex 32)
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    s3_port=$(free_port)
    rpc_port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir/meta" "$dir/data"
    cat >"$dir/garage.toml" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(random_hex 32)"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.localhost"
TOML
    S3_ENDPOINT="http://127.0.0.1:$s3_port"
    log "starting Garage on $S3_ENDPOINT"
    GARAGE_DEFAULT_ACCESS_KEY=$AWS_ACCESS_KEY_ID GARAGE_DEFAULT_SECRET_KEY=$AWS_SECRET_ACCESS_KEY \
        GARAGE_DEFAULT_BUCKET=$bucket RUST_LOG=warn \
        "$GARAGE" -c "$dir/garage.toml" server --single-node --default-bucket >>"$dir.log" 2>&1 &
    GARAGE_PID=$!
    # Ready when an unsigned request is refused (403) rather than not answered.
    wait_for Garage 60 garage_answers "$bucket" || {
        cat "$dir.log" >&2
        return 1
    }
}

garage_answers() { # bucket
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/$1")" = 403 ]
}

# s3s-fs, an S3 server that keeps each object as a plain file, so that its
# CopyObject and its multipart completion rewrite the bytes, as MinIO's and
# AWS's copies do; Garage's content-addressed blocks make both free and would
# hide what an upload design writes twice. Only the benchmark uses it.
# Installed with cargo when missing (about 4 minutes on two cores; later
# versions need a newer rustc). Sets S3S_FS.
install_s3s_fs() {
    S3S_FS=$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")
    if ! [ -x "$S3S_FS" ]; then
        log "installing s3s-fs $S3S_FS_VERSION (once per machine; ~4 minutes on 2 cores)"
        cargo install --locked --quiet "s3s-fs@$S3S_FS_VERSION" --features binary
    fi
}

# start_s3s_fs DIR BUCKET: a fresh s3s-fs with its files in DIR (emptied
# first) and its log in DIR.log, on a free port, with BUCKET and new keys
# (exported as for start_garage). Sets S3_ENDPOINT and S3S_PID.
start_s3s_fs() {
    local dir=$1 bucket=$2 port
    [ -n "${S3S_FS:-}" ] || install_s3s_fs
    AWS_ACCESS_KEY_ID="AK$(random_hex 12)"
    AWS_SECRET_ACCESS_KEY=$(random_hex 32)
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
    port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir/$bucket" # a bucket is a directory
    S3_ENDPOINT="http://127.0.0.1:$port"
    log "starting s3s-fs on $S3_ENDPOINT"
    RUST_LOG=warn "$S3S_FS" --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" \
        --host 127.0.0.1 --port "$port" "$dir" >>"$dir.log" 2>&1 &
    S3S_PID=$!
    wait_for s3s-fs 60 s3_answers "$bucket" || {
        cat "$dir.log" >&2
        return 1
    }
}

s3_answers() { # bucket: any HTTP answer at all
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$S3_ENDPOINT/$1")" != 000 ]
}
