#!/usr/bin/env bash
# docker-compose.yml and the Dockerfile, checked without a Docker engine (none
# runs here, so nothing is started): `docker-compose config` validates the
# file against the Compose schema, and the rendered configuration must have
# the services the deployment promises, a health check on each, two workers in
# one consumer group with their own LMDB volumes, health ports that match
# config/*.conf, and the topics the programs use. The Dockerfile's runtime
# stage must install the package of every shared library the binaries need.
source "$(dirname "$0")/lib.sh"

command -v docker-compose >/dev/null ||
    fail "docker-compose is missing (Debian package docker-compose, scripts/install-deps.sh)"
cd "$KC_SRC"

# No variables from the caller's environment: the defaults must be complete.
COMPOSE=(env -u KCLASSIFY_LLM_URL -u KCLASSIFY_LLM_MODEL -u REDIS_PASSWORD -u KC_REQUEST_PARTITIONS
    docker-compose -f docker-compose.yml)

"${COMPOSE[@]}" config -q 2>"$T/config.err" || fail "docker-compose config: $(cat "$T/config.err")"
log "docker-compose config -q: valid"

# The validator must be able to fail: a misspelt key is rejected.
sed 's/^    healthcheck:/    healthchek:/' docker-compose.yml >"$T/broken.yml"
if docker-compose -f "$T/broken.yml" config -q 2>"$T/broken.err"; then
    fail "docker-compose config accepted a misspelt 'healthchek' key: the check proves nothing"
fi
log "a misspelt key is rejected: $(head -n 1 "$T/broken.err")"

"${COMPOSE[@]}" --profile llm --profile ollama config >"$T/rendered.yml" ||
    fail "rendering with all profiles failed"
"${COMPOSE[@]}" config --services | sort >"$T/services.default"
printf '%s\n' kafka kafka-init llm ollama redis sla worker-1 worker-2 | sort |
    cmp -s - "$T/services.default" || fail "services: $(tr '\n' ' ' <"$T/services.default")"

$PY - "$T/rendered.yml" config/worker.conf config/sla.conf <<'EOF2' || fail "the rendered stack is wrong"
import re, sys, yaml

doc = yaml.safe_load(open(sys.argv[1]))
svc = doc["services"]
errors = []

def conf_value(path, key):
    for line in open(path):
        m = re.match(r"\s*%s\s*=\s*(.*?)\s*$" % re.escape(key), line)
        if m:
            return m.group(1)
    return None

for name, s in svc.items():
    hc = s.get("healthcheck")
    if not hc or not hc.get("test") or hc.get("disable"):
        errors.append("%s has no health check" % name)

kafka = svc["kafka"]
env = kafka.get("environment", {})
if not kafka["image"].startswith("apache/kafka:"):
    errors.append("kafka image is %s, not apache/kafka" % kafka["image"])
if "controller" not in env.get("KAFKA_PROCESS_ROLES", "") or "zookeeper" in str(doc).lower():
    errors.append("kafka is not in KRaft mode")

init = " ".join(svc["kafka-init"]["command"])
for topic in ("kclassify.requests", "kclassify.replies", "kclassify.requests.DLT",
              "kclassify.alerts"):
    if not re.search(r"--topic %s .*retention\.ms=\d+" % re.escape(topic), init):
        errors.append("kafka-init does not create %s with a retention" % topic)

wport = conf_value(sys.argv[2], "metrics.port")
lmdb = conf_value(sys.argv[2], "cache.lmdb.path")
volumes = set()
for w in ("worker-1", "worker-2"):
    s = svc[w]
    cmd = " ".join(s["command"])
    if "group.id" in cmd or conf_value(sys.argv[2], "kafka.group.id"):
        errors.append("%s overrides the consumer group" % w)
    if "worker.id=%s" % w not in cmd:
        errors.append("%s has no worker.id of its own" % w)
    if "http://127.0.0.1:%s/health" % wport not in " ".join(s["healthcheck"]["test"]):
        errors.append("%s health check is not on metrics.port %s" % (w, wport))
    # docker-compose 1.x renders "source:target:mode", newer ones a mapping
    vols = [v if isinstance(v, dict) else dict(zip(("source", "target"), v.split(":")))
            for v in s.get("volumes", [])]
    vols = [v for v in vols if v.get("target") == lmdb]
    if len(vols) != 1 or vols[0]["source"] not in doc.get("volumes", {}):
        errors.append("%s has no named volume on cache.lmdb.path %s" % (w, lmdb))
    else:
        volumes.add(vols[0]["source"])
    if s["depends_on"].get("kafka-init", {}).get("condition") != "service_completed_successfully":
        errors.append("%s does not wait for the topics" % w)
if len(volumes) != 2:
    errors.append("the two workers share an LMDB volume")
sport = conf_value(sys.argv[3], "metrics.port")
if "http://127.0.0.1:%s/health" % sport not in " ".join(svc["sla"]["healthcheck"]["test"]):
    errors.append("sla health check is not on metrics.port %s" % sport)
rcmd = " ".join(svc["redis"]["command"])
if "requirepass" not in rcmd or "redis-server -" not in rcmd:
    errors.append("redis runs without AUTH, or not with its config on stdin")
# Secrets never on a command line: no rendered command holds the password.
for name, s in svc.items():
    for part in (s.get("command") or []) + (s.get("entrypoint") or []):
        if "change-me" in part:
            errors.append("%s puts the Redis password on its command line" % name)
for p in ("llm", "ollama"):  # optional: only started with --profile
    if p not in svc or svc[p].get("profiles") != [p]:
        errors.append("no %s service under profile %s" % (p, p))
for name, s in svc.items():
    if name not in ("llm", "ollama") and s.get("profiles"):
        errors.append("%s would not start by default" % name)

for e in errors:
    print("VIOLATION:", e, file=sys.stderr)
print("%d services checked, %d violations" % (len(svc), len(errors)))
sys.exit(1 if errors else 0)
EOF2

# ------------------------------------------------------------------ Dockerfile
grep -Eq '^FROM debian:bookworm AS build$' Dockerfile || fail "build stage is not debian:bookworm"
grep -Eq '^FROM debian:bookworm(-slim)? AS runtime$' Dockerfile || fail "runtime stage is not bookworm"
user=$(awk '/^FROM .* AS runtime/ {rt=1} rt && /^USER / {print $2}' Dockerfile)
[[ -n "$user" && "$user" != root* && "$user" != 0* ]] || fail "runtime stage runs as '${user:-root}'"
runtime_pkgs=$(awk '/^FROM .* AS runtime/ {rt=1} rt' Dockerfile | tr -s ' \\\n' '\n' | grep -E '^lib|^ca-cert|^curl$' || true)
[[ -n "$runtime_pkgs" ]] || fail "no packages found in the Dockerfile's runtime stage"
for bin in kclassify-worker kclassify-produce kclassify-sla kclassify-cache; do
    while read -r lib; do
        path=$(ldd "$KC_BIN/$bin" | awk -v l="$lib" '$1 == l {print $3}')
        [[ -n "$path" ]] || fail "$bin: $lib not resolved"
        pkg=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        [[ -n "$pkg" ]] || pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1 || true)
        [[ -n "$pkg" ]] || fail "$bin: no Debian package owns $path ($lib)"
        case "$pkg" in libc6 | libgcc-s1 | libasan* | libubsan*) continue ;; esac
        grep -qx "$pkg" <<<"$runtime_pkgs" ||
            fail "$bin needs $lib from package '$pkg', which the Dockerfile's runtime stage does not install"
    done < <(objdump -p "$KC_BIN/$bin" | awk '/NEEDED/ {print $2}')
done
log "Dockerfile: bookworm stages, user $user, runtime packages cover every NEEDED library"
