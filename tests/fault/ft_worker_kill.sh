#!/usr/bin/env bash
# Fault 1: a worker dies mid-run. 10,000 requests (a mix of distinct and
# repeated queries) are produced at a steady 500/s over 20 s to three workers;
# about 6 s in, one worker is SIGKILLed (no shutdown, no final commit) and a
# replacement is started 1 s later.
#
# Every acknowledged request must get a reply. Duplicates are allowed only for
# requests the killed worker had answered but not committed (its partitions,
# offsets at or past the committed offset read right after the kill); the test
# prints how many. Deadlines: replies must meet the 2 s deadline, except for
# the killed worker's uncommitted requests, which the group can only redeliver
# after it notices the death (session.timeout.ms=6000): those are counted and
# printed as late_redelivered_after_kill, not failed.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

N=10000
RATE=500

start_kafka 6
start_sim sim --seed 11 --latency-ms 40 --jitter 0.3
WOPTS=("${FT_WOPTS[@]}" -X llm.batch.max=16 -X llm.inflight.max=8 -X sla.deadline.ms=2000)
start_group w1 w2 w3 -- "${WOPTS[@]}"

start_producer load --count $N --rate $RATE --distinct 3000 --seed 5
wait_acked load 3000 40
log "killing worker w2 (pid ${WPID[w2]}) with SIGKILL after $(acked_count load) acks"
kill -KILL "${WPID[w2]}"
wait "${WPID[w2]}" 2>/dev/null || true
kc_unregister "${WPID[w2]}"
# Right after the kill: what the group had committed is what gets redelivered.
checker committed --bootstrap "$BOOTSTRAP" >"$T/committed_at_kill.json" ||
    fail "reading the committed offsets failed"
log "committed at kill: $(cat "$T/committed_at_kill.json")"

sleep 1
start_worker w2b "${WOPTS[@]}"
wait_assigned w2b --timeout 40
WPID[w2b]=$WORKER_PID

wait_producer load "$PRODUCER_PID"
checker check --bootstrap "$BOOTSTRAP" --acked "$T/load.acked" --deadline-ms 2000 \
    --timeout 90 --settle 2 --killed-worker w2 --committed-at-kill "$T/committed_at_kill.json" \
    --status OK,DEGRADED --summary-out "$T/summary.json" --replies-out "$T/replies.jsonl" ||
    fail "replies lost, late or duplicated beyond what the kill explains (see above)"
log "duplicates from the killed worker's uncommitted work:" \
    "$(summary_field "$T/summary.json" duplicate_replies)"
log "late only because redelivered after the kill:" \
    "$(summary_field "$T/summary.json" late_redelivered_after_kill)"

finish_group w2b w3 w1
