#!/usr/bin/env bash
# processing.guarantee=exactly_once on Apache Kafka (one node): the worker
# refuses it without a worker.id; replies and offsets go in transactions; a
# reply the broker refuses (its reply topic takes no record that large)
# aborts the transaction, the worker consumes its partitions again from the
# committed offsets, and that time the request goes to the DLT. A
# read_committed consumer sees exactly one reply per other request and one
# dead letter; after a restart with the same worker.id, more requests are
# answered once each and nothing is answered again. (Worker and broker kills
# under load: tests/fault/ft_cluster_eos.sh.)
source "$(dirname "$0")/lib.sh"

W="$KC_BIN/kclassify-worker"
RC=0
timeout -k 2 10 "$W" -b 127.0.0.1:9 -X processing.guarantee=exactly_once -X llm.url= \
    >"$T/noid.out" 2>&1 || RC=$?
[[ $RC -eq 64 ]] || fail "exactly_once without worker.id: exit $RC, expected 64: $(cat "$T/noid.out")"
grep -q "needs worker.id" "$T/noid.out" || fail "no reason given: $(cat "$T/noid.out")"
timeout -k 2 10 "$W" -b 127.0.0.1:9 -X processing.guarantee=twice -X worker.id=x \
    >"$T/bad.out" 2>&1 || RC=$?
grep -q "must be at_least_once or exactly_once" "$T/bad.out" || fail "bad value: $(cat "$T/bad.out")"

start_kafka 2
# 100 bytes: a reply (~200) is refused, the transaction markers (~78) are
# not: a topic that refuses its markers leaves the transaction stuck in
# PrepareAbort on the broker, with every later AddPartitionsToTxn refused.
"$KC_SRC/scripts/kafka.sh" topics "$KAFKA_DIR" "kclassify.replies.tiny:1:max.message.bytes=100" \
    2>>"$T/kafka.log" || fail "creating kclassify.replies.tiny failed"
start_sim sim --seed 5
EOS=(-X processing.guarantee=exactly_once -X transaction.interval.ms=50)
start_worker w1 "${EOS[@]}"
wait_assigned w1

# 100 requests, the 50th addressed to the topic that refuses its reply.
N=100
for ((i = 1; i <= N; i++)); do
    if ((i == 50)); then
        printf '{"request_id": "eos-%03d", "query": "What is metabolomics number %d?", "reply_topic": "kclassify.replies.tiny"}\n' "$i" "$i"
    else
        printf '{"request_id": "eos-%03d", "query": "What is metabolomics number %d?"}\n' "$i" "$i"
    fi
done >"$T/in.jsonl"
"$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" "$T/in.jsonl" 2>"$T/produce.log" ||
    fail "producing failed: $(tail -n 3 "$T/produce.log")"

# check_once FILE N: every id eos-001..eos-N but eos-050 exactly once.
check_once()
{
    $PY - "$1" "$2" <<'PYEOF' || fail "replies are not one per request (see above)"
import collections, json, sys
n = int(sys.argv[2])
ids = collections.Counter(json.loads(l)["request_id"] for l in open(sys.argv[1]))
want = {"eos-%03d" % i for i in range(1, n + 1)} - {"eos-050"}
errors = ["%s: %d replies" % (i, ids[i]) for i in sorted(want) if ids[i] != 1]
errors += ["unexpected reply %s" % i for i in ids if i not in want]
for e in errors:
    print("VIOLATION [exactly_once]: " + e, file=sys.stderr)
print("exactly_once: %d replies, %d violation(s)" % (sum(ids.values()), len(errors)))
sys.exit(1 if errors else 0)
PYEOF
}

kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $((N - 1)) --timeout 60 >"$T/replies.dump" || fail "replies missing"
check_once "$T/replies.dump" $N
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests.DLT --schema none \
    --expect 1 --timeout 30 >"$T/dlt.dump" || fail "no dead letter for the refused reply"
$PY - "$T/dlt.dump" <<'PYEOF' || fail "the dead letter is wrong"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 1, "%d dead letters, expected 1" % len(recs)
h = recs[0]["_headers"]
assert recs[0].get("_key") == "eos-050", recs[0]
assert "aborted transaction" in h.get("kclassify.error", ""), h
PYEOF
# A broker's refusal reaches a whole produce batch: the record is tried
# KC_TXN_RECORD_ATTEMPTS (3) times, an abort each, before its dead letter.
ABORTS=$(grep -c "transaction aborted" "$T/w1.log" || true)
((ABORTS >= 3)) || fail "$ABORTS abort(s) before the dead letter, expected 3"

# A restart with the same worker.id: nothing answered again, the rest once.
stop_worker w1 "$WORKER_PID"
grep -q "transactions: [1-9][0-9]* committed" "$T/w1.log" || fail "no transaction summary at stop"
start_worker w1b "${EOS[@]}" -X worker.id=w1
wait_assigned w1b
for ((i = N + 1; i <= N + 20; i++)); do
    printf '{"request_id": "eos-%03d", "query": "What is metabolomics number %d?"}\n' "$i" "$i"
done >"$T/in2.jsonl"
"$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" "$T/in2.jsonl" 2>>"$T/produce.log" ||
    fail "producing failed: $(tail -n 3 "$T/produce.log")"
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $((N + 19)) --timeout 60 >"$T/replies2.dump" || fail "replies after restart missing"
check_once "$T/replies2.dump" $((N + 20))
stop_worker w1b "$WORKER_PID"
