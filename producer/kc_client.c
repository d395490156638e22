/**
 * kcclient: lifecycle and the sending side. See kc_client.h for the contract
 * and kc_client_int.h for the locking.
 */
#include "kc_client_int.h"
#include "kc_err.h"
#include "kc_input.h"
#include "kc_taxonomy.h"
#include "kc_time.h"
#include "kc_uuid.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DESTROY_FLUSH_MS 5000

/* ---------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------- */

/* Copies conf through its table, so the client owns every string. */
static int conf_copy(kc_client_t *cl, const kc_producer_conf_t *conf, char *errstr,
                     size_t errstr_size)
{
    int rc = kc_conf_defaults(kc_producer_conf_props, &cl->conf, errstr, errstr_size);

    for (const kc_conf_prop_t *p = kc_producer_conf_props; rc == 0 && p->name; p++) {
        const char *src = (const char *)conf + p->offset;
        char num[32];
        const char *value = num;
        if (p->type == KC_CONF_STR) {
            value = *(char *const *)src;
        } else if (p->type == KC_CONF_INT) {
            snprintf(num, sizeof(num), "%" PRId64, *(const int64_t *)src);
        } else {
            snprintf(num, sizeof(num), "%d", *(const int *)src);
        }
        rc = kc_conf_set(kc_producer_conf_props, &cl->conf, NULL, p->name, value ? value : "",
                         errstr, errstr_size);
    }
    return rc;
}

static int kafka_copy(kc_client_t *cl, const kc_conf_kv_list_t *kafka)
{
    for (size_t i = 0; kafka && i < kafka->cnt; i++) {
        if (kc_conf_kv_set(&cl->kafka, kafka->keys[i], kafka->values[i]) != 0) {
            return KC_ERR_NOMEM;
        }
    }
    return 0;
}

/* The key seed must be the workers': then the request key equals the reply's query_hash. */
static int key_seed_load(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    kc_taxonomy_t *tx;

    if (cl->conf.taxonomy_file[0]) {
        tx = kc_taxonomy_load(cl->conf.taxonomy_file, errstr, errstr_size);
    } else if (!(tx = kc_taxonomy_new_default())) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    if (!tx) {
        return KC_ERR_CONFIG;
    }
    cl->key_seed = kc_taxonomy_key_seed(tx, cl->conf.llm_model);
    kc_taxonomy_destroy(tx);
    return 0;
}

static int conf_check(const kc_client_t *cl, char *errstr, size_t errstr_size)
{
    if (!kc_input_topic_valid(cl->conf.topic_requests) ||
        !kc_input_topic_valid(cl->conf.topic_replies)) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "topic.requests '%s' / topic.replies '%s': invalid topic name",
                         cl->conf.topic_requests, cl->conf.topic_replies);
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------- */

static int pipe_open(kc_client_t *cl)
{
    if (pipe(cl->wake) != 0) {
        cl->wake[0] = cl->wake[1] = -1;
        return KC_ERR_IO;
    }
    for (int i = 0; i < 2; i++) {
        fcntl(cl->wake[i], F_SETFL, fcntl(cl->wake[i], F_GETFL) | O_NONBLOCK);
        fcntl(cl->wake[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

static int client_init(kc_client_t *cl, char *errstr, size_t errstr_size)
{
    sigset_t all, old;
    int rc;

    if (pipe_open(cl) != 0) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "pipe: out of file descriptors");
    }
    if (!(cl->pending = kc_pending_new()) || kc_recent_init(&cl->recent, cl->opts.recent_ids)) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    cl->av_send = kc_avro_new((int32_t)cl->conf.schema_id_request,
                              (int32_t)cl->conf.schema_id_result, errstr, errstr_size);
    cl->av_recv = kc_avro_new((int32_t)cl->conf.schema_id_request,
                              (int32_t)cl->conf.schema_id_result, errstr, errstr_size);
    if (!cl->av_send || !cl->av_recv) {
        return KC_ERR_CONFIG;
    }
    if ((rc = kc_client_kafka_setup(cl, errstr, errstr_size)) != 0) {
        return rc;
    }
    /* Like librdkafka's threads, ours takes no signals: they stay the application's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&cl->thread, NULL, kc_client_loop, cl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot start the client thread");
    }
    cl->thread_started = true;
    return 0;
}

kc_client_t *kc_client_new(const kc_producer_conf_t *conf, const kc_conf_kv_list_t *kafka,
                           const kc_client_opts_t *opts, char *errstr, size_t errstr_size)
{
    kc_client_t *cl = calloc(1, sizeof(*cl));

    if (!cl) {
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    cl->wake[0] = cl->wake[1] = -1;
    pthread_mutex_init(&cl->send_lock, NULL);
    pthread_mutex_init(&cl->lock, NULL);
    kc_buf_init(&cl->value);
    atomic_init(&cl->stop, false);
    if (opts) {
        cl->opts = *opts;
    }
    if (conf_copy(cl, conf, errstr, errstr_size) != 0 || kafka_copy(cl, kafka) != 0 ||
        conf_check(cl, errstr, errstr_size) != 0 || key_seed_load(cl, errstr, errstr_size) != 0 ||
        client_init(cl, errstr, errstr_size) != 0) {
        kc_client_destroy(cl);
        return NULL;
    }
    return cl;
}

kc_client_t *kc_client_new_kv(const char *const *kv, const kc_client_opts_t *opts, char *errstr,
                              size_t errstr_size)
{
    kc_producer_conf_t conf = {0};
    kc_conf_kv_list_t kafka = {0};
    kc_client_t *cl = NULL;
    int rc = kc_conf_defaults(kc_producer_conf_props, &conf, errstr, errstr_size);

    for (size_t i = 0; rc == 0 && kv && kv[i]; i += 2) {
        if (!kv[i + 1]) {
            rc = kc_seterr(KC_ERR_CONFIG, errstr, errstr_size, "%s: no value", kv[i]);
        } else {
            rc = kc_conf_set(kc_producer_conf_props, &conf, &kafka, kv[i], kv[i + 1], errstr,
                             errstr_size);
        }
    }
    if (rc == 0) {
        cl = kc_client_new(&conf, &kafka, opts, errstr, errstr_size);
    }
    kc_conf_free(kc_producer_conf_props, &conf);
    kc_conf_kv_free(&kafka);
    return cl;
}

/* Waiters never answered get KC_ERR_STATE; all are freed once librdkafka is gone. */
static void waiters_fail_all(kc_client_t *cl)
{
    kc_waiter_t *w;

    while (cl->pending && (w = kc_pending_pop_any(cl->pending))) {
        cl->st.pending = 0;
        w->dr_seen = true; /* the producer is destroyed: no report will refer to it */
        kc_client_complete(cl, w, KC_ERR_STATE, "client destroyed before the reply came", NULL);
    }
}

static void kafka_close(kc_client_t *cl)
{
    if (cl->rk) {
        rd_kafka_flush(cl->rk, DESTROY_FLUSH_MS); /* serves delivery reports here */
        rd_kafka_purge(cl->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(cl->rk, 1000); /* the purged messages' reports */
    }
    if (cl->rkq_main) {
        rd_kafka_queue_destroy(cl->rkq_main);
    }
    if (cl->rkq_cons) {
        rd_kafka_queue_destroy(cl->rkq_cons);
    }
    if (cl->rkc) {
        rd_kafka_consumer_close(cl->rkc);
        rd_kafka_destroy(cl->rkc);
    }
    if (cl->rk) {
        rd_kafka_destroy(cl->rk);
    }
}

void kc_client_destroy(kc_client_t *cl)
{
    if (!cl) {
        return;
    }
    if (cl->thread_started) {
        atomic_store(&cl->stop, true);
        kc_client_wake(cl);
        pthread_join(cl->thread, NULL);
    }
    kafka_close(cl);
    waiters_fail_all(cl);
    kc_pending_destroy(cl->pending);
    kc_recent_free(&cl->recent);
    kc_avro_destroy(cl->av_send);
    kc_avro_destroy(cl->av_recv);
    kc_buf_free(&cl->value);
    for (int i = 0; i < 2; i++) {
        if (cl->wake[i] >= 0) {
            close(cl->wake[i]);
        }
    }
    kc_conf_free(kc_producer_conf_props, &cl->conf);
    kc_conf_kv_free(&cl->kafka);
    pthread_mutex_destroy(&cl->send_lock);
    pthread_mutex_destroy(&cl->lock);
    free(cl);
}

/* ---------------------------------------------------------------------------
 * Sending
 * ------------------------------------------------------------------------- */

/* Hex cache key of the normalized query; for invalid UTF-8 (which the worker
 * answers with ERROR) a 64-bit hash of the raw bytes still spreads partitions. */
static int request_key(const kc_client_t *cl, const kc_request_t *req, char key[KC_KEY_HEX_SIZE])
{
    char *norm = malloc(req->query_len + 1);
    size_t norm_len;

    if (!norm) {
        return KC_ERR_NOMEM;
    }
    if (kc_query_normalize(req->query, req->query_len, norm, &norm_len) == 0) {
        kc_key_t k = kc_key_compute(norm, norm_len, cl->key_seed);
        kc_key_hex(&k, key);
    } else {
        snprintf(key, KC_KEY_HEX_SIZE, "%016" PRIx64,
                 kc_hash64(req->query, req->query_len, cl->key_seed));
    }
    free(norm);
    return 0;
}

/* Under lock: track w (if any) and hand the encoded value to librdkafka. */
static rd_kafka_resp_err_t produce_locked(kc_client_t *cl, const char *key, kc_waiter_t *w,
                                          int timeout_ms, bool *wake)
{
    rd_kafka_resp_err_t err;

    if (w) {
        w->sent_us = kc_mono_us();
        w->deadline_us = timeout_ms > 0 ? w->sent_us + (int64_t)timeout_ms * 1000 : 0;
        if (kc_pending_add(cl->pending, w) != 0) {
            return RD_KAFKA_RESP_ERR__FAIL;
        }
    }
    err = rd_kafka_producev(
        cl->rk, RD_KAFKA_V_TOPIC(cl->conf.topic_requests), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(cl->value.data, cl->value.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(w), RD_KAFKA_V_END);
    if (err && w) {
        kc_pending_remove(cl->pending, w);
    } else if (!err) {
        cl->st.sent++;
        /* a deadline earlier than the loop's current sleep: wake it */
        *wake = w && w->deadline_us && kc_pending_next_deadline(cl->pending) == w->deadline_us;
    }
    return err;
}

/* A full producer queue is back-pressure: the loop serves reports; retry. */
static int produce_value(kc_client_t *cl, const char *key, kc_waiter_t *w, int timeout_ms,
                         char *errstr, size_t errstr_size)
{
    int64_t give_up = kc_mono_us() + (int64_t)KC_CLIENT_QUEUE_FULL_WAIT_MS * 1000;
    rd_kafka_resp_err_t err;
    bool wake = false;

    for (;;) {
        pthread_mutex_lock(&cl->lock);
        err = produce_locked(cl, key, w, timeout_ms, &wake);
        pthread_mutex_unlock(&cl->lock);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || kc_mono_us() > give_up) {
            break;
        }
        usleep(1000);
    }
    if (wake) {
        kc_client_wake(cl);
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return kc_seterr(KC_ERR_FULL, errstr, errstr_size, "producer queue full for %d ms",
                         KC_CLIENT_QUEUE_FULL_WAIT_MS);
    }
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "produce to %s failed: %s",
                         cl->conf.topic_requests, rd_kafka_err2str(err));
    }
    return 0;
}

/* Completes a copy of req (id, created_at, reply topic), encodes and produces it. */
static int send_request(kc_client_t *cl, const kc_request_t *req, const char *id, kc_waiter_t *w,
                        int timeout_ms, char *errstr, size_t errstr_size)
{
    kc_request_t r = *req; /* shallow: the encoder only reads */
    char key[KC_KEY_HEX_SIZE];
    int rc;

    if (!req->query) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "request without a query");
    }
    r.request_id = (char *)id;
    if (!r.created_at) {
        r.created_at = kc_now_us();
    }
    if (w && !r.reply_topic) {
        r.reply_topic = cl->conf.topic_replies;
    }
    if ((rc = request_key(cl, &r, key)) != 0) {
        return kc_seterr(rc, errstr, errstr_size, "out of memory");
    }
    pthread_mutex_lock(&cl->send_lock);
    kc_buf_reset(&cl->value);
    rc = kc_avro_request_encode(cl->av_send, &r, &cl->value, errstr, errstr_size);
    if (rc == 0) {
        rc = produce_value(cl, key, w, timeout_ms, errstr, errstr_size);
    }
    pthread_mutex_unlock(&cl->send_lock);
    return rc;
}

static int request_id_of(const kc_request_t *req, char buf[KC_UUID_STR_SIZE], const char **id,
                         char *errstr, size_t errstr_size)
{
    if (req->request_id) {
        *id = req->request_id;
        return 0;
    }
    *id = buf;
    return kc_uuid_v4(buf, errstr, errstr_size);
}

int kc_client_classify_async(kc_client_t *cl, const kc_request_t *req, int timeout_ms,
                             kc_client_reply_cb_t *cb, void *opaque, char *errstr,
                             size_t errstr_size)
{
    char idbuf[KC_UUID_STR_SIZE];
    const char *id;
    kc_waiter_t *w;
    int rc;

    if (!cl->rkc) {
        return kc_seterr(KC_ERR_STATE, errstr, errstr_size, "send-only client: no replies");
    }
    if (!cb || (req->reply_topic && strcmp(req->reply_topic, cl->conf.topic_replies) != 0)) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         cb ? "reply_topic %s is not this client's %s" : "no callback",
                         req->reply_topic, cl->conf.topic_replies);
    }
    if ((rc = request_id_of(req, idbuf, &id, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (strlen(id) == 0 || strlen(id) >= KC_CLIENT_ID_MAX) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "request_id must have 1 to %d bytes",
                         KC_CLIENT_ID_MAX - 1);
    }
    if (!(w = kc_waiter_new(id))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    w->cb = cb;
    w->opaque = opaque;
    if ((rc = send_request(cl, req, id, w, timeout_ms, errstr, errstr_size)) != 0) {
        free(w);
    }
    return rc;
}

int kc_client_send(kc_client_t *cl, const kc_request_t *req, char *errstr, size_t errstr_size)
{
    char idbuf[KC_UUID_STR_SIZE];
    const char *id;
    int rc = request_id_of(req, idbuf, &id, errstr, errstr_size);

    return rc ? rc : send_request(cl, req, id, NULL, 0, errstr, errstr_size);
}

/* ---------------------------------------------------------------------------
 * Synchronous classification: async plus a condition variable
 * ------------------------------------------------------------------------- */

typedef struct sync_wait_s {
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
    int err;
    char msg[256];
    kc_result_t *res;
} sync_wait_t;

static void sync_cb(int err, const char *errmsg, kc_result_t *res, int64_t rtt_us, void *opaque)
{
    sync_wait_t *sw = opaque;

    (void)rtt_us;
    pthread_mutex_lock(&sw->m);
    sw->err = err;
    if (res) {
        *sw->res = *res; /* ownership moves to the caller */
        memset(res, 0, sizeof(*res));
    }
    snprintf(sw->msg, sizeof(sw->msg), "%s", errmsg ? errmsg : "");
    sw->done = true;
    pthread_cond_signal(&sw->c);
    pthread_mutex_unlock(&sw->m);
}

int kc_client_classify(kc_client_t *cl, const kc_request_t *req, int timeout_ms, kc_result_t *res,
                       char *errstr, size_t errstr_size)
{
    sync_wait_t sw = {.res = res};
    int rc;

    if (timeout_ms <= 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "timeout_ms must be positive");
    }
    if (cl->thread_started && pthread_equal(pthread_self(), cl->thread)) {
        return kc_seterr(KC_ERR_STATE, errstr, errstr_size,
                         "kc_client_classify() from a callback would wait forever");
    }
    pthread_mutex_init(&sw.m, NULL);
    pthread_cond_init(&sw.c, NULL);
    rc = kc_client_classify_async(cl, req, timeout_ms, sync_cb, &sw, errstr, errstr_size);
    if (rc == 0) {
        pthread_mutex_lock(&sw.m);
        while (!sw.done) { /* the timeout guarantees the callback */
            pthread_cond_wait(&sw.c, &sw.m);
        }
        pthread_mutex_unlock(&sw.m);
        rc = sw.err ? kc_seterr(sw.err, errstr, errstr_size, "%s", sw.msg) : 0;
    }
    pthread_cond_destroy(&sw.c);
    pthread_mutex_destroy(&sw.m);
    return rc;
}

/* ---------------------------------------------------------------------------
 * Queries
 * ------------------------------------------------------------------------- */

int kc_client_flush(kc_client_t *cl, int timeout_ms)
{
    int64_t give_up = kc_mono_us() + (int64_t)timeout_ms * 1000;

    /* The loop serves the reports; outq_len counts queued, in-flight and unserved ones. */
    while (rd_kafka_outq_len(cl->rk) > 0) {
        if (kc_mono_us() >= give_up) {
            return KC_ERR_TIMEOUT;
        }
        usleep(1000);
    }
    return 0;
}

bool kc_client_is_pending(kc_client_t *cl, const char *request_id)
{
    bool has;

    pthread_mutex_lock(&cl->lock);
    has = kc_pending_has(cl->pending, request_id);
    pthread_mutex_unlock(&cl->lock);
    return has;
}

void kc_client_stats(kc_client_t *cl, kc_client_stats_t *st)
{
    pthread_mutex_lock(&cl->lock);
    *st = cl->st;
    st->pending = kc_pending_count(cl->pending);
    pthread_mutex_unlock(&cl->lock);
}

const char *kc_client_topic_requests(const kc_client_t *cl)
{
    return cl->conf.topic_requests;
}

const char *kc_client_topic_replies(const kc_client_t *cl)
{
    return cl->conf.topic_replies;
}

const char *kc_client_version(void)
{
    return KC_VERSION;
}
