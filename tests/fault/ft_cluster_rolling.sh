#!/usr/bin/env bash
# A rolling restart of a three-node Apache Kafka cluster under load, as an
# upgrade does it: each broker in turn is stopped (controlled shutdown),
# restarted, and the next waits until every replica is back in sync; then
# one broker is stopped for longer than replica.lag.time.max.ms (10 s in
# scripts/kafka.sh: it drops out of the ISR, min ISR 2 still holds) and
# brought back, and must catch up. All of it under load: 14,000 requests at
# 250/s (56 s) to two workers.
#
# Every acknowledged request must get a reply; late replies and duplicates
# are counted and printed.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

start_kafka 6 cluster
start_sim sim --seed 17 --latency-ms 40 --jitter 0.3
start_group w1 w2 -- "${FT_CLUSTER_WOPTS[@]}"

start_producer load --count 14000 --rate 250 --distinct 4000 --seed 9
wait_acked load 500 30
for n in 1 2 3; do
    kafka_node DOWN "$n"
    sleep 2
    kafka_node UP "$n"
    wait_until 60 "replicas in sync after restarting node $n" kafka_isr_full kclassify.requests 3
done
log "rolling restart done after $(acked_count load) acks"
kafka_node DOWN 2
sleep 13
wait_until 30 "node 2 out of the ISR" kafka_isr_below kclassify.requests 3
kafka_node UP 2
wait_until 90 "node 2 back in sync" kafka_isr_full kclassify.requests 3

wait_producer load "$PRODUCER_PID"
check_answered load "the rolling restart"
finish_group w1 w2
