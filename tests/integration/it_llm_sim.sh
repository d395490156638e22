#!/usr/bin/env bash
# The LLM simulator on its own, over HTTP, as a client sees it: a labelled
# answer (and the fallback classifier for unlabelled queries), OpenAI-style
# 400/401 errors, 429 + Retry-After beyond --max-concurrency, ```json fences,
# shuffled and missing results, injected 500s, /stats counts and reset, and a
# clean exit 0 on SIGTERM. lib.sh stops every simulator on exit (trap).
source "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || fail "jq is required"

# chat_body Q1 [Q2...]: a chat-completions request body, ids q0, q1, ...
chat_body()
{
    local queries
    queries=$(jq -cn '[$ARGS.positional | to_entries[] | {id: "q\(.key)", text: .value}]' \
        --args "$@")
    jq -cn --argjson q "$queries" '{model: "sim-test-model", temperature: 0,
        messages: [{role: "system", content: "classify"},
                   {role: "user", content: ({queries: $q} | tojson)}],
        response_format: {type: "json_schema", json_schema: {name: "classifications",
            schema: {type: "object", properties: {results: {type: "array", items: {
                type: "object", properties: {id: {type: "string"}, category: {type: "string",
                    enum: ["KNOWLEDGE_GRAPH", "REAL_TIME", "GENERAL"]}}}}}}}}}'
}

# post BODY OUT [CURL ARGS...]: POST to the simulator; prints the HTTP status.
post()
{
    local body=$1 out=$2
    shift 2
    curl -s --max-time 20 -o "$out" -w '%{http_code}' -H 'Content-Type: application/json' \
        "$@" --data-binary "$body" "$SIM_URL/chat/completions"
}

# stat FILE PATH: one field of a saved /stats JSON.
stat()
{
    jq -r "$2" "$1"
}

expect_eq()
{
    [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
}

# ------------------------------------------------------------ labels, errors
printf '# test labels\nREAL_TIME\tHello\nKNOWLEDGE_GRAPH\tWhat is new   today\n' >"$T/labels.tsv"
start_sim sim --labels "$T/labels.tsv" --seed 1 --api-key test-key \
    --latency-ms 1500 --jitter 0 --max-concurrency 2
AUTH=(-H 'Authorization: Bearer test-key')
grep -q '^LLM_SIM_PORT=[0-9]' "$T/sim.log" || fail "no LLM_SIM_PORT= line on stdout"
[[ "$(curl -s --max-time 5 "$SIM_BASE/health")" == '{"status":"ok"}' ]] || fail "/health"

log "a labelled answer, spelled differently from the label, and an unlabelled one"
code=$(post "$(chat_body '  HELLO? ' 'hello' 'zzz qqq')" "$T/a.json" "${AUTH[@]}")
expect_eq "$code" 200 "status of a good call"
expect_eq "$(jq -r .object "$T/a.json")" chat.completion "object"
expect_eq "$(jq -r .model "$T/a.json")" sim-test-model "model echoed"
jq -e '.id | startswith("chatcmpl-sim-")' "$T/a.json" >/dev/null || fail "completion id"
jq -e '.usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens and
       .usage.prompt_tokens > 0' "$T/a.json" >/dev/null || fail "usage token counts"
jq -r '.choices[0].message.content' "$T/a.json" >"$T/a.content"
jq -e . "$T/a.content" >/dev/null || fail "content is not JSON: $(cat "$T/a.content")"
expect_eq "$(jq -r '[.results[].id] | join(",")' "$T/a.content")" q0,q1,q2 "result ids"
expect_eq "$(jq -r '.results[0].category' "$T/a.content")" REAL_TIME "labelled category"
expect_eq "$(jq -r '.results[1].category' "$T/a.content")" REAL_TIME "labelled category"
# 'zzz qqq' matches no cue: the default taxonomy's default category.
expect_eq "$(jq -r '.results[2].category' "$T/a.content")" GENERAL "fallback category"
jq -e '[.results[].confidence | . >= 0.7 and . <= 1] | all' "$T/a.content" >/dev/null ||
    fail "confidences must look like an LLM's (>= 0.7)"

log "401 without the key, 400 for bad bodies, 404 for unknown paths"
expect_eq "$(post "$(chat_body hello)" "$T/e.json")" 401 "no API key"
expect_eq "$(jq -r .error.code "$T/e.json")" invalid_api_key "401 error code"
expect_eq "$(post 'not json' "$T/e.json" "${AUTH[@]}")" 400 "body not JSON"
expect_eq "$(jq -r .error.type "$T/e.json")" invalid_request_error "400 error type"
expect_eq "$(post '{"model":"m"}' "$T/e.json" "${AUTH[@]}")" 400 "no messages"
expect_eq "$(post '{"messages":[{"role":"user","content":"hi"}]}' "$T/e.json" "${AUTH[@]}")" \
    400 "user content not the queries JSON"
expect_eq "$(curl -s -o /dev/null -w '%{http_code}' "$SIM_BASE/nope")" 404 "unknown path"

log "4 calls at once against --max-concurrency 2: two 200s, two 429s"
pids=()
for i in 1 2 3 4; do
    curl -s --max-time 20 -o "$T/c$i.json" -D "$T/c$i.hdr" -w '%{http_code}' "${AUTH[@]}" \
        --data-binary "$(chat_body hello)" "$SIM_URL/chat/completions" >"$T/c$i.code" &
    pids+=($!)
done
wait "${pids[@]}" || true
codes=$(sort "$T"/c?.code | tr '\n' ' ')
[[ "$codes" == "200 200 429 429 " ]] ||
    fail "status codes of 4 concurrent calls: got '$codes' (a slow machine can miss the window)"
for i in 1 2 3 4; do
    if [[ "$(cat "$T/c$i.code")" == 429 ]]; then
        grep -qi '^Retry-After: 1' "$T/c$i.hdr" || fail "429 without Retry-After"
        expect_eq "$(jq -r .error.code "$T/c$i.json")" rate_limit_exceeded "429 error code"
    fi
done

log "/stats counts what happened"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats?queries=1" || fail "GET /stats"
# calls: 1 good + 1 unauthorized + 3 bad + 4 concurrent; the 404 is not a call.
expect_eq "$(stat "$T/stats.json" .calls)" 9 "calls"
expect_eq "$(stat "$T/stats.json" .ok_calls)" 3 "ok_calls"
expect_eq "$(stat "$T/stats.json" .queries)" 5 "queries (3 + 1 + 1)"
expect_eq "$(stat "$T/stats.json" .distinct_queries)" 2 "distinct_queries (hello, zzz qqq)"
# 'hello' twice in one call counts once for that call.
expect_eq "$(stat "$T/stats.json" .max_query_repeats)" 3 "max_query_repeats"
expect_eq "$(stat "$T/stats.json" '.per_query.hello')" 3 "per_query.hello"
expect_eq "$(stat "$T/stats.json" '.per_query["zzz qqq"]')" 1 "per_query[zzz qqq]"
expect_eq "$(stat "$T/stats.json" .rejected_429)" 2 "rejected_429"
expect_eq "$(stat "$T/stats.json" .bad_requests)" 3 "bad_requests"
expect_eq "$(stat "$T/stats.json" .unauthorized)" 1 "unauthorized"
expect_eq "$(stat "$T/stats.json" .max_inflight_seen)" 2 "max_inflight_seen"
expect_eq "$(stat "$T/stats.json" .inflight)" 0 "inflight"
expect_eq "$(stat "$T/stats.json" .labels)" 2 "labels loaded"
expect_eq "$(stat "$T/stats.json" .enum_mismatch)" 0 "answers outside the request's enum"
jq -e '.prompt_tokens > 0 and .completion_tokens > 0' "$T/stats.json" >/dev/null ||
    fail "token totals"
jq -e 'has("per_query") | not' <(curl -s --max-time 5 "$SIM_BASE/stats") >/dev/null ||
    fail "per_query must only come with ?queries=1"

curl -s --max-time 5 -X POST -o /dev/null "$SIM_BASE/stats/reset" || fail "POST /stats/reset"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.calls == 0 and .ok_calls == 0 and .queries == 0 and .distinct_queries == 0 and
       .rejected_429 == 0 and .max_query_repeats == 0' "$T/stats.json" >/dev/null ||
    fail "/stats/reset left counters: $(cat "$T/stats.json")"

stop_pid "$SIM_PID" sim
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"

# ------------------------------------------------------------- content faults
log "fenced, shuffled, one result missing"
start_sim sim-faults --seed 7 --fenced 1 --shuffle 1 --missing 1
code=$(post "$(chat_body 'a b' 'c d' 'e f' 'g h' 'i j')" "$T/f.json")
expect_eq "$code" 200 "status of a faulty-content call"
jq -r '.choices[0].message.content' "$T/f.json" >"$T/f.content"
[[ "$(head -n 1 "$T/f.content")" == '```json' && "$(tail -n 1 "$T/f.content")" == '```' ]] ||
    fail "content not wrapped in \`\`\`json fences: $(cat "$T/f.content")"
sed '1d;$d' "$T/f.content" >"$T/f.inner"
jq -e '.results | length == 4' "$T/f.inner" >/dev/null || fail "expected one result dropped"
jq -e '[.results[].id] | unique | length == 4 and all(test("^q[0-4]$"))' "$T/f.inner" \
    >/dev/null || fail "result ids are not distinct ids of the call"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.injected.fenced == 1 and .injected.shuffled == 1 and .injected.missing == 1 and
       .ok_calls == 1' "$T/stats.json" >/dev/null || fail "injected counts: $(cat "$T/stats.json")"
stop_pid "$SIM_PID" sim-faults
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"

log "garbage content and injected 500s"
start_sim sim-garbage --seed 8 --garbage 1
expect_eq "$(post "$(chat_body hello)" "$T/g.json")" 200 "status of a garbage call"
jq -r '.choices[0].message.content' "$T/g.json" | jq -e . >/dev/null 2>&1 &&
    fail "--garbage 1 content parsed as JSON"
stop_pid "$SIM_PID" sim-garbage
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"

start_sim sim-500 --seed 9 --fail-500 1
expect_eq "$(post "$(chat_body hello)" "$T/s.json")" 500 "status with --fail-500 1"
expect_eq "$(jq -r .error.type "$T/s.json")" server_error "500 error type"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.errors_500 == 1 and .ok_calls == 0 and .queries == 0' "$T/stats.json" >/dev/null ||
    fail "500 counts: $(cat "$T/stats.json")"
stop_pid "$SIM_PID" sim-500
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"
