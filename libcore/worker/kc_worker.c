/* Worker lifecycle: Kafka clients, the event loop, rebalances, offsets. */
#include "kc_err.h"
#include "kc_kafka.h"
#include "kc_log.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------- partitions */

kc_part_t *kc_worker_part(kc_worker_t *w, int32_t partition)
{
    if (partition < 0) {
        return NULL;
    }
    if ((size_t)partition >= w->part_cnt) {
        size_t cnt = (size_t)partition + 1;
        kc_part_t *p = realloc(w->parts, cnt * sizeof(*p));
        if (!p) {
            return NULL;
        }
        memset(p + w->part_cnt, 0, (cnt - w->part_cnt) * sizeof(*p));
        w->parts = p;
        w->part_cnt = cnt;
    }
    if (!w->parts[partition].wm && !(w->parts[partition].wm = kc_wm_new())) {
        return NULL;
    }
    return &w->parts[partition];
}

/* Store the committable offset of every partition that advanced; the
 * auto-committer (or the final commit) sends them. */
static void offsets_store(kc_worker_t *w)
{
    rd_kafka_topic_partition_list_t *list;
    rd_kafka_resp_err_t err;

    if (!w->store_pending) {
        return;
    }
    w->store_pending = false;
    list = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < w->part_cnt; i++) {
        kc_part_t *part = &w->parts[i];
        int64_t off;
        if (!part->dirty || !part->assigned) {
            continue;
        }
        part->dirty = false;
        if ((off = kc_wm_committable(part->wm)) >= 0) {
            rd_kafka_topic_partition_list_add(list, w->conf.topic_requests, (int32_t)i)->offset =
                off;
            kc_log(KC_LOG_DEBUG, "store offset %zu@%lld gen %u", i, (long long)off, part->gen);
        }
    }
    if (list->cnt > 0 && (err = rd_kafka_offsets_store(w->consumer, list))) {
        kc_log(KC_LOG_WARN, "offsets_store: %s", rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(list);
}

/* Commit the stored offsets, waiting at most timeout_ms: a synchronous
 * rd_kafka_commit() waits forever when the brokers are gone, and neither a
 * rebalance nor a shutdown may hang on that. */
static rd_kafka_resp_err_t commit_bounded(rd_kafka_t *rk, int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk, NULL, q, NULL, NULL);
    rd_kafka_event_t *ev;

    if (!err) {
        ev = rd_kafka_queue_poll(q, timeout_ms);
        err = ev ? rd_kafka_event_error(ev) : RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (ev) {
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    return err;
}

/* "0,3,5": the partitions of a rebalance, for the log. */
static const char *parts_str(const rd_kafka_topic_partition_list_t *list, char *buf, size_t size)
{
    size_t of = 0;

    buf[0] = '\0';
    for (int i = 0; i < list->cnt && of + 12 < size; i++) {
        of += (size_t)snprintf(buf + of, size - of, "%s%d", i ? "," : "",
                               (int)list->elems[i].partition);
    }
    return buf;
}

static void parts_set(kc_worker_t *w, const rd_kafka_topic_partition_list_t *list, bool assign)
{
    for (int i = 0; i < list->cnt; i++) {
        kc_part_t *part = kc_worker_part(w, list->elems[i].partition);
        if (!part) {
            continue;
        }
        /* A new generation makes replies to requests of an earlier ownership
         * leave this partition's watermark alone. */
        part->gen++;
        part->assigned = assign;
        part->dirty = false;
        kc_wm_reset(part->wm);
        kc_worker_txn_part_reset(part);
    }
}

static void commit_on_revoke(kc_worker_t *w, rd_kafka_t *rk)
{
    rd_kafka_resp_err_t err;

    offsets_store(w);
    if (!rd_kafka_assignment_lost(rk) &&
        (err = commit_bounded(rk, w->stop ? 1000 : 5000)) != RD_KAFKA_RESP_ERR_NO_ERROR &&
        err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        kc_log(KC_LOG_WARN, "commit on revoke: %s (those replies may be sent again)",
               rd_kafka_err2str(err));
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kc_worker_t *w = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;
    char pbuf[256];

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kc_log(KC_LOG_INFO, "assigned %d partition(s): %s", parts->cnt,
               parts_str(parts, pbuf, sizeof(pbuf)));
        parts_set(w, parts, true);
        if (w->txn.on) {
            kc_worker_txn_assigned(w, parts);
        }
        if (cooperative) {
            error = rd_kafka_incremental_assign(rk, parts);
        } else {
            ret = rd_kafka_assign(rk, parts);
        }
    } else {
        kc_log(KC_LOG_INFO, "revoked %d partition(s): %s%s", parts->cnt,
               parts_str(parts, pbuf, sizeof(pbuf)),
               rd_kafka_assignment_lost(rk) ? " (assignment lost)" : "");
        /* Commit what is done before the partitions move on; a lost
         * assignment belongs to someone else already (exactly_once: the
         * group fences this commit then, and the transaction aborts). */
        if (w->txn.on) {
            kc_worker_txn_revoked(w);
        } else {
            commit_on_revoke(w, rk);
        }
        parts_set(w, parts, false);
        kc_worker_txn_release(w);
        if (cooperative) {
            error = rd_kafka_incremental_unassign(rk, parts);
        } else {
            ret = rd_kafka_assign(rk, NULL);
        }
    }
    if (error) {
        kc_log(KC_LOG_ERROR, "rebalance: %s", rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (ret) {
        kc_log(KC_LOG_ERROR, "rebalance: %s", rd_kafka_err2str(ret));
    }
}

/* ------------------------------------------------------------- Kafka setup */

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    kc_log(level <= 3   ? KC_LOG_ERROR
           : level <= 4 ? KC_LOG_WARN
           : level <= 6 ? KC_LOG_INFO
                        : KC_LOG_DEBUG,
           "rdkafka %s: %s", fac, buf);
}

static rd_kafka_conf_t *kafka_conf(kc_worker_t *w, bool consumer, char *errstr, size_t errstr_size)
{
    /* Our defaults; kafka.* (and kafka.consumer.* / kafka.producer.*) override. */
    const char *d[24];
    char txn_id[160];
    rd_kafka_conf_t *kconf;
    size_t n = 0;
#define DEF(k, v) (d[n++] = (k), d[n++] = (v))

    if (consumer) {
        DEF("group.id", "kclassify-workers");
        DEF("enable.auto.offset.store", "false");
        DEF("auto.offset.reset", "earliest");
        /* Incremental rebalancing: a joining worker does not stop the others. */
        DEF("partition.assignment.strategy", "cooperative-sticky");
        if (w->conf.metrics_port > 0) { /* consumer lag per partition for /metrics */
            DEF("statistics.interval.ms", "5000");
        }
        if (w->txn.on) { /* offsets go with the transactions, never by the consumer */
            DEF("enable.auto.commit", "false");
            DEF("isolation.level", "read_committed");
        }
    } else {
        DEF("enable.idempotence", "true");
        DEF("linger.ms", "1");
        if (w->txn.on) {
            /* The id stays across restarts, so a new process fences the old
             * one. A dead worker's open transaction holds back every
             * read_committed consumer of the partitions it wrote to until
             * the timeout passes (or the worker is back): 10 s, not 60 s. */
            snprintf(txn_id, sizeof(txn_id), "kclassify-%s", w->worker_id);
            DEF("transactional.id", txn_id);
            DEF("transaction.timeout.ms", "10000");
        }
    }
#undef DEF
    d[n] = NULL;
    kconf = kc_kafka_conf_new(consumer ? KC_KAFKA_CONSUMER : KC_KAFKA_PRODUCER, d, &w->conf.kafka,
                              errstr, errstr_size);
    if (!kconf) {
        return NULL;
    }
    rd_kafka_conf_set_log_cb(kconf, log_cb);
    rd_kafka_conf_set_error_cb(kconf, kc_worker_error_cb);
    rd_kafka_conf_set_opaque(kconf, w);
    if (consumer) {
        rd_kafka_conf_set_rebalance_cb(kconf, rebalance_cb);
        if (w->conf.metrics_port > 0) {
            rd_kafka_conf_set_stats_cb(kconf, kc_worker_stats_cb);
        }
    } else if (w->txn.on) {
        /* Delivery reports and errors as events, served by the loop alone:
         * the commit thread's calls then never run our callbacks. */
        rd_kafka_conf_set_events(kconf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
    } else {
        rd_kafka_conf_set_dr_msg_cb(kconf, kc_worker_dr_msg_cb);
    }
    return kconf;
}

/* A queue that signals a pipe when it turns non-empty, so the loop can sleep
 * in one poll for Kafka and curl alike. */
static int queue_pipe(rd_kafka_queue_t *q, int fds[2])
{
    if (pipe(fds) != 0) {
        return -1;
    }
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);
    return 0;
}

static int kafka_start(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *kconf;
    char kerr[512];

    if (!(kconf = kafka_conf(w, false, errstr, errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if (!(w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, kconf, kerr, sizeof(kerr)))) {
        rd_kafka_conf_destroy(kconf);
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "producer: %s", kerr);
    }
    if (!(kconf = kafka_conf(w, true, errstr, errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if (!(w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, kconf, kerr, sizeof(kerr)))) {
        rd_kafka_conf_destroy(kconf);
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consumer: %s", kerr);
    }
    if (w->txn.on && kc_worker_txn_start(w, errstr, errstr_size) != 0) {
        return KC_ERR_KAFKA;
    }
    rd_kafka_poll_set_consumer(w->consumer);
    w->cq = rd_kafka_queue_get_consumer(w->consumer);
    w->mq = rd_kafka_queue_get_main(w->producer);
    if (queue_pipe(w->cq, w->cq_pipe) || queue_pipe(w->mq, w->mq_pipe)) {
        return kc_seterr(KC_ERR_IO, errstr, errstr_size, "pipe: %s", strerror(errno));
    }
    return 0;
}

static int subscribe(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *topics;
    rd_kafka_resp_err_t err;

    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, w->conf.topic_requests, RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(w->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "subscribe to %s: %s",
                         w->conf.topic_requests, rd_kafka_err2str(err));
    }
    return 0;
}

/* ------------------------------------------------------------- seams */

static int64_t real_now(void *opaque)
{
    (void)opaque;
    return kc_now_us();
}

static int64_t real_mono(void *opaque)
{
    (void)opaque;
    return kc_mono_us();
}

static int real_llm_submit(void *opaque, const char *const *texts, const size_t *lens, size_t n,
                           const kc_llm_call_opts_t *co, int64_t timeout_ms, kc_llm_done_cb *cb,
                           void *cb_opaque, kc_llm_call_t **callp, char *errstr, size_t errstr_size)
{
    kc_worker_t *w = opaque;
    return kc_llm_submit(w->llm, texts, lens, n, co, timeout_ms, cb, cb_opaque, callp, errstr,
                         errstr_size);
}

static void real_llm_cancel(void *opaque, kc_llm_call_t *call)
{
    kc_worker_t *w = opaque;
    kc_llm_cancel(w->llm, call);
}

static size_t real_llm_inflight(void *opaque)
{
    kc_worker_t *w = opaque;
    return kc_llm_inflight(w->llm);
}

static void io_default(kc_worker_t *w)
{
    kc_worker_io_t io = {w,
                         real_now,
                         real_mono,
                         kc_worker_kafka_produce,
                         real_llm_submit,
                         real_llm_cancel,
                         real_llm_inflight};
    w->io = io;
}

/* ------------------------------------------------------------- lifecycle */

static int setup(kc_worker_t *w, const char *api_key, bool kafka, char *errstr, size_t errstr_size)
{
    kc_llm_conf_t lconf = {w->conf.llm_url,
                           w->conf.llm_model,
                           api_key,
                           w->conf.llm_timeout_ms,
                           w->conf.llm_inflight_max,
                           w->conf.llm_response_max_bytes,
                           {false, KC_LLM_CONFIDENCE_NONE},
                           w->conf.llm_allow_insecure != 0};
    int rc;

    if ((rc = kc_worker_conf_check(&w->conf, errstr, errstr_size)) != 0) {
        return rc;
    }
    kc_worker_answer_opts(w, &lconf.answer);
    w->tx = *w->conf.taxonomy_file ? kc_taxonomy_load(w->conf.taxonomy_file, errstr, errstr_size)
                                   : kc_taxonomy_new_default();
    if (!w->tx) {
        return KC_ERR_CONFIG;
    }
    w->key_seed = kc_taxonomy_key_seed(w->tx, w->conf.llm_model);
    if (!(w->av = kc_avro_new((int32_t)w->conf.schema_id_request, (int32_t)w->conf.schema_id_result,
                              errstr, errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if (w->conf.cache_l1_ttl_s > 0 && !(w->l1 = kc_l1_new((size_t)w->conf.cache_l1_entries))) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "cannot allocate the L1 cache");
    }
    if (w->l1) {
        kc_l1_set_max_bytes(w->l1, (size_t)w->conf.cache_l1_max_mb << 20);
    }
    w->llm_enabled = *w->conf.llm_url != '\0';
    w->isolate_tenants = strcmp(w->conf.batch_isolation, "tenant") == 0;
    w->txn.on = strcmp(w->conf.processing_guarantee, "exactly_once") == 0;
    w->margin_us =
        (w->conf.sla_deadline_margin_ms + (w->txn.on ? w->conf.transaction_interval_ms : 0)) * 1000;
    if ((rc = kc_llm_conf_check(&lconf, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (!(w->llm = kc_llm_new(&lconf, w->tx, errstr, errstr_size))) {
        return KC_ERR_NOMEM;
    }
    kc_heap_init(&w->deadlines, kc_worker_deadline_before, kc_worker_deadline_set_pos);
    kc_breaker_init(&w->breaker, (int)w->conf.llm_breaker_failures,
                    w->conf.llm_breaker_open_ms * 1000, w->conf.llm_breaker_open_max_ms * 1000);
    w->rng = (uint64_t)kc_mono_us() ^ ((uint64_t)getpid() << 32);
    if ((rc = kc_worker_llm_init(w, errstr, errstr_size)) != 0) {
        return rc;
    }
    w->inflight = kc_keymap_new(1024);
    w->msgs = calloc((size_t)w->conf.batch_max_messages, sizeof(*w->msgs));
    if (!w->inflight || !w->msgs || pipe(w->wake_pipe) != 0) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of resources");
    }
    fcntl(w->wake_pipe[0], F_SETFL, O_NONBLOCK);
    fcntl(w->wake_pipe[1], F_SETFL, O_NONBLOCK);
    if (!*w->conf.worker_id) {
        char host[64] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(w->worker_id, sizeof(w->worker_id), "%s-%d", host, (int)getpid());
    } else {
        snprintf(w->worker_id, sizeof(w->worker_id), "%s", w->conf.worker_id);
    }
    if ((rc = kc_worker_cache_init(w, errstr, errstr_size)) != 0 ||
        (rc = kc_worker_metrics_init(w, errstr, errstr_size)) != 0) {
        return rc;
    }
    return kafka ? kafka_start(w, errstr, errstr_size) : 0;
}

static kc_worker_t *worker_new(kc_worker_conf_t *conf, const char *api_key,
                               const kc_worker_io_t *io, int *rcp, char *errstr, size_t errstr_size)
{
    kc_worker_t *w = calloc(1, sizeof(*w));

    if (!w) {
        *rcp = kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->cq_pipe[0] = w->cq_pipe[1] = w->mq_pipe[0] = w->mq_pipe[1] = -1;
    w->wake_pipe[0] = w->wake_pipe[1] = -1;
    w->conf = *conf;
    memset(conf, 0, sizeof(*conf)); /* now owned by the worker */
    kc_buf_init(&w->enc);
    if (io) {
        w->io = *io;
    } else {
        io_default(w);
    }
    if ((*rcp = setup(w, api_key, io == NULL, errstr, errstr_size)) != 0) {
        *conf = w->conf; /* hand it back, as documented */
        memset(&w->conf, 0, sizeof(w->conf));
        kc_worker_destroy(w);
        return NULL;
    }
    return w;
}

kc_worker_t *kc_worker_new(kc_worker_conf_t *conf, const char *api_key, int *rcp, char *errstr,
                           size_t errstr_size)
{
    return worker_new(conf, api_key, NULL, rcp, errstr, errstr_size);
}

kc_worker_t *kc_worker_new_io(kc_worker_conf_t *conf, const kc_worker_io_t *io, int *rcp,
                              char *errstr, size_t errstr_size)
{
    return worker_new(conf, NULL, io, rcp, errstr, errstr_size);
}

static void close_pipe(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
}

void kc_worker_destroy(kc_worker_t *w)
{
    if (!w) {
        return;
    }
    /* Work that never finished (a shutdown timeout) is released without
     * being answered: its offsets were not committed, so it is redelivered. */
    w->destroying = true;
    if (w->llm) {
        kc_llm_cancel_all(w->llm);
    }
    kc_worker_txn_free(w); /* the commit thread stopped, held records freed */
    if (w->producer) {
        rd_kafka_purge(w->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        kc_worker_producer_serve(w, 100); /* the purged records' reports free their requests */
    }
    if (w->inflight) {
        kc_worker_resolve_free_all(w);
    }
    if (w->cq) {
        rd_kafka_queue_destroy(w->cq);
    }
    if (w->mq) {
        rd_kafka_queue_destroy(w->mq);
    }
    if (w->consumer) {
        rd_kafka_destroy(w->consumer);
    }
    if (w->producer) {
        rd_kafka_destroy(w->producer);
    }
    close_pipe(w->cq_pipe);
    close_pipe(w->mq_pipe);
    close_pipe(w->wake_pipe);
    for (size_t i = 0; i < w->part_cnt; i++) {
        kc_wm_destroy(w->parts[i].wm);
    }
    free(w->parts);
    kc_worker_cache_free(w);
    kc_worker_metrics_free(w);
    if (w->warm_fp) {
        fclose(w->warm_fp);
    }
    kc_keymap_destroy(w->inflight);
    kc_worker_llm_free(w);
    kc_heap_free(&w->deadlines);
    kc_llm_destroy(w->llm);
    kc_l1_destroy(w->l1);
    kc_avro_destroy(w->av);
    kc_taxonomy_destroy(w->tx);
    kc_buf_free(&w->enc);
    free(w->normbuf);
    free(w->msgs);
    kc_worker_conf_free(&w->conf);
    free(w);
}

void kc_worker_stop(kc_worker_t *w)
{
    w->stop = 1;
    if (w->wake_pipe[1] >= 0) {
        ssize_t r = write(w->wake_pipe[1], "x", 1);
        (void)r;
    }
}

/* ------------------------------------------------------------- event loop */

/* Events, not callbacks, in exactly_once mode (kafka_conf). At most a bounded
 * number per call, so a flood of reports cannot starve the loop. */
void kc_worker_producer_serve(kc_worker_t *w, int timeout_ms)
{
    rd_kafka_event_t *ev;

    if (!w->txn.on) {
        rd_kafka_poll(w->producer, timeout_ms);
        return;
    }
    for (int i = 0; i < 1000 && (ev = rd_kafka_queue_poll(w->mq, timeout_ms)); i++) {
        const rd_kafka_message_t *rkm;
        timeout_ms = 0;
        switch (rd_kafka_event_type(ev)) {
        case RD_KAFKA_EVENT_DR:
            while ((rkm = rd_kafka_event_message_next(ev))) {
                kc_worker_dr_msg_cb(w->producer, rkm, w);
            }
            break;
        case RD_KAFKA_EVENT_ERROR:
            kc_worker_error_cb(w->producer,
                               rd_kafka_event_error_is_fatal(ev) ? RD_KAFKA_RESP_ERR__FATAL
                                                                 : rd_kafka_event_error(ev),
                               rd_kafka_event_error_string(ev), w);
            break;
        default:
            break;
        }
        rd_kafka_event_destroy(ev);
    }
}

static void drain_pipe(int fd)
{
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
}

void kc_wmsg_of(const rd_kafka_message_t *rkm, kc_wmsg_t *m)
{
    m->topic = rd_kafka_topic_name(rkm->rkt);
    m->partition = rkm->partition;
    m->offset = rkm->offset;
    m->key = rkm->key;
    m->key_len = rkm->key_len;
    m->value = rkm->payload;
    m->len = rkm->len;
    if (rd_kafka_message_headers(rkm, &m->hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        m->hdrs = NULL;
    }
}

static void handle_batch(kc_worker_t *w, rd_kafka_message_t **msgs, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        rd_kafka_message_t *rkm = msgs[i];
        if (rkm->err) {
            if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                kc_log(KC_LOG_WARN, "consumer: %s", rd_kafka_message_errstr(rkm));
            }
        } else {
            kc_wmsg_t rec;
            kc_wmsg_of(rkm, &rec);
            kc_worker_handle_record(w, &rec);
        }
        rd_kafka_message_destroy(rkm);
    }
}

/* The end of a micro-batch: its misses go to LMDB/Redis together. */
static void batch_end(kc_worker_t *w, size_t cnt)
{
    kc_worker_metrics_batch(w, cnt);
    if (kc_worker_cache_enabled(w)) {
        kc_worker_cache_stage(w);
    }
}

void kc_worker_feed(kc_worker_t *w, const kc_wmsg_t *recs, size_t cnt)
{
    for (size_t i = 0; i < cnt; i++) {
        kc_part_t *part = kc_worker_part(w, recs[i].partition);
        if (part && !part->assigned && part->gen == 0) {
            part->gen = 1;
            part->assigned = true;
        }
        kc_worker_handle_record(w, &recs[i]);
    }
    batch_end(w, cnt);
}

/* Pop up to max messages, waiting until until_us (monotonic) for each; 0 = no wait.
 *
 * One message per call on purpose: librdkafka 2.0's rd_kafka_consume_batch_queue()
 * purges messages of partitions that stay assigned when a rebalance lands
 * during the call, and their fetch position has already moved past them, so
 * they are never delivered (seen in the fault tests; a known issue of the
 * 2.0.0 release). Per-message pops check each message against its own
 * partition's version. */
static size_t consume_upto(kc_worker_t *w, size_t cnt, size_t max, int64_t until_us)
{
    while (cnt < max) {
        int64_t left_us = until_us - kc_w_mono(w);
        int wait_ms = until_us == 0 || left_us <= 0 ? 0 : (int)((left_us + 999) / 1000);
        rd_kafka_message_t *rkm = rd_kafka_consume_queue(w->cq, wait_ms);
        if (!rkm) {
            if (wait_ms == 0) {
                break;
            }
            continue;
        }
        w->msgs[cnt++] = rkm;
    }
    return cnt;
}

/* Read what is queued (up to batch.max.messages); if that is a partial batch,
 * linger up to batch.linger.ms for more, so identical queries group. */
static void consume(kc_worker_t *w)
{
    size_t max = (size_t)w->conf.batch_max_messages;
    size_t cnt = consume_upto(w, 0, max, 0);

    if (cnt > 0 && cnt < max && w->conf.batch_linger_ms > 0) {
        cnt = consume_upto(w, cnt, max, kc_w_mono(w) + w->conf.batch_linger_ms * 1000);
    }
    if (cnt > 0) {
        handle_batch(w, w->msgs, cnt);
        batch_end(w, cnt);
    }
}

static void loop_once(kc_worker_t *w, bool consuming, int timeout_ms)
{
    struct curl_waitfd fds[3] = {{w->cq_pipe[0], CURL_WAIT_POLLIN, 0},
                                 {w->mq_pipe[0], CURL_WAIT_POLLIN, 0},
                                 {w->wake_pipe[0], CURL_WAIT_POLLIN, 0}};

    kc_llm_wait(w->llm, fds, 3, kc_worker_next_timer_ms(w, timeout_ms));
    drain_pipe(w->cq_pipe[0]);
    drain_pipe(w->mq_pipe[0]);
    drain_pipe(w->wake_pipe[0]);
    if (consuming) {
        consume(w); /* while draining, new messages stay unconsumed and uncommitted */
    }
    kc_llm_perform(w->llm);
    kc_worker_step(w);
    kc_worker_producer_serve(w, 0);
    if (w->txn.on) {
        kc_worker_txn_tick(w);
    } else {
        offsets_store(w);
    }
}

void kc_worker_step(kc_worker_t *w)
{
    kc_worker_deadlines(w);
    kc_worker_retries(w);
    /* Lease polls before dispatch: a lease taken over from a holder that
     * went away is asked in this pass, not after the next wait. */
    kc_worker_cache_tick(w);
    kc_worker_dispatch(w);
    kc_worker_cache_flush(w);
    kc_worker_metrics_tick(w);
}

int64_t kc_worker_committable(kc_worker_t *w, int32_t partition)
{
    kc_part_t *part = kc_worker_part(w, partition);
    return part && part->assigned ? kc_wm_committable(part->wm) : -1;
}

static void shutdown_drain(kc_worker_t *w)
{
    int64_t end = kc_w_mono(w) + w->conf.worker_shutdown_timeout_ms * 1000;

    kc_log(KC_LOG_INFO, "stopping: %zu request(s) in flight", w->outstanding);
    /* After a fatal error nothing more can be delivered: no waiting. */
    while (w->outstanding > 0 && kc_w_mono(w) < end && !w->fatal) {
        loop_once(w, false, 10);
    }
    if (w->outstanding > 0) {
        kc_log(KC_LOG_WARN,
               "shutdown timeout: %zu request(s) left uncommitted (redelivered "
               "to the group)",
               w->outstanding);
    }
    if (w->txn.on) {
        kc_worker_txn_end(w);
        return;
    }
    rd_kafka_flush(w->producer, 2000);
    rd_kafka_poll(w->producer, 0);
    offsets_store(w);
}

int kc_worker_run(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err;

    if (kc_worker_warm_start(w, errstr, errstr_size) != 0) {
        return KC_ERR_CONFIG;
    }
    while (w->warm_t0 && !w->stop && kc_worker_warm_step(w)) {
        loop_once(w, false, 10);
    }
    if (subscribe(w, errstr, errstr_size) != 0) {
        return KC_ERR_KAFKA;
    }
    kc_log(KC_LOG_INFO, "worker %s consuming %s (LLM %s)", w->worker_id, w->conf.topic_requests,
           w->llm_enabled ? w->conf.llm_url : "disabled");
    while (!w->stop) {
        loop_once(w, true, 100);
    }
    shutdown_drain(w);
    err = w->txn.on ? RD_KAFKA_RESP_ERR_NO_ERROR : commit_bounded(w->consumer, 3000);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        kc_log(KC_LOG_WARN, "final commit: %s", rd_kafka_err2str(err));
    }
    err = rd_kafka_consumer_close(w->consumer);
    if (err) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consumer close: %s",
                         rd_kafka_err2str(err));
    }
    kc_log(KC_LOG_INFO, "stopped: %llu requests, %llu replies, %llu to DLT",
           (unsigned long long)w->stats.requests, (unsigned long long)w->stats.replies,
           (unsigned long long)w->stats.dlt);
    if (w->txn.on) {
        kc_log(KC_LOG_INFO,
               "transactions: %llu committed (%.1f ms each on average, at most %.1f ms), %llu "
               "aborted; %llu records skipped (answered already), %llu stale replies dropped",
               (unsigned long long)w->txn.commits,
               w->txn.commits ? w->txn.commit_ms_sum / (double)w->txn.commits : 0.0,
               w->txn.commit_ms_max, (unsigned long long)w->txn.aborts,
               (unsigned long long)w->txn.skipped, (unsigned long long)w->txn.stale);
    }
    if (w->fatal) {
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size,
                         "fatal Kafka error (delivered replies committed): %s", w->fatal_reason);
    }
    return 0;
}
