#!/usr/bin/env bash
# Static membership on Apache Kafka (group.instance.id): a worker restarted
# within session.timeout.ms gets its partitions back without a rebalance;
# the other worker sees no revocation or assignment, and every request sent
# around the restart is answered. (Real broker only: the mock cluster's group
# coordinator does not implement static membership.)
source "$(dirname "$0")/lib.sh"

start_kafka 4
start_sim sim --seed 23
SOPTS=(-X kafka.session.timeout.ms=15000 -X sla.deadline.ms=30000)
start_worker w1 "${SOPTS[@]}" -X kafka.group.instance.id=w1
wait_assigned w1
W1=$WORKER_PID
start_worker w2 "${SOPTS[@]}" -X kafka.group.instance.id=w2
wait_assigned w2
W2=$WORKER_PID
# Let the group settle with both (w1 gives w2 its share).
for _ in $(seq 1 100); do
    grep -q "revoked" "$T/w1.log" && break
    sleep 0.1
done
sleep 2
# Incremental (cooperative) assignments: a worker holds what it was assigned
# minus what was revoked from it.
holds()
{
    "$PY" - "$T/$1.log" <<'PYEOF'
import re, sys
held = set()
for line in open(sys.argv[1]):
    m = re.search(r"(assigned|revoked) \d+ partition\(s\): ([0-9,]*)", line)
    if m:
        parts = {int(p) for p in m.group(2).split(",") if p}
        held = held | parts if m.group(1) == "assigned" else held - parts
print(",".join(str(p) for p in sorted(held)))
PYEOF
}
mine=$(holds w1)
w2_events=$(grep -cE "assigned|revoked" "$T/w2.log")
[[ -n "$mine" && -n "$(holds w2)" ]] || fail "the two workers do not share the partitions: w1 $mine, w2 $(holds w2)"
log "before: w1 holds $mine, w2 holds $(holds w2) ($w2_events group event(s))"

stop_worker w1 "$W1"
start_worker w1 "${SOPTS[@]}" -X kafka.group.instance.id=w1
wait_assigned w1
W1=$WORKER_PID
again=$(holds w1)
sleep 3
[[ $(grep -cE "assigned|revoked" "$T/w2.log") -eq $w2_events ]] ||
    fail "w2 saw a rebalance: $(grep -E 'assigned|revoked' "$T/w2.log" | tail -n 3)"
[[ "$again" == "$mine" ]] || fail "w1 came back with partitions $again, not $mine"
log "w1 restarted with the same partitions ($again); w2 saw no rebalance"

printf '{"request_id":"after-%d","query":"What is the TCA cycle, variant %d?"}\n' 1 1 2 2 3 3 4 4 \
    >"$T/after.jsonl"
produce_wait "$T/after.out" "$T/after.jsonl"
[[ $(grep -c '"status":"OK"' "$T/after.out") -eq 4 ]] || fail "after restart: $(cat "$T/after.out")"
stop_worker w2 "$W2"
