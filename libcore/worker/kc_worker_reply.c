/* Replies, dead letters and delivery reports: the worker's output side. */
#include "kc_err.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KC_PRODUCE_ATTEMPTS 5

void kc_worker_wreq_free(kc_worker_t *w, kc_wreq_t *wr)
{
    kc_request_clear(&wr->req);
    free(wr->reply_topic_hdr);
    free(wr);
    w->outstanding--;
}

static const char *reply_topic(const kc_worker_t *w, const kc_wreq_t *wr)
{
    if (wr->req.reply_topic && *wr->req.reply_topic) {
        return wr->req.reply_topic;
    }
    if (wr->reply_topic_hdr && *wr->reply_topic_hdr) {
        return wr->reply_topic_hdr;
    }
    return w->conf.topic_replies;
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
        rd_kafka_poll(w->producer, 10);
    }
}

static int produce(kc_worker_t *w, const char *topic, const void *key, size_t key_len,
                   const void *val, size_t val_len, rd_kafka_headers_t *hdrs, void *opaque)
{
    kc_wmsg_t m = {topic, -1, -1, key, key_len, val, val_len, hdrs};
    int err = w->io.produce(w->io.opaque, &m, opaque);

    if (err && hdrs) {
        rd_kafka_headers_destroy(hdrs); /* only the sink's on success */
    }
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

void kc_worker_reply(kc_worker_t *w, kc_wreq_t *wr, const kc_reply_t *rp)
{
    kc_result_t res = {0};
    rd_kafka_headers_t *hdrs;
    int err;
    char errstr[256];
    const char *id = wr->req.request_id ? wr->req.request_id : "";

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
        /* Cannot happen for well-formed strings; never drop the offset silently. */
        kc_log(KC_LOG_ERROR, "cannot encode reply for %s: %s", id, errstr);
        w->stats.delivery_failures++;
        kc_worker_wreq_free(w, wr); /* offset stays uncommitted */
        return;
    }
    hdrs = rd_kafka_headers_new(1);
    rd_kafka_header_add(hdrs, "kafka_correlationId", -1, id, (ssize_t)strlen(id));
    err = produce(w, reply_topic(w, wr), id, strlen(id), w->enc.data, w->enc.len, hdrs, wr);
    if (err) {
        kc_log(KC_LOG_ERROR, "cannot produce reply for %s to %s: %s", id, reply_topic(w, wr),
               rd_kafka_err2str(err));
        w->stats.delivery_failures++;
        kc_worker_wreq_free(w, wr); /* offset stays uncommitted */
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
static int dlt_without_value(kc_worker_t *w, kc_wreq_t *wr, const char *topic, const void *key,
                             size_t key_len, size_t len, const char *reason)
{
    char why[512];

    snprintf(why, sizeof(why), "%s; value of %zu bytes dropped: too large for %s", reason, len,
             w->conf.topic_dlt);
    return produce(w, w->conf.topic_dlt, key, key_len, NULL, 0,
                   dlt_headers(why, topic, wr->partition, wr->offset), wr);
}

void kc_worker_dlt(kc_worker_t *w, kc_wreq_t *wr, const kc_wmsg_t *rec, const char *reason)
{
    int err = produce(w, w->conf.topic_dlt, rec->key, rec->key_len, rec->value, rec->len,
                      dlt_headers(reason, rec->topic, rec->partition, rec->offset), wr);

    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        err = dlt_without_value(w, wr, rec->topic, rec->key, rec->key_len, rec->len, reason);
    }
    if (err) {
        kc_log(KC_LOG_ERROR, "cannot produce to DLT %s: %s", w->conf.topic_dlt,
               rd_kafka_err2str(err));
        w->stats.delivery_failures++;
        kc_worker_wreq_free(w, wr); /* offset stays uncommitted */
        return;
    }
    w->stats.dlt++;
}

/* A failed delivery (after librdkafka's own retries) is produced again: the
 * record in the report still has its payload, key and headers. */
static bool reproduce(kc_worker_t *w, const kc_wmsg_t *m, kc_wreq_t *wr)
{
    if (++wr->produce_attempts >= KC_PRODUCE_ATTEMPTS) {
        return false;
    }
    return produce(w, m->topic, m->key, m->key_len, m->value, m->len,
                   m->hdrs ? rd_kafka_headers_copy(m->hdrs) : NULL, wr) == 0;
}

void kc_worker_dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    kc_wmsg_t m;

    (void)rk;
    kc_wmsg_of(rkm, &m);
    kc_worker_delivery(opaque, &m, rkm->err, rkm->_private);
}

void kc_worker_delivery(kc_worker_t *w, const kc_wmsg_t *m, int err, void *msg_opaque)
{
    kc_wreq_t *wr = msg_opaque;
    kc_part_t *part;

    if (w->destroying) {
        kc_worker_wreq_free(w, wr);
        return;
    }
    if (err) {
        kc_log(KC_LOG_WARN, "delivery to %s failed: %s", m->topic,
               rd_kafka_err2str((rd_kafka_resp_err_t)err));
        if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE && m->len > 0 &&
            strcmp(m->topic, w->conf.topic_dlt) == 0 &&
            dlt_without_value(w, wr, w->conf.topic_requests, m->key, m->key_len, m->len,
                              "undecodable record") == 0) {
            return;
        }
        if (reproduce(w, m, wr)) {
            return;
        }
        /* Leave the offset uncommitted: the request is redelivered after a
         * restart or rebalance instead of being lost. */
        w->stats.delivery_failures++;
        kc_log(KC_LOG_ERROR, "giving up on reply for partition %d offset %lld", (int)wr->partition,
               (long long)wr->offset);
        kc_worker_wreq_free(w, wr);
        return;
    }
    w->metrics.kafka_down = false; /* a broker just acknowledged */
    part = kc_worker_part(w, wr->partition);
    if (part && part->assigned && part->gen == wr->gen && kc_wm_done(part->wm, wr->offset) == 0) {
        part->dirty = true;
        w->store_pending = true;
    }
    kc_log(KC_LOG_DEBUG, "delivered reply %.*s for %d@%lld gen %u to %s[%d]@%lld", (int)m->key_len,
           (const char *)m->key, (int)wr->partition, (long long)wr->offset, wr->gen, m->topic,
           (int)m->partition, (long long)m->offset);
    kc_worker_wreq_free(w, wr);
}
