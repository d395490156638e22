#!/usr/bin/env bash
# kclassify-cache on a real LMDB directory: import a JSONL file into a fresh
# cache (directory 0700, files 0600), get a query keyed exactly as the worker
# keys it, stats, an export that equals the import, line-numbered import
# errors, purge --expired removing only the expired record, and purge of all.
# Usage errors exit 64, not-found exits 1.
source "$(dirname "$0")/lib.sh"

CACHE="$KC_BIN/kclassify-cache"
C="$T/cache"
NOW_US=$(($(date +%s) * 1000000))
HOUR=3600000000

# The worker's key for a query (default taxonomy, model gpt-4o-mini).
key_of()
{
    "$CACHE" key "$1" | cut -d' ' -f1
}

K1=$(key_of "What is LC-MS?")
K2=$(key_of "latest metabolomics news")
K3=$(key_of "Café métabolique")
K4=$(key_of "an old question")
[[ ${#K1} -eq 32 && "$K1" != "$K2" ]] || fail "key gave '$K1' / '$K2'"
[[ "$(key_of "  what   is lc-ms ")" == "$K1" ]] || fail "key does not normalize the query"
[[ "$("$CACHE" -m other-model key "What is LC-MS?" | cut -d' ' -f1)" != "$K1" ]] ||
    fail "the model is not part of the key"

# Canonical export format, so the export can be compared byte for byte.
cat >"$T/in.jsonl" <<JSONL
{"key":"$K1","norm":"what is lc-ms","category":"KNOWLEDGE_GRAPH","confidence":0.87,"reasoning":"asks for a definition","model":"gpt-4o-mini","created_at":$NOW_US,"expires_at":$((NOW_US + HOUR))}
{"key":"$K2","norm":"latest metabolomics news","category":"REAL_TIME","confidence":0.9,"reasoning":null,"model":null,"created_at":$((NOW_US - 5)),"expires_at":$((NOW_US + HOUR))}
{"key":"$K3","norm":"café métabolique","category":"GENERAL","confidence":0.33333334,"reasoning":"","model":"gpt-4o-mini","created_at":$((NOW_US - 7)),"expires_at":$((NOW_US + HOUR))}
{"key":"$K4","norm":"an old question","category":"GENERAL","confidence":1.0,"reasoning":"stale","model":"gpt-4o-mini","created_at":$((NOW_US - 2 * HOUR)),"expires_at":$((NOW_US - HOUR))}
JSONL

log "import into a fresh directory"
"$CACHE" -p "$C" import <"$T/in.jsonl" 2>"$T/import.err" || fail "import failed: $(cat "$T/import.err")"
grep -q "imported 4 entries" "$T/import.err" || fail "import summary: $(cat "$T/import.err")"
[[ "$(stat -c %a "$C")" == 700 ]] || fail "cache dir mode $(stat -c %a "$C"), expected 700"
for f in data.mdb lock.mdb; do
    [[ "$(stat -c %a "$C/$f")" == 600 ]] || fail "$f mode $(stat -c %a "$C/$f"), expected 600"
done

log "get"
"$CACHE" -p "$C" get "  What is   LC-MS?? " >"$T/get.json" || fail "get of an imported query failed"
$PY - "$T/get.json" "$K1" <<'PYEOF' || fail "get printed the wrong entry: $(cat "$T/get.json")"
import json, sys
e = json.loads(open(sys.argv[1]).read())
assert e["key"] == sys.argv[2], e
assert e["category"] == "KNOWLEDGE_GRAPH" and e["confidence"] == 0.87, e
assert e["norm"] == "what is lc-ms" and e["reasoning"] == "asks for a definition", e
PYEOF
rc=0
"$CACHE" -p "$C" get "never asked" >/dev/null 2>"$T/miss.err" || rc=$?
if [[ $rc -ne 1 ]] || ! grep -q "not found" "$T/miss.err"; then
    fail "a miss gave rc $rc: $(cat "$T/miss.err")"
fi
rc=0
"$CACHE" -p "$C" get "an old question" >/dev/null 2>"$T/exp.err" || rc=$?
if [[ $rc -ne 1 ]] || ! grep -q "expired" "$T/exp.err"; then
    fail "an expired entry gave rc $rc: $(cat "$T/exp.err")"
fi
rc=0
"$CACHE" -p "$C" -m other-model get "What is LC-MS?" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "another model's key must miss (rc $rc)"

log "-c: the worker's properties file"
printf 'cache.lmdb.path=%s\nllm.model=gpt-4o-mini\n' "$C" >"$T/worker.conf"
"$CACHE" -c "$T/worker.conf" get "what is lc-ms" | grep -q KNOWLEDGE_GRAPH ||
    fail "get with -c did not find the entry"
printf 'cache.lmdb.path=%s\nllm.model=other-model\n' "$C" >"$T/other.conf"
rc=0
"$CACHE" -c "$T/other.conf" get "what is lc-ms" >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "-c with another llm.model must key differently (rc $rc)"
"$CACHE" -c "$T/other.conf" -m gpt-4o-mini get "what is lc-ms" >/dev/null ||
    fail "-m must override llm.model from -c"
printf 'cache.lmdb.bogus=1\n' >"$T/bad.conf"
rc=0
"$CACHE" -c "$T/bad.conf" stats >/dev/null 2>"$T/badconf.err" || rc=$?
[[ $rc -eq 64 ]] || fail "an unknown key in -c FILE exited $rc, expected 64"

log "stats"
"$CACHE" -p "$C" stats >"$T/stats.json" || fail "stats failed"
$PY - "$T/stats.json" <<'PYEOF' || fail "stats wrong: $(cat "$T/stats.json")"
import json, sys
s = json.loads(open(sys.argv[1]).read())
assert s["entries"] == 4 and s["expired"] == 1, s
assert s["map_size"] == 1024 << 20 and 0 < s["used_bytes"] <= s["map_size"], s
PYEOF

log "export round trip"
"$CACHE" -p "$C" export >"$T/out.jsonl" 2>/dev/null || fail "export failed"
diff <(sort "$T/in.jsonl") <(sort "$T/out.jsonl") >&2 || fail "export differs from the import"
rm -rf "$T/copy"
"$CACHE" -p "$T/copy" import <"$T/out.jsonl" 2>/dev/null || fail "re-import of the export failed"
"$CACHE" -p "$T/copy" export 2>/dev/null | sort | diff - <(sort "$T/in.jsonl") >&2 ||
    fail "export of the re-import differs"

log "import errors name their lines"
printf '%s\n' \
    "{\"key\":\"$K2\",\"norm\":\"x\",\"category\":\"A\",\"confidence\":0.5,\"reasoning\":null,\"model\":null,\"created_at\":1,\"expires_at\":2}" \
    'not json' \
    '' \
    "{\"key\":\"zz\",\"norm\":\"y\",\"category\":\"A\",\"confidence\":0.5,\"reasoning\":null,\"model\":null,\"created_at\":1,\"expires_at\":2}" \
    >"$T/bad.jsonl"
rc=0
"$CACHE" -p "$C" import <"$T/bad.jsonl" 2>"$T/bad.err" || rc=$?
[[ $rc -eq 1 ]] || fail "an import with bad lines exited $rc"
grep -q "^% line 2: invalid JSON" "$T/bad.err" || fail "no line 2 error: $(cat "$T/bad.err")"
grep -q "^% line 4: .*32 hex digits" "$T/bad.err" || fail "no line 4 error: $(cat "$T/bad.err")"
grep -q "kept 1 newer" "$T/bad.err" || fail "an older import replaced a newer entry: $(cat "$T/bad.err")"
"$CACHE" -p "$C" get "latest metabolomics news" | grep -q REAL_TIME ||
    fail "the newer cached entry was overwritten by an older import"

log "purge --expired"
"$CACHE" -p "$C" purge --expired 2>"$T/purge.err" || fail "purge --expired failed"
grep -q "purged 1 expired" "$T/purge.err" || fail "purge: $(cat "$T/purge.err")"
"$CACHE" -p "$C" export 2>/dev/null | grep -v "$K4" | sort | diff - <(grep -v "$K4" "$T/in.jsonl" | sort) >&2 ||
    fail "purge --expired touched live entries"
"$CACHE" -p "$C" export 2>/dev/null | grep -q "$K4" && fail "the expired entry survived purge --expired"

log "purge all"
"$CACHE" -p "$C" purge 2>/dev/null || fail "purge failed"
"$CACHE" -p "$C" stats | grep -q '"entries":0,' || fail "entries left after purge"

log "usage errors"
for args in "stats" "-p $C" "-p $C frobnicate" "-p $C get" "-p $C stats extra" "-p $C --expired stats" \
    "-p $C --size-mb x stats" "--bogus"; do
    rc=0
    # shellcheck disable=SC2086
    "$CACHE" $args >/dev/null 2>&1 </dev/null || rc=$?
    [[ $rc -eq 64 ]] || fail "'kclassify-cache $args' exited $rc, expected 64"
done
rc=0
"$CACHE" -p "$T/nothing-here" stats >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 && ! -e "$T/nothing-here" ]] || fail "stats on a missing cache: rc $rc (or it created it)"
help=$("$CACHE" --help) # not piped into grep -q: SIGPIPE under pipefail
[[ "$help" == *"purge [--expired]"* ]] || fail "--help"
