#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each one for
# a bounded time, starting from the committed seeds in tests/fuzz/corpus/<target>/.
#
#   scripts/fuzz.sh [-t SECONDS] [TARGET...]
#
#   -t SECONDS  time per target (default: $FUZZ_SECONDS, else 60); 8 targets
#               at 60 s take about 9 minutes with the build
#   TARGET      run only these (e.g. fuzz_conf); default: every tests/fuzz/fuzz_*.c
#
# Exits non-zero if the build fails or any target finds a crash, a failed
# property check (FUZZ_CHECK), UB, a leak, a timeout (> 10 s on one input) or
# runs out of memory; the input that did it is printed as a path under
# build-fuzz/artifacts/. Reproduce with: build-fuzz/bin/<target> <that file>.
# New inputs found go to build-fuzz/corpus/<target>/ (kept between runs, never
# committed); refresh the committed seeds with tests/fuzz/gen_corpus.py.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECS=${FUZZ_SECONDS:-60}
BUILD=build-fuzz

usage()
{
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while getopts "t:h" opt; do
    case $opt in
    t) SECS=$OPTARG ;;
    h) usage 0 ;;
    *) usage 2 ;;
    esac
done
shift $((OPTIND - 1))
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || {
    echo "fuzz.sh: -t wants a positive number of seconds, not '$SECS'" >&2
    exit 2
}

say() { printf '\n=== %s\n' "$*"; }

say "dependencies"
scripts/install-deps.sh
clang --version | head -n 1
# libFuzzer ships in libclang-rt-*-dev: make sure it links before building anything.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    >"$probe/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" 2>"$probe/err"; then
    echo "FAIL: clang cannot link -fsanitize=fuzzer,address,undefined (libclang-rt-dev missing?):" >&2
    cat "$probe/err" >&2
    exit 1
fi

say "build ($BUILD)"
cmake -S tests/fuzz -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE= >/dev/null
cmake --build "$BUILD" -j"${KC_JOBS:-2}"

if [[ $# -eq 0 ]]; then
    set -- $(for f in tests/fuzz/fuzz_*.c; do basename "${f%.c}"; done)
fi

# avro-c keeps some pointers at unaligned offsets inside its generic values,
# so LeakSanitizer's default scan reports the long-lived codec (created once
# in LLVMFuzzerInitialize) as leaked; use_unaligned=1 scans those too, and a
# real leak is still reported.
# Set here, not inherited: scripts/test.sh exports options meant for its own suites.
export ASAN_OPTIONS=detect_leaks=1
export LSAN_OPTIONS=use_unaligned=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

mkdir -p "$BUILD/artifacts" "$BUILD/logs"
failed=()
summary=()
for t in "$@"; do
    bin="$BUILD/bin/$t"
    seeds="tests/fuzz/corpus/$t"
    [[ -x "$bin" ]] || {
        echo "FAIL: no fuzzer $bin (targets: tests/fuzz/fuzz_*.c)" >&2
        exit 2
    }
    [[ -d "$seeds" ]] || {
        echo "FAIL: no seed corpus $seeds" >&2
        exit 2
    }
    work="$BUILD/corpus/$t"
    log="$BUILD/logs/$t.log"
    mkdir -p "$work"
    rm -f "$BUILD/artifacts/$t-"*
    say "$t for ${SECS}s (seeds: $seeds, $(find "$seeds" -type f | wc -l) files)"
    rc=0
    # A hard outer bound too, in case the fuzzer itself wedges.
    timeout -k 10 $((SECS + 120)) "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" "$work" "$seeds" \
        >"$log" 2>&1 || rc=$?
    cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -n 1 || true)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    summary+=("$(printf '%-20s rc %-3s %10s runs %8s exec/s  %s' "$t" "$rc" "${execs:-?}" \
        "${eps:-?}" "${cov:-no coverage line}")")
    if [[ $rc -ne 0 ]]; then
        failed+=("$t")
        echo "FAIL: $t exited with status $rc; log: $log" >&2
        grep -E 'ERROR:|FUZZ_CHECK|SUMMARY:|runtime error|Test unit written' "$log" >&2 || true
        tail -n 40 "$log" >&2
        for a in "$BUILD/artifacts/$t-"*; do
            [[ -e "$a" ]] && echo "FAIL: $t: offending input: $ROOT/$a (reproduce: $BUILD/bin/$t $a)" >&2
        done
    else
        echo "${summary[-1]}"
    fi
done

say "fuzz summary (${SECS}s per target)"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "FAIL: fuzz targets failed: ${failed[*]}" >&2
    exit 1
fi
echo "all ${#summary[@]} fuzz targets ran ${SECS}s without a finding"
