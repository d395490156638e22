#!/usr/bin/env bash
# Redis over TLS (rediss://, the relay of libcore/cache/kc_redis_tls.c) with a real
# redis-server 7 listening on a TLS port only, certificates made by
# tls_certs.sh (a throwaway CA, a server certificate for 127.0.0.1/localhost,
# a client certificate):
#  1. worker A (rediss://127.0.0.1, our CA) asks the LLM about 30 queries and
#     writes them to Redis; redis-cli --tls reads them back;
#  2. worker B (no LMDB, same Redis by name: rediss://localhost) answers the
#     same queries from Redis, without the LLM;
#  3. worker C trusts another CA: it logs a certificate verification error,
#     /health says Redis is down with that error, and it answers anyway;
#  4. a second redis-server requires client certificates: worker D without
#     one logs "certificate required" and answers anyway; worker E with the
#     client certificate stores its answers there;
#  5. worker V with cache.redis.tls.verify=false logs a warning and reads
#     Redis without a CA;
#  6. a client certificate without its key, or a CA file that does not
#     exist, stops the worker at start-up with a message naming the key.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/cache_lib.sh"

N=30
CERTS="$T/tls"
bash "$KC_SRC/tests/integration/tls_certs.sh" "$CERTS" >"$T/certs.log" 2>&1 ||
    fail "tls_certs.sh failed: $(cat "$T/certs.log")"

# start_tls_redis NAME AUTH_CLIENTS: redis-server with only a TLS port;
# sets TLS_PORT and TLS_PID. AUTH_CLIENTS yes = mutual TLS.
start_tls_redis()
{
    local name=$1 auth=$2 port deadline
    port=$(free_port)
    mkdir -p "$T/$name.d"
    redis-server --bind 127.0.0.1 --port 0 --tls-port "$port" --tls-cert-file "$CERTS/server.crt" \
        --tls-key-file "$CERTS/server.key" --tls-ca-cert-file "$CERTS/ca.crt" \
        --tls-auth-clients "$auth" --save '' --appendonly no --dir "$T/$name.d" \
        --daemonize no >>"$T/$name.log" 2>&1 &
    TLS_PID=$!
    kc_register "$TLS_PID" "$name"
    TLS_PORT=$port
    deadline=$(($(now_ms) + 10000))
    until tcli "$port" ping 2>/dev/null | grep -q PONG; do
        kill -0 "$TLS_PID" 2>/dev/null || fail "redis-server $name exited at start"
        (($(now_ms) < deadline)) || fail "redis-server $name did not answer PING over TLS within 10s"
        sleep 0.05
    done
    log "redis-server $name: TLS only on 127.0.0.1:$port (tls-auth-clients $auth)"
}

# tcli PORT ARGS...: redis-cli over TLS with our CA and client certificate.
tcli()
{
    local port=$1
    shift
    timeout -k 2 10 redis-cli --tls --cacert "$CERTS/ca.crt" --cert "$CERTS/client.crt" \
        --key "$CERTS/client.key" -h 127.0.0.1 -p "$port" "$@"
}

# tls_values PORT PREFIX: cache values (not leases) under PREFIX, read over TLS.
tls_values()
{
    tcli "$1" --scan --pattern "${2}*" | grep -Ec "^${2}[0-9a-f]{32}\$" || true
}

# health_redis PORT: "state|last_error" of the worker's /health.
health_redis()
{
    curl -sf --max-time 3 "http://127.0.0.1:$1/health" |
        "$PY" -c 'import json, sys; r = json.load(sys.stdin)["redis"]; print(r["state"] + "|" + r["last_error"])'
}

start_mock 4
start_sim sim --seed 11 --latency-ms 20
start_tls_redis redis no
PORT1=$TLS_PORT
PREFIX="kcit:tls:"
for r in 1 2 3 4 5; do
    cache_tool gen --out "$T/q$r.jsonl" --count $N --distinct $N --id-prefix "r$r" --seed 5
done
cache_tool gen --out "$T/new.jsonl" --count 10 --distinct 10 --id-prefix new --seed 6

COMMON=(-X "cache.redis.prefix=$PREFIX" -X cache.redis.timeout.ms=1000 -X sla.deadline.ms=30000)

# 1. A writes through TLS.
start_cworker wa -X "cache.lmdb.path=$T/lmdb-a" -X "cache.redis.url=rediss://127.0.0.1:$PORT1/0" \
    -X "cache.redis.tls.ca.location=$CERTS/ca.crt" "${COMMON[@]}"
WA=$WORKER_PID
send round1 "$T/q1.jsonl"
check round1 "$T/q1.jsonl" --source LLM --eq LLM=$N
expect_sim queries $N "worker A asks the LLM about each query once"
stop_worker wa "$WA"
grep -Ei 'redis.*(error|fail|down)|WARN.*redis' "$T/wa.log" &&
    fail "worker A logged a Redis problem over TLS"
got=$(tls_values "$PORT1" "$PREFIX")
[[ "$got" == "$N" ]] || fail "Redis (read over TLS) holds $got values under $PREFIX, expected $N"
log "1. Redis holds $got values written over TLS"

# 2. B reads them through TLS, by host name (SNI, DNS name check), CA as a directory.
start_cworker wb -X "cache.redis.url=rediss://localhost:$PORT1/0" \
    -X "cache.redis.tls.ca.location=$CERTS/cadir" "${COMMON[@]}"
WB=$WORKER_PID
send round2 "$T/q2.jsonl"
check round2 "$T/q2.jsonl" --source REDIS --eq REDIS=$N
expect_sim queries $N "worker B must answer from Redis over TLS without the LLM"
stop_worker wb "$WB"
log "2. worker B: $N Redis hits over TLS"

# 3. C trusts another CA: verification fails, C goes on without Redis.
MPORT=$(free_port)
start_cworker wc -X "cache.redis.url=rediss://127.0.0.1:$PORT1/0" \
    -X "cache.redis.tls.ca.location=$CERTS/other-ca.crt" -X "metrics.port=$MPORT" "${COMMON[@]}"
WC=$WORKER_PID
wait_log "$T/wc.log" 'Redis tls:127\.0\.0\.1:[0-9]+/0: .*certificate verification failed.*continuing without it' 10 "$WC" wc
h=$(health_redis "$MPORT") || fail "worker C: GET /health failed"
[[ "$h" == down\|*"certificate verification failed"* ]] ||
    fail "worker C: /health redis is '$h', expected down with the verification error"
send round3 "$T/q3.jsonl"
check round3 "$T/q3.jsonl" --source LLM --eq LLM=$N
expect_sim queries $((2 * N)) "worker C cannot read Redis: it asks the LLM"
alive_or_fail "$WC" "worker wc" wc
stop_worker wc "$WC"
log "3. wrong CA: '$(grep -m1 -o 'certificate verification failed[^(]*' "$T/wc.log")', worker answered without Redis"

# 4. Mutual TLS required by the server.
start_tls_redis redis-mtls yes
PORT2=$TLS_PORT
start_cworker wd -X "cache.redis.url=rediss://127.0.0.1:$PORT2/0" \
    -X "cache.redis.tls.ca.location=$CERTS/ca.crt" "${COMMON[@]}"
WD=$WORKER_PID
wait_log "$T/wd.log" 'Redis tls:127\.0\.0\.1:[0-9]+/0: .*certificate required.*continuing without it' 10 "$WD" wd
send round4 "$T/new.jsonl"
check round4 "$T/new.jsonl" --source LLM --eq LLM=10
stop_worker wd "$WD"
[[ "$(tls_values "$PORT2" "$PREFIX")" == 0 ]] || fail "worker D wrote to Redis without a client certificate"
start_cworker we -X "cache.redis.url=rediss://127.0.0.1:$PORT2/0" \
    -X "cache.redis.tls.ca.location=$CERTS/ca.crt" -X "cache.redis.tls.cert.location=$CERTS/client.crt" \
    -X "cache.redis.tls.key.location=$CERTS/client.key" "${COMMON[@]}"
WE=$WORKER_PID
send round5 "$T/q5.jsonl"
check round5 "$T/q5.jsonl" --source LLM --eq LLM=$N
stop_worker we "$WE"
grep -Eq 'WARN.*[Rr]edis' "$T/we.log" && fail "worker E (client certificate) logged a Redis warning"
got=$(tls_values "$PORT2" "$PREFIX")
[[ "$got" == "$N" ]] || fail "mutual-TLS Redis holds $got values, expected $N from worker E"
log "4. mutual TLS: no client certificate -> 'certificate required'; with it, $got values stored"

# 5. Verification off (tests only): it connects without a CA, and says so.
start_cworker wv -X "cache.redis.url=rediss://127.0.0.1:$PORT1/0" -X cache.redis.tls.verify=false \
    "${COMMON[@]}"
WV=$WORKER_PID
wait_log "$T/wv.log" 'WARN .*cache\.redis\.tls\.verify=false: the server certificate is NOT verified' 10 "$WV" wv
send round6 "$T/q1.jsonl"
check round6 "$T/q1.jsonl" --source REDIS --eq REDIS=$N
stop_worker wv "$WV"
grep -q 'continuing without it' "$T/wv.log" && fail "worker V (verify off) could not use Redis"
log "5. tls.verify=false: warned, and $N Redis hits without a CA"

# 6. Bad TLS settings are start-up errors.
bad_conf()
{
    local name=$1 want=$2 rc=0
    shift 2
    timeout -k 5 30 "$KC_BIN/kclassify-worker" -b "$BOOTSTRAP" -X "llm.url=$SIM_URL" \
        -X "cache.redis.url=rediss://127.0.0.1:$PORT1/0" "$@" >"$T/$name.log" 2>&1 || rc=$?
    [[ $rc -ne 0 && $rc -ne 124 ]] || fail "$name: the worker exited $rc, expected a start-up error"
    grep -q -- "$want" "$T/$name.log" || fail "$name: no '$want' in: $(cat "$T/$name.log")"
}
bad_conf nokey "set both or neither" -X "cache.redis.tls.cert.location=$CERTS/client.crt"
bad_conf noca "cache.redis.tls.ca.location" -X "cache.redis.tls.ca.location=$T/missing.pem"
log "6. a certificate without its key and a missing CA file stop the worker at start-up"
