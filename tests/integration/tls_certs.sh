#!/usr/bin/env bash
# tls_certs.sh DIR: throwaway certificates for the Redis TLS tests
# (tests/integration/it_cache_redis_tls.sh and tests/check_redis_tls.c), made
# with the openssl CLI. EC P-256 keys: quick to make and to handshake with.
#
#   ca.crt                 the test CA (ca.key)
#   server.crt/.key        CN localhost, SAN DNS:localhost and IP:127.0.0.1
#   client.crt/.key        a client certificate (mutual TLS) from ca
#   other-ca.crt           an unrelated CA: a client trusting it must refuse server.crt
#   wrongname.crt/.key     from ca, but for DNS:redis.example.invalid only
#   cadir/                 ca.crt under its subject hash (a CA directory)
#
# Valid for two days; nothing here is secret or reused.
set -euo pipefail

DIR=${1:?usage: tls_certs.sh DIR}
mkdir -p "$DIR"
cd "$DIR"

key()
{
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
}

# ca NAME CN: a self-signed CA.
ca()
{
    key "$1"
    openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 2 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.crt"
}

# leaf NAME CN EXTENSIONS: a certificate signed by ca.
leaf()
{
    key "$1"
    openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
    printf '%s\n' "$3" >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
        -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca "kclassify test CA"
ca other-ca "kclassify unrelated CA"
leaf server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client kclassify-worker "extendedKeyUsage=clientAuth"
leaf wrongname redis.example.invalid "subjectAltName=DNS:redis.example.invalid
extendedKeyUsage=serverAuth"
mkdir -p cadir
cp ca.crt "cadir/$(openssl x509 -hash -noout -in ca.crt).0"
# redis-server and the worker read the keys; keep them private to this user.
chmod 600 ./*.key
