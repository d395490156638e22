#!/usr/bin/env bash
# Redis dies mid-run and comes back. A worker (LMDB + our own redis-server,
# lease on) is answering a stream of requests against a slow LLM when Redis
# is killed (SIGKILL). Every request must still be answered (status OK, from
# L1, LMDB or the LLM), /health must say Redis is down while it is, and once
# redis-server runs again on the same port (empty: no persistence) the worker
# reconnects and writes new answers to Redis again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

start_mock 4
start_sim sim --seed 8 --latency-ms 100 --jitter 0.1
start_redis redis
PREFIX="kcit:down:"
MPORT=$(free_port)

# Round 1: 40 queries, 160 requests, slow enough (4 queries per call, 2 calls
# at once) that Redis is killed while most are still waiting.
cache_tool gen --out "$T/r1.jsonl" --count 160 --distinct 40 --id-prefix r1 --seed 1
# Round 2, sent while Redis is down: round 1's queries (cached in L1 and LMDB)
# and 30 new ones (LLM).
cache_tool gen --out "$T/r2.jsonl" --count 100 --distinct 70 --id-prefix r2 --seed 2
# Round 3, after the restart: 30 queries never asked before.
"$PY" - "$T/r3.jsonl" <<'PYEOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(30):
        f.write(json.dumps({"request_id": "r3-%03d" % i,
                            "query": "After the Redis restart, question %d on urinary metabolites" % i}) + "\n")
PYEOF

start_cworker w1 -X "cache.lmdb.path=$T/lmdb" -X "cache.redis.url=$REDIS_URL" \
    -X "cache.redis.prefix=$PREFIX" -X cache.redis.timeout.ms=100 -X coalesce.redis.lease.ms=3000 \
    -X llm.batch.max=4 -X llm.inflight.max=2 -X sla.deadline.ms=60000 -X "metrics.port=$MPORT"
W1=$WORKER_PID

health_redis()
{
    curl -sf --max-time 3 "http://127.0.0.1:$MPORT/health" |
        "$PY" -c 'import json, sys; h = json.load(sys.stdin); print(h["redis"]["state"], h["status"])'
}
# wait_health STATE TIMEOUT_S: until /health reports Redis in STATE.
wait_health()
{
    local want=$1 deadline=$(($(now_ms) + $2 * 1000)) got=""
    while :; do
        got=$(health_redis || true)
        [[ "$got" == "$want "* ]] && break
        (($(now_ms) < deadline)) || fail "/health says redis '$got', expected '$want' within $2s"
        sleep 0.2
    done
    log "/health: redis $got"
}
# No Redis command before the first request: "idle" until then.
[[ "$(health_redis)" == idle* || "$(health_redis)" == connected* ]] ||
    fail "/health before any request: redis '$(health_redis)'"

log "round 1: 160 requests; Redis is killed while they are being answered"
timeout -k 5 150 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" --wait --timeout-ms 60000 \
    "$T/r1.jsonl" >"$T/r1.out" 2>>"$T/produce.log" &
PRODUCE_PID=$!
kc_register "$PRODUCE_PID" kclassify-produce
deadline=$(($(now_ms) + 20000))
until (($(redis_values "$PREFIX") >= 8)); do
    (($(now_ms) < deadline)) || fail "the worker wrote fewer than 8 values to Redis within 20s"
    sleep 0.05
done
before=$(redis_values "$PREFIX")
kill -KILL "$REDIS_PID"
{ wait "$REDIS_PID"; } 2>/dev/null || true
kc_unregister "$REDIS_PID"
log "redis-server killed with $before of 40 values written"
wait "$PRODUCE_PID" || fail "kclassify-produce --wait of round 1 exited with status $? (requests unanswered)"
kc_unregister "$PRODUCE_PID"
check r1 "$T/r1.jsonl" --source L1,LMDB,REDIS,LLM --first LLM=40
expect_sim queries 40 "one worker asks about each query once, Redis or not"
((before < 40)) || fail "all of round 1 was written before Redis died; the kill was not mid-run"

log "round 2 while Redis is down"
send r2 "$T/r2.jsonl"
check r2 "$T/r2.jsonl" --source L1,LMDB,LLM --first LLM=30
expect_sim queries 70 "round 1's answers are in L1 and LMDB; only the 30 new queries need the LLM"
wait_health down 5
alive_or_fail "$W1" "worker w1" w1

log "restart redis-server on port $REDIS_PORT (empty)"
start_redis redis "$REDIS_PORT"
[[ "$(redis_values "$PREFIX")" == 0 ]] || fail "the restarted redis-server is not empty"
# The worker reconnects on its next Redis command once its backoff (at most
# 5 s) has passed; round 3's answers must reach Redis by then.
send r3 "$T/r3.jsonl"
check r3 "$T/r3.jsonl" --source LLM --first LLM=30
deadline=$(($(now_ms) + 15000))
i=0
while (($(redis_values "$PREFIX") == 0)); do
    (($(now_ms) < deadline)) || fail "no value written to the restarted Redis within 15s"
    # Traffic that reaches Redis (an L1 miss) makes the worker try again.
    printf '{"request_id":"r4-%03d","query":"Nudge %d: is hippurate a gut microbial marker?"}\n' "$i" "$i" \
        >"$T/r4-$i.jsonl"
    send "r4-$i" "$T/r4-$i.jsonl"
    i=$((i + 1))
    sleep 0.5
done
after=$(redis_values "$PREFIX")
log "Redis holds $after value(s) again after the restart ($i extra request(s) sent); DBSIZE $(rcli dbsize)"
wait_health connected 10
alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
