#!/usr/bin/env bash
# Installs every build and test dependency of kclassify from Debian packages.
# Idempotent: when everything is present it only checks (no apt-get update).
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
    librdkafka-dev libcurl4-openssl-dev libavro-dev libhiredis-dev libssl-dev liblmdb-dev lmdb-utils
    check libsubunit-dev libjansson-dev libxxhash-dev libmicrohttpd-dev
    redis-server redis-tools python3-confluent-kafka python3-avro prometheus-alertmanager prometheus
    time docker-compose groff-base
    gnuplot-nox
    git curl jq python3 openssl
    openjdk-17-jre-headless maven # the Apache Kafka broker of the tests (scripts/kafka.sh)
)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "% install-deps: all ${#PKGS[@]} packages present" >&2
    exit 0
fi

echo "% install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "% install-deps: done" >&2
