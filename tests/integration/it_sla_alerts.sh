#!/usr/bin/env bash
# kclassify-sla fires the p95 alert while the LLM is slow and resolves it once
# the LLM is fast again, on every channel: its stderr line, an SlaAlert record
# on kclassify.alerts (exactly one FIRING and one RESOLVED with the same id),
# and a real Prometheus Alertmanager (listed while firing, gone once resolved).
#
# Pipeline: mock Kafka, LLM simulator at 600 ms (target 300 ms), one worker,
# distinct queries every 0.3 s (no cache hits). The simulator is then
# restarted on the same port at 10 ms, so the worker's llm.url stays valid.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/sla_lib.sh"

start_mock 2
start_alertmanager
start_sim sim-slow --latency-ms 600 --jitter 0 --seed 1
SIM_PORT=${SIM_BASE##*:}
SLOW_PID=$SIM_PID
start_worker w1 -X kafka.fetch.wait.max.ms=10 -X batch.linger.ms=2
W1=$WORKER_PID
wait_assigned w1 --pid "$W1"

# Windows of 4 s evaluated every second; fire and resolve after 2 evaluations.
start_sla sla -X sla.window.s=4 -X sla.eval.s=1 -X sla.report.s=2 -X sla.target.ms=300 \
    -X sla.min.count=5 -X alert.fire.count=2 -X alert.resolve.count=2 \
    -X "sla.webhook.url=$AM_URL/api/v2/alerts" -X sla.webhook.resend.s=2 -X sla.instance=it-sla
SLA=$SLA_PID
curl -sf --max-time 5 "$SLA_METRICS/health" >"$T/health0.json" || fail "GET /health failed"

traffic_start traffic 0.3 6
TRAFFIC=$TRAFFIC_PID

# ------------------------------------------------------------------ firing
log "slow LLM: waiting for the p95 alert"
wait_log "$T/sla.log" 'ALERT FIRING p95_latency ' 30 "$SLA" kclassify-sla
grep -E 'ALERT FIRING p95_latency ' "$T/sla.log" | head -n 1 >&2
wait_am_state KclassifySlaP95Latency active 15
log "alertmanager lists KclassifySlaP95Latency as active"
# The monitor publishes /health right after a state change; allow for the
# webhook having been faster than that.
for _ in 1 2 3 4 5 6; do
    curl -sf --max-time 5 "$SLA_METRICS/health" >"$T/health1.json" || fail "GET /health failed"
    grep -q '"status":"degraded"' "$T/health1.json" && break
    sleep 0.5
done
grep -q '"status":"degraded"' "$T/health1.json" ||
    fail "/health while firing is $(cat "$T/health1.json"), expected status degraded"
grep -q '"firing":\[[^]]*"p95_latency"' "$T/health1.json" ||
    fail "/health does not list p95_latency as firing: $(cat "$T/health1.json")"
curl -sf --max-time 5 "$SLA_METRICS/metrics" >"$T/metrics1.txt" || fail "GET /metrics failed"
grep -q '^kclassify_sla_alert_firing{rule="p95_latency"} 1$' "$T/metrics1.txt" ||
    fail "/metrics does not show the p95 rule firing"

# ------------------------------------------------------------------ resolving
log "restarting the simulator on port $SIM_PORT at 10 ms"
stop_pid "$SLOW_PID" sim-slow 10
"$KC_BIN/kclassify-llm-sim" --port "$SIM_PORT" --latency-ms 10 --jitter 0 --seed 2 \
    >"$T/sim-fast.log" 2>&1 &
kc_register $! sim-fast
wait_log "$T/sim-fast.log" "LLM_SIM_PORT=$SIM_PORT" 20 $! sim-fast

wait_log "$T/sla.log" 'ALERT RESOLVED p95_latency ' 40 "$SLA" kclassify-sla
grep -E 'ALERT RESOLVED p95_latency ' "$T/sla.log" | head -n 1 >&2
wait_am_state KclassifySlaP95Latency absent 15
log "alertmanager no longer lists KclassifySlaP95Latency"

traffic_stop traffic "$TRAFFIC"
sleep 1 # a duplicate alert would be produced by now
stop_pid "$SLA" kclassify-sla 15
[[ $STOP_RC -eq 0 ]] || fail "kclassify-sla exited with $STOP_RC after SIGTERM"
grep -q '^FINAL ' "$T/sla.out" || fail "no final report on stdout at exit"
grep -q '^  4s ' "$T/sla.out" || fail "no periodic report with the 4 s window on stdout"

# ------------------------------------------------------------------ the alert records
dump_alerts "$T/alerts.jsonl"
"$PY" - "$T/alerts.jsonl" <<'EOF' || fail "kclassify.alerts does not hold the expected p95 records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
p95 = [r for r in recs if r["rule"] == "p95_latency"]
states = [r["state"] for r in p95]
if states != ["FIRING", "RESOLVED"]:
    sys.exit("p95_latency records: %s (expected exactly FIRING then RESOLVED)" % states)
fire, res = p95
if fire["alert_id"] != res["alert_id"]:
    sys.exit("ids differ: %s / %s" % (fire["alert_id"], res["alert_id"]))
if not (fire["observed"] > 300 and fire["threshold"] == 300 and fire["window_s"] == 4):
    sys.exit("FIRING record: observed %s threshold %s window %s" %
             (fire["observed"], fire["threshold"], fire["window_s"]))
if not (fire["p95_us"] > 300000 and fire["count"] >= 5 and fire["_key"] == "p95_latency"):
    sys.exit("FIRING record figures: %s" % fire)
if not (res["observed"] <= 300 and res["at"] > fire["at"]):
    sys.exit("RESOLVED record: %s" % res)
for r in recs:
    print("%-18s %-8s %s" % (r["rule"], r["state"], r["summary"]), file=sys.stderr)
# every rule alternates FIRING/RESOLVED: no duplicates
for rule in {r["rule"] for r in recs}:
    st = [r["state"] for r in recs if r["rule"] == rule]
    if any(a == b for a, b in zip(st, st[1:])) or st[0] != "FIRING":
        sys.exit("rule %s has duplicate transitions: %s" % (rule, st))
EOF
n=$(grep -c 'ALERT FIRING p95_latency ' "$T/sla.log")
[[ $n -eq 1 ]] || fail "the FIRING line for p95_latency was logged $n times"

alive_or_fail "$W1" "worker w1"
stop_worker w1 "$W1"
