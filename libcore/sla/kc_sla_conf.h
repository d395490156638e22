/**
 * @file kc_sla_conf.h
 * @brief kclassify-sla configuration: the struct, its property table, and the
 * derivation of alert-rule settings from it.
 */
#ifndef KC_SLA_CONF_H
#define KC_SLA_CONF_H

#include "kc_conf.h"
#include "kc_sla_rules.h"

#include <stdint.h>

/** @brief Per-rule keys: alert.<rule>.threshold / .fire / .resolve. */
typedef struct kc_sla_conf_rule_s {
    char *threshold; /**< text: a number, or "" for the rule's default */
    int64_t fire;    /**< 0 = alert.fire.count */
    int64_t resolve; /**< 0 = alert.resolve.count */
} kc_sla_conf_rule_t;

typedef struct kc_sla_conf_s {
    char *topic_replies;
    char *topic_alerts;
    char *topic_requests;
    char *lag_group;
    int64_t schema_id_result;
    int64_t schema_id_alert;
    int64_t window_s;
    int64_t target_ms;
    int64_t deadline_ms;
    int64_t eval_s;
    int64_t report_s;
    int64_t silence_s;
    int64_t min_count;
    char *webhook_url;
    int64_t webhook_timeout_ms;
    int64_t webhook_attempts;
    int64_t webhook_resend_s;
    char *instance;
    int64_t fire_count;
    int64_t resolve_count;
    char *disable;
    kc_sla_conf_rule_t rule[KC_SLA_RULE__CNT];
    int64_t metrics_port;
    char *metrics_bind;
    char *log_level;
    char *log_format;
    kc_conf_kv_list_t kafka; /**< kafka.* pass-through, prefix stripped */
} kc_sla_conf_t;

/** @brief The property table (ends with a {NULL} entry). */
extern const kc_conf_prop_t kc_sla_conf_props[];

/** @brief Apply defaults. @returns 0 or an error with errstr. */
int kc_sla_conf_init(kc_sla_conf_t *conf, char *errstr, size_t errstr_size);

/** @brief Free everything the struct owns. NULL-safe. */
void kc_sla_conf_free(kc_sla_conf_t *conf);

/**
 * @brief Check cross-key constraints and derive the rule settings (pure).
 *
 * Thresholds: p95_latency defaults to sla.target.ms, p99_latency to
 * sla.deadline.ms, target_compliance 95, success_rate 99, degraded_rate 5 (percent),
 * silence to sla.silence.s. `alert.disable` is a comma list of rule names.
 * @returns 0, or KC_ERR_CONFIG with errstr ("alert.success_rate.threshold: 'x' is
 *          not a number", "sla.target.ms 2500 is above sla.deadline.ms 2000", ...).
 */
int kc_sla_conf_rules(const kc_sla_conf_t *conf, kc_sla_rules_conf_t *out, char *errstr,
                      size_t errstr_size);

#endif
