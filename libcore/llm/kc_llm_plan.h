/**
 * @file kc_llm_plan.h
 * @brief How many queries the next LLM call takes, and its timeout.
 *
 * On a real LLM a call's latency grows with the tokens it writes, so a call
 * is sized to deadlines, not to llm.batch.max: the worker passes the
 * candidates in the order it would send them and how many it would like to
 * send (its queue spread over the free call slots: with slots free, several
 * small calls run in parallel instead of one long one), and the plan takes
 * the largest k <= want whose predicted p90 completion fits the tightest
 * remaining deadline among those k queries, minus the margin.
 *
 * A first candidate whose time allows no call at p90 still goes alone when
 * the mean latency fits (a fair chance beats giving up early). k == 0 means
 * not even that: its requests get the fallback now.
 *
 * Timeout: a call may run until the latest deadline among its queries (its
 * answer still fills the caches after the earlier ones passed), but at least
 * until its predicted p99, and never past the configured ceiling. A call
 * without deadlines (cache filling) gets twice its p99 plus a second.
 *
 * Pure: the clock and the model are passed in.
 */
#ifndef KC_LLM_PLAN_H
#define KC_LLM_PLAN_H

#include "kc_llm_model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_PLAN_NO_DEADLINE INT64_MAX

/** @brief One query that could go into the call. */
typedef struct kc_plan_cand_s {
    int64_t deadline_us; /**< earliest deadline of its requests, KC_PLAN_NO_DEADLINE if none */
    double q_tokens;     /**< tokens of its text */
} kc_plan_cand_t;

typedef struct kc_plan_s {
    size_t k;           /**< queries to send; 0 = the first cannot be answered in time */
    int64_t timeout_us; /**< the call's timeout */
    kc_llm_pred_t pred; /**< prediction for k (for k == 0: for one query) */
} kc_plan_t;

/**
 * @brief Size the next call.
 * @param c candidates in sending order, cnt of them (cnt >= 1).
 * @param want the size the caller would like (>= 1); the plan never exceeds it.
 * @param now the clock of the deadlines (us).
 * @param margin_us time kept before a deadline (reply production, sla margin).
 * @param ceiling_us hard cap of any call's timeout.
 */
void kc_llm_plan(const kc_llm_model_t *m, const kc_plan_cand_t *c, size_t cnt, size_t want,
                 int64_t now, int64_t margin_us, int64_t ceiling_us, kc_plan_t *out);

/**
 * @brief Can a call of one query with q_tokens still finish (at its mean
 * predicted latency) by deadline_us - margin_us?
 */
bool kc_llm_plan_fits(const kc_llm_model_t *m, double q_tokens, int64_t deadline_us, int64_t now,
                      int64_t margin_us);

#endif
