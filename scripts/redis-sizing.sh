#!/usr/bin/env bash
# Measures the Redis memory one cached answer takes, for docs/operations.md.
#
# Starts a private redis-server on a free loopback port, writes N entries the
# way the worker does (key "<cache.redis.prefix><32 hex>", value a cache
# record of kc_cache_rec.h, SET ... EX ttl), and prints used_memory per entry.
# The value size is a parameter: 38 bytes of record header and length
# prefixes + normalized query + category + reasoning + model name.
#
#   scripts/redis-sizing.sh [N] [VALUE_BYTES]      defaults: 200000 204
set -euo pipefail

N=${1:-200000}
VALUE=${2:-204} # 38 + query 60 + category 15 + reasoning 80 + model 11
DIR=$(mktemp -d)
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$PORT" --save '' --appendonly no --dir "$DIR" \
    --daemonize no >"$DIR/redis.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

used() { redis-cli -p "$PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p'; }
before=$(used)
/usr/bin/python3 - "$N" "$VALUE" <<'PY' | redis-cli -p "$PORT" --pipe >/dev/null
import os, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout.buffer
for i in range(n):
    key = b"kclassify:%032x" % (i * 2654435761 % (1 << 128))
    val = os.urandom(size)
    parts = [b"SET", key, val, b"EX", b"86400"]
    out.write(b"*%d\r\n" % len(parts))
    for p in parts:
        out.write(b"$%d\r\n%s\r\n" % (len(p), p))
PY
after=$(used)
keys=$(redis-cli -p "$PORT" dbsize)
echo "redis $(redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'): $keys keys, value $VALUE B," \
    "used_memory $before -> $after: $(( (after - before) / keys )) B per entry," \
    "$(( (after - before) * 1000000 / keys / 1048576 )) MiB per million"
