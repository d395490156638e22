/**
 * @file kc_redis.h
 * @brief L3 cache: a Redis client shared by the whole worker fleet (hiredis 0.14).
 *
 * The worker resolves a micro-batch of distinct keys through L1 -> LMDB ->
 * Redis -> LLM. Every call here costs ONE round trip for the whole batch:
 * one MGET, or pipelined SETs whose replies are read in one go, or one EVAL.
 *
 * Keys are `<prefix><32-hex of kc_key_t>`; leases (fleet-wide coalescing of
 * LLM calls for the same query) are `<prefix>lease:<32-hex>`. Values are
 * opaque bytes (the worker stores kc_cache_rec_t records, kc_cache_rec.h).
 *
 * @par Blocking I/O, on purpose
 * The client uses synchronous hiredis with short socket timeouts rather than
 * the async API on the worker's event loop. One call blocks the loop for one
 * round trip for the whole batch. Measured ad hoc on the 2-core dev VM over
 * loopback with 100-byte values (client and server sharing the cores):
 * 10-100 us for 1-10 keys, ~120 us (MGET) / ~200 us (set_many) for 100 keys,
 * ~0.5 ms / ~1.5 ms for 1000; a remote server adds its network RTT.
 * The worst case is bounded: command_timeout_ms per blocking read or write
 * (a server that trickles bytes can extend a call by that much per read), or
 * connect_timeout_ms for a connection attempt. Host names are resolved with
 * getaddrinfo(), which the connect timeout does not cover: prefer an IP.
 * Over TLS (rediss://) hiredis talks to a relay thread through a socketpair
 * (kc_redis_tls.h): the handshake is part of the connection attempt, and
 * each round trip crosses the relay thread twice.
 *
 * @par Failure handling
 * The client is IDLE until the first call, which connects. Any I/O error or
 * timeout (and the server replies NOAUTH / LOADING) drops the connection: the
 * call returns KC_ERR_IO and the client is DOWN. The next connection attempt
 * is due after a backoff that starts at 100 ms and doubles up to 5 s, with
 * jitter (a delay d becomes a random value in [d/2, d]); it resets once the
 * server answers again. Calls made before the attempt is due return
 * KC_ERR_STATE at once, without touching the network, so a dead Redis costs
 * the worker nothing. Other server error replies (OOM, READONLY, ...) fail
 * the call with KC_ERR_IO but keep the connection.
 *
 * @remark Not thread-safe: one client per event loop.
 * @remark hiredis 0.14 writes without MSG_NOSIGNAL: the process must ignore
 *         SIGPIPE (worker_main does) or a write to a closed socket kills it.
 */
#ifndef KC_REDIS_H
#define KC_REDIS_H

#include "kc_buf.h"
#include "kc_normalize.h"
#include "kc_redis_tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_REDIS_DEFAULT_PORT   6379
#define KC_REDIS_DEFAULT_PREFIX "kclassify:"

/* ------------------------------------------------------------------------- */
/* URL                                                                        */
/* ------------------------------------------------------------------------- */

/** @brief A parsed `cache.redis.url`. */
typedef struct kc_redis_url_s {
    bool is_unix;       /**< unix:// socket: `path` is set, host/port are not */
    bool tls;           /**< rediss://: TCP through TLS (kc_redis_tls.h) */
    char host[256];     /**< IPv4, IPv6 (without brackets) or host name */
    int port;           /**< default KC_REDIS_DEFAULT_PORT */
    char path[108];     /**< unix socket path (sizeof sun_path) */
    int db;             /**< SELECT index, default 0 */
    char user[128];     /**< ACL user, "" for none (AUTH password) */
    char password[256]; /**< "" for no AUTH; percent-decoded */
} kc_redis_url_t;

/**
 * @brief Parse a Redis URL. Pure: no I/O, no allocation.
 *
 * Accepted forms (as redis-cli reads them):
 *  - `redis://[[user]:password@]host[:port][/db]`, host an IPv4 address, a
 *    name or `[IPv6]`; `redis://password@host` (no ':') is a password alone.
 *  - `rediss://...`, the same over TLS (sets `tls`; the port defaults to
 *    6379 as well).
 *  - `unix://[[user]:password@]/abs/path[?db=N]`
 *
 * User and password may be percent-encoded (`%40` for '@').
 * @param url NUL-terminated; the empty string is an error (the caller treats
 *        an empty `cache.redis.url` as "Redis off" before calling this).
 * @returns 0, or KC_ERR_CONFIG with errstr naming the faulty part. Messages
 *          never contain the password.
 */
int kc_redis_url_parse(const char *url, kc_redis_url_t *out, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------- */
/* Client                                                                     */
/* ------------------------------------------------------------------------- */

typedef struct kc_redis_s kc_redis_t;

typedef enum {
    KC_REDIS_IDLE,      /**< never connected yet: the next call connects */
    KC_REDIS_CONNECTED, /**< a connection is open */
    KC_REDIS_DOWN,      /**< connection lost or refused: backing off */
} kc_redis_state_t;

/**
 * @brief Create a client. Does no I/O: the first call connects, so a Redis
 * that is down at startup is not an error.
 * @param url see kc_redis_url_parse().
 * @param prefix key prefix; NULL for KC_REDIS_DEFAULT_PREFIX. Copied.
 * @param connect_timeout_ms bound on a connection attempt (TCP connect and,
 *        for rediss://, the TLS handshake), > 0.
 * @param command_timeout_ms bound on each blocking socket read/write, > 0.
 * @param tls TLS settings for a rediss:// URL, NULL for the defaults
 *        (system CA store, verification on); ignored for other URLs. Read
 *        during the call only: the CA and client certificate files are
 *        loaded here.
 * @returns NULL with errstr on a bad URL, argument or TLS file
 *          (KC_ERR_CONFIG) or allocation failure.
 * @remark A rediss:// client runs a relay thread per connection
 *         (kc_redis_tls.h); the API stays single-threaded.
 */
kc_redis_t *kc_redis_new(const char *url, const char *prefix, int connect_timeout_ms,
                         int command_timeout_ms, const kc_redis_tls_conf_t *tls, char *errstr,
                         size_t errstr_size);

/** @brief Close the connection and free everything. NULL-safe. */
void kc_redis_destroy(kc_redis_t *rd);

/**
 * @brief Set the reconnection backoff (defaults 100 ms and 5000 ms).
 * @returns 0, or KC_ERR_INVALID unless 0 < min_ms <= max_ms.
 */
int kc_redis_backoff_set(kc_redis_t *rd, int min_ms, int max_ms);

/* Every call below returns 0 on success, or:
 *   KC_ERR_STATE   Redis is down and the next connection attempt is not due:
 *                  nothing was sent;
 *   KC_ERR_IO      connect, I/O, timeout, protocol or server error (errstr
 *                  says which; kc_redis_state() tells if the connection was
 *                  dropped);
 *   KC_ERR_INVALID bad arguments; KC_ERR_NOMEM.
 * A call with n == 0 returns 0 without I/O. */

/**
 * @brief Fetch n keys with one MGET.
 * @param vals n buffers (kc_buf_init'ed): each is reset, then holds the value
 *        when found[i] is true (values may contain NUL bytes; use len).
 * @param found n flags, set to false on any error.
 */
int kc_redis_mget(kc_redis_t *rd, const kc_key_t *keys, size_t n, kc_buf_t *vals, bool *found,
                  char *errstr, size_t errstr_size);

/**
 * @brief Store n values with pipelined `SET key val EX ttl_s`, replies read
 * in one go.
 * @param ttl_s > 0.
 * @returns 0 if every SET succeeded; KC_ERR_IO if any failed (the others
 *          may be stored).
 */
int kc_redis_set_many(kc_redis_t *rd, const kc_key_t *keys, const kc_buf_t *vals, size_t n,
                      int64_t ttl_s, char *errstr, size_t errstr_size);

/**
 * @brief Try to take the lease of n keys with pipelined
 * `SET <prefix>lease:<hex> token NX PX ttl_ms`.
 *
 * The holder of a lease asks the LLM; others wait for the value to appear
 * (or the lease to expire). A lease is never renewed: pick ttl_ms above the
 * LLM deadline.
 * @param token identifies this holder (e.g. worker id + counter), non-empty.
 * @param acquired n flags: true where the lease is now ours, false where
 *        another holder has it (false for all on error).
 */
int kc_redis_lease_acquire(kc_redis_t *rd, const kc_key_t *keys, size_t n, int64_t ttl_ms,
                           const char *token, bool *acquired, char *errstr, size_t errstr_size);

/**
 * @brief Release the leases of n keys that are still held by token, in one
 * EVALSHA of a compare-and-delete script (EVAL when the server lost the
 * script cache: a second round trip, once). A lease that expired or was
 * taken by another holder is left alone.
 * @param released if non-NULL, receives how many leases were deleted.
 */
int kc_redis_lease_release(kc_redis_t *rd, const kc_key_t *keys, size_t n, const char *token,
                           size_t *released, char *errstr, size_t errstr_size);

/** @brief PING: connects if due, checks the server answers. For startup and /health. */
int kc_redis_ping(kc_redis_t *rd, char *errstr, size_t errstr_size);

/* ------------------------------------------------------------------------- */
/* Health and counters                                                        */
/* ------------------------------------------------------------------------- */

kc_redis_state_t kc_redis_state(const kc_redis_t *rd);

/** @brief "idle", "connected" or "down". */
const char *kc_redis_state_name(kc_redis_state_t state);

/** @brief The last error seen (it stays after recovery), "" if none. Valid
 * until the next call on rd. */
const char *kc_redis_last_error(const kc_redis_t *rd);

/** @brief Milliseconds until the next connection attempt when DOWN, else 0. */
int64_t kc_redis_retry_in_ms(const kc_redis_t *rd);

/** @brief Where the client connects, without credentials: "host:port/db",
 * "tls:host:port/db" (rediss://) or "unix:/path/db". */
const char *kc_redis_endpoint(const kc_redis_t *rd);

/** @brief Counters since creation. */
typedef struct kc_redis_stats_s {
    uint64_t calls;            /**< calls with n > 0 (including skipped ones) */
    uint64_t errors;           /**< calls that failed after trying the network */
    uint64_t skipped;          /**< calls refused with KC_ERR_STATE while backing off */
    uint64_t connects;         /**< connections established (handshake done) */
    uint64_t reconnects;       /**< connections established after a drop */
    uint64_t connect_failures; /**< failed connection attempts */
    uint64_t hits, misses;     /**< mget keys found / not found */
    uint64_t sets;             /**< values stored by set_many */
    uint64_t leases_acquired, leases_busy, leases_released;
} kc_redis_stats_t;
void kc_redis_stats(const kc_redis_t *rd, kc_redis_stats_t *st);

#endif
