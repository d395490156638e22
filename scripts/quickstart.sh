#!/usr/bin/env bash
# Installs deps, builds, then runs the whole pipeline on this machine with the
# embedded defaults: a mock Kafka cluster, the LLM simulator (or a real
# OpenAI-compatible LLM when KCLASSIFY_LLM_URL is set), a redis-server, and one
# worker with an LMDB directory. Sends
# examples/queries.txt twice (the second round is answered from cache) and
# prints the results. Stops everything it started, also on Ctrl-C.
#
#   scripts/quickstart.sh [--kafka mock|real] [QUERIES_FILE]
#
# --kafka real runs Apache Kafka 4.1.1 (KRaft, one node, scripts/kafka.sh;
# fetched from Maven Central the first time) instead of the mock cluster,
# which starts in a second and needs no JVM.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
KAFKA=mock
if [ "${1:-}" = "--kafka" ]; then
    KAFKA=${2:-}
    shift 2 || true
fi
case $KAFKA in
mock | real) ;;
*) echo "usage: scripts/quickstart.sh [--kafka mock|real] [QUERIES_FILE]" >&2; exit 64 ;;
esac
QUERIES=${1:-examples/queries.txt}
BIN=build/bin
PY=/usr/bin/python3

scripts/install-deps.sh
echo "% building (build/)" >&2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null

WORK=$(mktemp -d /tmp/kclassify-quickstart.XXXXXX)
PIDS=()
cleanup() {
    trap - EXIT INT TERM
    # Newest first: the worker commits and leaves the group while Kafka is up.
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${PIDS[i]}" 2>/dev/null || true
        wait "${PIDS[i]}" 2>/dev/null || true
    done
    if [ "$KAFKA" = real ]; then scripts/kafka.sh kill "$WORK/kafka" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "% interrupted" >&2; exit 130' INT TERM

wait_file() { # file seconds
    for _ in $(seq 1 $(( $2 * 10 ))); do [ -s "$1" ] && return 0; sleep 0.1; done
    echo "% timed out waiting for $1" >&2; return 1
}

if [ "$KAFKA" = real ]; then
    scripts/kafka.sh start single "$WORK/kafka"
    scripts/kafka.sh topics "$WORK/kafka" kclassify.requests:4 kclassify.replies:4 \
        kclassify.requests.DLT:4 kclassify.alerts:1
    BROKERS=$(cat "$WORK/kafka/bootstrap")
    echo "% Apache Kafka (KRaft, one node): $BROKERS" >&2
    FETCH_WAIT=() # a real broker answers a fetch as soon as data is there
else
    "$BIN/kclassify-kafka-mock" -p 4 --bootstrap-file "$WORK/bootstrap" >"$WORK/mock.out" 2>"$WORK/mock.log" &
    PIDS+=($!)
    wait_file "$WORK/bootstrap" 10
    BROKERS=$(cat "$WORK/bootstrap")
    echo "% mock Kafka cluster: $BROKERS" >&2
    FETCH_WAIT=(-X kafka.fetch.wait.max.ms=10) # the mock answers only when the wait expires
fi

if [ -n "${KCLASSIFY_LLM_URL:-}" ]; then
    LLM_URL=$KCLASSIFY_LLM_URL
    echo "% LLM: $LLM_URL (model ${KCLASSIFY_LLM_MODEL:-gpt-4o-mini})" >&2
else
    # The api profile: a hosted API's cost (~300 ms to first token, ~12 ms per
    # output token, rate limits); see kclassify-llm-sim --help.
    "$BIN/kclassify-llm-sim" --port 0 --port-file "$WORK/llm.port" --profile api \
        >"$WORK/llm.out" 2>"$WORK/llm.log" &
    PIDS+=($!)
    wait_file "$WORK/llm.port" 10
    LLM_URL="http://127.0.0.1:$(cat "$WORK/llm.port")/v1"
    echo "% LLM: simulator at $LLM_URL (profile api: ~300 ms to first token + ~12 ms per output token; set KCLASSIFY_LLM_URL for a real LLM)" >&2
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no --dir "$WORK" \
    >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
echo "% redis-server (shared cache): 127.0.0.1:$REDIS_PORT; LMDB cache: $WORK/lmdb" >&2
METRICS_PORT=$(free_port)

"$BIN/kclassify-worker" -b "$BROKERS" -X llm.url="$LLM_URL" \
    -X llm.model="${KCLASSIFY_LLM_MODEL:-gpt-4o-mini}" -X worker.id=quickstart-1 \
    -X cache.lmdb.path="$WORK/lmdb" -X cache.redis.url="redis://127.0.0.1:$REDIS_PORT/0" \
    -X metrics.port="$METRICS_PORT" \
    -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 "${FETCH_WAIT[@]}" \
    2>"$WORK/worker.log" &
PIDS+=($!)

# Wait until the worker owns partitions (the mock's first group join takes a
# few seconds) so round 1 measures the pipeline, not the join.
for _ in $(seq 1 150); do
    curl -s "http://127.0.0.1:$METRICS_PORT/health" 2>/dev/null | grep -q '"assigned_partitions":[1-9]' && break
    sleep 0.1
done

for round in 1 2; do
    echo "% round $round: sending $(grep -cv '^[[:space:]]*$' "$QUERIES") queries from $QUERIES" >&2
    "$BIN/kclassify-produce" -b "$BROKERS" -X llm.model="${KCLASSIFY_LLM_MODEL:-gpt-4o-mini}" \
        --wait --timeout-ms 30000 "$QUERIES" >"$WORK/round$round.jsonl"
done

"$PY" - "$WORK/round1.jsonl" "$WORK/round2.jsonl" <<'PYEOF'
import json, sys

def pct(vals, p):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(round(p / 100.0 * (len(vals) - 1))))] if vals else 0

for n, path in enumerate(sys.argv[1:], 1):
    rows = [json.loads(l) for l in open(path) if l.strip()]
    print(f"\nRound {n}: {len(rows)} replies")
    print(f"{'query':<58} {'category':<16} {'conf':>5} {'source':<8} {'ms':>8}")
    print("-" * 99)
    for r in rows:
        q = r.get("query", "")
        q = q if len(q) <= 56 else q[:55] + "…"
        print(f"{q:<58} {r['category']:<16} {r['confidence']:>5.2f} {r['source']:<8} {r['total_us']/1000:>8.1f}")
    lat = [r["total_us"] / 1000 for r in rows]
    src = {}
    for r in rows:
        src[r["source"]] = src.get(r["source"], 0) + 1
    print(f"latency ms: p50 {pct(lat,50):.1f}  p95 {pct(lat,95):.1f}  max {max(lat):.1f}   "
          f"sources: {', '.join(f'{k}={v}' for k, v in sorted(src.items()))}   "
          f"deadline met: {sum(1 for r in rows if r['deadline_met'])}/{len(rows)}")
PYEOF
sleep 1.2 # /health is refreshed once a second
echo >&2
echo "% worker health (GET http://127.0.0.1:$METRICS_PORT/health):" >&2
curl -s "http://127.0.0.1:$METRICS_PORT/health" >&2 || true
echo >&2
[ "$KAFKA" = real ] && WHAT="Apache Kafka" || WHAT="mock cluster"
echo "% done; stopping the worker, redis-server, simulator and $WHAT" >&2
