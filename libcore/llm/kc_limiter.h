/**
 * @file kc_limiter.h
 * @brief Concurrency limit of LLM calls from latency, in the gradient/Vegas
 * family (Netflix concurrency-limits), instead of AIMD on timeouts.
 *
 * Each finished call gives a ratio: its latency over the uncongested latency
 * the model predicts for its size (kc_llm_model.h `base`). A server that
 * slows down (continuous batching past its knee, queueing) shows ratios
 * above 1. The limiter keeps the median of the last KC_LIMITER_WIN ratios
 * (one hung call does not move it) and, per call:
 *
 *     gradient = clamp(tolerance / median, 0.5, 1)
 *     target   = limit * gradient + growth      (growth only while the limit is used)
 *     limit    = limit + smoothing * (target - limit), within [min, max]
 *
 * so it grows while observed and predicted latency agree and shrinks in
 * proportion when the server slows. What is not congestion:
 *  - a timeout of a call the model already predicted to run past its timeout
 *    (self-inflicted: a cache-filling call, a stale prediction) is ignored;
 *    a timeout of a call predicted to finish in time counts as a slow call
 *    (ratio timeout / predicted, a lower bound);
 *  - errors (500, invalid content) say nothing about load;
 *  - quota 429s are the pacer's business (kc_ratelimit.h); an overload 429
 *    (budget left) cuts the limit by 10%, at most once per KC_LIMITER_WIN
 *    calls. When two in a row came with at least as many calls running as
 *    the server has recently admitted, that is the server's concurrency
 *    cap: the limit stays under that count (a ceiling), probed upwards by
 *    one call every 16 * ceiling calls, so a cap is found and then rarely
 *    hit. Random 429s of a flaky gateway look like a cap now and then when
 *    they come at the top; the probing keeps the limit from being pinned
 *    (a 10% random 429 rate at full load holds it around half its max).
 * The limit never drops below `min`, so the LLM keeps being asked.
 *
 * Pure: the caller reports outcomes.
 */
#ifndef KC_LIMITER_H
#define KC_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#define KC_LIMITER_WIN 9 /**< ratios in the median */

typedef struct kc_limiter_s {
    double limit;
    int min, max;
    double tolerance; /**< ratio above which the server counts as slowed */
    double smoothing;
    double win[KC_LIMITER_WIN];
    int win_cnt, win_pos;
    int since_drop;   /**< samples since the last overload decrease */
    int ceiling;      /**< below the server's admission cap, once one was seen; else max */
    int probe;        /**< samples since the ceiling last moved */
    int admitted_max; /**< most calls running when a call the server answered was sent */
    int cap_hits;     /**< overload 429s in a row above admitted_max */
    double last_median;
    uint64_t samples, ignored, drops;
} kc_limiter_t;

/** @brief Start at `initial` (clamped to [min, max]). */
void kc_limiter_init(kc_limiter_t *l, int min, int max, int initial);

/**
 * @brief A call finished with an answer (or an error that took real time).
 * @param ratio latency / uncongested prediction for the call's size (> 0).
 * @param inflight calls running when it finished (itself included).
 */
void kc_limiter_sample(kc_limiter_t *l, double ratio, int inflight);

/**
 * @brief A call timed out after timeout_ms; predicted_p99_ms is what the
 * model expected at send, base_ms the uncongested prediction.
 * @returns true if it counted as a slow sample, false if ignored.
 */
bool kc_limiter_timeout(kc_limiter_t *l, double timeout_ms, double predicted_p99_ms, double base_ms,
                        int inflight);

/**
 * @brief A call the server answered was sent while `inflight` calls ran
 * (itself included): the server admits that many.
 */
void kc_limiter_admitted(kc_limiter_t *l, int inflight);

/**
 * @brief An overload 429 (not a quota 429) while `inflight` calls ran
 * (itself included).
 */
void kc_limiter_overload(kc_limiter_t *l, int inflight);

/** @brief The current limit (at least min). */
int kc_limiter_limit(const kc_limiter_t *l);

#endif
