#!/usr/bin/env bash
# Fault 2: Kafka itself fails.
#  A. The (only) broker goes down for 5 s in the middle of a steady load: the
#     workers cannot fetch, produce replies or commit, and the load producer
#     cannot send; everybody reconnects when it comes back.
#  B. Produce requests fail with injected errors while the workers are
#     producing replies: retriable ones (NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT,
#     NOT_LEADER_FOR_PARTITION), which librdkafka retries, then a permanent one
#     (INVALID_RECORD), which fails the records so the worker must produce the
#     reply again. The mock fails the next N Produce requests of any client,
#     whatever the topic, so the errors are pushed only after the load producer
#     has flushed: the workers' replies are then the only records produced.
# Nothing acknowledged may be lost. Duplicates are allowed (a 5 s outage can
# cost a group member its session) and printed. Deadlines cannot hold while
# the broker is down (a reply cannot be delivered, nor a request consumed), so
# late replies are counted and printed, not failed.
# shellcheck source=faultlib.sh
source "$(dirname "$0")/faultlib.sh"

start_mock_ctl 4
start_sim sim --seed 12 --latency-ms 400 --jitter 0.2
WOPTS=("${FT_WOPTS[@]}" -X llm.batch.max=16 -X llm.inflight.max=8 -X sla.deadline.ms=2000)
start_group w1 w2 -- "${WOPTS[@]}"

# --- A: broker down for 5 s under load
start_producer a --count 2400 --rate 200 --distinct 400 --seed 21
wait_acked a 600 30
mock_ctl broker_down 1
down_at=$(now_ms)
sleep 5
mock_ctl broker_up 1
log "broker was down for $(($(now_ms) - down_at)) ms"
wait_producer a "$PRODUCER_PID"

# --- B: produce errors on the replies. Unique queries and a 400 ms LLM: the
# replies are produced after the load producer has flushed.
start_producer b --count 600 --rate 2000 --unique --seed 22
wait_producer b "$PRODUCER_PID"
mock_ctl push_errors Produce 30 NOT_ENOUGH_REPLICAS REQUEST_TIMED_OUT NOT_LEADER_FOR_PARTITION
sleep 0.5
mock_ctl push_errors Produce 3 INVALID_RECORD

checker check --bootstrap "$BOOTSTRAP" --acked "$T/a.acked" --acked "$T/b.acked" \
    --deadline-ms 2000 --timeout 90 --settle 2 --allow-late --allow-duplicates \
    --status OK,DEGRADED --summary-out "$T/summary.json" ||
    fail "acknowledged requests were lost (see above)"
log "late replies (broker outage, not a failure): $(summary_field "$T/summary.json" late)"
log "duplicate replies: $(summary_field "$T/summary.json" duplicate_replies)"
failed=$(cat "$T/w1.log" "$T/w2.log" | grep -c "delivery to .* failed" || true)
log "reply deliveries that failed and were produced again: $failed"
grep -h "giving up on reply\|fatal" "$T/w1.log" "$T/w2.log" >&2 && fail "a worker gave up on a reply"

finish_group w2 w1
