#!/usr/bin/env bash
# Redis is shared by the fleet: worker A (LMDB directory 1) asks the LLM
# about 40 distinct queries and writes them to Redis; A is stopped. Worker B,
# alone, with an EMPTY LMDB directory 2 and the same Redis, answers the same
# queries with source REDIS and no LLM call, and promotes them: a third pass
# on B is answered from L1 (or LMDB), and B's LMDB directory now holds them.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

N=40

start_mock 4
start_sim sim --seed 4 --latency-ms 20
use_redis
for r in 1 2 3; do
    cache_tool gen --out "$T/q$r.jsonl" --count $N --distinct $N --id-prefix "r$r" --seed 2
done

COMMON=(-X "cache.redis.url=$REDIS_URL" -X "cache.redis.prefix=$REDIS_PREFIX"
    -X cache.redis.timeout.ms=500 -X sla.deadline.ms=30000)
start_cworker wa -X "cache.lmdb.path=$T/lmdb1" "${COMMON[@]}"
WA=$WORKER_PID
send round1 "$T/q1.jsonl"
check round1 "$T/q1.jsonl" --source LLM --eq LLM=$N
expect_sim queries $N "worker A asks the LLM about each query once"
stop_worker wa "$WA"
got=$(redis_values "$REDIS_PREFIX")
[[ "$got" == "$N" ]] || fail "Redis holds $got values under $REDIS_PREFIX, expected $N"
log "Redis holds $got values under $REDIS_PREFIX"

start_cworker wb -X "cache.lmdb.path=$T/lmdb2" "${COMMON[@]}"
WB=$WORKER_PID
send round2 "$T/q2.jsonl"
check round2 "$T/q2.jsonl" --source REDIS --eq REDIS=$N
expect_sim queries $N "worker B must answer from Redis without the LLM"

send round3 "$T/q3.jsonl"
check round3 "$T/q3.jsonl" --source L1,LMDB
expect_sim queries $N "promoted answers need no LLM call"

# The Redis hits were promoted to B's own LMDB (written once per loop pass).
deadline=$(($(now_ms) + 5000))
while :; do
    entries=$("$KC_BIN/kclassify-cache" -p "$T/lmdb2" stats |
        "$PY" -c 'import json, sys; print(json.load(sys.stdin)["entries"])') ||
        fail "kclassify-cache stats on B's LMDB failed"
    [[ "$entries" == "$N" ]] && break
    (($(now_ms) < deadline)) || fail "B's LMDB holds $entries entries, expected $N (promotion from Redis)"
    sleep 0.2
done
log "B's LMDB holds $entries entries"
alive_or_fail "$WB" "worker wb" wb
stop_worker wb "$WB"
