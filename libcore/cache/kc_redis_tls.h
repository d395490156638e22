/**
 * @file kc_redis_tls.h
 * @brief TLS for the Redis client: a relay thread between hiredis and an
 * OpenSSL connection.
 *
 * Debian 12's hiredis 0.14 has no TLS, but it can talk over any connected
 * socket (redisConnectFd). For a `rediss://` URL kc_redis opens a relay: a
 * TCP connection to the server wrapped in OpenSSL, and a socketpair whose
 * other end goes to hiredis. A thread copies bytes both ways until either
 * side closes or the relay is destroyed. OpenSSL (libssl 3) is already loaded
 * by librdkafka and libcurl, so this adds no runtime library.
 *
 * Two objects:
 *  - kc_redis_tls_ctx_t: the configuration (CA, client certificate and key,
 *    verification) loaded once into an SSL_CTX, so a bad file is a
 *    configuration error at start-up and reconnecting does not reread the CA
 *    store;
 *  - kc_redis_tls_t: one connection and its relay thread.
 *
 * @remark The process must ignore SIGPIPE (kc_redis.h says why); the relay
 *         thread blocks every signal so they reach the program's own threads.
 */
#ifndef KC_REDIS_TLS_H
#define KC_REDIS_TLS_H

#include <stdbool.h>
#include <stddef.h>

/** @brief TLS settings (cache.redis.tls.* in the worker). Strings are read
 * during kc_redis_tls_ctx_new() only; NULL and "" mean unset. */
typedef struct kc_redis_tls_conf_s {
    const char *ca_location;   /**< PEM file or hashed directory; unset = system defaults */
    const char *cert_location; /**< client certificate chain (PEM), for mutual TLS */
    const char *key_location;  /**< its private key (PEM); both or neither */
    bool verify;               /**< verify the server certificate and name (false: tests only) */
} kc_redis_tls_conf_t;

/** @brief Defaults: system CA store, no client certificate, verify on. */
#define KC_REDIS_TLS_CONF_DEFAULT                                                                  \
    {                                                                                              \
        NULL, NULL, NULL, true                                                                     \
    }

typedef struct kc_redis_tls_ctx_s kc_redis_tls_ctx_t;
typedef struct kc_redis_tls_s kc_redis_tls_t;

/**
 * @brief Load a TLS configuration. No I/O but reading the files.
 * @param conf NULL for KC_REDIS_TLS_CONF_DEFAULT.
 * @returns NULL with errstr when a file cannot be loaded, the certificate
 *          and key do not match, or only one of them is set.
 */
kc_redis_tls_ctx_t *kc_redis_tls_ctx_new(const kc_redis_tls_conf_t *conf, char *errstr,
                                         size_t errstr_size);

/** @brief Free the configuration. NULL-safe. Connections made from it may
 * outlive it (OpenSSL counts references). */
void kc_redis_tls_ctx_destroy(kc_redis_tls_ctx_t *tctx);

/**
 * @brief Connect to host:port, complete the TLS handshake, and start the
 * relay. Blocks for connect_timeout_ms at most (name resolution excepted).
 *
 * The server's certificate must chain to the configured CA and name host
 * (a DNS name, or an IP address in a SAN) unless verification is off; the
 * SNI is host when it is a name.
 * @param fd_out receives the hiredis end of the socketpair (blocking, close-
 *        on-exec). The caller owns it (hand it to redisConnectFd, which
 *        closes it in redisFree).
 * @param tlsp receives the connection.
 * @returns 0; KC_ERR_TIMEOUT when the connect or handshake did not finish
 *          in time; KC_ERR_IO when the connection was refused or the
 *          handshake failed (errstr names a certificate verification
 *          failure); KC_ERR_NOMEM; KC_ERR_INVALID.
 * @remark With TLS 1.3 a server that rejects our client certificate says
 *         so after the handshake: the relay then closes its end, and
 *         kc_redis_tls_error() tells why.
 */
int kc_redis_tls_new(kc_redis_tls_ctx_t *tctx, const char *host, int port, int connect_timeout_ms,
                     kc_redis_tls_t **tlsp, int *fd_out, char *errstr, size_t errstr_size);

/**
 * @brief Stop the relay thread, join it, close the TLS connection (with a
 * close_notify when possible) and free everything. NULL-safe.
 * @remark Does not close the hiredis end (*fd_out), which the caller owns.
 */
void kc_redis_tls_destroy(kc_redis_tls_t *tls);

/**
 * @brief Why the relay stopped on its own (the server closed the
 * connection, a TLS alert, an I/O error), "" while it runs or when it was
 * stopped by kc_redis_tls_destroy().
 * @param buf receives a copy (thread-safe).
 * @returns buf.
 */
const char *kc_redis_tls_error(kc_redis_tls_t *tls, char *buf, size_t buf_size);

/**
 * @brief True if host is an IPv4 or IPv6 literal (matched against IP SANs,
 * and never sent as SNI, as RFC 6066 requires). Pure.
 */
bool kc_redis_tls_host_is_ip(const char *host);

#endif
