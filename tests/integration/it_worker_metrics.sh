#!/usr/bin/env bash
# The worker's observability endpoint: /metrics is valid Prometheus text
# (promtool check metrics) with the counters the traffic implies, /health is
# the documented JSON, and it turns "degraded" with the breaker open when the
# LLM fails.
source "$(dirname "$0")/lib.sh"

MPORT=$(free_port)
start_mock 2
start_sim sim --seed 3
start_worker w1 -X metrics.port="$MPORT" -X kafka.fetch.wait.max.ms=10 \
    -X llm.breaker.failures=2 -X llm.breaker.open.ms=60000 -X llm.retries=0
wait_assigned w1
W1=$WORKER_PID

printf '%s\n' "What is metabolomics?" "Latest 2025 FDA approvals for metabolomics diagnostics?" \
    "Which metabolites are associated with insulin resistance?" >"$T/q.txt"
produce_wait "$T/r1.jsonl" "$T/q.txt"
produce_wait "$T/r2.jsonl" "$T/q.txt" # answered from L1
sleep 1.5                             # the loop publishes once a second

curl -sf --max-time 5 "http://127.0.0.1:$MPORT/metrics" >"$T/metrics.txt" || fail "GET /metrics failed"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.out" 2>&1 ||
    fail "promtool check metrics: $(cat "$T/promtool.out")"
metric() { awk -v m="$1" '$1 == m { print $2 }' "$T/metrics.txt"; }
[[ "$(metric kclassify_requests_total)" == 6 ]] || fail "kclassify_requests_total is not 6"
[[ "$(metric 'kclassify_replies_total{status="OK",source="LLM"}')" == 3 ]] ||
    fail "expected 3 OK replies from the LLM"
[[ "$(metric 'kclassify_cache_hits_total{level="l1"}')" == 3 ]] || fail "expected 3 L1 hits"
[[ "$(metric kclassify_request_duration_seconds_count)" == 6 ]] || fail "latency histogram count"
[[ "$(metric kclassify_assigned_partitions)" == 2 ]] || fail "assigned partitions gauge"
for m in process_cpu_seconds_total process_resident_memory_bytes process_start_time_seconds \
    kclassify_llm_concurrency_limit kclassify_llm_breaker_state kclassify_llm_calls_total; do
    [[ -n "$(metric "$m")" ]] || fail "/metrics lacks $m"
done
grep -Eq 'metabolomics|[0-9a-f]{32}' "$T/metrics.txt" && fail "/metrics leaks query text or hashes"

curl -sf --max-time 5 "http://127.0.0.1:$MPORT/health" >"$T/health.json" || fail "GET /health failed"
"$PY" - "$T/health.json" <<'PYEOF' || fail "/health: $(cat "$T/health.json")"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "ok", h
assert h["kafka"]["state"] == "ok" and h["kafka"]["assigned_partitions"] == 2, h
assert h["breaker"] == "closed" and h["llm"]["state"] == "ok", h
assert h["redis"]["state"] == "off" and h["lmdb"]["state"] == "off", h
assert 0 < h["p95_ms"] < 60000 and h["success_rate"] == 1.0, h
PYEOF

# The LLM goes away: two failed calls open the breaker; /health says degraded.
stop_pid "$SIM_PID" sim 5
printf '%s\n' "new question one" "new question two" "new question three" >"$T/q2.txt"
produce_wait "$T/r3.jsonl" "$T/q2.txt" -X llm.model=gpt-4o-mini
for q in "fourth new question" "fifth new question"; do
    echo "$q" >"$T/q3.txt"
    produce_wait "$T/r4.jsonl" "$T/q3.txt"
done
sleep 1.5
curl -s --max-time 5 "http://127.0.0.1:$MPORT/health" >"$T/health2.json"
"$PY" - "$T/health2.json" <<'PYEOF' || fail "/health with the LLM down: $(cat "$T/health2.json")"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["status"] == "degraded" and h["breaker"] == "open", h
PYEOF
curl -sf --max-time 5 -o "$T/metrics2.txt" "http://127.0.0.1:$MPORT/metrics" ||
    fail "GET /metrics failed"
grep -q '^kclassify_llm_breaker_state 1$' "$T/metrics2.txt" ||
    fail "kclassify_llm_breaker_state is not 1 (open)"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
