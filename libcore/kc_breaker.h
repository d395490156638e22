/**
 * @file kc_breaker.h
 * @brief Circuit breaker and AIMD concurrency limit for the LLM endpoint.
 *
 * Pure state machines driven by the caller's clock (monotonic microseconds),
 * so they are tested without sleeping.
 *
 * Breaker: CLOSED counts consecutive failed calls; at `failures` it OPENs for
 * `open_us`. Once that has passed, the next kc_breaker_allow() turns it
 * HALF_OPEN and lets exactly one probe call through. A probe success CLOSEs
 * it (and resets the open time); a probe failure re-OPENs it for twice the
 * previous time, capped at `open_max_us`.
 *
 * AIMD: the concurrency limit starts at max; a congestion signal (429,
 * timeout) halves it (at least 1); each window of `limit` successes adds one,
 * never above max.
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

typedef struct kc_breaker_s {
    kc_breaker_state_t state;
    int failures;         /**< threshold of consecutive failed calls */
    int64_t open_base_us; /**< first open period */
    int64_t open_max_us;  /**< cap of the doubling */
    int64_t open_us;      /**< current open period */
    int64_t open_until;   /**< when OPEN: monotonic us */
    int consecutive;      /**< failed calls in a row while CLOSED */
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

typedef struct kc_aimd_s {
    int max;
    int limit;
    int successes; /**< in the current window */
    uint64_t decreases, increases;
} kc_aimd_t;

void kc_aimd_init(kc_aimd_t *a, int max);

/** @brief Report a call outcome: congestion (429, timeout) or success. */
void kc_aimd_record(kc_aimd_t *a, bool congestion, bool success);

#endif
