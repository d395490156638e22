/* Unit tests for the SLA monitor's pure parts: windows (kc_sla), alert rules
 * with hysteresis (kc_sla_rules), configuration (kc_sla_conf) and reports
 * (kc_sla_report). */
#include "kc_err.h"
#include "kc_sla.h"
#include "kc_sla_conf.h"
#include "kc_sla_report.h"
#include "kc_sla_rules.h"

#include "kc_check.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC   INT64_C(1000000)
#define T0    (INT64_C(1700000000) * SEC) /* a whole second */
#define MS(x) ((int64_t)(x)*1000)

static kc_sla_t *new_sla(int ring_s)
{
    kc_sla_opts_t o = {
        .target_us = MS(1500), .deadline_us = MS(2000), .ring_s = ring_s, .start_us = T0};
    char errstr[256];
    kc_sla_t *sla = kc_sla_new(&o, errstr, sizeof(errstr));
    ck_assert_msg(sla != NULL, "kc_sla_new: %s", errstr);
    return sla;
}

static void add(kc_sla_t *sla, int64_t at_us, int64_t total_us, kc_status_t st, kc_source_t src,
                const char *cat, int64_t now_us)
{
    kc_sla_sample_t s = {.at_us = at_us,
                         .total_us = total_us,
                         .queue_us = total_us / 10,
                         .cache_us = 50,
                         .llm_us = total_us / 2,
                         .status = st,
                         .source = src,
                         .coalesced = src == KC_SRC_L1,
                         .category = cat};
    ck_assert_int_eq(kc_sla_add(sla, &s, now_us), 0);
}

static kc_sla_figures_t figures(kc_sla_t *sla, int window_s, int64_t now_us)
{
    kc_sla_figures_t f;
    char errstr[256];
    ck_assert_msg(kc_sla_figures(sla, window_s, now_us, &f, errstr, sizeof(errstr)) == 0,
                  "figures: %s", errstr);
    return f;
}

/* ------------------------------------------------------------------------
 * Windows
 * ------------------------------------------------------------------------ */

START_TEST(test_window_selects_seconds)
{
    kc_sla_t *sla = new_sla(300);
    int64_t now = T0 + 100 * SEC + 500000;
    kc_sla_figures_t f;

    /* One reply per second for 100 s, latency = 10 ms * second index. */
    for (int s = 1; s <= 100; s++) {
        add(sla, T0 + s * SEC + 1000, MS(10 * s), KC_STATUS_OK, KC_SRC_LLM, "GENERAL", now);
    }
    f = figures(sla, 10, now);
    ck_assert_msg(f.count == 10, "10 s window holds %" PRIu64 " replies, expected 10", f.count);
    ck_assert_int_eq(kc_hist_lowest_equiv(f.total.min), kc_hist_lowest_equiv(MS(910)));
    ck_assert_int_eq(f.total.max, MS(1000));
    f = figures(sla, 60, now);
    ck_assert_uint_eq(f.count, 60);
    ck_assert_int_eq(f.total.min, MS(410));
    /* replies with total <= 1500 ms: all 60 (410..1000 ms) */
    ck_assert_double_eq(f.target_compliance, 1.0);
    f = figures(sla, KC_SLA_WINDOW_TOTAL, now);
    ck_assert_uint_eq(f.count, 100);
    ck_assert_int_eq(f.total.min, MS(10));
    kc_sla_destroy(sla);
}
END_TEST

START_TEST(test_window_merge_matches_union)
{
    kc_sla_t *sla = new_sla(60);
    kc_hist_t *ref = kc_hist_new();
    int64_t now = T0 + 59 * SEC;
    uint64_t x = 88172645463325252ULL;
    kc_sla_figures_t f;

    for (int i = 0; i < 30000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t at = T0 + (int64_t)(x % 60) * SEC + (int64_t)(x >> 40) % SEC;
        int64_t v = 1000 + (int64_t)((x >> 20) % 3000000);
        add(sla, at, v, KC_STATUS_OK, KC_SRC_LLM, "GENERAL", now);
        kc_hist_record(ref, v);
    }
    f = figures(sla, 60, now);
    ck_assert_uint_eq(f.count, 30000);
    ck_assert_int_eq(f.total.p50, kc_hist_percentile(ref, 50));
    ck_assert_int_eq(f.total.p95, kc_hist_percentile(ref, 95));
    ck_assert_int_eq(f.total.p99, kc_hist_percentile(ref, 99));
    ck_assert_int_eq(f.total.p999, kc_hist_percentile(ref, 99.9));
    ck_assert_int_eq(f.total.max, kc_hist_max(ref));
    ck_assert_msg(fabs(f.target_compliance - (double)kc_hist_count_le(ref, MS(1500)) / 30000) <
                      0.002,
                  "target compliance %f far from the histogram's", f.target_compliance);
    kc_hist_destroy(ref);
    kc_sla_destroy(sla);
}
END_TEST

START_TEST(test_ring_reuse_and_edges)
{
    kc_sla_t *sla = new_sla(10);
    int64_t now = T0 + 5 * SEC;
    kc_sla_figures_t f;
    char errstr[128];

    add(sla, T0 + 5 * SEC, MS(100), KC_STATUS_OK, KC_SRC_LLM, "A", now);
    add(sla, T0 + 9 * SEC, MS(100), KC_STATUS_OK, KC_SRC_LLM, "A", now);  /* future: binned now */
    add(sla, T0 - 20 * SEC, MS(100), KC_STATUS_OK, KC_SRC_LLM, "A", now); /* older than the ring */
    add(sla, 0, MS(100), KC_STATUS_OK, KC_SRC_LLM, "A", now);             /* no timestamp */
    ck_assert_uint_eq(figures(sla, 10, now).count, 2);
    ck_assert_uint_eq(figures(sla, 1, now).count, 2);
    ck_assert_uint_eq(figures(sla, KC_SLA_WINDOW_TOTAL, now).count, 4);

    /* 10 s later the slots are reused: the old second must not leak in. */
    now += 10 * SEC;
    add(sla, now, MS(300), KC_STATUS_OK, KC_SRC_LLM, "A", now);
    f = figures(sla, 10, now);
    ck_assert_msg(f.count == 1, "reused slot kept %" PRIu64 " replies", f.count);
    ck_assert_int_eq(f.total.max, MS(300));
    /* A late reply for a second the slot no longer holds is ignored by windows. */
    add(sla, now - 10 * SEC, MS(100), KC_STATUS_OK, KC_SRC_LLM, "A", now);
    ck_assert_uint_eq(figures(sla, 10, now).count, 1);
    ck_assert_uint_eq(kc_sla_total_count(sla), 6);
    ck_assert_int_eq(kc_sla_figures(sla, 11, now, &f, errstr, sizeof(errstr)), KC_ERR_INVALID);
    kc_sla_destroy(sla);
}
END_TEST

START_TEST(test_breakdowns_and_rates)
{
    kc_sla_t *sla = new_sla(300);
    int64_t now = T0 + 30 * SEC;
    kc_sla_figures_t f;
    int cat_a = 0, cat_b = 0;

    for (int i = 0; i < 100; i++) {
        kc_status_t st = i < 90 ? KC_STATUS_OK : i < 97 ? KC_STATUS_DEGRADED : KC_STATUS_ERROR;
        kc_source_t src = i < 40 ? KC_SRC_L1 : i < 50 ? KC_SRC_REDIS : KC_SRC_LLM;
        int64_t total = i < 80 ? MS(100) : i < 95 ? MS(1800) : MS(2500);
        add(sla, now - SEC, total, st, src, i % 2 ? "A" : "B", now);
    }
    f = figures(sla, 60, now);
    ck_assert_uint_eq(f.count, 100);
    ck_assert_double_eq_tol(f.target_compliance, 0.80, 1e-9);
    ck_assert_double_eq_tol(f.deadline_compliance, 0.95, 1e-9);
    ck_assert_double_eq_tol(f.success_rate, 0.90, 1e-9);
    ck_assert_double_eq_tol(f.degraded_rate, 0.07, 1e-9);
    ck_assert_double_eq_tol(f.error_rate, 0.03, 1e-9);
    ck_assert_double_eq_tol(f.source_rate[KC_SRC_L1], 0.40, 1e-9);
    ck_assert_double_eq_tol(f.source_rate[KC_SRC_REDIS], 0.10, 1e-9);
    ck_assert_uint_eq(f.by_source[KC_SRC_LLM], 50);
    ck_assert_uint_eq(f.coalesced, 40);
    ck_assert_uint_eq(f.category_cnt, 2);
    for (size_t i = 0; i < f.category_cnt; i++) {
        if (strcmp(f.categories[i].name, "A") == 0) {
            cat_a = (int)f.categories[i].count;
        } else if (strcmp(f.categories[i].name, "B") == 0) {
            cat_b = (int)f.categories[i].count;
        }
    }
    ck_assert_msg(cat_a == 50 && cat_b == 50, "categories A=%d B=%d", cat_a, cat_b);
    /* 30 s since start: a 60 s window's throughput is over the 30 s seen */
    ck_assert_double_eq_tol(f.span_s, 30, 1e-9);
    ck_assert_double_eq_tol(f.throughput, 100.0 / 30, 1e-9);
    ck_assert_int_eq(kc_hist_lowest_equiv(f.queue.p50), kc_hist_lowest_equiv(MS(10)));
    kc_sla_destroy(sla);
}
END_TEST

START_TEST(test_many_categories)
{
    kc_sla_t *sla = new_sla(60);
    char name[32];
    kc_sla_figures_t f;
    uint64_t other = 0;

    for (int i = 0; i < KC_SLA_MAX_CATEGORIES + 5; i++) {
        snprintf(name, sizeof(name), "C%d", i);
        add(sla, T0, MS(1), KC_STATUS_OK, KC_SRC_LLM, name, T0);
    }
    f = figures(sla, KC_SLA_WINDOW_TOTAL, T0);
    for (size_t i = 0; i < f.category_cnt; i++) {
        other += strcmp(f.categories[i].name, "other") == 0 ? f.categories[i].count : 0;
    }
    ck_assert_msg(other == 5, "categories past the table count as other (got %" PRIu64 ")", other);
    kc_sla_destroy(sla);
}
END_TEST

/* ------------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------------ */

/* Figures that breach (or clear) exactly one rule. */
static void rule_figures(kc_sla_rule_id_t id, int breach, kc_sla_figures_t *f, kc_sla_eval_in_t *in)
{
    memset(f, 0, sizeof(*f));
    f->window_s = 60;
    f->count = 500;
    f->total.p50 = MS(100);
    f->total.p95 = MS(400);
    f->total.p99 = MS(900);
    f->total.max = MS(1200);
    f->target_compliance = 1.0;
    f->success_rate = 1.0;
    switch (id) {
    case KC_SLA_RULE_P95:
        f->total.p95 = breach ? MS(1600) : MS(1400);
        break;
    case KC_SLA_RULE_P99:
        f->total.p99 = breach ? MS(2100) : MS(1900);
        break;
    case KC_SLA_RULE_COMPLIANCE:
        f->target_compliance = breach ? 0.94 : 0.96;
        break;
    case KC_SLA_RULE_SUCCESS:
        f->success_rate = breach ? 0.985 : 0.995;
        break;
    case KC_SLA_RULE_DEGRADED:
        f->degraded_rate = breach ? 0.06 : 0.04;
        break;
    default:
        break;
    }
    in->fig = f;
    in->silent_for_us = id == KC_SLA_RULE_SILENCE && breach ? 45 * SEC : SEC;
    in->lag = 10;
}

static void rules_init(kc_sla_rules_t *r, int fire, int resolve)
{
    kc_sla_rules_conf_t rc;
    char errstr[256];

    kc_sla_rules_conf_defaults(&rc, 1500, 2000, 30);
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        rc.rule[i].fire_after = fire;
        rc.rule[i].resolve_after = resolve;
    }
    ck_assert_msg(kc_sla_rules_init(r, &rc, errstr, sizeof(errstr)) == 0, "%s", errstr);
}

/* Runs the pattern (1 = breach) and returns the events as "F3 R9" (state, step). */
static void run_pattern(kc_sla_rules_t *r, kc_sla_rule_id_t id, const char *pattern, char *trace,
                        size_t size, kc_alert_t *first, kc_alert_t *last)
{
    kc_sla_figures_t f;
    kc_sla_eval_in_t in;
    kc_alert_t ev[KC_SLA_RULE__CNT];
    size_t n, len = 0;
    int got = 0;

    trace[0] = '\0';
    for (int step = 0; pattern[step]; step++) {
        rule_figures(id, pattern[step] == '1', &f, &in);
        in.now_us = T0 + step * 5 * SEC;
        n = kc_sla_rules_eval(r, &in, ev);
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(strcmp(ev[i].rule, kc_sla_rule_name(id)) == 0,
                          "rule %s changed state while only %s was breached", ev[i].rule,
                          kc_sla_rule_name(id));
            len += (size_t)snprintf(trace + len, size - len, "%s%c%d", len ? " " : "",
                                    ev[i].state == KC_ALERT_FIRING ? 'F' : 'R', step);
            if (got++ == 0 && first) {
                *first = ev[i];
            }
            if (last) {
                *last = ev[i];
            }
        }
    }
}

START_TEST(test_rule_hysteresis)
{
    /* fire after 3 consecutive breaches, resolve after 2 consecutive clears */
    static const char pattern[] = "0110111110101100";
    /*                             0123456789012345 */
    static const char expect[] = "F6 R15"; /* clear streaks at 9 and 11 are broken by breaches */
    kc_sla_rule_id_t id = (kc_sla_rule_id_t)_i;
    kc_sla_rules_t r;
    kc_alert_t fire = {0}, resolve = {0};
    char trace[128];

    rules_init(&r, 3, 2);
    run_pattern(&r, id, pattern, trace, sizeof(trace), &fire, &resolve);
    ck_assert_msg(strcmp(trace, expect) == 0, "rule %s: events '%s', expected '%s'",
                  kc_sla_rule_name(id), trace, expect);
    ck_assert_msg(strcmp(fire.alert_id, resolve.alert_id) == 0,
                  "FIRING id %s and RESOLVED id %s differ", fire.alert_id, resolve.alert_id);
    ck_assert_int_eq(fire.state, KC_ALERT_FIRING);
    ck_assert_int_eq(resolve.state, KC_ALERT_RESOLVED);
    ck_assert_int_eq(fire.at, T0 + 6 * 5 * SEC);
    ck_assert_int_eq(resolve.started_at, fire.at);
    ck_assert_int_eq(resolve.at, T0 + 15 * 5 * SEC);
    ck_assert_msg(fire.summary[0] && resolve.summary[0], "summaries must be set");
    ck_assert_str_eq(fire.alertname, kc_sla_rule_alertname(id));
    ck_assert_int_eq(r.st[id].fired, 1);
    ck_assert_int_eq(r.st[id].resolved, 1);
    ck_assert(!kc_sla_rules_firing(&r, id));
}
END_TEST

START_TEST(test_rule_observed_values)
{
    static const double observed[KC_SLA_RULE__CNT] = {1600, 2100, 94, 98.5, 6, 45};
    static const double threshold[KC_SLA_RULE__CNT] = {1500, 2000, 95, 99, 5, 30};
    kc_sla_rule_id_t id = (kc_sla_rule_id_t)_i;
    kc_sla_rules_t r;
    kc_alert_t fire = {0};
    char trace[64];

    rules_init(&r, 1, 1);
    run_pattern(&r, id, "1", trace, sizeof(trace), &fire, NULL);
    ck_assert_msg(strcmp(trace, "F0") == 0, "rule %s: '%s'", kc_sla_rule_name(id), trace);
    ck_assert_msg(fabs(fire.observed - observed[id]) < 1e-9, "rule %s observed %f, expected %f",
                  kc_sla_rule_name(id), fire.observed, observed[id]);
    ck_assert_double_eq(fire.threshold, threshold[id]);
    ck_assert_int_eq(fire.count, id == KC_SLA_RULE_SILENCE ? 500 : 500);
    ck_assert_int_eq(fire.window_s, 60);
}
END_TEST

START_TEST(test_no_duplicates_while_firing)
{
    kc_sla_rules_t r;
    char trace[128];

    rules_init(&r, 2, 2);
    run_pattern(&r, KC_SLA_RULE_P95, "111111111111", trace, sizeof(trace), NULL, NULL);
    ck_assert_msg(strcmp(trace, "F1") == 0, "a steady breach produced '%s'", trace);
    ck_assert(kc_sla_rules_firing(&r, KC_SLA_RULE_P95));
    ck_assert_int_eq(kc_sla_rules_firing_count(&r), 1);
    run_pattern(&r, KC_SLA_RULE_P95, "0000000", trace, sizeof(trace), NULL, NULL);
    ck_assert_msg(strcmp(trace, "R1") == 0, "a steady clear produced '%s'", trace);
    /* a second incident gets a new id */
    run_pattern(&r, KC_SLA_RULE_P95, "11", trace, sizeof(trace), NULL, NULL);
    ck_assert_int_eq(r.st[KC_SLA_RULE_P95].fired, 2);
}
END_TEST

START_TEST(test_min_count_and_silence_lag)
{
    kc_sla_rules_t r;
    kc_sla_figures_t f;
    kc_sla_eval_in_t in;
    kc_alert_t ev[KC_SLA_RULE__CNT];

    rules_init(&r, 1, 1);
    /* too few replies: nothing to judge, even at a terrible p95 */
    rule_figures(KC_SLA_RULE_P95, 1, &f, &in);
    f.count = 19;
    in.now_us = T0;
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 0);
    f.count = 20;
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 1);

    /* silence: only with lag > 0 */
    rules_init(&r, 1, 1);
    rule_figures(KC_SLA_RULE_SILENCE, 1, &f, &in);
    in.lag = 0;
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 0);
    in.lag = -1;
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 0);
    in.lag = 3;
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 1);
    ck_assert_str_eq(ev[0].rule, "silence");
    ck_assert_str_eq(ev[0].severity, "critical");
    in.lag = 0; /* the backlog is gone: resolved */
    ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 1);
    ck_assert_int_eq(ev[0].state, KC_ALERT_RESOLVED);
}
END_TEST

START_TEST(test_disabled_rule_and_bad_counts)
{
    kc_sla_rules_conf_t rc;
    kc_sla_rules_t r;
    kc_sla_figures_t f;
    kc_sla_eval_in_t in;
    kc_alert_t ev[KC_SLA_RULE__CNT];
    char errstr[256];

    kc_sla_rules_conf_defaults(&rc, 1500, 2000, 30);
    rc.rule[KC_SLA_RULE_P95].enabled = false;
    rc.rule[KC_SLA_RULE_P95].fire_after = 1;
    ck_assert_int_eq(kc_sla_rules_init(&r, &rc, errstr, sizeof(errstr)), 0);
    rule_figures(KC_SLA_RULE_P95, 1, &f, &in);
    in.now_us = T0;
    for (int i = 0; i < 5; i++) {
        ck_assert_uint_eq(kc_sla_rules_eval(&r, &in, ev), 0);
    }
    rc.rule[KC_SLA_RULE_P99].resolve_after = 0;
    ck_assert_int_eq(kc_sla_rules_init(&r, &rc, errstr, sizeof(errstr)), KC_ERR_CONFIG);
    ck_assert_msg(strstr(errstr, "p99_latency") != NULL, "errstr: %s", errstr);
}
END_TEST

/* ------------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------------ */

START_TEST(test_conf_rules)
{
    static const char text[] = "sla.target.ms = 800\n"
                               "sla.deadline.ms = 1200\n"
                               "alert.fire.count = 3\n"
                               "alert.success_rate.threshold = 99.5\n"
                               "alert.p95_latency.resolve = 4\n"
                               "alert.disable = degraded_rate, silence\n"
                               "kafka.fetch.wait.max.ms = 10\n";
    kc_sla_conf_t conf;
    kc_sla_rules_conf_t rc;
    char errstr[256];

    ck_assert_int_eq(kc_sla_conf_init(&conf, errstr, sizeof(errstr)), 0);
    ck_assert_msg(kc_conf_parse_buf(kc_sla_conf_props, &conf, &conf.kafka, "sla.conf", text,
                                    strlen(text), errstr, sizeof(errstr)) == 0,
                  "parse: %s", errstr);
    ck_assert_msg(kc_sla_conf_rules(&conf, &rc, errstr, sizeof(errstr)) == 0, "rules: %s", errstr);
    ck_assert_double_eq(rc.rule[KC_SLA_RULE_P95].threshold, 800);
    ck_assert_double_eq(rc.rule[KC_SLA_RULE_P99].threshold, 1200);
    ck_assert_double_eq(rc.rule[KC_SLA_RULE_SUCCESS].threshold, 99.5);
    ck_assert_double_eq(rc.rule[KC_SLA_RULE_COMPLIANCE].threshold, 95);
    ck_assert_int_eq(rc.rule[KC_SLA_RULE_P95].fire_after, 3);
    ck_assert_int_eq(rc.rule[KC_SLA_RULE_P95].resolve_after, 4);
    ck_assert_int_eq(rc.rule[KC_SLA_RULE_P99].resolve_after, 2);
    ck_assert(!rc.rule[KC_SLA_RULE_DEGRADED].enabled);
    ck_assert(!rc.rule[KC_SLA_RULE_SILENCE].enabled);
    ck_assert(rc.rule[KC_SLA_RULE_P99].enabled);
    ck_assert_str_eq(kc_conf_kv_get(&conf.kafka, "fetch.wait.max.ms"), "10");
    ck_assert_str_eq(conf.topic_alerts, "kclassify.alerts");
    ck_assert_int_eq(conf.schema_id_alert, 3);
    kc_sla_conf_free(&conf);
}
END_TEST

START_TEST(test_conf_errors)
{
    static const char *const bad[][2] = {
        {"alert.success_rate.threshold", "lots"},
        {"alert.degraded_rate.threshold", "150"},
        {"alert.disable", "p95_latency,nope"},
        {"sla.target.ms", "2500"}, /* above the default deadline */
    };
    kc_sla_conf_t conf;
    kc_sla_rules_conf_t rc;
    char errstr[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(kc_sla_conf_init(&conf, errstr, sizeof(errstr)), 0);
        ck_assert_int_eq(kc_conf_set(kc_sla_conf_props, &conf, &conf.kafka, bad[i][0], bad[i][1],
                                     errstr, sizeof(errstr)),
                         0);
        ck_assert_msg(kc_sla_conf_rules(&conf, &rc, errstr, sizeof(errstr)) == KC_ERR_CONFIG,
                      "%s=%s was accepted", bad[i][0], bad[i][1]);
        kc_sla_conf_free(&conf);
    }
    ck_assert_int_eq(kc_sla_conf_init(&conf, errstr, sizeof(errstr)), 0);
    ck_assert_int_eq(kc_conf_set(kc_sla_conf_props, &conf, &conf.kafka, "sla.window.s", "0", errstr,
                                 sizeof(errstr)),
                     KC_ERR_CONFIG);
    ck_assert_int_eq(
        kc_conf_set(kc_sla_conf_props, &conf, &conf.kafka, "sla.nope", "1", errstr, sizeof(errstr)),
        KC_ERR_CONFIG);
    kc_sla_conf_free(&conf);
}
END_TEST

/* ------------------------------------------------------------------------
 * Verdict and reports
 * ------------------------------------------------------------------------ */

START_TEST(test_verdict)
{
    kc_sla_rules_conf_t rc;
    kc_sla_figures_t f;
    kc_sla_eval_in_t in;
    kc_sla_verdict_t v;

    kc_sla_rules_conf_defaults(&rc, 1500, 2000, 30);
    rule_figures(KC_SLA_RULE_P95, 0, &f, &in);
    kc_sla_verdict(&rc, &f, &v);
    ck_assert_msg(v.compliant, "good figures judged not compliant: %s", v.reasons);
    rule_figures(KC_SLA_RULE_P95, 1, &f, &in);
    f.success_rate = 0.5;
    kc_sla_verdict(&rc, &f, &v);
    ck_assert(!v.compliant);
    ck_assert_msg(strstr(v.reasons, "p95") && strstr(v.reasons, "success"), "reasons: %s",
                  v.reasons);
    f.count = 0;
    kc_sla_verdict(&rc, &f, &v);
    ck_assert(!v.compliant);
    ck_assert_str_eq(v.reasons, "no replies");
}
END_TEST

START_TEST(test_reports_render)
{
    kc_sla_t *sla = new_sla(300);
    kc_sla_rules_t r;
    kc_sla_figures_t figs[2];
    kc_sla_status_t st = {.lag = 7, .kafka_up = true, .target_ms = 1500, .deadline_ms = 2000};
    kc_sla_verdict_t v = {.compliant = false, .reasons = "p95 1800.0 ms > 1500.0 ms"};
    kc_buf_t out;
    int status = 0;

    rules_init(&r, 1, 1);
    r.st[KC_SLA_RULE_P95].firing = true;
    for (int i = 0; i < 50; i++) {
        add(sla, T0 + 10 * SEC, MS(1800), KC_STATUS_OK, KC_SRC_LLM, "GENERAL", T0 + 10 * SEC);
    }
    figs[0] = figures(sla, 60, T0 + 10 * SEC);
    figs[1] = figures(sla, KC_SLA_WINDOW_TOTAL, T0 + 10 * SEC);
    kc_buf_init(&out);
    ck_assert_int_eq(kc_sla_report_text(figs, 2, &r, &st, &v, T0 + 10 * SEC, &out), 0);
    ck_assert_msg(strstr(out.data, "firing: p95_latency") && strstr(out.data, "60s") &&
                      strstr(out.data, "total") && strstr(out.data, "VERDICT NOT COMPLIANT") &&
                      strstr(out.data, "GENERAL 50"),
                  "text report:\n%s", out.data);
    kc_buf_reset(&out);
    ck_assert_int_eq(kc_sla_report_json(figs, 2, &r, &st, NULL, T0, &out), 0);
    ck_assert_msg(out.data[out.len - 1] == '\n' && strchr(out.data, '\n') == out.data + out.len - 1,
                  "JSON report must be one line");
    ck_assert_msg(strstr(out.data, "\"firing\":[\"p95_latency\"]") &&
                      strstr(out.data, "\"window_s\":60") && strstr(out.data, "\"lag\":7"),
                  "JSON report: %s", out.data);
    kc_buf_reset(&out);
    ck_assert_int_eq(kc_sla_health_json(&out, &figs[0], &r, &st, &status), 0);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(strstr(out.data, "\"status\":\"degraded\""), "health: %s", out.data);
    st.kafka_up = false;
    kc_buf_reset(&out);
    ck_assert_int_eq(kc_sla_health_json(&out, &figs[0], &r, &st, &status), 0);
    ck_assert_int_eq(status, 503);
    ck_assert_msg(strstr(out.data, "\"status\":\"down\""), "health: %s", out.data);
    kc_buf_reset(&out);
    ck_assert_int_eq(
        kc_sla_metrics_render(&out, figs, 1, &figs[1], kc_sla_total_hist(sla), &r, &st), 0);
    ck_assert_msg(
        strstr(out.data, "kclassify_sla_alert_firing{rule=\"p95_latency\"} 1\n") &&
            strstr(out.data, "kclassify_sla_reply_duration_seconds_count 50\n") &&
            strstr(out.data, "kclassify_sla_reply_duration_seconds_bucket{le=\"1.5\"} 0\n") &&
            strstr(out.data, "kclassify_sla_reply_duration_seconds_bucket{le=\"2\"} 50\n") &&
            strstr(out.data, "kclassify_sla_workers_lag_messages 7\n"),
        "metrics:\n%s", out.data);
    kc_buf_free(&out);
    kc_sla_destroy(sla);
}
END_TEST

static Suite *sla_suite(void)
{
    Suite *s = suite_create("sla");
    TCase *tc;

    tc = tcase_create("windows");
    tcase_add_test(tc, test_window_selects_seconds);
    tcase_add_test(tc, test_window_merge_matches_union);
    tcase_add_test(tc, test_ring_reuse_and_edges);
    tcase_add_test(tc, test_breakdowns_and_rates);
    tcase_add_test(tc, test_many_categories);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_add_loop_test(tc, test_rule_hysteresis, 0, KC_SLA_RULE__CNT);
    tcase_add_loop_test(tc, test_rule_observed_values, 0, KC_SLA_RULE__CNT);
    tcase_add_test(tc, test_no_duplicates_while_firing);
    tcase_add_test(tc, test_min_count_and_silence_lag);
    tcase_add_test(tc, test_disabled_rule_and_bad_counts);
    suite_add_tcase(s, tc);

    tc = tcase_create("conf");
    tcase_add_test(tc, test_conf_rules);
    tcase_add_test(tc, test_conf_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("report");
    tcase_add_test(tc, test_verdict);
    tcase_add_test(tc, test_reports_render);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return kc_check_run(sla_suite());
}
