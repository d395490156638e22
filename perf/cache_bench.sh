#!/usr/bin/env bash
# Cache-hierarchy benchmark (reports, never asserts on time).
#
# Runs the local stack (mock Kafka cluster, redis-server, LLM simulator) and
# sends Zipf-distributed query mixes through kclassify-produce --wait:
#   phase 1  worker A (LMDB dir 1 + Redis), cold caches: LLM answers + L1 hits
#   phase 2  worker A restarted on the same LMDB dir: a new mix; queries seen in
#            phase 1 are LMDB hits on first sight, then L1
#   phase 3  worker B with an EMPTY LMDB dir and the same Redis: Redis hits
# and prints, per source, the median and p99 of the worker's own cache_us
# (consume -> answer found at that level) and of total_us (created_at ->
# reply, including the producer's burst queueing), over replies that were not
# coalesced (a coalesced reply waited for another request's lookup). The LLM
# calls per distinct query come from the simulator's /stats (must be 1.0).
#
# Usage: perf/cache_bench.sh [BUILD_BIN_DIR]   (default: build/bin)
# Environment: BENCH_REQUESTS (20000), BENCH_DISTINCT (2000), BENCH_ZIPF (1.1),
#   BENCH_LLM_MS (100, median simulated LLM latency), BENCH_OUT
#   (perf/results/cache_bench.json).
# Writes BENCH_OUT and prints a table. Needs redis-server and Debian's python3
# with python3-confluent-kafka and python3-avro.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
export KC_SRC="${KC_SRC:-$(cd "$HERE/.." && pwd)}"
export KC_BIN="$(cd "${1:-${KC_BIN:-$KC_SRC/build/bin}}" && pwd)"
REQUESTS=${BENCH_REQUESTS:-20000}
DISTINCT=${BENCH_DISTINCT:-2000}
ZIPF=${BENCH_ZIPF:-1.1}
LLM_MS=${BENCH_LLM_MS:-100}
OUT=${BENCH_OUT:-$KC_SRC/perf/results/cache_bench.json}
for b in kclassify-worker kclassify-produce kclassify-kafka-mock kclassify-llm-sim; do
    [[ -x "$KC_BIN/$b" ]] || { echo "cache_bench: $KC_BIN/$b not found (build first)" >&2; exit 2; }
done

# The integration-test helpers: components on free ports in a temp dir,
# bounded waits, everything stopped on exit.
source "$KC_SRC/tests/integration/lib.sh"
source "$KC_SRC/tests/integration/cache_lib.sh"

PARTS=8 # the mock keeps ~5 MiB per partition; 3 x 20,000 replies fit in 8
start_mock $PARTS
start_sim sim --seed 42 --latency-ms "$LLM_MS" --jitter 0.3
start_redis redis
PREFIX="kcbench:"
WOPTS=(-X "cache.redis.url=$REDIS_URL" -X "cache.redis.prefix=$PREFIX" -X cache.redis.timeout.ms=200
    -X sla.deadline.ms=120000)

for p in 1 2 3; do
    cache_tool gen --out "$T/p$p.jsonl" --count "$REQUESTS" --distinct "$DISTINCT" --zipf "$ZIPF" \
        --id-prefix "p$p" --seed "$((100 + p))"
done

# phase N WORKER_NAME: send phase N's mix, then check every request was answered.
phase()
{
    local p=$1 t0
    t0=$(now_ms)
    send "p$p" "$T/p$p.jsonl"
    PHASE_MS[$p]=$(($(now_ms) - t0))
    check "p$p" "$T/p$p.jsonl" --status OK --source L1,LMDB,REDIS,LLM
}
declare -A PHASE_MS=()

start_cworker wa -X "cache.lmdb.path=$T/lmdb-a" "${WOPTS[@]}"
phase 1
stop_worker wa "$WORKER_PID"
start_cworker wa2 -X "cache.lmdb.path=$T/lmdb-a" "${WOPTS[@]}"
phase 2
stop_worker wa2 "$WORKER_PID"
start_cworker wb -X "cache.lmdb.path=$T/lmdb-b" "${WOPTS[@]}"
phase 3
stop_worker wb "$WORKER_PID"
sim_stats "$T/sim.json"

mkdir -p "$(dirname "$OUT")"
cache_tool levels --results "$T/p1.out" --results "$T/p2.out" --results "$T/p3.out" >"$T/levels.json"
"$PY" - "$T" "$OUT" "$REQUESTS" "$DISTINCT" "$ZIPF" "$LLM_MS" "${PHASE_MS[1]}" "${PHASE_MS[2]}" \
    "${PHASE_MS[3]}" <<'PYEOF'
import collections, json, os, platform, sys

t, out, requests, distinct, zipf, llm_ms = sys.argv[1:7]
phase_ms = [int(x) for x in sys.argv[7:10]]
levels = json.load(open(os.path.join(t, "levels.json")))
sim = json.load(open(os.path.join(t, "sim.json")))

def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"

by_phase = []
for p in (1, 2, 3):
    c = collections.Counter()
    for line in open(os.path.join(t, "p%d.out" % p)):
        r = json.loads(line)
        c[r["source"] + (" (coalesced)" if r["coalesced"] else "")] += 1
    by_phase.append(dict(sorted(c.items())))

report = {
    "benchmark": "cache hierarchy (perf/cache_bench.sh)",
    "machine": {"nproc": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release()},
    "config": {"requests_per_phase": int(requests), "distinct_universe": int(distinct),
               "zipf_s": float(zipf), "llm_sim_median_ms": int(llm_ms),
               "worker": "defaults + LMDB + Redis (lease on), sla.deadline.ms=120000",
               "producer": "kclassify-produce --wait, whole phase sent as one burst",
               "phases": ["1: worker A, cold (LMDB a + Redis)",
                          "2: worker A restarted on LMDB a",
                          "3: worker B, empty LMDB b, same Redis"]},
    "phase_wall_ms": phase_ms,
    "sources_by_phase": by_phase,
    "levels_non_coalesced": levels,
    "llm": {"sim_queries": sim["queries"], "sim_distinct_queries": sim["distinct_queries"],
            "max_query_repeats": sim["max_query_repeats"], "calls": sim["calls"],
            "llm_calls_per_distinct_query":
                round(sim["queries"] / sim["distinct_queries"], 4) if sim["distinct_queries"] else None},
}
with open(out, "w") as f:
    json.dump(report, f, indent=2, sort_keys=True)
    f.write("\n")

m = report["machine"]
print("\ncache hierarchy benchmark: %s requests/phase over %s distinct queries, Zipf s=%s, "
      "LLM sim median %s ms" % (requests, distinct, zipf, llm_ms))
print("machine: %d CPU(s), %s, Linux %s" % (m["nproc"], m["cpu"], m["kernel"]))
for i, (ms, src) in enumerate(zip(phase_ms, by_phase), 1):
    print("phase %d: %6.1f s  %s" % (i, ms / 1000.0, src))
print()
print("%-6s %8s %14s %14s %14s %14s" % ("level", "hits", "cache_us p50", "cache_us p99",
                                         "total_us p50", "total_us p99"))
for src in ("L1", "LMDB", "REDIS", "LLM"):
    v = levels.get(src)
    if v:
        print("%-6s %8d %14d %14d %14d %14d" % (src, v["count"], v["cache_us_p50"], v["cache_us_p99"],
                                                v["total_us_p50"], v["total_us_p99"]))
    else:
        print("%-6s %8d %14s %14s %14s %14s" % (src, 0, "-", "-", "-", "-"))
l = report["llm"]
print("\nLLM: %d queries over %d distinct (max repeats %d, %d calls): %.4f LLM calls per distinct query"
      % (l["sim_queries"], l["sim_distinct_queries"], l["max_query_repeats"], l["calls"],
         l["llm_calls_per_distinct_query"]))
print("(LLM row: cache_us = time to the miss; total_us includes the simulated LLM latency)")
print("written: %s" % out)
PYEOF
