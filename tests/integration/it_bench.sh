#!/usr/bin/env bash
# kclassify-bench smoke test: a short `stack` run (the bench starts and stops
# mock Kafka, redis-server, the LLM simulator and a worker itself), a shorter
# one on the simulator's api profile with an --llm-arg, and `validate --level
# basic`. Asserts that the reports are produced and that their numbers are
# consistent with each other: every request answered once, percentiles
# ordered, sources adding up, LLM calls and tokens seen by the simulator, the
# profile reported, worker CPU and RSS scraped, plots and index.html written,
# the stack stopped.
source "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || fail "jq is required"
BENCH="$KC_BIN/kclassify-bench"
[[ -x "$BENCH" ]] || fail "$BENCH not built"

# bench ARGS...: kclassify-bench with a hard bound; sets BENCH_RC.
bench()
{
    BENCH_RC=0
    timeout -k 5 150 "$BENCH" "$@" >>"$T/bench.log" 2>&1 || BENCH_RC=$?
}

# expect JQ_EXPR FILE WHAT: fail unless the expression is true on FILE.
expect()
{
    jq -e "$1" "$2" >/dev/null || fail "$3 ($1 on $2: $(jq -c "${4:-.results}" "$2" 2>&1 | head -c 600))"
}

# ------------------------------------------------------------------ stack run
log "stack: 3 s at 200 req/s over 50 distinct queries (zipf 1.0)"
OUT="$T/stack"
bench stack --rate 200 --duration 3 --distinct 50 --zipf 1.0 --partitions 4 \
    --llm-profile fixed --llm-latency-ms 20 --llm-max-concurrency 8 --out "$OUT" --name smoke
[[ $BENCH_RC -eq 0 ]] || fail "kclassify-bench stack exited with $BENCH_RC"
S="$OUT/summary.json"
[[ -s "$S" ]] || fail "no summary.json"
expect '.results.sent == 600 and .results.answered == 600' "$S" "every request answered"
expect '.results.lost == 0 and .results.duplicates == 0 and .results.delivery_failed == 0' \
    "$S" "nothing lost or duplicated"
expect '.results.latency_ms as $l | $l.p50 > 0 and $l.p50 <= $l.p90 and $l.p90 <= $l.p99
        and $l.p99 <= $l["p99.9"] and $l["p99.9"] <= $l.max' "$S" "percentiles in order"
expect '([.results.by_source[]] | add) == .results.answered' "$S" "sources add up"
expect '.results.by_source.L1 > 0 and .results.hit_rate > 0.5' "$S" "repeats answered from L1"
expect '.results.llm.calls >= 1 and .results.llm.queries >= 1 and .results.llm.queries <= 50' \
    "$S" "each distinct query reaches the LLM at most once"
expect '.stack.llm_profile == "fixed" and .stack.llm_latency_ms == 20 and .stack.llm_jitter == null
        and .results.llm.profile == "fixed"' "$S" "the simulator profile reported" '.'
# The probe's calls put the worker's constant prompt prefix in the simulator's cache.
expect '.results.llm as $l | $l.prompt_tokens > $l.cached_tokens and $l.cached_tokens > 0
        and $l.completion_tokens_per_llm_answered > 0 and $l.llm_answered_share > 0
        and $l.llm_answered_share <= 1 and $l.llm_answered_per_s > 0 and $l.truncated == 0
        and $l.rejected_429_by_kind.rate_limit_requests == 0' "$S" "LLM token figures"
expect '.results.worker_cpu_s > 0 and .results.worker_peak_rss_mib > 1' "$S" "worker metrics"
expect '.results.offered_rps > 150 and .results.offered_rps < 250' "$S" "offered rate"
expect '[.processes[] | select(.name == "kclassify-bench")][0].cpu_s > 0' "$S" "bench CPU"
[[ $(wc -l <"$OUT/requests.csv") -eq 601 ]] || fail "requests.csv: expected 600 rows + header"
awk -F, 'NR > 1 && $4 < 0 { bad++ } END { exit bad > 0 }' "$OUT/requests.csv" ||
    fail "requests.csv has unanswered rows"
for f in timeseries.tsv percentiles.tsv index.html; do
    [[ -s "$OUT/$f" ]] || fail "no $f"
done
if command -v gnuplot >/dev/null; then
    for p in latency percentiles throughput hitrate; do
        [[ -s "$OUT/$p.png" && -s "$OUT/$p.svg" ]] || fail "plot $p missing"
        grep -q "$p.svg" "$OUT/index.html" || fail "index.html does not show $p"
    done
else
    log "gnuplot not installed: plots not checked"
fi
grep -q "stopped:" "$OUT/stack/worker-0.log" || fail "the worker was not stopped by SIGTERM"

# The worker's circuit breaker may open during the probe, so the run itself
# may make no LLM call at all: the assertions hold either way.
log "stack --llm-profile api with --llm-arg: every LLM call gets an injected 429"
AOUT="$T/api"
bench stack --rate 50 --duration 2 --distinct 0 --partitions 1 --no-redis --no-lmdb \
    --llm-profile api --llm-arg=--fail-429=1 --llm-arg=--ttft-ms=250 --out "$AOUT" --name api \
    --no-plots --no-csv
[[ $BENCH_RC -eq 0 ]] || fail "kclassify-bench stack --llm-profile api exited with $BENCH_RC"
A="$AOUT/summary.json"
expect '.results.sent == 100 and .results.answered == 100 and .results.lost == 0' "$A" \
    "every request answered (by the fallback)"
expect '.stack.llm_profile == "api" and .stack.llm_args == ["--fail-429=1", "--ttft-ms=250"]
        and .stack.llm_max_concurrency == null and .results.llm.profile == "api"' "$A" \
    "profile and --llm-arg reported" '.'
expect '.results.llm.simulator as $c | $c.model == "tokens" and $c.ttft_ms == 250
        and $c.decode_ms_per_token == 12 and $c.max_concurrency == 64 and $c.rpm == 10000' "$A" \
    "the simulator's parameters: the api profile with --llm-arg applied" '.results.llm'
# The bench scrapes the simulator while the worker may still be probing: a call
# counted on arrival may not have had its 429 yet, so allow a couple in flight.
expect '.results.llm as $l | $l.rejected_429 >= 1 and ($l.calls - $l.rejected_429) <= 2
        and $l.rejected_429_by_kind.injected == $l.rejected_429 and $l.completion_tokens == 0
        and $l.completion_tokens_per_llm_answered == null and $l.llm_answered_share == 0' \
    "$A" "429s split by kind"
grep -q "llm cost   profile api" "$T/bench.log" || fail "no llm cost line in the console summary"

# ------------------------------------------------------------------ validate
log "validate --level basic"
VOUT="$T/validate"
bench validate --level basic --target-ms 1000 --partitions 4 --llm-latency-ms 20 \
    --out "$VOUT" --no-plots
[[ $BENCH_RC -eq 0 ]] || fail "validate --level basic exited with $BENCH_RC"
V="$VOUT/validation.json"
expect '.verdict == "PASS" and (.runs | length) == 3 and all(.runs[]; .pass)' "$V" \
    "basic verdict" '.'
expect '[.runs[].name] == ["functional", "cache", "consistency"]' "$V" "basic steps" '.'
expect '.results.answered == 48' "$VOUT/functional/summary.json" "functional set answered"
expect '.results.hit_rate >= 0.95' "$VOUT/cache/summary.json" "cache step hit rate"
expect '.stack.llm_profile == "fixed" and .stack.llm_latency_ms == 20
        and .stack.llm_max_concurrency == 8' "$VOUT/functional/summary.json" \
    "validate keeps the fixed profile" '.stack'
grep -q "validate basic (target 1000 ms): PASS" "$T/bench.log" || fail "no verdict line"

log "--passthrough: kclassify-passthrough copies every request back, no worker"
bench stack --passthrough --rate 300 --duration 2 --distinct 20 --partitions 2 --no-plots \
    --no-csv --out "$T/pt" --name pt
[[ $BENCH_RC -eq 0 ]] || fail "kclassify-bench stack --passthrough exited with $BENCH_RC"
expect '.results.sent >= 600 and .results.answered == .results.sent and .results.duplicates == 0' \
    "$T/pt/summary.json" "every request copied back once"
expect '.results.by_source.NONE == .results.sent and .results.llm.calls == 0' "$T/pt/summary.json" \
    "copies, not classifications"
expect '[.processes[] | select(.name == "passthrough-0")][0].cpu_s > 0' "$T/pt/summary.json" \
    "the pass-through's CPU" '.processes'
bench stack --passthrough --naive --out "$T/pt-naive"
[[ $BENCH_RC -eq 64 ]] || fail "--passthrough --naive: exit $BENCH_RC, expected 64"

log "usage errors exit 64"
bench validate --level nope --target-ms 5 --out "$T/bad"
[[ $BENCH_RC -eq 64 ]] || fail "unknown level: exit $BENCH_RC, expected 64"
bench stack --pattern zigzag
[[ $BENCH_RC -eq 64 ]] || fail "unknown pattern: exit $BENCH_RC, expected 64"
bench stack --llm-profile nope
[[ $BENCH_RC -eq 64 ]] || fail "unknown --llm-profile: exit $BENCH_RC, expected 64"
