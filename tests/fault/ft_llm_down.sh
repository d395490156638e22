#!/usr/bin/env bash
# Fault 4: the LLM is down entirely (nothing listens on its port), then comes
# back on the same port.
#  Down: the circuit breaker must open (/health "breaker", metric
#  kclassify_llm_breaker_state, kclassify_llm_breaker_opens_total) and every
#  reply must be DEGRADED, from the fallback, inside its 2 s deadline.
#  Back: the breaker must close and LLM answers must resume within one probe
#  interval (llm.breaker.open.ms = open.max.ms = 1000 here) of the LLM coming up.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

PROBE_MS=1000
start_mock 4
LLM_PORT=$(free_port)
# shellcheck disable=SC2034 # start_worker (lib.sh) reads it
SIM_URL="http://127.0.0.1:$LLM_PORT/v1" # nothing listens there yet
MPORT=$(free_port)
# Repeated queries hit fallback answers cached in L1 (cache.fallback.ttl.s):
# those replies must say DEGRADED too.
start_worker w1 "${FT_WOPTS[@]}" -X sla.deadline.ms=2000 -X "metrics.port=$MPORT" \
    -X llm.breaker.failures=5 -X "llm.breaker.open.ms=$PROBE_MS" \
    -X "llm.breaker.open.max.ms=$PROBE_MS"
W1=$WORKER_PID
wait_assigned w1

# --- LLM down: 600 requests (distinct and repeated) over 10 s
start_producer down --count 600 --rate 60 --distinct 200 --seed 41
breaker_open()
{
    [[ "$(json_field "$(health "$MPORT")" breaker)" == open &&
        "$(metric "$MPORT" kclassify_llm_breaker_state)" == 1 ]]
}
wait_until 15 "breaker open in /health and kclassify_llm_breaker_state 1" breaker_open
log "breaker open: /health $(health "$MPORT")"
opens=$(metric "$MPORT" kclassify_llm_breaker_opens_total)
wait_producer down "$PRODUCER_PID"
checker check --bootstrap "$BOOTSTRAP" --acked "$T/down.acked" --deadline-ms 2000 \
    --timeout 60 --status DEGRADED --source FALLBACK --summary-out "$T/down.json" ||
    fail "with the LLM down, replies were lost, late or not DEGRADED (see above)"

# --- LLM back: unique queries at 50/s; the simulator starts on the same port
# 2 s into the run.
start_producer up --count 400 --rate 50 --unique --seed 42
sleep 2
"$KC_BIN/kclassify-llm-sim" --port "$LLM_PORT" --port-file "$T/sim.port" --seed 43 \
    --latency-ms 20 >"$T/sim.log" 2>&1 &
SIM_PID=$!
kc_register "$SIM_PID" sim
wait_file "$T/sim.port" 20 "$SIM_PID" sim
up_us=$(($(date +%s%6N)))
log "LLM simulator up on port $LLM_PORT"
breaker_closed()
{
    [[ "$(json_field "$(health "$MPORT")" breaker)" == closed &&
        "$(metric "$MPORT" kclassify_llm_breaker_state)" == 0 ]]
}
wait_until 10 "breaker closed again" breaker_closed
wait_producer up "$PRODUCER_PID"
checker check --bootstrap "$BOOTSTRAP" --acked "$T/up.acked" --deadline-ms 2000 \
    --timeout 60 --status OK,DEGRADED --summary-out "$T/up.json" \
    --replies-out "$T/up.replies" || fail "after the LLM came back, replies were lost or late"

# The first LLM answer must come within one probe interval of the LLM coming
# up (plus 200 ms for the probe call itself and the hop through Kafka), and
# every request created after that must be answered by the LLM.
"$PY" - "$T/up.replies" "$up_us" "$PROBE_MS" <<'PYEOF' || fail "LLM answers did not resume in time"
import json, sys
replies = [json.loads(l) for l in open(sys.argv[1])]
up, probe_us = int(sys.argv[2]), int(sys.argv[3]) * 1000
llm = sorted(r["replied_at"] for r in replies if r["source"] == "LLM")
if not llm:
    sys.exit("no LLM answer at all after the LLM came back")
first = llm[0]
print("first LLM answer %.0f ms after the LLM came up (probe interval %d ms)"
      % ((first - up) / 1000.0, probe_us // 1000))
if first - up > probe_us + 200000:
    sys.exit("first LLM answer %.0f ms after the LLM came up" % ((first - up) / 1000.0))
bad = [r for r in replies if r["created_at"] > first and r["source"] != "LLM"]
if bad:
    sys.exit("%d request(s) created after the first LLM answer were not answered by the LLM, e.g. %s"
             % (len(bad), [(r["request_id"], r["source"], r["error"]) for r in bad[:3]]))
before = sum(1 for r in replies if r["created_at"] < up)
print("after recovery: %d replies from the LLM; %d requests were created while it was down"
      % (sum(1 for r in replies if r["source"] == "LLM"), before))
PYEOF
log "breaker closed: /health $(health "$MPORT"); it had opened $opens time(s) by the end of the outage"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
