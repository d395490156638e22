/**
 * @file kc_sla_report.h
 * @brief What kclassify-sla shows: the human summary, JSON report lines, the
 * post-run verdict, its Prometheus metrics and its /health document. Pure:
 * every function renders given figures into a kc_buf_t.
 */
#ifndef KC_SLA_REPORT_H
#define KC_SLA_REPORT_H

#include "kc_buf.h"
#include "kc_sla.h"
#include "kc_sla_rules.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** @brief The monitor's own counters and states. */
typedef struct kc_sla_status_s {
    uint64_t decode_errors;    /**< reply records that could not be decoded */
    uint64_t alerts_published; /**< SlaAlert records delivered to Kafka */
    uint64_t alerts_failed;    /**< SlaAlert records Kafka did not take */
    uint64_t webhook_ok, webhook_failed;
    int64_t lag; /**< the workers' lag on the request topic; < 0 = unknown */
    bool kafka_up;
    int64_t target_ms, deadline_ms;
} kc_sla_status_t;

/** @brief The verdict of a post-run report. */
typedef struct kc_sla_verdict_s {
    bool compliant;
    char reasons[512]; /**< "; "-separated breaches, or "no replies" */
} kc_sla_verdict_t;

/**
 * @brief Judge figures (normally since start) against every enabled window
 * rule (silence excluded), ignoring min_count. No replies is not compliant.
 */
void kc_sla_verdict(const kc_sla_rules_conf_t *rc, const kc_sla_figures_t *fig,
                    kc_sla_verdict_t *out);

/**
 * @brief Human summary: a header line (time, firing rules) and one line per
 * window, then the breakdown of the first window by source, status, category.
 * @param verdict non-NULL for the final report (adds a verdict line).
 */
int kc_sla_report_text(const kc_sla_figures_t *figs, size_t n, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, const kc_sla_verdict_t *verdict, int64_t now_us,
                       kc_buf_t *out);

/** @brief The same as one JSON object on one line (newline included). */
int kc_sla_report_json(const kc_sla_figures_t *figs, size_t n, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, const kc_sla_verdict_t *verdict, int64_t now_us,
                       kc_buf_t *out);

/**
 * @brief The kclassify_sla_* metrics (Prometheus text), without the process ones.
 * @param total_hist total_us since start (may be NULL before the first reply).
 * @param totals figures since start.
 */
int kc_sla_metrics_render(kc_buf_t *out, const kc_sla_figures_t *figs, size_t n,
                          const kc_sla_figures_t *totals, const kc_hist_t *total_hist,
                          const kc_sla_rules_t *rules, const kc_sla_status_t *st);

/**
 * @brief The /health JSON of the monitor: status down when Kafka is down,
 * degraded while a rule fires, else ok; plus the alerting window's p95, hit
 * rate, success rate, the workers' lag and the firing rules.
 * @param http_status out: 200 or 503.
 */
int kc_sla_health_json(kc_buf_t *out, const kc_sla_figures_t *window, const kc_sla_rules_t *rules,
                       const kc_sla_status_t *st, int *http_status);

#endif
