#!/usr/bin/env bash
# The group coordinator's broker dies during a rebalance, on a three-node
# Apache Kafka cluster: three workers serve 5,000 requests at 250/s; a fourth
# joins (a rebalance starts) and at once the broker that coordinates the
# group kclassify-workers is killed (SIGKILL); it comes back 8 s later.
#
# Every acknowledged request must get a reply; late replies and duplicates
# (a rebalance may hand over requests whose offsets were not committed) are
# counted and printed; the four workers end with every partition assigned.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

coordinator()
{
    "$PY" - "$BOOTSTRAP" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient
gs = AdminClient({"bootstrap.servers": sys.argv[1]}).list_groups("kclassify-workers", timeout=10)
print(gs[0].broker.id if gs else "")
PYEOF
}

start_kafka 6 cluster
start_sim sim --seed 19 --latency-ms 40 --jitter 0.3
start_group w1 w2 w3 -- "${FT_CLUSTER_WOPTS[@]}"

start_producer load --count 5000 --rate 250 --distinct 2000 --seed 21
wait_acked load 1000 40
coord=$(coordinator)
[[ $coord =~ ^[1-3]$ ]] || fail "no coordinator for kclassify-workers: '$coord'"
start_worker w4 "${FT_CLUSTER_WOPTS[@]}"
WPID[w4]=$WORKER_PID
kafka_node KILL "$coord"
log "killed the coordinator (node $coord) as w4 joins"
sleep 8
kafka_node UP "$coord"

wait_producer load "$PRODUCER_PID"
wait_group_stable 60 w1 w2 w3 w4
check_answered load "the coordinator's death"
log "coordinator now: node $(coordinator)"
finish_group w1 w2 w3 w4
