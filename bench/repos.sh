# The repository figures of bench/run.sh, which sources this file after its
# other phases (it uses run.sh's functions: result, calc, quiet_check,
# fresh_garage, status_kib, stop_pid, log). For each size in
# BENCH_REPO_SIZES, a yum repository of that many real RPMs (bench/rpm-corpus:
# dependencies, files, changelogs) is uploaded to a fresh depot (its own
# database, PostgreSQL + Garage as above); then, BENCH_REPO_TRIALS times, one
# more RPM is uploaded and the time from its 200 to a new repomd.xml is
# measured (bench/repo_lag.py), against `createrepo_c --update` adding the
# same RPM to a directory of the same RPMs, in the same minute.

REPO_SIZES=${BENCH_REPO_SIZES:-"1000 10000 100000"}
REPO_TRIALS=${BENCH_REPO_TRIALS:-3}
REPO_HEADLINE=10000

log "building the RPM corpus generator (bench/rpm-corpus)"
cargo build --release --locked --quiet --manifest-path bench/rpm-corpus/Cargo.toml
CORPUS_BIN=$CARGO_TARGET_DIR/release/rpm-corpus
CORPUS=$CACHE/repo-rpms
max_size=$(echo "$REPO_SIZES" | tr ' ' '\n' | sort -n | tail -1)
corpus_total=$((max_size + REPO_TRIALS * $(echo "$REPO_SIZES" | wc -w)))
log "writing $corpus_total RPMs into $CORPUS (cached)"
"$CORPUS_BIN" "$CORPUS" 0 "$corpus_total"
mapfile -t CORPUS_FILES < <(ls "$CORPUS" | grep -v '\.tmp$' | sort)

if ! "$VENV/bin/python" -c 'import requests' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "requests==2.32.5"
fi

# A depot of its own: a fresh database, a fresh Garage, the same settings.
stop_pid "$DEPOT_PID"
DEPOT_PID=""
REPO_DB=depot_bench_repos_$$
psql "$PG_ADMIN_URL" -q -c "create database $REPO_DB"
REPO_DB_CREATED=$REPO_DB
export DEPOT_DATABASE_URL=${PG_ADMIN_URL%/postgres}/$REPO_DB
"$DEPOT" migrate >/dev/null
fresh_garage
start_depot
TOKEN=$("$DEPOT" token create bench-repos --user admin 2>/dev/null)
BEARER="Authorization: Bearer $TOKEN"
TREE=$WORK/createrepo-tree
mkdir -p "$TREE"

# Uploads corpus RPMs FROM..TO-1 to depot (8 at a time) and links them into
# the createrepo_c tree.
upload_range() {
    local from=$1 to=$2
    [ "$from" -lt "$to" ] || return 0
    printf '%s\n' "${CORPUS_FILES[@]:$from:$((to - from))}" |
        xargs -P 8 -I{} curl -fsS -o /dev/null -H "$BEARER" \
            -X POST "$DEPOT_URL/api/v2/software-packages" -F "file=@$CORPUS/{}"
    printf '%s\n' "${CORPUS_FILES[@]:$from:$((to - from))}" | (cd "$CORPUS" && xargs ln -f -t "$TREE")
}
published_count() {
    curl -fsS -H "$BEARER" "$DEPOT_URL/api/v2/repos" |
        python3 -c 'import json,sys; print(next((r["packages"] for r in json.load(sys.stdin)["data"] if r["os"] == "el9" and r["arch"] == "x86_64"), 0))'
}
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
CR=(createrepo_c --quiet --no-database --general-compress-type=gz)

have=0
for size in $REPO_SIZES; do
    started=$(date +%s)
    log "repository of $size RPMs: uploading $((size - have)) (8 at a time)"
    echo 5 >"/proc/$DEPOT_PID/clear_refs"
    upload_range "$have" "$size"
    have=$size
    log "uploaded in $(($(date +%s) - started)) s; waiting for the publication of all $size"
    until [ "$(published_count)" = "$size" ]; do sleep 1; done
    # The peak while the uploads were published as they came, and where the
    # heap stands after them (src/allocator.rs's figures).
    upload_peak=$(status_kib "$DEPOT_PID" VmHWM)
    heap=$(curl -fsS "$DEPOT_URL/metrics" | awk '/^depot_heap_bytes\{state="in_use"\}/ {printf "%d", $2 / 1048576}')
    log "depot's peak RSS while uploading: $((upload_peak / 1024)) MiB; heap in use now: ${heap} MiB"
    # A production PostgreSQL's autovacuum would have vacuumed the table by
    # now, after so many inserts; the test machines' has autovacuum off, and
    # without it the members' index-only scan reads every heap row again
    # (11 ms instead of 3 at 10,000 packages).
    if [ "$(psql "$DEPOT_DATABASE_URL" -Atc 'show autovacuum')" = off ]; then
        log "autovacuum is off on this PostgreSQL: VACUUM ANALYZE, as it would have"
        psql "$DEPOT_DATABASE_URL" -q -c "VACUUM ANALYZE"
    fi
    rm -rf "$TREE/repodata"
    "${CR[@]}" "$TREE" # the baseline's starting point, not measured
    lags=() pubs=() crs=() peak=0
    for trial in $(seq "$REPO_TRIALS"); do
        next=${CORPUS_FILES[$have]}
        quiet_check "repository of $size, trial $trial"
        echo 5 >"/proc/$DEPOT_PID/clear_refs" # resets VmHWM to the current RSS
        read -r lag pub n <<<"$("$VENV/bin/python" bench/repo_lag.py "$DEPOT_URL" "$TOKEN" el9 x86_64 "$CORPUS/$next")"
        hwm=$(status_kib "$DEPOT_PID" VmHWM)
        [ "$hwm" -gt "$peak" ] && peak=$hwm
        [ "$n" = 1 ] || log "warning: $n publications during the trial"
        ln -f "$CORPUS/$next" "$TREE/"
        t0=$(date +%s.%N)
        "${CR[@]}" --update "$TREE"
        t1=$(date +%s.%N)
        have=$((have + 1))
        lags+=("$lag") pubs+=("$pub") crs+=("$(calc "$t1 - $t0")")
        log "  $((have)) packages: depot ${lag}s (publication ${pub}s), createrepo_c --update $(calc "round($t1 - $t0, 4)")s"
    done
    lag=$(median "${lags[@]}") pub=$(median "${pubs[@]}") cr=$(median "${crs[@]}")
    ms() { calc "round($1 * 1000, 1)"; }
    ratio=$(calc "round($cr / $lag, 1)")
    if [ "$size" = "$REPO_HEADLINE" ]; then
        target="≥ 20×"
        ok=$(calc "'yes' if $cr / $lag >= 20 else '**no**'")
    else
        target="(reported)"
        ok="—"
    fi
    result "upload's 200 → new repomd.xml, $size packages (median of $REPO_TRIALS; depot's publication; peak RSS in the trials, while uploading; heap in use after)" \
        "$(ms "$lag") ms (publication $(ms "$pub") ms; $((peak / 1024)) MiB, $((upload_peak / 1024)) MiB; ${heap} MiB)" \
        "$(ms "$cr") ms (createrepo_c --update, same tree)" "${ratio}×" "$target" "$ok"
done
