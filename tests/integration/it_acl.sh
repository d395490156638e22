#!/usr/bin/env bash
# ACLs on Apache Kafka (SASL/PLAIN on loopback, StandardAuthorizer, no ACL =
# denied): the worker's principal may read the requests topic and its group
# and write kclassify.replies and the DLT, nothing else. With the worker's
# own allow-list wide open (topic.replies.allowed=*), a request naming a topic
# the principal may not write gets no write there: the broker refuses, and
# the request goes to the DLT with the reason; the requests around it are
# answered and the committed offset passes all of them.
source "$(dirname "$0")/lib.sh"

start_kafka 1 single --sasl
"$KC_SRC/scripts/kafka.sh" topics "$KAFKA_DIR" kclassify.replies.secret:1 2>>"$T/kafka.log" ||
    fail "creating kclassify.replies.secret failed"
"$KC_BIN/kc-test-acl" "$BOOTSTRAP" User:worker topic:kclassify.requests:read \
    topic:kclassify.requests:describe group:kclassify-workers:read \
    topic:kclassify.replies:write topic:kclassify.replies:describe \
    topic:kclassify.requests.DLT:write topic:kclassify.requests.DLT:describe \
    cluster:kafka-cluster:idempotent_write 2>>"$T/kafka.log" || fail "granting the ACLs failed"
log "ACLs for User:worker granted; none on kclassify.replies.secret"

start_sim sim --seed 31
start_worker w1 -b "$BOOTSTRAP_SASL" -X kafka.security.protocol=SASL_PLAINTEXT \
    -X kafka.sasl.mechanisms=PLAIN -X kafka.sasl.username=worker \
    -X kafka.sasl.password=worker-secret -X topic.replies.allowed='*' -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

cat >"$T/spec.py" <<'PYEOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import kctool
for rid, topic in (("a-1", None), ("a-secret", "kclassify.replies.secret"), ("a-2", None)):
    rec = kctool.request_record(rid, "What is the role of carnitine, %s?" % rid, reply_topic=topic)
    print(json.dumps({"label": rid, "request_id": rid, "key": rid,
                      "hex": kctool.encode("request", rec).hex()}))
PYEOF
"$PY" "$T/spec.py" "$KC_SRC/tests/integration" >"$T/spec.jsonl"
kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/spec.jsonl" \
    >"$T/sent.jsonl" || fail "producing failed"

kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result --expect 2 \
    --timeout 60 >"$T/replies.dump" || fail "the two allowed replies did not arrive"
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests.DLT --schema none --expect 1 \
    --timeout 90 >"$T/dlt.dump" || fail "no dead letter for the refused reply"
grep -q '"kclassify.error": "its reply to kclassify.replies.secret was not delivered: Broker: Topic authorization failed' \
    "$T/dlt.dump" || grep -q 'Topic authorization failed' "$T/dlt.dump" ||
    fail "the dead letter does not give the broker's refusal: $(cat "$T/dlt.dump")"
grep -q '"a-1"' "$T/replies.dump" && grep -q '"a-2"' "$T/replies.dump" ||
    fail "replies: $(cat "$T/replies.dump")"
[[ $("$PY" -c "
from confluent_kafka import Consumer, TopicPartition
c = Consumer({'bootstrap.servers': '$BOOTSTRAP', 'group.id': 'acl-check'})
print(c.get_watermark_offsets(TopicPartition('kclassify.replies.secret', 0), timeout=10)[1])
") == 0 ]] || fail "something was written to kclassify.replies.secret"
log "refused by the broker: dead-lettered with the reason, nothing in the secret topic"

deadline=$(($(now_ms) + 20000))
until [[ $(timeout -k 5 30 "$PY" "$KC_SRC/tests/fault/checker.py" committed \
    --bootstrap "$BOOTSTRAP" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("0", -1))') -ge 3 ]]; do
    (($(now_ms) < deadline)) || fail "the committed offset did not pass the refused request"
    sleep 0.5
done
log "committed offset passed all three"
stop_worker w1 "$W1"
