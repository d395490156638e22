#!/usr/bin/env bash
# The LLM simulator on its own, over HTTP, as a client sees it: a labelled
# answer (and the fallback classifier for unlabelled queries), OpenAI-style
# 400/401 errors, 429 + Retry-After beyond --max-concurrency, ```json fences,
# shuffled and missing results, injected 500s, /stats counts and reset, and a
# clean exit 0 on SIGTERM. Then the token cost model: usage and the prefix
# cache, compact answers for a compact schema, max_tokens truncation, rpm/tpm
# rate limits with their headers, logprobs on/ignore/reject, latency growing
# with output tokens (api profile) and the decode knee. Timing assertions are
# ratios with wide margins: the machine may be small and shared.
# lib.sh stops every simulator on exit (trap).
source "$(dirname "$0")/lib.sh"

command -v jq >/dev/null || fail "jq is required"

# chat_body Q1 [Q2...]: a chat-completions request body, ids q0, q1, ...; the
# schema's items list the fields in $FIELDS (the full form unless set), the
# system prompt is $SYSTEM.
FIELDS=id,category,confidence,reasoning
SYSTEM=classify
chat_body()
{
    local queries
    queries=$(jq -cn '[$ARGS.positional | to_entries[] | {id: "q\(.key)", text: .value}]' \
        --args "$@")
    jq -cn --argjson q "$queries" --arg fields "$FIELDS" --arg sys "$SYSTEM" '
        ($fields | split(",")) as $f
        | {id: {type: "string"}, category: {type: "string",
              enum: ["KNOWLEDGE_GRAPH", "REAL_TIME", "GENERAL"]},
           confidence: {type: "number"}, reasoning: {type: "string"}}
        | with_entries(select(.key as $k | $f | index($k))) as $props
        | {model: "sim-test-model", temperature: 0,
           messages: [{role: "system", content: $sys},
                      {role: "user", content: ({queries: $q} | tojson)}],
           response_format: {type: "json_schema", json_schema: {name: "classifications",
               strict: true, schema: {type: "object", properties: {results: {type: "array",
                   items: {type: "object", properties: $props, required: $f,
                           additionalProperties: false}}}}}}}'
}

# with BODY JQ: BODY changed by a jq expression (e.g. '. + {max_tokens: 5}').
with()
{
    jq -c "$2" <<<"$1"
}

# timed BODY OUT: POST, prints "STATUS SECONDS".
timed()
{
    curl -s --max-time 60 -o "$2" -w '%{http_code} %{time_total}' \
        -H 'Content-Type: application/json' --data-binary "$1" "$SIM_URL/chat/completions"
}

# content FILE: the assistant message content of a saved response.
content()
{
    jq -r '.choices[0].message.content' "$1"
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

log "--invalid-one: exactly one result out of the taxonomy"
start_sim sim-one --seed 10 --invalid-one 1
expect_eq "$(post "$(chat_body 'a b' 'c d' 'e f' 'g h')" "$T/o.json")" 200 "status with --invalid-one 1"
expect_eq "$(content "$T/o.json" | jq '[.results[] | select(.category == "NOT_A_CATEGORY")] | length')" \
    1 "results with NOT_A_CATEGORY"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.injected.invalid_one == 1 and .injected.invalid_category == 1' "$T/stats.json" \
    >/dev/null || fail "invalid_one counts: $(jq -c .injected "$T/stats.json")"
stop_pid "$SIM_PID" sim-one

# ------------------------------------------------------------------ tokens
# check_tokens RESPONSE_FILE: completion pieces as documented: 4 bytes, never
# splitting a UTF-8 character; the logprobs (when present) have one entry per
# piece, whose tokens put together are the content.
check_tokens()
{
    "$PY" - "$1" <<'PYEOF' || fail "token accounting of $1: see above"
import json, sys
r = json.load(open(sys.argv[1]))
content = r["choices"][0]["message"]["content"].encode()
pieces, at = [], 0
while at < len(content):
    end = min(at + 4, len(content))
    while end < len(content) and content[end] & 0xC0 == 0x80:
        end += 1
    pieces.append(content[at:end])
    at = end
usage = r["usage"]
assert usage["completion_tokens"] == len(pieces), (usage, len(pieces))
lp = r["choices"][0].get("logprobs")
if lp:
    toks = lp["content"]
    assert len(toks) == len(pieces), (len(toks), len(pieces))
    for t, p in zip(toks, pieces):
        assert bytes(t["bytes"]) == p == t["token"].encode(), (t, p)
PYEOF
}

# prompt_tokens BODY: what the simulator should count for a request body.
prompt_tokens()
{
    jq '([.messages[] | (.content | utf8bytelength + 3) / 4 | floor | . + 4] | add)
        + ((.response_format | tojson | utf8bytelength) + 3) / 4 | floor' <<<"$1"
}

# prefix_tokens BODY: the system message and response_format.
prefix_tokens()
{
    jq '((.messages[0].content | utf8bytelength + 3) / 4 | floor) + 4
        + (((.response_format | tojson | utf8bytelength) + 3) / 4 | floor)' <<<"$1"
}

log "usage: prompt and completion tokens, cached_tokens on a repeated prefix"
start_sim sim-tok --seed 11
SYSTEM="You classify questions about clinical metabolomics into exactly one category each."
body=$(chat_body 'What is glycolysis?' 'Latest 2025 FDA approvals?' 'Ünïcode façade 日本')
# An id with multi-byte characters, so the content holds some: pieces must not split them.
body=$(with "$body" '.messages[1].content |= (fromjson | .queries[2].id = "q2-日本é" | tojson)')
expect_eq "$(post "$body" "$T/u1.json")" 200 "status of a token call"
expect_eq "$(jq .usage.prompt_tokens "$T/u1.json")" "$(prompt_tokens "$body")" "prompt_tokens"
expect_eq "$(jq .usage.prompt_tokens_details.cached_tokens "$T/u1.json")" 0 \
    "cached_tokens of a first prefix"
check_tokens "$T/u1.json"
expect_eq "$(post "$(with "$body" '.messages[1].content |= sub("glycolysis"; "the TCA cycle")')" \
    "$T/u2.json")" 200 "status of a repeated prefix"
expect_eq "$(jq .usage.prompt_tokens_details.cached_tokens "$T/u2.json")" \
    "$(prefix_tokens "$body")" "cached_tokens of a repeated prefix"
jq -e '.usage.prompt_tokens_details.cached_tokens < .usage.prompt_tokens' "$T/u2.json" \
    >/dev/null || fail "cached tokens must be a part of the prompt"
SYSTEM="A different system prompt."
expect_eq "$(post "$(chat_body 'What is glycolysis?')" "$T/u3.json")" 200 "status"
expect_eq "$(jq .usage.prompt_tokens_details.cached_tokens "$T/u3.json")" 0 \
    "cached_tokens of another prefix"
SYSTEM=classify
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
expect_eq "$(jq .cached_tokens "$T/stats.json")" "$(prefix_tokens "$body")" "/stats cached_tokens"
jq -e '.profile == "fixed" and .cost.model == "fixed" and .rate_limits == null' \
    "$T/stats.json" >/dev/null || fail "fixed profile in /stats: $(jq -c '{profile, cost}' "$T/stats.json")"

log "a compact schema gets compact answers; no schema gets the full form"
FIELDS=id,category
expect_eq "$(post "$(chat_body 'What is glycolysis?' 'hello')" "$T/k1.json")" 200 "status"
expect_eq "$(content "$T/k1.json" | jq -c '[.results[] | keys_unsorted] | unique')" \
    '[["id","category"]]' "fields of a compact answer"
FIELDS=id,category,confidence
expect_eq "$(post "$(chat_body 'What is glycolysis?' 'hello')" "$T/k2.json")" 200 "status"
expect_eq "$(content "$T/k2.json" | jq -c '[.results[] | keys_unsorted] | unique')" \
    '[["id","category","confidence"]]' "fields with confidence asked for"
FIELDS=id,category,confidence,reasoning
expect_eq "$(post "$(with "$(chat_body 'What is glycolysis?' 'hello')" 'del(.response_format)')" \
    "$T/k3.json")" 200 "status"
expect_eq "$(content "$T/k3.json" | jq -c '[.results[] | keys_unsorted] | unique')" \
    '[["id","category","confidence","reasoning"]]' "fields without a schema"
[[ $(jq .usage.completion_tokens "$T/k1.json") -lt $(jq .usage.completion_tokens "$T/k2.json") &&
    $(jq .usage.completion_tokens "$T/k2.json") -lt $(jq .usage.completion_tokens "$T/k3.json") ]] ||
    fail "completion tokens must grow with the fields asked for"

log "max_tokens cuts the answer: finish_reason length"
full=$(chat_body 'What is glycolysis?' 'Latest 2025 FDA approvals?' 'hello')
expect_eq "$(post "$full" "$T/m0.json")" 200 "status"
expect_eq "$(jq -r '.choices[0].finish_reason' "$T/m0.json")" stop "finish_reason of a full answer"
expect_eq "$(post "$(with "$full" '. + {max_tokens: 5}')" "$T/m1.json")" 200 "status"
expect_eq "$(jq -r '.choices[0].finish_reason' "$T/m1.json")" length "finish_reason when cut"
expect_eq "$(jq .usage.completion_tokens "$T/m1.json")" 5 "completion_tokens when cut"
expect_eq "$(content "$T/m1.json")" "$(content "$T/m0.json" | head -c 20)" \
    "a cut answer is the first 5 pieces of the full one"
expect_eq "$(post "$(with "$full" '. + {max_completion_tokens: 7}')" "$T/m2.json")" 200 "status"
expect_eq "$(jq .usage.completion_tokens "$T/m2.json")" 7 "max_completion_tokens"
expect_eq "$(post "$(with "$full" '. + {max_tokens: 100000}')" "$T/m3.json")" 200 "status"
expect_eq "$(jq -r '.choices[0].finish_reason' "$T/m3.json")" stop "a max_tokens never reached"
expect_eq "$(post "$(with "$full" '. + {max_tokens: 0}')" "$T/m4.json")" 400 "max_tokens 0"
expect_eq "$(jq -r .error.param "$T/m4.json")" max_tokens "400 param"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
expect_eq "$(jq .truncated "$T/stats.json")" 2 "/stats truncated"

# ---------------------------------------------------------------- logprobs
log "logprobs: one entry per piece, ln(confidence) on each category's deciding piece"
lp_body=$(with "$full" '. + {logprobs: true, top_logprobs: 3}')
expect_eq "$(post "$lp_body" "$T/l1.json")" 200 "status with logprobs"
check_tokens "$T/l1.json"
"$PY" - "$T/l1.json" <<'PYEOF' || fail "logprob values"
import json, math, sys
r = json.load(open(sys.argv[1]))
content = r["choices"][0]["message"]["content"].encode()
entries = r["choices"][0]["logprobs"]["content"]
results = json.loads(content)["results"]
starts, at = [], 0
for e in entries:
    starts.append(at)
    at += len(e["bytes"])
# first byte of each category value
firsts, pos = [], 0
while True:
    pos = content.find(b'"category":"', pos)
    if pos < 0:
        break
    pos += len(b'"category":"')
    firsts.append(pos)
assert len(firsts) == len(results) == 3
deciding = set()
for res, first in zip(results, firsts):
    i = max(k for k, s in enumerate(starts) if s <= first)
    deciding.add(i)
    e = entries[i]
    assert abs(e["logprob"] - math.log(res["confidence"])) < 1e-9, (e, res)
    top = e["top_logprobs"]
    assert len(top) == 3 and top[0]["token"] == e["token"], top
    alts = [t["token"] for t in top[1:]]
    off = first - starts[i]
    prefix = e["token"].encode()[:off]
    assert all(a.encode().startswith(prefix) for a in alts), (alts, prefix)
    rest = sum(math.exp(t["logprob"]) for t in top[1:])
    assert abs(rest - (1 - res["confidence"])) < 1e-6, (rest, res)
for k, e in enumerate(entries):
    if k not in deciding:
        assert -0.001 <= e["logprob"] <= 0, e
        assert len(e["top_logprobs"]) == 2 and e["top_logprobs"][1]["logprob"] == -12, e
PYEOF
expect_eq "$(content "$T/l1.json")" "$(content "$T/m0.json")" "content with and without logprobs"
expect_eq "$(post "$(with "$full" '. + {logprobs: true}')" "$T/l2.json")" 200 "status"
jq -e '[.choices[0].logprobs.content[].top_logprobs | length == 0] | all' "$T/l2.json" \
    >/dev/null || fail "no top_logprobs asked: empty lists"
jq -e '.choices[0].logprobs == null' "$T/m0.json" >/dev/null || fail "logprobs null when not asked"
expect_eq "$(post "$(with "$full" '. + {logprobs: true, top_logprobs: 21}')" "$T/l3.json")" 400 \
    "top_logprobs 21"
stop_pid "$SIM_PID" sim-tok

log "--logprobs ignore: accepted, none returned; --logprobs reject: 400"
start_sim sim-lpi --seed 11 --logprobs ignore
expect_eq "$(post "$lp_body" "$T/l4.json")" 200 "status with logprobs ignored"
jq -e '.choices[0].logprobs == null' "$T/l4.json" >/dev/null || fail "ignored logprobs returned"
expect_eq "$(content "$T/l4.json")" "$(content "$T/m0.json")" "content with logprobs ignored"
stop_pid "$SIM_PID" sim-lpi
start_sim sim-lpr --seed 11 --logprobs reject
expect_eq "$(post "$lp_body" "$T/l5.json")" 400 "status with logprobs rejected"
expect_eq "$(jq -c .error "$T/l5.json")" \
    '{"message":"logprobs is not supported for this model","type":"invalid_request_error","param":"logprobs","code":"unsupported_parameter"}' \
    "logprobs rejection"
expect_eq "$(post "$full" "$T/l6.json")" 200 "the same call without logprobs"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.logprobs == {"requests": 1, "answered": 0, "ignored": 0, "rejected": 1} and
       .bad_requests == 1 and .cost.logprobs == "reject"' "$T/stats.json" >/dev/null ||
    fail "logprobs counts: $(jq -c '{logprobs, bad_requests}' "$T/stats.json")"
stop_pid "$SIM_PID" sim-lpr

# ------------------------------------------------------------- rate limits
RESET_RE='^([0-9]+ms|[0-9]+(\.[0-9]+)?s|[0-9]+m[0-9]+(\.[0-9]+)?s)$'

# header FILE NAME: a response header's value ('' when absent).
header()
{
    grep -i "^$2:" "$1" | head -n 1 | cut -d: -f2- | tr -d ' \r'
}

log "--rpm 3 with --max-concurrency 1: a concurrency 429, then a rate-limit 429"
start_sim sim-rpm --seed 12 --rpm 3 --max-concurrency 1 --latency-ms 800 --jitter 0
for i in 1 2; do
    curl -s --max-time 20 -o "$T/r$i.json" -D "$T/r$i.hdr" -w '%{http_code}' \
        --data-binary "$(chat_body hello)" "$SIM_URL/chat/completions" >"$T/r$i.code" &
    pids[i]=$!
done
wait "${pids[1]}" "${pids[2]}" || true
expect_eq "$(sort "$T"/r[12].code | tr '\n' ' ')" "200 429 " "two calls against --max-concurrency 1"
for i in 1 2; do
    expect_eq "$(header "$T/r$i.hdr" x-ratelimit-limit-requests)" 3 "limit-requests header ($i)"
    [[ -z "$(header "$T/r$i.hdr" x-ratelimit-limit-tokens)" ]] ||
        fail "tokens headers without --tpm"
    [[ "$(header "$T/r$i.hdr" x-ratelimit-reset-requests)" =~ $RESET_RE ]] ||
        fail "reset-requests header: '$(header "$T/r$i.hdr" x-ratelimit-reset-requests)'"
done
expect_eq "$(post "$(chat_body hello)" "$T/r3.json" -D "$T/r3.hdr")" 200 "third call, within 3 rpm"
expect_eq "$(header "$T/r3.hdr" x-ratelimit-remaining-requests)" 0 "remaining after 3 calls"
expect_eq "$(post "$(chat_body hello)" "$T/r4.json" -D "$T/r4.hdr")" 429 "fourth call"
expect_eq "$(jq -r .error.type "$T/r4.json")" requests "rate-limit 429 type"
expect_eq "$(jq -r .error.code "$T/r4.json")" rate_limit_exceeded "rate-limit 429 code"
jq -e '.error.message | startswith("Rate limit reached for requests")' "$T/r4.json" >/dev/null ||
    fail "rate-limit 429 message: $(jq -r .error.message "$T/r4.json")"
retry=$(header "$T/r4.hdr" Retry-After)
[[ "$retry" =~ ^[0-9]+$ && $retry -ge 1 && $retry -le 20 ]] ||
    fail "Retry-After of an empty 3 rpm bucket should be ~20 s: '$retry'"
# An empty bucket of 3 refills in about a minute: "5x.ys" or "1m0s".
[[ "$(header "$T/r4.hdr" x-ratelimit-reset-requests)" =~ ^(5[0-9](\.[0-9]+)?s|1m0s)$ ]] ||
    fail "reset of an empty bucket: '$(header "$T/r4.hdr" x-ratelimit-reset-requests)'"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.rejected_429 == 2 and .rejected_429_by_kind.concurrency == 1 and
       .rejected_429_by_kind.rate_limit_requests == 1 and .rejected_429_by_kind.injected == 0 and
       .rate_limits.requests.limit == 3' "$T/stats.json" >/dev/null ||
    fail "429 kinds: $(jq -c '{rejected_429, rejected_429_by_kind, rate_limits}' "$T/stats.json")"
stop_pid "$SIM_PID" sim-rpm

log "--tpm 2000: a call larger than the budget is refused, a small one is charged what it used"
start_sim sim-tpm --seed 13 --tpm 2000
expect_eq "$(post "$(with "$full" '. + {max_tokens: 1990}')" "$T/t1.json" -D "$T/t1.hdr")" 429 \
    "prompt + max_tokens above the tpm"
expect_eq "$(jq -r .error.type "$T/t1.json")" tokens "tokens 429 type"
jq -e '.error.message | startswith("Rate limit reached for tokens")' "$T/t1.json" >/dev/null ||
    fail "tokens 429 message: $(jq -r .error.message "$T/t1.json")"
[[ -n "$(header "$T/t1.hdr" Retry-After)" && -z "$(header "$T/t1.hdr" x-ratelimit-limit-requests)" ]] ||
    fail "a tokens 429: Retry-After, and no requests headers without --rpm"
expect_eq "$(post "$full" "$T/t2.json" -D "$T/t2.hdr")" 200 "a small call"
used=$(jq '.usage.total_tokens' "$T/t2.json")
left=$(header "$T/t2.hdr" x-ratelimit-remaining-tokens)
# Settled to the tokens used (not the 40-per-query estimate); refills ~33/s meanwhile.
[[ $left -ge $((2000 - used)) && $left -le $((2000 - used + 40)) ]] ||
    fail "remaining tokens $left after a call of $used tokens"
[[ "$(header "$T/t2.hdr" x-ratelimit-reset-tokens)" =~ $RESET_RE ]] ||
    fail "reset-tokens header: '$(header "$T/t2.hdr" x-ratelimit-reset-tokens)'"
stop_pid "$SIM_PID" sim-tpm

# ----------------------------------------------------------------- timing
log "api profile: 20 queries take measurably longer than 1 (output tokens are decoded)"
# The profile's limits stay on; --jitter 0 given explicitly overrides it (before or after).
start_sim sim-api --jitter 0 --profile api --seed 14
FIELDS=id,category
qs20=()
for i in $(seq 1 20); do qs20+=("question number $i about metabolite panels"); done
read -r c1 t1 <<<"$(timed "$(chat_body 'question one')" "$T/a1.json")"
read -r c20 t20 <<<"$(timed "$(chat_body "${qs20[@]}")" "$T/a20.json")"
expect_eq "$c1 $c20" "200 200" "status of the api calls"
log "1 query: $t1 s ($(jq .usage.completion_tokens "$T/a1.json") tokens); 20 queries: $t20 s ($(jq .usage.completion_tokens "$T/a20.json") tokens)"
awk -v a="$t1" -v b="$t20" 'BEGIN { exit !(a >= 0.3 && b > a + 1.0 && b > 2 * a) }' ||
    fail "20-query call ($t20 s) not measurably slower than a 1-query call ($t1 s)"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.profile == "api" and .cost.model == "tokens" and .cost.ttft_ms == 300 and
       .cost.jitter == 0 and .cost.decode_ms_per_token == 12 and .cost.knee == 32 and
       .cost.rpm == 10000 and .rate_limits.tokens.limit == 10000000' "$T/stats.json" \
    >/dev/null || fail "api profile in /stats: $(jq -c '{profile, cost, rate_limits}' "$T/stats.json")"
stop_pid "$SIM_PID" sim-api

log "knee 2: 8 calls decoding at once are slower than one alone"
start_sim sim-knee --profile gpu --knee 2 --ttft-ms 10 --decode-ms-per-token 10 --jitter 0 \
    --seed 15
kb=$(chat_body 'a b' 'c d' 'e f' 'g h' 'i j')
read -r c alone <<<"$(timed "$kb" "$T/n0.json")"
expect_eq "$c" 200 "status of the lone call"
for i in $(seq 1 8); do
    { timed "$kb" "$T/n$i.json"; echo; } >"$T/n$i.time" &
    pids[i]=$!
done
wait "${pids[@]:1:8}" || true
crowd=$(cat "$T"/n[1-8].time | awk '$1 == 200 { s += $2; n++ } END { if (n == 8) print s / n }')
[[ -n "$crowd" ]] || fail "8 parallel calls did not all succeed: $(cat "$T"/n[1-8].time)"
log "alone $alone s, 8 at once $crowd s on average"
awk -v a="$alone" -v b="$crowd" 'BEGIN { exit !(b > 2 * a) }' ||
    fail "8 decoding calls with knee 2 ($crowd s) not slower than one alone ($alone s)"
curl -s --max-time 5 -o "$T/stats.json" "$SIM_BASE/stats" || fail "GET /stats"
jq -e '.max_decoding_seen >= 4 and .decode_slowdown_mean > 1.5 and .decoding == 0' \
    "$T/stats.json" >/dev/null ||
    fail "decode counters: $(jq -c '{max_decoding_seen, decode_slowdown_mean, decoding}' "$T/stats.json")"
stop_pid "$SIM_PID" sim-knee
expect_eq "$STOP_RC" 0 "exit status after SIGTERM"
