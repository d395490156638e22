/**
 * @file kc_llm_model.h
 * @brief An online model of an LLM endpoint: how many tokens a call of n
 * queries writes and reads, and how long it takes.
 *
 * Real servers decode one token at a time, so a call's latency is roughly
 *
 *     latency_ms = ttft_ms + ms_per_out * completion_tokens + ms_per_in * uncached_prompt_tokens
 *
 * The three coefficients are fitted by exponentially weighted least squares
 * over successful calls (usage token counts, measured latency). Two fits run
 * side by side:
 *  - `cur` forgets quickly (lambda 0.95, ~20 calls) and predicts what a call
 *    costs now, congestion included: it sizes calls and sets their timeouts;
 *  - `base` forgets slowly and learns mostly from the faster calls, so it
 *    tracks the server's uncongested speed: the concurrency limiter compares
 *    observed latency with it (kc_limiter.h).
 * A prior (the configured first guesses) keeps a constant weight in both
 * fits, so a coefficient the data cannot tell apart (prompt and completion
 * tokens both grow with n) stays near its prior instead of drifting.
 *
 * Every observation is clipped to [0.2, 2.5] times the fit's prediction
 * before it updates that fit (a robust update: one hung call cannot
 * redefine the server; a truly slower server is learned over a few calls).
 *
 * Spread: the ratio observed / predicted (by `cur`, before the update) of the
 * last KC_LLM_MODEL_RES calls; its quantiles turn a mean into a p90 or p99.
 *
 * Tokens: completion tokens = out_fixed + out_per_query * n and uncached
 * prompt tokens = in_fixed + (query text tokens), both learned as EWMAs from
 * usage; before any call they come from the caller's estimates.
 *
 * Pure: no clock, no I/O; the caller passes measurements in.
 */
#ifndef KC_LLM_MODEL_H
#define KC_LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define KC_LLM_MODEL_RES 128 /**< residual ratios kept for the spread */

/** @brief Exponentially weighted least squares over 3 coefficients with a prior. */
typedef struct kc_llm_fit_s {
    double a[3][3]; /**< weighted sum of x x' (prior included) */
    double b[3];    /**< weighted sum of x y (prior included) */
    double lambda;  /**< forgetting factor per observation */
    double w[3];    /**< weight of the prior per coefficient */
    double theta[3];
} kc_llm_fit_t;

/** @brief First guesses, used until calls are measured. */
typedef struct kc_llm_model_prior_s {
    double ttft_ms;
    double ms_per_out_token;
    double ms_per_in_token;
    double out_fixed;     /**< completion tokens of the envelope */
    double out_per_query; /**< completion tokens per query */
    double in_fixed;      /**< uncached prompt tokens besides the query texts */
} kc_llm_model_prior_t;

typedef struct kc_llm_model_s {
    kc_llm_fit_t cur, base;
    kc_llm_model_prior_t prior;
    double out_fixed, out_per_query, in_fixed; /**< token model */
    double cached_frac;                        /**< EWMA of cached / prompt tokens */
    double res[KC_LLM_MODEL_RES];              /**< observed / predicted ratios */
    size_t res_cnt, res_pos;
    double q50, q90, q99; /**< quantiles of res, refreshed on observe */
    uint64_t samples;
    uint64_t timeouts; /**< timed-out calls learned from */
} kc_llm_model_t;

/** @brief A prediction for one call. */
typedef struct kc_llm_pred_s {
    double out_tokens; /**< expected completion tokens */
    double in_tokens;  /**< expected uncached prompt tokens */
    double mean_ms;    /**< `cur` fit */
    double p90_ms, p99_ms;
    double base_ms; /**< `base` fit: the uncongested latency */
} kc_llm_pred_t;

void kc_llm_model_init(kc_llm_model_t *m, const kc_llm_model_prior_t *prior);

/**
 * @brief Predict a call of n queries whose texts total q_tokens tokens.
 */
void kc_llm_model_predict(const kc_llm_model_t *m, size_t n, double q_tokens, kc_llm_pred_t *p);

/**
 * @brief Learn from a successful call.
 * @param prompt_tokens, cached_tokens, completion_tokens from usage; a
 *        negative prompt or completion count means the server did not
 *        report it (the estimate is used and the token model is not updated).
 */
void kc_llm_model_observe(kc_llm_model_t *m, size_t n, double q_tokens, double prompt_tokens,
                          double cached_tokens, double completion_tokens, double latency_ms);

/**
 * @brief Learn from a call of n queries cut by its timeout after elapsed_ms:
 * its latency is at least that. Ignored when the model expected it to take
 * longer (the timeout, not the server, ended it) and when it ran more than
 * twice the prediction (a hung call: a fault, not the server's speed; the
 * hedge and the breaker deal with those); else the fits move towards
 * 1.2 x elapsed (a censored value: how much longer it would have run is
 * unknown) (every observation is clipped to 2.5x the prediction, so a hang counts
 * as a slow call, not as a new server).
 */
void kc_llm_model_timeout(kc_llm_model_t *m, size_t n, double q_tokens, double elapsed_ms);

/** @brief The fitted coefficients of `cur`: ttft ms, ms per output token, ms per input token. */
void kc_llm_model_coef(const kc_llm_model_t *m, double *ttft_ms, double *ms_out, double *ms_in);

/** @brief Latency of the linear model theta for the given tokens (ms, >= 0). */
double kc_llm_fit_eval(const kc_llm_fit_t *f, double out_tokens, double in_tokens);

#endif
