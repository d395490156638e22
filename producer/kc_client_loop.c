/**
 * The client's background thread: serves delivery reports, reads replies,
 * matches them to waiting requests, expires timeouts, and runs callbacks.
 * Callbacks are called with no client lock held, so they may send again.
 */
#include "kc_client_int.h"
#include "kc_err.h"
#include "kc_time.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOOP_MAX_WAIT_MS 100  /* a safety net: queue events normally wake us */
#define REPLY_BATCH      1000 /* replies per turn before serving the producer again */

/* ---------------------------------------------------------------------------
 * Recently answered ids
 * ------------------------------------------------------------------------- */

int kc_recent_init(kc_recent_t *rc, size_t cap)
{
    rc->cap = cap ? cap : 65536;
    rc->pos = rc->cnt = 0;
    rc->ring = calloc(rc->cap, sizeof(kc_key_t));
    rc->km = kc_keymap_new(rc->cap);
    return rc->ring && rc->km ? 0 : KC_ERR_NOMEM;
}

void kc_recent_free(kc_recent_t *rc)
{
    free(rc->ring);
    kc_keymap_destroy(rc->km);
    rc->ring = NULL;
    rc->km = NULL;
}

/* Map values are counts stored in the pointer (an id can be in the ring twice). */
static void recent_count(kc_recent_t *rc, const kc_key_t *key, int delta)
{
    uintptr_t n = (uintptr_t)kc_keymap_get(rc->km, key) + (uintptr_t)(intptr_t)delta;

    if (n == 0) {
        kc_keymap_del(rc->km, key);
    } else if (kc_keymap_put(rc->km, key, (void *)n) != 0) {
        kc_keymap_del(rc->km, key); /* out of memory: forget, at worst miscount one reply */
    }
}

void kc_recent_add(kc_recent_t *rc, const char *id)
{
    kc_key_t key = kc_key_compute(id, strlen(id), 0);

    if (rc->cnt == rc->cap) {
        recent_count(rc, &rc->ring[rc->pos], -1);
    } else {
        rc->cnt++;
    }
    rc->ring[rc->pos] = key;
    rc->pos = (rc->pos + 1) % rc->cap;
    recent_count(rc, &key, +1);
}

bool kc_recent_has(const kc_recent_t *rc, const char *id)
{
    kc_key_t key = kc_key_compute(id, strlen(id), 0);

    return kc_keymap_get(rc->km, &key) != NULL;
}

/* ---------------------------------------------------------------------------
 * Events and completions
 * ------------------------------------------------------------------------- */

void kc_client_event(kc_client_t *cl, kc_client_event_t ev, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!cl->opts.on_event) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cl->opts.on_event(ev, msg, cl->opts.event_opaque);
}

/* w is out of the table. It is freed here unless its delivery report is still
 * to come (the report's opaque points at it). */
void kc_client_complete(kc_client_t *cl, kc_waiter_t *w, int err, const char *errmsg,
                        kc_result_t *res)
{
    (void)cl;
    w->done = true;
    w->cb(err, errmsg, res, kc_mono_us() - w->sent_us, w->opaque);
    if (w->dr_seen) {
        free(w);
    }
}

void kc_client_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    kc_client_t *cl = opaque;
    kc_waiter_t *w = rkm->_private; /* NULL for kc_client_send() */
    bool fail_waiter = false;
    char msg[512];

    (void)rk;
    pthread_mutex_lock(&cl->lock);
    if (rkm->err) {
        cl->st.delivery_failed++;
    } else {
        cl->st.delivered++;
    }
    if (w && rkm->err && w->in_table) {
        kc_pending_remove(cl->pending, w);
        fail_waiter = true;
    }
    pthread_mutex_unlock(&cl->lock);
    if (rkm->err) {
        snprintf(msg, sizeof(msg), "delivery to %s failed: %s", rd_kafka_topic_name(rkm->rkt),
                 rd_kafka_err2str(rkm->err));
        kc_client_event(cl, KC_CLIENT_EV_DELIVERY_FAILED, "%s", msg);
    }
    if (!w) {
        return;
    }
    w->dr_seen = true;
    if (fail_waiter) {
        kc_client_complete(cl, w, KC_ERR_KAFKA, msg, NULL); /* frees w */
    } else if (w->done) {
        free(w);
    }
}

/* ---------------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------------- */

/* The correlation id: header kafka_correlationId, else the key. false if neither. */
static bool reply_id(const rd_kafka_message_t *rkm, char id[KC_CLIENT_ID_MAX])
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t len = 0;

    if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, "kafka_correlationId", &val, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        val) {
        /* found */
    } else if (rkm->key) {
        val = rkm->key;
        len = rkm->key_len;
    } else {
        return false;
    }
    if (len == 0 || len >= KC_CLIENT_ID_MAX || memchr(val, 0, len)) {
        return false;
    }
    memcpy(id, val, len);
    id[len] = '\0';
    return true;
}

/* A reply nobody waits for: a duplicate (at-least-once) or another client's. */
static bool reply_unwanted(kc_client_t *cl, const char *id)
{
    bool unwanted;

    pthread_mutex_lock(&cl->lock);
    unwanted = !kc_pending_has(cl->pending, id);
    if (unwanted && kc_recent_has(&cl->recent, id)) {
        cl->st.duplicates++;
    } else if (unwanted) {
        cl->st.foreign++;
    }
    pthread_mutex_unlock(&cl->lock);
    return unwanted;
}

static void reply_bad(kc_client_t *cl, const rd_kafka_message_t *rkm, const char *why)
{
    pthread_mutex_lock(&cl->lock);
    cl->st.bad_replies++;
    pthread_mutex_unlock(&cl->lock);
    kc_client_event(cl, KC_CLIENT_EV_BAD_REPLY, "%s [%" PRId32 "] offset %" PRId64 ": %s",
                    rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset, why);
}

static void reply_handle(kc_client_t *cl, const rd_kafka_message_t *rkm)
{
    char id[KC_CLIENT_ID_MAX], errstr[256];
    bool have_id = reply_id(rkm, id);
    kc_result_t res = {0};
    kc_waiter_t *w;

    /* Checked before decoding: on a shared reply topic most records are not ours. */
    if (have_id && reply_unwanted(cl, id)) {
        return;
    }
    if (kc_avro_result_decode(cl->av_recv, rkm->payload, rkm->len, &res, errstr, sizeof(errstr)) !=
        0) {
        reply_bad(cl, rkm, errstr);
        return;
    }
    if (have_id ? strcmp(res.request_id, id) != 0 : reply_unwanted(cl, res.request_id)) {
        if (have_id) {
            reply_bad(cl, rkm, "kafka_correlationId differs from the result's request_id");
        }
        kc_result_clear(&res);
        return;
    }
    pthread_mutex_lock(&cl->lock);
    if ((w = kc_pending_take(cl->pending, res.request_id))) {
        cl->st.answered++;
        kc_recent_add(&cl->recent, res.request_id);
    }
    pthread_mutex_unlock(&cl->lock);
    if (w) {
        kc_client_complete(cl, w, 0, NULL, &res);
    }
    kc_result_clear(&res);
}

/* @returns true if the batch was full (more may be waiting). */
static bool replies_drain(kc_client_t *cl)
{
    rd_kafka_message_t *rkm;
    int n = 0;

    while (n < REPLY_BATCH && (rkm = rd_kafka_consumer_poll(cl->rkc, 0))) {
        if (rkm->err) {
            kc_client_event(cl, KC_CLIENT_EV_KAFKA_ERROR, "reply consumer: %s",
                            rd_kafka_message_errstr(rkm));
        } else {
            reply_handle(cl, rkm);
        }
        rd_kafka_message_destroy(rkm);
        n++;
    }
    return n == REPLY_BATCH;
}

/* ---------------------------------------------------------------------------
 * Timeouts and the loop
 * ------------------------------------------------------------------------- */

static void timeouts_expire(kc_client_t *cl)
{
    kc_waiter_t *expired = NULL, *w;
    int64_t now = kc_mono_us();

    pthread_mutex_lock(&cl->lock);
    while ((w = kc_pending_expire(cl->pending, now))) {
        cl->st.timed_out++;
        kc_recent_add(&cl->recent, w->id); /* a late reply is then a duplicate */
        w->next = expired;
        expired = w;
    }
    pthread_mutex_unlock(&cl->lock);
    while ((w = expired)) {
        expired = w->next;
        kc_client_complete(cl, w, KC_ERR_TIMEOUT, "no reply within the timeout", NULL);
    }
}

static int loop_wait_ms(kc_client_t *cl)
{
    int64_t next, wait_ms = LOOP_MAX_WAIT_MS;

    pthread_mutex_lock(&cl->lock);
    next = kc_pending_next_deadline(cl->pending);
    pthread_mutex_unlock(&cl->lock);
    if (next) {
        int64_t until = (next - kc_mono_us() + 999) / 1000;
        wait_ms = until < 0 ? 0 : (until < wait_ms ? until : wait_ms);
    }
    return (int)wait_ms;
}

void kc_client_wake(kc_client_t *cl)
{
    ssize_t n;

    do {
        n = write(cl->wake[1], "w", 1);
    } while (n < 0 && errno == EINTR); /* EAGAIN: a full pipe wakes the loop anyway */
}

static void wake_drain(kc_client_t *cl)
{
    char buf[256];

    while (read(cl->wake[0], buf, sizeof(buf)) > 0) {
    }
}

void *kc_client_loop(void *arg)
{
    kc_client_t *cl = arg;
    bool busy = false;

    while (!atomic_load(&cl->stop)) {
        struct pollfd pfd = {.fd = cl->wake[0], .events = POLLIN};
        if (poll(&pfd, 1, busy ? 0 : loop_wait_ms(cl)) > 0) {
            wake_drain(cl);
        }
        rd_kafka_poll(cl->rk, 0); /* delivery reports */
        busy = cl->rkc && replies_drain(cl);
        timeouts_expire(cl);
    }
    return NULL;
}
