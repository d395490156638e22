#!/usr/bin/env bash
# The client library against the real stack (mock cluster + LLM simulator +
# worker): examples/c_service.c classifies queries with the blocking
# kc_client_classify() on 4 threads sharing one client, then the same queries
# with kc_client_classify_async(); every result must come back with a taxonomy
# category. Then, with the worker stopped, kc_client_classify() must return
# KC_ERR_TIMEOUT after its timeout (not hang, not invent a result).
source "$(dirname "$0")/lib.sh"

[[ -x "$KC_BIN/c_service" ]] || fail "$KC_BIN/c_service is not built"

start_mock 4
start_sim sim --seed 7 --latency-ms 30
start_worker w1 -X sla.deadline.ms=30000
wait_assigned w1
W1=$WORKER_PID

QUERIES=(
    "Which enzymes convert tryptophan to kynurenine?"
    "Latest clinical trials of metabolomics-guided therapy in sepsis"
    "How should urine samples be stored before NMR analysis?"
    "is TMAO associated with cardiovascular risk"
    "IS TMAO ASSOCIATED WITH   CARDIOVASCULAR RISK?"
    "Qu'est-ce que la métabolomique ? Überblick, 代谢组学"
    "What is a metabolite?"
    "Recent 2025 approvals of newborn screening panels"
)
N=${#QUERIES[@]}

log "c_service: $N queries sync on 4 threads, then async"
rc=0
timeout -k 5 90 "$KC_BIN/c_service" -b "$BOOTSTRAP" -X kafka.fetch.wait.max.ms=10 \
    --threads 4 --timeout-ms 30000 "${QUERIES[@]}" >"$T/service.out" 2>"$T/service.log" || rc=$?
cat "$T/service.out" >&2
[[ $rc -eq 0 ]] || fail "c_service exited with status $rc"
grep -q "^$((2 * N)) of $((2 * N)) requests answered ($N sync on 4 threads, $N async), $((2 * N)) sent, 0 timed out$" \
    "$T/service.out" || fail "c_service did not report $((2 * N)) of $((2 * N)) answered"
[[ $(grep -Ec '^sync +(KNOWLEDGE_GRAPH|REAL_TIME|GENERAL) +OK ' "$T/service.out") -eq $N ]] ||
    fail "not $N sync rows with a taxonomy category and status OK"
[[ $(grep -Ec '^async +(KNOWLEDGE_GRAPH|REAL_TIME|GENERAL) +OK +L1 ' "$T/service.out") -eq $N ]] ||
    fail "not $N async rows answered from L1 (the sync round cached every query)"
# The same query in two spellings must get the same category (one cache key).
cats=$(grep -i 'tmao associated' "$T/service.out" | awk '{print $2}' | sort -u | wc -l)
[[ $cats -eq 1 ]] || fail "the two spellings of the TMAO query got different categories"

# Every reply went to the client's one reply consumer: the worker answered
# exactly 2N requests and the reply topic holds 2N records.
kctool dump --bootstrap "$BOOTSTRAP" --topic kclassify.replies --schema result \
    --expect $((2 * N)) --timeout 30 >"$T/replies.dump" || fail "dumping the reply topic failed"
[[ $(wc -l <"$T/replies.dump") -eq $((2 * N)) ]] ||
    fail "reply topic holds $(wc -l <"$T/replies.dump") records, expected $((2 * N))"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"

log "no worker: kc_client_classify() must time out"
rc=0
start_ms=$(now_ms)
timeout -k 5 60 "$KC_BIN/c_service" -b "$BOOTSTRAP" -X kafka.fetch.wait.max.ms=10 \
    --threads 1 --timeout-ms 1500 "nobody answers this" >"$T/timeout.out" 2>>"$T/service.log" ||
    rc=$?
elapsed=$(($(now_ms) - start_ms))
cat "$T/timeout.out" >&2
[[ $rc -eq 1 ]] || fail "c_service without a worker exited with $rc, expected 1"
[[ $(grep -c 'FAILED.*no reply within the timeout' "$T/timeout.out") -eq 2 ]] ||
    fail "expected a sync and an async timeout row"
grep -q "^0 of 2 requests answered.*, 2 timed out$" "$T/timeout.out" ||
    fail "the client did not count 2 timeouts"
# two timeouts of 1.5 s one after the other, plus connecting: well under 20 s
((elapsed >= 3000 && elapsed < 20000)) || fail "timeouts took ${elapsed} ms (expected 3 s .. 20 s)"
log "timeouts honoured in ${elapsed} ms"
