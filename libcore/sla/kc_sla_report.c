/*
 * Rendering of the SLA monitor's figures: human text, JSON lines, the
 * verdict, Prometheus metrics and /health.
 */
#include "kc_sla_report.h"
#include "kc_alert.h"
#include "kc_err.h"
#include "kc_prom.h"

#include <jansson.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const hit_levels[] = {"L1", "LMDB", "REDIS"};

/* ------------------------------------------------------------------------
 * Verdict
 * ------------------------------------------------------------------------ */

static void add_reason(kc_sla_verdict_t *v, const char *fmt, double a, double b)
    __attribute__((format(printf, 2, 0)));

static void add_reason(kc_sla_verdict_t *v, const char *fmt, double a, double b)
{
    size_t len = strlen(v->reasons);
    char one[160];

    snprintf(one, sizeof(one), fmt, a, b);
    snprintf(v->reasons + len, sizeof(v->reasons) - len, "%s%s", len ? "; " : "", one);
    v->compliant = false;
}

void kc_sla_verdict(const kc_sla_rules_conf_t *rc, const kc_sla_figures_t *f, kc_sla_verdict_t *out)
{
    const kc_sla_rule_conf_t *r = rc->rule;

    memset(out, 0, sizeof(*out));
    out->compliant = true;
    if (f->count == 0) {
        out->compliant = false;
        snprintf(out->reasons, sizeof(out->reasons), "no replies");
        return;
    }
    if (r[KC_SLA_RULE_P95].enabled && f->total.p95 / 1000.0 > r[KC_SLA_RULE_P95].threshold) {
        add_reason(out, "p95 %.1f ms > %.1f ms", f->total.p95 / 1000.0,
                   r[KC_SLA_RULE_P95].threshold);
    }
    if (r[KC_SLA_RULE_P99].enabled && f->total.p99 / 1000.0 > r[KC_SLA_RULE_P99].threshold) {
        add_reason(out, "p99 %.1f ms > %.1f ms", f->total.p99 / 1000.0,
                   r[KC_SLA_RULE_P99].threshold);
    }
    if (r[KC_SLA_RULE_COMPLIANCE].enabled &&
        f->target_compliance * 100 < r[KC_SLA_RULE_COMPLIANCE].threshold) {
        add_reason(out, "target compliance %.2f%% < %.2f%%", f->target_compliance * 100,
                   r[KC_SLA_RULE_COMPLIANCE].threshold);
    }
    if (r[KC_SLA_RULE_SUCCESS].enabled &&
        f->success_rate * 100 < r[KC_SLA_RULE_SUCCESS].threshold) {
        add_reason(out, "success rate %.2f%% < %.2f%%", f->success_rate * 100,
                   r[KC_SLA_RULE_SUCCESS].threshold);
    }
    if (r[KC_SLA_RULE_DEGRADED].enabled &&
        f->degraded_rate * 100 > r[KC_SLA_RULE_DEGRADED].threshold) {
        add_reason(out, "degraded rate %.2f%% > %.2f%%", f->degraded_rate * 100,
                   r[KC_SLA_RULE_DEGRADED].threshold);
    }
}

/* ------------------------------------------------------------------------
 * Human text
 * ------------------------------------------------------------------------ */

static const char *window_name(const kc_sla_figures_t *f, char buf[16])
{
    if (f->window_s == KC_SLA_WINDOW_TOTAL) {
        return "total";
    }
    snprintf(buf, 16, "%ds", f->window_s);
    return buf;
}

static int firing_list(const kc_sla_rules_t *rules, kc_buf_t *out)
{
    int rc = 0, n = 0;

    for (int i = 0; !rc && rules && i < KC_SLA_RULE__CNT; i++) {
        if (kc_sla_rules_firing(rules, (kc_sla_rule_id_t)i)) {
            rc = kc_buf_printf(out, "%s%s", n++ ? "," : "", kc_sla_rule_name((kc_sla_rule_id_t)i));
        }
    }
    return rc ? rc : n ? 0 : kc_buf_puts(out, "none");
}

static int window_line(const kc_sla_figures_t *f, const kc_sla_status_t *st, kc_buf_t *out)
{
    char w[16];
    const kc_sla_lat_t *l = &f->total;

    return kc_buf_printf(
        out,
        "  %-6s %7" PRIu64 " replies %8.1f/s  p50 %.1f p90 %.1f p95 %.1f p99 %.1f p99.9 %.1f "
        "max %.1f ms  on target(<=%" PRId64 "ms) %.1f%%  deadline(<=%" PRId64
        "ms) %.1f%%  ok %.1f%% degraded %.1f%% error %.1f%%  hit L1 %.1f%% LMDB %.1f%% REDIS "
        "%.1f%%\n",
        window_name(f, w), f->count, f->throughput, l->p50 / 1e3, l->p90 / 1e3, l->p95 / 1e3,
        l->p99 / 1e3, l->p999 / 1e3, l->max / 1e3, st->target_ms, f->target_compliance * 100,
        st->deadline_ms, f->deadline_compliance * 100, f->success_rate * 100,
        f->degraded_rate * 100, f->error_rate * 100, f->source_rate[KC_SRC_L1] * 100,
        f->source_rate[KC_SRC_LMDB] * 100, f->source_rate[KC_SRC_REDIS] * 100);
}

static int breakdown_lines(const kc_sla_figures_t *f, kc_buf_t *out)
{
    char w[16];
    int rc = kc_buf_printf(out, "  %s by source:", window_name(f, w));

    for (int i = 0; !rc && i < KC_SLA_SOURCE_CNT; i++) {
        rc = kc_buf_printf(out, " %s %" PRIu64, kc_source_name((kc_source_t)i), f->by_source[i]);
    }
    rc = rc ? rc : kc_buf_puts(out, "; by status:");
    for (int i = 0; !rc && i < KC_SLA_STATUS_CNT; i++) {
        rc = kc_buf_printf(out, " %s %" PRIu64, kc_status_name((kc_status_t)i), f->by_status[i]);
    }
    rc = rc ? rc : kc_buf_puts(out, "; by category:");
    for (size_t i = 0; !rc && i < f->category_cnt; i++) {
        rc = kc_buf_printf(out, " %s %" PRIu64, f->categories[i].name, f->categories[i].count);
    }
    rc = rc ? rc
            : kc_buf_printf(
                  out, "; coalesced %" PRIu64 "; stages p95 queue %.1f cache %.1f llm %.1f ms\n",
                  f->coalesced, f->queue.p95 / 1e3, f->cache.p95 / 1e3, f->llm.p95 / 1e3);
    return rc;
}

int kc_sla_report_text(const kc_sla_figures_t *figs, size_t n, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, const kc_sla_verdict_t *verdict, int64_t now_us,
                       kc_buf_t *out)
{
    char ts[32];
    int rc;

    kc_alert_rfc3339(now_us, ts);
    rc = kc_buf_printf(out, "%s %s  firing: ", verdict ? "FINAL" : "SLA", ts);
    rc = rc ? rc : firing_list(rules, out);
    rc = rc             ? rc
         : st->lag >= 0 ? kc_buf_printf(out, "  workers lag: %" PRId64 "\n", st->lag)
                        : kc_buf_puts(out, "\n");
    for (size_t i = 0; !rc && i < n; i++) {
        rc = window_line(&figs[i], st, out);
    }
    if (!rc && n > 0) {
        rc = breakdown_lines(&figs[0], out);
    }
    if (!rc && verdict) {
        rc = kc_buf_printf(out, "VERDICT %s%s%s\n",
                           verdict->compliant ? "COMPLIANT" : "NOT COMPLIANT",
                           verdict->reasons[0] ? ": " : "", verdict->reasons);
    }
    return rc;
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

static json_t *lat_json(const kc_sla_lat_t *l, bool full)
{
    json_t *o = json_object();

    json_object_set_new(o, "p50", json_real(l->p50 / 1e3));
    if (full) {
        json_object_set_new(o, "p90", json_real(l->p90 / 1e3));
    }
    json_object_set_new(o, "p95", json_real(l->p95 / 1e3));
    json_object_set_new(o, "p99", json_real(l->p99 / 1e3));
    if (full) {
        json_object_set_new(o, "p99_9", json_real(l->p999 / 1e3));
        json_object_set_new(o, "min", json_real(l->min / 1e3));
        json_object_set_new(o, "mean", json_real(l->mean / 1e3));
    }
    json_object_set_new(o, "max", json_real(l->max / 1e3));
    return o;
}

static json_t *counts_json(const kc_sla_figures_t *f)
{
    json_t *src = json_object(), *status = json_object(), *cat = json_object(),
           *hit = json_object(), *o = json_object();

    for (int i = 0; i < KC_SLA_SOURCE_CNT; i++) {
        json_object_set_new(src, kc_source_name((kc_source_t)i),
                            json_integer((json_int_t)f->by_source[i]));
    }
    for (int i = 0; i < KC_SLA_STATUS_CNT; i++) {
        json_object_set_new(status, kc_status_name((kc_status_t)i),
                            json_integer((json_int_t)f->by_status[i]));
    }
    for (size_t i = 0; i < f->category_cnt; i++) {
        json_object_set_new(cat, f->categories[i].name,
                            json_integer((json_int_t)f->categories[i].count));
    }
    for (int i = 0; i < 3; i++) {
        json_object_set_new(hit, hit_levels[i], json_real(f->source_rate[i]));
    }
    json_object_set_new(o, "by_source", src);
    json_object_set_new(o, "by_status", status);
    json_object_set_new(o, "by_category", cat);
    json_object_set_new(o, "hit_rate", hit);
    return o;
}

static json_t *window_json(const kc_sla_figures_t *f)
{
    json_t *o = counts_json(f);

    json_object_set_new(o, "window_s", json_integer(f->window_s));
    json_object_set_new(o, "span_s", json_real(f->span_s));
    json_object_set_new(o, "count", json_integer((json_int_t)f->count));
    json_object_set_new(o, "throughput", json_real(f->throughput));
    json_object_set_new(o, "latency_ms", lat_json(&f->total, true));
    json_object_set_new(o, "queue_ms", lat_json(&f->queue, false));
    json_object_set_new(o, "cache_ms", lat_json(&f->cache, false));
    json_object_set_new(o, "llm_ms", lat_json(&f->llm, false));
    json_object_set_new(o, "target_compliance", json_real(f->target_compliance));
    json_object_set_new(o, "deadline_compliance", json_real(f->deadline_compliance));
    json_object_set_new(o, "success_rate", json_real(f->success_rate));
    json_object_set_new(o, "degraded_rate", json_real(f->degraded_rate));
    json_object_set_new(o, "error_rate", json_real(f->error_rate));
    json_object_set_new(o, "coalesced", json_integer((json_int_t)f->coalesced));
    return o;
}

static json_t *firing_json(const kc_sla_rules_t *rules)
{
    json_t *a = json_array();
    for (int i = 0; rules && i < KC_SLA_RULE__CNT; i++) {
        if (kc_sla_rules_firing(rules, (kc_sla_rule_id_t)i)) {
            json_array_append_new(a, json_string(kc_sla_rule_name((kc_sla_rule_id_t)i)));
        }
    }
    return a;
}

static int dump_line(json_t *o, kc_buf_t *out)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    int rc;

    json_decref(o);
    if (!text) {
        return KC_ERR_NOMEM;
    }
    rc = kc_buf_puts(out, text);
    free(text);
    return rc ? rc : kc_buf_puts(out, "\n");
}

int kc_sla_report_json(const kc_sla_figures_t *figs, size_t n, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, const kc_sla_verdict_t *verdict, int64_t now_us,
                       kc_buf_t *out)
{
    json_t *o = json_object(), *w = json_array();
    char ts[32];

    kc_alert_rfc3339(now_us, ts);
    json_object_set_new(o, "type", json_string(verdict ? "final" : "report"));
    json_object_set_new(o, "at", json_string(ts));
    json_object_set_new(o, "target_ms", json_integer(st->target_ms));
    json_object_set_new(o, "deadline_ms", json_integer(st->deadline_ms));
    json_object_set_new(o, "firing", firing_json(rules));
    json_object_set_new(o, "lag", st->lag >= 0 ? json_integer(st->lag) : json_null());
    json_object_set_new(o, "decode_errors", json_integer((json_int_t)st->decode_errors));
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(w, window_json(&figs[i]));
    }
    json_object_set_new(o, "windows", w);
    if (verdict) {
        json_object_set_new(o, "compliant", json_boolean(verdict->compliant));
        json_object_set_new(o, "reasons", json_string(verdict->reasons));
    }
    return dump_line(o, out);
}

/* ------------------------------------------------------------------------
 * Prometheus
 * ------------------------------------------------------------------------ */

static int window_gauge(kc_buf_t *out, const char *name, const char *help,
                        const kc_sla_figures_t *figs, size_t n, size_t field_off)
{
    char w[16];
    int rc = kc_prom_family(out, name, help, KC_PROM_GAUGE);

    for (size_t i = 0; !rc && i < n; i++) {
        double v = *(const double *)((const char *)&figs[i] + field_off);
        rc = kc_prom_sample(out, name, (const char *[]){"window", window_name(&figs[i], w), NULL},
                            v);
    }
    return rc;
}

static int window_quantiles(kc_buf_t *out, const kc_sla_figures_t *figs, size_t n)
{
    /* A gauge per percentile: promtool reserves the "quantile" label for summaries. */
    static const char *const name = "kclassify_sla_window_latency_seconds";
    char w[16];
    int rc = kc_prom_family(out, name,
                            "Reply latency (total_us) percentiles over each window, in seconds.",
                            KC_PROM_GAUGE);

    for (size_t i = 0; !rc && i < n; i++) {
        const kc_sla_lat_t *l = &figs[i].total;
        const struct {
            const char *q;
            int64_t v;
        } qs[] = {{"0.5", l->p50},  {"0.9", l->p90},    {"0.95", l->p95},
                  {"0.99", l->p99}, {"0.999", l->p999}, {"1", l->max}};
        window_name(&figs[i], w);
        for (size_t k = 0; !rc && k < sizeof(qs) / sizeof(qs[0]); k++) {
            rc = kc_prom_sample(out, name,
                                (const char *[]){"window", w, "percentile", qs[k].q, NULL},
                                (double)qs[k].v / 1e6);
        }
    }
    return rc;
}

static int window_counts(kc_buf_t *out, const kc_sla_figures_t *figs, size_t n)
{
    static const char *const hits = "kclassify_sla_window_cache_hit_ratio";
    char w[16];
    int rc = kc_prom_family(out, "kclassify_sla_window_replies", "Replies seen in each window.",
                            KC_PROM_GAUGE);

    for (size_t i = 0; !rc && i < n; i++) {
        rc = kc_prom_sample(out, "kclassify_sla_window_replies",
                            (const char *[]){"window", window_name(&figs[i], w), NULL},
                            (double)figs[i].count);
    }
    rc = rc ? rc
            : kc_prom_family(out, hits, "Share of replies answered by each cache level per window.",
                             KC_PROM_GAUGE);
    for (size_t i = 0; !rc && i < n; i++) {
        window_name(&figs[i], w);
        for (int k = 0; !rc && k < 3; k++) {
            rc = kc_prom_sample(out, hits,
                                (const char *[]){"window", w, "level", hit_levels[k], NULL},
                                figs[i].source_rate[k]);
        }
    }
    return rc;
}

static int totals_metrics(kc_buf_t *out, const kc_sla_figures_t *t, const kc_hist_t *h)
{
    static const char *const by_status = "kclassify_sla_replies_total";
    static const char *const by_source = "kclassify_sla_replies_by_source_total";
    int rc =
        kc_prom_family(out, by_status, "Replies seen since start, by status.", KC_PROM_COUNTER);

    for (int i = 0; !rc && i < KC_SLA_STATUS_CNT; i++) {
        rc = kc_prom_sample(out, by_status,
                            (const char *[]){"status", kc_status_name((kc_status_t)i), NULL},
                            (double)t->by_status[i]);
    }
    rc = rc ? rc
            : kc_prom_family(out, by_source, "Replies seen since start, by answering source.",
                             KC_PROM_COUNTER);
    for (int i = 0; !rc && i < KC_SLA_SOURCE_CNT; i++) {
        rc = kc_prom_sample(out, by_source,
                            (const char *[]){"source", kc_source_name((kc_source_t)i), NULL},
                            (double)t->by_source[i]);
    }
    return rc ? rc
              : kc_prom_hist(out, "kclassify_sla_reply_duration_seconds",
                             "Reply latency (total_us: created_at to replied_at) since start.",
                             NULL, h, kc_prom_latency_buckets, KC_PROM_LATENCY_BUCKETS_CNT);
}

static int rule_metrics(kc_buf_t *out, const kc_sla_rules_t *r)
{
    static const char *const firing = "kclassify_sla_alert_firing";
    static const char *const trans = "kclassify_sla_alert_transitions_total";
    int rc = kc_prom_family(out, firing, "1 while the alert rule fires.", KC_PROM_GAUGE);

    for (int i = 0; !rc && i < KC_SLA_RULE__CNT; i++) {
        rc = kc_prom_sample(out, firing,
                            (const char *[]){"rule", kc_sla_rule_name((kc_sla_rule_id_t)i), NULL},
                            r->st[i].firing);
    }
    rc = rc ? rc : kc_prom_family(out, trans, "Alert state changes since start.", KC_PROM_COUNTER);
    for (int i = 0; !rc && i < KC_SLA_RULE__CNT; i++) {
        const char *name = kc_sla_rule_name((kc_sla_rule_id_t)i);
        rc = kc_prom_sample(out, trans, (const char *[]){"rule", name, "state", "FIRING", NULL},
                            (double)r->st[i].fired);
        rc = rc ? rc
                : kc_prom_sample(out, trans,
                                 (const char *[]){"rule", name, "state", "RESOLVED", NULL},
                                 (double)r->st[i].resolved);
    }
    return rc;
}

static int status_metrics(kc_buf_t *out, const kc_sla_status_t *st)
{
    static const char *const pub = "kclassify_sla_alerts_published_total";
    static const char *const wh = "kclassify_sla_webhook_posts_total";
    int rc = kc_prom_counter(out, "kclassify_sla_decode_errors_total",
                             "Reply records that could not be decoded.", NULL,
                             (double)st->decode_errors);

    rc = rc ? rc : kc_prom_family(out, pub, "SlaAlert records produced to Kafka.", KC_PROM_COUNTER);
    rc = rc ? rc
            : kc_prom_sample(out, pub, (const char *[]){"result", "ok", NULL},
                             (double)st->alerts_published);
    rc = rc ? rc
            : kc_prom_sample(out, pub, (const char *[]){"result", "failed", NULL},
                             (double)st->alerts_failed);
    rc = rc ? rc : kc_prom_family(out, wh, "Alertmanager webhook posts.", KC_PROM_COUNTER);
    rc = rc ? rc
            : kc_prom_sample(out, wh, (const char *[]){"result", "ok", NULL},
                             (double)st->webhook_ok);
    rc = rc ? rc
            : kc_prom_sample(out, wh, (const char *[]){"result", "failed", NULL},
                             (double)st->webhook_failed);
    rc = rc ? rc
            : kc_prom_gauge(out, "kclassify_sla_kafka_up", "1 while the Kafka client is connected.",
                            NULL, st->kafka_up);
    if (!rc && st->lag >= 0) {
        rc = kc_prom_gauge(out, "kclassify_sla_workers_lag_messages",
                           "Requests the workers' group has not committed yet (last check).", NULL,
                           (double)st->lag);
    }
    return rc;
}

int kc_sla_metrics_render(kc_buf_t *out, const kc_sla_figures_t *figs, size_t n,
                          const kc_sla_figures_t *totals, const kc_hist_t *total_hist,
                          const kc_sla_rules_t *rules, const kc_sla_status_t *st)
{
    int rc = totals_metrics(out, totals, total_hist);

    rc = rc ? rc : window_counts(out, figs, n);
    rc = rc ? rc : window_quantiles(out, figs, n);
    rc = rc ? rc
            : window_gauge(out, "kclassify_sla_window_target_compliance_ratio",
                           "Share of replies within sla.target.ms per window.", figs, n,
                           offsetof(kc_sla_figures_t, target_compliance));
    rc = rc ? rc
            : window_gauge(out, "kclassify_sla_window_deadline_compliance_ratio",
                           "Share of replies within sla.deadline.ms per window.", figs, n,
                           offsetof(kc_sla_figures_t, deadline_compliance));
    rc = rc ? rc
            : window_gauge(out, "kclassify_sla_window_success_ratio",
                           "Share of replies with status OK per window.", figs, n,
                           offsetof(kc_sla_figures_t, success_rate));
    rc = rc ? rc
            : window_gauge(out, "kclassify_sla_window_degraded_ratio",
                           "Share of replies with status DEGRADED per window.", figs, n,
                           offsetof(kc_sla_figures_t, degraded_rate));
    rc = rc ? rc
            : window_gauge(out, "kclassify_sla_window_throughput_replies_per_second",
                           "Replies per second per window.", figs, n,
                           offsetof(kc_sla_figures_t, throughput));
    rc = rc ? rc : rule_metrics(out, rules);
    return rc ? rc : status_metrics(out, st);
}

/* ------------------------------------------------------------------------
 * Health
 * ------------------------------------------------------------------------ */

int kc_sla_health_json(kc_buf_t *out, const kc_sla_figures_t *w, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, int *http_status)
{
    json_t *o = json_object();
    const char *status = !st->kafka_up                               ? "down"
                         : rules && kc_sla_rules_firing_count(rules) ? "degraded"
                                                                     : "ok";
    double hit =
        w->source_rate[KC_SRC_L1] + w->source_rate[KC_SRC_LMDB] + w->source_rate[KC_SRC_REDIS];

    *http_status = strcmp(status, "down") == 0 ? 503 : 200;
    json_object_set_new(o, "status", json_string(status));
    json_object_set_new(o, "kafka", json_string(st->kafka_up ? "up" : "down"));
    json_object_set_new(o, "window_s", json_integer(w->window_s));
    json_object_set_new(o, "count", json_integer((json_int_t)w->count));
    json_object_set_new(o, "p95_ms", json_real(w->total.p95 / 1e3));
    json_object_set_new(o, "hit_rate", json_real(hit));
    json_object_set_new(o, "success_rate", json_real(w->success_rate));
    json_object_set_new(o, "workers_lag", st->lag >= 0 ? json_integer(st->lag) : json_null());
    json_object_set_new(o, "firing", firing_json(rules));
    return dump_line(o, out);
}
