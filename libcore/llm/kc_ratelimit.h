/**
 * @file kc_ratelimit.h
 * @brief Pacing LLM calls under a provider's rate limits, before they are hit.
 *
 * Pure state driven by the caller's monotonic clock (microseconds), so it is
 * tested without sleeping. Three sources, the strictest wins:
 *
 * 1. Configured budgets (llm.rpm / llm.tpm, 0 = unknown): token buckets that
 *    refill at rpm/60 requests and tpm/60 tokens per second and hold at most
 *    one second's worth (at least one request, and at least the tokens of the
 *    call being admitted), because providers enforce per-minute limits in
 *    sub-minute slices.
 * 2. The provider's own view, from the x-ratelimit-* headers of the latest
 *    response: remaining requests/tokens and the time until the budget is full
 *    again. Between responses the view is advanced: calls started since then
 *    are subtracted, and the budget refills at limit/60 s (or, without a limit
 *    header, becomes full at the reset time).
 * 3. A quota 429's Retry-After: no new call until it has passed (capped).
 *
 * A call is admitted with kc_rl_wait_us() == 0 followed by kc_rl_start().
 */
#ifndef KC_RATELIMIT_H
#define KC_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_RL_RETRY_AFTER_MAX_MS 60000    /**< a longer Retry-After is cut to this */
#define KC_RL_DURATION_MAX_MS    86400000 /**< a longer reset duration is invalid */

/** @brief The x-ratelimit-* headers of one response; -1 = header absent. */
typedef struct kc_rl_headers_s {
    int64_t limit_requests, remaining_requests, reset_requests_ms;
    int64_t limit_tokens, remaining_tokens, reset_tokens_ms;
} kc_rl_headers_t;

/** @brief Set every field of h to -1 (absent). */
void kc_rl_headers_init(kc_rl_headers_t *h);

/** @brief true if any field of h is present. */
bool kc_rl_headers_any(const kc_rl_headers_t *h);

/**
 * @brief Fill the matching field of h from one response header line
 * ("Name: value\r\n", any case), as CURLOPT_HEADERFUNCTION delivers it
 * (len bytes, not NUL-terminated). Other headers are ignored.
 * Counts are digits only (a larger one than INT64_MAX saturates); resets
 * are kc_rl_duration_parse() durations. A value that is neither leaves the
 * field as it was.
 * @returns true if the line was an x-ratelimit-* header it understood.
 */
bool kc_rl_header_line(kc_rl_headers_t *h, const char *line, size_t len);

/**
 * @brief Parse an OpenAI reset duration: "1s", "20ms", "6m0s", "1m30.5s",
 * "2h3m", "0.5s", "17ms" (units h, m, s, ms, also us, µs, ns as Go prints
 * them; decimals allowed; largest unit first, each at most once), also a
 * bare number of seconds ("30", "1.5"). Blanks around the value are
 * skipped; signs, exponents, blanks inside and trailing junk are invalid,
 * as is anything longer than KC_RL_DURATION_MAX_MS.
 * @returns 0 and *ms (rounded up to a whole millisecond), or KC_ERR_INVALID.
 */
int kc_rl_duration_parse(const char *s, size_t len, int64_t *ms);

/**
 * @brief Parse a Retry-After value: delta-seconds ("1", "120", also "1.5",
 * rounded up to a millisecond), or an HTTP-date (RFC 7231 IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT"; the obsolete RFC 850 and asctime forms
 * are invalid) compared with now_wall_s. Blanks around the value are
 * skipped. Negative, overflowing or absurd values never wrap: the result is
 * clamped to [0, KC_RL_RETRY_AFTER_MAX_MS] ("-5" gives 0, a date in the
 * past gives 0).
 * @remark The value is seconds: a retry-after-ms header is not for this
 * function (its clamp is in seconds' terms).
 * @returns 0 and *ms, or KC_ERR_INVALID (unparseable).
 */
int kc_rl_retry_after_parse(const char *s, size_t len, int64_t now_wall_s, int64_t *ms);

/** @brief One dimension (requests or tokens) of the pacer. */
typedef struct kc_rl_dim_s {
    /* configured budget */
    double per_us; /**< refill per microsecond, 0 = no budget configured */
    double cap;    /**< bucket capacity */
    double level;  /**< tokens in the bucket at `at` */
    int64_t at;    /**< monotonic us of `level` */
    /* provider's view from headers */
    bool srv_known;
    int64_t srv_limit;    /**< -1 unknown */
    double srv_remaining; /**< at srv_at, minus starts since */
    int64_t srv_at;       /**< when the header was read */
    int64_t srv_full_at;  /**< when the provider's budget is full again, INT64_MAX = no time */
} kc_rl_dim_t;

typedef struct kc_rl_s {
    kc_rl_dim_t req, tok;
    int64_t paused_until; /**< Retry-After: monotonic us, 0 = none */
    uint64_t pauses;      /**< 429s that paused new calls */
    uint64_t waits;       /**< admissions that had to wait */
    bool waiting;         /**< a wait was reported since the last start (counts `waits` once) */
} kc_rl_t;

/** @brief Budgets per minute; 0 = unknown (only headers and Retry-After pace). */
void kc_rl_init(kc_rl_t *rl, int64_t rpm, int64_t tpm, int64_t now);

/**
 * @brief How long a call of est_tokens (prompt + max completion) must wait
 * before it may start: 0 = now. Never negative; at most
 * KC_RL_RETRY_AFTER_MAX_MS * 1000 (a longer wait, e.g. until a reset
 * minutes away, is reported in steps: ask again when it has passed).
 * @remark A remaining count without a limit or reset header is taken to be
 * full again after 60 s (the per-minute window).
 */
int64_t kc_rl_wait_us(kc_rl_t *rl, int64_t now, int64_t est_tokens);

/** @brief A call of est_tokens started now (takes from every budget). */
void kc_rl_start(kc_rl_t *rl, int64_t now, int64_t est_tokens);

/**
 * @brief A call finished: actual_tokens (prompt + completion from usage, or
 * -1 unknown) replaces est_tokens in the configured token budget.
 */
void kc_rl_finish(kc_rl_t *rl, int64_t now, int64_t est_tokens, int64_t actual_tokens);

/** @brief The rate-limit headers of a response received now (any status). */
void kc_rl_headers(kc_rl_t *rl, int64_t now, const kc_rl_headers_t *h);

/**
 * @brief A 429 asked to wait retry_after_ms: pause new calls until then
 * (capped at KC_RL_RETRY_AFTER_MAX_MS; a later pause never shortens an
 * earlier one).
 */
void kc_rl_pause(kc_rl_t *rl, int64_t now, int64_t retry_after_ms);

/**
 * @brief Is a 429 with these headers a quota 429 (the provider says its
 * budget is used up: x-ratelimit-remaining-requests or -tokens is 0) rather
 * than an overload (budget left, or no remaining count at all: a gateway's
 * concurrency cap, a busy server)?
 */
bool kc_rl_is_quota_429(const kc_rl_headers_t *h);

#endif
