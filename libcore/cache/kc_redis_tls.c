/*
 * TLS relay for the Redis client (see kc_redis_tls.h for the contract).
 *
 * hiredis 0.14 cannot speak TLS, so it talks plain RESP into one end of a
 * socketpair and a thread moves the bytes through OpenSSL to the server.
 * Everything the thread touches is non-blocking: it sleeps only in poll(),
 * on the TCP socket, its socketpair end and a stop pipe, so destroy can
 * always wake and join it.
 */
#define _GNU_SOURCE
#include "kc_redis_tls.h"
#include "kc_err.h"
#include "kc_time.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RELAY_BUF_SIZE   16384 /* one TLS record */
#define RELAY_MAX_CHUNKS 16    /* per direction per pass, so neither starves the other */

struct kc_redis_tls_ctx_s {
    SSL_CTX *ssl_ctx;
    bool verify;
};

typedef struct relay_buf_s {
    size_t off, len;
    char data[RELAY_BUF_SIZE];
} relay_buf_t;

struct kc_redis_tls_s {
    SSL *ssl;
    int tcp_fd;       /* to the server, through ssl */
    int local_fd;     /* our end of the socketpair; hiredis has the other */
    int stop_pipe[2]; /* a byte on [1] stops the relay */
    pthread_t thread;
    bool started;
    bool fatal; /* the relay saw a TLS or socket error: no close_notify */
    pthread_mutex_t lock;
    char err[256];    /* under lock: why the relay stopped on its own */
    relay_buf_t up;   /* hiredis -> server */
    relay_buf_t down; /* server -> hiredis */
};

/* ------------------------------------------------------------------------- */
/* Helpers                                                                    */
/* ------------------------------------------------------------------------- */

/* The most specific OpenSSL error queued on this thread, then clear the
 * queue (it is per thread, and a stale entry would mislead the next call). */
static const char *ssl_reason(char *buf, size_t size, const char *none)
{
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;

    if (!e) {
        snprintf(buf, size, "%s", none);
    } else if (reason) {
        snprintf(buf, size, "%s", reason);
    } else {
        ERR_error_string_n(e, buf, size);
    }
    ERR_clear_error();
    return buf;
}

bool kc_redis_tls_host_is_ip(const char *host)
{
    struct in_addr a4;

    /* A ':' can only be an IPv6 literal (kc_redis_url_parse strips the
     * brackets), possibly with a %zone. */
    return host && (strchr(host, ':') != NULL || inet_pton(AF_INET, host, &a4) == 1);
}

/* Wait for events on fd until deadline_us. @returns 0 when ready,
 * KC_ERR_TIMEOUT, or KC_ERR_IO (errno set). */
static int wait_fd(int fd, short events, int64_t deadline_us)
{
    struct pollfd pfd = {.fd = fd, .events = events};

    for (;;) {
        int64_t left = deadline_us - kc_mono_us();
        int n;

        if (left <= 0) {
            return KC_ERR_TIMEOUT;
        }
        n = poll(&pfd, 1, (int)((left + 999) / 1000));
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return KC_ERR_IO;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Configuration: one SSL_CTX                                                 */
/* ------------------------------------------------------------------------- */

static bool set(const char *s)
{
    return s && *s;
}

static int ctx_load_ca(SSL_CTX *ssl_ctx, const char *ca, char *errstr, size_t errstr_size)
{
    struct stat st;
    char why[160];
    bool dir;

    if (!set(ca)) {
        if (SSL_CTX_set_default_verify_paths(ssl_ctx) != 1) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "redis TLS: cannot load the system CA store: %s",
                             ssl_reason(why, sizeof(why), "unknown error"));
        }
        return 0;
    }
    if (stat(ca, &st) != 0) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: CA location '%s' (cache.redis.tls.ca.location): %s", ca,
                         strerror(errno));
    }
    dir = S_ISDIR(st.st_mode);
    if (SSL_CTX_load_verify_locations(ssl_ctx, dir ? NULL : ca, dir ? ca : NULL) != 1) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: cannot load CA %s '%s': %s", dir ? "directory" : "file", ca,
                         ssl_reason(why, sizeof(why), "no certificate in it"));
    }
    return 0;
}

static int ctx_load_cert(SSL_CTX *ssl_ctx, const kc_redis_tls_conf_t *conf, char *errstr,
                         size_t errstr_size)
{
    char why[160];

    if (set(conf->cert_location) != set(conf->key_location)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: cache.redis.tls.cert.location and "
                         "cache.redis.tls.key.location go together (set both or neither)");
    }
    if (!set(conf->cert_location)) {
        return 0;
    }
    if (SSL_CTX_use_certificate_chain_file(ssl_ctx, conf->cert_location) != 1) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: cannot load client certificate '%s': %s", conf->cert_location,
                         ssl_reason(why, sizeof(why), "unknown error"));
    }
    if (SSL_CTX_use_PrivateKey_file(ssl_ctx, conf->key_location, SSL_FILETYPE_PEM) != 1) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: cannot load client key '%s': %s", conf->key_location,
                         ssl_reason(why, sizeof(why), "unknown error"));
    }
    if (SSL_CTX_check_private_key(ssl_ctx) != 1) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "redis TLS: client key '%s' does not match certificate '%s'",
                         conf->key_location, conf->cert_location);
    }
    return 0;
}

kc_redis_tls_ctx_t *kc_redis_tls_ctx_new(const kc_redis_tls_conf_t *conf, char *errstr,
                                         size_t errstr_size)
{
    static const kc_redis_tls_conf_t defaults = KC_REDIS_TLS_CONF_DEFAULT;
    kc_redis_tls_ctx_t *tctx;
    char why[160];

    if (!conf) {
        conf = &defaults;
    }
    if (!(tctx = calloc(1, sizeof(*tctx)))) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    tctx->verify = conf->verify;
    if (!(tctx->ssl_ctx = SSL_CTX_new(TLS_client_method()))) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "redis TLS: SSL_CTX_new: %s",
                  ssl_reason(why, sizeof(why), "unknown error"));
        goto error;
    }
    SSL_CTX_set_min_proto_version(tctx->ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(tctx->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
    if (ctx_load_ca(tctx->ssl_ctx, conf->ca_location, errstr, errstr_size) ||
        ctx_load_cert(tctx->ssl_ctx, conf, errstr, errstr_size)) {
        goto error;
    }
    SSL_CTX_set_verify(tctx->ssl_ctx, conf->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    return tctx;

error:
    kc_redis_tls_ctx_destroy(tctx);
    return NULL;
}

void kc_redis_tls_ctx_destroy(kc_redis_tls_ctx_t *tctx)
{
    if (!tctx) {
        return;
    }
    SSL_CTX_free(tctx->ssl_ctx);
    free(tctx);
}

/* ------------------------------------------------------------------------- */
/* TCP connect with a deadline                                                */
/* ------------------------------------------------------------------------- */

static int tcp_connect_one(const struct addrinfo *ai, int64_t deadline_us, int *fdp)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int rc = 0, soerr = 0, one = 1;
    socklen_t len = sizeof(soerr);

    if (fd < 0) {
        return KC_ERR_IO;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            rc = KC_ERR_IO;
        } else if ((rc = wait_fd(fd, POLLOUT, deadline_us)) == 0) {
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
                errno = soerr ? soerr : errno;
                rc = KC_ERR_IO;
            }
        }
    }
    if (rc) {
        int saved = errno;
        close(fd);
        errno = saved;
        return rc;
    }
    /* As hiredis does for its own TCP connections: small commands go out at
     * once, and keepalive finds a server that vanished without a FIN. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    *fdp = fd;
    return 0;
}

static int tcp_connect(const char *host, int port, int timeout_ms, int64_t deadline_us, int *fdp,
                       char *errstr, size_t errstr_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char port_s[16];
    int rc = KC_ERR_IO, gai, saved = 0;

    snprintf(port_s, sizeof(port_s), "%d", port);
    if ((gai = getaddrinfo(host, port_s, &hints, &res)) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "resolving '%s': %s", host,
                         gai_strerror(gai));
    }
    for (ai = res; ai && rc != KC_ERR_TIMEOUT; ai = ai->ai_next) {
        if ((rc = tcp_connect_one(ai, deadline_us, fdp)) == 0) {
            break;
        }
        saved = errno;
    }
    freeaddrinfo(res);
    if (rc == KC_ERR_TIMEOUT) {
        return kc_seterr(rc, errstr, errstr_size, "connect timed out after %d ms", timeout_ms);
    }
    if (rc) {
        return kc_seterr(rc, errstr, errstr_size, "connect: %s", strerror(saved));
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Handshake                                                                  */
/* ------------------------------------------------------------------------- */

/* Expect the certificate to name host; send SNI for names only. */
static int ssl_setup(kc_redis_tls_ctx_t *tctx, kc_redis_tls_t *tls, const char *host)
{
    bool ip = kc_redis_tls_host_is_ip(host);
    char addr[INET6_ADDRSTRLEN + 1];

    if (!(tls->ssl = SSL_new(tctx->ssl_ctx)) || SSL_set_fd(tls->ssl, tls->tcp_fd) != 1) {
        return KC_ERR_NOMEM;
    }
    if (!ip && SSL_set_tlsext_host_name(tls->ssl, host) != 1) {
        return KC_ERR_INVALID;
    }
    if (!tctx->verify) {
        return 0;
    }
    if (!ip) {
        return SSL_set1_host(tls->ssl, host) == 1 ? 0 : KC_ERR_INVALID;
    }
    snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(host, "%"), host); /* no %zone */
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(tls->ssl), addr) == 1 ? 0 : KC_ERR_INVALID;
}

static int handshake_error(kc_redis_tls_ctx_t *tctx, kc_redis_tls_t *tls, int ssl_err, char *errstr,
                           size_t errstr_size)
{
    long v = SSL_get_verify_result(tls->ssl);
    char why[160];

    if (tctx->verify && v != X509_V_OK) {
        ERR_clear_error();
        return kc_seterr(KC_ERR_IO, errstr, errstr_size,
                         "TLS handshake: certificate verification failed: %s (is the server "
                         "certificate signed by cache.redis.tls.ca.location and issued for the "
                         "URL's host?)",
                         X509_verify_cert_error_string(v));
    }
    if (ssl_err == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size,
                         "TLS handshake: connection closed by the server%s%s",
                         errno ? ": " : " (is it a TLS port?)", errno ? strerror(errno) : "");
    }
    return kc_seterr(KC_ERR_IO, errstr, errstr_size, "TLS handshake: %s",
                     ssl_reason(why, sizeof(why), "failed"));
}

static int handshake(kc_redis_tls_ctx_t *tctx, kc_redis_tls_t *tls, int timeout_ms,
                     int64_t deadline_us, char *errstr, size_t errstr_size)
{
    for (;;) {
        int n, e, rc;

        ERR_clear_error();
        errno = 0;
        if ((n = SSL_connect(tls->ssl)) == 1) {
            return 0;
        }
        e = SSL_get_error(tls->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            return handshake_error(tctx, tls, e, errstr, errstr_size);
        }
        rc = wait_fd(tls->tcp_fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_us);
        if (rc == KC_ERR_TIMEOUT) {
            return kc_seterr(rc, errstr, errstr_size, "TLS handshake timed out after %d ms",
                             timeout_ms);
        }
        if (rc) {
            return kc_seterr(rc, errstr, errstr_size, "TLS handshake: poll: %s", strerror(errno));
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Relay thread                                                               */
/* ------------------------------------------------------------------------- */

enum { PUMP_MORE = 0, PUMP_DONE = 1, PUMP_FAILED = -1 };

static int relay_fail(kc_redis_tls_t *tls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Record why the relay stops (the first reason wins). */
static int relay_fail(kc_redis_tls_t *tls, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&tls->lock);
    if (!tls->err[0]) {
        va_start(ap, fmt);
        vsnprintf(tls->err, sizeof(tls->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&tls->lock);
    tls->fatal = true;
    return PUMP_FAILED;
}

/* An SSL_read/SSL_write that did not move data: what to wait for, or why
 * the connection is over. */
static int ssl_wait_or_fail(kc_redis_tls_t *tls, int n, short *tcp_ev)
{
    int e = SSL_get_error(tls->ssl, n);
    char why[160];

    switch (e) {
    case SSL_ERROR_WANT_READ:
        *tcp_ev |= POLLIN;
        return PUMP_MORE;
    case SSL_ERROR_WANT_WRITE:
        *tcp_ev |= POLLOUT;
        return PUMP_MORE;
    case SSL_ERROR_ZERO_RETURN:
        return relay_fail(tls, "TLS: the server closed the connection");
    case SSL_ERROR_SYSCALL:
        return relay_fail(tls, "TLS: connection to the server lost: %s",
                          errno ? strerror(errno) : "EOF");
    default:
        return relay_fail(tls, "TLS: %s", ssl_reason(why, sizeof(why), "error"));
    }
}

/* Server -> hiredis. SSL_read is called until it wants I/O, so nothing stays
 * buffered inside OpenSSL where poll() cannot see it. */
static int pump_down(kc_redis_tls_t *tls, short *tcp_ev, short *loc_ev, bool *busy)
{
    relay_buf_t *b = &tls->down;

    for (int i = 0; i < RELAY_MAX_CHUNKS; i++) {
        ssize_t n;

        if (b->len == 0) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(tls->ssl, b->data, sizeof(b->data));
            if (r <= 0) {
                return ssl_wait_or_fail(tls, r, tcp_ev);
            }
            b->off = 0;
            b->len = (size_t)r;
        }
        n = send(tls->local_fd, b->data + b->off, b->len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            *loc_ev |= POLLOUT;
            return PUMP_MORE;
        }
        if (n < 0) {
            return PUMP_DONE; /* hiredis closed its end: nobody to answer */
        }
        b->off += (size_t)n;
        b->len -= (size_t)n;
    }
    *busy = true;
    return PUMP_MORE;
}

/* hiredis -> server. */
static int pump_up(kc_redis_tls_t *tls, short *tcp_ev, short *loc_ev, bool *busy)
{
    relay_buf_t *b = &tls->up;

    for (int i = 0; i < RELAY_MAX_CHUNKS; i++) {
        int w;

        if (b->len == 0) {
            ssize_t n = recv(tls->local_fd, b->data, sizeof(b->data), 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
                *loc_ev |= POLLIN;
                return PUMP_MORE;
            }
            if (n <= 0) {
                return PUMP_DONE; /* redisFree closed the other end */
            }
            b->off = 0;
            b->len = (size_t)n;
        }
        /* After WANT_*, SSL_write is retried with the same buffer and
         * length, as OpenSSL requires: off and len only move on success. */
        ERR_clear_error();
        errno = 0;
        w = SSL_write(tls->ssl, b->data + b->off, (int)b->len);
        if (w <= 0) {
            return ssl_wait_or_fail(tls, w, tcp_ev);
        }
        b->off += (size_t)w;
        b->len -= (size_t)w;
    }
    *busy = true;
    return PUMP_MORE;
}

static void *relay_main(void *arg)
{
    kc_redis_tls_t *tls = arg;

    for (;;) {
        short tcp_ev = 0, loc_ev = 0;
        bool busy = false;
        struct pollfd pfd[3];

        if (pump_down(tls, &tcp_ev, &loc_ev, &busy) != PUMP_MORE ||
            pump_up(tls, &tcp_ev, &loc_ev, &busy) != PUMP_MORE) {
            break;
        }
        /* An fd nobody waits on is left out: its POLLHUP would spin us. */
        pfd[0] = (struct pollfd){.fd = tcp_ev ? tls->tcp_fd : -1, .events = tcp_ev};
        pfd[1] = (struct pollfd){.fd = loc_ev ? tls->local_fd : -1, .events = loc_ev};
        pfd[2] = (struct pollfd){.fd = tls->stop_pipe[0], .events = POLLIN};
        if (poll(pfd, 3, busy ? 0 : -1) < 0 && errno != EINTR) {
            relay_fail(tls, "relay: poll: %s", strerror(errno));
            break;
        }
        if (pfd[2].revents) {
            return NULL; /* kc_redis_tls_destroy */
        }
    }
    /* hiredis sees EOF at once instead of waiting for its timeout. */
    shutdown(tls->local_fd, SHUT_RDWR);
    return NULL;
}

/* ------------------------------------------------------------------------- */
/* Lifecycle                                                                  */
/* ------------------------------------------------------------------------- */

static int relay_start(kc_redis_tls_t *tls, int *fd_out, char *errstr, size_t errstr_size)
{
    int sv[2], rc;
    sigset_t all, old;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "socketpair: %s", strerror(errno));
    }
    tls->local_fd = sv[1];
    if (fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0 || fcntl(tls->tcp_fd, F_SETFL, O_NONBLOCK) != 0 ||
        pipe2(tls->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        close(sv[0]);
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "relay setup: %s", strerror(errno));
    }
    /* The thread inherits a full signal mask: signals stay with the
     * program's threads, whose handlers expect them. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&tls->thread, NULL, relay_main, tls);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        close(sv[0]);
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "relay thread: %s", strerror(rc));
    }
    tls->started = true;
    *fd_out = sv[0];
    return 0;
}

int kc_redis_tls_new(kc_redis_tls_ctx_t *tctx, const char *host, int port, int connect_timeout_ms,
                     kc_redis_tls_t **tlsp, int *fd_out, char *errstr, size_t errstr_size)
{
    int64_t deadline_us = kc_mono_us() + (int64_t)connect_timeout_ms * 1000;
    kc_redis_tls_t *tls;
    int rc;

    if (!tctx || !host || !*host || port <= 0 || port > 65535 || connect_timeout_ms <= 0 || !tlsp ||
        !fd_out) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "kc_redis_tls_new: bad argument");
    }
    *tlsp = NULL;
    *fd_out = -1;
    if (!(tls = calloc(1, sizeof(*tls)))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    tls->tcp_fd = tls->local_fd = tls->stop_pipe[0] = tls->stop_pipe[1] = -1;
    pthread_mutex_init(&tls->lock, NULL);
    if ((rc = tcp_connect(host, port, connect_timeout_ms, deadline_us, &tls->tcp_fd, errstr,
                          errstr_size))) {
        goto error;
    }
    if ((rc = ssl_setup(tctx, tls, host))) {
        kc_seterr(rc, errstr, errstr_size, "TLS setup for host '%s' failed", host);
        goto error;
    }
    if ((rc = handshake(tctx, tls, connect_timeout_ms, deadline_us, errstr, errstr_size)) ||
        (rc = relay_start(tls, fd_out, errstr, errstr_size))) {
        goto error;
    }
    *tlsp = tls;
    return 0;

error:
    tls->fatal = true; /* no close_notify on a half-made connection */
    kc_redis_tls_destroy(tls);
    return rc;
}

void kc_redis_tls_destroy(kc_redis_tls_t *tls)
{
    if (!tls) {
        return;
    }
    if (tls->started) {
        while (write(tls->stop_pipe[1], "x", 1) < 0 && errno == EINTR) {
        }
        pthread_join(tls->thread, NULL);
    }
    if (tls->ssl && !tls->fatal) {
        SSL_shutdown(tls->ssl); /* one try at close_notify: never blocks */
    }
    SSL_free(tls->ssl);
    ERR_clear_error();
    for (int i = 0; i < 2; i++) {
        if (tls->stop_pipe[i] >= 0) {
            close(tls->stop_pipe[i]);
        }
    }
    if (tls->tcp_fd >= 0) {
        close(tls->tcp_fd);
    }
    if (tls->local_fd >= 0) {
        close(tls->local_fd);
    }
    pthread_mutex_destroy(&tls->lock);
    free(tls);
}

const char *kc_redis_tls_error(kc_redis_tls_t *tls, char *buf, size_t buf_size)
{
    if (!buf || buf_size == 0) {
        return "";
    }
    buf[0] = '\0';
    if (tls) {
        pthread_mutex_lock(&tls->lock);
        snprintf(buf, buf_size, "%s", tls->err);
        pthread_mutex_unlock(&tls->lock);
    }
    return buf;
}
