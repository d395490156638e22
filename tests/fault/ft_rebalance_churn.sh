#!/usr/bin/env bash
# Fault 6b: many rebalances under load. Two workers share 6 partitions while
# a third joins and leaves (SIGTERM) again and again during a 30 s load at
# 400 requests/s, so the two stable workers go through a dozen rebalance
# events while their partitions keep receiving requests.
#
# Written for a loss found in librdkafka 2.0's batch consume API: a rebalance
# event (even one that changes nothing for this member) landing during
# rd_kafka_consume_batch_queue() dropped the queued messages of partitions that
# stayed assigned, so a worker skipped offsets it still owned. Every
# acknowledged request must be answered; duplicates and late replies (work
# moving between owners) are printed, not failed.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

CYCLES=5
RATE=${FT_CHURN_RATE:-1500}
COUNT=$((RATE * 30))

start_kafka 6
start_sim sim --seed 23 --latency-ms 60 --jitter 0.3
WOPTS=("${FT_WOPTS[@]}" -X llm.batch.max=16 -X llm.inflight.max=8 -X sla.deadline.ms=2000)
start_group w1 w2 -- "${WOPTS[@]}"

start_producer load --count $COUNT --rate $RATE --distinct 600 --seed 71
LOAD_PID=$PRODUCER_PID
for i in $(seq 1 $CYCLES); do
    kill -0 "$LOAD_PID" 2>/dev/null || break
    start_worker "w3-$i" "${WOPTS[@]}"
    pid=$WORKER_PID
    wait_assigned "w3-$i" --pid "$pid" --timeout 30
    sleep 1
    stop_worker "w3-$i" "$pid"
done
wait_producer load "$LOAD_PID"
events=$(cat "$T/w1.log" "$T/w2.log" | grep -cE 'assigned|revoked' || true)
log "rebalance events seen by the two stable workers: $events"

checker check --bootstrap "$BOOTSTRAP" --acked "$T/load.acked" --deadline-ms 2000 \
    --timeout 90 --settle 2 --allow-duplicates --allow-late --status OK,DEGRADED \
    --summary-out "$T/summary.json" ||
    fail "requests were lost across the rebalances (see above)"
log "duplicates: $(summary_field "$T/summary.json" duplicate_replies)," \
    "late: $(summary_field "$T/summary.json" late)"
grep -h "offsets_store\|rebalance:" "$T"/w*.log >&2 && fail "a worker failed to store offsets or to rebalance"

finish_group w2 w1
