#include "kc_sla_conf.h"
#include "kc_err.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(kc_sla_conf_t, f)

/* Per-rule keys, one block per rule in kc_sla_rule_id_t order. */
#define RULE_PROPS(name, idx, what)                                                                \
    {"alert." name ".threshold",                                                                   \
     KC_CONF_STR,                                                                                  \
     "",                                                                                           \
     0,                                                                                            \
     0,                                                                                            \
     OFF(rule[idx].threshold),                                                                     \
     "Threshold of the " name " rule: " what},                                                     \
        {"alert." name ".fire",                                                                    \
         KC_CONF_INT,                                                                              \
         "0",                                                                                      \
         0,                                                                                        \
         1000,                                                                                     \
         OFF(rule[idx].fire),                                                                      \
         "Consecutive breaching evaluations before " name " fires; 0 = alert.fire.count"},         \
    {                                                                                              \
        "alert." name ".resolve", KC_CONF_INT, "0", 0, 1000, OFF(rule[idx].resolve),               \
            "Consecutive clear evaluations before " name " resolves; 0 = alert.resolve.count"      \
    }

const kc_conf_prop_t kc_sla_conf_props[] = {
    {"topic.replies", KC_CONF_STR, "kclassify.replies", 0, 0, OFF(topic_replies),
     "Topic of ClassificationResult records to monitor"},
    {"topic.alerts", KC_CONF_STR, "kclassify.alerts", 0, 0, OFF(topic_alerts),
     "Topic SlaAlert records are published to; empty = do not publish"},
    {"topic.requests", KC_CONF_STR, "kclassify.requests", 0, 0, OFF(topic_requests),
     "Request topic whose lag (for lag.group) the silence rule checks"},
    {"lag.group", KC_CONF_STR, "kclassify-workers", 0, 0, OFF(lag_group),
     "Consumer group of the workers, for the lag behind topic.requests"},
    {"schema.id.result", KC_CONF_INT, "2", 0, 2147483647, OFF(schema_id_result),
     "Schema-registry id expected on ClassificationResult values"},
    {"schema.id.alert", KC_CONF_INT, "3", 0, 2147483647, OFF(schema_id_alert),
     "Schema-registry id framing SlaAlert values"},
    {"sla.window.s", KC_CONF_INT, "60", 1, 3600, OFF(window_s),
     "Alerting window (s); reports also show 10 s, 300 s and since start"},
    {"sla.target.ms", KC_CONF_INT, "1500", 1, 3600000, OFF(target_ms),
     "Latency target: a reply with total <= target is on target"},
    {"sla.deadline.ms", KC_CONF_INT, "2000", 1, 3600000, OFF(deadline_ms), "Hard latency limit"},
    {"sla.eval.s", KC_CONF_INT, "5", 1, 3600, OFF(eval_s), "Alert rules are evaluated this often"},
    {"sla.report.s", KC_CONF_INT, "10", 0, 86400, OFF(report_s),
     "A summary is printed this often; 0 = only the final one"},
    {"sla.silence.s", KC_CONF_INT, "60", 1, 86400, OFF(silence_s),
     "No replies for this long while the workers have lag fires the silence rule"},
    {"sla.min.count", KC_CONF_INT, "20", 1, 1000000000, OFF(min_count),
     "Replies a window needs before the window rules judge it"},
    {"sla.webhook.url", KC_CONF_STR, "", 0, 0, OFF(webhook_url),
     "Alertmanager v2 alerts URL (e.g. http://127.0.0.1:9093/api/v2/alerts); empty = off"},
    {"sla.webhook.timeout.ms", KC_CONF_INT, "5000", 100, 600000, OFF(webhook_timeout_ms),
     "Timeout of one webhook POST"},
    {"sla.webhook.attempts", KC_CONF_INT, "5", 1, 100, OFF(webhook_attempts),
     "Tries per webhook POST (exponential backoff between them)"},
    {"sla.webhook.resend.s", KC_CONF_INT, "60", 1, 86400, OFF(webhook_resend_s),
     "Firing alerts are re-sent this often (Alertmanager expires alerts not re-sent)"},
    {"sla.instance", KC_CONF_STR, "", 0, 0, OFF(instance),
     "instance label on webhook alerts; empty = <hostname>"},
    {"alert.fire.count", KC_CONF_INT, "2", 1, 1000, OFF(fire_count),
     "Consecutive breaching evaluations before a rule fires"},
    {"alert.resolve.count", KC_CONF_INT, "2", 1, 1000, OFF(resolve_count),
     "Consecutive clear evaluations before a firing rule resolves"},
    {"alert.disable", KC_CONF_STR, "", 0, 0, OFF(disable),
     "Comma-separated rules to switch off (p95_latency, p99_latency, target_compliance, "
     "success_rate, degraded_rate, silence)"},
    RULE_PROPS("p95_latency", KC_SLA_RULE_P95, "p95 above this many ms fires [sla.target.ms]"),
    RULE_PROPS("p99_latency", KC_SLA_RULE_P99, "p99 above this many ms fires [sla.deadline.ms]"),
    RULE_PROPS("target_compliance", KC_SLA_RULE_COMPLIANCE,
               "share on target below this percent fires [95]"),
    RULE_PROPS("success_rate", KC_SLA_RULE_SUCCESS, "share of OK below this percent fires [99]"),
    RULE_PROPS("degraded_rate", KC_SLA_RULE_DEGRADED,
               "share of DEGRADED above this percent fires [5]"),
    RULE_PROPS("silence", KC_SLA_RULE_SILENCE,
               "seconds without replies while the workers lag [sla.silence.s]"),
    {"metrics.port", KC_CONF_INT, "0", 0, 65535, OFF(metrics_port),
     "Port of GET /metrics and GET /health; 0 = off"},
    {"metrics.bind", KC_CONF_STR, "127.0.0.1", 0, 0, OFF(metrics_bind),
     "Address the metrics endpoint listens on"},
    {"log.level", KC_CONF_STR, "info", 0, 0, OFF(log_level), "error, warn, info or debug"},
    {"log.format", KC_CONF_STR, "text", 0, 0, OFF(log_format),
     "text (`% <time> <LEVEL> <msg>`) or json (one object per line)"},
    {NULL, 0, NULL, 0, 0, 0, NULL}};

int kc_sla_conf_init(kc_sla_conf_t *conf, char *errstr, size_t errstr_size)
{
    memset(conf, 0, sizeof(*conf));
    return kc_conf_defaults(kc_sla_conf_props, conf, errstr, errstr_size);
}

void kc_sla_conf_free(kc_sla_conf_t *conf)
{
    if (!conf) {
        return;
    }
    kc_conf_free(kc_sla_conf_props, conf);
    kc_conf_kv_free(&conf->kafka);
}

/* ------------------------------------------------------------------------
 * Derived rule settings
 * ------------------------------------------------------------------------ */

static int parse_threshold(const char *text, kc_sla_rule_id_t id, double *out, char *errstr,
                           size_t errstr_size)
{
    char *end;
    double v;

    if (!text || !*text) {
        return 0; /* keep the default */
    }
    errno = 0;
    v = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(v) || v < 0) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "alert.%s.threshold: '%s' is not a non-negative number",
                         kc_sla_rule_name(id), text);
    }
    if ((id == KC_SLA_RULE_COMPLIANCE || id == KC_SLA_RULE_SUCCESS || id == KC_SLA_RULE_DEGRADED) &&
        v > 100) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "alert.%s.threshold: %s is a percentage above 100", kc_sla_rule_name(id),
                         text);
    }
    *out = v;
    return 0;
}

static int apply_disable(const char *list, kc_sla_rules_conf_t *out, char *errstr,
                         size_t errstr_size)
{
    char name[64];
    kc_sla_rule_id_t id;

    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++, n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) {
            n--;
        }
        if (n > 0) {
            snprintf(name, sizeof(name), "%.*s", (int)n, p);
            if (kc_sla_rule_parse(name, &id) != 0) {
                return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                                 "alert.disable: unknown rule '%s'", name);
            }
            out->rule[id].enabled = false;
        }
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return 0;
}

int kc_sla_conf_rules(const kc_sla_conf_t *conf, kc_sla_rules_conf_t *out, char *errstr,
                      size_t errstr_size)
{
    int rc;

    if (conf->target_ms > conf->deadline_ms) {
        return kc_seterr(KC_ERR_CONFIG, errstr, errstr_size,
                         "sla.target.ms %lld is above sla.deadline.ms %lld",
                         (long long)conf->target_ms, (long long)conf->deadline_ms);
    }
    kc_sla_rules_conf_defaults(out, conf->target_ms, conf->deadline_ms, conf->silence_s);
    out->min_count = (uint64_t)conf->min_count;
    for (int i = 0; i < KC_SLA_RULE__CNT; i++) {
        const kc_sla_conf_rule_t *r = &conf->rule[i];
        if ((rc = parse_threshold(r->threshold, (kc_sla_rule_id_t)i, &out->rule[i].threshold,
                                  errstr, errstr_size)) != 0) {
            return rc;
        }
        out->rule[i].fire_after = (int)(r->fire ? r->fire : conf->fire_count);
        out->rule[i].resolve_after = (int)(r->resolve ? r->resolve : conf->resolve_count);
    }
    return apply_disable(conf->disable, out, errstr, errstr_size);
}
