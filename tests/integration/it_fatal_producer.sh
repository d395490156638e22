#!/usr/bin/env bash
# A fatal producer error stops the worker cleanly: the mock cluster answers
# the worker's next Produce with an error the idempotent producer cannot
# recover from; the worker logs the fatal error, commits what was delivered
# (the requests answered before it), exits 1 so that a supervisor starts a
# fresh process, and that process answers the request left uncommitted.
source "$(dirname "$0")/../fault/faultlib.sh"

start_mock_ctl 1
# A slow first token: the request at the fault is consumed well before its reply.
start_sim sim --seed 5 --ttft-ms 1500
start_worker w1 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

printf '{"request_id":"before-%d","query":"What is the TCA cycle, variant %d?"}\n' 1 1 2 2 3 3 \
    >"$T/before.jsonl"
produce_wait "$T/before.out" "$T/before.jsonl"
[[ $(grep -c '"status":"OK"' "$T/before.out") -eq 3 ]] || fail "before: $(cat "$T/before.out")"
# Let the auto-commit store the three (5 s interval) before the fault.
sleep 6

# The request is sent first (its Produce must not meet the error), then
# the worker's reply, which waits for the LLM, does.
printf '{"request_id":"at-fault","query":"Which enzymes convert phenylalanine to tyrosine?"}\n' \
    >"$T/fault.jsonl"
timeout -k 5 60 "$KC_BIN/kclassify-produce" -b "$BOOTSTRAP" "$T/fault.jsonl" \
    2>>"$T/produce.log" || fail "sending at-fault failed"
mock_ctl push_errors Produce 1 "${KC_FATAL_ERR:-OUT_OF_ORDER_SEQUENCE_NUMBER}"

rc=0
deadline=$(($(now_ms) + 20000))
while kill -0 "$W1" 2>/dev/null; do
    (($(now_ms) < deadline)) || fail "worker w1 still runs 20 s after the fatal error"
    sleep 0.2
done
wait "$W1" || rc=$?
kc_unregister "$W1"
grep -q "fatal Kafka error" "$T/w1.log" || fail "no fatal error logged: $(tail -5 "$T/w1.log")"
[[ $rc -eq 1 ]] || fail "worker w1 exited $rc after a fatal producer error, expected 1"
log "worker w1 exited 1 after: $(grep -m1 'fatal Kafka error' "$T/w1.log")"

off=$(timeout -k 5 30 "$PY" "$CHECKER" committed --bootstrap "$BOOTSTRAP" | $PY -c \
    'import json,sys; print(json.load(sys.stdin).get("0", -1))')
[[ $off -eq 3 ]] || fail "committed offset $off, expected 3 (the answered requests only)"

# The next process answers what was left.
start_worker w2 -X sla.deadline.ms=30000
wait_assigned w2
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result --expect 4 \
    --timeout 30 >"$T/replies.dump" || fail "the request at the fault was not answered after restart"
grep -q '"request_id": "at-fault"' "$T/replies.dump" || fail "no reply to at-fault"
log "the restarted worker answered the request left uncommitted"
