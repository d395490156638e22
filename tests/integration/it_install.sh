#!/usr/bin/env bash
# `cmake --install` into a temporary prefix: the programs, the client library
# (libkcclient.a with libkcwire.a and libkcbase.a, and libkcclient.so with its
# soname) with the client headers, kclassify.pc, the man pages, the schemas and
# the packaging examples land where they should; kclassify.pc requires none of
# the worker's libraries (hiredis, LMDB, libcurl, OpenSSL); a C service
# (examples/c_service.c) compiles and links from the installed files alone
# through pkg-config, against the shared library and the static ones; every man page renders without groff warnings and names
# every option its program's --help lists; the systemd units pass
# systemd-analyze verify (when systemd-analyze exists).
source "$(dirname "$0")/lib.sh"

BUILD=$(dirname "$KC_BIN")
P="$T/prefix"
cmake --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1 || fail "cmake --install failed: $(tail -5 "$T/install.log")"
PROGS=(kclassify-worker kclassify-produce kclassify-sla kclassify-cache kclassify-kafka-mock kclassify-llm-sim)
LIBDIR=$(ls -d "$P"/lib*/ | head -n 1)
for f in "${PROGS[@]/#/bin/}" include/kclassify/kc_client.h include/kclassify/kc_types.h \
    share/kclassify/schemas/ClassificationRequest.avsc share/kclassify/schemas/ClassificationResult.avsc \
    share/doc/kclassify/examples/worker.conf share/doc/kclassify/examples/kclassify-worker@.service; do
    [[ -e "$P/$f" ]] || fail "not installed: $f"
done
for f in libkcclient.a libkcwire.a libkcbase.a libkcclient.so libkcclient.so.0 pkgconfig/kclassify.pc; do
    [[ -e "$LIBDIR/$f" ]] || fail "not installed: $LIBDIR$f"
done
for p in "${PROGS[@]}"; do
    [[ -e "$P/share/man/man1/$p.1" ]] || fail "no man page for $p"
done
log "installed into $P ($(find "$P" -type f | wc -l) files)"

# ------------------------------------------------------------------ pkg-config
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig"
[[ "$(pkg-config --modversion kclassify)" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "kclassify.pc has no version"
cflags=$(pkg-config --cflags kclassify) || fail "pkg-config --cflags kclassify failed"
libs=$(pkg-config --libs kclassify) || fail "pkg-config --libs kclassify failed"
inc=$(tr ' ' '\n' <<<"$cflags" | sed -n 's|^-I\(.*/include/kclassify\)/*$|\1|p' | head -n 1)
[[ -n "$inc" && "$(readlink -f "$inc")" == "$(readlink -f "$P/include/kclassify")" ]] ||
    fail "cflags do not point into the prefix: $cflags"
san="" # an ASan+UBSan build installs instrumented libraries: link the runtime too
if [[ "$(ldd "$KC_BIN/kclassify-produce")" == *libasan* ]]; then
    san="-fsanitize=address,undefined"
fi
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $san -o "$T/c_service" "$KC_SRC/examples/c_service.c" $cflags $libs \
    2>"$T/cc.log" || fail "c_service does not build from the installed files: $(head -20 "$T/cc.log")"
req=$(pkg-config --print-requires kclassify | awk '{print $1}' | sort | tr '\n' ' ')
[[ "$req" == "avro-c jansson libxxhash rdkafka " ]] ||
    fail "kclassify.pc requires '$req' (expected only avro-c jansson libxxhash rdkafka)"
# Not `ldd | grep -q`: grep may exit before ldd has written everything, and
# under pipefail ldd's SIGPIPE fails the pipeline (seen once in CI).
linked=$(LD_LIBRARY_PATH="$LIBDIR" ldd "$T/c_service")
[[ "$linked" == *"libkcclient.so.0 => $LIBDIR"* ]] ||
    fail "c_service is not linked to the installed libkcclient.so.0: $linked"
# shellcheck disable=SC2086
cc -std=gnu11 -Wall -Wextra -Werror $san -o "$T/c_service_static" "$KC_SRC/examples/c_service.c" \
    $cflags "$LIBDIR/libkcclient.a" "$LIBDIR/libkcwire.a" "$LIBDIR/libkcbase.a" \
    $(pkg-config --libs rdkafka avro-c jansson libxxhash) -lm -lpthread 2>"$T/cc.log" ||
    fail "c_service does not link the static libraries: $(head -20 "$T/cc.log")"
for bin in c_service c_service_static; do
    rc=0
    LD_LIBRARY_PATH="$LIBDIR" "$T/$bin" "a query" >"$T/cs.out" 2>&1 || rc=$?
    [[ $rc -eq 2 ]] && grep -q "no brokers" "$T/cs.out" ||
        fail "the installed-library $bin without brokers: exit $rc, $(cat "$T/cs.out")"
done
log "examples/c_service.c builds with pkg-config --cflags --libs kclassify (shared) and statically"

# ------------------------------------------------------------------ man pages
for p in "${PROGS[@]}"; do
    page="$P/share/man/man1/$p.1"
    warn=$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$page" 2>&1)
    [[ -z "$warn" ]] || fail "$p.1: groff warnings: $warn"
    for o in $("$P/bin/$p" --help | grep -oE '(^|[ ,])--[a-z][a-z-]+' | tr -d ' ,' | sort -u); do
        grep -q -- "$(sed 's/-/\\\\-/g' <<<"$o")" "$page" || fail "$p.1 does not document $o"
    done
done
log "man pages render cleanly and document every --help option"

# ------------------------------------------------------------------ systemd units
if command -v systemd-analyze >/dev/null; then
    mkdir -p "$T/units"
    for u in kclassify-worker@.service kclassify-sla.service; do
        sed "s|/usr/bin/|$P/bin/|g" "$KC_SRC/packaging/$u" >"$T/units/$u"
    done
    cp "$T/units/kclassify-worker@.service" "$T/units/kclassify-worker@1.service"
    (cd "$T/units" && systemd-analyze verify --man=no ./kclassify-worker@1.service \
        ./kclassify-sla.service) >"$T/verify.log" 2>&1 ||
        fail "systemd-analyze verify: $(cat "$T/verify.log")"
    if grep -Ev 'Failed to (look up|resolve) user|kclassify.*User=|Unknown user' "$T/verify.log" | grep -q .; then
        fail "systemd-analyze verify complained: $(cat "$T/verify.log")"
    fi
    log "systemd units verified"
else
    log "systemd-analyze not present: units not verified"
fi
