/**
 * @file kc_sla.h
 * @brief SLA windows: per-second latency histograms and counters merged into
 * sliding windows, plus totals since start (pure, no I/O, no clock reads).
 *
 * Each reply is binned by its `replied_at` second (event time), so a monitor
 * that lags behind still attributes latency to the second it happened in.
 * Replies older than the ring (or with no timestamp) only count in the totals;
 * replies from the future are binned at `now`. Every call takes `now_us`
 * explicitly, so tests drive time.
 *
 * Not thread-safe: one owner.
 */
#ifndef KC_SLA_H
#define KC_SLA_H

#include "kc_hist.h"
#include "kc_types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KC_SLA_MAX_CATEGORIES 32 /**< distinct category names tracked; more count as "other" */
#define KC_SLA_STATUS_CNT     3  /**< KC_STATUS_OK .. KC_STATUS_ERROR */
#define KC_SLA_SOURCE_CNT     6  /**< KC_SRC_L1 .. KC_SRC_NONE */
#define KC_SLA_RING_MAX_S     3600
#define KC_SLA_WINDOW_TOTAL   0 /**< window_s value meaning "since start" */

typedef struct kc_sla_s kc_sla_t;

typedef struct kc_sla_opts_s {
    int64_t target_us;   /**< a reply with total <= target is on target */
    int64_t deadline_us; /**< a reply with total <= deadline met the hard limit */
    int ring_s;          /**< seconds of per-second history (>= largest window), 1..3600 */
    int64_t start_us;    /**< when monitoring began (for throughput since start) */
} kc_sla_opts_t;

/** @brief One observed reply (the fields of kc_result_t the monitor uses). */
typedef struct kc_sla_sample_s {
    int64_t at_us; /**< event time (replied_at), 0 = unknown (totals only) */
    int64_t total_us, queue_us, cache_us, llm_us;
    kc_status_t status;
    kc_source_t source;
    bool coalesced;
    const char *category; /**< NULL or "" = none */
} kc_sla_sample_t;

/** @brief Latency summary of one histogram, in microseconds. */
typedef struct kc_sla_lat_s {
    int64_t p50, p90, p95, p99, p999, min, max;
    double mean;
} kc_sla_lat_t;

typedef struct kc_sla_cat_s {
    const char *name; /**< owned by the kc_sla_t; valid until kc_sla_destroy() */
    uint64_t count;
} kc_sla_cat_t;

/**
 * @brief Figures of one window. Ratios are 0..1 and 0 when count is 0 (check
 * count before judging a ratio).
 */
typedef struct kc_sla_figures_s {
    int window_s;  /**< KC_SLA_WINDOW_TOTAL (0) = since start */
    double span_s; /**< seconds the figures cover (shorter than window_s right after start) */
    uint64_t count;
    double throughput;  /**< replies per second over span_s */
    kc_sla_lat_t total; /**< total_us */
    kc_sla_lat_t queue, cache, llm;
    double target_compliance;   /**< share with total <= target */
    double deadline_compliance; /**< share with total <= deadline */
    double success_rate;        /**< share with status OK */
    double degraded_rate;       /**< share with status DEGRADED */
    double error_rate;          /**< share with status ERROR */
    uint64_t by_status[KC_SLA_STATUS_CNT];
    uint64_t by_source[KC_SLA_SOURCE_CNT];
    double source_rate[KC_SLA_SOURCE_CNT]; /**< share answered by each source: cache hit rate by
                                                level for L1, LMDB, REDIS */
    uint64_t coalesced;
    size_t category_cnt;
    kc_sla_cat_t categories[KC_SLA_MAX_CATEGORIES + 1]; /**< +1 for "other" */
} kc_sla_figures_t;

/** @brief A new monitor. @returns NULL with errstr set (bad options, no memory). */
kc_sla_t *kc_sla_new(const kc_sla_opts_t *opts, char *errstr, size_t errstr_size);

/** @brief Free the monitor. NULL-safe. */
void kc_sla_destroy(kc_sla_t *sla);

/**
 * @brief Record one reply.
 * @returns 0 or KC_ERR_NOMEM (the reply may then be partly counted).
 */
int kc_sla_add(kc_sla_t *sla, const kc_sla_sample_t *s, int64_t now_us);

/** @brief Record a decoded result (uses replied_at as event time). */
int kc_sla_add_result(kc_sla_t *sla, const kc_result_t *res, int64_t now_us);

/**
 * @brief Figures of the window (now - window_s, now], or since start for
 * KC_SLA_WINDOW_TOTAL.
 * @param window_s 0, or 1..ring_s.
 * @returns 0, KC_ERR_INVALID (window longer than the ring), KC_ERR_NOMEM.
 */
int kc_sla_figures(kc_sla_t *sla, int window_s, int64_t now_us, kc_sla_figures_t *out, char *errstr,
                   size_t errstr_size);

/** @brief total_us histogram since start (for Prometheus exposition); NULL before the first reply.
 */
const kc_hist_t *kc_sla_total_hist(const kc_sla_t *sla);

/** @brief Wall-clock time (now_us given to kc_sla_add) of the last reply; 0 = none yet. */
int64_t kc_sla_last_seen_us(const kc_sla_t *sla);

/** @brief Replies recorded since start. */
uint64_t kc_sla_total_count(const kc_sla_t *sla);

/** @brief Summarise a histogram into a kc_sla_lat_t. */
void kc_sla_lat_from_hist(const kc_hist_t *h, kc_sla_lat_t *out);

#endif
