# shellcheck shell=bash
# Helpers for the kclassify fault tests (tests/fault/ft_*.sh), on top of the
# integration helpers (tests/integration/lib.sh: temp dir, process registry,
# clean-up trap, start_mock/start_sim/start_worker, bounded waits).
#
# Adds: a mock cluster with a fault-injection control FIFO, the load
# generator and checker (checker.py), free ports, and /health and /metrics
# probes of a worker.

# shellcheck source=../integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

CHECKER="$KC_SRC/tests/fault/checker.py"
MOCK_CTL="" # the control FIFO of the mock started by start_mock_ctl

# checker ARGS...: checker.py with a hard bound (foreground use only).
checker()
{
    timeout -k 5 200 "$PY" "$CHECKER" "$@"
}

# start_mock_ctl [PARTITIONS]: like start_mock, with --control-fifo $T/mock.ctl.
start_mock_ctl()
{
    local parts=${1:-4} pid
    MOCK_CTL="$T/mock.ctl"
    "$KC_BIN/kclassify-kafka-mock" -p "$parts" --bootstrap-file "$T/bootstrap" \
        --control-fifo "$MOCK_CTL" >"$T/mock.log" 2>&1 &
    pid=$!
    kc_register "$pid" kafka-mock
    wait_file "$T/bootstrap" 20 "$pid" kafka-mock
    BOOTSTRAP="$(head -n 1 "$T/bootstrap")"
    [[ -n "$BOOTSTRAP" ]] || fail "empty bootstrap file"
    log "mock cluster at $BOOTSTRAP ($parts partitions, control $MOCK_CTL)"
}

# mock_ctl COMMAND...: send a command to the mock and wait for its 'ok'.
mock_ctl()
{
    local cmd="$*" n
    n=$(grep -c "^% control: " "$T/mock.log" || true)
    echo "$cmd" >"$MOCK_CTL"
    local deadline=$(($(now_ms) + 10000))
    while (($(grep -c "^% control: " "$T/mock.log" || true) <= n)); do
        (($(now_ms) < deadline)) || fail "the mock did not acknowledge '$cmd' within 10s"
        sleep 0.02
    done
    grep -Fq "% control: $cmd: ok" "$T/mock.log" ||
        fail "mock control '$cmd': $(grep "^% control: " "$T/mock.log" | tail -n 1)"
    log "mock: $cmd"
}

# health PORT: the worker's /health JSON on stdout (empty if unreachable).
health()
{
    curl -s --max-time 2 "http://127.0.0.1:$1/health" || true
}

# metric PORT NAME: the value of an unlabelled metric (empty if absent).
metric()
{
    { curl -s --max-time 2 "http://127.0.0.1:$1/metrics" || true; } |
        awk -v n="$2" '$1 == n { print $2 }'
}

# wait_until TIMEOUT_S DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
wait_until()
{
    local timeout_s=$1 what=$2 deadline
    shift 2
    deadline=$(($(now_ms) + timeout_s * 1000))
    until "$@"; do
        (($(now_ms) < deadline)) || fail "not within ${timeout_s}s: $what"
        sleep 0.1
    done
}

# json_field JSON KEY: top-level string/number field of a JSON object.
json_field()
{
    "$PY" -c 'import json, sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2])
except ValueError:
    v = None
print("" if v is None else v)' "$1" "$2"
}

# summary_field FILE KEY: a field of a checker --summary-out file.
summary_field()
{
    "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# start_producer NAME ARGS...: checker produce in the background, acked
# requests in $T/NAME.acked; sets PRODUCER_PID.
start_producer()
{
    local name=$1
    shift
    # Not through the checker function: $! must be timeout's own pid, which
    # passes a SIGTERM on, or a clean-up would orphan the Python process.
    timeout -k 5 200 "$PY" "$CHECKER" produce --bootstrap "$BOOTSTRAP" --out "$T/$name.acked" \
        --id-prefix "$name" "$@" 2>"$T/$name.log" &
    PRODUCER_PID=$!
    kc_register "$PRODUCER_PID" "producer-$name"
    log "producer $name started (pid $PRODUCER_PID): $*"
}

# wait_producer NAME PID: the producer must finish with every request acknowledged.
wait_producer()
{
    local rc=0
    wait "$2" || rc=$?
    kc_unregister "$2"
    [[ $rc -eq 0 ]] || fail "producer $1 exited with status $rc: $(tail -n 3 "$T/$1.log")"
    log "$(tail -n 1 "$T/$1.log")"
}

# acked_count NAME: requests acknowledged so far.
acked_count()
{
    if [[ -e "$T/$1.acked" ]]; then wc -l <"$T/$1.acked"; else echo 0; fi
}

# wait_acked NAME N TIMEOUT_S: until N requests of producer NAME are acknowledged.
wait_acked()
{
    local deadline=$(($(now_ms) + $3 * 1000))
    while (($(acked_count "$1") < $2)); do
        (($(now_ms) < deadline)) || fail "producer $1: fewer than $2 acks within $3s"
        sleep 0.1
    done
}

# wait_group_stable TIMEOUT_S NAME...: every named worker holds partitions and
# no worker logged an assignment or revocation for 2 s (the group settled).
wait_group_stable()
{
    local timeout_s=$1 deadline sum last="" quiet_since name
    shift
    deadline=$(($(now_ms) + timeout_s * 1000))
    quiet_since=$(now_ms)
    while :; do
        sum=""
        for name in "$@"; do
            sum+="$(grep -cE 'assigned|revoked' "$T/$name.log" || true),"
        done
        if [[ "$sum" != "$last" ]]; then
            last=$sum
            quiet_since=$(now_ms)
        fi
        local all=1
        for name in "$@"; do
            grep -Eq 'assigned [1-9][0-9]* partition' "$T/$name.log" 2>/dev/null || all=0
        done
        if ((all && $(now_ms) - quiet_since >= 2000)); then
            break
        fi
        (($(now_ms) < deadline)) || fail "consumer group of $* not stable within ${timeout_s}s"
        sleep 0.1
    done
    log "group stable: $*"
}

# start_group NAME... -- OPTION...: start one worker per NAME with the same
# options (pids in WPID[NAME]) and wait until the group is stable.
declare -A WPID=()
start_group()
{
    local names=() name
    while (($#)) && [[ $1 != -- ]]; do
        names+=("$1")
        shift
    done
    shift
    for name in "${names[@]}"; do
        start_worker "$name" "$@"
        WPID[$name]=$WORKER_PID
    done
    wait_group_stable 40 "${names[@]}"
}

# finish_group NAME...: every named worker must still be alive; then each is
# stopped (SIGTERM, clean exit), in the order given.
finish_group()
{
    local name
    for name in "$@"; do
        alive_or_fail "${WPID[$name]}" "worker $name" "$name"
    done
    for name in "$@"; do
        stop_worker "$name" "${WPID[$name]}"
    done
}

# Worker options of the three-node cluster tests (ft_cluster_*).
# shellcheck disable=SC2034 # used by the tests that source this file
FT_CLUSTER_WOPTS=(-X log.level=debug -X llm.batch.max=16 -X llm.inflight.max=8
    -X sla.deadline.ms=2000)

# check_answered NAME WHAT: every request producer NAME had acknowledged got a
# reply (late replies and duplicates allowed: counted and printed); WHAT names
# the fault for the failure message.
check_answered()
{
    checker check --bootstrap "$BOOTSTRAP" --acked "$T/$1.acked" --deadline-ms 2000 \
        --timeout 120 --settle 2 --allow-late --allow-duplicates --status OK,DEGRADED \
        --summary-out "$T/summary.json" || fail "replies lost across $2 (see above)"
    log "duplicates: $(summary_field "$T/summary.json" duplicate_replies)," \
        "late: $(summary_field "$T/summary.json" late)"
}

# Worker options every fault test uses: the mock answers a fetch only when
# fetch.wait.max.ms expires, which would otherwise add up to 500 ms to every
# request (see README, "Real Kafka, real LLM"). Debug logs trace every
# request offset and reply, so a failure can be followed in the kept logs.
# shellcheck disable=SC2034 # used by the tests that source this file
FT_WOPTS=(-X kafka.fetch.wait.max.ms=10 -X log.level=debug)
