#!/usr/bin/env bash
# kclassify-worker's command line: --help documents every configuration key
# of the property table (libcore/worker/kc_worker_conf.c); configuration errors fail
# fast with exit status 64 and a message that says where the error is; -F
# and -c both read a properties file.
source "$(dirname "$0")/lib.sh"

W="$KC_BIN/kclassify-worker"

# run_worker OUT ARGS...: run the worker briefly; sets RC. It must not start
# consuming in any of these cases, so a short timeout is plenty.
run_worker()
{
    local out=$1
    shift
    RC=0
    timeout -k 2 10 "$W" "$@" >"$out" 2>&1 || RC=$?
    [[ $RC -ne 124 && $RC -ne 137 ]] || fail "kclassify-worker $* did not exit within 10s"
}

# ------------------------------------------------------------------ --help
run_worker "$T/help.out" --help
[[ $RC -eq 0 ]] || fail "--help exited with $RC"
mapfile -t keys < <(grep -oE '^\s*\{"[a-z0-9_.]+", KC_CONF_' "$KC_SRC/libcore/worker/kc_worker_conf.c" |
    grep -oE '"[^"]+"' | tr -d '"')
((${#keys[@]} >= 10)) || fail "found only ${#keys[@]} keys in kc_worker_conf.c; has its layout changed?"
for k in "${keys[@]}"; do
    grep -Eq "^\s+${k//./\\.}\s" "$T/help.out" || fail "--help does not list the key $k"
done
grep -q "kafka\." "$T/help.out" || fail "--help does not mention the kafka.* pass-through"
for opt in -b -c -X; do
    grep -q -- "$opt" "$T/help.out" || fail "--help does not document $opt"
done
log "--help lists all ${#keys[@]} keys of the property table"

# ------------------------------------------------------------------ -c FILE errors
cat >"$T/bad.conf" <<'CONF'
# a worker configuration with a typo on line 4
llm.batch.max=8

no.such.key=1
CONF
run_worker "$T/badkeyF.out" -b 127.0.0.1:1 -F "$T/bad.conf"
[[ $RC -eq 64 ]] || fail "an unknown key in -F FILE exited with $RC, expected 64: $(cat "$T/badkeyF.out")"
grep -qF "$T/bad.conf:4" "$T/badkeyF.out" || fail "-F FILE: the error does not name $T/bad.conf:4"
run_worker "$T/badkey.out" -b 127.0.0.1:1 -c "$T/bad.conf"
[[ $RC -eq 64 ]] || fail "an unknown key in -c FILE exited with $RC, expected 64: $(cat "$T/badkey.out")"
grep -qF "$T/bad.conf:4" "$T/badkey.out" ||
    fail "the unknown-key error does not name $T/bad.conf:4: $(cat "$T/badkey.out")"
grep -q "no.such.key" "$T/badkey.out" ||
    fail "the unknown-key error does not name the key: $(cat "$T/badkey.out")"

printf 'llm.batch.max=0\n' >"$T/range.conf"
run_worker "$T/range.out" -b 127.0.0.1:1 -c "$T/range.conf"
[[ $RC -eq 64 ]] || fail "an out-of-range value exited with $RC, expected 64"
grep -qF "$T/range.conf:1" "$T/range.out" ||
    fail "the out-of-range error does not name $T/range.conf:1: $(cat "$T/range.out")"

printf 'llm.batch.max 8\n' >"$T/syntax.conf"
run_worker "$T/syntax.out" -b 127.0.0.1:1 -c "$T/syntax.conf"
[[ $RC -eq 64 ]] || fail "a line without '=' exited with $RC, expected 64"
grep -qF "$T/syntax.conf:1" "$T/syntax.out" || fail "the syntax error does not name the line"

run_worker "$T/nofile.out" -b 127.0.0.1:1 -c "$T/does-not-exist.conf"
[[ $RC -eq 64 ]] || fail "a missing -c file exited with $RC, expected 64"
grep -qF "does-not-exist.conf" "$T/nofile.out" || fail "the missing-file error does not name it"

# ------------------------------------------------------------------ -X errors
run_worker "$T/xunknown.out" -b 127.0.0.1:1 -X llm.batchmax=8
[[ $RC -eq 64 ]] || fail "-X with an unknown key exited with $RC, expected 64"
grep -q "llm.batchmax" "$T/xunknown.out" || fail "the -X error does not name the key"

run_worker "$T/xint.out" -b 127.0.0.1:1 -X llm.timeout.ms=soon
[[ $RC -eq 64 ]] || fail "-X with a non-integer exited with $RC, expected 64"
grep -q "llm.timeout.ms" "$T/xint.out" || fail "the -X type error does not name the key"

run_worker "$T/xsyntax.out" -b 127.0.0.1:1 -X llm.url
[[ $RC -eq 64 ]] || fail "-X without '=' exited with $RC, expected 64"

# A bad librdkafka property is rejected before any connection is made.
run_worker "$T/kafka.out" -b 127.0.0.1:1 -X kafka.no.such.property=1
[[ $RC -ne 0 ]] || fail "an unknown kafka.* property was accepted"
grep -q "no.such.property" "$T/kafka.out" ||
    fail "the kafka.* error does not name the property: $(cat "$T/kafka.out")"

# ------------------------------------------------------------------ missing -b
run_worker "$T/nob.out" -X llm.batch.max=8
[[ $RC -eq 64 ]] || fail "a worker without brokers exited with $RC, expected 64"
grep -qi "broker" "$T/nob.out" || fail "the missing-broker error is unclear: $(cat "$T/nob.out")"

run_worker "$T/extra.out" -b 127.0.0.1:1 stray-argument
[[ $RC -eq 64 ]] || fail "a stray argument exited with $RC, expected 64"

run_worker "$T/badopt.out" --no-such-option
[[ $RC -eq 64 ]] || fail "an unknown option exited with $RC, expected 64"

log "configuration errors exit 64 with file:line and key names"

