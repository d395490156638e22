#!/usr/bin/env bash
# Fleet-wide coalescing: 2,000 requests over 100 distinct queries, produced
# by a FOREIGN producer with random keys (so duplicates land on every
# partition and every worker), consumed by 3 workers of one group sharing
# Redis, each with its own LMDB. The LLM is slow (200 ms), so many workers
# miss on the same query at once: the Redis lease must make the simulator see
# each distinct query exactly once. Every request gets exactly one reply.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

N=2000
DISTINCT=100
PARTS=6

start_mock $PARTS
start_sim sim --seed 9 --latency-ms 200 --jitter 0.1
use_redis
# Spelling variants would only test normalization; exact queries keep the
# simulator's per-query count unambiguous.
cache_tool gen --out "$T/req.jsonl" --count $N --distinct $DISTINCT --id-prefix f --seed 5

WOPTS=(-X "cache.redis.url=$REDIS_URL" -X "cache.redis.prefix=$REDIS_PREFIX"
    -X cache.redis.timeout.ms=500 -X coalesce.redis.lease.ms=5000 -X sla.deadline.ms=30000)
PIDS=()
for w in w1 w2 w3; do
    start_worker "$w" -X kafka.fetch.wait.max.ms=10 -X "cache.lmdb.path=$T/lmdb-$w" "${WOPTS[@]}"
    PIDS+=("$WORKER_PID")
done
for i in 0 1 2; do
    WORKER_PID=${PIDS[$i]}
    wait_assigned "w$((i + 1))" --timeout 40
done

# The group is settled when the 3 workers together hold every partition,
# each some (cooperative rebalancing: assignments and revocations are
# increments, so a worker holds what it was assigned minus what it lost).
held()
{
    local n=0 line
    while read -r line; do
        [[ "$line" =~ ^assigned\ ([0-9]+) ]] && n=$((n + BASH_REMATCH[1]))
        [[ "$line" =~ ^revoked\ ([0-9]+) ]] && n=$((n - BASH_REMATCH[1]))
    done < <(grep -Eo '(assigned|revoked) [0-9]+ partition' "$T/$1.log")
    echo "$n"
}
deadline=$(($(now_ms) + 30000))
while :; do
    total=0 each=1 summary=""
    for w in w1 w2 w3; do
        h=$(held "$w")
        total=$((total + h))
        ((h > 0)) || each=0
        summary+="$w=$h "
    done
    [[ $total -eq $PARTS && $each -eq 1 ]] && break
    (($(now_ms) < deadline)) || fail "the 3 workers did not settle on $PARTS partitions within 30s ($summary)"
    sleep 0.2
done
log "group settled: $summary"

cache_tool run-foreign --bootstrap "$BOOTSTRAP" --input "$T/req.jsonl" --out "$T/replies.out" \
    --timeout 60 --grace 1.5 --seed 17 || fail "requests went unanswered (see above)"
check replies "$T/req.jsonl" --source L1,LMDB,REDIS,LLM --first LLM=$DISTINCT
sim_stats "$T/stats.json"
kctool check-stats --stats "$T/stats.json" --eq distinct_queries=$DISTINCT --eq queries=$DISTINCT \
    --eq max_query_repeats=1 || fail "the fleet asked the LLM about a query more than once"

by_worker=$("$PY" -c '
import collections, json, sys
c = collections.Counter((r["worker_id"], r["source"]) for r in map(json.loads, open(sys.argv[1])))
print(" ".join("%s/%s=%d" % (w, s, n) for (w, s), n in sorted(c.items())))' "$T/replies.out")
log "replies by worker/source: $by_worker"
for w in w1 w2 w3; do
    [[ "$by_worker" == *"$w/"* ]] || fail "worker $w answered nothing: the requests did not spread"
done
# The lease did its work: misses that waited for another worker's LLM
# answer were answered from Redis as coalesced.
waited=$("$PY" -c '
import json, sys
print(sum(1 for r in map(json.loads, open(sys.argv[1])) if r["source"] == "REDIS" and r["coalesced"]))' \
    "$T/replies.out")
log "$waited replies waited on another worker's lease"
((waited > 0)) || fail "no reply waited on a lease: the fleet-wide path was not exercised"
i=0
for w in w1 w2 w3; do
    alive_or_fail "${PIDS[$i]}" "worker $w" "$w"
    stop_worker "$w" "${PIDS[$i]}"
    i=$((i + 1))
done
