/* Replies, dead letters and delivery reports: the worker's output side. */
#include "kc_err.h"
#include "kc_kafka.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kc_worker_wreq_free(kc_worker_t *w, kc_wreq_t *wr)
{
    kc_request_clear(&wr->req);
    free(wr->reply_topic_hdr);
    free(wr);
    w->outstanding--;
}

static const char *reply_topic(const kc_worker_t *w, const kc_wreq_t *wr)
{
    if (wr->reply_default) {
        return w->conf.topic_replies;
    }
    if (wr->req.reply_topic && *wr->req.reply_topic) {
        return wr->req.reply_topic;
    }
    if (wr->reply_topic_hdr && *wr->reply_topic_hdr) {
        return wr->reply_topic_hdr;
    }
    return w->conf.topic_replies;
}

/* Its record is delivered (or given up on for good): the request's offset
 * may be committed. */
static void complete(kc_worker_t *w, kc_wreq_t *wr)
{
    kc_part_t *part = kc_worker_part(w, wr->partition);

    if (part && part->assigned && part->gen == wr->gen && kc_wm_done(part->wm, wr->offset) == 0) {
        part->dirty = true;
        w->store_pending = true;
    }
    kc_worker_wreq_free(w, wr);
}

/* The default reply sink: rd_kafka_producev() with back-pressure (a full
 * local queue is served, not an error). */
int kc_worker_kafka_produce(void *opaque, const kc_wmsg_t *m, void *msg_opaque)
{
    kc_worker_t *w = opaque;
    rd_kafka_resp_err_t err;

    for (;;) {
        err = rd_kafka_producev(
            w->producer, RD_KAFKA_V_TOPIC(m->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_VALUE((void *)m->value, m->len),
            RD_KAFKA_V_HEADERS(m->hdrs), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return err;
        }
        kc_worker_producer_serve(w, 10);
    }
}

static int produce(kc_worker_t *w, const char *topic, const void *key, size_t key_len,
                   const void *val, size_t val_len, rd_kafka_headers_t *hdrs, void *opaque)
{
    kc_wmsg_t m = {topic, -1, -1, key, key_len, val, val_len, hdrs};
    int err = w->txn.on && w->txn.state != KC_TXS_OPEN ? kc_worker_txn_hold(w, &m, opaque)
                                                       : w->io.produce(w->io.opaque, &m, opaque);

    if (err && hdrs) {
        rd_kafka_headers_destroy(hdrs); /* only the sink's on success */
    }
    w->txn.produced = w->txn.produced || err == 0;
    return err;
}

static void fill_times(kc_result_t *res, const kc_wreq_t *wr, int64_t now)
{
    /* What the deadline was counted from (set_deadline; a request that was not
     * decoded has none: its consume time). */
    int64_t created = wr->created_at > 0 ? wr->created_at : wr->consumed_at;

    res->created_at = created;
    res->consumed_at = wr->consumed_at;
    res->replied_at = now;
    res->queue_us = res->consumed_at > created ? res->consumed_at - created : 0;
    res->total_us = res->replied_at > created ? res->replied_at - created : 0;
    res->deadline_met = res->replied_at <= wr->deadline_at;
}

static rd_kafka_headers_t *dlt_headers(const char *reason, const char *topic, int32_t partition,
                                       int64_t offset)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    char num[32];

    rd_kafka_header_add(hdrs, "kclassify.error", -1, reason, -1);
    rd_kafka_header_add(hdrs, "kclassify.source.topic", -1, topic, -1);
    snprintf(num, sizeof(num), "%d", (int)partition);
    rd_kafka_header_add(hdrs, "kclassify.source.partition", -1, num, -1);
    snprintf(num, sizeof(num), "%lld", (long long)offset);
    rd_kafka_header_add(hdrs, "kclassify.source.offset", -1, num, -1);
    return hdrs;
}

/* A record too large for the DLT goes there without its value, so its offset
 * still completes and the reason is still on record. */
static int dlt_without_value(kc_worker_t *w, kc_wreq_t *wr, const void *key, size_t key_len,
                             size_t len, const char *reason)
{
    char why[512];

    snprintf(why, sizeof(why), "%s; value of %zu bytes dropped: too large for %s", reason, len,
             w->conf.topic_dlt);
    return produce(w, w->conf.topic_dlt, key, key_len, NULL, 0,
                   dlt_headers(why, w->conf.topic_requests, wr->partition, wr->offset), wr);
}

/* A Kafka client hit a fatal error: the producer (or the group membership)
 * is gone for good. The loop stops; what was delivered is committed and
 * kc_worker_run() fails, so a supervisor starts a fresh process. */
void kc_worker_fatal(kc_worker_t *w, const char *reason)
{
    if (!w->fatal) {
        kc_log(KC_LOG_ERROR, "fatal Kafka error, stopping: %s", reason);
        snprintf(w->fatal_reason, sizeof(w->fatal_reason), "%s", reason);
    }
    w->fatal = true;
    kc_worker_stop(w);
}

/* Neither its reply nor its dead letter can be written, for good (the DLT
 * refuses it): the offset completes anyway, so that one record cannot hold
 * its partition's commits, and the loss is loud. */
static void dlt_lost(kc_worker_t *w, kc_wreq_t *wr, int err)
{
    kc_log(KC_LOG_ERROR,
           "request at partition %d offset %lld LOST: its dead letter cannot be written to %s: "
           "%s",
           (int)wr->partition, (long long)wr->offset, w->conf.topic_dlt,
           rd_kafka_err2str((rd_kafka_resp_err_t)err));
    w->stats.lost++;
    complete(w, wr);
}

/* exactly_once: its dead letter was refused in an aborted transaction; this
 * time it completes as lost at once, as at_least_once would have. */
static bool txn_dlt_refused(kc_worker_t *w, kc_wreq_t *wr)
{
    const kc_txn_refusal_t *ref = kc_worker_txn_refused(w, wr);

    if (!ref || ref->dlt_attempts < KC_TXN_RECORD_ATTEMPTS) {
        return false;
    }
    dlt_lost(w, wr, ref->err);
    return true;
}

/* A record the worker could not produce: err is final for it. */
static void produce_failed(kc_worker_t *w, kc_wreq_t *wr, int err, bool dlt, const void *key,
                           size_t key_len, size_t len, const char *reason)
{
    if (w->txn.on && err == RD_KAFKA_RESP_ERR__STATE) {
        /* The transaction cannot take it (in an error state already):
         * aborted with it, the record is consumed again. Other errors came
         * before the record reached the transaction: as at_least_once. */
        w->txn.abort = true;
        kc_worker_wreq_free(w, wr);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        kc_worker_fatal(w, "the producer failed for good");
        kc_worker_wreq_free(w, wr); /* uncommitted: the next process answers it */
    } else if (!dlt) {
        kc_worker_dead_letter(w, wr, reason);
    } else if (!(err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && len > 0 &&
                 dlt_without_value(w, wr, key, key_len, len, reason) == 0)) {
        dlt_lost(w, wr, err);
    }
}

/* The reason a dead letter carries (its kclassify.error header). */
static const char *dlt_reason(const kc_wmsg_t *m, char *buf, size_t size)
{
    const void *v;
    size_t n;

    if (!m->hdrs || rd_kafka_header_get_last(m->hdrs, "kclassify.error", &v, &n) != 0 || !v) {
        return "dead letter";
    }
    snprintf(buf, size, "%.*s", (int)n, (const char *)v);
    return buf;
}

void kc_worker_produce_error(kc_worker_t *w, kc_wreq_t *wr, const kc_wmsg_t *m, int err)
{
    bool dlt = strcmp(m->topic, w->conf.topic_dlt) == 0;
    char why[512], rbuf[256];

    if (!dlt) {
        w->stats.delivery_failures++;
    }
    snprintf(why, sizeof(why), "cannot produce its reply to %s: %s", m->topic,
             rd_kafka_err2str((rd_kafka_resp_err_t)err));
    produce_failed(w, wr, err, dlt, m->key, m->key_len, m->len,
                   dlt ? dlt_reason(m, rbuf, sizeof(rbuf)) : why);
}

void kc_worker_dead_letter(kc_worker_t *w, kc_wreq_t *wr, const char *reason)
{
    const char *id = wr->req.request_id ? wr->req.request_id : "";
    char errstr[256];
    kc_buf_t val;
    int err;

    if (kc_worker_txn_stale(w, wr) || txn_dlt_refused(w, wr)) {
        return;
    }
    kc_log(KC_LOG_ERROR, "request %.64s at partition %d offset %lld to %s: %s", id,
           (int)wr->partition, (long long)wr->offset, w->conf.topic_dlt, reason);
    wr->dead_letter = true;
    wr->refusals = 0; /* the dead letter's own count */
    /* The request as decoded, encoded again: the consumed bytes are not kept.
     * Not into w->enc: this can run from a delivery report while a reply
     * encoded there waits for room in the producer queue. */
    kc_buf_init(&val);
    if (kc_avro_request_encode(w->av, &wr->req, &val, errstr, sizeof(errstr)) != 0) {
        val.len = 0;
    }
    err = produce(w, w->conf.topic_dlt, id, strlen(id), val.data, val.len,
                  dlt_headers(reason, w->conf.topic_requests, wr->partition, wr->offset), wr);
    if (err) {
        produce_failed(w, wr, err, true, id, strlen(id), val.len, reason);
    } else {
        w->stats.dlt++;
    }
    kc_buf_free(&val);
}

void kc_worker_reply(kc_worker_t *w, kc_wreq_t *wr, const kc_reply_t *rp)
{
    kc_result_t res = {0};
    rd_kafka_headers_t *hdrs;
    int err;
    char errstr[256], why[512];
    const char *id = wr->req.request_id ? wr->req.request_id : "";
    const kc_txn_refusal_t *ref;

    if (kc_worker_txn_stale(w, wr)) {
        return;
    }
    if ((ref = kc_worker_txn_refused(w, wr)) && ref->attempts >= KC_TXN_RECORD_ATTEMPTS) {
        snprintf(why, sizeof(why), "its reply was refused in an aborted transaction: %s",
                 rd_kafka_err2str((rd_kafka_resp_err_t)ref->err));
        kc_worker_dead_letter(w, wr, why);
        return;
    }
    res.request_id = (char *)id;
    res.query_hash = wr->key_hex;
    res.category = (char *)rp->category;
    res.confidence = rp->confidence;
    res.reasoning = (char *)rp->reasoning;
    res.status = rp->status;
    res.error = (char *)rp->error;
    res.source = rp->source;
    res.coalesced = wr->coalesced;
    res.model = (char *)rp->model;
    res.batch_size = rp->batch_size;
    res.worker_id = w->worker_id;
    res.cache_us = wr->cache_us;
    res.llm_us = rp->llm_us;
    fill_times(&res, wr, kc_w_now(w));

    kc_buf_reset(&w->enc);
    if (kc_avro_result_encode(w->av, &res, &w->enc, errstr, sizeof(errstr)) != 0) {
        snprintf(why, sizeof(why), "cannot encode its reply: %s", errstr);
        kc_worker_dead_letter(w, wr, why);
        return;
    }
    hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "kafka_correlationId", -1, id, (ssize_t)strlen(id));
    err = produce(w, reply_topic(w, wr), id, strlen(id), w->enc.data, w->enc.len, hdrs, wr);
    if (err) {
        w->stats.delivery_failures++;
        snprintf(why, sizeof(why), "cannot produce its reply to %s: %s", reply_topic(w, wr),
                 rd_kafka_err2str((rd_kafka_resp_err_t)err));
        produce_failed(w, wr, err, false, NULL, 0, 0, why);
        return;
    }
    w->stats.replies++;
    w->stats.replies_by_source[rp->source]++;
    w->stats.replies_by_status[rp->status]++;
    w->stats.replies_by[rp->status][rp->source]++;
    kc_worker_metrics_reply(w, &res);
}

void kc_worker_reply_error(kc_worker_t *w, kc_wreq_t *wr, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    kc_reply_t rp = {0};

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* The category field is required; the default category with confidence 0
     * keeps it inside the taxonomy, and status ERROR says it means nothing. */
    rp.category = w->tx->categories[w->tx->default_category].name;
    rp.status = KC_STATUS_ERROR;
    rp.error = msg;
    rp.source = KC_SRC_NONE;
    kc_worker_reply(w, wr, &rp);
}

void kc_worker_dlt(kc_worker_t *w, kc_wreq_t *wr, const kc_wmsg_t *rec, const char *reason)
{
    int err;

    if (kc_worker_txn_stale(w, wr) || txn_dlt_refused(w, wr)) {
        return;
    }
    err = produce(w, w->conf.topic_dlt, rec->key, rec->key_len, rec->value, rec->len,
                  dlt_headers(reason, rec->topic, rec->partition, rec->offset), wr);
    wr->dead_letter = true;
    if (err) {
        produce_failed(w, wr, err, true, rec->key, rec->key_len, rec->len, reason);
        return;
    }
    w->stats.dlt++;
}

void kc_worker_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    kc_wmsg_t m;

    (void)rk;
    kc_wmsg_of(rkm, &m);
    kc_worker_delivery(opaque, &m, rkm->err, rkm->_private);
}

/* Record-class delivery failures (kc_kafka_err_class) a record gets before
 * it is given up on: the broker refuses a whole batch for one bad record. */
#define KC_RECORD_ATTEMPTS 5

/* A delivery that failed for a reason that may pass (brokers away, leader
 * moving) is produced again, without a limit: the request stays
 * uncommitted, never lost. A record-class refusal is produced again a few
 * times (its batch-mates pass alone); one that cannot pass (topic refused or
 * unknown, or a record refused KC_RECORD_ATTEMPTS times) sends the request to
 * the DLT, or, failing there too, completes it as lost. */
void kc_worker_delivery(kc_worker_t *w, const kc_wmsg_t *m, int err, void *msg_opaque)
{
    kc_wreq_t *wr = msg_opaque;
    bool dlt = strcmp(m->topic, w->conf.topic_dlt) == 0;
    kc_kafka_err_class_t cls;
    char why[512], rbuf[256];

    if (w->destroying) {
        kc_worker_wreq_free(w, wr);
        return;
    }
    if (!err) {
        w->metrics.kafka_down = false; /* a broker just acknowledged */
        kc_log(KC_LOG_DEBUG, "delivered %.*s for %d@%lld gen %u to %s[%d]@%lld",
               (int)(m->key_len < 64 ? m->key_len : 64), m->key ? (const char *)m->key : "",
               (int)wr->partition, (long long)wr->offset, wr->gen, m->topic, (int)m->partition,
               (long long)m->offset);
        complete(w, wr);
        return;
    }
    w->stats.delivery_failures++;
    kc_log(KC_LOG_WARN, "delivery to %s failed (attempt %d): %s", m->topic, ++wr->produce_attempts,
           rd_kafka_err2str((rd_kafka_resp_err_t)err));
    cls = kc_kafka_err_class(err);
    if (w->txn.on && err != RD_KAFKA_RESP_ERR__FATAL) {
        /* The transaction is lost with it: aborted, the record is consumed
         * again; a refusal of the record itself is remembered, so that time
         * it goes the way at_least_once sends it now. */
        if (cls != KC_KAFKA_ERR_TRANSIENT) {
            kc_worker_txn_refusal(w, wr, err, dlt);
        }
        w->txn.abort = true;
        kc_worker_wreq_free(w, wr);
        return;
    }
    if (err != RD_KAFKA_RESP_ERR__FATAL &&
        (cls == KC_KAFKA_ERR_TRANSIENT ||
         (cls == KC_KAFKA_ERR_RECORD && ++wr->refusals < KC_RECORD_ATTEMPTS))) {
        err = produce(w, m->topic, m->key, m->key_len, m->value, m->len,
                      m->hdrs ? rd_kafka_headers_copy(m->hdrs) : NULL, wr);
        if (!err) {
            return;
        }
    }
    if (dlt) {
        produce_failed(w, wr, err, true, m->key, m->key_len, m->len,
                       dlt_reason(m, rbuf, sizeof(rbuf)));
        return;
    }
    snprintf(why, sizeof(why), "its reply to %s was not delivered: %s", m->topic,
             rd_kafka_err2str((rd_kafka_resp_err_t)err));
    produce_failed(w, wr, err, false, NULL, 0, 0, why);
}
