#!/usr/bin/env bash
# The LLM misbehaves: the simulator wraps answers in ```json fences, shuffles
# them, drops one, puts invalid categories in, or answers with prose, in
# about 30% of calls each (reproducible with --seed). Every request must still
# be answered exactly once, with a category of the taxonomy and status OK
# (LLM/L1, then with the labelled category: shuffled answers were matched by
# id, not position) or DEGRADED (the fallback, after the retries), never ERROR.
source "$(dirname "$0")/lib.sh"

N=500
DISTINCT=50

start_mock 4
start_sim sim-fallback --seed 1
kctool gen-queries --prefix "$T/req" --id-prefix f --count $N --distinct $DISTINCT --seed 21 \
    --fallback-url "$SIM_URL" --labels-out "$T/labels.tsv" || fail "generating the queries failed"
stop_pid "$SIM_PID" sim-fallback

start_sim sim --labels "$T/labels.tsv" --seed 4242 --latency-ms 10 \
    --fenced 0.3 --shuffle 0.3 --missing 0.3 --invalid-category 0.1 --garbage 0.2
# Small batches: more calls, so every kind of fault shows up; a generous
# deadline so that missing and invalid answers are retried before the fallback.
start_worker w1 -X llm.batch.max=2 -X llm.item.attempts=2 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

log "sending $N requests over $DISTINCT distinct queries to a faulty LLM"
produce_wait "$T/req.out" "$T/req.jsonl"
got=$(wc -l <"$T/req.out")
[[ $got -eq $N ]] || fail "kclassify-produce printed $got results, expected $N"

sleep 1
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests --schema request \
    --expect $N --timeout 30 >"$T/requests.dump" || fail "dumping the request topic failed"
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $N --timeout 30 >"$T/replies.dump" || fail "dumping the reply topic failed"
[[ $(wc -l <"$T/replies.dump") -eq $N ]] ||
    fail "reply topic holds $(wc -l <"$T/replies.dump") records, expected $N"

kctool check-results --expect "$T/req.expect.jsonl" --results "$T/req.out" \
    --replies-dump "$T/replies.dump" --requests-dump "$T/requests.dump" \
    --status OK,DEGRADED --source LLM,L1,FALLBACK --check-labels ||
    fail "results under LLM faults are wrong (see VIOLATION lines above)"

sim_stats "$T/stats.json"
kctool check-stats --stats "$T/stats.json" --min injected.fenced=1 --min injected.shuffled=1 \
    --min injected.missing=1 --min injected.invalid_category=1 --min injected.garbage=1 \
    --min distinct_queries=$DISTINCT --eq bad_requests=0 ||
    fail "the simulator did not inject every kind of fault (or saw bad requests)"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
