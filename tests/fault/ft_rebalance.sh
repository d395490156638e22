#!/usr/bin/env bash
# Fault 6: the group changes under load. Two workers share 6 partitions; a
# third joins 5 s into a 20 s steady load, and 6 s later the first leaves
# (SIGTERM: graceful shutdown). The LLM takes ~150 ms, so every revocation
# finds requests in flight.
# Every acknowledged request must be answered. While this runs, the group's
# committed offsets are sampled every 100 ms; each sample must be covered by
# replies already made (a commit for a request not yet answered, e.g. by a
# former owner of a revoked partition, would break that) and committed
# offsets never go back. Duplicates are allowed and printed: work in flight on
# a revoked partition is answered but not committed, so its new owner answers
# it again (at-least-once). Late replies are counted and printed, not failed:
# a partition that changes owner is consumed by nobody between the two rounds
# of a cooperative rebalance (about 5 s on the mock cluster), so requests
# produced to it in that window cannot meet a 2 s deadline.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

start_kafka 6
start_sim sim --seed 16 --latency-ms 150 --jitter 0.3
WOPTS=("${FT_WOPTS[@]}" -X llm.batch.max=8 -X llm.inflight.max=8 -X sla.deadline.ms=2000)
start_group w1 w2 -- "${WOPTS[@]}"

timeout -k 5 200 "$PY" "$CHECKER" watch-commits --bootstrap "$BOOTSTRAP" \
    --out "$T/commits.jsonl" --interval-ms 100 --duration 150 2>"$T/watch.log" &
WATCH_PID=$!
kc_register "$WATCH_PID" watch-commits

start_producer load --count 4000 --rate 200 --distinct 1500 --seed 61
LOAD_PID=$PRODUCER_PID
sleep 5
start_worker w3 "${WOPTS[@]}"
wait_assigned w3 --timeout 30
WPID[w3]=$WORKER_PID # after: wait_assigned may restart a worker that died at start
sleep 6
log "w1 leaves the group (SIGTERM)"
stop_worker w1 "${WPID[w1]}"
wait_producer load "$LOAD_PID"

checker check --bootstrap "$BOOTSTRAP" --acked "$T/load.acked" --deadline-ms 2000 \
    --timeout 90 --settle 2 --allow-duplicates --allow-late --status OK,DEGRADED \
    --summary-out "$T/summary.json" --replies-out "$T/replies.jsonl" ||
    fail "requests were lost across the rebalances (see above)"
# Let the auto-committer (5 s) commit the last answers, then stop sampling.
sleep 6
stop_pid "$WATCH_PID" watch-commits 5
checker check-commits --acked "$T/load.acked" --replies "$T/replies.jsonl" \
    --samples "$T/commits.jsonl" || fail "a committed offset ran ahead of the answers"
log "duplicates: $(summary_field "$T/summary.json" duplicate_replies)," \
    "late: $(summary_field "$T/summary.json" late)"
grep -h "offsets_store\|rebalance:" "$T"/w*.log >&2 && fail "a worker failed to store offsets or to rebalance"

finish_group w3 w2
