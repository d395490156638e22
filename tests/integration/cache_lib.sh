# shellcheck shell=bash
# Helpers for the cache-level tests (it_cache_*.sh), sourced after lib.sh.
#
# Redis: the tests use the redis-server of KC_TEST_REDIS_URL (scripts/test.sh
# starts one) with a key prefix of their own, so that tests never share keys;
# without KC_TEST_REDIS_URL, or when a test must kill Redis, they start their
# own redis-server on a free port in $T.

CACHE_TOOL="$KC_SRC/tests/integration/cache_tool.py"

# cache_tool ARGS...: the Python helper, bounded by a hard timeout.
cache_tool()
{
    timeout -k 5 150 "$PY" "$CACHE_TOOL" "$@"
}

# start_redis NAME [PORT]: our own redis-server (no persistence) on PORT or a
# free port; sets REDIS_PID, REDIS_HOST, REDIS_PORT, REDIS_DB=0, REDIS_URL.
start_redis()
{
    local name=$1 port=${2:-} deadline
    command -v redis-server >/dev/null || fail "redis-server is not installed (scripts/install-deps.sh)"
    [[ -n "$port" ]] || port=$(free_port)
    mkdir -p "$T/$name.d"
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$T/$name.d" \
        --daemonize no >>"$T/$name.log" 2>&1 &
    REDIS_PID=$!
    kc_register "$REDIS_PID" "$name"
    REDIS_HOST=127.0.0.1
    REDIS_PORT=$port
    REDIS_DB=0
    REDIS_URL="redis://127.0.0.1:$port/0"
    deadline=$(($(now_ms) + 10000))
    until redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; do
        kill -0 "$REDIS_PID" 2>/dev/null || fail "redis-server $name exited at start"
        (($(now_ms) < deadline)) || fail "redis-server $name did not answer PING within 10s"
        sleep 0.05
    done
    log "redis-server $name on 127.0.0.1:$port (pid $REDIS_PID)"
}

# use_redis: the shared test Redis (KC_TEST_REDIS_URL) or our own; sets
# REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB and a per-test REDIS_PREFIX.
use_redis()
{
    local url=${KC_TEST_REDIS_URL:-}
    REDIS_PREFIX="kcit:$TEST_NAME:$$:$RANDOM:"
    if [[ "$url" =~ ^redis://([^:/@]+):([0-9]+)(/([0-9]+))?$ ]]; then
        REDIS_HOST=${BASH_REMATCH[1]}
        REDIS_PORT=${BASH_REMATCH[2]}
        REDIS_DB=${BASH_REMATCH[4]:-0}
        REDIS_URL=$url
        redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ||
            fail "KC_TEST_REDIS_URL=$url does not answer PING"
        log "shared redis $REDIS_URL, key prefix $REDIS_PREFIX"
    else
        [[ -z "$url" ]] || log "KC_TEST_REDIS_URL=$url is not redis://host:port/db; starting our own"
        start_redis redis
    fi
}

# rcli ARGS...: redis-cli against the test's Redis.
rcli()
{
    timeout -k 2 10 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" -n "$REDIS_DB" "$@"
}

# redis_values PREFIX: how many cache values (not leases) Redis holds under PREFIX.
redis_values()
{
    rcli --scan --pattern "${1}*" | grep -Ec "^${1//./\\.}[0-9a-f]{32}\$" || true
}

# start_cworker NAME [OPTIONS...]: start_worker with the quick-fetch setting
# the mock cluster needs, then wait for its partitions.
start_cworker()
{
    local name=$1
    shift
    start_worker "$name" -X kafka.fetch.wait.max.ms=10 "$@"
    wait_assigned "$name"
}

# sim_get FIELD: one integer field of the simulator's /stats.
sim_get()
{
    curl -sf --max-time 5 "$SIM_BASE/stats" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1" ||
        fail "GET $SIM_BASE/stats failed"
}

# expect_sim FIELD VALUE WHY: fail unless the simulator's FIELD equals VALUE.
expect_sim()
{
    local v
    v=$(sim_get "$1")
    [[ "$v" == "$2" ]] || fail "simulator $1 is $v, expected $2: $3"
}

# send NAME INPUT [PRODUCE ARGS...]: kclassify-produce --wait of INPUT into
# $T/NAME.out (keys are query hashes: the worker's own producer).
send()
{
    local name=$1 in=$2
    shift 2
    produce_wait "$T/$name.out" "$in" "$@"
    log "$name: $(wc -l <"$T/$name.out") results"
}

# check NAME INPUT [CHECK ARGS...]: cache_tool check of $T/NAME.out against INPUT.
check()
{
    local name=$1 in=$2
    shift 2
    cache_tool check --input "$in" --results "$T/$name.out" "$@" >&2 ||
        fail "$name: results violate the expectations above"
}
