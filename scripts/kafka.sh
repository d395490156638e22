#!/usr/bin/env bash
# Apache Kafka (KRaft) on loopback for the tests and benchmarks.
#
#   scripts/kafka.sh fetch                       jars into $KC_KAFKA_HOME (default build/kafka)
#   scripts/kafka.sh start single|cluster DIR [--sasl]
#                                                format and start 1 or 3 fresh nodes under DIR;
#                                                DIR/bootstrap gets host:port,...; --sasl adds
#                                                a SASL_PLAINTEXT (PLAIN) listener with ACLs
#                                                enforced (DIR/bootstrap.sasl; users admin,
#                                                worker, client, password USER-secret; the
#                                                PLAINTEXT listener stays, as a super user)
#   scripts/kafka.sh topics DIR NAME:PARTS[:K=V,...] ...
#                                                create topics (replication: 1 or 3),
#                                                with topic configs (K=V)
#   scripts/kafka.sh stop-node DIR N             stop node N (1..3) alone (SIGTERM, then KILL)
#   scripts/kafka.sh kill-node DIR N             kill -9 node N
#   scripts/kafka.sh start-node DIR N            start node N again (same ports, same data)
#   scripts/kafka.sh stop DIR                    stop every node
#   scripts/kafka.sh kill DIR                    kill -9 every node (test clean-up)
#
# Each node is a combined broker + controller with a static quorum of all
# nodes; ports are free loopback ports picked at start and kept in DIR for
# restarts. cluster mode: replication factor 3, min.insync.replicas 2.
# auto.create.topics.enable=false: topics are created by `topics`. The broker
# jars come from Maven Central (perf/kafka/pom.xml, pinned), once; nothing
# listens beyond 127.0.0.1.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KC_KAFKA_HOME="${KC_KAFKA_HOME:-$ROOT/build/kafka}"
KC_KAFKA_HEAP="${KC_KAFKA_HEAP:-384m}"
PY="${PY:-/usr/bin/python3}" # Debian's, with python3-confluent-kafka

die()
{
    echo "kafka.sh: $*" >&2
    exit 1
}

free_port()
{
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

fetch()
{
    local t0=$SECONDS
    if [[ -f "$KC_KAFKA_HOME/libs/.complete" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn is missing (Debian package maven)"
    command -v java >/dev/null || die "java is missing (Debian package openjdk-17-jre-headless)"
    mkdir -p "$KC_KAFKA_HOME/libs"
    echo "kafka.sh: fetching the Kafka broker from Maven Central (perf/kafka/pom.xml)..." >&2
    mvn -q -B -f "$ROOT/perf/kafka/pom.xml" dependency:copy-dependencies \
        -Dmdep.includeScope=runtime -DoutputDirectory="$KC_KAFKA_HOME/libs" ||
        die "mvn dependency:copy-dependencies failed"
    touch "$KC_KAFKA_HOME/libs/.complete"
    echo "kafka.sh: fetched $(ls "$KC_KAFKA_HOME/libs" | wc -l) jars in $((SECONDS - t0)) s" >&2
}

# java_run DIR ARGS...: exec the JVM (call it in a subshell or in the background).
java_run()
{
    exec java -Xms64m -Xmx"$KC_KAFKA_HEAP" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$1/log4j2.properties" \
        -cp "$KC_KAFKA_HOME/libs/*" "${@:2}"
}

# node_conf DIR N COUNT: write DIR/nodeN/server.properties.
node_conf()
{
    local dir=$1 n=$2 count=$3 voters="" i rf=1 isr=1 lst adv map
    ((count == 3)) && rf=3 && isr=2
    for ((i = 1; i <= count; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:$(cat "$dir/node$i/controller.port")"
    done
    lst="PLAINTEXT://127.0.0.1:$(cat "$dir/node$n/port"),CONTROLLER://127.0.0.1:$(cat "$dir/node$n/controller.port")"
    adv="PLAINTEXT://127.0.0.1:$(cat "$dir/node$n/port")"
    map="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    if [[ -f "$dir/sasl" ]]; then
        lst+=",SASL_PLAINTEXT://127.0.0.1:$(cat "$dir/node$n/sasl.port")"
        adv+=",SASL_PLAINTEXT://127.0.0.1:$(cat "$dir/node$n/sasl.port")"
        map+=",SASL_PLAINTEXT:SASL_PLAINTEXT"
    fi
    cat >"$dir/node$n/server.properties" <<EOF
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=$lst
advertised.listeners=$adv
listener.security.protocol.map=$map
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/node$n/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
# A killed broker is noticed (and its partitions led elsewhere) after 3 s, not 9.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
# A follower away this long leaves the ISR (Kafka's default: 30 s).
replica.lag.time.max.ms=10000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
    if [[ -f "$dir/sasl" ]]; then
        # The PLAINTEXT and controller listeners authenticate nobody
        # (ANONYMOUS): a super user, for the brokers and the test harness.
        cat >>"$dir/node$n/server.properties" <<'EOF'
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_worker="worker-secret" user_client="client-secret";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:admin
allow.everyone.if.no.acl.found=false
EOF
    fi
}

log_conf()
{
    cat >"$1/log4j2.properties" <<EOF
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka.server.KafkaServer
logger.kafka.level = INFO
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
EOF
}

# node_running DIR N: node N's process is alive.
node_running()
{
    [[ -f "$1/node$2/pid" ]] && kill -0 "$(cat "$1/node$2/pid")" 2>/dev/null
}

start_node()
{
    local dir=$1 n=$2 pid
    node_running "$dir" "$n" && die "node $n already runs (pid $(cat "$dir/node$n/pid"))"
    java_run "$dir" -Dkafka.logs.dir="$dir/node$n" kafka.Kafka "$dir/node$n/server.properties" \
        >>"$dir/node$n/stdout.log" 2>&1 &
    pid=$!
    echo "$pid" >"$dir/node$n/pid"
}

# wait_ready DIR BROKERS TIMEOUT_S: until metadata lists BROKERS brokers.
wait_ready()
{
    local dir=$1 want=$2 timeout=$3
    "$PY" - "$(cat "$dir/bootstrap")" "$want" "$timeout" <<'PY' || die "not ready within ${timeout}s (logs: $dir/node*/server.log)"
import sys, time
from confluent_kafka.admin import AdminClient
bootstrap, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
a = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
end = time.monotonic() + timeout
while time.monotonic() < end:
    try:
        md = a.list_topics(timeout=2)
        if len(md.brokers) >= want:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.3)
sys.exit(1)
PY
}

start()
{
    local mode=$1 dir=$2 sasl=${3:-} count=1 id i t0=$SECONDS
    [[ $mode == single || $mode == cluster ]] || die "start single|cluster DIR [--sasl]"
    [[ -z $sasl || $sasl == --sasl ]] || die "start: unknown option $sasl"
    [[ $mode == cluster ]] && count=3
    fetch
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    log_conf "$dir"
    [[ -n $sasl ]] && touch "$dir/sasl"
    for ((i = 1; i <= count; i++)); do
        node_running "$dir" "$i" && die "$dir: node $i already runs (pid $(cat "$dir/node$i/pid")): kill it first"
        # A scratch broker: a stopped one's data would not format again.
        rm -rf "$dir/node$i"
        mkdir -p "$dir/node$i/data"
        free_port >"$dir/node$i/port"
        free_port >"$dir/node$i/controller.port"
        [[ -z $sasl ]] || free_port >"$dir/node$i/sasl.port"
    done
    echo "$count" >"$dir/count"
    id=$(java_run "$dir" -Dkafka.logs.dir="$dir" kafka.tools.StorageTool random-uuid 2>/dev/null |
        tail -n 1)
    [[ -n "$id" ]] || die "cannot make a cluster id"
    : >"$dir/bootstrap.tmp"
    for ((i = 1; i <= count; i++)); do
        node_conf "$dir" "$i" "$count"
        (java_run "$dir" -Dkafka.logs.dir="$dir/node$i" kafka.tools.StorageTool format -t "$id" \
            -c "$dir/node$i/server.properties") >"$dir/node$i/format.log" 2>&1 ||
            die "formatting node $i failed: $(tail -n 3 "$dir/node$i/format.log")"
        printf '%s127.0.0.1:%s' "$( ((i > 1)) && echo ,)" "$(cat "$dir/node$i/port")" >>"$dir/bootstrap.tmp"
    done
    echo >>"$dir/bootstrap.tmp"
    mv "$dir/bootstrap.tmp" "$dir/bootstrap"
    if [[ -n $sasl ]]; then
        for ((i = 1; i <= count; i++)); do
            printf '%s127.0.0.1:%s' "$( ((i > 1)) && echo ,)" "$(cat "$dir/node$i/sasl.port")"
        done >"$dir/bootstrap.sasl"
        echo >>"$dir/bootstrap.sasl"
    fi
    for ((i = 1; i <= count; i++)); do
        start_node "$dir" "$i"
    done
    wait_ready "$dir" "$count" 90
    echo "kafka.sh: $mode up at $(cat "$dir/bootstrap") in $((SECONDS - t0)) s" >&2
}

topics()
{
    local dir=$1
    shift
    "$PY" - "$(cat "$dir/bootstrap")" "$(cat "$dir/count")" "$@" <<'PY' || die "creating topics failed"
import sys
from confluent_kafka.admin import AdminClient, NewTopic
bootstrap, count = sys.argv[1], int(sys.argv[2])
rf = 3 if count >= 3 else 1
new = []
for spec in sys.argv[3:]:
    name, _, rest = spec.partition(":")
    parts, _, cfg = rest.partition(":")
    config = dict(kv.split("=", 1) for kv in cfg.split(",") if kv)
    new.append(NewTopic(name, int(parts or 1), rf, config=config))
a = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
for name, f in a.create_topics(new, operation_timeout=30, request_timeout=40).items():
    try:
        f.result()
    except Exception as e:
        if "TOPIC_ALREADY_EXISTS" not in str(e):
            print("kafka.sh: topic %s: %s" % (name, e), file=sys.stderr)
            sys.exit(1)
PY
}

stop_node()
{
    local dir=$1 n=$2 sig=${3:-TERM} pid i
    [[ -f "$dir/node$n/pid" ]] || return 0
    pid=$(cat "$dir/node$n/pid")
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/node$n/pid"
}

stop()
{
    local dir=$1 sig=${2:-TERM} i
    [[ -f "$dir/count" ]] || return 0
    for ((i = 1; i <= $(cat "$dir/count"); i++)); do
        stop_node "$dir" "$i" "$sig" &
    done
    wait
}

cmd=${1:-}
case $cmd in
fetch) fetch ;;
start) start "${2:-}" "${3:?DIR}" "${4:-}" ;;
topics) topics "${2:?DIR}" "${@:3}" ;;
stop-node) stop_node "${2:?DIR}" "${3:?N}" ;;
kill-node) stop_node "${2:?DIR}" "${3:?N}" KILL ;;
start-node) start_node "${2:?DIR}" "${3:?N}" ;;
stop) stop "${2:?DIR}" ;;
kill) stop "${2:?DIR}" KILL ;;
-h | --help | help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' ;;
*) die "unknown command '$cmd' (see --help)" ;;
esac
