#!/usr/bin/env bash
# Poison records never hold a partition's commits: on a one-partition topic,
# requests whose reply cannot be addressed (a 600-character reply topic, a
# reply topic outside topic.replies.allowed, in the field or in the
# kafka_replyTopic header, a 350 KB request_id, one with control characters)
# and an undecodable record sit between valid requests. Each poison request
# gets an ERROR reply on kclassify.replies (never a write to the topic it
# named), the undecodable one a dead letter, every valid one its reply; the
# group's committed offset passes all of them within seconds; a restarted
# worker replays nothing. (Replies Kafka refuses for good, delivery failures
# and fatal producer errors: tests/check_worker_poison.c.)
source "$(dirname "$0")/lib.sh"

CHECKER="$KC_SRC/tests/fault/checker.py"
start_kafka 1
start_sim sim --seed 5
start_worker w1 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

kctool gen-poison-spec --out "$T/spec.jsonl" || fail "gen-poison-spec failed"
t0=$(now_ms)
kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/spec.jsonl" \
    >"$T/sent.jsonl" || fail "producing the records failed"
NSENT=$(wc -l <"$T/sent.jsonl")
NREPLY=$(grep -vc '"expect": "dlt"' "$T/sent.jsonl" || true)
log "sent $NSENT records on one partition ($((NSENT - NREPLY)) undecodable)"

kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect "$NREPLY" --timeout 60 >"$T/replies.dump" || fail "replies missing"
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests.DLT --schema none \
    --expect 1 --timeout 30 >"$T/dlt.dump" || fail "no dead letter"
$PY - "$T/sent.jsonl" "$T/replies.dump" "$T/dlt.dump" <<'PYEOF' || fail "replies or dead letters are wrong"
import json, sys
sent = [json.loads(l) for l in open(sys.argv[1])]
replies = [json.loads(l) for l in open(sys.argv[2])]
dlt = [json.loads(l) for l in open(sys.argv[3])]
errors, by_id = [], {}
for r in replies:
    by_id.setdefault(r.get("request_id"), []).append(r)
for s in sent:
    if s["expect"] == "dlt":
        if len(dlt) != 1 or dlt[0]["_headers"].get("kclassify.source.offset") != str(s["offset"]):
            errors.append("undecodable record at %d: dead letters %r" % (s["offset"], dlt))
        continue
    got = by_id.pop(s["request_id"], [])
    if len(got) != 1:
        errors.append("%s (%s): %d replies, expected 1" % (s["request_id"][:40], s["label"], len(got)))
        continue
    r = got[0]
    if s["expect"] == "ok":
        if r["status"] not in ("OK", "DEGRADED"):
            errors.append("%s: status %s %r" % (s["request_id"], r["status"], r["error"]))
    else:
        text = s["expect"][len("error:"):]
        if r["status"] != "ERROR" or text not in (r["error"] or ""):
            errors.append("%s: %s %r, expected an ERROR with %r" % (s["label"], r["status"],
                                                                    r["error"], text))
for rid in by_id:
    errors.append("reply for a request that was not sent: %r" % rid[:60])
for e in errors:
    print("VIOLATION [poison]: " + e, file=sys.stderr)
print("poison: %d replies, %d dead letter(s), %d violation(s)" % (len(replies), len(dlt), len(errors)))
sys.exit(1 if errors else 0)
PYEOF

# The committed offset passes every record within seconds (the auto-commit
# interval is 5 s).
deadline=$(($(now_ms) + 20000))
while :; do
    off=$(timeout -k 5 30 "$PY" "$CHECKER" committed --bootstrap "$BOOTSTRAP" | $PY -c \
        'import json,sys; print(json.load(sys.stdin).get("0", -1))') || off=-1
    [[ $off -ge $NSENT ]] && break
    (($(now_ms) < deadline)) || fail "committed offset stuck at $off of $NSENT"
    sleep 0.5
done
log "committed offset $off reached the end ($NSENT) $(($(now_ms) - t0)) ms after the first record"

# Nothing reaches the topics the poison requests named.
grep -q "cannot produce reply\|Invalid argument" "$T/w1.log" &&
    fail "the worker tried to write to a topic a request named: $(grep -m1 'cannot produce' "$T/w1.log")"

# A restart replays nothing.
stop_worker w1 "$W1"
start_worker w2 -X sla.deadline.ms=30000
wait_assigned w2
W2=$WORKER_PID
sleep 3
stop_worker w2 "$W2"
grep -Eq "stopped: 0 requests" "$T/w2.log" ||
    fail "the restarted worker consumed again: $(grep 'stopped:' "$T/w2.log")"
log "restart: nothing replayed"
