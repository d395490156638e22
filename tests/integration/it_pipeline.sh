#!/usr/bin/env bash
# End to end: 500 requests over 50 distinct queries (spelled differently in
# case, whitespace and trailing '?') through kclassify-produce -> mock Kafka
# -> kclassify-worker -> LLM simulator -> replies.
#
# The simulator's labels are chosen to differ from the keyword fallback for
# every query, so a result with the labelled category can only have come
# through the LLM path (directly, coalesced, or from the L1 cache).
# Asserts: every request answered exactly once (also on the topic itself),
# category == label, status OK, source LLM or L1, exactly one LLM lookup per
# distinct query, query_hash == request key; the simulator saw each distinct
# query exactly once. A second round of the same queries is answered from L1
# without any LLM traffic.
source "$(dirname "$0")/lib.sh"

N=500
DISTINCT=50

start_mock 4

# A simulator without labels answers like the fallback classifier: ask it,
# then label every query with another category.
start_sim sim-fallback --seed 1
kctool gen-queries --prefix "$T/round1" --id-prefix r1 --count $N --distinct $DISTINCT --seed 11 \
    --fallback-url "$SIM_URL" --labels-out "$T/labels.tsv" ||
    fail "generating the queries failed"
stop_pid "$SIM_PID" sim-fallback

start_sim sim --labels "$T/labels.tsv" --seed 2 --latency-ms 20
start_worker w1 -X llm.batch.max=8 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

# ------------------------------------------------------------------ round 1
log "round 1: $N requests over $DISTINCT distinct queries"
produce_wait "$T/round1.out" "$T/round1.jsonl"
got=$(wc -l <"$T/round1.out")
[[ $got -eq $N ]] || fail "kclassify-produce printed $got results, expected $N"

sleep 1 # grace: a duplicate reply would land by now
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests --schema request \
    --expect $N --timeout 30 >"$T/requests.dump" || fail "dumping the request topic failed"
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $N --timeout 30 >"$T/replies1.dump" || fail "dumping the reply topic failed"
[[ $(wc -l <"$T/replies1.dump") -eq $N ]] ||
    fail "reply topic holds $(wc -l <"$T/replies1.dump") records after round 1, expected $N"

kctool check-results --expect "$T/round1.expect.jsonl" --results "$T/round1.out" \
    --replies-dump "$T/replies1.dump" --requests-dump "$T/requests.dump" \
    --status OK --source LLM,L1 --check-labels --llm-lookups $DISTINCT ||
    fail "round 1 results are wrong (see VIOLATION lines above)"

sim_stats "$T/stats1.json"
kctool check-stats --stats "$T/stats1.json" --eq distinct_queries=$DISTINCT \
    --eq queries=$DISTINCT --eq max_query_repeats=1 --eq errors_500=0 --eq bad_requests=0 ||
    fail "the simulator did not see each distinct query exactly once"

# ------------------------------------------------------------------ round 2
log "round 2: the $DISTINCT queries again, all from L1"
kctool gen-queries --prefix "$T/round2" --id-prefix r2 --count $DISTINCT --distinct $DISTINCT \
    --seed 12 || fail "generating round 2 failed"
# Same labels as round 1: take them from round 1's expectations by base index.
$PY - "$T/round1.expect.jsonl" "$T/round2.expect.jsonl" <<'EOF' || fail "labelling round 2 failed"
import json, sys
labels = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    labels[e["base"]] = e["label"]
rows = [json.loads(line) for line in open(sys.argv[2])]
with open(sys.argv[2], "w") as f:
    for e in rows:
        e["label"] = labels[e["base"]]
        f.write(json.dumps(e) + "\n")
EOF
produce_wait "$T/round2.out" "$T/round2.jsonl"
sleep 1
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $((N + DISTINCT)) --timeout 30 >"$T/replies2.dump" || fail "dumping replies failed"
kctool check-results --expect "$T/round2.expect.jsonl" --results "$T/round2.out" \
    --replies-dump "$T/replies2.dump" --ignore-foreign \
    --status OK --source L1 --check-labels --llm-lookups 0 ||
    fail "round 2 was not answered from L1 with the same categories"

sim_stats "$T/stats2.json"
kctool check-stats --stats "$T/stats2.json" --eq queries=$DISTINCT \
    --eq distinct_queries=$DISTINCT --eq max_query_repeats=1 ||
    fail "round 2 reached the LLM"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
grep -q "stopped: $((N + DISTINCT)) requests" "$T/w1.log" ||
    fail "worker w1 did not report $((N + DISTINCT)) requests on exit"
