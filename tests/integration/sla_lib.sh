# shellcheck shell=bash
# Helpers for the kclassify-sla integration tests (it_sla_*.sh), sourced after lib.sh.

# start_sla NAME [SLA OPTIONS...]: kclassify-sla in the background with short
# windows, metrics on a free port (metrics.port=0 means off), once it has its partitions; stdout in $T/NAME.out, stderr in $T/NAME.log.
# Sets SLA_PID and SLA_METRICS (http://127.0.0.1:PORT).
start_sla()
{
    local name=$1 port
    shift
    port=$(free_port)
    "$KC_BIN/kclassify-sla" -b "$BOOTSTRAP" -X kafka.fetch.wait.max.ms=10 -X "metrics.port=$port" \
        "$@" >"$T/$name.out" 2>"$T/$name.log" &
    SLA_PID=$!
    kc_register "$SLA_PID" "$name"
    wait_log "$T/$name.log" "metrics and health on http://127\.0\.0\.1:$port/" 20 "$SLA_PID" "$name"
    SLA_METRICS="http://127.0.0.1:$port"
    # It reads from the latest offset: replies before its assignment are not its business.
    wait_log "$T/$name.log" 'assigned [1-9][0-9]* partition' 30 "$SLA_PID" "$name"
    log "kclassify-sla $name started and assigned (pid $SLA_PID, metrics $SLA_METRICS)"
}

# start_alertmanager: a real Prometheus Alertmanager on a free loopback port,
# clustering off, storage in $T; sets AM_URL.
start_alertmanager()
{
    local port pid deadline
    command -v prometheus-alertmanager >/dev/null ||
        fail "prometheus-alertmanager is not installed (scripts/install-deps.sh)"
    cat >"$T/alertmanager.yml" <<'EOF'
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
EOF
    port=$(free_port)
    mkdir -p "$T/am-data"
    prometheus-alertmanager --config.file="$T/alertmanager.yml" --storage.path="$T/am-data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        >"$T/alertmanager.log" 2>&1 &
    pid=$!
    kc_register "$pid" alertmanager
    AM_URL="http://127.0.0.1:$port"
    deadline=$(($(now_ms) + 20000))
    until curl -sf --max-time 2 "$AM_URL/-/ready" >/dev/null 2>&1; do
        kill -0 "$pid" 2>/dev/null || fail "alertmanager exited during start-up"
        (($(now_ms) < deadline)) || fail "alertmanager not ready within 20 s"
        sleep 0.2
    done
    log "alertmanager at $AM_URL"
}

# am_alert_state ALERTNAME: prints "active" (or another state) when Alertmanager
# lists an alert with that alertname, "absent" otherwise.
am_alert_state()
{
    curl -sf --max-time 5 "$AM_URL/api/v2/alerts" | "$PY" -c '
import json, sys
name = sys.argv[1]
for a in json.load(sys.stdin):
    if a["labels"].get("alertname") == name:
        print(a["status"]["state"]); break
else:
    print("absent")' "$1"
}

# wait_am_state ALERTNAME STATE TIMEOUT_S
wait_am_state()
{
    local deadline=$(($(now_ms) + $3 * 1000)) st=""
    while (($(now_ms) < deadline)); do
        st=$(am_alert_state "$1" || echo "error")
        [[ "$st" == "$2" ]] && return 0
        sleep 0.5
    done
    fail "alertmanager: $1 is '$st', not '$2' within $3 s"
}

# dump_alerts OUT: every SlaAlert record on kclassify.alerts as JSON lines.
dump_alerts()
{
    timeout -k 5 60 "$PY" - "$BOOTSTRAP" "$KC_SRC/schemas/SlaAlert.avsc" >"$1" <<'EOF' ||
import io, json, struct, sys, time, uuid
import avro.io, avro.schema
from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING

schema = avro.schema.parse(open(sys.argv[2]).read())
topic = "kclassify.alerts"
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "it-sla-" + uuid.uuid4().hex,
              "enable.auto.commit": False, "enable.partition.eof": True})
parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
done = {p for p in parts if ends[p] == 0}
deadline = time.monotonic() + 30
while len(done) < len(parts) and time.monotonic() < deadline:
    m = c.poll(0.2)
    if m is None:
        continue
    if m.error():
        if m.error().code() == KafkaError._PARTITION_EOF:
            if m.offset() >= ends[m.partition()]:
                done.add(m.partition())
            continue
        sys.exit("consumer: %s" % m.error())
    v = m.value()
    if v[0] != 0 or struct.unpack(">I", v[1:5])[0] != 3:
        sys.exit("bad framing on %s [%d] @%d" % (topic, m.partition(), m.offset()))
    rec = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(v[5:])))
    rec["at"] = int(rec["at"].timestamp() * 1e6) if hasattr(rec["at"], "timestamp") else rec["at"]
    rec["_key"] = m.key().decode()
    print(json.dumps(rec, sort_keys=True))
c.close()
if len(done) < len(parts):
    sys.exit("did not reach the end of %s" % topic)
EOF
        fail "reading kclassify.alerts failed"
}

# traffic_start NAME EVERY_S BATCH: a background loop sending BATCH distinct
# queries every EVERY_S seconds (never repeated, so no cache hits), for at most
# 90 s or until traffic_stop. Sets TRAFFIC_PID.
traffic_start()
{
    local name=$1 every=$2 batch=$3
    (
        end=$((SECONDS + 90)) i=0
        while ((SECONDS < end)) && [[ ! -e "$T/$name.stop" ]]; do
            for ((j = 0; j < batch; j++)); do
                echo "which pathway links metabolite $name-$i-$j to disease marker $RANDOM"
            done | timeout -k 2 10 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" >/dev/null \
                2>>"$T/$name.log" || true
            i=$((i + 1))
            sleep "$every"
        done
    ) &
    TRAFFIC_PID=$!
    kc_register "$TRAFFIC_PID" "$name"
}

traffic_stop()
{
    touch "$T/$1.stop"
    stop_pid "$2" "$1" 15
}
