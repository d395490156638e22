/**
 * @file kc_hist.h
 * @brief HDR-style log-linear latency histogram (pure, no I/O).
 *
 * Values are microseconds from 0 to KC_HIST_MAX_US (1 hour) with 3 significant
 * decimal digits: every value is counted in a bucket whose width is at most
 * 1/1024 of the value (values below 2048 are exact). Recording is constant
 * time; histograms merge by adding counts, so per-second histograms can be
 * summed into any window.
 *
 * The layout follows HdrHistogram (Gil Tene): 22 power-of-two buckets of 1024
 * linear sub-buckets each (2048 in the first). Counts are stored in blocks of
 * KC_HIST_BLOCK counters that are allocated on first use, so a histogram whose
 * values span a narrow range stays small (a few KiB instead of 184 KiB).
 *
 * Not thread-safe: one owner at a time.
 */
#ifndef KC_HIST_H
#define KC_HIST_H

#include <stddef.h>
#include <stdint.h>

#define KC_HIST_MAX_US INT64_C(3600000000) /**< highest trackable value: 1 h in us */

typedef struct kc_hist_s kc_hist_t;

/** @brief A new, empty histogram. @returns NULL when out of memory. */
kc_hist_t *kc_hist_new(void);

/** @brief Free the histogram and its count blocks. NULL-safe. */
void kc_hist_destroy(kc_hist_t *h);

/** @brief Forget every recorded value (keeps allocated blocks for reuse). */
void kc_hist_reset(kc_hist_t *h);

/**
 * @brief Record one value.
 * @param value_us clamped to [0, KC_HIST_MAX_US]; clamped values are counted
 *        in kc_hist_clamped() as well.
 * @returns 0, or KC_ERR_NOMEM when a count block could not be allocated (the
 *          value is then not recorded).
 */
int kc_hist_record(kc_hist_t *h, int64_t value_us);

/** @brief Record `count` occurrences of one value. @returns as kc_hist_record(). */
int kc_hist_record_n(kc_hist_t *h, int64_t value_us, uint64_t count);

/**
 * @brief Add every count of src to dst (src unchanged).
 * @returns 0 or KC_ERR_NOMEM (dst may then be partly merged).
 */
int kc_hist_merge(kc_hist_t *dst, const kc_hist_t *src);

/** @brief Number of recorded values. */
uint64_t kc_hist_count(const kc_hist_t *h);

/** @brief Exact sum of the recorded (clamped) values, in microseconds. */
double kc_hist_sum(const kc_hist_t *h);

/** @brief Exact smallest / largest recorded value; 0 when empty. */
int64_t kc_hist_min(const kc_hist_t *h);
int64_t kc_hist_max(const kc_hist_t *h);

/** @brief Values that were outside [0, KC_HIST_MAX_US] and were clamped. */
uint64_t kc_hist_clamped(const kc_hist_t *h);

/** @brief Arithmetic mean of the recorded values; 0 when empty. */
double kc_hist_mean(const kc_hist_t *h);

/**
 * @brief Value at a percentile (nearest-rank, like HdrHistogram).
 *
 * The rank is round(p / 100 * count) (at least 1); the result is the highest
 * value equivalent to the value at that rank, capped to the exact max and
 * floored to the exact min. So it is never below the true value at that rank
 * and above it by at most 1/1024 of it.
 * @param pct 0..100 (clamped).
 * @returns the value in us, 0 when empty.
 */
int64_t kc_hist_percentile(const kc_hist_t *h, double pct);

/**
 * @brief Number of recorded values <= value_us, at bucket resolution: values in
 * the same bucket as value_us count as <= (error at most 1/1024 of value_us).
 * Used for Prometheus `_bucket{le=...}` lines.
 */
uint64_t kc_hist_count_le(const kc_hist_t *h, int64_t value_us);

/** @brief Lowest / highest value counted in the same bucket as value_us. */
int64_t kc_hist_lowest_equiv(int64_t value_us);
int64_t kc_hist_highest_equiv(int64_t value_us);

/** @brief Bytes the histogram currently holds (struct plus allocated blocks). */
size_t kc_hist_memsize(const kc_hist_t *h);

#endif
