#!/usr/bin/env bash
# Fault 7: overload. A 60 s spike of distinct new queries at 3x what the LLM
# can answer, between two stretches of normal load (a third of it), against
# one worker with a small llm.queue.max. Then a requester's clamps.
#
# The LLM: kclassify-llm-sim --profile api --knee 4 --max-concurrency 16
# (300 ms to first token, 12 ms per output token, a decode step slows down
# beyond 4 calls decoding at once: about 4 / 12 ms = 333 output tokens/s in
# all, ~12.5 tokens per answered query).
# Its capacity, measured by hand on this 2-core machine (mock cluster, this
# simulator, one worker with the options below), as the highest rate of new
# distinct queries at which >= 99% of the requests are answered by the LLM
# within a 2,000 ms deadline:
#   kclassify-bench run -b BROKERS --sim URL --metrics URL --rate R \
#       --duration 30 --deadline-ms 2000          (every request a new query)
#   two fresh stacks, R in order 20 30 | 24 27 30 33 and 26 28 27 25 29:
#   R=24 100%, 25 99.9%, 26 100%, 27 99.0% and 99.1%, 28 98.2%, 29 98.3%,
#   30 98.8% and 98.0%, 33 94.0% (LLM-answered 31/s: the saturated goodput).
# CAPACITY = 27 queries/s. Normal load 9/s, the spike 81/s (9/s + 72/s).
#
# Load: two open-loop `kclassify-bench run`s against this stack. The base run
# sends 9/s for 100 s without a gap; the spike run adds 72/s for 60 s from 10 s
# in. Request times of the two runs are aligned by their launch times (both do
# the same ~0.5 s of client set-up before their clock starts). A sampler reads
# the worker's /metrics every second.
#
# Asserts:
# - nothing lost: every request of both runs answered once, none an ERROR,
#   every reply within its deadline (worker-reported, and measured from the
#   intended send time with 250 ms for the bench's own delays);
# - bounded memory: RSS at most 64 MiB above the pre-spike peak, the three LLM
#   queues together never above llm.queue.max, and the bound was reached
#   (cache-filling lookups dropped: the spike made more dead work than fits);
# - the LLM keeps answering during the spike: requests answered by the LLM
#   >= 70% of CAPACITY per second, over every 5 s of the spike (not starved by
#   dead work, nor stopped: the simulator is overloaded, never down);
# - recovery: from 5 s after the spike's end, >= 95% of requests answered by
#   the LLM (and no less than the pre-spike share minus 5 points), no second
#   below 75%;
# - clamps: with the simulator stopped (SIGSTOP: calls hang), a request with
#   deadline_ms 2147483647 (24 days) and one created a year in the future get
#   their fallback within the cut deadlines (sla.deadline.max.ms 4000 here,
#   sla.deadline.ms 2000) and the group's commit passes them within 20 s.
#   Without the cuts they would wait for the LLM call's 30 s timeout and its
#   retries, holding the partition's commit.
#
# What each check catches (tried by hand): the worker before the live/fill
# queues (commit 04f583a) keeps sending dead lookups first: 0.1 LLM answers/s
# in the spike, 1.8% after it; this worker with llm.queue.max=100000 holds
# 2,860 lookups; a build without the two cuts holds the commit past 20 s. RSS
# is a guard against leaks, not the bound's test: even 2,860 queued lookups
# cost only ~3 MiB, so the queue gauges carry that assertion.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

CAPACITY=27 # measured, see above
NORMAL_RATE=9
SPIKE_EXTRA_RATE=72 # + NORMAL_RATE = 81/s = 3 x CAPACITY
PRE_S=10
SPIKE_S=60
POST_S=30
QUEUE_MAX=1000
DEADLINE_MS=2000
RSS_GROWTH_MAX_MIB=64
SPIKE_LLM_MIN_PCT=70 # of CAPACITY
RECOVERY_AFTER_S=5
RECOVERED_PCT=95
RECOVERED_SECOND_PCT=75
COMMIT_WAIT_S=20

start_mock 4
start_sim sim --profile api --knee 4 --max-concurrency 16 --seed 88
MPORT=$(free_port)
METRICS_URL="http://127.0.0.1:$MPORT/metrics"
start_worker w1 "${FT_WOPTS[@]}" -X "metrics.port=$MPORT" -X "llm.queue.max=$QUEUE_MAX" \
    -X "sla.deadline.ms=$DEADLINE_MS" -X sla.deadline.max.ms=4000
wait_assigned w1
W1_PID=$WORKER_PID
wait_until 10 "worker /metrics on port $MPORT" \
    bash -c "curl -sf --max-time 2 '$METRICS_URL' | grep -q '^process_resident_memory_bytes '"

# ------------------------------------------------------------------ sampler

timeout -k 5 200 "$PY" - "$METRICS_URL" "$T/metrics.tsv" 2>"$T/sampler.log" <<'EOF' &
import sys, time, urllib.request
url, out = sys.argv[1], sys.argv[2]
names = ["process_resident_memory_bytes", 'kclassify_llm_queue_length{queue="live"}',
         'kclassify_llm_queue_length{queue="fill"}', 'kclassify_llm_queue_length{queue="retry"}',
         "kclassify_llm_fill_dropped_total", "kclassify_llm_queue_full_total",
         "kclassify_llm_early_fallbacks_total", "kclassify_llm_answered_queries_total",
         "kclassify_llm_inflight", "kclassify_llm_concurrency_limit",
         "kclassify_llm_overload_429_total", "kclassify_llm_ratelimit_pauses_total",
         'kclassify_llm_errors_total{kind="timeout"}', "kclassify_llm_breaker_state",
         "kclassify_llm_breaker_opens_total"]
with open(out, "w", buffering=1) as f:
    f.write("# wall_ms\trss\tlive\tfill\tretry\tfill_dropped\tqueue_full\tearly\tanswered\t"
            "inflight\tlimit\toverload_429\trl_pauses\ttimeouts\tbreaker\tbreaker_opens\n")
    nxt = time.time()
    while True:
        try:
            body = urllib.request.urlopen(url, timeout=2).read().decode()
            vals = dict(line.rsplit(" ", 1) for line in body.splitlines()
                        if line and not line.startswith("#"))
            f.write("\t".join([str(int(time.time() * 1000))] + [vals.get(n, "nan") for n in names])
                    + "\n")
        except Exception as e:  # a missed sample is logged, not fatal
            print("sampler: %s" % e, file=sys.stderr)
        nxt += 1.0
        time.sleep(max(0.0, nxt - time.time()))
EOF
SAMPLER_PID=$!
kc_register "$SAMPLER_PID" metrics-sampler

# ------------------------------------------------------------------ load

# bench NAME RATE DURATION_S SALT: an open-loop run in the background (pid in
# BENCH_PID), report in $T/NAME/.
bench()
{
    timeout -k 5 $(($3 + 40)) "$KC_BIN/kclassify-bench" run -b "$BOOTSTRAP" --sim "$SIM_BASE" \
        --metrics "$METRICS_URL" --rate "$2" --duration "$3" --deadline-ms "$DEADLINE_MS" \
        --salt "$4" --seed "$4" --name "$1" --out "$T/$1" --no-plots >"$T/$1.log" 2>&1 &
    BENCH_PID=$!
    kc_register "$BENCH_PID" "bench-$1"
}

# wait_bench NAME PID: the run must end with every request answered (exit 0).
wait_bench()
{
    local rc=0
    wait "$2" || rc=$?
    kc_unregister "$2"
    [[ $rc -eq 0 ]] || fail "kclassify-bench run $1 exited with status $rc (1: requests lost)"
    [[ -s "$T/$1/summary.json" && -s "$T/$1/requests.csv" ]] || fail "bench $1 wrote no report"
    log "bench $1: $(grep -E '^ +(requests|status|source) ' "$T/$1.log" | tr -s ' ' | tr '\n' ';')"
}

TOTAL_S=$((PRE_S + SPIKE_S + POST_S))
log "load: ${NORMAL_RATE}/s for ${TOTAL_S}s, plus ${SPIKE_EXTRA_RATE}/s for ${SPIKE_S}s" \
    "from ${PRE_S}s (capacity ${CAPACITY}/s, llm.queue.max $QUEUE_MAX)"
bench base "$NORMAL_RATE" "$TOTAL_S" 1001
BASE_PID=$BENCH_PID
BASE_WALL=$(now_ms)
sleep "$PRE_S"
bench spike "$SPIKE_EXTRA_RATE" "$SPIKE_S" 2002
SPIKE_PID=$BENCH_PID
SPIKE_WALL=$(now_ms)
wait_bench spike "$SPIKE_PID"
wait_bench base "$BASE_PID"
alive_or_fail "$W1_PID" "worker w1" w1
sleep 1.5
stop_pid "$SAMPLER_PID" metrics-sampler 5

# ------------------------------------------------------------------ verdict

OFFSET_MS=$((SPIKE_WALL - BASE_WALL)) # the spike run's clock on the base run's
"$PY" - "$T" "$OFFSET_MS" "$SPIKE_WALL" <<EOF || fail "overload assertions failed (see above)"
import csv, json, math, sys
T, offset_ms, spike_wall = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CAP, QMAX, DL = $CAPACITY, $QUEUE_MAX, $DEADLINE_MS
SPIKE_S, TOTAL_S, AFTER_S = $SPIKE_S, $TOTAL_S, $RECOVERY_AFTER_S
RSS_MAX_MIB, SPIKE_LLM_MIN = $RSS_GROWTH_MAX_MIB, CAP * $SPIKE_LLM_MIN_PCT / 100.0
REC_PCT, REC_SEC_PCT = $RECOVERED_PCT, $RECOVERED_SECOND_PCT
bad = []

def check(ok, msg):
    print(("ok:   " if ok else "FAIL: ") + msg, file=sys.stderr)
    if not ok:
        bad.append(msg)

def rows(name, shift_ms):
    with open("%s/%s/requests.csv" % (T, name)) as f:
        for r in csv.DictReader(f):
            yield float(r["intended_ms"]) + shift_ms, r

# Nothing lost, no error, all within the deadline.
for name in ("base", "spike"):
    res = json.load(open("%s/%s/summary.json" % (T, name)))["results"]
    sent, ans = res["sent"], res["answered"]
    check(sent > 0 and ans == sent and res["lost"] == 0 and res["delivery_failed"] == 0,
          "%s: %d sent, %d answered, %d lost, %d delivery failures" %
          (name, sent, ans, res["lost"], res["delivery_failed"]))
    check(res["error"] == 0 and res["duplicates"] == 0,
          "%s: %d ERROR replies, %d duplicates" % (name, res["error"], res["duplicates"]))
    check(res["deadline_met_reported"] == ans,
          "%s: %d of %d replies met their deadline (worker-reported)" %
          (name, res["deadline_met_reported"], ans))
    lat = [int(r["latency_us"]) for _, r in rows(name, 0) if r["answered"] == "1"]
    late = sum(1 for x in lat if x > (DL + 250) * 1000)
    check(late == 0, "%s: %d replies later than %d ms + 250 ms after the intended send "
          "(max %.0f ms)" % (name, late, DL, max(lat) / 1000.0))

# Per second of the base run's clock: requests, LLM-answered.
base = list(rows("base", 0))
spike = list(rows("spike", offset_ms))
s0, s1 = offset_ms / 1000.0, offset_ms / 1000.0 + SPIKE_S  # the spike, base clock

def llm(r):
    return r["source"] == "LLM" and r["status"] == "OK"

def share(rs):
    return 100.0 * sum(llm(r) for r in rs) / len(rs) if rs else float("nan")

pre = [r for t, r in base if 2000 <= t < offset_ms]
post = [r for t, r in base if t >= (s1 + AFTER_S) * 1000]
pre_pct, post_pct = share(pre), share(post)
print("LLM-answered share: pre-spike %.1f%% of %d, from %ds after the spike %.1f%% of %d" %
      (pre_pct, len(pre), AFTER_S, post_pct, len(post)), file=sys.stderr)
check(pre_pct >= REC_PCT, "pre-spike LLM-answered share %.1f%% >= %d%% (normal load)" %
      (pre_pct, REC_PCT))
check(post_pct >= REC_PCT and post_pct >= pre_pct - 5,
      "LLM-answered share from %ds after the spike %.1f%% >= %d%% and >= pre-spike %.1f%% - 5" %
      (AFTER_S, post_pct, REC_PCT, pre_pct))
secs = {}
for t, r in base:
    if t >= s1 * 1000:
        secs.setdefault(math.floor(t / 1000.0 - s1), []).append(r)
line = " ".join("%d:%.0f" % (k, share(v)) for k, v in sorted(secs.items()))
print("per second after the spike's end (s:%%LLM): %s" % line, file=sys.stderr)
rec = next((k for k in sorted(secs) if all(share(secs[j]) >= 90 for j in secs if j >= k)), None)
print("recovery: every second >= 90%% LLM-answered from %s after the spike" %
      ("never" if rec is None else "%ds" % rec), file=sys.stderr)
worst = min((share(v), k) for k, v in secs.items() if k >= AFTER_S)
check(worst[0] >= REC_SEC_PCT, "worst second from %ds after the spike: %.0f%% (second %d) >= %d%%"
      % (AFTER_S, worst[0], worst[1], REC_SEC_PCT))

# The LLM keeps answering during the spike.
during = [r for t, r in base + spike if s0 * 1000 <= t < s1 * 1000]
n_llm = sum(llm(r) for r in during)
per_s = {}
for t, r in base + spike:
    if s0 * 1000 <= t < s1 * 1000:
        per_s[math.floor(t / 1000.0 - s0)] = per_s.get(math.floor(t / 1000.0 - s0), 0) + llm(r)
print("spike: %d requests (%.1f/s), LLM-answered %d (%.1f/s, %.1f%%); per second min %d, "
      "max %d" % (len(during), len(during) / SPIKE_S, n_llm, n_llm / SPIKE_S,
                  100.0 * n_llm / max(1, len(during)), min(per_s.values()), max(per_s.values())),
      file=sys.stderr)
print("LLM-answered per second of the spike: %s" %
      " ".join("%d" % per_s.get(k, 0) for k in range(SPIKE_S)), file=sys.stderr)
# Per second, smoothed over 5 s (single seconds swing 10..60 with call sizes).
win = min((sum(per_s.get(j, 0) for j in range(k, k + 5)) / 5.0, k) for k in range(SPIKE_S - 4))
check(win[0] >= SPIKE_LLM_MIN,
      "LLM-answered during the spike: every 5 s >= %.1f/s (%d%% of capacity %d/s); worst "
      "%.1f/s in seconds %d..%d, mean %.1f/s" % (SPIKE_LLM_MIN, $SPIKE_LLM_MIN_PCT, CAP, win[0],
                                                 win[1], win[1] + 4, n_llm / SPIKE_S))

# Memory and queues, from the worker's /metrics every second.
cols = ("wall rss live fill retry fill_dropped queue_full early answered inflight limit "
        "overload_429 rl_pauses timeouts breaker breaker_opens").split()
ms = []
for ln in open(T + "/metrics.tsv"):
    if not ln.startswith("#"):
        ms.append(dict(zip(cols, map(float, ln.split("\t")))))
missing = sorted({k for m in ms for k, v in m.items() if math.isnan(v)})
check(ms and not missing, "%d metrics samples, every metric present (missing: %s)" %
      (len(ms), ", ".join(missing) or "none"))
if not ms or missing:
    sys.exit(1)
before = [m for m in ms if m["wall"] < spike_wall]
after = [m for m in ms if m["wall"] >= spike_wall]
check(len(before) >= 5 and len(after) >= SPIKE_S, "metrics samples: %d before the spike, "
      "%d from its start" % (len(before), len(after)))
mib = 1024.0 * 1024.0
print("metrics every 5 s (t from the spike's start): t rss_MiB live fill retry fill_dropped "
      "queue_full early_fallbacks answered_queries inflight limit overload_429 rl_pauses "
      "timeouts breaker", file=sys.stderr)
for m in ms[::5]:
    print("  %+4.0f %5.1f %4d %4d %3d %5d %5d %5d %5d %3d %3d %4d %3d %4d %d" %
          ((m["wall"] - spike_wall) / 1000.0, m["rss"] / mib, m["live"], m["fill"], m["retry"],
           m["fill_dropped"], m["queue_full"], m["early"], m["answered"], m["inflight"],
           m["limit"], m["overload_429"], m["rl_pauses"], m["timeouts"], m["breaker"]),
          file=sys.stderr)
rss0 = max(m["rss"] for m in before) / mib
rss1 = max(m["rss"] for m in after) / mib
print("RSS MiB: pre-spike peak %.1f, peak from the spike on %.1f, last %.1f" %
      (rss0, rss1, ms[-1]["rss"] / mib), file=sys.stderr)
check(rss1 - rss0 <= RSS_MAX_MIB, "RSS grew %.1f MiB (%.1f -> %.1f) <= %d MiB" %
      (rss1 - rss0, rss0, rss1, RSS_MAX_MIB))
tot = max(ms, key=lambda m: m["live"] + m["fill"] + m["retry"])
print("queue peaks: live %d, fill %d, retry %d, total %d (llm.queue.max %d)" %
      (max(m["live"] for m in ms), max(m["fill"] for m in ms), max(m["retry"] for m in ms),
       tot["live"] + tot["fill"] + tot["retry"], QMAX), file=sys.stderr)
check(tot["live"] + tot["fill"] + tot["retry"] <= QMAX,
      "LLM queues together at most %d (peak %d: live %d + fill %d + retry %d)" %
      (QMAX, tot["live"] + tot["fill"] + tot["retry"], tot["live"], tot["fill"], tot["retry"]))
last = ms[-1]
print("counters at the end: fill_dropped %d, queue_full %d, early_fallbacks %d, "
      "breaker_opens %d, answered_queries %d; spike-window answered_queries %.1f/s" %
      (last["fill_dropped"], last["queue_full"], last["early"], last["breaker_opens"],
       last["answered"],
       (max((m["answered"] for m in after if m["wall"] <= spike_wall + SPIKE_S * 1000),
            default=0) - before[-1]["answered"]) / SPIKE_S), file=sys.stderr)
check(last["fill_dropped"] + last["queue_full"] > 0,
      "the spike reached llm.queue.max (fill_dropped %d + queue_full %d > 0)" %
      (last["fill_dropped"], last["queue_full"]))
sys.exit(1 if bad else 0)
EOF

# ------------------------------------------------------------------ clamps

# The LLM stops answering (its calls hang): only the deadlines answer now.
# Whatever happens next, the simulator is resumed before the clean-up stops
# it (a stopped process ignores SIGTERM until the clean-up's SIGKILL); set +e,
# or errexit would end the trap at `(exit $rc)`, which hands stop_all the status.
trap 'rc=$?; set +e; kill -CONT "$SIM_PID" 2>/dev/null; (exit $rc); stop_all' EXIT
# An open breaker would answer them at once, cuts or not: it must be closed.
BREAKER=$(metric "$MPORT" kclassify_llm_breaker_state)
[[ "$BREAKER" == 0 ]] || fail "the LLM breaker is not closed before the clamps (state '$BREAKER')"
kill -STOP "$SIM_PID"
NOW_US=$(($(date +%s%N) / 1000))
FUTURE_US=$((NOW_US + 365 * 86400 * 1000000))
{
    printf '{"key": "clamp-deadline", "label": "deadline_ms 2147483647", "hex": "%s"}\n' \
        "$(kctool encode-request --request-id clamp-deadline-24d \
            --query 'Which pathways link citrate to a 24-day deadline?' \
            --deadline-ms 2147483647)"
    printf '{"key": "clamp-created", "label": "created_at +1 year", "hex": "%s"}\n' \
        "$(kctool encode-request --request-id clamp-created-future \
            --query 'Which pathways link lactate to a clock a year ahead?' \
            --created-at-us "$FUTURE_US")"
} >"$T/clamp.spec"
CLAMP_T0=$(now_ms)
kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/clamp.spec" \
    >"$T/clamp.sent" || fail "producing the clamp requests failed"
log "clamp requests (partition@offset): $("$PY" -c 'import json, sys
print(", ".join("%s %d@%d" % (r["label"], r["partition"], r["offset"])
                for r in map(json.loads, sys.stdin)))' <"$T/clamp.sent")"

# committed_past: 0 when the group's commit passed every clamp request.
committed_past()
{
    checker committed --bootstrap "$BOOTSTRAP" >"$T/clamp.committed" 2>>"$T/sampler.log" ||
        return 1
    "$PY" - "$T/clamp.sent" "$T/clamp.committed" <<'PYEOF'
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
com = json.load(open(sys.argv[2]))
sys.exit(0 if all(com.get(str(s["partition"]), -1) > s["offset"] for s in sent) else 1)
PYEOF
}
until committed_past; do
    (($(now_ms) - CLAMP_T0 < COMMIT_WAIT_S * 1000)) ||
        fail "the group's commit did not pass the clamp requests within ${COMMIT_WAIT_S}s" \
            "(committed: $(cat "$T/clamp.committed" 2>/dev/null))"
    sleep 0.5
done
log "the commit passed both clamp requests $(($(now_ms) - CLAMP_T0)) ms after they were produced"
kill -CONT "$SIM_PID"

kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --timeout 30 >"$T/replies.jsonl" ||
    fail "dumping the reply topic failed"
"$PY" - "$T/replies.jsonl" <<'EOF' || fail "clamp requests not answered as expected"
import json, sys
got = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("request_id", "").startswith("clamp-"):
        got.setdefault(r["request_id"], []).append(r)
bad = 0
# The fallback answers at the cut deadline (from the consume time), less the
# 100 ms margin; 1 s of slack for a slow machine.
for rid, cut_ms in (("clamp-deadline-24d", 4000), ("clamp-created-future", 2000)):
    rs = got.get(rid, [])
    r = rs[0] if rs else {}
    took_ms = (r.get("replied_at", 0) - r.get("consumed_at", 0)) / 1000.0
    ok = (len(rs) == 1 and r.get("status") == "DEGRADED" and r.get("deadline_met") is True
          and took_ms <= cut_ms + 1000)
    print("%s %s: %d replies, status %s, source %s, deadline_met %s, replied %.0f ms after "
          "consumed (cut deadline %d ms)" % ("ok:  " if ok else "FAIL:", rid, len(rs),
                                             r.get("status"), r.get("source"),
                                             r.get("deadline_met"), took_ms, cut_ms),
          file=sys.stderr)
    bad += not ok
sys.exit(1 if bad else 0)
EOF

stop_worker w1 "$W1_PID"
