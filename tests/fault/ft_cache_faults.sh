#!/usr/bin/env bash
# Fault 5: the cache levels fail under a running worker (L1 off, so every
# answer goes through LMDB, Redis or the LLM and each level's failure shows).
#  1. warm: queries fill LMDB and Redis.
#  2. Redis is SIGKILLed mid-run and restarted (empty) 3 s later: repeated
#     queries must come from LMDB, new ones from the LLM; the worker must see
#     Redis down (/health, kclassify_redis_up 0) and reconnect to it.
#  3. LMDB's data file becomes unwritable while the worker runs (chattr +i:
#     we run as root, which ignores permission bits; an immutable file fails
#     every write with EPERM, as a file system turned read-only would): new
#     answers can only be stored in Redis, so asking the same queries again
#     must be answered from Redis.
#  4. A worker started on an unusable LMDB path (a regular file in the way)
#     must exit non-zero at once with a message naming the path (today's
#     contract: a misconfigured cache level is a start-up error, whereas an
#     unreachable Redis at start is not).
# Every phase: nothing lost, nothing late, nothing duplicated.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"
source "$KC_SRC/tests/integration/cache_lib.sh"

LMDB="$T/lmdb"
# Undo chattr before lib.sh's clean-up removes $T (even an immutable file
# must not survive a failed run).
trap 'rc=$?; chattr -i "$LMDB/data.mdb" 2>/dev/null; (exit $rc); stop_all' EXIT

start_mock 4
start_sim sim --seed 15 --latency-ms 30
start_redis redis
RPORT=$REDIS_PORT
MPORT=$(free_port)
start_worker w1 "${FT_WOPTS[@]}" -X sla.deadline.ms=2000 -X cache.l1.ttl.s=0 \
    -X "cache.lmdb.path=$LMDB" -X "cache.redis.url=$REDIS_URL" -X "metrics.port=$MPORT"
W1=$WORKER_PID
wait_assigned w1

# phase NAME PRODUCE-ARGS...: produce, then check every reply of the phase.
phase()
{
    local name=$1
    shift
    start_producer "$name" "$@"
    wait_producer "$name" "$PRODUCER_PID"
    checker check --bootstrap "$BOOTSTRAP" --acked "$T/$name.acked" --deadline-ms 2000 \
        --timeout 60 --status OK,DEGRADED --summary-out "$T/$name.json" ||
        fail "phase $name: replies lost, late or duplicated (see above)"
    log "phase $name by source: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_source"])' "$T/$name.json")"
}
source_count()
{
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_source"].get(sys.argv[2], 0))' \
        "$T/$1.json" "$2"
}

# --- 1. warm LMDB and Redis: 200 distinct queries
phase warm --count 600 --rate 150 --distinct 200 --seed 51
(($(source_count warm LMDB) > 0)) || fail "warm: no LMDB hit for repeated queries"

# --- 2. Redis killed mid-run, restarted 4 s later: queries 100..299 (half known)
# The worker retries Redis only when a lookup needs it (backoff up to 5 s), so
# the load goes on for 10 s after the restart.
start_producer rkill --count 1500 --rate 100 --distinct 200 --query-offset 100 --seed 52
sleep 2
kill -KILL "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null || true
kc_unregister "$REDIS_PID"
log "redis-server SIGKILLed"
redis_down()
{
    [[ "$(metric "$MPORT" kclassify_redis_up)" == 0 ]]
}
wait_until 5 "kclassify_redis_up 0 after Redis died" redis_down
log "worker sees Redis down: /health $(health "$MPORT")"
sleep 3
start_redis redis "$RPORT"
redis_up()
{
    [[ "$(metric "$MPORT" kclassify_redis_up)" == 1 ]]
}
wait_until 15 "kclassify_redis_up 1 after Redis came back" redis_up
log "worker reconnected to Redis"
wait_producer rkill "$PRODUCER_PID"
checker check --bootstrap "$BOOTSTRAP" --acked "$T/rkill.acked" --deadline-ms 2000 \
    --timeout 60 --status OK,DEGRADED --summary-out "$T/rkill.json" ||
    fail "Redis killed: replies lost, late or duplicated (see above)"
log "phase rkill by source: $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["by_source"])' "$T/rkill.json")"
(($(source_count rkill LMDB) > 0)) || fail "with Redis down, no repeated query came from LMDB"

# --- 3. LMDB unwritable: 200 new queries (offset 1000), then the same again
chattr +i "$LMDB/data.mdb" || fail "chattr +i is not supported here"
log "LMDB data file immutable: every LMDB write fails from now on"
phase lmdb_new --count 200 --rate 100 --unique --query-offset 1000 --seed 53
(($(source_count lmdb_new LLM) > 0)) || fail "new queries were not sent to the LLM"
grep -q "LMDB write of" "$T/w1.log" || fail "the worker did not report failing LMDB writes"
log "worker: $(grep -m 1 "LMDB write of" "$T/w1.log")"
phase lmdb_again --count 200 --rate 100 --unique --query-offset 1000 --seed 54
redis_hits=$(source_count lmdb_again REDIS)
((redis_hits >= 190)) ||
    fail "asked again, only $redis_hits of 200 answers came from Redis (LMDB could not store them)"
chattr -i "$LMDB/data.mdb"
alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"

# --- 4. a worker on an unusable LMDB path
echo "not a directory" >"$T/blocker"
rc=0
timeout 20 "$KC_BIN/kclassify-worker" -b "$BOOTSTRAP" -X "llm.url=$SIM_URL" \
    -X "cache.lmdb.path=$T/blocker/lmdb" >"$T/badpath.log" 2>&1 || rc=$?
log "worker on an unusable LMDB path: exit $rc: $(head -n 1 "$T/badpath.log")"
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "worker on an unusable LMDB path: exit status $rc"
grep -q "$T/blocker/lmdb" "$T/badpath.log" || fail "its message does not name the path"
