/**
 * @file kc_alert.h
 * @brief SLA alert events: the record, its Avro encoding (schemas/SlaAlert.avsc in
 * the Schema Registry framing), its one-line log form, and the Prometheus
 * Alertmanager v2 `POST /api/v2/alerts` payload. All pure.
 */
#ifndef KC_ALERT_H
#define KC_ALERT_H

#include "kc_buf.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { KC_ALERT_FIRING = 0, KC_ALERT_RESOLVED = 1 } kc_alert_state_t;

#define KC_ALERT_ID_SIZE      96
#define KC_ALERT_NAME_SIZE    48
#define KC_ALERT_SUMMARY_SIZE 320

/**
 * @brief One state change of one alert rule. Self-contained (no pointers), so
 * it can be copied freely.
 */
typedef struct kc_alert_s {
    char alert_id[KC_ALERT_ID_SIZE]; /**< same for the FIRING and RESOLVED of one incident */
    char rule[KC_ALERT_NAME_SIZE];   /**< rule name, e.g. "p95_latency" */
    char
        alertname[KC_ALERT_NAME_SIZE]; /**< Alertmanager alertname, e.g. "KclassifySlaP95Latency" */
    char severity[16];                 /**< "warning" or "critical" (not in the Avro record) */
    kc_alert_state_t state;
    int32_t window_s;
    double observed;    /**< in the rule's unit (ms, percent or seconds) */
    double threshold;   /**< same unit as observed */
    int64_t at;         /**< microseconds since epoch of this state change */
    int64_t started_at; /**< when the incident fired (== at for FIRING; not in the Avro record) */
    char summary[KC_ALERT_SUMMARY_SIZE];
    int64_t p50_us, p95_us, p99_us, max_us;
    int64_t count; /**< replies in the window */
} kc_alert_t;

/** @brief "FIRING" / "RESOLVED". */
const char *kc_alert_state_name(kc_alert_state_t s);

/* ------------------------------------------------------------------------
 * Avro
 * ------------------------------------------------------------------------ */

typedef struct kc_alert_codec_s kc_alert_codec_t;

/**
 * @brief A codec for the compiled-in SlaAlert schema, framing with schema_id.
 * @returns the codec, or NULL with errstr set. Not thread-safe: one per thread.
 */
kc_alert_codec_t *kc_alert_codec_new(int32_t schema_id, char *errstr, size_t errstr_size);

/** @brief Destroy a codec. NULL-safe. */
void kc_alert_codec_destroy(kc_alert_codec_t *ac);

/**
 * @brief Encode an alert (5-byte framing included), appended to out.
 * @returns 0, or KC_ERR_ENCODE / KC_ERR_NOMEM with errstr set.
 */
int kc_alert_encode(kc_alert_codec_t *ac, const kc_alert_t *a, kc_buf_t *out, char *errstr,
                    size_t errstr_size);

/**
 * @brief Decode a framed alert. Fields not in the record (severity, alertname,
 * started_at) are left empty / 0.
 * @returns 0, or KC_ERR_DECODE with errstr set (bad frame, bad body, a string
 *          longer than the struct's field).
 */
int kc_alert_decode(kc_alert_codec_t *ac, const void *data, size_t len, kc_alert_t *a, char *errstr,
                    size_t errstr_size);

/* ------------------------------------------------------------------------
 * Text forms
 * ------------------------------------------------------------------------ */

/**
 * @brief The one-line log form, appended to out (no trailing newline):
 * `ALERT FIRING p95_latency id=... observed=1873.000 threshold=1500.000 window=60s
 *  count=812 p50_us=... p95_us=... p99_us=... max_us=... summary="..."`
 * @returns 0 or KC_ERR_NOMEM.
 */
int kc_alert_format_line(const kc_alert_t *a, kc_buf_t *out);

/**
 * @brief The Alertmanager v2 payload (a JSON array of postable alerts) for n
 * alerts, appended to out.
 *
 * labels: alertname, rule, severity, service="kclassify", plus `instance` when
 * non-empty. annotations: summary, description, alert_id, observed, threshold,
 * window_s, p50/p95/p99/max in ms, count. startsAt = started_at; for a RESOLVED
 * alert endsAt = at; for a FIRING alert endsAt = firing_ends_at_us when > 0
 * (Alertmanager resolves it by itself after that unless it is sent again), else
 * no endsAt. Timestamps are RFC 3339 UTC with milliseconds.
 * @returns 0, KC_ERR_NOMEM, KC_ERR_INVALID (n == 0).
 */
int kc_alert_am_json(const kc_alert_t *alerts, size_t n, const char *instance,
                     int64_t firing_ends_at_us, kc_buf_t *out, char *errstr, size_t errstr_size);

/** @brief Format microseconds since epoch as RFC 3339 UTC with ms ("...T12:00:00.123Z"). */
void kc_alert_rfc3339(int64_t us, char out[32]);

#endif
