#!/usr/bin/env bash
# LMDB survives a restart: a worker with an LMDB directory (Redis off) asks
# the LLM about 50 distinct queries; it is stopped with SIGTERM (exit 0) and a
# new worker is started on the same directory. The same queries, spelt
# differently, are then answered with source LMDB and the LLM simulator sees
# no new query. The cache files are 0600 and kclassify-cache sees 50 entries.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

N=50
LMDB="$T/lmdb"

start_mock 4
start_sim sim --seed 3 --latency-ms 20
cache_tool gen --out "$T/q1.jsonl" --count $N --distinct $N --id-prefix a --seed 1
# The same queries, other request ids and spellings: the key is the normalized query.
"$PY" - "$T/q1.jsonl" "$T/q2.jsonl" <<'PYEOF'
import json, sys
with open(sys.argv[1]) as fin, open(sys.argv[2], "w") as fout:
    for i, line in enumerate(fin):
        r = json.loads(line)
        q = r["query"].rstrip("?")
        q = ("  " + q.upper() + " ?") if i % 2 else (q.lower() + "!")
        fout.write(json.dumps({"request_id": "b-%05d" % i, "query": q}) + "\n")
PYEOF

WOPTS=(-X "cache.lmdb.path=$LMDB" -X sla.deadline.ms=30000)
start_cworker w1 "${WOPTS[@]}"
W1=$WORKER_PID
send round1 "$T/q1.jsonl"
check round1 "$T/q1.jsonl" --source LLM --eq LLM=$N
expect_sim distinct_queries $N "the first round asks the LLM about each query once"
expect_sim queries $N "the first round asks the LLM about each query once"
stop_worker w1 "$W1"

for f in data.mdb lock.mdb; do
    [[ "$(stat -c %a "$LMDB/$f")" == 600 ]] || fail "$f has mode $(stat -c %a "$LMDB/$f"), expected 600"
done
"$KC_BIN/kclassify-cache" -p "$LMDB" stats >"$T/stats.json" || fail "kclassify-cache stats failed"
log "LMDB after the first worker: $(cat "$T/stats.json")"
"$PY" -c 'import json, sys; s = json.load(open(sys.argv[1])); sys.exit(s["entries"] != int(sys.argv[2]))' \
    "$T/stats.json" $N || fail "LMDB holds $(cat "$T/stats.json"), expected $N entries"

start_cworker w2 "${WOPTS[@]}"
W2=$WORKER_PID
send round2 "$T/q2.jsonl"
check round2 "$T/q2.jsonl" --source LMDB --eq LMDB=$N
expect_sim queries $N "a restarted worker must answer from LMDB without the LLM"
alive_or_fail "$W2" "worker w2" w2
stop_worker w2 "$W2"
