/*
 * Prometheus Alertmanager v2 payload: POST /api/v2/alerts takes a JSON array
 * of {labels, annotations, startsAt, endsAt, generatorURL}. Alertmanager
 * identifies an alert by its label set, so labels hold only stable values
 * (rule, severity); the numbers go to annotations.
 */
#include "kc_alert.h"
#include "kc_err.h"

#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void kc_alert_rfc3339(int64_t us, char out[32])
{
    time_t sec = (time_t)(us / 1000000);
    int ms = (int)((us % 1000000) / 1000);
    struct tm tm;
    char base[24];

    if (us < 0) {
        sec = 0;
        ms = 0;
    }
    gmtime_r(&sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, ms);
}

static int set_str(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new(obj, key, json_string(value));
}

static int set_fmt(json_t *obj, const char *key, const char *fmt, double v)
{
    char s[64];
    snprintf(s, sizeof(s), fmt, v);
    return set_str(obj, key, s);
}

static json_t *labels_of(const kc_alert_t *a, const char *instance)
{
    json_t *l = json_object();

    if (!l || set_str(l, "alertname", a->alertname[0] ? a->alertname : a->rule) ||
        set_str(l, "rule", a->rule) ||
        set_str(l, "severity", a->severity[0] ? a->severity : "warning") ||
        set_str(l, "service", "kclassify") ||
        (instance && *instance && set_str(l, "instance", instance))) {
        json_decref(l);
        return NULL;
    }
    return l;
}

static json_t *annotations_of(const kc_alert_t *a)
{
    json_t *an = json_object();
    char desc[256];

    snprintf(desc, sizeof(desc),
             "%s: observed %.3f vs threshold %.3f over %ds (%lld replies; p50 %.1f ms, "
             "p95 %.1f ms, p99 %.1f ms, max %.1f ms)",
             a->rule, a->observed, a->threshold, (int)a->window_s, (long long)a->count,
             (double)a->p50_us / 1000.0, (double)a->p95_us / 1000.0, (double)a->p99_us / 1000.0,
             (double)a->max_us / 1000.0);
    if (!an || set_str(an, "summary", a->summary) || set_str(an, "description", desc) ||
        set_str(an, "alert_id", a->alert_id) || set_fmt(an, "observed", "%.3f", a->observed) ||
        set_fmt(an, "threshold", "%.3f", a->threshold) ||
        set_fmt(an, "window_s", "%.0f", a->window_s) ||
        set_fmt(an, "p50_ms", "%.3f", (double)a->p50_us / 1000.0) ||
        set_fmt(an, "p95_ms", "%.3f", (double)a->p95_us / 1000.0) ||
        set_fmt(an, "p99_ms", "%.3f", (double)a->p99_us / 1000.0) ||
        set_fmt(an, "max_ms", "%.3f", (double)a->max_us / 1000.0) ||
        set_fmt(an, "count", "%.0f", (double)a->count)) {
        json_decref(an);
        return NULL;
    }
    return an;
}

static json_t *alert_json(const kc_alert_t *a, const char *instance, int64_t firing_ends_at_us)
{
    json_t *o = json_object();
    json_t *labels = labels_of(a, instance), *annotations = annotations_of(a);
    char ts[32];
    int64_t ends = a->state == KC_ALERT_RESOLVED ? a->at : firing_ends_at_us;

    if (!o || !labels || !annotations || json_object_set_new(o, "labels", labels) ||
        json_object_set_new(o, "annotations", annotations)) {
        json_decref(o);
        return NULL;
    }
    kc_alert_rfc3339(a->started_at ? a->started_at : a->at, ts);
    if (set_str(o, "startsAt", ts)) {
        json_decref(o);
        return NULL;
    }
    if (ends > 0) {
        kc_alert_rfc3339(ends, ts);
        if (set_str(o, "endsAt", ts)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int kc_alert_am_json(const kc_alert_t *alerts, size_t n, const char *instance,
                     int64_t firing_ends_at_us, kc_buf_t *out, char *errstr, size_t errstr_size)
{
    json_t *arr, *o;
    char *text;
    int rc;

    if (n == 0) {
        return kc_seterr(KC_ERR_INVALID, errstr, errstr_size, "no alerts to send");
    }
    if (!(arr = json_array())) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        if (!(o = alert_json(&alerts[i], instance, firing_ends_at_us)) ||
            json_array_append_new(arr, o)) {
            json_decref(arr);
            return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
        }
    }
    text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!text) {
        return kc_seterr(KC_ERR_NOMEM, errstr, errstr_size, "out of memory");
    }
    rc = kc_buf_puts(out, text);
    free(text);
    return rc ? kc_seterr(rc, errstr, errstr_size, "out of memory") : 0;
}
