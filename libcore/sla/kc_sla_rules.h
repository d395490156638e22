/**
 * @file kc_sla_rules.h
 * @brief SLA alert rules with hysteresis (pure state machine, no I/O).
 *
 * Every evaluation (each `sla.eval.s`) compares one observed figure per rule
 * with its threshold. A rule fires after `fire_after` consecutive breaching
 * evaluations and resolves after `resolve_after` consecutive clear ones; each
 * transition yields exactly one kc_alert_t event, so repeated evaluations of
 * the same state never produce duplicates.
 *
 * | rule              | observed (unit)                      | breach when     |
 * |-------------------|--------------------------------------|-----------------|
 * | p95_latency       | window p95 of total (ms)             | > threshold     |
 * | p99_latency       | window p99 of total (ms)             | > threshold     |
 * | target_compliance | share with total <= target (percent) | < threshold     |
 * | success_rate      | share with status OK (percent)       | < threshold     |
 * | degraded_rate     | share with status DEGRADED (percent) | > threshold     |
 * | silence           | seconds since the last reply         | >= threshold and
 *                                                               the workers' lag > 0 |
 *
 * The window rules need at least `min_count` replies in the window; with fewer
 * there is nothing to judge and the evaluation counts as clear (so an incident
 * resolves when traffic stops; `silence` covers a stalled pipeline). The
 * silence rule counts as clear while the lag is unknown (< 0).
 */
#ifndef KC_SLA_RULES_H
#define KC_SLA_RULES_H

#include "kc_alert.h"
#include "kc_sla.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    KC_SLA_RULE_P95 = 0,
    KC_SLA_RULE_P99,
    KC_SLA_RULE_COMPLIANCE,
    KC_SLA_RULE_SUCCESS,
    KC_SLA_RULE_DEGRADED,
    KC_SLA_RULE_SILENCE,
    KC_SLA_RULE__CNT
} kc_sla_rule_id_t;

typedef struct kc_sla_rule_conf_s {
    bool enabled;
    double threshold;  /**< in the rule's unit (see the table above) */
    int fire_after;    /**< consecutive breaching evaluations to fire, >= 1 */
    int resolve_after; /**< consecutive clear evaluations to resolve, >= 1 */
} kc_sla_rule_conf_t;

typedef struct kc_sla_rules_conf_s {
    kc_sla_rule_conf_t rule[KC_SLA_RULE__CNT];
    uint64_t min_count; /**< replies a window needs before its figures are judged */
} kc_sla_rules_conf_t;

/** @brief Per-rule state. */
typedef struct kc_sla_rule_state_s {
    bool firing;
    int breach_streak, clear_streak;
    double last_observed;
    bool last_breach;
    char alert_id[KC_ALERT_ID_SIZE]; /**< id of the open incident */
    int64_t started_at;
    uint64_t fired, resolved; /**< transitions so far */
} kc_sla_rule_state_t;

typedef struct kc_sla_rules_s {
    kc_sla_rules_conf_t conf;
    kc_sla_rule_state_t st[KC_SLA_RULE__CNT];
} kc_sla_rules_t;

/** @brief Inputs of one evaluation. */
typedef struct kc_sla_eval_in_s {
    const kc_sla_figures_t *fig; /**< the alerting window's figures */
    int64_t now_us;
    int64_t silent_for_us; /**< time since the last reply (or since start if none) */
    int64_t lag;           /**< the workers' consumer-group lag; < 0 = unknown */
} kc_sla_eval_in_t;

/** @brief Rule name ("p95_latency", ...), or "?" for a bad id. */
const char *kc_sla_rule_name(kc_sla_rule_id_t id);

/** @brief Alertmanager alertname ("KclassifySlaP95Latency", ...). */
const char *kc_sla_rule_alertname(kc_sla_rule_id_t id);

/** @brief Parse a rule name. @returns 0 or KC_ERR_INVALID. */
int kc_sla_rule_parse(const char *name, kc_sla_rule_id_t *out);

/** @brief Defaults: every rule enabled, thresholds from target/deadline, 95/99/5 percent. */
void kc_sla_rules_conf_defaults(kc_sla_rules_conf_t *conf, int64_t target_ms, int64_t deadline_ms,
                                int64_t silence_s);

/**
 * @brief Start every rule in the resolved state.
 * @returns 0, or KC_ERR_CONFIG with errstr set (a fire/resolve count < 1).
 */
int kc_sla_rules_init(kc_sla_rules_t *r, const kc_sla_rules_conf_t *conf, char *errstr,
                      size_t errstr_size);

/**
 * @brief Evaluate every enabled rule once.
 * @param events room for KC_SLA_RULE__CNT events (at most one per rule).
 * @returns the number of state changes written to events (0..KC_SLA_RULE__CNT).
 */
size_t kc_sla_rules_eval(kc_sla_rules_t *r, const kc_sla_eval_in_t *in, kc_alert_t *events);

/** @brief true while the rule is firing. */
bool kc_sla_rules_firing(const kc_sla_rules_t *r, kc_sla_rule_id_t id);

/** @brief Number of rules firing now. */
int kc_sla_rules_firing_count(const kc_sla_rules_t *r);

/**
 * @brief The current FIRING alert of a rule (for re-sending to Alertmanager),
 * built from the last evaluation. @returns 0, or KC_ERR_NOTFOUND when not firing.
 */
int kc_sla_rules_current(const kc_sla_rules_t *r, kc_sla_rule_id_t id, const kc_sla_figures_t *fig,
                         int64_t now_us, kc_alert_t *out);

#endif
