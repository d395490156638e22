#!/usr/bin/env bash
# libcore's layering on the sources: every #include "kc_*.h" of a libcore file
# names a header of its own layer or of one below it (libcore/CMakeLists.txt
# draws the picture), and the client library (producer/kc_client*) uses only
# base and wire. The build enforces the same through include directories;
# this names the offending line. Usage: check_layers.sh [SOURCE ROOT]
set -euo pipefail
ROOT=${1:-${KC_SRC:-$(dirname "$0")/..}}
declare -A allowed=(
    [base]="base"
    [wire]="base wire"
    [obs]="base obs"
    [cache]="base wire cache"
    [llm]="base wire llm"
    [worker]="base wire obs cache llm worker"
    [sla]="base wire obs sla"
    [client]="base wire client"
)
declare -A layer_of=()
for dir in "$ROOT"/libcore/*/; do
    l=$(basename "$dir")
    [[ -n "${allowed[$l]:-}" ]] || { echo "FAIL: libcore/$l is not a known layer" >&2; exit 1; }
    for h in "$dir"*.h; do
        layer_of[$(basename "$h")]=$l
    done
done
for h in "$ROOT"/producer/kc_client*.h; do
    layer_of[$(basename "$h")]=client
done

bad=0 n=0
check() { # FILE LAYER
    local f=$1 l=$2 inc hl lineno
    while IFS=: read -r lineno inc; do
        inc=${inc#*\"}
        inc=${inc%\"*}
        hl=${layer_of[$inc]:-}
        [[ -n "$hl" ]] || { echo "FAIL: ${f#"$ROOT"/}:$lineno includes $inc, which is in no layer" >&2; bad=1; continue; }
        if [[ " ${allowed[$l]} " != *" $hl "* ]]; then
            echo "FAIL: ${f#"$ROOT"/}:$lineno: layer $l includes $inc of layer $hl" >&2
            bad=1
        fi
    done < <(grep -n '^#include "kc_' "$f" || true)
    n=$((n + 1))
}
for f in "$ROOT"/libcore/*/*.[ch]; do
    l=$(basename "$(dirname "$f")")
    check "$f" "$l"
done
for f in "$ROOT"/producer/kc_client*.[ch]; do
    check "$f" client
done
((bad == 0)) || exit 1
echo "layers ok: $n files"
