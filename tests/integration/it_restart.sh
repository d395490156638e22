#!/usr/bin/env bash
# Restart mid-stream: 300 distinct queries against a slow LLM; the first
# worker gets SIGTERM while most are still in flight, with a short
# worker.shutdown.timeout.ms so that it leaves work behind uncommitted. It must
# exit 0; a second worker takes over the group. Every request must still be
# answered (at-least-once: duplicates are allowed, counted and printed), and
# kclassify-produce --wait, running across the restart, must see them all.
source "$(dirname "$0")/lib.sh"

N=300

start_kafka 4
start_sim sim --seed 6 --latency-ms 150 --jitter 0.2
kctool gen-queries --prefix "$T/req" --id-prefix rs --count $N --distinct $N --seed 31 ||
    fail "generating the queries failed"

WOPTS=(-X llm.batch.max=4 -X llm.inflight.max=2 -X sla.deadline.ms=60000
    -X worker.shutdown.timeout.ms=800)
start_worker w1 "${WOPTS[@]}"
wait_assigned w1
W1=$WORKER_PID

log "sending $N requests; kclassify-produce --wait runs across the restart"
timeout -k 5 150 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" --wait --timeout-ms 60000 \
    "$T/req.jsonl" >"$T/req.out" 2>"$T/produce.log" &
PRODUCE_PID=$!
kc_register "$PRODUCE_PID" kclassify-produce

# Let the first worker answer some, then stop it mid-stream.
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --expect 20 --timeout 30 \
    >"$T/early.dump" || fail "the first worker answered fewer than 20 requests in 30s"
before=$(wc -l <"$T/early.dump")
((before < N)) || fail "the first worker answered all $N before the restart; slow the LLM down"
log "first worker answered $before of $N; SIGTERM"
stop_worker w1 "$W1"
grep -E "stopping|shutdown timeout|stopped" "$T/w1.log" >&2 || true

start_worker w2 "${WOPTS[@]}"
wait_assigned w2
W2=$WORKER_PID

wait "$PRODUCE_PID" || fail "kclassify-produce --wait exited with status $? across the restart"
kc_unregister "$PRODUCE_PID"
got=$(wc -l <"$T/req.out")
[[ $got -eq $N ]] || fail "kclassify-produce printed $got results, expected $N"

sleep 1 # grace for late duplicates
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --expect $N --timeout 30 \
    >"$T/replies.dump" || fail "dumping the reply topic failed"
kctool check-results --expect "$T/req.expect.jsonl" --results "$T/req.out" \
    --replies-dump "$T/replies.dump" --status OK --source LLM,L1 --allow-duplicates ||
    fail "requests were lost or answered wrongly across the restart"
by_worker=$($PY -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["worker_id"] for l in open(sys.argv[1]))
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))' "$T/replies.dump")
log "replies by worker: $by_worker"
[[ "$by_worker" == *w1=* && "$by_worker" == *w2=* ]] ||
    fail "expected replies from both workers, got: $by_worker"

alive_or_fail "$W2" "worker w2" w2
stop_worker w2 "$W2"
