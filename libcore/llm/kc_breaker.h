/**
 * @file kc_breaker.h
 * @brief Circuit breaker for the LLM endpoint.
 *
 * A pure state machine driven by the caller's clock (monotonic microseconds),
 * so it is tested without sleeping.
 *
 * Breaker: CLOSED counts consecutive failed calls; at `failures` it OPENs for
 * `open_us`, provided at least 80% of the last KC_BREAKER_WINDOW calls
 * failed too, or the failures in a row reach twice `failures`: a server that
 * dies trips it within 2 x failures calls, while a flaky one that still
 * answers most calls (five failures in a row happen by chance at a 35%
 * failure rate, every ~200 calls; ten about every 36,000) keeps being asked
 * and its failures are retried. Once that has passed, the next
 * kc_breaker_allow() turns it HALF_OPEN and lets exactly one probe call through. A probe success
 * CLOSEs it (and resets the open time); a probe failure re-OPENs it for twice the previous time,
 * capped at `open_max_us`.
 *
 * The concurrency limit of LLM calls is kc_limiter.h (latency-based).
 */
#ifndef KC_BREAKER_H
#define KC_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    KC_BREAKER_CLOSED = 0,
    KC_BREAKER_OPEN = 1,
    KC_BREAKER_HALF_OPEN = 2
} kc_breaker_state_t;

#define KC_BREAKER_WINDOW 20 /**< recent calls whose failure rate must be high too */

typedef struct kc_breaker_s {
    kc_breaker_state_t state;
    int failures;         /**< threshold of consecutive failed calls */
    int64_t open_base_us; /**< first open period */
    int64_t open_max_us;  /**< cap of the doubling */
    int64_t open_us;      /**< current open period */
    int64_t open_until;   /**< when OPEN: monotonic us */
    int consecutive;      /**< failed calls in a row while CLOSED */
    uint32_t recent;      /**< outcome bits of the last calls, 1 = failed (newest lowest) */
    int recent_cnt;       /**< calls in `recent`, at most KC_BREAKER_WINDOW */
    bool probe_out;       /**< HALF_OPEN: the probe call is running */
    uint64_t opened;      /**< times it opened */
} kc_breaker_t;

void kc_breaker_init(kc_breaker_t *b, int failures, int64_t open_us, int64_t open_max_us);

/**
 * @brief May a call start now? In HALF_OPEN only one probe is allowed until
 * its outcome is reported.
 */
bool kc_breaker_allow(kc_breaker_t *b, int64_t now);

/** @brief Report a finished call. */
void kc_breaker_record(kc_breaker_t *b, bool success, int64_t now);

/** @brief "closed", "open", "half_open". */
const char *kc_breaker_state_name(kc_breaker_state_t s);

#endif
