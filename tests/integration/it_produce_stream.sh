#!/usr/bin/env bash
# Streaming batch classification: a 100,000-line file through
# kclassify-produce --wait --ordered (mock cluster + LLM simulator + worker).
# Asserts: one result per line, in input order, each for its own query; the
# summary counts them; peak RSS stays bounded (the window of outstanding
# requests, not the file, sets the memory); --skip N skips exactly N lines;
# an interrupted --ordered run names the --skip that resumes it, and the two
# outputs together equal a full run.
source "$(dirname "$0")/lib.sh"

N=100000
RSS_LIMIT_KB=$((64 * 1024)) # measured ~26 MiB with the default --max-inflight 10000;
# holding every request and result (no window) measured ~83 MiB for this file

[[ -x /usr/bin/time ]] || fail "/usr/bin/time is missing (Debian package 'time', scripts/install-deps.sh)"

start_mock 8
start_sim sim --seed 3 --latency-ms 5
start_worker w1 -X sla.deadline.ms=60000 -X kafka.fetch.wait.max.ms=10
wait_assigned w1
W1=$WORKER_PID

# 500 distinct queries (most requests are L1 hits), ids in line order.
$PY - "$T/in.jsonl" "$N" <<'EOF2' || fail "generating the input failed"
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
topics = ["tryptophan metabolism", "TMAO and heart disease", "urine NMR storage",
          "2025 FDA approvals", "lipidomics basics"]
with open(path, "w") as f:
    for i in range(n):
        q = "Question %d about %s?" % (i % 500, topics[i % 5])
        f.write(json.dumps({"query": q, "request_id": "id-%06d" % i}) + "\n")
EOF2

# ------------------------------------------------------------------ full run
log "$N lines, --wait --ordered, under /usr/bin/time -v"
rc=0
timeout -k 5 240 /usr/bin/time -v -o "$T/time.txt" "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" \
    -X kafka.fetch.wait.max.ms=10 --wait --ordered --timeout-ms 60000 "$T/in.jsonl" \
    >"$T/full.out" 2>"$T/produce.log" || rc=$?
[[ $rc -eq 0 ]] || fail "kclassify-produce --wait --ordered exited with status $rc"
$PY - "$T/in.jsonl" "$T/full.out" <<'EOF2' || fail "the output is not the input's results in order"
import json, sys
inp = [json.loads(l) for l in open(sys.argv[1])]
out = [json.loads(l) for l in open(sys.argv[2])]
assert len(out) == len(inp), "%d results for %d lines" % (len(out), len(inp))
for i, (a, b) in enumerate(zip(inp, out)):
    assert b["request_id"] == a["request_id"], "line %d: result %s" % (i + 1, b["request_id"])
    assert b["query"] == a["query"], "line %d: query %r" % (i + 1, b["query"])
    assert b["status"] in ("OK", "DEGRADED"), "line %d: status %s" % (i + 1, b["status"])
print("%d results in input order" % len(out))
EOF2
grep -q "^% summary: $N results in" "$T/produce.log" || fail "no summary line for $N results"
grep -Eq '^%   categories: .*(KNOWLEDGE_GRAPH|REAL_TIME|GENERAL) [0-9]+ \(' "$T/produce.log" ||
    fail "the summary has no per-category counts"
grep -Eq '^%   sources: .*L1 [0-9]+' "$T/produce.log" || fail "the summary has no source counts"
grep -Eq '^%   latency \(send to reply, here\) ms: p50 [0-9.]+  p95 [0-9.]+  p99 [0-9.]+' \
    "$T/produce.log" || fail "the summary has no latency percentiles"
grep -q "^% $N answered of $N sent to kclassify.requests$" "$T/produce.log" ||
    fail "the final count line is missing"
grep '^%' "$T/produce.log" >&2

rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$T/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$T/time.txt")
log "peak RSS ${rss} KiB, wall ${wall}, for $N lines"
if [[ "$(ldd "$KC_BIN/kclassify-produce")" == *libasan* ]]; then # (no grep -q: SIGPIPE + pipefail)
    log "ASan build: its quarantine keeps freed memory by design; RSS bound not checked"
else
    ((rss < RSS_LIMIT_KB)) || fail "peak RSS ${rss} KiB exceeds ${RSS_LIMIT_KB} KiB"
fi

# ------------------------------------------------------------------ --skip
log "--skip 99000: exactly the last 1000 lines"
produce_wait "$T/skip.out" "$T/in.jsonl" --ordered --skip 99000 -X kafka.fetch.wait.max.ms=10
[[ $(wc -l <"$T/skip.out") -eq 1000 ]] || fail "--skip 99000 printed $(wc -l <"$T/skip.out") results"
cmp -s <(tail -n 1000 "$T/in.jsonl" | $PY -c 'import json,sys; [print(json.loads(l)["request_id"]) for l in sys.stdin]') \
    <($PY -c 'import json,sys; [print(json.loads(l)["request_id"]) for l in sys.stdin]' <"$T/skip.out") ||
    fail "--skip 99000 did not print the results of lines 99001..100000 in order"

# ------------------------------------------------------------------ resume
# A small window and the mock's 100 ms fetch wait make the run take tens of
# seconds; it is interrupted after 2 s.
log "interrupt an --ordered run, then resume it with the --skip it names"
"$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" --wait --ordered --max-inflight 200 --progress \
    "$T/in.jsonl" >"$T/part1.out" 2>"$T/part1.log" &
PPID_=$!
kc_register "$PPID_" kclassify-produce
sleep 2
kill -INT "$PPID_"
rc=0
wait "$PPID_" || rc=$?
kc_unregister "$PPID_"
tr '\r' '\n' <"$T/part1.log" | grep -v '^\x1b\[K%.*ETA' >&2 || true
[[ $rc -eq 1 ]] || fail "the interrupted run exited with $rc, expected 1"
# --progress: the bar was drawn (with a file as input it shows the share read)
tr '\r' '\n' <"$T/part1.log" | grep -Eq '^.\[K% \[[#.]{24}\] +[0-9]+% sent [0-9]+, answered [0-9]+, in flight [0-9]+, [0-9]+/s, ETA' ||
    fail "no progress bar in the --progress run's stderr"
skip=$(sed -n 's/.*resume with --skip \([0-9]*\)$/\1/p' "$T/part1.log")
[[ -n "$skip" ]] || fail "the interrupted run did not name a --skip"
((skip > 0 && skip < N)) || fail "resume point $skip is not inside the file"
[[ $(wc -l <"$T/part1.out") -eq $skip ]] ||
    fail "the interrupted run printed $(wc -l <"$T/part1.out") results, but says lines 1..$skip"
produce_wait "$T/part2.out" "$T/in.jsonl" --ordered --skip "$skip" -X kafka.fetch.wait.max.ms=10
cat "$T/part1.out" "$T/part2.out" | $PY -c '
import json, sys
ids = [json.loads(l)["request_id"] for l in sys.stdin]
want = ["id-%06d" % i for i in range(int(sys.argv[1]))]
assert ids == want, "resumed output differs from a full run (%d results)" % len(ids)
' "$N" || fail "interrupted + resumed output is not the full run"
log "resumed at line $skip: the two parts make the full $N results"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
