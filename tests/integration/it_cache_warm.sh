#!/usr/bin/env bash
# Cache warming (cache.warm.file): a worker resolves the queries of a file
# through the normal path before it consumes. The file has 30 distinct
# queries, some spelt twice, and blank lines. Once warm-up is logged done
# (before the worker consumes), the simulator has seen exactly the 30
# queries; the first round of requests for them is all cache hits (L1/LMDB)
# and asks the LLM nothing. A second worker with an empty LMDB and the same
# Redis warms from Redis: still no LLM query.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

D=30

start_mock 4
start_sim sim --seed 7 --latency-ms 30
use_redis
cache_tool gen --out "$T/req.jsonl" --count 90 --distinct $D --id-prefix warm --seed 4
cache_tool gen --out "$T/req2.jsonl" --count 60 --distinct $D --id-prefix warm2 --seed 5
"$PY" - "$T/req.jsonl" "$T/warm.txt" <<'PYEOF'
import json, sys
qs = []
for line in open(sys.argv[1]):
    q = json.loads(line)["query"]
    if q not in qs:
        qs.append(q)
with open(sys.argv[2], "w") as f:
    for i, q in enumerate(qs):
        f.write(q + "\n")
        if i % 5 == 0:
            f.write("\n  " + q.upper().rstrip("?") + "  \n")  # same key, other spelling
PYEOF
log "warm file: $(grep -c . "$T/warm.txt") non-blank lines, $D distinct queries"

COMMON=(-X "cache.redis.url=$REDIS_URL" -X "cache.redis.prefix=$REDIS_PREFIX"
    -X cache.redis.timeout.ms=500 -X sla.deadline.ms=30000 -X "cache.warm.file=$T/warm.txt"
    -X cache.warm.rate=100)

# warmed NAME: warm-up logged done, before the worker started consuming.
warmed()
{
    wait_log "$T/$1.log" "cache warm-up done" 20 "$WORKER_PID" "$1"
    local done_at consume_at
    done_at=$(grep -n "cache warm-up done" "$T/$1.log" | head -n 1 | cut -d: -f1)
    consume_at=$(grep -n "consuming" "$T/$1.log" | head -n 1 | cut -d: -f1)
    [[ -n "$consume_at" && $done_at -lt $consume_at ]] ||
        fail "$1 did not finish warming before consuming (lines $done_at / ${consume_at:-none})"
    log "$1: $(grep -o 'cache warm-up done.*' "$T/$1.log")"
}

start_worker w1 -X kafka.fetch.wait.max.ms=10 -X "cache.lmdb.path=$T/lmdb1" "${COMMON[@]}"
warmed w1
expect_sim queries $D "warm-up asks about each distinct query of the file once"
wait_assigned w1
W1=$WORKER_PID
send round1 "$T/req.jsonl"
check round1 "$T/req.jsonl" --source L1,LMDB
expect_sim queries $D "a warmed worker answers the file's queries from its caches"
stop_worker w1 "$W1"

start_worker w2 -X kafka.fetch.wait.max.ms=10 -X "cache.lmdb.path=$T/lmdb2" "${COMMON[@]}"
warmed w2
wait_assigned w2
W2=$WORKER_PID
send round2 "$T/req2.jsonl"
check round2 "$T/req2.jsonl" --source L1,LMDB
expect_sim queries $D "the second worker warms from Redis"
stop_worker w2 "$W2"
