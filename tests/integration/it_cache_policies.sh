#!/usr/bin/env bash
# cache_policy, one request at a time against a worker with L1, LMDB and
# Redis:
#   REFRESH on a cached query skips every read, asks the LLM (the simulator
#   counts it) and writes the new answer to LMDB and Redis (newer created_at,
#   new Redis value); USE then hits L1.
#   BYPASS neither reads (a cached query still goes to the LLM) nor writes
#   (LMDB and Redis unchanged; a query only ever sent with BYPASS is in no
#   cache, so a following USE request for it asks the LLM again).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

Q1="Which enzymes convert tryptophan to kynurenine?"
Q2="Is urinary hippurate a marker of gut microbial diversity?"
LMDB="$T/lmdb"

start_mock 4
start_sim sim --seed 5 --latency-ms 20
use_redis
start_cworker w1 -X "cache.lmdb.path=$LMDB" -X "cache.redis.url=$REDIS_URL" \
    -X "cache.redis.prefix=$REDIS_PREFIX" -X cache.redis.timeout.ms=500 -X sla.deadline.ms=30000
W1=$WORKER_PID
STEP=0

# ask POLICY QUERY EXPECTED_SOURCE EXPECTED_SIM_QUERIES
ask()
{
    local policy=$1 q=$2 src=$3 sim=$4 name
    STEP=$((STEP + 1))
    name="step$STEP"
    "$PY" -c 'import json, sys; print(json.dumps({"request_id": sys.argv[1], "query": sys.argv[2], "cache_policy": sys.argv[3]}))' \
        "$name" "$q" "$policy" >"$T/$name.jsonl"
    send "$name" "$T/$name.jsonl"
    check "$name" "$T/$name.jsonl" --source "$src"
    expect_sim queries "$sim" "after $policy of '$q'"
    HASH=$("$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())["query_hash"])' "$T/$name.out")
}

# lmdb_created QUERY: created_at of the LMDB entry, "none" if there is none.
lmdb_created()
{
    local out rc=0
    out=$("$KC_BIN/kclassify-cache" -p "$LMDB" get "$1" 2>/dev/null) || rc=$?
    case $rc in
    0) "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["created_at"])' "$out" ;;
    1) echo none ;;
    *) fail "kclassify-cache get exited $rc" ;;
    esac
}
# redis_sum HASH: checksum of the Redis value, "none" if the key does not exist.
redis_sum()
{
    if [[ "$(rcli exists "$REDIS_PREFIX$1")" == 1 ]]; then
        rcli --raw get "$REDIS_PREFIX$1" | md5sum | cut -d' ' -f1
    else
        echo none
    fi
}
# wait_changed WHAT OLD CMD...: until CMD prints something other than OLD (3 s at most).
wait_changed()
{
    local what=$1 old=$2 deadline=$(($(now_ms) + 3000)) cur
    shift 2
    while :; do
        cur=$("$@")
        [[ "$cur" != "$old" ]] && break
        (($(now_ms) < deadline)) || fail "$what did not change within 3s (still $cur)"
        sleep 0.1
    done
    echo "$cur"
}

log "USE twice: LLM, then L1"
ask USE "$Q1" LLM 1
H1=$HASH
ask USE "$Q1" L1 1
C1=$(wait_changed "LMDB entry of Q1" none lmdb_created "$Q1")
R1=$(wait_changed "Redis value of Q1" none redis_sum "$H1")

log "REFRESH on the cached query: LLM, and the new answer is written"
ask REFRESH "$Q1" LLM 2
C2=$(wait_changed "LMDB created_at of Q1 after REFRESH" "$C1" lmdb_created "$Q1")
((C2 > C1)) || fail "LMDB created_at went from $C1 to $C2 after REFRESH"
R2=$(wait_changed "Redis value of Q1 after REFRESH" "$R1" redis_sum "$H1")
ask USE "$Q1" L1 2

log "BYPASS on the cached query: LLM, and nothing is written"
ask BYPASS "$Q1" LLM 3
sleep 0.5 # a write, if there were one, happens within one loop pass
[[ "$(lmdb_created "$Q1")" == "$C2" ]] || fail "BYPASS rewrote Q1's LMDB entry"
[[ "$(redis_sum "$H1")" == "$R2" ]] || fail "BYPASS rewrote Q1's Redis value"

log "BYPASS on a new query, then USE: not a cache hit"
ask BYPASS "$Q2" LLM 4
H2=$HASH
sleep 0.5
[[ "$(lmdb_created "$Q2")" == none ]] || fail "BYPASS wrote Q2 to LMDB"
[[ "$(redis_sum "$H2")" == none ]] || fail "BYPASS wrote Q2 to Redis"
ask USE "$Q2" LLM 5
"$PY" - "$T/step$STEP.out" <<'PYEOF' || fail "the USE request after BYPASS was coalesced or not from the LLM"
import json, sys
r = json.loads(open(sys.argv[1]).readline())
assert r["source"] == "LLM" and not r["coalesced"], r
PYEOF
expect_sim max_query_repeats 3 "Q1 asked by USE, REFRESH and BYPASS"
wait_changed "LMDB entry of Q2 after USE" none lmdb_created "$Q2" >/dev/null
ask USE "$Q2" L1 5

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
