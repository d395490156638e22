#!/usr/bin/env bash
# Dead letters: records the worker cannot decode (wrong magic byte, unknown or
# wrong schema id, truncated, frame only, random bytes, empty, null value,
# corrupt Avro, trailing bytes) interleaved with valid requests. Each malformed
# record must land on kclassify.requests.DLT unchanged (value and key) with the
# headers kclassify.error and kclassify.source.topic/.partition/.offset
# pointing at the original; every valid request gets exactly one reply; a
# decodable request with an invalid (non-UTF-8) query gets an ERROR reply, not
# a dead letter; and the worker keeps running: a request sent after all that
# is answered.
source "$(dirname "$0")/lib.sh"

start_kafka 4
start_sim sim --seed 3
start_worker w1 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

kctool gen-dlt-spec --out "$T/spec.jsonl" || fail "gen-dlt-spec failed"
kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/spec.jsonl" \
    >"$T/sent.jsonl" || fail "producing the records failed"
NBAD=$(grep -vc '"label": "valid"' "$T/sent.jsonl" || true)
NBAD=$((NBAD - 1)) # the invalid-utf8 request is answered, not dead-lettered
NVALID=$(grep -c '"label": "valid"' "$T/sent.jsonl" || true)
log "sent $NVALID valid requests, $NBAD malformed records and one invalid-UTF-8 query"

kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests.DLT --schema none \
    --expect "$NBAD" --timeout 30 >"$T/dlt.dump" || fail "the DLT did not receive $NBAD records"
kctool check-dlt --sent "$T/sent.jsonl" --dlt-dump "$T/dlt.dump" ||
    fail "dead letters are wrong (see VIOLATION lines above)"

# The replies: one per valid request, and an ERROR for the invalid query.
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $((NVALID + 1)) --timeout 30 >"$T/replies.dump" || fail "replies missing"
$PY - "$T/sent.jsonl" "$T/replies.dump" <<'PYEOF' || fail "replies to the valid requests are wrong"
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
replies = [json.loads(l) for l in open(sys.argv[2])]
errors = []
by_id = {}
for r in replies:
    if "_decode_error" in r:
        errors.append("undecodable reply: %s" % r["_decode_error"])
        continue
    by_id.setdefault(r["request_id"], []).append(r)
for s in sent:
    if s["label"] not in ("valid", "invalid-utf8"):
        continue
    got = by_id.pop(s["request_id"], [])
    if len(got) != 1:
        errors.append("%s: %d replies, expected 1" % (s["request_id"], len(got)))
        continue
    r = got[0]
    want = "ERROR" if s["label"] == "invalid-utf8" else "OK"
    if r["status"] != want:
        errors.append("%s: status %s (error %r), expected %s" % (s["request_id"], r["status"],
                                                                  r["error"], want))
    if want == "ERROR" and "UTF-8" not in (r["error"] or ""):
        errors.append("%s: error %r does not mention UTF-8" % (s["request_id"], r["error"]))
    if r["_headers"].get("kafka_correlationId") != s["request_id"]:
        errors.append("%s: kafka_correlationId %r" % (s["request_id"],
                                                      r["_headers"].get("kafka_correlationId")))
for rid in by_id:
    errors.append("reply for a request that was not sent as valid: %r" % rid)
for e in errors:
    print("VIOLATION [dlt replies]: " + e, file=sys.stderr)
print("replies: %d checked, %d violation(s)" % (len(replies), len(errors)))
sys.exit(1 if errors else 0)
PYEOF

# Still alive and still answering after the garbage.
alive_or_fail "$W1" "worker w1 after the malformed records" w1
printf '{"request_id":"after-garbage","query":"What is the role of carnitine in fatty acid oxidation?"}\n' \
    >"$T/after.jsonl"
produce_wait "$T/after.out" "$T/after.jsonl"
grep -q '"request_id":"after-garbage".*"status":"OK"' "$T/after.out" ||
    fail "the request sent after the malformed records was not answered OK: $(cat "$T/after.out")"
log "a request sent after the malformed records was answered"

stop_worker w1 "$W1"
grep -Eq "stopped: .* $NBAD to DLT" "$T/w1.log" ||
    fail "worker w1 did not report $NBAD dead letters on exit"
