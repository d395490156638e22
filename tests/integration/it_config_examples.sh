#!/usr/bin/env bash
# config/worker.conf, config/sla.conf and README.md's worker property table:
# they document every key the programs have (scripts/gen-config.py regenerates
# them from --help; any difference fails here), and they run: a worker started from
# config/worker.conf (with local overrides for paths and addresses) joins the
# mock cluster and answers /health; kclassify-sla accepts config/sla.conf.
source "$(dirname "$0")/lib.sh"

mkdir -p "$T/gen"
cp "$KC_SRC/README.md" "$T/gen/README.md"
$PY "$KC_SRC/scripts/gen-config.py" "$KC_BIN" "$T/gen" "$T/gen/README.md" ||
    fail "scripts/gen-config.py failed"
for f in config/worker.conf config/sla.conf README.md; do
    diff -u "$KC_SRC/$f" "$T/gen/$(basename "$f")" >"$T/$(basename "$f").diff" ||
        fail "$f is out of date with --help: run scripts/gen-config.py $KC_BIN ($(head -c 2000 "$T/$(basename "$f").diff"))"
done
# every property of --help is in the file, commented or set
for prog in worker sla; do
    while read -r key; do
        grep -Eq "^#?$(sed 's/\./\\./g' <<<"$key")=" "$KC_SRC/config/$prog.conf" ||
            fail "config/$prog.conf lacks $key"
    done < <("$KC_BIN/kclassify-$prog" --help | awk '/^Properties/ {p=1; next} p && /^  [a-z]/ {print $1}' |
        grep -v '^kafka\.')
done
log "config/*.conf are current and list every property"

"$KC_BIN/kclassify-cache" -c "$KC_SRC/config/worker.conf" key "What is a metabolite?" >/dev/null ||
    fail "config/worker.conf does not parse"

start_mock 2
start_sim sim --seed 1
PORT=$(free_port)
"$KC_BIN/kclassify-worker" -c "$KC_SRC/config/worker.conf" -b "$BOOTSTRAP" -X "llm.url=$SIM_URL" \
    -X "cache.lmdb.path=$T/lmdb" -X cache.redis.url= -X "metrics.port=$PORT" \
    -X metrics.bind=127.0.0.1 -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 \
    >"$T/w1.log" 2>&1 &
WORKER_PID=$!
kc_register "$WORKER_PID" w1
wait_log "$T/w1.log" 'assigned [1-9][0-9]* partition' 30 "$WORKER_PID" w1
curl -sf --max-time 5 "http://127.0.0.1:$PORT/health" >"$T/health.json" ||
    fail "the worker from config/worker.conf does not answer /health"
grep -q '"status"' "$T/health.json" || fail "/health: $(cat "$T/health.json")"
grep -q '^{"ts":' "$T/w1.log" || fail "log.format=json from the example did not apply"
echo "What is a metabolite?" | timeout -k 5 60 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" \
    -X kafka.fetch.wait.max.ms=10 --wait --timeout-ms 30000 - >"$T/one.out" 2>"$T/produce.log" ||
    fail "no answer from the worker configured by config/worker.conf"
stop_worker w1 "$WORKER_PID"
log "a worker from config/worker.conf answered"

rc=0
timeout -k 5 30 "$KC_BIN/kclassify-sla" -c "$KC_SRC/config/sla.conf" -b "$BOOTSTRAP" \
    -X metrics.port=0 --once --from-beginning >"$T/sla.out" 2>"$T/sla.log" || rc=$?
[[ $rc -eq 0 || $rc -eq 2 ]] || fail "kclassify-sla -c config/sla.conf --once exited $rc"
if grep -Eq 'configuration key|expected an|minimum|maximum' "$T/sla.log"; then
    fail "kclassify-sla rejected config/sla.conf: $(cat "$T/sla.log")"
fi
log "kclassify-sla accepts config/sla.conf (verdict exit $rc)"
