#!/usr/bin/env bash
# Broker fault on a three-node Apache Kafka cluster (KRaft, replication 3,
# min.insync.replicas 2): 6,000 requests at 300/s to three workers; after
# 1,500 acks the broker leading partition 0 of kclassify.requests is killed
# with SIGKILL (no controlled shutdown), and started again 8 s later.
#
# Every acknowledged request must get a reply (the checker); a reply may be
# late while leadership moves (--allow-late: the figures are printed), and
# duplicates are counted and printed (a rebalance triggered by the fault may
# make a new owner answer requests whose offsets were not committed yet).
# The cluster must heal: all replicas back in sync at the end.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

start_kafka 6 cluster
start_sim sim --seed 13 --latency-ms 40 --jitter 0.3
start_group w1 w2 w3 -- "${FT_CLUSTER_WOPTS[@]}"

start_producer load --count 6000 --rate 300 --distinct 2000 --seed 7
wait_acked load 1500 40
kill_leader kclassify.requests 0 8

wait_producer load "$PRODUCER_PID"
check_answered load "the broker kill"
wait_until 60 "all replicas back in sync" kafka_isr_full kclassify.requests 3
finish_group w1 w2 w3
