#!/usr/bin/env bash
# Soak: MINUTES (30) of mixed load on Apache Kafka (one node, scripts/kafka.sh)
# with three workers sharing Redis and each with its own LMDB, the LLM
# simulator failing 5 % of calls (HTTP 500), a worker restart every 5 minutes
# (w2 and w3 in turn; w1 runs throughout, so its memory can be followed), and
# Redis restarted once, half-way. Not in CI (it takes half an hour); run by
# hand and reported in perf/RESULTS.md:
#
#   KC_BIN=build/bin KC_SRC=. perf/soak.sh [MINUTES [RATE]]
#
# Judged by tests/fault/checker.py: every acknowledged request answered
# (0 lost), duplicates counted (a graceful restart commits what it answered,
# so they should be rare) and printed; w1's RSS sampled every 30 s, its growth
# from minute 5 to the end printed. Output: a summary on stderr and
# $T/soak.json (T is printed; kept with KC_KEEP_TMP=1).
# shellcheck source=../tests/fault/faultlib.sh
source "$(dirname "$0")/../tests/fault/faultlib.sh"
# shellcheck source=../tests/integration/cache_lib.sh
source "$KC_SRC/tests/integration/cache_lib.sh"

MINUTES=${1:-30}
RATE=${2:-100}
COUNT=$((MINUTES * 60 * RATE))

start_kafka 6
start_sim sim --seed 41 --profile api --fail-500 0.05
start_redis redis
RPORT=$REDIS_PORT
WOPTS=(-X sla.deadline.ms=2000 -X "cache.redis.url=$REDIS_URL" -X log.level=info)
for w in w1 w2 w3; do
    start_worker "$w" "${WOPTS[@]}" -X "cache.lmdb.path=$T/lmdb-$w"
    WPID[$w]=$WORKER_PID
done
wait_group_stable 60 w1 w2 w3

# The load: a pool of 20,000 distinct queries, so repeats hit the caches and
# new ones keep reaching the LLM all along.
timeout -k 5 $((MINUTES * 60 + 600)) "$PY" "$CHECKER" produce --bootstrap "$BOOTSTRAP" \
    --out "$T/load.acked" --id-prefix soak --count "$COUNT" --rate "$RATE" --distinct 20000 \
    --seed 43 2>"$T/load.log" &
LOAD=$!
kc_register "$LOAD" producer-load
log "load: $COUNT requests at $RATE/s over $MINUTES min"

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
: >"$T/rss.csv"
t0=$SECONDS
next_restart=300
restarted=0
redis_done=0
turn=w2
while kill -0 "$LOAD" 2>/dev/null; do
    sleep 30
    el=$((SECONDS - t0))
    echo "$el,$(rss_kb "${WPID[w1]}")" >>"$T/rss.csv"
    if ((el >= next_restart)); then
        stop_worker "$turn" "${WPID[$turn]}"
        start_worker "$turn" "${WOPTS[@]}" -X "cache.lmdb.path=$T/lmdb-$turn"
        WPID[$turn]=$WORKER_PID
        restarted=$((restarted + 1))
        log "restarted $turn ($restarted so far) after $((el / 60)) min"
        turn=$([[ $turn == w2 ]] && echo w3 || echo w2)
        next_restart=$((next_restart + 300))
    fi
    if ((!redis_done && el >= MINUTES * 30)); then
        stop_pid "$REDIS_PID" redis
        sleep 5
        start_redis redis "$RPORT"
        redis_done=1
        log "restarted Redis after $((el / 60)) min"
    fi
done
wait_producer load "$LOAD"

checker check --bootstrap "$BOOTSTRAP" --acked "$T/load.acked" --deadline-ms 2000 \
    --timeout 300 --settle 3 --allow-late --allow-duplicates --status OK,DEGRADED \
    --summary-out "$T/summary.json" || fail "replies lost (see above)"
"$PY" - "$T/summary.json" "$T/rss.csv" "$MINUTES" "$RATE" "$restarted" "$T/soak.json" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
rss = [tuple(int(x) for x in l.split(",")) for l in open(sys.argv[2]) if l.strip()]
after5 = [kb for t, kb in rss if t >= 300]
out = {"minutes": int(sys.argv[3]), "rate": float(sys.argv[4]), "worker_restarts": int(sys.argv[5]),
       "redis_restarts": 1, "acked": s["acked"], "lost": s["lost"],
       "duplicate_replies": s["duplicate_replies"], "late": s["late"],
       "by_source": s["by_source"], "by_status": s["by_status"], "latency_ms": s["latency_ms"],
       "w1_rss_kb_at_5min": after5[0] if after5 else None,
       "w1_rss_kb_end": rss[-1][1] if rss else None,
       "w1_rss_kb_max": max((kb for _, kb in rss), default=None)}
json.dump(out, open(sys.argv[6], "w"), indent=1)
print(json.dumps(out, indent=1))
PYEOF
log "soak summary in $T/soak.json"
finish_group w1 w2 w3
