/*
 * SLA windows: a ring of per-second accumulators (counters plus four
 * histograms each) indexed by second % ring_s, merged on demand into a
 * scratch accumulator for a window's figures. Histograms are allocated lazily
 * per slot, so idle seconds cost a few hundred bytes.
 */
#include "kc_sla.h"
#include "kc_err.h"

#include <stdlib.h>
#include <string.h>

enum { H_TOTAL, H_QUEUE, H_CACHE, H_LLM, H__CNT };

#define CAT_OTHER KC_SLA_MAX_CATEGORIES /* index of the "other" bucket */

/* Counters and histograms of one second, one window or the totals. */
typedef struct acc_s {
    int64_t sec;               /* for ring slots: the second held, -1 = empty */
    int64_t first_at, last_at; /* event times seen (0 = none) */
    uint64_t count, target_ok, deadline_ok, coalesced;
    uint64_t by_status[KC_SLA_STATUS_CNT];
    uint64_t by_source[KC_SLA_SOURCE_CNT];
    uint64_t by_cat[KC_SLA_MAX_CATEGORIES + 1];
    kc_hist_t *h[H__CNT];
} acc_t;

struct kc_sla_s {
    kc_sla_opts_t opts;
    acc_t *ring;
    acc_t total;
    acc_t scratch;
    char *cat_names[KC_SLA_MAX_CATEGORIES];
    size_t cat_cnt;
    int64_t last_seen_us;
};

/* ------------------------------------------------------------------------
 * Accumulators
 * ------------------------------------------------------------------------ */

static void acc_free(acc_t *a)
{
    for (int i = 0; i < H__CNT; i++) {
        kc_hist_destroy(a->h[i]);
        a->h[i] = NULL;
    }
}

/* Zero the counters, keep (and reset) the histograms for reuse. */
static void acc_clear(acc_t *a, int64_t sec)
{
    kc_hist_t *h[H__CNT];

    memcpy(h, a->h, sizeof(h));
    memset(a, 0, sizeof(*a));
    memcpy(a->h, h, sizeof(h));
    a->sec = sec;
    for (int i = 0; i < H__CNT; i++) {
        if (a->h[i]) {
            kc_hist_reset(a->h[i]);
        }
    }
}

static int acc_hist(acc_t *a, int i, kc_hist_t **out)
{
    if (!a->h[i] && !(a->h[i] = kc_hist_new())) {
        return KC_ERR_NOMEM;
    }
    *out = a->h[i];
    return 0;
}

static int acc_record(acc_t *a, const kc_sla_opts_t *o, const kc_sla_sample_t *s, size_t cat)
{
    const int64_t v[H__CNT] = {s->total_us, s->queue_us, s->cache_us, s->llm_us};
    kc_hist_t *h;
    int rc;

    if (s->at_us > 0) {
        a->first_at = a->first_at == 0 || s->at_us < a->first_at ? s->at_us : a->first_at;
        a->last_at = s->at_us > a->last_at ? s->at_us : a->last_at;
    }
    a->count++;
    a->target_ok += s->total_us <= o->target_us;
    a->deadline_ok += s->total_us <= o->deadline_us;
    a->coalesced += s->coalesced;
    a->by_status[(unsigned)s->status < KC_SLA_STATUS_CNT ? s->status : KC_STATUS_ERROR]++;
    a->by_source[(unsigned)s->source < KC_SLA_SOURCE_CNT ? s->source : KC_SRC_NONE]++;
    a->by_cat[cat]++;
    for (int i = 0; i < H__CNT; i++) {
        if ((rc = acc_hist(a, i, &h)) != 0 || (rc = kc_hist_record(h, v[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

static int acc_merge(acc_t *dst, const acc_t *src)
{
    kc_hist_t *h;
    int rc;

    dst->count += src->count;
    dst->target_ok += src->target_ok;
    dst->deadline_ok += src->deadline_ok;
    dst->coalesced += src->coalesced;
    for (int i = 0; i < KC_SLA_STATUS_CNT; i++) {
        dst->by_status[i] += src->by_status[i];
    }
    for (int i = 0; i < KC_SLA_SOURCE_CNT; i++) {
        dst->by_source[i] += src->by_source[i];
    }
    for (int i = 0; i <= KC_SLA_MAX_CATEGORIES; i++) {
        dst->by_cat[i] += src->by_cat[i];
    }
    for (int i = 0; i < H__CNT; i++) {
        if (!src->h[i]) {
            continue;
        }
        if ((rc = acc_hist(dst, i, &h)) != 0 || (rc = kc_hist_merge(h, src->h[i])) != 0) {
            return rc;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Lifecycle
 * ------------------------------------------------------------------------ */

kc_sla_t *kc_sla_new(const kc_sla_opts_t *opts, char *errstr, size_t errstr_size)
{
    kc_sla_t *sla;

    if (opts->ring_s < 1 || opts->ring_s > KC_SLA_RING_MAX_S) {
        kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "ring of %d s is outside 1..%d",
                  opts->ring_s, KC_SLA_RING_MAX_S);
        return NULL;
    }
    if (!(sla = calloc(1, sizeof(*sla))) ||
        !(sla->ring = calloc((size_t)opts->ring_s, sizeof(acc_t)))) {
        free(sla);
        kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return NULL;
    }
    sla->opts = *opts;
    for (int i = 0; i < opts->ring_s; i++) {
        sla->ring[i].sec = -1;
    }
    return sla;
}

void kc_sla_destroy(kc_sla_t *sla)
{
    if (!sla) {
        return;
    }
    for (int i = 0; i < sla->opts.ring_s; i++) {
        acc_free(&sla->ring[i]);
    }
    free(sla->ring);
    acc_free(&sla->total);
    acc_free(&sla->scratch);
    for (size_t i = 0; i < sla->cat_cnt; i++) {
        free(sla->cat_names[i]);
    }
    free(sla);
}

/* ------------------------------------------------------------------------
 * Recording
 * ------------------------------------------------------------------------ */

/* Index of a category name, interning it; CAT_OTHER once the table is full. */
static size_t cat_index(kc_sla_t *sla, const char *name)
{
    if (!name || !*name) {
        name = "none";
    }
    for (size_t i = 0; i < sla->cat_cnt; i++) {
        if (strcmp(sla->cat_names[i], name) == 0) {
            return i;
        }
    }
    if (sla->cat_cnt == KC_SLA_MAX_CATEGORIES || !(sla->cat_names[sla->cat_cnt] = strdup(name))) {
        return CAT_OTHER;
    }
    return sla->cat_cnt++;
}

/* The ring slot for an event second, or NULL when it is outside the ring. */
static acc_t *slot_for(kc_sla_t *sla, int64_t at_us, int64_t now_us)
{
    int64_t now_sec = now_us / 1000000, sec;
    acc_t *a;

    if (at_us <= 0) {
        return NULL;
    }
    sec = at_us / 1000000;
    if (sec > now_sec) {
        sec = now_sec; /* clock skew: a reply "from the future" happened now */
    }
    if (sec <= now_sec - sla->opts.ring_s) {
        return NULL;
    }
    a = &sla->ring[sec % sla->opts.ring_s];
    if (a->sec != sec) {
        if (a->sec > sec) {
            return NULL; /* slot already reused by a newer second */
        }
        acc_clear(a, sec);
    }
    return a;
}

int kc_sla_add(kc_sla_t *sla, const kc_sla_sample_t *s, int64_t now_us)
{
    size_t cat = cat_index(sla, s->category);
    acc_t *a = slot_for(sla, s->at_us, now_us);
    int rc;

    if (sla->opts.start_us == 0) {
        sla->opts.start_us = now_us;
    }
    sla->last_seen_us = now_us;
    if ((rc = acc_record(&sla->total, &sla->opts, s, cat)) != 0) {
        return rc;
    }
    return a ? acc_record(a, &sla->opts, s, cat) : 0;
}

int kc_sla_add_result(kc_sla_t *sla, const kc_result_t *res, int64_t now_us)
{
    kc_sla_sample_t s = {
        .at_us = res->replied_at,
        .total_us = res->total_us,
        .queue_us = res->queue_us,
        .cache_us = res->cache_us,
        .llm_us = res->llm_us,
        .status = res->status,
        .source = res->source,
        .coalesced = res->coalesced,
        .category = res->category,
    };
    return kc_sla_add(sla, &s, now_us);
}

/* ------------------------------------------------------------------------
 * Figures
 * ------------------------------------------------------------------------ */

void kc_sla_lat_from_hist(const kc_hist_t *h, kc_sla_lat_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!h || kc_hist_count(h) == 0) {
        return;
    }
    out->p50 = kc_hist_percentile(h, 50);
    out->p90 = kc_hist_percentile(h, 90);
    out->p95 = kc_hist_percentile(h, 95);
    out->p99 = kc_hist_percentile(h, 99);
    out->p999 = kc_hist_percentile(h, 99.9);
    out->min = kc_hist_min(h);
    out->max = kc_hist_max(h);
    out->mean = kc_hist_mean(h);
}

static double ratio(uint64_t n, uint64_t d)
{
    return d ? (double)n / (double)d : 0.0;
}

static void figures_from_acc(const kc_sla_t *sla, const acc_t *a, kc_sla_figures_t *out)
{
    out->count = a->count;
    out->throughput = out->span_s > 0 ? (double)a->count / out->span_s : 0.0;
    kc_sla_lat_from_hist(a->h[H_TOTAL], &out->total);
    kc_sla_lat_from_hist(a->h[H_QUEUE], &out->queue);
    kc_sla_lat_from_hist(a->h[H_CACHE], &out->cache);
    kc_sla_lat_from_hist(a->h[H_LLM], &out->llm);
    out->target_compliance = ratio(a->target_ok, a->count);
    out->deadline_compliance = ratio(a->deadline_ok, a->count);
    out->success_rate = ratio(a->by_status[KC_STATUS_OK], a->count);
    out->degraded_rate = ratio(a->by_status[KC_STATUS_DEGRADED], a->count);
    out->error_rate = ratio(a->by_status[KC_STATUS_ERROR], a->count);
    memcpy(out->by_status, a->by_status, sizeof(out->by_status));
    memcpy(out->by_source, a->by_source, sizeof(out->by_source));
    for (int i = 0; i < KC_SLA_SOURCE_CNT; i++) {
        out->source_rate[i] = ratio(a->by_source[i], a->count);
    }
    out->coalesced = a->coalesced;
    out->category_cnt = 0;
    for (size_t i = 0; i <= KC_SLA_MAX_CATEGORIES; i++) {
        if (a->by_cat[i] == 0) {
            continue;
        }
        out->categories[out->category_cnt].name = i < CAT_OTHER ? sla->cat_names[i] : "other";
        out->categories[out->category_cnt++].count = a->by_cat[i];
    }
}

/* Seconds covered by a window: shorter than window_s until that long has passed. */
static double span_of(const kc_sla_t *sla, int window_s, int64_t now_us)
{
    double since = sla->opts.start_us ? (double)(now_us - sla->opts.start_us) / 1e6 : 0.0;

    if (since < 1.0) {
        since = 1.0; /* a throughput over less than a second says nothing more */
    }
    return window_s == KC_SLA_WINDOW_TOTAL || since < window_s ? since : (double)window_s;
}

int kc_sla_figures(kc_sla_t *sla, int window_s, int64_t now_us, kc_sla_figures_t *out, char *errstr,
                   size_t errstr_size)
{
    int64_t now_sec = now_us / 1000000;
    int rc;

    if (window_s < 0 || window_s > sla->opts.ring_s) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size,
                         "window of %d s is outside 0..%d (the ring)", window_s, sla->opts.ring_s);
    }
    memset(out, 0, sizeof(*out));
    out->window_s = window_s;
    out->span_s = span_of(sla, window_s, now_us);
    if (window_s == KC_SLA_WINDOW_TOTAL) {
        if (sla->total.last_at > sla->total.first_at) {
            /* replies read from history (--from-beginning) span their own time */
            double events_s = (double)(sla->total.last_at - sla->total.first_at) / 1e6;
            out->span_s = events_s > out->span_s ? events_s : out->span_s;
        }
        figures_from_acc(sla, &sla->total, out);
        return 0;
    }
    acc_clear(&sla->scratch, 0);
    for (int64_t sec = now_sec - window_s + 1; sec <= now_sec; sec++) {
        const acc_t *a = &sla->ring[sec % sla->opts.ring_s];
        if (sec >= 0 && a->sec == sec && (rc = acc_merge(&sla->scratch, a)) != 0) {
            return kc_seterr(rc, errstr, errstr_size, "merging window: out of memory");
        }
    }
    figures_from_acc(sla, &sla->scratch, out);
    return 0;
}

const kc_hist_t *kc_sla_total_hist(const kc_sla_t *sla)
{
    return sla->total.h[H_TOTAL];
}

int64_t kc_sla_last_seen_us(const kc_sla_t *sla)
{
    return sla->last_seen_us;
}

uint64_t kc_sla_total_count(const kc_sla_t *sla)
{
    return sla->total.count;
}
