/* kclassify-bench: the open-loop engine. Requests go out on the schedule's
 * clock whatever the replies do; latency is measured from the INTENDED send
 * time, so a stall in the pipeline (or in the bench) shows up in the numbers
 * instead of silently slowing the sender (coordinated omission). */
#include "bench.h"
#include "kc_kafka.h"

#include "kc_avro.h"
#include "kc_buf.h"
#include "kc_err.h"
#include "kc_normalize.h"
#include "kc_time.h"
#include "kc_uuid.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define SEND_BURST       2048 /* requests sent per loop turn before replies are read again */
#define REPLY_BATCH      1024
#define METADATA_TIMEOUT 10000
#define NORM_MAX         8192
#define WARM_US          500000

typedef struct runner_s {
    const bench_target_t *tg;
    bench_result_t *res;
    rd_kafka_t *rk;  /* requests producer */
    rd_kafka_t *rkc; /* replies consumer (assigned, no group) */
    rd_kafka_queue_t *rkqu;
    kc_avro_t *av;
    kc_buf_t value;
    uint8_t id_bytes[16];
    char id_prefix[KC_UUID_STR_SIZE];
    size_t id_prefix_len;
    int64_t t0;    /* monotonic start */
    uint64_t done; /* requests answered or failed */
    uint8_t *seen; /* query index -> sent before (repeat detection) */
    size_t seen_cap;
    char qbuf[512];
    char norm[NORM_MAX];
} runner_t;

static int64_t rel_now(const runner_t *r)
{
    return kc_mono_us() - r->t0;
}

/* ------------------------------------------------------------------ ids */

/* Request ids are UUIDv4s: 10 random bytes per run, then the 48-bit sequence
 * number, so a reply maps back to its record by index, without a hash table. */
static int ids_init(runner_t *r, char *errstr, size_t errstr_size)
{
    char tmp[KC_UUID_STR_SIZE];

    if (kc_uuid_v4(tmp, errstr, errstr_size) != 0) {
        return KC_ERR_IO;
    }
    for (int i = 0; i < 10; i++) { /* reuse the kernel's randomness from the UUID text */
        r->id_bytes[i] = (uint8_t)kc_hash64(tmp, sizeof(tmp), (uint64_t)i);
    }
    memset(r->id_bytes + 10, 0, 6);
    kc_uuid_v4_format(r->id_bytes, tmp);
    r->id_prefix_len = 24; /* "xxxxxxxx-xxxx-4xxx-yxxx-" */
    memcpy(r->id_prefix, tmp, r->id_prefix_len);
    r->id_prefix[r->id_prefix_len] = '\0';
    return 0;
}

static void id_make(runner_t *r, uint64_t seq, char out[KC_UUID_STR_SIZE])
{
    for (int i = 0; i < 6; i++) {
        r->id_bytes[15 - i] = (uint8_t)(seq >> (8 * i));
    }
    kc_uuid_v4_format(r->id_bytes, out);
}

/* @returns the sequence number, or -1 for another client's id. */
static int64_t id_parse(const runner_t *r, const char *id)
{
    char *end;
    uint64_t seq;

    if (!id || strlen(id) != KC_UUID_STR_SIZE - 1 ||
        memcmp(id, r->id_prefix, r->id_prefix_len) != 0) {
        return -1;
    }
    seq = strtoull(id + r->id_prefix_len, &end, 16);
    return *end == '\0' ? (int64_t)seq : -1;
}

/* ------------------------------------------------------------------ clients */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    runner_t *r = opaque;
    bench_rec_t *rec = &r->res->recs[(uintptr_t)rkm->_private];

    (void)rk;
    if (rkm->err && !(rec->flags & BENCH_F_FAILED)) {
        rec->flags |= BENCH_F_FAILED;
        r->res->delivery_failed++;
        if (!(rec->flags & BENCH_F_REPLIED)) {
            r->done++;
        }
    }
}

static int producer_new(runner_t *r, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char linger[16], e[256];

    snprintf(linger, sizeof(linger), "%d", r->tg->linger_ms);
    if (kc_kafka_conf_set(conf, "bootstrap.servers", r->tg->brokers, errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "linger.ms", linger, errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "acks", "1", errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return KC_ERR_CONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, r);
    if (!(r->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e)))) {
        rd_kafka_conf_destroy(conf);
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "producer: %s", e);
    }
    return 0;
}

/* Every partition of the reply topic at its high watermark: replies to this
 * run's requests cannot come before, and older replies are skipped. */
static int consumer_assign(runner_t *r, char *errstr, size_t errstr_size)
{
    const char *topic = r->tg->topic_replies;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rkc, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(r->rkc, 0, rkt, &md, METADATA_TIMEOUT);

    if (!err && (md->topic_cnt != 1 || md->topics[0].err)) {
        err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    }
    if (!err) {
        parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
        for (int i = 0; !err && i < md->topics[0].partition_cnt; i++) {
            int32_t id = md->topics[0].partitions[i].id;
            int64_t lo, hi;
            err = rd_kafka_query_watermark_offsets(r->rkc, topic, id, &lo, &hi, METADATA_TIMEOUT);
            rd_kafka_topic_partition_list_add(parts, topic, id)->offset = hi;
        }
    }
    if (!err) {
        err = rd_kafka_assign(r->rkc, parts);
    }
    if (parts) {
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (md) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return err ? kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "reply topic %s: %s", topic,
                           rd_kafka_err2str(err))
               : 0;
}

static int consumer_new(runner_t *r, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char group[64], fw[16], e[256];

    snprintf(group, sizeof(group), "kclassify-bench-%.8s", r->id_prefix);
    snprintf(fw, sizeof(fw), "%d", r->tg->fetch_wait_ms);
    if (kc_kafka_conf_set(conf, "bootstrap.servers", r->tg->brokers, errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "enable.partition.eof", "false", errstr, errstr_size) ||
        kc_kafka_conf_set(conf, "fetch.wait.max.ms", fw, errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return KC_ERR_CONFIG;
    }
    if (!(r->rkc = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e)))) {
        rd_kafka_conf_destroy(conf);
        return kc_seterr(KC_ERR_KAFKA, errstr, errstr_size, "consumer: %s", e);
    }
    r->rkqu = rd_kafka_queue_get_consumer(r->rkc);
    return consumer_assign(r, errstr, errstr_size);
}

static void clients_destroy(runner_t *r)
{
    if (r->rkqu) {
        rd_kafka_queue_destroy(r->rkqu);
    }
    if (r->rkc) {
        rd_kafka_consumer_close(r->rkc);
        rd_kafka_destroy(r->rkc);
    }
    if (r->rk) {
        rd_kafka_flush(r->rk, 5000);
        rd_kafka_destroy(r->rk);
    }
}

/* ------------------------------------------------------------------ replies */

static void reply_record(runner_t *r, bench_rec_t *rec, const kc_result_t *res)
{
    if (rec->flags & BENCH_F_REPLIED) {
        r->res->duplicates++;
        rec->dups += rec->dups < UINT8_MAX;
        return;
    }
    rec->reply_us = rel_now(r);
    rec->flags |= BENCH_F_REPLIED | (res->coalesced ? BENCH_F_COALESCED : 0) |
                  (res->deadline_met ? BENCH_F_DEADLINE : 0);
    rec->status = (uint8_t)res->status;
    rec->w_queue_us = (int32_t)(res->queue_us < INT32_MAX ? res->queue_us : INT32_MAX);
    rec->w_total_us = (int32_t)(res->total_us < INT32_MAX ? res->total_us : INT32_MAX);
    rec->source = (uint8_t)res->source;
    rec->category =
        (int8_t)(res->category ? kc_taxonomy_find(r->tg->tx, res->category, strlen(res->category))
                               : -1);
    if (!(rec->flags & BENCH_F_FAILED)) {
        r->done++;
    }
}

/* A kclassify-passthrough copy is the request itself: its id is all there is
 * (status OK, source NONE, no deadline claim). */
static int passthrough_decode(runner_t *r, const rd_kafka_message_t *rkm, kc_result_t *res, char *e,
                              size_t esize)
{
    kc_request_t req = {0};

    if (kc_avro_request_decode(r->av, rkm->payload, rkm->len, &req, e, esize) != 0) {
        return -1;
    }
    res->request_id = req.request_id;
    req.request_id = NULL;
    res->status = KC_STATUS_OK;
    res->source = KC_SRC_NONE;
    kc_request_clear(&req);
    return 0;
}

static void reply_handle(runner_t *r, const rd_kafka_message_t *rkm)
{
    kc_result_t res = {0};
    char e[256];
    int64_t seq;

    if (rkm->err) {
        r->res->bad_replies++;
        return;
    }
    if ((r->tg->stack && r->tg->stack->passthrough)
            ? passthrough_decode(r, rkm, &res, e, sizeof(e)) != 0
            : kc_avro_result_decode(r->av, rkm->payload, rkm->len, &res, e, sizeof(e)) != 0) {
        r->res->bad_replies++;
        return;
    }
    seq = id_parse(r, res.request_id);
    if (seq < 0 || (size_t)seq >= r->res->rec_cnt) {
        r->res->foreign++;
    } else {
        reply_record(r, &r->res->recs[seq], &res);
    }
    kc_result_clear(&res);
}

/* Reads what is there; with wait_ms > 0 blocks for the first reply at most that long. */
static int replies_drain(runner_t *r, int wait_ms)
{
    rd_kafka_message_t *msgs[REPLY_BATCH];
    ssize_t n;
    int total = 0;

    if (wait_ms > 0) {
        rd_kafka_message_t *rkm = rd_kafka_consume_queue(r->rkqu, wait_ms);
        if (!rkm) {
            return 0;
        }
        reply_handle(r, rkm);
        rd_kafka_message_destroy(rkm);
        total = 1;
    }
    while ((n = rd_kafka_consume_batch_queue(r->rkqu, 0, msgs, REPLY_BATCH)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            reply_handle(r, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        total += (int)n;
        if (n < REPLY_BATCH) {
            break;
        }
    }
    return total;
}

/* ------------------------------------------------------------------ requests */

static bench_rec_t *rec_append(bench_result_t *res)
{
    if (res->rec_cnt == res->rec_cap) {
        size_t cap = res->rec_cap ? res->rec_cap * 2 : 4096;
        bench_rec_t *n = realloc(res->recs, cap * sizeof(*n));
        if (!n) {
            return NULL;
        }
        res->recs = n;
        res->rec_cap = cap;
    }
    memset(&res->recs[res->rec_cnt], 0, sizeof(bench_rec_t));
    return &res->recs[res->rec_cnt++];
}

static bool seen_mark(runner_t *r, uint64_t qidx)
{
    bool was;

    if (qidx >= r->seen_cap) {
        size_t cap = r->seen_cap ? r->seen_cap : 4096;
        while (cap <= qidx) {
            cap *= 2;
        }
        uint8_t *n = realloc(r->seen, cap);
        if (!n) {
            return false;
        }
        memset(n + r->seen_cap, 0, cap - r->seen_cap);
        r->seen = n;
        r->seen_cap = cap;
    }
    was = r->seen[qidx];
    r->seen[qidx] = 1;
    return was;
}

/* Key as the worker computes it (normalized query, taxonomy seed), so the
 * request lands on the partition its worker coalesces on. */
static void request_key(runner_t *r, const char *q, size_t len, char key[KC_KEY_HEX_SIZE])
{
    size_t nlen;

    if (len < sizeof(r->norm) && kc_query_normalize(q, len, r->norm, &nlen) == 0) {
        kc_key_t k = kc_key_compute(r->norm, nlen, r->tg->key_seed);
        kc_key_hex(&k, key);
    } else {
        snprintf(key, KC_KEY_HEX_SIZE, "%016" PRIx64, kc_hash64(q, len, r->tg->key_seed));
    }
}

static int request_produce(runner_t *r, const char *key, uint64_t seq)
{
    rd_kafka_resp_err_t err;

    for (;;) {
        err = rd_kafka_producev(
            r->rk, RD_KAFKA_V_TOPIC(r->tg->topic_requests), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE(r->value.data, r->value.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)(uintptr_t)seq), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            return err ? KC_ERR_KAFKA : 0;
        }
        rd_kafka_poll(r->rk, 10); /* back-pressure from our own queue: counted as send lag */
        replies_drain(r, 0);
    }
}

static int request_send(runner_t *r, int64_t at_us, uint64_t qidx, int prio, char *errstr,
                        size_t errstr_size)
{
    bench_result_t *res = r->res;
    char id[KC_UUID_STR_SIZE], key[KC_KEY_HEX_SIZE];
    uint64_t seq = res->rec_cnt;
    bench_rec_t *rec = rec_append(res);
    kc_request_t req = {0};
    size_t len;

    if (!rec) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory for records");
    }
    rec->intended_us = at_us;
    rec->qidx = (uint32_t)qidx;
    rec->prio = (uint8_t)prio;
    rec->category = -1;
    rec->flags = seen_mark(r, qidx) ? BENCH_F_REPEAT : 0;
    id_make(r, seq, id);
    req.request_id = id;
    req.query =
        (char *)bench_query_text(&res->load, &res->qs, qidx, r->qbuf, sizeof(r->qbuf), &len);
    req.query_len = len;
    req.priority = (kc_priority_t)prio;
    req.deadline_ms = res->load.deadline_ms;
    req.created_at = res->start_wall_us + at_us; /* the intended time, on the wall clock */
    req.reply_topic = (char *)r->tg->topic_replies;
    res->query_bytes_sum += (double)len;
    request_key(r, req.query, len, key);
    kc_buf_reset(&r->value);
    if (kc_avro_request_encode(r->av, &req, &r->value, errstr, errstr_size) != 0) {
        return KC_ERR_ENCODE;
    }
    if (request_produce(r, key, seq) != 0) {
        rec->flags |= BENCH_F_FAILED;
        res->delivery_failed++;
        r->done++;
        return 0;
    }
    rec->flags |= BENCH_F_SENT;
    rec->send_lag_us = (int32_t)(rel_now(r) - at_us);
    return 0;
}

/* ------------------------------------------------------------------ loop */

static void sleep_us(int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* Sends everything due; @returns how many were sent, or a negative error. */
static int send_due(runner_t *r, bench_sched_t *s, int64_t *next_at, uint64_t *next_q, int *next_p,
                    bool *have, char *errstr, size_t errstr_size)
{
    int n = 0;
    int64_t now = rel_now(r);

    while (*have && *next_at <= now && n < SEND_BURST) {
        int rc = request_send(r, *next_at, *next_q, *next_p, errstr, errstr_size);
        if (rc != 0) {
            return rc;
        }
        n++;
        *have = bench_sched_next(s, next_at, next_q, next_p);
    }
    return n;
}

static int loop(runner_t *r, char *errstr, size_t errstr_size)
{
    bench_sched_t s;
    int64_t next_at = 0, deadline = 0;
    uint64_t next_q = 0;
    int next_p = 1, sent;
    bool have;

    bench_sched_init(&s, &r->res->load, &r->res->qs);
    have = bench_sched_next(&s, &next_at, &next_q, &next_p);
    for (;;) {
        if (bench_interrupted) {
            have = false;
        }
        if ((sent = send_due(r, &s, &next_at, &next_q, &next_p, &have, errstr, errstr_size)) < 0) {
            return sent;
        }
        rd_kafka_poll(r->rk, 0);
        int got = replies_drain(r, 0);
        if (!have) {
            if (!deadline) {
                r->res->sched_end_us = rel_now(r);
                deadline = r->res->sched_end_us + r->tg->drain_ms * 1000;
            }
            if (r->done >= r->res->rec_cnt || rel_now(r) >= deadline || bench_interrupted > 1) {
                break;
            }
            replies_drain(r, 20);
        } else if (sent == 0 && got == 0) {
            /* Sleeping at least a tick sends in small bursts: far fewer wake-ups (the
             * bench shares the cores with the stack); the lag is in the latency. */
            int64_t gap = next_at - rel_now(r);
            if (gap >= 2000) {
                replies_drain(r, (int)(gap / 1000) - 1); /* wakes on the first reply */
            } else if (gap > 0) {
                sleep_us(gap > r->tg->tick_us ? gap : r->tg->tick_us);
            }
        }
    }
    r->res->end_us = rel_now(r);
    return 0;
}

/* ------------------------------------------------------------------ metrics around a run */

static double self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void scrape_all(const bench_target_t *tg, bench_result_t *res, bench_simstats_t *sim,
                       bench_wmetrics_t *w, double *proc_cpu)
{
    if (tg->sim_base) {
        bench_sim_scrape(tg->sim_base, sim);
    }
    for (size_t i = 0; i < tg->metrics_cnt && i < BENCH_MAX_WORKERS; i++) {
        bench_worker_scrape(tg->metrics_urls[i], &w[i]);
    }
    res->worker_cnt = tg->metrics_cnt;
    for (int i = 0; tg->stack && i < tg->stack->proc_cnt; i++) {
        proc_cpu[i] = bench_proc_cpu_s(tg->stack->procs[i].pid);
    }
}

/* Before the clock starts: the producer knows the topic's leaders and the
 * reply fetchers run, so the first requests do not measure client start-up. */
static void clients_warm(runner_t *r)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->tg->topic_requests, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int64_t until = kc_mono_us() + WARM_US;

    if (rd_kafka_metadata(r->rk, 0, rkt, &md, METADATA_TIMEOUT) == 0) {
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    while (kc_mono_us() < until) {
        replies_drain(r, 50);
    }
}

static int runner_setup(runner_t *r, char *errstr, size_t errstr_size)
{
    int rc;

    kc_buf_init(&r->value);
    if ((rc = ids_init(r, errstr, errstr_size)) != 0) {
        return rc;
    }
    if (!(r->av = kc_avro_new(KC_AVRO_DEFAULT_REQUEST_ID, KC_AVRO_DEFAULT_RESULT_ID, errstr,
                              errstr_size))) {
        return KC_ERR_CONFIG;
    }
    if ((rc = consumer_new(r, errstr, errstr_size)) != 0) {
        return rc;
    }
    if ((rc = producer_new(r, errstr, errstr_size)) != 0) {
        return rc;
    }
    clients_warm(r);
    return 0;
}

int bench_run(const bench_target_t *tg, const bench_load_t *ld, bench_result_t *res, char *errstr,
              size_t errstr_size)
{
    runner_t r = {.tg = tg, .res = res};
    bench_sampler_t sp;
    double cpu0;
    int rc;

    memset(res, 0, sizeof(*res));
    res->load = *ld;
    if ((rc = bench_queries_load(ld, tg->tx, &res->qs, errstr, errstr_size)) != 0) {
        return rc;
    }
    if ((rc = runner_setup(&r, errstr, errstr_size)) == 0) {
        scrape_all(tg, res, &res->sim0, res->w0, res->proc_cpu0);
        bench_sampler_start(&sp, tg->metrics_urls, tg->metrics_cnt);
        cpu0 = self_cpu_s();
        res->start_wall_us = kc_now_us();
        r.t0 = kc_mono_us();
        rc = loop(&r, errstr, errstr_size);
        res->bench_cpu_s = self_cpu_s() - cpu0;
        res->wall_s = (double)(kc_mono_us() - r.t0) / 1e6;
        bench_sampler_stop(&sp);
        for (size_t i = 0; i < sp.cnt && i < BENCH_MAX_WORKERS; i++) {
            res->peak_rss[i] = sp.peak_rss[i];
            res->peak_l1[i] = sp.peak_l1[i];
        }
        scrape_all(tg, res, &res->sim1, res->w1, res->proc_cpu1);
    }
    clients_destroy(&r);
    kc_avro_destroy(r.av);
    kc_buf_free(&r.value);
    free(r.seen);
    return rc;
}

void bench_result_free(bench_result_t *res)
{
    free(res->recs);
    bench_queries_free(&res->qs);
    kc_hist_destroy(res->hist);
    memset(res, 0, sizeof(*res));
}
