/* Worker observability: Prometheus /metrics and JSON /health, rendered by the
 * loop once a second and served from that copy by kc_httpd's own thread. */
#include "kc_err.h"
#include "kc_hist.h"
#include "kc_httpd.h"
#include "kc_log.h"
#include "kc_prom.h"
#include "kc_time.h"
#include "kc_worker_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PUBLISH_US 1000000
#define WINDOW_US  60000000
#define STALE_MS   10000

/* ------------------------------------------------------------- recording */

int kc_worker_metrics_init(kc_worker_t *w, char *errstr, size_t errstr_size)
{
    kc_wmetrics_t *m = &w->metrics;

    m->latency = kc_hist_new();
    m->win_cur = kc_hist_new();
    m->win_prev = kc_hist_new();
    m->llm_latency = kc_hist_new();
    if (!m->latency || !m->win_cur || !m->win_prev || !m->llm_latency) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    m->win_start = kc_w_mono(w);
    if (w->conf.metrics_port > 0 &&
        !(m->httpd = kc_httpd_new(w->conf.metrics_bind, (int)w->conf.metrics_port, STALE_MS, errstr,
                                  errstr_size))) {
        return KC_ERR_CONFIG;
    }
    return 0;
}

void kc_worker_metrics_free(kc_worker_t *w)
{
    kc_wmetrics_t *m = &w->metrics;

    kc_httpd_destroy(m->httpd);
    kc_hist_destroy(m->latency);
    kc_hist_destroy(m->win_cur);
    kc_hist_destroy(m->win_prev);
    kc_hist_destroy(m->llm_latency);
    free(m->lag);
    kc_buf_free(&m->text);
    kc_buf_free(&m->health);
    memset(m, 0, sizeof(*m));
}

static void bucket_add(uint64_t *buckets, size_t n)
{
    size_t b = 0;

    while (b < KC_BATCH_BUCKETS && ((size_t)1 << b) < n) {
        b++;
    }
    buckets[b]++; /* index KC_BATCH_BUCKETS = above the last bound */
}

void kc_worker_metrics_reply(kc_worker_t *w, const kc_result_t *res)
{
    kc_wmetrics_t *m = &w->metrics;

    if (!m->latency) {
        return;
    }
    kc_hist_record(m->latency, res->total_us);
    kc_hist_record(m->win_cur, res->total_us);
    m->win_total++;
    m->win_ok += res->status == KC_STATUS_OK;
    if (res->source <= KC_SRC_REDIS) {
        m->win_hits++;
    }
    m->win_lookups += res->source != KC_SRC_NONE;
}

static kc_llm_err_kind_t err_kind(const kc_llm_outcome_t *out)
{
    if (out->err == KC_ERR_TIMEOUT) {
        return KC_LLM_ERR_TIMEOUT;
    } else if (out->http_status == 429) {
        return KC_LLM_ERR_RATE_LIMITED;
    } else if (out->http_status >= 500) {
        return KC_LLM_ERR_HTTP_5XX;
    } else if (out->http_status >= 400) {
        return KC_LLM_ERR_HTTP_4XX;
    } else if (out->http_status == 0 && out->err != KC_ERR_TOOBIG) {
        return KC_LLM_ERR_TRANSPORT;
    }
    return KC_LLM_ERR_BAD_RESPONSE;
}

void kc_worker_metrics_llm(kc_worker_t *w, const kc_llm_outcome_t *out, size_t n)
{
    kc_wmetrics_t *m = &w->metrics;

    if (!m->latency) {
        return;
    }
    kc_hist_record(m->llm_latency, out->latency_us);
    bucket_add(m->llm_batch, n);
    m->llm_queries_sum += (double)n;
    if (out->err) {
        m->llm_errors[err_kind(out)]++;
        m->llm_failures_in_row++;
    } else {
        m->llm_failures_in_row = 0;
    }
}

void kc_worker_metrics_llm_item(kc_worker_t *w)
{
    w->metrics.llm_errors[KC_LLM_ERR_ITEM]++;
}

void kc_worker_metrics_batch(kc_worker_t *w, size_t n)
{
    bucket_add(w->metrics.mbatch, n);
    w->metrics.mbatch_sum += (double)n;
}

/* ------------------------------------------------------------- librdkafka */

/* Consumer lag per partition of the requests topic, from librdkafka's
 * statistics JSON (called on the loop's thread, from the consumer poll). */
int kc_worker_stats_cb(rd_kafka_t *rk, char *json, size_t json_len, void *opaque)
{
    kc_worker_t *w = opaque;
    kc_wmetrics_t *m = &w->metrics;
    json_t *root = json_loadb(json, json_len, 0, NULL), *parts;
    const char *key;
    json_t *p;

    (void)rk;
    parts = json_object_get(
        json_object_get(json_object_get(root, "topics"), w->conf.topic_requests), "partitions");
    json_object_foreach(parts, key, p)
    {
        long id = strtol(key, NULL, 10);
        json_t *lag = json_object_get(p, "consumer_lag");
        if (id < 0 || id > 100000 || !json_is_integer(lag)) {
            continue;
        }
        if ((size_t)id >= m->lag_cnt) {
            int64_t *a = realloc(m->lag, ((size_t)id + 1) * sizeof(*a));
            if (!a) {
                break;
            }
            for (size_t i = m->lag_cnt; i <= (size_t)id; i++) {
                a[i] = -1;
            }
            m->lag = a;
            m->lag_cnt = (size_t)id + 1;
        }
        m->lag[id] = json_integer_value(lag);
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}

void kc_worker_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    kc_worker_t *w = opaque;

    char fatal[256];

    snprintf(w->metrics.kafka_error, sizeof(w->metrics.kafka_error), "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        w->metrics.kafka_down = true;
    }
    kc_log(KC_LOG_WARN, "kafka %s: %s", rd_kafka_name(rk), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL && rd_kafka_fatal_error(rk, fatal, sizeof(fatal))) {
        char why[600];
        snprintf(why, sizeof(why), "%s: %s", rd_kafka_name(rk), fatal);
        w->metrics.kafka_down = true;
        kc_worker_fatal(w, why);
    }
}

/* ------------------------------------------------------------- rendering */

/* A batch-size histogram from power-of-two bucket counts. */
void kc_worker_metrics_pow2_hist(kc_buf_t *b, const char *name, const char *help,
                                 const uint64_t *buckets, double sum)
{
    double le[KC_BATCH_BUCKETS];
    uint64_t cum[KC_BATCH_BUCKETS], total = 0;

    for (size_t i = 0; i < KC_BATCH_BUCKETS; i++) {
        total += buckets[i];
        le[i] = (double)((size_t)1 << i);
        cum[i] = total;
    }
    total += buckets[KC_BATCH_BUCKETS];
    kc_prom_family(b, name, help, KC_PROM_HISTOGRAM);
    kc_prom_hist_samples(b, name, NULL, le, cum, KC_BATCH_BUCKETS, sum, total);
}

static void render_counters(kc_worker_t *w, kc_buf_t *b)
{
    const kc_worker_stats_t *st = &w->stats;
    static const char *const levels[] = {"l1", "lmdb", "redis"};

    kc_prom_counter(b, "kclassify_requests_total", "Requests consumed.", NULL,
                    (double)st->requests);
    kc_prom_family(b, "kclassify_replies_total", "Replies produced, by status and source.",
                   KC_PROM_COUNTER);
    for (int s = 0; s < KC_STATUS__CNT; s++) {
        for (int src = 0; src < KC_SRC__CNT; src++) {
            const char *l[] = {"status", kc_status_name((kc_status_t)s), "source",
                               kc_source_name((kc_source_t)src), NULL};
            kc_prom_sample(b, "kclassify_replies_total", l, (double)st->replies_by[s][src]);
        }
    }
    kc_prom_counter(b, "kclassify_dlt_records_total",
                    "Records sent to the DLT: undecodable, or their reply could not be written.",
                    NULL, (double)st->dlt);
    kc_prom_counter(b, "kclassify_delivery_failures_total",
                    "Replies or dead letters Kafka did not accept at once (produced again, or "
                    "dead-lettered when the failure is final).",
                    NULL, (double)st->delivery_failures);
    kc_prom_counter(b, "kclassify_requests_lost_total",
                    "Requests whose reply and dead letter both failed for good (their offset is "
                    "committed so that the partition goes on; logged at ERROR).",
                    NULL, (double)st->lost);
    kc_prom_counter(b, "kclassify_coalesced_requests_total",
                    "Requests answered by a lookup another request started.", NULL,
                    (double)st->coalesced);
    kc_prom_counter(b, "kclassify_deadline_fallbacks_total",
                    "Requests answered by the fallback because their deadline came first.", NULL,
                    (double)st->deadline_fallbacks);
    kc_prom_family(b, "kclassify_cache_hits_total", "Cache hits by level.", KC_PROM_COUNTER);
    for (int i = 0; i < 3; i++) {
        kc_prom_sample(b, "kclassify_cache_hits_total", (const char *[]){"level", levels[i], NULL},
                       (double)st->cache_hits[i]);
    }
    kc_prom_family(b, "kclassify_cache_misses_total", "Cache misses by level.", KC_PROM_COUNTER);
    for (int i = 0; i < 3; i++) {
        kc_prom_sample(b, "kclassify_cache_misses_total",
                       (const char *[]){"level", levels[i], NULL}, (double)st->cache_misses[i]);
    }
    kc_prom_counter(b, "kclassify_lease_waits_total",
                    "Lookups that waited on another worker's Redis lease.", NULL,
                    (double)st->lease_waits);
}

static size_t assigned_partitions(const kc_worker_t *w)
{
    size_t n = 0;

    for (size_t i = 0; i < w->part_cnt; i++) {
        n += w->parts[i].assigned;
    }
    return n;
}

static void render_kafka(kc_worker_t *w, kc_buf_t *b)
{
    kc_wmetrics_t *m = &w->metrics;
    char part[24];

    if (w->txn.on) {
        kc_worker_txn_render(w, b);
    }

    kc_worker_metrics_pow2_hist(b, "kclassify_microbatch_requests",
                                "Requests per consumed micro-batch.", m->mbatch, m->mbatch_sum);
    kc_prom_family(b, "kclassify_consumer_lag", "Requests not yet consumed, per partition.",
                   KC_PROM_GAUGE);
    for (size_t i = 0; i < m->lag_cnt; i++) {
        if (m->lag[i] >= 0) {
            snprintf(part, sizeof(part), "%zu", i);
            kc_prom_sample(b, "kclassify_consumer_lag", (const char *[]){"partition", part, NULL},
                           (double)m->lag[i]);
        }
    }
    kc_prom_gauge(b, "kclassify_assigned_partitions", "Request partitions this worker owns.", NULL,
                  (double)assigned_partitions(w));
    kc_prom_gauge(b, "kclassify_inflight_requests", "Requests consumed and not yet delivered.",
                  NULL, (double)w->outstanding);
    if (w->l1) {
        kc_prom_gauge(b, "kclassify_l1_entries", "Entries in the in-process cache.", NULL,
                      (double)kc_l1_count(w->l1));
        kc_prom_gauge(b, "kclassify_l1_bytes", "Bytes of in-process cache entries.", NULL,
                      (double)kc_l1_bytes(w->l1));
    }
    kc_prom_gauge(b, "kclassify_redis_up", "1 if the Redis cache answers, else 0.", NULL,
                  w->cache.redis && kc_redis_state(w->cache.redis) == KC_REDIS_CONNECTED);
    kc_prom_hist(b, "kclassify_request_duration_seconds",
                 "Latency from created_at to reply, every reply.", NULL, m->latency,
                 kc_prom_latency_buckets, KC_PROM_LATENCY_BUCKETS_CNT);
}

static const char *llm_state(const kc_worker_t *w)
{
    if (!w->llm_enabled) {
        return "disabled";
    }
    return w->metrics.llm_failures_in_row >= 3 ? "failing" : "ok";
}

/* ok: everything answers; degraded: answering, but from the fallback or
 * without a cache level; down: Kafka unreachable (nothing can be answered). */
static const char *health_status(const kc_worker_t *w)
{
    if (w->metrics.kafka_down) {
        return "down";
    }
    if (strcmp(llm_state(w), "failing") == 0 || w->breaker.state != KC_BREAKER_CLOSED ||
        (w->cache.redis && kc_redis_state(w->cache.redis) == KC_REDIS_DOWN)) {
        return "degraded";
    }
    return "ok";
}

static void render_health(kc_worker_t *w, kc_buf_t *b)
{
    kc_wmetrics_t *m = &w->metrics;
    json_t *h = json_object();
    char *s;

    json_object_set_new(h, "status", json_string(health_status(w)));
    json_object_set_new(h, "worker_id", json_string(w->worker_id));
    json_object_set_new(h, "kafka",
                        json_pack("{s:s,s:i,s:s}", "state", m->kafka_down ? "down" : "ok",
                                  "assigned_partitions", (int)assigned_partitions(w), "last_error",
                                  m->kafka_error));
    json_object_set_new(h, "redis",
                        w->cache.redis
                            ? json_pack("{s:s,s:s,s:s}", "state",
                                        kc_redis_state_name(kc_redis_state(w->cache.redis)),
                                        "endpoint", kc_redis_endpoint(w->cache.redis), "last_error",
                                        kc_redis_last_error(w->cache.redis))
                            : json_pack("{s:s}", "state", "off"));
    json_object_set_new(h, "lmdb", json_pack("{s:s}", "state", w->cache.lmdb ? "ok" : "off"));
    json_object_set_new(h, "llm", kc_worker_llm_health(w, llm_state(w), m->llm_failures_in_row));
    json_object_set_new(h, "breaker", json_string(kc_breaker_state_name(w->breaker.state)));
    json_object_set_new(h, "llm_concurrency_limit", json_integer(kc_limiter_limit(&w->lq.limiter)));
    /* The last complete window; until one has passed, the one in progress. */
    if (m->have_window) {
        json_object_set_new(h, "window", json_string("last 60 s"));
        json_object_set_new(h, "p95_ms",
                            json_real((double)kc_hist_percentile(m->win_prev, 95.0) / 1000.0));
        json_object_set_new(h, "hit_rate", json_real(m->last_hit_rate));
        json_object_set_new(h, "success_rate", json_real(m->last_success_rate));
    } else {
        json_object_set_new(h, "window", json_string("since start"));
        json_object_set_new(h, "p95_ms",
                            json_real((double)kc_hist_percentile(m->win_cur, 95.0) / 1000.0));
        json_object_set_new(h, "hit_rate",
                            m->win_lookups ? json_real((double)m->win_hits / (double)m->win_lookups)
                                           : json_null());
        json_object_set_new(h, "success_rate",
                            m->win_total ? json_real((double)m->win_ok / (double)m->win_total)
                                         : json_null());
    }
    s = json_dumps(h, JSON_COMPACT);
    kc_buf_reset(b);
    if (s) {
        kc_buf_puts(b, s);
        free(s);
    }
    json_decref(h);
}

/* Roll the /health window: its figures describe the last complete window. */
static void window_roll(kc_wmetrics_t *m, int64_t now)
{
    struct kc_hist_s *t;

    if (now - m->win_start < WINDOW_US) {
        return;
    }
    m->last_success_rate = m->win_total ? (double)m->win_ok / (double)m->win_total : 1.0;
    m->last_hit_rate = m->win_lookups ? (double)m->win_hits / (double)m->win_lookups : 0.0;
    m->win_ok = m->win_total = m->win_hits = m->win_lookups = 0;
    t = m->win_prev;
    m->win_prev = m->win_cur;
    m->win_cur = t;
    kc_hist_reset(m->win_cur);
    m->win_start = now;
    m->have_window = true;
}

void kc_worker_metrics_tick(kc_worker_t *w)
{
    kc_wmetrics_t *m = &w->metrics;
    int64_t now = kc_w_mono(w);
    char errstr[128];

    if (!m->httpd || now < m->next_publish) {
        return;
    }
    m->next_publish = now + PUBLISH_US;
    window_roll(m, now);
    kc_buf_reset(&m->text);
    render_counters(w, &m->text);
    kc_worker_llm_render(w, &m->text);
    render_kafka(w, &m->text);
    kc_prom_process(&m->text, errstr, sizeof(errstr));
    render_health(w, &m->health);
    kc_httpd_publish(m->httpd, m->text.data, m->text.len, m->health.data, m->health.len,
                     strcmp(health_status(w), "down") == 0 ? 503 : 200);
}
