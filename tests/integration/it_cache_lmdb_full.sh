#!/usr/bin/env bash
# An LMDB map filled far beyond capacity keeps answering: a worker with a
# 1 MiB map (cache.lmdb.size.mb=1) and a tiny L1 gets 3,000 distinct queries
# of about 900 bytes (several MiB of answers). Every request is answered OK
# exactly once, no LMDB write fails (the oldest entries are evicted instead
# of MDB_MAP_FULL), kclassify-cache shows a bounded entry count within the
# map, and the most recent queries, asked again, are LMDB hits.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

N=3000
AGAIN=100
LMDB="$T/lmdb"

start_mock 4
start_sim sim --seed 6
cache_tool gen --out "$T/fill.jsonl" --count $N --distinct $N --pad 900 --id-prefix fill --seed 3
# The last queries sent, asked again (the newest entries survive eviction).
tail -n $AGAIN "$T/fill.jsonl" | "$PY" -c '
import json, sys
for i, line in enumerate(sys.stdin):
    r = json.loads(line)
    print(json.dumps({"request_id": "again-%03d" % i, "query": r["query"]}))' >"$T/again.jsonl"

start_cworker w1 -X "cache.lmdb.path=$LMDB" -X cache.lmdb.size.mb=1 -X cache.l1.entries=16 \
    -X llm.batch.max=16 -X sla.deadline.ms=60000
W1=$WORKER_PID

send fill "$T/fill.jsonl"
check fill "$T/fill.jsonl" --source LLM --first LLM=$N
expect_sim queries $N "each distinct query asked once"
if grep -E "LMDB (write|lookup)|MDB_" "$T/w1.log" >&2; then
    fail "the worker logged LMDB failures (above) instead of evicting"
fi

"$KC_BIN/kclassify-cache" -p "$LMDB" stats >"$T/stats.json" || fail "kclassify-cache stats failed"
log "LMDB after $N answers: $(cat "$T/stats.json")"
"$PY" - "$T/stats.json" $N <<'PYEOF' || fail "LMDB stats out of bounds: $(cat "$T/stats.json")"
import json, sys
s, n = json.load(open(sys.argv[1])), int(sys.argv[2])
assert s["map_size"] == 1 << 20, s
assert 0 < s["entries"] < n, "entries %d not bounded below %d" % (s["entries"], n)
assert 0 < s["used_bytes"] <= s["map_size"], s
PYEOF

send again "$T/again.jsonl"
check again "$T/again.jsonl" --source L1,LMDB,LLM --min LMDB=$((AGAIN / 2))
alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
