# shellcheck shell=bash
# Helpers sourced by the kclassify integration tests (tests/integration/it_*.sh).
#
# Each test starts its own components (mock Kafka cluster, LLM simulator,
# workers) on free loopback ports, in a private temp directory, and stops them
# on exit whatever happens. Every wait has a deadline, so no test can hang.
#
# Environment (set by CTest, see CMakeLists.txt):
#   KC_BIN  directory holding the kclassify binaries
#   KC_SRC  repository root
# Optional:
#   KC_KEEP_TMP=1  keep the temp directory (logs, dumps) even on success
#
# After sourcing: $T (temp dir), $PY, $KCTOOL, and the functions below.

set -euo pipefail

if [[ -z "${KC_BIN:-}" || -z "${KC_SRC:-}" ]]; then
    echo "FAIL: KC_BIN and KC_SRC must be set (run through ctest -L integration)" >&2
    exit 1
fi

# Debian's python: it has python3-confluent-kafka and python3-avro; another
# python3 (pyenv, venv) may come first on PATH and lack them.
PY=/usr/bin/python3
KCTOOL="$KC_SRC/tests/integration/kctool.py"
TEST_NAME="$(basename "${0%.sh}")"
T="$(mktemp -d "${TMPDIR:-/tmp}/kc-${TEST_NAME}.XXXXXX")"

# Background processes we started, stopped in reverse order on exit.
KC_PIDS=()
KC_PNAMES=()

BOOTSTRAP=""
KAFKA_DIR="" # scripts/kafka.sh's directory when start_kafka ran
SIM_URL=""  # base URL for the worker's llm.url: http://127.0.0.1:PORT/v1
SIM_BASE="" # http://127.0.0.1:PORT (for /stats)

# ------------------------------------------------------------------ messages

log()
{
    echo "[$TEST_NAME +${SECONDS}s] $*" >&2
}

# Print the reason and the tail of every log, then exit 1 (the EXIT trap
# stops the components).
fail()
{
    local f i
    echo "" >&2
    echo "FAIL [$TEST_NAME]: $*" >&2
    for i in "${!KC_PIDS[@]}"; do
        if ! kill -0 "${KC_PIDS[$i]}" 2>/dev/null; then
            echo "  note: ${KC_PNAMES[$i]} (pid ${KC_PIDS[$i]}) is no longer running" >&2
        fi
    done
    for f in "$T"/*.log; do
        [[ -e "$f" ]] || continue
        echo "----- tail of $f -----" >&2
        tail -n 40 "$f" >&2 || true
    done
    echo "----- end of logs (temp dir kept: $T) -----" >&2
    KC_KEEP_TMP=1
    exit 1
}

# ------------------------------------------------------------------ processes

# now_ms: monotonic-enough wall clock in milliseconds.
now_ms()
{
    date +%s%3N
}

kc_register()
{
    KC_PIDS+=("$1")
    KC_PNAMES+=("$2")
}

kc_unregister()
{
    local i
    for i in "${!KC_PIDS[@]}"; do
        if [[ "${KC_PIDS[$i]}" == "$1" ]]; then
            unset 'KC_PIDS[i]' 'KC_PNAMES[i]'
        fi
    done
}

# stop_pid PID NAME [TIMEOUT_S]: SIGTERM, wait up to TIMEOUT_S (default 15),
# then SIGKILL. Sets STOP_RC to the exit status (137 after SIGKILL).
stop_pid()
{
    local pid=$1 name=$2 timeout_s=${3:-15} deadline
    STOP_RC=0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(($(now_ms) + timeout_s * 1000))
    while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "[$TEST_NAME] $name (pid $pid) still running ${timeout_s}s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || STOP_RC=$?
    kc_unregister "$pid"
}

stop_all()
{
    local rc=$? i
    trap - EXIT
    set +e
    # Reverse order: workers before the simulator and the cluster they use.
    local idx=("${!KC_PIDS[@]}")
    for ((i = ${#idx[@]} - 1; i >= 0; i--)); do
        stop_pid "${KC_PIDS[${idx[$i]}]}" "${KC_PNAMES[${idx[$i]}]}" 10
    done
    # Apache Kafka last, and hard: the data is thrown away, and a controlled
    # shutdown of a quorum that is going away can wait for a long time.
    if [[ -n "$KAFKA_DIR" ]]; then
        "$KC_SRC/scripts/kafka.sh" kill "$KAFKA_DIR"
    fi
    if [[ $rc -eq 0 && "${KC_KEEP_TMP:-0}" != 1 ]]; then
        rm -rf "$T"
    else
        echo "[$TEST_NAME] temp dir kept: $T" >&2
    fi
    if [[ $rc -eq 0 ]]; then
        echo "PASS [$TEST_NAME] in ${SECONDS}s" >&2
    fi
    exit "$rc"
}
trap stop_all EXIT
trap 'fail "interrupted"' INT TERM

# why_dead NAME: a hint when a component died under us.
why_dead()
{
    if grep -q "stopping:" "$T/$1.log" 2>/dev/null; then
        echo " ($1 logged a stop: it got SIGTERM/SIGINT, but not from this test)"
    fi
}

# wait_file FILE TIMEOUT_S PID NAME: wait until FILE is non-empty; fail if PID dies first.
wait_file()
{
    local file=$1 timeout_s=$2 pid=$3 name=$4 deadline
    deadline=$(($(now_ms) + timeout_s * 1000))
    while [[ ! -s "$file" ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            fail "$name exited before writing $file"
        fi
        if (($(now_ms) >= deadline)); then
            fail "$name did not write $file within ${timeout_s}s"
        fi
        sleep 0.05
    done
}

# wait_log FILE REGEX TIMEOUT_S [PID NAME]: wait until a line of FILE matches REGEX.
wait_log()
{
    local file=$1 re=$2 timeout_s=$3 pid=${4:-} name=${5:-process} deadline
    deadline=$(($(now_ms) + timeout_s * 1000))
    until grep -Eq -- "$re" "$file" 2>/dev/null; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            fail "$name exited while waiting for /$re/ in $file$(why_dead "$name")"
        fi
        if (($(now_ms) >= deadline)); then
            fail "no line matching /$re/ in $file within ${timeout_s}s"
        fi
        sleep 0.1
    done
}

# start_mock [PARTITIONS]: a mock cluster with the kclassify topics; sets BOOTSTRAP.
start_mock()
{
    local parts=${1:-4} pid
    "$KC_BIN/kclassify-kafka-mock" -p "$parts" --bootstrap-file "$T/bootstrap" \
        >"$T/mock.log" 2>&1 &
    pid=$!
    kc_register "$pid" kafka-mock
    wait_file "$T/bootstrap" 20 "$pid" kafka-mock
    BOOTSTRAP="$(head -n 1 "$T/bootstrap")"
    [[ -n "$BOOTSTRAP" ]] || fail "empty bootstrap file"
    log "mock cluster at $BOOTSTRAP ($parts partitions)"
}

# start_kafka [PARTITIONS [single|cluster]]: Apache Kafka (KRaft) on loopback
# through scripts/kafka.sh (jars fetched once into build/kafka), and the
# topics the programs use, PARTITIONS partitions each (kclassify.alerts: 1;
# replication 3 in cluster mode). Sets BOOTSTRAP and KAFKA_DIR; the nodes'
# logs show up as $T/kafka-nodeN.log. For the tests about Kafka's behaviour
# (offsets, rebalances, delivery, dead letters, kills); the others keep the
# mock cluster, which starts in a second.
# With --sasl a third argument: a SASL_PLAINTEXT listener with ACLs enforced
# too, in BOOTSTRAP_SASL (BOOTSTRAP stays the unauthenticated super-user one).
start_kafka()
{
    local parts=${1:-4} mode=${2:-single} sasl=${3:-} i
    KAFKA_DIR="$T/kafka"
    "$KC_SRC/scripts/kafka.sh" start "$mode" "$KAFKA_DIR" $sasl 2>>"$T/kafka.log" ||
        fail "Apache Kafka ($mode) did not start"
    for ((i = 1; i <= $(cat "$KAFKA_DIR/count"); i++)); do
        ln -sf "$KAFKA_DIR/node$i/server.log" "$T/kafka-node$i.log"
    done
    "$KC_SRC/scripts/kafka.sh" topics "$KAFKA_DIR" "kclassify.requests:$parts" \
        "kclassify.replies:$parts" "kclassify.requests.DLT:$parts" kclassify.alerts:1 \
        2>>"$T/kafka.log" || fail "creating the topics failed"
    BOOTSTRAP="$(cat "$KAFKA_DIR/bootstrap")"
    if [[ -n $sasl ]]; then
        BOOTSTRAP_SASL="$(cat "$KAFKA_DIR/bootstrap.sasl")"
        log "SASL/PLAIN listener with ACLs at $BOOTSTRAP_SASL"
    fi
    log "Apache Kafka ($mode) at $BOOTSTRAP ($parts partitions)"
}


# kafka_leader TOPIC PARTITION: the node id leading it now.
kafka_leader()
{
    "$PY" - "$BOOTSTRAP" "$1" "$2" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(sys.argv[2], timeout=10)
print(md.topics[sys.argv[2]].partitions[int(sys.argv[3])].leader)
PYEOF
}

# kafka_isr_full TOPIC REPLICAS: every partition of TOPIC has REPLICAS in sync.
# kafka_isr_below TOPIC REPLICAS: some partition has fewer.
kafka_isr_full()
{
    "$PY" - "$BOOTSTRAP" "$1" "$2" <<'PYEOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(sys.argv[2], timeout=10)
sys.exit(0 if all(len(p.isrs) >= int(sys.argv[3])
                  for p in md.topics[sys.argv[2]].partitions.values()) else 1)
PYEOF
}

kafka_isr_below()
{
    ! kafka_isr_full "$@"
}

# kafka_node DOWN|KILL|UP N: stop node N (SIGTERM: controlled shutdown), kill
# it (-9), or start it again on its ports and data.
kafka_node()
{
    case $1 in
    DOWN) "$KC_SRC/scripts/kafka.sh" stop-node "$KAFKA_DIR" "$2" ;;
    KILL) "$KC_SRC/scripts/kafka.sh" kill-node "$KAFKA_DIR" "$2" ;;
    UP) "$KC_SRC/scripts/kafka.sh" start-node "$KAFKA_DIR" "$2" ;;
    esac
    log "kafka node $2: $1"
}

# kill_leader TOPIC PARTITION DOWN_S: SIGKILL the node leading it, start it
# again DOWN_S seconds later.
kill_leader()
{
    local leader
    leader=$(kafka_leader "$1" "$2")
    [[ $leader =~ ^[1-3]$ ]] || fail "no leader for $1[$2]: '$leader'"
    kafka_node KILL "$leader"
    sleep "$3"
    kafka_node UP "$leader"
}

# start_sim NAME [SIM OPTIONS...]: sets SIM_URL, SIM_BASE and SIM_PID.
start_sim()
{
    local name=$1 port
    shift
    rm -f "$T/$name.port"
    "$KC_BIN/kclassify-llm-sim" --port 0 --port-file "$T/$name.port" "$@" \
        >"$T/$name.log" 2>&1 &
    SIM_PID=$!
    kc_register "$SIM_PID" "$name"
    wait_file "$T/$name.port" 20 "$SIM_PID" "$name"
    port="$(head -n 1 "$T/$name.port")"
    [[ "$port" =~ ^[0-9]+$ ]] || fail "$name wrote a bad port '$port'"
    SIM_BASE="http://127.0.0.1:$port"
    SIM_URL="$SIM_BASE/v1"
    log "LLM simulator $name at $SIM_BASE"
}

# start_worker NAME [WORKER OPTIONS...]: a worker in the background, stderr in
# $T/NAME.log; sets WORKER_PID. Short group timeouts so joins and rebalances
# are quick on the mock cluster.
declare -A KC_WORKER_ARGS=()
start_worker()
{
    local name=$1
    shift
    KC_WORKER_ARGS[$name]="$(printf '%q ' "$@")"
    "$KC_BIN/kclassify-worker" -b "$BOOTSTRAP" -X "llm.url=$SIM_URL" -X "worker.id=$name" \
        -X kafka.session.timeout.ms=6000 -X kafka.heartbeat.interval.ms=500 "$@" \
        >"$T/$name.log" 2>&1 &
    WORKER_PID=$!
    kc_register "$WORKER_PID" "$name"
    log "worker $name started (pid $WORKER_PID)"
}

# wait_assigned NAME [--pid PID] [--timeout S]: until the worker NAME logs a
# non-empty assignment (default timeout 30 s).
#
# Without --pid it waits for the worker started last ($WORKER_PID) and sets
# WORKER_PID to the one that got partitions: this machine is shared, and a
# stray SIGTERM (another job's kill by name or of a recycled pid) has been seen
# to stop a worker before it joined, so a worker that logged a signal stop
# before it ever got partitions is started once more, loudly. With --pid
# there is no retry. Anything else is a failure.
wait_assigned()
{
    local name=$1 pid="" timeout_s=30 retry=0 deadline
    shift
    while (($#)); do
        [[ $# -ge 2 ]] || fail "wait_assigned $name: $1 needs a value"
        case $1 in
        --pid) pid=$2 ;;
        --timeout) timeout_s=$2 ;;
        *) fail "wait_assigned $name: unknown argument '$1' (use --pid PID, --timeout S)" ;;
        esac
        shift 2
    done
    if [[ -z "$pid" ]]; then
        pid=$WORKER_PID
        retry=1
    fi
    deadline=$(($(now_ms) + timeout_s * 1000))
    until grep -Eq 'assigned [1-9][0-9]* partition' "$T/$name.log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            if ((retry)) && [[ -n "$(why_dead "$name")" && ! -e "$T/$name.killed.log" ]]; then
                stop_pid "$pid" "$name" 1
                mv "$T/$name.log" "$T/$name.killed.log"
                log "WARNING: worker $name got a signal from outside this test before it" \
                    "joined; starting it again (log kept in $name.killed.log)"
                eval "start_worker $name ${KC_WORKER_ARGS[$name]}"
                pid=$WORKER_PID
                deadline=$(($(now_ms) + timeout_s * 1000))
                continue
            fi
            fail "worker $name exited before it got partitions$(why_dead "$name")"
        fi
        (($(now_ms) < deadline)) || fail "worker $name got no partitions within ${timeout_s}s"
        sleep 0.1
    done
    log "worker $name has partitions"
}

# stop_worker NAME PID: SIGTERM; the worker must exit 0 within 15 s.
stop_worker()
{
    stop_pid "$2" "$1" 15
    [[ $STOP_RC -eq 0 ]] || fail "worker $1 exited with status $STOP_RC after SIGTERM (expected 0)"
    log "worker $1 stopped cleanly"
}

# ------------------------------------------------------------------ tools

# free_port: a TCP port on 127.0.0.1 free right now (the kernel's pick).
free_port()
{
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# kctool ARGS...: the Python helper, bounded by a hard timeout.
kctool()
{
    timeout -k 5 120 "$PY" "$KCTOOL" "$@"
}

# produce_wait OUT_JSONL INPUT [EXTRA ARGS...]: kclassify-produce --wait,
# results to OUT_JSONL, diagnostics to $T/produce.log; fails on non-zero exit.
produce_wait()
{
    local out=$1 in=$2 rc=0
    shift 2
    timeout -k 5 150 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" --wait --timeout-ms 60000 \
        "$@" "$in" >"$out" 2>>"$T/produce.log" || rc=$?
    [[ $rc -eq 0 ]] || fail "kclassify-produce --wait $in exited with status $rc"
}

# sim_stats FILE: the simulator's /stats JSON into FILE.
sim_stats()
{
    curl -sf --max-time 5 -o "$1" "$SIM_BASE/stats" || fail "GET $SIM_BASE/stats failed"
}

# alive_or_fail PID DESCRIPTION [LOG NAME]: fail unless PID still runs.
alive_or_fail()
{
    kill -0 "$1" 2>/dev/null || fail "$2 (pid $1) is no longer running$(why_dead "${3:-}")"
}
