#!/usr/bin/env bash
# Measures the LMDB space one cached answer takes, for docs/operations.md:
# imports N entries (kclassify-cache import, the export format) into a fresh
# cache directory and prints used_bytes per entry from `kclassify-cache stats`.
#
#   scripts/lmdb-sizing.sh BINDIR [N] [REASONING_BYTES]   defaults: 100000 80
# Queries are 60 bytes, the category KNOWLEDGE_GRAPH, the model gpt-4o-mini:
# with 80 bytes of reasoning the record (kc_cache_rec.h) is 204 bytes.
set -euo pipefail

BIN=${1:?usage: lmdb-sizing.sh BINDIR [N] [REASONING_BYTES]}
N=${2:-100000}
REASONING=${3:-80}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
/usr/bin/python3 - "$N" "$REASONING" >"$DIR/in.jsonl" <<'PY'
import hashlib, json, sys, time
n, rlen = int(sys.argv[1]), int(sys.argv[2])
now = int(time.time() * 1e6)
for i in range(n):
    norm = ("which metabolites are associated with condition %08d in adults today" % i)[:60]
    print(json.dumps({"key": hashlib.md5(norm.encode()).hexdigest(), "norm": norm,
                      "category": "KNOWLEDGE_GRAPH", "confidence": 0.9, "reasoning": "r" * rlen,
                      "model": "gpt-4o-mini", "created_at": now, "expires_at": now + 3600 * 10**6}))
PY
"$BIN/kclassify-cache" -p "$DIR/lmdb" --size-mb 4096 import <"$DIR/in.jsonl" 2>/dev/null
"$BIN/kclassify-cache" -p "$DIR/lmdb" stats | /usr/bin/python3 -c '
import json, sys
s = json.load(sys.stdin)
per = s["used_bytes"] / s["entries"]
print("%d entries, used_bytes %d: %.0f B per entry, %.0f MiB per million"
      % (s["entries"], s["used_bytes"], per, per * 1e6 / 1048576))'
