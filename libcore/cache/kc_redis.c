/*
 * L3 cache client: synchronous hiredis with socket timeouts, one round trip
 * per call, and a connection state machine with jittered exponential backoff
 * (see kc_redis.h for the contract and the cost of blocking).
 *
 * Commands are built with redisAppendCommandArgv into hiredis' output buffer;
 * the first redisGetReply() writes the whole buffer, then replies are read as
 * they arrive: a pipeline of n commands is one write and one round trip.
 * Argument vectors and key strings live in scratch arrays reused across calls,
 * so a call allocates only what hiredis itself does.
 */
#include "kc_redis.h"
#include "kc_err.h"
#include "kc_time.h"

#include <errno.h>
#include <stdarg.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define LEASE_INFIX    "lease:"
#define MAX_BATCH      (1u << 20) /* keeps argc in an int */

/* Compare-and-delete of every lease still holding ARGV[1]; returns how many
 * were deleted. RELEASE_SHA is its SHA1 (check_redis verifies it against the
 * server's). */
#define RELEASE_LUA                                                                                \
    "local n = 0 for i, k in ipairs(KEYS) do if redis.call('GET', k) == ARGV[1] then n = n + "     \
    "redis.call('DEL', k) end end return n"
#define RELEASE_SHA "d2bd3c9ab0cc4443441fa94256b4c47f88813361"

struct kc_redis_s {
    kc_redis_url_t url;
    char endpoint[300];
    char *prefix;
    size_t prefix_len;
    int connect_timeout_ms, command_timeout_ms;
    int backoff_min_ms, backoff_max_ms;

    redisContext *c;          /* NULL unless CONNECTED */
    kc_redis_tls_ctx_t *tctx; /* rediss:// only: CA, client certificate */
    kc_redis_tls_t *tls;      /* rediss:// only: the relay under c */
    kc_redis_state_t state;
    int64_t next_attempt_us; /* monotonic; when DOWN */
    int backoff_ms;          /* delay after the next failure */
    uint64_t rng;            /* xorshift64 state, for jitter */
    char last_err[256];
    kc_redis_stats_t st;

    /* scratch, grown on demand */
    const char **argv;
    size_t *argvlen;
    size_t argv_cap;
    char *keybuf; /* slot i at i * key_stride */
    size_t key_stride, keybuf_slots;
};

/* ------------------------------------------------------------------------- */
/* Errors and backoff                                                         */
/* ------------------------------------------------------------------------- */

/* Record the error as the client's last error and copy it to errstr. */
static int fail(kc_redis_t *rd, int err, char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(kc_redis_t *rd, int err, char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rd->last_err, sizeof(rd->last_err), fmt, ap);
    va_end(ap);
    rd->st.errors++;
    return kc_seterr(err, errstr, errstr_size, "redis %s: %s", rd->endpoint, rd->last_err);
}

static uint64_t rng_next(kc_redis_t *rd)
{
    rd->rng ^= rd->rng << 13;
    rd->rng ^= rd->rng >> 7;
    rd->rng ^= rd->rng << 17;
    return rd->rng;
}

/* Go DOWN: the next attempt is due after the current delay, jittered into
 * [d/2, d] so a fleet that lost Redis together does not reconnect together. */
static void conn_drop(kc_redis_t *rd)
{
    int64_t d = rd->backoff_ms;
    int64_t jittered = d / 2 + (int64_t)(rng_next(rd) % (uint64_t)(d - d / 2 + 1));

    if (rd->c) {
        redisFree(rd->c); /* closes the relay's socketpair end too */
        rd->c = NULL;
    }
    kc_redis_tls_destroy(rd->tls);
    rd->tls = NULL;
    rd->state = KC_REDIS_DOWN;
    rd->next_attempt_us = kc_mono_us() + jittered * 1000;
    rd->backoff_ms = d * 2 < rd->backoff_max_ms ? (int)(d * 2) : rd->backoff_max_ms;
}

/* An I/O or protocol failure: the connection is out of sync or dead. */
static int conn_fail(kc_redis_t *rd, char *errstr, size_t errstr_size, const char *what)
{
    bool timeout = rd->c && rd->c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
    char relay[256];
    int rc;

    /* Over TLS hiredis only sees its socketpair close; the relay knows why
     * (a TLS alert such as "certificate required", the server's EOF). */
    kc_redis_tls_error(rd->tls, relay, sizeof(relay));
    if (timeout) {
        rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "%s: timed out after %d ms", what,
                  rd->command_timeout_ms);
    } else {
        rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "%s: %s%s%s%s", what,
                  rd->c && rd->c->errstr[0] ? rd->c->errstr : "connection lost",
                  relay[0] ? " (" : "", relay, relay[0] ? ")" : "");
    }
    conn_drop(rd);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Connection                                                                 */
/* ------------------------------------------------------------------------- */

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Server replies after which the connection is useless until re-established
 * (auth lost after a restart with requirepass, dataset still loading). */
static bool reply_is_fatal(const redisReply *r)
{
    return r->type == REDIS_REPLY_ERROR &&
           (strncmp(r->str, "NOAUTH", 6) == 0 || strncmp(r->str, "LOADING", 7) == 0 ||
            strncmp(r->str, "WRONGPASS", 9) == 0);
}

/* Read one reply. A non-error reply proves the server usable, so the backoff
 * starts over; a connect that succeeds is not enough (a hung server accepts
 * connections, and a wrong password fails only at AUTH). */
static int reply_read(kc_redis_t *rd, redisReply **r, char *errstr, size_t errstr_size,
                      const char *what)
{
    void *reply = NULL;

    if (redisGetReply(rd->c, &reply) != REDIS_OK || !reply) {
        return conn_fail(rd, errstr, errstr_size, what);
    }
    if (((redisReply *)reply)->type != REDIS_REPLY_ERROR) {
        rd->backoff_ms = rd->backoff_min_ms;
    }
    *r = reply;
    return 0;
}

static int append(kc_redis_t *rd, int argc, char *errstr, size_t errstr_size)
{
    if (redisAppendCommandArgv(rd->c, argc, rd->argv, rd->argvlen) != REDIS_OK) {
        /* Only an allocation failure; a partial command may be buffered. */
        int rc = fail(rd, KC_ERR_NOMEM, errstr, errstr_size, "out of memory building a command");
        conn_drop(rd);
        return rc;
    }
    return 0;
}

static void args_set(kc_redis_t *rd, int i, const char *s, size_t len)
{
    rd->argv[i] = s;
    rd->argvlen[i] = len;
}

static void args_str(kc_redis_t *rd, int i, const char *s)
{
    args_set(rd, i, s, strlen(s));
}

/* AUTH and SELECT, pipelined: one round trip. */
static int conn_handshake(kc_redis_t *rd, char *errstr, size_t errstr_size)
{
    char db[16];
    int cmds = 0, argc = 0, rc = 0;

    if (rd->url.password[0]) {
        args_str(rd, argc++, "AUTH");
        if (rd->url.user[0]) {
            args_str(rd, argc++, rd->url.user);
        }
        args_str(rd, argc++, rd->url.password);
        if ((rc = append(rd, argc, errstr, errstr_size))) {
            return rc;
        }
        cmds++;
    }
    if (rd->url.db != 0) {
        snprintf(db, sizeof(db), "%d", rd->url.db);
        args_str(rd, 0, "SELECT");
        args_str(rd, 1, db);
        if ((rc = append(rd, 2, errstr, errstr_size))) {
            return rc;
        }
        cmds++;
    }
    for (int i = 0; i < cmds; i++) {
        redisReply *r = NULL;
        int err = reply_read(rd, &r, errstr, errstr_size, "handshake");
        if (err) {
            return err; /* connection dropped */
        }
        /* After a failed AUTH, SELECT fails with NOAUTH: report the AUTH. */
        if (r->type == REDIS_REPLY_ERROR && !rc) {
            rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "%s failed: %s",
                      i == 0 && rd->url.password[0] ? "AUTH" : "SELECT", r->str);
        }
        freeReplyObject(r);
    }
    if (rc) {
        conn_drop(rd);
    }
    return rc;
}

/* rediss://: TCP + TLS handshake in the relay, hiredis on its socketpair. */
static int conn_open_tls(kc_redis_t *rd, char *errstr, size_t errstr_size)
{
    char why[256];
    int fd = -1, rc;

    rc = kc_redis_tls_new(rd->tctx, rd->url.host, rd->url.port, rd->connect_timeout_ms, &rd->tls,
                          &fd, why, sizeof(why));
    if (rc == 0 && !(rd->c = redisConnectFd(fd))) {
        close(fd); /* hiredis owns fd only once it returns a context */
        snprintf(why, sizeof(why), "out of memory");
        rc = KC_ERR_NOMEM;
    }
    if (rc) {
        rd->st.connect_failures++;
        rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "connect: %s", why);
        conn_drop(rd);
    }
    return rc;
}

static int conn_open(kc_redis_t *rd, char *errstr, size_t errstr_size)
{
    struct timeval ctv = tv_ms(rd->connect_timeout_ms);
    bool was_connected = rd->st.connects > 0;
    int rc;

    if (rd->url.tls) {
        if ((rc = conn_open_tls(rd, errstr, errstr_size))) {
            return rc;
        }
    } else {
        rd->c = rd->url.is_unix ? redisConnectUnixWithTimeout(rd->url.path, ctv)
                                : redisConnectWithTimeout(rd->url.host, rd->url.port, ctv);
    }
    if (!rd->c || rd->c->err) {
        rd->st.connect_failures++;
        rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "connect: %s",
                  rd->c ? rd->c->errstr : "out of memory");
        conn_drop(rd);
        return rc;
    }
    if (redisSetTimeout(rd->c, tv_ms(rd->command_timeout_ms)) != REDIS_OK) {
        rd->st.connect_failures++;
        return conn_fail(rd, errstr, errstr_size, "setting the socket timeout");
    }
    /* TCP keepalive finds a peer that vanished without a FIN. hiredis 0.14
     * marks the context failed if setsockopt fails, as it does on a unix
     * socket (and the relay's socketpair: the relay sets it on its TCP). */
    if (!rd->url.is_unix && !rd->url.tls && redisEnableKeepAlive(rd->c) != REDIS_OK) {
        rd->st.connect_failures++;
        return conn_fail(rd, errstr, errstr_size, "enabling TCP keepalive");
    }
    if ((rc = conn_handshake(rd, errstr, errstr_size))) {
        rd->st.connect_failures++;
        return rc;
    }
    rd->state = KC_REDIS_CONNECTED;
    rd->st.connects++;
    if (was_connected) {
        rd->st.reconnects++;
    }
    return 0;
}

/* Every call starts here: count it, and either have a connection or say
 * why not. While backing off this costs a clock read and nothing else. */
static int conn_ensure(kc_redis_t *rd, char *errstr, size_t errstr_size)
{
    int64_t now;

    rd->st.calls++;
    if (rd->c) {
        return 0;
    }
    now = kc_mono_us();
    if (rd->state == KC_REDIS_DOWN && now < rd->next_attempt_us) {
        rd->st.skipped++;
        return kc_seterr(KC_ERR_STATE, errstr, errstr_size,
                         "redis %s down, next connection attempt in %" PRId64
                         " ms (last error: %s)",
                         rd->endpoint, (rd->next_attempt_us - now + 999) / 1000, rd->last_err);
    }
    return conn_open(rd, errstr, errstr_size);
}

/* ------------------------------------------------------------------------- */
/* Lifecycle                                                                  */
/* ------------------------------------------------------------------------- */

static void endpoint_format(kc_redis_t *rd)
{
    const kc_redis_url_t *u = &rd->url;

    if (u->is_unix) {
        snprintf(rd->endpoint, sizeof(rd->endpoint), "unix:%s/%d", u->path, u->db);
    } else if (u->tls && strchr(u->host, ':')) {
        snprintf(rd->endpoint, sizeof(rd->endpoint), "tls:[%s]:%d/%d", u->host, u->port, u->db);
    } else if (u->tls) {
        snprintf(rd->endpoint, sizeof(rd->endpoint), "tls:%s:%d/%d", u->host, u->port, u->db);
    } else if (strchr(u->host, ':')) {
        snprintf(rd->endpoint, sizeof(rd->endpoint), "[%s]:%d/%d", u->host, u->port, u->db);
    } else {
        snprintf(rd->endpoint, sizeof(rd->endpoint), "%s:%d/%d", u->host, u->port, u->db);
    }
}

kc_redis_t *kc_redis_new(const char *url, const char *prefix, int connect_timeout_ms,
                         int command_timeout_ms, const kc_redis_tls_conf_t *tls, char *errstr,
                         size_t errstr_size)
{
    kc_redis_t *rd;

    if (connect_timeout_ms <= 0 || command_timeout_ms <= 0) {
        kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "redis timeouts must be > 0 ms");
        return NULL;
    }
    if (!(rd = calloc(1, sizeof(*rd)))) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (kc_redis_url_parse(url, &rd->url, errstr, errstr_size) != 0) {
        free(rd);
        return NULL;
    }
    /* Load the TLS files now: a wrong path is a start-up error, not a
     * connection failure retried forever. */
    if (rd->url.tls && !(rd->tctx = kc_redis_tls_ctx_new(tls, errstr, errstr_size))) {
        free(rd);
        return NULL;
    }
    rd->prefix = strdup(prefix ? prefix : KC_REDIS_DEFAULT_PREFIX);
    if (!rd->prefix) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        kc_redis_tls_ctx_destroy(rd->tctx);
        free(rd);
        return NULL;
    }
    rd->prefix_len = strlen(rd->prefix);
    rd->key_stride = rd->prefix_len + sizeof(LEASE_INFIX) - 1 + KC_KEY_HEX_SIZE;
    rd->connect_timeout_ms = connect_timeout_ms;
    rd->command_timeout_ms = command_timeout_ms;
    rd->backoff_min_ms = rd->backoff_ms = BACKOFF_MIN_MS;
    rd->backoff_max_ms = BACKOFF_MAX_MS;
    rd->rng = (uint64_t)kc_mono_us() ^ (uint64_t)(uintptr_t)rd ^ 0x9e3779b97f4a7c15ULL;
    rd->state = KC_REDIS_IDLE;
    endpoint_format(rd);
    return rd;
}

void kc_redis_destroy(kc_redis_t *rd)
{
    if (!rd) {
        return;
    }
    if (rd->c) {
        redisFree(rd->c);
    }
    kc_redis_tls_destroy(rd->tls);
    kc_redis_tls_ctx_destroy(rd->tctx);
    free(rd->prefix);
    free(rd->argv);
    free(rd->argvlen);
    free(rd->keybuf);
    free(rd);
}

int kc_redis_backoff_set(kc_redis_t *rd, int min_ms, int max_ms)
{
    if (!rd || min_ms <= 0 || max_ms < min_ms) {
        return KC_ERR_INVALID;
    }
    rd->backoff_min_ms = rd->backoff_ms = min_ms;
    rd->backoff_max_ms = max_ms;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Scratch: argument vectors and key strings                                  */
/* ------------------------------------------------------------------------- */

static int scratch_reserve(kc_redis_t *rd, size_t argc, size_t nkeys)
{
    if (argc > rd->argv_cap) {
        const char **argv = realloc(rd->argv, argc * sizeof(*argv));
        size_t *argvlen = argv ? realloc(rd->argvlen, argc * sizeof(*argvlen)) : NULL;
        if (argv) {
            rd->argv = argv;
        }
        if (!argvlen) {
            return KC_ERR_NOMEM;
        }
        rd->argvlen = argvlen;
        rd->argv_cap = argc;
    }
    if (nkeys > rd->keybuf_slots) {
        char *kb = realloc(rd->keybuf, nkeys * rd->key_stride);
        if (!kb) {
            return KC_ERR_NOMEM;
        }
        rd->keybuf = kb;
        rd->keybuf_slots = nkeys;
    }
    return 0;
}

/* Write key slot i (`<prefix>[lease:]<hex>`) and point argv[arg] at it. */
static void args_key(kc_redis_t *rd, int arg, size_t slot, const kc_key_t *key, bool lease)
{
    char *p = rd->keybuf + slot * rd->key_stride, *s = p;

    memcpy(p, rd->prefix, rd->prefix_len);
    p += rd->prefix_len;
    if (lease) {
        memcpy(p, LEASE_INFIX, sizeof(LEASE_INFIX) - 1);
        p += sizeof(LEASE_INFIX) - 1;
    }
    kc_key_hex(key, p);
    args_set(rd, arg, s, (size_t)(p - s) + KC_KEY_HEX_SIZE - 1);
}

/* Common entry checks; sizes the scratch for argc_per_key * n + extra args. */
static int call_begin(kc_redis_t *rd, size_t n, size_t argc, char *errstr, size_t errstr_size)
{
    if (n > MAX_BATCH) {
        return kc_seterr(KC_ERR_TOOBIG, errstr, errstr_size, "redis batch of %zu keys > %u", n,
                         MAX_BATCH);
    }
    /* The connection handshake (AUTH user password) needs 3 slots. */
    if (scratch_reserve(rd, argc > 3 ? argc : 3, n) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    return conn_ensure(rd, errstr, errstr_size);
}

/* A server error reply to one command: the connection stays unless the
 * error says it is unusable. */
static int server_error(kc_redis_t *rd, const redisReply *r, const char *what, char *errstr,
                        size_t errstr_size)
{
    int rc = fail(rd, KC_ERR_IO, errstr, errstr_size, "%s: %s", what, r->str);

    if (reply_is_fatal(r)) {
        conn_drop(rd);
    }
    return rc;
}

/* A reply of the wrong type: we and the server disagree, resynchronize. */
static int protocol_error(kc_redis_t *rd, const redisReply *r, const char *what, char *errstr,
                          size_t errstr_size)
{
    int rc =
        fail(rd, KC_ERR_IO, errstr, errstr_size, "%s: unexpected reply type %d", what, r->type);
    conn_drop(rd);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* MGET                                                                       */
/* ------------------------------------------------------------------------- */

static int mget_collect(kc_redis_t *rd, const redisReply *r, size_t n, kc_buf_t *vals, bool *found,
                        char *errstr, size_t errstr_size)
{
    size_t hits = 0;

    if (r->type == REDIS_REPLY_ERROR) {
        return server_error(rd, r, "MGET", errstr, errstr_size);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
        return protocol_error(rd, r, "MGET", errstr, errstr_size);
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = r->element[i];
        if (e->type == REDIS_REPLY_STRING) {
            if (kc_buf_append(&vals[i], e->str, e->len) != 0) {
                return fail(rd, KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
            }
            found[i] = true;
            hits++;
        } else if (e->type != REDIS_REPLY_NIL) {
            return protocol_error(rd, e, "MGET element", errstr, errstr_size);
        }
    }
    rd->st.hits += hits;
    rd->st.misses += n - hits;
    return 0;
}

int kc_redis_mget(kc_redis_t *rd, const kc_key_t *keys, size_t n, kc_buf_t *vals, bool *found,
                  char *errstr, size_t errstr_size)
{
    redisReply *r = NULL;
    int rc;

    if (!rd || (n > 0 && (!keys || !vals || !found))) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "kc_redis_mget: NULL argument");
    }
    for (size_t i = 0; i < n; i++) {
        found[i] = false;
        kc_buf_reset(&vals[i]);
    }
    if (n == 0) {
        return 0;
    }
    if ((rc = call_begin(rd, n, n + 1, errstr, errstr_size))) {
        return rc;
    }
    args_str(rd, 0, "MGET");
    for (size_t i = 0; i < n; i++) {
        args_key(rd, (int)i + 1, i, &keys[i], false);
    }
    if ((rc = append(rd, (int)n + 1, errstr, errstr_size)) ||
        (rc = reply_read(rd, &r, errstr, errstr_size, "MGET"))) {
        return rc;
    }
    rc = mget_collect(rd, r, n, vals, found, errstr, errstr_size);
    freeReplyObject(r);
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            found[i] = false;
        }
    }
    return rc;
}

/* ------------------------------------------------------------------------- */
/* Pipelined SETs: values and leases                                          */
/* ------------------------------------------------------------------------- */

/* Read n replies of a SET pipeline. All are read even after an error so the
 * connection stays in sync. ok[i] (if non-NULL) is true for "+OK", false for
 * nil (NX not set). @returns the first error. */
static int set_replies(kc_redis_t *rd, size_t n, bool *ok, size_t *ok_cnt, char *errstr,
                       size_t errstr_size)
{
    int rc = 0;

    *ok_cnt = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *r = NULL;
        int err = reply_read(rd, &r, errstr, errstr_size, "SET");
        if (err) {
            return err; /* connection dropped */
        }
        if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0) {
            (*ok_cnt)++;
            if (ok) {
                ok[i] = true;
            }
        } else if (r->type == REDIS_REPLY_ERROR) {
            bool fatal = reply_is_fatal(r);
            if (!rc || fatal) {
                rc = server_error(rd, r, "SET", errstr, errstr_size);
            }
            if (fatal) { /* connection gone: the rest cannot be read */
                freeReplyObject(r);
                return rc;
            }
        } else if (r->type != REDIS_REPLY_NIL) {
            rc = protocol_error(rd, r, "SET", errstr, errstr_size);
            freeReplyObject(r);
            return rc;
        }
        freeReplyObject(r);
    }
    return rc;
}

int kc_redis_set_many(kc_redis_t *rd, const kc_key_t *keys, const kc_buf_t *vals, size_t n,
                      int64_t ttl_s, char *errstr, size_t errstr_size)
{
    char ttl[24];
    size_t ok_cnt;
    int rc;

    if (!rd || (n > 0 && (!keys || !vals)) || ttl_s <= 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "kc_redis_set_many: NULL argument or ttl_s <= 0");
    }
    if (n == 0) {
        return 0;
    }
    if ((rc = call_begin(rd, n, 5, errstr, errstr_size))) {
        return rc;
    }
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_s);
    for (size_t i = 0; i < n; i++) {
        args_str(rd, 0, "SET");
        args_key(rd, 1, i, &keys[i], false);
        args_set(rd, 2, vals[i].data ? vals[i].data : "", vals[i].len);
        args_str(rd, 3, "EX");
        args_str(rd, 4, ttl);
        if ((rc = append(rd, 5, errstr, errstr_size))) {
            return rc;
        }
    }
    rc = set_replies(rd, n, NULL, &ok_cnt, errstr, errstr_size);
    rd->st.sets += ok_cnt;
    return rc;
}

int kc_redis_lease_acquire(kc_redis_t *rd, const kc_key_t *keys, size_t n, int64_t ttl_ms,
                           const char *token, bool *acquired, char *errstr, size_t errstr_size)
{
    char ttl[24];
    size_t ok_cnt;
    int rc;

    if (!rd || (n > 0 && (!keys || !acquired)) || ttl_ms <= 0 || !token || !*token) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "kc_redis_lease_acquire: NULL argument, empty token or ttl_ms <= 0");
    }
    for (size_t i = 0; i < n; i++) {
        acquired[i] = false;
    }
    if (n == 0) {
        return 0;
    }
    if ((rc = call_begin(rd, n, 6, errstr, errstr_size))) {
        return rc;
    }
    snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
    for (size_t i = 0; i < n; i++) {
        args_str(rd, 0, "SET");
        args_key(rd, 1, i, &keys[i], true);
        args_str(rd, 2, token);
        args_str(rd, 3, "NX");
        args_str(rd, 4, "PX");
        args_str(rd, 5, ttl);
        if ((rc = append(rd, 6, errstr, errstr_size))) {
            return rc;
        }
    }
    rc = set_replies(rd, n, acquired, &ok_cnt, errstr, errstr_size);
    if (rc) {
        /* Leases we did take expire on their own; saying "not ours" makes
         * the caller wait or fall through, never double-ask the LLM. */
        memset(acquired, 0, n * sizeof(*acquired));
        return rc;
    }
    rd->st.leases_acquired += ok_cnt;
    rd->st.leases_busy += n - ok_cnt;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Lease release: EVALSHA, EVAL when the script cache was flushed              */
/* ------------------------------------------------------------------------- */

static int release_send(kc_redis_t *rd, bool by_sha, size_t n, redisReply **r, char *errstr,
                        size_t errstr_size)
{
    int rc;

    args_str(rd, 0, by_sha ? "EVALSHA" : "EVAL");
    args_str(rd, 1, by_sha ? RELEASE_SHA : RELEASE_LUA);
    if ((rc = append(rd, (int)n + 4, errstr, errstr_size))) {
        return rc;
    }
    return reply_read(rd, r, errstr, errstr_size, by_sha ? "EVALSHA" : "EVAL");
}

int kc_redis_lease_release(kc_redis_t *rd, const kc_key_t *keys, size_t n, const char *token,
                           size_t *released, char *errstr, size_t errstr_size)
{
    char numkeys[24];
    redisReply *r = NULL;
    int rc;

    if (released) {
        *released = 0;
    }
    if (!rd || (n > 0 && !keys) || !token || !*token) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "kc_redis_lease_release: NULL argument or empty token");
    }
    if (n == 0) {
        return 0;
    }
    if ((rc = call_begin(rd, n, n + 4, errstr, errstr_size))) {
        return rc;
    }
    /* argv: EVALSHA sha numkeys key... token; slots 0-1 set by release_send */
    snprintf(numkeys, sizeof(numkeys), "%zu", n);
    args_str(rd, 2, numkeys);
    for (size_t i = 0; i < n; i++) {
        args_key(rd, (int)i + 3, i, &keys[i], true);
    }
    args_str(rd, (int)n + 3, token);
    if ((rc = release_send(rd, true, n, &r, errstr, errstr_size))) {
        return rc;
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        if ((rc = release_send(rd, false, n, &r, errstr, errstr_size))) {
            return rc;
        }
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        rd->st.leases_released += (uint64_t)r->integer;
        if (released) {
            *released = (size_t)r->integer;
        }
    } else {
        rc = r->type == REDIS_REPLY_ERROR
                 ? server_error(rd, r, "lease release", errstr, errstr_size)
                 : protocol_error(rd, r, "lease release", errstr, errstr_size);
    }
    freeReplyObject(r);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* PING, state, counters                                                      */
/* ------------------------------------------------------------------------- */

int kc_redis_ping(kc_redis_t *rd, char *errstr, size_t errstr_size)
{
    redisReply *r = NULL;
    int rc;

    if (!rd) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "kc_redis_ping: NULL client");
    }
    if ((rc = call_begin(rd, 0, 1, errstr, errstr_size))) {
        return rc;
    }
    args_str(rd, 0, "PING");
    if ((rc = append(rd, 1, errstr, errstr_size)) ||
        (rc = reply_read(rd, &r, errstr, errstr_size, "PING"))) {
        return rc;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rc = server_error(rd, r, "PING", errstr, errstr_size);
    } else if (r->type != REDIS_REPLY_STATUS) {
        rc = protocol_error(rd, r, "PING", errstr, errstr_size);
    }
    freeReplyObject(r);
    return rc;
}

kc_redis_state_t kc_redis_state(const kc_redis_t *rd)
{
    return rd->state;
}

const char *kc_redis_state_name(kc_redis_state_t state)
{
    switch (state) {
    case KC_REDIS_IDLE:
        return "idle";
    case KC_REDIS_CONNECTED:
        return "connected";
    case KC_REDIS_DOWN:
        return "down";
    }
    return "unknown";
}

const char *kc_redis_last_error(const kc_redis_t *rd)
{
    return rd->last_err;
}

int64_t kc_redis_retry_in_ms(const kc_redis_t *rd)
{
    int64_t left;

    if (rd->state != KC_REDIS_DOWN) {
        return 0;
    }
    left = rd->next_attempt_us - kc_mono_us();
    return left > 0 ? (left + 999) / 1000 : 0;
}

const char *kc_redis_endpoint(const kc_redis_t *rd)
{
    return rd->endpoint;
}

void kc_redis_stats(const kc_redis_t *rd, kc_redis_stats_t *st)
{
    *st = rd->st;
}
