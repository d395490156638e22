/*
 * Alert rules: observed value per rule, breach test, and the hysteresis
 * state machine that turns streaks of evaluations into FIRING / RESOLVED
 * events.
 */
#include "kc_sla_rules.h"
#include "kc_err.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef enum { CMP_GT, CMP_LT, CMP_GE } cmp_t;

static const struct {
    const char *name;
    const char *alertname;
    const char *severity;
    const char *what; /* used in summaries */
    const char *unit;
    cmp_t cmp;
} rules[KC_SLA_RULE__CNT] = {
    {"p95_latency", "KclassifySlaP95Latency", "warning", "p95 latency", "ms", CMP_GT},
    {"p99_latency", "KclassifySlaP99Latency", "critical", "p99 latency", "ms", CMP_GT},
    {"target_compliance", "KclassifySlaTargetCompliance", "warning", "target compliance", "%",
     CMP_LT},
    {"success_rate", "KclassifySlaSuccessRate", "warning", "success rate", "%", CMP_LT},
    {"degraded_rate", "KclassifySlaDegradedRate", "warning", "degraded rate", "%", CMP_GT},
    {"silence", "KclassifySlaSilence", "critical", "silence", "s", CMP_GE},
};

const char *kc_sla_rule_name(kc_sla_rule_id_t id)
{
    return (unsigned)id < KC_SLA_RULE__CNT ? rules[id].name : "?";
}

const char *kc_sla_rule_alertname(kc_sla_rule_id_t id)
{
    return (unsigned)id < KC_SLA_RULE__CNT ? rules[id].alertname : "?";
}

int kc_sla_rule_parse(const char *name, kc_sla_rule_id_t *out)
{
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        if (strcmp(name, rules[i].name) == 0) {
            *out = (kc_sla_rule_id_t)i;
            return 0;
        }
    }
    return KC_ERR_INVALID;
}

void kc_sla_rules_conf_defaults(kc_sla_rules_conf_t *conf, int64_t target_ms, int64_t deadline_ms,
                                int64_t silence_s)
{
    const double thr[KC_SLA_RULE__CNT] = {(double)target_ms, (double)deadline_ms, 95, 99, 5,
                                          (double)silence_s};

    memset(conf, 0, sizeof(*conf));
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        conf->rule[i] = (kc_sla_rule_conf_t){true, thr[i], 2, 2};
    }
    conf->min_count = 20;
}

int kc_sla_rules_init(kc_sla_rules_t *r, const kc_sla_rules_conf_t *conf, char *errstr,
                      size_t errstr_size)
{
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        if (conf->rule[i].fire_after < 1 || conf->rule[i].resolve_after < 1) {
            return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                             "rule %s: fire and resolve counts must be >= 1 (got %d and %d)",
                             rules[i].name, conf->rule[i].fire_after, conf->rule[i].resolve_after);
        }
    }
    memset(r, 0, sizeof(*r));
    r->conf = *conf;
    return 0;
}

/* ------------------------------------------------------------------------
 * Observation
 * ------------------------------------------------------------------------ */

/* The rule's figure, or NAN when there is nothing to judge. */
static double observe(const kc_sla_rules_t *r, kc_sla_rule_id_t id, const kc_sla_eval_in_t *in)
{
    const kc_sla_figures_t *f = in->fig;

    if (id == KC_SLA_RULE_SILENCE) {
        return (double)in->silent_for_us / 1e6;
    }
    if (!f || f->count == 0 || f->count < r->conf.min_count) {
        return NAN;
    }
    switch (id) {
    case KC_SLA_RULE_P95:
        return (double)f->total.p95 / 1000.0;
    case KC_SLA_RULE_P99:
        return (double)f->total.p99 / 1000.0;
    case KC_SLA_RULE_COMPLIANCE:
        return f->target_compliance * 100.0;
    case KC_SLA_RULE_SUCCESS:
        return f->success_rate * 100.0;
    case KC_SLA_RULE_DEGRADED:
        return f->degraded_rate * 100.0;
    default:
        return NAN;
    }
}

static bool breaches(kc_sla_rule_id_t id, double v, double thr, const kc_sla_eval_in_t *in)
{
    if (isnan(v)) {
        return false;
    }
    if (id == KC_SLA_RULE_SILENCE && in->lag <= 0) {
        return false; /* idle because nothing is asked, or lag unknown */
    }
    switch (rules[id].cmp) {
    case CMP_GT:
        return v > thr;
    case CMP_LT:
        return v < thr;
    default:
        return v >= thr;
    }
}

/* ------------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------------ */

static void summarize(kc_sla_rule_id_t id, const kc_alert_t *a, char *out, size_t size)
{
    const char *u = rules[id].unit, *what = rules[id].what;

    if (id == KC_SLA_RULE_SILENCE) {
        snprintf(out, size,
                 a->state == KC_ALERT_FIRING
                     ? "no replies for %.0f s while the workers have lag (threshold %.0f s)"
                     : "replies flowing again (silent %.0f s, threshold %.0f s)",
                 a->observed, a->threshold);
    } else if (isnan(a->observed)) {
        snprintf(out, size, "%s: no data in the last %d s (fewer replies than needed to judge)",
                 what, (int)a->window_s);
    } else {
        snprintf(out, size,
                 "%s %.1f %s %s the %.1f %s threshold over the last %d s (%" PRId64 " replies)",
                 what, a->observed, u,
                 a->state == KC_ALERT_RESOLVED ? "back within"
                 : rules[id].cmp == CMP_LT     ? "below"
                                               : "above",
                 a->threshold, u, (int)a->window_s, a->count);
    }
}

static void fill_alert(const kc_sla_rules_t *r, kc_sla_rule_id_t id, kc_alert_state_t state,
                       const kc_sla_figures_t *f, int64_t now_us, kc_alert_t *a)
{
    const kc_sla_rule_state_t *st = &r->st[id];

    memset(a, 0, sizeof(*a));
    snprintf(a->alert_id, sizeof(a->alert_id), "%s", st->alert_id);
    snprintf(a->rule, sizeof(a->rule), "%s", rules[id].name);
    snprintf(a->alertname, sizeof(a->alertname), "%s", rules[id].alertname);
    snprintf(a->severity, sizeof(a->severity), "%s", rules[id].severity);
    a->state = state;
    a->observed = st->last_observed;
    a->threshold = r->conf.rule[id].threshold;
    a->at = now_us;
    a->started_at = st->started_at;
    if (f) {
        a->window_s = f->window_s;
        a->p50_us = f->total.p50;
        a->p95_us = f->total.p95;
        a->p99_us = f->total.p99;
        a->max_us = f->total.max;
        a->count = (int64_t)f->count;
    }
    summarize(id, a, a->summary, sizeof(a->summary));
    if (isnan(a->observed)) {
        a->observed = 0; /* no data: Avro and JSON want a number */
    }
}

/* Advance one rule; @returns true on a state change. */
static bool step(kc_sla_rules_t *r, kc_sla_rule_id_t id, const kc_sla_eval_in_t *in)
{
    kc_sla_rule_state_t *st = &r->st[id];
    const kc_sla_rule_conf_t *c = &r->conf.rule[id];
    double v = observe(r, id, in);
    bool breach = breaches(id, v, c->threshold, in);

    st->last_observed = v;
    st->last_breach = breach;
    st->breach_streak = breach ? st->breach_streak + 1 : 0;
    st->clear_streak = breach ? 0 : st->clear_streak + 1;
    if (!st->firing && st->breach_streak >= c->fire_after) {
        st->firing = true;
        st->started_at = in->now_us;
        snprintf(st->alert_id, sizeof(st->alert_id), "%s-%" PRId64, rules[id].name, in->now_us);
        st->fired++;
        return true;
    }
    if (st->firing && st->clear_streak >= c->resolve_after) {
        st->firing = false;
        st->resolved++;
        return true;
    }
    return false;
}

size_t kc_sla_rules_eval(kc_sla_rules_t *r, const kc_sla_eval_in_t *in, kc_alert_t *events)
{
    size_t n = 0;

    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        if (!r->conf.rule[i].enabled || !step(r, (kc_sla_rule_id_t)i, in)) {
            continue;
        }
        fill_alert(r, (kc_sla_rule_id_t)i, r->st[i].firing ? KC_ALERT_FIRING : KC_ALERT_RESOLVED,
                   in->fig, in->now_us, &events[n++]);
    }
    return n;
}

bool kc_sla_rules_firing(const kc_sla_rules_t *r, kc_sla_rule_id_t id)
{
    return (unsigned)id < KC_SLA_RULE__CNT && r->st[id].firing;
}

int kc_sla_rules_firing_count(const kc_sla_rules_t *r)
{
    int n = 0;
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        n += r->st[i].firing;
    }
    return n;
}

int kc_sla_rules_current(const kc_sla_rules_t *r, kc_sla_rule_id_t id, const kc_sla_figures_t *fig,
                         int64_t now_us, kc_alert_t *out)
{
    if (!kc_sla_rules_firing(r, id)) {
        return KC_ERR_NOTFOUND;
    }
    fill_alert(r, id, KC_ALERT_FIRING, fig, now_us, out);
    return 0;
}
