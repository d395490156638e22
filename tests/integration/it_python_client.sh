#!/usr/bin/env bash
# A foreign client: examples/python_client.py, written only with Debian's
# python3-confluent-kafka and python3-avro and the schemas/*.avsc files,
# sends requests with keys of its own choosing and matches the replies by
# their kafka_correlationId header. It asserts every result itself; this test
# also checks its table. Proves the wire format is what other languages see.
source "$(dirname "$0")/lib.sh"

start_mock 4
start_sim sim --seed 5
start_worker w1 -X sla.deadline.ms=30000 # a loaded CI machine must not turn answers DEGRADED
wait_assigned w1
W1=$WORKER_PID

rc=0
timeout -k 5 90 "$PY" "$KC_SRC/examples/python_client.py" -b "$BOOTSTRAP" --timeout 30 \
    "Which enzymes convert tryptophan to kynurenine?" \
    "Latest clinical trials of metabolomics-guided therapy in sepsis" \
    "How should urine samples be stored before NMR analysis?" \
    "is TMAO associated with cardiovascular risk" \
    "IS TMAO ASSOCIATED WITH   CARDIOVASCULAR RISK?" \
    "Qu'est-ce que la métabolomique ? Überblick, 代谢组学" \
    >"$T/client.out" 2>"$T/client.log" || rc=$?
cat "$T/client.out" >&2
[[ $rc -eq 0 ]] || fail "examples/python_client.py exited with status $rc"
grep -q "^6 of 6 requests answered, 0 problem(s)$" "$T/client.out" ||
    fail "the Python client did not report 6 of 6 answered without problems"
[[ $(grep -Ec '  (KNOWLEDGE_GRAPH|REAL_TIME|GENERAL) +OK ' "$T/client.out") -eq 6 ]] ||
    fail "the table does not show 6 OK rows with a taxonomy category"

# The default example queries too (the script's no-argument path).
timeout -k 5 90 "$PY" "$KC_SRC/examples/python_client.py" -b "$BOOTSTRAP" --timeout 30 \
    >"$T/client2.out" 2>>"$T/client.log" || fail "python_client.py with its default queries failed"
grep -q "^5 of 5 requests answered, 0 problem(s)$" "$T/client2.out" ||
    fail "the default run did not answer 5 of 5"

alive_or_fail "$W1" "worker w1" w1
stop_worker w1 "$W1"
