#!/usr/bin/env bash
# Hostile input against a real stack (mock cluster, LLM simulator, worker).
#
# Phase "input", one worker and an LLM simulator that obeys prompt injections:
#   - malformed Avro of every kind (truncated, wrong magic, unknown schema id,
#     huge and negative length prefixes, overlong varints, enum/union indexes
#     out of range, bad map blocks, trailing bytes, empty and null values) ->
#     each on the DLT, unchanged, with a kclassify.error header;
#   - decodable requests with empty, blank, oversized (> query.max.bytes),
#     non-UTF-8 and NUL-containing queries -> an ERROR reply naming the reason;
#     control-character and bidi queries -> answered, or an ERROR with a message;
#   - 1 MB records: a 1 MB query (ERROR reply) and 1 MB of garbage (DLT). The
#     producer here and the worker run with message.max.bytes=4194304 (the
#     librdkafka default, 1000000, would refuse them before they reach Kafka;
#     the worker needs it to copy the garbage to the DLT unchanged);
#   - prompt injection: the simulator's labels make it answer HACKED (a
#     category only its own taxonomy has) for the injected queries, so the
#     worker must refuse that answer and fall back; an injection asking for an
#     existing category may be obeyed. No request body may reach the simulator
#     unparsable (bad_requests = 0: quotes, fences and control bytes escaped).
#   Valid requests are interleaved, and each must be answered OK.
# Phases with a misbehaving LLM (a fresh simulator and worker each, all calls
# faulty): garbage content, ```json fences, a dropped result per call, invalid
# categories, bodies over llm.response.max.bytes=2048, and a slow drip of the
# body (--drip-ms) past llm.timeout.ms.
# Everywhere: no category outside the taxonomy in any reply, every request
# answered exactly once, every worker alive at the end of its phase and exiting
# 0 on SIGTERM (under the ASan build, also without leaks or UB).
source "$(dirname "$0")/lib.sh"

HOSTILE=("$PY" "$KC_SRC/tests/integration/hostile.py")
BIGMSG=4194304
COMMON=(-X sla.deadline.ms=30000 -X kafka.fetch.wait.max.ms=10)
REPLIES=0 # replies expected so far on kclassify.replies
DLTS=0    # records expected so far on the DLT
SENT=()

hostile()
{
    timeout -k 5 120 "${HOSTILE[@]}" "$@"
}

# account SENT_JSONL: add a phase's records to the expected totals.
account()
{
    local d r
    d=$(grep -c '"expect": "dlt"' "$1" || true)
    r=$(($(wc -l <"$1") - d))
    DLTS=$((DLTS + d))
    REPLIES=$((REPLIES + r))
    SENT+=(--sent "$1")
}

# wait_outcomes NAME: until the reply and DLT topics hold everything expected so far.
wait_outcomes()
{
    kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
        --expect "$REPLIES" --timeout 90 >"$T/replies.dump" ||
        fail "$1: fewer than $REPLIES replies on kclassify.replies"
    kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.requests.DLT --schema none \
        --expect "$DLTS" --timeout 30 >"$T/dlt.dump" ||
        fail "$1: fewer than $DLTS records on the DLT"
    log "$1: $REPLIES replies and $DLTS dead letters so far"
}

# llm_phase NAME WORKER_OPTS... -- SIM_OPTS...: a faulty simulator, a worker,
# requests of fresh queries; the phase's expectations are in hostile.py.
llm_phase()
{
    local name=$1 wopts=() sopts=()
    shift
    while [[ $# -gt 0 && $1 != -- ]]; do
        wopts+=("$1")
        shift
    done
    shift
    sopts=("$@")
    start_sim "sim-$name" --seed 17 "${sopts[@]}"
    local sim=$SIM_PID
    start_worker "w-$name" "${COMMON[@]}" "${wopts[@]}"
    wait_assigned "w-$name"
    local w=$WORKER_PID
    hostile gen "$name" --count "${COUNT:-12}" --out "$T/$name.spec" || fail "gen $name"
    kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests \
        --spec "$T/$name.spec" >"$T/sent-$name.jsonl" || fail "$name: producing failed"
    account "$T/sent-$name.jsonl"
    wait_outcomes "$name"
    sim_stats "$T/stats-$name.json"
    alive_or_fail "$w" "worker w-$name after the $name phase" "w-$name"
    stop_worker "w-$name" "$w"
    stop_pid "$sim" "sim-$name"
}

start_mock 4

# ------------------------------------------------------------------ input
hostile gen input --out "$T/input.spec" --labels-out "$T/labels.tsv" \
    --taxonomy-out "$T/sim-taxonomy.json" || fail "generating the input records failed"
start_sim sim --seed 5 --labels "$T/labels.tsv" --taxonomy "$T/sim-taxonomy.json"
start_worker w-input "${COMMON[@]}" -X "kafka.message.max.bytes=$BIGMSG"
wait_assigned w-input
W=$WORKER_PID

kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/input.spec" \
    >"$T/sent-input.jsonl" || fail "producing the hostile records failed"
account "$T/sent-input.jsonl"
hostile produce-big --bootstrap "$BOOTSTRAP" --out "$T/sent-big.jsonl" ||
    fail "producing the 1 MB records failed"
account "$T/sent-big.jsonl"
log "input: $(wc -l <"$T/sent-input.jsonl") records + two of 1 MB sent"
wait_outcomes input

# Still alive, and a plain request after all that is answered.
alive_or_fail "$W" "worker w-input after the hostile records" w-input
hostile gen final --out "$T/final.spec" || fail "gen final"
kctool produce-raw --bootstrap "$BOOTSTRAP" --topic kclassify.requests --spec "$T/final.spec" \
    >"$T/sent-final.jsonl" || fail "producing the final request failed"
account "$T/sent-final.jsonl"
wait_outcomes final

sim_stats "$T/stats-input.json"
kctool check-stats --stats "$T/stats-input.json" --eq bad_requests=0 --min enum_mismatch=1 ||
    fail "the simulator got unparsable requests, or never answered HACKED (injection not obeyed)"
stop_worker w-input "$W"
stop_pid "$SIM_PID" sim

# ------------------------------------------------------------------ misbehaving LLM
llm_phase garbage -- --garbage 1
kctool check-stats --stats "$T/stats-garbage.json" --min injected.garbage=1 || fail "no garbage"

llm_phase fenced -- --fenced 1
kctool check-stats --stats "$T/stats-fenced.json" --min injected.fenced=1 || fail "no fences"

llm_phase missing -- --missing 1
kctool check-stats --stats "$T/stats-missing.json" --min injected.missing=1 || fail "no drops"

llm_phase invalid -- --invalid-category 1
kctool check-stats --stats "$T/stats-invalid.json" --min injected.invalid_category=1 ||
    fail "no invalid categories"

# Bodies over llm.response.max.bytes: 30 distinct queries per call make a
# body of about 4 KB against a limit of 2 KB.
COUNT=30 llm_phase bigbody -X llm.response.max.bytes=2048 -X llm.batch.max=30 \
    -X batch.linger.ms=200 --
grep -q 'larger than 2048 bytes' "$T/w-bigbody.log" ||
    fail "bigbody: the worker never refused a response over llm.response.max.bytes=2048"

# A slow drip: the body arrives 32 bytes every 200 ms, far past llm.timeout.ms.
llm_phase drip -X llm.timeout.ms=1000 -- --drip-ms 200
grep -Eqi 'timeout|timed out' "$T/w-drip.log" ||
    fail "drip: no LLM call of the worker timed out on the dripping body"

# ------------------------------------------------------------------ verdict
hostile check "${SENT[@]}" --replies "$T/replies.dump" --dlt "$T/dlt.dump" --verbose ||
    fail "hostile input outcomes are wrong (see VIOLATION lines above)"
