#!/usr/bin/env bash
# processing.guarantee=exactly_once on a three-node Apache Kafka cluster
# (KRaft, replication 3, min.insync.replicas 2): 6,000 requests at 300/s to
# three workers. After 1,500 acks worker w2 is killed with SIGKILL (its open
# transaction is left behind) and started again 1 s later with the same
# worker.id, which fences it; after 3,000 acks the broker leading partition 0
# of kclassify.requests is killed with SIGKILL and started again 8 s later.
#
# A read_committed consumer must then see exactly one reply per acknowledged
# request: none missing, no duplicates (the checker without
# --allow-duplicates). Replies may be late while the faults last (printed).
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

EOS_OPTS=("${FT_CLUSTER_WOPTS[@]}" -X processing.guarantee=exactly_once
    -X transaction.interval.ms=100)

start_kafka 6 cluster
start_sim sim --seed 17 --latency-ms 40 --jitter 0.3
start_group w1 w2 w3 -- "${EOS_OPTS[@]}"

start_producer load --count 6000 --rate 300 --distinct 2000 --seed 9
wait_acked load 1500 40
log "killing worker w2 (pid ${WPID[w2]}) with SIGKILL after $(acked_count load) acks"
kill -KILL "${WPID[w2]}"
wait "${WPID[w2]}" 2>/dev/null || true
kc_unregister "${WPID[w2]}"
sleep 1
# The same worker.id: the same transactional.id, so the new process fences
# the old one's open transaction at once.
start_worker w2b "${EOS_OPTS[@]}" -X worker.id=w2
wait_assigned w2b --timeout 40
WPID[w2b]=$WORKER_PID

wait_acked load 3000 60
kill_leader kclassify.requests 0 8

wait_producer load "$PRODUCER_PID"
checker check --bootstrap "$BOOTSTRAP" --acked "$T/load.acked" --deadline-ms 2000 \
    --timeout 120 --settle 3 --allow-late --status OK,DEGRADED \
    --summary-out "$T/summary.json" ||
    fail "a read_committed consumer did not see exactly one reply per request (see above)"
log "duplicates: $(summary_field "$T/summary.json" duplicate_replies)," \
    "late: $(summary_field "$T/summary.json" late)"
wait_until 60 "all replicas back in sync" kafka_isr_full kclassify.requests 3
finish_group w1 w2b w3
for name in w1 w2 w2b w3; do
    log "$name: $(grep -h "transactions:" "$T/$name.log" || echo "no transaction summary (killed)")"
done
